//! Memory: the initial and final state of every word the execution touched,
//! and the ELF's initial image.
//!
//! The Memory table has one row per key (the 32 registers, every image word,
//! every other touched word), in strictly increasing key order. Each row
//! provides the key's initial state `(key, init, 0)` and consumes its final
//! state `(key, final, final_ts)` on the `memory` bus. A row marked `is_image`
//! takes its initial value from the preprocessed Image table through the
//! `image` bus; any other row starts at zero.
//!
//! # Why it is sound
//! - Keys strictly increase (the gap `key' - key - 1 = lo + 2^14 hi` is
//!   range-checked, and every key is below 2^30 - 2^25, so a decrease would
//!   wrap far outside the range): each key has exactly one row, so exactly one
//!   initial state is provided and one final state consumed per key. With every
//!   access consuming one state and providing the next, the accesses to a key
//!   form a single chain from its initial to its final state.
//! - The Image table provides each non-zero image word exactly once (its
//!   multiplicity is fixed to 1), and only rows with `is_image` consume it. So
//!   every image word has a row with `is_image = 1` and its true initial value;
//!   a second row for the same key (say, one claiming the word starts at zero)
//!   would repeat the key. A row with `is_image = 1` for a key outside the
//!   image consumes an `image` message nobody provides.

use crate::bus::{IMAGE_BUS, MEMORY_BUS, RANGE16_BUS};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::Arc;

/// Memory table columns.
pub mod cols {
    pub const KEY: usize = 0;
    pub const IS_IMAGE: usize = 1;
    pub const INIT_LO: usize = 2;
    pub const INIT_HI: usize = 3;
    pub const FINAL_LO: usize = 4;
    pub const FINAL_HI: usize = 5;
    pub const FINAL_TS: usize = 6;
    /// The gap to the previous row's key, minus one: `lo + 2^14 hi`.
    pub const GAP_LO: usize = 7;
    pub const GAP_HI: usize = 8;
    pub const IS_REAL: usize = 9;
}
pub const WIDTH: usize = 10;

/// The initial and final state of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WordState {
    pub key: u32,
    pub is_image: bool,
    pub init: u32,
    pub final_value: u32,
    pub final_ts: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryAir;

impl<F> BaseAir<F> for MemoryAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![cols::KEY, cols::GAP_LO, cols::GAP_HI, cols::IS_REAL]
    }
}

impl<AB: InteractionBuilder> Air<AB> for MemoryAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let x = |i: usize| -> AB::Expr { r[i].into() };
        let one = AB::Expr::ONE;

        builder.assert_bool(r[IS_REAL]);
        builder.assert_bool(r[IS_IMAGE]);
        builder.assert_zero(x(IS_IMAGE) * (one.clone() - x(IS_REAL)));
        // Words outside the image start at zero.
        builder.assert_zero((one.clone() - x(IS_IMAGE)) * x(INIT_LO));
        builder.assert_zero((one.clone() - x(IS_IMAGE)) * x(INIT_HI));
        // Real rows first, then padding; keys strictly increase.
        let next_real: AB::Expr = next[IS_REAL].into();
        builder
            .when_transition()
            .assert_zero(next_real.clone() * (one - x(IS_REAL)));
        let gap = next[GAP_LO].into() + next[GAP_HI].into() * AB::Expr::from_u32(1 << 14);
        builder
            .when_transition()
            .assert_zero(next_real * (next[KEY].into() - x(KEY) - AB::Expr::ONE - gap));

        let real = x(IS_REAL);
        builder.push_interaction(
            MEMORY_BUS,
            [x(KEY), x(INIT_LO), x(INIT_HI), AB::Expr::ZERO],
            Count::bounded(real.clone(), 1),
        );
        builder.push_interaction(
            MEMORY_BUS,
            [x(KEY), x(FINAL_LO), x(FINAL_HI), x(FINAL_TS)],
            Count::bounded(-real.clone(), 1),
        );
        builder.push_interaction(
            IMAGE_BUS,
            [x(KEY), x(INIT_LO), x(INIT_HI)],
            Count::bounded(-x(IS_IMAGE), 1),
        );
        for limb in [GAP_LO, GAP_HI] {
            builder.push_interaction(RANGE16_BUS, [x(limb)], Count::bounded(real.clone(), 1));
        }
    }
}

