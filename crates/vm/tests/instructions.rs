//! Edge cases of every RV32IM instruction, with expected values taken from the
//! RISC-V unprivileged spec (not computed by the code under test).

mod common;
use cloak_vm::ExecError;
use common::*;

const S2: u32 = 18;
const S3: u32 = 19;
const S4: u32 = 20;

/// Runs `op s4, s2, s3` with the given operands.
fn rr(op: &str, a: u32, b: u32) -> u32 {
    let mut code = li(S2, a);
    code.extend(li(S3, b));
    code.push(alu(op, S4, S2, S3));
    regs_after(&code)[S4 as usize]
}

/// Runs `op s4, s2, imm`.
fn ri(op: &str, a: u32, imm: i32) -> u32 {
    let mut code = li(S2, a);
    code.push(alui(op, S4, S2, imm));
    regs_after(&code)[S4 as usize]
}

const MIN: u32 = 0x8000_0000;
const MAX: u32 = 0x7fff_ffff;
const NEG1: u32 = u32::MAX;

#[test]
fn add_sub_wrap() {
    assert_eq!(rr("add", MAX, 1), MIN);
    assert_eq!(rr("add", NEG1, 1), 0);
    assert_eq!(rr("sub", 0, 1), NEG1);
    assert_eq!(rr("sub", MIN, 1), MAX);
    assert_eq!(ri("addi", 5, -6), NEG1);
    assert_eq!(ri("addi", MAX, 1), MIN);
    assert_eq!(ri("addi", 0, -2048), 0xffff_f800);
    assert_eq!(ri("addi", 0, 2047), 2047);
}

#[test]
fn logic_ops() {
    assert_eq!(rr("xor", 0xf0f0_f0f0, 0xff00_ff00), 0x0ff0_0ff0);
    assert_eq!(rr("or", 0xf0f0_0000, 0x0000_0f0f), 0xf0f0_0f0f);
    assert_eq!(rr("and", 0xf0f0_f0f0, 0xff00_ff00), 0xf000_f000);
    // Immediates are sign-extended before the operation.
    assert_eq!(ri("xori", 0x1234_5678, -1), !0x1234_5678);
    assert_eq!(ri("ori", 0, -2048), 0xffff_f800);
    assert_eq!(ri("andi", 0xdead_beef, -16), 0xdead_bee0);
}

#[test]
fn comparisons_signed_and_unsigned() {
    assert_eq!(rr("slt", NEG1, 0), 1);
    assert_eq!(rr("sltu", NEG1, 0), 0);
    assert_eq!(rr("slt", MIN, MAX), 1);
    assert_eq!(rr("sltu", MIN, MAX), 0);
    assert_eq!(rr("slt", 5, 5), 0);
    assert_eq!(ri("slti", NEG1, 0), 1);
    // sltiu compares against the sign-extended immediate as unsigned: -1 is 0xffffffff.
    assert_eq!(ri("sltiu", 5, -1), 1);
    assert_eq!(ri("sltiu", 0, 1), 1); // seqz
    assert_eq!(ri("sltiu", 1, 1), 0);
}

#[test]
fn shifts_mask_the_amount_to_five_bits() {
    assert_eq!(rr("sll", 1, 31), MIN);
    assert_eq!(rr("sll", 1, 32), 1);
    assert_eq!(rr("sll", 1, 33), 2);
    assert_eq!(rr("srl", MIN, 31), 1);
    assert_eq!(rr("srl", MIN, 32), MIN);
    assert_eq!(rr("sra", MIN, 31), NEG1);
    assert_eq!(rr("sra", MIN, 0xffff_ffe1), 0xc000_0000); // amount 1
    assert_eq!(rr("sra", MAX, 30), 1);
    assert_eq!(ri("slli", 3, 31), MIN);
    assert_eq!(ri("srli", NEG1, 31), 1);
    assert_eq!(ri("srai", MIN, 4), 0xf800_0000);
    assert_eq!(ri("srai", 0x4000_0000, 30), 1);
}

