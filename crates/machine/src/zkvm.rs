//! Proving and verifying whole executions of one program: keys derived from
//! the ELF, the proof (one STARK proof per shard plus one for memory), and the
//! verifier that returns the statement a proof establishes.
//!
//! # Shards
//! The execution is cut into shards of at most `shard_cycles` cycles, each
//! proven on its own, so memory is bounded by the shard size. Shards are tied
//! together by public values (each shard starts at the pc and clock where the
//! previous one ended; only the last holds HALT) and by the `global-memory`
//! bus, on which every key's state passes from shard to shard, starting from
//! the memory proof's initial states and ending at its final states. That
//! bus's LogUp challenges are drawn from every proof's main-trace commitment,
//! so proving takes two passes: commit every shard's main trace (pass 1),
//! derive the challenges, then prove every shard (pass 2, which recomputes the
//! same commitments from the same per-shard randomness). Each proof exposes
//! its share of the bus; the verifier checks the shares sum to zero.

use crate::air::{global_table, table, TableSet};
use crate::claim::{ClaimSource, PendingClaim};
use crate::commit;
use crate::cpu_rows::CPU_ROWS_KIND;
use crate::cut::SyscallPricing;
use crate::event::TraceError;
use crate::memory::{ImageAir, MemoryKind, WordState};
use crate::program::ProgramAir;
use crate::shift::SHIFT_ROWS_KIND;
use crate::witness::{
    self, image_words, CpuPublics, ExecutionClaim, ShardWitness, TraceForm, MAX_SHARD_CYCLES,
};
use crate::MachineAir;
use cloak_prover::{
    Challenge, Commitment, CpuBackend, ExternalBus, FriSettings, ProveError, ProverBackend,
    ProvingKey, StarkProof, Val, VerifyError, VerifyingKey, ZkRandomness,
};
use cloak_vm::{ExecConfig, ExecError, ExecOutput, Executor, Program, ShardPolicy, SyscallEvent};
use p3_field::PrimeCharacteristicRing;
use p3_matrix::dense::RowMajorMatrix;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The domain tag of the `global-memory` challenges.
const GLOBAL_DOMAIN: &str = "cloak/global-memory/v1";

#[derive(Debug, Error)]
pub enum ZkvmError {
    #[error("execution failed: {0}")]
    Exec(#[from] ExecError),
    #[error("trace generation failed: {0}")]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Prove(#[from] ProveError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Format(#[from] cloak_prover::ProofFormatError),
    #[error("the proof's public values hash to {actual}, but the guest committed {committed}")]
    DigestMismatch { actual: String, committed: String },
    #[error("the proof's shards do not chain: {0}")]
    BadShards(String),
    #[error("digest word {0} was never COMMITted, but the guest claims exit code 0")]
    Uncommitted(usize),
    #[error("the cross-shard memory argument does not balance")]
    Unbalanced,
    #[error("drawing randomness from the OS: {0}")]
    Randomness(String),
    #[error("shard preparation stopped: {0}")]
    Pipeline(String),
}

/// What a valid proof establishes: the program (by its verifying-key digest)
/// ran from its entry point to HALT with this exit code, and, for exit code 0,
/// committed the SHA-256 digest of these public values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub vk_digest: [u8; 32],
    pub exit_code: u32,
    /// The public values (bytes written to fd 3). Bound by the proof only for
    /// exit code 0, where the guest must COMMIT their digest; a guest that
    /// exits non-zero may stop before committing.
    pub public_values: Vec<u8>,
    /// SHA-256 of `public_values`.
    pub public_values_digest: [u8; 32],
}

/// The proof of one shard.
#[derive(Serialize, Deserialize)]
pub struct ShardProof {
    pub cpu: CpuPublics,
    /// Which digest words this shard COMMITted.
    pub committed: [bool; 8],
    /// The tables this proof holds.
    pub tables: TableSet,
    /// This shard's share of the `global-memory` bus.
    pub share: Challenge,
    pub stark: StarkProof,
}

/// The proof of the memory's initial and final states.
#[derive(Serialize, Deserialize)]
pub struct MemoryProof {
    pub share: Challenge,
    pub stark: StarkProof,
}

/// A proof of one execution.
#[derive(Serialize, Deserialize)]
pub struct Proof {
    pub exit_code: u32,
    pub public_values: Vec<u8>,
    /// The digest words the guest COMMITted (zero where none), as the
    /// proofs' public values hold them.
    pub committed_digest: [u32; 8],
    pub shards: Vec<ShardProof>,
    pub memory: MemoryProof,
}

impl Proof {
    /// The versioned file encoding (see `cloak_prover::proof`).
    pub fn to_bytes(&self) -> Vec<u8> {
        cloak_prover::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, ZkvmError> {
        Ok(cloak_prover::decode(bytes)?)
    }
}

/// How to prove.
#[derive(Clone, Debug)]
pub struct ProveOptions {
    pub exec: ExecConfig,
    /// Cycles per shard (at most 2^21).
    pub shard_cycles: u64,
    /// The zero-knowledge randomness: `None` draws it from the OS (what
    /// private inputs need); a seed makes proofs reproducible.
    pub seed: Option<[u8; 32]>,
    /// Memory (bytes, estimated) that pass 1 may spend keeping shards'
    /// main-trace commitments for pass 2 instead of committing them again.
    /// The last shard's is always kept.
    pub keep_commitments_bytes: u64,
    /// Execute and generate the next shards on threads of their own while
    /// this one is committed or proven (default); off, one after the other.
    pub pipeline: bool,
    /// Threads generating shards' traces at once when pipelined (execution
    /// runs on one more); 0 picks [`default_trace_threads`].
    pub trace_threads: usize,
    /// Shards the executor may run ahead of the generating threads when
    /// pipelined (each holds its execution record, tens of MB): with none,
    /// a generating thread that finishes waits for the next shard's
    /// execution.
    pub exec_ahead: usize,
    /// Threads tracing shards at once, from checkpoints a run ahead makes
    /// (`Executor::run_traced_parallel`; the same records); 1 traces on one
    /// thread, 0 picks [`default_exec_threads`].
    pub exec_threads: usize,
}

/// The target of the pipeline's per-shard events (`RUST_LOG=cloak::pipeline=debug`
/// with the CLI): when each shard is executed, generated, handed to the
/// prover, committed and proven, to see which stage the others wait for.
pub const PIPELINE: &str = "cloak::pipeline";

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The pass-2 worker (of `workers`, shard `i` going to `i mod workers`)
/// that proves the memory proof, and the backend that commits it: the one
/// with a shard fewer, else the one with the last (partial) shard, so its
/// small kernels overlap the first shards' work.
fn memory_route(shards: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    if shards.is_multiple_of(workers) {
        (shards + workers - 1) % workers
    } else {
        shards % workers
    }
}

/// Shards generated at once by default: three. Each shard's generation
/// runs on every core (`rows.rs`), so more shards keep the cores busy
/// while one is handed on (packed and uploaded, or proven). Since the
/// traces' buffers are reused without a zeroing pass, three beat two on an
/// H100's host (json 20.6 M cycles 4.80-4.93 s against 5.20-5.35; loop 4.2
/// M within noise; four about as three: BENCHMARKS.md, stop 20). Each holds
/// a shard's traces.
pub fn default_trace_threads() -> usize {
    3
}

/// Tracing threads by default: `CLOAK_EXEC_THREADS` if set, else one. On
/// one H200 the proof waits for the GPU, not for the tracer, once the first
/// shard is there: three tracing threads took cores from trace generation
/// and were no faster (BENCHMARKS.md, stop 32). More threads are for hosts
/// whose GPUs outrun one tracer.
pub fn default_exec_threads() -> usize {
    std::env::var("CLOAK_EXEC_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

impl ProveReport {
    /// The wall time of both passes: execution, trace generation,
    /// committing and proving. With shards pipelined (and spread over
    /// several GPUs) the parts overlap, so this, not `prove`, is the
    /// proving time a user sees.
    pub fn wall(&self) -> Duration {
        self.execution + self.prove
    }
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions {
            exec: ExecConfig::default(),
            shard_cycles: DEFAULT_SHARD_CYCLES,
            seed: None,
            keep_commitments_bytes: DEFAULT_KEEP_COMMITMENTS_BYTES,
            pipeline: true,
            trace_threads: 0,
            exec_ahead: DEFAULT_EXEC_AHEAD,
            exec_threads: 0,
        }
    }
}

/// Shards executed ahead of the generating threads by default.
pub const DEFAULT_EXEC_AHEAD: usize = 0;

/// The default shard size: a 2^19-cycle shard peaks near 6 GB of memory
/// (2^21 near 21 GB; measured with `cloak bench` on the 2-core box), at the
/// same throughput.
pub const DEFAULT_SHARD_CYCLES: u64 = 1 << 19;

/// Pass-1 commitments kept for pass 2 by default: 4 GiB, three or four
/// default-size shards (a kept commitment holds the shard's main traces at
/// four times their height, see [`kept_commitment_bytes`]).
pub const DEFAULT_KEEP_COMMITMENTS_BYTES: u64 = 4 << 30;

/// Estimated memory of one kept main-trace commitment of `cells` trace
/// cells: the zero-knowledge doubling and the blowup store each cell four
/// times (4 bytes each), and the Merkle tree and salts add under a tenth.
pub fn kept_commitment_bytes(cells: u64) -> u64 {
    cells.saturating_mul(16).saturating_mul(11) / 10
}

/// What the shard pipeline does with each shard besides executing it.
#[derive(Clone, Copy)]
struct ShardWork<'a, P> {
    /// Shards executed (later ones start where they end) but not generated.
    skip: &'a (dyn Fn(usize) -> bool + Sync),
    /// Run on the generating thread on each generated shard (with its
    /// index), ahead of the ordered consumer.
    prepare: &'a (dyn Fn(usize, ShardWitness) -> Result<P, ZkvmError> + Sync),
    /// The form of the CPU trace the backends take.
    cpu_form: TraceForm,
}

impl ShardWork<'static, ShardWitness> {
    /// Every shard generated, handed on as it is.
    const ALL: Self = ShardWork {
        skip: &|_| false,
        prepare: &|_, w| Ok(w),
        cpu_form: TraceForm::Values,
    };
}

