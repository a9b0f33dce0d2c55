//! A tiny RV32IM assembler and runner for the executor's tests.
#![allow(dead_code)]

use cloak_vm::elf::{write_elf, SegmentSpec};
use cloak_vm::{ExecConfig, ExecError, ExecOutput, Executor, Program};

pub const TEXT: u32 = 0x1000;
pub const DATA: u32 = 0x10000;

fn r_type(f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op
}
pub fn i_type(imm: i32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    ((imm as u32) & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op
}
fn s_type(imm: i32, rs2: u32, rs1: u32, f3: u32) -> u32 {
    let imm = imm as u32;
    (imm >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (imm & 0x1f) << 7 | 0x23
}
fn b_type(imm: i32, rs2: u32, rs1: u32, f3: u32) -> u32 {
    let imm = imm as u32;
    (imm >> 12 & 1) << 31
        | (imm >> 5 & 0x3f) << 25
        | rs2 << 20
        | rs1 << 15
        | f3 << 12
        | (imm >> 1 & 0xf) << 8
        | (imm >> 11 & 1) << 7
        | 0x63
}

/// Register-register ALU ops by mnemonic.
pub fn alu(name: &str, rd: u32, rs1: u32, rs2: u32) -> u32 {
    let (f7, f3) = match name {
        "add" => (0, 0),
        "sub" => (0x20, 0),
        "sll" => (0, 1),
        "slt" => (0, 2),
        "sltu" => (0, 3),
        "xor" => (0, 4),
        "srl" => (0, 5),
        "sra" => (0x20, 5),
        "or" => (0, 6),
        "and" => (0, 7),
        "mul" => (1, 0),
        "mulh" => (1, 1),
        "mulhsu" => (1, 2),
        "mulhu" => (1, 3),
        "div" => (1, 4),
        "divu" => (1, 5),
        "rem" => (1, 6),
        "remu" => (1, 7),
        _ => panic!("unknown alu op {name}"),
    };
    r_type(f7, rs2, rs1, f3, rd, 0x33)
}

/// Register-immediate ALU ops by mnemonic.
pub fn alui(name: &str, rd: u32, rs1: u32, imm: i32) -> u32 {
    match name {
        "addi" => i_type(imm, rs1, 0, rd, 0x13),
        "slti" => i_type(imm, rs1, 2, rd, 0x13),
        "sltiu" => i_type(imm, rs1, 3, rd, 0x13),
        "xori" => i_type(imm, rs1, 4, rd, 0x13),
        "ori" => i_type(imm, rs1, 6, rd, 0x13),
        "andi" => i_type(imm, rs1, 7, rd, 0x13),
        "slli" => i_type(imm & 31, rs1, 1, rd, 0x13),
        "srli" => i_type(imm & 31, rs1, 5, rd, 0x13),
        "srai" => i_type((imm & 31) | 0x400, rs1, 5, rd, 0x13),
        _ => panic!("unknown alu-immediate op {name}"),
    }
}

pub fn addi(rd: u32, rs1: u32, imm: i32) -> u32 {
    alui("addi", rd, rs1, imm)
}
pub fn lui(rd: u32, imm20: u32) -> u32 {
    imm20 << 12 | rd << 7 | 0x37
}
pub fn auipc(rd: u32, imm20: u32) -> u32 {
    imm20 << 12 | rd << 7 | 0x17
}
pub fn jal(rd: u32, offset: i32) -> u32 {
    let imm = offset as u32;
    (imm >> 20 & 1) << 31
        | (imm >> 1 & 0x3ff) << 21
        | (imm >> 11 & 1) << 20
        | (imm >> 12 & 0xff) << 12
        | rd << 7
        | 0x6f
}
pub fn jalr(rd: u32, rs1: u32, imm: i32) -> u32 {
    i_type(imm, rs1, 0, rd, 0x67)
}
pub fn branch(name: &str, rs1: u32, rs2: u32, offset: i32) -> u32 {
    let f3 = match name {
        "beq" => 0,
        "bne" => 1,
        "blt" => 4,
        "bge" => 5,
        "bltu" => 6,
        "bgeu" => 7,
        _ => panic!("unknown branch {name}"),
    };
    b_type(offset, rs2, rs1, f3)
}
pub fn load(name: &str, rd: u32, rs1: u32, imm: i32) -> u32 {
    let f3 = match name {
        "lb" => 0,
        "lh" => 1,
        "lw" => 2,
        "lbu" => 4,
        "lhu" => 5,
        _ => panic!("unknown load {name}"),
    };
    i_type(imm, rs1, f3, rd, 0x03)
}
pub fn store(name: &str, rs2: u32, rs1: u32, imm: i32) -> u32 {
    let f3 = match name {
        "sb" => 0,
        "sh" => 1,
        "sw" => 2,
        _ => panic!("unknown store {name}"),
    };
    s_type(imm, rs2, rs1, f3)
}
pub const ECALL: u32 = 0x73;
pub const FENCE: u32 = 0x0ff0_000f;

/// Loads a 32-bit constant into `rd` (LUI + ADDI).
pub fn li(rd: u32, value: u32) -> Vec<u32> {
    let lo = ((value << 20) as i32) >> 20;
    let hi = value.wrapping_sub(lo as u32) >> 12;
    vec![lui(rd, hi), addi(rd, rd, lo)]
}

/// `ecall` with t0 = code, a0 = arg1, a1 = arg2.
pub fn syscall(code: u32, arg1: u32, arg2: u32) -> Vec<u32> {
    let mut v = li(5, code);
    v.extend(li(10, arg1));
    v.extend(li(11, arg2));
    v.push(ECALL);
    v
}

/// COMMITs the digest of `public_values` and HALTs with exit code 0.
pub fn clean_exit(public_values: &[u8]) -> Vec<u32> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public_values);
    let mut v = Vec::new();
    for (i, w) in digest.chunks(4).enumerate() {
        v.extend(syscall(
            0x10,
            i as u32,
            u32::from_le_bytes(w.try_into().unwrap()),
        ));
    }
    v.extend(syscall(0, 0, 0));
    v
}

/// Builds an ELF with `code` at TEXT and `data` at DATA (plus 64 KiB of zeroes).
pub fn elf(code: &[u32], data: &[u8]) -> Vec<u8> {
    let text: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    write_elf(
        TEXT,
        &[
            SegmentSpec {
                vaddr: TEXT,
                data: &text,
                zero_fill: 0,
                executable: true,
            },
            SegmentSpec {
                vaddr: DATA,
                data,
                zero_fill: 0x10000,
                executable: false,
            },
        ],
    )
}

pub fn program(code: &[u32], data: &[u8]) -> Program {
    Program::from_elf(&elf(code, data)).expect("test program loads")
}

/// Runs `code` (which must end the program itself) with inputs; returns the
/// outcome and the final registers.
pub fn run_with(
    code: &[u32],
    data: &[u8],
    inputs: Vec<Vec<u8>>,
) -> (Result<ExecOutput, ExecError>, [u32; 32]) {
    let p = program(code, data);
    let mut e = Executor::new(
        &p,
        inputs,
        ExecConfig {
            max_cycles: Some(1_000_000),
            max_memory_bytes: None,
        },
    );
    let r = e.run();
    (r, e.registers())
}

/// Runs `body` followed by a clean exit and returns the final registers.
pub fn regs_after(body: &[u32]) -> [u32; 32] {
    let mut code = body.to_vec();
    // Keep the results: the exit sequence clobbers t0, a0, a1 only.
    code.extend(clean_exit(&[]));
    let (r, regs) = run_with(&code, &[], vec![]);
    r.expect("program runs");
    regs
}
