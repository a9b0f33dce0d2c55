//! The KECCAK_PERMUTE precompile (KeccakPermute table): the `keccak256`
//! guest proves and verifies, in one shard and in several, and tampered
//! witnesses of the table are rejected (the prover panics in test builds, or
//! errs, or the verifier rejects the proof).

use cloak_machine::air::table;
use cloak_machine::keccak::{self, cols as kc, keccak_cols, word_columns, ROWS_PER_CALL, WORDS};
use cloak_machine::zkvm::ExecutionWitness;
use cloak_machine::{MachineKeys, ProveOptions, TableSet};
use cloak_prover::{FriSettings, Val};
use cloak_vm::Program;
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_keccak_air::{generate_trace_rows, NUM_KECCAK_COLS};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Instant;
use tiny_keccak::{Hasher, Keccak};

const SEED: [u8; 32] = [9; 32];

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A bincode `Vec<u8>`: 8-byte little-endian length, then the bytes.
fn vec_input(bytes: &[u8]) -> Vec<Vec<u8>> {
    vec![cloak_vm::input::vec_u8(bytes)]
}

/// Keccak-256 (Ethereum padding) by tiny-keccak.
fn keccak256(data: &[u8]) -> String {
    let mut h = Keccak::v256();
    h.update(data);
    let mut out = [0u8; 32];
    h.finalize(&mut out);
    hex(&out)
}

/// 200 bytes: two blocks of the 136-byte rate, so two permutations.
fn message() -> Vec<u8> {
    (0..200u32).map(|i| (i * 13 + 5) as u8).collect()
}

fn keys() -> &'static MachineKeys {
    static KEYS: OnceLock<MachineKeys> = OnceLock::new();
    KEYS.get_or_init(|| MachineKeys::new(&guest("keccak256"), FriSettings::DEFAULT).unwrap())
}

/// The honest one-shard witness of hashing [`message`].
fn fixture() -> &'static ExecutionWitness {
    static FX: OnceLock<ExecutionWitness> = OnceLock::new();
    FX.get_or_init(|| {
        let w = keys()
            .witness(
                &guest("keccak256"),
                vec_input(&message()),
                &ProveOptions::default(),
            )
            .unwrap();
        assert_eq!(w.shards.len(), 1);
        w
    })
}

/// "abc" (the benchmark's input) in shards of 2^12 cycles: the call is in
/// one shard, the other proves an empty KeccakPermute table.
#[test]
fn keccak256_guest_proves_across_shards() {
    let program = guest("keccak256");
    let opts = ProveOptions {
        shard_cycles: 1 << 12,
        seed: Some([3; 32]),
        ..ProveOptions::default()
    };
    let start = Instant::now();
    let (proof, report) = keys().prove(&program, vec_input(b"abc"), &opts).unwrap();
    eprintln!(
        "keccak256(\"abc\"): {} cycles in {} shards, proved in {:?}",
        report.cycles,
        report.shards,
        start.elapsed()
    );
    assert!(proof.shards.len() >= 2);
    let statement = keys().verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(hex(&statement.public_values), keccak256(b"abc"));
    assert_eq!(
        keccak256(b"abc"),
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    );
}

// --- Tampering.

thread_local! {
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// How `w` was rejected, or `None` if its proof was accepted: the prover
/// panics (debug constraint or LogUp balance checks) or errs, or the verifier
/// rejects.
fn outcome(w: &ExecutionWitness, name: &str) -> Option<String> {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
    EXPECTING_PANIC.with(|e| e.set(true));
    let proved = catch_unwind(AssertUnwindSafe(|| keys().prove_witness(w, SEED)));
    EXPECTING_PANIC.with(|e| e.set(false));
    let outcome = match proved {
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let first = msg.lines().next().unwrap_or("").chars().take(160);
            format!("prover panicked: {}", first.collect::<String>())
        }
        Ok(Err(e)) => format!("prover error: {e}"),
        Ok(Ok(proof)) => match keys().verify(&proof) {
            Err(e) => format!("verifier rejected: {e}"),
            Ok(_) => return None,
        },
    };
    eprintln!("{name}: {outcome}");
    Some(outcome)
}

