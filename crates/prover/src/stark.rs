//! Keys, proving and verifying for a fixed list of AIRs (one instance each,
//! possibly of different heights) under one commitment, with LogUp buses
//! between them (`p3-batch-stark`).

use crate::config::{seeded_config, Challenge, Config, FriSettings, Val, KEYGEN_SEED};
use crate::proof::StarkProof;
use p3_air::Air;
use p3_batch_stark::common::ProverOnlyData;
use p3_batch_stark::folder::{
    ProverConstraintFolderWithLookups, VerifierConstraintFolderWithLookups,
};
use p3_batch_stark::{prove_batch, verify_batch, CommonData, ProverData, StarkInstance};
use p3_lookup::InteractionSymbolicBuilder;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use p3_uni_stark::StarkGenericConfig;
use std::panic::{catch_unwind, AssertUnwindSafe};
use thiserror::Error;

/// What an AIR must support to be proven and verified here. (The prover also
/// runs Plonky3's debug constraint checks in builds with debug assertions.)
#[cfg(debug_assertions)]
pub trait ProvableAir:
    for<'a> Air<p3_air::DebugConstraintBuilder<'a, Val, Challenge>>
    + Air<InteractionSymbolicBuilder<Val, Challenge>>
    + for<'a> Air<ProverConstraintFolderWithLookups<'a, Config>>
    + for<'a> Air<VerifierConstraintFolderWithLookups<'a, Config>>
    + Clone
    + Sync
{
}
#[cfg(debug_assertions)]
impl<A> ProvableAir for A where
    A: for<'a> Air<p3_air::DebugConstraintBuilder<'a, Val, Challenge>>
        + Air<InteractionSymbolicBuilder<Val, Challenge>>
        + for<'a> Air<ProverConstraintFolderWithLookups<'a, Config>>
        + for<'a> Air<VerifierConstraintFolderWithLookups<'a, Config>>
        + Clone
        + Sync
{
}

/// What an AIR must support to be proven and verified here.
#[cfg(not(debug_assertions))]
pub trait ProvableAir:
    Air<InteractionSymbolicBuilder<Val, Challenge>>
    + for<'a> Air<ProverConstraintFolderWithLookups<'a, Config>>
    + for<'a> Air<VerifierConstraintFolderWithLookups<'a, Config>>
    + Clone
    + Sync
{
}
#[cfg(not(debug_assertions))]
impl<A> ProvableAir for A where
    A: Air<InteractionSymbolicBuilder<Val, Challenge>>
        + for<'a> Air<ProverConstraintFolderWithLookups<'a, Config>>
        + for<'a> Air<VerifierConstraintFolderWithLookups<'a, Config>>
        + Clone
        + Sync
{
}

#[derive(Debug, Error)]
pub enum ProveError {
    #[error("{tables} tables but {traces} traces and {publics} public-value vectors")]
    CountMismatch {
        tables: usize,
        traces: usize,
        publics: usize,
    },
    #[error("table {table}: trace height {height} is not the 2^{log_height} fixed at setup")]
    HeightMismatch {
        table: usize,
        height: usize,
        log_height: usize,
    },
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("proving failed: {0}")]
    Prover(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the proof does not verify: {0}")]
    Invalid(String),
    #[error("{tables} tables but {publics} public-value vectors")]
    CountMismatch { tables: usize, publics: usize },
    #[error("the verifier panicked on this proof (treated as invalid): {0}")]
    Panicked(String),
    #[error("commitment {which} has {roots} Merkle roots; Cloak commits with one (cap height 0)")]
    CapShape { which: String, roots: usize },
}

/// What the prover needs besides the traces: the committed preprocessed tables.
pub struct ProvingKey {
    pub fri: FriSettings,
    pub log_heights: Vec<usize>,
    data: ProverData<Config>,
    id: u64,
}

