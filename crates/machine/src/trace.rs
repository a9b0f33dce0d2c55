//! Trace generation for the whole machine from a list of ALU events.

use crate::event::{checked, AluEvent, Multiplicities, TraceError};
use crate::{add_sub, bitwise, byte, divrem, lt, mul, range16, shift};
use cloak_prover::Val;
use cloak_vm::Opcode;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

/// One trace per table of [`crate::MachineAir::alu_chips`].
#[derive(Clone, Debug)]
pub struct ChipTraces {
    pub range16: RowMajorMatrix<Val>,
    pub byte: RowMajorMatrix<Val>,
    pub add_sub: RowMajorMatrix<Val>,
    pub bitwise: RowMajorMatrix<Val>,
    pub lt: RowMajorMatrix<Val>,
    pub shift: RowMajorMatrix<Val>,
    pub mul: RowMajorMatrix<Val>,
    pub divrem: RowMajorMatrix<Val>,
}

impl ChipTraces {
    /// The chips' traces for `events`, each padded to a power of two of at least
    /// `min_height` rows, and the lookup tables' multiplicities. `mults` holds
    /// the sends of tables outside this crate's chips (e.g. the CPU's range
    /// checks of `b` and `c`); the chips' own sends are added to it.
    pub fn generate(
        events: &[AluEvent],
        min_height: usize,
        mut mults: Multiplicities,
    ) -> Result<ChipTraces, TraceError> {
        let mut add_sub_events = Vec::new();
        let mut bitwise_events = Vec::new();
        let mut lt_events = Vec::new();
        let mut shift_events = Vec::new();
        let mut mul_events = Vec::new();
        let mut divrem_events = Vec::new();
        for event in events {
            match checked(event)? {
                Opcode::Add | Opcode::Sub => add_sub_events.push(*event),
                Opcode::Slt | Opcode::Sltu => lt_events.push(*event),
                Opcode::Sll | Opcode::Srl | Opcode::Sra => shift_events.push(*event),
                Opcode::Mul | Opcode::Mulh | Opcode::Mulhsu | Opcode::Mulhu => {
                    mul_events.push(*event)
                }
                Opcode::Div | Opcode::Divu | Opcode::Rem | Opcode::Remu => {
                    divrem_events.push(*event)
                }
                _ => bitwise_events.push(*event),
            }
        }
        let add_sub = add_sub::trace(&add_sub_events, min_height, &mut mults)?;
        let bitwise = bitwise::trace(&bitwise_events, min_height, &mut mults)?;
        // DivRem's `|r| < |c|` lookups come after the sender's comparisons.
        let (divrem, divrem_lts) = divrem::trace(&divrem_events, min_height, &mut mults)?;
        lt_events.extend(divrem_lts);
        let lt = lt::trace(&lt_events, min_height, &mut mults)?;
        let shift = shift::trace(&shift_events, min_height, &mut mults)?;
        let mul = mul::trace(&mul_events, min_height, &mut mults)?;
        Ok(ChipTraces {
            range16: range16::trace(&mults),
            byte: byte::trace(&mults),
            add_sub,
            bitwise,
            lt,
            shift,
            mul,
            divrem,
        })
    }

    /// The traces in [`crate::MachineAir::alu_chips`] order.
    pub fn into_vec(self) -> Vec<RowMajorMatrix<Val>> {
        vec![
            self.range16,
            self.byte,
            self.add_sub,
            self.bitwise,
            self.lt,
            self.shift,
            self.mul,
            self.divrem,
        ]
    }

    /// log2 of each trace's height, in [`crate::MachineAir::alu_chips`] order (what
    /// `cloak_prover::setup` takes).
    pub fn log_heights(&self) -> Vec<usize> {
        [
            &self.range16,
            &self.byte,
            &self.add_sub,
            &self.bitwise,
            &self.lt,
            &self.shift,
            &self.mul,
            &self.divrem,
        ]
        .iter()
        .map(|t| t.height().trailing_zeros() as usize)
        .collect()
    }
}
