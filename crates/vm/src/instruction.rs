//! RV32IM instruction decoding.
//!
//! Instructions are decoded once, when the program is loaded, into a compact
//! [`Instruction`] (8 bytes) so the interpreter never re-parses encodings. A word
//! that is not a supported RV32IM encoding decodes to [`Opcode::Invalid`] and only
//! becomes an error if it is executed: text segments may legitimately hold data.

use std::fmt;

/// Every operation the interpreter distinguishes. Immediate forms are separate
/// opcodes so that execution needs no second dispatch on the operand kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    // Register-register ALU.
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    // M extension.
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    // Register-immediate ALU.
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    // Upper immediates.
    Lui,
    Auipc,
    // Control flow.
    Jal,
    Jalr,
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    // Memory.
    Lb,
    Lh,
    Lw,
    Lbu,
    Lhu,
    Sb,
    Sh,
    Sw,
    // System.
    Fence,
    Ecall,
    /// A recognised encoding that Cloak does not execute (EBREAK, CSR access, ...).
    Unsupported,
    /// Not an RV32IM encoding at all.
    Invalid,
}

impl Opcode {
    /// The assembler mnemonic.
    pub fn mnemonic(self) -> &'static str {
        use Opcode::*;
        match self {
            Add => "add",
            Sub => "sub",
            Sll => "sll",
            Slt => "slt",
            Sltu => "sltu",
            Xor => "xor",
            Srl => "srl",
            Sra => "sra",
            Or => "or",
            And => "and",
            Mul => "mul",
            Mulh => "mulh",
            Mulhsu => "mulhsu",
            Mulhu => "mulhu",
            Div => "div",
            Divu => "divu",
            Rem => "rem",
            Remu => "remu",
            Addi => "addi",
            Slti => "slti",
            Sltiu => "sltiu",
            Xori => "xori",
            Ori => "ori",
            Andi => "andi",
            Slli => "slli",
            Srli => "srli",
            Srai => "srai",
            Lui => "lui",
            Auipc => "auipc",
            Jal => "jal",
            Jalr => "jalr",
            Beq => "beq",
            Bne => "bne",
            Blt => "blt",
            Bge => "bge",
            Bltu => "bltu",
            Bgeu => "bgeu",
            Lb => "lb",
            Lh => "lh",
            Lw => "lw",
            Lbu => "lbu",
            Lhu => "lhu",
            Sb => "sb",
            Sh => "sh",
            Sw => "sw",
            Fence => "fence",
            Ecall => "ecall",
            Unsupported => "unsupported",
            Invalid => "invalid",
        }
    }
}

/// A decoded instruction. Unused register fields are 0; `imm` holds the
/// sign-extended immediate (or the raw word for `Invalid`/`Unsupported`).
///
/// ECALL is decoded as reading a0 (`rs1` = x10) and a1 (`rs2` = x11) and
/// writing t0 (`rd` = x5): the registers every syscall reads and writes, so the
/// record describes ecalls with the same three register slots as other instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    pub opcode: Opcode,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub imm: u32,
}

impl Instruction {
    const fn new(opcode: Opcode, rd: u32, rs1: u32, rs2: u32, imm: u32) -> Self {
        Instruction {
            opcode,
            rd: rd as u8,
            rs1: rs1 as u8,
            rs2: rs2 as u8,
            imm,
        }
    }

    const fn raw(opcode: Opcode, word: u32) -> Self {
        Instruction::new(opcode, 0, 0, 0, word)
    }

