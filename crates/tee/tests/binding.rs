//! Statement binding: evidence made for one statement must not verify for another.
//! Uses the INSECURE dev source (the binding logic is the same for every source).

use cloak_tee::{
    evaluate_attestation, verify_attestation, Attestation, Attester, DevSigner, Digest32,
    ExpectedStatement, InputPublicKey, Nonce, Outcome, Policy, Statement, TeeError, VerifyOptions,
};

const T: u64 = 1_750_000_000;

fn statement() -> Statement {
    Statement {
        program_vk_digest: Some(Digest32([1; 32])),
        public_values_digest: Some(Digest32([2; 32])),
        exit_code: Some(0),
        proof_digest: Some(Digest32([3; 32])),
        input_key: Some(InputPublicKey([4; 32])),
        gpu_evidence_digest: None,
        nonce: Nonce([5; 32]),
    }
}

fn expected() -> ExpectedStatement {
    ExpectedStatement {
        input_key: Some(InputPublicKey([4; 32])),
        ..ExpectedStatement::proof(
            Nonce([5; 32]),
            Digest32([1; 32]),
            Digest32([2; 32]),
            0,
            Digest32([3; 32]),
        )
    }
}

fn attest() -> Attestation {
    Attester::dev(DevSigner::from_seed(&[9; 32]))
        .attest(statement())
        .unwrap()
}

fn dev_policy() -> Policy {
    Policy::default().with_allow_dev(true)
}

fn opts() -> VerifyOptions {
    VerifyOptions::at(T).with_expected(expected())
}

