//! Soundness: start from an honest execution witness, change one thing, and
//! require that no accepted proof comes out: either the prover refuses (in
//! test builds Plonky3's debug constraint and LogUp balance checks panic
//! before proving; a release prover would produce a proof that the verifier
//! rejects) or `MachineKeys::verify` rejects the proof.
//!
//! Most tampers edit the one-shard witness of `fibonacci(10)`: a shard's
//! tables (`w.shards[0].traces[table::*]`) or the memory proof's
//! (`w.global_traces[global_table::*]`). The cross-shard tampers edit the
//! three-shard witness of `fibonacci(1000)` with 2^12-cycle shards.
//! Statement-level tampers edit the fields of an honest `Proof` (exit code,
//! public values, digest, a shard's CPU publics, committed flags, shares) and
//! go through `MachineKeys::verify`.
//!
//! The `global-memory` bus balances across proofs, so the prover's debug
//! checks skip it: each proof's share is computed from `boundary` (shards) or
//! `global_words` (memory proof), and the verifier checks that every proof's
//! LogUp terminals add up to its share and that the shares sum to zero. A
//! Memory tamper that should look consistent therefore updates those rows too
//! ([`MemTable::resync_words`]).
//!
//! Honest controls prove and verify the untampered witnesses, and every
//! tamper is checked to have changed the witness, so the harness cannot pass
//! vacuously.

use cloak_machine::add_sub::cols as add_cols;
use cloak_machine::air::{global_table, table};
use cloak_machine::bus::ADD_ID;
use cloak_machine::commit::cols as com;
use cloak_machine::cpu::cols as c;
use cloak_machine::hint::cols as h;
use cloak_machine::memory::{cols as mem, WordState, KEY_BOUND_HI, WIDTH as MEM_WIDTH};
use cloak_machine::program::{fields as f, ProgramAir};
use cloak_machine::witness::{shard_public_values, ShardWitness};
use cloak_machine::zkvm::ExecutionWitness;
use cloak_machine::{MachineKeys, Proof, ProveOptions, Statement, ZkvmError};
use cloak_prover::{Challenge, FriSettings, Val};
use cloak_vm::Program;
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};
use std::time::Instant;

const FRI: FriSettings = FriSettings::DEFAULT;
/// The KoalaBear prime.
const P: u32 = 0x7f00_0001;
/// The seed every tampered witness is proven with.
const SEED: [u8; 32] = [7; 32];
/// Shard size of the multi-shard fixture.
const SMALL_SHARDS: u64 = 1 << 12;

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

/// `fibonacci`'s keys and Program table (to find the row of a pc for
/// multiplicity edits), shared by both fixtures.
fn keys() -> &'static MachineKeys {
    static KEYS: OnceLock<MachineKeys> = OnceLock::new();
    KEYS.get_or_init(|| MachineKeys::new(&guest("fibonacci"), FRI).unwrap())
}

fn program_air() -> &'static ProgramAir {
    static AIR: OnceLock<ProgramAir> = OnceLock::new();
    AIR.get_or_init(|| ProgramAir::new(&guest("fibonacci"), FRI.min_trace_height()).unwrap())
}

/// An honest run of `fibonacci`: its witness and a proof of it.
struct Fixture {
    witness: ExecutionWitness,
    proof: Proof,
}

fn make_fixture(n: u32, opts: &ProveOptions) -> Fixture {
    let witness = keys()
        .witness(&guest("fibonacci"), vec![n.to_le_bytes().to_vec()], opts)
        .unwrap();
    assert_eq!(witness.output.exit_code, 0);
    let proof = keys()
        .prove_witness(&witness, SEED)
        .expect("the honest witness proves");
    Fixture { witness, proof }
}

/// `fibonacci(10)`: 6209 cycles, one shard at the default shard size.
fn single() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fx = make_fixture(10, &ProveOptions::default());
        assert_eq!(fx.witness.output.cycles, 6209);
        assert_eq!(fx.witness.shards.len(), 1);
        fx
    })
}

/// `fibonacci(1000)` in 2^12-cycle shards: 12149 cycles, three shards.
fn multi() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let opts = ProveOptions {
            shard_cycles: SMALL_SHARDS,
            ..ProveOptions::default()
        };
        let fx = make_fixture(1000, &opts);
        assert_eq!(fx.witness.output.cycles, 12149);
        assert_eq!(fx.witness.shards.len(), 3);
        fx
    })
}

// --- Trace access.

fn u(v: Val) -> u32 {
    v.as_canonical_u32()
}

fn get(t: &RowMajorMatrix<Val>, row: usize, col: usize) -> u32 {
    u(t.values[row * t.width() + col])
}

fn set(t: &mut RowMajorMatrix<Val>, row: usize, col: usize, v: u32) {
    let width = t.width();
    t.values[row * width + col] = Val::from_u32(v);
}

/// Flips the low bit of a cell (keeps a 16-bit limb a 16-bit limb).
fn flip(t: &mut RowMajorMatrix<Val>, row: usize, col: usize) -> (u32, u32) {
    let old = get(t, row, col);
    set(t, row, col, old ^ 1);
    (old, old ^ 1)
}

fn row(t: &RowMajorMatrix<Val>, r: usize) -> &[Val] {
    &t.values[r * t.width()..(r + 1) * t.width()]
}

fn is(v: Val) -> bool {
    v == Val::ONE
}

/// The first row at or after `from` that satisfies `pred`.
fn find_from(
    t: &RowMajorMatrix<Val>,
    from: usize,
    what: &str,
    pred: impl Fn(&[Val]) -> bool,
) -> usize {
    (from..t.height())
        .find(|&r| pred(row(t, r)))
        .unwrap_or_else(|| panic!("no row: {what}"))
}

/// The first CPU row in the middle of the shard (from its row 100) that
/// satisfies `pred`.
fn cpu_row(s: &ShardWitness, what: &str, pred: impl Fn(&[Val]) -> bool) -> usize {
    let t = &s.traces[table::CPU];
    (100..t.height())
        .chain(0..100)
        .find(|&r| is(row(t, r)[c::IS_REAL]) && pred(row(t, r)))
        .unwrap_or_else(|| panic!("no CPU row: {what}"))
}

/// The last real CPU row (the HALT, in the last shard).
fn last_real_row(s: &ShardWitness) -> usize {
    let t = &s.traces[table::CPU];
    (0..t.height())
        .rev()
        .find(|&r| is(row(t, r)[c::IS_REAL]))
        .unwrap()
}

/// Moves one range16 lookup of a proof from `old` to `new` (keeping its
/// `range16` bus balanced for a limb that changed from `old` to `new`).
/// Range16 is table 0 of shard proofs and of the memory proof alike.
fn range16_move(traces: &mut [RowMajorMatrix<Val>], old: u32, new: u32) {
    range16_add(traces, old, -1);
    range16_add(traces, new, 1);
}

fn range16_add(traces: &mut [RowMajorMatrix<Val>], x: u32, delta: i64) {
    const _: () = assert!(table::RANGE16 == global_table::RANGE16);
    if x >= 1 << 16 {
        return; // Not in the table: nothing can balance it.
    }
    let t = &mut traces[table::RANGE16];
    let m = i64::from(get(t, x as usize, 0)) + delta;
    set(t, x as usize, 0, m as u32);
}

/// Adds `delta` to a shard's fetch multiplicity of the instruction at `pc`.
fn program_mult_add(s: &mut ShardWitness, pc: u32, delta: i64) {
    let index = program_air()
        .rows()
        .iter()
        .position(|r| r.pc == pc)
        .expect("an instruction");
    let t = &mut s.traces[table::PROGRAM];
    let m = i64::from(get(t, index, 0)) + delta;
    set(t, index, 0, m as u32);
}

/// A CPU padding row at clock `clk`.
fn cpu_padding_row(width: usize, clk: usize) -> Vec<Val> {
    let mut pad = vec![Val::ZERO; width];
    pad[c::CLK] = Val::from_usize(clk);
    pad[c::EQ] = Val::ONE;
    cloak_machine::cpu::fill_derived(&mut pad);
    pad
}

