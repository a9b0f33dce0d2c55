//! Checks of the generated quotient kernels against Plonky3's own CPU
//! quotient, `p3_batch_stark::prover::quotient_values` (the function the
//! prover calls), on every table of Cloak's machine: real traces from the
//! bundled guests and random inputs. Used by `cloak-gpu-check` (GPU) and by
//! `tests/quotient_emulation.rs` (the kernels compiled as C++, no GPU).
//!
//! The lookups come from the machine's own proving keys
//! (`cloak_prover::setup` over the machine's tables, as `MachineKeys` makes
//! them), so the LogUp constraints are packed exactly as when proving.

use cloak_machine::{MachineAir, MachineKeys, ProveOptions};
use cloak_prover::config::{seeded_config, Challenge, Config, Dft, FriSettings, Val, ZkRng};
use cloak_vm::Program;
use p3_air::BaseAir;
use p3_batch_stark::StarkGenericConfig;
use p3_commit::{Pcs, PolynomialSpace};
use p3_dft::TwoAdicSubgroupDft;
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{LogUpGadget, Lookup, LookupProtocol};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use rand::{RngExt, SeedableRng};

use crate::codegen::TableConstraints;
use crate::context::{GpuError, Result};
use crate::quotient::{column_major, QuotientInputs, QuotientKernel};

/// One table of the machine: its AIR, its packed lookups and its kernel.
pub struct Table {
    pub name: String,
    pub air: MachineAir,
    pub lookups: Vec<Lookup<Val>>,
    pub kernel: QuotientKernel,
    /// Log2 of the quotient chunks (before the zero-knowledge doubling).
    pub log_chunks: usize,
}

impl Table {
    /// The table `air` named `name`, with the lookups its proving key holds.
    pub fn new(name: &str, air: MachineAir, lookups: Vec<Lookup<Val>>) -> Result<Table> {
        let constraints = TableConstraints::of(&air, &lookups);
        let kernel = QuotientKernel::new(name, &constraints)?;
        let config = reference_config();
        let pcs = config.pcs();
        let log_chunks = p3_batch_stark::symbolic::get_log_num_quotient_chunks_for_domain::<
            Val,
            Challenge,
            _,
            _,
        >(
            &air,
            sym_layout(&air),
            natural_domain(pcs, 1 << 8),
            &lookups,
            config.is_zk(),
            FriSettings::DEFAULT.trace_mask_len(),
            &LogUpGadget::new(),
        );
        Ok(Table {
            name: name.to_string(),
            air,
            lookups,
            kernel,
            log_chunks,
        })
    }
}

/// The `AirLayout` p3-batch-stark's prover builds for a table.
fn sym_layout(air: &MachineAir) -> p3_air::symbolic::AirLayout {
    p3_air::symbolic::AirLayout {
        preprocessed_width: BaseAir::<Val>::preprocessed_trace(air).map_or(0, |t| t.width()),
        main_width: BaseAir::<Val>::width(air),
        num_public_values: BaseAir::<Val>::num_public_values(air),
        num_periodic_columns: BaseAir::<Val>::num_periodic_columns(air),
        ..Default::default()
    }
}

/// The PCS's domain of `n` points (shift 1).
fn natural_domain(
    pcs: &cloak_prover::config::Pcs,
    n: usize,
) -> p3_field::coset::TwoAdicMultiplicativeCoset<Val> {
    <cloak_prover::config::Pcs as Pcs<Challenge, cloak_prover::challenger::DetChallenger>>::natural_domain_for_degree(pcs, n)
}

/// A config for its PCS (domains, and the periodic table p3's
/// `quotient_values` asks it for); no randomness of it is used.
fn reference_config() -> Config {
    seeded_config(FriSettings::DEFAULT, [0; 32])
}