/// Refuses shard sizes the tables cannot hold.
fn check_shard_cycles(opts: &ProveOptions) -> Result<(), ZkvmError> {
    if opts.shard_cycles == 0 || opts.shard_cycles > MAX_SHARD_CYCLES {
        return Err(TraceError::TooManyCycles {
            cycles: opts.shard_cycles,
            max: MAX_SHARD_CYCLES,
        }
        .into());
    }
    Ok(())
}

/// The fast run (no record) over the whole program: its output, and the
/// claim every shard's statement shares.
fn fast_run(
    program: &Program,
    inputs: &[Vec<u8>],
    opts: &ProveOptions,
) -> Result<(ExecutionClaim, ExecOutput), ZkvmError> {
    let output = Executor::new(program, inputs.to_vec(), opts.exec.clone()).run()?;
    let claim = ExecutionClaim {
        digest: output.committed.map(|w| w.unwrap_or(0)),
        exit_code: output.exit_code,
    };
    Ok((claim, output))
}

/// A shard's pass-1 commitment kept for pass 2 (taken by the worker that
/// proves the shard).
type KeptCommitment<B> = std::sync::Mutex<Option<(Commitment, <B as ProverBackend>::Committed)>>;

/// The memory proof between its commitment and the rest of its proof
/// ([`MachineKeys::commit_memory`]).
struct MemoryJob<B: ProverBackend> {
    zk: ZkRandomness,
    traces: Vec<RowMajorMatrix<Val>>,
    publics: Vec<Vec<Val>>,
    share: Challenge,
    committed: (Commitment, B::Committed),
}

/// What a pass-2 worker is handed: a shard (with its traces staged again,
/// when they were not kept) or the rest of the memory proof.
enum PassTwoItem<B: ProverBackend> {
    Shard(ShardWitness, Option<B::Staged>),
    Memory(MemoryJob<B>),
}

/// What a pass-2 worker returns for a [`PassTwoItem`].
enum PassTwoProof {
    Shard(ShardProof),
    Memory(MemoryProof),
}

/// Timings and sizes of one proof, for benchmarks.
#[derive(Clone, Debug, Default)]
pub struct ProveReport {
    pub cycles: u64,
    pub shards: usize,
    /// Waiting for shards to be executed, their traces generated and staged
    /// for the backend (both passes; in pass 1 also for the fast run that
    /// fixes the claim, which runs beside it). That work runs ahead of the
    /// prover, on threads of its own, so this is only the part the proving
    /// did not hide; `execution + prove` is the wall time of the whole
    /// proof, the fast run included.
    pub execution: Duration,
    /// Committing (pass 1) and proving (pass 2), less `execution`.
    pub prove: Duration,
    /// Of `prove`: pass 1's main-trace commitments of the shards (the
    /// backend's `commit_main` calls there).
    pub commit_pass: Duration,
    /// Main trace cells (rows times columns) over every table of every proof
    /// (the tables each shard proof holds).
    pub trace_cells: u64,
}

/// The proving and verifying keys of one program.
pub struct MachineKeys {
    /// Every shard table; a shard proof holds the [`TableSet`] it uses.
    pub shard_airs: Vec<MachineAir>,
    pub global_airs: Vec<MachineAir>,
    shard_heights: Vec<usize>,
    /// Proving keys per table set, selected from the full set's when first
    /// needed (they share its preprocessed commitment and prover data).
    shard_pks: Mutex<HashMap<TableSet, Arc<ProvingKey>>>,
    shard_vk: VerifyingKey,
    global_pk: ProvingKey,
    global_vk: VerifyingKey,
    pub entry: u32,
    fri: FriSettings,
    program: ProgramAir,
    image: ImageAir,
    vk_digest: [u8; 32],
    /// Where shards are cut besides their cycle count.
    syscall_pricing: SyscallPricing,
    /// Per shard table, the largest log2 height whose LDE and quotient domains
    /// fit KoalaBear's two-adic subgroups.
    max_log_heights: Vec<usize>,
}

/// The height (log2) [`MachineKeys::shard_layout`] reports quotient chunks
/// at: a full shard's CPU table.
pub const LAYOUT_LOG_HEIGHT: usize = 19;

