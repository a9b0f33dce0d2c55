//! The buses that connect the machine's tables, and what travels on them.
//!
//! A bus is a LogUp argument identified by its name: every message sent
//! (positive count) must be received (negative count) the same number of times
//! across all tables of a proof. Messages carry words as two 16-bit limbs
//! `(lo, hi)` so every value fits one KoalaBear element with room for carries.
//!
//! | bus | message | provided by |
//! |---|---|---|
//! | `alu` | `(op, a_lo, a_hi, b_lo, b_hi, c_lo, c_hi)`, meaning `a = op(b, c)` | the ALU chips (AddSub, Bitwise, Lt, Shift, Mul, DivRem); DivRem also sends `SLTU` messages to Lt |
//! | `range16` | `(x)`, meaning `0 <= x < 2^16` | the Range16 table |
//! | `byte` | `(op, x, y, z)`, meaning bytes `x`, `y` and `z = op(x, y)` | the Byte table |
//! | `program` | `(pc, rd, rs1, rs2, imm_lo, imm_hi, target, value_lo, value_hi, alu_op, flags...)`: the program holds this decoded instruction at `pc` (see `crate::program`) | the Program table |
//! | `memory` | `(key, lo, hi, ts)`: word `key` holds `(lo, hi)` since timestamp `ts`; every access consumes one state and provides the next | the Memory table (initial states), the CPU, HintRead and the precompile tables (accesses); consumed finally by the Memory table |
//! | `global-memory` | `(key, lo, hi, ts)`: a key's state between shards (challenges shared across the proofs of one execution) | the Global Memory table (initial states) and every shard's Memory table (exit states); consumed by shard Memory tables (entry states) and the Global table (final states) |
//! | `image` | `(key, lo, hi)`: the ELF's initial memory holds this non-zero word | the preprocessed Image table |
//! | `commit` | `(index_lo, index_hi, lo, hi)`: COMMIT of word `index` of the public-values digest | the Commit table |
//! | `hint` | `(clk, ptr_lo, ptr_hi, len_lo, len_hi)`: HINT_READ at cycle `clk` | the HintRead table |
//! | `precompile` | `(clk, code, a0_lo, a0_hi, a1_lo, a1_hi)`: the precompile ECALL `code` at cycle `clk` | the precompile tables (ShaExtend, ShaCompress, KeccakPermute) |
//!
//! Range-check convention: each chip range-checks the limbs it *outputs* (for
//! the ALU chips, `a`; a chip whose constraints already bound `a`'s limbs
//! below 2^16, e.g. as sums of constrained bits or bytes, says so in its
//! module documentation); whoever sends `b` and `c` on the `alu` bus (the CPU)
//! range-checks those. A chip may therefore rely on all six limbs of an `alu`
//! message being below 2^16.

use cloak_vm::Opcode;

/// The ALU bus: `(op, a_lo, a_hi, b_lo, b_hi, c_lo, c_hi)` for `a = op(b, c)`.
pub const ALU_BUS: &str = "alu";
/// The 16-bit range-check bus: `(x)` for `0 <= x < 2^16`.
pub const RANGE16_BUS: &str = "range16";
/// The byte-operation bus: `(op, x, y, z)` for bytes with `z = op(x, y)`.
pub const BYTE_BUS: &str = "byte";
/// The instruction-fetch bus: `(pc, op, rd, rs1, rs2, imm_lo, imm_hi)`, provided
/// by the preprocessed Program table (see `crate::program`).
pub const PROGRAM_BUS: &str = "program";

/// The memory bus: `(key, lo, hi, ts)`. Registers are keys 0..32; the memory
/// word at byte address `4w` is key `MEMORY_KEY_BASE + w`.
pub const MEMORY_BUS: &str = "memory";
/// The cross-shard memory bus: `(key, lo, hi, ts)`, the state of a key between
/// shards. Its challenges are shared by all proofs of one execution (see
/// `crate::memory`).
pub const GLOBAL_MEMORY_BUS: &str = "global-memory";
/// The initial-image bus: `(key, lo, hi)`, provided by the preprocessed Image table.
pub const IMAGE_BUS: &str = "image";
/// The public-values digest bus: `(index_lo, index_hi, lo, hi)`.
pub const COMMIT_BUS: &str = "commit";
/// The input bus: `(clk, ptr_lo, ptr_hi, len_lo, len_hi)` of one HINT_READ.
pub const HINT_BUS: &str = "hint";
/// The precompile bus: `(clk, code, a0_lo, a0_hi, a1_lo, a1_hi)` of one
/// precompile ECALL, sent by the CPU and received by the table of `code`.
pub const PRECOMPILE_BUS: &str = "precompile";

