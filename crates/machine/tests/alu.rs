//! The ALU chips and lookup tables prove honest executions and reject tampered
//! traces: wrong results, non-boolean carries, flipped flags, bad bytes, wrong
//! table multiplicities and messages no chip answers; for Lt, Shift, Mul and
//! DivRem, tampers that keep the `alu` message and the Range16 multiplicities
//! consistent, so that only the chip's own constraint, range check or (for
//! DivRem) its `SLTU(|r|, |c|)` lookup refuses.

mod common;

use cloak_machine::add_sub::cols as add_cols;
use cloak_machine::bitwise::cols as bit_cols;
use cloak_machine::bus::{alu_op, limbs};
use cloak_machine::divrem::{self, cols as dr_cols};
use cloak_machine::lt::cols as lt_cols;
use cloak_machine::mul::cols as mul_cols;
use cloak_machine::shift::cols as sh_cols;
use cloak_machine::{AluEvent, ChipTraces, Multiplicities, TraceError};
use cloak_prover::config::{seeded_config, FriSettings, Val};
use cloak_prover::{prove, setup, verify, ProvingKey, VerifyingKey};
use cloak_vm::Opcode;
use common::{airs, traces, ADD_SUB, BITWISE, BYTE, DIVREM, LT, MUL, RANGE16, SENDER, SHIFT};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use std::panic::{catch_unwind, AssertUnwindSafe};

const FRI: FriSettings = FriSettings::DEFAULT;

const EDGES: [u32; 9] = [
    0,
    1,
    2,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    u32::MAX,
];

