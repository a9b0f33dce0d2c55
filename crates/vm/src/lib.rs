//! Cloak's RV32IM executor.
//!
//! [`Program::from_elf`] validates and decodes an ELF; [`Executor`] runs it under
//! the guest ABI (`shared/spec/guest-abi.md`), either in fast mode
//! ([`Executor::run`]) or in tracing mode ([`Executor::run_traced`]), which emits
//! the sharded [`record`] the prover consumes.

pub mod elf;
pub mod error;
pub mod executor;
pub mod huge;
pub mod input;
pub mod instruction;
pub mod memory;
mod parallel;
pub mod precompiles;
pub mod program;
pub mod record;
pub mod syscall;

pub use elf::ElfError;
pub use error::ExecError;
pub use executor::{operand_reads, ExecConfig, ExecOutput, Executor, ShardPolicy};
pub use instruction::{Instruction, Opcode};
pub use parallel::MAX_TRACING_THREADS;
pub use program::{Program, Segment};
pub use record::{BoundaryState, CpuEvent, MemoryAccess, Shard, SyscallEvent, TouchedWord};

/// Runs `program` in fast mode: the convenience form of [`Executor::run`].
pub fn execute(
    program: &Program,
    inputs: Vec<Vec<u8>>,
    config: ExecConfig,
) -> Result<ExecOutput, ExecError> {
    Executor::new(program, inputs, config).run()
}