/// The Memory table's trace for `words` (sorted by key, distinct), padded to a
/// power of two of at least `min_height` rows; also returns the gap limbs it
/// range-checks, for the Range16 multiplicities.
pub fn trace<F: Field>(words: &[WordState], height: usize) -> (RowMajorMatrix<F>, Vec<u16>) {
    let mut values = F::zero_vec(height * WIDTH);
    let mut checks = Vec::with_capacity(2 * words.len());
    let mut prev_key: Option<u32> = None;
    for (w, row) in words.iter().zip(values.chunks_exact_mut(WIDTH)) {
        let gap = prev_key.map_or(0, |p| w.key - p - 1);
        prev_key = Some(w.key);
        let (gap_lo, gap_hi) = (gap & 0x3fff, gap >> 14);
        checks.push(gap_lo as u16);
        checks.push(gap_hi as u16);
        row[cols::KEY] = F::from_u32(w.key);
        row[cols::IS_IMAGE] = F::from_bool(w.is_image);
        row[cols::INIT_LO] = F::from_u32(w.init & 0xffff);
        row[cols::INIT_HI] = F::from_u32(w.init >> 16);
        row[cols::FINAL_LO] = F::from_u32(w.final_value & 0xffff);
        row[cols::FINAL_HI] = F::from_u32(w.final_value >> 16);
        row[cols::FINAL_TS] = F::from_u64(w.final_ts);
        row[cols::GAP_LO] = F::from_u32(gap_lo);
        row[cols::GAP_HI] = F::from_u32(gap_hi);
        row[cols::IS_REAL] = F::ONE;
    }
    (RowMajorMatrix::new(values, WIDTH), checks)
}

/// Image table preprocessed columns: key, lo, hi, is_real.
pub const IMAGE_PREPROCESSED_WIDTH: usize = 4;
/// Image table main columns: the multiplicity, fixed to `is_real`.
pub const IMAGE_WIDTH: usize = 1;

/// The Image table: the non-zero words of the initial memory, preprocessed,
/// each provided exactly once.
#[derive(Clone, Debug)]
pub struct ImageAir {
    /// `(key, value)`, keys increasing.
    words: Arc<[(u32, u32)]>,
    height: usize,
}

impl ImageAir {
    pub fn new(words: Vec<(u32, u32)>, min_height: usize) -> ImageAir {
        let height = words.len().max(min_height).next_power_of_two();
        ImageAir {
            words: words.into(),
            height,
        }
    }

    /// `(key, value)` of each non-zero image word, keys increasing.
    pub fn words(&self) -> &[(u32, u32)] {
        &self.words
    }

    pub fn log_height(&self) -> usize {
        self.height.trailing_zeros() as usize
    }

    /// The multiplicity column: 1 on every real row.
    pub fn trace<F: Field>(&self) -> RowMajorMatrix<F> {
        let mut values = F::zero_vec(self.height);
        values[..self.words.len()].fill(F::ONE);
        RowMajorMatrix::new(values, IMAGE_WIDTH)
    }
}

impl<F: Field> BaseAir<F> for ImageAir {
    fn width(&self) -> usize {
        IMAGE_WIDTH
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        let mut values = F::zero_vec(self.height * IMAGE_PREPROCESSED_WIDTH);
        for (&(key, value), cells) in self
            .words
            .iter()
            .zip(values.chunks_exact_mut(IMAGE_PREPROCESSED_WIDTH))
        {
            cells[0] = F::from_u32(key);
            cells[1] = F::from_u32(value & 0xffff);
            cells[2] = F::from_u32(value >> 16);
            cells[3] = F::ONE;
        }
        Some(RowMajorMatrix::new(values, IMAGE_PREPROCESSED_WIDTH))
    }
    fn preprocessed_width(&self) -> usize {
        IMAGE_PREPROCESSED_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for ImageAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let p = builder.preprocessed().current_slice().to_vec();
        let mult = builder.main().current_slice()[0];
        // Each image word is provided exactly once; padding rows not at all.
        builder.assert_eq(mult, p[3]);
        builder.push_interaction(
            IMAGE_BUS,
            [p[0].into(), p[1].into(), p[2].into()],
            Count::bounded(mult.into(), 1),
        );
    }
}
