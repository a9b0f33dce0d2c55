//! Cloak's RV32IM machine as AIR tables ("chips") connected by LogUp buses,
//! their trace generation, and proving and verifying whole executions. See
//! docs/prover-design.md.
//!
//! Tables: CPU (one row per cycle), Program and Image (preprocessed from the
//! ELF), Memory (initial and final state of every touched word), Commit (the
//! public-values digest), HintRead (input words), ShaExtend and ShaCompress
//! (the SHA-256 precompiles), KeccakPermute (Keccak-f[1600]), the ALU chips (AddSub, Bitwise, Lt, Shift, Mul,
//! DivRem) and the lookup tables Range16 and Byte.

pub mod add_sub;
pub mod air;
pub mod air_enum;
pub mod bitwise;
pub mod blind;
pub mod bus;
pub mod byte;
mod claim;
pub mod commit;
pub mod cpu;
pub mod cpu_rows;
pub mod cut;
pub mod divrem;
pub mod event;
pub mod flags;
pub mod hint;
pub mod keccak;
pub mod lt;
pub mod memory;
pub mod mul;
mod phases;
pub mod precompile;
pub mod program;
pub mod range16;
mod rows;
pub mod sample;
pub mod sha_compress;
pub mod sha_extend;
pub mod shift;
pub mod trace;
pub mod witness;
pub mod workers;
pub mod zkvm;

pub use air::{MachineAir, TableSet};
pub use event::{AluEvent, ByteOp, Multiplicities, TraceError};
pub use trace::ChipTraces;
pub use zkvm::{MachineKeys, Proof, ProveOptions, Statement, ZkvmError};
