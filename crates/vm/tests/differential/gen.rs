//! Seeded random RV32IM program generator and batch assembler.
//!
//! A *sub-program* is a pure function of its seed: initial register values,
//! a body of "units" (short instruction sequences that are never jumped
//! into the middle of), and the initial contents of its own data region.
//! Control flow only ever goes forward, so every sub-program terminates.
//!
//! A *batch* lays K sub-programs back to back in one text segment (each
//! ending with a dump of x1..x30 into the first 120 bytes of its own region)
//! followed by a tail that is either the qemu one (Linux write + exit) or
//! the Cloak one (8 COMMITs of SHA-256("") + HALT).

use super::asm::*;
use cloak_vm::elf::SegmentSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const TEXT_BASE: u32 = 0x0001_0000;
/// Bytes of data region owned by each sub-program.
pub const REGION_SIZE: u32 = 4096;
/// x31 points at region_base + BASE_BIAS, so the whole region is reachable
/// with a signed 12-bit offset from x31.
pub const BASE_BIAS: u32 = 2048;
/// The dump of x1..x30 lives at region offsets 0..120.
pub const DUMP_REGS: usize = 30;
/// Instructions reserved for the (longest) tail.
const TAIL_MAX: usize = 64;

#[derive(Clone, Debug)]
pub struct GenConfig {
    pub min_units: usize,
    pub max_units: usize,
    /// Also emit loads whose address is inside the text segment.
    pub text_loads: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            min_units: 16,
            max_units: 120,
            text_loads: false,
        }
    }
}

/// How a memory access forms its address.
#[derive(Clone, Copy, Debug)]
pub enum AddrMode {
    /// `op rd, imm(x31)`
    Base,
    /// `addi tmp, x31, a ; op rd, imm(tmp)`
    AddiBase { tmp: Reg, a: i32 },
    /// `lui tmp, %hi(addr) ; op rd, %lo(addr)(tmp)`
    Lui { tmp: Reg },
}

/// One symbolic item; its length in instructions is known before layout.
#[derive(Clone, Debug)]
pub enum Item {
    I(Inst),
    Branch {
        op: BrOp,
        rs1: Reg,
        rs2: Reg,
        target: usize,
    },
    Jal {
        rd: Reg,
        target: usize,
    },
    /// `auipc tmp,0 ; jalr rd, D(tmp)` or (far) `auipc tmp,1 ; addi tmp,tmp,-2048 ; jalr rd, D-2048(tmp)`.
    /// `odd` sets bit 0 of the JALR immediate (it must be ignored).
    AuipcJalr {
        tmp: Reg,
        rd: Reg,
        target: usize,
        far: bool,
        odd: bool,
    },
    /// Region access at region offset `off` (naturally aligned).
    Load {
        op: LdOp,
        rd: Reg,
        mode: AddrMode,
        off: u32,
    },
    Store {
        op: StOp,
        rs2: Reg,
        mode: AddrMode,
        off: u32,
    },
    /// Load from this sub-program's own text: address = start of `unit` + `byte`.
    TextLoad {
        op: LdOp,
        rd: Reg,
        tmp: Reg,
        unit: usize,
        byte: u32,
    },
}

impl Item {
    pub fn len(&self) -> usize {
        match self {
            Item::I(_) | Item::Branch { .. } | Item::Jal { .. } => 1,
            Item::AuipcJalr { far, .. } => {
                if *far {
                    3
                } else {
                    2
                }
            }
            Item::Load { mode, .. } | Item::Store { mode, .. } => match mode {
                AddrMode::Base => 1,
                _ => 2,
            },
            Item::TextLoad { .. } => 2,
        }
    }
}

pub type Unit = Vec<Item>;

#[derive(Clone, Debug)]
pub struct SubProgram {
    pub seed: u64,
    /// Initial values of x1..x30 (index 0 unused).
    pub init: [u32; 31],
    pub body: Vec<Unit>,
    /// REGION_SIZE bytes of initial data.
    pub region: Vec<u8>,
    /// Region offset from which the initial contents are all zero (may be
    /// left out of the file as .bss when this is the last region of a batch).
    pub zero_from: Option<u32>,
}

// ---------------------------------------------------------------- values

