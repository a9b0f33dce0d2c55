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

crate::air_enum! {
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