/// Recomputes a CPU row's `EQ`, `INV_LO` and `INV_HI` from its `b` and `c`
/// limbs, as trace generation does.
fn fix_eq(t: &mut RowMajorMatrix<Val>, r: usize) {
    let x = row(t, r);
    let d_lo = x[c::B_LO] - x[c::C_LO];
    let d_hi = x[c::B_HI] - x[c::C_HI];
    let (eq, inv_lo, inv_hi) = if d_lo != Val::ZERO {
        (0, d_lo.inverse(), Val::ZERO)
    } else if d_hi != Val::ZERO {
        (0, Val::ZERO, d_hi.inverse())
    } else {
        (1, Val::ZERO, Val::ZERO)
    };
    let width = t.width();
    set(t, r, c::EQ, eq);
    t.values[r * width + c::INV_LO] = inv_lo;
    t.values[r * width + c::INV_HI] = inv_hi;
    rederive(t, r);
}

/// Recomputes a CPU row's degree-2 helper columns after a tamper, as trace
/// generation does, so that the tamper itself (not a stale helper) is what
/// must be refused.
fn rederive(t: &mut RowMajorMatrix<Val>, r: usize) {
    let width = t.width();
    cloak_machine::cpu::fill_derived(&mut t.values[r * width..(r + 1) * width]);
}

/// Renumbers the CPU clock column from `start`.
fn renumber_clk(t: &mut RowMajorMatrix<Val>, start: u64) {
    for r in 0..t.height() {
        set(t, r, c::CLK, (start + r as u64) as u32);
    }
    cloak_machine::cpu::fill_ends(&mut t.values);
}

// --- Memory tables.

/// One Memory table (a shard's or the memory proof's), the proof's other
/// tables (for its Range16 multiplicities), and the rows that proof's share of
/// the `global-memory` bus is computed from (`boundary` or `global_words`).
struct MemTable<'a> {
    traces: &'a mut [RowMajorMatrix<Val>],
    index: usize,
    words: &'a mut Vec<WordState>,
}

/// Shard `i`'s Memory table.
fn shard_mem(w: &mut ExecutionWitness, i: usize) -> MemTable<'_> {
    let s = &mut w.shards[i];
    MemTable {
        traces: &mut s.traces,
        index: table::MEMORY,
        words: &mut s.boundary,
    }
}

/// The memory proof's (Global) Memory table.
fn global_mem(w: &mut ExecutionWitness) -> MemTable<'_> {
    MemTable {
        traces: &mut w.global_traces,
        index: global_table::MEMORY,
        words: &mut w.global_words,
    }
}

impl MemTable<'_> {
    fn t(&self) -> &RowMajorMatrix<Val> {
        &self.traces[self.index]
    }

    fn t_mut(&mut self) -> &mut RowMajorMatrix<Val> {
        &mut self.traces[self.index]
    }

    /// The word a row states.
    fn word(&self, r: usize) -> WordState {
        let t = self.t();
        let g = |col| get(t, r, col);
        WordState {
            key: mem_key(row(t, r)),
            is_image: g(mem::IS_IMAGE) == 1,
            init: g(mem::INIT_LO) | g(mem::INIT_HI) << 16,
            init_ts: g(mem::INIT_TS).into(),
            final_value: g(mem::FINAL_LO) | g(mem::FINAL_HI) << 16,
            final_ts: g(mem::FINAL_TS).into(),
        }
    }

    /// Makes the proof's share follow the table: the words become the
    /// table's real rows (a consistent tamper).
    fn resync_words(&mut self) {
        let rows = (0..self.t().height())
            .filter(|&r| is(row(self.t(), r)[mem::IS_REAL]))
            .map(|r| self.word(r))
            .collect();
        *self.words = rows;
    }

    /// The row of `key`.
    fn row_of(&self, key: u32) -> usize {
        find_from(self.t(), 0, "key", |x| {
            is(x[mem::IS_REAL]) && mem_key(x) == key
        })
    }
}

/// A Memory row's key, from its limbs.
fn mem_key(x: &[Val]) -> u32 {
    u(x[mem::KEY_LO]) + (u(x[mem::KEY_HI]) << 16)
}

/// The three Range16 checks of a Memory limb pair `(lo, hi)`: `lo`, `hi` and
/// `hi` shifted up to the key bound.
fn mem_pair_checks(lo: u32, hi: u32) -> [u32; 3] {
    [lo, hi, hi + (1 << 16) - KEY_BOUND_HI]
}

/// Sets a Memory row's key-gap limbs to `key - prev_key - 1` in the field (so
/// the ordering constraint holds) split as `lo + 2^16 hi`, moving the Range16
/// lookups with them (a check of a value of 2^16 or more cannot be balanced).
fn set_memory_gap(m: &mut MemTable, r: usize) {
    let t = m.t();
    let (key, prev) = (mem_key(row(t, r)), mem_key(row(t, r - 1)));
    let gap = ((u64::from(key) + 2 * u64::from(P) - u64::from(prev) - 1) % u64::from(P)) as u32;
    let (lo, hi) = (gap & 0xffff, gap >> 16);
    let (old_lo, old_hi) = (get(t, r, mem::GAP_LO), get(t, r, mem::GAP_HI));
    let real = is(row(t, r)[mem::IS_REAL]);
    let t = m.t_mut();
    set(t, r, mem::GAP_LO, lo);
    set(t, r, mem::GAP_HI, hi);
    if real {
        for (old, new) in mem_pair_checks(old_lo, old_hi)
            .into_iter()
            .zip(mem_pair_checks(lo, hi))
        {
            range16_move(m.traces, old, new);
        }
    }
}

/// Inserts `rows` into the Memory table after row `after`, dropping as many
/// padding rows from the end.
fn insert_memory_rows(m: &mut MemTable, after: usize, rows: &[[u32; MEM_WIDTH]]) {
    let t = m.t_mut();
    let (width, height) = (t.width(), t.height());
    for k in 0..rows.len() {
        assert!(
            !is(row(t, height - 1 - k)[mem::IS_REAL]),
            "no padding row to drop"
        );
    }
    let new: Vec<Val> = rows.iter().flatten().map(|&v| Val::from_u32(v)).collect();
    let at = (after + 1) * width;
    t.values.splice(at..at, new);
    t.values.truncate(height * width);
    for (k, new) in rows.iter().enumerate() {
        // The new rows' range checks of their (copied) gap limbs, then the gaps
        // the ordering constraint needs.
        if new[mem::IS_REAL] == 1 {
            let key = mem_pair_checks(new[mem::KEY_LO], new[mem::KEY_HI]);
            let gap = mem_pair_checks(new[mem::GAP_LO], new[mem::GAP_HI]);
            for check in key.into_iter().chain(gap) {
                range16_add(m.traces, check, 1);
            }
        }
        set_memory_gap(m, after + 1 + k);
    }
}

fn mem_key_of(x: &[u32; MEM_WIDTH]) -> u32 {
    x[mem::KEY_LO] + (x[mem::KEY_HI] << 16)
}

fn set_key(x: &mut [u32; MEM_WIDTH], key: u32) {
    x[mem::KEY_LO] = key & 0xffff;
    x[mem::KEY_HI] = key >> 16;
}

fn memory_row_values(t: &RowMajorMatrix<Val>, r: usize) -> [u32; MEM_WIDTH] {
    std::array::from_fn(|i| get(t, r, i))
}

// --- Outcomes.

#[derive(Debug)]
enum Outcome {
    /// The prover's debug checks panicked (a constraint or a bus).
    ProverPanicked(String),
    ProverError(String),
    VerifierRejected(String),
    /// The tampered witness proved and verified.
    Accepted,
}