impl MachineKeys {
    /// Derives the keys from a loaded program: commits its instruction table
    /// and initial image (and the fixed lookup tables).
    pub fn new(program: &Program, fri: FriSettings) -> Result<MachineKeys, ZkvmError> {
        let min = fri.min_trace_height();
        let min_log = min.trailing_zeros() as usize;
        let program_air = ProgramAir::new(program, min)?;
        let image = ImageAir::new(image_words(program), min);
        let shard_airs = MachineAir::shard_tables(program_air.clone());
        let global_airs = MachineAir::global_tables(image.clone());
        let mut shard_heights = vec![min_log; table::COUNT];
        shard_heights[table::RANGE16] = 16;
        shard_heights[table::BYTE] = crate::byte::LOG_HEIGHT;
        shard_heights[table::PROGRAM] = program_air.log_height();
        let mut global_heights = vec![min_log; global_table::COUNT];
        global_heights[global_table::RANGE16] = 16;
        global_heights[global_table::IMAGE] = image.log_height();
        let (shard_pk, shard_vk) = cloak_prover::setup(fri, &shard_airs, &shard_heights)?;
        let shard_pks = Mutex::new(HashMap::from([(TableSet::ALL, Arc::new(shard_pk))]));
        let (global_pk, global_vk) = cloak_prover::setup(fri, &global_airs, &global_heights)?;
        let mut h = Sha256::new();
        h.update(b"cloak-vk-v2");
        h.update(program.entry.to_le_bytes());
        h.update(format!("{fri:?}").as_bytes());
        for log in [program_air.log_height(), image.log_height()] {
            h.update((log as u64).to_le_bytes());
        }
        h.update(shard_vk.commitment_bytes());
        h.update(global_vk.commitment_bytes());
        let widths: Vec<usize> = shard_airs
            .iter()
            .map(p3_air::BaseAir::<Val>::width)
            .collect();
        let syscall_pricing = SyscallPricing::new(&widths, &shard_vk.lookup_columns());
        // Both the LDE (blowup) and the quotient domain (chunks) extend the
        // zero-knowledge trace of 2n rows. The chunks are a tall table's
        // (2^20 rows stands for any height near the limit): shorter tables
        // may take more, and are far below it.
        let max_log_heights = shard_vk
            .log_quotient_chunks_at(&shard_airs, &vec![20; shard_airs.len()])
            .into_iter()
            .map(|chunks| {
                let extension = 1 + chunks.max(fri.log_blowup);
                <Val as p3_field::TwoAdicField>::TWO_ADICITY.saturating_sub(extension)
            })
            .collect();
        Ok(MachineKeys {
            shard_airs,
            global_airs,
            shard_heights,
            shard_pks,
            shard_vk,
            global_pk,
            global_vk,
            entry: program.entry,
            fri,
            program: program_air,
            image,
            vk_digest: h.finalize().into(),
            syscall_pricing,
            max_log_heights,
        })
    }

    /// The tables of `set`, in order.
    fn shard_airs_of(&self, set: TableSet) -> Vec<MachineAir> {
        set.select(self.shard_airs.clone())
    }

