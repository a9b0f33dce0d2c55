//! [`GpuBackend`]: the [`ProverBackend`] whose main-trace commitment runs on
//! the GPU and equals the CPU's byte for byte.
//!
//! `commit_main` does what `HidingFriPcs::commit` (p3-fri 0.8.0) and
//! `MerkleTreeHidingMmcs::commit` (p3-merkle-tree 0.8.0) do under a fresh
//! `zk.config()`, with the same random draws:
//!
//! 1. each trace (h × w, in input order) is uploaded as it is; its
//!    `FriSettings::trace_mask_draws(h, w)` masking values are drawn on the
//!    device from the one ChaCha20 stream ([`crate::zkrng::draw_on_device`]),
//!    so only the trace crosses the bus;
//! 2. the committed LDE (`2h << log_blowup` rows of `w + 4`, shift
//!    `Val::GENERATOR`, bit-reversed rows) of the sparse-masked polynomials
//!    (the vendored p3-fri's `masked_trace_lde`) is computed on the GPU
//!    ([`masked_lde`], [`Ntt::coset_lde_masked`]);
//! 3. one 4-column salt matrix per LDE is drawn from `salt_rng` on the
//!    device, in input order (as [`crate::hiding_salts`] draws them), and the
//!    salted Merkle tree built on the GPU ([`commit_salted`]); only the root
//!    comes back.
//!
//! `mask_rng` and `salt_rng` are [`ZkRandomness::pcs_streams`], the streams
//! the PCS of a fresh `seeded_config` commits with (the input MMCS's salt
//! stream starts one ChaCha20 seed in: building the config clones that MMCS
//! into the FRI MMCS, and the clone forks the rng), so the commitment is the
//! CPU's.
//!
//! `prove` does not use the GPU yet: it proves on the CPU from a fresh
//! config (`committed` dropped, the CPU recommits), which gives exactly the
//! CPU backend's proof. Plonky3's prover data (`HidingFriPcsProverData`, the
//! MMCS's `MerkleTree`) has no public constructor, so handing it the GPU's
//! tree needs either a download and a rebuild of those types or the rest of
//! the prover on the GPU; see README.md.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloak_machine::cpu_rows::{CpuRowInputs, CPU_ROWS_KIND};
use cloak_machine::shift::{ShiftRowInputs, SHIFT_ROWS_KIND};
use cloak_prover::config::{FriSettings, SaltRng, Val, ZkRandomness, ZkRng, NUM_RANDOM_CODEWORDS};
use cloak_prover::stark::{self, Commitment, ExternalBus, ProvableAir, ProveError, ProvingKey};
use cloak_prover::{Challenge, MainTrace, ProverBackend, StarkProof};
use p3_field::BasedVectorSpace;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

use crate::context::{GpuContext, GpuError};
use crate::ntt::{DeviceMatrix, Ntt};
use crate::prove::{PreprocessedRound, StageTimes};
use crate::rounds::Round;
use crate::transfer::TransferTotals;
use crate::zkrng::Samples;
use p3_field::Field as _;

/// One backend call, as measured.
#[derive(Clone, Debug, Default)]
pub struct CallRecord {
    /// `commit_main` or `prove`.
    pub op: &'static str,
    /// Trace cells (rows × columns, before randomization) handed in.
    pub cells: u64,
    /// Host-device copies made by the call: bytes, times, and the time of
    /// the CC emulation's encryption within them (from [`GpuContext::transfer_totals`]).
    pub transfers: TransferTotals,
    /// Wall time of the call, and the part spent making the random
    /// codewords and salts (on the GPU) and assembling the randomized traces
    /// (uploads of the traces included).
    pub wall: Duration,
    pub zk_draws: Duration,
    /// A whole proof on the GPU: where its time went.
    pub stages: Option<StageTimes>,
}

