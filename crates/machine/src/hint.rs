//! HintRead: the words HINT_READ writes, one row per word.
//!
//! A call's first row receives the CPU's `hint(clk, ptr, len)` message; its
//! rows write consecutive words from `ptr` at the call's memory timestamp
//! `4 clk + 3`, counting `remaining = len, len - 4, ...` down, and the call's
//! last row has `remaining = 4 - pad` with `pad` in 0..4: exactly
//! `ceil(len / 4)` words are written. A zero-length call is one row that
//! writes nothing. The written values are the prover's input (a free witness),
//! range-checked as every stored value must be.
//!
//! # Why it is sound
//! - Each first row answers exactly one CPU message, and rows between first
//!   rows continue the same call (same clk, next key, 4 fewer bytes), so calls
//!   cannot be merged, split, lengthened or shortened.
//! - `ptr` is word-aligned (`ptr_lo = 4w`, `w < 2^14`) and below 2^31, `len`
//!   below 2^30, so keys stay below 2^29 + 2^28 + 32, inside the Memory
//!   table's ordering bound.
//! - Timestamp gaps are checked as in the CPU table.

use crate::bus::{HINT_BUS, MEMORY_BUS, MEMORY_KEY_BASE, RANGE16_BUS};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};

/// Column indices.
pub mod cols {
    pub const CLK: usize = 0;
    pub const KEY: usize = 1;
    pub const VAL_LO: usize = 2;
    pub const VAL_HI: usize = 3;
    pub const PREV_LO: usize = 4;
    pub const PREV_HI: usize = 5;
    pub const GAP_LO: usize = 6;
    pub const GAP_HI: usize = 7;
    pub const REMAINING: usize = 8;
    pub const PAD0: usize = 9;
    pub const PAD1: usize = 10;
    pub const IS_FIRST: usize = 11;
    pub const IS_EMPTY: usize = 12;
    pub const IS_REAL: usize = 13;
    /// On first rows: the message's pointer and length limbs, and `ptr_lo / 4`.
    pub const PTR_LO: usize = 14;
    pub const PTR_HI: usize = 15;
    pub const LEN_LO: usize = 16;
    pub const LEN_HI: usize = 17;
    pub const PTR_W: usize = 18;
}
pub const WIDTH: usize = 19;

#[derive(Clone, Copy, Debug, Default)]
pub struct HintAir;

impl<F> BaseAir<F> for HintAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        use cols::*;
        vec![CLK, KEY, REMAINING, IS_FIRST, IS_REAL]
    }
}

impl<AB: InteractionBuilder> Air<AB> for HintAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let x = |i: usize| -> AB::Expr { r[i].into() };
        let n = |i: usize| -> AB::Expr { next[i].into() };
        let c = |v: u32| AB::Expr::from_u32(v);

        for col in [PAD0, PAD1, IS_FIRST, IS_EMPTY, IS_REAL] {
            builder.assert_bool(r[col]);
        }
        builder.assert_zero(x(IS_FIRST) * (c(1) - x(IS_REAL)));
        builder.assert_zero(x(IS_EMPTY) * (c(1) - x(IS_FIRST)));
        builder.when_first_row().assert_eq(r[IS_FIRST], r[IS_REAL]);
        builder
            .when_transition()
            .assert_zero(n(IS_REAL) * (c(1) - x(IS_REAL)));

        // A call's rows: same cycle, next word, four bytes fewer.
        let continues = n(IS_REAL) - n(IS_FIRST);
        let mut cont = builder.when_transition();
        cont.assert_zero(continues.clone() * (n(CLK) - x(CLK)));
        cont.assert_zero(continues.clone() * (n(KEY) - x(KEY) - c(1)));
        cont.assert_zero(continues.clone() * (n(REMAINING) - x(REMAINING) + c(4)));
        cont.assert_zero(continues.clone() * x(IS_EMPTY));
        // A call's last row holds its last 1..=4 bytes (or none, if empty).
        let last_ok = x(REMAINING) - (c(4) - x(PAD0) - x(PAD1) * c(2)) * (c(1) - x(IS_EMPTY));
        builder
            .when_transition()
            .assert_zero((x(IS_REAL) - continues) * last_ok.clone());
        builder.when_last_row().assert_zero(x(IS_REAL) * last_ok);
        // First rows: the message's pointer and length.
        let mut first = builder.when(r[IS_FIRST]);
        first.assert_eq(x(PTR_LO), x(PTR_W) * c(4));
        first.assert_eq(
            x(KEY),
            c(MEMORY_KEY_BASE) + x(PTR_W) + x(PTR_HI) * c(1 << 14),
        );
        first.assert_eq(x(REMAINING), x(LEN_LO) + x(LEN_HI) * c(1 << 16));

        let is_first = x(IS_FIRST);
        builder.push_interaction(
            HINT_BUS,
            [CLK, PTR_LO, PTR_HI, LEN_LO, LEN_HI].map(x),
            Count::bounded(-is_first.clone(), 1),
        );
        for check in [x(PTR_W), x(PTR_HI) * c(2), x(LEN_HI) * c(4)] {
            builder.push_interaction(RANGE16_BUS, [check], Count::bounded(is_first.clone(), 1));
        }
        let writes = x(IS_REAL) - x(IS_EMPTY);
        let ts = x(CLK) * c(4) + c(3);
        let prev_ts = ts.clone() - c(1) - x(GAP_LO) - x(GAP_HI) * c(1 << 14);
        builder.push_interaction(
            MEMORY_BUS,
            [x(KEY), x(PREV_LO), x(PREV_HI), prev_ts],
            Count::bounded(-writes.clone(), 1),
        );
        builder.push_interaction(
            MEMORY_BUS,
            [x(KEY), x(VAL_LO), x(VAL_HI), ts],
            Count::bounded(writes.clone(), 1),
        );
        for limb in [VAL_LO, VAL_HI, GAP_LO, GAP_HI] {
            builder.push_interaction(RANGE16_BUS, [x(limb)], Count::bounded(writes.clone(), 1));
        }
    }
}
