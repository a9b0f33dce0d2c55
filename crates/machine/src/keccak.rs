//! KeccakPermute: the KECCAK_PERMUTE precompile (Keccak-f[1600] in place on
//! the 25 lanes, 50 words, at `a0`), 24 rows per call, one per round.
//!
//! The permutation is Plonky3's `p3-keccak-air` ([`KeccakAir`]): its
//! [`KeccakCols`] are this table's first [`NUM_KECCAK_COLS`] columns, and its
//! constraints are evaluated on them through a builder that shows it only
//! those columns. Each lane is four 16-bit limbs, least significant first, so
//! state word `2i` (the low half of lane `i`) is limbs 0 and 1 of lane `i`
//! and word `2i + 1` is limbs 2 and 3: exactly Cloak's `(lo, hi)` words.
//! `KeccakAir` keeps the permutation's input in its `preimage` columns on
//! every row, so the round-23 row holds both the input and the output
//! (`A'''`, [`KeccakCols::a_prime_prime_prime`]).
//!
//! That row is the call's row: its `export` flag is set, and it receives the
//! CPU's `precompile(clk, KECCAK_PERMUTE, a0, a1)` message and makes the 50
//! memory accesses at `4 clk + 3`, word `j` consuming `(key_j, input word j,
//! prev_ts_j)` and providing `(key_j, output word j, 4 clk + 3)` with
//! `key_j = MEMORY_KEY_BASE + a0 / 4 + j`. Our columns after `KeccakAir`'s:
//! `clk`, the pointer `a0` (limbs and `lo / 4`), `a1` (as the message carries
//! it), and the timestamp-gap limbs of the 50 accesses.
//!
//! # Why it is sound
//! - *Rounds.* `KeccakAir` fixes the round flags by row index: row 0 has
//!   round 0 and each next row the next round, cyclically (one-hot on every
//!   row). So rows `24k..24k + 24` hold rounds 0..24 of one permutation: its
//!   round-0 input `A` equals `preimage`, `preimage` is constant up to round
//!   23 and each round's output is the next round's input. A round-23 row is
//!   therefore the end of a whole permutation that started at round 0 from
//!   its `preimage` (one started mid-rounds or cut short has no round-23 row,
//!   or breaks the flags), and its `A'''` is Keccak-f of that `preimage`.
//!   `export` is boolean and zero off round 23 (`KeccakAir`'s constraints).
//! - *Calls.* Rows with `export = 1` receive the CPU's message, so each
//!   KECCAK_PERMUTE ECALL has exactly one call row here and vice versa (the
//!   CPU's `clk` differs per ECALL). `clk`, the pointer and `a1` are constant
//!   along the 24 rows of a permutation, so all of them belong to the call.
//!   The call row fixes `a0_lo = 4 w` with `w` and `2 a0_hi` range-checked
//!   (as the SHA tables and HintRead do): the state is word-aligned and below
//!   2^31, so its 50 words do not wrap and their keys are distinct, below
//!   2^29 + 32 + 50, and the words at `a0 .. a0 + 200`.
//! - *Memory.* One access per state word at `4 clk + 3` (the ECALL row's
//!   free memory position), with gaps range-checked as in the CPU, so each
//!   consumes the word's current value and no key is accessed twice at one
//!   timestamp. The consumed value is the `preimage` limbs and the provided
//!   one the `A'''` limbs: the permutation's input is the state in memory and
//!   its output is what memory holds afterwards.
//! - *Values.* Every limb written is a sum of 16 bits that `KeccakAir`
//!   constrains to be boolean (`A''` from the bits of `A'`, `A'''[0, 0]` from
//!   the bits of `A''[0, 0]` xored with the round constant, selected by the
//!   one-hot flags), so it is below 2^16 without a range check; the input
//!   limbs are read from memory (and are such sums too, as `A` on round 0).
//! - *Padding.* Rows after the calls are permutations of the zero state
//!   (every `KeccakAir` constraint holds on them) with `export = 0`: they
//!   send and receive nothing.
//! - Degree: 3 (`KeccakAir`); ours at most 2 (times the transition selector).

