//! Bitwise: one row per AND, OR, XOR or their immediate forms, receiving
//! `alu(op, a, b, c)`.
//!
//! Each word is held as four bytes; the limbs on the bus are built from them
//! (`lo = x0 + 256 x1`, `hi = x2 + 256 x3`). Every byte triple `(b_i, c_i, a_i)`
//! is looked up in the Byte table as `byte(op, b_i, c_i, a_i)`, which proves
//! `a_i = op(b_i, c_i)` and that all three are bytes, so the limbs are below
//! 2^16 and equal the words' true limbs (no range16 sends needed).

use crate::bus::{ALU_BUS, AND_ID, BYTE_BUS, OR_ID, XOR_ID};
use crate::event::{checked, AluEvent, ByteOp, Multiplicities, TraceError};
use crate::flags::assert_at_most_one;
use cloak_prover::Val;
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Column indices.
pub mod cols {
    /// Bytes of `a`, least significant first (`A + i` is byte `i`).
    pub const A: usize = 0;
    /// Bytes of `b`.
    pub const B: usize = 4;
    /// Bytes of `c`.
    pub const C: usize = 8;
    pub const IS_AND: usize = 12;
    pub const IS_OR: usize = 13;
    pub const IS_XOR: usize = 14;
}
pub const WIDTH: usize = 15;

#[derive(Clone, Copy, Debug, Default)]
pub struct BitwiseAir;

impl<F> BaseAir<F> for BitwiseAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for BitwiseAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let flags = [r[IS_AND], r[IS_OR], r[IS_XOR]];
        // Flags: booleans with a boolean sum, so at most one is set; padding
        // rows have none and send and receive nothing.
        let is_real = assert_at_most_one(builder, &flags);
        let op: AB::Expr = [AND_ID, OR_ID, XOR_ID]
            .into_iter()
            .zip(flags)
            .map(|(id, flag)| flag * AB::Expr::from_u32(id))
            .sum();

        let byte_base = AB::Expr::from_u32(256);
        let limb = |o: usize| -> AB::Expr { r[o] + r[o + 1] * byte_base.clone() };
        let message = [
            op.clone(),
            limb(A),
            limb(A + 2),
            limb(B),
            limb(B + 2),
            limb(C),
            limb(C + 2),
        ];
        builder.push_interaction(ALU_BUS, message, Count::bounded(-is_real.clone(), 1));
        for i in 0..4 {
            builder.push_interaction(
                BYTE_BUS,
                [
                    op.clone(),
                    r[B + i].into(),
                    r[C + i].into(),
                    r[A + i].into(),
                ],
                Count::bounded(is_real.clone(), 1),
            );
        }
    }
}

/// The trace of AND/OR/XOR events and their immediate forms (others are an
/// error), padded with zero rows; counts the `byte` sends into `mults`.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    crate::rows::event_rows(events, WIDTH, min_height, mults, |event, row, mults| {
        let op = ByteOp::of(checked(event)?).ok_or(TraceError::UnsupportedOpcode(event.opcode))?;
        let (a, b, c) = (
            event.a.to_le_bytes(),
            event.b.to_le_bytes(),
            event.c.to_le_bytes(),
        );
        for i in 0..4 {
            row[cols::A + i] = Val::from_u8(a[i]);
            row[cols::B + i] = Val::from_u8(b[i]);
            row[cols::C + i] = Val::from_u8(c[i]);
            mults.byte(op, b[i], c[i]);
        }
        let flag = match op {
            ByteOp::And => cols::IS_AND,
            ByteOp::Or => cols::IS_OR,
            ByteOp::Xor => cols::IS_XOR,
            ByteOp::Pair => return Err(TraceError::UnsupportedOpcode(event.opcode)),
        };
        row[flag] = Val::ONE;
        Ok(())
    })
}
