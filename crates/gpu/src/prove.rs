//! A whole proof on the GPU: p3-batch-stark 0.8.0's `prove_batch` (Cloak's
//! vendored copy) with the hiding PCS's and FRI's prover steps (p3-fri
//! 0.8.0 `HidingFriPcs`, `TwoAdicFriPcs::open`, `prove_fri`), step for step,
//! so the proof is the CPU's byte for byte under the same `ZkRandomness`.
//!
//! The host drives the transcripts (the same `BatchProverTranscript`,
//! `PcsProverTranscript` and FRI `ProverTranscript` types the CPU prover
//! uses) and makes the LogUp permutation traces (p3-lookup); everything of
//! size proportional to the trace stays on the device from upload to proof:
//! LDEs, trees, quotients, the reduced openings and FRI's layers. What comes
//! back: roots, opened values (one extension element a column and point),
//! FRI's final polynomial, and the rows and digests the queries open.
//!
//! Randomness, as a fresh `zk.config()` draws it: the mask stream
//! randomizes the main and permutation traces, masks the quotient chunks
//! and fills the random polynomials, in that order; the input MMCS's salt
//! stream salts the main, permutation, quotient and random commitments, in
//! that order; the FRI MMCS's salt stream salts FRI's layers. The public
//! preprocessed commitment is remade from the keygen seed's salt stream and
//! checked against the proving key's.

use std::time::{Duration, Instant};

use cloak_prover::challenger::DetChallenger;
use cloak_prover::config::Config;
use cloak_prover::config::{
    Challenge, FriSettings, SaltRng, Val, ZkRandomness, ZkRng, KEYGEN_SEED, NUM_RANDOM_CODEWORDS,
};
use cloak_prover::stark::{Commitment, ExternalBus, ProvableAir, ProvingKey};
use cloak_prover::StarkProof;
use p3_air::symbolic::AirLayout;
use p3_batch_stark::proof::OpenedValuesWithLookups;
use p3_batch_stark::CommonData;
use p3_batch_stark::{BatchCommitments, BatchOpenedValues, BatchProverTranscript, BatchShape};
use p3_dft::TwoAdicSubgroupDft;
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing, TwoAdicField};
use p3_fri::{
    BatchMultiOpening, CommitPhaseMultiStep, FriProof, FriShape, PcsProverTranscript, PcsShape,
    ProverTranscript,
};
use p3_lookup::logup::LogUpGadget;
use p3_lookup::{Lookup, LookupTerminal};
use p3_matrix::dense::RowMajorMatrix;
use p3_symmetric::MerkleCap;
use p3_uni_stark::{OpenedValues, PreprocessedOpenedValues, StarkGenericConfig};
use rand::SeedableRng;

use crate::ahead::{Ahead, AheadPlan, ZkDraws};
use crate::codegen::TableConstraints;
use crate::context::{GpuContext, GpuError, Result};
use crate::fri::{add_scaled, commit_layer_with_salts, fold, DeviceExtVec};
use crate::logup::{permutation_deferred, LogupKernel, LogupScalars};
use crate::ntt::{DeviceMatrix, Ntt};
use crate::open::{evaluate_into, inv_denoms, reduce, zero_ext, ReducePoint};
use crate::quotient::{
    quotient_with_scalars, DeviceColumns, QuotientInputs, QuotientKernel, QuotientScalars,
};
use crate::rounds::{
    commit_preprocessed, commit_quotient, commit_random, commit_traces, on_quotient_domain, Round,
    TableQuotient,
};

/// Where a GPU proof's time went (wall time per stage, host included).
#[derive(Clone, Debug, Default)]
pub struct StageTimes {
    pub main_commit: Duration,
    pub permutation: Duration,
    pub quotient: Duration,
    pub quotient_commit: Duration,
    pub open: Duration,
    pub fri: Duration,
    pub queries: Duration,
}

/// The public preprocessed tables' commitment remade on the device, with
/// the commitment it must equal (the proving key's).
pub struct PreprocessedRound {
    pub commitment: Commitment,
    pub round: Round,
    /// The tables as uploaded (row-major), which the LogUp traces read.
    pub tables: Vec<DeviceMatrix>,
}

/// Remakes the proving key's preprocessed commitment on the device (the
/// keygen seed's salts), for the quotient's inputs and the queries.
pub fn preprocessed_on_gpu<A: ProvableAir>(
    gpu: &GpuContext,
    ntt: &Ntt,
    pk: &ProvingKey,
    airs: &[A],
) -> Result<Option<PreprocessedRound>> {
    let Some(global) = pk.common().preprocessed.as_ref() else {
        return Ok(None);
    };
    let tables = global
        .matrix_to_instance
        .iter()
        .map(|&i| {
            airs[i]
                .preprocessed_trace()
                .ok_or_else(|| GpuError::Invalid(format!("table {i} has no preprocessed trace")))
        })
        .collect::<Result<Vec<_>>>()?;
    let keygen = ZkRandomness::new(pk.fri, KEYGEN_SEED);
    let (mut salts, _) = keygen.pcs_streams();
    let (commitment, round, tables) = commit_preprocessed(gpu, ntt, pk.fri, &tables, &mut salts)?;
    if commitment != global.commitment {
        return Err(GpuError::Invalid(
            "the preprocessed commitment remade on the GPU differs from the proving key's".into(),
        ));
    }
    Ok(Some(PreprocessedRound {
        commitment,
        round,
        tables,
    }))
}

/// A table's generated kernels: its quotient, and its LogUp fractions if it
/// has lookups.
pub struct TableKernels {
    pub quotient: QuotientKernel,
    pub logup: Option<LogupKernel>,
}