/// ~300 events: every edge pair for ADD and SUB (carries and borrows across the
/// limb boundary and out of bit 31), ADDI with extreme immediates, edge and
/// pseudo-random operands for every bitwise form, and random ADD/SUB.
fn events() -> Vec<AluEvent> {
    let mut out = Vec::new();
    let mut push = |op, b, c| out.push(AluEvent::new(op, b, c).expect("an ALU opcode"));
    for &b in &EDGES {
        for &c in &EDGES {
            push(Opcode::Add, b, c);
            push(Opcode::Sub, b, c);
        }
        for imm in [0i32, 1, -1, 2047, -2048] {
            push(Opcode::Addi, b, imm as u32);
        }
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let bitwise = [
        Opcode::And,
        Opcode::Or,
        Opcode::Xor,
        Opcode::Andi,
        Opcode::Ori,
        Opcode::Xori,
    ];
    for (i, &op) in bitwise.iter().enumerate() {
        push(op, EDGES[i], EDGES[8 - i]);
        push(op, u32::MAX, 0x8000_0000);
        for _ in 0..10 {
            let r = next();
            let c = if i >= 3 {
                (((r >> 32) as i32) << 20 >> 20) as u32 // a sign-extended 12-bit immediate
            } else {
                (r >> 32) as u32
            };
            push(op, r as u32, c);
        }
    }
    for _ in 0..40 {
        let r = next();
        let op = if r & 1 == 0 { Opcode::Add } else { Opcode::Sub };
        push(op, r as u32, (r >> 32) as u32);
    }
    // Comparisons: every edge pair (equal words, limbs differing only low or
    // only high, both signs), immediates, and random operands, some sharing
    // the high limb.
    for &b in &EDGES {
        for &c in &EDGES {
            push(Opcode::Slt, b, c);
            push(Opcode::Sltu, b, c);
        }
        for imm in [1i32, -1, -2048] {
            push(Opcode::Slti, b, imm as u32);
            push(Opcode::Sltiu, b, imm as u32);
        }
    }
    for (b, c) in [
        (0x1234_5678, 0x1234_5679),
        (0x8000_0001, 0x8000_0000),
        (0x0001_0000, 0x0000_0001),
        (0xffff_0000, 0x0000_ffff),
        (5, 5),
    ] {
        for op in [Opcode::Slt, Opcode::Sltu] {
            push(op, b, c);
            push(op, c, b);
        }
    }
    for i in 0..20 {
        let r = next();
        let op = if r & 1 == 0 {
            Opcode::Slt
        } else {
            Opcode::Sltu
        };
        let (b, mut c) = (r as u32, (r >> 32) as u32);
        if i % 4 == 0 {
            c = (b & 0xffff_0000) | (c & 0xffff);
        }
        push(op, b, c);
    }
    // Shifts: amounts at the limb boundary, beyond 31 (only c mod 32 counts,
    // c_hi included), immediates, and random operands.
    let words = [
        0,
        1,
        u32::MAX,
        0x8000_0000,
        0x7fff_ffff,
        0x1234_5678,
        0xedcb_a987,
    ];
    let amounts = [0, 1, 15, 16, 31, 32, 33, 0xffff_ffe0, 0x0001_0003];
    for &b in &words {
        for &c in &amounts {
            for op in [Opcode::Sll, Opcode::Srl, Opcode::Sra] {
                push(op, b, c);
            }
        }
    }
    for s in [0, 5, 31] {
        for op in [Opcode::Slli, Opcode::Srli, Opcode::Srai] {
            push(op, 0x8765_4321, s);
        }
    }
    for i in 0..40 {
        let r = next();
        let op = [Opcode::Sll, Opcode::Srl, Opcode::Sra][i % 3];
        push(op, r as u32, (r >> 32) as u32);
    }
    // Multiplications: signed and unsigned extremes and random operands.
    let words = [0, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 0xffff, 0x1_0000];
    let muls = [Opcode::Mul, Opcode::Mulh, Opcode::Mulhsu, Opcode::Mulhu];
    for &b in &words {
        for &c in &words {
            for op in muls {
                push(op, b, c);
            }
        }
    }
    for i in 0..40 {
        let r = next();
        push(muls[i % 4], r as u32, (r >> 32) as u32);
    }
    // Divisions: every pair of signed and unsigned extremes, 7 and -7 by 2
    // and -2, division by zero and INT_MIN / -1 for all four ops, and random
    // operands (some with small divisors).
    let dividends = [0, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 7, -7i32 as u32];
    let divisors = [0, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 2, -2i32 as u32];
    let divs = [Opcode::Div, Opcode::Divu, Opcode::Rem, Opcode::Remu];
    for &b in &dividends {
        for &c in &divisors {
            for op in divs {
                push(op, b, c);
            }
        }
    }
    for i in 0..40 {
        let r = next();
        let c = if i % 3 == 0 {
            (r >> 32) as u32 >> 20
        } else {
            (r >> 32) as u32
        };
        push(divs[i % 4], r as u32, c);
    }
    out
}

struct Fixture {
    pk: ProvingKey,
    vk: VerifyingKey,
    traces: Vec<RowMajorMatrix<Val>>,
    publics: Vec<Vec<Val>>,
}

fn fixture() -> Fixture {
    let traces = traces(&events(), FRI.min_trace_height());
    let heights: Vec<usize> = traces
        .iter()
        .map(|t| t.height().trailing_zeros() as usize)
        .collect();
    let (pk, vk) = setup(FRI, &airs(), &heights).unwrap();
    let publics = vec![vec![]; traces.len()];
    Fixture {
        pk,
        vk,
        traces,
        publics,
    }
}

#[test]
fn honest_alu_events_prove_and_verify() {
    let events = events();
    assert!(events.len() >= 290, "{} events", events.len());
    let f = fixture();
    let proof = prove(
        &seeded_config(FRI, [1; 32]),
        &f.pk,
        &airs(),
        &f.traces,
        &f.publics,
    )
    .unwrap();
    verify(&f.vk, &airs(), &proof, &f.publics).unwrap();
}

/// A tampered trace yields no accepted proof: either the prover refuses (its
/// debug constraint and lookup checks) or the verifier rejects.
fn assert_tamper_rejected(
    f: &Fixture,
    what: &str,
    tamper: impl FnOnce(&mut [RowMajorMatrix<Val>]),
) {
    let mut traces = f.traces.clone();
    tamper(&mut traces);
    assert!(traces != f.traces, "the tamper changed nothing: {what}");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        prove(
            &seeded_config(FRI, [4; 32]),
            &f.pk,
            &airs(),
            &traces,
            &f.publics,
        )
    }));
    if let Ok(Ok(proof)) = outcome {
        assert!(
            verify(&f.vk, &airs(), &proof, &f.publics).is_err(),
            "tampered proof verified: {what}"
        );
    }
}

fn cell(t: &mut RowMajorMatrix<Val>, row: usize, col: usize) -> &mut Val {
    let width = t.width();
    &mut t.values[row * width + col]
}

/// The first AddSub row whose low carry is 0 and whose `a_hi` has room for +2.
fn add_row_without_carry(t: &RowMajorMatrix<Val>) -> usize {
    (0..t.height())
        .find(|&r| {
            let row = &t.values[r * t.width()..(r + 1) * t.width()];
            row[add_cols::IS_ADD] == Val::ONE
                && row[add_cols::CARRY_LO] == Val::ZERO
                && row[add_cols::A_HI] == Val::ZERO
        })
        .expect("an ADD row without low carry")
}

