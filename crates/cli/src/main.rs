//! `cloak`: run, prove and verify RV32IM programs.

mod execute;
mod input;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Execute(args) => execute::run(args),
    }
}
