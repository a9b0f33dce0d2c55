//! Soundness: start from the honest witness of `fibonacci(10)`, change one
//! thing, and require that no accepted proof comes out: either the prover
//! refuses (in test builds Plonky3's debug constraint and LogUp balance checks
//! panic before proving; a release prover would produce a proof that the
//! verifier rejects) or the verifier rejects the proof. Statement-level tampers
//! (exit code, public values, digest, start pc, another program's keys) go
//! through `MachineKeys::verify` or `cloak_prover::verify`.
//!
//! One honest control proves and verifies the untampered witness, and every
//! tamper is checked to have changed the witness, so the harness cannot pass
//! vacuously.

use cloak_machine::add_sub::cols as add_cols;
use cloak_machine::air::table;
use cloak_machine::bus::ADD_ID;
use cloak_machine::commit::cols as com;
use cloak_machine::cpu::{cols as c, public as cpu_public};
use cloak_machine::hint::cols as h;
use cloak_machine::memory::{cols as mem, KEY_BOUND_HI, WIDTH as MEM_WIDTH};
use cloak_machine::program::{fields as f, ProgramAir};
use cloak_machine::witness::MachineWitness;
use cloak_machine::{MachineKeys, Proof};
use cloak_prover::{fresh_config, seeded_config, FriSettings, Val};
use cloak_vm::{ExecConfig, ExecOutput, Program};
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

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

/// The honest run of `fibonacci(10)`: keys, witness, and a proof of it.
struct Fixture {
    keys: MachineKeys,
    /// The Program table (to find the row of a pc for multiplicity edits).
    program_air: ProgramAir,
    witness: MachineWitness,
    output: ExecOutput,
    proof: Proof,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let program = guest("fibonacci");
        let keys = MachineKeys::new(&program, FRI).unwrap();
        let program_air = ProgramAir::new(&program, FRI.min_trace_height()).unwrap();
        let (witness, output) = keys
            .witness(
                &program,
                vec![10u32.to_le_bytes().to_vec()],
                ExecConfig::default(),
            )
            .unwrap();
        assert_eq!(output.exit_code, 0);
        assert_eq!(output.cycles, 6209);
        let stark = keys
            .prove_witness(&witness, &seeded_config(FRI, [7; 32]))
            .expect("the honest witness proves");
        let proof = Proof {
            exit_code: output.exit_code,
            public_values: output.public_values.clone(),
            committed_digest: witness.digest,
            stark,
        };
        Fixture {
            keys,
            program_air,
            witness,
            output,
            proof,
        }
    })
}