const EDGE: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0xffff_ffff,
    0xffff_fffe,
    0xffff_fffd,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0x7fff_fffe,
    0xc000_0000,
    0x4000_0000,
    31,
    32,
    33,
    63,
    64,
    0xffff_ffe0,
    0xffff_ffe1,
    0xff,
    0x80,
    0x7f,
    0xffff_ff80,
    0xffff_ff7f,
    0xffff,
    0x8000,
    0x7fff,
    0xffff_8000,
    0xffff_7fff,
    0x0001_0000,
    0x0000_ffff,
    0x5555_5555,
    0xaaaa_aaaa,
    0x0000_0800,
    0x0000_07ff,
    0xffff_f800,
    0xffff_f7ff,
    0x0000_1000,
    0x1234_5678,
    0xdead_beef,
    0x0f0f_0f0f,
    0xf0f0_f0f0,
    0x0001_0001,
    0xfffe_ffff,
    46341,
    65535,
    65537,
    0xb504_f334,
];

pub fn edge_value(rng: &mut ChaCha8Rng) -> u32 {
    match rng.gen_range(0..100) {
        0..=49 => EDGE[rng.gen_range(0..EDGE.len())],
        50..=57 => 1u32 << rng.gen_range(0..32),
        58..=61 => (1u32 << rng.gen_range(0..32)).wrapping_neg(),
        62..=65 => (1u32 << rng.gen_range(0..32)).wrapping_sub(1),
        66..=79 => rng.gen_range(-20i32..=20) as u32,
        _ => rng.gen(),
    }
}

fn edge_imm12(rng: &mut ChaCha8Rng) -> i32 {
    const IMM: &[i32] = &[
        0, 1, -1, 2, -2, 2047, -2048, 2046, -2047, 31, 32, -32, 0x555, -0x556, 0xff, 0x7f, -0x80,
        0x100,
    ];
    match rng.gen_range(0..10) {
        0..=4 => IMM[rng.gen_range(0..IMM.len())],
        5..=6 => rng.gen_range(-16..=16),
        _ => rng.gen_range(-2048..=2047),
    }
}

fn edge_imm20(rng: &mut ChaCha8Rng) -> u32 {
    const IMM: &[u32] = &[
        0, 1, 0xfffff, 0x80000, 0x7ffff, 0x80001, 0xffffe, 0x00800, 0x12345,
    ];
    if rng.gen_bool(0.6) {
        IMM[rng.gen_range(0..IMM.len())]
    } else {
        rng.gen_range(0..1 << 20)
    }
}

fn shift_amount_value(rng: &mut ChaCha8Rng) -> u32 {
    const SH: &[u32] = &[
        0,
        1,
        2,
        15,
        16,
        30,
        31,
        32,
        33,
        34,
        47,
        63,
        64,
        65,
        0xffff_ffff,
        0xffff_ffe0,
        0xffff_ffe1,
        0xffff_fffe,
        0x8000_0000,
        0x8000_001f,
        0x7fff_ffff,
        0x100,
        0x11f,
    ];
    match rng.gen_range(0..10) {
        0..=5 => SH[rng.gen_range(0..SH.len())],
        6..=7 => rng.gen_range(0..32),
        _ => rng.gen(),
    }
}

fn div_pair(rng: &mut ChaCha8Rng) -> (u32, u32) {
    let x = edge_value(rng);
    match rng.gen_range(0..16) {
        0 | 1 => (0x8000_0000, 0xffff_ffff), // INT_MIN / -1: overflow
        2 | 3 => (x, 0),                     // division by zero
        4 => (0, 0),
        5 => (0xffff_ffff, 0),
        6 => (0x8000_0000, 0),
        7 => (0x8000_0000, 1),
        8 => (x, 0xffff_ffff),
        9 => (x, 1),
        10 => (0x7fff_ffff, 0xffff_ffff),
        11 => (x, x),
        12 => (
            rng.gen_range(-100i32..=100) as u32,
            rng.gen_range(-9i32..=9) as u32,
        ),
        13 => (x, 0x8000_0000),
        _ => (x, edge_value(rng)),
    }
}

// ---------------------------------------------------------------- registers

fn rd(rng: &mut ChaCha8Rng) -> Reg {
    if rng.gen_ratio(1, 20) {
        ZERO
    } else {
        rng.gen_range(1..=30)
    }
}

fn rs(rng: &mut ChaCha8Rng) -> Reg {
    match rng.gen_range(0..32) {
        0..=1 => ZERO,
        2 => BASE,
        _ => rng.gen_range(1..=30),
    }
}

