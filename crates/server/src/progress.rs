//! Per-shard progress and cancellation without a hook in the machine: the
//! CPU backend wrapped so that each STARK proof it finishes is counted, and
//! so that a cancelled job stops at the next commitment or proof.

use cloak_prover::stark::ProvableAir;
use cloak_prover::{
    Commitment, CpuBackend, ExternalBus, ProveError, ProverBackend, ProvingKey, StarkProof, Val,
    ZkRandomness,
};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::atomic::{AtomicU64, Ordering};

/// The message a proof stopped by [`ProgressBackend`]'s `stop` fails with.
pub const STOPPED: &str = "the job was cancelled";

/// [`CpuBackend`] that calls `on_shard(shards proven so far)` after each
/// shard proof, and fails with [`STOPPED`] before each commitment or proof
/// once `stop()` is true.
pub struct ProgressBackend<F: Fn(u64) + Sync, S: Fn() -> bool + Sync> {
    proofs: AtomicU64,
    on_shard: F,
    stop: S,
}

impl<F: Fn(u64) + Sync, S: Fn() -> bool + Sync> ProgressBackend<F, S> {
    pub fn new(on_shard: F, stop: S) -> Self {
        ProgressBackend {
            proofs: AtomicU64::new(0),
            on_shard,
            stop,
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

impl<F: Fn(u64) + Sync, S: Fn() -> bool + Sync> ProverBackend for ProgressBackend<F, S> {
    type Committed = <CpuBackend as ProverBackend>::Committed;

    fn name(&self) -> &'static str {
        CpuBackend.name()
    }

    fn commit_main(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        self.check()?;
        CpuBackend.commit_main(zk, traces)
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
        let proof = CpuBackend.prove(zk, pk, airs, traces, public_values, external, committed)?;
        // `MachineKeys::prove_on` proves the memory proof first, then each
        // shard in order (pass 2).
        let n = self.proofs.fetch_add(1, Ordering::Relaxed) + 1;
        if n > 1 {
            (self.on_shard)(n - 1);
        }
        Ok(proof)
    }
}