#[test]
fn tampered_traces_are_rejected() {
    let f = fixture();
    assert_tamper_rejected(&f, "wrong a limb", |t| {
        *cell(&mut t[ADD_SUB], 5, add_cols::A_LO) += Val::ONE;
    });
    assert_tamper_rejected(&f, "carry of 2", |t| {
        // b_lo + c_lo = (a_lo - 2^17) + 2 * 2^16 holds in the field, and the
        // high limb absorbs the extra carry: only booleanity and the range
        // check of a_lo stand in the way.
        let row = add_row_without_carry(&t[ADD_SUB]);
        *cell(&mut t[ADD_SUB], row, add_cols::CARRY_LO) = Val::TWO;
        *cell(&mut t[ADD_SUB], row, add_cols::A_LO) -= Val::from_u32(1 << 17);
        *cell(&mut t[ADD_SUB], row, add_cols::A_HI) += Val::TWO;
    });
    assert_tamper_rejected(&f, "flipped op flag", |t| {
        // Row 2 is ADD(0, 1) = 1; as a SUB row it claims 0 - 1 = 1.
        assert_eq!(*cell(&mut t[ADD_SUB], 2, add_cols::IS_ADD), Val::ONE);
        *cell(&mut t[ADD_SUB], 2, add_cols::IS_ADD) = Val::ZERO;
        *cell(&mut t[ADD_SUB], 2, add_cols::IS_SUB) = Val::ONE;
    });
    assert_tamper_rejected(&f, "both op flags", |t| {
        *cell(&mut t[ADD_SUB], 0, add_cols::IS_SUB) = Val::ONE;
    });
    assert_tamper_rejected(&f, "bad byte", |t| {
        *cell(&mut t[BITWISE], 2, bit_cols::A + 1) += Val::ONE;
    });
    assert_tamper_rejected(&f, "byte out of range", |t| {
        // 256 in byte 0 and -1 in byte 1 keep the limb; the Byte table has no 256.
        *cell(&mut t[BITWISE], 1, bit_cols::B) += Val::from_u32(256);
        *cell(&mut t[BITWISE], 1, bit_cols::B + 1) -= Val::ONE;
    });
    assert_tamper_rejected(&f, "range16 multiplicity", |t| {
        *cell(&mut t[RANGE16], 7, 0) += Val::ONE;
    });
    assert_tamper_rejected(&f, "byte multiplicity", |t| {
        *cell(&mut t[BYTE], 0x1234, 2) += Val::ONE;
    });
    assert_tamper_rejected(&f, "byte-pair multiplicity", |t| {
        // The U8_PAIR column (3): a pair provided once more than sent.
        *cell(&mut t[BYTE], 0x1234, 3) += Val::ONE;
    });
    assert_tamper_rejected(&f, "unanswered message", |t| {
        *cell(&mut t[SENDER], 0, common::SENDER_A_LO) += Val::ONE;
    });
}

/// The row of the first `op(b, c)` event in a chip's trace, by the chip's
/// `b_lo` column and the three following ones (`b_hi`, `c_lo`, `c_hi`) and its
/// flag column.
fn chip_row(t: &RowMajorMatrix<Val>, b_lo: usize, flag: usize, b: u32, c: u32) -> usize {
    let (b, c) = (limbs(b), limbs(c));
    let want = [b.0, b.1, c.0, c.1].map(Val::from_u32);
    (0..t.height())
        .find(|&r| {
            let row = &t.values[r * t.width()..(r + 1) * t.width()];
            row[flag] == Val::ONE && row[b_lo..b_lo + 4] == want
        })
        .expect("the event's row")
}

/// The sender's row of the first `op(b, c)` event.
fn sender_row(t: &RowMajorMatrix<Val>, op: Opcode, b: u32, c: u32) -> usize {
    let op = Val::from_u32(alu_op(op).expect("an ALU opcode") as u32);
    let (b, c) = (limbs(b), limbs(c));
    let want = [b.0, b.1, c.0, c.1].map(Val::from_u32);
    let lo = common::SENDER_B_LO;
    (0..t.height())
        .find(|&r| {
            let row = &t.values[r * t.width()..(r + 1) * t.width()];
            row[0] == op && row[lo..lo + 4] == want
        })
        .expect("the event's sender row")
}

/// Sets an Lt row's result bit and the sender's `a_lo` to match, so only the
/// Lt chip's own constraints stand in the way.
fn set_lt_result(t: &mut [RowMajorMatrix<Val>], op: Opcode, b: u32, c: u32, a: u32) -> usize {
    let flag = if op == Opcode::Slt {
        lt_cols::IS_SLT
    } else {
        lt_cols::IS_SLTU
    };
    let row = chip_row(&t[LT], lt_cols::B_LO, flag, b, c);
    *cell(&mut t[LT], row, lt_cols::A) = Val::from_u32(a);
    let srow = sender_row(&t[SENDER], op, b, c);
    *cell(&mut t[SENDER], srow, common::SENDER_A_LO) = Val::from_u32(a);
    row
}