/// A scratch register that may be written (never x0 or x31).
fn tmp(rng: &mut ChaCha8Rng) -> Reg {
    rng.gen_range(1..=30)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

fn li_items(rd: Reg, v: u32, rng: &mut ChaCha8Rng, unit: &mut Unit) {
    let lo = ((v & 0xfff) as i32) << 20 >> 20;
    if lo as u32 == v && rng.gen_bool(0.5) {
        unit.push(Item::I(Inst::OpImm {
            op: ImmOp::Addi,
            rd,
            rs1: ZERO,
            imm: lo,
        }));
    } else {
        for i in li(rd, v) {
            unit.push(Item::I(i));
        }
    }
}

// ---------------------------------------------------------------- generator

fn region_offset(rng: &mut ChaCha8Rng, width: u32) -> u32 {
    let off = match rng.gen_range(0..10) {
        0..=4 => 256 + rng.gen_range(0..64), // hot window: lots of aliasing
        5 => REGION_SIZE - width - rng.gen_range(0..16), // top of the region
        6 => rng.gen_range(0..160),          // dump area and just above
        _ => rng.gen_range(0..REGION_SIZE - width + 1),
    };
    let off = off.min(REGION_SIZE - width);
    off & !(width - 1)
}

fn addr_mode(rng: &mut ChaCha8Rng, off: u32) -> AddrMode {
    let rel = off as i32 - BASE_BIAS as i32;
    match rng.gen_range(0..20) {
        0..=7 => AddrMode::Base,
        8..=14 => {
            let lo = (-2048).max(rel - 2047);
            let hi = 2047.min(rel + 2048);
            let a = if rng.gen_bool(0.3) {
                (rel - edge_imm12(rng)).clamp(lo, hi)
            } else {
                rng.gen_range(lo..=hi)
            };
            AddrMode::AddiBase { tmp: tmp(rng), a }
        }
        _ => AddrMode::Lui { tmp: tmp(rng) },
    }
}

/// Straight-line ALU filler (may or may not be executed).
fn filler(rng: &mut ChaCha8Rng, len: usize, out: &mut Vec<Inst>) {
    for _ in 0..len {
        let rd = rd(rng);
        let rs1 = rs(rng);
        out.push(if rng.gen_bool(0.5) {
            Inst::OpImm {
                op: pick(rng, &IMM_OPS),
                rd,
                rs1,
                imm: edge_imm12(rng),
            }
        } else {
            Inst::Op {
                op: pick(rng, &R_OPS),
                rd,
                rs1,
                rs2: rs(rng),
            }
        });
    }
}

/// A self-contained unit with a *backward* jump or branch that still
/// terminates (each instruction runs at most once), or a long forward one:
///
/// ```text
///   [0]      jal  x0, back        ; skip the trampoline and the filler
///   [1]      jal  x0, end         ; trampoline: the backward jump lands here
///   [2..F+2) filler                ; never executed
///   back:    jal rd, [1] | bXX rs1, rs2, [1] (falls through when not taken)
///            | auipc t,0 ; jalr rd, [1]-back(t)
///   end:
/// ```
/// With `far`, the filler is long, so offsets use the high immediate bits.
fn hop_unit(rng: &mut ChaCha8Rng, far: bool) -> Vec<Inst> {
    let mut v = Vec::new();
    let big = |rng: &mut ChaCha8Rng| {
        let b = rng.gen_range(8..=16);
        rng.gen_range(1usize << b..1usize << (b + 1))
    };
    match rng.gen_range(0..5) {
        // Backward JAL / branch.
        k @ 0..=1 => {
            let f = match (far, k) {
                (false, _) => rng.gen_range(0..=6),
                (true, 0) => big(rng),
                (true, _) => rng.gen_range(400..=1022),
            };
            let off = 4 * (f as i32 + 2);
            v.push(Inst::Jal { rd: ZERO, off });
            v.push(Inst::Jal { rd: ZERO, off });
            filler(rng, f, &mut v);
            let back = -4 * (f as i32 + 1);
            if k == 0 {
                let rd = if rng.gen_ratio(1, 3) { ZERO } else { rd(rng) };
                v.push(Inst::Jal { rd, off: back });
            } else {
                let rs1 = rs(rng);
                let rs2 = if rng.gen_ratio(1, 6) { rs1 } else { rs(rng) };
                v.push(Inst::Branch {
                    op: pick(rng, &BR_OPS),
                    rs1,
                    rs2,
                    off: back,
                });
            }
        }
        // Backward JALR through AUIPC.
        2 => {
            let f = if far {
                rng.gen_range(200..=510)
            } else {
                rng.gen_range(0..=6)
            };
            v.push(Inst::Jal {
                rd: ZERO,
                off: 4 * (f as i32 + 2),
            });
            v.push(Inst::Jal {
                rd: ZERO,
                off: 4 * (f as i32 + 3),
            });
            filler(rng, f, &mut v);
            let t = tmp(rng);
            let rd = match rng.gen_range(0..4) {
                0 => ZERO,
                1 => t,
                _ => rd(rng),
            };
            v.push(Inst::Auipc { rd: t, imm20: 0 });
            v.push(Inst::Jalr {
                rd,
                rs1: t,
                imm: -4 * (f as i32 + 1) + rng.gen_range(0..=1),
            });
        }
        // Forward branch over a filler that runs when it is not taken.
        3 => {
            let f = if far {
                rng.gen_range(400..=1022)
            } else {
                rng.gen_range(0..=6)
            };
            let rs1 = rs(rng);
            let rs2 = if rng.gen_ratio(1, 6) { rs1 } else { rs(rng) };
            v.push(Inst::Branch {
                op: pick(rng, &BR_OPS),
                rs1,
                rs2,
                off: 4 * (f as i32 + 1),
            });
            filler(rng, f, &mut v);
        }
        // Forward JAL over a filler that never runs.
        _ => {
            let f = if far { big(rng) } else { rng.gen_range(0..=6) };
            v.push(Inst::Jal {
                rd: rd(rng),
                off: 4 * (f as i32 + 1),
            });
            filler(rng, f, &mut v);
        }
    }
    v
}

fn gen_unit(rng: &mut ChaCha8Rng, cfg: &GenConfig, i: usize, n: usize) -> Unit {
    let mut u: Unit = Vec::new();
    if rng.gen_ratio(1, 40) {
        let far = rng.gen_ratio(1, 60);
        return hop_unit(rng, far).into_iter().map(Item::I).collect();
    }
    // Forward target: a unit boundary after this unit (n = end of body).
    let fwd = |rng: &mut ChaCha8Rng, max_skip: usize| -> usize {
        let skip = rng.gen_range(0..=max_skip);
        (i + 1 + skip).min(n)
    };
    match rng.gen_range(0..100) {
        // R-type, random registers.
        0..=15 => {
            let op = pick(rng, &R_OPS);
            let rs1 = rs(rng);
            let rs2 = if rng.gen_ratio(1, 10) { rs1 } else { rs(rng) };
            let rd = if rng.gen_ratio(1, 6) && rs1 != BASE {
                rs1
            } else {
                rd(rng)
            };
            u.push(Item::I(Inst::Op { op, rd, rs1, rs2 }));
        }
        // R-type with freshly loaded edge operands.
        16..=31 => {
            let op = match rng.gen_range(0..10) {
                0..=3 => pick(rng, &DIV_OPS),
                4..=5 => pick(rng, &MUL_OPS),
                6..=7 => pick(rng, &SHIFT_R_OPS),
                _ => pick(rng, &R_OPS),
            };
            let (v1, v2) = if DIV_OPS.contains(&op) {
                div_pair(rng)
            } else if SHIFT_R_OPS.contains(&op) {
                (edge_value(rng), shift_amount_value(rng))
            } else {
                (edge_value(rng), edge_value(rng))
            };
            let rs1 = tmp(rng);
            let same = rng.gen_ratio(1, 12);
            let rs2 = if same { rs1 } else { tmp(rng) };
            li_items(rs1, v1, rng, &mut u);
            if rs2 != rs1 {
                li_items(rs2, v2, rng, &mut u);
            }
            // Occasionally divide by x0 / use x0 directly.
            let rs2 = if rng.gen_ratio(1, 25) { ZERO } else { rs2 };
            let rd = match rng.gen_range(0..8) {
                0 => rs1,
                1 => rs2.max(1),
                _ => rd(rng),
            };
            u.push(Item::I(Inst::Op { op, rd, rs1, rs2 }));
        }
        // OP-IMM.
        32..=43 => {
            let op = pick(rng, &IMM_OPS);
            let rs1 = rs(rng);
            let rd = if rng.gen_ratio(1, 6) && rs1 != BASE {
                rs1
            } else {
                rd(rng)
            };
            u.push(Item::I(Inst::OpImm {
                op,
                rd,
                rs1,
                imm: edge_imm12(rng),
            }));
        }
        44..=47 => {
            let op = pick(rng, &IMM_OPS);
            let rs1 = tmp(rng);
            li_items(rs1, edge_value(rng), rng, &mut u);
            let rd = if rng.gen_ratio(1, 3) { rs1 } else { rd(rng) };
            u.push(Item::I(Inst::OpImm {
                op,
                rd,
                rs1,
                imm: edge_imm12(rng),
            }));
        }
        // Immediate shifts.
        48..=52 => {
            let op = pick(rng, &SH_OPS);
            let shamt = if rng.gen_bool(0.5) {
                pick(rng, &[0, 1, 2, 15, 16, 30, 31])
            } else {
                rng.gen_range(0..32)
            };
            let rs1 = rs(rng);
            if rng.gen_bool(0.3) && rs1 != ZERO && rs1 != BASE {
                li_items(rs1, edge_value(rng), rng, &mut u);
            }
            u.push(Item::I(Inst::Shift {
                op,
                rd: rd(rng),
                rs1,
                shamt,
            }));
        }
        53..=55 => u.push(Item::I(Inst::Lui {
            rd: rd(rng),
            imm20: edge_imm20(rng),
        })),
        56..=57 => u.push(Item::I(Inst::Auipc {
            rd: rd(rng),
            imm20: edge_imm20(rng),
        })),
        // Re-seed a register with an edge value.
        58..=63 => {
            let r = tmp(rng);
            li_items(r, edge_value(rng), rng, &mut u);
        }
        // Branches on whatever is in the registers.
        64..=71 => {
            let rs1 = rs(rng);
            let rs2 = if rng.gen_ratio(1, 8) { rs1 } else { rs(rng) };
            u.push(Item::Branch {
                op: pick(rng, &BR_OPS),
                rs1,
                rs2,
                target: fwd(rng, 6),
            });
        }
        // Branches on fresh edge values.
        72..=76 => {
            let rs1 = tmp(rng);
            let rs2 = if rng.gen_ratio(1, 10) { rs1 } else { tmp(rng) };
            li_items(rs1, edge_value(rng), rng, &mut u);
            if rs2 != rs1 {
                let v = if rng.gen_bool(0.3) {
                    // Close to the other value, to hit equality / off-by-one.
                    edge_value(rng) & 3
                } else {
                    edge_value(rng)
                };
                li_items(rs2, v, rng, &mut u);
            }
            let (rs1, rs2) = match rng.gen_range(0..12) {
                0 => (ZERO, rs2),
                1 => (rs1, ZERO),
                _ => (rs1, rs2),
            };
            u.push(Item::Branch {
                op: pick(rng, &BR_OPS),
                rs1,
                rs2,
                target: fwd(rng, 6),
            });
        }
        77..=78 => {
            let rd = match rng.gen_range(0..4) {
                0 => ZERO,
                1 => 1,
                _ => rd(rng),
            };
            u.push(Item::Jal {
                rd,
                target: fwd(rng, 20),
            });
        }
        79..=80 => {
            let t = tmp(rng);
            let rd = match rng.gen_range(0..5) {
                0 => ZERO,
                1 => t,
                2 => 1,
                _ => rd(rng),
            };
            u.push(Item::AuipcJalr {
                tmp: t,
                rd,
                target: fwd(rng, 12),
                far: rng.gen_bool(0.4),
                odd: rng.gen_bool(0.3),
            });
        }
        81..=89 => {
            if cfg.text_loads && rng.gen_ratio(1, 8) {
                let op = pick(rng, &LD_OPS);
                let w = op.width();
                u.push(Item::TextLoad {
                    op,
                    rd: rd(rng),
                    tmp: tmp(rng),
                    unit: rng.gen_range(0..n),
                    byte: rng.gen_range(0..4 / w) * w,
                });
            } else {
                let op = pick(rng, &LD_OPS);
                let off = region_offset(rng, op.width());
                let mode = addr_mode(rng, off);
                let rd = match mode {
                    AddrMode::AddiBase { tmp, .. } | AddrMode::Lui { tmp }
                        if rng.gen_ratio(1, 4) =>
                    {
                        tmp
                    }
                    _ => rd(rng),
                };
                u.push(Item::Load { op, rd, mode, off });
            }
        }
        90..=98 => {
            let op = pick(rng, &ST_OPS);
            let off = region_offset(rng, op.width());
            let mode = addr_mode(rng, off);
            let rs2 = match mode {
                AddrMode::AddiBase { tmp, .. } | AddrMode::Lui { tmp } if rng.gen_ratio(1, 10) => {
                    tmp
                }
                _ => rs(rng),
            };
            u.push(Item::Store { op, rs2, mode, off });
        }
        _ => {
            let (pred, succ) = if rng.gen_bool(0.5) {
                (0xf, 0xf)
            } else {
                (rng.gen_range(0..16), rng.gen_range(0..16))
            };
            let (fm, pred, succ) = if rng.gen_ratio(1, 5) {
                (8, 3, 3)
            } else {
                (0, pred, succ)
            };
            u.push(Item::I(Inst::Fence { fm, pred, succ }));
        }
    }
    u
}

fn region_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(REGION_SIZE as usize);
    while out.len() < REGION_SIZE as usize {
        let w: [u8; 4] = match rng.gen_range(0..10) {
            0..=2 => rng.gen::<u32>().to_le_bytes(),
            3..=4 => edge_value(rng).to_le_bytes(),
            5 => [0; 4],
            _ => {
                const B: &[u8] = &[0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe, 0x81];
                let mut b = [0u8; 4];
                for x in b.iter_mut() {
                    *x = if rng.gen_bool(0.8) {
                        pick(rng, B)
                    } else {
                        rng.gen()
                    };
                }
                b
            }
        };
        out.extend_from_slice(&w);
    }
    out
}

