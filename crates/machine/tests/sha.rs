//! The SHA-256 precompiles (ShaExtend and ShaCompress tables): guests that
//! use SHA_EXTEND and SHA_COMPRESS prove and verify, and tampered witnesses
//! of those tables are rejected (the prover panics in test builds, or errs,
//! or the verifier rejects the proof).

use cloak_machine::air::table;
use cloak_machine::sha_compress::{self, cols as sc};
use cloak_machine::sha_extend::{self, cols as se};
use cloak_machine::zkvm::ExecutionWitness;
use cloak_machine::{MachineKeys, ProveOptions};
use cloak_prover::{FriSettings, Val};
use cloak_vm::Program;
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Instant;

const SEED: [u8; 32] = [7; 32];

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

const ABC_DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The `sha256` guest's keys and the honest witness of hashing "abc".
fn fixture() -> &'static (MachineKeys, ExecutionWitness) {
    static FX: OnceLock<(MachineKeys, ExecutionWitness)> = OnceLock::new();
    FX.get_or_init(|| {
        let program = guest("sha256");
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
        let w = keys
            .witness(&program, vec_input(b"abc"), &ProveOptions::default())
            .unwrap();
        assert_eq!(w.shards.len(), 1);
        (keys, w)
    })
}

#[test]
fn sha256_guest_proves_and_verifies() {
    let program = guest("sha256");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let opts = ProveOptions {
        seed: Some([3; 32]),
        ..ProveOptions::default()
    };
    let start = Instant::now();
    let (proof, report) = keys.prove(&program, vec_input(b"abc"), &opts).unwrap();
    eprintln!(
        "sha256(\"abc\"): {} cycles, proved in {:?}",
        report.cycles,
        start.elapsed()
    );
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(hex(&statement.public_values), ABC_DIGEST);
}

#[test]
fn sha256_c_guest_multi_block_proves_and_verifies() {
    let program = guest("sha256-c");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    // 200 bytes: four compressions.
    let msg: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
    let start = Instant::now();
    let (proof, report) = keys
        .prove(&program, vec_input(&msg), &ProveOptions::default())
        .unwrap();
    eprintln!(
        "sha256-c(200 bytes): {} cycles, proved in {:?}",
        report.cycles,
        start.elapsed()
    );
    let statement = keys.verify(&proof).unwrap();
    let digest = hex(&Sha256::digest(&msg));
    assert_eq!(hex(&statement.public_values), format!("{digest}{digest}"));
}

#[test]
fn sha256_guest_proves_across_shards() {
    let program = guest("sha256");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let opts = ProveOptions {
        shard_cycles: 1 << 12,
        ..ProveOptions::default()
    };
    let (proof, _) = keys.prove(&program, vec_input(b"abc"), &opts).unwrap();
    assert!(proof.shards.len() >= 2);
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(hex(&statement.public_values), ABC_DIGEST);
}

// --- Tampering.