#[test]
fn multiplication_high_and_low_words() {
    assert_eq!(
        rr("mul", 0x1234_5678, 0x9abc_def0),
        0x1234_5678u32.wrapping_mul(0x9abc_def0)
    );
    assert_eq!(rr("mul", NEG1, NEG1), 1);
    assert_eq!(rr("mulh", MIN, MIN), 0x4000_0000);
    assert_eq!(rr("mulh", NEG1, NEG1), 0);
    assert_eq!(rr("mulh", NEG1, 1), NEG1);
    assert_eq!(rr("mulhu", NEG1, NEG1), 0xffff_fffe);
    assert_eq!(rr("mulhu", MIN, 2), 1);
    // mulhsu: signed rs1 times unsigned rs2.
    assert_eq!(rr("mulhsu", NEG1, NEG1), NEG1); // -1 * (2^32-1) = -(2^32-1)
    assert_eq!(rr("mulhsu", 2, NEG1), 1);
    assert_eq!(rr("mulhsu", MIN, NEG1), 0x8000_0000);
}

#[test]
fn division_by_zero_and_overflow_follow_the_spec() {
    assert_eq!(rr("div", (-7i32) as u32, 2), (-3i32) as u32);
    assert_eq!(rr("rem", (-7i32) as u32, 2), NEG1);
    assert_eq!(rr("div", 7, (-2i32) as u32), (-3i32) as u32);
    assert_eq!(rr("rem", 7, (-2i32) as u32), 1);
    // Division by zero: quotient all ones, remainder the dividend.
    assert_eq!(rr("div", 7, 0), NEG1);
    assert_eq!(rr("divu", 7, 0), NEG1);
    assert_eq!(rr("rem", (-7i32) as u32, 0), (-7i32) as u32);
    assert_eq!(rr("remu", 7, 0), 7);
    // Signed overflow: INT_MIN / -1 = INT_MIN, remainder 0.
    assert_eq!(rr("div", MIN, NEG1), MIN);
    assert_eq!(rr("rem", MIN, NEG1), 0);
    assert_eq!(rr("divu", MIN, NEG1), 0);
    assert_eq!(rr("remu", MIN, NEG1), MIN);
    assert_eq!(rr("divu", NEG1, 2), MAX);
}

#[test]
fn x0_is_hard_wired_to_zero() {
    let mut code = li(S2, 1234);
    code.push(alu("add", 0, S2, S2));
    code.push(addi(0, 0, 5));
    code.push(lui(0, 0x12345));
    code.push(alu("add", S3, 0, 0));
    let regs = regs_after(&code);
    assert_eq!(regs[0], 0);
    assert_eq!(regs[S3 as usize], 0);
}

#[test]
fn lui_and_auipc() {
    let code = vec![lui(S2, 0xfffff), auipc(S3, 1), auipc(S4, 0x80000)];
    let regs = regs_after(&code);
    assert_eq!(regs[S2 as usize], 0xffff_f000);
    assert_eq!(regs[S3 as usize], TEXT + 4 + 0x1000);
    assert_eq!(regs[S4 as usize], (TEXT + 8).wrapping_add(0x8000_0000));
}

#[test]
fn branches_taken_and_not_taken() {
    let cases: &[(&str, u32, u32, bool)] = &[
        ("beq", 5, 5, true),
        ("beq", 5, 6, false),
        ("bne", 5, 6, true),
        ("bne", 0, 0, false),
        ("blt", NEG1, 0, true),
        ("blt", 0, NEG1, false),
        ("bge", 0, NEG1, true),
        ("bge", MIN, MAX, false),
        ("bge", 7, 7, true),
        ("bltu", 0, NEG1, true),
        ("bltu", NEG1, 0, false),
        ("bgeu", NEG1, 0, true),
        ("bgeu", 0, 1, false),
    ];
    for &(op, a, b, taken) in cases {
        let mut code = li(S2, a);
        code.extend(li(S3, b));
        code.push(branch(op, S2, S3, 8)); // skip the next instruction when taken
        code.push(addi(S4, 0, 1));
        code.push(addi(21, 0, 2));
        let regs = regs_after(&code);
        assert_eq!(regs[S4 as usize], (!taken) as u32, "{op} {a:#x} {b:#x}");
        assert_eq!(regs[21], 2);
    }
    // Backward branch: a countdown loop.
    let mut code = li(S2, 10);
    code.push(addi(S3, S3, 3));
    code.push(addi(S2, S2, -1));
    code.push(branch("bne", S2, 0, -8));
    assert_eq!(regs_after(&code)[S3 as usize], 30);
}