/// The prover on the GPU: the main-trace commitment of pass 1 and the
/// whole proof of pass 2 ([`crate::prove`]), or, with `CLOAK_GPU_PROVE=host`,
/// pass 2 on the CPU (the same proof).
pub struct GpuBackend {
    gpu: GpuContext,
    ntt: Ntt,
    calls: Mutex<Vec<CallRecord>>,
    /// Pass 2 on the GPU (true) or on the CPU.
    full_prove: bool,
    /// Proving keys' preprocessed commitments remade on the device.
    preprocessed: Mutex<Vec<PreprocessedRound>>,
    /// Generated kernels by proving key and table (shared with siblings).
    kernels: std::sync::Arc<crate::prove::KernelCache>,
    /// Device memory the proofs' work done ahead may hold (shared with
    /// siblings); `None` when `CLOAK_GPU_AHEAD=0` turns that work off.
    ahead: Option<std::sync::Arc<crate::ahead::AheadBudget>>,
    /// Whether the CPU and Shift tables are made here from their rows'
    /// inputs (`CLOAK_GPU_CPU_ROWS=host` turns it off: the host makes them).
    cpu_rows: bool,
    /// Programs' messages on the device, for that (shared with siblings).
    messages: std::sync::Arc<crate::cpu_rows::MessageCache>,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("gpu", &self.gpu)
            .finish()
    }
}

/// The GPU's main-trace commitment: the randomized LDEs, their salts and
/// Merkle tree, still in device memory, and the zero-knowledge streams as
/// the commitment left them, so that `prove` goes on from there.
pub struct GpuCommitted {
    /// The traces as uploaded (row-major), for the LogUp traces.
    pub traces: Vec<DeviceMatrix>,
    pub round: Round,
    pub mask_rng: ZkRng,
    pub salt_rng: SaltRng,
    /// The proof's challenge-free work, done in pass 1 ([`crate::ahead`]).
    pub ahead: Option<crate::ahead::Ahead>,
}

fn gpu_err(e: GpuError) -> ProveError {
    ProveError::Prover(format!("gpu: {e}"))
}

/// Page-locked staging buffers a backend reserves ([`GpuContext::reserve_pinned`]).
const PINNED_STAGING_BUFFERS: usize = 4;
/// Words in each (64 MiB).
const PINNED_STAGING_WORDS: usize = 16 << 20;

impl GpuBackend {
    /// The first CUDA device, or why there is none, with the kernels
    /// compiled (NVRTC) and loaded up front, so that no proof pays for it.
    pub fn new() -> Result<Self, GpuError> {
        Self::on_device(0)
    }

    /// [`GpuBackend::new`] on device `ordinal`.
    pub fn on_device(ordinal: usize) -> Result<Self, GpuError> {
        let gpu = GpuContext::new(ordinal)?;
        gpu.module("ntt", crate::ntt::ntt_source)?;
        gpu.module("poseidon2", crate::poseidon2::poseidon2_source)?;
        gpu.module("blake3", crate::blake3::blake3_source)?;
        gpu.module("field", String::new)?;
        // One page-locked staging buffer per shard generated at once (three
        // by default) and one more, each for a table of up to 64 MiB packed
        // (a 2^19-cycle shard's CPU table packs to about 17 MiB). Without
        // them (a host that refuses to pin) uploads stage through pageable
        // memory, as before; `CLOAK_GPU_PINNED=0` reserves none (for
        // comparison).
        let pinned = std::env::var("CLOAK_GPU_PINNED").map_or(true, |v| v != "0");
        let reserved = pinned
            .then(|| gpu.reserve_pinned(PINNED_STAGING_BUFFERS, PINNED_STAGING_WORDS))
            .transpose();
        if let Err(e) = reserved {
            tracing::warn!(
                "gpu: no page-locked staging buffers ({e}); staging through pageable memory"
            );
        }
        Ok(Self::with_context(gpu))
    }