fn get(t: &RowMajorMatrix<Val>, row: usize, col: usize) -> u32 {
    t.values[row * t.width() + col].as_canonical_u32()
}

fn set(t: &mut RowMajorMatrix<Val>, row: usize, col: usize, v: u32) {
    let width = t.width();
    t.values[row * width + col] = Val::from_u32(v);
}

/// Applies `tamper` to a copy of the honest witness's shard traces (all
/// tables, so lookup multiplicities can be kept balanced) and requires that
/// the result changed and is rejected, with a message containing `expect`.
fn assert_rejected_by(name: &str, expect: &str, tamper: impl FnOnce(&mut [RowMajorMatrix<Val>])) {
    let honest = fixture();
    let mut w = honest.clone();
    tamper(&mut w.shards[0].traces);
    assert!(
        w.shards[0].traces != honest.shards[0].traces,
        "{name}: the tamper changed nothing"
    );
    let outcome = outcome(&w, name).unwrap_or_else(|| panic!("{name}: accepted"));
    assert!(
        outcome.contains(expect),
        "{name}: rejected for another reason: {outcome}"
    );
}

/// [`assert_rejected_by`] for a tamper of the KeccakPermute table alone,
/// rejected for any reason.
fn assert_rejected(name: &str, tamper: impl FnOnce(&mut RowMajorMatrix<Val>)) {
    assert_rejected_by(name, "", |ts| tamper(&mut ts[table::KECCAK_PERMUTE]));
}

/// The debug constraint check's message.
const CONSTRAINT: &str = "constraints not satisfied";
/// The debug LogUp check's message.
const LOOKUP: &str = "Lookup mismatch";

/// Moves one `range16` lookup from `old` to `new`.
fn range16_move(traces: &mut [RowMajorMatrix<Val>], old: u32, new: u32) {
    let t = &mut traces[table::RANGE16];
    t.values[old as usize] -= Val::ONE;
    t.values[new as usize] += Val::ONE;
}

/// The `range16` values a call (whose row 23 is `r`) sends: the pointer's
/// and the gaps'.
fn call_range_checks(m: &RowMajorMatrix<Val>, r: usize) -> Vec<u32> {
    let mut v = vec![get(m, r, kc::PTR_W), 2 * get(m, r, kc::PTR_HI)];
    v.extend((0..2 * WORDS).map(|i| get(m, r, kc::GAP + i)));
    v
}

fn range16_add(traces: &mut [RowMajorMatrix<Val>], checks: &[u32], sign: Val) {
    for &v in checks {
        traces[table::RANGE16].values[v as usize] += sign;
    }
}

/// The call row (round 23) of call `i`.
fn call_row(i: usize) -> usize {
    i * ROWS_PER_CALL + ROWS_PER_CALL - 1
}

/// Removes `n` rows at `r` (rows below move up; zero rows are appended).
fn drop_rows(t: &mut RowMajorMatrix<Val>, r: usize, n: usize) {
    let width = t.width();
    t.values.drain(r * width..(r + n) * width);
    t.values.extend(std::iter::repeat_n(Val::ZERO, n * width));
}

/// Repeats rows `r..r + n` after themselves (rows below move down; the last
/// `n` rows are dropped).
fn duplicate_rows(t: &mut RowMajorMatrix<Val>, r: usize, n: usize) {
    let width = t.width();
    let copy: Vec<Val> = t.values[r * width..(r + n) * width].to_vec();
    t.values.splice((r + n) * width..(r + n) * width, copy);
    t.values.truncate(t.values.len() - n * width);
}

/// The fixture (two permutations, one shard) proves and verifies, and its
/// digest is tiny-keccak's.
#[test]
fn keccak256_guest_proves_and_verifies() {
    let w = fixture();
    let m = &w.shards[0].traces[table::KECCAK_PERMUTE];
    let k = keccak_cols();
    for i in 0..2 {
        assert_eq!(get(m, call_row(i), k.export), 1, "call {i}");
    }
    assert_eq!(get(m, call_row(2), k.export), 0, "two calls");
    assert_eq!(m.width(), keccak::WIDTH);
    let start = Instant::now();
    let proof = keys().prove_witness(w, SEED).unwrap();
    eprintln!("keccak256(200 bytes): proved in {:?}", start.elapsed());
    let statement = keys().verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(hex(&statement.public_values), keccak256(&message()));
}