thread_local! {
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Whether `w` fails to give an accepted proof: the prover panics (debug
/// constraint or LogUp balance checks) or errs, or the verifier rejects.
fn rejected(w: &ExecutionWitness, name: &str) -> bool {
    outcome(w, name).is_some()
}

/// How `w` was rejected, or `None` if its proof was accepted.
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
    let keys = &fixture().0;
    EXPECTING_PANIC.with(|e| e.set(true));
    let proved = catch_unwind(AssertUnwindSafe(|| keys.prove_witness(w, SEED)));
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
        Ok(Ok(proof)) => match keys.verify(&proof) {
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

/// Applies `tamper` to a copy of the honest witness's table `index` and
/// requires that the result changed and is rejected.
fn assert_rejected(name: &str, index: usize, tamper: impl FnOnce(&mut RowMajorMatrix<Val>)) {
    let honest = &fixture().1;
    let mut w = honest.clone();
    tamper(&mut w.shards[0].traces[index]);
    assert!(
        w.shards[0].traces[index] != honest.shards[0].traces[index],
        "{name}: the tamper changed nothing"
    );
    assert!(rejected(&w, name), "{name}: accepted");
}

/// Applies `tamper` to a copy of the honest witness's shard traces (all
/// tables, so lookup multiplicities can be kept balanced) and requires that
/// the result changed and is rejected with a message containing `expect`.
fn assert_rejected_by(name: &str, expect: &str, tamper: impl FnOnce(&mut [RowMajorMatrix<Val>])) {
    let honest = &fixture().1;
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

/// Moves one `range16` lookup from `old` to `new`, keeping that bus balanced
/// for a checked value that changed.
fn range16_move(traces: &mut [RowMajorMatrix<Val>], old: u32, new: u32) {
    let t = &mut traces[table::RANGE16];
    let (o, n) = (old as usize, new as usize);
    t.values[o] -= Val::ONE;
    t.values[n] += Val::ONE;
}

/// Removes row `r` (the rows below move up; a zero row is appended).
fn drop_row(t: &mut RowMajorMatrix<Val>, r: usize) {
    let width = t.width();
    t.values.drain(r * width..(r + 1) * width);
    t.values.extend(std::iter::repeat_n(Val::ZERO, width));
}

/// Repeats row `r` (the rows below move down; the last row is dropped).
fn duplicate_row(t: &mut RowMajorMatrix<Val>, r: usize) {
    let width = t.width();
    let copy: Vec<Val> = t.values[r * width..(r + 1) * width].to_vec();
    t.values.splice(r * width..r * width, copy);
    t.values.truncate(t.values.len() - width);
}

#[test]
fn honest_sha_witness_is_accepted() {
    let (_, w) = fixture();
    let ext = &w.shards[0].traces[table::SHA_EXTEND];
    let comp = &w.shards[0].traces[table::SHA_COMPRESS];
    assert_eq!(get(ext, 0, se::SEL), 1, "a SHA_EXTEND call");
    assert_eq!(get(comp, 0, sc::SEL), 1, "a SHA_COMPRESS call");
    assert!(!rejected(w, "honest"));
}

#[test]
fn sha_extend_tampers_are_rejected() {
    let t = table::SHA_EXTEND;
    // A computed (written) word: both limbs of w[20].
    assert_rejected("extend: written word", t, |m| {
        let v = get(m, 20, se::NEW_LO);
        set(m, 20, se::NEW_LO, v ^ 1);
    });
    // A copied word written back changed.
    assert_rejected("extend: copied word", t, |m| {
        let v = get(m, 3, se::NEW_HI);
        set(m, 3, se::NEW_HI, v ^ 0x8000);
    });
    // The schedule window (w[j-16] on row 30) and a sigma input bit.
    assert_rejected("extend: window value", t, |m| {
        let v = get(m, 30, se::WIN);
        set(m, 30, se::WIN, v ^ 4);
    });
    assert_rejected("extend: sigma0 input bit", t, |m| {
        let v = get(m, 40, se::BITS15 + 5);
        set(m, 40, se::BITS15 + 5, v ^ 1);
    });
    assert_rejected("extend: sigma1 value", t, |m| {
        let v = get(m, 40, se::S1_LO);
        set(m, 40, se::S1_LO, v ^ 1);
    });
    // Rows of a call dropped or duplicated.
    assert_rejected("extend: row dropped", t, |m| drop_row(m, 30));
    assert_rejected("extend: row duplicated", t, |m| duplicate_row(m, 30));
    assert_rejected("extend: last row dropped", t, |m| {
        drop_row(m, sha_extend::ROWS_PER_CALL - 1)
    });
    // The message's pointer, consistent with the row's key split, the keys
    // of the call and the range checks: only the buses can tell.
    assert_rejected_by("extend: pointer", "Lookup mismatch", |ts| {
        let m = &mut ts[t];
        let old_w = get(m, 0, se::PTR_W);
        for (col, d) in [(se::PTR_LO, 4), (se::PTR_W, 1)] {
            let v = get(m, 0, col);
            set(m, 0, col, v + d);
        }
        for r in 0..sha_extend::ROWS_PER_CALL {
            let v = get(m, r, se::KEY);
            set(m, r, se::KEY, v + 1);
        }
        range16_move(ts, old_w, old_w + 1);
    });
    // The message's a1 (which SHA_EXTEND ignores): only the `precompile` bus
    // sees it.
    assert_rejected_by("extend: message a1", "'precompile'", |ts| {
        let v = get(&ts[t], 0, se::A1_LO);
        set(&mut ts[t], 0, se::A1_LO, v ^ 4);
    });
    // A call's clock.
    assert_rejected("extend: clk of a row", t, |m| {
        let v = get(m, 10, se::CLK);
        set(m, 10, se::CLK, v + 1);
    });
}

#[test]
fn sha_compress_tampers_are_rejected() {
    let t = table::SHA_COMPRESS;
    let state_row = sha_compress::ROUNDS + 2;
    // A written state word h[2].
    assert_rejected("compress: written word", t, |m| {
        let v = get(m, state_row, sc::NEW_LO);
        set(m, state_row, sc::NEW_LO, v ^ 1);
    });
    // A schedule word read back changed.
    assert_rejected("compress: schedule word rewritten", t, |m| {
        let v = get(m, 5, sc::NEW_LO);
        set(m, 5, sc::NEW_LO, v ^ 1);
    });
    // Working variables: a bit of `a` in round 10, `d` in round 20, `h` in
    // the state rows, and the old state.
    assert_rejected("compress: state bit", t, |m| {
        let v = get(m, 10, sc::A + 3);
        set(m, 10, sc::A + 3, v ^ 1);
    });
    assert_rejected("compress: d", t, |m| {
        let v = get(m, 20, sc::D);
        set(m, 20, sc::D, v ^ 1);
    });
    assert_rejected("compress: final state", t, |m| {
        let v = get(m, state_row, sc::H + 1);
        set(m, state_row, sc::H + 1, v ^ 1);
    });
    assert_rejected("compress: old state", t, |m| {
        for r in 0..sha_compress::ROWS_PER_CALL {
            let v = get(m, r, sc::HOLD + 4);
            set(m, r, sc::HOLD + 4, v ^ 1);
        }
    });
    assert_rejected("compress: carry", t, |m| {
        let v = get(m, 12, sc::CARRY_A);
        set(m, 12, sc::CARRY_A, v ^ 1);
    });
    // Rows of a call dropped or duplicated.
    assert_rejected("compress: round row dropped", t, |m| drop_row(m, 30));
    assert_rejected("compress: round row duplicated", t, |m| {
        duplicate_row(m, 30)
    });
    assert_rejected("compress: state row dropped", t, |m| drop_row(m, state_row));
    // The message's pointers, consistent along the call, with the keys and
    // the range checks: only the buses can tell.
    let state_rows = sha_compress::ROUNDS..sha_compress::ROWS_PER_CALL;
    assert_rejected_by("compress: h pointer", "Lookup mismatch", |ts| {
        let m = &mut ts[t];
        let old_w = get(m, 0, sc::HPTR_W);
        for r in 0..sha_compress::ROWS_PER_CALL {
            for (col, d) in [(sc::HPTR_LO, 4), (sc::HPTR_W, 1)] {
                let v = get(m, r, col);
                set(m, r, col, v + d);
            }
        }
        for r in state_rows.clone() {
            let v = get(m, r, sc::KEY);
            set(m, r, sc::KEY, v + 1);
        }
        range16_move(ts, old_w, old_w + 1);
    });
    assert_rejected_by("compress: w pointer", "Lookup mismatch", |ts| {
        let m = &mut ts[t];
        let old_hi = get(m, 0, sc::WPTR_HI);
        for r in 0..sha_compress::ROWS_PER_CALL {
            set(m, r, sc::WPTR_HI, old_hi + 1);
        }
        for r in 0..sha_compress::ROUNDS {
            let v = get(m, r, sc::KEY);
            set(m, r, sc::KEY, v + (1 << 14));
        }
        range16_move(ts, 2 * old_hi, 2 * old_hi + 2);
    });
}

#[test]
fn precompile_messages_must_match_the_cpu() {
    use cloak_machine::cpu::cols as c;
    let honest = &fixture().1;
    // The CPU's SHA_EXTEND row claims SHA_COMPRESS instead (flag moved).
    let cpu = &honest.shards[0].traces[table::CPU];
    let r = (0..cpu.height())
        .find(|&r| get(cpu, r, c::SYS_SHA_EXTEND) == 1)
        .expect("a SHA_EXTEND ECALL row");
    let mut w = honest.clone();
    let m = &mut w.shards[0].traces[table::CPU];
    set(m, r, c::SYS_SHA_EXTEND, 0);
    set(m, r, c::SYS_SHA_COMPRESS, 1);
    assert!(rejected(&w, "cpu: precompile flag"));
    // No call at all: the extend table's rows removed, with their range
    // checks, so only the `precompile` and `memory` buses can tell.
    assert_rejected_by("extend: call removed", "Lookup mismatch", |ts| {
        let mut checks = Vec::new();
        {
            let m = &ts[table::SHA_EXTEND];
            for r in 0..sha_extend::ROWS_PER_CALL {
                for col in [se::GAP_LO, se::GAP_HI, se::NEW_LO, se::NEW_HI] {
                    checks.push(get(m, r, col));
                }
            }
            checks.push(get(m, 0, se::PTR_W));
            checks.push(2 * get(m, 0, se::PTR_HI));
        }
        for v in checks {
            ts[table::RANGE16].values[v as usize] -= Val::ONE;
        }
        let m = &mut ts[table::SHA_EXTEND];
        for _ in 0..sha_extend::ROWS_PER_CALL {
            drop_row(m, 0);
        }
    });
}
