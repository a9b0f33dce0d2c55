//! CUDA kernels for Cloak's STARK prover, each bit-exact with the Plonky3
//! 0.8.0 code it replaces (see README.md in this crate):
//!
//! * [`field`]: KoalaBear and its degree-4 extension (cuda/field.cuh);
//! * [`ntt`]: batched column NTTs and the coset LDE the PCS commits
//!   (`Radix2DitParallel::coset_lde_batch`);
//! * [`poseidon2`]: the width-16 and width-24 Poseidon2 permutations (the
//!   challenger's, for its proof-of-work search);
//! * [`blake3`], [`merkle`]: the hiding Merkle commitment
//!   (`MerkleTreeHidingMmcs` over BLAKE3);
//! * [`fri`]: FRI's commit phase (fold, reduced-input injection, layer
//!   commitment with the FRI MMCS);
//! * [`open`]: the PCS opening's evaluations at out-of-domain points and
//!   reduced openings, over the committed LDEs;
//! * [`codegen`], [`quotient`]: each table's quotient kernel, generated
//!   from its symbolic constraints (p3-batch-stark's `quotient_values`);
//! * [`grind`]: the transcript's proof-of-work search;
//! * [`transfer`]: every host-device copy counted and timed, and the
//!   CC-mode encryption the TEE-overhead experiment emulates;
//! * [`rounds`], [`logup`], [`prove`]: the whole proof on the GPU
//!   (commitments kept on the device, LogUp traces, quotient chunks, the
//!   PCS opening, FRI and the query answers), byte-identical to the CPU's;
//!   [`proof_diff`] names the parts where two proofs differ;
//! * [`backend`]: [`GpuBackend`], the `ProverBackend` on the GPU.
//!
//! Kernels are CUDA C in `cuda/`, compiled at run time by NVRTC for the
//! device found ([`GpuContext`]); the driver and NVRTC are loaded
//! dynamically, so the crate builds without CUDA and its tests skip where no
//! GPU is present. The CPU references live in [`check`].

pub mod ahead;
pub mod backend;
pub mod blake3;
pub mod check;
pub mod codegen;
pub mod context;
pub mod cpu_rows;
pub mod cubin_cache;
pub mod field;
pub mod fri;
pub mod grind;
pub mod logup;
pub mod merkle;
pub mod ntt;
pub mod open;
pub mod packed;
pub mod poseidon2;
pub mod profile;
pub mod proof_diff;
pub mod prove;
pub mod quotient;
pub mod quotient_check;
pub mod rounds;
pub mod shift_rows;
pub mod transfer;
pub mod zkrng;

pub use context::{compile, nvrtc_present, Compiled, GpuContext, GpuError, GpuTimer, Result};

/// Every kernel module: its name and its source (without field.cuh, which
/// [`compile`] puts in front). Compiling these needs NVRTC but no GPU.
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("field", String::new()),
        ("arith", field::arith_source()),
        ("ntt", ntt::ntt_source()),
        ("poseidon2", poseidon2::poseidon2_source()),
        ("blake3", blake3::blake3_source()),
        ("fri", fri::fri_source()),
        ("zkrng", zkrng::zkrng_source()),
        ("open", open::open_source()),
        ("prove", rounds::prove_source()),
        ("cpu_rows", cpu_rows::cpu_rows_source()),
        ("shift_rows", shift_rows::shift_rows_source()),
    ]
}
pub use backend::{CallRecord, GpuBackend, GpuCommitted};
pub use merkle::{commit_salted, hiding_salts, GpuMerkleTree};
pub use ntt::{DeviceMatrix, Ntt};
pub use transfer::{TransferMode, TransferTotals};