/// The `memory` key of the word at byte address `4w` is `MEMORY_KEY_BASE + w`,
/// so memory words never share a key with the 32 registers.
pub const MEMORY_KEY_BASE: u32 = 32;

/// The `memory` key of the word holding byte address `addr`.
pub const fn memory_key(addr: u32) -> u32 {
    MEMORY_KEY_BASE + (addr >> 2)
}

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
/// `op` of `byte(U8_PAIR_ID, x, y, 0)`: a range check of two bytes at once
/// (above every opcode id, so it is no ALU operation).
pub const U8_PAIR_ID: u32 = 0x100;
/// `op` of signed less-than messages (see [`ADD_ID`]).
pub const SLT_ID: u32 = Opcode::Slt as u32;
/// `op` of unsigned less-than messages (see [`ADD_ID`]).
pub const SLTU_ID: u32 = Opcode::Sltu as u32;
/// `op` of left-shift messages (see [`ADD_ID`]).
pub const SLL_ID: u32 = Opcode::Sll as u32;
/// `op` of logical right-shift messages (see [`ADD_ID`]).
pub const SRL_ID: u32 = Opcode::Srl as u32;
/// `op` of arithmetic right-shift messages (see [`ADD_ID`]).
pub const SRA_ID: u32 = Opcode::Sra as u32;
/// `op` of MUL messages (see [`ADD_ID`]).
pub const MUL_ID: u32 = Opcode::Mul as u32;
/// `op` of MULH messages (see [`ADD_ID`]).
pub const MULH_ID: u32 = Opcode::Mulh as u32;
/// `op` of MULHSU messages (see [`ADD_ID`]).
pub const MULHSU_ID: u32 = Opcode::Mulhsu as u32;
/// `op` of MULHU messages (see [`ADD_ID`]).
pub const MULHU_ID: u32 = Opcode::Mulhu as u32;
/// `op` of DIV messages (see [`ADD_ID`]).
pub const DIV_ID: u32 = Opcode::Div as u32;
/// `op` of DIVU messages (see [`ADD_ID`]).
pub const DIVU_ID: u32 = Opcode::Divu as u32;
/// `op` of REM messages (see [`ADD_ID`]).
pub const REM_ID: u32 = Opcode::Rem as u32;
/// `op` of REMU messages (see [`ADD_ID`]).
pub const REMU_ID: u32 = Opcode::Remu as u32;

/// The operation an `alu` message names for an executed opcode: immediate forms
/// map to their register form. `None` for opcodes no ALU chip here handles yet.
pub fn alu_op(opcode: Opcode) -> Option<Opcode> {
    match opcode {
        Opcode::Add | Opcode::Addi => Some(Opcode::Add),
        Opcode::Sub => Some(Opcode::Sub),
        Opcode::And | Opcode::Andi => Some(Opcode::And),
        Opcode::Or | Opcode::Ori => Some(Opcode::Or),
        Opcode::Xor | Opcode::Xori => Some(Opcode::Xor),
        Opcode::Slt | Opcode::Slti => Some(Opcode::Slt),
        Opcode::Sltu | Opcode::Sltiu => Some(Opcode::Sltu),
        Opcode::Sll | Opcode::Slli => Some(Opcode::Sll),
        Opcode::Srl | Opcode::Srli => Some(Opcode::Srl),
        Opcode::Sra | Opcode::Srai => Some(Opcode::Sra),
        Opcode::Mul => Some(Opcode::Mul),
        Opcode::Mulh => Some(Opcode::Mulh),
        Opcode::Mulhsu => Some(Opcode::Mulhsu),
        Opcode::Mulhu => Some(Opcode::Mulhu),
        Opcode::Div => Some(Opcode::Div),
        Opcode::Divu => Some(Opcode::Divu),
        Opcode::Rem => Some(Opcode::Rem),
        Opcode::Remu => Some(Opcode::Remu),
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
        assert_eq!(alu_op(Opcode::Lb), None);
        assert_eq!(alu_op(Opcode::Remu), Some(Opcode::Remu));
        // Distinct ids, so no two chips answer the same message.
        assert_eq!(alu_op(Opcode::Sltiu), Some(Opcode::Sltu));
        let ids = [
            ADD_ID, SUB_ID, AND_ID, OR_ID, XOR_ID, SLT_ID, SLTU_ID, SLL_ID, SRL_ID, SRA_ID, MUL_ID,
            MULH_ID, MULHSU_ID, MULHU_ID, DIV_ID, DIVU_ID, REM_ID, REMU_ID,
        ];
        for (i, x) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(x));
        }
    }
}