/// Generated kernels by `(proving key, table)`: generating them (the AIR's
/// symbolic constraints, the DAG, the source) costs the host milliseconds a
/// table, every proof, while a key's tables never change.
#[derive(Default)]
pub struct KernelCache {
    map: std::sync::Mutex<std::collections::HashMap<(u64, usize), std::sync::Arc<TableKernels>>>,
    /// Each table's log2 quotient chunks by `(proving key, log2 heights)`:
    /// derived from the AIRs' symbolic constraints, as costly to remake for
    /// every proof (and every proof's work ahead).
    log_chunks: std::sync::Mutex<std::collections::HashMap<LogChunksKey, Vec<usize>>>,
}

/// A proving key's id and its tables' log2 heights.
type LogChunksKey = (u64, Vec<usize>);

/// Entries kept before the cache starts over (keys are made per table set
/// and per service program; a few hundred tables in all).
const KERNEL_CACHE_ENTRIES: usize = 1024;

impl KernelCache {
    fn get<A: ProvableAir>(
        &self,
        pk: &ProvingKey,
        i: usize,
        air: &A,
        lookups: &[Lookup<Val>],
        preprocessed_width: usize,
    ) -> Result<std::sync::Arc<TableKernels>> {
        let key = (pk.id(), i);
        if let Some(k) = self.map.lock().expect("kernel cache poisoned").get(&key) {
            return Ok(k.clone());
        }
        let quotient = QuotientKernel::new(&format!("t{i}"), &TableConstraints::of(air, lookups))?;
        let logup = if lookups.is_empty() {
            None
        } else {
            Some(LogupKernel::new(
                &format!("t{i}"),
                lookups,
                air.width(),
                preprocessed_width,
                air.num_public_values(),
            )?)
        };
        let k = std::sync::Arc::new(TableKernels { quotient, logup });
        let mut map = self.map.lock().expect("kernel cache poisoned");
        if map.len() >= KERNEL_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(key, k.clone());
        Ok(k)
    }
}

/// Generates (or finds cached) every table's kernels for `pk` and loads
/// them on `gpu`, as the first proof under `pk` would: the host's share of
/// that proof (building each table's constraint DAG and source, loading the
/// modules) done ahead, while the GPU has other work.
pub fn prepare_kernels<A: ProvableAir>(
    gpu: &GpuContext,
    kernels: &KernelCache,
    pk: &ProvingKey,
    airs: &[A],
) -> Result<()> {
    let common = pk.common();
    for (i, air) in airs.iter().enumerate() {
        let pre_width = common
            .preprocessed
            .as_ref()
            .and_then(|g| g.instances.get(i)?.as_ref())
            .map_or(0, |m| m.width);
        let lookups = common.lookups.get(i).map_or(&[][..], |l| &**l);
        let k = kernels.get(pk, i, air, lookups, pre_width)?;
        crate::quotient::prepare(gpu, &k.quotient)?;
        if let Some(logup) = &k.logup {
            logup.prepare(gpu)?;
        }
    }
    Ok(())
}

/// A main-trace commitment made earlier on the device
/// ([`crate::GpuBackend::commit_staged_on_gpu`]) under the same randomness, and the
/// streams as it left them.
pub struct MainCommitted {
    pub commitment: Commitment,
    /// The traces as uploaded (row-major).
    pub traces: Vec<DeviceMatrix>,
    pub round: Round,
    pub mask_rng: ZkRng,
    pub salt_rng: SaltRng,
    /// The proof's challenge-free work, if pass 1 did it.
    pub ahead: Option<Ahead>,
}

/// Proves one instance of each AIR with `external`'s bus, as
/// `stark::prove_with_external` under `zk.config()` does, on the GPU.
#[allow(clippy::too_many_arguments)]
pub fn prove_on_gpu<A: ProvableAir>(
    gpu: &GpuContext,
    ntt: &Ntt,
    zk: &ZkRandomness,
    pk: &ProvingKey,
    airs: &[A],
    traces: Option<&[RowMajorMatrix<Val>]>,
    heights: &[usize],
    public_values: &[Vec<Val>],
    external: ExternalBus<Challenge>,
    main: Option<MainCommitted>,
    preprocessed: Option<&PreprocessedRound>,
    kernels: &KernelCache,
    times: &mut StageTimes,
) -> Result<StarkProof> {
    let config = zk.config();
    let common = pk.common();
    let n = airs.len();
    if heights.len() != n || public_values.len() != n || traces.is_some_and(|t| t.len() != n) {
        return Err(GpuError::Invalid(
            "one trace and public-value vector per table".into(),
        ));
    }
    if traces.is_none() && main.is_none() {
        return Err(GpuError::Invalid(
            "no traces: neither on the host nor kept on the device".into(),
        ));
    }
    if let Some(m) = &main {
        let matches = m.traces.len() == n
            && m.traces
                .iter()
                .zip(heights.iter().zip(airs))
                .all(|(t, (&h, air))| t.height == h && t.width == air.width());
        if !matches {
            return Err(GpuError::Invalid(
                "the kept traces differ in shape from the tables to prove".into(),
            ));
        }
    }
    let degrees = heights.to_vec();
    let log_degrees: Vec<usize> = degrees
        .iter()
        .map(|d| d.trailing_zeros() as usize)
        .collect();
    let log_ext: Vec<usize> = log_degrees.iter().map(|d| d + 1).collect();
    p3_lookup::check_multiplicity_height_bound(&common.lookups, &degrees)
        .map_err(|e| GpuError::Invalid(format!("LogUp multiplicity bound: {e:?}")))?;
    let all_lookups: Vec<&[Lookup<Val>]> = common.lookups.iter().map(|l| &**l).collect();
    let pre_meta = |i: usize| {
        common
            .preprocessed
            .as_ref()
            .and_then(|g| g.instances[i].as_ref())
    };
    let pre_widths: Vec<usize> = (0..n).map(|i| pre_meta(i).map_or(0, |m| m.width)).collect();
    if common.preprocessed.is_some() != preprocessed.is_some() {
        return Err(GpuError::Invalid(
            "the preprocessed round is missing or not expected".into(),
        ));
    }
    let log_chunks = kernels.log_quotient_chunks(pk, airs, &log_degrees);

    let shape = BatchShape {
        trace_widths: airs.iter().map(|a| a.width()).collect(),
        public_value_counts: public_values.iter().map(Vec::len).collect(),
        preprocessed_widths: pre_widths.clone(),
        has_preprocessed_commitment: common.preprocessed.is_some(),
        num_lookup_instances: all_lookups.iter().filter(|l| !l.is_empty()).count(),
        lookup_pow_bits: config.lookup_proof_of_work_bits(),
        has_randomization_commitment: true,
        ood_pow_bits: config.ood_proof_of_work_bits(),
    };
    let mut challenger = config.initialise_challenger();
    // CLOAK_GPU_HOST_GRIND=1 leaves the proof-of-work search on the host
    // (same witnesses; for comparing the two).
    if std::env::var_os("CLOAK_GPU_HOST_GRIND").is_none() {
        challenger.set_witness_search(std::sync::Arc::new(crate::grind::GpuWitnessSearch::new(
            gpu,
        )?));
    }
    let mut transcript = BatchProverTranscript::<DetChallenger, Val, Challenge, Commitment>::new(
        &mut challenger,
        shape,
    )
    .with_external_bus(Some(external));
    transcript.instance_bindings(&log_ext);

    let ctx = Ctx {
        gpu,
        ntt,
        zk,
        pk,
        kernels,
        common,
        airs,
        traces,
        public_values,
        all_lookups: &all_lookups,
        log_degrees: &log_degrees,
        log_chunks: &log_chunks,
        preprocessed,
    };
    match ctx.run(&mut transcript, main, times) {
        Ok(proof) => {
            transcript.finish();
            Ok(proof)
        }
        Err(e) => {
            transcript.abort();
            Err(e)
        }
    }
}

