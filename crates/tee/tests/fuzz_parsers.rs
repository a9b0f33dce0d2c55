//! Bounded fuzzing of every parser: random and mutated inputs give errors, never panics.

mod common;

use cloak_tee::{
    inspect_quote, parse_event_log, parse_http_response, replay_rtmr3, verify_gpu_device,
    verify_quote, Attestation, Attester, Collateral, DevSigner, Digest32, EncryptedInputs,
    GpuDeviceEvidence, GpuReport, Nonce, Policy, Statement,
};
use common::*;
use proptest::prelude::*;

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Up to `n` byte edits at arbitrary positions, plus an optional truncation.
fn mutations(n: usize) -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..=n),
        prop::option::of(any::<usize>()),
    )
}

fn mutate(base: &[u8], (edits, trunc): &(Vec<(usize, u8)>, Option<usize>)) -> Vec<u8> {
    let mut v = base.to_vec();
    for (i, b) in edits {
        let len = v.len();
        if len > 0 {
            v[i % len] = *b;
        }
    }
    if let Some(t) = trunc {
        let len = v.len();
        v.truncate(t % (len + 1));
    }
    v
}

fn sample_attestation_json() -> String {
    Attester::dev(DevSigner::from_seed(&[2; 32]))
        .attest(Statement::new(Nonce([1; 32])))
        .unwrap()
        .to_json()
}

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn quote_parser_random(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = inspect_quote(&bytes);
    }

    #[test]
    fn quote_parser_mutated(m in mutations(8)) {
        let q = mutate(&read_fixture("tdx_quote"), &m);
        if let Ok(info) = inspect_quote(&q) {
            let _ = info.to_string();
        }
    }

    #[test]
    fn policy_parser_random(s in "\\PC{0,300}") {
        let _ = Policy::from_toml_str(&s);
    }

    #[test]
    fn policy_parser_mutated(m in mutations(4)) {
        let base = "version = 1\naccepted_tcb_statuses = [\"UpToDate\", \"OutOfDate\"]\nrequire_gpu_cc = true\nallowed_compose_hashes = [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n[[allowed_measurements]]\nname = \"x\"\nmrtd = \"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"\n";
        let bytes = mutate(base.as_bytes(), &m);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Policy::from_toml_str(s);
        }
    }

    #[test]
    fn attestation_parser_random(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Attestation::from_json(&bytes);
    }

    #[test]
    fn attestation_parser_mutated(m in mutations(4)) {
        let _ = Attestation::from_json(&mutate(sample_attestation_json().as_bytes(), &m));
    }

    #[test]
    fn envelope_parser(bytes in prop::collection::vec(any::<u8>(), 0..512), m in mutations(4)) {
        let _ = EncryptedInputs::from_json(&bytes);
        let base = br#"{"version":1,"suite":"DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/ChaCha20Poly1305","key_statement":{"nonce":"0101010101010101010101010101010101010101010101010101010101010101"},"enc":"00","ciphertext":"00","aad":""}"#;
        let _ = EncryptedInputs::from_json(&mutate(base, &m));
    }

    #[test]
    fn gpu_report_parser(bytes in prop::collection::vec(any::<u8>(), 0..1024), m in mutations(6)) {
        let _ = GpuReport::parse(&bytes);
        let report = hex::decode(String::from_utf8(nvidia_data("hopper_report.hex")).unwrap().trim()).unwrap();
        let _ = GpuReport::parse(&mutate(&report, &m));
    }

    #[test]
    fn event_log_and_http_parsers(s in "\\PC{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(evs) = parse_event_log(&s) {
            let _ = replay_rtmr3(&evs);
        }
        let _ = parse_http_response(&bytes);
        let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = parse_http_response(&framed);
        let _ = Digest32::from_hex(&s);
    }
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn collateral_parser(bytes in prop::collection::vec(any::<u8>(), 0..512), m in mutations(6)) {
        let _ = Collateral::from_json(&bytes);
        if let Ok(c) = Collateral::from_json(&mutate(&read_fixture("tdx_quote_collateral.json"), &m)) {
            let _ = c.validity_window();
        }
    }

    #[test]
    fn gpu_chain_parser(m in mutations(6)) {
        let pem = nvidia_data("hopper_cert_chain.pem");
        let report = hex::decode(String::from_utf8(nvidia_data("hopper_report.hex")).unwrap().trim()).unwrap();
        let chain = String::from_utf8_lossy(&mutate(&pem, &m)).to_string();
        let ev = GpuDeviceEvidence {
            index: 0, name: String::new(), uuid: String::new(), cc_enabled: true,
            cc_dev_mode: None, ready_state: None, nonce: Digest32([0; 32]),
            attestation_report: report.into(), cert_chain_pem: chain,
        };
        let _ = verify_gpu_device(&ev, &[0; 32], 1_750_000_000);
    }
}

proptest! {
    #![proptest_config(cfg(64))]

    /// Full verification on mutated quotes and collateral (slower, fewer cases).
    #[test]
    fn verification_of_mutated_inputs(mq in mutations(3), mc in mutations(3)) {
        let c = collateral("tdx_quote_collateral.json");
        let t = time_inside(&c);
        let q = mutate(&read_fixture("tdx_quote"), &mq);
        // Only the quote itself (4936 bytes) followed by any amount of zero padding may verify.
        let f = read_fixture("tdx_quote");
        let same = q.len() >= 4936 && q[..4936] == f[..4936] && q[4936..].iter().all(|&b| b == 0);
        prop_assert_eq!(verify_quote(&q, &c, t, false).is_ok(), same);
        if let Ok(c2) = Collateral::from_json(&mutate(&read_fixture("tdx_quote_collateral.json"), &mc)) {
            let _ = verify_quote(&read_fixture("tdx_quote"), &c2, t, false);
        }
    }
}