/// One evaluation's inputs as p3 takes them (row-major on the quotient
/// coset) and as the kernel takes them (column-major).
pub struct Case {
    pub label: String,
    pub log_n: usize,
    pub log_q: usize,
    pub shift: Val,
    pub main: RowMajorMatrix<Val>,
    pub preprocessed: Option<RowMajorMatrix<Val>>,
    /// Base coordinates of the permutation columns (`flatten_to_base`).
    pub permutation: Option<RowMajorMatrix<Val>>,
    pub public_values: Vec<Val>,
    pub challenges: Vec<Challenge>,
    pub permutation_values: Vec<Challenge>,
    pub alpha: Challenge,
    columns: [Vec<Val>; 3],
}

impl Case {
    /// The kernel's view of this case.
    pub fn inputs(&self) -> QuotientInputs<'_> {
        QuotientInputs {
            log_n: self.log_n,
            log_q: self.log_q,
            shift: self.shift,
            main: &self.columns[0],
            preprocessed: &self.columns[1],
            permutation: &self.columns[2],
            public_values: &self.public_values,
            challenges: &self.challenges,
            permutation_values: &self.permutation_values,
            alpha: self.alpha,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        label: String,
        log_n: usize,
        (log_q, shift): (usize, Val),
        main: RowMajorMatrix<Val>,
        preprocessed: Option<RowMajorMatrix<Val>>,
        permutation: Option<RowMajorMatrix<Val>>,
        public_values: Vec<Val>,
        challenges: Vec<Challenge>,
        permutation_values: Vec<Challenge>,
        alpha: Challenge,
    ) -> Case {
        let cm = |m: &Option<RowMajorMatrix<Val>>| m.as_ref().map(column_major).unwrap_or_default();
        let columns = [column_major(&main), cm(&preprocessed), cm(&permutation)];
        Case {
            label,
            log_n,
            log_q,
            shift,
            main,
            preprocessed,
            permutation,
            public_values,
            challenges,
            permutation_values,
            alpha,
            columns,
        }
    }
}

/// The quotient domain p3's prover uses for a `2^log_n`-row trace: the
/// zk-extended trace domain's disjoint coset, `2^(log_n + 1 + log_chunks)` points.
fn quotient_domain(table: &Table, log_n: usize) -> (usize, Val) {
    let config = reference_config();
    let pcs = config.pcs();
    let ext = log_n + config.is_zk();
    let ext_domain = natural_domain(pcs, 1 << ext);
    let d = ext_domain.create_disjoint_domain(1 << (ext + table.log_chunks));
    (d.log_size(), d.shift())
}

fn random_challenges(rng: &mut ZkRng, n: usize) -> Vec<Challenge> {
    (0..n).map(|_| rng.random()).collect()
}

/// Random columns, public values and challenges for a `2^log_n`-row trace.
pub fn random_case(table: &Table, log_n: usize, seed: u64) -> Case {
    let mut rng = ZkRng::seed_from_u64(seed);
    let (log_q, shift) = quotient_domain(table, log_n);
    let q = 1 << log_q;
    let k = &table.kernel;
    let mut mat = |w: usize| {
        (w > 0).then(|| RowMajorMatrix::new((0..q * w).map(|_| rng.random()).collect(), w))
    };
    let main = mat(k.main_width).unwrap_or_else(|| RowMajorMatrix::new(vec![], 0));
    let preprocessed = mat(k.preprocessed_width);
    let permutation = mat(4 * k.permutation_width);
    let public_values = (0..k.num_public_values).map(|_| rng.random()).collect();
    let challenges = random_challenges(&mut rng, k.num_challenges);
    let permutation_values = random_challenges(&mut rng, k.num_permutation_values);
    let alpha = rng.random();
    Case::new(
        format!("random 2^{log_n}"),
        log_n,
        (log_q, shift),
        main,
        preprocessed,
        permutation,
        public_values,
        challenges,
        permutation_values,
        alpha,
    )
}

