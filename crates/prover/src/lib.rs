//! Cloak's prover: the STARK configuration, keys, proving and verifying of
//! multi-table AIRs connected by LogUp buses, and the proof format.
//!
//! The RV32IM tables live in `cloak-machine`; this crate is generic over the
//! AIRs it proves. The heavy stages sit behind [`ProverBackend`]
//! ([`CpuBackend`] here; the CUDA backend in `crates/gpu`). See
//! docs/prover-design.md.

pub mod backend;
pub mod challenger;
pub mod config;
pub mod proof;
pub mod salt_rng;
pub mod stark;
pub mod trace_buffers;

pub use backend::{CpuBackend, CpuCommitted, DeferredTrace, MainTrace, ProverBackend};
pub use config::{
    fresh_config, fresh_seed, seeded_config, Challenge, Config, FriSettings, Val, ZkRandomness,
};
pub use proof::{decode, encode, ProofFormatError, StarkProof};
pub use stark::{
    commit_main, main_commitment, prove, prove_with_external, setup, setup_proving_key,
    shared_challenges, verify, verify_with_external, Commitment, ExternalBus, MainData, ProveError,
    ProvingKey, VerifyError, VerifyingKey,
};
