//! `cloak execute`.

use crate::input::{parse_input, INPUT_FORMS};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use cloak_vm::{ExecConfig, ExecOutput, Executor, Program};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    /// Run only.
    Fast,
    /// Also build the execution record the prover consumes (sharded).
    Trace,
}

#[derive(Args)]
pub struct ExecuteArgs {
    /// The RV32IM ELF to run.
    elf: PathBuf,
    /// One guest input buffer; repeat for more.
    #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer, read by the guest in order; repeat for more. Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    /// Stop with an error after this many cycles.
    #[arg(long)]
    max_cycles: Option<u64>,
    /// Stop with an error when the guest touches more than this many bytes of memory.
    #[arg(long)]
    max_memory: Option<u64>,
    #[arg(long, value_enum, default_value = "fast")]
    mode: Mode,
    /// Cycles per shard in trace mode.
    #[arg(long, default_value_t = 1 << 22)]
    shard_cycles: u64,
}

/// Runs the guest and prints its results. The process fails (status 1) when
/// the guest exits with a non-zero code, so scripts notice guest panics.
pub fn run(args: ExecuteArgs) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&args.elf).with_context(|| format!("reading {}", args.elf.display()))?;
    let program =
        Program::from_elf(&bytes).with_context(|| format!("loading {}", args.elf.display()))?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| parse_input(s))
        .collect::<Result<Vec<_>>>()?;
    let config = ExecConfig {
        max_cycles: args.max_cycles,
        max_memory_bytes: args.max_memory,
    };
    let mut executor = Executor::new(&program, inputs, config);
    let start = Instant::now();
    let mut shards = 0u64;
    let result = match args.mode {
        Mode::Fast => executor.run(),
        Mode::Trace => executor.run_traced(args.shard_cycles, |_shard| {
            shards += 1;
            Ok::<(), cloak_vm::ExecError>(())
        }),
    };
    let elapsed = start.elapsed();
    let output = result.with_context(|| format!("executing {}", args.elf.display()))?;
    report(
        &output,
        elapsed.as_secs_f64(),
        matches!(args.mode, Mode::Trace).then_some(shards),
    )?;
    if output.exit_code != 0 {
        eprintln!("guest exited with code {}", output.exit_code);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn report(out: &ExecOutput, secs: f64, shards: Option<u64>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if !out.stdout.is_empty() {
        writeln!(stdout, "--- guest stdout ---")?;
        stdout.write_all(&out.stdout)?;
        if !out.stdout.ends_with(b"\n") {
            writeln!(stdout)?;
        }
        writeln!(stdout, "--------------------")?;
    }
    if !out.stderr.is_empty() {
        eprintln!("--- guest stderr ---");
        std::io::stderr().write_all(&out.stderr)?;
        eprintln!();
    }
    writeln!(stdout, "cycles: {}", out.cycles)?;
    if let Some(shards) = shards {
        writeln!(stdout, "shards: {shards}")?;
    }
    writeln!(stdout, "exit code: {}", out.exit_code)?;
    writeln!(stdout, "public values: {}", hex::encode(&out.public_values))?;
    writeln!(
        stdout,
        "public values sha256: {}",
        hex::encode(out.public_values_digest())
    )?;
    let mhz = out.cycles as f64 / secs.max(1e-9) / 1e6;
    writeln!(stdout, "time: {:.3} s ({mhz:.1} M cycles/s)", secs)?;
    Ok(())
}
