//! A small three-table machine used only to test the prover: CPU rows send
//! (a, b, a+b) to an ADD table, whose byte limbs are range-checked by a
//! preprocessed BYTE table. (Adapted from the Plonky3 prototype.)
#![allow(dead_code)]
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

pub const ADD_BUS: &str = "add";
pub const BYTE_BUS: &str = "byte";

// ---------------------------------------------------------------- CPU
/// columns: pc, is_real, a, b, c
pub const CPU_WIDTH: usize = 5;
#[derive(Clone, Copy, Debug)]
pub struct CpuAir;

impl<F> BaseAir<F> for CpuAir {
    fn width(&self) -> usize {
        CPU_WIDTH
    }
    /// [pc_start, pc_end]
    fn num_public_values(&self) -> usize {
        2
    }
    /// Only `pc` is read on the next row -> only it needs opening at g*zeta.
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![0]
    }
}

impl<AB: InteractionBuilder> Air<AB> for CpuAir {
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let (pc, is_real, a, b, c) = {
            let l = main.current_slice();
            (l[0], l[1], l[2], l[3], l[4])
        };
        let pc_next = main.next_slice()[0];
        let pv = builder.public_values();
        let (pc_start, pc_end) = (pv[0], pv[1]);

        builder.when_first_row().assert_eq(pc, pc_start);
        builder
            .when_transition()
            .assert_eq(pc_next, pc + AB::Expr::ONE);
        builder.when_last_row().assert_eq(pc, pc_end);
        builder.assert_bool(is_real);

        // send (a,b,c) once per real row; is_real is boolean-constrained, so bound = 1
        builder.push_interaction(
            ADD_BUS,
            [a.into(), b.into(), c.into()],
            Count::bounded(is_real.into(), 1),
        );
    }
}

// ---------------------------------------------------------------- ADD
/// columns: a[4], b[4], c[4], carry[4], mult
pub const ADD_WIDTH: usize = 17;
const A0: usize = 0;
const B0: usize = 4;
const C0: usize = 8;
const K0: usize = 12;
const MULT: usize = 16;

#[derive(Clone, Copy, Debug)]
pub struct AddAir;

impl<F> BaseAir<F> for AddAir {
    fn width(&self) -> usize {
        ADD_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for AddAir {
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let base = AB::Expr::from_u32(256);
        let word = |o: usize| -> AB::Expr {
            (0..4).rev().fold(AB::Expr::ZERO, |acc, i| {
                acc * AB::Expr::from_u32(256) + r[o + i].into()
            })
        };
        let mut carry_in = AB::Expr::ZERO;
        for i in 0..4 {
            builder.assert_bool(r[K0 + i]);
            // a_i + b_i + carry_{i-1} = c_i + 256 * carry_i   (carry_3 = overflow, dropped)
            builder.assert_eq(
                r[A0 + i].into() + r[B0 + i].into() + carry_in.clone(),
                r[C0 + i].into() + base.clone() * r[K0 + i].into(),
            );
            carry_in = r[K0 + i].into();
        }
        // receive (a, b, c) with multiplicity `mult` (table side -> Count::provided)
        builder.push_interaction(
            ADD_BUS,
            [word(A0), word(B0), word(C0)],
            Count::provided(-r[MULT].into()),
        );
        // range-check all 12 limbs (constant count 1 -> bound fixed automatically)
        for o in [A0, B0, C0] {
            for i in 0..4 {
                builder.push_interaction(BYTE_BUS, [r[o + i].into()], 1);
            }
        }
    }
}

// ---------------------------------------------------------------- BYTE
/// preprocessed: value (0..255); main: mult
#[derive(Clone, Copy, Debug)]
pub struct ByteAir;

impl<F: Field> BaseAir<F> for ByteAir {
    fn width(&self) -> usize {
        1
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        Some(RowMajorMatrix::new(
            (0..256u32).map(F::from_u32).collect(),
            1,
        ))
    }
    fn preprocessed_width(&self) -> usize {
        1
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for ByteAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let value = builder.preprocessed().current(0).unwrap();
        let mult = builder.main().current(0).unwrap();
        builder.push_interaction(BYTE_BUS, [value.into()], Count::provided(-mult.into()));
    }
}

// ---------------------------------------------------------------- enum wrapper
/// prove_batch takes `&[StarkInstance<SC, A>]` with ONE AIR type, so heterogeneous
/// tables need an enum. Every BaseAir method with a non-trivial default MUST be
/// forwarded (width, public values, preprocessed, *_next_row_columns, ...).
#[derive(Clone, Copy, Debug)]
pub enum CloakAir {
    Cpu(CpuAir),
    Add(AddAir),
    Byte(ByteAir),
}

macro_rules! fwd {
    ($self:ident, $a:ident => $e:expr) => {
        match $self {
            CloakAir::Cpu($a) => $e,
            CloakAir::Add($a) => $e,
            CloakAir::Byte($a) => $e,
        }
    };
}

impl<F: Field> BaseAir<F> for CloakAir {
    fn width(&self) -> usize {
        fwd!(self, a => BaseAir::<F>::width(a))
    }
    fn num_public_values(&self) -> usize {
        fwd!(self, a => BaseAir::<F>::num_public_values(a))
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        fwd!(self, a => BaseAir::<F>::preprocessed_trace(a))
    }
    fn preprocessed_width(&self) -> usize {
        fwd!(self, a => BaseAir::<F>::preprocessed_width(a))
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        fwd!(self, a => BaseAir::<F>::main_next_row_columns(a))
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        fwd!(self, a => BaseAir::<F>::preprocessed_next_row_columns(a))
    }
}

impl<AB: InteractionBuilder> Air<AB> for CloakAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        fwd!(self, a => a.eval(builder))
    }
}