impl Outcome {
    fn message(&self) -> &str {
        match self {
            Outcome::ProverPanicked(m) | Outcome::ProverError(m) | Outcome::VerifierRejected(m) => {
                m
            }
            Outcome::Accepted => "",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::ProverPanicked(_) => "prover panicked",
            Outcome::ProverError(_) => "prover error",
            Outcome::VerifierRejected(_) => "verifier rejected",
            Outcome::Accepted => "ACCEPTED",
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

thread_local! {
    /// Set while this thread expects the prover to panic.
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, catching its panic without printing it (the expected refusals of
/// the debug prover would otherwise flood the output with backtraces). Other
/// threads' panics print as usual.
fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
    EXPECTING_PANIC.with(|e| e.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|e| e.set(false));
    out
}

/// Proves `w` and verifies the proof: the statement is `w`'s own (its exit
/// code, public values and digest).
fn attempt(w: &ExecutionWitness) -> Outcome {
    let proved = catch_quietly(|| keys().prove_witness(w, SEED));
    match proved {
        Err(p) => Outcome::ProverPanicked(panic_message(p)),
        Ok(Err(e)) => Outcome::ProverError(e.to_string()),
        Ok(Ok(proof)) => match keys().verify(&proof) {
            Err(e) => Outcome::VerifierRejected(e.to_string()),
            Ok(_) => Outcome::Accepted,
        },
    }
}

/// Fails unless the tamper changed the honest witness.
fn assert_changed(honest: &ExecutionWitness, w: &ExecutionWitness, name: &str) {
    let shards_changed = honest.shards.len() != w.shards.len()
        || honest.shards.iter().zip(&w.shards).any(|(a, b)| {
            a.traces != b.traces
                || a.public_values != b.public_values
                || a.boundary != b.boundary
                || a.committed != b.committed
                || a.cpu != b.cpu
        });
    assert!(
        shards_changed
            || w.global_traces != honest.global_traces
            || w.global_words != honest.global_words
            || w.claim != honest.claim
            || w.output != honest.output,
        "the tamper changed nothing: {name}"
    );
}

type Tamper = fn(&mut ExecutionWitness);
/// A named tamper and the text its refusal must contain (in test builds; a
/// release-mode prover does not check, and then the verifier must reject).
type Case = (&'static str, &'static str, Tamper);

/// Applies each tamper to a copy of `honest` and returns the outcomes,
/// printing them (run with `--nocapture` to see why each failed).
fn run_cases(honest: &ExecutionWitness, cases: &[Case]) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    for &(name, expect, tamper) in cases {
        let start = Instant::now();
        let mut w = honest.clone();
        tamper(&mut w);
        assert_changed(honest, &w, name);
        let outcome = attempt(&w);
        let short: String = outcome
            .message()
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect();
        eprintln!(
            "[{:>5.1}s] {name}: {}: {short}",
            start.elapsed().as_secs_f64(),
            outcome.kind()
        );
        if cfg!(debug_assertions) && !matches!(outcome, Outcome::Accepted) {
            assert!(
                outcome.message().contains(expect),
                "{name}: refused for another reason than `{expect}`: {short}"
            );
        }
        out.push((name.to_string(), outcome));
    }
    out
}

fn assert_all_rejected(honest: &ExecutionWitness, cases: &[Case]) {
    let accepted: Vec<String> = run_cases(honest, cases)
        .into_iter()
        .filter(|(_, o)| matches!(o, Outcome::Accepted))
        .map(|(n, _)| n)
        .collect();
    assert!(
        accepted.is_empty(),
        "tampered witnesses accepted: {accepted:?}"
    );
}

/// Whether `keys.verify` refused a proof in a STARK check (of shard `shard`,
/// or of the memory proof for `None`), rather than in its statement checks.
fn stark_rejected(result: &Result<Statement, ZkvmError>, shard: Option<usize>) -> bool {
    match (result, shard) {
        (Err(ZkvmError::BadShards(m)), Some(i)) => m.starts_with(&format!("shard {i}: ")),
        (Err(ZkvmError::Verify(_)), None) => true,
        _ => false,
    }
}

// --- CPU tampers (shard 0 of the one-shard witness).

fn cpu_register_value(w: &mut ExecutionWitness) {
    // rs1's value as the row read it.
    // (EQ and its inverses recomputed, so only the buses can refuse.)
    let s = &mut w.shards[0];
    let r = cpu_row(s, "reads rs1", |x| is(x[f::READS_RS1]) && is(x[f::ALU_RR]));
    flip(&mut s.traces[table::CPU], r, c::B_LO);
    fix_eq(&mut s.traces[table::CPU], r);
}

fn cpu_alu_result(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "ALU with rd", |x| {
        (is(x[f::ALU_RR]) || is(x[f::ALU_IMM])) && is(x[f::WRITES_RD])
    });
    flip(&mut s.traces[table::CPU], r, c::A_LO);
}

/// The ALU result changed on the CPU row *and* on the AddSub row answering
/// it (and their Range16 lookups moved), so the `alu` and `range16` buses
/// still balance: the AddSub constraint must refuse.
fn cpu_alu_result_consistent(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "ADDI with rd", |x| {
        is(x[f::ALU_IMM]) && u(x[f::ALU_OP]) == ADD_ID && is(x[f::WRITES_RD])
    });
    let cpu = &s.traces[table::CPU];
    let msg: Vec<u32> = [c::A_LO, c::A_HI, c::B_LO, c::B_HI, c::C_LO, c::C_HI]
        .iter()
        .map(|&col| get(cpu, r, col))
        .collect();
    let add = &s.traces[table::ADD_SUB];
    let a = find_from(add, 0, "the AddSub row", |x| {
        is(x[add_cols::IS_ADD]) && (0..6).all(|i| u(x[add_cols::A_LO + i]) == msg[i])
    });
    flip(&mut s.traces[table::CPU], r, c::A_LO);
    let (old, new) = flip(&mut s.traces[table::ADD_SUB], a, add_cols::A_LO);
    range16_move(&mut s.traces, old, new);
}

fn cpu_pc(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "any", |_| true);
    let t = &mut s.traces[table::CPU];
    let pc = get(t, r, f::PC);
    set(t, r, f::PC, pc + 4);
    rederive(t, r);
}

/// Deletes a mid-trace row: later rows move up, the clock is renumbered, and
/// the deleted instruction's fetch multiplicity drops by one.
fn cpu_skip_instruction(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "ALU", |x| is(x[f::ALU_IMM]));
    let start = s.cpu.start_clk;
    let t = &mut s.traces[table::CPU];
    let (width, height) = (t.width(), t.height());
    let pc = get(t, r, f::PC);
    t.values.drain(r * width..(r + 1) * width);
    t.values.extend(cpu_padding_row(width, height - 1));
    renumber_clk(t, start);
    program_mult_add(s, pc, -1);
}

/// Executes a mid-trace row twice: a copy follows it, later rows move down
/// (into the padding), the clock is renumbered, and the fetch multiplicity
/// grows by one.
fn cpu_repeat_instruction(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "ALU", |x| is(x[f::ALU_IMM]));
    let start = s.cpu.start_clk;
    let t = &mut s.traces[table::CPU];
    let (width, height) = (t.width(), t.height());
    assert!(!is(row(t, height - 1)[c::IS_REAL]), "a padding row to drop");
    let pc = get(t, r, f::PC);
    let copy = row(t, r).to_vec();
    t.values.splice((r + 1) * width..(r + 1) * width, copy);
    t.values.truncate(height * width);
    renumber_clk(t, start);
    program_mult_add(s, pc, 1);
}

fn cpu_branch_taken(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "branch", |x| is(x[f::BRANCH_EQ]) || is(x[f::BRANCH_LT]));
    flip(&mut s.traces[table::CPU], r, c::TAKEN);
    rederive(&mut s.traces[table::CPU], r);
}

/// One degree-2 helper column changed on its own (not re-derived): its
/// defining constraint must refuse.
fn cpu_helper(w: &mut ExecutionWitness, col: usize, what: &str, pred: fn(&[Val]) -> bool) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, what, pred);
    flip(&mut s.traces[table::CPU], r, col);
}

fn is_mem_row(x: &[Val]) -> bool {
    (f::LB..=f::SW).any(|k| is(x[k]))
}

fn cpu_load_value(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "LW", |x| is(x[f::LW]) && is(x[f::WRITES_RD]));
    flip(&mut s.traces[table::CPU], r, c::A_LO);
}

fn cpu_store_value(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "SW", |x| is(x[f::SW]));
    flip(&mut s.traces[table::CPU], r, c::MEM_NEW_LO);
}

/// HINT_LEN's result is a free witness (range-checked): change it and move its
/// Range16 lookup, so only the later read of the register can refuse.
fn cpu_hint_len_result(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "HINT_LEN", |x| is(x[c::SYS_HINT_LEN]));
    let (old, new) = flip(&mut s.traces[table::CPU], r, c::A_LO);
    // The limb's range check goes through SIGN_REST on HINT_LEN rows.
    flip(&mut s.traces[table::CPU], r, c::SIGN_REST);
    range16_move(&mut s.traces, old, new);
}

