//! The buses that connect the machine's tables, and what travels on them.
//!
//! A bus is a LogUp argument identified by its name: every message sent
//! (positive count) must be received (negative count) the same number of times
//! across all tables of a proof. Messages carry words as two 16-bit limbs
//! `(lo, hi)` so every value fits one KoalaBear element with room for carries.
//!
//! | bus | message | provided by |
//! |---|---|---|
//! | `alu` | `(op, a_lo, a_hi, b_lo, b_hi, c_lo, c_hi)`, meaning `a = op(b, c)` | the ALU chips (AddSub, Bitwise) |
//! | `range16` | `(x)`, meaning `0 <= x < 2^16` | the Range16 table |
//! | `byte` | `(op, x, y, z)`, meaning bytes `x`, `y` and `z = op(x, y)` | the Byte table |
//!
//! Range-check convention: each chip range-checks the limbs it *outputs* (for
//! the ALU chips, `a`); whoever sends `b` and `c` on the `alu` bus (the CPU)
//! range-checks those. A chip may therefore rely on all six limbs of an `alu`
//! message being below 2^16.

use cloak_vm::Opcode;

/// The ALU bus: `(op, a_lo, a_hi, b_lo, b_hi, c_lo, c_hi)` for `a = op(b, c)`.
pub const ALU_BUS: &str = "alu";
/// The 16-bit range-check bus: `(x)` for `0 <= x < 2^16`.
pub const RANGE16_BUS: &str = "range16";
/// The byte-operation bus: `(op, x, y, z)` for bytes with `z = op(x, y)`.
pub const BYTE_BUS: &str = "byte";

/// The `op` field of `alu` and `byte` messages is the register-register
/// opcode's `cloak_vm::Opcode as u8` value. Immediate forms travel as their
/// register form with `c` = the sign-extended immediate as a `u32` (ADDI is ADD,
/// XORI is XOR, ...), so one chip row type serves both.
pub const ADD_ID: u32 = Opcode::Add as u32;
/// `op` of subtraction messages (see [`ADD_ID`]).
pub const SUB_ID: u32 = Opcode::Sub as u32;
/// `op` of AND messages (see [`ADD_ID`]).
pub const AND_ID: u32 = Opcode::And as u32;
/// `op` of OR messages (see [`ADD_ID`]).
pub const OR_ID: u32 = Opcode::Or as u32;
/// `op` of XOR messages (see [`ADD_ID`]).
pub const XOR_ID: u32 = Opcode::Xor as u32;

/// The operation an `alu` message names for an executed opcode: immediate forms
/// map to their register form. `None` for opcodes no ALU chip here handles yet.
pub fn alu_op(opcode: Opcode) -> Option<Opcode> {
    match opcode {
        Opcode::Add | Opcode::Addi => Some(Opcode::Add),
        Opcode::Sub => Some(Opcode::Sub),
        Opcode::And | Opcode::Andi => Some(Opcode::And),
        Opcode::Or | Opcode::Ori => Some(Opcode::Or),
        Opcode::Xor | Opcode::Xori => Some(Opcode::Xor),
        _ => None,
    }
}

/// A word's 16-bit limbs `(lo, hi)`.
pub const fn limbs(word: u32) -> (u32, u32) {
    (word & 0xffff, word >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_forms_travel_as_register_forms() {
        assert_eq!(alu_op(Opcode::Addi), Some(Opcode::Add));
        assert_eq!(alu_op(Opcode::Xori), Some(Opcode::Xor));
        assert_eq!(alu_op(Opcode::Mul), None);
        // Distinct ids, so no two chips answer the same message.
        let ids = [ADD_ID, SUB_ID, AND_ID, OR_ID, XOR_ID];
        for (i, x) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(x));
        }
    }
}