fn clone_witness(w: &MachineWitness) -> MachineWitness {
    MachineWitness {
        traces: w.traces.clone(),
        public_values: w.public_values.clone(),
        digest: w.digest,
    }
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

/// The first CPU row in the middle of the execution (from cycle 100) that
/// satisfies `pred`.
fn cpu_row(w: &MachineWitness, what: &str, pred: impl Fn(&[Val]) -> bool) -> usize {
    let t = &w.traces[table::CPU];
    (100..t.height())
        .chain(0..100)
        .find(|&r| is(row(t, r)[c::IS_REAL]) && pred(row(t, r)))
        .unwrap_or_else(|| panic!("no CPU row: {what}"))
}

/// The last real CPU row (the HALT).
fn last_real_row(w: &MachineWitness) -> usize {
    let t = &w.traces[table::CPU];
    (0..t.height())
        .rev()
        .find(|&r| is(row(t, r)[c::IS_REAL]))
        .unwrap()
}

/// Moves one range16 lookup from `old` to `new` (keeping the `range16` bus
/// balanced for a limb that changed from `old` to `new`).
fn range16_move(w: &mut MachineWitness, old: u32, new: u32) {
    range16_add(w, old, -1);
    range16_add(w, new, 1);
}

fn range16_add(w: &mut MachineWitness, x: u32, delta: i64) {
    if x >= 1 << 16 {
        return; // Not in the table: nothing can balance it.
    }
    let t = &mut w.traces[table::RANGE16];
    let m = i64::from(get(t, x as usize, 0)) + delta;
    set(t, x as usize, 0, m as u32);
}

/// Adds `delta` to the fetch multiplicity of the instruction at `pc`.
fn program_mult_add(w: &mut MachineWitness, fx: &Fixture, pc: u32, delta: i64) {
    let index = fx
        .program_air
        .rows()
        .iter()
        .position(|r| r.pc == pc)
        .expect("an instruction");
    let t = &mut w.traces[table::PROGRAM];
    let m = i64::from(get(t, index, 0)) + delta;
    set(t, index, 0, m as u32);
}

/// A CPU padding row at clock `clk`.
fn cpu_padding_row(width: usize, clk: usize) -> Vec<Val> {
    let mut pad = vec![Val::ZERO; width];
    pad[c::CLK] = Val::from_usize(clk);
    pad[c::EQ] = Val::ONE;
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
}

/// Renumbers the CPU clock column 0, 1, 2, ...
fn renumber_clk(t: &mut RowMajorMatrix<Val>) {
    for r in 0..t.height() {
        set(t, r, c::CLK, r as u32);
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
fn set_memory_gap(w: &mut MachineWitness, r: usize) {
    let t = &w.traces[table::MEMORY];
    let (key, prev) = (mem_key(row(t, r)), mem_key(row(t, r - 1)));
    let gap = ((u64::from(key) + 2 * u64::from(P) - u64::from(prev) - 1) % u64::from(P)) as u32;
    let (lo, hi) = (gap & 0xffff, gap >> 16);
    let (old_lo, old_hi) = (get(t, r, mem::GAP_LO), get(t, r, mem::GAP_HI));
    let real = is(row(t, r)[mem::IS_REAL]);
    let t = &mut w.traces[table::MEMORY];
    set(t, r, mem::GAP_LO, lo);
    set(t, r, mem::GAP_HI, hi);
    if real {
        for (old, new) in mem_pair_checks(old_lo, old_hi)
            .into_iter()
            .zip(mem_pair_checks(lo, hi))
        {
            range16_move(w, old, new);
        }
    }
}

/// Inserts `rows` into the Memory table after row `after`, dropping as many
/// padding rows from the end.
fn insert_memory_rows(w: &mut MachineWitness, after: usize, rows: &[[u32; MEM_WIDTH]]) {
    let t = &mut w.traces[table::MEMORY];
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
                range16_add(w, check, 1);
            }
        }
        set_memory_gap(w, after + 1 + k);
    }
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

/// Proves `w` and verifies the proof against `w`'s own public values.
fn attempt(keys: &MachineKeys, w: &MachineWitness) -> Outcome {
    let proved = catch_quietly(|| keys.prove_witness(w, &seeded_config(FRI, [7; 32])));
    match proved {
        Err(p) => Outcome::ProverPanicked(panic_message(p)),
        Ok(Err(e)) => Outcome::ProverError(e.to_string()),
        Ok(Ok(stark)) => match cloak_prover::verify(&keys.vk, &keys.airs, &stark, &w.public_values)
        {
            Err(e) => Outcome::VerifierRejected(e.to_string()),
            Ok(()) => Outcome::Accepted,
        },
    }
}

/// Fails unless the tamper changed the honest witness.
fn assert_changed(honest: &MachineWitness, w: &MachineWitness, name: &str) {
    assert!(
        w.traces != honest.traces || w.public_values != honest.public_values,
        "the tamper changed nothing: {name}"
    );
}

type Tamper = fn(&mut MachineWitness, &Fixture);
/// A named tamper and the text the debug prover's refusal must contain.
type Case = (&'static str, &'static str, Tamper);

/// Applies each tamper to a copy of the honest witness and returns the
/// outcomes, printing them (run with `--nocapture` to see why each failed).
fn run_cases(cases: &[Case]) -> Vec<(String, Outcome)> {
    let fx = fixture();
    let mut out = Vec::new();
    for &(name, expect, tamper) in cases {
        let start = Instant::now();
        let mut w = clone_witness(&fx.witness);
        tamper(&mut w, fx);
        assert_changed(&fx.witness, &w, name);
        let outcome = attempt(&fx.keys, &w);
        let short = match &outcome {
            Outcome::ProverPanicked(m) | Outcome::ProverError(m) | Outcome::VerifierRejected(m) => {
                m.lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(160)
                    .collect::<String>()
            }
            Outcome::Accepted => String::new(),
        };
        let kind = match &outcome {
            Outcome::ProverPanicked(_) => "prover panicked",
            Outcome::ProverError(_) => "prover error",
            Outcome::VerifierRejected(_) => "verifier rejected",
            Outcome::Accepted => "ACCEPTED",
        };
        eprintln!(
            "[{:>5.1}s] {name}: {kind}: {short}",
            start.elapsed().as_secs_f64()
        );
        if let Outcome::ProverPanicked(m) = &outcome {
            assert!(
                m.contains(expect),
                "{name}: refused for another reason than `{expect}`: {short}"
            );
        }
        out.push((name.to_string(), outcome));
    }
    out
}

fn assert_all_rejected(cases: &[Case]) {
    let accepted: Vec<String> = run_cases(cases)
        .into_iter()
        .filter(|(_, o)| matches!(o, Outcome::Accepted))
        .map(|(n, _)| n)
        .collect();
    assert!(
        accepted.is_empty(),
        "tampered witnesses accepted: {accepted:?}"
    );
}

// --- CPU tampers.

fn cpu_register_value(w: &mut MachineWitness, _: &Fixture) {
    // rs1's value as the row read it.
    // (EQ and its inverses recomputed, so only the buses can refuse.)
    let r = cpu_row(w, "reads rs1", |x| is(x[f::READS_RS1]) && is(x[f::ALU_RR]));
    flip(&mut w.traces[table::CPU], r, c::B_LO);
    fix_eq(&mut w.traces[table::CPU], r);
}

fn cpu_alu_result(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "ALU with rd", |x| {
        (is(x[f::ALU_RR]) || is(x[f::ALU_IMM])) && is(x[f::WRITES_RD])
    });
    flip(&mut w.traces[table::CPU], r, c::A_LO);
}