pub fn generate(seed: u64, cfg: &GenConfig) -> SubProgram {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut init = [0u32; 31];
    for v in init.iter_mut().skip(1) {
        *v = edge_value(&mut rng);
    }
    let n = rng.gen_range(cfg.min_units..=cfg.max_units);
    let body = (0..n).map(|i| gen_unit(&mut rng, cfg, i, n)).collect();
    let mut region = region_bytes(&mut rng);
    let zero_from = if rng.gen_ratio(1, 4) {
        let z = rng.gen_range(BASE_BIAS / 4..REGION_SIZE / 4) * 4;
        region[z as usize..].fill(0);
        Some(z)
    } else {
        None
    };
    SubProgram {
        seed,
        init,
        body,
        region,
        zero_from,
    }
}

// ---------------------------------------------------------------- layout

/// Where one sub-program ended up.
#[derive(Clone, Debug)]
pub struct SubInfo {
    pub seed: u64,
    pub text_start: u32,
    pub text_end: u32,
    pub region_base: u32,
    /// Region offsets -> initial bytes, for reporting.
    pub region_init: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Linux: write(1, data, len) in a loop, then exit(0).
    Qemu,
    /// Cloak: 8 COMMITs of SHA-256("") and HALT(0).
    Cloak,
}

/// An assembled batch, tail not yet appended.
#[derive(Clone, Debug)]
pub struct Batch {
    pub text: Vec<Inst>,
    pub subs: Vec<SubInfo>,
    pub data_base: u32,
    pub data: Vec<u8>,
    /// Bytes of `data` that go in the file; the rest is .bss (all zero).
    pub data_filesz: usize,
}

