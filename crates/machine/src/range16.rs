//! Range16: provides `range16(x)` for every `x` in `0..2^16`.
//!
//! The values are a preprocessed column (fixed by the verifying key, so a prover
//! cannot change them); the only witness is how often each was looked up.

use crate::bus::RANGE16_BUS;
use crate::event::Multiplicities;
use cloak_prover::Val;
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// log2 of the table's height.
pub const LOG_HEIGHT: usize = 16;
/// Main columns: the multiplicity.
pub const WIDTH: usize = 1;

#[derive(Clone, Copy, Debug, Default)]
pub struct Range16Air;

impl<F: Field> BaseAir<F> for Range16Air {
    fn width(&self) -> usize {
        WIDTH
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        Some(RowMajorMatrix::new(
            (0..1u32 << LOG_HEIGHT).map(F::from_u32).collect(),
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

impl<AB: InteractionBuilder> Air<AB> for Range16Air
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        // Widths are fixed by `BaseAir` above, so these rows have one column each.
        let value = builder.preprocessed().current_slice()[0];
        let mult = builder.main().current_slice()[0];
        // A table multiplicity: excluded from the LogUp height check, which
        // bounds the senders' side instead.
        builder.push_interaction(RANGE16_BUS, [value.into()], Count::provided(-mult.into()));
    }
}

/// The multiplicity column from the counted `range16` sends.
pub fn trace(mults: &mut Multiplicities) -> RowMajorMatrix<Val> {
    use rayon::prelude::*;
    mults.settle();
    RowMajorMatrix::new(
        mults
            .range16
            .par_iter()
            .map(|&m| Val::from_u64(m))
            .collect(),
        WIDTH,
    )
}
