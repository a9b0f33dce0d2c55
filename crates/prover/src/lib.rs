//! Cloak's prover: the STARK configuration, keys, proving and verifying of
//! multi-table AIRs connected by LogUp buses, and the proof format.
//!
//! The RV32IM tables live in `cloak-machine` (next); this crate is generic over
//! the AIRs it proves. See docs/prover-design.md.

pub mod challenger;
pub mod config;
pub mod proof;
pub mod stark;

pub use config::{fresh_config, seeded_config, Challenge, Config, FriSettings, Val};
pub use proof::{decode, encode, ProofFormatError, StarkProof};
pub use stark::{prove, setup, verify, ProveError, ProvingKey, VerifyError, VerifyingKey};