    /// Decodes one 32-bit instruction word.
    pub fn decode(word: u32) -> Instruction {
        use Opcode::*;
        let rd = (word >> 7) & 0x1f;
        let rs1 = (word >> 15) & 0x1f;
        let rs2 = (word >> 20) & 0x1f;
        let funct3 = (word >> 12) & 7;
        let funct7 = word >> 25;
        let imm_i = ((word as i32) >> 20) as u32;
        let imm_s = ((((word as i32) >> 25) << 5) as u32) | ((word >> 7) & 0x1f);
        let imm_b = ((((word as i32) >> 31) << 12) as u32)
            | ((word << 4) & 0x800)
            | ((word >> 20) & 0x7e0)
            | ((word >> 7) & 0x1e);
        let imm_u = word & 0xffff_f000;
        let imm_j = ((((word as i32) >> 31) << 20) as u32)
            | (word & 0x000f_f000)
            | ((word >> 9) & 0x800)
            | ((word >> 20) & 0x7fe);
        let invalid = Instruction::raw(Invalid, word);
        match word & 0x7f {
            0x37 => Instruction::new(Lui, rd, 0, 0, imm_u),
            0x17 => Instruction::new(Auipc, rd, 0, 0, imm_u),
            0x6f => Instruction::new(Jal, rd, 0, 0, imm_j),
            0x67 if funct3 == 0 => Instruction::new(Jalr, rd, rs1, 0, imm_i),
            0x63 => {
                let op = match funct3 {
                    0 => Beq,
                    1 => Bne,
                    4 => Blt,
                    5 => Bge,
                    6 => Bltu,
                    7 => Bgeu,
                    _ => return invalid,
                };
                Instruction::new(op, 0, rs1, rs2, imm_b)
            }
            0x03 => {
                let op = match funct3 {
                    0 => Lb,
                    1 => Lh,
                    2 => Lw,
                    4 => Lbu,
                    5 => Lhu,
                    _ => return invalid,
                };
                Instruction::new(op, rd, rs1, 0, imm_i)
            }
            0x23 => {
                let op = match funct3 {
                    0 => Sb,
                    1 => Sh,
                    2 => Sw,
                    _ => return invalid,
                };
                Instruction::new(op, 0, rs1, rs2, imm_s)
            }
            0x13 => {
                let op = match (funct3, funct7) {
                    (0, _) => Addi,
                    (2, _) => Slti,
                    (3, _) => Sltiu,
                    (4, _) => Xori,
                    (6, _) => Ori,
                    (7, _) => Andi,
                    (1, 0) => Slli,
                    (5, 0) => Srli,
                    (5, 0x20) => Srai,
                    _ => return invalid,
                };
                let imm = if matches!(op, Slli | Srli | Srai) {
                    rs2
                } else {
                    imm_i
                };
                Instruction::new(op, rd, rs1, 0, imm)
            }
            0x33 => {
                let op = match (funct7, funct3) {
                    (0, 0) => Add,
                    (0x20, 0) => Sub,
                    (0, 1) => Sll,
                    (0, 2) => Slt,
                    (0, 3) => Sltu,
                    (0, 4) => Xor,
                    (0, 5) => Srl,
                    (0x20, 5) => Sra,
                    (0, 6) => Or,
                    (0, 7) => And,
                    (1, 0) => Mul,
                    (1, 1) => Mulh,
                    (1, 2) => Mulhsu,
                    (1, 3) => Mulhu,
                    (1, 4) => Div,
                    (1, 5) => Divu,
                    (1, 6) => Rem,
                    (1, 7) => Remu,
                    _ => return invalid,
                };
                Instruction::new(op, rd, rs1, rs2, 0)
            }
            // FENCE (including FENCE.TSO and PAUSE): a no-op on a single hart.
            0x0f if funct3 == 0 => Instruction::raw(Fence, word),
            // FENCE.I (Zifencei) is not part of RV32IM.
            0x0f if funct3 == 1 => Instruction::raw(Unsupported, word),
            0x73 => match word {
                0x0000_0073 => Instruction::new(Ecall, 5, 10, 11, 0),
                _ if funct3 != 0 && funct3 != 4 => Instruction::raw(Unsupported, word), // CSR
                0x0010_0073 | 0x1050_0073 | 0x3020_0073 | 0x1020_0073 => {
                    Instruction::raw(Unsupported, word) // EBREAK, WFI, MRET, SRET
                }
                _ => invalid,
            },
            _ => invalid,
        }
    }

    /// A human-readable name for an unsupported encoding, for error messages.
    pub fn unsupported_name(word: u32) -> &'static str {
        match word {
            0x0010_0073 => "ebreak",
            0x1050_0073 => "wfi",
            0x3020_0073 => "mret",
            0x1020_0073 => "sret",
            _ if word & 0x7f == 0x0f => "fence.i (Zifencei)",
            _ if word & 0x7f == 0x73 => "CSR access (Zicsr)",
            _ => "unsupported instruction",
        }
    }

    /// Whether the instruction writes `rd` (writes to x0 are still discarded).
    pub fn writes_rd(&self) -> bool {
        use Opcode::*;
        !matches!(
            self.opcode,
            Beq | Bne | Blt | Bge | Bltu | Bgeu | Sb | Sh | Sw | Fence | Unsupported | Invalid
        )
    }
}

const REG_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

