//! Real TDX quotes from shared/fixtures/tdx, verified offline with their collateral.

mod common;

use cloak_tee::{
    inspect_quote, inspect_quote_with_collateral, verify_quote, verify_quote_with_policy,
    Collateral, Policy, TcbResult, TcbStatus,
};
use common::*;

fn uptodate() -> (Vec<u8>, Collateral) {
    (
        read_fixture("tdx_quote"),
        collateral("tdx_quote_collateral.json"),
    )
}

fn outdated() -> (Vec<u8>, Collateral) {
    (
        read_fixture("tdx_quote_outdated"),
        collateral("tdx_quote_outdated_collateral.json"),
    )
}

/// The default policy plus the fixture's own MRTD pinned (the default policy
/// rejects any TD until measurements are pinned).
fn pinned_default(quote: &[u8]) -> Policy {
    let info = inspect_quote(quote).unwrap();
    Policy::default().allow_measurements(cloak_tee::AllowedMeasurements {
        name: Some("fixture".into()),
        mrtd: info.mrtd,
        rtmr0: None,
        rtmr1: None,
        rtmr2: None,
        rtmr3: None,
    })
}

#[test]
fn uptodate_sample_verifies_inside_its_window() {
    let (q, c) = uptodate();
    let t = time_inside(&c);
    let v = verify_quote(&q, &c, t, false).expect("verifies");
    assert_eq!(v.tcb_status, TcbStatus::UpToDate);
    let v =
        verify_quote_with_policy(&q, &c, &pinned_default(&q), t).expect("default policy accepts");
    assert_eq!(v.info.tee_type, 0x81);
    assert!(v.collateral_expires >= t);
}

#[test]
fn default_policy_without_pinned_measurements_rejects() {
    let (q, c) = uptodate();
    let e = verify_quote_with_policy(&q, &c, &Policy::default(), time_inside(&c)).unwrap_err();
    assert!(e.to_string().contains("pins no measurements"), "{e}");
    let e = verify_quote_with_policy(
        &q,
        &c,
        &Policy::default().allow_measurements(cloak_tee::AllowedMeasurements {
            name: None,
            mrtd: Some(cloak_tee::Measurement([0x11; 48])),
            rtmr0: None,
            rtmr1: None,
            rtmr2: None,
            rtmr3: None,
        }),
        time_inside(&c),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("match no allowed_measurements"),
        "{e}"
    );
}

#[test]
fn outdated_sample_rejected_by_default_accepted_when_allowed() {
    let (q, c) = outdated();
    let t = time_inside(&c);
    let v = verify_quote(&q, &c, t, false).expect("crypto verifies");
    // This platform is below every TCB level in its TCB info: classified OutOfDate.
    assert_eq!(v.tcb_status, TcbStatus::OutOfDate);
    assert!(v.below_oldest_tcb_level);
    let policy = pinned_default(&q);
    let e = verify_quote_with_policy(&q, &c, &policy, t)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TDX TCB status") && e.contains("not accepted"),
        "{e}"
    );
    let lax = policy.accept_tcb_status(v.tcb_status);
    verify_quote_with_policy(&q, &c, &lax, t).expect("accepted when its status is allowed");
    let lax = pinned_default(&q).accept_tcb_status(TcbStatus::OutOfDate);
    if v.tcb_status == TcbStatus::OutOfDate {
        verify_quote_with_policy(&q, &c, &lax, t).expect("OutOfDate allowed");
    }
}

#[test]
fn time_outside_the_window_is_rejected() {
    let (q, c) = uptodate();
    let (start, end) = c.validity_window().unwrap();
    for t in [start - 86_400 * 30, end + 86_400, end + 86_400 * 365] {
        let e = verify_quote(&q, &c, t, false).unwrap_err();
        assert!(e.to_string().contains("verification failed"), "{t}: {e}");
    }
}

#[test]
fn flipped_quote_bytes_are_rejected() {
    let (q, c) = uptodate();
    let t = time_inside(&c);
    // Header, TD report (MRTD, RTMRs, report_data), signature, attestation key,
    // QE report, QE auth data, PEM chain, trailing padding, last byte.
    let n = q.len();
    let mut positions = vec![
        0, 1, 2, 4, 8, 12, 28, 47, 48, 100, 184, 200, 376, 520, 568, 600, 631, 632, 636, 700, 760,
        770, 800, 1000, 1100, 1200, 1240, 1258, 1300, 2000, 3000, 4000, 4935, 4936, 4990,
    ];
    positions.push(n - 1);
    let mut undetected = Vec::new();
    for &p in positions.iter().filter(|&&p| p < n) {
        for mask in [0x01u8, 0x80] {
            let mut m = q.clone();
            m[p] ^= mask;
            if verify_quote(&m, &c, t, false).is_ok() {
                undetected.push((p, mask));
            }
        }
    }
    assert!(
        undetected.is_empty(),
        "undetected bit flips (byte, mask): {undetected:?}"
    );
}

