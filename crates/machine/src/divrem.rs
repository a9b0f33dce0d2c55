//! DivRem: one row per DIV, DIVU, REM or REMU, receiving `alu(op, a, b, c)`
//! with `a` the quotient `q` (DIV, DIVU) or the remainder `r` (REM, REMU) of
//! `b / c`, with RISC-V's semantics: truncating division, the remainder taking
//! the dividend's sign; `c = 0` gives `q = 0xffff_ffff` and `r = b`; the signed
//! overflow `INT_MIN / -1` gives `q = INT_MIN` and `r = 0`.
//!
//! Every row holds both `q` and `r` as bytes and shows, signed for DIV/REM and
//! unsigned for DIVU/REMU:
//! 1. `b = q * c + r` as integers (except for the overflow case, where it holds
//!    modulo 2^32), computed like the Mul chip does: operands extended to 8
//!    bytes (`0xff` upper bytes for a negative signed operand), the byte columns
//!    of `q * c + r` with carries, whose low 4 bytes are `b`'s bytes and whose
//!    high 4 bytes `p_hi` are `b`'s sign extension;
//! 2. `|r| < |c|` when `c != 0`, by sending `alu(SLTU, 1, |r|, |c|)` to the Lt
//!    chip (`count = is_real - c_zero`);
//! 3. `r = 0` or `r` has `b`'s sign;
//! 4. `c = 0` (flag `c_zero`): `q = 0xffff_ffff` and `r = b`;
//! 5. overflow (flag `overflow`): `b = INT_MIN`, `c = -1`, `q = INT_MIN`, `r = 0`.
//!
//! Why a malicious prover cannot claim a wrong `a`:
//! - The bytes of `b`, `c`, `q`, `r` and `p_hi` are bytes (`byte(U8_PAIR, x,
//!   y, 0)` lookups, two at a time, as in Mul), and `b`, `c` recompose to the message limbs;
//!   `a` is recomposed from `q`'s or `r`'s bytes, so needs no other range check.
//!   The sign bits are bit 7 of the top bytes (`512 * (top - 128 * sign)`
//!   range-checked, as in Mul), and `neg = sign * is_signed`.
//! - The carries are range-checked below 2^16, so each column equation has both
//!   sides below 2^20 resp. 2^24 + 256 and holds in the integers: the extended
//!   `q * c + r` equals `b`'s low bytes and `p_hi` modulo 2^64. Unless
//!   `overflow`, `p_hi` is `b`'s sign extension, so `q * c + r = b` modulo 2^64;
//!   as `|q * c + r| < 2^63` (signed) or `0 <= q * c + r < 2^64` (unsigned), it
//!   holds in the integers.
//! - `c_zero` is boolean with `c_zero * Σ c_i = 0` and `Σ c_i * inv = is_real - c_zero`
//!   (`Σ c_i < 1024` is zero exactly when `c` is), so on real rows it is set
//!   exactly when `c = 0` (and never on padding rows). Then `q` and `r` are
//!   fixed by constraint 4.
//! - `|r|`, `|c|` are limbs range-checked below 2^16 with `|x| = x` if not
//!   `neg`, else `x_lo + |x|_lo = 2^16 * k`, `x_hi + |x|_hi + k = 2^16` with `k`
//!   boolean, i.e. `x + |x| = 2^32` in the integers. The Lt chip answers
//!   `SLTU(|r|, |c|) = 1` only if `|r| < |c|`.
//! - Sign: `r_neg * (1 - b_neg) = 0` and `b_neg * (1 - r_neg) * Σ r_i = 0`.
//! - For `c != 0` truncating division is the unique `(q, r)` with
//!   `b = q * c + r`, `|r| < |c|` and `r` zero or of `b`'s sign, and for
//!   unsigned operands `q = floor(b / c)` fits 32 bits; for signed ones the only
//!   quotient outside the signed 32-bit range is `INT_MIN / -1 = 2^31`, so
//!   without `overflow` that case has no witness at all. `overflow` can only be
//!   set on a signed row whose operands are `INT_MIN` and `-1`, and then
//!   constraint 5 fixes the result.

