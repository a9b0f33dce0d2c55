//! Packing one full shard's traces for upload (`packed::pack`), the host's
//! share of staging a shard on the GPU besides trace generation:
//! `cargo bench -p cloak-gpu --bench pack [-- PROGRAM N LOG_SHARD THREADS]`
//! (default `loop 200000 19 1,ALL`; the same shard as the machine crate's
//! `shard` bench, `cloak_machine::sample`).
//!
//! Generates the first full shard's traces once, then times packing all of
//! them and copying each table's words into a reused buffer, as the upload
//! does into its staging buffer (best of 5), on each thread count. Runs
//! without a GPU. Nothing is asserted: figures go to BENCHMARKS.md.

use cloak_gpu::packed::{pack, pack_words};
use cloak_machine::sample::{SampleArgs, SampleShard};
use cloak_machine::witness::{generate_shard, generate_shard_as, TraceForm};
use p3_matrix::Matrix;
use std::time::{Duration, Instant};

fn main() {
    let args = SampleArgs::from_env().expect("arguments");
    let s = SampleShard::load(&args).expect("the sample shard");
    let w = generate_shard(&s.air, &s.shard, s.claim, s.min_height).expect("generation");
    let traces = w.tables.select(w.traces);
    let cells: u64 = traces.iter().map(|m| m.values.len() as u64).sum();
    // Each table on one thread, and the CPU table's rows' inputs (what the
    // GPU backend uploads in its place), once each: where packing goes.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let names = w.tables.select(cloak_machine::air::table::NAMES.to_vec());
    for (name, m) in names.iter().zip(&traces) {
        let t = Instant::now();
        let packed = one.install(|| pack(m)).expect("packing");
        println!(
            "  {name}: {} x {}, {:.2} ms, {} bytes",
            m.height(),
            m.width(),
            t.elapsed().as_secs_f64() * 1e3,
            packed.bytes()
        );
    }
    let inputs = generate_shard_as(&s.air, &s.shard, s.claim, s.min_height, TraceForm::Inputs)
        .expect("generation")
        .cpu_inputs
        .expect("inputs");
    let t = Instant::now();
    let width = cloak_machine::cpu_rows::inputs::WIDTH;
    let packed = one
        .install(|| pack_words(&inputs.inputs, width))
        .expect("packing");
    println!(
        "  cpu rows' inputs: {} words, {:.2} ms, {} bytes",
        inputs.inputs.len(),
        t.elapsed().as_secs_f64() * 1e3,
        packed.bytes()
    );
    for &threads in &args.threads {
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
            "pack, 2^{} cycles, {threads} thread(s): {:.1} ms, {cells} cells -> {bytes} bytes ({:.1} M cells/s)",
            args.log_shard,
            best.as_secs_f64() * 1e3,
            cells as f64 / best.as_secs_f64() / 1e6
        );
    }
}