impl KernelCache {
    /// [`log_quotient_chunks`], made once per key and heights.
    fn log_quotient_chunks<A: ProvableAir>(
        &self,
        pk: &ProvingKey,
        airs: &[A],
        log_degrees: &[usize],
    ) -> Vec<usize> {
        let key = (pk.id(), log_degrees.to_vec());
        if let Some(v) = self.log_chunks.lock().expect("cache poisoned").get(&key) {
            return v.clone();
        }
        let v = log_quotient_chunks(pk, airs, log_degrees);
        let mut map = self.log_chunks.lock().expect("cache poisoned");
        if map.len() >= KERNEL_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(key, v.clone());
        v
    }
}

/// Each table's log2 of its quotient chunks (before the zero-knowledge
/// doubling), as p3-batch-stark computes it.
fn log_quotient_chunks<A: ProvableAir>(
    pk: &ProvingKey,
    airs: &[A],
    log_degrees: &[usize],
) -> Vec<usize> {
    let common = pk.common();
    let gadget = LogUpGadget::new();
    airs.iter()
        .zip(log_degrees)
        .enumerate()
        .map(|(i, (air, &log_n))| {
            let layout = AirLayout {
                preprocessed_width: common
                    .preprocessed
                    .as_ref()
                    .and_then(|g| g.instances.get(i)?.as_ref())
                    .map_or(0, |m| m.width),
                main_width: air.width(),
                num_public_values: air.num_public_values(),
                num_periodic_columns: air.num_periodic_columns(),
                ..Default::default()
            };
            p3_batch_stark::symbolic::get_log_num_quotient_chunks_for_domain::<
                Val,
                Challenge,
                A,
                _,
            >(
                air,
                layout,
                TwoAdicMultiplicativeCoset::new(Val::ONE, log_n).expect("two-adic"),
                common.lookups.get(i).map_or(&[][..], |l| &**l),
                1,
                common.trace_mask_len,
                &gadget,
            )
        })
        .collect()
}

/// What pass 2 of `airs`'s tables at these heights draws before its first
/// challenge-dependent step ([`crate::ahead`]).
pub fn ahead_plan<A: ProvableAir>(
    fri: FriSettings,
    pk: &ProvingKey,
    airs: &[A],
    heights: &[usize],
    kernels: &KernelCache,
) -> Result<AheadPlan> {
    let lookups = &pk.common().lookups;
    if heights.len() != airs.len() || lookups.len() != airs.len() {
        return Err(GpuError::Invalid(
            "one height and one lookup list per table".into(),
        ));
    }
    if let Some(&h) = heights.iter().find(|h| !h.is_power_of_two()) {
        return Err(GpuError::Invalid(format!("a table of {h} rows")));
    }
    let log_degrees: Vec<usize> = heights
        .iter()
        .map(|h| h.trailing_zeros() as usize)
        .collect();
    let log_chunks = kernels.log_quotient_chunks(pk, airs, &log_degrees);
    Ok(AheadPlan {
        // Tables with lookups, their LogUp columns 4 words each.
        permutation: heights
            .iter()
            .zip(lookups)
            .filter(|(_, l)| !l.is_empty())
            .map(|(&h, l)| (h, 4 * crate::codegen::permutation_width(l.len())))
            .collect(),
        quotient: log_degrees
            .iter()
            .zip(&log_chunks)
            .map(|(&log_n, &lc)| (log_n + 1 + lc, 1usize << (lc + 1)))
            .collect(),
        random: heights.iter().map(|&h| 2 * h).collect(),
        fri,
    })
}

struct Ctx<'a, A> {
    gpu: &'a GpuContext,
    ntt: &'a Ntt,
    zk: &'a ZkRandomness,
    pk: &'a ProvingKey,
    kernels: &'a KernelCache,
    common: &'a CommonData<Config>,
    airs: &'a [A],
    traces: Option<&'a [RowMajorMatrix<Val>]>,
    public_values: &'a [Vec<Val>],
    all_lookups: &'a [&'a [Lookup<Val>]],
    log_degrees: &'a [usize],
    log_chunks: &'a [usize],
    preprocessed: Option<&'a PreprocessedRound>,
}