/// The ALU result changed on the CPU row *and* on the AddSub row answering
/// it (and their Range16 lookups moved), so the `alu` and `range16` buses
/// still balance: the AddSub constraint must refuse.
fn cpu_alu_result_consistent(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "ADDI with rd", |x| {
        is(x[f::ALU_IMM]) && u(x[f::ALU_OP]) == ADD_ID && is(x[f::WRITES_RD])
    });
    let cpu = &w.traces[table::CPU];
    let msg: Vec<u32> = [c::A_LO, c::A_HI, c::B_LO, c::B_HI, c::C_LO, c::C_HI]
        .iter()
        .map(|&col| get(cpu, r, col))
        .collect();
    let add = &w.traces[table::ADD_SUB];
    let a = find_from(add, 0, "the AddSub row", |x| {
        is(x[add_cols::IS_ADD]) && (0..6).all(|i| u(x[add_cols::A_LO + i]) == msg[i])
    });
    flip(&mut w.traces[table::CPU], r, c::A_LO);
    let (old, new) = flip(&mut w.traces[table::ADD_SUB], a, add_cols::A_LO);
    range16_move(w, old, new);
}

fn cpu_pc(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "any", |_| true);
    let t = &mut w.traces[table::CPU];
    let pc = get(t, r, f::PC);
    set(t, r, f::PC, pc + 4);
}

