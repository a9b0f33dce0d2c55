//! Test scaffolding: `AluSender`, a stand-in for the CPU that sends given
//! `alu` messages (and range-checks the `b` and `c` limbs it sends, per the
//! bus convention), and `TestAir`, the machine's tables plus the sender.
#![allow(dead_code)]

use cloak_machine::bus::{alu_op, limbs, ALU_BUS, RANGE16_BUS};
use cloak_machine::{AluEvent, ChipTraces, MachineAir, Multiplicities};
use cloak_prover::Val;
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Sender columns: op, a_lo, a_hi, b_lo, b_hi, c_lo, c_hi, is_real.
pub const SENDER_WIDTH: usize = 8;
pub const SENDER_A_LO: usize = 1;
pub const SENDER_B_LO: usize = 3;
pub const SENDER_IS_REAL: usize = 7;

#[derive(Clone, Copy, Debug)]
pub struct AluSender;

impl<F> BaseAir<F> for AluSender {
    fn width(&self) -> usize {
        SENDER_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for AluSender {
    fn eval(&self, builder: &mut AB) {
        let r = builder.main().current_slice().to_vec();
        let is_real = r[SENDER_IS_REAL];
        builder.assert_bool(is_real);
        builder.push_interaction(
            ALU_BUS,
            r[..7].iter().map(|&v| v.into()),
            Count::bounded(is_real.into(), 1),
        );
        for limb in &r[3..7] {
            builder.push_interaction(
                RANGE16_BUS,
                [(*limb).into()],
                Count::bounded(is_real.into(), 1),
            );
        }
    }
}

/// The sender's trace for `events`, counting its range checks into `mults`.
pub fn sender_trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> RowMajorMatrix<Val> {
    let height = events.len().max(min_height).next_power_of_two();
    let mut values = Val::zero_vec(height * SENDER_WIDTH);
    for (e, row) in events.iter().zip(values.chunks_exact_mut(SENDER_WIDTH)) {
        let op = alu_op(e.opcode).expect("an ALU opcode") as u32;
        let (a, b, c) = (limbs(e.a), limbs(e.b), limbs(e.c));
        let cells = [op, a.0, a.1, b.0, b.1, c.0, c.1, 1];
        for (cell, v) in row.iter_mut().zip(cells) {
            *cell = Val::from_u32(v);
        }
        mults.range16_word(e.b);
        mults.range16_word(e.c);
    }
    RowMajorMatrix::new(values, SENDER_WIDTH)
}

cloak_machine::air_enum! {
    /// The sender first, then the machine's tables in `MachineAir::alu_chips` order.
    #[derive(Clone, Debug)]
    pub enum TestAir {
        Sender(AluSender),
        Machine(MachineAir),
    }
}

pub fn airs() -> Vec<TestAir> {
    std::iter::once(TestAir::Sender(AluSender))
        .chain(MachineAir::alu_chips().into_iter().map(TestAir::Machine))
        .collect()
}

/// Trace indices in `airs()` order.
pub const SENDER: usize = 0;
pub const RANGE16: usize = 1;
pub const BYTE: usize = 2;
pub const ADD_SUB: usize = 3;
pub const BITWISE: usize = 4;
pub const LT: usize = 5;
pub const SHIFT: usize = 6;
pub const MUL: usize = 7;
pub const DIVREM: usize = 8;

/// All traces for `events`, in `airs()` order.
pub fn traces(events: &[AluEvent], min_height: usize) -> Vec<RowMajorMatrix<Val>> {
    let mut mults = Multiplicities::default();
    let sender = sender_trace(events, min_height, &mut mults);
    let machine = ChipTraces::generate(events, min_height, mults).expect("valid events");
    std::iter::once(sender).chain(machine.into_vec()).collect()
}