#[test]
fn tampered_lt_traces_are_rejected() {
    let f = fixture();
    assert_tamper_rejected(&f, "lt: wrong result bit", |t| {
        // 1 < 2: d = 1, r = 0. Claiming 0 needs r = -2.
        let row = set_lt_result(t, Opcode::Sltu, 1, 2, 0);
        *cell(&mut t[LT], row, lt_cols::R) = -Val::TWO;
    });
    assert_tamper_rejected(&f, "lt: equal words claimed less", |t| {
        // d = 0 and r = 0 stay; only `a = 0 when equal` stands in the way.
        set_lt_result(t, Opcode::Sltu, 5, 5, 1);
    });
    assert_tamper_rejected(&f, "lt: wrong first differing limb", |t| {
        // 0x1_0000 < 1 is false; comparing the low limbs instead gives d = 1,
        // r = 0 (the same range check), a = 1.
        let row = set_lt_result(t, Opcode::Sltu, 0x0001_0000, 1, 1);
        *cell(&mut t[LT], row, lt_cols::DIFF_HI) = Val::ZERO;
        *cell(&mut t[LT], row, lt_cols::DIFF_LO) = Val::ONE;
        *cell(&mut t[LT], row, lt_cols::D) = Val::ONE;
        *cell(&mut t[LT], row, lt_cols::INV) = Val::ONE;
        assert_eq!(*cell(&mut t[LT], row, lt_cols::R), Val::ZERO);
    });
    assert_tamper_rejected(&f, "lt: differing limbs claimed equal", |t| {
        // 1 < 2 with no flag: d = 0, a = 0, r = 0.
        let row = set_lt_result(t, Opcode::Sltu, 1, 2, 0);
        for col in [lt_cols::DIFF_LO, lt_cols::D, lt_cols::INV] {
            *cell(&mut t[LT], row, col) = Val::ZERO;
        }
    });
    assert_tamper_rejected(&f, "lt: wrong sign bit", |t| {
        // -1 < 0 signed; with b's sign bit cleared, b compares as 0x17fff:
        // d = 0x8000 - 0x17fff, a = 0, r = -d - 1 (both out of range16).
        let row = set_lt_result(t, Opcode::Slt, u32::MAX, 0, 0);
        let d = Val::from_u32(0x8000) - Val::from_u32(0x1_7fff);
        *cell(&mut t[LT], row, lt_cols::B_MSB) = Val::ZERO;
        *cell(&mut t[LT], row, lt_cols::B_HI_CMP) = Val::from_u32(0x1_7fff);
        *cell(&mut t[LT], row, lt_cols::D) = d;
        *cell(&mut t[LT], row, lt_cols::INV) = d.inverse();
        *cell(&mut t[LT], row, lt_cols::R) = -d - Val::ONE;
    });
    assert_tamper_rejected(&f, "lt: flipped signedness", |t| {
        // SLTU(0xffff_ffff, 0) = 0 relabelled SLT: the row's a = 0 is then
        // wrong, and the sender still says SLTU.
        let row = chip_row(&t[LT], lt_cols::B_LO, lt_cols::IS_SLTU, u32::MAX, 0);
        *cell(&mut t[LT], row, lt_cols::IS_SLTU) = Val::ZERO;
        *cell(&mut t[LT], row, lt_cols::IS_SLT) = Val::ONE;
    });
}

/// Sets a Shift row's result and the sender's `a` to match, so only the
/// Shift chip's own constraints stand in the way.
fn set_shift_result(t: &mut [RowMajorMatrix<Val>], op: Opcode, b: u32, c: u32, a: u32) -> usize {
    let flag = match op {
        Opcode::Sll => sh_cols::IS_SLL,
        Opcode::Srl => sh_cols::IS_SRL,
        _ => sh_cols::IS_SRA,
    };
    let row = chip_row(&t[SHIFT], sh_cols::B_LO, flag, b, c);
    let (lo, hi) = limbs(a);
    *cell(&mut t[SHIFT], row, sh_cols::A_LO) = Val::from_u32(lo);
    *cell(&mut t[SHIFT], row, sh_cols::A_HI) = Val::from_u32(hi);
    let srow = sender_row(&t[SENDER], op, b, c);
    *cell(&mut t[SENDER], srow, common::SENDER_A_LO) = Val::from_u32(lo);
    *cell(&mut t[SENDER], srow, common::SENDER_A_LO + 1) = Val::from_u32(hi);
    row
}

