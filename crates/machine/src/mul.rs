//! Mul: one row per MUL, MULH, MULHSU or MULHU, receiving `alu(op, a, b, c)`
//! with `a` the low (MUL) or high (the others) word of the 64-bit product.
//!
//! The operands are split into bytes and extended to 8 bytes: for a signed
//! operand (`b` of MULH and MULHSU, `c` of MULH) with its sign bit set, the
//! upper bytes are `0xff` (the 64-bit two's complement of the 32-bit value),
//! otherwise 0. The 64-bit product of the extended operands modulo 2^64 is the
//! exact product (every product here fits 64 signed or unsigned bits), and it
//! is computed byte column by byte column with carries.
//!
//! Why a malicious prover cannot claim a wrong `a`:
//! - The bytes of `b`, `c` and the product `p` are shown to be bytes two at a
//!   time by `byte(U8_PAIR, x, y, 0)` lookups (the Byte table provides exactly
//!   the pairs of values below 256); `b` and `c`'s bytes recompose to the
//!   message limbs, so they are the operands' bytes.
//! - The sign bits are booleans with `512 * (top byte - 128 * sign)`
//!   range-checked: for a top byte below 256 that difference is in
//!   `(-128, 256)`, and only `[0, 128)` gives a field value below 2^16, so the
//!   sign is bit 7 of the top byte. The extension flags `b_neg`, `c_neg` are the
//!   sign bits times the op flags that make the operand signed.
//! - The carries are range-checked below 2^16. Each column equation
//!   `Σ_{i+j=k} b_i c_j + carry_{k-1} = p_k + 256 carry_k` then has both sides
//!   below 8 * 255^2 + 2^16 < 2^20 and 256 + 2^24 < p respectively, so it holds
//!   in the integers, and the `p_k` are the bytes of the product modulo 2^64.
//! - The op flags are booleans with at most one set, and select which half of
//!   `p` is `a`; `a`'s limbs are recomposed from range-checked bytes.

use crate::bus::{limbs, ALU_BUS, MULHSU_ID, MULHU_ID, MULH_ID, MUL_ID, RANGE16_BUS};
use crate::byte::send_byte_pairs;
use crate::event::{checked, AluEvent, ByteOp, Multiplicities, TraceError};
use crate::flags::assert_at_most_one;
use cloak_prover::Val;
use cloak_vm::Opcode;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Column indices.
pub mod cols {
    pub const A_LO: usize = 0;
    pub const A_HI: usize = 1;
    /// `b`'s bytes, least significant first (4 columns).
    pub const B: usize = 2;
    /// `c`'s bytes (4 columns).
    pub const C: usize = 6;
    /// The 64-bit product's bytes (8 columns).
    pub const P: usize = 10;
    /// The carry out of each product byte column (8 columns).
    pub const CARRY: usize = 18;
    /// Bit 31 of `b` and `c`.
    pub const B_SIGN: usize = 26;
    pub const C_SIGN: usize = 27;
    /// Whether `b` (`c`) is sign-extended with ones: its sign bit, if signed.
    pub const B_NEG: usize = 28;
    pub const C_NEG: usize = 29;
    pub const IS_MUL: usize = 30;
    pub const IS_MULH: usize = 31;
    pub const IS_MULHSU: usize = 32;
    pub const IS_MULHU: usize = 33;
}
pub const WIDTH: usize = 34;

#[derive(Clone, Copy, Debug, Default)]
pub struct MulAir;

