//! What the precompile tables (SHA-256 extend and compress, Keccak-f) share: the
//! `precompile` message they receive from the CPU, the memory accesses they
//! make on behalf of a call, and bit-level helpers for their constraints and
//! traces.
//!
//! A precompile row that touches memory word `key` at the call's timestamp
//! `ts = 4 clk + 3` consumes `(key, prev, prev_ts)` and provides
//! `(key, new, ts)` on the `memory` bus with
//! `prev_ts = ts - 1 - (gap_lo + 2^14 gap_hi)`, both gap limbs range-checked,
//! exactly as the CPU and HintRead tables do (see `crate::cpu` for why that
//! orders timestamps). The new value's limbs are range-checked too.

use crate::bus::{MEMORY_BUS, MEMORY_KEY_BASE, RANGE16_BUS};
use crate::event::{Multiplicities, TraceError};
use cloak_prover::Val;
use cloak_vm::record::{timestamp, MemoryAccess, Position};
use p3_air::AirBuilder;
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};

/// One precompile ECALL as the tables see it: the cycle, its arguments a0 and
/// a1, and the memory accesses the executor recorded for it.
#[derive(Clone, Copy, Debug)]
pub struct PrecompileCall<'a> {
    pub clk: u64,
    pub arg1: u32,
    pub arg2: u32,
    pub accesses: &'a [MemoryAccess],
}

/// The `i`-th bit of `word` as a field element.
pub(crate) fn bit(word: u32, i: usize) -> Val {
    Val::from_u32((word >> i) & 1)
}

/// Writes the 32 bits of `word` (least significant first) at `row[col..col + 32]`.
pub(crate) fn set_bits(row: &mut [Val], col: usize, word: u32) {
    for i in 0..32 {
        row[col + i] = bit(word, i);
    }
}

/// Writes `word`'s 16-bit limbs at `row[col]` and `row[col + 1]`.
pub(crate) fn set_word(row: &mut [Val], col: usize, word: u32) {
    row[col] = Val::from_u32(word & 0xffff);
    row[col + 1] = Val::from_u32(word >> 16);
}

/// The limbs `(lo, hi)` of the word whose 32 bits are `bits[0..32]`.
pub(crate) fn limbs_of_bits<E: PrimeCharacteristicRing + Clone>(bits: &[E]) -> [E; 2] {
    let pack = |part: &[E]| {
        part.iter()
            .enumerate()
            .fold(E::ZERO, |acc, (k, b)| acc + b.clone() * E::from_u32(1 << k))
    };
    [pack(&bits[..16]), pack(&bits[16..32])]
}

/// `a ^ b` on booleans.
pub(crate) fn xor2<E: PrimeCharacteristicRing + Clone>(a: E, b: E) -> E {
    a.clone() + b.clone() - a * b * E::TWO
}

/// `a ^ b ^ c` on booleans (degree 3).
pub(crate) fn xor3<E: PrimeCharacteristicRing + Clone>(a: E, b: E, c: E) -> E {
    xor2(xor2(a, b), c)
}

/// The bits of `rotr(x, r1) ^ rotr(x, r2) ^ (x >> s)` (or `^ rotr(x, s)` when
/// `rotate_third`), from the bits of `x`.
pub(crate) fn sigma_bits<E: PrimeCharacteristicRing + Clone>(
    x: &[E],
    r1: usize,
    r2: usize,
    s: usize,
    rotate_third: bool,
) -> Vec<E> {
    (0..32)
        .map(|k| {
            let a = x[(k + r1) % 32].clone();
            let b = x[(k + r2) % 32].clone();
            if rotate_third {
                xor3(a, b, x[(k + s) % 32].clone())
            } else if k + s < 32 {
                xor3(a, b, x[k + s].clone())
            } else {
                xor2(a, b)
            }
        })
        .collect()
}

/// Columns of one memory access of a precompile row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessCols {
    pub key: usize,
    pub prev_lo: usize,
    pub new_lo: usize,
    pub gap_lo: usize,
}

