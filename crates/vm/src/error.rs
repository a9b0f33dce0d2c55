//! Guest faults. Every one names the pc it happened at; none is a panic.

use thiserror::Error;

/// Why execution stopped without a clean HALT.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ExecError {
    #[error("invalid instruction {word:#010x} at pc {pc:#010x}: not an RV32IM encoding")]
    InvalidInstruction { pc: u32, word: u32 },
    #[error("unsupported instruction {name} ({word:#010x}) at pc {pc:#010x}")]
    UnsupportedInstruction {
        pc: u32,
        word: u32,
        name: &'static str,
    },
    #[error("misaligned instruction fetch at pc {pc:#010x}: pc must be 4-byte aligned")]
    MisalignedPc { pc: u32 },
    #[error("pc {pc:#010x} is outside the program's executable segments")]
    PcOutOfProgram { pc: u32 },
    #[error("misaligned {width}-byte {kind} at address {addr:#010x} (pc {pc:#010x})")]
    MisalignedAccess {
        pc: u32,
        addr: u32,
        width: u32,
        kind: &'static str,
    },
    #[error("{kind} at reserved address {addr:#010x} (addresses below 0x20 are reserved; pc {pc:#010x})")]
    ReservedAddress {
        pc: u32,
        addr: u32,
        kind: &'static str,
    },
    #[error("unknown syscall code {code:#010x} in t0 at pc {pc:#010x}")]
    UnknownSyscall { pc: u32, code: u32 },
    #[error("syscall {name} ({code:#010x}) at pc {pc:#010x} is not supported: {reason}")]
    UnsupportedSyscall {
        pc: u32,
        code: u32,
        name: &'static str,
        reason: &'static str,
    },
    #[error("syscall {name} ({code:#010x}) at pc {pc:#010x} failed: {reason}")]
    SyscallFailed {
        pc: u32,
        code: u32,
        name: &'static str,
        reason: String,
    },
    #[error("cycle limit of {limit} reached at pc {pc:#010x} before the program halted")]
    CycleLimit { pc: u32, limit: u64 },
    #[error(
        "memory limit of {limit_bytes} bytes exceeded by a write to {addr:#010x} at pc {pc:#010x}"
    )]
    MemoryLimit {
        pc: u32,
        addr: u32,
        limit_bytes: u64,
    },
    #[error(
        "HALT at pc {pc:#010x}: COMMIT word {index} is {committed} but word {index} of the SHA-256 \
         of the public values is {expected:#010x}"
    )]
    DigestMismatch {
        pc: u32,
        index: usize,
        committed: String,
        expected: u32,
    },
}

impl ExecError {
    /// The pc of the instruction that faulted.
    pub fn pc(&self) -> u32 {
        use ExecError::*;
        match self {
            InvalidInstruction { pc, .. }
            | UnsupportedInstruction { pc, .. }
            | MisalignedPc { pc }
            | PcOutOfProgram { pc }
            | MisalignedAccess { pc, .. }
            | ReservedAddress { pc, .. }
            | UnknownSyscall { pc, .. }
            | UnsupportedSyscall { pc, .. }
            | SyscallFailed { pc, .. }
            | CycleLimit { pc, .. }
            | MemoryLimit { pc, .. }
            | DigestMismatch { pc, .. } => *pc,
        }
    }
}
