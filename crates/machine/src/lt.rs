//! Lt: one row per SLT, SLTI, SLTU or SLTIU, receiving `alu(op, a, b, c)` with
//! `a = (b < c)`, signed for SLT and unsigned for SLTU.
//!
//! The comparison is unsigned on two 16-bit limbs `(lo, hi')`. For SLT the high
//! limbs are first mapped to `hi' = hi ^ 0x8000` (flipping the sign bit turns
//! two's-complement order into unsigned order); SLTU uses `hi' = hi`.
//!
//! Why a malicious prover cannot claim a wrong `a`:
//! - `b` and `c` limbs are below 2^16 (the sender range-checks them, see
//!   `crate::bus`). The sign bits `b_msb`, `c_msb` are booleans with
//!   `2 * (hi - msb * 2^15)` range-checked on `range16`: for an even field value
//!   below 2^16 that puts `hi - msb * 2^15` in `[0, 2^15)`, and an odd one would
//!   need `hi - msb * 2^15` near `p / 2`, which no `hi < 2^16` gives. So `msb` is
//!   bit 15 of `hi`, and `hi' = hi + is_slt * (2^15 - 2^16 * msb)` is
//!   `hi ^ 0x8000` (or `hi`), again below 2^16.
//! - The flags `diff_hi`, `diff_lo` are booleans, not both set. `diff_hi` means
//!   the high limbs differ, `diff_lo` that the high limbs are equal and the low
//!   limbs differ, neither that both pairs are equal:
//!   `d = diff_hi * (c_hi' - b_hi') + diff_lo * (c_lo - b_lo)` must have an
//!   inverse (`d * inv = diff_hi + diff_lo`) when a flag is set, and
//!   `(1 - diff_hi) * (c_hi' - b_hi') = 0`, `(1 - diff_hi - diff_lo) * (c_lo - b_lo) = 0`
//!   force the equalities the flags claim. So the flags name the most
//!   significant differing limb, and `d` is that limb's difference `c - b`, an
//!   integer in `(-2^16, 2^16)`, non-zero.
//! - `a` is boolean, `0` when nothing differs (`b == c` gives 0), and
//!   `r = (2a - 1) * d - (diff_hi + diff_lo)` is range-checked: with a flag set,
//!   `a = 1` needs `d - 1 in [0, 2^16)`, so `d >= 1` (`c > b`), and `a = 0` needs
//!   `-d - 1 in [0, 2^16)`, so `d <= -1` (`c < b`); the negative integers in
//!   between are field values above `p - 2^17`, far outside the range.
//! - `a_hi` is the constant 0 in the message, and `a_lo = a` is boolean, so the
//!   output needs no range check.

use crate::bus::{limbs, ALU_BUS, RANGE16_BUS, SLTU_ID, SLT_ID};
use crate::event::{checked, AluEvent, Multiplicities, TraceError};
use cloak_prover::Val;
use cloak_vm::Opcode;
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Column indices.
pub mod cols {
    /// The result bit (`a_lo`; `a_hi` is 0).
    pub const A: usize = 0;
    pub const B_LO: usize = 1;
    pub const B_HI: usize = 2;
    pub const C_LO: usize = 3;
    pub const C_HI: usize = 4;
    /// Bit 15 of `b_hi` and `c_hi` (the sign bits).
    pub const B_MSB: usize = 5;
    pub const C_MSB: usize = 6;
    /// The high limbs as compared: `hi ^ 0x8000` for SLT, `hi` for SLTU.
    pub const B_HI_CMP: usize = 7;
    pub const C_HI_CMP: usize = 8;
    /// The high limbs differ.
    pub const DIFF_HI: usize = 9;
    /// The high limbs are equal and the low limbs differ.
    pub const DIFF_LO: usize = 10;
    /// `c - b` at the most significant differing limb (0 if none).
    pub const D: usize = 11;
    /// The inverse of `D` (0 if `D` is 0).
    pub const INV: usize = 12;
    /// The range-checked `d - 1` (if `a`) or `-d - 1` (if not), 0 if equal.
    pub const R: usize = 13;
    pub const IS_SLT: usize = 14;
    pub const IS_SLTU: usize = 15;
}
pub const WIDTH: usize = 16;

#[derive(Clone, Copy, Debug, Default)]
pub struct LtAir;