    /// The proving key of the shard proofs that hold the tables of `set`.
    fn shard_pk(&self, set: TableSet) -> Result<Arc<ProvingKey>, ZkvmError> {
        let mut pks = self.shard_pks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pk) = pks.get(&set) {
            return Ok(pk.clone());
        }
        // The full set's key with the set's tables selected: only tables
        // without preprocessed columns are optional, so the preprocessed
        // commitment and its prover data are the full key's, not made again.
        let all = pks
            .get(&TableSet::ALL)
            .ok_or_else(|| ZkvmError::BadShards("no proving key of all tables".into()))?
            .clone();
        let pk = all.select(&set.flags())?;
        // The commitment (and the verifying key's digest) is the same for
        // every set, and the heights are the set's.
        debug_assert!(
            pk.commitment_bytes() == self.shard_vk.commitment_bytes()
                && pk.log_heights == set.select(self.shard_heights.clone()),
            "table set {:#x}: the selected key is not the set's",
            set.0
        );
        let pk = Arc::new(pk);
        pks.insert(set, pk.clone());
        Ok(pk)
    }

    /// SHA-256 over the entry point, the FRI settings and the preprocessed
    /// commitments: what names the program in statements and attestations.
    pub fn vk_digest(&self) -> [u8; 32] {
        self.vk_digest
    }

    /// Each shard table's name, main width, LogUp column count and log2 of
    /// its quotient chunks when [`LAYOUT_LOG_HEIGHT`] rows tall (shorter
    /// tables may take more): the cost of one row, for layout work and
    /// reports.
    pub fn shard_layout(&self) -> Vec<(String, usize, usize, usize)> {
        let heights = vec![LAYOUT_LOG_HEIGHT; self.shard_airs.len()];
        let chunks = self
            .shard_vk
            .log_quotient_chunks_at(&self.shard_airs, &heights);
        self.shard_airs
            .iter()
            .zip(self.shard_vk.lookup_columns())
            .zip(chunks)
            .map(|((air, aux), chunks)| {
                let name = format!("{air:?}");
                let name = name.split('(').next().unwrap_or_default().to_string();
                (name, p3_air::BaseAir::<Val>::width(air), aux, chunks)
            })
            .collect()
    }

    /// Runs `program` in tracing mode, cut into the shards proving uses
    /// (`cut.rs`), on `opts.exec_threads` threads, handing each shard's
    /// record to `on_shard` in order.
    fn run_sharded(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        opts: &ProveOptions,
        on_shard: impl FnMut(&mut cloak_vm::Shard) -> Result<(), ZkvmError>,
    ) -> Result<ExecOutput, ZkvmError> {
        let mut executor = Executor::new(program, inputs.to_vec(), opts.exec.clone());
        let pricing = &self.syscall_pricing;
        let cost = |event: &SyscallEvent| pricing.cost(event);
        let policy = ShardPolicy {
            max_cycles: opts.shard_cycles,
            max_syscall_cost: pricing.budget(opts.shard_cycles),
            syscall_cost: &cost,
        };
        let threads = match opts.exec_threads {
            0 => default_exec_threads(),
            n => n,
        };
        executor.run_traced_parallel(&policy, threads, on_shard)
    }

    /// Executes `program` in tracing mode and cuts it into the shards proving
    /// would, without generating traces: the output and the shard count
    /// (what a progress report needs before proving starts).
    pub fn shard_plan(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        opts: &ProveOptions,
    ) -> Result<(ExecOutput, usize), ZkvmError> {
        let mut shards = 0;
        let output = self.run_sharded(program, inputs, opts, |_| {
            shards += 1;
            Ok(())
        })?;
        Ok((output, shards))
    }

    /// One shard's witness, checked against the keys' table heights.
    fn generate(
        &self,
        shard: &cloak_vm::Shard,
        claim: ClaimSource<'_>,
        cpu_form: TraceForm,
    ) -> Result<ShardWitness, ZkvmError> {
        // Asked for once every table but the Commit table is made, so the
        // first shards' generation runs beside the fast run. The fast run's
        // own error is what the prover reports.
        let claim = || {
            claim
                .get()
                .map_err(|()| ZkvmError::Pipeline("the run that fixes the claim failed".into()))
        };
        let min = self.fri.min_trace_height();
        let w = witness::generate_shard_with(&self.program, shard, claim, min, cpu_form)?;
        for t in 0..w.traces.len() {
            let height = w.height(t);
            if height > 1 << self.max_log_heights[t] {
                return Err(TraceError::TableTooTall {
                    shard: shard.index as usize,
                    table: table::NAMES[t],
                    height,
                    max_log: self.max_log_heights[t],
                }
                .into());
            }
        }
        Ok(w)
    }

    /// Runs `program` in tracing mode and hands each shard's witness, put
    /// through `work.prepare`, to `f`, in order, with its index; shards
    /// `work.skip` names are executed (later ones start where they end) but
    /// get no traces (`None`).
    fn for_each_shard<P>(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        opts: &ProveOptions,
        claim: ClaimSource<'_>,
        work: ShardWork<'_, P>,
        mut f: impl FnMut(usize, Option<P>) -> Result<(), ZkvmError>,
    ) -> Result<ExecOutput, ZkvmError> {
        self.run_sharded(program, inputs, opts, |shard| {
            let index = shard.index as usize;
            let w = if (work.skip)(index) {
                None
            } else {
                Some((work.prepare)(
                    index,
                    self.generate(shard, claim, work.cpu_form)?,
                )?)
            };
            f(index, w)
        })
    }

    /// [`Self::for_each_shard`] with execution on a thread of its own and
    /// trace generation on `opts.trace_threads` more, several shards at
    /// once: while `f` proves shard `k` (on the GPU, or on the other
    /// cores), the next shards are executed and generated. `f` still sees
    /// them in order. At most one shard per generating thread, plus one,
    /// plus `opts.exec_ahead`, is in flight (queued, generating, or
    /// generated and waiting for `f`), which bounds memory. The first error (of `f` or a shard's
    /// generation, in shard order, else of the execution) is returned, and
    /// stops the other threads.
    fn for_each_shard_pipelined<P: Send>(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        opts: &ProveOptions,
        claim: ClaimSource<'_>,
        work: ShardWork<'_, P>,
        mut f: impl FnMut(usize, Option<P>) -> Result<(), ZkvmError>,
    ) -> Result<ExecOutput, ZkvmError> {
        if !opts.pipeline {
            return self.for_each_shard(program, inputs, opts, claim, work, f);
        }
        let skip = work.skip;
        let threads = match opts.trace_threads {
            0 => default_trace_threads(),
            n => n,
        };
        let in_flight = threads + 1 + opts.exec_ahead;
        type Generated<P> = (usize, Result<Option<P>, ZkvmError>);
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, cloak_vm::Shard)>(in_flight);
        let jobs = Mutex::new(job_rx);
        // Generated shards' records go back to the executor, which moves
        // the next shards' events into them (`Shard::move_into`) and takes
        // their buffers to fill, instead of copying each record or
        // allocating fresh memory.
        let (free_tx, free_rx) = std::sync::mpsc::channel::<cloak_vm::Shard>();
        // Set when `f`'s side stops early: the executor stops at its next
        // shard, the generators drain the queue without work.
        let stop = AtomicBool::new(false);
        let (jobs, stop) = (&jobs, &stop);
        std::thread::scope(|scope| {
            // A permit per shard in flight: the executor takes one before
            // handing a shard on, `f`'s side returns it once `f` is done.
            let (permit_tx, permit_rx) = std::sync::mpsc::sync_channel::<()>(in_flight);
            for _ in 0..in_flight {
                permit_tx
                    .send(())
                    .expect("the channel has room for every permit");
            }
            let (done_tx, done_rx) = std::sync::mpsc::channel::<Generated<P>>();
            let stopped = || ZkvmError::Pipeline("the prover stopped".into());
            let executed_done = done_tx.clone();
            let executor = scope.spawn(move || {
                let mut count = 0usize;
                let output = self.run_sharded(program, inputs, opts, |shard| {
                    permit_rx.recv().map_err(|_| stopped())?;
                    if stop.load(Ordering::Relaxed) {
                        return Err(stopped());
                    }
                    count += 1;
                    let index = shard.index as usize;
                    tracing::debug!(target: PIPELINE, shard = index, "executed");
                    if skip(index) {
                        executed_done.send((index, Ok(None))).map_err(|_| stopped())
                    } else {
                        // The record moves to the generating thread; the
                        // executor refills a finished shard's buffers.
                        let mut taken = match free_rx.try_recv() {
                            Ok(used) => used,
                            Err(_) => shard.empty_like(),
                        };
                        shard.move_into(&mut taken);
                        job_tx.send((index, taken)).map_err(|_| stopped())
                    }
                })?;
                Ok::<_, ZkvmError>((output, count))
            });
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let free_tx = free_tx.clone();
                scope.spawn(move || loop {
                    let job = jobs.lock().expect("job queue poisoned").recv();
                    let Ok((index, shard)) = job else { break };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    // A panic (a bug) must not leave the executor waiting.
                    let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let start = Instant::now();
                        let w = self.generate(&shard, claim, work.cpu_form)?;
                        let generate = start.elapsed();
                        let prepared = (work.prepare)(index, w).map(Some);
                        tracing::debug!(
                            target: PIPELINE,
                            shard = index,
                            generate_ms = millis(generate),
                            prepare_ms = millis(start.elapsed() - generate),
                            "generated"
                        );
                        prepared
                    }))
                    .unwrap_or_else(|_| {
                        Err(ZkvmError::Pipeline(format!(
                            "generating shard {index} panicked"
                        )))
                    });
                    // Fails only once the executor has finished.
                    let _ = free_tx.send(shard);
                    // Fails only once `f`'s side has stopped.
                    let _ = done_tx.send((index, generated));
                });
            }
            drop(done_tx);
            drop(free_tx);
            // Put the shards back in order and hand them to `f`.
            let mut waiting = BTreeMap::new();
            let mut next = 0usize;
            let mut consumed = Ok(());
            'receive: for (index, generated) in done_rx.iter() {
                waiting.insert(index, generated);
                while let Some(generated) = waiting.remove(&next) {
                    if let Err(e) = generated.and_then(|w| f(next, w)) {
                        consumed = Err(e);
                        stop.store(true, Ordering::Relaxed);
                        break 'receive;
                    }
                    next += 1;
                    // The executor may have finished: nobody left to take it.
                    let _ = permit_tx.send(());
                }
            }
            // The executor, blocked on a permit, and the generators, on
            // sending, see their channels closed and stop.
            drop(done_rx);
            drop(permit_tx);
            let executed = executor
                .join()
                .map_err(|_| ZkvmError::Pipeline("shard execution panicked".into()))?;
            consumed?;
            let (output, count) = executed?;
            if next != count {
                return Err(ZkvmError::Pipeline(format!(
                    "{count} shards executed but {next} generated"
                )));
            }
            Ok(output)
        })
    }

    /// Runs the program once, fast, for what every shard's statement shares.
    fn claim(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        opts: &ProveOptions,
    ) -> Result<(ExecutionClaim, ExecOutput), ZkvmError> {
        check_shard_cycles(opts)?;
        fast_run(program, inputs, opts)
    }

    /// Executes `program` (which must be the one these keys were made for) on
    /// `inputs` and proves the execution, one shard at a time (memory stays
    /// bounded by the shard size).
    pub fn prove(
        &self,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        opts: &ProveOptions,
    ) -> Result<(Proof, ProveReport), ZkvmError> {
        self.prove_on(&CpuBackend, program, inputs, opts)
    }

    /// [`Self::prove`] on a given backend.
    pub fn prove_on<B: ProverBackend>(
        &self,
        backend: &B,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        opts: &ProveOptions,
    ) -> Result<(Proof, ProveReport), ZkvmError> {
        self.prove_on_many(std::slice::from_ref(backend), program, inputs, opts)
    }

    /// [`Self::prove`] with the shards spread over several backends (one
    /// per GPU): shard `i` is committed and proven on `backends[i % n]`, by
    /// a worker thread per backend, while the shards are executed one ahead
    /// in order. The memory proof is committed and proven on one backend
    /// (`memory_route`). The proof is the same
    /// bytes whatever `n` (each shard's randomness comes from its index).
    pub fn prove_on_many<B: ProverBackend>(
        &self,
        backends: &[B],
        program: &Program,
        inputs: Vec<Vec<u8>>,
        opts: &ProveOptions,
    ) -> Result<(Proof, ProveReport), ZkvmError> {
        if backends.is_empty() {
            return Err(ZkvmError::Pipeline("no backend to prove on".into()));
        }
        let _release = cloak_prover::trace_buffers::release_when_dropped();
        let seeds = Seeds::new(opts.seed)?;
        let mut report = ProveReport::default();
        check_shard_cycles(opts)?;
        // Time spent waiting for execution and traces (the fast run's is
        // part of it where generation waits for the claim).
        let mut exec_time = Duration::ZERO;
        let pending = PendingClaim::default();

        // Pass 1: every shard's main commitment, and every key's last state.
        // A shard whose commitment is kept on a backend that keeps its
        // traces too is proven in pass 2 from what stays here (its public
        // values and boundary), without executing or generating it again.
        let reuse_traces = backends.iter().all(ProverBackend::keeps_traces);
        // The CPU and Shift traces go to the backends as their rows' inputs
        // where they all expand them and keep the traces (the host's values
        // are then never needed).
        let expands = |b: &B| b.expands(CPU_ROWS_KIND) && b.expands(SHIFT_ROWS_KIND);
        let cpu_form = if reuse_traces && backends.iter().all(expands) {
            TraceForm::Inputs
        } else {
            TraceForm::Values
        };
        let pass = Instant::now();
        let mut cells_total = 0u64;
        let mut kept_bytes = 0u64;
        let mut last_state: BTreeMap<u32, WordState> = BTreeMap::new();
        let mut reused: Vec<Option<ShardWitness>> = Vec::new();
        let mut t = Instant::now();
        // On the generating threads: the blind, the tables the shard uses,
        // and the backend's staging of them (the GPU's packing and upload,
        // and in CC mode their encryption, overlap its work on earlier
        // shards).
        let stage = |index: usize, mut w: ShardWitness| {
            commit::set_blind(&mut w.traces[table::COMMIT], seeds.blind(index));
            let traces = w.take_main_traces();
            let shard_cells = traces.iter().map(|t| (t.width() * t.height()) as u64).sum();
            let staged = backends[index % backends.len()].stage_main(traces)?;
            Ok((w, staged, shard_cells))
        };
        let work = ShardWork {
            skip: &|_| false,
            prepare: &stage,
            cpu_form,
        };
        // Each table set's proving key and the backends' preparation for it
        // (the GPU's kernels) are made on a thread of their own while pass 1
        // runs, instead of by the first proof of pass 2 under that key.
        let (warm_tx, warm_rx) = std::sync::mpsc::channel::<TableSet>();
        let (committed, fast) = std::thread::scope(|scope| {
            // The fast run fixes the claim while pass 1 executes the first
            // shards and generates their tables; only their Commit tables
            // wait for it (`ClaimSource`).
            let fast = scope.spawn(|| {
                let start = Instant::now();
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    fast_run(program, &inputs, opts)
                }))
                .unwrap_or_else(|_| Err(ZkvmError::Pipeline("the fast run panicked".into())));
                pending.set(run.as_ref().map(|(claim, _)| *claim).map_err(drop));
                tracing::debug!(target: PIPELINE, ms = millis(start.elapsed()), "claimed");
                run
            });
            let warming = scope.spawn(move || self.warm_up(backends, warm_rx));
            let committed = self.on_workers(
                backends,
                |emit| {
                    self.for_each_shard_pipelined(
                        program,
                        &inputs,
                        opts,
                        ClaimSource::Pending(&pending),
                        work,
                        |index, staged| {
                            exec_time += t.elapsed();
                            tracing::debug!(
                                target: PIPELINE,
                                shard = index,
                                waited_ms = millis(t.elapsed()),
                                "pass 1 received"
                            );
                            let (w, staged, shard_cells) = staged.ok_or_else(|| {
                                ZkvmError::Pipeline("a shard has no traces".into())
                            })?;
                            cells_total += shard_cells;
                            // Pass 2 proves the last shard right after the memory
                            // proof, so its commitment is always kept; others while
                            // the budget lasts.
                            let bytes = kept_commitment_bytes(shard_cells);
                            let keep =
                                w.cpu.is_last || kept_bytes + bytes <= opts.keep_commitments_bytes;
                            if keep {
                                kept_bytes += bytes;
                            }
                            for b in &w.boundary {
                                last_state.insert(b.key, *b);
                            }
                            // Fails only if the warm-up thread is gone; pass 2
                            // then makes the key itself.
                            let _ = warm_tx.send(w.tables);
                            let tables = w.tables;
                            reused.push((keep && reuse_traces).then_some(w));
                            emit(index, (staged, keep, tables))?;
                            t = Instant::now();
                            Ok(())
                        },
                    )
                },
                |index, workers| index % workers,
                |backend, index, (staged, keep, tables): (B::Staged, bool, TableSet)| {
                    let zk = ZkRandomness::new(self.fri, seeds.of(index));
                    let c = Instant::now();
                    let (commitment, mut data) = backend.commit_staged(&zk, staged)?;
                    let took = c.elapsed();
                    tracing::debug!(
                        target: PIPELINE,
                        shard = index,
                        commit_ms = millis(took),
                        "committed"
                    );
                    if !keep {
                        return Ok((commitment, None, took));
                    }
                    // The proof's challenge-free work, while the backend
                    // would otherwise wait for the next shard's traces.
                    let pk = self.shard_pk(tables)?;
                    backend.prove_ahead(&zk, &pk, &self.shard_airs_of(tables), &mut data)?;
                    Ok((commitment, Some(data), took))
                },
            );
            drop(warm_tx);
            let fast = fast
                .join()
                .unwrap_or_else(|_| Err(ZkvmError::Pipeline("the fast run panicked".into())));
            let warmed = warming
                .join()
                .map_err(|_| ZkvmError::Pipeline("preparing the proving keys panicked".into()));
            (warmed.and(committed), fast)
        });
        // A failed fast run is the error to report: pass 1 then failed
        // only for want of its claim.
        let (claim, output) = fast?;
        let committed = committed?;
        let output_check = committed.1;
        debug_assert_eq!(output_check.cycles, output.cycles);
        report.trace_cells += cells_total;
        let mut commitments: Vec<Commitment> = Vec::with_capacity(committed.0.len());
        let mut kept: Vec<KeptCommitment<B>> = Vec::with_capacity(committed.0.len());
        for (commitment, data, took) in committed.0 {
            report.commit_pass += took;
            kept.push(std::sync::Mutex::new(data.map(|d| (commitment.clone(), d))));
            commitments.push(commitment);
        }
        let shards = commitments.len();
        if reused.len() != shards {
            return Err(ZkvmError::Pipeline(format!(
                "{} shards generated but {shards} committed",
                reused.len()
            )));
        }
        let mut prove_time = pass.elapsed().saturating_sub(exec_time);

        let start = Instant::now();
        let words = self.global_words(&last_state);
        let blinds: Vec<[Val; 3]> = (0..shards).map(|i| seeds.blind(i)).collect();
        let min = self.fri.min_trace_height();
        let global = witness::generate_global(&self.image, &words, &blinds, min)?;
        report.trace_cells += cells(&global.0);
        // The memory proof's commitment gives the shared challenges; the
        // rest of it goes to pass 2's workers, ahead of the shards. It is
        // committed on the backend that will prove it: the job holds that
        // backend's data (another GPU's memory is not this one's).
        let memory_worker = memory_route(shards, backends.len());
        let (memory_job, external) = self.commit_memory(
            &backends[memory_worker],
            global,
            &words,
            &mut commitments,
            &seeds,
        )?;
        tracing::debug!(target: PIPELINE, ms = millis(start.elapsed()), "memory committed");
        prove_time += start.elapsed();

        // Pass 2: prove every shard with the shared challenges, each on the
        // backend that holds its kept commitment. Shards not reused are
        // executed and generated again (the program runs again only if
        // there are any); on a backend that keeps traces they are staged on
        // the generating threads (as in pass 1) and committed again on the
        // worker, so their uploads overlap the GPU's work too.
        let pass = Instant::now();
        let exec_before = exec_time;
        let mut t = Instant::now();
        let skip: Vec<bool> = reused.iter().map(Option::is_some).collect();
        let regenerate = |index: usize, mut w: ShardWitness| {
            commit::set_blind(&mut w.traces[table::COMMIT], seeds.blind(index));
            if !reuse_traces {
                return Ok((w, None));
            }
            let traces = w.take_main_traces();
            let staged = backends[index % backends.len()].stage_main(traces)?;
            Ok((w, Some(staged)))
        };
        let (outputs, _) = self.on_workers(
            backends,
            |emit| {
                // The memory proof first, on the worker with the least to
                // do: its small kernels then overlap the first shards' on
                // the GPU instead of running alone after the last.
                emit(shards, PassTwoItem::Memory(memory_job))?;
                // With one backend the memory proof ran in `emit`: proving,
                // not waiting for the first shard.
                t = Instant::now();
                let mut next = |index: usize, w: Option<(ShardWitness, Option<B::Staged>)>| {
                    exec_time += t.elapsed();
                    tracing::debug!(
                        target: PIPELINE,
                        shard = index,
                        waited_ms = millis(t.elapsed()),
                        "pass 2 received"
                    );
                    let item = match w {
                        Some(item) => item,
                        None => reused
                            .get_mut(index)
                            .and_then(Option::take)
                            .map(|w| (w, None))
                            .ok_or_else(|| {
                                ZkvmError::Pipeline(format!(
                                    "shard {index} was neither kept nor generated"
                                ))
                            })?,
                    };
                    emit(index, PassTwoItem::Shard(item.0, item.1))?;
                    t = Instant::now();
                    Ok(())
                };
                if skip.iter().all(|&s| s) {
                    for index in 0..shards {
                        next(index, None)?;
                    }
                } else {
                    let skip = |index: usize| skip.get(index).copied().unwrap_or(false);
                    let work = ShardWork {
                        skip: &skip,
                        prepare: &regenerate,
                        cpu_form,
                    };
                    let known = ClaimSource::Known(claim);
                    self.for_each_shard_pipelined(program, &inputs, opts, known, work, &mut next)?;
                }
                Ok(())
            },
            // The memory proof to the backend it was committed on.
            |index, workers| {
                if index == shards {
                    memory_route(shards, workers)
                } else {
                    index % workers
                }
            },
            |backend, index, item: PassTwoItem<B>| {
                let (w, staged) = match item {
                    PassTwoItem::Shard(w, staged) => (w, staged),
                    PassTwoItem::Memory(job) => {
                        let start = Instant::now();
                        let proof = self.prove_memory_job(backend, job, external.clone());
                        tracing::debug!(
                            target: PIPELINE,
                            ms = millis(start.elapsed()),
                            "memory proven"
                        );
                        return proof.map(PassTwoProof::Memory);
                    }
                };
                let committed = match staged {
                    // Committed again from the staged traces, with the
                    // shard's pass-1 randomness (checked against pass 1's
                    // commitment in `prove_shard`).
                    Some(staged) => {
                        let zk = ZkRandomness::new(self.fri, seeds.of(index));
                        Some(backend.commit_staged(&zk, staged)?)
                    }
                    None => kept
                        .get(index)
                        .and_then(|k| k.lock().expect("kept commitments poisoned").take()),
                };
                let start = Instant::now();
                let proof = self.prove_shard(
                    backend,
                    w,
                    index,
                    &commitments,
                    &external,
                    &seeds,
                    committed,
                );
                tracing::debug!(
                    target: PIPELINE,
                    shard = index,
                    prove_ms = millis(start.elapsed()),
                    "proven"
                );
                proof.map(PassTwoProof::Shard)
            },
        )?;
        let mut memory = None;
        let proofs: Vec<ShardProof> = outputs
            .into_iter()
            .filter_map(|out| match out {
                PassTwoProof::Shard(proof) => Some(proof),
                PassTwoProof::Memory(proof) => {
                    memory = Some(proof);
                    None
                }
            })
            .collect();
        let memory = memory.ok_or_else(|| ZkvmError::Pipeline("no memory proof".into()))?;
        if proofs.len() != shards {
            return Err(ZkvmError::BadShards(format!(
                "{shards} shards committed but {} proven",
                proofs.len()
            )));
        }
        prove_time += pass.elapsed().saturating_sub(exec_time - exec_before);
        report.cycles = output.cycles;
        report.shards = shards;
        report.execution = exec_time;
        report.prove = prove_time;
        let proof = Proof {
            exit_code: output.exit_code,
            public_values: output.public_values,
            committed_digest: claim.digest,
            shards: proofs,
            memory,
        };
        Ok((proof, report))
    }

    /// Makes the proving key of each table set `sets` names (once) and has
    /// every backend prepare for it. A failure is left for pass 2, which
    /// meets it again and reports it.
    fn warm_up<B: ProverBackend>(&self, backends: &[B], sets: std::sync::mpsc::Receiver<TableSet>) {
        let mut seen = std::collections::HashSet::new();
        for set in sets {
            if !seen.insert(set) {
                continue;
            }
            let start = Instant::now();
            let Ok(pk) = self.shard_pk(set) else { continue };
            let airs = self.shard_airs_of(set);
            for backend in backends {
                if let Err(e) = backend.prepare(&pk, &airs) {
                    tracing::debug!(target: PIPELINE, "preparing table set {:#x}: {e}", set.0);
                }
            }
            tracing::debug!(
                target: PIPELINE,
                set = set.0,
                ms = millis(start.elapsed()),
                "prepared"
            );
        }
    }

    /// Runs `work(backends[route(i, n)], i, item)` for every item `produce`
    /// emits (in order, with its index), returning the outputs in index order
    /// with what `produce` returned. With one backend the work runs in
    /// `produce`'s callback; with several, on a worker thread per backend,
    /// each fed through a one-item channel. The first error stops the rest:
    /// a worker's, else `produce`'s.
    fn on_workers<B, I, O, R>(
        &self,
        backends: &[B],
        produce: impl FnOnce(&mut dyn FnMut(usize, I) -> Result<(), ZkvmError>) -> Result<R, ZkvmError>,
        route: impl Fn(usize, usize) -> usize,
        work: impl Fn(&B, usize, I) -> Result<O, ZkvmError> + Sync,
    ) -> Result<(Vec<O>, R), ZkvmError>
    where
        B: ProverBackend,
        I: Send,
        O: Send,
    {
        if backends.len() == 1 {
            let mut out = Vec::new();
            let r = produce(&mut |index, item| {
                out.push(work(&backends[0], index, item)?);
                Ok(())
            })?;
            return Ok((out, r));
        }
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, O)>();
            let mut senders = Vec::with_capacity(backends.len());
            let mut workers = Vec::with_capacity(backends.len());
            for backend in backends {
                let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, I)>(1);
                senders.push(tx);
                let done_tx = done_tx.clone();
                let work = &work;
                workers.push(scope.spawn(move || -> Result<(), ZkvmError> {
                    for (index, item) in rx {
                        let out = work(backend, index, item)?;
                        // The collector outlives the workers.
                        let _ = done_tx.send((index, out));
                    }
                    Ok(())
                }));
            }
            drop(done_tx);
            let n = senders.len();
            let produced = produce(&mut |index, item| {
                let worker = route(index, n) % n;
                senders[worker]
                    .send((index, item))
                    .map_err(|_| ZkvmError::Pipeline(format!("worker {worker} stopped")))
            });
            drop(senders);
            let mut worker_error = None;
            for w in workers {
                match w.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        worker_error.get_or_insert(e);
                    }
                    Err(_) => {
                        worker_error.get_or_insert(ZkvmError::Pipeline("a worker panicked".into()));
                    }
                }
            }
            if let Some(e) = worker_error {
                return Err(e);
            }
            let r = produced?;
            let mut outs: Vec<(usize, O)> = done_rx.into_iter().collect();
            outs.sort_by_key(|(i, _)| *i);
            if outs.iter().enumerate().any(|(k, (i, _))| k != *i) {
                return Err(ZkvmError::Pipeline("a shard's result is missing".into()));
            }
            Ok((outs.into_iter().map(|(_, o)| o).collect(), r))
        })
    }

    /// Every shard's witness and the memory proof's, held in memory at once
    /// (for tests, which may change them before [`Self::prove_witness`]).
    pub fn witness(
        &self,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        opts: &ProveOptions,
    ) -> Result<ExecutionWitness, ZkvmError> {
        let (claim, output) = self.claim(program, &inputs, opts)?;
        let mut shards = Vec::new();
        let mut last_state: BTreeMap<u32, WordState> = BTreeMap::new();
        let known = ClaimSource::Known(claim);
        self.for_each_shard(program, &inputs, opts, known, ShardWork::ALL, |_, w| {
            let w = w.ok_or_else(|| ZkvmError::Pipeline("a shard has no traces".into()))?;
            for b in &w.boundary {
                last_state.insert(b.key, *b);
            }
            shards.push(w);
            Ok(())
        })?;
        let global_words = self.global_words(&last_state);
        // The blinding messages are set when proving (they come from the seed).
        let (global_traces, _) =
            witness::generate_global(&self.image, &global_words, &[], self.fri.min_trace_height())?;
        Ok(ExecutionWitness {
            shards,
            global_traces,
            global_words,
            claim,
            output,
        })
    }

    /// Proves a witness (normally [`Self::witness`]'s) as [`Self::prove`] would.
    pub fn prove_witness(&self, w: &ExecutionWitness, seed: [u8; 32]) -> Result<Proof, ZkvmError> {
        self.prove_witness_on(&CpuBackend, w, seed)
    }

    /// [`Self::prove_witness`] on `backend`.
    pub fn prove_witness_on<B: ProverBackend>(
        &self,
        backend: &B,
        w: &ExecutionWitness,
        seed: [u8; 32],
    ) -> Result<Proof, ZkvmError> {
        let _release = cloak_prover::trace_buffers::release_when_dropped();
        let seeds = Seeds::new(Some(seed))?;
        let mut shards = w.shards.clone();
        let mut commitments = Vec::new();
        for (i, s) in shards.iter_mut().enumerate() {
            commit::set_blind(&mut s.traces[table::COMMIT], seeds.blind(i));
            let zk = ZkRandomness::new(self.fri, seeds.of(i));
            let traces = s.tables.select(s.traces.clone());
            commitments.push(backend.commit_main(&zk, traces)?.0);
        }
        let mut publics = vec![Vec::new(); global_table::COUNT];
        publics[global_table::MEMORY] = vec![Val::ZERO; crate::memory::NUM_PUBLIC_VALUES];
        let blinds: Vec<[Val; 3]> = (0..w.shards.len()).map(|i| seeds.blind(i)).collect();
        let mut global_traces = w.global_traces.clone();
        let height = crate::event::padded_height(blinds.len(), self.fri.min_trace_height())?;
        global_traces[global_table::BLIND] = crate::blind::sink_trace(&blinds, height);
        let (memory, external) = self.prove_memory(
            backend,
            (global_traces, publics),
            &w.global_words,
            &mut commitments,
            &seeds,
        )?;
        let mut proofs = Vec::new();
        for (i, s) in shards.into_iter().enumerate() {
            proofs.push(self.prove_shard(backend, s, i, &commitments, &external, &seeds, None)?);
        }
        Ok(Proof {
            exit_code: w.claim.exit_code,
            public_values: w.output.public_values.clone(),
            committed_digest: w.claim.digest,
            shards: proofs,
            memory,
        })
    }

    /// Commits the memory proof's main trace (after the shards'), derives the
    /// shared challenges and proves it.
    fn prove_memory<B: ProverBackend>(
        &self,
        backend: &B,
        global: witness::TracesAndPublics,
        words: &[WordState],
        commitments: &mut Vec<Commitment>,
        seeds: &Seeds,
    ) -> Result<(MemoryProof, ExternalBus<Challenge>), ZkvmError> {
        let (job, external) = self.commit_memory(backend, global, words, commitments, seeds)?;
        Ok((
            self.prove_memory_job(backend, job, external.clone())?,
            external,
        ))
    }

    /// The memory proof up to its commitment: commits its main trace (after
    /// the shards'), derives the shared challenges and sets its public
    /// values. What remains ([`Self::prove_memory_job`]) needs nothing the
    /// shards' proofs make, so pass 2 runs it beside them.
    fn commit_memory<B: ProverBackend>(
        &self,
        backend: &B,
        (traces, mut publics): witness::TracesAndPublics,
        words: &[WordState],
        commitments: &mut Vec<Commitment>,
        seeds: &Seeds,
    ) -> Result<(MemoryJob<B>, ExternalBus<Challenge>), ZkvmError> {
        let zk = ZkRandomness::new(self.fri, seeds.of(commitments.len()));
        let committed = backend.commit_main(&zk, traces.clone())?;
        commitments.push(committed.0.clone());
        let (alpha, beta) = cloak_prover::shared_challenges(GLOBAL_DOMAIN, commitments);
        let external = ExternalBus {
            name: crate::bus::GLOBAL_MEMORY_BUS.to_string(),
            alpha,
            beta,
        };
        let blinds = (0..commitments.len() - 1)
            .map(|i| crate::blind::term(seeds.blind(i), alpha, beta))
            .sum::<Challenge>();
        let share = witness::global_share(words, MemoryKind::Global, alpha, beta) - blinds;
        publics[global_table::MEMORY] = witness::memory_public_values(alpha, beta, share);
        let job = MemoryJob {
            zk,
            traces,
            publics,
            share,
            committed,
        };
        Ok((job, external))
    }

    /// The rest of the memory proof [`Self::commit_memory`] began.
    fn prove_memory_job<B: ProverBackend>(
        &self,
        backend: &B,
        job: MemoryJob<B>,
        external: ExternalBus<Challenge>,
    ) -> Result<MemoryProof, ZkvmError> {
        let stark = backend.prove(
            &job.zk,
            &self.global_pk,
            &self.global_airs,
            &job.traces,
            &job.publics,
            external,
            Some(job.committed),
        )?;
        Ok(MemoryProof {
            share: job.share,
            stark,
        })
    }

    /// Proves shard `index` (pass 2), checking it commits as in pass 1.
    /// `committed`: pass 1's commitment and data for this shard, when kept.
    #[allow(clippy::too_many_arguments)]
    fn prove_shard<B: ProverBackend>(
        &self,
        backend: &B,
        mut w: ShardWitness,
        index: usize,
        commitments: &[Commitment],
        external: &ExternalBus<Challenge>,
        seeds: &Seeds,
        committed: Option<(Commitment, B::Committed)>,
    ) -> Result<ShardProof, ZkvmError> {
        let (alpha, beta) = (external.alpha, external.beta);
        let share = witness::global_share(&w.boundary, MemoryKind::Shard, alpha, beta)
            + crate::blind::term(seeds.blind(index), alpha, beta);
        w.public_values[table::MEMORY] = witness::memory_public_values(alpha, beta, share);
        let zk = ZkRandomness::new(self.fri, seeds.of(index));
        let pk = self.shard_pk(w.tables)?;
        let airs = self.shard_airs_of(w.tables);
        let publics = w.tables.select(w.public_values);
        // No traces: pass 1 left them with the kept commitment.
        let stark = if w.traces.is_empty() {
            let committed = committed.ok_or_else(|| {
                ZkvmError::Pipeline(format!("shard {index}'s traces were not kept"))
            })?;
            backend.prove_kept(&zk, &pk, &airs, &publics, external.clone(), committed)?
        } else {
            let traces = w.tables.select(w.traces);
            backend.prove(
                &zk,
                &pk,
                &airs,
                &traces,
                &publics,
                external.clone(),
                committed,
            )?
        };
        if commitments.get(index) != Some(cloak_prover::main_commitment(&stark)) {
            return Err(ZkvmError::BadShards(format!(
                "shard {index} committed differently in its two passes"
            )));
        }
        Ok(ShardProof {
            cpu: w.cpu,
            committed: w.committed,
            tables: w.tables,
            share,
            stark,
        })
    }

    /// Every key's first and last state over the whole execution: registers,
    /// image words and every touched word, sorted by key.
    fn global_words(&self, last_state: &BTreeMap<u32, WordState>) -> Vec<WordState> {
        let mut words: BTreeMap<u32, WordState> = BTreeMap::new();
        for reg in 0..32u32 {
            words.insert(reg, fresh_word(reg, false, 0));
        }
        for &(key, value) in self.image.words() {
            words.insert(key, fresh_word(key, true, value));
        }
        for (&key, last) in last_state {
            let w = words
                .entry(key)
                .or_insert_with(|| fresh_word(key, false, 0));
            w.final_value = last.final_value;
            w.final_ts = last.final_ts;
        }
        words.into_values().collect()
    }

    /// Checks `proof` and returns the statement it establishes.
    pub fn verify(&self, proof: &Proof) -> Result<Statement, ZkvmError> {
        let digest: [u8; 32] = Sha256::digest(&proof.public_values).into();
        let words: [u32; 8] = std::array::from_fn(|i| {
            u32::from_le_bytes([
                digest[4 * i],
                digest[4 * i + 1],
                digest[4 * i + 2],
                digest[4 * i + 3],
            ])
        });
        if proof.exit_code == 0 && words != proof.committed_digest {
            return Err(ZkvmError::DigestMismatch {
                actual: hex(&digest),
                committed: proof
                    .committed_digest
                    .iter()
                    .map(|w| format!("{w:08x}"))
                    .collect(),
            });
        }
        self.check_chain(proof)?;
        if proof.exit_code == 0 {
            for i in 0..8 {
                if !proof.shards.iter().any(|s| s.committed[i]) {
                    return Err(ZkvmError::Uncommitted(i));
                }
            }
        }
        let mut commitments: Vec<Commitment> = proof
            .shards
            .iter()
            .map(|s| cloak_prover::main_commitment(&s.stark).clone())
            .collect();
        commitments.push(cloak_prover::main_commitment(&proof.memory.stark).clone());
        let (alpha, beta) = cloak_prover::shared_challenges(GLOBAL_DOMAIN, &commitments);
        let total: Challenge =
            proof.shards.iter().map(|s| s.share).sum::<Challenge>() + proof.memory.share;
        if total != Challenge::ZERO {
            return Err(ZkvmError::Unbalanced);
        }
        let external = ExternalBus {
            name: crate::bus::GLOBAL_MEMORY_BUS.to_string(),
            alpha,
            beta,
        };
        let claim = ExecutionClaim {
            digest: proof.committed_digest,
            exit_code: proof.exit_code,
        };
        for (i, s) in proof.shards.iter().enumerate() {
            let bad = |e: String| ZkvmError::BadShards(format!("shard {i}: {e}"));
            if !s.tables.is_valid() {
                return Err(bad(format!("table set {:#x} is not allowed", s.tables.0)));
            }
            let mut publics = witness::shard_public_values(&s.cpu, claim, s.committed);
            publics[table::MEMORY] = witness::memory_public_values(alpha, beta, s.share);
            let vk = self
                .shard_vk
                .select(&s.tables.flags())
                .map_err(|e| bad(e.to_string()))?;
            cloak_prover::verify_with_external(
                &vk,
                &self.shard_airs_of(s.tables),
                &s.stark,
                &s.tables.select(publics),
                external.clone(),
                s.share,
            )
            .map_err(|e| bad(e.to_string()))?;
        }
        let mut publics = vec![Vec::new(); global_table::COUNT];
        publics[global_table::MEMORY] =
            witness::memory_public_values(alpha, beta, proof.memory.share);
        cloak_prover::verify_with_external(
            &self.global_vk,
            &self.global_airs,
            &proof.memory.stark,
            &publics,
            external,
            proof.memory.share,
        )?;
        Ok(Statement {
            vk_digest: self.vk_digest,
            exit_code: proof.exit_code,
            public_values: proof.public_values.clone(),
            public_values_digest: digest,
        })
    }

    /// The shards start at the entry at cycle 0, each starts where the last
    /// ended, and only the last one halts.
    fn check_chain(&self, proof: &Proof) -> Result<(), ZkvmError> {
        let bad = |m: String| Err(ZkvmError::BadShards(m));
        let Some(last) = proof.shards.last() else {
            return bad("the proof has no shard".into());
        };
        let (mut pc, mut clk) = (self.entry, 0u64);
        for (i, s) in proof.shards.iter().enumerate() {
            if s.cpu.start_pc != pc || s.cpu.start_clk != clk {
                return bad(format!(
                    "shard {i} starts at pc {:#x}, cycle {}; expected pc {pc:#x}, cycle {clk}",
                    s.cpu.start_pc, s.cpu.start_clk
                ));
            }
            let is_last = std::ptr::eq(s, last);
            if s.cpu.is_last != is_last {
                return bad(format!("shard {i} is marked last: {}", s.cpu.is_last));
            }
            if s.cpu.end_clk <= clk || s.cpu.end_clk > witness::MAX_TOTAL_CYCLES {
                return bad(format!("shard {i} ends at cycle {}", s.cpu.end_clk));
            }
            if is_last && s.cpu.end_pc != 0 {
                return bad(format!(
                    "the last shard ends at pc {:#x}, not 0",
                    s.cpu.end_pc
                ));
            }
            (pc, clk) = (s.cpu.end_pc, s.cpu.end_clk);
        }
        Ok(())
    }
}