fn cpu_syscall_swap(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "WRITE", |x| is(x[c::SYS_WRITE]));
    let t = &mut s.traces[table::CPU];
    set(t, r, c::SYS_WRITE, 0);
    set(t, r, c::SYS_COMMIT, 1);
}

fn cpu_syscall_swap_back(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "COMMIT", |x| is(x[c::SYS_COMMIT]));
    let t = &mut s.traces[table::CPU];
    set(t, r, c::SYS_COMMIT, 0);
    set(t, r, c::SYS_WRITE, 1);
}

/// A COMMIT_DEFERRED_PROOFS row whose word index (a0, `B`) is `index`, with
/// `addr_w` and its range16 lookup set as the honest prover sets them for
/// that index when `consistent` (else left as they were).
fn cpu_deferred_index(w: &mut ExecutionWitness, index: u32, consistent: bool) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "COMMIT_DEFERRED_PROOFS", |x| is(x[c::SYS_DEFERRED]));
    let t = &mut s.traces[table::CPU];
    set(t, r, c::B_LO, index & 0xffff);
    set(t, r, c::B_HI, index >> 16);
    fix_eq(t, r);
    if consistent {
        let old = get(t, r, c::ADDR_W);
        set(t, r, c::ADDR_W, (index & 0xffff) << 13);
        range16_add(&mut s.traces, old, -1);
        range16_add(&mut s.traces, (index & 0xffff) << 13, 1);
    }
}

/// Index 2^16 + 1: the high limb must be 0 (an AIR constraint; without it
/// only the register's memory chain would refuse this row).
fn cpu_deferred_index_high(w: &mut ExecutionWitness) {
    cpu_deferred_index(w, (1 << 16) + 1, true);
}

/// Index 8 with `addr_w` left at the honest index's value: its pin fails.
fn cpu_deferred_index_unpinned(w: &mut ExecutionWitness) {
    cpu_deferred_index(w, 8, false);
}

/// Index 8 with `addr_w` = 8 * 2^13 = 2^16: the pin holds, and its range16
/// lookup has no row to match (the table holds 0..2^16).
fn cpu_deferred_index_out_of_range(w: &mut ExecutionWitness) {
    cpu_deferred_index(w, 8, true);
}

/// The rs1 timestamp gap, with its Range16 lookup moved along.
fn cpu_timestamp_gap(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "reads rs1", |x| is(x[f::READS_RS1]));
    let (old, new) = flip(&mut s.traces[table::CPU], r, c::E_RS1);
    range16_move(&mut s.traces, old, new);
}

fn cpu_last_row_not_real(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = last_real_row(s);
    assert!(is(row(&s.traces[table::CPU], r)[c::SYS_HALT]));
    set(&mut s.traces[table::CPU], r, c::IS_REAL, 0);
}

/// The HALT row replaced by padding (and its fetch removed): the execution
/// "ends" one cycle early, without halting.
fn cpu_truncate_before_halt(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = last_real_row(s);
    let t = &mut s.traces[table::CPU];
    let width = t.width();
    let pc = get(t, r, f::PC);
    let pad = cpu_padding_row(width, r + s.cpu.start_clk as usize);
    t.values[r * width..(r + 1) * width].copy_from_slice(&pad);
    cloak_machine::cpu::fill_ends(&mut t.values);
    program_mult_add(s, pc, -1);
}

/// A consistent prefix: the HALT row dropped as above, the Memory tables'
/// final states of the registers it accessed moved back to their previous
/// access (and the HALT row's Range16 lookups removed), and the shard
/// declared not the last one, ending at the HALT's pc a cycle earlier. Every
/// constraint and bus of both proofs holds: only the verifier's check that the
/// last shard is marked last can refuse.
fn cpu_prefix_without_halt(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = last_real_row(s);
    let cpu = &s.traces[table::CPU];
    assert!(is(row(cpu, r)[c::SYS_HALT]));
    let halt_pc = get(cpu, r, f::PC);
    let clk = s.cpu.start_clk + r as u64;
    // (key, ts, prev_ts) of each access, the latest first.
    let (mut accesses, mut checks) = (Vec::new(), Vec::new());
    for (flag, key, gap, position) in [
        (f::WRITES_RD, f::RD, c::E_RD, 4),
        (f::READS_RS2, f::RS2, c::E_RS2, 2),
        (f::READS_RS1, f::RS1, c::E_RS1, 1),
    ] {
        if get(cpu, r, flag) == 1 {
            let (lo, hi) = (get(cpu, r, gap), get(cpu, r, gap + 1));
            let ts = 4 * clk + position;
            accesses.push((get(cpu, r, key), ts, ts - 1 - u64::from(lo + (hi << 14))));
            checks.extend([lo, hi]);
        }
    }
    assert!(!accesses.is_empty());
    for check in checks {
        range16_add(&mut s.traces, check, -1);
    }
    cpu_truncate_before_halt(w);
    for shard in [true, false] {
        let mut m = if shard {
            shard_mem(w, 0)
        } else {
            global_mem(w)
        };
        for &(key, ts, prev_ts) in &accesses {
            let k = m.row_of(key);
            if u64::from(get(m.t(), k, mem::FINAL_TS)) == ts {
                set(m.t_mut(), k, mem::FINAL_TS, prev_ts as u32);
            }
        }
        m.resync_words();
    }
    let s = &mut w.shards[0];
    s.cpu.is_last = false;
    s.cpu.end_pc = halt_pc;
    s.cpu.end_clk -= 1;
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
}

fn cpu_fetched_flag(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    let r = cpu_row(s, "writes rd", |x| is(x[f::WRITES_RD]));
    flip(&mut s.traces[table::CPU], r, f::WRITES_RD);
}

/// The exit code in the CPU's public values (and the claim), not in a0.
fn cpu_exit_code(w: &mut ExecutionWitness) {
    w.claim.exit_code = 0x10000;
    let s = &mut w.shards[0];
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
}

// --- Memory tampers, against a shard's Memory table or the memory proof's.
// Each makes the proof's share follow its table (`resync_words`), unless it
// says otherwise, so the `global-memory` bus sees what the table claims.

/// The first row (a register) whose final state comes from an access, its
/// final value changed; the share does not follow (`consistent = false`) or
/// does.
fn mem_final_value(m: &mut MemTable, consistent: bool) {
    let r = find_from(m.t(), 0, "accessed", |x| u(x[mem::FINAL_TS]) != 0);
    flip(m.t_mut(), r, mem::FINAL_LO);
    if consistent {
        m.resync_words();
    }
}

/// The Memory row of a register the execution never touches (init = final =
/// 0, final_ts = 0): another row for it balances the buses.
fn untouched_register_row(m: &MemTable) -> usize {
    find_from(m.t(), 0, "untouched register", |x| {
        mem_key(x) < 32 && u(x[mem::FINAL_TS]) == 0 && mem_key(x) != 0
    })
}

/// A second row for an untouched register, right after its first one; the gap
/// limbs satisfy the ordering constraint in the field, so only their range
/// check refuses.
fn mem_duplicate_key(m: &mut MemTable) {
    let r = untouched_register_row(m);
    let copy = memory_row_values(m.t(), r);
    insert_memory_rows(m, r, &[copy]);
    m.resync_words();
}

/// Two rows for one key while every gap passes the ordering constraint: the
/// keys wrap around the field. After the untouched register's row (key `k`)
/// come a row for key `k + 1 + g1` and then a second row for key `k`, whose
/// gap is `p - 2 - g1`; with `g1 = 2^30 - 2^23` both gaps split as
/// `lo + 2^14 hi` with 16-bit limbs. Both new rows are unaccessed (init =
/// final = 0, final_ts = 0), so the buses still balance, and the Range16
/// multiplicities count their gap limbs. Caught since keys and gaps are
/// range-checked below 2^30 - 2^24 (this was a soundness bug before).
fn mem_duplicate_key_wrapping(m: &mut MemTable) {
    let r = untouched_register_row(m);
    let copy = memory_row_values(m.t(), r);
    let mut far = copy;
    set_key(&mut far, mem_key_of(&copy) + 1 + (1 << 30) - (1 << 23));
    insert_memory_rows(m, r, &[far, copy]);
    let t = m.t();
    for k in [r + 1, r + 2] {
        assert!(get(t, k, mem::GAP_LO) < 1 << 16 && get(t, k, mem::GAP_HI) < 1 << 16);
    }
    assert_eq!(mem_key(row(t, r + 2)), mem_key(row(t, r)));
    m.resync_words();
}