impl<F> BaseAir<F> for LtAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for LtAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let (is_slt, is_sltu) = (r[IS_SLT], r[IS_SLTU]);
        let (diff_hi, diff_lo) = (r[DIFF_HI], r[DIFF_LO]);
        let a = r[A];

        // Flags: booleans, at most one set; padding rows have none.
        builder.assert_bool(is_slt);
        builder.assert_bool(is_sltu);
        builder.assert_zero(is_slt * is_sltu);
        let is_real: AB::Expr = is_slt + is_sltu;
        for col in [A, B_MSB, C_MSB, DIFF_HI, DIFF_LO] {
            builder.assert_bool(r[col]);
        }
        builder.assert_zero(diff_hi * diff_lo);
        let differs: AB::Expr = diff_hi + diff_lo;

        // The compared high limbs: the sign bit flipped for SLT.
        let half = AB::Expr::from_u32(1 << 15);
        let limb = AB::Expr::from_u32(1 << 16);
        for (hi, msb, cmp) in [(B_HI, B_MSB, B_HI_CMP), (C_HI, C_MSB, C_HI_CMP)] {
            builder.assert_eq(
                r[cmp],
                r[hi] + is_slt * (half.clone() - r[msb] * limb.clone()),
            );
        }
        let hi_diff: AB::Expr = r[C_HI_CMP] - r[B_HI_CMP];
        let lo_diff: AB::Expr = r[C_LO] - r[B_LO];

        // The flags name the most significant differing limb, and d its
        // (non-zero) difference.
        builder.assert_eq(r[D], diff_hi * hi_diff.clone() + diff_lo * lo_diff.clone());
        builder.assert_eq(r[D] * r[INV], differs.clone());
        builder.assert_zero((AB::Expr::ONE - diff_hi) * hi_diff);
        let equal = AB::Expr::ONE - differs.clone();
        builder.assert_zero(equal.clone() * lo_diff);
        // Equal words compare as not less.
        builder.assert_zero(equal * a);
        // The sign of d is a: r is range-checked below.
        builder.assert_eq(r[R], (a * AB::Expr::TWO - AB::Expr::ONE) * r[D] - differs);

        let op = is_slt * AB::Expr::from_u32(SLT_ID) + is_sltu * AB::Expr::from_u32(SLTU_ID);
        let message = [
            op,
            a.into(),
            AB::Expr::ZERO,
            r[B_LO].into(),
            r[B_HI].into(),
            r[C_LO].into(),
            r[C_HI].into(),
        ];
        builder.push_interaction(ALU_BUS, message, Count::bounded(-is_real.clone(), 1));
        // The sign-bit decompositions (2 * (hi - msb * 2^15) < 2^16) and r.
        let checks = [
            (r[B_HI] - r[B_MSB] * half.clone()) * AB::Expr::TWO,
            (r[C_HI] - r[C_MSB] * half) * AB::Expr::TWO,
            r[R].into(),
        ];
        for value in checks {
            builder.push_interaction(RANGE16_BUS, [value], Count::bounded(is_real.clone(), 1));
        }
    }
}

/// The trace of SLT/SLTI/SLTU/SLTIU `events` (others are an error), padded with
/// zero rows; counts the `range16` sends into `mults`.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    crate::rows::event_rows(events, WIDTH, min_height, mults, |event, row, mults| {
        let signed = match checked(event)? {
            Opcode::Slt => true,
            Opcode::Sltu => false,
            _ => return Err(TraceError::UnsupportedOpcode(event.opcode)),
        };
        let (b, c) = (limbs(event.b), limbs(event.c));
        let flip = if signed { 0x8000 } else { 0 };
        let (b_hi_cmp, c_hi_cmp) = (b.1 ^ flip, c.1 ^ flip);
        let (b_msb, c_msb) = (b.1 >> 15, c.1 >> 15);
        let (diff_hi, diff_lo) = (b_hi_cmp != c_hi_cmp, b_hi_cmp == c_hi_cmp && b.0 != c.0);
        let d = if diff_hi {
            i64::from(c_hi_cmp) - i64::from(b_hi_cmp)
        } else if diff_lo {
            i64::from(c.0) - i64::from(b.0)
        } else {
            0
        };
        let a = event.a;
        let rv = if d == 0 {
            0
        } else if a == 1 {
            d - 1
        } else {
            -d - 1
        };
        let rv = u16::try_from(rv).expect("a checked event's difference has the result's sign");
        let d_inv = crate::rows::inverse_of_small(d);
        let d = Val::from_i64(d);
        let cells = [
            Val::from_u32(a),
            Val::from_u32(b.0),
            Val::from_u32(b.1),
            Val::from_u32(c.0),
            Val::from_u32(c.1),
            Val::from_u32(b_msb),
            Val::from_u32(c_msb),
            Val::from_u32(b_hi_cmp),
            Val::from_u32(c_hi_cmp),
            Val::from_bool(diff_hi),
            Val::from_bool(diff_lo),
            d,
            d_inv,
            Val::from_u16(rv),
            Val::from_bool(signed),
            Val::from_bool(!signed),
        ];
        row.copy_from_slice(&cells);
        mults.range16((2 * (b.1 & 0x7fff)) as u16);
        mults.range16((2 * (c.1 & 0x7fff)) as u16);
        mults.range16(rv);
        Ok(())
    })
}
