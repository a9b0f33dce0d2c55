//! Shift: one row per SLL, SRL or SRA (and SLLI, SRLI, SRAI), receiving
//! `alu(op, a, b, c)` with `a = b << s`, `b >> s` (logical) or `b >> s`
//! (arithmetic), where `s = c mod 32` (RISC-V ignores the rest of `c`).
//!
//! `b` is decomposed into 32 boolean columns and the shift amount into 32
//! one-hot columns; each output limb is a fixed sum over (amount, bit) pairs.
//!
//! Why a malicious prover cannot claim a wrong `a`:
//! - `b`'s bit columns are booleans that sum (with weights `2^i`) to `b_lo` and
//!   `b_hi`; both sides are below 2^16 < p, so the bits are `b`'s bits.
//! - The one-hot columns are booleans summing to `is_real`, so a real row has
//!   exactly one, `s`, and `c_lo = s + 32 * k` with `k` range-checked below
//!   2^16: the right side is below 32 + 2^21 < p, so the equation holds in the
//!   integers and `s = c_lo mod 32 = c mod 32`. (`c_hi` only travels in the
//!   message; the sender range-checks `c`'s limbs, see `crate::bus`.)
//! - `fill = is_sra * b_31` is the bit shifted in from the left by right shifts.
//! - With the op flags booleans and at most one set, each real row's flag
//!   selects its equations: `a_lo` and `a_hi` equal `Σ_j onehot_j * Σ_i 2^i *
//!   (the bit that lands on output bit i for shift j)`, i.e. exactly the
//!   shifted word's limbs. These sums use distinct powers below 2^16 per limb,
//!   so `a`'s limbs are below 2^16 and need no range check.

use crate::bus::{limbs, ALU_BUS, RANGE16_BUS, SLL_ID, SRA_ID, SRL_ID};
use crate::event::{checked, AluEvent, Multiplicities, TraceError};
use crate::flags::assert_at_most_one;
use cloak_prover::{DeferredTrace, Val};
use cloak_vm::Opcode;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Column indices.
pub mod cols {
    pub const A_LO: usize = 0;
    pub const A_HI: usize = 1;
    pub const B_LO: usize = 2;
    pub const B_HI: usize = 3;
    pub const C_LO: usize = 4;
    pub const C_HI: usize = 5;
    /// `b`'s bits, least significant first (32 columns).
    pub const B_BITS: usize = 6;
    /// The shift amount one-hot: column `SHAMT + s` is 1 (32 columns).
    pub const SHAMT: usize = 38;
    /// `(c_lo - s) / 32`, range-checked.
    pub const K: usize = 70;
    /// The bit right shifts bring in: `b`'s sign bit for SRA, else 0.
    pub const FILL: usize = 71;
    pub const IS_SLL: usize = 72;
    pub const IS_SRL: usize = 73;
    pub const IS_SRA: usize = 74;
    /// `b << s` and `b >> s` (shifting in `fill`), limb by limb, on every
    /// row: so the flag-selected equations stay at degree 2.
    pub const SLL_LO: usize = 75;
    pub const SLL_HI: usize = 76;
    pub const SR_LO: usize = 77;
    pub const SR_HI: usize = 78;
}
pub const WIDTH: usize = 79;

#[derive(Clone, Copy, Debug, Default)]
pub struct ShiftAir;