use crate::bus::PRECOMPILE_BUS;
use crate::event::{padded_height, Multiplicities, TraceError};
use crate::precompile::{
    ptr_key, push_memory_access, push_ptr_checks, set_gap, set_ptr, set_word, PrecompileCall,
    PtrCols,
};
use cloak_prover::Val;
use cloak_vm::syscall::KECCAK_PERMUTE;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_keccak_air::{generate_trace_rows, KeccakAir, KeccakCols, NUM_KECCAK_COLS, NUM_ROUNDS};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::borrow::Borrow;
use std::sync::OnceLock;

/// Rows per call: one per round.
pub const ROWS_PER_CALL: usize = NUM_ROUNDS;
/// State words per call (25 lanes of two words).
pub const WORDS: usize = 50;

/// Column indices after `KeccakAir`'s (see [`keccak_cols`] for those).
pub mod cols {
    use p3_keccak_air::NUM_KECCAK_COLS;
    pub const CLK: usize = NUM_KECCAK_COLS;
    /// a0: the state's pointer limbs and `ptr_lo / 4`.
    pub const PTR_LO: usize = CLK + 1;
    pub const PTR_HI: usize = CLK + 2;
    pub const PTR_W: usize = CLK + 3;
    /// a1, as the message carries it (unused by KECCAK_PERMUTE).
    pub const A1_LO: usize = CLK + 4;
    pub const A1_HI: usize = CLK + 5;
    /// Timestamp gaps of the call row's accesses: word `j`'s limbs at
    /// `GAP + 2j`, `GAP + 2j + 1`.
    pub const GAP: usize = CLK + 6;
}
pub const WIDTH: usize = cols::GAP + 2 * WORDS;

const PTR: PtrCols = PtrCols {
    lo: cols::PTR_LO,
    hi: cols::PTR_HI,
    w: cols::PTR_W,
};

/// Our columns constant along a permutation.
const CONSTANT: [usize; 6] = [
    cols::CLK,
    cols::PTR_LO,
    cols::PTR_HI,
    cols::PTR_W,
    cols::A1_LO,
    cols::A1_HI,
];

/// The indices of `KeccakAir`'s columns (this table's first
/// [`NUM_KECCAK_COLS`]), e.g. `keccak_cols().preimage[y][x][limb]`.
pub fn keccak_cols() -> &'static KeccakCols<usize> {
    static MAP: OnceLock<Vec<usize>> = OnceLock::new();
    MAP.get_or_init(|| (0..NUM_KECCAK_COLS).collect())
        .as_slice()
        .borrow()
}

/// The `(lo, hi)` limbs of state word `j` (lane `j / 2`, half `j % 2`) among
/// `KeccakAir`'s columns: in the permutation's input and in its output.
fn word_limbs<T: Copy>(k: &KeccakCols<T>, j: usize) -> ([T; 2], [T; 2]) {
    let (lane, half) = (j / 2, j % 2);
    let (y, x) = (lane / 5, lane % 5);
    let limb = |l: usize| 2 * half + l;
    (
        [k.preimage[y][x][limb(0)], k.preimage[y][x][limb(1)]],
        [
            k.a_prime_prime_prime(y, x, limb(0)),
            k.a_prime_prime_prime(y, x, limb(1)),
        ],
    )
}

/// Columns of state word `j` in the permutation's input and output limbs, for
/// tests and tooling: `((in_lo, in_hi), (out_lo, out_hi))`.
pub fn word_columns(j: usize) -> ([usize; 2], [usize; 2]) {
    word_limbs(keccak_cols(), j)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct KeccakPermuteAir;

impl<F> BaseAir<F> for KeccakPermuteAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        // `KeccakAir` reads the next row's round flags, preimage and A.
        let k = keccak_cols();
        let mut v: Vec<usize> = k.step_flags.to_vec();
        v.extend(k.preimage.iter().flatten().flatten());
        v.extend(k.a.iter().flatten().flatten());
        v.extend(CONSTANT);
        v.sort_unstable();
        v
    }
}

/// A window showing only the first `len` columns of `window`.
#[derive(Clone)]
struct Prefix<W> {
    window: W,
    len: usize,
}

