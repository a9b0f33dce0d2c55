//! Plaintext and secret keys never reach logs, Debug output or error messages.
//! Its own test binary, with a global subscriber, so every log line of every
//! thread is captured (tracing caches per-callsite interest process-wide).

use std::io::Write;
use std::sync::{Arc, Mutex};

use cloak_tee::{
    encrypt_inputs_with_aad, verify_attestation, Attester, DevSigner, InputSecretKey, Nonce,
    Policy, Statement, VerifiedAttestation, VerifyOptions,
};

const SECRET: &[u8] = b"TOP-SECRET-WITNESS-4f1c9e";
const T: u64 = 1_750_000_000;

fn policy() -> Policy {
    Policy::default().with_allow_dev(true)
}

fn setup(key: &InputSecretKey) -> VerifiedAttestation {
    let st = Statement::for_input_key(Nonce([7; 32]), key.public_key());
    let att = Attester::dev(DevSigner::from_seed(&[1; 32]))
        .attest(st)
        .unwrap();
    verify_attestation(&att, &policy(), &VerifyOptions::at(T)).unwrap()
}

/// A writer shared with a tracing subscriber, to capture everything logged.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn plaintext_and_keys_never_reach_logs_or_debug_output() {
    let cap = Capture::default();
    let writer = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let mut secret_key_bytes = [0u8; 32];
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let (pt_debug, key_debug, err_text) = {
        let ikm = [0x42u8; 32];
        let key = InputSecretKey::derive(&ikm);
        // Recover what the secret key is (RFC 9180 DeriveKeyPair is deterministic),
        // only to search the logs for it.
        secret_key_bytes.copy_from_slice(&hpke_secret(&ikm));
        let public =
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret_key_bytes));
        assert_eq!(
            public.as_bytes(),
            key.public_key().as_bytes(),
            "reference derivation"
        );
        let verified = setup(&key);
        let env = encrypt_inputs_with_aad(&verified, &policy(), SECRET, b"aad").unwrap();
        let pt = key.decrypt(&env).unwrap();
        let mut bad = env.clone();
        bad.ciphertext.0[0] ^= 1;
        let err = key.decrypt(&bad).unwrap_err();
        tracing::info!(?pt, ?key, "debug-formatted secrets");
        (
            format!("{pt:?}"),
            format!("{key:?}"),
            format!("{err} {err:?}"),
        )
    };
    let logs = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("confidential inputs decrypted"),
        "logging was captured: {logs}"
    );
    let secret_hex = hex::encode(secret_key_bytes);
    let secret_text = std::str::from_utf8(SECRET).unwrap();
    for (what, text) in [
        ("logs", &logs),
        ("Debug(plaintext)", &pt_debug),
        ("Debug(key)", &key_debug),
        ("error", &err_text),
    ] {
        assert!(!text.contains(secret_text), "plaintext in {what}: {text}");
        assert!(
            !text.contains(&hex::encode(SECRET)),
            "hex plaintext in {what}"
        );
        assert!(!text.contains(&secret_hex), "secret key in {what}");
    }
    assert!(pt_debug.contains("redacted") && key_debug.contains("redacted"));
}

fn hpke_secret(ikm: &[u8]) -> Vec<u8> {
    use hpke_reference::*;
    derive_secret(ikm)
}

/// Independent RFC 9180 DeriveKeyPair for DHKEM(X25519, HKDF-SHA256), written here
/// so the test can know the secret key without any accessor on the library type.
mod hpke_reference {
    use super::hkdf_lite::{expand, extract};

    pub fn derive_secret(ikm: &[u8]) -> Vec<u8> {
        // suite_id = "KEM" || I2OSP(0x0020, 2)
        let suite: &[u8] = b"KEM\x00\x20";
        let mut labeled_ikm = b"HPKE-v1".to_vec();
        labeled_ikm.extend_from_slice(suite);
        labeled_ikm.extend_from_slice(b"dkp_prk");
        labeled_ikm.extend_from_slice(ikm);
        let prk = extract(&[], &labeled_ikm);
        let mut info = 32u16.to_be_bytes().to_vec();
        info.extend_from_slice(b"HPKE-v1");
        info.extend_from_slice(suite);
        info.extend_from_slice(b"sk");
        expand(&prk, &info, 32)
    }
}

mod hkdf_lite {
    use sha2::{Digest, Sha256};

    fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(msg);
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    pub fn extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
        hmac(salt, ikm)
    }

    pub fn expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut t = Vec::new();
        let mut i = 1u8;
        while out.len() < len {
            let mut m = t.clone();
            m.extend_from_slice(info);
            m.push(i);
            t = hmac(prk, &m).to_vec();
            out.extend_from_slice(&t);
            i += 1;
        }
        out.truncate(len);
        out
    }
}
