//! `cloak`: run, prove and verify RV32IM programs.

mod attest;
mod bench;
mod client;
mod execute;
mod input;
mod prove;
mod serve;
mod tee_overhead;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cloak", version, about = "Cloak: a confidential RISC-V zkVM")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and print its cycles, exit code, public values and output.
    Execute(execute::ExecuteArgs),
    /// Execute a program and prove the execution (a zero-knowledge STARK proof).
    Prove(prove::ProveArgs),
    /// Check a proof against a program and print the statement it proves.
    Verify(prove::VerifyArgs),
    /// Print a program's verifying-key digest.
    Vk(prove::VkArgs),
    /// Prove the bundled benchmark suite and write a CSV (zkvm-perf columns).
    Bench(bench::BenchArgs),
    /// Report which TEE evidence sources this machine has; inspect or verify attestations.
    Attest(attest::AttestArgs),
    /// Verify a prover's attestation, then encrypt inputs to its attested key (HPKE).
    EncryptInput(attest::EncryptArgs),
    /// Run the proving service (HTTP API, SQLite job store).
    Serve(serve::ServeArgs),
    /// Talk to a proving service; verifies every attestation and proof received.
    Client(client::ClientArgs),
}

fn main() -> ExitCode {
    init_logging();
    // Before anything uses rayon: its threads below the executor's.
    cloak_machine::workers::init_rayon_pool();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // The whole cause chain on one screen, without a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// With `RUST_LOG` set (e.g. `RUST_LOG=info`), prints the prover's spans
/// (Plonky3's stages: trace commitment, quotient, FRI, ...) with their
/// durations to stderr when they close: the per-stage profile.
fn init_logging() {
    use tracing_subscriber::fmt::format::FmtSpan;
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Execute(args) => execute::run(args),
        Command::Prove(args) => prove::prove(args),
        Command::Verify(args) => prove::verify(args),
        Command::Vk(args) => prove::vk(args),
        Command::Bench(args) => bench::run(args),
        Command::Attest(args) => attest::run(args),
        Command::EncryptInput(args) => attest::encrypt(args),
        Command::Serve(args) => serve::run(args),
        Command::Client(args) => client::run(args),
    }
}