impl<F> BaseAir<F> for ShiftAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for ShiftAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        // The width is fixed by `BaseAir` above.
        let r = builder.main().current_slice().to_vec();
        let flags = [r[IS_SLL], r[IS_SRL], r[IS_SRA]];
        // Flags: booleans with a boolean sum, so at most one is set; padding
        // rows have none.
        let is_real = assert_at_most_one(builder, &flags);

        // b's bits.
        let bits: Vec<AB::Var> = r[B_BITS..B_BITS + 32].to_vec();
        let pow = |i: usize| AB::Expr::from_u32(1 << i);
        let mut b_lo = AB::Expr::ZERO;
        let mut b_hi = AB::Expr::ZERO;
        for i in 0..16 {
            builder.assert_bool(bits[i]);
            builder.assert_bool(bits[16 + i]);
            b_lo += bits[i] * pow(i);
            b_hi += bits[16 + i] * pow(i);
        }
        builder.assert_eq(r[B_LO], b_lo);
        builder.assert_eq(r[B_HI], b_hi);

        // The shift amount: one-hot on real rows, c_lo = s + 32 k.
        let onehot: Vec<AB::Var> = r[SHAMT..SHAMT + 32].to_vec();
        let mut count = AB::Expr::ZERO;
        let mut shamt = AB::Expr::ZERO;
        for (j, &h) in onehot.iter().enumerate() {
            builder.assert_bool(h);
            count += h.into();
            shamt += h * AB::Expr::from_usize(j);
        }
        builder.assert_eq(count, is_real.clone());
        builder.assert_eq(r[C_LO], shamt + r[K] * AB::Expr::from_u32(32));

        builder.assert_eq(r[FILL], r[IS_SRA] * bits[31]);
        let fill = r[FILL];

        // The shifted limbs, for each amount j: output bit i is b's bit i - j
        // (left) or i + j (right, `fill` beyond bit 31).
        let left =
            |i: usize, j: usize| -> Option<AB::Expr> { (i >= j).then(|| bits[i - j].into()) };
        let right = |i: usize, j: usize| -> Option<AB::Expr> {
            Some(if i + j < 32 {
                bits[i + j].into()
            } else {
                fill.into()
            })
        };
        let shifted = |src: &dyn Fn(usize, usize) -> Option<AB::Expr>, half: usize| {
            let mut total = AB::Expr::ZERO;
            for (j, &h) in onehot.iter().enumerate() {
                let mut limb = AB::Expr::ZERO;
                for i in 0..16 {
                    if let Some(bit) = src(16 * half + i, j) {
                        limb += bit * pow(i);
                    }
                }
                total += limb * h;
            }
            total
        };
        let (sll_lo, sll_hi) = (shifted(&left, 0), shifted(&left, 1));
        let (sr_lo, sr_hi) = (shifted(&right, 0), shifted(&right, 1));
        builder.assert_eq(r[SLL_LO], sll_lo);
        builder.assert_eq(r[SLL_HI], sll_hi);
        builder.assert_eq(r[SR_LO], sr_lo);
        builder.assert_eq(r[SR_HI], sr_hi);
        let mut sll = builder.when(r[IS_SLL]);
        sll.assert_eq(r[A_LO], r[SLL_LO]);
        sll.assert_eq(r[A_HI], r[SLL_HI]);
        let mut sr = builder.when(r[IS_SRL] + r[IS_SRA]);
        sr.assert_eq(r[A_LO], r[SR_LO]);
        sr.assert_eq(r[A_HI], r[SR_HI]);

        let op: AB::Expr = [SLL_ID, SRL_ID, SRA_ID]
            .into_iter()
            .zip(flags)
            .map(|(id, flag)| flag * AB::Expr::from_u32(id))
            .sum();
        let message = [
            op,
            r[A_LO].into(),
            r[A_HI].into(),
            r[B_LO].into(),
            r[B_HI].into(),
            r[C_LO].into(),
            r[C_HI].into(),
        ];
        builder.push_interaction(ALU_BUS, message, Count::bounded(-is_real.clone(), 1));
        builder.push_interaction(RANGE16_BUS, [r[K].into()], Count::bounded(is_real, 1));
    }
}

/// The trace of SLL/SRL/SRA `events` and their immediate forms (others are an
/// error), padded with zero rows; counts the `range16` sends into `mults`.
pub fn trace(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    crate::rows::event_rows(events, WIDTH, min_height, mults, |event, row, mults| {
        let op = op_index(event)?;
        fill_row(event, op, row);
        mults.range16(shift_k(event.c));
        Ok(())
    })
}

/// 0, 1, 2 for SLL, SRL, SRA (others are an error, as is a wrong result).
fn op_index(event: &AluEvent) -> Result<u32, TraceError> {
    match checked(event)? {
        Opcode::Sll => Ok(0),
        Opcode::Srl => Ok(1),
        Opcode::Sra => Ok(2),
        _ => Err(TraceError::UnsupportedOpcode(event.opcode)),
    }
}

/// `k = c_lo >> 5`, the shift amount's range-checked rest.
fn shift_k(c: u32) -> u16 {
    ((c & 0xffff) >> 5) as u16
}