#[test]
fn jal_and_jalr_link_and_jump() {
    // jal s2, +8 skips one instruction and links pc+4.
    let code = vec![jal(S2, 8), addi(S3, 0, 1), addi(S4, 0, 2)];
    let regs = regs_after(&code);
    assert_eq!(regs[S2 as usize], TEXT + 4);
    assert_eq!((regs[S3 as usize], regs[S4 as usize]), (0, 2));
    // jalr clears bit 0 of the target and may use rd == rs1.
    let mut code = li(S2, TEXT + 8 * 4 + 1); // points at the instruction after the skip
    code.push(jalr(S2, S2, 0)); // index 2
    code.extend([addi(S3, 0, 1); 5]); // indices 3..8
    code.push(addi(S4, 0, 7)); // index 8
    let regs = regs_after(&code);
    assert_eq!(regs[S2 as usize], TEXT + 12);
    assert_eq!((regs[S3 as usize], regs[S4 as usize]), (0, 7));
    // Negative jalr offset.
    let mut code = li(S2, TEXT + 7 * 4 + 4);
    code.push(jalr(1, S2, -4)); // index 2 -> index 7
    code.extend([addi(S3, 0, 1); 4]); // 3..7
    code.push(addi(S4, 0, 9)); // 7
    let regs = regs_after(&code);
    assert_eq!(
        (regs[S3 as usize], regs[S4 as usize], regs[1]),
        (0, 9, TEXT + 12)
    );
}

#[test]
fn loads_sign_and_zero_extend() {
    let data = [0x81u8, 0x92, 0xa3, 0xf4, 0x01, 0x02, 0x03, 0x04];
    const DEST: [u32; 12] = [6, 7, 28, 29, 30, 31, 8, 9, 19, 20, 21, 22];
    let mut code = li(S2, DATA);
    let loads = [
        ("lb", 0, 0xffff_ff81u32),
        ("lbu", 0, 0x81),
        ("lb", 3, 0xffff_fff4),
        ("lbu", 3, 0xf4),
        ("lh", 0, 0xffff_9281),
        ("lhu", 0, 0x9281),
        ("lh", 2, 0xffff_f4a3),
        ("lhu", 2, 0xf4a3),
        ("lw", 0, 0xf4a3_9281),
        ("lw", 4, 0x0403_0201),
        ("lb", 4, 1),
        ("lh", 6, 0x0403),
    ];
    for (i, (op, off, _)) in loads.iter().enumerate() {
        code.push(load(op, DEST[i], S2, *off));
    }
    code.extend(clean_exit(&[]));
    let (r, regs) = run_with(&code, &data, vec![]);
    r.unwrap();
    for (i, (op, off, want)) in loads.iter().enumerate() {
        assert_eq!(regs[DEST[i] as usize], *want, "{op} +{off}");
    }
}

#[test]
fn stores_write_only_their_bytes() {
    let mut code = li(S2, DATA);
    code.extend(li(S3, 0xaabb_ccdd));
    code.push(store("sw", S3, S2, 0));
    code.extend(li(S3, 0x1122_3344));
    code.push(store("sb", S3, S2, 1)); // byte 1 <- 0x44
    code.push(store("sh", S3, S2, 6)); // bytes 6..8 of the next word <- 0x3344
    code.push(store("sb", S3, S2, -1)); // last byte before DATA: negative offset
    code.push(load("lw", S4, S2, 0));
    code.push(load("lw", 21, S2, 4));
    code.push(load("lw", 22, S2, -4));
    let regs = regs_after(&code);
    assert_eq!(regs[S4 as usize], 0xaabb_44dd);
    assert_eq!(regs[21], 0x3344_0000);
    assert_eq!(regs[22], 0x4400_0000);
}

#[test]
fn fence_is_a_no_op() {
    let mut code = li(S2, 3);
    code.push(FENCE);
    code.push(addi(S2, S2, 1));
    assert_eq!(regs_after(&code)[S2 as usize], 4);
}

fn run_err(code: &[u32]) -> ExecError {
    run_with(code, &[0; 16], vec![])
        .0
        .expect_err("program must fault")
}