/// A real trace: the trace, its preprocessed columns and its LogUp trace
/// (p3-lookup's `generate_permutation` under random challenges) extended
/// to the quotient coset with Plonky3's coset LDE.
pub fn trace_case(
    table: &Table,
    label: &str,
    trace: &RowMajorMatrix<Val>,
    public_values: &[Val],
    seed: u64,
) -> Case {
    let mut rng = ZkRng::seed_from_u64(seed);
    let log_n = trace.height().trailing_zeros() as usize;
    let (log_q, shift) = quotient_domain(table, log_n);
    let lde = |m: RowMajorMatrix<Val>| {
        Dft::default()
            .coset_lde_batch(m, log_q - log_n, shift)
            .to_row_major_matrix()
    };
    let k = &table.kernel;
    let challenges = random_challenges(&mut rng, k.num_challenges);
    let prep = BaseAir::<Val>::preprocessed_trace(&table.air);
    let (perm, terminal) = LogUpGadget::new().generate_permutation::<Val, Challenge>(
        trace,
        &prep,
        public_values,
        &table.lookups,
        &challenges,
    );
    let permutation = (perm.width() > 0).then(|| lde(perm.flatten_to_base()));
    Case::new(
        format!("{label} 2^{log_n}"),
        log_n,
        (log_q, shift),
        lde(trace.clone()),
        prep.map(lde),
        permutation,
        public_values.to_vec(),
        challenges,
        terminal.into_iter().map(|t| t.0).collect(),
        rng.random(),
    )
}

/// Plonky3's quotient values for `case`: the prover's own function.
pub fn reference(table: &Table, case: &Case) -> Vec<Challenge> {
    let config = reference_config();
    let pcs = config.pcs();
    let trace_domain = natural_domain(pcs, 1 << case.log_n);
    let quotient_domain =
        p3_field::coset::TwoAdicMultiplicativeCoset::new(case.shift, case.log_q).expect("two-adic");
    p3_batch_stark::prover::quotient_values::<Config, MachineAir, RowMajorMatrix<Val>, _>(
        pcs,
        &table.air,
        &case.public_values,
        sym_layout(&table.air),
        trace_domain,
        quotient_domain,
        &case.main,
        case.permutation.as_ref(),
        &table.lookups,
        &case.permutation_values,
        &LogUpGadget::new(),
        &case.challenges,
        case.preprocessed.as_ref(),
        case.alpha,
    )
}

/// A guest run: its name, the program and the input.
pub struct Guest {
    pub name: &'static str,
    pub program: Program,
    pub input: Vec<Vec<u8>>,
}

impl Guest {
    /// A bundled guest from `guests/bin` (`dir` is that folder).
    pub fn load(dir: &std::path::Path, name: &'static str, input: Vec<Vec<u8>>) -> Result<Guest> {
        let path = dir.join(format!("{name}.elf"));
        let elf = std::fs::read(&path)
            .map_err(|e| GpuError::Invalid(format!("{}: {e}", path.display())))?;
        let program = Program::from_elf(&elf)
            .map_err(|e| GpuError::Invalid(format!("{}: {e:?}", path.display())))?;
        Ok(Guest {
            name,
            program,
            input,
        })
    }

    /// The guest's input convention for a byte string (length, then bytes).
    pub fn vec_input(bytes: &[u8]) -> Vec<Vec<u8>> {
        vec![cloak_vm::input::vec_u8(bytes)]
    }
}

/// One proof's tables: its kind, AIRs, traces and public values.
type ProofTables<'a> = (
    &'static str,
    &'a [MachineAir],
    &'a [RowMajorMatrix<Val>],
    &'a [Vec<Val>],
);

/// The tables of a guest's shard proofs and memory proof, with the lookups
/// of their proving keys, and each table's real trace (the first shard's, or
/// the memory proof's) and public values.
pub struct GuestTables {
    pub guest: &'static str,
    /// "shard" or "memory proof" for each table.
    pub sets: Vec<&'static str>,
    pub tables: Vec<Table>,
    pub traces: Vec<RowMajorMatrix<Val>>,
    pub public_values: Vec<Vec<Val>>,
}