#[test]
fn flipped_collateral_bytes_are_rejected() {
    let (q, c) = uptodate();
    let t = time_inside(&c);
    let json = read_fixture("tdx_quote_collateral.json");
    let text = String::from_utf8(json.clone()).unwrap();
    // Positions inside each field's value (every field is signed or chained to Intel's root).
    let mut positions = Vec::new();
    for key in [
        "pck_crl_issuer_chain",
        "root_ca_crl",
        "pck_crl",
        "tcb_info_issuer_chain",
        "tcb_info",
        "tcb_info_signature",
        "qe_identity_issuer_chain",
        "qe_identity",
        "qe_identity_signature",
    ] {
        let start = text.find(&format!("\"{key}\"")).unwrap() + key.len() + 5;
        positions.extend([start + 40, start + 100]);
    }
    let mut tried = 0;
    let mut undetected: Vec<(usize, String)> = Vec::new();
    for p in positions {
        let mut m = json.clone();
        // Change one character to another valid character of the same class, so the
        // JSON still parses and verification (not parsing) must catch it.
        m[p] = match m[p] {
            b'0' => b'1',
            b'A'..=b'Y' | b'a'..=b'y' | b'1'..=b'8' => m[p] + 1,
            b'Z' | b'z' | b'9' => m[p] - 1,
            other => other ^ 0x01,
        };
        let Ok(mc) = Collateral::from_json(&m) else {
            continue;
        };
        tried += 1;
        if verify_quote(&q, &mc, t, false).is_ok() {
            let around = text.get(p.saturating_sub(10)..p + 10).unwrap_or("");
            undetected.push((p, around.to_string()));
        }
    }
    assert!(
        undetected.is_empty(),
        "undetected collateral changes: {undetected:?}"
    );
    assert!(tried >= 14, "only {tried} mutations parsed");
}

#[test]
fn inspect_shows_fields() {
    let (q, c) = uptodate();
    let info = inspect_quote(&q).unwrap();
    assert_eq!(info.version, 4);
    assert_eq!(info.tee_type, 0x81);
    assert!(info.mrtd.is_some() && info.rtmr.is_some());
    assert_eq!(info.trailing_zero_bytes, 70);
    let text = info.to_string();
    for k in [
        "quote version",
        "Intel TDX",
        "MRTD",
        "RTMR0",
        "RTMR3",
        "report_data",
        "not evaluated",
    ] {
        assert!(text.contains(k), "{k} missing from\n{text}");
    }
    let with = inspect_quote_with_collateral(&q, &c, time_inside(&c)).unwrap();
    assert!(matches!(
        with.tcb,
        Some(TcbResult::Verified {
            status: TcbStatus::UpToDate,
            ..
        })
    ));
    assert!(with.to_string().contains("UpToDate"));
    let late = inspect_quote_with_collateral(&q, &c, 4_000_000_000).unwrap();
    assert!(matches!(late.tcb, Some(TcbResult::Failed(_))));
    // The dstack sample (hex) parses too.
    let hex_text = String::from_utf8(read_fixture("quote-from-tappd.hex")).unwrap();
    let tappd = hex::decode(hex_text.trim()).unwrap();
    let info = inspect_quote(&tappd).unwrap();
    assert_eq!(info.tee_type, 0x81);
    assert!(serde_json::to_string(&info).unwrap().contains("\"mrtd\""));
}

#[test]
fn truncated_and_padded_quotes() {
    let (q, c) = uptodate();
    assert!(inspect_quote(&q[..4935]).is_err());
    let mut padded = q.clone();
    padded.extend([0u8; 16]);
    verify_quote(&padded, &c, time_inside(&c), false).expect("zero padding is fine");
    padded.push(1);
    let e = inspect_quote(&padded).unwrap_err().to_string();
    assert!(e.contains("non-zero byte"), "{e}");
}

/// Exhaustive version of the two tests above: every byte of the quote under three
/// bit masks, and every character of the collateral. About two minutes, so it is
/// ignored by default: `cargo test -p cloak-tee --test tdx_fixtures -- --ignored`.
#[test]
#[ignore]
fn exhaustive_mutation_scan() {
    let (q, c) = uptodate();
    let t = time_inside(&c);
    let mut undetected = Vec::new();
    for p in 0..q.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut m = q.clone();
            m[p] ^= mask;
            if verify_quote(&m, &c, t, false).is_ok() {
                undetected.push(format!("quote byte {p} ^ {mask:#x}"));
            }
        }
    }
    let json = read_fixture("tdx_quote_collateral.json");
    for p in 0..json.len() {
        let mut m = json.clone();
        m[p] = match m[p] {
            b'0' => b'1',
            b'A'..=b'Y' | b'a'..=b'y' | b'1'..=b'8' => m[p] + 1,
            b'Z' | b'z' | b'9' => m[p] - 1,
            other => other ^ 0x01,
        };
        let Ok(mc) = Collateral::from_json(&m) else {
            continue;
        };
        if verify_quote(&q, &mc, t, false).is_ok() {
            undetected.push(format!("collateral byte {p}"));
        }
    }
    assert!(undetected.is_empty(), "{undetected:?}");
}