    pub fn with_context(gpu: GpuContext) -> Self {
        let full_prove = std::env::var("CLOAK_GPU_PROVE").map_or(true, |v| v != "host");
        let ahead = (std::env::var("CLOAK_GPU_AHEAD").map_or(true, |v| v != "0")).then(|| {
            let total = gpu.total_mem().unwrap_or(0) as u64;
            crate::ahead::AheadBudget::new(total / AHEAD_SHARE_OF_MEMORY)
        });
        Self {
            gpu,
            ntt: Ntt::default(),
            calls: Mutex::new(Vec::new()),
            full_prove,
            preprocessed: Mutex::new(Vec::new()),
            kernels: Default::default(),
            ahead,
            cpu_rows: std::env::var("CLOAK_GPU_CPU_ROWS").map_or(true, |v| v != "host"),
            messages: Default::default(),
        }
    }

    /// A second prover on this backend's device ([`GpuContext::sibling`]):
    /// streams, transfer log, NTT tables and preprocessed commitments of
    /// its own, the loaded modules and the generated kernels shared, so
    /// that it prepares nothing the first has prepared.
    pub fn sibling(&self) -> Result<Self, GpuError> {
        Ok(Self {
            gpu: self.gpu.sibling()?,
            ntt: Ntt::default(),
            calls: Mutex::new(Vec::new()),
            full_prove: self.full_prove,
            preprocessed: Mutex::new(Vec::new()),
            kernels: self.kernels.clone(),
            ahead: self.ahead.clone(),
            cpu_rows: self.cpu_rows,
            messages: self.messages.clone(),
        })
    }

    /// Pass 2 on the GPU (`true`, the default) or on the CPU.
    pub fn with_full_prove(mut self, on_gpu: bool) -> Self {
        self.full_prove = on_gpu;
        self
    }

    pub fn full_prove(&self) -> bool {
        self.full_prove
    }

    pub fn context(&self) -> &GpuContext {
        &self.gpu
    }

    /// The calls made so far (and forgets them).
    pub fn take_calls(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.calls.lock().expect("call log poisoned"))
    }

    fn record(&self, r: CallRecord) {
        self.calls.lock().expect("call log poisoned").push(r);
    }

    /// [`ProverBackend::stage`], with the GPU's errors: each trace packed
    /// and uploaded on the upload stream.
    pub fn stage_on_gpu(&self, traces: Vec<MainTrace>) -> Result<GpuStaged, GpuError> {
        let start = Instant::now();
        let mut rec = CallRecord {
            op: "stage",
            ..CallRecord::default()
        };
        let mut tables = Vec::with_capacity(traces.len());
        let mut packing = Duration::ZERO;
        for t in traces {
            rec.cells += (t.height() * t.width()) as u64;
            let pack_start = Instant::now();
            match self.deferred(t)? {
                Ok(Deferred::Cpu(rows)) => {
                    let staged = crate::cpu_rows::stage(&self.gpu, &self.messages, &rows)?;
                    packing += pack_start.elapsed();
                    tables.push(StagedTrace::CpuRows(staged));
                }
                Ok(Deferred::Shift(rows)) => {
                    let staged = crate::shift_rows::stage(&self.gpu, &rows)?;
                    packing += pack_start.elapsed();
                    tables.push(StagedTrace::ShiftRows(staged));
                }
                Err(t) => {
                    let t = t.into_values();
                    let packed = crate::packed::pack(&t)?;
                    // The host's copy is done with: the next shard's traces reuse it.
                    cloak_prover::trace_buffers::give_back(t.values);
                    packing += pack_start.elapsed();
                    let staged = crate::packed::stage_packed(&self.gpu, packed)?;
                    tables.push(StagedTrace::Values(staged));
                }
            }
        }
        rec.transfers.h2d_bytes = tables.iter().map(|t| t.bytes() as u64).sum();
        rec.wall = start.elapsed();
        tracing::debug!(
            target: "cloak::pipeline",
            pack_ms = packing.as_secs_f64() * 1e3,
            upload_ms = (rec.wall - packing).as_secs_f64() * 1e3,
            "staged"
        );
        self.record(rec);
        Ok(GpuStaged { tables })
    }

    /// [`ProverBackend::commit_staged`], with the GPU's errors.
    pub fn commit_staged_on_gpu(
        &self,
        zk: &ZkRandomness,
        staged: GpuStaged,
    ) -> Result<(Commitment, GpuCommitted, CallRecord), GpuError> {
        let start = Instant::now();
        let mut rec = CallRecord {
            op: "commit_main",
            ..CallRecord::default()
        };
        let before = self.gpu.transfer_totals();
        let fri = zk.fri;
        let (mut salt_rng, mut mask_rng) = zk.pcs_streams();
        // The traces are unpacked and stay (the LogUp traces are made from
        // them); randomized, extended and committed on the device.
        let mut device_traces = Vec::with_capacity(staged.tables.len());
        for t in staged.tables {
            let _s = crate::profile::span(&self.gpu, "upload: unpack staged");
            let m = match t {
                StagedTrace::Values(t) => DeviceMatrix::from_staged(&self.gpu, t)?,
                StagedTrace::CpuRows(t) => crate::cpu_rows::expand(&self.gpu, t)?,
                StagedTrace::ShiftRows(t) => crate::shift_rows::expand(&self.gpu, t)?,
            };
            rec.cells += (m.height * m.width) as u64;
            device_traces.push(m);
        }
        let refs: Vec<&DeviceMatrix> = device_traces.iter().collect();
        let (commitment, round) = crate::rounds::commit_traces(
            &self.gpu,
            &self.ntt,
            fri,
            &refs,
            &mut crate::ahead::ZkDraws::Streams {
                masks: &mut mask_rng,
                salts: &mut salt_rng,
            },
            &mut rec.zk_draws,
        )?;
        rec.transfers = self.gpu.transfer_totals().since(&before);
        rec.wall = start.elapsed();
        Ok((
            commitment,
            GpuCommitted {
                traces: device_traces,
                round,
                mask_rng,
                salt_rng,
                ahead: None,
            },
            rec,
        ))
    }
}