type Transcript<'t> = BatchProverTranscript<'t, DetChallenger, Val, Challenge, Commitment>;

impl<A: ProvableAir> Ctx<'_, A> {
    fn run(
        &self,
        transcript: &mut Transcript<'_>,
        main: Option<MainCommitted>,
        times: &mut StageTimes,
    ) -> Result<StarkProof> {
        let (gpu, ntt, fri) = (self.gpu, self.ntt, self.zk.fri);
        let n = self.airs.len();

        // Main traces: uploaded as they are, and kept.
        let t0 = Instant::now();
        let mut draws = Duration::ZERO;
        let (main_commit, main_traces, main_round, mut mask_rng, mut salt_rng, ahead) = match main {
            Some(m) => (
                m.commitment,
                m.traces,
                m.round,
                m.mask_rng,
                m.salt_rng,
                m.ahead,
            ),
            None => {
                let (mut salts, mut masks) = self.zk.pcs_streams();
                let traces = self
                    .traces
                    .ok_or_else(|| GpuError::Invalid("no traces to upload".into()))?
                    .iter()
                    .map(|t| DeviceMatrix::upload_packed(gpu, t))
                    .collect::<Result<Vec<_>>>()?;
                let refs: Vec<&DeviceMatrix> = traces.iter().collect();
                let mut zk = ZkDraws::Streams {
                    masks: &mut masks,
                    salts: &mut salts,
                };
                let (c, r) = commit_traces(gpu, ntt, fri, &refs, &mut zk, &mut draws)?;
                (c, traces, r, masks, salts, None)
            }
        };
        // The rest of the proof's draws: made in pass 1 (and checked to be
        // for these shapes as they are taken), or now.
        // The reservation is held until the proof is done with them.
        let (mut drawn, random_ahead, _reserved) = match ahead.map(Ahead::into_parts) {
            Some((drawn, random, reserved)) => (Some(drawn), Some(random), reserved),
            None => (None, None, None),
        };
        let mut zk = match drawn.as_mut() {
            Some(d) => ZkDraws::Ahead(d),
            None => ZkDraws::Streams {
                masks: &mut mask_rng,
                salts: &mut salt_rng,
            },
        };
        transcript.main_phase(main_commit.clone(), self.public_values);
        transcript.preprocessed_phase(self.preprocessed.map(|p| p.commitment.clone()));
        times.main_commit += t0.elapsed();

        // LogUp: challenges, then the permutation traces made on the device
        // from the main traces there, and their commitment.
        let t0 = Instant::now();
        let grind = crate::profile::span(gpu, "grinding");
        let (challenges, lookup_pow_witness) =
            transcript.lookup_phase(self.all_lookups, &LogUpGadget::new());
        drop(grind);
        let mut terminals: Vec<Option<LookupTerminal<Challenge>>> = vec![None; n];
        let mut perm_traces = Vec::new();
        let mut perm_index = vec![usize::MAX; n];
        // Every table's scalars up in one copy, every terminal down in one
        // (a copy each would wait for the GPU in CC mode).
        let with_lookups: Vec<usize> = (0..n)
            .filter(|&i| !self.all_lookups[i].is_empty())
            .collect();
        let mut scalars = Vec::with_capacity(with_lookups.len());
        let mut all_words: Vec<u32> = Vec::new();
        for &i in &with_lookups {
            let sc = LogupScalars::new(&self.public_values[i], &challenges[i]);
            let at = all_words.len();
            all_words.extend_from_slice(&sc.words);
            scalars.push((sc, at));
        }
        let scalars_dev = gpu.upload(&crate::field::nonempty_words(&all_words))?;
        let mut terminals_dev = gpu.alloc_u32((4 * with_lookups.len()).max(1))?;
        for (k, (&i, (sc, at))) in with_lookups.iter().zip(&scalars).enumerate() {
            let kernels = self.table_kernels(i)?;
            let kernel = kernels
                .logup
                .as_ref()
                .expect("a table with lookups has LogUp kernels");
            let prep = self
                .pre_matrix(i)
                .zip(self.preprocessed)
                .map(|(m, p)| (&p.tables[m].buf, p.tables[m].width));
            let _s = crate::profile::span(gpu, "permutation: LogUp traces");
            let perm = permutation_deferred(
                gpu,
                kernel,
                &main_traces[i].buf,
                main_traces[i].height,
                main_traces[i].width,
                prep,
                sc,
                &scalars_dev.slice(*at..*at + sc.words.len()),
                &mut terminals_dev.slice_mut(4 * k..4 * k + 4),
            )?;
            perm_index[i] = perm_traces.len();
            perm_traces.push(perm);
        }
        if !with_lookups.is_empty() {
            let values = crate::field::ext_from_raw(gpu.download(&terminals_dev)?)?;
            for (&i, v) in with_lookups.iter().zip(values) {
                terminals[i] = Some(LookupTerminal(v));
            }
        }
        drop(main_traces);
        let perm = if perm_traces.is_empty() {
            None
        } else {
            let refs: Vec<&DeviceMatrix> = perm_traces.iter().collect();
            let _s = crate::profile::span(gpu, "permutation: commit");
            Some(commit_traces(gpu, ntt, fri, &refs, &mut zk, &mut draws)?)
        };
        drop(perm_traces);
        let terminal_values: Vec<Challenge> = terminals.iter().flatten().map(|t| t.0).collect();
        let alpha =
            transcript.permutation_phase(perm.as_ref().map(|(c, _)| c.clone()), &terminal_values);
        times.permutation += t0.elapsed();

        // Quotients, evaluated where the LDEs are. Every table's scalars go
        // up in one copy first (a copy per table would each wait for the
        // GPU in CC mode).
        let t0 = Instant::now();
        let mut scalars = Vec::with_capacity(n);
        let mut all_words: Vec<u32> = Vec::new();
        for i in 0..n {
            let log_n = self.log_degrees[i];
            let perm_vals: Vec<Challenge> = terminals[i].iter().map(|t| t.0).collect();
            let inputs = QuotientInputs {
                log_n,
                log_q: log_n + 1 + self.log_chunks[i],
                shift: Val::GENERATOR,
                main: &[],
                preprocessed: &[],
                permutation: &[],
                public_values: &self.public_values[i],
                challenges: &challenges[i],
                permutation_values: &perm_vals,
                alpha,
            };
            let sc = QuotientScalars::new(&self.table_kernels(i)?.quotient, &inputs)?;
            let at = all_words.len();
            all_words.extend_from_slice(&sc.words);
            scalars.push((sc, at));
        }
        let scalars_dev = gpu.upload(&all_words)?;
        let mut quotients = Vec::with_capacity(n);
        for i in 0..n {
            let air = &self.airs[i];
            let kernels = self.table_kernels(i)?;
            let kernel = &kernels.quotient;
            let log_n = self.log_degrees[i];
            let log_q = log_n + 1 + self.log_chunks[i];
            let cols = crate::profile::span(gpu, "quotient: columns on the quotient domain");
            let main_cols = on_quotient_domain(
                gpu,
                ntt,
                &main_round.ldes[i],
                fri.log_blowup,
                air.width(),
                log_q,
            )?;
            let pre_cols = match (self.preprocessed, kernel.preprocessed_width) {
                (Some(p), w) if w > 0 => {
                    let idx = self.pre_matrix(i).ok_or_else(|| {
                        GpuError::Invalid(format!("table {i}: no preprocessed matrix"))
                    })?;
                    on_quotient_domain(gpu, ntt, &p.round.ldes[idx], fri.log_blowup, w, log_q)?
                }
                _ => gpu.alloc_u32(1)?,
            };
            let perm_cols = match &perm {
                Some((_, r)) if perm_index[i] != usize::MAX => on_quotient_domain(
                    gpu,
                    ntt,
                    &r.ldes[perm_index[i]],
                    fri.log_blowup,
                    4 * kernel.permutation_width,
                    log_q,
                )?,
                _ => gpu.alloc_u32(1)?,
            };
            drop(cols);
            let _s = crate::profile::span(gpu, "quotient: constraint kernel");
            let (sc, at) = &scalars[i];
            let values = quotient_with_scalars(
                gpu,
                kernel,
                &DeviceColumns {
                    main: &main_cols,
                    preprocessed: &pre_cols,
                    permutation: &perm_cols,
                },
                sc,
                &scalars_dev.slice(*at..*at + sc.words.len()),
            )?;
            quotients.push(TableQuotient {
                values,
                log_q,
                num_chunks: 1 << (self.log_chunks[i] + 1),
            });
        }
        times.quotient += t0.elapsed();

        let t0 = Instant::now();
        let chunks = crate::profile::span(gpu, "quotient chunks: commit");
        let (quotient_commit, quotient_round) =
            commit_quotient(gpu, ntt, fri, &quotients, &mut zk)?;
        drop(chunks);
        let random = crate::profile::span(gpu, "random polynomial: commit");
        drop(quotients);
        let (random_commit, random_round) = match random_ahead {
            Some(r) => r,
            None => {
                let ext_heights: Vec<usize> =
                    self.log_degrees.iter().map(|d| 2usize << d).collect();
                commit_random(gpu, ntt, fri, &ext_heights, &mut zk)?
            }
        };
        drop(random);
        if drawn.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(GpuError::Invalid(
                "draws made ahead that the proof did not take".into(),
            ));
        }
        transcript.quotient_phase(quotient_commit.clone(), Some(random_commit.clone()));
        let grind = crate::profile::span(gpu, "grinding");
        let (zeta, ood_pow_witness) = transcript.ood_phase();
        drop(grind);
        times.quotient_commit += t0.elapsed();

        // The opening rounds, in p3-batch-stark's order: random, main,
        // quotient chunks, preprocessed, permutation.
        let next = |i: usize| zeta * Val::two_adic_generator(self.log_degrees[i]);
        let mut rounds: Vec<(&Round, Vec<Vec<Challenge>>, usize)> = Vec::new();
        rounds.push((
            &random_round,
            (0..n).map(|_| vec![zeta]).collect(),
            NUM_RANDOM_CODEWORDS,
        ));
        rounds.push((
            &main_round,
            (0..n)
                .map(|i| {
                    if self.airs[i].main_next_row_columns().is_empty() {
                        vec![zeta]
                    } else {
                        vec![zeta, next(i)]
                    }
                })
                .collect(),
            NUM_RANDOM_CODEWORDS,
        ));
        rounds.push((
            &quotient_round,
            quotient_round.ldes.iter().map(|_| vec![zeta]).collect(),
            NUM_RANDOM_CODEWORDS,
        ));
        if let Some((p, global)) = self.preprocessed.zip(self.common.preprocessed.as_ref()) {
            let points = global
                .matrix_to_instance
                .iter()
                .map(|&i| {
                    if self.airs[i].preprocessed_next_row_columns().is_empty() {
                        vec![zeta]
                    } else {
                        vec![zeta, next(i)]
                    }
                })
                .collect();
            rounds.push((&p.round, points, 0));
        }
        if let Some((_, r)) = &perm {
            let points = (0..n)
                .filter(|&i| !self.all_lookups[i].is_empty())
                .map(|i| vec![zeta, next(i)])
                .collect();
            rounds.push((r, points, NUM_RANDOM_CODEWORDS));
        }

        let (mut opened, opening_proof) = transcript
            .delegate(|challenger| open_rounds(gpu, self.zk, &rounds, challenger, times))?;

        // Per-instance opened values, as p3-batch-stark assembles them.
        let layout = p3_uni_stark::StarkOpeningLayout::new(true);
        let perm_round = if self.preprocessed.is_some() {
            layout.preprocessed + 1
        } else {
            layout.preprocessed
        };
        let mut perm_values = if perm.is_some() {
            std::mem::take(&mut opened[perm_round]).into_iter()
        } else {
            Vec::new().into_iter()
        };
        let mut quotient_values = std::mem::take(&mut opened[layout.quotient]).into_iter();
        let mut instances = Vec::with_capacity(n);
        for i in 0..n {
            let random = Some(opened[0][i][0].clone());
            let tv = &opened[layout.trace][i];
            let trace_next =
                (!self.airs[i].main_next_row_columns().is_empty()).then(|| tv[1].clone());
            let quotient_chunks = (0..1usize << (self.log_chunks[i] + 1))
                .map(|_| quotient_values.next().map(|mut v| v.swap_remove(0)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| GpuError::Invalid("missing quotient openings".into()))?;
            let preprocessed = match self.pre_matrix(i) {
                Some(idx) => {
                    let vals = &opened[layout.preprocessed][idx];
                    Some(PreprocessedOpenedValues {
                        local: vals[0].clone(),
                        next: (!self.airs[i].preprocessed_next_row_columns().is_empty())
                            .then(|| vals[1].clone()),
                    })
                }
                None => None,
            };
            let (permutation_local, permutation_next) = if self.all_lookups[i].is_empty() {
                (vec![], vec![])
            } else {
                let mut v = perm_values
                    .next()
                    .ok_or_else(|| GpuError::Invalid("missing permutation openings".into()))?;
                let next = v.pop().unwrap_or_default();
                let local = v.pop().unwrap_or_default();
                (local, next)
            };
            instances.push(OpenedValuesWithLookups {
                base_opened_values: OpenedValues {
                    trace_local: tv[0].clone(),
                    trace_next,
                    preprocessed,
                    quotient_chunks,
                    random,
                },
                permutation_local,
                permutation_next,
            });
        }

        Ok(p3_batch_stark::BatchProof {
            commitments: BatchCommitments {
                main: main_commit,
                permutation: perm.map(|(c, _)| c),
                quotient_chunks: quotient_commit,
                random: Some(random_commit),
            },
            opened_values: BatchOpenedValues { instances },
            opening_proof,
            lookup_terminals: terminals,
            degree_bits: self.log_degrees.iter().map(|d| d + 1).collect(),
            lookup_pow_witness,
            ood_pow_witness,
        })
    }

    /// Table `i`'s generated kernels (cached per proving key).
    fn table_kernels(&self, i: usize) -> Result<std::sync::Arc<TableKernels>> {
        let pre_width = self
            .pre_matrix(i)
            .and_then(|m| self.preprocessed.map(|p| p.tables[m].width))
            .unwrap_or(0);
        self.kernels
            .get(self.pk, i, &self.airs[i], self.all_lookups[i], pre_width)
    }

    /// Table `i`'s matrix in the preprocessed commitment, if it has one.
    fn pre_matrix(&self, i: usize) -> Option<usize> {
        self.common
            .preprocessed
            .as_ref()
            .and_then(|g| g.instances[i].as_ref())
            .map(|m| m.matrix_index)
    }
}

