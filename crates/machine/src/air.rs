//! `MachineAir`: every table of the machine as one type, because the batch
//! prover takes a slice of a single AIR type.

use crate::add_sub::AddSubAir;
use crate::bitwise::BitwiseAir;
use crate::byte::ByteAir;
use crate::divrem::DivRemAir;
use crate::lt::LtAir;
use crate::mul::MulAir;
use crate::range16::Range16Air;
use crate::shift::ShiftAir;
use p3_air::{Air, BaseAir};
use p3_field::Field;
use p3_lookup::InteractionBuilder;
use p3_matrix::dense::RowMajorMatrix;

#[derive(Clone, Copy, Debug)]
pub enum MachineAir {
    Range16(Range16Air),
    Byte(ByteAir),
    AddSub(AddSubAir),
    Bitwise(BitwiseAir),
    Lt(LtAir),
    Shift(ShiftAir),
    Mul(MulAir),
    DivRem(DivRemAir),
}

impl MachineAir {
    /// Every table, in the order [`crate::MachineTraces::into_vec`] lists traces.
    pub fn all() -> Vec<MachineAir> {
        vec![
            MachineAir::Range16(Range16Air),
            MachineAir::Byte(ByteAir),
            MachineAir::AddSub(AddSubAir),
            MachineAir::Bitwise(BitwiseAir),
            MachineAir::Lt(LtAir),
            MachineAir::Shift(ShiftAir),
            MachineAir::Mul(MulAir),
            MachineAir::DivRem(DivRemAir),
        ]
    }
}

macro_rules! forward {
    ($self:ident, $air:ident => $e:expr) => {
        match $self {
            MachineAir::Range16($air) => $e,
            MachineAir::Byte($air) => $e,
            MachineAir::AddSub($air) => $e,
            MachineAir::Bitwise($air) => $e,
            MachineAir::Lt($air) => $e,
            MachineAir::Shift($air) => $e,
            MachineAir::Mul($air) => $e,
            MachineAir::DivRem($air) => $e,
        }
    };
}

/// Every `BaseAir` method with a non-trivial default is forwarded: a missed one
/// would silently give the enum the default (e.g. no preprocessed columns).
impl<F: Field> BaseAir<F> for MachineAir {
    fn width(&self) -> usize {
        forward!(self, a => BaseAir::<F>::width(a))
    }
    fn num_public_values(&self) -> usize {
        forward!(self, a => BaseAir::<F>::num_public_values(a))
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        forward!(self, a => BaseAir::<F>::preprocessed_trace(a))
    }
    fn preprocessed_width(&self) -> usize {
        forward!(self, a => BaseAir::<F>::preprocessed_width(a))
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        forward!(self, a => BaseAir::<F>::main_next_row_columns(a))
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        forward!(self, a => BaseAir::<F>::preprocessed_next_row_columns(a))
    }
}

impl<AB: InteractionBuilder> Air<AB> for MachineAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        forward!(self, a => a.eval(builder))
    }
}