impl<T, W: WindowAccess<T>> WindowAccess<T> for Prefix<W> {
    fn current_slice(&self) -> &[T] {
        &self.window.current_slice()[..self.len]
    }
    fn next_slice(&self) -> &[T] {
        &self.window.next_slice()[..self.len]
    }
}

/// The builder `KeccakAir` is evaluated with: the table's builder, showing
/// only the first [`NUM_KECCAK_COLS`] main columns. Constraints go to the
/// table's builder unchanged.
struct KeccakBuilder<'a, AB> {
    inner: &'a mut AB,
}

impl<AB: AirBuilder> AirBuilder for KeccakBuilder<'_, AB> {
    type F = AB::F;
    type Expr = AB::Expr;
    type Var = AB::Var;
    type PreprocessedWindow = AB::PreprocessedWindow;
    type MainWindow = Prefix<AB::MainWindow>;
    type PublicVar = AB::PublicVar;
    type PeriodicVar = AB::PeriodicVar;

    fn main(&self) -> Self::MainWindow {
        Prefix {
            window: self.inner.main(),
            len: NUM_KECCAK_COLS,
        }
    }
    fn preprocessed(&self) -> &Self::PreprocessedWindow {
        self.inner.preprocessed()
    }
    fn is_first_row(&self) -> Self::Expr {
        self.inner.is_first_row()
    }
    fn is_last_row(&self) -> Self::Expr {
        self.inner.is_last_row()
    }
    fn is_transition(&self) -> Self::Expr {
        self.inner.is_transition()
    }
    fn assert_zero<I: Into<Self::Expr>>(&mut self, x: I) {
        self.inner.assert_zero(x);
    }
    fn public_values(&self) -> &[Self::PublicVar] {
        self.inner.public_values()
    }
    fn periodic_values(&self) -> &[Self::PeriodicVar] {
        self.inner.periodic_values()
    }
}

impl<AB: InteractionBuilder> Air<AB> for KeccakPermuteAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The permutation.
        KeccakAir {}.eval(&mut KeccakBuilder { inner: builder });

        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let re: Vec<AB::Expr> = r.iter().map(|&v| v.into()).collect();
        let x = |i: usize| re[i].clone();
        let n = |i: usize| -> AB::Expr { next[i].into() };
        let c = |v: u32| AB::Expr::from_u32(v);
        let k: &KeccakCols<AB::Var> = r[..NUM_KECCAK_COLS].borrow();
        let call = k.export;
        let not_final: AB::Expr = AB::Expr::ONE - k.step_flags[NUM_ROUNDS - 1].into();

        // A permutation's rows share the cycle, the pointer and a1.
        let mut t = builder.when_transition();
        for col in CONSTANT {
            t.assert_zero(not_final.clone() * (n(col) - x(col)));
        }
        builder.when(call).assert_eq(x(PTR_LO), x(PTR_W) * c(4));

        // Buses, all on the call row.
        let count: AB::Expr = call.into();
        builder.push_interaction(
            PRECOMPILE_BUS,
            [
                x(CLK),
                c(KECCAK_PERMUTE),
                x(PTR_LO),
                x(PTR_HI),
                x(A1_LO),
                x(A1_HI),
            ],
            Count::bounded(-count.clone(), 1),
        );
        push_ptr_checks(builder, &r, PTR, count.clone());
        let key = ptr_key(&re, PTR);
        for j in 0..WORDS {
            let (input, output) = word_limbs(k, j);
            push_memory_access(
                builder,
                x(CLK),
                key.clone() + c(j as u32),
                input.map(Into::into),
                output.map(Into::into),
                [x(GAP + 2 * j), x(GAP + 2 * j + 1)],
                count.clone(),
            );
        }
    }
}

/// `KeccakAir`'s 24 rows for `input` (lanes), row after row.
fn permutation_rows(input: [u64; 25]) -> Vec<Val> {
    let mut rows = generate_trace_rows::<Val>(vec![input], 0).values;
    rows.truncate(ROWS_PER_CALL * NUM_KECCAK_COLS);
    rows
}

