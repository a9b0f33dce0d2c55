//! `cloak`: run, prove and verify RV32IM programs.

mod attest;
mod bench;
mod execute;
mod input;
mod prove;

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
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // The whole cause chain on one screen, without a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
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
    }
}