pub fn sub_text_len(p: &SubProgram) -> usize {
    2 * 31 + p.body.iter().flatten().map(Item::len).sum::<usize>() + DUMP_REGS
}

pub fn assemble(progs: &[SubProgram]) -> Batch {
    let total: usize = progs.iter().map(sub_text_len).sum::<usize>() + TAIL_MAX;
    let text_end = TEXT_BASE as usize + 4 * total;
    let data_base = ((text_end + 0xfff) & !0xfff) as u32 + 0x1000;

    let mut text: Vec<Inst> = Vec::with_capacity(total);
    let mut subs = Vec::with_capacity(progs.len());
    let mut data = Vec::with_capacity(progs.len() * REGION_SIZE as usize);
    for (k, p) in progs.iter().enumerate() {
        let region_base = data_base + k as u32 * REGION_SIZE;
        let text_start = TEXT_BASE + 4 * text.len() as u32;
        for r in 1..=30u8 {
            text.extend(li(r, p.init[r as usize]));
        }
        text.extend(li(BASE, region_base + BASE_BIAS));

        // Unit start addresses (index n = the dump).
        let mut unit_addr = Vec::with_capacity(p.body.len() + 1);
        let mut a = TEXT_BASE + 4 * text.len() as u32;
        for u in &p.body {
            unit_addr.push(a);
            a += 4 * u.iter().map(Item::len).sum::<usize>() as u32;
        }
        unit_addr.push(a);

        for (ui, u) in p.body.iter().enumerate() {
            for item in u {
                let pc = TEXT_BASE + 4 * text.len() as u32;
                // A target too far for the encoding (a big unit lies between)
                // moves back to the farthest unit boundary in range.
                let clamp = |target: usize, max: u32| -> usize {
                    let mut t = target;
                    while unit_addr[t] - pc > max {
                        t -= 1;
                    }
                    assert!(t > ui, "no boundary in range");
                    t
                };
                match *item {
                    Item::I(i) => text.push(i),
                    Item::Branch {
                        op,
                        rs1,
                        rs2,
                        target,
                    } => {
                        let target = clamp(target, 4092);
                        let off = unit_addr[target] as i32 - pc as i32;
                        assert!(off > 0);
                        text.push(Inst::Branch { op, rs1, rs2, off });
                    }
                    Item::Jal { rd, target } => {
                        let target = clamp(target, (1 << 20) - 4);
                        let off = unit_addr[target] as i32 - pc as i32;
                        assert!(off > 0);
                        text.push(Inst::Jal { rd, off });
                    }
                    Item::AuipcJalr {
                        tmp,
                        rd,
                        target,
                        far,
                        odd,
                    } => {
                        let target = clamp(target, 2040);
                        let d = unit_addr[target] as i32 - pc as i32;
                        assert!(d > 0 && d <= 2040);
                        let odd = odd as i32;
                        if far {
                            text.push(Inst::Auipc { rd: tmp, imm20: 1 });
                            text.push(Inst::OpImm {
                                op: ImmOp::Addi,
                                rd: tmp,
                                rs1: tmp,
                                imm: -2048,
                            });
                            text.push(Inst::Jalr {
                                rd,
                                rs1: tmp,
                                imm: d - 2048 + odd,
                            });
                        } else {
                            text.push(Inst::Auipc { rd: tmp, imm20: 0 });
                            text.push(Inst::Jalr {
                                rd,
                                rs1: tmp,
                                imm: d + odd,
                            });
                        }
                    }
                    Item::Load { op, rd, mode, off } => {
                        emit_mem(&mut text, region_base, mode, off, |rs1, imm| Inst::Load {
                            op,
                            rd,
                            rs1,
                            imm,
                        })
                    }
                    Item::Store { op, rs2, mode, off } => {
                        emit_mem(&mut text, region_base, mode, off, |rs1, imm| Inst::Store {
                            op,
                            rs1,
                            rs2,
                            imm,
                        })
                    }
                    Item::TextLoad {
                        op,
                        rd,
                        tmp,
                        unit,
                        byte,
                    } => {
                        let (hi, lo) = hi_lo(unit_addr[unit] + byte);
                        text.push(Inst::Lui { rd: tmp, imm20: hi });
                        text.push(Inst::Load {
                            op,
                            rd,
                            rs1: tmp,
                            imm: lo,
                        });
                    }
                }
            }
        }
        assert_eq!(TEXT_BASE + 4 * text.len() as u32, unit_addr[p.body.len()]);
        for r in 1..=30u8 {
            let imm = 4 * (r as i32 - 1) - BASE_BIAS as i32;
            text.push(Inst::Store {
                op: StOp::Sw,
                rs1: BASE,
                rs2: r,
                imm,
            });
        }
        let text_end = TEXT_BASE + 4 * text.len() as u32;
        subs.push(SubInfo {
            seed: p.seed,
            text_start,
            text_end,
            region_base,
            region_init: p.region.clone(),
        });
        data.extend_from_slice(&p.region);
    }
    assert_eq!(text.len() + TAIL_MAX, total);
    let data_filesz = match progs.last().and_then(|p| p.zero_from) {
        Some(z) => data.len() - (REGION_SIZE - z) as usize,
        None => data.len(),
    };
    Batch {
        text,
        subs,
        data_base,
        data,
        data_filesz,
    }
}