/// The work done ahead may hold an eighth of the device's memory: about 1.2 GB
/// a full shard of 2^19 cycles, so pass 1 does it for the first few shards
/// of a long execution (each shard's proof gives its share back), while
/// the main commitments pass 1 keeps (`default_keep_bytes`, two fifths)
/// and pass 2's own work keep the rest.
const AHEAD_SHARE_OF_MEMORY: u64 = 8;

impl GpuBackend {
    /// [`ProverBackend::prove_ahead`], with the GPU's errors: `Ok(false)`
    /// where there is nothing to do it for, no budget left, or drawing
    /// failed (logged; `committed` is then as it was).
    pub fn prove_ahead_on_gpu<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        committed: &mut GpuCommitted,
    ) -> Result<bool, GpuError> {
        let Some(budget) = &self.ahead else {
            return Ok(false);
        };
        if !self.full_prove || committed.ahead.is_some() {
            return Ok(false);
        }
        let heights: Vec<usize> = committed.traces.iter().map(|t| t.height).collect();
        let plan = crate::prove::ahead_plan(zk.fri, pk, airs, &heights, &self.kernels)
            .and_then(|plan| Ok((plan.bytes()?, plan)));
        let (bytes, plan) = match plan {
            Ok(p) => p,
            Err(e) => {
                // Pass 2 meets the same shapes, and reports what is wrong.
                tracing::warn!("gpu: no work ahead for these tables: {e}");
                return Ok(false);
            }
        };
        let Some(reserved) = budget.reserve(bytes) else {
            return Ok(false);
        };
        let start = Instant::now();
        // From copies of the streams, kept only if all of it succeeds: work
        // ahead that fails (the device short of memory, say) leaves pass 2
        // to draw as it would have.
        let (mut masks, mut salts) = (
            crate::zkrng::fork(&committed.mask_rng),
            crate::zkrng::fork_salts(&committed.salt_rng),
        );
        match plan.draw(&self.gpu, &self.ntt, &mut masks, &mut salts) {
            Ok(ahead) => {
                committed.ahead = Some(ahead.with_reservation(reserved));
                (committed.mask_rng, committed.salt_rng) = (masks, salts);
                tracing::debug!(
                    target: "cloak::pipeline",
                    ms = start.elapsed().as_secs_f64() * 1e3,
                    "drew ahead"
                );
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(
                    "gpu: pass 2's draws left for pass 2: drawing them ahead failed: {e}"
                );
                Ok(false)
            }
        }
    }
}

