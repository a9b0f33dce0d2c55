//! Shared by the integration tests.
#![allow(dead_code)]

use cloak_server::{AttestMode, Limits, Pipeline, ServerConfig, Trust};
use cloak_tee::Policy;
use std::path::{Path, PathBuf};

pub fn guest(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/bin")
        .join(format!("{name}.elf"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn dev_config(dir: &Path, limits: Limits) -> ServerConfig {
    ServerConfig {
        data_dir: PathBuf::from(dir),
        attest: AttestMode::Dev,
        limits,
        pipeline: Pipeline::default(),
        gpu: false,
    }
}

/// The default policy plus allow-dev (tests have no TEE).
pub fn dev_trust() -> Trust {
    Trust::new(Policy::default().with_allow_dev(true))
}

/// bincode `Vec<u8>`: u64 LE length, then the bytes (`--input vec@FILE`).
pub fn vec_input(bytes: &[u8]) -> Vec<u8> {
    cloak_vm::input::vec_u8(bytes)
}

/// The value of a counter line in a Prometheus text answer.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
