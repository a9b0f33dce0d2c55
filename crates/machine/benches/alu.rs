//! Proving throughput of the ALU chips and lookup tables:
//! `cargo bench -p cloak-machine --bench alu` (optionally `-- <log2 events>`).
//!
//! A mix of every ALU operation (random operands) is sent by the test stand-in
//! for the CPU; the chips, Range16 and Byte answer. Prints trace cells, proving
//! and verifying time, cells per second and proof size. Nothing is asserted:
//! figures go to BENCHMARKS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use cloak_machine::AluEvent;
use cloak_prover::config::{fresh_config, FriSettings};
use cloak_prover::{encode, prove, setup, verify};
use cloak_vm::Opcode;
use common::{airs, traces};
use p3_matrix::Matrix;
use std::time::Instant;

const OPS: [Opcode; 18] = [
    Opcode::Add,
    Opcode::Sub,
    Opcode::And,
    Opcode::Or,
    Opcode::Xor,
    Opcode::Slt,
    Opcode::Sltu,
    Opcode::Sll,
    Opcode::Srl,
    Opcode::Sra,
    Opcode::Mul,
    Opcode::Mulh,
    Opcode::Mulhsu,
    Opcode::Mulhu,
    Opcode::Div,
    Opcode::Divu,
    Opcode::Rem,
    Opcode::Remu,
];

fn main() {
    let log_events: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    let fri = FriSettings::DEFAULT;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let events: Vec<AluEvent> = (0..1u64 << log_events)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Weighted like real code: mostly ADD and bitwise, fewer mul/div.
            let op = match i % 10 {
                0..=3 => Opcode::Add,
                4 => Opcode::Sub,
                5 => OPS[2 + (x >> 40) as usize % 3],
                6 => OPS[5 + (x >> 40) as usize % 2],
                7 => OPS[7 + (x >> 40) as usize % 3],
                8 => OPS[10 + (x >> 40) as usize % 4],
                _ => OPS[14 + (x >> 40) as usize % 4],
            };
            AluEvent::new(op, x as u32, (x >> 32) as u32).expect("an ALU opcode")
        })
        .collect();
    let t = Instant::now();
    let traces = traces(&events, fri.min_trace_height());
    let trace_secs = t.elapsed().as_secs_f64();
    let cells: usize = traces.iter().map(|m| m.width() * m.height()).sum();
    let heights: Vec<usize> = traces
        .iter()
        .map(|m| m.height().trailing_zeros() as usize)
        .collect();
    let (pk, vk) = setup(fri, &airs(), &heights).expect("setup");
    let publics = vec![vec![]; traces.len()];
    let t = Instant::now();
    let proof = prove(
        &fresh_config(fri).expect("OS randomness"),
        &pk,
        &airs(),
        &traces,
        &publics,
    )
    .expect("proves");
    let prove_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    verify(&vk, &airs(), &proof, &publics).expect("verifies");
    let verify_secs = t.elapsed().as_secs_f64();
    println!("events,trace_cells,log_heights,tracegen_s,prove_s,verify_s,cells_per_s,proof_bytes");
    println!(
        "{},{},{:?},{:.3},{:.3},{:.3},{:.0},{}",
        events.len(),
        cells,
        heights,
        trace_secs,
        prove_secs,
        verify_secs,
        cells as f64 / prove_secs,
        encode(&proof).len()
    );
}
