//! HPKE confidential inputs: round trip, tampering, wrong key/AAD, and no plaintext in logs.

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