#[test]
fn keccak_value_tampers_are_rejected() {
    let k = keccak_cols();
    let last = call_row(0);
    // An output limb written to memory (word 7's high limb: lane 3).
    assert_rejected_by("output limb", CONSTRAINT, |ts| {
        let col = word_columns(7).1[1];
        let v = get(&ts[table::KECCAK_PERMUTE], last, col);
        set(&mut ts[table::KECCAK_PERMUTE], last, col, v ^ 0x100);
    });
    // A state bit in a middle round (A' of lane 6, round 12).
    assert_rejected("middle-round state bit", |m| {
        let col = k.a_prime[1][1][40];
        let v = get(m, 12, col);
        set(m, 12, col, v ^ 1);
    });
    // The preimage changed on one row only.
    assert_rejected("preimage on one row", |m| {
        let col = word_columns(9).0[0];
        let v = get(m, 5, col);
        set(m, 5, col, v ^ 1);
    });
}

/// A shard proof holds the KeccakPermute table only when it calls it; left
/// out of a shard that does, the CPU's `precompile` sends have no receiver.
#[test]
fn keccak_table_left_out_is_rejected() {
    let w = fixture();
    assert!(w.shards[0].tables.contains(table::KECCAK_PERMUTE));
    let mut without = w.clone();
    without.shards[0].tables = TableSet(w.shards[0].tables.0 & !(1 << table::KECCAK_PERMUTE));
    assert!(outcome(&without, "KeccakPermute table left out").is_some());
}

/// The input word does not match memory: call 0's permutation recomputed
/// honestly from a state whose word 9 differs (every constraint holds), so
/// only the `memory` bus can tell.
#[test]
fn keccak_wrong_input_is_rejected() {
    assert_rejected_by("input word vs memory", LOOKUP, |ts| {
        let m = &mut ts[table::KECCAK_PERMUTE];
        let k = keccak_cols();
        let row0 = call_row(0);
        let mut lanes = [0u64; 25];
        for (j, lane) in (0..WORDS).map(|j| (j, j / 2)) {
            let ([lo, hi], _) = word_columns(j);
            let word = u64::from(get(m, row0, lo) | get(m, row0, hi) << 16);
            lanes[lane] |= word << (32 * (j % 2));
        }
        lanes[4] ^= 1 << 40; // word 9
        let perm = generate_trace_rows::<Val>(vec![lanes], 0);
        let width = m.width();
        for r in 0..ROWS_PER_CALL {
            m.values[r * width..r * width + NUM_KECCAK_COLS]
                .copy_from_slice(&perm.values[r * NUM_KECCAK_COLS..(r + 1) * NUM_KECCAK_COLS]);
        }
        set(m, row0, k.export, 1);
    });
}

#[test]
fn keccak_call_tampers_are_rejected() {
    let t = table::KECCAK_PERMUTE;
    let last = call_row(0);
    // The pointer, consistent along the call and with the range checks: the
    // message and the 50 keys change, so only the buses can tell.
    assert_rejected_by("pointer", LOOKUP, |ts| {
        let old_w = get(&ts[t], last, kc::PTR_W);
        for r in 0..ROWS_PER_CALL {
            for (col, d) in [(kc::PTR_LO, 4), (kc::PTR_W, 1)] {
                let v = get(&ts[t], r, col);
                set(&mut ts[t], r, col, v + d);
            }
        }
        range16_move(ts, old_w, old_w + 1);
    });
    // The message's a1 (which KECCAK_PERMUTE ignores): only the
    // `precompile` bus sees it.
    assert_rejected_by("message a1", "'precompile'", |ts| {
        for r in 0..ROWS_PER_CALL {
            let v = get(&ts[t], r, kc::A1_LO);
            set(&mut ts[t], r, kc::A1_LO, v ^ 4);
        }
    });
    // The clock: of the whole call (message and timestamps change), or of
    // one row.
    assert_rejected_by("clk of the call", LOOKUP, |ts| {
        for r in 0..ROWS_PER_CALL {
            let v = get(&ts[t], r, kc::CLK);
            set(&mut ts[t], r, kc::CLK, v + 1);
        }
    });
    assert_rejected_by("clk of one row", CONSTRAINT, |ts| {
        let v = get(&ts[t], 10, kc::CLK);
        set(&mut ts[t], 10, kc::CLK, v + 1);
    });
    // A timestamp gap (the range check moved along).
    assert_rejected_by("gap", LOOKUP, |ts| {
        let col = kc::GAP + 2 * 11;
        let v = get(&ts[t], last, col);
        set(&mut ts[t], last, col, v + 1);
        range16_move(ts, v, v + 1);
    });
}