/// Two adjacent real rows swapped (gap limbs recomputed in the field).
fn mem_keys_out_of_order(m: &mut MemTable) {
    let r = untouched_register_row(m);
    let t = m.t_mut();
    let width = t.width();
    assert!(is(row(t, r + 1)[mem::IS_REAL]));
    let (a, b) = t.values.split_at_mut((r + 1) * width);
    a[r * width..].swap_with_slice(&mut b[..width]);
    for k in [r, r + 1, r + 2] {
        set_memory_gap(m, k);
    }
    m.resync_words();
}

/// Shard only: `is_image = 1` on a row (the image enters through the memory
/// proof only).
fn shard_mem_image_flag(w: &mut ExecutionWitness) {
    let mut m = shard_mem(w, 0);
    let r = untouched_register_row(&m);
    set(m.t_mut(), r, mem::IS_IMAGE, 1);
    m.resync_words();
}

/// Global: an image word's initial value.
fn global_mem_image_init(w: &mut ExecutionWitness) {
    let mut m = global_mem(w);
    let r = find_from(m.t(), 0, "image", |x| is(x[mem::IS_IMAGE]));
    flip(m.t_mut(), r, mem::INIT_LO);
    m.resync_words();
}

/// Global: an image word the execution never touches, claimed to start at
/// zero (`is_image = 0`, init and final zero): the `global-memory` bus still
/// balances.
fn global_mem_image_flag(w: &mut ExecutionWitness) {
    let mut m = global_mem(w);
    let r = find_from(m.t(), 0, "untouched image word", |x| {
        is(x[mem::IS_IMAGE]) && u(x[mem::FINAL_TS]) == 0
    });
    for col in [
        mem::IS_IMAGE,
        mem::INIT_LO,
        mem::INIT_HI,
        mem::FINAL_LO,
        mem::FINAL_HI,
    ] {
        set(m.t_mut(), r, col, 0);
    }
    m.resync_words();
}

/// Global: a register that starts non-zero (a0 = 5 before the first cycle).
fn global_mem_register_init(w: &mut ExecutionWitness) {
    let mut m = global_mem(w);
    let r = m.row_of(10);
    set(m.t_mut(), r, mem::INIT_LO, 5);
    m.resync_words();
}

/// Global: a register's initial state at a later time (INIT_TS = 1).
fn global_mem_init_ts(w: &mut ExecutionWitness) {
    let mut m = global_mem(w);
    let r = m.row_of(10);
    set(m.t_mut(), r, mem::INIT_TS, 1);
    m.resync_words();
}

fn image_multiplicity(w: &mut ExecutionWitness) {
    let t = &mut w.global_traces[global_table::IMAGE];
    assert_eq!(get(t, 0, 0), 1);
    set(t, 0, 0, 0);
}

fn program_multiplicity(w: &mut ExecutionWitness) {
    let t = &mut w.shards[0].traces[table::PROGRAM];
    let r = find_from(t, 0, "fetched", |x| u(x[0]) != 0);
    let m = get(t, r, 0);
    set(t, r, 0, m + 1);
}

// --- Commit tampers.

/// Digest word 0's low limb changed in the Commit table, its public values
/// and the claim: the CPU's COMMIT messages no longer match.
fn commit_digest_limb(w: &mut ExecutionWitness) {
    w.claim.digest[0] ^= 1;
    let s = &mut w.shards[0];
    let t = &mut s.traces[table::COMMIT];
    for r in 0..t.height() {
        flip(t, r, com::DIGEST);
    }
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
}

fn commit_multiplicity_zero(w: &mut ExecutionWitness) {
    let t = &mut w.shards[0].traces[table::COMMIT];
    assert_ne!(get(t, 0, com::MULT + 3), 0);
    set(t, 0, com::MULT + 3, 0);
    set(t, 0, com::INV + 3, 0);
}

/// As above, and the shard no longer claims to have committed word 3: the
/// CPU's COMMIT of it goes unanswered.
fn commit_multiplicity_zero_not_committed(w: &mut ExecutionWitness) {
    commit_multiplicity_zero(w);
    let s = &mut w.shards[0];
    s.committed[3] = false;
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
}

// --- HintRead tampers.

fn hint_value(w: &mut ExecutionWitness) {
    let t = &mut w.shards[0].traces[table::HINT];
    assert!(is(row(t, 0)[h::IS_REAL]));
    flip(t, 0, h::VAL_LO);
}

fn hint_remaining(w: &mut ExecutionWitness) {
    let t = &mut w.shards[0].traces[table::HINT];
    let v = get(t, 0, h::REMAINING);
    set(t, 0, h::REMAINING, v + 4);
}

/// One more word written by the (only) HINT_READ call: a row continuing it.
fn hint_extra_row(w: &mut ExecutionWitness) {
    let t = &mut w.shards[0].traces[table::HINT];
    let last = find_from(t, 0, "last hint row", |x| !is(x[h::IS_REAL])) - 1;
    let new = last + 1;
    set(t, new, h::IS_REAL, 1);
    set(t, new, h::CLK, get(t, last, h::CLK));
    set(t, new, h::KEY, get(t, last, h::KEY) + 1);
    set(
        t,
        new,
        h::REMAINING,
        get(t, last, h::REMAINING).wrapping_sub(4) % P,
    );
    set(t, new, h::VAL_LO, 0x1234);
}

// --- Cross-shard tampers (the three-shard witness).

/// A key whose state passes from shard 0 to shard 1 and which both access:
/// its Memory rows in shards 0 and 1. `want_register` picks a register, or
/// else a memory word.
fn shared_key(w: &ExecutionWitness, want_register: bool) -> (u32, usize, usize) {
    let (a, b) = (&w.shards[0].boundary, &w.shards[1].boundary);
    for (i, x) in a.iter().enumerate() {
        if (x.key < 32) != want_register || x.key == 0 || x.final_ts == x.init_ts {
            continue;
        }
        if let Some(j) = b.iter().position(|y| y.key == x.key) {
            if b[j].init_ts == x.final_ts && b[j].final_ts != b[j].init_ts {
                return (x.key, i, j);
            }
        }
    }
    panic!("no key passes from shard 0 to shard 1 (register: {want_register})");
}

/// A key's exit value from shard 0 and its entry value into shard 1 changed
/// alike (tables and boundaries): the `global-memory` bus balances, the
/// value teleports between the shards, and only shard 0's local accesses (its
/// last write or read of the key) can disagree.
fn teleport(w: &mut ExecutionWitness, register: bool) {
    let (key, i, j) = shared_key(w, register);
    let mut m = shard_mem(w, 0);
    assert_eq!(mem_key(row(m.t(), i)), key);
    flip(m.t_mut(), i, mem::FINAL_LO);
    m.resync_words();
    let mut m = shard_mem(w, 1);
    assert_eq!(mem_key(row(m.t(), j)), key);
    flip(m.t_mut(), j, mem::INIT_LO);
    m.resync_words();
    assert_eq!(
        w.shards[0].boundary[i].final_value,
        w.shards[1].boundary[j].init
    );
}

/// Shard 0 ends elsewhere and shard 1 starts there (the chain the verifier
/// checks still holds): `pc` moves the pc by 4, else the clock by 1.
fn shard_boundary_moved(w: &mut ExecutionWitness, pc: bool) {
    for i in [0, 1] {
        let s = &mut w.shards[i];
        match (i, pc) {
            (0, true) => s.cpu.end_pc += 4,
            (0, false) => s.cpu.end_clk += 1,
            (_, true) => s.cpu.start_pc += 4,
            (_, false) => s.cpu.start_clk += 1,
        }
        s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
    }
}

/// A non-last shard claims to be the last (ending at pc 0).
fn shard0_claims_last(w: &mut ExecutionWitness) {
    let s = &mut w.shards[0];
    s.cpu.is_last = true;
    s.cpu.end_pc = 0;
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
}

// --- Case lists.