/// ABI name of register `r` (0..32).
pub fn register_name(r: u8) -> &'static str {
    REG_NAMES[(r & 31) as usize]
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Opcode::*;
        let (rd, rs1, rs2) = (
            register_name(self.rd),
            register_name(self.rs1),
            register_name(self.rs2),
        );
        let m = self.opcode.mnemonic();
        let imm = self.imm as i32;
        match self.opcode {
            Add | Sub | Sll | Slt | Sltu | Xor | Srl | Sra | Or | And | Mul | Mulh | Mulhsu
            | Mulhu | Div | Divu | Rem | Remu => write!(f, "{m} {rd}, {rs1}, {rs2}"),
            Addi | Slti | Sltiu | Xori | Ori | Andi | Slli | Srli | Srai | Jalr => {
                write!(f, "{m} {rd}, {rs1}, {imm}")
            }
            Lui | Auipc => write!(f, "{m} {rd}, {:#x}", self.imm >> 12),
            Jal => write!(f, "{m} {rd}, {imm}"),
            Beq | Bne | Blt | Bge | Bltu | Bgeu => write!(f, "{m} {rs1}, {rs2}, {imm}"),
            Lb | Lh | Lw | Lbu | Lhu => write!(f, "{m} {rd}, {imm}({rs1})"),
            Sb | Sh | Sw => write!(f, "{m} {rs2}, {imm}({rs1})"),
            Fence | Ecall => write!(f, "{m}"),
            Unsupported => write!(
                f,
                "{} ({:#010x})",
                Self::unsupported_name(self.imm),
                self.imm
            ),
            Invalid => write!(f, "invalid ({:#010x})", self.imm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_immediates_with_sign_extension() {
        // addi a0, zero, -1
        let i = Instruction::decode(0xfff0_0513);
        assert_eq!(i.opcode, Opcode::Addi);
        assert_eq!((i.rd, i.rs1, i.imm), (10, 0, u32::MAX));
        // sw a1, -4(sp)
        let s = Instruction::decode(0xfeb1_2e23);
        assert_eq!(s.opcode, Opcode::Sw);
        assert_eq!((s.rs1, s.rs2, s.imm as i32), (2, 11, -4));
        // beq zero, zero, -8  (0xfe000ce3)
        let b = Instruction::decode(0xfe00_0ce3);
        assert_eq!(b.opcode, Opcode::Beq);
        assert_eq!(b.imm as i32, -8);
        // jal ra, -2048 (0x801ff0ef)
        let j = Instruction::decode(0x801f_f0ef);
        assert_eq!(j.opcode, Opcode::Jal);
        assert_eq!(j.imm as i32, -2048);
        // lui a0, 0x80000
        let u = Instruction::decode(0x8000_0537);
        assert_eq!((u.opcode, u.imm), (Opcode::Lui, 0x8000_0000));
        // srai a0, a0, 31
        let sr = Instruction::decode(0x41f5_5513);
        assert_eq!((sr.opcode, sr.imm), (Opcode::Srai, 31));
    }

    #[test]
    fn rejects_non_rv32im_encodings() {
        for word in [
            0x0000_0000u32, // defined illegal instruction
            0xffff_ffff,
            0x0200_1013, // slli with bit 25 set (RV64 shamt)
            0x4000_1013, // slli with funct7 0x20
            0x0000_3003, // ld (RV64)
            0x0000_3023, // sd (RV64)
            0x0000_202f, // amo (A extension)
            0x0000_0007, // flw (F extension)
            0x0200_0033 | (1 << 30),
            0x0000_1067, // jalr with funct3 1
        ] {
            assert_eq!(
                Instruction::decode(word).opcode,
                Opcode::Invalid,
                "{word:#x}"
            );
        }
        assert_eq!(Instruction::decode(0x0010_0073).opcode, Opcode::Unsupported);
        assert_eq!(Instruction::decode(0x3000_2073).opcode, Opcode::Unsupported); // csrr
        assert_eq!(Instruction::decode(0x0000_100f).opcode, Opcode::Unsupported); // fence.i
        assert_eq!(Instruction::decode(0x0ff0_000f).opcode, Opcode::Fence);
        let e = Instruction::decode(0x0000_0073);
        assert_eq!((e.opcode, e.rd, e.rs1, e.rs2), (Opcode::Ecall, 5, 10, 11));
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(
            Instruction::decode(0xfff0_0513).to_string(),
            "addi a0, zero, -1"
        );
        assert_eq!(
            Instruction::decode(0xfeb1_2e23).to_string(),
            "sw a1, -4(sp)"
        );
        assert_eq!(
            Instruction::decode(0xffff_ffff).to_string(),
            "invalid (0xffffffff)"
        );
    }
}
