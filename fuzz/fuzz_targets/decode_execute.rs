//! Any instruction stream: decoding, fast mode and tracing mode never panic.
#![no_main]
use cloak_vm::elf::{write_elf, SegmentSpec};
use cloak_vm::{ExecConfig, Executor, Instruction, Program};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let words: Vec<u32> = data.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    for &w in &words {
        let _ = Instruction::decode(w).to_string();
    }
    if words.is_empty() {
        return;
    }
    let text: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let elf = write_elf(0x1000, &[
        SegmentSpec { vaddr: 0x1000, data: &text, zero_fill: 0, executable: true },
        SegmentSpec { vaddr: 0x10000, data: &[], zero_fill: 0x10000, executable: false },
    ]);
    let program = Program::from_elf(&elf).expect("generated ELF is valid");
    let config = ExecConfig { max_cycles: Some(10_000), max_memory_bytes: Some(1 << 24) };
    let _ = Executor::new(&program, vec![data.to_vec()], config.clone()).run();
    let _ = Executor::new(&program, vec![data.to_vec()], config).trace(256);
});
