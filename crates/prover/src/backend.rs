//! The prover's heavy stages behind one trait, so a backend on another device
//! (the CUDA backend, `crates/gpu`) can take them over whole.
//!
//! The seam is deliberately coarse: one call commits a batch's main traces,
//! one proves a batch. A GPU backend then keeps every intermediate (LDEs,
//! Merkle trees, quotients, FRI layers) in device memory from the upload of
//! the traces to the download of the proof, which finer per-stage hooks with
//! host matrices in between would defeat. A backend must produce exactly the
//! proof the CPU backend produces for the same inputs and randomness (the
//! proof bytes are the test), so every backend verifies with the one verifier.

use crate::config::{Challenge, Config, Val, ZkRandomness};
use crate::proof::StarkProof;
use crate::stark::{self, Commitment, ExternalBus, MainData, ProvableAir, ProveError, ProvingKey};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

/// A main trace as trace generation hands it to [`ProverBackend::stage_main`]:
/// its values, or the inputs they follow from, for a backend that makes the
/// values on its device ([`ProverBackend::expands`]). The host then writes
/// and moves the inputs only (the CPU table's: 24 of its 81 columns).
pub enum MainTrace {
    Values(RowMajorMatrix<Val>),
    Deferred(Box<dyn DeferredTrace>),
}

impl MainTrace {
    pub fn width(&self) -> usize {
        match self {
            MainTrace::Values(m) => m.width(),
            MainTrace::Deferred(d) => d.width(),
        }
    }

    pub fn height(&self) -> usize {
        match self {
            MainTrace::Values(m) => m.height(),
            MainTrace::Deferred(d) => d.height(),
        }
    }

    /// The values, made on the host where they were deferred.
    pub fn into_values(self) -> RowMajorMatrix<Val> {
        match self {
            MainTrace::Values(m) => m,
            MainTrace::Deferred(d) => d.into_values(),
        }
    }
}

/// The inputs of a trace whose values a backend may make itself. Each kind
/// (a name a backend recognizes, with the concrete type behind it) has one
/// host expansion, [`DeferredTrace::into_values`], which a device's must
/// equal cell for cell.
pub trait DeferredTrace: Send + std::any::Any {
    /// Names the inputs' type and layout for [`ProverBackend::expands`].
    fn kind(&self) -> &'static str;
    fn width(&self) -> usize;
    fn height(&self) -> usize;
    /// The trace's values, made on the host.
    fn into_values(self: Box<Self>) -> RowMajorMatrix<Val>;
    /// For a backend to take the concrete inputs back (`downcast`).
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// Where a batch of traces is committed and proven.
///
/// Randomness: a backend gets the proof's [`ZkRandomness`] (FRI settings and
/// seed), not a [`Config`], whose rngs are private and advance as it commits.
/// Every backend must draw exactly what a fresh `zk.config()` would: the
/// commitment of [`ProverBackend::commit_main`] is the one a fresh config
/// makes first, and [`ProverBackend::prove`] gives the proof a fresh config
/// gives. A backend on another device re-derives the streams with
/// [`ZkRandomness::pcs_streams`].
pub trait ProverBackend: Sync {
    /// What stays of a main-trace commitment (on this backend's device) so
    /// that [`ProverBackend::prove`] need not commit again.
    type Committed: Send;

    /// Main traces made ready for [`ProverBackend::commit_staged`] ahead of
    /// time, on the thread that generated them, while this backend works on
    /// earlier ones (the GPU packs and uploads them; the CPU keeps them).
    type Staged: Send;

    /// A short name for reports (`cpu`, `gpu`).
    fn name(&self) -> &'static str;

    /// The part of committing `traces` that needs no randomness and may run
    /// on another thread than the commitment (see [`Self::Staged`]).
    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError>;

    /// Whether [`ProverBackend::stage_main`] makes deferred traces of `kind`
    /// on the device (so generation may hand them over as inputs). A
    /// backend that says no still takes them, expanded on the host.
    fn expands(&self, _kind: &str) -> bool {
        false
    }