/// Every shard's and the memory proof's witness (see [`MachineKeys::witness`]).
#[derive(Clone)]
pub struct ExecutionWitness {
    pub shards: Vec<ShardWitness>,
    pub global_traces: Vec<RowMajorMatrix<Val>>,
    /// The Global Memory table's rows.
    pub global_words: Vec<WordState>,
    pub claim: ExecutionClaim,
    pub output: ExecOutput,
}

/// Per-proof randomness derived from one master seed, so pass 2 recreates
/// pass 1's commitments.
struct Seeds([u8; 32]);

impl Seeds {
    fn new(seed: Option<[u8; 32]>) -> Result<Seeds, ZkvmError> {
        Ok(Seeds(match seed {
            Some(seed) => seed,
            None => cloak_prover::fresh_seed().map_err(|e| ZkvmError::Randomness(e.to_string()))?,
        }))
    }

    /// Shard `index`'s blinding message (see `crate::blind`).
    fn blind(&self, index: usize) -> [Val; 3] {
        crate::blind::values_from_seed(&self.of(index))
    }

    fn of(&self, proof: usize) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"cloak/proof-seed/v1");
        h.update(self.0);
        h.update((proof as u64).to_le_bytes());
        h.finalize().into()
    }
}

fn cells(traces: &[RowMajorMatrix<Val>]) -> u64 {
    traces.iter().map(|t| t.values.len() as u64).sum()
}

