//! Executor throughput: `cargo bench -p cloak-vm --bench executor`.
//!
//! Runs the bundled loop and fibonacci guests (guests/bin) in fast mode and in
//! tracing mode on one thread and prints instructions per second (best of 3).
//! Figures go to BENCHMARKS.md; nothing here asserts a speed.

use cloak_vm::{ExecConfig, Executor, Program};
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
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("loop", vec![50_000_000u32.to_le_bytes().to_vec()]),
        ("fibonacci", vec![20_000_000u32.to_le_bytes().to_vec()]),
    ];
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
        let (cycles, secs) = best_of(3, || {
            let mut e = Executor::new(&program, inputs.clone(), ExecConfig::default());
            e.run_traced(
                std::env::var("SHARD")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1 << 22),
                |shard| {
                    std::hint::black_box(&shard);
                    Ok::<(), cloak_vm::ExecError>(())
                },
            )
            .expect("guest runs")
            .cycles
        });
        println!(
            "{name},{n},trace,{cycles},{secs:.3},{:.1}",
            cycles as f64 / secs / 1e6
        );
    }
}