impl GuestTables {
    /// Executes `guest` and makes the machine's keys and tables.
    pub fn new(guest: &Guest) -> Result<GuestTables> {
        let e = |x: cloak_machine::ZkvmError| GpuError::Invalid(format!("{}: {x}", guest.name));
        let fri = FriSettings::DEFAULT;
        let keys = MachineKeys::new(&guest.program, fri).map_err(e)?;
        let w = keys
            .witness(
                &guest.program,
                guest.input.clone(),
                &ProveOptions::default(),
            )
            .map_err(e)?;
        let shard = &w.shards[0];
        let global_publics = vec![Vec::new(); w.global_traces.len()];
        let mut g = GuestTables {
            guest: guest.name,
            sets: Vec::new(),
            tables: Vec::new(),
            traces: Vec::new(),
            public_values: Vec::new(),
        };
        let sets: [ProofTables; 2] = [
            (
                "shard",
                &keys.shard_airs,
                &shard.traces,
                &shard.public_values,
            ),
            (
                "memory proof",
                &keys.global_airs,
                &w.global_traces,
                &global_publics,
            ),
        ];
        for (set, airs, traces, publics) in sets {
            let heights: Vec<usize> = traces
                .iter()
                .map(|t| t.height().trailing_zeros() as usize)
                .collect();
            let (pk, _) = cloak_prover::setup(fri, airs, &heights)
                .map_err(|x| GpuError::Invalid(format!("{}: setup: {x}", guest.name)))?;
            for (i, air) in airs.iter().enumerate() {
                let name = format!("{air:?}");
                let name = name.split('(').next().unwrap_or_default().to_string();
                let table = Table::new(&name, air.clone(), pk.lookups()[i].to_vec())?;
                let mut pv = publics[i].clone();
                pv.resize(table.kernel.num_public_values, Val::ZERO);
                g.sets.push(set);
                g.tables.push(table);
                g.traces.push(traces[i].clone());
                g.public_values.push(pv);
            }
        }
        Ok(g)
    }

    /// The index of the table named `name` in `set`.
    pub fn find(&self, set: &str, name: &str) -> Option<usize> {
        (0..self.tables.len()).find(|&i| self.sets[i] == set && self.tables[i].name == name)
    }

    /// Table `i`'s real case.
    pub fn trace_case(&self, i: usize, seed: u64) -> Case {
        let label = format!("{} {}", self.guest, self.sets[i]);
        trace_case(
            &self.tables[i],
            &label,
            &self.traces[i],
            &self.public_values[i],
            seed,
        )
    }
}

/// The guests whose traces the checks use: every table gets real rows from
/// one of them (fibonacci: the CPU and ALU tables; sha256: SHA_EXTEND and
/// SHA_COMPRESS; keccak256: KECCAK_PERMUTE), small inputs.
pub fn bundled_guests(dir: &std::path::Path) -> Result<Vec<Guest>> {
    Ok(vec![
        Guest::load(dir, "fibonacci", vec![10u32.to_le_bytes().to_vec()])?,
        Guest::load(dir, "sha256", Guest::vec_input(b"abc"))?,
        Guest::load(dir, "keccak256", Guest::vec_input(b"abc"))?,
    ])
}

/// Compares the GPU's quotient of `case` with Plonky3's; the detail gives
/// the kernel's size and both times (the GPU's includes the upload and the
/// download; its compile is timed apart, the first time a kernel is used).
pub fn check_case(
    gpu: &crate::GpuContext,
    table: &Table,
    case: &Case,
) -> Result<crate::check::Check> {
    let k = &table.kernel;
    let t = std::time::Instant::now();
    crate::quotient::prepare(gpu, k)?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let got = crate::quotient::quotient_values(gpu, k, &case.inputs())?;
    let gpu_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let want = reference(table, case);
    let cpu_ms = t.elapsed().as_secs_f64() * 1e3;
    let compile = if compile_ms > 1.0 {
        format!(", compiled in {compile_ms:.0} ms")
    } else {
        String::new()
    };
    Ok(crate::check::verdict(
        format!("quotient {} ({})", table.name, case.label),
        format!(
            "2^{} points, {} constraints, {} nodes, {} LogUp cols; gpu {gpu_ms:.1} ms, cpu {cpu_ms:.1} ms{compile}",
            case.log_q,
            k.generated.constraints,
            k.generated.nodes,
            k.permutation_width
        ),
        crate::check::compare(&got, &want),
    ))
}

