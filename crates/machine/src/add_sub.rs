//! AddSub: one row per ADD, ADDI or SUB, receiving `alu(op, a, b, c)`.
//!
//! Words are 16-bit limbs and the carries are booleans, so each limb equation
//! below has both sides under 2 * 2^16 + 1 < p: equality in the field is
//! equality of integers, and no field wraparound admits a false result.
//! `a`'s limbs are range-checked here (the chip outputs them); `b` and `c` are
//! range-checked by the sender (see `crate::bus`).

use crate::bus::{limbs, ADD_ID, ALU_BUS, RANGE16_BUS, SUB_ID};
use crate::event::{checked, AluEvent, Multiplicities, TraceError};
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
    pub const B_LO: usize = 2;
    pub const B_HI: usize = 3;
    pub const C_LO: usize = 4;
    pub const C_HI: usize = 5;
    /// Carry out of the low limb.
    pub const CARRY_LO: usize = 6;
    /// Carry out of the high limb (the dropped bit 32).
    pub const CARRY_HI: usize = 7;
    pub const IS_ADD: usize = 8;
    pub const IS_SUB: usize = 9;
}
pub const WIDTH: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
pub struct AddSubAir;

impl<F> BaseAir<F> for AddSubAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for AddSubAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let limb = AB::Expr::from_u32(1 << 16);
        let (is_add, is_sub) = (r[IS_ADD], r[IS_SUB]);
        let (carry_lo, carry_hi) = (r[CARRY_LO], r[CARRY_HI]);

        // Flags: booleans, at most one set; padding rows have none.
        builder.assert_bool(is_add);
        builder.assert_bool(is_sub);
        builder.assert_zero(is_add * is_sub);
        let is_real: AB::Expr = is_add + is_sub;
        // Carries are booleans on every row, which keeps the limb equations exact.
        builder.assert_bool(carry_lo);
        builder.assert_bool(carry_hi);

        // ADD: b + c = a + carry * 2^32, limb by limb.
        let mut add = builder.when(is_add);
        add.assert_eq(r[B_LO] + r[C_LO], r[A_LO] + carry_lo * limb.clone());
        add.assert_eq(
            r[B_HI] + r[C_HI] + carry_lo,
            r[A_HI] + carry_hi * limb.clone(),
        );
        // SUB: a + c = b + carry * 2^32, so a = b - c mod 2^32.
        let mut sub = builder.when(is_sub);
        sub.assert_eq(r[A_LO] + r[C_LO], r[B_LO] + carry_lo * limb.clone());
        sub.assert_eq(r[A_HI] + r[C_HI] + carry_lo, r[B_HI] + carry_hi * limb);

        // Answer one `alu` message per real row; the flags make the count 0 or 1.
        let op = is_add * AB::Expr::from_u32(ADD_ID) + is_sub * AB::Expr::from_u32(SUB_ID);
        let message = [
            op,
            r[A_LO].into(),
            r[A_HI].into(),
            r[B_LO].into(),
            r[B_HI].into(),
            r[C_LO].into(),
            r[C_HI].into(),
        ];
        builder.push_interaction(ALU_BUS, message, Count::bounded(-is_real.clone(), 1));
        // Range-check the output limbs.
        for col in [A_LO, A_HI] {
            builder.push_interaction(
                RANGE16_BUS,
                [r[col].into()],
                Count::bounded(is_real.clone(), 1),
            );
        }
    }
}

/// The trace of ADD/ADDI/SUB `events` (others are an error), padded with zero
/// rows; counts the `range16` sends into `mults`.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    crate::rows::event_rows(events, WIDTH, min_height, mults, |event, row, mults| {
        let is_add = match checked(event)? {
            Opcode::Add => true,
            Opcode::Sub => false,
            _ => return Err(TraceError::UnsupportedOpcode(event.opcode)),
        };
        let (a, b, c) = (limbs(event.a), limbs(event.b), limbs(event.c));
        // The row's equation is x + c = y + carry * 2^32 with (x, y) = (b, a)
        // for ADD and (a, b) for SUB; the carries are those of x + c.
        let x = if is_add { b } else { a };
        let lo = x.0 + c.0;
        let hi = x.1 + c.1 + (lo >> 16);
        let cells = [a.0, a.1, b.0, b.1, c.0, c.1, lo >> 16, hi >> 16];
        for (cell, v) in row.iter_mut().zip(cells) {
            *cell = Val::from_u32(v);
        }
        row[cols::IS_ADD] = Val::from_bool(is_add);
        row[cols::IS_SUB] = Val::from_bool(!is_add);
        mults.range16_word(event.a);
        Ok(())
    })
}