/// Fills the zeroed `row` of `event`, whose op is `op` ([`op_index`]).
/// `shift_expand` (crates/gpu/cuda/shift_rows.cu) writes the same cells.
fn fill_row(event: &AluEvent, op: u32, row: &mut [Val]) {
    use cols::*;
    let (a, b, c) = (limbs(event.a), limbs(event.b), limbs(event.c));
    for (cell, v) in row.iter_mut().zip([a.0, a.1, b.0, b.1, c.0, c.1]) {
        *cell = Val::from_u32(v);
    }
    for i in 0..32 {
        row[B_BITS + i] = Val::from_u32(event.b >> i & 1);
    }
    row[SHAMT + (c.0 & 31) as usize] = Val::ONE;
    row[K] = Val::from_u32(c.0 >> 5);
    let fill = op == 2 && event.b >> 31 == 1;
    row[FILL] = Val::from_bool(fill);
    row[IS_SLL + op as usize] = Val::ONE;
    let s = c.0 & 31;
    let sr = if fill {
        ((event.b as i32) >> s) as u32
    } else {
        event.b >> s
    };
    for (col, v) in [(SLL_LO, event.b << s), (SR_LO, sr)] {
        let (lo, hi) = limbs(v);
        row[col] = Val::from_u32(lo);
        row[col + 1] = Val::from_u32(hi);
    }
}

/// Columns of a row's inputs: the op ([`op_index`]) and `b`'s and `c`'s limbs.
pub mod inputs {
    pub const OP: usize = 0;
    pub const B_LO: usize = 1;
    pub const C_LO: usize = 3;
    pub const WIDTH: usize = 5;
}

/// The name [`ShiftRowInputs`] goes by as a [`DeferredTrace`].
pub const SHIFT_ROWS_KIND: &str = "cloak-machine/shift-rows-v1";

/// The Shift trace as its rows' inputs ([`inputs::WIDTH`] words an event),
/// for a backend that expands them on its device: `height` rows, the
/// events' and then zero rows.
#[derive(Clone, Debug)]
pub struct ShiftRowInputs {
    pub inputs: Vec<u32>,
    pub height: usize,
}

/// [`trace`]'s checks and lookups, with the rows' inputs instead of the
/// rows.
pub fn row_inputs(
    events: &[AluEvent],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<ShiftRowInputs, TraceError> {
    let height = crate::event::padded_height(events.len(), min_height)?;
    let len = events.len() * inputs::WIDTH;
    let mut words = cloak_prover::trace_buffers::take_words(len)
        .unwrap_or_else(|| cloak_prover::trace_buffers::values_into_words(crate::rows::fresh(len)));
    crate::rows::fill_chunks(
        &mut words,
        inputs::WIDTH,
        events.len(),
        mults,
        |first, rows, mults| {
            for (event, row) in events[first..]
                .iter()
                .zip(rows.chunks_exact_mut(inputs::WIDTH))
            {
                let (b, c) = (limbs(event.b), limbs(event.c));
                row.copy_from_slice(&[op_index(event)?, b.0, b.1, c.0, c.1]);
                mults.range16(shift_k(event.c));
            }
            Ok(())
        },
    )?;
    Ok(ShiftRowInputs {
        inputs: words,
        height,
    })
}

impl DeferredTrace for ShiftRowInputs {
    fn kind(&self) -> &'static str {
        SHIFT_ROWS_KIND
    }

    fn width(&self) -> usize {
        WIDTH
    }

    fn height(&self) -> usize {
        self.height
    }

    fn into_values(self: Box<Self>) -> RowMajorMatrix<Val> {
        use rayon::prelude::*;
        let rows = self.inputs.len() / inputs::WIDTH;
        let mut values = crate::rows::stale(self.height * WIDTH);
        let chunk = crate::rows::CHUNK_ROWS;
        values[..rows * WIDTH]
            .par_chunks_mut(chunk * WIDTH)
            .zip(self.inputs.par_chunks(chunk * inputs::WIDTH))
            .for_each(|(out, inputs)| {
                for (row, input) in out.chunks_exact_mut(WIDTH).zip(inputs.chunks_exact(5)) {
                    let op = [Opcode::Sll, Opcode::Srl, Opcode::Sra][input[0] as usize];
                    let (b, c) = (input[1] | input[2] << 16, input[3] | input[4] << 16);
                    let event = AluEvent::new(op, b, c).expect("a shift");
                    row.fill(Val::ZERO);
                    fill_row(&event, input[0], row);
                }
            });
        crate::rows::zero_rows_from(&mut values, WIDTH, rows);
        RowMajorMatrix::new(values, WIDTH)
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl Drop for ShiftRowInputs {
    /// The inputs' buffer goes back to the trace buffers' pool.
    fn drop(&mut self) {
        cloak_prover::trace_buffers::give_back_words(std::mem::take(&mut self.inputs));
    }
}