#[test]
fn tampered_shift_traces_are_rejected() {
    let f = fixture();
    assert_tamper_rejected(&f, "shift: wrong amount, consistent result", |t| {
        // 0 << 33 is 0 for any amount: claiming s = 0 needs k = 33 / 32 in
        // the field, which the range check of k refuses.
        let row = chip_row(&t[SHIFT], sh_cols::B_LO, sh_cols::IS_SLL, 0, 33);
        *cell(&mut t[SHIFT], row, sh_cols::SHAMT + 1) = Val::ZERO;
        *cell(&mut t[SHIFT], row, sh_cols::SHAMT) = Val::ONE;
        *cell(&mut t[SHIFT], row, sh_cols::K) = Val::from_u32(33) / Val::from_u32(32);
        recount(t, &[1], &[u64::MAX]);
    });
    assert_tamper_rejected(&f, "shift: two amounts", |t| {
        let row = chip_row(&t[SHIFT], sh_cols::B_LO, sh_cols::IS_SLL, 0, 33);
        *cell(&mut t[SHIFT], row, sh_cols::SHAMT + 2) = Val::ONE;
    });
    assert_tamper_rejected(&f, "shift: wrong shifted limb", |t| {
        // 0x8000_0000 >> 31 = 1, claimed 2.
        set_shift_result(t, Opcode::Srl, 0x8000_0000, 31, 2);
    });
    assert_tamper_rejected(&f, "shift: wrong shifted limb, helper columns alike", |t| {
        // As above, with SR_LO/SR_HI claiming 2 too: the sum over the
        // one-hot amount and b's bits must refuse.
        let row = set_shift_result(t, Opcode::Srl, 0x8000_0000, 31, 2);
        *cell(&mut t[SHIFT], row, sh_cols::SR_LO) = Val::from_u32(2);
        *cell(&mut t[SHIFT], row, sh_cols::SR_HI) = Val::ZERO;
    });
    assert_tamper_rejected(&f, "shift: sll helper claims another shift", |t| {
        // 1 << 1 = 2: SLL_LO and a both claim 4.
        let row = set_shift_result(t, Opcode::Sll, 1, 1, 4);
        *cell(&mut t[SHIFT], row, sh_cols::SLL_LO) = Val::from_u32(4);
    });
    assert_tamper_rejected(&f, "shift: sra without sign fill", |t| {
        // 0x8000_0000 >>a 31 = -1; the logical result 1 with fill 0.
        let row = set_shift_result(t, Opcode::Sra, 0x8000_0000, 31, 1);
        *cell(&mut t[SHIFT], row, sh_cols::FILL) = Val::ZERO;
    });
    assert_tamper_rejected(&f, "shift: wrong bit of b", |t| {
        // 1 << 1 = 2; with b's bit 0 moved to bit 1 the shift gives 4.
        let row = set_shift_result(t, Opcode::Sll, 1, 1, 4);
        *cell(&mut t[SHIFT], row, sh_cols::B_BITS) = Val::ZERO;
        *cell(&mut t[SHIFT], row, sh_cols::B_BITS + 1) = Val::ONE;
    });
}

/// Moves one count of the Range16 table from each `old` value to the `new`
/// value in the same place, so that a tamper which changes range-checked
/// values is not caught merely by stale multiplicities. New values outside
/// the table are left for the lookup argument to refuse.
fn recount(t: &mut [RowMajorMatrix<Val>], old: &[u64], new: &[u64]) {
    for (&o, &n) in old.iter().zip(new) {
        *cell(&mut t[RANGE16], o as usize, 0) -= Val::ONE;
        if n < 1 << 16 {
            *cell(&mut t[RANGE16], n as usize, 0) += Val::ONE;
        }
    }
}

/// Moves `byte(U8_PAIR, x, y, 0)` multiplicities from the pairs of `old`
/// bytes to those of `new` (a pair with a value past 255 has no Byte row:
/// its count is dropped, as a cheating prover would have to).
fn recount_pairs(t: &mut [RowMajorMatrix<Val>], old: &[u64], new: &[u64]) {
    const PAIR: usize = 3;
    for (o, n) in old.chunks(2).zip(new.chunks(2)) {
        *cell(&mut t[BYTE], (o[0] << 8 | o[1]) as usize, PAIR) -= Val::ONE;
        if n[0] < 256 && n[1] < 256 {
            *cell(&mut t[BYTE], (n[0] << 8 | n[1]) as usize, PAIR) += Val::ONE;
        }
    }
}

/// The product bytes and carries of 8-byte operands, as the Mul chip lays
/// them out.
fn mul_columns(bx: [u64; 8], cx: [u64; 8]) -> ([u64; 8], [u64; 8]) {
    let (mut p, mut carries, mut carry) = ([0; 8], [0; 8], 0);
    for k in 0..8 {
        let column = carry + (0..=k).map(|i| bx[i] * cx[k - i]).sum::<u64>();
        p[k] = column & 0xff;
        carry = column >> 8;
        carries[k] = carry;
    }
    (p, carries)
}

