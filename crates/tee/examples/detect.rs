//! Prints what TEE evidence sources this machine offers, and, where a TEE is
//! present, produces a key attestation for a random nonce.
//!
//! `cargo run -p cloak-tee --example detect [-- --attest]`

use cloak_tee::{detect, nvml_status, Attester, InputSecretKey, Nonce, Statement};

fn main() {
    let report = detect();
    println!("{report}");
    let st = nvml_status();
    println!(
        "NVML: {}",
        serde_json::to_string_pretty(&st).unwrap_or_default()
    );
    if std::env::args().any(|a| a == "--attest") {
        let run = || -> Result<(), cloak_tee::TeeError> {
            let attester = Attester::auto()?;
            let key = InputSecretKey::generate()?;
            let att =
                attester.attest(Statement::for_input_key(Nonce::random()?, key.public_key()))?;
            println!("{}", att.to_json());
            Ok(())
        };
        if let Err(e) = run() {
            eprintln!("attestation failed: {e}");
            std::process::exit(1);
        }
    }
}
