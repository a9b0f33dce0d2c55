//! Proof-of-work witnesses searched on the GPU (kernel `grind16` in
//! cuda/poseidon2.cu): the challenger's grinding (16 bits before the
//! queries, fewer elsewhere) took about 10 ms of host time a proof, all of
//! it with the GPU idle; one launch tries up to 2^18 candidates of a 16-bit
//! search at once (4 times the expected distance to a witness).
//!
//! The search finds what the host's does (`DetChallenger::grind`): the
//! smallest passing candidate, so proofs stay byte-identical. The
//! challenger checks the witness before it uses it.

use cloak_prover::challenger::WitnessSearch;
use cloak_prover::config::Val;
use cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};
use p3_field::PrimeField32;

use crate::context::{ComputeCopies, GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::base_word;
use crate::poseidon2::poseidon2_source;

/// Candidates a launch tries at most (2^24: 16 M, a few milliseconds).
const MAX_BATCH_LOG: usize = 24;
/// Candidates a launch tries at least.
const MIN_BATCH_LOG: usize = 12;

/// The GPU's [`WitnessSearch`], on a GPU's compute stream (after the work
/// queued there, as the transcript's order requires).
pub struct GpuWitnessSearch {
    copies: ComputeCopies,
    kernel: CudaFunction,
}

impl std::fmt::Debug for GpuWitnessSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpuWitnessSearch")
    }
}

impl GpuWitnessSearch {
    pub fn new(gpu: &GpuContext) -> Result<Self> {
        Ok(Self {
            copies: gpu.copies().clone(),
            kernel: gpu.function("poseidon2", poseidon2_source, "grind16")?,
        })
    }

    /// The smallest candidate `c < p` whose Perm16 of `state` (with
    /// `state[witness_idx] = c`) has `bits` zero low bits in word 7's
    /// canonical value; `None` if none is below p.
    pub fn find(&self, state: [Val; 16], witness_idx: usize, bits: usize) -> Result<Option<Val>> {
        if witness_idx >= 8 || bits == 0 || bits >= 31 {
            return Err(GpuError::Invalid(format!(
                "proof-of-work search of {bits} bits at word {witness_idx}"
            )));
        }
        // The state in the launch's parameters; the answer (as !c, so that
        // zero means none yet) in a zeroed word: no upload.
        let base = GrindState(std::array::from_fn(|i| base_word(state[i])));
        let mut found = self.copies.zeros::<u32>(1)?;
        // 4 times the expected distance to the first witness: a second
        // launch is needed about 2% of the time (e^-4). (16 times took a
        // 16-bit search's 2^20 permutations, most of them past the witness.)
        let batch = 1u64 << (bits + 2).clamp(MIN_BATCH_LOG, MAX_BATCH_LOG);
        let (idx, mask) = (witness_idx as u32, ((1u64 << bits) - 1) as u32);
        let p = u64::from(Val::ORDER_U32);
        let mut start = 0u64;
        while start < p {
            let count = batch.min(p - start);
            let (start32, count32) = (start as u32, count as u32);
            let mut l = self.copies.stream().launch_builder(&self.kernel);
            l.arg(&base)
                .arg(&idx)
                .arg(&mask)
                .arg(&start32)
                .arg(&count32)
                .arg(&mut found);
            // SAFETY: found is one word, which the kernel raises with atomicMax.
            unsafe { l.launch(LaunchConfig::grid(count.div_ceil(256) as u32, 256)) }?;
            let answer = self.copies.download(&found)?[0];
            if answer != 0 {
                return Ok(Some(Val::new(!answer)));
            }
            start += count;
        }
        Ok(None)
    }
}

/// `GrindState` of cuda/poseidon2.cu: the 16 state words, by value.
#[repr(C)]
#[derive(Clone, Copy)]
struct GrindState([u32; 16]);

// SAFETY: plain words, laid out as the kernel's struct of 16 u32.
unsafe impl cudarc::driver::DeviceRepr for GrindState {}

impl WitnessSearch for GpuWitnessSearch {
    fn search(&self, state: [Val; 16], witness_idx: usize, bits: usize) -> Option<Val> {
        // An error here (a device fault) leaves the search to the host,
        // which finds the same witness; the next GPU call reports the fault.
        self.find(state, witness_idx, bits).ok().flatten()
    }
}
