//! HPKE confidential inputs: round trip, tampering, wrong key/AAD, and no plaintext in logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cloak_tee::{
    encrypt_inputs, encrypt_inputs_with_aad, verify_attestation, Attester, DevSigner,
    EncryptedInputs, InputSecretKey, Nonce, Policy, Statement, TeeError, VerifiedAttestation,
    VerifyOptions,
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

#[test]
fn round_trip() {
    let key = InputSecretKey::generate().unwrap();
    let verified = setup(&key);
    let env = encrypt_inputs_with_aad(&verified, &policy(), SECRET, b"program-42").unwrap();
    let json = env.to_json();
    assert!(!json.contains("TOP-SECRET"));
    let env = EncryptedInputs::from_json(json.as_bytes()).unwrap();
    let pt = key.decrypt(&env).unwrap();
    assert_eq!(pt.expose(), SECRET);
    // Empty inputs and large inputs too.
    let env = encrypt_inputs(&verified, &policy(), b"").unwrap();
    assert!(key.decrypt(&env).unwrap().is_empty());
    let big = vec![0x5a; 1 << 20];
    let env = encrypt_inputs(&verified, &policy(), &big).unwrap();
    assert_eq!(key.decrypt(&env).unwrap().expose(), big.as_slice());
}

#[test]
fn tampered_ciphertext_fails() {
    let key = InputSecretKey::generate().unwrap();
    let env = encrypt_inputs(&setup(&key), &policy(), SECRET).unwrap();
    for i in [0, SECRET.len() / 2, env.ciphertext.0.len() - 1] {
        let mut bad = env.clone();
        bad.ciphertext.0[i] ^= 1;
        assert!(key.decrypt(&bad).is_err(), "ciphertext byte {i}");
    }
    let mut bad = env.clone();
    bad.enc.0[3] ^= 1;
    assert!(key.decrypt(&bad).is_err(), "encapsulated key");
    let mut bad = env.clone();
    bad.ciphertext.0.truncate(5);
    assert!(key.decrypt(&bad).is_err(), "truncated");
    // The key statement is bound through HPKE `info`: another nonce fails.
    let mut bad = env.clone();
    bad.key_statement.nonce = Nonce([8; 32]);
    assert!(key.decrypt(&bad).is_err(), "key statement");
}

#[test]
fn wrong_key_fails() {
    let key = InputSecretKey::generate().unwrap();
    let other = InputSecretKey::generate().unwrap();
    let env = encrypt_inputs(&setup(&key), &policy(), SECRET).unwrap();
    let e = other.decrypt(&env).unwrap_err().to_string();
    assert!(e.contains("this prover's key"), "{e}");
    // Even if the envelope is relabelled for the other key, decryption fails.
    let mut relabelled = env.clone();
    relabelled.key_statement.input_key = Some(other.public_key());
    assert!(other.decrypt(&relabelled).is_err());
}

#[test]
fn wrong_associated_data_fails() {
    let key = InputSecretKey::generate().unwrap();
    let env = encrypt_inputs_with_aad(&setup(&key), &policy(), SECRET, b"program-42").unwrap();
    let mut bad = env.clone();
    bad.aad.0 = b"program-43".to_vec();
    assert!(key.decrypt(&bad).is_err());
    bad.aad.0.clear();
    assert!(key.decrypt(&bad).is_err());
}

#[test]
fn only_verified_keys_under_the_same_policy() {
    let key = InputSecretKey::generate().unwrap();
    let verified = setup(&key);
    // A different policy than the one used for verification is refused.
    let other = policy()
        .with_require_gpu_cc(false)
        .with_allow_any_measurement(true);
    let e = encrypt_inputs(&verified, &other, SECRET)
        .unwrap_err()
        .to_string();
    assert!(e.contains("different policy"), "{e}");
    // A key statement without a key is refused.
    let att = Attester::dev(DevSigner::from_seed(&[1; 32]))
        .attest(Statement::new(Nonce([7; 32])))
        .unwrap();
    let v = verify_attestation(&att, &policy(), &VerifyOptions::at(T)).unwrap();
    assert!(encrypt_inputs(&v, &policy(), SECRET).is_err());
    // An unverified attestation cannot even be turned into a VerifiedAttestation.
    let e = verify_attestation(&att, &Policy::default(), &VerifyOptions::at(T)).unwrap_err();
    assert!(matches!(e, TeeError::Rejected(_)));
}

#[test]
fn envelope_parse_errors() {
    let key = InputSecretKey::generate().unwrap();
    let env = encrypt_inputs(&setup(&key), &policy(), SECRET).unwrap();
    let json = env.to_json();
    let e =
        EncryptedInputs::from_json(json.replace("ChaCha20Poly1305", "AES").as_bytes()).unwrap_err();
    assert!(e.to_string().contains("suite"), "{e}");
    let e = EncryptedInputs::from_json(json.replace("\"version\": 1", "\"version\": 2").as_bytes())
        .unwrap_err();
    assert!(matches!(e, TeeError::UnsupportedVersion { found: 2, .. }));
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
    let (pt_debug, key_debug, err_text) = tracing::subscriber::with_default(subscriber, || {
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
    });
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