/// Deletes a mid-trace row: later rows move up, the clock is renumbered, and
/// the deleted instruction's fetch multiplicity drops by one.
fn cpu_skip_instruction(w: &mut MachineWitness, fx: &Fixture) {
    let r = cpu_row(w, "ALU", |x| is(x[f::ALU_IMM]));
    let t = &mut w.traces[table::CPU];
    let (width, height) = (t.width(), t.height());
    let pc = get(t, r, f::PC);
    t.values.drain(r * width..(r + 1) * width);
    t.values.extend(cpu_padding_row(width, height - 1));
    renumber_clk(t);
    program_mult_add(w, fx, pc, -1);
}

/// Executes a mid-trace row twice: a copy follows it, later rows move down
/// (into the padding), the clock is renumbered, and the fetch multiplicity
/// grows by one.
fn cpu_repeat_instruction(w: &mut MachineWitness, fx: &Fixture) {
    let r = cpu_row(w, "ALU", |x| is(x[f::ALU_IMM]));
    let t = &mut w.traces[table::CPU];
    let (width, height) = (t.width(), t.height());
    assert!(!is(row(t, height - 1)[c::IS_REAL]), "a padding row to drop");
    let pc = get(t, r, f::PC);
    let copy = row(t, r).to_vec();
    t.values.splice((r + 1) * width..(r + 1) * width, copy);
    t.values.truncate(height * width);
    renumber_clk(t);
    program_mult_add(w, fx, pc, 1);
}

fn cpu_branch_taken(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "branch", |x| is(x[f::BRANCH_EQ]) || is(x[f::BRANCH_LT]));
    flip(&mut w.traces[table::CPU], r, c::TAKEN);
}

fn cpu_load_value(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "LW", |x| is(x[f::LW]) && is(x[f::WRITES_RD]));
    flip(&mut w.traces[table::CPU], r, c::A_LO);
}

fn cpu_store_value(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "SW", |x| is(x[f::SW]));
    flip(&mut w.traces[table::CPU], r, c::MEM_NEW_LO);
}

/// HINT_LEN's result is a free witness (range-checked): change it and move its
/// Range16 lookup, so only the later read of the register can refuse.
fn cpu_hint_len_result(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "HINT_LEN", |x| is(x[c::SYS_HINT_LEN]));
    let (old, new) = flip(&mut w.traces[table::CPU], r, c::A_LO);
    range16_move(w, old, new);
}

fn cpu_syscall_swap(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "WRITE", |x| is(x[c::SYS_WRITE]));
    let t = &mut w.traces[table::CPU];
    set(t, r, c::SYS_WRITE, 0);
    set(t, r, c::SYS_COMMIT, 1);
}

fn cpu_syscall_swap_back(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "COMMIT", |x| is(x[c::SYS_COMMIT]));
    let t = &mut w.traces[table::CPU];
    set(t, r, c::SYS_COMMIT, 0);
    set(t, r, c::SYS_WRITE, 1);
}

/// The rs1 timestamp gap, with its Range16 lookup moved along.
fn cpu_timestamp_gap(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "reads rs1", |x| is(x[f::READS_RS1]));
    let (old, new) = flip(&mut w.traces[table::CPU], r, c::E_RS1);
    range16_move(w, old, new);
}

fn cpu_last_row_not_real(w: &mut MachineWitness, _: &Fixture) {
    let r = last_real_row(w);
    assert!(is(row(&w.traces[table::CPU], r)[c::SYS_HALT]));
    set(&mut w.traces[table::CPU], r, c::IS_REAL, 0);
}

/// The HALT row replaced by padding (and its fetch removed): the execution
/// "ends" one cycle early, without halting.
fn cpu_truncate_before_halt(w: &mut MachineWitness, fx: &Fixture) {
    let r = last_real_row(w);
    let t = &mut w.traces[table::CPU];
    let width = t.width();
    let pc = get(t, r, f::PC);
    let pad = cpu_padding_row(width, r);
    t.values[r * width..(r + 1) * width].copy_from_slice(&pad);
    program_mult_add(w, fx, pc, -1);
}

