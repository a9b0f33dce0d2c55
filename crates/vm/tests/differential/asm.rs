//! A tiny RV32IM instruction model: encoding and a readable listing form.
//!
//! Only what the differential generator emits is modelled. Every encoder
//! here is checked against known words in `differential.rs`'s self-check.

use std::fmt;

pub const ABI: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

/// A register index 0..=31.
pub type Reg = u8;

pub const ZERO: Reg = 0;
pub const T0: Reg = 5;
pub const S0: Reg = 8;
pub const S1: Reg = 9;
pub const A0: Reg = 10;
pub const A1: Reg = 11;
pub const A2: Reg = 12;
pub const A7: Reg = 17;
/// The data-region base pointer of every generated sub-program.
pub const BASE: Reg = 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrOp {
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
}
pub const BR_OPS: [BrOp; 6] = [
    BrOp::Beq,
    BrOp::Bne,
    BrOp::Blt,
    BrOp::Bge,
    BrOp::Bltu,
    BrOp::Bgeu,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdOp {
    Lb,
    Lh,
    Lw,
    Lbu,
    Lhu,
}
pub const LD_OPS: [LdOp; 5] = [LdOp::Lb, LdOp::Lh, LdOp::Lw, LdOp::Lbu, LdOp::Lhu];

impl LdOp {
    pub fn width(self) -> u32 {
        match self {
            LdOp::Lb | LdOp::Lbu => 1,
            LdOp::Lh | LdOp::Lhu => 2,
            LdOp::Lw => 4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StOp {
    Sb,
    Sh,
    Sw,
}
pub const ST_OPS: [StOp; 3] = [StOp::Sb, StOp::Sh, StOp::Sw];

impl StOp {
    pub fn width(self) -> u32 {
        match self {
            StOp::Sb => 1,
            StOp::Sh => 2,
            StOp::Sw => 4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImmOp {
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
}
pub const IMM_OPS: [ImmOp; 6] = [
    ImmOp::Addi,
    ImmOp::Slti,
    ImmOp::Sltiu,
    ImmOp::Xori,
    ImmOp::Ori,
    ImmOp::Andi,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShOp {
    Slli,
    Srli,
    Srai,
}
pub const SH_OPS: [ShOp; 3] = [ShOp::Slli, ShOp::Srli, ShOp::Srai];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ROp {
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
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
}
pub const R_OPS: [ROp; 18] = [
    ROp::Add,
    ROp::Sub,
    ROp::Sll,
    ROp::Slt,
    ROp::Sltu,
    ROp::Xor,
    ROp::Srl,
    ROp::Sra,
    ROp::Or,
    ROp::And,
    ROp::Mul,
    ROp::Mulh,
    ROp::Mulhsu,
    ROp::Mulhu,
    ROp::Div,
    ROp::Divu,
    ROp::Rem,
    ROp::Remu,
];
pub const SHIFT_R_OPS: [ROp; 3] = [ROp::Sll, ROp::Srl, ROp::Sra];
pub const MUL_OPS: [ROp; 4] = [ROp::Mul, ROp::Mulh, ROp::Mulhsu, ROp::Mulhu];
pub const DIV_OPS: [ROp; 4] = [ROp::Div, ROp::Divu, ROp::Rem, ROp::Remu];

impl ROp {
    fn funct(self) -> (u32, u32) {
        // (funct7, funct3)
        match self {
            ROp::Add => (0x00, 0),
            ROp::Sub => (0x20, 0),
            ROp::Sll => (0x00, 1),
            ROp::Slt => (0x00, 2),
            ROp::Sltu => (0x00, 3),
            ROp::Xor => (0x00, 4),
            ROp::Srl => (0x00, 5),
            ROp::Sra => (0x20, 5),
            ROp::Or => (0x00, 6),
            ROp::And => (0x00, 7),
            ROp::Mul => (0x01, 0),
            ROp::Mulh => (0x01, 1),
            ROp::Mulhsu => (0x01, 2),
            ROp::Mulhu => (0x01, 3),
            ROp::Div => (0x01, 4),
            ROp::Divu => (0x01, 5),
            ROp::Rem => (0x01, 6),
            ROp::Remu => (0x01, 7),
        }
    }
}

/// One concrete instruction. Immediates are stored as the signed value the
/// assembler would take (`imm20` of LUI/AUIPC as the raw 20-bit field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inst {
    Lui {
        rd: Reg,
        imm20: u32,
    },
    Auipc {
        rd: Reg,
        imm20: u32,
    },
    Jal {
        rd: Reg,
        off: i32,
    },
    Jalr {
        rd: Reg,
        rs1: Reg,
        imm: i32,
    },
    Branch {
        op: BrOp,
        rs1: Reg,
        rs2: Reg,
        off: i32,
    },
    Load {
        op: LdOp,
        rd: Reg,
        rs1: Reg,
        imm: i32,
    },
    Store {
        op: StOp,
        rs1: Reg,
        rs2: Reg,
        imm: i32,
    },
    OpImm {
        op: ImmOp,
        rd: Reg,
        rs1: Reg,
        imm: i32,
    },
    Shift {
        op: ShOp,
        rd: Reg,
        rs1: Reg,
        shamt: u32,
    },
    Op {
        op: ROp,
        rd: Reg,
        rs1: Reg,
        rs2: Reg,
    },
    /// `fm` = 0 (FENCE) or 0b1000 (FENCE.TSO with pred = succ = rw).
    Fence {
        fm: u32,
        pred: u32,
        succ: u32,
    },
    Ecall,
}

fn check_imm(imm: i32, bits: u32, what: &str) {
    let lo = -(1i64 << (bits - 1));
    let hi = (1i64 << (bits - 1)) - 1;
    assert!(
        (lo..=hi).contains(&(imm as i64)),
        "{what} immediate {imm} does not fit in {bits} bits"
    );
}

fn r(f7: u32, rs2: Reg, rs1: Reg, f3: u32, rd: Reg, opc: u32) -> u32 {
    (f7 << 25) | ((rs2 as u32) << 20) | ((rs1 as u32) << 15) | (f3 << 12) | ((rd as u32) << 7) | opc
}

fn i_type(imm: i32, rs1: Reg, f3: u32, rd: Reg, opc: u32) -> u32 {
    check_imm(imm, 12, "I-type");
    (((imm as u32) & 0xfff) << 20) | ((rs1 as u32) << 15) | (f3 << 12) | ((rd as u32) << 7) | opc
}

fn s_type(imm: i32, rs2: Reg, rs1: Reg, f3: u32, opc: u32) -> u32 {
    check_imm(imm, 12, "S-type");
    let imm = imm as u32;
    (((imm >> 5) & 0x7f) << 25)
        | ((rs2 as u32) << 20)
        | ((rs1 as u32) << 15)
        | (f3 << 12)
        | ((imm & 0x1f) << 7)
        | opc
}

fn b_type(off: i32, rs2: Reg, rs1: Reg, f3: u32) -> u32 {
    check_imm(off, 13, "branch");
    assert!(off % 2 == 0, "odd branch offset {off}");
    let o = off as u32;
    (((o >> 12) & 1) << 31)
        | (((o >> 5) & 0x3f) << 25)
        | ((rs2 as u32) << 20)
        | ((rs1 as u32) << 15)
        | (f3 << 12)
        | (((o >> 1) & 0xf) << 8)
        | (((o >> 11) & 1) << 7)
        | 0x63
}

fn j_type(off: i32, rd: Reg) -> u32 {
    check_imm(off, 21, "jal");
    assert!(off % 2 == 0, "odd jal offset {off}");
    let o = off as u32;
    (((o >> 20) & 1) << 31)
        | (((o >> 1) & 0x3ff) << 21)
        | (((o >> 11) & 1) << 20)
        | (((o >> 12) & 0xff) << 12)
        | ((rd as u32) << 7)
        | 0x6f
}

impl Inst {
    pub fn encode(&self) -> u32 {
        match *self {
            Inst::Lui { rd, imm20 } => {
                assert!(imm20 < (1 << 20));
                (imm20 << 12) | ((rd as u32) << 7) | 0x37
            }
            Inst::Auipc { rd, imm20 } => {
                assert!(imm20 < (1 << 20));
                (imm20 << 12) | ((rd as u32) << 7) | 0x17
            }
            Inst::Jal { rd, off } => j_type(off, rd),
            Inst::Jalr { rd, rs1, imm } => i_type(imm, rs1, 0, rd, 0x67),
            Inst::Branch { op, rs1, rs2, off } => {
                let f3 = match op {
                    BrOp::Beq => 0,
                    BrOp::Bne => 1,
                    BrOp::Blt => 4,
                    BrOp::Bge => 5,
                    BrOp::Bltu => 6,
                    BrOp::Bgeu => 7,
                };
                b_type(off, rs2, rs1, f3)
            }
            Inst::Load { op, rd, rs1, imm } => {
                let f3 = match op {
                    LdOp::Lb => 0,
                    LdOp::Lh => 1,
                    LdOp::Lw => 2,
                    LdOp::Lbu => 4,
                    LdOp::Lhu => 5,
                };
                i_type(imm, rs1, f3, rd, 0x03)
            }
            Inst::Store { op, rs1, rs2, imm } => {
                let f3 = match op {
                    StOp::Sb => 0,
                    StOp::Sh => 1,
                    StOp::Sw => 2,
                };
                s_type(imm, rs2, rs1, f3, 0x23)
            }
            Inst::OpImm { op, rd, rs1, imm } => {
                let f3 = match op {
                    ImmOp::Addi => 0,
                    ImmOp::Slti => 2,
                    ImmOp::Sltiu => 3,
                    ImmOp::Xori => 4,
                    ImmOp::Ori => 6,
                    ImmOp::Andi => 7,
                };
                i_type(imm, rs1, f3, rd, 0x13)
            }
            Inst::Shift { op, rd, rs1, shamt } => {
                assert!(shamt < 32);
                let (f7, f3) = match op {
                    ShOp::Slli => (0x00, 1),
                    ShOp::Srli => (0x00, 5),
                    ShOp::Srai => (0x20, 5),
                };
                r(f7, shamt as Reg, rs1, f3, rd, 0x13)
            }
            Inst::Op { op, rd, rs1, rs2 } => {
                let (f7, f3) = op.funct();
                r(f7, rs2, rs1, f3, rd, 0x33)
            }
            Inst::Fence { fm, pred, succ } => {
                assert!(fm < 16 && pred < 16 && succ < 16);
                (fm << 28) | (pred << 24) | (succ << 20) | 0x0f
            }
            Inst::Ecall => 0x0000_0073,
        }
    }
}

impl Inst {
    /// The register this instruction writes, if any (x0 included).
    pub fn rd(&self) -> Option<Reg> {
        match *self {
            Inst::Lui { rd, .. }
            | Inst::Auipc { rd, .. }
            | Inst::Jal { rd, .. }
            | Inst::Jalr { rd, .. }
            | Inst::Load { rd, .. }
            | Inst::OpImm { rd, .. }
            | Inst::Shift { rd, .. }
            | Inst::Op { rd, .. } => Some(rd),
            _ => None,
        }
    }
}

fn rn(r: Reg) -> &'static str {
    ABI[r as usize]
}

fn iorw(bits: u32) -> String {
    let mut s = String::new();
    for (b, c) in [(8, 'i'), (4, 'o'), (2, 'r'), (1, 'w')] {
        if bits & b != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push('0');
    }
    s
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lower = |s: String| s.to_lowercase();
        match *self {
            Inst::Lui { rd, imm20 } => write!(f, "lui {}, {:#x}", rn(rd), imm20),
            Inst::Auipc { rd, imm20 } => write!(f, "auipc {}, {:#x}", rn(rd), imm20),
            Inst::Jal { rd, off } => write!(f, "jal {}, {:+}", rn(rd), off),
            Inst::Jalr { rd, rs1, imm } => write!(f, "jalr {}, {}({})", rn(rd), imm, rn(rs1)),
            Inst::Branch { op, rs1, rs2, off } => {
                write!(
                    f,
                    "{} {}, {}, {:+}",
                    lower(format!("{op:?}")),
                    rn(rs1),
                    rn(rs2),
                    off
                )
            }
            Inst::Load { op, rd, rs1, imm } => {
                write!(
                    f,
                    "{} {}, {}({})",
                    lower(format!("{op:?}")),
                    rn(rd),
                    imm,
                    rn(rs1)
                )
            }
            Inst::Store { op, rs1, rs2, imm } => {
                write!(
                    f,
                    "{} {}, {}({})",
                    lower(format!("{op:?}")),
                    rn(rs2),
                    imm,
                    rn(rs1)
                )
            }
            Inst::OpImm { op, rd, rs1, imm } => {
                write!(
                    f,
                    "{} {}, {}, {}",
                    lower(format!("{op:?}")),
                    rn(rd),
                    rn(rs1),
                    imm
                )
            }
            Inst::Shift { op, rd, rs1, shamt } => {
                write!(
                    f,
                    "{} {}, {}, {}",
                    lower(format!("{op:?}")),
                    rn(rd),
                    rn(rs1),
                    shamt
                )
            }
            Inst::Op { op, rd, rs1, rs2 } => {
                write!(
                    f,
                    "{} {}, {}, {}",
                    lower(format!("{op:?}")),
                    rn(rd),
                    rn(rs1),
                    rn(rs2)
                )
            }
            Inst::Fence {
                fm: 8,
                pred: 3,
                succ: 3,
            } => write!(f, "fence.tso"),
            Inst::Fence { fm, pred, succ } => {
                let tso = if fm != 0 {
                    format!(" (fm={fm})")
                } else {
                    String::new()
                };
                write!(f, "fence {}, {}{tso}", iorw(pred), iorw(succ))
            }
            Inst::Ecall => write!(f, "ecall"),
        }
    }
}

/// `li rd, value` as LUI + ADDI (always both, so the length is fixed).
pub fn li(rd: Reg, value: u32) -> [Inst; 2] {
    let lo = ((value & 0xfff) as i32) << 20 >> 20; // sign-extended low 12 bits
    let hi = value.wrapping_sub(lo as u32) >> 12;
    [
        Inst::Lui { rd, imm20: hi },
        Inst::OpImm {
            op: ImmOp::Addi,
            rd,
            rs1: rd,
            imm: lo,
        },
    ]
}

/// Split `value` into (hi20, lo12) so that (hi20 << 12) + sext(lo12) == value.
pub fn hi_lo(value: u32) -> (u32, i32) {
    let lo = ((value & 0xfff) as i32) << 20 >> 20;
    let hi = value.wrapping_sub(lo as u32) >> 12;
    (hi, lo)
}