/// The table's trace for the shard's KECCAK_PERMUTE calls; checks that each
/// call's accesses are the 50 words at a0, updated to the permutation of
/// their old values.
pub fn trace(
    calls: &[PrecompileCall],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    use cols::*;
    let height = padded_height(calls.len() * ROWS_PER_CALL, min_height)?;
    let mut values = crate::rows::zeroed(height * WIDTH);
    let mut blocks = values.chunks_mut(ROWS_PER_CALL * WIDTH);
    for call in calls {
        let bad = |what: String| {
            TraceError::BadRecord(format!("KECCAK_PERMUTE at cycle {}: {what}", call.clk))
        };
        if call.accesses.len() != WORDS {
            return Err(bad(format!(
                "{} memory accesses instead of {WORDS}",
                call.accesses.len()
            )));
        }
        let mut state: [u32; WORDS] = std::array::from_fn(|j| call.accesses[j].prev_value);
        let lanes: [u64; 25] =
            std::array::from_fn(|i| u64::from(state[2 * i]) | u64::from(state[2 * i + 1]) << 32);
        cloak_vm::precompiles::keccak_permute(&mut state);
        for (j, acc) in call.accesses.iter().enumerate() {
            if acc.value != state[j] {
                return Err(bad(format!(
                    "word {j} becomes {:#010x}, the permutation says {:#010x}",
                    acc.value, state[j]
                )));
            }
        }
        let perm = permutation_rows(lanes);
        let block = blocks.next().expect("height covers every call");
        for (round, (row, krow)) in block
            .chunks_exact_mut(WIDTH)
            .zip(perm.chunks_exact(NUM_KECCAK_COLS))
            .enumerate()
        {
            row[..NUM_KECCAK_COLS].copy_from_slice(krow);
            row[CLK] = Val::from_u64(call.clk);
            let last = round == ROWS_PER_CALL - 1;
            // Only the call row sends the pointer's range checks.
            set_ptr(row, PTR, call.arg1, last.then_some(&mut *mults), "state")?;
            set_word(row, A1_LO, call.arg2);
            if last {
                row[keccak_cols().export] = Val::ONE;
                for (j, acc) in call.accesses.iter().enumerate() {
                    let addr = call.arg1 + 4 * j as u32;
                    set_gap(row, GAP + 2 * j, call.clk, addr, acc, mults)?;
                }
            }
        }
    }
    // Padding: permutations of the zero state, sending nothing.
    let zero = permutation_rows([0; 25]);
    for block in blocks {
        for (row, krow) in block
            .chunks_exact_mut(WIDTH)
            .zip(zero.chunks_exact(NUM_KECCAK_COLS))
        {
            row[..NUM_KECCAK_COLS].copy_from_slice(krow);
        }
    }
    Ok(RowMajorMatrix::new(values, WIDTH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_field::PrimeField32;

    #[test]
    fn column_map_matches_the_lanes() {
        let k = keccak_cols();
        assert_eq!(k.step_flags[0], 0);
        assert_eq!(k.a_prime_prime_prime(0, 0, 3) + 1, NUM_KECCAK_COLS);
        // Word 2i + 1 is the high half of lane i = x + 5y.
        let ([lo, hi], _) = word_columns(2 * 7 + 1);
        assert_eq!((lo, hi), (k.preimage[1][2][2], k.preimage[1][2][3]));
    }

    #[test]
    fn trace_rows_hold_the_permutation() {
        let lanes: [u64; 25] =
            std::array::from_fn(|i| 0x0123_4567_89ab_cdef_u64.rotate_left(i as u32));
        let perm = permutation_rows(lanes);
        let mut words: [u32; WORDS] =
            std::array::from_fn(|j| (lanes[j / 2] >> (32 * (j % 2))) as u32);
        let input = words;
        cloak_vm::precompiles::keccak_permute(&mut words);
        let last = &perm[(ROWS_PER_CALL - 1) * NUM_KECCAK_COLS..];
        let word = |cols: [usize; 2]| {
            last[cols[0]].as_canonical_u32() | last[cols[1]].as_canonical_u32() << 16
        };
        for j in 0..WORDS {
            let (i, o) = word_columns(j);
            assert_eq!(word(i), input[j], "input word {j}");
            assert_eq!(word(o), words[j], "output word {j}");
        }
    }
}