/// The CPU tampers of the one-shard witness, with what the debug prover must
/// report when it refuses (a constraint, or the LogUp bus that no longer
/// balances), or the verifier's error where no debug check applies.
fn cpu_cases() -> Vec<Case> {
    vec![
        (
            "cpu: register value (B_LO of a row reading rs1; EQ recomputed)",
            "Lookup mismatch",
            cpu_register_value,
        ),
        ("cpu: ALU result (A_LO)", "Lookup mismatch", cpu_alu_result),
        (
            "cpu: ALU result, AddSub row and range16 changed alike",
            "constraints not satisfied",
            cpu_alu_result_consistent,
        ),
        (
            "cpu: pc of a mid-trace row",
            "constraints not satisfied",
            cpu_pc,
        ),
        (
            "cpu: skipped instruction (row deleted)",
            "constraints not satisfied",
            cpu_skip_instruction,
        ),
        (
            "cpu: repeated instruction (row duplicated)",
            "constraints not satisfied",
            cpu_repeat_instruction,
        ),
        (
            "cpu: branch TAKEN flipped",
            "constraints not satisfied",
            cpu_branch_taken,
        ),
        (
            "cpu: LW value (A_LO)",
            "constraints not satisfied",
            cpu_load_value,
        ),
        (
            "cpu: SW value (MEM_NEW_LO)",
            "constraints not satisfied",
            cpu_store_value,
        ),
        (
            "cpu: HINT_LEN result (A_LO, range16 moved)",
            "lookup 'memory'",
            cpu_hint_len_result,
        ),
        (
            "cpu: syscall flag SYS_WRITE -> SYS_COMMIT",
            "constraints not satisfied",
            cpu_syscall_swap,
        ),
        (
            "cpu: syscall flag SYS_COMMIT -> SYS_WRITE",
            "constraints not satisfied",
            cpu_syscall_swap_back,
        ),
        (
            "cpu: COMMIT_DEFERRED_PROOFS index 2^16 + 1 (B_HI)",
            "constraints not satisfied",
            cpu_deferred_index_high,
        ),
        (
            "cpu: COMMIT_DEFERRED_PROOFS index 8, addr_w not pinned to it",
            "constraints not satisfied",
            cpu_deferred_index_unpinned,
        ),
        (
            "cpu: COMMIT_DEFERRED_PROOFS index 8, addr_w = 2^16 (range16)",
            "lookup 'range16'",
            cpu_deferred_index_out_of_range,
        ),
        (
            "cpu: timestamp gap E_RS1 (range16 moved)",
            "lookup 'memory'",
            cpu_timestamp_gap,
        ),
        (
            "cpu: IS_REAL = 0 on the HALT row",
            "constraints not satisfied",
            cpu_last_row_not_real,
        ),
        (
            "cpu: HALT row replaced by padding (truncated)",
            "constraints not satisfied",
            cpu_truncate_before_halt,
        ),
        (
            "cpu: HALT dropped, memory and publics consistent, shard not last",
            "is marked last",
            cpu_prefix_without_halt,
        ),
        (
            "cpu: fetched flag WRITES_RD flipped",
            "Lookup mismatch",
            cpu_fetched_flag,
        ),
        (
            "cpu: exit code in the public values (not a0's)",
            "constraints not satisfied",
            cpu_exit_code,
        ),
        // The addressed limb and byte, the byte-replaced limb, the high-limb
        // hit, the branch condition and the next pc are expressions in the
        // constraints (helper columns before stop 30): the sub-word loads'
        // and stores' values below, `TAKEN` and the pc chain above reach them.
        (
            "cpu: byte or half load value (A_LO of LB/LBU/LH/LHU)",
            "constraints not satisfied",
            |w| {
                cpu_helper(w, c::A_LO, "sub-word load", |x| {
                    is(x[f::WRITES_RD]) && (f::LB..=f::LHU).any(|k| is(x[k]))
                })
            },
        ),
        (
            "cpu: byte or half store's new low limb (MEM_NEW_LO of SB/SH)",
            "constraints not satisfied",
            |w| {
                cpu_helper(w, c::MEM_NEW_LO, "sub-word store", |x| {
                    is(x[f::SB]) || is(x[f::SH])
                })
            },
        ),
        (
            "cpu: byte or half store's new high limb (MEM_NEW_HI of SB/SH)",
            "constraints not satisfied",
            |w| {
                cpu_helper(w, c::MEM_NEW_HI, "sub-word store", |x| {
                    is(x[f::SB]) || is(x[f::SH])
                })
            },
        ),
        ("cpu: STORED", "constraints not satisfied", |w| {
            cpu_helper(w, c::STORED, "store", |x| is(x[f::SW]))
        }),
        (
            "cpu: HINT_LEN result without its range-checked copy (A_LO only)",
            "constraints not satisfied",
            |w| {
                let s = &mut w.shards[0];
                let r = cpu_row(s, "HINT_LEN", |x| is(x[c::SYS_HINT_LEN]));
                let (old, new) = flip(&mut s.traces[table::CPU], r, c::A_LO);
                range16_move(&mut s.traces, old, new);
            },
        ),
        ("cpu: ADDR_HI_SCALED", "constraints not satisfied", |w| {
            cpu_helper(w, c::ADDR_HI_SCALED, "memory access", is_mem_row)
        }),
        (
            "cpu: ENDS on a middle row",
            "constraints not satisfied",
            |w| cpu_helper(w, c::ENDS, "any", |_| true),
        ),
        (
            "cpu: ENDS cleared on the HALT row",
            "constraints not satisfied",
            |w| {
                let s = &mut w.shards[0];
                let r = last_real_row(s);
                flip(&mut s.traces[table::CPU], r, c::ENDS);
            },
        ),
    ]
}

/// The other tables' tampers of the one-shard witness (as [`cpu_cases`]).
fn table_cases() -> Vec<Case> {
    vec![
        ("shard memory: final value", "lookup 'memory'", |w| {
            mem_final_value(&mut shard_mem(w, 0), true)
        }),
        (
            "shard memory: is_image = 1",
            "constraints not satisfied",
            shard_mem_image_flag,
        ),
        (
            "shard memory: duplicated key (adjacent)",
            "lookup 'range16'",
            |w| mem_duplicate_key(&mut shard_mem(w, 0)),
        ),
        ("shard memory: keys out of order", "lookup 'range16'", |w| {
            mem_keys_out_of_order(&mut shard_mem(w, 0))
        }),
        (
            "global memory: final value (share follows: the shares don't sum to 0)",
            "does not balance",
            |w| mem_final_value(&mut global_mem(w), true),
        ),
        (
            "global memory: final value (share doesn't follow the table)",
            "does not verify",
            |w| mem_final_value(&mut global_mem(w), false),
        ),
        (
            "global memory: init value of an image word",
            "lookup 'image'",
            global_mem_image_init,
        ),
        (
            "global memory: untouched image word claimed non-image, zero",
            "lookup 'image'",
            global_mem_image_flag,
        ),
        (
            "global memory: a register starts non-zero",
            "constraints not satisfied",
            global_mem_register_init,
        ),
        (
            "global memory: an initial state at timestamp 1",
            "constraints not satisfied",
            global_mem_init_ts,
        ),
        (
            "global memory: duplicated key (adjacent)",
            "lookup 'range16'",
            |w| mem_duplicate_key(&mut global_mem(w)),
        ),
        (
            "global memory: keys out of order",
            "lookup 'range16'",
            |w| mem_keys_out_of_order(&mut global_mem(w)),
        ),
        (
            "image: multiplicity 0 on a real row",
            "constraints not satisfied",
            image_multiplicity,
        ),
        (
            "program: fetch multiplicity + 1",
            "lookup 'program'",
            program_multiplicity,
        ),
        (
            "commit: digest limb, its public value and the claim",
            "lookup 'commit'",
            commit_digest_limb,
        ),
        (
            "commit: multiplicity 0 for a committed word",
            "constraints not satisfied",
            commit_multiplicity_zero,
        ),
        (
            "commit: multiplicity 0 and the word's committed flag cleared",
            "lookup 'commit'",
            commit_multiplicity_zero_not_committed,
        ),
        (
            "hint: written value (range16 unchanged)",
            "Lookup mismatch",
            hint_value,
        ),
        (
            "hint: REMAINING",
            "constraints not satisfied",
            hint_remaining,
        ),
        (
            "hint: extra row appended to the call",
            "constraints not satisfied",
            hint_extra_row,
        ),
    ]
}

