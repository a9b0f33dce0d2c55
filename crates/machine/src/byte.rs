//! Byte: provides `byte(op, x, y, op(x, y))` for every pair of bytes and
//! op in AND, OR, XOR, and `byte(U8_PAIR, x, y, 0)`.
//!
//! `x`, `y` and the three results are preprocessed columns (fixed by the
//! verifying key); the witness is one multiplicity column per operation. A
//! lookup therefore also proves that `x`, `y` and `z` are bytes; U8_PAIR
//! lookups are for exactly that (two byte range checks in one message,
//! where `range16(x)` and `range16(256 x)` would take four).

use crate::bus::{AND_ID, BYTE_BUS, OR_ID, U8_PAIR_ID, XOR_ID};
use crate::event::{ByteOp, Multiplicities};
use cloak_prover::Val;
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// log2 of the table's height: one row per byte pair, row `x * 256 + y`.
pub const LOG_HEIGHT: usize = 16;
/// Preprocessed columns: x, y, x & y, x | y, x ^ y.
pub const PREPROCESSED_WIDTH: usize = 5;
/// Main columns: the multiplicities of the AND, OR, XOR and U8_PAIR entries.
pub const WIDTH: usize = 4;

/// The bus op id of each multiplicity column, in [`ByteOp::ALL`] order.
const OP_IDS: [u32; 4] = [AND_ID, OR_ID, XOR_ID, U8_PAIR_ID];

#[derive(Clone, Copy, Debug, Default)]
pub struct ByteAir;

impl<F: Field> BaseAir<F> for ByteAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        let mut values = Vec::with_capacity(PREPROCESSED_WIDTH << LOG_HEIGHT);
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                values.push(F::from_u8(x));
                values.push(F::from_u8(y));
                values.extend(ByteOp::BITWISE.map(|op| F::from_u8(op.apply(x, y))));
            }
        }
        Some(RowMajorMatrix::new(values, PREPROCESSED_WIDTH))
    }
    fn preprocessed_width(&self) -> usize {
        PREPROCESSED_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for ByteAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        // Widths are fixed by `BaseAir` above.
        let prep = builder.preprocessed().current_slice().to_vec();
        let mults = builder.main().current_slice().to_vec();
        let (x, y) = (prep[0], prep[1]);
        for (i, op_id) in OP_IDS.into_iter().enumerate() {
            // U8_PAIR's result is 0; the others' are preprocessed.
            let z: AB::Expr = prep.get(2 + i).map_or(AB::Expr::ZERO, |&v| v.into());
            builder.push_interaction(
                BYTE_BUS,
                [AB::Expr::from_u32(op_id), x.into(), y.into(), z],
                Count::provided(-mults[i].into()),
            );
        }
    }
}

/// Shows that `bytes` (an even number of columns) are bytes, two per
/// `byte(U8_PAIR, x, y, 0)` message, each sent `count` times (0 or 1).
pub fn send_byte_pairs<AB: InteractionBuilder>(
    builder: &mut AB,
    bytes: &[AB::Var],
    count: AB::Expr,
) {
    debug_assert!(bytes.len() % 2 == 0, "bytes come in pairs");
    for pair in bytes.chunks_exact(2) {
        builder.push_interaction(
            BYTE_BUS,
            [
                AB::Expr::from_u32(U8_PAIR_ID),
                pair[0].into(),
                pair[1].into(),
                AB::Expr::ZERO,
            ],
            Count::bounded(count.clone(), 1),
        );
    }
}

/// The multiplicity columns from the counted `byte` sends.
pub fn trace(mults: &mut Multiplicities) -> RowMajorMatrix<Val> {
    use rayon::prelude::*;
    mults.settle();
    let byte = &mults.byte;
    let values = (0..WIDTH << LOG_HEIGHT)
        .into_par_iter()
        .map(|cell| Val::from_u64(byte[cell % WIDTH][cell / WIDTH]))
        .collect();
    RowMajorMatrix::new(values, WIDTH)
}
