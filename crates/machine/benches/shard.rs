//! Trace generation of one full shard from the executor's record:
//! `cargo bench -p cloak-machine --bench shard [-- PROGRAM N LOG_SHARD THREADS]`
//! (default `loop 200000 19 1,ALL`: the guest `guests/bin/PROGRAM.elf` with
//! input `u32:N`, shards of 2^LOG_SHARD cycles, on 1 thread and on all of
//! rayon's; THREADS is a comma-separated list).
//!
//! Executes in tracing mode, keeps the first full shard and times
//! `witness::generate_shard` on it (best of 5) on each thread count, twice:
//! with fresh memory for every trace (each generation's traces freed), and
//! with the traces handed back to `cloak_prover::trace_buffers` after each
//! generation (as the GPU backend does once it has uploaded them). This is
//! the CPU's share of every shard the GPU proves (pass 1 waits for it), so
//! it bounds the prover's speed. Nothing is asserted: figures go to
//! BENCHMARKS.md. `RUST_LOG=cloak::pipeline=debug` prints each generation's
//! phases.

use cloak_machine::program::ProgramAir;
use cloak_machine::witness::{generate_shard, ExecutionClaim};
use cloak_prover::config::FriSettings;
use cloak_vm::{ExecConfig, Executor, Program, Shard};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let name = args.first().map_or("loop", String::as_str);
    let n: u32 = args.get(1).map_or(200_000, |s| s.parse().expect("N"));
    let log_shard: u32 = args.get(2).map_or(19, |s| s.parse().expect("LOG_SHARD"));
    // From the repository root (as on the GPU machine, where the binary is
    // carried), else from this crate's checkout.
    let local = format!("guests/bin/{name}.elf");
    let built = format!("{}/../../{local}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&local)
        .or_else(|_| std::fs::read(&built))
        .expect("reading the guest");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .init();
    let program = Program::from_elf(&bytes).expect("loading the guest");
    let inputs = vec![n.to_le_bytes().to_vec()];

    let output = Executor::new(&program, inputs.clone(), ExecConfig::default())
        .run()
        .expect("fast run");
    let claim = ExecutionClaim {
        digest: output.committed.map(|w| w.unwrap_or(0)),
        exit_code: output.exit_code,
    };
    let mut first: Option<Shard> = None;
    let start = Instant::now();
    Executor::new(&program, inputs, ExecConfig::default())
        .run_traced(1 << log_shard, |shard| {
            if first.is_none() && shard.cpu.len() == 1 << log_shard {
                first = Some(shard.clone());
            }
            Ok::<(), cloak_vm::ExecError>(())
        })
        .expect("traced run");
    let traced = start.elapsed();
    let shard = first.expect("no full shard: raise N");
    let min = FriSettings::DEFAULT.min_trace_height();
    let air = ProgramAir::new(&program, min).expect("program table");

    let best = |threads: usize, pooled: bool| -> (Duration, u64) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let mut best = Duration::MAX;
        let mut cells = 0u64;
        for _ in 0..5 {
            let t = Instant::now();
            let w = pool
                .install(|| generate_shard(&air, &shard, claim, min))
                .expect("generation");
            best = best.min(t.elapsed());
            let traces = w.tables.select(w.traces);
            cells = traces.iter().map(|m| m.values.len() as u64).sum();
            if pooled {
                for m in traces {
                    cloak_prover::trace_buffers::give_back(m.values);
                }
            }
        }
        (best, cells)
    };
    let all = rayon::current_num_threads();
    println!(
        "{name} u32:{n}: {} cycles traced in {:.1} ms ({:.1} M/s)",
        output.cycles,
        traced.as_secs_f64() * 1e3,
        output.cycles as f64 / traced.as_secs_f64() / 1e6
    );
    let threads: Vec<usize> = args.get(3).map_or(vec![1, all], |list| {
        list.split(',')
            .map(|t| t.parse().expect("THREADS: a comma-separated list"))
            .collect()
    });
    for pooled in [false, true] {
        let memory = if pooled { "reused" } else { "fresh" };
        for &threads in &threads {
            let (t, cells) = best(threads, pooled);
            println!(
                "generate_shard, 2^{log_shard} cycles, {threads} thread(s), {memory} memory: {:.1} ms, {cells} cells ({:.1} M cells/s)",
                t.as_secs_f64() * 1e3,
                cells as f64 / t.as_secs_f64() / 1e6
            );
        }
    }
}
