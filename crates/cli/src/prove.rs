//! `cloak prove`, `cloak verify`, `cloak vk`.

use crate::input::{parse_input, INPUT_FORMS};
use anyhow::{bail, Context, Result};
use clap::Args;
use cloak_machine::{MachineKeys, Proof, Statement};
use cloak_prover::{fresh_config, seeded_config, Config, FriSettings};
use cloak_vm::{ExecConfig, Program};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct ProveArgs {
    /// The RV32IM ELF to prove.
    elf: PathBuf,
    /// One guest input buffer; repeat for more.
    #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer, read by the guest in order; repeat for more. Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    /// Where to write the proof.
    #[arg(short, long, default_value = "proof.bin")]
    output: PathBuf,
    /// Stop with an error after this many cycles.
    #[arg(long)]
    max_cycles: Option<u64>,
    /// Stop with an error when the guest touches more than this many bytes of memory.
    #[arg(long)]
    max_memory: Option<u64>,
    /// Draw the proof's zero-knowledge randomness from this 32-byte hex seed
    /// instead of the OS, for reproducible proofs. Never use it for private
    /// inputs: the randomness is what hides them.
    #[arg(long, value_name = "HEX")]
    insecure_seed: Option<String>,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The proof file `cloak prove` wrote.
    proof: PathBuf,
    /// The ELF the proof claims to run (its verifying key is derived from it).
    #[arg(long)]
    elf: PathBuf,
    /// Print the statement as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct VkArgs {
    /// The RV32IM ELF.
    elf: PathBuf,
}

pub fn load_program(path: &Path) -> Result<Program> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Program::from_elf(&bytes).with_context(|| format!("loading {}", path.display()))
}

pub fn keys_for(program: &Program, path: &Path) -> Result<MachineKeys> {
    MachineKeys::new(program, FriSettings::DEFAULT)
        .with_context(|| format!("deriving the verifying key of {}", path.display()))
}

fn config(seed: Option<&str>) -> Result<Config> {
    match seed {
        None => fresh_config(FriSettings::DEFAULT).context("drawing randomness from the OS"),
        Some(hex_seed) => {
            let bytes = hex::decode(hex_seed).context("--insecure-seed is not hex")?;
            let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!(
                    "--insecure-seed must be 32 bytes (64 hex digits), not {}",
                    bytes.len()
                );
            };
            Ok(seeded_config(FriSettings::DEFAULT, seed))
        }
    }
}

pub fn prove(args: ProveArgs) -> Result<ExitCode> {
    let program = load_program(&args.elf)?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| parse_input(s))
        .collect::<Result<Vec<_>>>()?;
    let exec = ExecConfig {
        max_cycles: args.max_cycles,
        max_memory_bytes: args.max_memory,
    };
    let start = Instant::now();
    let keys = keys_for(&program, &args.elf)?;
    let setup = start.elapsed();
    let config = config(args.insecure_seed.as_deref())?;
    let (proof, report) = keys
        .prove(&program, inputs, exec, &config)
        .with_context(|| format!("proving {}", args.elf.display()))?;
    let bytes = proof.to_bytes();
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let prove_secs = report.prove.as_secs_f64();
    println!("cycles: {}", report.cycles);
    println!("exit code: {}", proof.exit_code);
    println!("public values: {}", hex::encode(&proof.public_values));
    println!("vk: {}", hex::encode(keys.vk_digest()));
    println!(
        "setup: {:.3} s, execution + traces: {:.3} s, proving: {:.3} s ({:.1} kHz)",
        setup.as_secs_f64(),
        report.execution.as_secs_f64(),
        prove_secs,
        report.cycles as f64 / prove_secs.max(1e-9) / 1e3
    );
    println!("proof: {} ({} bytes)", args.output.display(), bytes.len());
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&args.proof).with_context(|| format!("reading {}", args.proof.display()))?;
    let proof =
        Proof::from_bytes(&bytes).with_context(|| format!("decoding {}", args.proof.display()))?;
    let program = load_program(&args.elf)?;
    let keys = keys_for(&program, &args.elf)?;
    let statement = keys.verify(&proof).with_context(|| {
        format!(
            "{} is not a valid proof for {}",
            args.proof.display(),
            args.elf.display()
        )
    })?;
    print_statement(&statement, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn print_statement(s: &Statement, json: bool) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "valid": true,
            "vk": hex::encode(s.vk_digest),
            "exit_code": s.exit_code,
            "public_values": hex::encode(&s.public_values),
            "public_values_sha256": hex::encode(s.public_values_digest),
            "public_values_bound": s.exit_code == 0,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("proof: valid");
        println!("vk: {}", hex::encode(s.vk_digest));
        println!("exit code: {}", s.exit_code);
        if s.exit_code == 0 {
            println!("public values: {}", hex::encode(&s.public_values));
            println!(
                "public values sha256: {}",
                hex::encode(s.public_values_digest)
            );
        } else {
            println!("public values: not bound (the guest exited non-zero)");
        }
    }
    Ok(())
}

pub fn vk(args: VkArgs) -> Result<ExitCode> {
    let program = load_program(&args.elf)?;
    let keys = keys_for(&program, &args.elf)?;
    println!("{}", hex::encode(keys.vk_digest()));
    Ok(ExitCode::SUCCESS)
}