/// Main traces staged on the device ([`GpuBackend::stage_on_gpu`]): packed,
/// uploaded, waiting to be unpacked (or expanded) and committed.
pub struct GpuStaged {
    tables: Vec<StagedTrace>,
}

/// One staged main trace: its values, or a table's rows' inputs.
enum StagedTrace {
    Values(crate::packed::StagedMatrix),
    CpuRows(crate::cpu_rows::StagedCpuRows),
    ShiftRows(crate::shift_rows::StagedShiftRows),
}

impl StagedTrace {
    fn bytes(&self) -> usize {
        match self {
            StagedTrace::Values(t) => t.bytes,
            StagedTrace::CpuRows(t) => t.bytes(),
            StagedTrace::ShiftRows(t) => t.bytes(),
        }
    }
}

/// A deferred trace of a kind this backend expands.
enum Deferred {
    Cpu(Box<CpuRowInputs>),
    Shift(Box<ShiftRowInputs>),
}

impl GpuBackend {
    /// `t`'s rows' inputs if it is a deferred trace of a kind this backend
    /// expands (`Ok(Ok)`), else `t` back (`Ok(Err)`).
    fn deferred(&self, t: MainTrace) -> Result<std::result::Result<Deferred, MainTrace>, GpuError> {
        let d = match t {
            MainTrace::Deferred(d) if self.expands(d.kind()) => d,
            t => return Ok(Err(t)),
        };
        let kind = d.kind();
        let any = d.into_any();
        let out = if kind == CPU_ROWS_KIND {
            any.downcast::<CpuRowInputs>().map(Deferred::Cpu).ok()
        } else {
            any.downcast::<ShiftRowInputs>().map(Deferred::Shift).ok()
        };
        out.map(Ok).ok_or_else(|| {
            GpuError::Invalid(format!("a deferred trace of kind {kind} of another type"))
        })
    }
}

