//! `cloak serve`: the proving service (crates/server).

use anyhow::Result;
use clap::builder::TypedValueParser;
use clap::Args;
use cloak_server::{AttestMode, Limits, Pipeline, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the job database (cloak.db) and the key seeds live.
    #[arg(long, default_value = "cloak-data")]
    data_dir: PathBuf,
    /// `tee`: attest with this machine's TEE; `dev`: a local key (INSECURE,
    /// for machines without a TEE; clients must pass --allow-dev).
    #[arg(long, value_enum)]
    attest: crate::prove::AttestWith,
    /// Largest ELF accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_elf_bytes)]
    max_elf_bytes: usize,
    /// Largest (plaintext) input accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_input_bytes)]
    max_input_bytes: usize,
    /// Most cycles a job may run.
    #[arg(long, default_value_t = Limits::default().max_cycles)]
    max_cycles: u64,
    /// Most jobs queued or running at once.
    #[arg(long, default_value_t = Limits::default().max_queue)]
    max_queue: usize,
    /// Jobs prepared (keys, inputs, execution) while another proves; 0
    /// prepares each job just before it proves. At most 16.
    #[arg(long, default_value_t = Pipeline::default().lookahead,
          value_parser = clap::value_parser!(u64).range(0..=16).map(|v| v as usize))]
    lookahead: usize,
    /// Also generate a prepared job's traces ahead, for jobs of at most this
    /// many cycles (they stay in memory until the job proves); 0: never.
    #[arg(long, default_value_t = Pipeline::default().witness_max_cycles)]
    trace_ahead_max_cycles: u64,
    /// Where to prove: `cpu`, or `gpu` (the first CUDA device, opened and its
    /// kernels compiled at start-up; see `cloak prove --backend`).
    #[arg(long, value_enum, default_value_t = crate::prove::Backend::Cpu)]
    backend: crate::prove::Backend,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = ServerConfig {
        data_dir: args.data_dir,
        attest: match args.attest {
            crate::prove::AttestWith::Tee => AttestMode::Tee,
            crate::prove::AttestWith::Dev => AttestMode::Dev,
        },
        limits: Limits {
            max_elf_bytes: args.max_elf_bytes,
            max_input_bytes: args.max_input_bytes,
            max_cycles: args.max_cycles,
            max_queue: args.max_queue,
            ..Limits::default()
        },
        pipeline: Pipeline {
            lookahead: args.lookahead,
            witness_max_cycles: args.trace_ahead_max_cycles,
        },
        gpu: args.backend == crate::prove::Backend::Gpu,
    };
    cloak_server::serve(&config, args.listen)?;
    Ok(ExitCode::SUCCESS)
}
