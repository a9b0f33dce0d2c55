//! Any bytes: the loader returns a program or an error, never panics; whatever
//! loads runs (bounded) to a result or an error.
#![no_main]
use cloak_vm::{ExecConfig, Executor, Program};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(program) = Program::from_elf(data) {
        let config = ExecConfig { max_cycles: Some(100_000), max_memory_bytes: Some(1 << 26) };
        let _ = Executor::new(&program, vec![data.to_vec()], config).run();
    }
});