#[test]
fn genuine_dev_attestation_verifies_only_with_allow_dev() {
    let att = attest();
    let v = verify_attestation(&att, &dev_policy(), &opts()).expect("accepted with allow_dev");
    assert!(v.is_insecure_dev());
    let text = v.verdict().to_string();
    assert!(
        text.contains("ACCEPTED") && text.contains("INSECURE"),
        "{text}"
    );

    let e = verify_attestation(&att, &Policy::default(), &opts()).unwrap_err();
    let TeeError::Rejected(verdict) = e else {
        panic!("expected a rejection")
    };
    assert!(verdict.to_string().contains("allow_dev"), "{verdict}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "dev evidence" && c.outcome == Outcome::Fail));
}

#[test]
fn dev_key_pinning() {
    let att = attest();
    let mut p = dev_policy();
    p.allowed_dev_keys = vec![DevSigner::from_seed(&[9; 32]).public_key()];
    verify_attestation(&att, &p, &opts()).expect("pinned key accepted");
    p.allowed_dev_keys = vec![DevSigner::from_seed(&[8; 32]).public_key()];
    assert!(verify_attestation(&att, &p, &opts()).is_err());
}

/// Two ways an attacker could reuse evidence: edit the statement in the file
/// (caught by report_data binding), or present a valid attestation for a
/// different statement (caught by the verifier's expectations).
fn assert_rejected_both_ways(
    name: &str,
    mutate: impl Fn(&mut Statement),
    expect_mutate: impl Fn(&mut ExpectedStatement),
) {
    let policy = dev_policy();
    // 1. Statement edited after attestation: binding fails.
    let mut att = attest();
    mutate(&mut att.statement);
    let v = evaluate_attestation(&att, &policy, &VerifyOptions::at(T));
    assert!(!v.accepted, "{name}: edited statement accepted");
    assert!(
        v.checks
            .iter()
            .any(|c| c.name == "statement binding" && c.outcome == Outcome::Fail),
        "{name}: {v}"
    );
    // 1b. ...even if the attacker also rewrites report_data, the dev signature no longer matches.
    att.report_data = att.statement.report_data();
    let v = evaluate_attestation(&att, &policy, &VerifyOptions::at(T));
    assert!(!v.accepted, "{name}: re-bound statement accepted");
    assert!(
        v.checks
            .iter()
            .any(|c| c.name == "dev evidence" && c.outcome == Outcome::Fail),
        "{name}: {v}"
    );
    // 2. Genuine attestation, but the verifier expects a different value.
    let att = attest();
    let mut exp = expected();
    expect_mutate(&mut exp);
    let v = evaluate_attestation(&att, &policy, &VerifyOptions::at(T).with_expected(exp));
    assert!(!v.accepted, "{name}: wrong expectation accepted");
    assert!(
        v.checks
            .iter()
            .any(|c| c.name == format!("expected {name}") && c.outcome == Outcome::Fail),
        "{name}: {v}"
    );
}

#[test]
fn different_proof_digest_rejected() {
    assert_rejected_both_ways(
        "proof digest",
        |s| s.proof_digest = Some(Digest32([0xee; 32])),
        |e| e.proof_digest = Some(Digest32([0xee; 32])),
    );
}

#[test]
fn different_vk_rejected() {
    assert_rejected_both_ways(
        "program vk digest",
        |s| s.program_vk_digest = Some(Digest32([0xee; 32])),
        |e| e.program_vk_digest = Some(Digest32([0xee; 32])),
    );
}

#[test]
fn different_public_values_rejected() {
    assert_rejected_both_ways(
        "public values digest",
        |s| s.public_values_digest = Some(Digest32([0xee; 32])),
        |e| e.public_values_digest = Some(Digest32([0xee; 32])),
    );
}

#[test]
fn different_exit_code_rejected() {
    assert_rejected_both_ways(
        "exit code",
        |s| s.exit_code = Some(1),
        |e| e.exit_code = Some(1),
    );
}

#[test]
fn different_key_rejected() {
    assert_rejected_both_ways(
        "input key",
        |s| s.input_key = Some(InputPublicKey([0xee; 32])),
        |e| e.input_key = Some(InputPublicKey([0xee; 32])),
    );
}

#[test]
fn different_nonce_rejected() {
    assert_rejected_both_ways(
        "nonce",
        |s| s.nonce = Nonce([0xee; 32]),
        |e| e.nonce = Some(Nonce([0xee; 32])),
    );
}

#[test]
fn missing_field_is_not_a_match() {
    let att = Attester::dev(DevSigner::from_seed(&[9; 32]))
        .attest(Statement::for_input_key(
            Nonce([5; 32]),
            InputPublicKey([4; 32]),
        ))
        .unwrap();
    let v = evaluate_attestation(&att, &dev_policy(), &opts());
    assert!(!v.accepted);
    assert!(
        v.to_string().contains("absent from the attested statement"),
        "{v}"
    );
}

#[test]
fn attestation_file_round_trip_and_errors() {
    let att = attest();
    let json = att.to_json();
    let back = Attestation::from_json(json.as_bytes()).unwrap();
    assert_eq!(back, att);
    verify_attestation(&back, &dev_policy(), &opts()).unwrap();

    let e = Attestation::from_json(json.replace("\"version\": 1", "\"version\": 9").as_bytes())
        .unwrap_err();
    assert!(
        matches!(e, TeeError::UnsupportedVersion { found: 9, .. }),
        "{e}"
    );
    let e = Attestation::from_json(json.replace("\"nonce\"", "\"nonse\"").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nonse") && e.contains("line"), "{e}");
    let e = Attestation::from_json(b"[1,2]").unwrap_err().to_string();
    assert!(e.contains("attestation file"), "{e}");
    let e = Attestation::from_json(json.replace(&att.report_data.to_hex(), "abcd").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("64 bytes"), "{e}");
}

#[test]
fn verdict_is_json_and_readable() {
    let att = attest();
    let v = evaluate_attestation(&att, &dev_policy(), &opts());
    let json: serde_json::Value = serde_json::from_str(&v.to_json()).unwrap();
    assert_eq!(json["accepted"], true);
    assert_eq!(json["insecure_dev"], true);
    assert!(json["checks"].as_array().unwrap().len() >= 5);
    let text = v.to_string();
    for k in [
        "statement binding",
        "expected proof digest",
        "not checked",
        "[PASS]",
        "[WARN]",
    ] {
        assert!(text.contains(k), "{k} missing:\n{text}");
    }
}

#[test]
fn no_platform_evidence_or_two_are_rejected() {
    let mut att = attest();
    let ev = att.evidence.clone();
    att.evidence.clear();
    assert!(!evaluate_attestation(&att, &dev_policy(), &opts()).accepted);
    att.evidence = [ev.clone(), ev].concat();
    assert!(!evaluate_attestation(&att, &dev_policy(), &opts()).accepted);
}

#[test]
fn gpu_requirement_without_gpu_evidence_is_rejected() {
    let att = attest();
    let v = evaluate_attestation(&att, &dev_policy().with_require_gpu_cc(true), &opts());
    assert!(!v.accepted);
    assert!(v.to_string().contains("required by the policy"), "{v}");
}
