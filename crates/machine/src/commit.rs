//! Commit: the public-values digest. Its public values are the eight digest
//! words (as limbs) the guest COMMITs, and per word whether this shard
//! COMMITted it at least once (the verifier requires each word committed in
//! some shard for exit code 0, as the executor requires all eight COMMITs
//! before a clean HALT).
//!
//! Every row holds the same digest (each column equals its public value), so
//! a `commit(i, word)` message is answered only with `word = digest[i]`. The
//! multiplicities live on the first row only (later rows are forced to zero).
//! A word's flag is 1 exactly when its multiplicity is non-zero (an inverse
//! proves it), and the multiplicity is the CPU's COMMIT count for that word,
//! which is below p: so the flag says whether the shard committed the word.
//!
//! The table also carries the shard's *blinding message* (see
//! `crate::blind`): its first row provides one random tuple on the
//! cross-shard bus, which the memory proof consumes.

use crate::bus::{COMMIT_BUS, GLOBAL_MEMORY_BUS};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Digest words.
pub const WORDS: usize = 8;

/// Columns: digest limbs, then per word its multiplicity and that one's inverse.
pub mod cols {
    use super::WORDS;
    pub const DIGEST: usize = 0;
    pub const MULT: usize = 2 * WORDS;
    pub const INV: usize = 3 * WORDS;
    /// 1 on the first row, 0 after: the blinding message's count.
    pub const BLIND_COUNT: usize = 4 * WORDS;
    /// The blinding message's three random field elements.
    pub const BLIND: usize = 4 * WORDS + 1;
}
pub const WIDTH: usize = 4 * WORDS + 4;

/// Public values: 16 digest limbs, then one "committed here" flag per word.
pub const COMMITTED: usize = 2 * WORDS;
pub const NUM_PUBLIC_VALUES: usize = 3 * WORDS;

#[derive(Clone, Copy, Debug, Default)]
pub struct CommitAir;

impl<F> BaseAir<F> for CommitAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn num_public_values(&self) -> usize {
        NUM_PUBLIC_VALUES
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        let mut cols: Vec<usize> = (cols::MULT..cols::MULT + WORDS).collect();
        cols.push(cols::BLIND_COUNT);
        cols
    }
}

impl<AB: InteractionBuilder> Air<AB> for CommitAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let publics: Vec<AB::Expr> = builder.public_values().iter().map(|&v| v.into()).collect();
        for (i, public) in publics[..2 * WORDS].iter().enumerate() {
            builder.assert_eq(r[DIGEST + i], public.clone());
        }
        // One blinding message per shard, from the first row.
        builder.when_first_row().assert_one(r[BLIND_COUNT]);
        builder.when_transition().assert_zero(next[BLIND_COUNT]);
        builder.push_interaction(
            GLOBAL_MEMORY_BUS,
            crate::blind::message::<AB>(&r[BLIND..BLIND + 3]),
            Count::bounded(r[BLIND_COUNT].into(), 1),
        );
        for i in 0..WORDS {
            builder.when_transition().assert_zero(next[MULT + i]);
            let flag = publics[COMMITTED + i].clone();
            let mut first = builder.when_first_row();
            first.assert_zero(r[MULT + i] * (AB::Expr::ONE - flag.clone()));
            first.assert_zero(flag * (r[MULT + i] * r[INV + i] - AB::Expr::ONE));
            builder.push_interaction(
                COMMIT_BUS,
                [
                    AB::Expr::from_usize(i),
                    AB::Expr::ZERO,
                    r[DIGEST + 2 * i].into(),
                    r[DIGEST + 2 * i + 1].into(),
                ],
                Count::provided(-r[MULT + i].into()),
            );
        }
    }
}

/// The Commit table: `digest` on every row, `counts[i]` COMMITs of word `i`,
/// and a zero blinding message (see [`set_blind`]).
pub fn trace<F: Field>(
    digest: [u32; WORDS],
    counts: [u64; WORDS],
    height: usize,
) -> RowMajorMatrix<F> {
    let mut values = F::zero_vec(height * WIDTH);
    for row in values.chunks_exact_mut(WIDTH) {
        for (i, word) in digest.iter().enumerate() {
            row[cols::DIGEST + 2 * i] = F::from_u32(word & 0xffff);
            row[cols::DIGEST + 2 * i + 1] = F::from_u32(word >> 16);
        }
    }
    for i in 0..WORDS {
        let m = F::from_u64(counts[i]);
        values[cols::MULT + i] = m;
        values[cols::INV + i] = m.try_inverse().unwrap_or(F::ZERO);
    }
    values[cols::BLIND_COUNT] = F::ONE;
    RowMajorMatrix::new(values, WIDTH)
}

/// Writes the shard's blinding message into its Commit trace.
pub fn set_blind<F: Field>(trace: &mut RowMajorMatrix<F>, blind: [F; 3]) {
    trace.values[cols::BLIND..cols::BLIND + 3].copy_from_slice(&blind);
}

/// The public values of the Commit table.
pub fn public_values<F: Field>(digest: [u32; WORDS], committed: [bool; WORDS]) -> Vec<F> {
    let mut out: Vec<F> = digest
        .iter()
        .flat_map(|w| [F::from_u32(w & 0xffff), F::from_u32(w >> 16)])
        .collect();
    out.extend(committed.map(F::from_bool));
    out
}