/// The hiding PCS's committed LDE of a device trace (`h × w`) from its
/// masking draws (`FriSettings::trace_mask_draws(h, w)` of them, already
/// made in order from the mask stream): the vendored p3-fri's
/// `masked_trace_lde` ([`masked_lde_on_host`]). The trace is widened with
/// the random codewords' values (`zk_widen`), interpolated, and extended
/// with the masks added as the first forward pass loads the coefficients
/// ([`Ntt::coset_lde_masked`]): `2h << log_blowup` rows of `w + 4`.
pub fn masked_lde(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: FriSettings,
    trace: &DeviceMatrix,
    draws: &cudarc::driver::CudaSlice<u32>,
) -> Result<DeviceMatrix, GpuError> {
    use cudarc::driver::{LaunchConfig, PushKernelArg};

    check_trace_mask_budget(fri, trace.height)?;
    let (h, w) = (trace.height, trace.width);
    let (nrc, k) = (NUM_RANDOM_CODEWORDS, fri.trace_mask_len());
    if draws.len() < fri.trace_mask_draws(h, w) {
        return Err(GpuError::Invalid("too few draws for the masks".into()));
    }
    let lower = draws.slice(0..h * nrc);
    let out_w = w + nrc;
    let mut wide = gpu.alloc_u32(h * out_w)?;
    let f = gpu.function("zkrng", crate::zkrng::zkrng_source, "zk_widen")?;
    let (h64, w32, nrc32) = (h as u64, w as u32, nrc as u32);
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&trace.buf)
        .arg(&lower)
        .arg(&mut wide)
        .arg(&h64)
        .arg(&w32)
        .arg(&nrc32);
    let rows_per_block = 8;
    let config = LaunchConfig {
        grid_dim: (h.div_ceil(rows_per_block) as u32, 1, 1),
        block_dim: (32, rows_per_block as u32, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: trace holds h*w words, lower h*nrc, wide h*(w+nrc).
    unsafe { l.launch(config) }?;
    let wide = DeviceMatrix {
        buf: wide,
        width: out_w,
        height: h,
    };
    let mask = crate::ntt::LdeMask {
        trace: draws.slice(h * nrc..h * nrc + k * w),
        trace_width: w,
        mask_len: k,
        codewords: draws.slice(h * nrc + k * w..2 * h * nrc + k * w),
    };
    ntt.coset_lde_masked(gpu, wide, fri.log_blowup + 1, Val::GENERATOR, &mask)
}

/// The PCS's hiding budget: it refuses matrices (quotient chunks, random
/// polynomials at half height) below `2 · (num_queries + 4)` rows.
pub(crate) fn check_hiding_budget(fri: FriSettings, height: usize) -> Result<(), GpuError> {
    let dim = <Challenge as BasedVectorSpace<Val>>::DIMENSION;
    let budget = 2 * (fri.num_queries + dim);
    if height < budget {
        return Err(GpuError::Invalid(format!(
            "{height} rows are below the hiding budget {budget}"
        )));
    }
    Ok(())
}

/// A trace's masks (`FriSettings::trace_mask_len` coefficients, sized for
/// two opening points) must fit below its height, as the PCS's `commit`
/// checks.
pub(crate) fn check_trace_mask_budget(fri: FriSettings, height: usize) -> Result<(), GpuError> {
    let budget = fri.trace_mask_len();
    if height < budget {
        return Err(GpuError::Invalid(format!(
            "{height} rows are below the trace masks' {budget}"
        )));
    }
    Ok(())
}

/// The committed LDE of one trace as the hiding PCS's `commit` makes it on
/// the host: `trace_mask_draws(h, w)` values drawn from `mask_rng` (in
/// parallel, [`Samples`], the same values), then the vendored p3-fri's
/// `masked_trace_lde` with Plonky3's DFT. Fails, as the PCS does, below the
/// masks' budget.
pub fn masked_lde_on_host(
    fri: FriSettings,
    trace: RowMajorMatrix<Val>,
    mask_rng: &mut ZkRng,
) -> Result<RowMajorMatrix<Val>, GpuError> {
    check_trace_mask_budget(fri, trace.height())?;
    let (h, w) = (trace.height(), trace.width());
    let random = Samples::draw(mask_rng, fri.trace_mask_draws(h, w)).to_vec();
    Ok(p3_fri::masked_trace_lde(
        &cloak_prover::config::Dft::default(),
        trace,
        &random,
        NUM_RANDOM_CODEWORDS,
        fri.trace_mask_len(),
        fri.log_blowup,
        Val::GENERATOR,
    ))
}

impl ProverBackend for GpuBackend {
    type Committed = GpuCommitted;
    type Staged = GpuStaged;

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<GpuStaged, ProveError> {
        let traces = traces.into_iter().map(MainTrace::Values).collect();
        self.stage_on_gpu(traces).map_err(gpu_err)
    }

    fn expands(&self, kind: &str) -> bool {
        self.cpu_rows && (kind == CPU_ROWS_KIND || kind == SHIFT_ROWS_KIND)
    }

    fn stage_main(&self, traces: Vec<MainTrace>) -> Result<GpuStaged, ProveError> {
        self.stage_on_gpu(traces).map_err(gpu_err)
    }

    fn prepare<A: ProvableAir>(&self, pk: &ProvingKey, airs: &[A]) -> Result<(), ProveError> {
        crate::prove::prepare_kernels(&self.gpu, &self.kernels, pk, airs).map_err(gpu_err)
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        staged: GpuStaged,
    ) -> Result<(Commitment, GpuCommitted), ProveError> {
        let (commitment, committed, rec) =
            self.commit_staged_on_gpu(zk, staged).map_err(gpu_err)?;
        self.record(rec);
        Ok((commitment, committed))
    }

    fn prove_ahead<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        committed: &mut GpuCommitted,
    ) -> Result<(), ProveError> {
        self.prove_ahead_on_gpu(zk, pk, airs, committed)
            .map(drop)
            .map_err(gpu_err)
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, GpuCommitted)>,
    ) -> Result<StarkProof, ProveError> {
        stark::check_shapes(pk, airs, traces, public_values)?;
        if !self.full_prove {
            let start = Instant::now();
            let cells = traces.iter().map(|t| (t.height() * t.width()) as u64).sum();
            // Pass 2 on the CPU from a fresh config: it recommits the main
            // traces (the same draws, so the same commitment as the GPU's).
            drop(committed);
            let proof = stark::prove_with_external(
                &zk.config(),
                pk,
                airs,
                traces,
                public_values,
                external,
                None,
            );
            self.record(CallRecord {
                op: "prove",
                cells,
                wall: start.elapsed(),
                ..CallRecord::default()
            });
            return proof;
        }
        let heights: Vec<usize> = traces.iter().map(|t| t.height()).collect();
        self.prove_gpu(
            zk,
            pk,
            airs,
            Some(traces),
            &heights,
            public_values,
            external,
            committed,
        )
    }

    /// The committed traces stay on the device, with everything the proof
    /// needs of them; not when pass 2 runs on the CPU, nor when
    /// `CLOAK_GPU_DIFF` compares the proof with the CPU's (both read them).
    fn keeps_traces(&self) -> bool {
        self.full_prove && std::env::var_os("CLOAK_GPU_DIFF").is_none()
    }

    fn prove_kept<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: (Commitment, GpuCommitted),
    ) -> Result<StarkProof, ProveError> {
        if !self.keeps_traces() {
            return Err(ProveError::Prover(
                "this GPU backend proves from the host's traces (CLOAK_GPU_PROVE=host or CLOAK_GPU_DIFF)".into(),
            ));
        }
        let heights: Vec<usize> = committed.1.traces.iter().map(|t| t.height).collect();
        for (table, (air, t)) in airs.iter().zip(&committed.1.traces).enumerate() {
            if air.width() != t.width {
                return Err(ProveError::Prover(format!(
                    "table {table}: the kept trace is {} columns wide, the table {}",
                    t.width,
                    air.width()
                )));
            }
        }
        stark::check_heights(pk, airs, &heights, public_values)?;
        self.prove_gpu(
            zk,
            pk,
            airs,
            None,
            &heights,
            public_values,
            external,
            Some(committed),
        )
    }
}

