//! NVIDIA GPU attestation report verification with a real H100 report and chain
//! (tests/data/nvidia, see its README).

mod common;

use cloak_tee::{
    evaluate_attestation, verify_gpu_cert_chain, verify_gpu_device, Attestation, DevSigner,
    Digest32, Evidence, GpuDeviceEvidence, GpuReport, Nonce, NvidiaGpuEvidence, Outcome, Policy,
    Statement, VerifyOptions, ATTESTATION_VERSION,
};
use common::nvidia_data;

const T: u64 = 1_750_000_000;
const FIXTURE_NONCE: &str = "87d8e24ab336adafe228d49e83d745f6dba4ae505372b6a5704820856b343fec";

fn report() -> Vec<u8> {
    hex::decode(
        String::from_utf8(nvidia_data("hopper_report.hex"))
            .unwrap()
            .trim(),
    )
    .unwrap()
}

fn chain() -> String {
    String::from_utf8(nvidia_data("hopper_cert_chain.pem")).unwrap()
}

fn nonce() -> [u8; 32] {
    Digest32::from_hex(FIXTURE_NONCE).unwrap().0
}

fn evidence() -> GpuDeviceEvidence {
    GpuDeviceEvidence {
        index: 0,
        name: "NVIDIA H100".into(),
        uuid: "GPU-fixture".into(),
        cc_enabled: true,
        cc_dev_mode: Some(false),
        ready_state: Some(true),
        nonce: Digest32(nonce()),
        attestation_report: report().into(),
        cert_chain_pem: chain(),
    }
}

#[test]
fn parses_the_report() {
    let r = GpuReport::parse(&report()).unwrap();
    assert_eq!(r.spdm_version, 0x11);
    assert_eq!(hex::encode(r.request_nonce), FIXTURE_NONCE);
    assert_eq!(r.measurements.len(), 64);
    assert_eq!(r.driver_version().as_deref(), Some("580.95.05"));
    assert_eq!(r.vbios_version().as_deref(), Some("96.00.74.00.1a"));
    assert_eq!(r.fwid().map(|f| f.len()), Some(48));
    assert_eq!(
        r.signed_len + 96 + 1,
        report().len(),
        "one byte of zero padding"
    );
}

#[test]
fn genuine_report_verifies() {
    let c = verify_gpu_device(&evidence(), &nonce(), T);
    assert_eq!(c.result, Ok(()));
    assert_eq!(verify_gpu_cert_chain(&chain(), T), Ok(()));
}

#[test]
fn wrong_nonce_is_rejected() {
    let c = verify_gpu_device(&evidence(), &[0u8; 32], T);
    assert!(c.result.unwrap_err().contains("nonce"));
    // A report whose signed nonce differs from the evidence's claimed nonce.
    let mut ev = evidence();
    ev.nonce = Digest32([1; 32]);
    assert!(verify_gpu_device(&ev, &[1; 32], T)
        .result
        .unwrap_err()
        .contains("signed report"));
}

#[test]
fn flipped_report_bytes_are_rejected() {
    let n = report().len();
    for p in [
        0,
        1,
        4,
        20,
        36,
        37,
        40,
        100,
        1000,
        3000,
        3560,
        3600,
        3700,
        3900,
        4000,
        4040,
        n - 50,
        n - 2,
        n - 1,
    ] {
        let mut ev = evidence();
        ev.attestation_report.0[p] ^= 0x01;
        let c = verify_gpu_device(&ev, &nonce(), T);
        assert!(c.result.is_err(), "byte {p} flip not detected");
    }
}

#[test]
fn broken_chains_are_rejected() {
    let pem = chain();
    let blocks: Vec<String> = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_string)
        .collect();
    assert_eq!(blocks.len(), 5);
    // Missing intermediate.
    let mut ev = evidence();
    ev.cert_chain_pem = [&blocks[0], &blocks[1], &blocks[3], &blocks[4]]
        .map(|s| s.as_str())
        .concat();
    assert!(verify_gpu_device(&ev, &nonce(), T).result.is_err());
    // Leaf only: the chain cannot reach the root.
    ev.cert_chain_pem = blocks[0].clone();
    assert!(verify_gpu_device(&ev, &nonce(), T).result.is_err());
    // Without the root copy: fine, the pinned root is appended.
    ev.cert_chain_pem = blocks[..4].concat();
    assert_eq!(verify_gpu_device(&ev, &nonce(), T).result, Ok(()));
    // Garbage between certificates.
    ev.cert_chain_pem = [blocks[0].as_str(), "junk\n", &blocks[1..].concat()].concat();
    assert!(verify_gpu_device(&ev, &nonce(), T).result.is_err());
    // Signature made by another device's key: use the chain with the leaf swapped
    // for the intermediate (its key did not sign the report).
    ev.cert_chain_pem = blocks[1..].concat();
    assert!(verify_gpu_device(&ev, &nonce(), T).result.is_err());
    // Before the certificates' validity.
    assert!(verify_gpu_device(&evidence(), &nonce(), 1_500_000_000)
        .result
        .is_err());
}

#[test]
fn gpu_evidence_in_an_attestation_must_match_the_statement_nonce() {
    // The fixture report was made for someone else's nonce, so inside an
    // attestation it binds (digest) but fails the nonce check.
    let gpu = NvidiaGpuEvidence {
        gpus: vec![evidence()],
    };
    let mut st = Statement::new(Nonce([3; 32]));
    st.gpu_evidence_digest = Some(gpu.digest());
    let rd = st.report_data();
    let att = Attestation {
        version: ATTESTATION_VERSION,
        statement: st,
        report_data: rd,
        evidence: vec![
            Evidence::Dev(DevSigner::from_seed(&[1; 32]).sign(&rd)),
            Evidence::NvidiaGpu(gpu.clone()),
        ],
    };
    let policy = Policy::default()
        .with_allow_dev(true)
        .with_require_gpu_cc(true);
    let v = evaluate_attestation(&att, &policy, &VerifyOptions::at(T));
    assert!(!v.accepted);
    let check = |name: &str| {
        v.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}: {v}"))
            .outcome
    };
    assert_eq!(check("GPU evidence binding"), Outcome::Pass);
    assert_eq!(check("GPU 0 report"), Outcome::Fail);
    assert!(v.to_string().contains("GPU nonce"), "{v}");
    assert_eq!(v.gpus[0].driver_version.as_deref(), Some("580.95.05"));

    // Unbound GPU evidence is rejected.
    let mut att2 = att.clone();
    att2.statement.gpu_evidence_digest = None;
    att2.report_data = att2.statement.report_data();
    att2.evidence[0] = Evidence::Dev(DevSigner::from_seed(&[1; 32]).sign(&att2.report_data));
    let v = evaluate_attestation(&att2, &policy, &VerifyOptions::at(T));
    assert!(v.to_string().contains("does not bind it"), "{v}");

    // Changing the GPU evidence after the fact breaks the binding.
    let mut att3 = att;
    if let Evidence::NvidiaGpu(g) = &mut att3.evidence[1] {
        g.gpus[0].cc_enabled = false;
    }
    let v = evaluate_attestation(&att3, &policy, &VerifyOptions::at(T));
    assert!(
        v.checks
            .iter()
            .any(|c| c.name == "GPU evidence binding" && c.outcome == Outcome::Fail),
        "{v}"
    );
}
