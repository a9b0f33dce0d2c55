//! `cloak-server DATA_DIR LISTEN_ADDR [dev|tee]`: the service without the
//! rest of the CLI (`cloak serve` is the same with flags). The crash-safety
//! test runs and kills this binary.

use cloak_server::{serve, AttestMode, Limits, Pipeline, ServerConfig};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything uses rayon: its threads below the executor's.
    cloak_machine::workers::init_rayon_pool();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: cloak-server DATA_DIR LISTEN_ADDR [dev|tee]");
        return ExitCode::from(2);
    }
    let attest = match args.get(3).map(String::as_str) {
        None | Some("tee") => AttestMode::Tee,
        Some("dev") => AttestMode::Dev,
        Some(other) => {
            eprintln!("unknown attestation mode {other:?} (dev or tee)");
            return ExitCode::from(2);
        }
    };
    let listen = match args[2].parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{}: {e}", args[2]);
            return ExitCode::from(2);
        }
    };
    let config = ServerConfig {
        data_dir: args[1].clone().into(),
        attest,
        limits: Limits::default(),
        pipeline: Pipeline::default(),
        // `cloak serve --backend gpu` proves on the GPU; this binary is for tests.
        gpu: false,
    };
    match serve(&config, listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