impl GpuBackend {
    /// Pass 2 on the GPU, from `committed` or else from `traces` (uploaded).
    #[allow(clippy::too_many_arguments)]
    fn prove_gpu<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: Option<&[RowMajorMatrix<Val>]>,
        heights: &[usize],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, GpuCommitted)>,
    ) -> Result<StarkProof, ProveError> {
        let start = Instant::now();
        let cells = heights
            .iter()
            .zip(airs)
            .map(|(&h, a)| (h * a.width()) as u64)
            .sum();
        let before = self.gpu.transfer_totals();
        let main = committed.map(|(commitment, c)| crate::prove::MainCommitted {
            commitment,
            traces: c.traces,
            round: c.round,
            mask_rng: c.mask_rng,
            salt_rng: c.salt_rng,
            ahead: c.ahead,
        });
        let mut cache = self
            .preprocessed
            .lock()
            .expect("preprocessed cache poisoned");
        let want = pk
            .common()
            .preprocessed
            .as_ref()
            .map(|g| g.commitment.clone());
        if let Some(want) = &want {
            if !cache.iter().any(|p| &p.commitment == want) {
                let made = crate::prove::preprocessed_on_gpu(&self.gpu, &self.ntt, pk, airs)
                    .map_err(gpu_err)?
                    .expect("the key has a preprocessed commitment");
                // A few keys (a program's shard and memory proofs) stay resident.
                if cache.len() >= 4 {
                    cache.remove(0);
                }
                cache.push(made);
            }
        }
        let pre = want
            .as_ref()
            .and_then(|w| cache.iter().find(|p| &p.commitment == w));
        let mut stages = StageTimes::default();
        let (pre_external_name, pre_external_alpha, pre_external_beta) =
            (external.name.clone(), external.alpha, external.beta);
        let proof = crate::prove::prove_on_gpu(
            &self.gpu,
            &self.ntt,
            zk,
            pk,
            airs,
            traces,
            heights,
            public_values,
            external,
            main,
            pre,
            &self.kernels,
            &mut stages,
        )
        .map_err(gpu_err)?;
        let transfers = self.gpu.transfer_totals().since(&before);
        let wall = start.elapsed();
        if let (Some(traces), true) = (traces, std::env::var_os("CLOAK_GPU_DIFF").is_some()) {
            // Diagnostics: the CPU's proof of the same statement, part by part.
            let cpu = stark::prove_with_external(
                &zk.config(),
                pk,
                airs,
                traces,
                public_values,
                ExternalBus {
                    name: pre_external_name.clone(),
                    alpha: pre_external_alpha,
                    beta: pre_external_beta,
                },
                None,
            )?;
            let diff = crate::proof_diff::proof_diff(&cpu, &proof);
            if diff.is_empty() {
                eprintln!("gpu-diff: the GPU proof equals the CPU's");
            } else {
                for d in diff {
                    eprintln!("gpu-diff: differs: {d}");
                }
            }
        }
        self.record(CallRecord {
            op: "prove",
            cells,
            transfers,
            stages: Some(stages),
            wall,
            ..CallRecord::default()
        });
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    //! The host half of `commit_main` (the masks and both rng streams) with
    //! Plonky3's own DFT and hiding MMCS in place of the GPU's kernels
    //! (which `tests/` check against those) must give `stark::commit_main`'s
    //! commitment: no GPU needed.
    use super::*;
    use p3_commit::Mmcs;
    use p3_field::PrimeCharacteristicRing;
    use rand::{Rng, SeedableRng};

    #[test]
    fn host_randomness_reproduces_cpu_commitment() {
        let fri = FriSettings::DEFAULT;
        let mut rng = ZkRng::seed_from_u64(7);
        let traces: Vec<RowMajorMatrix<Val>> = [(256, 3), (1024, 17), (256, 1), (4096, 61)]
            .iter()
            .map(|&(h, w)| RowMajorMatrix::rand(&mut rng, h, w))
            .collect();
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let zk = ZkRandomness::new(fri, seed);
        let (cpu, _) = stark::commit_main(&zk.config(), traces.clone()).unwrap();

        let (salt_rng, mut mask_rng) = zk.pcs_streams();
        let ldes: Vec<_> = traces
            .into_iter()
            .map(|t| masked_lde_on_host(fri, t, &mut mask_rng).unwrap())
            .collect();
        let mmcs = cloak_prover::config::merkle_mmcs(salt_rng);
        let (ours, _) = mmcs.commit(ldes);
        assert_eq!(ours, cpu);
        // And a different seed gives a different commitment.
        let other = ZkRandomness::new(fri, [1; 32]);
        let mut rng = ZkRng::seed_from_u64(7);
        let t = vec![RowMajorMatrix::<Val>::rand(&mut rng, 256, 3)];
        assert_ne!(
            stark::commit_main(&other.config(), t.clone()).unwrap().0,
            stark::commit_main(&zk.config(), t).unwrap().0
        );
    }

    #[test]
    fn masks_refuse_short_traces_like_the_pcs() {
        let fri = FriSettings::DEFAULT;
        let (_, mut mask) = ZkRandomness::new(fri, [0; 32]).pcs_streams();
        let t = RowMajorMatrix::new(vec![Val::ZERO; 128], 1);
        assert!(masked_lde_on_host(fri, t.clone(), &mut mask).is_err());
        assert!(stark::commit_main(&ZkRandomness::new(fri, [0; 32]).config(), vec![t]).is_err());
    }
}
