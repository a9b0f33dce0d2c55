//! The ALU chips and lookup tables prove honest executions and reject tampered
//! traces: wrong results, non-boolean carries, flipped flags, bad bytes, wrong
//! table multiplicities and messages no chip answers.

mod common;

use cloak_machine::add_sub::cols as add_cols;
use cloak_machine::bitwise::cols as bit_cols;
use cloak_machine::{AluEvent, MachineTraces, Multiplicities, TraceError};
use cloak_prover::config::{seeded_config, FriSettings, Val};
use cloak_prover::{prove, setup, verify, ProvingKey, VerifyingKey};
use cloak_vm::Opcode;
use common::{airs, traces, ADD_SUB, BITWISE, BYTE, RANGE16, SENDER};
use p3_field::PrimeCharacteristicRing;
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
    assert_tamper_rejected(&f, "unanswered message", |t| {
        *cell(&mut t[SENDER], 0, common::SENDER_A_LO) += Val::ONE;
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
        MachineTraces::generate(&[bad], 256, Multiplicities::default()).err(),
        Some(TraceError::WrongResult {
            opcode: Opcode::Add,
            a: 3,
            b: 1,
            c: 1,
            expected: 2
        })
    );
    let mul = AluEvent {
        opcode: Opcode::Mul,
        a: 0,
        b: 0,
        c: 0,
    };
    assert_eq!(
        MachineTraces::generate(&[mul], 256, Multiplicities::default()).err(),
        Some(TraceError::UnsupportedOpcode(Opcode::Mul))
    );
    assert!(AluEvent::new(Opcode::Beq, 1, 1).is_none());
    let ok = MachineTraces::generate(&events(), 256, Multiplicities::default()).unwrap();
    assert_eq!(ok.log_heights(), vec![16, 16, 8, 8]);
}