#[test]
fn tampered_mul_traces_are_rejected() {
    let f = fixture();
    assert_tamper_rejected(&f, "mul: wrong high word", |t| {
        // MULHU(-1, -1) = 0xffff_fffe, claimed 0xffff_ffff.
        let srow = sender_row(&t[SENDER], Opcode::Mulhu, u32::MAX, u32::MAX);
        *cell(&mut t[SENDER], srow, common::SENDER_A_LO) = Val::from_u32(0xffff);
        let row = (0..t[MUL].height())
            .find(|&r| {
                *cell(&mut t[MUL], r, mul_cols::IS_MULHU) == Val::ONE
                    && *cell(&mut t[MUL], r, mul_cols::A_LO) == Val::from_u32(0xfffe)
                    && *cell(&mut t[MUL], r, mul_cols::A_HI) == Val::from_u32(0xffff)
            })
            .expect("a MULHU(-1, -1) row");
        *cell(&mut t[MUL], row, mul_cols::A_LO) = Val::from_u32(0xffff);
    });
    assert_tamper_rejected(&f, "mul: product byte of 256 or more", |t| {
        // p_0 + 256, carry_0 - 1 and p_1 - 1 keep every column equation and
        // the result; only the byte-pair check of (p_0, p_1) stands in the way.
        let row = (0..t[MUL].height())
            .find(|&r| {
                *cell(&mut t[MUL], r, mul_cols::P + 1) != Val::ZERO
                    && *cell(&mut t[MUL], r, mul_cols::CARRY) != Val::ZERO
            })
            .expect("a row with p_1 and carry_0 non-zero");
        let value = |t: &mut [RowMajorMatrix<Val>], col| {
            u64::from(cell(&mut t[MUL], row, col).as_canonical_u32())
        };
        let (p0, p1, carry) = (
            value(t, mul_cols::P),
            value(t, mul_cols::P + 1),
            value(t, mul_cols::CARRY),
        );
        *cell(&mut t[MUL], row, mul_cols::P) += Val::from_u32(256);
        *cell(&mut t[MUL], row, mul_cols::CARRY) -= Val::ONE;
        *cell(&mut t[MUL], row, mul_cols::P + 1) -= Val::ONE;
        recount(t, &[carry], &[carry - 1]);
        recount_pairs(t, &[p0, p1], &[p0 + 256, p1 - 1]);
    });
    assert_tamper_rejected(&f, "mul: unsigned b in MULH", |t| {
        // MULH(-1, -1) = 0; with b taken as unsigned 2^32 - 1 the product is
        // -(2^32 - 1), high word 0xffff_ffff, with consistent bytes and carries.
        let srow = sender_row(&t[SENDER], Opcode::Mulh, u32::MAX, u32::MAX);
        *cell(&mut t[SENDER], srow, common::SENDER_A_LO) = Val::from_u32(0xffff);
        *cell(&mut t[SENDER], srow, common::SENDER_A_LO + 1) = Val::from_u32(0xffff);
        let row = (0..t[MUL].height())
            .find(|&r| {
                *cell(&mut t[MUL], r, mul_cols::IS_MULH) == Val::ONE
                    && (0..4).all(|i| {
                        *cell(&mut t[MUL], r, mul_cols::B + i) == Val::from_u32(0xff)
                            && *cell(&mut t[MUL], r, mul_cols::C + i) == Val::from_u32(0xff)
                    })
            })
            .expect("a MULH(-1, -1) row");
        let (p, carries) = mul_columns([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], [0xff; 8]);
        let (old_p, old_carries) = mul_columns([0xff; 8], [0xff; 8]);
        recount(t, &old_carries, &carries);
        recount_pairs(t, &old_p, &p);
        for k in 0..8 {
            *cell(&mut t[MUL], row, mul_cols::P + k) = Val::from_u64(p[k]);
            *cell(&mut t[MUL], row, mul_cols::CARRY + k) = Val::from_u64(carries[k]);
        }
        assert_eq!(p[4..], [0xff; 4]);
        *cell(&mut t[MUL], row, mul_cols::B_NEG) = Val::ZERO;
        *cell(&mut t[MUL], row, mul_cols::A_LO) = Val::from_u32(0xffff);
        *cell(&mut t[MUL], row, mul_cols::A_HI) = Val::from_u32(0xffff);
    });
}