/// Every table of every bundled guest's shard and memory proofs, on its
/// real trace; and each distinct table once more on random inputs.
pub fn check_machine_quotients(
    gpu: &crate::GpuContext,
    guests_dir: &std::path::Path,
    seed: u64,
) -> Result<Vec<crate::check::Check>> {
    let mut checks = Vec::new();
    let mut random_done = std::collections::HashSet::new();
    for (gi, guest) in bundled_guests(guests_dir)?.iter().enumerate() {
        let g = GuestTables::new(guest)?;
        for (i, table) in g.tables.iter().enumerate() {
            let s = seed ^ ((gi as u64) << 32) ^ (i as u64) << 8;
            checks.push(check_case(gpu, table, &g.trace_case(i, s))?);
            if random_done.insert(table.kernel.module.clone()) {
                checks.push(check_case(gpu, table, &random_case(table, 8, s + 1))?);
            }
        }
    }
    Ok(checks)
}

/// Every table with lookups of every bundled guest's shard and memory
/// proofs: its LogUp permutation trace made on the GPU
/// ([`crate::logup::permutation_on_device`]) from its real trace under
/// random challenges, against p3-lookup's `generate_permutation` (every
/// cell of the flattened trace, and the terminal).
pub fn check_machine_logup(
    gpu: &crate::GpuContext,
    guests_dir: &std::path::Path,
    seed: u64,
) -> Result<Vec<crate::check::Check>> {
    let mut checks = Vec::new();
    for (gi, guest) in bundled_guests(guests_dir)?.iter().enumerate() {
        let g = GuestTables::new(guest)?;
        for (i, table) in g.tables.iter().enumerate() {
            if table.lookups.is_empty() {
                continue;
            }
            let mut rng = ZkRng::seed_from_u64(seed ^ ((gi as u64) << 32) ^ (i as u64) << 8);
            let trace = &g.traces[i];
            let prep = BaseAir::<Val>::preprocessed_trace(&table.air);
            let challenges = random_challenges(&mut rng, 2 * table.lookups.len());
            let t = std::time::Instant::now();
            let (want, want_terminal) = LogUpGadget::new().generate_permutation::<Val, Challenge>(
                trace,
                &prep,
                &g.public_values[i],
                &table.lookups,
                &challenges,
            );
            let cpu_ms = t.elapsed().as_secs_f64() * 1e3;
            let want = want.flatten_to_base();
            let kernel = crate::logup::LogupKernel::new(
                &table.name,
                &table.lookups,
                trace.width(),
                prep.as_ref().map_or(0, |p| p.width()),
                g.public_values[i].len(),
            )?;
            kernel.prepare(gpu)?;
            let main = crate::ntt::DeviceMatrix::upload(gpu, trace)?;
            let prep_dev = prep
                .as_ref()
                .map(|p| crate::ntt::DeviceMatrix::upload(gpu, p))
                .transpose()?;
            let t = std::time::Instant::now();
            let (got, terminal) = crate::logup::permutation_on_device(
                gpu,
                &kernel,
                &main.buf,
                trace.height(),
                trace.width(),
                prep_dev.as_ref().map(|p| (&p.buf, p.width)),
                &g.public_values[i],
                &challenges,
            )?;
            gpu.synchronize()?;
            let gpu_ms = t.elapsed().as_secs_f64() * 1e3;
            let got = got.download(gpu)?;
            let result = crate::check::compare(&got.values, &want.values).and_then(|()| {
                if Some(terminal) == want_terminal.map(|t| t.0) {
                    Ok(())
                } else {
                    Err("the terminals differ".to_string())
                }
            });
            checks.push(crate::check::verdict(
                format!("logup {} ({} {})", table.name, g.guest, g.sets[i]),
                format!(
                    "{} rows, {} lookups, {} kernel part(s); gpu {gpu_ms:.1} ms, cpu {cpu_ms:.1} ms",
                    trace.height(),
                    table.lookups.len(),
                    kernel.parts.len()
                ),
                result,
            ));
        }
    }
    Ok(checks)
}
