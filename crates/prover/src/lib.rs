//! Cloak's prover: the STARK configuration, keys, proving and verifying of
//! multi-table AIRs connected by LogUp buses, and the proof format.
//!
//! The RV32IM tables live in `cloak-machine` (next); this crate is generic over
//! the AIRs it proves. See docs/prover-design.md.

pub mod challenger;
pub mod config;
pub mod proof;
pub mod stark;

pub use config::{fresh_config, fresh_seed, seeded_config, Challenge, Config, FriSettings, Val};
pub use proof::{decode, encode, ProofFormatError, StarkProof};
pub use stark::{
    commit_main, main_commitment, prove, prove_with_external, setup, shared_challenges, verify,
    verify_with_external, Commitment, ExternalBus, ProveError, ProvingKey, VerifyError,
    VerifyingKey,
};