#[test]
fn trace_generation_rejects_bad_events() {
    let bad = AluEvent {
        opcode: Opcode::Add,
        a: 3,
        b: 1,
        c: 1,
    };
    assert_eq!(
        ChipTraces::generate(&[bad], 256, Multiplicities::default()).err(),
        Some(TraceError::WrongResult {
            opcode: Opcode::Add,
            a: 3,
            b: 1,
            c: 1,
            expected: 2
        })
    );
    let load = AluEvent {
        opcode: Opcode::Lb,
        a: 0,
        b: 0,
        c: 0,
    };
    assert_eq!(
        ChipTraces::generate(&[load], 256, Multiplicities::default()).err(),
        Some(TraceError::UnsupportedOpcode(Opcode::Lb))
    );
    assert!(AluEvent::new(Opcode::Beq, 1, 1).is_none());
    let ok = ChipTraces::generate(&events(), 256, Multiplicities::default()).unwrap();
    assert_eq!(ok.log_heights(), vec![16, 16, 8, 8, 9, 8, 8, 8]);
    let bad_lt = AluEvent {
        opcode: Opcode::Slti,
        a: 0,
        b: u32::MAX,
        c: 0,
    };
    assert!(matches!(
        ChipTraces::generate(&[bad_lt], 256, Multiplicities::default()),
        Err(TraceError::WrongResult { expected: 1, .. })
    ));
    // SRAI by 32 + 1 is a shift by 1.
    let bad_shift = AluEvent {
        opcode: Opcode::Sra,
        a: 0,
        b: 0x8000_0000,
        c: 33,
    };
    assert!(matches!(
        ChipTraces::generate(&[bad_shift], 256, Multiplicities::default()),
        Err(TraceError::WrongResult {
            expected: 0xc000_0000,
            ..
        })
    ));
    // MULHSU treats c as unsigned: (-1) * (2^32 - 1) has high word -1.
    let bad_mul = AluEvent {
        opcode: Opcode::Mulhsu,
        a: 0,
        b: u32::MAX,
        c: u32::MAX,
    };
    assert!(matches!(
        ChipTraces::generate(&[bad_mul], 256, Multiplicities::default()),
        Err(TraceError::WrongResult {
            expected: 0xffff_ffff,
            ..
        })
    ));
    // RISC-V division edge cases: INT_MIN / -1 = INT_MIN, x % 0 = x, x / 0 = -1.
    for (opcode, b, c, expected) in [
        (Opcode::Div, 0x8000_0000, u32::MAX, 0x8000_0000),
        (Opcode::Rem, 0x8000_0000, u32::MAX, 0),
        (Opcode::Remu, 7, 0, 7),
        (Opcode::Div, 7, 0, u32::MAX),
        (Opcode::Rem, -7i32 as u32, 2, u32::MAX),
    ] {
        let bad = AluEvent {
            opcode,
            a: expected.wrapping_add(1),
            b,
            c,
        };
        assert_eq!(
            ChipTraces::generate(&[bad], 256, Multiplicities::default()).err(),
            Some(TraceError::WrongResult {
                opcode,
                a: expected.wrapping_add(1),
                b,
                c,
                expected
            })
        );
    }
}

/// The DivRem row of the first `op(b, c)` event.
fn divrem_row(t: &RowMajorMatrix<Val>, op: Opcode, b: u32, c: u32) -> usize {
    let flag = match op {
        Opcode::Div => dr_cols::IS_DIV,
        Opcode::Divu => dr_cols::IS_DIVU,
        Opcode::Rem => dr_cols::IS_REM,
        _ => dr_cols::IS_REMU,
    };
    let bytes =
        |w: u32| -> [Val; 4] { std::array::from_fn(|k| Val::from_u32(w >> (8 * k) & 0xff)) };
    (0..t.height())
        .find(|&r| {
            let row = &t.values[r * t.width()..(r + 1) * t.width()];
            row[flag] == Val::ONE
                && row[dr_cols::B..dr_cols::B + 4] == bytes(b)
                && row[dr_cols::C..dr_cols::C + 4] == bytes(c)
        })
        .expect("the event's DivRem row")
}

/// Replaces the DivRem row of `op(b, c)` by one claiming quotient `q` and
/// remainder `r` (carries and high product bytes recomputed, the Range16 and Byte-pair
/// multiplicities moved, the sender's `a` set to match), so only DivRem's own
/// constraints and its `SLTU(|r|, |c|)` lookup stand in the way.
fn set_divrem(t: &mut [RowMajorMatrix<Val>], op: Opcode, b: u32, c: u32, q: u32, r: u32) -> usize {
    let honest = |op| AluEvent::new(op, b, c).unwrap().a;
    let (q0, r0) = match op {
        Opcode::Div | Opcode::Rem => (honest(Opcode::Div), honest(Opcode::Rem)),
        _ => (honest(Opcode::Divu), honest(Opcode::Remu)),
    };
    assert!((q, r) != (q0, r0), "not a tamper");
    let row = divrem_row(&t[DIVREM], op, b, c);
    let (old_cells, old, _) = divrem::witness(op, b, c, q0, r0);
    let (cells, new, _) = divrem::witness(op, b, c, q, r);
    let width = t[DIVREM].width();
    t[DIVREM].values[row * width..(row + 1) * width].copy_from_slice(&cells);
    let canonical =
        |v: Vec<Val>| -> Vec<u64> { v.iter().map(|x| u64::from(x.as_canonical_u32())).collect() };
    recount(t, &canonical(old), &canonical(new));
    let bytes = |cells: &[Val]| canonical(cells[dr_cols::B..dr_cols::B + 20].to_vec());
    recount_pairs(t, &bytes(&old_cells), &bytes(&cells));
    let a = if matches!(op, Opcode::Div | Opcode::Divu) {
        q
    } else {
        r
    };
    let (lo, hi) = limbs(a);
    let srow = sender_row(&t[SENDER], op, b, c);
    *cell(&mut t[SENDER], srow, common::SENDER_A_LO) = Val::from_u32(lo);
    *cell(&mut t[SENDER], srow, common::SENDER_A_LO + 1) = Val::from_u32(hi);
    row
}