    /// [`ProverBackend::stage`] of traces some of which may be deferred:
    /// by default each is expanded here first.
    fn stage_main(&self, traces: Vec<MainTrace>) -> Result<Self::Staged, ProveError> {
        self.stage(traces.into_iter().map(MainTrace::into_values).collect())
    }

    /// The main-trace commitment [`ProverBackend::prove`] makes first under
    /// `zk` (see [`stark::commit_main`]) of staged traces, and the data
    /// behind it. Callers that cannot afford to keep it drop it.
    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        staged: Self::Staged,
    ) -> Result<(Commitment, Self::Committed), ProveError>;

    /// [`ProverBackend::stage`] then [`ProverBackend::commit_staged`].
    fn commit_main(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        let staged = self.stage(traces)?;
        self.commit_staged(zk, staged)
    }

    /// Proves one instance of each AIR, with `external`'s challenges for its
    /// bus (see [`stark::prove_with_external`]). With `committed` (from
    /// [`ProverBackend::commit_main`] of these traces under the same `zk`)
    /// the main traces need not be committed again.
    #[allow(clippy::too_many_arguments)]
    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, Self::Committed)>,
    ) -> Result<StarkProof, ProveError>;

    /// Does now, for the coming proof of `committed`'s traces under `pk`
    /// (with the same `zk`), the work no challenge depends on: pass 1 calls
    /// it where the GPU would wait for the host's next traces, so pass 2
    /// has less to do. The proof is the same bytes either way. Optional.
    fn prove_ahead<A: ProvableAir>(
        &self,
        _zk: &ZkRandomness,
        _pk: &ProvingKey,
        _airs: &[A],
        _committed: &mut Self::Committed,
    ) -> Result<(), ProveError> {
        Ok(())
    }

    /// Does ahead what the first proof under `pk` would do once (the GPU
    /// generates and loads each table's kernels), so that proof does not
    /// wait for it. Optional: [`ProverBackend::prove`] does it anyway.
    fn prepare<A: ProvableAir>(&self, _pk: &ProvingKey, _airs: &[A]) -> Result<(), ProveError> {
        Ok(())
    }

    /// Whether [`Self::Committed`] holds the main traces themselves, so that
    /// [`ProverBackend::prove_kept`] can prove from it without the host's
    /// traces (which the caller then need not generate again).
    fn keeps_traces(&self) -> bool {
        false
    }

    /// [`ProverBackend::prove`] of the traces `committed` holds, for a
    /// backend that [`ProverBackend::keeps_traces`]; others refuse.
    fn prove_kept<A: ProvableAir>(
        &self,
        _zk: &ZkRandomness,
        _pk: &ProvingKey,
        _airs: &[A],
        _public_values: &[Vec<Val>],
        _external: ExternalBus<Challenge>,
        _committed: (Commitment, Self::Committed),
    ) -> Result<StarkProof, ProveError> {
        Err(ProveError::Prover(format!(
            "the {} backend does not keep traces: prove needs them",
            self.name()
        )))
    }
}

/// Plonky3 on the CPU (rayon across all cores).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

/// The CPU's main-trace commitment data, with the config that made it (its
/// rngs now past the commitment, as proving continues from there).
pub struct CpuCommitted {
    config: Config,
    data: MainData,
}

impl ProverBackend for CpuBackend {
    type Committed = CpuCommitted;
    type Staged = Vec<RowMajorMatrix<Val>>;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError> {
        Ok(traces)
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, CpuCommitted), ProveError> {
        let config = zk.config();
        let (commitment, data) = stark::commit_main(&config, traces)?;
        Ok((commitment, CpuCommitted { config, data }))
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, CpuCommitted)>,
    ) -> Result<StarkProof, ProveError> {
        let (config, main) = match committed {
            Some((commitment, c)) => (c.config, Some((commitment, c.data))),
            None => (zk.config(), None),
        };
        stark::prove_with_external(&config, pk, airs, traces, public_values, external, main)
    }
}