/// Source of [`ProvingKey::id`].
static NEXT_KEY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ProvingKey {
    /// Unique within the process: a key made by [`setup`] for its AIRs, so
    /// a backend may cache what it derives from `(key, table)` (the GPU's
    /// generated kernels) under this id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Each table's LogUp lookups after same-bus packing, exactly as the
    /// prover evaluates them (the GPU quotient kernels are generated from these).
    pub fn lookups(&self) -> &[p3_lookup::Lookups<Val>] {
        &self.data.common.lookups
    }

    /// [`VerifyingKey::commitment_bytes`] of this key's verifying key.
    pub fn commitment_bytes(&self) -> Vec<u8> {
        commitment_bytes(&self.data.common)
    }

    /// The proving key of the batch made of the tables with `keep[i]` set, in
    /// their order (as [`VerifyingKey::select`]): the preprocessed tables'
    /// commitment and prover data are this key's, copied, not committed
    /// again (every table with preprocessed columns must be kept).
    pub fn select(&self, keep: &[bool]) -> Result<ProvingKey, ProveError> {
        let common = select_common(&self.data.common, keep).map_err(ProveError::Setup)?;
        let prover_only = ProverOnlyData {
            preprocessed_prover_data: self.data.prover_only.preprocessed_prover_data.clone(),
        };
        Ok(ProvingKey {
            fri: self.fri,
            log_heights: select(&self.log_heights, keep),
            data: ProverData {
                common,
                prover_only,
            },
            id: NEXT_KEY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The data shared with the verifier (the preprocessed commitment and its
    /// layout, the lookups): what a backend that proves on another device
    /// re-derives its transcript and preprocessed tables from.
    pub fn common(&self) -> &CommonData<Config> {
        &self.data.common
    }
}

/// The postcard encoding of `common`'s preprocessed commitment (empty when
/// no table has preprocessed columns).
fn commitment_bytes(common: &CommonData<Config>) -> Vec<u8> {
    common
        .preprocessed
        .as_ref()
        .map(|p| postcard::to_allocvec(&p.commitment).unwrap_or_default())
        .unwrap_or_default()
}

/// What the verifier needs: the commitment to the preprocessed tables and the
/// table layout. Derived from the AIRs and heights alone (public data and a
/// public keygen seed), so a verifier recomputes it rather than trusting a file.
pub struct VerifyingKey {
    pub fri: FriSettings,
    pub log_heights: Vec<usize>,
    common: CommonData<Config>,
}

impl VerifyingKey {
    /// The postcard encoding of the preprocessed commitment (empty when no
    /// table has preprocessed columns): what identifies the program.
    pub fn commitment_bytes(&self) -> Vec<u8> {
        commitment_bytes(&self.common)
    }

    /// The key of the batch made of the tables with `keep[i]` set, in their
    /// order: what a proof that leaves out unused tables verifies against.
    /// Every table with preprocessed columns must be kept (their commitment
    /// is shared), so the selection needs no new commitment.
    pub fn select(&self, keep: &[bool]) -> Result<VerifyingKey, VerifyError> {
        let common = select_common(&self.common, keep).map_err(VerifyError::Invalid)?;
        Ok(VerifyingKey {
            fri: self.fri,
            log_heights: select(&self.log_heights, keep),
            common,
        })
    }

    /// LogUp auxiliary columns (each an extension-field element per row) per
    /// table, after same-bus packing: with the main widths, what a row costs.
    pub fn lookup_columns(&self) -> Vec<usize> {
        self.common.lookups.iter().map(|l| l.len()).collect()
    }

    /// Log2 of each table's quotient chunk count (before the zero-knowledge
    /// doubling) at the key's heights: the quotient is evaluated on a domain
    /// that many times the (zk-extended) trace, so a table's highest
    /// constraint degree and, with masked traces, its height set it
    /// (`p3_batch_stark::symbolic::masked_log_num_quotient_chunks`).
    pub fn log_quotient_chunks<A: ProvableAir>(&self, airs: &[A]) -> Vec<usize> {
        self.log_quotient_chunks_at(airs, &self.log_heights)
    }

    /// [`Self::log_quotient_chunks`] with the tables `2^log_heights[i]` rows tall.
    pub fn log_quotient_chunks_at<A: ProvableAir>(
        &self,
        airs: &[A],
        log_heights: &[usize],
    ) -> Vec<usize> {
        use crate::challenger::DetChallenger;
        let config = seeded_config(self.fri, KEYGEN_SEED);
        let pcs = config.pcs();
        airs.iter()
            .zip(log_heights)
            .zip(self.common.lookups.iter())
            .map(|((air, &log_height), lookups)| {
                let domain = <crate::config::Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::natural_domain_for_degree(pcs, 1 << log_height);
                p3_batch_stark::symbolic::get_log_num_quotient_chunks_for_domain::<
                    Val,
                    Challenge,
                    A,
                    _,
                >(
                    air,
                    p3_air::symbolic::AirLayout::from_air(air),
                    domain,
                    lookups,
                    config.is_zk(),
                    self.common.trace_mask_len,
                    &p3_lookup::LogUpGadget::new(),
                )
            })
            .collect()
    }
}

/// The common data of the batch made of the tables with `keep[i]` set, in
/// their order. Every table with preprocessed columns must be kept: their
/// commitment is shared, so the selection keeps it (and each matrix's index
/// in it) and only renumbers the tables.
fn select_common(common: &CommonData<Config>, keep: &[bool]) -> Result<CommonData<Config>, String> {
    if keep.len() != common.lookups.len() {
        return Err(format!(
            "a selection of {} tables from {}",
            keep.len(),
            common.lookups.len()
        ));
    }
    let mut new_index = vec![None; keep.len()];
    let mut n = 0;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            new_index[i] = Some(n);
            n += 1;
        }
    }
    let preprocessed = match &common.preprocessed {
        None => None,
        Some(g) => {
            let matrix_to_instance = g
                .matrix_to_instance
                .iter()
                .map(|&i| {
                    new_index[i].ok_or_else(|| {
                        format!("table {i} has preprocessed columns and cannot be left out")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(p3_batch_stark::common::GlobalPreprocessed {
                commitment: g.commitment.clone(),
                instances: select(&g.instances, keep),
                matrix_to_instance,
            })
        }
    };
    Ok(CommonData::new(preprocessed, select(&common.lookups, keep))
        .with_trace_mask_len(common.trace_mask_len))
}

/// The entries of `items` whose `keep` flag is set.
fn select<T: Clone>(items: &[T], keep: &[bool]) -> Vec<T> {
    items
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(x, _)| x.clone())
        .collect()
}

/// Commits the preprocessed tables of `airs` at the given trace heights (log2;
/// only the heights of tables with preprocessed columns are binding).
pub fn setup<A: ProvableAir>(
    fri: FriSettings,
    airs: &[A],
    log_heights: &[usize],
) -> Result<(ProvingKey, VerifyingKey), ProveError> {
    let pk = setup_proving_key(fri, airs, log_heights)?;
    // The verifier's copy of the common data: every table kept.
    let common =
        select_common(&pk.data.common, &vec![true; airs.len()]).map_err(ProveError::Setup)?;
    Ok((
        pk,
        VerifyingKey {
            fri,
            log_heights: log_heights.to_vec(),
            common,
        },
    ))
}

/// [`setup`]'s proving key alone: one derivation (a commitment of the
/// preprocessed tables) instead of two, for a prover that already holds the
/// verifying key.
pub fn setup_proving_key<A: ProvableAir>(
    fri: FriSettings,
    airs: &[A],
    log_heights: &[usize],
) -> Result<ProvingKey, ProveError> {
    let config = seeded_config(fri, KEYGEN_SEED);
    let ext: Vec<usize> = log_heights.iter().map(|h| h + config.is_zk()).collect();
    let data = ProverData::from_airs_and_degrees_masked(&config, airs, &ext, fri.trace_mask_len())
        .map_err(|e| ProveError::Setup(format!("{e:?}")))?;
    Ok(ProvingKey {
        fri,
        log_heights: log_heights.to_vec(),
        data,
        id: NEXT_KEY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    })
}

/// Proves one instance of each AIR. `config` carries the zero-knowledge
/// randomness ([`crate::fresh_config`], or [`crate::seeded_config`] for
/// reproducible proofs) and must use the key's FRI settings.
pub fn prove<A: ProvableAir>(
    config: &Config,
    pk: &ProvingKey,
    airs: &[A],
    traces: &[RowMajorMatrix<Val>],
    public_values: &[Vec<Val>],
) -> Result<StarkProof, ProveError> {
    check_shapes(pk, airs, traces, public_values)?;
    let trace_refs: Vec<&RowMajorMatrix<Val>> = traces.iter().collect();
    let instances = StarkInstance::new_multiple(airs, &trace_refs, public_values);
    prove_batch(config, &instances, &pk.data).map_err(|e| ProveError::Prover(format!("{e:?}")))
}

/// Counts and the heights fixed at setup.
pub fn check_shapes<A: ProvableAir>(
    pk: &ProvingKey,
    airs: &[A],
    traces: &[RowMajorMatrix<Val>],
    public_values: &[Vec<Val>],
) -> Result<(), ProveError> {
    let heights: Vec<usize> = traces.iter().map(|t| t.height()).collect();
    check_heights(pk, airs, &heights, public_values)
}

/// [`check_shapes`] from the traces' heights alone (traces held elsewhere).
pub fn check_heights<A: ProvableAir>(
    pk: &ProvingKey,
    airs: &[A],
    heights: &[usize],
    public_values: &[Vec<Val>],
) -> Result<(), ProveError> {
    if airs.len() != heights.len() || airs.len() != public_values.len() {
        return Err(ProveError::CountMismatch {
            tables: airs.len(),
            traces: heights.len(),
            publics: public_values.len(),
        });
    }
    // Tables with preprocessed columns have the height fixed at setup; the
    // others may take any height (the proof records it).
    for (table, ((air, &height), &log_height)) in
        airs.iter().zip(heights).zip(&pk.log_heights).enumerate()
    {
        let fixed = p3_air::BaseAir::<Val>::preprocessed_width(air) > 0;
        if fixed && height != 1 << log_height {
            return Err(ProveError::HeightMismatch {
                table,
                height,
                log_height,
            });
        }
    }
    Ok(())
}

/// Verifies a proof. Any malformed or adversarial proof gives an error: Plonky3's
/// verifier checks proof shapes itself, and a panic inside it (none is known)
/// is caught and reported as an invalid proof rather than taking the caller down.
pub fn verify<A: ProvableAir>(
    vk: &VerifyingKey,
    airs: &[A],
    proof: &StarkProof,
    public_values: &[Vec<Val>],
) -> Result<(), VerifyError> {
    if airs.len() != public_values.len() {
        return Err(VerifyError::CountMismatch {
            tables: airs.len(),
            publics: public_values.len(),
        });
    }
    single_root_caps(proof)?;
    // The verifier draws no randomness; any seed gives the same checks.
    let config = seeded_config(vk.fri, KEYGEN_SEED);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        verify_batch(&config, airs, proof, public_values, &vk.common)
    }));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(VerifyError::Invalid(format!("{e:?}"))),
        Err(panic) => Err(VerifyError::Panicked(panic_message(&*panic))),
    }
}

/// Every commitment of `proof` is a single root: the config commits with cap
/// height 0, and Plonky3's verifier would absorb extra roots into the
/// transcript while checking paths against the first only, so a proof with
/// more is refused outright rather than left to fail later.
fn single_root_caps(proof: &StarkProof) -> Result<(), VerifyError> {
    let c = &proof.commitments;
    let named = [
        ("main", Some(&c.main)),
        ("permutation", c.permutation.as_ref()),
        ("quotient", Some(&c.quotient_chunks)),
        ("random", c.random.as_ref()),
    ];
    let fri = proof.opening_proof.1.commit_phase_commits.iter();
    let caps = named
        .into_iter()
        .filter_map(|(n, cap)| Some((n.to_string(), cap?)))
        .chain(
            fri.enumerate()
                .map(|(i, cap)| (format!("FRI layer {i}"), cap)),
        );
    for (which, cap) in caps {
        let roots = cap.roots().len();
        if roots != 1 {
            return Err(VerifyError::CapShape { which, roots });
        }
    }
    Ok(())
}

/// The commitment type of main traces (and every other commitment).
pub type Commitment =
    <crate::config::Pcs as p3_commit::Pcs<Challenge, crate::challenger::DetChallenger>>::Commitment;

pub use p3_batch_stark::ExternalBus;

/// The prover's data behind a main-trace commitment (the randomized LDEs and
/// their Merkle trees), kept so that proving need not commit again.
pub struct MainData(p3_batch_stark::config::PcsData<Config>);

/// The main-trace commitment that [`prove_with_external`] makes for `traces`
/// under a config in the same state (e.g. seeded identically): the first
/// thing the prover commits to. Proofs that share an external bus derive its
/// challenges from these commitments before they are proven. The returned
/// data may be handed to [`prove_with_external`] (with this `config`, now
/// advanced past the commitment) to skip committing again, or dropped.
pub fn commit_main(
    config: &Config,
    traces: Vec<RowMajorMatrix<Val>>,
) -> Result<(Commitment, MainData), ProveError> {
    let pcs = config.pcs();
    let inputs = traces
        .into_iter()
        .map(|t| {
            let domain = <crate::config::Pcs as p3_commit::Pcs<
                Challenge,
                crate::challenger::DetChallenger,
            >>::natural_domain_for_degree(
                pcs, t.height() * (config.is_zk() + 1)
            );
            (domain, t)
        })
        .collect::<Vec<_>>();
    <crate::config::Pcs as p3_commit::Pcs<Challenge, crate::challenger::DetChallenger>>::commit(
        pcs, inputs,
    )
    .map(|(commitment, data)| (commitment, MainData(data)))
    .map_err(|e| ProveError::Prover(format!("main-trace commitment: {e:?}")))
}

/// The main-trace commitment a proof carries.
pub fn main_commitment(proof: &StarkProof) -> &Commitment {
    &proof.commitments.main
}

/// Challenges for a bus shared by several proofs: drawn from a transcript
/// that absorbs a domain tag and every proof's main-trace commitment, so no
/// proof's trace can depend on them.
pub fn shared_challenges(domain: &str, commitments: &[Commitment]) -> (Challenge, Challenge) {
    use p3_challenger::{CanObserve, FieldChallenger};
    use p3_field::PrimeCharacteristicRing;
    let mut challenger = seeded_config(FriSettings::DEFAULT, KEYGEN_SEED).initialise_challenger();
    for b in domain.bytes() {
        challenger.observe(Val::from_u8(b));
    }
    challenger.observe(Val::from_usize(commitments.len()));
    for c in commitments {
        challenger.observe(c.clone());
    }
    (
        challenger.sample_algebra_element(),
        challenger.sample_algebra_element(),
    )
}

/// [`prove`] with one bus whose challenges are given (see [`ExternalBus`]).
/// With `main` (from [`commit_main`] of these `traces`, under this `config`
/// before that commit), the main traces are not committed again.
pub fn prove_with_external<A: ProvableAir>(
    config: &Config,
    pk: &ProvingKey,
    airs: &[A],
    traces: &[RowMajorMatrix<Val>],
    public_values: &[Vec<Val>],
    external: ExternalBus<Challenge>,
    main: Option<(Commitment, MainData)>,
) -> Result<StarkProof, ProveError> {
    check_shapes(pk, airs, traces, public_values)?;
    let trace_refs: Vec<&RowMajorMatrix<Val>> = traces.iter().collect();
    let instances = StarkInstance::new_multiple(airs, &trace_refs, public_values);
    p3_batch_stark::prove_batch_with_external_committed(
        config,
        &instances,
        &pk.data,
        Some(external),
        main.map(|(commitment, data)| (commitment, data.0)),
    )
    .map_err(|e| ProveError::Prover(format!("{e:?}")))
}

/// [`verify`] with one bus whose challenges are given: the proof's LogUp
/// terminals must add up to `expected_sum`, that bus's share in this proof.
pub fn verify_with_external<A: ProvableAir>(
    vk: &VerifyingKey,
    airs: &[A],
    proof: &StarkProof,
    public_values: &[Vec<Val>],
    external: ExternalBus<Challenge>,
    expected_sum: Challenge,
) -> Result<(), VerifyError> {
    if airs.len() != public_values.len() {
        return Err(VerifyError::CountMismatch {
            tables: airs.len(),
            publics: public_values.len(),
        });
    }
    single_root_caps(proof)?;
    let config = seeded_config(vk.fri, KEYGEN_SEED);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        p3_batch_stark::verify_batch_with_external(
            &config,
            airs,
            proof,
            public_values,
            &vk.common,
            Some(external),
            expected_sum,
        )
    }));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(VerifyError::Invalid(format!("{e:?}"))),
        Err(panic) => Err(VerifyError::Panicked(panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
