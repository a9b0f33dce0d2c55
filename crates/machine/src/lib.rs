//! Cloak's RV32IM machine as AIR tables ("chips") connected by LogUp buses,
//! and their trace generation. See docs/prover-design.md.
//!
//! Implemented so far: the ALU chips for ADD/SUB (and ADDI), AND/OR/XOR,
//! SLT/SLTU and SLL/SRL/SRA (and their immediate forms) and
//! MUL/MULH/MULHSU/MULHU and DIV/DIVU/REM/REMU, and the preprocessed lookup
//! tables they use, Range16 and Byte. The CPU table, which sends the `alu`
//! messages, comes next; until then tests stand in for it.

pub mod add_sub;
pub mod air;
pub mod air_enum;
pub mod bitwise;
pub mod bus;
pub mod byte;
pub mod divrem;
pub mod event;
pub mod flags;
pub mod lt;
pub mod mul;
pub mod program;
pub mod range16;
pub mod shift;
pub mod trace;

pub use air::MachineAir;
pub use event::{AluEvent, ByteOp, Multiplicities, TraceError};
pub use trace::MachineTraces;