#[test]
fn keccak_row_tampers_are_rejected() {
    let t = table::KECCAK_PERMUTE;
    // The call row dropped.
    assert_rejected_by("call row dropped", CONSTRAINT, |ts| {
        drop_rows(&mut ts[t], call_row(0), 1)
    });
    // A whole call dropped, with its range checks: the CPU's message and the
    // memory accesses go unanswered.
    assert_rejected_by("call dropped", LOOKUP, |ts| {
        let checks = call_range_checks(&ts[t], call_row(0));
        range16_add(ts, &checks, -Val::ONE);
        drop_rows(&mut ts[t], 0, ROWS_PER_CALL);
        // Keep the round flags' period: refill the tail with padding rows.
        let m = &mut ts[t];
        let width = m.width();
        let h = m.height();
        for r in h - ROWS_PER_CALL..h {
            let src = (r - ROWS_PER_CALL) * width;
            let (head, tail) = m.values.split_at_mut(r * width);
            tail[..width].copy_from_slice(&head[src..src + width]);
        }
    });
    // A call duplicated (the tail's padding shifted out), with its range
    // checks: the message is received twice and the memory accesses repeat.
    assert_rejected_by("call duplicated", LOOKUP, |ts| {
        let checks = call_range_checks(&ts[t], call_row(1));
        range16_add(ts, &checks, Val::ONE);
        duplicate_rows(&mut ts[t], ROWS_PER_CALL, ROWS_PER_CALL);
    });
    // Padding sending a call: a round-23 padding row flagged.
    assert_rejected_by("padding exports", LOOKUP, |ts| {
        set(&mut ts[t], call_row(3), keccak_cols().export, 1);
    });
}

#[test]
fn keccak_partial_permutations_are_rejected() {
    let t = table::KECCAK_PERMUTE;
    let k = keccak_cols();
    // The table starts mid-permutation: its first 12 rows (call 0's rounds
    // 0..12) moved to the end, so call 0 "starts" at round 12.
    assert_rejected_by("started mid-rounds", CONSTRAINT, |ts| {
        let m = &mut ts[t];
        let width = m.width();
        m.values.rotate_left(12 * width);
    });
    // Cut short: the call moved to round 20 (flag, gaps, and the output as
    // round 20 holds it).
    assert_rejected_by("cut short", CONSTRAINT, |ts| {
        let m = &mut ts[t];
        let (from, to) = (call_row(0), call_row(0) - 3);
        set(m, from, k.export, 0);
        set(m, to, k.export, 1);
        for i in 0..2 * WORDS {
            let v = get(m, from, kc::GAP + i);
            set(m, to, kc::GAP + i, v);
        }
    });
}

#[test]
fn the_cpu_flag_must_match_the_table() {
    use cloak_machine::cpu::cols as c;
    let honest = fixture();
    let cpu = &honest.shards[0].traces[table::CPU];
    let r = (0..cpu.height())
        .find(|&r| get(cpu, r, c::SYS_KECCAK_PERMUTE) == 1)
        .expect("a KECCAK_PERMUTE ECALL row");
    // The ECALL claims SHA_EXTEND instead.
    assert_rejected_by("cpu: precompile flag", CONSTRAINT, |ts| {
        set(&mut ts[table::CPU], r, c::SYS_KECCAK_PERMUTE, 0);
        set(&mut ts[table::CPU], r, c::SYS_SHA_EXTEND, 1);
    });
}

// --- Shards cut by trace cells.

