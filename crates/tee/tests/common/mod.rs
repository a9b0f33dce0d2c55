#![allow(dead_code)]

use std::path::PathBuf;

use cloak_tee::Collateral;

/// The shared TDX fixtures, found relative to this crate (`shared/` sits beside the repo).
pub fn tdx_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/tdx")
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    let p = tdx_fixtures().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn collateral(name: &str) -> Collateral {
    Collateral::from_json(&read_fixture(name)).expect("fixture collateral parses")
}

/// A time inside the collateral's validity window: one day after it opens.
pub fn time_inside(c: &Collateral) -> u64 {
    let (start, end) = c.validity_window().expect("window");
    assert!(start + 86_400 < end);
    start + 86_400
}

pub fn nvidia_data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nvidia")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