fn fresh_word(key: u32, is_image: bool, value: u32) -> WordState {
    WordState {
        key,
        is_image,
        init: value,
        init_ts: 0,
        final_value: value,
        final_ts: 0,
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table set's proving key selected from the full set's equals one
    /// derived for the set from scratch: the same preprocessed commitment,
    /// heights and LogUp layout (so the same proofs).
    #[test]
    fn a_selected_proving_key_equals_a_derived_one() {
        let elf = include_bytes!("../../../guests/bin/loop.elf");
        let program = Program::from_elf(elf).expect("loop.elf loads");
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT).expect("keys");
        let mut set = TableSet::ALL;
        set.0 &= !(1 << table::DIVREM);
        set.0 &= !(1 << table::MUL);
        let selected = keys.shard_pk(set).expect("selected key");
        let heights = set.select(keys.shard_heights.clone());
        let derived = cloak_prover::setup_proving_key(keys.fri, &keys.shard_airs_of(set), &heights)
            .expect("derived key");
        assert_eq!(selected.commitment_bytes(), derived.commitment_bytes());
        assert_eq!(selected.log_heights, derived.log_heights);
        assert_eq!(
            format!("{:?}", selected.lookups()),
            format!("{:?}", derived.lookups())
        );
        assert_eq!(selected.lookups().len(), table::COUNT - 2);
        assert!(Arc::ptr_eq(&selected, &keys.shard_pk(set).expect("cached")));
    }
}
