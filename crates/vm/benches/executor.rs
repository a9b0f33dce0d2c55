//! Executor throughput: `cargo bench -p cloak-vm --bench executor`.
//!
//! Runs the bundled loop and fibonacci guests (guests/bin) in fast mode and in
//! tracing mode and prints instructions per second (best of 3). Tracing
//! runs on each thread count in `THREADS` (default `1`; e.g. `1,2,3,4`:
//! `trace-t3` is [`Executor::run_traced_parallel`] on 3 tracing threads) in
//! shards of `SHARD` cycles (default 2^22). `LOOP_N` and `FIB_N` set the
//! guests' inputs. Figures go to BENCHMARKS.md; nothing here asserts a speed.

use cloak_vm::{ExecConfig, Executor, Program, ShardPolicy};
use std::time::Instant;

fn best_of<F: FnMut() -> u64>(runs: usize, mut f: F) -> (u64, f64) {
    let mut best = f64::MAX;
    let mut cycles = 0;
    for _ in 0..runs {
        let t = Instant::now();
        cycles = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (cycles, best)
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/bin");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "loop",
            vec![(env("LOOP_N", 50_000_000) as u32).to_le_bytes().to_vec()],
        ),
        (
            "fibonacci",
            vec![(env("FIB_N", 20_000_000) as u32).to_le_bytes().to_vec()],
        ),
    ];
    let shard = env("SHARD", 1 << 22);
    let threads: Vec<usize> = std::env::var("THREADS")
        .unwrap_or_else(|_| "1".into())
        .split(',')
        .map(|t| {
            t.trim()
                .parse()
                .expect("THREADS: thread counts, comma separated")
        })
        .collect();
    println!("program,n_input,mode,cycles,seconds,minstr_per_s");
    for (name, inputs) in cases {
        let path = format!("{root}/{name}.elf");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipping {name}: {path} not found");
            continue;
        };
        let program = Program::from_elf(&bytes).expect("guest loads");
        let n = u32::from_le_bytes(inputs[0].clone().try_into().unwrap());
        let (cycles, secs) = best_of(3, || {
            let mut e = Executor::new(&program, inputs.clone(), ExecConfig::default());
            e.run().expect("guest runs").cycles
        });
        println!(
            "{name},{n},fast,{cycles},{secs:.3},{:.1}",
            cycles as f64 / secs / 1e6
        );
        for &t in &threads {
            let (cycles, secs) = best_of(3, || {
                let mut e = Executor::new(&program, inputs.clone(), ExecConfig::default());
                e.run_traced_parallel(&ShardPolicy::cycles(shard), t, |shard| {
                    std::hint::black_box(&shard);
                    Ok::<(), cloak_vm::ExecError>(())
                })
                .expect("guest runs")
                .cycles
            });
            let mode = if t <= 1 {
                "trace".into()
            } else {
                format!("trace-t{t}")
            };
            println!(
                "{name},{n},{mode},{cycles},{secs:.3},{:.1}",
                cycles as f64 / secs / 1e6
            );
        }
    }
}