use crate::bus::{limbs, ALU_BUS, DIVU_ID, DIV_ID, RANGE16_BUS, REMU_ID, REM_ID, SLTU_ID};
use crate::byte::send_byte_pairs;
use crate::event::{checked, padded_height, AluEvent, ByteOp, Multiplicities, TraceError};
use crate::flags::assert_at_most_one;
use cloak_prover::Val;
use cloak_vm::Opcode;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Column indices.
pub mod cols {
    pub const A_LO: usize = 0;
    pub const A_HI: usize = 1;
    /// The bytes of `b`, `c`, `q` and `r`, least significant first (4 columns each).
    pub const B: usize = 2;
    pub const C: usize = 6;
    pub const Q: usize = 10;
    pub const R: usize = 14;
    /// Bytes 4..8 of the extended `q * c + r` (4 columns).
    pub const P_HI: usize = 18;
    /// The carry out of each byte column of `q * c + r` (8 columns).
    pub const CARRY: usize = 22;
    /// Bit 31 of `b`, `c`, `q`, `r` (4 columns, in that order).
    pub const SIGN: usize = 30;
    /// The sign bits on signed rows, 0 on unsigned ones (4 columns).
    pub const NEG: usize = 34;
    /// `c == 0`, and the inverse of the sum of `c`'s bytes (0 if `c == 0`).
    pub const C_ZERO: usize = 38;
    pub const C_INV: usize = 39;
    /// The signed overflow `INT_MIN / -1`.
    pub const OVERFLOW: usize = 40;
    /// `|r|` and `|c|` as limbs (2 columns each), and the carry out of the low
    /// limb of `x + |x| = 2^32` for negative `x`.
    pub const R_ABS: usize = 41;
    pub const C_ABS: usize = 43;
    pub const R_ABS_CARRY: usize = 45;
    pub const C_ABS_CARRY: usize = 46;
    pub const IS_DIV: usize = 47;
    pub const IS_DIVU: usize = 48;
    pub const IS_REM: usize = 49;
    pub const IS_REMU: usize = 50;
}
pub const WIDTH: usize = 51;

#[derive(Clone, Copy, Debug, Default)]
pub struct DivRemAir;

