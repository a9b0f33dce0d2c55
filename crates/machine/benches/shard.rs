//! Trace generation of one full shard from the executor's record:
//! `cargo bench -p cloak-machine --bench shard [-- PROGRAM N LOG_SHARD THREADS]`
//! (default `loop 200000 19 1,ALL`: the guest `guests/bin/PROGRAM.elf` with
//! input `u32:N`, shards of 2^LOG_SHARD cycles, on 1 thread and on all of
//! rayon's; THREADS is a comma-separated list; `cloak_machine::sample`).
//!
//! Executes in tracing mode, keeps the first full shard and times
//! `witness::generate_shard_as` on it (best of 5) on each thread count, with
//! the CPU trace as values and as its rows' inputs (what a GPU backend
//! expands; `cells` counts the trace it stands for), each twice:
//! with fresh memory for every trace (each generation's traces freed), and
//! with the traces handed back to `cloak_prover::trace_buffers` after each
//! generation (as the GPU backend does once it has uploaded them). This is
//! the CPU's share of every shard the GPU proves (pass 1 waits for it), so
//! it bounds the prover's speed. Nothing is asserted: figures go to
//! BENCHMARKS.md. `RUST_LOG=cloak::pipeline=debug` prints each generation's
//! phases.

use cloak_machine::sample::{SampleArgs, SampleShard};
use cloak_machine::witness::{generate_shard_as, TraceForm};
use cloak_prover::MainTrace;
use std::time::{Duration, Instant};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .init();
    let args = SampleArgs::from_env().expect("arguments");
    let sample = SampleShard::load(&args).expect("the sample shard");
    let (air, shard, claim, min) = (&sample.air, &sample.shard, sample.claim, sample.min_height);

    let best = |threads: usize, pooled: bool, form: TraceForm| -> (Duration, u64) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let mut best = Duration::MAX;
        let mut cells = 0u64;
        for _ in 0..5 {
            let t = Instant::now();
            let w = pool
                .install(|| generate_shard_as(air, shard, claim, min, form))
                .expect("generation");
            best = best.min(t.elapsed());
            let mut w = w;
            let traces = w.take_main_traces();
            cells = traces.iter().map(|m| (m.width() * m.height()) as u64).sum();
            for m in traces {
                // Deferred inputs go back to the pool as they drop.
                if let MainTrace::Values(m) = m {
                    cloak_prover::trace_buffers::give_back(m.values);
                }
            }
            if !pooled {
                cloak_prover::trace_buffers::release_all();
            }
        }
        (best, cells)
    };
    println!(
        "{} u32:{}: {} cycles traced in {:.1} ms ({:.1} M/s)",
        args.name,
        args.n,
        sample.cycles,
        sample.traced.as_secs_f64() * 1e3,
        sample.cycles as f64 / sample.traced.as_secs_f64() / 1e6
    );
    for form in [TraceForm::Values, TraceForm::Inputs] {
        for pooled in [false, true] {
            let memory = if pooled { "reused" } else { "fresh" };
            for &threads in &args.threads {
                let (t, cells) = best(threads, pooled, form);
                println!(
                    "generate_shard, CPU trace as {form:?}, 2^{} cycles, {threads} thread(s), {memory} memory: {:.1} ms, {cells} cells ({:.1} M cells/s)",
                    args.log_shard,
                    t.as_secs_f64() * 1e3,
                    cells as f64 / t.as_secs_f64() / 1e6
                );
            }
        }
    }
}