/// Opened values per round, matrix, point and column.
type AllOpened = Vec<Vec<Vec<Vec<Challenge>>>>;
/// The hiding PCS's opening proof.
type PcsProof = <cloak_prover::config::Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::Proof;
/// One opening round: its data, each matrix's points, and how many trailing
/// random-codeword columns its matrices carry (hidden from the caller).
type OpenRound<'r> = (&'r Round, Vec<Vec<Challenge>>, usize);

/// `HidingFriPcs::open_with_preprocessing` over the device rounds: the
/// evaluations, the claimed openings bound, the batch challenge, the
/// reduced openings, FRI; then the random codewords' values split off.
fn open_rounds(
    gpu: &GpuContext,
    zk: &ZkRandomness,
    rounds: &[OpenRound<'_>],
    challenger: &mut DetChallenger,
    times: &mut StageTimes,
) -> Result<(AllOpened, PcsProof)> {
    let t0 = Instant::now();
    // The traces' masks are sized for two opening points (as the PCS's
    // `open` checks): a third would disclose more than they hide.
    if let Some(n) = rounds
        .iter()
        .flat_map(|(_, points, _)| points.iter().map(Vec::len))
        .find(|&n| n > p3_fri::TRACE_MASK_POINTS)
    {
        return Err(GpuError::Invalid(format!(
            "a matrix opened at {n} points: the masks hide {}",
            p3_fri::TRACE_MASK_POINTS
        )));
    }
    let fri = zk.fri;
    let params = fri.fri_parameters(());
    let max_h = rounds
        .iter()
        .flat_map(|(r, _, _)| r.ldes.iter().map(|m| m.height))
        .max()
        .ok_or_else(|| GpuError::Invalid("nothing to open".into()))?;
    let log_max = max_h.trailing_zeros() as usize;
    // 1/(z - x) over the tallest coset for each distinct point; shorter
    // matrices read a prefix (bit-reversed order).
    let mut invs: Vec<(Challenge, DeviceExtVec)> = Vec::new();
    for (_, points, _) in rounds {
        for &z in points.iter().flatten() {
            if !invs.iter().any(|(p, _)| *p == z) {
                invs.push((z, inv_denoms(gpu, z, log_max)?));
            }
        }
    }
    let inv_of = |z: Challenge| -> &DeviceExtVec {
        &invs
            .iter()
            .find(|(p, _)| *p == z)
            .expect("every point has its denominators")
            .1
    };
    let evaluations = crate::profile::span(gpu, "open: evaluations at the points");
    let mut all_opened: AllOpened = Vec::with_capacity(rounds.len());
    for (r, points, _) in rounds {
        if r.ldes.len() != points.len() {
            return Err(GpuError::Invalid(
                "one point list per committed matrix".into(),
            ));
        }
    }
    // Every matrix's values at its points into one buffer, then one download.
    let words: usize = rounds
        .iter()
        .flat_map(|(r, points, _)| r.ldes.iter().zip(points.iter()))
        .map(|(m, pts)| 4 * m.width * pts.len())
        .sum();
    let mut values = gpu.alloc_u32(words.max(1))?;
    let mut at = 0;
    for (r, points, _) in rounds {
        for (m, pts) in r.ldes.iter().zip(points.iter()) {
            // Both points of a matrix from one read of it (checked above:
            // at most two).
            let pts: Vec<_> = pts.iter().map(|&z| (z, inv_of(z))).collect();
            if pts.is_empty() {
                continue;
            }
            let n = 4 * m.width * pts.len();
            let mut out = values.slice_mut(at..at + n);
            evaluate_into(gpu, m, fri.log_blowup, &pts, &mut out)?;
            at += n;
        }
    }
    let values = crate::field::ext_from_raw(gpu.download(&values)?)?;
    let mut values = values.into_iter();
    for (r, points, _) in rounds {
        let mut round = Vec::with_capacity(points.len());
        for (m, pts) in r.ldes.iter().zip(points.iter()) {
            round.push(
                pts.iter()
                    .map(|_| values.by_ref().take(m.width).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            );
        }
        all_opened.push(round);
    }

    drop(evaluations);
    let mut pt = PcsProverTranscript::<DetChallenger, Val, Challenge>::new(
        challenger,
        PcsShape::from_opened_values(&params, &all_opened),
    );
    pt.claimed_openings(&all_opened);
    let grind = crate::profile::span(gpu, "grinding");
    let (alpha, batch_pow) = pt.batch_phase();
    drop(grind);
    let _reduce = crate::profile::span(gpu, "open: reduced openings");
    let batch_pow_witness = batch_pow.unwrap_or(Val::ZERO);

    let reduced = (|| -> Result<Vec<DeviceExtVec>> {
        let mut num_reduced = [0usize; 33];
        let mut ro: [Option<DeviceExtVec>; 33] = std::array::from_fn(|_| None);
        // Every matrix's powers of alpha (times its first offset), host-side
        // in one pass, then uploaded in one copy: a copy per matrix would
        // each wait for the GPU in CC mode.
        let mut apows: Vec<Challenge> = Vec::new();
        let mut plan = Vec::new();
        for ((r, points, _), opened_round) in rounds.iter().zip(&all_opened) {
            for ((m, pts), opened_mat) in r.ldes.iter().zip(points).zip(opened_round) {
                let lh = m.height.trailing_zeros() as usize;
                let first = alpha.exp_u64(num_reduced[lh] as u64);
                let at = apows.len();
                apows.extend(alpha.powers().take(m.width).map(|p| p * first));
                let mut rp = Vec::with_capacity(pts.len());
                for (k, (&z, values)) in pts.iter().zip(opened_mat).enumerate() {
                    let offset = alpha.exp_u64(num_reduced[lh] as u64);
                    let combined: Challenge = alpha.powers().zip(values).map(|(a, &v)| a * v).sum();
                    let rescale = if k == 0 {
                        Challenge::ONE
                    } else {
                        alpha.exp_u64((k * m.width) as u64)
                    };
                    rp.push(ReducePoint {
                        weighted_openings: offset * combined,
                        rescale,
                        inv: inv_of(z),
                    });
                    num_reduced[lh] += m.width;
                }
                plan.push((m, lh, at, rp));
            }
        }
        let apows = gpu.upload(crate::field::ext_as_raw(&apows))?;
        for (m, lh, at, rp) in plan {
            if ro[lh].is_none() {
                ro[lh] = Some(zero_ext(gpu, m.height)?);
            }
            reduce(
                gpu,
                m,
                &apows.slice(4 * at..4 * (at + m.width)),
                &rp,
                ro[lh].as_mut().expect("initialised above"),
            )?;
        }
        Ok(ro.into_iter().rev().flatten().collect())
    })();
    let reduced = match reduced {
        Ok(r) => r,
        Err(e) => {
            pt.abort();
            return Err(e);
        }
    };
    times.open += t0.elapsed();

    let fri_proof = pt.delegate(|ch| {
        prove_fri(
            gpu,
            zk,
            &params,
            reduced,
            ch,
            log_max,
            rounds,
            batch_pow_witness,
            times,
        )
    });
    let fri_proof = match fri_proof {
        Ok(p) => p,
        Err(e) => {
            pt.abort();
            return Err(e);
        }
    };
    pt.finish();

    let hidden: AllOpened = all_opened
        .iter_mut()
        .zip(rounds)
        .map(|(round, (_, _, random_cols))| {
            round
                .iter_mut()
                .map(|mat| {
                    mat.iter_mut()
                        .map(|values| {
                            let split = values.len().saturating_sub(*random_cols);
                            values.drain(split..).collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok((all_opened, (hidden, fri_proof)))
}

/// The FRI proof inside a [`StarkProof`].
pub type GpuFriProof = p3_fri::FriProof<
    Challenge,
    cloak_prover::config::ChallengeMmcs,
    Val,
    Vec<BatchMultiOpening<Val, cloak_prover::config::ValMmcs>>,
>;

/// p3-fri's `prove_fri` (arity 2) over the reduced openings on the device:
/// layers committed with the FRI MMCS's salts and folded there, the final
/// polynomial and the query answers downloaded.
#[allow(clippy::too_many_arguments)]
fn prove_fri(
    gpu: &GpuContext,
    zk: &ZkRandomness,
    params: &p3_fri::FriParameters<()>,
    inputs: Vec<DeviceExtVec>,
    challenger: &mut DetChallenger,
    log_max: usize,
    rounds: &[OpenRound<'_>],
    batch_pow_witness: Val,
    times: &mut StageTimes,
) -> Result<GpuFriProof> {
    let t0 = Instant::now();
    let input_log_heights: Vec<usize> = inputs
        .iter()
        .map(|v| v.len.trailing_zeros() as usize)
        .collect();
    if input_log_heights.first() != Some(&log_max) {
        return Err(GpuError::Invalid(
            "FRI's first input must be the tallest".into(),
        ));
    }
    let shape = FriShape::new(params, &input_log_heights, log_max);
    let log_arities = shape.log_arities.clone();
    if log_arities.iter().any(|&a| a != 1) {
        return Err(GpuError::Invalid(format!(
            "FRI arities {log_arities:?}: the GPU folds by 2 only"
        )));
    }
    // Anything that fails below leaves the FRI transcript unfinished; it is
    // forgotten rather than dropped (its drop check would panic), and the
    // caller aborts the PCS transcript around it.
    let mut t = ProverTranscript::<DetChallenger, Val, Challenge>::new(challenger, shape);
    let mut fri_salts = {
        let (mut salts, _) = zk.streams();
        <SaltRng as SeedableRng>::from_rng(&mut salts)
    };
    let commit_phase = (|| -> Result<_> {
        let mut inputs = inputs.into_iter().peekable();
        let mut folded = inputs.next().expect("checked nonempty");
        let (mut commits, mut layers, mut pow_witnesses) = (Vec::new(), Vec::new(), Vec::new());
        // Every layer's salts (layer r commits 2^(log_max - r) elements as
        // half as many rows), drawn up front in one call.
        let heights: Vec<usize> = (0..log_arities.len())
            .map(|r| 1usize << (log_max - r - 1))
            .collect();
        let mut salts = crate::zkrng::salts_split(gpu, &mut fri_salts, &heights)?.into_iter();
        for _ in &log_arities {
            let span = crate::profile::span(gpu, "fri: layer commits");
            let layer = commit_layer_with_salts(
                gpu,
                folded,
                salts.next().expect("one salt matrix a layer"),
            )?;
            let commit = MerkleCap::new(vec![layer.tree.root(gpu)?]);
            drop(span);
            let grind = crate::profile::span(gpu, "grinding");
            let (beta, witness) = t.commit_round(commit.clone());
            drop(grind);
            let _fold = crate::profile::span(gpu, "fri: fold");
            commits.push(commit);
            pow_witnesses.push(witness.unwrap_or(Val::ZERO));
            folded = fold(gpu, &layer.ldes[0], beta)?;
            layers.push(layer);
            if let Some(v) = inputs.next_if(|v| v.len == folded.len) {
                add_scaled(gpu, &mut folded, &v, beta.exp_power_of_2(1))?;
            }
        }
        let mut last = folded.download(gpu)?;
        last.truncate(params.final_poly_len());
        p3_util::reverse_slice_index_bits(&mut last);
        let final_poly = p3_dft::Radix2DFTSmallBatch::<Val>::default().idft_algebra(last);
        Ok((commits, layers, pow_witnesses, final_poly))
    })();
    let (commits, layers, pow_witnesses, final_poly) = match commit_phase {
        Ok(c) => c,
        Err(e) => {
            std::mem::forget(t);
            return Err(e);
        }
    };
    let grind = crate::profile::span(gpu, "grinding");
    let (indices, query_pow) = t.query_phase(&final_poly);
    drop(grind);
    t.finish();
    times.fri += t0.elapsed();

    let t0 = Instant::now();
    // Every round's and FRI layer's answers in one gather and one download.
    let mut requests: Vec<(&Round, Vec<usize>)> = rounds
        .iter()
        .map(|(r, _, _)| {
            let bits = log_max - r.max_height().trailing_zeros() as usize;
            (*r, indices.iter().map(|&i| i >> bits).collect())
        })
        .collect();
    let mut current = indices.clone();
    for layer in &layers {
        current = current.iter().map(|&i| i >> 1).collect();
        requests.push((layer, current.clone()));
    }
    let refs: Vec<(&Round, &[usize])> = requests.iter().map(|(r, i)| (*r, &i[..])).collect();
    let mut answers = crate::rounds::open_many(gpu, &refs)?.into_iter();
    let input_openings = rounds
        .iter()
        .map(|_| {
            let o = answers.next().expect("one answer per round");
            BatchMultiOpening {
                opened_values: o.rows,
                opening_proof: (o.salts, o.paths),
            }
        })
        .collect::<Vec<_>>();
    let mut current = indices;
    let mut commit_phase_openings = Vec::with_capacity(layers.len());
    for _ in &layers {
        let groups: Vec<usize> = current.iter().map(|&i| i >> 1).collect();
        let o = answers.next().expect("one answer per layer");
        let sibling_values = current
            .iter()
            .zip(&o.rows)
            .map(|(&i, rows)| {
                let row: Vec<Challenge> = rows[0]
                    .chunks_exact(4)
                    .map(|c| Challenge::from_basis_coefficients_slice(c).expect("4 coordinates"))
                    .collect();
                row.into_iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i % 2)
                    .map(|(_, v)| v)
                    .collect()
            })
            .collect();
        commit_phase_openings.push(CommitPhaseMultiStep {
            sibling_values,
            opening_proof: (o.salts, o.paths),
        });
        current = groups;
    }
    times.queries += t0.elapsed();
    Ok(FriProof {
        batch_pow_witness,
        commit_phase_commits: commits,
        commit_pow_witnesses: pow_witnesses,
        input_openings,
        commit_phase_openings,
        final_poly,
        query_pow_witness: query_pow.unwrap_or(Val::ZERO),
    })
}