fn cpu_fetched_flag(w: &mut MachineWitness, _: &Fixture) {
    let r = cpu_row(w, "writes rd", |x| is(x[f::WRITES_RD]));
    flip(&mut w.traces[table::CPU], r, f::WRITES_RD);
}

// --- Memory, Image and Program tampers.

/// The first Memory row (a register) whose final state comes from an access.
fn mem_final_value(w: &mut MachineWitness, _: &Fixture) {
    let r = find_from(&w.traces[table::MEMORY], 0, "accessed", |x| {
        u(x[mem::FINAL_TS]) != 0
    });
    flip(&mut w.traces[table::MEMORY], r, mem::FINAL_LO);
}

fn mem_image_init(w: &mut MachineWitness, _: &Fixture) {
    let r = find_from(&w.traces[table::MEMORY], 0, "image", |x| {
        is(x[mem::IS_IMAGE])
    });
    flip(&mut w.traces[table::MEMORY], r, mem::INIT_LO);
}

/// An image word the execution never touches, claimed to start at zero
/// (`is_image = 0`, init and final zero): the memory bus still balances.
fn mem_image_flag(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::MEMORY];
    let r = find_from(t, 0, "untouched image word", |x| {
        is(x[mem::IS_IMAGE]) && u(x[mem::FINAL_TS]) == 0
    });
    for col in [
        mem::IS_IMAGE,
        mem::INIT_LO,
        mem::INIT_HI,
        mem::FINAL_LO,
        mem::FINAL_HI,
    ] {
        set(t, r, col, 0);
    }
}

/// The Memory row of a register the execution never touches (init = final =
/// 0, final_ts = 0): another row for it balances the memory bus.
fn untouched_register_row(w: &MachineWitness) -> usize {
    find_from(&w.traces[table::MEMORY], 0, "untouched register", |x| {
        mem_key(x) < 32 && u(x[mem::FINAL_TS]) == 0 && mem_key(x) != 0
    })
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

/// A second row for an untouched register, right after its first one; the gap
/// limbs satisfy the ordering constraint in the field, so only their range
/// check refuses.
fn mem_duplicate_key(w: &mut MachineWitness, _: &Fixture) {
    let r = untouched_register_row(w);
    let copy = memory_row_values(&w.traces[table::MEMORY], r);
    insert_memory_rows(w, r, &[copy]);
}

/// Two rows for one key while every gap passes its range check: the keys wrap
/// around the field. After the untouched register's row (key `k`) come a row
/// for key `k + 1 + g1` and then a second row for key `k`, whose gap is
/// `p - 2 - g1`; with `g1 = 2^30 - 2^23` both gaps split as `lo + 2^14 hi`
/// with 16-bit limbs. Both new rows are unaccessed (init = final = 0,
/// final_ts = 0), so the memory bus still balances, and the Range16
/// multiplicities count their gap limbs.
fn mem_duplicate_key_wrapping(w: &mut MachineWitness, _: &Fixture) {
    let r = untouched_register_row(w);
    let copy = memory_row_values(&w.traces[table::MEMORY], r);
    let mut far = copy;
    set_key(&mut far, mem_key_of(&copy) + 1 + (1 << 30) - (1 << 23));
    insert_memory_rows(w, r, &[far, copy]);
    let t = &w.traces[table::MEMORY];
    for k in [r + 1, r + 2] {
        assert!(get(t, k, mem::GAP_LO) < 1 << 16 && get(t, k, mem::GAP_HI) < 1 << 16);
    }
    assert_eq!(mem_key(row(t, r + 2)), mem_key(row(t, r)));
}

/// Two adjacent real rows swapped (gap limbs recomputed in the field).
fn mem_keys_out_of_order(w: &mut MachineWitness, _: &Fixture) {
    let r = untouched_register_row(w);
    let t = &mut w.traces[table::MEMORY];
    let width = t.width();
    assert!(is(row(t, r + 1)[mem::IS_REAL]));
    let (a, b) = t.values.split_at_mut((r + 1) * width);
    a[r * width..].swap_with_slice(&mut b[..width]);
    for k in [r, r + 1, r + 2] {
        set_memory_gap(w, k);
    }
}

fn image_multiplicity(w: &mut MachineWitness, _: &Fixture) {
    assert_eq!(get(&w.traces[table::IMAGE], 0, 0), 1);
    set(&mut w.traces[table::IMAGE], 0, 0, 0);
}

fn program_multiplicity(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::PROGRAM];
    let r = find_from(t, 0, "fetched", |x| u(x[0]) != 0);
    let m = get(t, r, 0);
    set(t, r, 0, m + 1);
}