/// The `memory` bus interactions of one access at timestamp `4 clk + 3`
/// (consume the previous state, provide the new one) and the range checks of
/// the gap limbs and of the new value's limbs, all with multiplicity `count`.
pub(crate) fn push_access<AB: InteractionBuilder>(
    builder: &mut AB,
    r: &[AB::Var],
    clk: AB::Expr,
    a: AccessCols,
    count: AB::Expr,
) {
    let x = |i: usize| -> AB::Expr { r[i].into() };
    push_memory_access(
        builder,
        clk,
        x(a.key),
        [x(a.prev_lo), x(a.prev_lo + 1)],
        [x(a.new_lo), x(a.new_lo + 1)],
        [x(a.gap_lo), x(a.gap_lo + 1)],
        count.clone(),
    );
    for limb in [a.new_lo, a.new_lo + 1] {
        builder.push_interaction(RANGE16_BUS, [x(limb)], Count::bounded(count.clone(), 1));
    }
}

/// The `memory` bus interactions of one access to `key` at timestamp
/// `4 clk + 3` (consume `(key, prev, prev_ts)`, provide `(key, new, ts)`)
/// and the range checks of the gap limbs `gap`, all with multiplicity
/// `count`. The new value's limbs are not range-checked here: the caller
/// must bound them (as [`push_access`] does, or by constraints).
pub(crate) fn push_memory_access<AB: InteractionBuilder>(
    builder: &mut AB,
    clk: AB::Expr,
    key: AB::Expr,
    prev: [AB::Expr; 2],
    new: [AB::Expr; 2],
    gap: [AB::Expr; 2],
    count: AB::Expr,
) {
    let c = |v: u32| AB::Expr::from_u32(v);
    let ts = clk * c(4) + c(3);
    let [gap_lo, gap_hi] = gap;
    let prev_ts = ts.clone() - c(1) - gap_lo.clone() - gap_hi.clone() * c(1 << 14);
    let [prev_lo, prev_hi] = prev;
    let [new_lo, new_hi] = new;
    builder.push_interaction(
        MEMORY_BUS,
        [key.clone(), prev_lo, prev_hi, prev_ts],
        Count::bounded(-count.clone(), 1),
    );
    builder.push_interaction(
        MEMORY_BUS,
        [key, new_lo, new_hi, ts],
        Count::bounded(count.clone(), 1),
    );
    for limb in [gap_lo, gap_hi] {
        builder.push_interaction(RANGE16_BUS, [limb], Count::bounded(count.clone(), 1));
    }
}

/// Pointer columns: `ptr_lo`, `ptr_hi` (the message's limbs) and
/// `ptr_w = ptr_lo / 4`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PtrCols {
    pub lo: usize,
    pub hi: usize,
    pub w: usize,
}

/// The memory key of the word at the pointer (`MEMORY_KEY_BASE + ptr / 4`).
pub(crate) fn ptr_key<E: PrimeCharacteristicRing + Clone>(r: &[E], p: PtrCols) -> E {
    E::from_u32(MEMORY_KEY_BASE) + r[p.w].clone() + r[p.hi].clone() * E::from_u32(1 << 14)
}

/// The pointer's range checks (as in HintRead: `ptr_w` and `2 ptr_hi` below
/// 2^16, so the pointer is below 2^31), with multiplicity `count`.
pub(crate) fn push_ptr_checks<AB: InteractionBuilder>(
    builder: &mut AB,
    r: &[AB::Var],
    p: PtrCols,
    count: AB::Expr,
) {
    let x = |i: usize| -> AB::Expr { r[i].into() };
    for check in [x(p.w), x(p.hi) * AB::Expr::TWO] {
        builder.push_interaction(RANGE16_BUS, [check], Count::bounded(count.clone(), 1));
    }
}

