//! Packing one full shard's traces for upload (`packed::pack`), the host's
//! share of staging a shard on the GPU besides trace generation:
//! `cargo bench -p cloak-gpu --bench pack [-- PROGRAM N LOG_SHARD THREADS]`
//! (default `loop 200000 19 1,ALL`, as the machine crate's `shard` bench).
//!
//! Generates the first full shard's traces once, then times packing all of
//! them and copying each table's words into a reused buffer, as the upload
//! does into its staging buffer (best of 5), on each thread count. Runs
//! without a GPU. Nothing is asserted: figures go to BENCHMARKS.md.

use cloak_gpu::packed::pack;
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
    let local = format!("guests/bin/{name}.elf");
    let built = format!("{}/../../{local}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&local)
        .or_else(|_| std::fs::read(&built))
        .expect("reading the guest");
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
    Executor::new(&program, inputs, ExecConfig::default())
        .run_traced(1 << log_shard, |shard| {
            if first.is_none() && shard.cpu.len() == 1 << log_shard {
                first = Some(shard.clone());
            }
            Ok::<(), cloak_vm::ExecError>(())
        })
        .expect("traced run");
    let shard = first.expect("no full shard: raise N");
    let min = FriSettings::DEFAULT.min_trace_height();
    let air = ProgramAir::new(&program, min).expect("program table");
    let w = generate_shard(&air, &shard, claim, min).expect("generation");
    let traces = w.tables.select(w.traces);
    let cells: u64 = traces.iter().map(|m| m.values.len() as u64).sum();

    let all = rayon::current_num_threads();
    let threads: Vec<usize> = args.get(3).map_or(vec![1, all], |list| {
        list.split(',')
            .map(|t| t.parse().expect("THREADS: a comma-separated list"))
            .collect()
    });
    for &threads in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let mut best = Duration::MAX;
        let mut bytes = 0;
        let mut staging: Vec<u32> = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            bytes = pool.install(|| {
                traces
                    .iter()
                    .map(|m| {
                        let packed = pack(m).expect("packing");
                        let len = packed.word_len();
                        if staging.len() < len {
                            staging.resize(len, 0);
                        }
                        packed.write_words(&mut staging[..len]);
                        packed.bytes()
                    })
                    .sum::<usize>()
            });
            best = best.min(t.elapsed());
        }
        println!(
            "pack, 2^{log_shard} cycles, {threads} thread(s): {:.1} ms, {cells} cells -> {bytes} bytes ({:.1} M cells/s)",
            best.as_secs_f64() * 1e3,
            cells as f64 / best.as_secs_f64() / 1e6
        );
    }
}
