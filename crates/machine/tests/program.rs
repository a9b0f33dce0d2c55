//! The Program table: fetches of the program's own instructions balance;
//! fetching anything else, or claiming the wrong counts, yields no accepted
//! proof; and a proof made for one program never verifies under another's key.

use cloak_machine::bus::{limbs, PROGRAM_BUS};
use cloak_machine::program::{ProgramAir, ProgramRow};
use cloak_prover::config::{seeded_config, FriSettings, Val};
use cloak_prover::{prove, setup, verify};
use cloak_vm::{ExecConfig, Executor, Program};
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::panic::{catch_unwind, AssertUnwindSafe};

const FRI: FriSettings = FriSettings::DEFAULT;
const FETCH_WIDTH: usize = 8; // pc, op, rd, rs1, rs2, imm_lo, imm_hi, is_real

/// A stand-in for the CPU: one fetch per row.
#[derive(Clone, Copy, Debug)]
struct Fetcher;

impl<F> BaseAir<F> for Fetcher {
    fn width(&self) -> usize {
        FETCH_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for Fetcher {
    fn eval(&self, builder: &mut AB) {
        let r = builder.main().current_slice().to_vec();
        builder.assert_bool(r[7]);
        builder.push_interaction(
            PROGRAM_BUS,
            r[..7].iter().map(|&v| v.into()),
            Count::bounded(r[7].into(), 1),
        );
    }
}

cloak_machine::air_enum! {
    #[derive(Clone, Debug)]
    enum TestAir {
        Fetcher(Fetcher),
        Program(ProgramAir),
    }
}

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

/// The pcs a run of fibonacci(20) executes.
fn executed_pcs(program: &Program) -> Vec<u32> {
    let mut e = Executor::new(
        program,
        vec![20u32.to_le_bytes().to_vec()],
        ExecConfig::default(),
    );
    let (_, shards) = e.trace(u64::MAX).unwrap();
    shards[0].cpu.iter().map(|ev| ev.pc).collect()
}

fn fetch_trace(rows: &[ProgramRow]) -> RowMajorMatrix<Val> {
    let height = rows.len().next_power_of_two().max(FRI.min_trace_height());
    let mut values = Val::zero_vec(height * FETCH_WIDTH);
    for (r, cells) in rows.iter().zip(values.chunks_exact_mut(FETCH_WIDTH)) {
        let (lo, hi) = limbs(r.imm);
        let v = [
            r.pc,
            r.opcode as u32,
            r.rd.into(),
            r.rs1.into(),
            r.rs2.into(),
            lo,
            hi,
            1,
        ];
        for (c, x) in cells.iter_mut().zip(v) {
            *c = Val::from_u32(x);
        }
    }
    RowMajorMatrix::new(values, FETCH_WIDTH)
}

struct Fixture {
    airs: Vec<TestAir>,
    traces: Vec<RowMajorMatrix<Val>>,
    table: ProgramAir,
    cycles: usize,
}

fn fixture(program: &Program) -> Fixture {
    let table = ProgramAir::new(program, FRI.min_trace_height()).unwrap();
    let pcs = executed_pcs(program);
    let fetched: Vec<ProgramRow> = pcs
        .iter()
        .map(|pc| *table.rows().iter().find(|r| r.pc == *pc).unwrap())
        .collect();
    let cycles = pcs.len();
    let traces = vec![fetch_trace(&fetched), table.trace(pcs).unwrap()];
    Fixture {
        airs: vec![TestAir::Fetcher(Fetcher), TestAir::Program(table.clone())],
        traces,
        table,
        cycles,
    }
}

fn log_heights(traces: &[RowMajorMatrix<Val>]) -> Vec<usize> {
    traces
        .iter()
        .map(|t| t.values.len() / t.width)
        .map(|h| h.trailing_zeros() as usize)
        .collect()
}

fn proves(f: &Fixture, traces: Vec<RowMajorMatrix<Val>>) -> bool {
    let (pk, vk) = setup(FRI, &f.airs, &log_heights(&traces)).unwrap();
    let publics = vec![vec![]; 2];
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        prove(
            &seeded_config(FRI, [1; 32]),
            &pk,
            &f.airs,
            &traces,
            &publics,
        )
    }));
    match outcome {
        Ok(Ok(proof)) => verify(&vk, &f.airs, &proof, &publics).is_ok(),
        _ => false,
    }
}

#[test]
fn fetching_the_programs_instructions_proves() {
    let f = fixture(&guest("fibonacci"));
    assert!(f.table.rows().len() > 100);
    assert!(proves(&f, f.traces.clone()));
}

#[test]
fn fetching_anything_else_is_rejected() {
    let f = fixture(&guest("fibonacci"));
    // A wrong opcode at a real pc.
    let mut t = f.traces.clone();
    t[0].values[1] += Val::ONE;
    assert!(!proves(&f, t));
    // A wrong immediate.
    let mut t = f.traces.clone();
    t[0].values[5] += Val::ONE;
    assert!(!proves(&f, t));
    // A fetch of a padding row (all zeros) with its count moved there.
    assert!(
        f.table.rows().len() < 1 << f.table.log_height(),
        "the table has a padding row"
    );
    let mut t = f.traces.clone();
    let last = t[1].values.len() - 1;
    t[1].values[last] = Val::ONE;
    let first_padding = f.cycles * FETCH_WIDTH; // the fetcher's first all-zero row
    assert!(first_padding + FETCH_WIDTH <= t[0].values.len());
    assert_eq!(t[0].values[first_padding + 7], Val::ZERO);
    t[0].values[first_padding + 7] = Val::ONE; // is_real = 1 on an all-zero message
    assert!(!proves(&f, t));
    // A wrong fetch count in the table.
    let mut t = f.traces.clone();
    t[1].values[0] += Val::ONE;
    assert!(!proves(&f, t));
}

#[test]
fn a_proof_for_one_program_does_not_verify_under_another() {
    let fib = fixture(&guest("fibonacci"));
    let other = fixture(&guest("loop"));
    let heights = log_heights(&fib.traces);
    let (pk, _) = setup(FRI, &fib.airs, &heights).unwrap();
    let proof = prove(
        &seeded_config(FRI, [2; 32]),
        &pk,
        &fib.airs,
        &fib.traces,
        &[vec![], vec![]],
    )
    .unwrap();
    // The other program's key at the same heights.
    let (_, other_vk) = setup(FRI, &other.airs, &heights).unwrap();
    assert!(verify(&other_vk, &other.airs, &proof, &[vec![], vec![]]).is_err());
}

#[test]
fn text_outside_the_field_is_refused() {
    use cloak_vm::elf::{write_elf, SegmentSpec};
    let code = 0x0000_0013u32.to_le_bytes(); // nop
    let elf = write_elf(
        0x7f00_1000,
        &[SegmentSpec {
            vaddr: 0x7f00_1000,
            data: &code,
            zero_fill: 0,
            executable: true,
        }],
    );
    let program = Program::from_elf(&elf).unwrap();
    assert!(ProgramAir::new(&program, 256).is_err());
}