// ---------------------------------------------------------------- trace generation
pub struct Traces<F> {
    pub cpu: RowMajorMatrix<F>,
    pub add: RowMajorMatrix<F>,
    pub byte: RowMajorMatrix<F>,
    pub cpu_pv: Vec<F>,
}

/// `n_ops` additions executed by the CPU (deterministic pseudo-random operands with
/// repeats so ADD multiplicities > 1 occur). Heights are padded to powers of two,
/// at least `min_height`.
pub fn generate_traces<F: PrimeField32>(
    n_ops: usize,
    pc_start: u32,
    min_height: usize,
) -> Traces<F> {
    let cpu_h = n_ops.next_power_of_two().max(min_height);
    let mut cpu = F::zero_vec(cpu_h * CPU_WIDTH);
    let mut ops: Vec<(u32, u32)> = Vec::with_capacity(n_ops);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in 0..n_ops {
        if i % 4 == 3 {
            ops.push(ops[i - 1]); // repeat -> multiplicity 2
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ops.push((x as u32, (x >> 32) as u32));
        }
    }
    for r in 0..cpu_h {
        let row = &mut cpu[r * CPU_WIDTH..(r + 1) * CPU_WIDTH];
        row[0] = F::from_u32(pc_start + r as u32);
        if r < n_ops {
            let (a, b) = ops[r];
            row[1] = F::ONE;
            row[2] = F::from_u32(a);
            row[3] = F::from_u32(b);
            row[4] = F::from_u32(a.wrapping_add(b));
        }
    }
    // ADD table: unique (a, b) with multiplicities
    let mut uniq: Vec<((u32, u32), u32)> = Vec::new();
    {
        let mut sorted = ops.clone();
        sorted.sort_unstable();
        for op in sorted {
            match uniq.last_mut() {
                Some((o, m)) if *o == op => *m += 1,
                _ => uniq.push((op, 1)),
            }
        }
    }
    let add_h = uniq.len().next_power_of_two().max(min_height);
    let mut add = F::zero_vec(add_h * ADD_WIDTH);
    let mut byte_mult = [0u32; 256];
    for r in 0..add_h {
        let ((a, b), m) = uniq.get(r).copied().unwrap_or(((0, 0), 0));
        let c = a.wrapping_add(b);
        let row = &mut add[r * ADD_WIDTH..(r + 1) * ADD_WIDTH];
        let mut carry = 0u32;
        for i in 0..4 {
            let (ai, bi, ci) = (
                (a >> (8 * i)) & 0xff,
                (b >> (8 * i)) & 0xff,
                (c >> (8 * i)) & 0xff,
            );
            let s = ai + bi + carry;
            carry = s >> 8;
            row[A0 + i] = F::from_u32(ai);
            row[B0 + i] = F::from_u32(bi);
            row[C0 + i] = F::from_u32(ci);
            row[K0 + i] = F::from_u32(carry);
            for v in [ai, bi, ci] {
                byte_mult[v as usize] += 1;
            }
        }
        row[MULT] = F::from_u32(m);
    }
    let byte = RowMajorMatrix::new(byte_mult.iter().map(|&m| F::from_u32(m)).collect(), 1);
    Traces {
        cpu: RowMajorMatrix::new(cpu, CPU_WIDTH),
        add: RowMajorMatrix::new(add, ADD_WIDTH),
        byte,
        cpu_pv: vec![
            F::from_u32(pc_start),
            F::from_u32(pc_start + cpu_h as u32 - 1),
        ],
    }
}

/// Tamper helpers (column indices exported for the tests).
pub mod cols {
    pub const CPU_C: usize = 4;
    pub const ADD_C0: usize = super::C0;
}