/// Keys wrapping around the field, in both Memory tables: caught since Memory
/// keys are range-checked below 2^30 - 2^24 (this case was a soundness bug
/// before).
fn key_wrapping_cases() -> Vec<Case> {
    vec![
        (
            "shard memory: duplicated key via keys wrapping around the field",
            "lookup 'range16'",
            |w| mem_duplicate_key_wrapping(&mut shard_mem(w, 0)),
        ),
        (
            "global memory: duplicated key via keys wrapping around the field",
            "lookup 'range16'",
            |w| mem_duplicate_key_wrapping(&mut global_mem(w)),
        ),
    ]
}

/// The tampers of the three-shard witness.
fn cross_shard_cases() -> Vec<Case> {
    vec![
        (
            "shard boundary: a register's exit value (shard 0) and entry value (shard 1)",
            "lookup 'memory'",
            |w| teleport(w, true),
        ),
        (
            "global-memory bus: a word's exit state (shard 0) and entry state (shard 1)",
            "lookup 'memory'",
            |w| teleport(w, false),
        ),
        (
            "shard 0's end pc and shard 1's start pc moved alike",
            "constraints not satisfied",
            |w| shard_boundary_moved(w, true),
        ),
        (
            "shard 0's end clock and shard 1's start clock moved alike",
            "constraints not satisfied",
            |w| shard_boundary_moved(w, false),
        ),
        (
            "shard 0 claims to be the last (end pc 0)",
            "constraints not satisfied",
            shard0_claims_last,
        ),
    ]
}

#[test]
fn memory_key_wrapping_is_rejected() {
    assert_all_rejected(&single().witness, &key_wrapping_cases());
}

/// The wrapping duplicate key turned into a false statement. `fibonacci` on a
/// 2-byte input panics: it commits the digest of no public values and HALTs
/// with exit code 1 (read from a0). A second Memory row for a0 (reached by
/// wrapping keys around the field, as above), in the shard's table and in the
/// memory proof's, provides another initial state `(a0, 0, 0)`; the HALT
/// row's read of a0 consumes that one instead (`b = 0`, its gap limbs
/// pointing at timestamp 0) and the duplicate row consumes the state the read
/// leaves. The honest chain of a0 now ends one access earlier. Before Memory
/// keys were range-checked, every bus balanced and every constraint held, so
/// the proof said fibonacci exited with code 0 and empty public values, which
/// no run of it does. Now the far row's key is out of range.
#[test]
fn memory_key_wrapping_cannot_forge_the_exit_code() {
    let program = guest("fibonacci");
    let honest = keys()
        .witness(&program, vec![vec![1, 2]], &ProveOptions::default())
        .unwrap();
    assert_eq!(honest.output.exit_code, 1);
    assert!(honest.output.public_values.is_empty());
    assert_eq!(honest.shards.len(), 1);
    assert!(honest.shards[0].committed.iter().all(|&c| c));
    let mut w = honest.clone();

    // The HALT row reads a0 (= 1) from the duplicate chain as 0.
    let s = &mut w.shards[0];
    let halt = last_real_row(s);
    let cpu = &mut s.traces[table::CPU];
    assert!(is(row(cpu, halt)[c::SYS_HALT]));
    assert_eq!(get(cpu, halt, f::RS1), 10);
    assert_eq!((get(cpu, halt, c::B_LO), get(cpu, halt, c::B_HI)), (1, 0));
    let ts = 4 * halt as u32 + 1;
    let (old_lo, old_hi) = (get(cpu, halt, c::E_RS1), get(cpu, halt, c::E_RS1 + 1));
    let honest_prev_ts = ts - 1 - old_lo - (old_hi << 14);
    let e = ts - 1; // prev_ts = 0
    set(cpu, halt, c::B_LO, 0);
    set(cpu, halt, c::E_RS1, e & 0x3fff);
    set(cpu, halt, c::E_RS1 + 1, e >> 14);
    fix_eq(cpu, halt);
    range16_move(&mut s.traces, old_lo, e & 0x3fff);
    range16_move(&mut s.traces, old_hi, e >> 14);

    // a0's rows: its honest chain now ends before the HALT read. The far row
    // and the duplicate of a0, which ends at the HALT read's state. Both
    // Memory tables alike, and the shares follow them.
    for shard in [true, false] {
        let mut m = if shard {
            shard_mem(&mut w, 0)
        } else {
            global_mem(&mut w)
        };
        let a0 = m.row_of(10);
        assert_eq!(get(m.t(), a0, mem::FINAL_TS), ts);
        set(m.t_mut(), a0, mem::FINAL_TS, honest_prev_ts);
        let mut dup = [0u32; MEM_WIDTH];
        set_key(&mut dup, 10);
        dup[mem::IS_REAL] = 1;
        let mut far = dup;
        set_key(&mut far, 10 + 1 + (1 << 30) - (1 << 23));
        dup[mem::FINAL_TS] = ts;
        insert_memory_rows(&mut m, a0, &[far, dup]);
        m.resync_words();
    }

    // The statement: exit code 0 (so all eight COMMITs are required, and they
    // were made) with the digest of the empty public values.
    w.claim.exit_code = 0;
    let s = &mut w.shards[0];
    s.public_values = shard_public_values(&s.cpu, w.claim, s.committed);
    assert_changed(&honest, &w, "forged exit code");
    let proved = catch_quietly(|| keys().prove_witness(&w, SEED));
    if let Ok(Ok(proof)) = proved {
        assert_eq!(proof.exit_code, 0);
        assert!(proof.public_values.is_empty());
        let statement = keys().verify(&proof);
        assert!(
            statement.is_err(),
            "a proof that fibonacci exits 0 with no public values verified: {statement:?}"
        );
    }
}