impl<F> BaseAir<F> for MulAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for MulAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let flags = [r[IS_MUL], r[IS_MULH], r[IS_MULHSU], r[IS_MULHU]];
        // Flags: booleans with a boolean sum, so at most one is set; padding
        // rows have none.
        let is_real = assert_at_most_one(builder, &flags);
        builder.assert_bool(r[B_SIGN]);
        builder.assert_bool(r[C_SIGN]);
        builder.assert_eq(r[B_NEG], r[B_SIGN] * (r[IS_MULH] + r[IS_MULHSU]));
        builder.assert_eq(r[C_NEG], r[C_SIGN] * r[IS_MULH]);

        // The extended operands' bytes.
        let ff = AB::Expr::from_u32(0xff);
        let ext = |base: usize, neg: usize, i: usize| -> AB::Expr {
            if i < 4 {
                r[base + i].into()
            } else {
                r[neg] * ff.clone()
            }
        };
        let byte = AB::Expr::from_u32(256);
        let mut carry_in = AB::Expr::ZERO;
        for k in 0..8 {
            let mut column = carry_in;
            for i in 0..=k {
                column += ext(B, B_NEG, i) * ext(C, C_NEG, k - i);
            }
            builder.assert_eq(column, r[P + k] + r[CARRY + k] * byte.clone());
            carry_in = r[CARRY + k].into();
        }

        let pair = |o: usize| -> AB::Expr { r[o] + r[o + 1] * byte.clone() };
        let mut low = builder.when(r[IS_MUL]);
        low.assert_eq(r[A_LO], pair(P));
        low.assert_eq(r[A_HI], pair(P + 2));
        let mut high = builder.when(r[IS_MULH] + r[IS_MULHSU] + r[IS_MULHU]);
        high.assert_eq(r[A_LO], pair(P + 4));
        high.assert_eq(r[A_HI], pair(P + 6));

        let op: AB::Expr = [MUL_ID, MULH_ID, MULHSU_ID, MULHU_ID]
            .into_iter()
            .zip(flags)
            .map(|(id, flag)| flag * AB::Expr::from_u32(id))
            .sum();
        let message = [
            op,
            r[A_LO].into(),
            r[A_HI].into(),
            pair(B),
            pair(B + 2),
            pair(C),
            pair(C + 2),
        ];
        builder.push_interaction(ALU_BUS, message, Count::bounded(-is_real.clone(), 1));

        // Bytes, two per lookup: b and c (columns B..B + 8), then p.
        let bytes: Vec<AB::Var> = (B..B + 8).chain(P..P + 8).map(|col| r[col]).collect();
        send_byte_pairs(builder, &bytes, is_real.clone());
        // Range checks: carries, sign decompositions.
        let mut checks: Vec<AB::Expr> = Vec::new();
        checks.extend((CARRY..CARRY + 8).map(|col| r[col].into()));
        for (top, sign) in [(B + 3, B_SIGN), (C + 3, C_SIGN)] {
            checks.push((r[top] - r[sign] * AB::Expr::from_u32(128)) * AB::Expr::from_u32(512));
        }
        for value in checks {
            builder.push_interaction(RANGE16_BUS, [value], Count::bounded(is_real.clone(), 1));
        }
    }
}

/// The trace of MUL/MULH/MULHSU/MULHU `events` (others are an error), padded
/// with zero rows; counts the `range16` sends into `mults`.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    use cols::*;
    crate::rows::event_rows(events, WIDTH, min_height, mults, |event, row, mults| {
        let (flag, b_signed, c_signed) = match checked(event)? {
            Opcode::Mul => (IS_MUL, false, false),
            Opcode::Mulh => (IS_MULH, true, true),
            Opcode::Mulhsu => (IS_MULHSU, true, false),
            Opcode::Mulhu => (IS_MULHU, false, false),
            _ => return Err(TraceError::UnsupportedOpcode(event.opcode)),
        };
        let (b_sign, c_sign) = (event.b >> 31 == 1, event.c >> 31 == 1);
        let (b_neg, c_neg) = (b_signed && b_sign, c_signed && c_sign);
        let bytes = |w: u32, neg: bool| -> [u64; 8] {
            std::array::from_fn(|i| {
                if i < 4 {
                    u64::from(w >> (8 * i) & 0xff)
                } else {
                    0xff * u64::from(neg)
                }
            })
        };
        let (bx, cx) = (bytes(event.b, b_neg), bytes(event.c, c_neg));
        let a = limbs(event.a);
        row[A_LO] = Val::from_u32(a.0);
        row[A_HI] = Val::from_u32(a.1);
        let mut carry = 0u64;
        let mut p = [0u8; 8];
        for k in 0..8 {
            let column = carry + (0..=k).map(|i| bx[i] * cx[k - i]).sum::<u64>();
            p[k] = (column & 0xff) as u8;
            carry = column >> 8;
            row[P + k] = Val::from_u8(p[k]);
            row[CARRY + k] = Val::from_u64(carry);
            mults.range16(carry as u16);
        }
        for i in 0..4 {
            row[B + i] = Val::from_u64(bx[i]);
            row[C + i] = Val::from_u64(cx[i]);
        }
        // b's and c's low bytes, then the product's, counted in pairs (no
        // allocation a row: this runs once per MUL).
        let bytes: [u8; 8] = std::array::from_fn(|i| if i < 4 { bx[i] } else { cx[i - 4] } as u8);
        for pair in bytes.chunks(2).chain(p.chunks(2)) {
            mults.byte(ByteOp::Pair, pair[0], pair[1]);
        }
        row[B_SIGN] = Val::from_bool(b_sign);
        row[C_SIGN] = Val::from_bool(c_sign);
        row[B_NEG] = Val::from_bool(b_neg);
        row[C_NEG] = Val::from_bool(c_neg);
        row[flag] = Val::ONE;
        for top in [bx[3], cx[3]] {
            mults.range16(((top & 0x7f) << 9) as u16);
        }
        Ok(())
    })
}