#[test]
fn divrem_witnesses_match_the_honest_trace() {
    // `set_divrem`'s baseline: `witness` with the true q and r is the row
    // trace generation writes, so every tamper below changes only what it says.
    let t = traces(&events(), FRI.min_trace_height());
    for (op, b, c, q, r) in [
        (Opcode::Div, -7i32 as u32, 2, -3i32 as u32, u32::MAX),
        (Opcode::Remu, 7, 0, u32::MAX, 7),
        (Opcode::Rem, 0x8000_0000, u32::MAX, 0x8000_0000, 0),
    ] {
        let row = divrem_row(&t[DIVREM], op, b, c);
        let w = t[DIVREM].width();
        let (cells, _, _) = divrem::witness(op, b, c, q, r);
        assert_eq!(t[DIVREM].values[row * w..(row + 1) * w], cells);
    }
}

#[test]
fn tampered_divrem_traces_are_rejected() {
    let f = fixture();
    assert_tamper_rejected(&f, "divrem: q + 1 with r - c", |t| {
        // -7 / 2 = -3 rem -1; -2 * 2 + -3 = -7 too, with r of b's sign, but
        // |r| = 3 >= 2: the SLTU(3, 2) lookup has no Lt row to answer it.
        set_divrem(t, Opcode::Div, -7i32 as u32, 2, -2i32 as u32, -3i32 as u32);
    });
    assert_tamper_rejected(&f, "divrem: remainder >= divisor", |t| {
        // 7 % 2 claimed 3 (with q = 2): 2 * 2 + 3 = 7.
        set_divrem(t, Opcode::Remu, 7, 2, 2, 3);
    });
    assert_tamper_rejected(&f, "divrem: remainder of the wrong sign", |t| {
        // 7 / 2 claimed 4 with r = -1: 4 * 2 - 1 = 7 and |r| = 1 < 2 (the same
        // Lt lookup as the honest row); only the sign constraint refuses.
        set_divrem(t, Opcode::Div, 7, 2, 4, u32::MAX);
    });
    assert_tamper_rejected(&f, "divrem: remainder of the wrong sign, negative b", |t| {
        // -7 % 2 claimed 1 (q = -4): -4 * 2 + 1 = -7, |r| = 1.
        set_divrem(t, Opcode::Rem, -7i32 as u32, 2, -4i32 as u32, 1);
    });
    assert_tamper_rejected(&f, "divrem: division by zero claimed for c != 0", |t| {
        // 7 % 2 claimed as 7 % 0 = 7: c_zero set, q = -1, r = b.
        let row = set_divrem(t, Opcode::Remu, 7, 2, u32::MAX, 7);
        *cell(&mut t[DIVREM], row, dr_cols::C_ZERO) = Val::ONE;
        *cell(&mut t[DIVREM], row, dr_cols::C_INV) = Val::ZERO;
    });
    assert_tamper_rejected(&f, "divrem: wrong quotient for c = 0", |t| {
        // 7 / 0 claimed 0 with r = 7: 0 * 0 + 7 = 7 holds; only the
        // division-by-zero constraints refuse.
        set_divrem(t, Opcode::Divu, 7, 0, 0, 7);
    });
    assert_tamper_rejected(&f, "divrem: wrong remainder for c = 0", |t| {
        // -7 % 0 claimed 0 with q = -1.
        set_divrem(t, Opcode::Rem, -7i32 as u32, 0, u32::MAX, 0);
    });
    assert_tamper_rejected(&f, "divrem: c = 0 not flagged", |t| {
        // 7 / 0 claimed 0 (r = 7) with c_zero cleared.
        let row = set_divrem(t, Opcode::Divu, 7, 0, 0, 7);
        *cell(&mut t[DIVREM], row, dr_cols::C_ZERO) = Val::ZERO;
    });
    assert_tamper_rejected(&f, "divrem: overflow claimed for other operands", |t| {
        // The overflow flag drops the sign-extension check of the high bytes.
        let row = divrem_row(&t[DIVREM], Opcode::Div, 7, 2);
        *cell(&mut t[DIVREM], row, dr_cols::OVERFLOW) = Val::ONE;
    });
}
