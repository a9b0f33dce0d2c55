//! Per-shard progress without a hook in the machine: the CPU backend wrapped
//! so that each STARK proof it finishes is counted.

use cloak_prover::stark::ProvableAir;
use cloak_prover::{
    Commitment, CpuBackend, ExternalBus, ProveError, ProverBackend, ProvingKey, StarkProof, Val,
    ZkRandomness,
};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::atomic::{AtomicU64, Ordering};

/// [`CpuBackend`] that calls `on_shard(shards proven so far)` after each
/// shard proof.
pub struct ProgressBackend<F: Fn(u64) + Sync> {
    proofs: AtomicU64,
    on_shard: F,
}

impl<F: Fn(u64) + Sync> ProgressBackend<F> {
    pub fn new(on_shard: F) -> Self {
        ProgressBackend {
            proofs: AtomicU64::new(0),
            on_shard,
        }
    }
}

impl<F: Fn(u64) + Sync> ProverBackend for ProgressBackend<F> {
    type Committed = <CpuBackend as ProverBackend>::Committed;

    fn name(&self) -> &'static str {
        CpuBackend.name()
    }

    fn commit_main(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
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
