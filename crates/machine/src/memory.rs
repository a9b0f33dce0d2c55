//! Memory: the initial and final state of every word an execution (or one of
//! its shards) touched, and the ELF's initial image.
//!
//! The Memory table has one row per key, in strictly increasing key order,
//! and comes in two kinds:
//! - **Shard** (in every shard proof): one row per key the shard touched, and
//!   the 32 registers. A row takes the key's state on entry `(key, init,
//!   init_ts)` from the cross-shard `global` bus and provides it on the
//!   shard's local `memory` bus; it takes the state on exit `(key, final,
//!   final_ts)` from the local bus and provides it on the `global` bus.
//! - **Global** (in the memory proof that accompanies the shards): one row per
//!   key the whole execution touched, every image word and the registers. A
//!   row provides the key's initial state `(key, init, 0)` on the `global` bus
//!   and consumes its final state. A row marked `is_image` takes its initial
//!   value from the preprocessed Image table through the `image` bus; any
//!   other row starts at zero.
//!
//! The `global` bus's LogUp challenges are drawn once from every proof's
//! main-trace commitment, so it balances across all the proofs of one
//! execution; each proof exposes its share and the verifier checks they sum
//! to zero.
//!
//! # Why it is sound
//! - Keys strictly increase (both kinds): every key and every gap `key' - key - 1` is shown
//!   to lie below `K = 2^30 - 2^24` (two limbs, the high one checked both as
//!   itself and shifted up by `2^16 - 0x3f00`). Since `2K < p`, a key that went
//!   down would leave a gap of at least `p - K > K` in the field. (Bounding the
//!   gaps alone is not enough: two large gaps can wrap around the field and
//!   return to an earlier key.) So each key has exactly one row, and exactly
//!   one initial state is provided and one final state consumed per key. With
//!   every access consuming one state and providing the next, the accesses to
//!   a key form a single chain from its initial to its final state. Real keys
//!   are below `2^29 + 2^28 + 32` (see the CPU and HintRead tables).
//! - Across shards, each key's states form one chain: the global row provides
//!   its initial state once and consumes its final state once, and every
//!   shard row consumes one state and provides the next (a shard's local
//!   accesses link the two), with timestamps increasing along the chain.
//! - The Image table provides each non-zero image word exactly once (its
//!   multiplicity is fixed to 1), and only rows with `is_image` consume it. So
//!   every image word has a row with `is_image = 1` and its true initial value;
//!   a second row for the same key (say, one claiming the word starts at zero)
//!   would repeat the key. A row with `is_image = 1` for a key outside the
//!   image consumes an `image` message nobody provides.

use crate::bus::{GLOBAL_MEMORY_BUS, IMAGE_BUS, MEMORY_BUS, RANGE16_BUS};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::Arc;

/// Memory table columns.
pub mod cols {
    /// The key as two limbs: `key = lo + 2^16 hi`.
    pub const KEY_LO: usize = 0;
    pub const KEY_HI: usize = 1;
    pub const IS_IMAGE: usize = 2;
    pub const INIT_LO: usize = 3;
    pub const INIT_HI: usize = 4;
    pub const FINAL_LO: usize = 5;
    pub const FINAL_HI: usize = 6;
    pub const FINAL_TS: usize = 7;
    /// The gap to the previous row's key, minus one: `lo + 2^16 hi`.
    pub const GAP_LO: usize = 8;
    pub const GAP_HI: usize = 9;
    pub const IS_REAL: usize = 10;
    /// The timestamp of the state on entry (0 in the Global kind).
    pub const INIT_TS: usize = 11;
}
pub const WIDTH: usize = 12;

/// Public values of both kinds: the `global` bus's challenges (alpha, beta)
/// and this proof's share of the bus, each an extension element as 4 base
/// elements. They are not used by the constraints; they bind the values into
/// the proof's transcript.
pub const NUM_PUBLIC_VALUES: usize = 12;

/// Keys and key gaps lie below `KEY_BOUND_HI * 2^16 = 2^30 - 2^24`.
pub const KEY_BOUND_HI: u32 = 0x3f00;

/// The initial and final state of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WordState {
    pub key: u32,
    pub is_image: bool,
    pub init: u32,
    pub init_ts: u64,
    pub final_value: u32,
    pub final_ts: u64,
}

/// Which of the two Memory tables (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    Shard,
    Global,
}

#[derive(Clone, Copy, Debug)]
pub struct MemoryAir {
    pub kind: MemoryKind,
}

