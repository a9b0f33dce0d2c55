//! Per-shard progress and cancellation without a hook in the machine: the
//! proving backend (CPU or GPU) wrapped so that each STARK proof it finishes
//! is counted, and so that a cancelled job stops at the next commitment or
//! proof.

use cloak_prover::stark::ProvableAir;
use cloak_prover::{
    Commitment, ExternalBus, ProveError, ProverBackend, ProvingKey, StarkProof, Val, ZkRandomness,
};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::atomic::{AtomicU64, Ordering};

/// The message a proof stopped by [`ProgressBackend`]'s `stop` fails with.
pub const STOPPED: &str = "the job was cancelled";

/// `inner` that calls `on_shard(shards proven so far)` after each shard
/// proof, and fails with [`STOPPED`] before each commitment or proof once
/// `stop()` is true.
pub struct ProgressBackend<'a, B: ProverBackend, F: Fn(u64) + Sync, S: Fn() -> bool + Sync> {
    inner: &'a B,
    proofs: AtomicU64,
    on_shard: F,
    stop: S,
}

impl<'a, B: ProverBackend, F: Fn(u64) + Sync, S: Fn() -> bool + Sync> ProgressBackend<'a, B, F, S> {
    pub fn new(inner: &'a B, on_shard: F, stop: S) -> Self {
        ProgressBackend {
            inner,
            proofs: AtomicU64::new(0),
            on_shard,
            stop,
        }
    }

    /// Counts a finished proof. `MachineKeys::prove_on` proves the memory
    /// proof first, then each shard in order (pass 2).
    fn proven(&self) {
        let n = self.proofs.fetch_add(1, Ordering::Relaxed) + 1;
        if n > 1 {
            (self.on_shard)(n - 1);
        }
    }

    fn check(&self) -> Result<(), ProveError> {
        if (self.stop)() {
            Err(ProveError::Prover(STOPPED.to_string()))
        } else {
            Ok(())
        }
    }
}

impl<B: ProverBackend, F: Fn(u64) + Sync, S: Fn() -> bool + Sync> ProverBackend
    for ProgressBackend<'_, B, F, S>
{
    type Committed = B::Committed;
    type Staged = B::Staged;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError> {
        self.check()?;
        self.inner.stage(traces)
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        staged: Self::Staged,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        self.check()?;
        self.inner.commit_staged(zk, staged)
    }

    fn keeps_traces(&self) -> bool {
        self.inner.keeps_traces()
    }

    fn prove_kept<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        public_values: &[Vec<Val>],
        external: ExternalBus<cloak_prover::Challenge>,
        committed: (Commitment, Self::Committed),
    ) -> Result<StarkProof, ProveError> {
        self.check()?;
        let proof = self
            .inner
            .prove_kept(zk, pk, airs, public_values, external, committed)?;
        self.proven();
        Ok(proof)
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<cloak_prover::Challenge>,
        committed: Option<(Commitment, Self::Committed)>,
    ) -> Result<StarkProof, ProveError> {
        self.check()?;
        let proof = self
            .inner
            .prove(zk, pk, airs, traces, public_values, external, committed)?;
        self.proven();
        Ok(proof)
    }
}