#[test]
fn honest_witness_proves_and_verifies() {
    let fx = single();
    assert_eq!(
        fx.witness.output.public_values,
        [10u32.to_le_bytes(), 55u32.to_le_bytes()].concat()
    );
    let statement = keys().verify(&fx.proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(statement.public_values, fx.witness.output.public_values);
    assert_eq!(statement.vk_digest, keys().vk_digest());
    // The harness itself accepts an untampered copy.
    assert!(matches!(attempt(&fx.witness.clone()), Outcome::Accepted));
}

// (The two lists run as two tests, in parallel with the others.)
#[test]
fn cpu_tampers_are_rejected() {
    let start = Instant::now();
    let cases = cpu_cases();
    assert_all_rejected(&single().witness, &cases);
    eprintln!(
        "{} CPU tampers in {:.1}s",
        cases.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn tampered_witnesses_are_rejected() {
    let start = Instant::now();
    let cases = table_cases();
    assert_all_rejected(&single().witness, &cases);
    eprintln!(
        "{} table tampers in {:.1}s",
        cases.len(),
        start.elapsed().as_secs_f64()
    );
}

/// The commit-digest tamper at the statement level: were a proof to come out,
/// `MachineKeys::verify` must refuse it, whether it names the tampered digest
/// (which no longer hashes the public values) or the true one (which the
/// Commit table's public values no longer hold).
#[test]
fn tampered_commit_digest_statement_is_rejected() {
    let fx = single();
    let mut w = fx.witness.clone();
    commit_digest_limb(&mut w);
    assert_changed(&fx.witness, &w, "commit digest");
    let proved = catch_quietly(|| keys().prove_witness(&w, SEED));
    if let Ok(Ok(mut proof)) = proved {
        assert_eq!(proof.committed_digest, w.claim.digest);
        assert!(keys().verify(&proof).is_err());
        proof.committed_digest = fx.witness.claim.digest;
        assert!(keys().verify(&proof).is_err());
    }
}

fn reproof(p: &Proof) -> Proof {
    Proof::from_bytes(&p.to_bytes()).unwrap()
}

/// A random-looking non-zero extension element.
fn delta() -> Challenge {
    Challenge::from_u32(0x1234_5678)
}

#[test]
fn statement_tampers_are_rejected() {
    let fx = single();
    let keys = keys();
    keys.verify(&fx.proof).unwrap();

    // Exit code 1 (no digest needed): the HALT row's a0 disagrees.
    let mut p = reproof(&fx.proof);
    p.exit_code = 1;
    let r = keys.verify(&p);
    assert!(stark_rejected(&r, Some(0)), "exit code 1: {r:?}");

    let mut p = reproof(&fx.proof);
    p.public_values[4] ^= 1;
    let r = keys.verify(&p);
    assert!(matches!(r, Err(ZkvmError::DigestMismatch { .. })), "{r:?}");

    let mut p = reproof(&fx.proof);
    p.committed_digest[2] ^= 1;
    let r = keys.verify(&p);
    assert!(matches!(r, Err(ZkvmError::DigestMismatch { .. })), "{r:?}");

    // Public values and a digest that matches them: only the STARK can refuse.
    let mut p = reproof(&fx.proof);
    p.public_values = [10u32.to_le_bytes(), 56u32.to_le_bytes()].concat();
    let digest: [u8; 32] = Sha256::digest(&p.public_values).into();
    p.committed_digest =
        std::array::from_fn(|i| u32::from_le_bytes(digest[4 * i..4 * i + 4].try_into().unwrap()));
    let r = keys.verify(&p);
    assert!(
        stark_rejected(&r, Some(0)),
        "consistent fake public values: {r:?}"
    );

    // A digest word claimed never committed.
    let mut p = reproof(&fx.proof);
    p.shards[0].committed[3] = false;
    let r = keys.verify(&p);
    assert!(matches!(r, Err(ZkvmError::Uncommitted(3))), "{r:?}");

    // The shard's share of the global-memory bus: unbalanced, or balanced by
    // the memory proof's share (then the shard's LogUp terminals disagree).
    let mut p = reproof(&fx.proof);
    p.shards[0].share += delta();
    let r = keys.verify(&p);
    assert!(matches!(r, Err(ZkvmError::Unbalanced)), "{r:?}");
    p.memory.share -= delta();
    let r = keys.verify(&p);
    assert!(stark_rejected(&r, Some(0)), "compensated share: {r:?}");

    // The CPU publics: the shard ends a cycle later (the chain allows it).
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.end_clk += 1;
    let r = keys.verify(&p);
    assert!(stark_rejected(&r, Some(0)), "end clock: {r:?}");
    // The only shard not the last one.
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.is_last = false;
    p.shards[0].cpu.end_pc = 0x1000;
    assert!(matches!(keys.verify(&p), Err(ZkvmError::BadShards(_))));
    // No shard at all.
    let mut p = reproof(&fx.proof);
    p.shards.clear();
    assert!(matches!(keys.verify(&p), Err(ZkvmError::BadShards(_))));

    // The proof under a different start pc: keys whose entry moved too, so
    // the chain check passes and the CPU's first-row pc must refuse.
    let mut shifted = MachineKeys::new(&guest("fibonacci"), FRI).unwrap();
    shifted.entry += 4;
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.start_pc += 4;
    let r = shifted.verify(&p);
    assert!(stark_rejected(&r, Some(0)), "start pc: {r:?}");
}

#[test]
fn proof_does_not_verify_under_another_program() {
    let fx = single();
    let program = guest("loop");
    let loop_keys = MachineKeys::new(&program, FRI).unwrap();
    assert_ne!(loop_keys.vk_digest(), keys().vk_digest());
    assert!(loop_keys.verify(&reproof(&fx.proof)).is_err());
}

#[test]
fn fresh_proofs_differ_and_verify() {
    let program = guest("fibonacci");
    let prove = || {
        let input = vec![10u32.to_le_bytes().to_vec()];
        let opts = ProveOptions::default();
        assert!(opts.seed.is_none());
        keys().prove(&program, input, &opts).unwrap().0
    };
    let (a, b) = (prove(), prove());
    assert_ne!(a.to_bytes(), b.to_bytes());
    keys().verify(&a).unwrap();
    keys().verify(&b).unwrap();
}

// --- Multi-shard.

#[test]
fn multi_shard_witness_proves_and_verifies() {
    let fx = multi();
    let statement = keys().verify(&fx.proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(statement.public_values, fx.witness.output.public_values);
    assert_eq!(&statement.public_values[..4], &1000u32.to_le_bytes());
    let shards = &fx.proof.shards;
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[0].cpu.start_clk, 0);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s.cpu.is_last, i == 2);
        assert!(s.cpu.end_clk - s.cpu.start_clk <= SMALL_SHARDS);
    }
    assert_eq!(shards[2].cpu.end_clk, 12149);
}

#[test]
fn cross_shard_tampers_are_rejected() {
    let start = Instant::now();
    let cases = cross_shard_cases();
    assert_all_rejected(&multi().witness, &cases);
    eprintln!(
        "{} cross-shard tampers in {:.1}s",
        cases.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn shard_proof_tampers_are_rejected() {
    let fx = multi();
    let keys = keys();
    let bad = |p: &Proof, what: &str| {
        let r = keys.verify(p);
        assert!(r.is_err(), "{what}: accepted");
        let e = r.unwrap_err();
        eprintln!("{what}: {e}");
        Err::<Statement, _>(e)
    };

    // Two shards' proofs swapped.
    let mut p = reproof(&fx.proof);
    p.shards.swap(0, 1);
    let _ = bad(&p, "shards 0 and 1 swapped");
    // A middle shard dropped; the last one dropped.
    let mut p = reproof(&fx.proof);
    p.shards.remove(1);
    let _ = bad(&p, "shard 1 dropped");
    let mut p = reproof(&fx.proof);
    p.shards.pop();
    let _ = bad(&p, "last shard dropped");

    // A share moved between shards (the sum stays zero): shard 0's LogUp
    // terminals no longer add up to its share.
    let mut p = reproof(&fx.proof);
    p.shards[0].share += delta();
    p.shards[1].share -= delta();
    let r = bad(&p, "share moved from shard 1 to shard 0");
    assert!(stark_rejected(&r, Some(0)), "{r:?}");
    let mut p = reproof(&fx.proof);
    p.shards[2].share += delta();
    p.memory.share -= delta();
    let r = bad(&p, "share moved from the memory proof to shard 2");
    assert!(stark_rejected(&r, Some(2)), "{r:?}");

    // The memory proof of another execution.
    let mut p = reproof(&fx.proof);
    p.memory = reproof(&single().proof).memory;
    let _ = bad(&p, "the memory proof of fibonacci(10)");

    // Shard 0's end pc: the chain breaks; with shard 1's start pc moved
    // alike, shard 0's STARK (and shard 1's) must refuse.
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.end_pc += 4;
    let r = bad(&p, "shard 0's end pc");
    assert!(matches!(r, Err(ZkvmError::BadShards(_))));
    p.shards[1].cpu.start_pc += 4;
    let r = bad(&p, "shard 0's end pc and shard 1's start pc");
    assert!(stark_rejected(&r, Some(0)), "{r:?}");
    // The same for the clock.
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.end_clk += 1;
    p.shards[1].cpu.start_clk += 1;
    let r = bad(&p, "shard 0's end clock and shard 1's start clock");
    assert!(stark_rejected(&r, Some(0)), "{r:?}");

    // A non-last shard marked last.
    let mut p = reproof(&fx.proof);
    p.shards[0].cpu.is_last = true;
    let _ = bad(&p, "shard 0 marked last");
    // Shard 0 alone, claiming to be the whole execution: marked last, ending
    // at pc 0, every digest word committed, the memory share balancing it.
    let mut p = reproof(&fx.proof);
    p.shards.truncate(1);
    let s = &mut p.shards[0];
    s.cpu.is_last = true;
    s.cpu.end_pc = 0;
    s.committed = [true; 8];
    p.memory.share = -p.shards[0].share;
    let r = bad(&p, "shard 0 alone, marked last");
    assert!(stark_rejected(&r, Some(0)), "{r:?}");

    // The committed flags: moved from the shard that committed to shard 0,
    // or cleared.
    let committing = fx
        .proof
        .shards
        .iter()
        .position(|s| s.committed.iter().any(|&c| c))
        .unwrap();
    assert_ne!(committing, 0);
    let mut p = reproof(&fx.proof);
    p.shards[0].committed = p.shards[committing].committed;
    p.shards[committing].committed = [false; 8];
    let r = bad(&p, "committed flags moved to shard 0");
    assert!(stark_rejected(&r, Some(0)), "{r:?}");
    let mut p = reproof(&fx.proof);
    for s in &mut p.shards {
        s.committed = [false; 8];
    }
    let r = bad(&p, "no committed flags");
    assert!(matches!(r, Err(ZkvmError::Uncommitted(0))), "{r:?}");
}