fn emit_mem(
    text: &mut Vec<Inst>,
    region_base: u32,
    mode: AddrMode,
    off: u32,
    mk: impl Fn(Reg, i32) -> Inst,
) {
    match mode {
        AddrMode::Base => text.push(mk(BASE, off as i32 - BASE_BIAS as i32)),
        AddrMode::AddiBase { tmp, a } => {
            text.push(Inst::OpImm {
                op: ImmOp::Addi,
                rd: tmp,
                rs1: BASE,
                imm: a,
            });
            text.push(mk(tmp, off as i32 - BASE_BIAS as i32 - a));
        }
        AddrMode::Lui { tmp } => {
            let (hi, lo) = hi_lo(region_base + off);
            text.push(Inst::Lui { rd: tmp, imm20: hi });
            text.push(mk(tmp, lo));
        }
    }
}

/// SHA-256 of the empty string, as the 8 little-endian words Cloak commits.
pub fn empty_digest_words() -> [u32; 8] {
    const D: [u8; 32] = [
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ];
    let mut w = [0u32; 8];
    for (i, x) in w.iter_mut().enumerate() {
        *x = u32::from_le_bytes(D[4 * i..4 * i + 4].try_into().unwrap());
    }
    w
}

pub const HALT: u32 = 0;
pub const COMMIT: u32 = 0x10;

