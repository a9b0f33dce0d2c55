//! Trace generation for the whole machine from a list of ALU events.

use crate::event::{checked, AluEvent, Multiplicities, TraceError};
use crate::{add_sub, bitwise, byte, divrem, lt, mul, range16, shift};
use cloak_prover::Val;
use cloak_vm::Opcode;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use rayon::prelude::*;

/// One trace per table of [`crate::MachineAir::alu_chips`].
#[derive(Clone, Debug)]
pub struct ChipTraces {
    pub range16: RowMajorMatrix<Val>,
    pub byte: RowMajorMatrix<Val>,
    pub add_sub: RowMajorMatrix<Val>,
    pub bitwise: RowMajorMatrix<Val>,
    pub lt: RowMajorMatrix<Val>,
    /// Empty where `shift_inputs` holds it.
    pub shift: RowMajorMatrix<Val>,
    pub mul: RowMajorMatrix<Val>,
    pub divrem: RowMajorMatrix<Val>,
    /// The Shift trace as its rows' inputs, where it was asked for so.
    pub shift_inputs: Option<shift::ShiftRowInputs>,
}

impl ChipTraces {
    /// The chips' traces for `events`, each padded to a power of two of at least
    /// `min_height` rows, and the lookup tables' multiplicities. `mults` holds
    /// the sends of tables outside this crate's chips (e.g. the CPU's range
    /// checks of `b` and `c`); the chips' own sends are added to it.
    pub fn generate(
        events: &[AluEvent],
        min_height: usize,
        mults: Multiplicities,
    ) -> Result<ChipTraces, TraceError> {
        let mut phases = crate::phases::Phases::start("chip phases");
        let parts: Vec<&[AluEvent]> = events.chunks(1 << 15).collect();
        Self::generate_timed(&parts, min_height, mults, &mut phases, false)
    }

    /// [`ChipTraces::generate`], marking each chip's time in `phases`; the
    /// Shift trace as its rows' inputs if `shift_as_inputs`.
    /// The events come in `parts` (the CPU's chunks' sends, in order), so
    /// they are never gathered into one list before they are split.
    pub(crate) fn generate_timed(
        events: &[&[AluEvent]],
        min_height: usize,
        mut mults: Multiplicities,
        phases: &mut crate::phases::Phases,
        shift_as_inputs: bool,
    ) -> Result<ChipTraces, TraceError> {
        // Each chip's events, in order, split on every core.
        let parts: Vec<Result<[Vec<AluEvent>; 6], TraceError>> = events
            .par_iter()
            .map(|chunk| {
                let mut chips: [Vec<AluEvent>; 6] = Default::default();
                for event in chunk.iter() {
                    let chip = match checked(event)? {
                        Opcode::Add | Opcode::Sub => 0,
                        Opcode::Slt | Opcode::Sltu => 2,
                        Opcode::Sll | Opcode::Srl | Opcode::Sra => 3,
                        Opcode::Mul | Opcode::Mulh | Opcode::Mulhsu | Opcode::Mulhu => 4,
                        Opcode::Div | Opcode::Divu | Opcode::Rem | Opcode::Remu => 5,
                        _ => 1,
                    };
                    chips[chip].push(*event);
                }
                Ok(chips)
            })
            .collect();
        let parts = parts.into_iter().collect::<Result<Vec<_>, _>>()?;
        let split: [Vec<AluEvent>; 6] = std::array::from_fn(|k| {
            let chip: Vec<&[AluEvent]> = parts.iter().map(|p| &p[k][..]).collect();
            concat(&chip)
        });
        let [add_sub_events, bitwise_events, mut lt_events, shift_events, mul_events, divrem_events] =
            split;
        phases.mark("alu_split");
        let add_sub = add_sub::trace(&add_sub_events, min_height, &mut mults)?;
        phases.mark("add_sub");
        let bitwise = bitwise::trace(&bitwise_events, min_height, &mut mults)?;
        phases.mark("bitwise");
        // DivRem's `|r| < |c|` lookups come after the sender's comparisons.
        let (divrem, divrem_lts) = divrem::trace(&divrem_events, min_height, &mut mults)?;
        lt_events.extend(divrem_lts);
        phases.mark("divrem");
        let lt = lt::trace(&lt_events, min_height, &mut mults)?;
        phases.mark("lt");
        let (shift, shift_inputs) = if shift_as_inputs {
            let inputs = shift::row_inputs(&shift_events, min_height, &mut mults)?;
            (RowMajorMatrix::new(Vec::new(), shift::WIDTH), Some(inputs))
        } else {
            (shift::trace(&shift_events, min_height, &mut mults)?, None)
        };
        phases.mark("shift");
        let mul = mul::trace(&mul_events, min_height, &mut mults)?;
        phases.mark("mul");
        let (range16, byte) = (range16::trace(&mut mults), byte::trace(&mut mults));
        phases.mark("lookup_tables");
        Ok(ChipTraces {
            range16,
            byte,
            add_sub,
            bitwise,
            lt,
            shift,
            mul,
            divrem,
            shift_inputs,
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
/// `parts` one after the other, copied on every core (a shard's ALU events
/// are tens of MiB, which one thread took milliseconds to copy).
fn concat<T: Copy + Send + Sync>(parts: &[&[T]]) -> Vec<T> {
    let mut starts = Vec::with_capacity(parts.len());
    let mut total = 0;
    for part in parts {
        starts.push(total);
        total += part.len();
    }
    let mut out = Vec::with_capacity(total);
    (0..total)
        .into_par_iter()
        .with_min_len(1 << 12)
        .map(|i| {
            let p = starts.partition_point(|&s| s <= i) - 1;
            parts[p][i - starts[p]]
        })
        .collect_into_vec(&mut out);
    out
}
