//! The TDX and dstack paths of attestation verification, with the real fixture
//! quote. The fixture's report_data belongs to someone else's statement, so the
//! quote verifies but the binding check must fail.

mod common;

use cloak_tee::{
    evaluate_attestation, inspect_quote, AllowedMeasurements, Attestation, DstackEvidence,
    Evidence, Nonce, Outcome, Policy, Statement, TdxEvidence, VerifyOptions, ATTESTATION_VERSION,
};
use common::*;

fn outcome(v: &cloak_tee::Verdict, name: &str) -> Outcome {
    v.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}:\n{v}"))
        .outcome
}

fn att_with(ev: Evidence) -> Attestation {
    let st = Statement::new(Nonce([1; 32]));
    Attestation {
        version: ATTESTATION_VERSION,
        report_data: st.report_data(),
        statement: st,
        evidence: vec![ev],
    }
}

fn pinned(quote: &[u8]) -> Policy {
    Policy::default().allow_measurements(AllowedMeasurements {
        name: None,
        mrtd: inspect_quote(quote).unwrap().mrtd,
        rtmr0: None,
        rtmr1: None,
        rtmr2: None,
        rtmr3: None,
    })
}

#[test]
fn tdx_evidence_quote_verifies_but_binding_fails() {
    let quote = read_fixture("tdx_quote");
    let c = collateral("tdx_quote_collateral.json");
    let t = time_inside(&c);
    let att = att_with(Evidence::Tdx(TdxEvidence {
        quote: quote.clone().into(),
        collateral: None,
    }));
    // Without collateral: clear failure.
    let v = evaluate_attestation(&att, &pinned(&quote), &VerifyOptions::at(t));
    assert_eq!(outcome(&v, "TDX collateral"), Outcome::Fail);
    assert!(v.to_string().contains("no collateral"), "{v}");
    // With collateral from the verifier.
    let v = evaluate_attestation(
        &att,
        &pinned(&quote),
        &VerifyOptions::at(t).with_collateral(c.clone()),
    );
    assert_eq!(outcome(&v, "TDX quote"), Outcome::Pass);
    assert_eq!(outcome(&v, "TDX TCB status"), Outcome::Pass);
    assert_eq!(outcome(&v, "TD measurements"), Outcome::Pass);
    assert_eq!(outcome(&v, "quote report_data"), Outcome::Fail);
    assert!(!v.accepted);
    assert_eq!(v.tcb_status.as_deref(), Some("UpToDate"));
    // Embedded collateral works the same way.
    let mut att2 = att.clone();
    assert_eq!(att2.embed_collateral(&c), 1);
    assert_eq!(att2.tdx_quote(), Some(quote.as_slice()));
    let v = evaluate_attestation(&att2, &pinned(&quote), &VerifyOptions::at(t));
    assert_eq!(outcome(&v, "TDX quote"), Outcome::Pass);
    // Unpinned default policy: measurement check fails with a helpful message.
    let v = evaluate_attestation(&att2, &Policy::default(), &VerifyOptions::at(t));
    assert_eq!(outcome(&v, "TD measurements"), Outcome::Fail);
    assert!(v.to_string().contains("pins no measurements"));
    // Outside the collateral window: the quote check fails.
    let v = evaluate_attestation(&att2, &pinned(&quote), &VerifyOptions::at(t + 400 * 86_400));
    assert_eq!(outcome(&v, "TDX quote"), Outcome::Fail);
    // Policy round trip through TOML keeps the verdict.
    let p = Policy::from_toml_str(&pinned(&quote).to_toml()).unwrap();
    assert_eq!(p.digest(), pinned(&quote).digest());
}

fn compose_event(hash: [u8; 32]) -> cloak_tee::DstackEvent {
    use sha2::{Digest, Sha384};
    let mut h = Sha384::new();
    h.update(cloak_tee::DSTACK_RUNTIME_EVENT_TYPE.to_le_bytes());
    h.update(b":compose-hash:");
    h.update(hash);
    cloak_tee::DstackEvent {
        imr: 3,
        event_type: cloak_tee::DSTACK_RUNTIME_EVENT_TYPE,
        digest: hex::encode(h.finalize()),
        event: "compose-hash".into(),
        event_payload: hex::encode(hash),
    }
}

#[test]
fn dstack_event_log_must_replay_to_rtmr3() {
    let quote = read_fixture("tdx_quote");
    let c = collateral("tdx_quote_collateral.json");
    let t = time_inside(&c);
    let info = inspect_quote(&quote).unwrap();
    assert_eq!(
        info.rtmr.unwrap()[3].0,
        [0u8; 48],
        "the fixture's RTMR3 is empty"
    );
    let dstack = |event_log| {
        att_with(Evidence::Dstack(DstackEvidence {
            quote: quote.clone().into(),
            event_log,
            app_id: "app".into(),
            instance_id: "inst".into(),
            reported_compose_hash: String::new(),
            vm_config: None,
            collateral: Some(c.clone()),
        }))
    };
    // An empty log replays to the fixture's all-zero RTMR3, but carries no compose hash.
    let v = evaluate_attestation(&dstack(vec![]), &pinned(&quote), &VerifyOptions::at(t));
    assert_eq!(outcome(&v, "TDX quote"), Outcome::Pass);
    assert_eq!(outcome(&v, "dstack event log"), Outcome::Pass);
    assert_eq!(outcome(&v, "dstack compose hash"), Outcome::Warn);
    assert!(v.not_checked.iter().any(|n| n.contains("dstack")));
    // A claimed compose-hash event that is not in RTMR3 is caught, and the
    // compose hash is then not usable to satisfy the policy.
    let policy = Policy::default().allow_compose_hash(cloak_tee::Digest32([7; 32]));
    let v = evaluate_attestation(
        &dstack(vec![compose_event([7; 32])]),
        &policy,
        &VerifyOptions::at(t),
    );
    assert_eq!(outcome(&v, "dstack event log"), Outcome::Fail);
    assert!(v.to_string().contains("replay to"), "{v}");
    assert_eq!(outcome(&v, "TD measurements"), Outcome::Fail);
    assert!(v.compose_hash.is_none());
}