impl<F> BaseAir<F> for DivRemAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for DivRemAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let flags = [r[IS_DIV], r[IS_DIVU], r[IS_REM], r[IS_REMU]];
        // Flags: booleans with a boolean sum; padding rows have none.
        let is_real = assert_at_most_one(builder, &flags);
        let is_signed: AB::Expr = r[IS_DIV] + r[IS_REM];
        for i in 0..4 {
            builder.assert_bool(r[SIGN + i]);
            builder.assert_eq(r[NEG + i], r[SIGN + i] * is_signed.clone());
        }
        let (b_neg, c_neg, q_neg, r_neg) = (r[NEG], r[NEG + 1], r[NEG + 2], r[NEG + 3]);

        // b = q * c + r on the extended operands, byte column by byte column.
        let ff = AB::Expr::from_u32(0xff);
        let byte = AB::Expr::from_u32(256);
        let ext = |base: usize, neg: AB::Var, i: usize| -> AB::Expr {
            if i < 4 {
                r[base + i].into()
            } else {
                neg * ff.clone()
            }
        };
        let mut carry_in = AB::Expr::ZERO;
        for k in 0..8 {
            let mut column = carry_in + ext(R, r_neg, k);
            for i in 0..=k {
                column += ext(Q, q_neg, i) * ext(C, c_neg, k - i);
            }
            let target = if k < 4 { r[B + k] } else { r[P_HI + k - 4] };
            builder.assert_eq(column, target + r[CARRY + k] * byte.clone());
            carry_in = r[CARRY + k].into();
        }
        // The high bytes are b's sign extension, except for the overflow.
        let overflow = r[OVERFLOW];
        builder.assert_bool(overflow);
        for k in 0..4 {
            builder
                .when(AB::Expr::ONE - overflow)
                .assert_eq(r[P_HI + k], b_neg * ff.clone());
        }
        // Overflow: only INT_MIN / -1, signed, with q = INT_MIN and r = 0.
        {
            let mut when = builder.when(overflow);
            when.assert_one(is_signed.clone());
            for i in 0..4 {
                let top = if i == 3 { 0x80 } else { 0 };
                when.assert_eq(r[B + i], AB::Expr::from_u32(top));
                when.assert_eq(r[C + i], ff.clone());
                when.assert_eq(r[Q + i], AB::Expr::from_u32(top));
                when.assert_zero(r[R + i]);
            }
        }

        // Division by zero: c_zero is set exactly on real rows with c = 0.
        let c_zero = r[C_ZERO];
        let c_sum: AB::Expr = (C..C + 4).map(|col| r[col].into()).sum();
        builder.assert_bool(c_zero);
        builder.assert_zero(c_zero * c_sum.clone());
        builder.assert_eq(c_sum * r[C_INV], is_real.clone() - c_zero);
        {
            let mut when = builder.when(c_zero);
            for i in 0..4 {
                when.assert_eq(r[Q + i], ff.clone());
                when.assert_eq(r[R + i], r[B + i]);
            }
        }

        // r is zero or has b's sign.
        let r_sum: AB::Expr = (R..R + 4).map(|col| r[col].into()).sum();
        builder.assert_zero(r_neg * (AB::Expr::ONE - b_neg));
        builder.assert_zero(b_neg * (AB::Expr::ONE - r_neg) * r_sum);

        // |r| and |c|: x itself, or 2^32 - x for negative x.
        let pair = |o: usize| -> AB::Expr { r[o] + r[o + 1] * byte.clone() };
        let limb = AB::Expr::from_u32(1 << 16);
        for (x, neg, abs, carry) in [
            (R, r_neg, R_ABS, R_ABS_CARRY),
            (C, c_neg, C_ABS, C_ABS_CARRY),
        ] {
            builder.assert_bool(r[carry]);
            let mut pos = builder.when(AB::Expr::ONE - neg);
            pos.assert_eq(r[abs], pair(x));
            pos.assert_eq(r[abs + 1], pair(x + 2));
            let mut negative = builder.when(neg);
            negative.assert_eq(pair(x) + r[abs], r[carry] * limb.clone());
            negative.assert_eq(pair(x + 2) + r[abs + 1] + r[carry], limb.clone());
        }
        // |r| < |c| unless c = 0, answered by the Lt chip.
        let lt = [
            AB::Expr::from_u32(SLTU_ID),
            AB::Expr::ONE,
            AB::Expr::ZERO,
            r[R_ABS].into(),
            r[R_ABS + 1].into(),
            r[C_ABS].into(),
            r[C_ABS + 1].into(),
        ];
        builder.push_interaction(ALU_BUS, lt, Count::bounded(is_real.clone() - c_zero, 1));

        // a is q or r.
        let mut quotient = builder.when(r[IS_DIV] + r[IS_DIVU]);
        quotient.assert_eq(r[A_LO], pair(Q));
        quotient.assert_eq(r[A_HI], pair(Q + 2));
        let mut remainder = builder.when(r[IS_REM] + r[IS_REMU]);
        remainder.assert_eq(r[A_LO], pair(R));
        remainder.assert_eq(r[A_HI], pair(R + 2));

        let op: AB::Expr = [DIV_ID, DIVU_ID, REM_ID, REMU_ID]
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

        // The bytes of b, c, q, r and p_hi, two per lookup.
        send_byte_pairs(builder, &r[B..B + 20], is_real.clone());
        // Range checks: carries, sign decompositions, |r|, |c|.
        let mut checks: Vec<AB::Expr> = Vec::new();
        checks.extend((CARRY..CARRY + 8).map(|col| r[col].into()));
        for (i, base) in [B, C, Q, R].into_iter().enumerate() {
            checks.push(
                (r[base + 3] - r[SIGN + i] * AB::Expr::from_u32(128)) * AB::Expr::from_u32(512),
            );
        }
        checks.extend((R_ABS..R_ABS + 4).map(|col| r[col].into()));
        for value in checks {
            builder.push_interaction(RANGE16_BUS, [value], Count::bounded(is_real.clone(), 1));
        }
    }
}