impl<F> BaseAir<F> for MemoryAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn num_public_values(&self) -> usize {
        NUM_PUBLIC_VALUES
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![
            cols::KEY_LO,
            cols::KEY_HI,
            cols::GAP_LO,
            cols::GAP_HI,
            cols::IS_REAL,
        ]
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
        match self.kind {
            MemoryKind::Global => {
                // Words outside the image start at zero, at time 0.
                builder.assert_zero((one.clone() - x(IS_IMAGE)) * x(INIT_LO));
                builder.assert_zero((one.clone() - x(IS_IMAGE)) * x(INIT_HI));
                builder.assert_zero(x(INIT_TS));
            }
            // The image enters through the Global table only.
            MemoryKind::Shard => builder.assert_zero(x(IS_IMAGE)),
        }
        // Real rows first, then padding; keys strictly increase.
        let next_real: AB::Expr = next[IS_REAL].into();
        builder
            .when_transition()
            .assert_zero(next_real.clone() * (one - x(IS_REAL)));
        let limb = AB::Expr::from_u32(1 << 16);
        let key = |row: &[AB::Var]| -> AB::Expr {
            row[KEY_LO].into() + row[KEY_HI].into() * limb.clone()
        };
        let gap = next[GAP_LO].into() + next[GAP_HI].into() * limb.clone();
        builder
            .when_transition()
            .assert_zero(next_real * (key(&next) - key(&r) - AB::Expr::ONE - gap));

        let real = x(IS_REAL);
        let init = [key(&r), x(INIT_LO), x(INIT_HI), x(INIT_TS)];
        let fin = [key(&r), x(FINAL_LO), x(FINAL_HI), x(FINAL_TS)];
        let provide = || Count::bounded(real.clone(), 1);
        let consume = || Count::bounded(-real.clone(), 1);
        match self.kind {
            MemoryKind::Global => {
                builder.push_interaction(GLOBAL_MEMORY_BUS, init.clone(), provide());
                builder.push_interaction(GLOBAL_MEMORY_BUS, fin, consume());
                builder.push_interaction(
                    IMAGE_BUS,
                    [key(&r), x(INIT_LO), x(INIT_HI)],
                    Count::bounded(-x(IS_IMAGE), 1),
                );
            }
            MemoryKind::Shard => {
                builder.push_interaction(GLOBAL_MEMORY_BUS, init.clone(), consume());
                builder.push_interaction(MEMORY_BUS, init, provide());
                builder.push_interaction(MEMORY_BUS, fin.clone(), consume());
                builder.push_interaction(GLOBAL_MEMORY_BUS, fin, provide());
            }
        }
        // Keys and gaps below KEY_BOUND_HI * 2^16.
        let shift = AB::Expr::from_u32((1 << 16) - KEY_BOUND_HI);
        for (lo, hi) in [(KEY_LO, KEY_HI), (GAP_LO, GAP_HI)] {
            for check in [x(lo), x(hi), x(hi) + shift.clone()] {
                builder.push_interaction(RANGE16_BUS, [check], Count::bounded(real.clone(), 1));
            }
        }
    }
}

/// The Memory table's trace for `words` (sorted by key, distinct, below the
/// key bound) in `height` rows; also returns the values it range-checks, for
/// the Range16 multiplicities.
pub fn trace<F: Field>(words: &[WordState], height: usize) -> (RowMajorMatrix<F>, Vec<u16>) {
    let mut values = F::zero_vec(height * WIDTH);
    let mut checks = Vec::with_capacity(6 * words.len());
    let mut prev_key: Option<u32> = None;
    for (w, row) in words.iter().zip(values.chunks_exact_mut(WIDTH)) {
        let gap = prev_key.map_or(0, |p| w.key - p - 1);
        prev_key = Some(w.key);
        for (v, lo, hi) in [
            (w.key, cols::KEY_LO, cols::KEY_HI),
            (gap, cols::GAP_LO, cols::GAP_HI),
        ] {
            let (l, h) = ((v & 0xffff) as u16, (v >> 16) as u16);
            checks.extend([l, h, h.wrapping_add(((1u32 << 16) - KEY_BOUND_HI) as u16)]);
            row[lo] = F::from_u16(l);
            row[hi] = F::from_u16(h);
        }
        row[cols::IS_IMAGE] = F::from_bool(w.is_image);
        row[cols::INIT_LO] = F::from_u32(w.init & 0xffff);
        row[cols::INIT_HI] = F::from_u32(w.init >> 16);
        row[cols::FINAL_LO] = F::from_u32(w.final_value & 0xffff);
        row[cols::FINAL_HI] = F::from_u32(w.final_value >> 16);
        row[cols::FINAL_TS] = F::from_u64(w.final_ts);
        row[cols::INIT_TS] = F::from_u64(w.init_ts);
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
