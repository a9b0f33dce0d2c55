//! A bundled guest's first full shard, as the benchmarks of one shard's host
//! work take it (`benches/shard.rs` here, trace generation; `cloak-gpu`'s
//! `benches/pack.rs`, packing): the same command line and the same shard,
//! so their figures describe the same work.

use crate::program::ProgramAir;
use crate::witness::ExecutionClaim;
use cloak_prover::config::FriSettings;
use cloak_vm::{ExecConfig, Executor, Program, Shard};
use std::time::{Duration, Instant};

/// A benchmark's arguments, `[PROGRAM N LOG_SHARD THREADS]` (default `loop
/// 200000 19 1,ALL`): the guest `guests/bin/PROGRAM.elf` on input `u32:N`,
/// shards of 2^LOG_SHARD cycles, timed on each thread count of the
/// comma-separated THREADS (ALL: rayon's default). Flags (`--bench`, which
/// cargo passes) are skipped.
#[derive(Clone, Debug)]
pub struct SampleArgs {
    pub name: String,
    pub n: u32,
    pub log_shard: u32,
    pub threads: Vec<usize>,
}

impl SampleArgs {
    /// The process's arguments.
    pub fn from_env() -> Result<SampleArgs, String> {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let all = rayon::current_num_threads();
        let number = |i: usize, what: &str, default: u32| {
            args.get(i).map_or(Ok(default), |s| {
                s.parse().map_err(|e| format!("{what} {s:?}: {e}"))
            })
        };
        let threads = match args.get(3) {
            None => vec![1, all],
            Some(list) => list
                .split(',')
                .map(|t| match t {
                    "ALL" => Ok(all),
                    _ => t.parse().map_err(|e| format!("THREADS {t:?}: {e}")),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(SampleArgs {
            name: args.first().cloned().unwrap_or_else(|| "loop".into()),
            n: number(1, "N", 200_000)?,
            log_shard: number(2, "LOG_SHARD", 19)?,
            threads,
        })
    }
}

/// The first full shard of a run, with what generating its traces needs.
pub struct SampleShard {
    pub air: ProgramAir,
    pub claim: ExecutionClaim,
    pub shard: Shard,
    /// The smallest trace height (the default FRI settings').
    pub min_height: usize,
    /// The whole run's cycles and the time its tracing run took.
    pub cycles: u64,
    pub traced: Duration,
}

impl SampleShard {
    /// Runs the guest (from the current directory's `guests/bin`, as on the
    /// GPU machine, else this checkout's) and keeps its first full shard.
    pub fn load(args: &SampleArgs) -> Result<SampleShard, String> {
        let local = format!("guests/bin/{}.elf", args.name);
        let built = format!("{}/../../{local}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&local)
            .or_else(|_| std::fs::read(&built))
            .map_err(|e| format!("reading {local}: {e}"))?;
        let program = Program::from_elf(&bytes).map_err(|e| format!("loading {local}: {e}"))?;
        let inputs = vec![args.n.to_le_bytes().to_vec()];
        let output = Executor::new(&program, inputs.clone(), ExecConfig::default())
            .run()
            .map_err(|e| format!("running {local}: {e}"))?;
        let claim = ExecutionClaim {
            digest: output.committed.map(|w| w.unwrap_or(0)),
            exit_code: output.exit_code,
        };
        let full = 1usize << args.log_shard;
        let mut first: Option<Shard> = None;
        let start = Instant::now();
        Executor::new(&program, inputs, ExecConfig::default())
            .run_traced(1 << args.log_shard, |shard| {
                if first.is_none() && shard.cpu.len() == full {
                    first = Some(shard.clone());
                }
                Ok::<(), cloak_vm::ExecError>(())
            })
            .map_err(|e| format!("tracing {local}: {e}"))?;
        let traced = start.elapsed();
        let shard = first.ok_or("no full shard: raise N")?;
        let min_height = FriSettings::DEFAULT.min_trace_height();
        let air = ProgramAir::new(&program, min_height).map_err(|e| e.to_string())?;
        Ok(SampleShard {
            air,
            claim,
            shard,
            min_height,
            cycles: output.cycles,
            traced,
        })
    }
}