// --- Commit tampers.

/// Digest word 0's low limb changed in the Commit table and its public values:
/// the CPU's COMMIT messages no longer match.
fn commit_digest_limb(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::COMMIT];
    for r in 0..t.height() {
        flip(t, r, com::DIGEST);
    }
    let p = &mut w.public_values[table::COMMIT][0];
    *p = Val::from_u32(u(*p) ^ 1);
    w.digest[0] ^= 1;
}

fn commit_multiplicity_zero(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::COMMIT];
    assert_ne!(get(t, 0, com::MULT + 3), 0);
    set(t, 0, com::MULT + 3, 0);
    set(t, 0, com::INV + 3, 0);
}

// --- HintRead tampers.

fn hint_value(w: &mut MachineWitness, _: &Fixture) {
    assert!(is(row(&w.traces[table::HINT], 0)[h::IS_REAL]));
    flip(&mut w.traces[table::HINT], 0, h::VAL_LO);
}

fn hint_remaining(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::HINT];
    let v = get(t, 0, h::REMAINING);
    set(t, 0, h::REMAINING, v + 4);
}

/// One more word written by the (only) HINT_READ call: a row continuing it.
fn hint_extra_row(w: &mut MachineWitness, _: &Fixture) {
    let t = &mut w.traces[table::HINT];
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

// --- Case lists.

/// The tampers, with what the debug prover must report when it refuses (a
/// constraint, or the LogUp bus that no longer balances). A release-mode
/// prover does not check; then the verifier must reject.
const REJECTED: &[Case] = &[
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
        "cpu: fetched flag WRITES_RD flipped",
        "Lookup mismatch",
        cpu_fetched_flag,
    ),
    ("memory: final value", "lookup 'memory'", mem_final_value),
    (
        "memory: init value of an image word",
        "lookup 'image'",
        mem_image_init,
    ),
    (
        "memory: untouched image word claimed non-image, zero",
        "lookup 'image'",
        mem_image_flag,
    ),
    (
        "memory: duplicated key (adjacent)",
        "lookup 'range16'",
        mem_duplicate_key,
    ),
    (
        "memory: keys out of order",
        "lookup 'range16'",
        mem_keys_out_of_order,
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
        "commit: digest limb and its public value",
        "lookup 'commit'",
        commit_digest_limb,
    ),
    (
        "commit: multiplicity 0 for a committed word",
        "constraints not satisfied",
        commit_multiplicity_zero,
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
];

/// Keys wrapping around the field: caught since Memory keys are range-checked
/// below 2^30 - 2^24 (this case was a soundness bug before).
const KEY_WRAPPING: &[Case] = &[(
    "memory: duplicated key via keys wrapping around the field",
    "",
    mem_duplicate_key_wrapping,
)];

#[test]
fn memory_key_wrapping_is_rejected() {
    assert_all_rejected(KEY_WRAPPING);
}

/// The wrapping duplicate key turned into a false statement. `fibonacci` on a
/// 2-byte input panics: it commits the digest of no public values and HALTs
/// with exit code 1 (read from a0). A second Memory row for a0 (reached by
/// wrapping keys around the field, as above) provides another initial state
/// `(a0, 0, 0)`; the HALT row's read of a0 consumes that one instead (`b = 0`,
/// its gap limbs pointing at timestamp 0) and the duplicate row consumes the
/// state the read leaves. The honest chain of a0 now ends one access earlier.
/// Before Memory keys were range-checked, every bus balanced and every
/// constraint held, so the proof said fibonacci exited with code 0 and empty
/// public values, which no run of it does. Now the far row's key is out of
/// range.
#[test]
fn memory_key_wrapping_cannot_forge_the_exit_code() {
    let fx = fixture();
    let program = guest("fibonacci");
    let (honest, output) = fx
        .keys
        .witness(&program, vec![vec![1, 2]], ExecConfig::default())
        .unwrap();
    assert_eq!(output.exit_code, 1);
    assert!(output.public_values.is_empty());
    let mut w = clone_witness(&honest);

    // The HALT row reads a0 (= 1) from the duplicate chain as 0.
    let halt = last_real_row(&w);
    let cpu = &mut w.traces[table::CPU];
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
    range16_move(&mut w, old_lo, e & 0x3fff);
    range16_move(&mut w, old_hi, e >> 14);

    // a0's Memory row: its honest chain now ends before the HALT read.
    let memory = &mut w.traces[table::MEMORY];
    let a0 = find_from(memory, 0, "a0", |x| mem_key(x) == 10);
    assert_eq!(get(memory, a0, mem::FINAL_TS), ts);
    set(memory, a0, mem::FINAL_TS, honest_prev_ts);
    // The far row and the duplicate of a0, which ends at the HALT read's state.
    let mut dup = [0u32; MEM_WIDTH];
    set_key(&mut dup, 10);
    dup[mem::IS_REAL] = 1;
    let mut far = dup;
    set_key(&mut far, 10 + 1 + (1 << 30) - (1 << 23));
    dup[mem::FINAL_TS] = ts;
    insert_memory_rows(&mut w, a0, &[far, dup]);

    // The statement: exit code 0 (so all eight COMMITs are required, and they
    // were made) with the digest of the empty public values.
    w.public_values = cloak_machine::witness::public_values(fx.keys.entry, 0, w.digest);
    assert_changed(&honest, &w, "forged exit code");
    let proved = catch_quietly(|| fx.keys.prove_witness(&w, &seeded_config(FRI, [7; 32])));
    if let Ok(Ok(stark)) = proved {
        let proof = Proof {
            exit_code: 0,
            public_values: Vec::new(),
            committed_digest: w.digest,
            stark,
        };
        let statement = fx.keys.verify(&proof);
        assert!(
            statement.is_err(),
            "a proof that fibonacci exits 0 with no public values verified: {statement:?}"
        );
    }
}

#[test]
fn honest_witness_proves_and_verifies() {
    let fx = fixture();
    assert_eq!(
        fx.output.public_values,
        [10u32.to_le_bytes(), 55u32.to_le_bytes()].concat()
    );
    // The raw STARK proof against the witness's public values, and the statement.
    cloak_prover::verify(
        &fx.keys.vk,
        &fx.keys.airs,
        &fx.proof.stark,
        &fx.witness.public_values,
    )
    .unwrap();
    let statement = fx.keys.verify(&fx.proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(statement.public_values, fx.output.public_values);
    // The harness itself accepts an untampered copy.
    assert!(matches!(
        attempt(&fx.keys, &clone_witness(&fx.witness)),
        Outcome::Accepted
    ));
}

#[test]
fn tampered_witnesses_are_rejected() {
    let start = Instant::now();
    assert_all_rejected(REJECTED);
    eprintln!(
        "{} tampers in {:.1}s",
        REJECTED.len(),
        start.elapsed().as_secs_f64()
    );
}

/// The commit-digest tamper at the statement level: were a proof to come out,
/// `MachineKeys::verify` must refuse it (the digest no longer hashes the
/// public values, and the CPU's COMMIT messages name the true digest).
#[test]
fn tampered_commit_digest_statement_is_rejected() {
    let fx = fixture();
    let mut w = clone_witness(&fx.witness);
    commit_digest_limb(&mut w, fx);
    assert_changed(&fx.witness, &w, "commit digest");
    let proved = catch_quietly(|| fx.keys.prove_witness(&w, &seeded_config(FRI, [7; 32])));
    if let Ok(Ok(stark)) = proved {
        let proof = Proof {
            exit_code: 0,
            public_values: fx.output.public_values.clone(),
            committed_digest: w.digest,
            stark,
        };
        assert!(fx.keys.verify(&proof).is_err());
    }
}

fn reproof(p: &Proof) -> Proof {
    Proof::from_bytes(&p.to_bytes()).unwrap()
}

#[test]
fn statement_tampers_are_rejected() {
    let fx = fixture();
    let keys = &fx.keys;
    keys.verify(&fx.proof).unwrap();

    let mut p = reproof(&fx.proof);
    p.exit_code = 1;
    assert!(keys.verify(&p).is_err(), "exit code 1 accepted");

    let mut p = reproof(&fx.proof);
    p.public_values[4] ^= 1;
    assert!(keys.verify(&p).is_err(), "changed public values accepted");

    let mut p = reproof(&fx.proof);
    p.committed_digest[2] ^= 1;
    assert!(
        keys.verify(&p).is_err(),
        "changed committed digest accepted"
    );

    // Public values and a digest that matches them: only the STARK can refuse.
    let mut p = reproof(&fx.proof);
    p.public_values = [10u32.to_le_bytes(), 56u32.to_le_bytes()].concat();
    let digest: [u8; 32] = Sha256::digest(&p.public_values).into();
    p.committed_digest =
        std::array::from_fn(|i| u32::from_le_bytes(digest[4 * i..4 * i + 4].try_into().unwrap()));
    assert!(
        matches!(keys.verify(&p), Err(cloak_machine::ZkvmError::Verify(_))),
        "consistent fake public values accepted"
    );

    // The raw proof under a different start pc.
    let mut publics = fx.witness.public_values.clone();
    publics[table::CPU][cpu_public::START_PC] += Val::from_u32(4);
    assert!(cloak_prover::verify(&keys.vk, &keys.airs, &fx.proof.stark, &publics).is_err());
    // ... and under another exit code with the same digest.
    let mut publics = fx.witness.public_values.clone();
    publics[table::CPU][cpu_public::EXIT_LO] = Val::ONE;
    assert!(cloak_prover::verify(&keys.vk, &keys.airs, &fx.proof.stark, &publics).is_err());
}

#[test]
fn proof_does_not_verify_under_another_program() {
    let fx = fixture();
    let program = guest("loop");
    let loop_keys = MachineKeys::new(&program, FRI).unwrap();
    assert_ne!(loop_keys.vk_digest(), fx.keys.vk_digest());
    assert!(loop_keys.verify(&reproof(&fx.proof)).is_err());
}

#[test]
fn fresh_proofs_differ_and_verify() {
    let fx = fixture();
    let prove = || {
        let stark = fx
            .keys
            .prove_witness(&fx.witness, &fresh_config(FRI).unwrap())
            .unwrap();
        Proof {
            exit_code: 0,
            public_values: fx.output.public_values.clone(),
            committed_digest: fx.witness.digest,
            stark,
        }
    };
    let (a, b) = (prove(), prove());
    assert_ne!(a.to_bytes(), b.to_bytes());
    fx.keys.verify(&a).unwrap();
    fx.keys.verify(&b).unwrap();
}