pub fn tail(kind: Tail, data_base: u32, data_len: u32) -> Vec<Inst> {
    let addi = |rd: Reg, rs1: Reg, imm: i32| Inst::OpImm {
        op: ImmOp::Addi,
        rd,
        rs1,
        imm,
    };
    let mut t = Vec::new();
    match kind {
        Tail::Qemu => {
            t.extend(li(S0, data_base));
            t.extend(li(S1, data_len));
            // loop:
            t.push(addi(A7, ZERO, 64)); // write
            t.push(addi(A0, ZERO, 1)); // fd 1
            t.push(addi(A1, S0, 0));
            t.push(addi(A1 + 1, S1, 0)); // a2 = remaining
            t.push(Inst::Ecall);
            t.push(Inst::Branch {
                op: BrOp::Bge,
                rs1: ZERO,
                rs2: A0,
                off: 24,
            }); // a0 <= 0 -> fail
            t.push(Inst::Op {
                op: ROp::Add,
                rd: S0,
                rs1: S0,
                rs2: A0,
            });
            t.push(Inst::Op {
                op: ROp::Sub,
                rd: S1,
                rs1: S1,
                rs2: A0,
            });
            t.push(Inst::Branch {
                op: BrOp::Bne,
                rs1: S1,
                rs2: ZERO,
                off: -32,
            });
            t.push(addi(A0, ZERO, 0));
            t.push(Inst::Jal { rd: ZERO, off: 8 });
            // fail:
            t.push(addi(A0, ZERO, 111));
            t.push(addi(A7, ZERO, 93)); // exit
            t.push(Inst::Ecall);
        }
        Tail::Cloak => {
            for (i, w) in empty_digest_words().iter().enumerate() {
                t.extend(li(T0, COMMIT));
                t.push(addi(A0, ZERO, i as i32));
                t.extend(li(A1, *w));
                t.push(Inst::Ecall);
            }
            t.extend(li(T0, HALT));
            t.push(addi(A0, ZERO, 0));
            t.push(Inst::Ecall);
        }
    }
    assert!(t.len() <= TAIL_MAX);
    t
}