#[test]
fn misaligned_accesses_are_errors() {
    for (insn, width, kind) in [
        (load("lw", S3, S2, 2), 4, "load"),
        (load("lh", S3, S2, 1), 2, "load"),
        (load("lhu", S3, S2, 3), 2, "load"),
        (store("sw", S3, S2, 1), 4, "store"),
        (store("sh", S3, S2, 3), 2, "store"),
    ] {
        let mut code = li(S2, DATA);
        code.push(insn);
        let pc = TEXT + 8;
        let err = run_err(&code);
        assert!(
            matches!(err, ExecError::MisalignedAccess { pc: p, width: w, kind: k, .. } if p == pc && w == width && k == kind),
            "{err}"
        );
        assert!(err.to_string().contains("pc 0x00001008"), "{err}");
    }
}

#[test]
fn reserved_low_addresses_are_errors() {
    for insn in [
        load("lw", S3, 0, 0x1c),
        load("lb", S3, 0, 0),
        store("sw", S3, 0, 0x10),
    ] {
        let err = run_err(&[insn]);
        assert!(
            matches!(err, ExecError::ReservedAddress { pc: TEXT, .. }),
            "{err}"
        );
    }
    // 0x20 itself is usable.
    let mut code = vec![load("lw", S3, 0, 0x20)];
    code.extend(clean_exit(&[]));
    run_with(&code, &[], vec![]).0.unwrap();
}

#[test]
fn invalid_and_unsupported_encodings_name_pc_and_word() {
    let err = run_err(&[FENCE, 0xffff_ffff]);
    assert_eq!(
        err,
        ExecError::InvalidInstruction {
            pc: TEXT + 4,
            word: 0xffff_ffff
        }
    );
    assert!(err.to_string().contains("0xffffffff") && err.to_string().contains("0x00001004"));
    let err = run_err(&[0x0010_0073]);
    assert!(
        matches!(
            err,
            ExecError::UnsupportedInstruction { name: "ebreak", .. }
        ),
        "{err}"
    );
    let err = run_err(&[0x3000_2573]); // csrr a0, mstatus
    assert!(
        matches!(err, ExecError::UnsupportedInstruction { pc: TEXT, .. }),
        "{err}"
    );
}

#[test]
fn control_flow_faults() {
    // Falling off the end of the text.
    let err = run_err(&[FENCE]);
    assert_eq!(err, ExecError::PcOutOfProgram { pc: TEXT + 4 });
    // Jumping into data.
    let mut code = li(S2, DATA);
    code.push(jalr(0, S2, 0));
    assert_eq!(run_err(&code), ExecError::PcOutOfProgram { pc: DATA });
    // A misaligned jump target (bit 1 set) faults at the fetch.
    let mut code = li(S2, TEXT + 2);
    code.push(jalr(0, S2, 0));
    assert_eq!(run_err(&code), ExecError::MisalignedPc { pc: TEXT + 2 });
}

#[test]
fn cycle_limit_stops_infinite_loops() {
    let p = program(&[jal(0, 0)], &[]);
    let mut e = cloak_vm::Executor::new(
        &p,
        vec![],
        cloak_vm::ExecConfig {
            max_cycles: Some(1000),
            max_memory_bytes: None,
        },
    );
    let err = e.run().unwrap_err();
    assert_eq!(
        err,
        ExecError::CycleLimit {
            pc: TEXT,
            limit: 1000
        }
    );
    assert_eq!(e.cycles(), 1000);
}

#[test]
fn memory_limit_stops_runaway_writes() {
    // Store to a new 64 KiB page every iteration.
    let mut code = li(S2, 0x0100_0000);
    code.extend(li(S3, 0x10000));
    code.push(store("sw", S3, S2, 0)); // index 4
    code.push(alu("add", S2, S2, S3));
    code.push(jal(0, -8));
    let p = program(&code, &[]);
    let mut e = cloak_vm::Executor::new(
        &p,
        vec![],
        cloak_vm::ExecConfig {
            max_cycles: Some(1_000_000),
            max_memory_bytes: Some(1 << 20),
        },
    );
    let err = e.run().unwrap_err();
    assert!(
        matches!(err, ExecError::MemoryLimit { pc, limit_bytes, .. } if pc == TEXT + 16 && limit_bytes == 1 << 20),
        "{err}"
    );
}