/// Fills pointer columns for `ptr` and counts their range checks (where
/// `mults` is given: on the row that sends them); the pointer must be
/// word-aligned and below 2^31.
pub(crate) fn set_ptr(
    row: &mut [Val],
    p: PtrCols,
    ptr: u32,
    mults: Option<&mut Multiplicities>,
    what: &str,
) -> Result<(), TraceError> {
    if ptr & 3 != 0 || ptr >= 1 << 31 {
        return Err(TraceError::BadRecord(format!(
            "{what} pointer {ptr:#010x} is not word-aligned below 2^31"
        )));
    }
    let (lo, hi) = (ptr & 0xffff, ptr >> 16);
    row[p.lo] = Val::from_u32(lo);
    row[p.hi] = Val::from_u32(hi);
    row[p.w] = Val::from_u32(lo >> 2);
    if let Some(mults) = mults {
        mults.range16((lo >> 2) as u16);
        mults.range16((2 * hi) as u16);
    }
    Ok(())
}

/// Fills one access's columns (key, previous and new value, gap limbs) and
/// counts its range checks; the access must be to `addr`.
pub(crate) fn set_access(
    row: &mut [Val],
    a: AccessCols,
    clk: u64,
    addr: u32,
    acc: &MemoryAccess,
    mults: &mut Multiplicities,
) -> Result<(), TraceError> {
    row[a.key] = Val::from_u32(crate::bus::memory_key(addr));
    set_word(row, a.prev_lo, acc.prev_value);
    set_word(row, a.new_lo, acc.value);
    set_gap(row, a.gap_lo, clk, addr, acc, mults)?;
    mults.range16_word(acc.value);
    Ok(())
}

/// Fills the gap limbs `ts - 1 - prev_ts = lo + 2^14 hi` of an access at
/// `ts = 4 clk + 3` at `row[col]`, `row[col + 1]` and counts their range
/// checks; the access must be to `addr`.
pub(crate) fn set_gap(
    row: &mut [Val],
    col: usize,
    clk: u64,
    addr: u32,
    acc: &MemoryAccess,
    mults: &mut Multiplicities,
) -> Result<(), TraceError> {
    let ts = timestamp(clk, Position::Memory);
    if acc.addr != addr || acc.prev_ts >= ts {
        return Err(TraceError::BadRecord(format!(
            "precompile at cycle {clk}: access to {:#010x} (previous timestamp {}) where \
             {addr:#010x} before timestamp {ts} was expected",
            acc.addr, acc.prev_ts
        )));
    }
    let e = ts - 1 - acc.prev_ts;
    if e >= 1 << 30 {
        return Err(TraceError::BadRecord(format!(
            "precompile at cycle {clk}: timestamp gap {e} too large"
        )));
    }
    let (lo, hi) = ((e & 0x3fff) as u16, (e >> 14) as u16);
    row[col] = Val::from_u16(lo);
    row[col + 1] = Val::from_u16(hi);
    mults.range16(lo);
    mults.range16(hi);
    Ok(())
}

/// The step selectors of a table whose calls take `n` consecutive rows:
/// boolean columns `sel[0..n]` from `first`, at most one set (none on padding
/// rows), and `sel[j]` on a row exactly when `sel[j + 1]` is set on the next
/// one. So every real row belongs to a run `sel[0], sel[1], ..., sel[n - 1]`
/// of consecutive rows: the trace's first row cannot continue a call and its
/// last row cannot leave one unfinished. Returns `(is_real, continues)`:
/// whether the row is real, and whether the next row belongs to the same call
/// (`sel[0] + ... + sel[n - 2]`).
pub(crate) fn eval_steps<AB: AirBuilder>(
    builder: &mut AB,
    r: &[AB::Var],
    next: &[AB::Var],
    first: usize,
    n: usize,
) -> (AB::Expr, AB::Expr) {
    let mut is_real = AB::Expr::ZERO;
    for j in 0..n {
        builder.assert_bool(r[first + j]);
        is_real += r[first + j].into();
    }
    builder.assert_bool(is_real.clone());
    let sum = |row: &[AB::Var], range: std::ops::Range<usize>| {
        range.fold(AB::Expr::ZERO, |acc, j| acc + row[first + j].into())
    };
    builder.when_first_row().assert_zero(sum(r, 1..n));
    builder.when_last_row().assert_zero(sum(r, 0..n - 1));
    for j in 0..n - 1 {
        builder
            .when_transition()
            .assert_eq(next[first + j + 1], r[first + j]);
    }
    (is_real, sum(r, 0..n - 1))
}