impl Batch {
    /// Text words with the given tail appended.
    pub fn text_words(&self, kind: Tail) -> Vec<u32> {
        let t = tail(kind, self.data_base, self.data.len() as u32);
        self.text.iter().chain(t.iter()).map(Inst::encode).collect()
    }

    pub fn listing_insts(&self, kind: Tail) -> Vec<Inst> {
        let t = tail(kind, self.data_base, self.data.len() as u32);
        self.text.iter().chain(t.iter()).copied().collect()
    }

    pub fn elf(&self, kind: Tail) -> Vec<u8> {
        let words = self.text_words(kind);
        let text: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let data = &self.data[..self.data_filesz];
        cloak_vm::elf::write_elf(
            TEXT_BASE,
            &[
                SegmentSpec {
                    vaddr: TEXT_BASE,
                    data: &text,
                    zero_fill: 0,
                    executable: true,
                },
                SegmentSpec {
                    vaddr: self.data_base,
                    data,
                    zero_fill: (self.data.len() - data.len()) as u32,
                    executable: false,
                },
            ],
        )
    }

    /// Index of the sub-program whose text contains `pc`.
    pub fn sub_at(&self, pc: u32) -> Option<usize> {
        self.subs
            .iter()
            .position(|s| (s.text_start..s.text_end).contains(&pc))
    }

    /// `addr: word  mnemonic` lines for sub-program `k` (or the whole text).
    pub fn listing(&self, k: Option<usize>, kind: Tail, mark_pc: Option<u32>) -> String {
        self.listing_marked(k, kind, mark_pc, &[])
    }

    /// Like `listing`, flagging the instructions that write one of `regs`.
    pub fn listing_marked(
        &self,
        k: Option<usize>,
        kind: Tail,
        mark_pc: Option<u32>,
        regs: &[Reg],
    ) -> String {
        let insts = self.listing_insts(kind);
        let (start, end) = match k {
            Some(k) => (self.subs[k].text_start, self.subs[k].text_end),
            None => (TEXT_BASE, TEXT_BASE + 4 * insts.len() as u32),
        };
        let mut s = String::new();
        for (idx, inst) in insts.iter().enumerate() {
            let pc = TEXT_BASE + 4 * idx as u32;
            if pc < start || pc >= end {
                continue;
            }
            let mark = if Some(pc) == mark_pc { "=>" } else { "  " };
            let extra = match inst {
                Inst::Branch { off, .. } | Inst::Jal { off, .. } => {
                    format!("   # -> {:#010x}", pc.wrapping_add(*off as u32))
                }
                _ => String::new(),
            };
            let extra = match inst.rd() {
                Some(r) if r != 0 && regs.contains(&r) => {
                    format!("{extra}   # <- writes {} (diverges)", ABI[r as usize])
                }
                _ => extra,
            };
            s.push_str(&format!(
                "{mark} {pc:#010x}: {:08x}  {inst}{extra}\n",
                inst.encode()
            ));
        }
        s
    }
}
