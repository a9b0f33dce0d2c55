//! `cloak attest`, `cloak attest inspect|verify` and `cloak encrypt-input`.

mod common;

use cloak_tee::{Attester, DevSigner, EncryptedInputs, InputSecretKey, Nonce, Statement};
use common::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cloak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(args)
        .output()
        .unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/tdx")
}

#[test]
fn attest_without_a_tee_says_so_and_lists_sources() {
    if Path::new("/sys/kernel/config/tsm/report").exists() {
        println!("skipped: this machine has configfs-tsm (a TDX VM?)");
        return;
    }
    let out = cloak(&["attest"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("No TEE present"), "{t}");
    for source in [
        "configfs-tsm",
        "/sys/kernel/config/tsm/report",
        "dstack",
        "NVML",
    ] {
        assert!(t.contains(source), "{source} missing from:\n{t}");
    }
    let json = cloak(&["attest", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["probes"].as_array().unwrap().len() >= 3);
}

#[test]
fn inspect_prints_quote_fields_from_binary_and_hex() {
    let quote = fixtures().join("tdx_quote");
    let out = cloak(&["attest", "inspect", quote.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for field in ["MRTD", "RTMR0", "RTMR3", "report_data"] {
        assert!(t.contains(field), "{field} missing from:\n{t}");
    }
    let hex = fixtures().join("quote-from-tappd.hex");
    let out = cloak(&["attest", "inspect", hex.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    let bad = cloak(&[
        "attest",
        "inspect",
        fixtures().join("README.md").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad).starts_with("error: "), "{}", text(&bad));
}

/// A dev attestation over a fresh input key, written to `dir`.
fn dev_attestation(dir: &Path, key: &InputSecretKey) -> PathBuf {
    let att = Attester::dev(DevSigner::from_seed(&[3; 32]))
        .attest(Statement::for_input_key(Nonce([5; 32]), key.public_key()))
        .unwrap();
    let path = dir.join("att.json");
    att.write_file(&path).unwrap();
    path
}

#[test]
fn verify_and_encrypt_input_refuse_dev_evidence_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let key = InputSecretKey::generate().unwrap();
    let att = dev_attestation(dir.path(), &key);
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "").unwrap(); // the default policy
    let (att, policy) = (att.to_str().unwrap(), policy.to_str().unwrap());

    let rejected = cloak(&["attest", "verify", att, "--policy", policy]);
    assert!(!rejected.status.success(), "{}", text(&rejected));
    assert!(
        text(&rejected).to_lowercase().contains("dev"),
        "{}",
        text(&rejected)
    );
    let accepted = cloak(&[
        "attest",
        "verify",
        att,
        "--policy",
        policy,
        "--allow-dev",
        "--nonce",
        &"05".repeat(32),
    ]);
    assert!(accepted.status.success(), "{}", text(&accepted));
    let wrong_nonce = cloak(&[
        "attest",
        "verify",
        att,
        "--policy",
        policy,
        "--allow-dev",
        "--nonce",
        &"06".repeat(32),
    ]);
    assert!(!wrong_nonce.status.success(), "{}", text(&wrong_nonce));

    let enc = dir.path().join("input.enc");
    let enc_s = enc.to_str().unwrap();
    let refused = cloak(&[
        "encrypt-input",
        "--attestation",
        att,
        "--policy",
        policy,
        "--input",
        "str:TOP-SECRET-INPUT",
        "-o",
        enc_s,
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("refusing to encrypt"),
        "{}",
        text(&refused)
    );
    assert!(!enc.exists(), "nothing is written for an unverified key");

    let ok = cloak(&[
        "encrypt-input",
        "--attestation",
        att,
        "--policy",
        policy,
        "--allow-dev",
        "--input",
        "str:TOP-SECRET-INPUT",
        "--input",
        "u32:7",
        "-o",
        enc_s,
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        !text(&ok).contains("TOP-SECRET"),
        "plaintext must not be printed"
    );
    let sealed = std::fs::read(&enc).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("TOP-SECRET"));
    let plain = key
        .decrypt(&EncryptedInputs::from_json(&sealed).unwrap())
        .unwrap();
    let mut want = Vec::new();
    for buf in [&b"TOP-SECRET-INPUT"[..], &7u32.to_le_bytes()] {
        want.extend((buf.len() as u64).to_le_bytes());
        want.extend(buf);
    }
    assert_eq!(plain.expose(), &want[..]);
}