/// A row claiming `op(b, c)` has quotient `q` and remainder `r` (the result is
/// `q` or `r` by `op`), whether or not that is true: its cells, the values it
/// range-checks, and the `SLTU(|r|, |c|) = 1` lookup it sends (none if `c = 0`).
/// Carries and the high product bytes follow from `q`, `c` and `r`.
///
/// # Panics
/// If `op` is not DIV, DIVU, REM or REMU.
pub fn witness(
    op: Opcode,
    b: u32,
    c: u32,
    q: u32,
    r: u32,
) -> ([Val; WIDTH], Vec<Val>, Option<AluEvent>) {
    use cols::*;
    let (flag, signed, is_quotient) = match op {
        Opcode::Div => (IS_DIV, true, true),
        Opcode::Divu => (IS_DIVU, false, true),
        Opcode::Rem => (IS_REM, true, false),
        Opcode::Remu => (IS_REMU, false, false),
        _ => panic!("{op:?} is not a division"),
    };
    let mut row = [Val::ZERO; WIDTH];
    let mut checks = Vec::new();
    let words = [b, c, q, r];
    let negs = words.map(|w| signed && w >> 31 == 1);
    let ext = |i: usize| -> [u64; 8] {
        std::array::from_fn(|k| {
            if k < 4 {
                u64::from(words[i] >> (8 * k) & 0xff)
            } else {
                0xff * u64::from(negs[i])
            }
        })
    };
    let (cx, qx, rx) = (ext(1), ext(2), ext(3));
    for (i, base) in [B, C, Q, R].into_iter().enumerate() {
        for k in 0..4 {
            row[base + k] = Val::from_u32(words[i] >> (8 * k) & 0xff);
        }
        let top = words[i] >> 24;
        row[SIGN + i] = Val::from_u32(top >> 7);
        row[NEG + i] = Val::from_bool(negs[i]);
        checks.push(Val::from_u32((top & 0x7f) << 9));
    }
    let mut carry = 0u64;
    for k in 0..8 {
        let column = carry + rx[k] + (0..=k).map(|i| qx[i] * cx[k - i]).sum::<u64>();
        carry = column >> 8;
        if k >= 4 {
            row[P_HI + k - 4] = Val::from_u64(column & 0xff);
        }
        row[CARRY + k] = Val::from_u64(carry);
        checks.push(Val::from_u64(carry));
    }
    let c_sum: u32 = (0..4).map(|k| c >> (8 * k) & 0xff).sum();
    row[C_ZERO] = Val::from_bool(c == 0);
    row[C_INV] = crate::rows::inverse_of_small(i64::from(c_sum));
    row[OVERFLOW] = Val::from_bool(signed && b == 0x8000_0000 && c == u32::MAX);
    let mut abs = [0u32; 2];
    for (j, (x, neg, col, carry_col)) in [
        (r, negs[3], R_ABS, R_ABS_CARRY),
        (c, negs[1], C_ABS, C_ABS_CARRY),
    ]
    .into_iter()
    .enumerate()
    {
        abs[j] = if neg { x.wrapping_neg() } else { x };
        let (lo, hi) = limbs(abs[j]);
        row[col] = Val::from_u32(lo);
        row[col + 1] = Val::from_u32(hi);
        row[carry_col] = Val::from_bool(neg && (x & 0xffff) + lo == 1 << 16);
        checks.push(row[col]);
        checks.push(row[col + 1]);
    }
    let a = limbs(if is_quotient { q } else { r });
    row[A_LO] = Val::from_u32(a.0);
    row[A_HI] = Val::from_u32(a.1);
    row[flag] = Val::ONE;
    let lt = (c != 0).then_some(AluEvent {
        opcode: Opcode::Sltu,
        a: 1,
        b: abs[0],
        c: abs[1],
    });
    (row, checks, lt)
}

/// The trace of DIV/DIVU/REM/REMU `events` (others are an error), padded with
/// zero rows; counts the `range16` sends into `mults` and returns the
/// `SLTU(|r|, |c|)` events the rows send, for the Lt chip.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<(RowMajorMatrix<Val>, Vec<AluEvent>), TraceError> {
    let height = padded_height(events.len(), min_height)?;
    let mut values = crate::rows::zeroed(height * WIDTH);
    let lts = crate::rows::fill_chunks(
        &mut values,
        WIDTH,
        events.len(),
        mults,
        |first, rows, mults| {
            let mut lts = Vec::new();
            for (event, row) in events[first..].iter().zip(rows.chunks_exact_mut(WIDTH)) {
                let (quotient_op, remainder_op) = match checked(event)? {
                    Opcode::Div | Opcode::Rem => (Opcode::Div, Opcode::Rem),
                    Opcode::Divu | Opcode::Remu => (Opcode::Divu, Opcode::Remu),
                    _ => return Err(TraceError::UnsupportedOpcode(event.opcode)),
                };
                let result = |op| AluEvent::new(op, event.b, event.c).expect("a division").a;
                let (q, r) = (result(quotient_op), result(remainder_op));
                let (cells, checks, lt) = witness(event.opcode, event.b, event.c, q, r);
                row.copy_from_slice(&cells);
                for x in cells[cols::B..cols::B + 20].chunks(2) {
                    let byte = |v: Val| v.as_canonical_u32() as u8;
                    mults.byte(ByteOp::Pair, byte(x[0]), byte(x[1]));
                }
                for value in checks {
                    let value = u16::try_from(value.as_canonical_u32())
                        .expect("an honest row's range checks are below 2^16");
                    mults.range16(value);
                }
                lts.extend(lt);
            }
            Ok(lts)
        },
    )?
    .concat();
    Ok((RowMajorMatrix::new(values, WIDTH), lts))
}