/// A program that permutes one zeroed state `calls` times in a tight loop
/// (five instructions a call) and halts with exit code 1 (no public values).
fn permutation_loop(calls: i32) -> Program {
    use cloak_vm::elf::{write_elf, SegmentSpec};
    const TEXT: u32 = 0x1000;
    const DATA: u32 = 0x10000;
    let i = |imm: i32, rs1: u32, f3: u32, rd: u32, op: u32| {
        ((imm as u32) & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op
    };
    let addi = |rd: u32, rs1: u32, imm: i32| i(imm, rs1, 0, rd, 0x13);
    let lui = |rd: u32, imm20: u32| imm20 << 12 | rd << 7 | 0x37;
    let ecall = 0x73;
    // bne s1, zero, -16 (back to the loop's first instruction).
    let imm = (-16i32) as u32;
    let bne = (imm >> 12 & 1) << 31
        | (imm >> 5 & 0x3f) << 25
        | 9 << 15
        | 1 << 12
        | (imm >> 1 & 0xf) << 8
        | (imm >> 11 & 1) << 7
        | 0x63;
    let code = [
        lui(10, DATA >> 12), // a0 = the state
        addi(9, 0, calls),   // s1 = calls
        lui(5, 0x10),        // loop: t0 = KECCAK_PERMUTE
        addi(5, 5, 0x109),
        ecall,
        addi(9, 9, -1),
        bne,
        addi(5, 0, 0),  // t0 = HALT
        addi(10, 0, 1), // a0 = 1
        ecall,
    ];
    let text: Vec<u8> = code.iter().flat_map(|w: &u32| w.to_le_bytes()).collect();
    let elf = write_elf(
        TEXT,
        &[
            SegmentSpec {
                vaddr: TEXT,
                data: &text,
                zero_fill: 0,
                executable: true,
            },
            SegmentSpec {
                vaddr: DATA,
                data: &[],
                zero_fill: 200,
                executable: false,
            },
        ],
    );
    Program::from_elf(&elf).unwrap()
}

/// A tight loop of permutations adds 24 rows of ~3,000 cells per 5 cycles:
/// cut by cycles alone, one 2^12-cycle shard would hold 800 calls (some 230 M
/// cells). The shards are cut by their syscalls' trace cells instead, and
/// the execution still proves and verifies as one statement.
#[test]
fn permutation_heavy_shards_are_cut_by_trace_cells() {
    let calls = 20;
    let program = permutation_loop(calls);
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let opts = ProveOptions {
        shard_cycles: 1 << 12,
        seed: Some([5; 32]),
        ..ProveOptions::default()
    };
    let w = keys.witness(&program, Vec::new(), &opts).unwrap();
    let layout = keys.shard_layout();
    let cells = |t: usize| (layout[t].1 + 4 * layout[t].2) as u64;
    let budget = (1u64 << 12) * cells(table::CPU);
    let per_call = keccak::ROWS_PER_CALL as u64 * cells(table::KECCAK_PERMUTE);
    // The shard closes after the call that reaches the budget.
    let per_shard = budget.div_ceil(per_call) as usize;
    assert!(per_shard < calls as usize, "{per_shard} calls fit a shard");
    let mut seen = 0;
    for (s, shard) in w.shards.iter().enumerate() {
        // Real rows carry the state pointer (0x10000: high limb 1); padding is zero there.
        let t = &shard.traces[table::KECCAK_PERMUTE];
        let rows = (0..t.height())
            .filter(|&r| get(t, r, kc::PTR_HI) != 0)
            .count();
        let n = rows.div_ceil(keccak::ROWS_PER_CALL);
        assert!(n <= per_shard, "shard {s} holds {n} calls");
        seen += n;
    }
    assert_eq!(seen, calls as usize);
    assert!(w.shards.len() >= (calls as usize).div_ceil(per_shard));
    let (_, planned) = keys.shard_plan(&program, &[], &opts).unwrap();
    assert_eq!(
        planned,
        w.shards.len(),
        "the plan cuts the shards proving cuts"
    );
    let (proof, report) = keys.prove(&program, Vec::new(), &opts).unwrap();
    assert_eq!(report.shards, w.shards.len());
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 1);
}
