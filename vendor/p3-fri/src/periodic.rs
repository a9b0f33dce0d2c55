//! Two-adic periodic column evaluator.
//!
//! This module provides `TwoAdicPeriodicEvaluator` for evaluating periodic columns
//! in two-adic STARK proofs. The implementation supports:
//!
//! - `eval_on_lde`: Evaluates periodic columns on the LDE domain using FFT extrapolation.
//!   All columns are padded to the maximum period, creating a rectangular matrix that
//!   stores only `max_period × blowup` rows with modular indexing for O(1) lookup.
//!
//! - `eval_at_point`: Evaluates periodic columns at arbitrary points using Lagrange
//!   interpolation. This is used by the verifier.
//!
//! ## Memory Efficiency
//!
//! Instead of materializing the full LDE-sized table, we store only `max_period × blowup`
//! rows. For a trace of size 2^20 with period-4 columns and blowup 4, this means storing
//! 16 rows instead of 4M rows per column.
//!
//! ## Complexity
//!
//! - `eval_on_lde`: O(max_period × blowup × log(max_period × blowup)) for FFT extrapolation,
//!   then O(1) per LDE point lookup using modular indexing.
//!
//! - `eval_at_point`: O(period) per column using direct Lagrange interpolation.
//!
//! Note: The current `eval_at_point` implementation is not optimized for multiple columns
//! with the same period. The Lagrange basis evaluations (or barycentric weights) at `point`
//! could be computed once per distinct period and reused across columns sharing that period.

use alloc::vec::Vec;

use p3_commit::{PeriodicColumns, PeriodicEvaluator, PeriodicLdeTable};
use p3_dft::TwoAdicSubgroupDft;
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::{ExtensionField, TwoAdicField};
use p3_matrix::dense::RowMajorMatrix;
use p3_util::log2_strict_usize;

/// Build the compact periodic LDE table using the two-adic evaluator.
///
/// `dft` is the caller's configured DFT engine, reused here so its memoized twiddle
/// cache isn't discarded in favor of a freshly conjured `Dft::default()`.
pub fn build_periodic_lde_table_two_adic<F, Dft>(
    dft: &Dft,
    periodic_table: &[Vec<F>],
    trace_domain: &TwoAdicMultiplicativeCoset<F>,
    lde_domain: &TwoAdicMultiplicativeCoset<F>,
) -> PeriodicLdeTable<F>
where
    F: TwoAdicField,
    Dft: TwoAdicSubgroupDft<F>,
{
    TwoAdicPeriodicEvaluator::eval_on_lde_with_dft(dft, periodic_table, trace_domain, lde_domain)
}

/// Evaluates periodic polynomials for two-adic multiplicative cosets.
///
/// For a periodic column with period `p` and trace length `n`, the periodic values
/// repeat every `n/p` rows. To evaluate at an arbitrary point `ζ`:
/// 1. Project `ζ` to the periodic subdomain: `ζ_periodic = ζ^(n/p)`
/// 2. Evaluate the degree-(p-1) polynomial at `ζ_periodic`
#[derive(Clone, Default)]
pub struct TwoAdicPeriodicEvaluator<Dft> {
    _phantom: core::marker::PhantomData<Dft>,
}

impl<Dft> TwoAdicPeriodicEvaluator<Dft> {
    /// Same as [`PeriodicEvaluator::eval_on_lde`], but reuses the given DFT engine instead
    /// of conjuring a fresh `Dft::default()`, preserving its memoized twiddle cache.
    pub fn eval_on_lde_with_dft<F>(
        dft: &Dft,
        periodic_table: &[Vec<F>],
        trace_domain: &TwoAdicMultiplicativeCoset<F>,
        lde_domain: &TwoAdicMultiplicativeCoset<F>,
    ) -> PeriodicLdeTable<F>
    where
        F: TwoAdicField,
        Dft: TwoAdicSubgroupDft<F>,
    {
        let trace_len = trace_domain.size();
        let lde_len = lde_domain.size();
        assert!(
            lde_len >= trace_len,
            "LDE domain size ({lde_len}) must be >= trace domain size ({trace_len})",
        );
        assert!(
            lde_len.is_multiple_of(trace_len),
            "LDE domain size ({lde_len}) must be divisible by trace domain size ({trace_len})",
        );
        let lde_shift = lde_domain.shift();
        let blowup = lde_len / trace_len;
        assert!(
            blowup.is_power_of_two(),
            "blowup factor ({blowup}) must be a power of two",
        );
        let log_blowup = log2_strict_usize(blowup);

        // A malformed declaration is a bug in the AIR the prover was handed, not proof data.
        let periodic_table =
            PeriodicColumns::new(periodic_table, trace_len).unwrap_or_else(|err| panic!("{err}"));

        // No declared column means no table, and no longest period to pad up to.
        let Some(max_period) = periodic_table.max_period() else {
            return PeriodicLdeTable::empty();
        };

        let extended_height = max_period
            .checked_mul(blowup)
            .expect("extended height overflow when computing max_period * blowup");
        let num_cols = periodic_table.len();
        let row_major_capacity = extended_height
            .checked_mul(num_cols)
            .expect("row-major periodic table capacity overflow");

        // Compute the shift for the periodic subdomain at max_period.
        // This aligns the periodic domain with the LDE domain so modular indexing works.
        //
        // Divisibility holds by construction: lde_len = blowup * trace_len.
        // extended_height = blowup * max_period, and max_period divides trace_len.
        // So extended_height divides lde_len.
        let periodic_shift = lde_shift.exp_u64((lde_len / extended_height) as u64);

        // Process each column: pad to max_period, then extrapolate
        // Build the result in column-major order first, then transpose to row-major
        let mut columns: Vec<Vec<F>> = Vec::with_capacity(num_cols);

        for col in periodic_table.as_slice() {
            let period = col.len();

            // Pad column to max_period by repeating values
            let padded: Vec<F> = if period == max_period {
                col.clone()
            } else {
                (0..max_period).map(|i| col[i % period]).collect()
            };

            // Extrapolate to extended_height using DFT
            let extended = dft.coset_lde(padded, log_blowup, periodic_shift);
            columns.push(extended);
        }

        // Convert from column-major to row-major storage
        let mut row_major_values = Vec::with_capacity(row_major_capacity);
        for row_idx in 0..extended_height {
            for col in &columns {
                row_major_values.push(col[row_idx]);
            }
        }

        PeriodicLdeTable::new(RowMajorMatrix::new(row_major_values, num_cols))
    }
}

impl<F, Dft> PeriodicEvaluator<F, TwoAdicMultiplicativeCoset<F>> for TwoAdicPeriodicEvaluator<Dft>
where
    F: TwoAdicField,
    Dft: TwoAdicSubgroupDft<F> + Default,
{
    fn eval_on_lde(
        periodic_table: &[Vec<F>],
        trace_domain: &TwoAdicMultiplicativeCoset<F>,
        lde_domain: &TwoAdicMultiplicativeCoset<F>,
    ) -> PeriodicLdeTable<F> {
        Self::eval_on_lde_with_dft(&Dft::default(), periodic_table, trace_domain, lde_domain)
    }

    fn eval_at_point<EF: ExtensionField<F>>(
        periodic_table: &[Vec<F>],
        trace_domain: &TwoAdicMultiplicativeCoset<F>,
        point: EF,
    ) -> Vec<EF> {
        let trace_len = trace_domain.size();

        // A malformed declaration is a bug in the AIR, so there is no proof-shape error to raise.
        let periodic_table =
            PeriodicColumns::new(periodic_table, trace_len).unwrap_or_else(|err| panic!("{err}"));

        periodic_table
            .as_slice()
            .iter()
            .map(|col| {
                let period = col.len();

                // Project point to periodic subdomain: ζ^(n/p)
                let periodic_point = point.exp_u64((trace_len / period) as u64);

                // Evaluate the periodic polynomial at the projected point
                eval_periodic_poly(col, periodic_point)
            })
            .collect()
    }
}

/// Evaluate a periodic polynomial at a single point using Lagrange interpolation.
///
/// The polynomial is the unique degree-(period-1) polynomial that interpolates
/// the given values over the subgroup of size `period`.
fn eval_periodic_poly<F: TwoAdicField, EF: ExtensionField<F>>(values: &[F], point: EF) -> EF {
    let period = values.len();
    if period == 0 {
        return EF::ZERO;
    }
    if period == 1 {
        return EF::from(values[0]);
    }

    let log_period = log2_strict_usize(period);
    let omega = F::two_adic_generator(log_period);

    // Compute Lagrange interpolation at `point`
    // L_i(x) = ∏_{j≠i} (x - ω^j) / (ω^i - ω^j)
    //
    // For efficiency, use the formula:
    // p(x) = (x^n - 1) / n * Σ_i (v_i / (x - ω^i))
    // where n = period, ω is the primitive n-th root of unity

    let n = EF::from_usize(period);
    let x_n_minus_1 = point.exp_u64(period as u64) - EF::ONE;

    // Handle case where point is on the subgroup (x^n - 1 = 0)
    // In this case, return the value at that point directly
    if x_n_minus_1.is_zero() {
        // Find which root of unity `point` equals
        let mut omega_i = F::ONE;
        for &val in values.iter() {
            if point == EF::from(omega_i) {
                return EF::from(val);
            }
            omega_i *= omega;
        }
        // If we get here, something is wrong
        return EF::ZERO;
    }

    // Compute Σ_i (v_i * ω^i / (x - ω^i))
    // Derived from Lagrange interpolation: L_i(x) = (x^n - 1) / (n * ω^{i(n-1)} * (x - ω^i))
    // Since ω^{-i(n-1)} = ω^i (as ω^n = 1), we get factor ω^i
    let mut sum = EF::ZERO;
    let mut omega_i = F::ONE;
    for &val in values.iter() {
        let denom = point - omega_i;
        // denom should be non-zero since x^n - 1 ≠ 0
        sum += denom.inverse() * val * omega_i;
        omega_i *= omega;
    }

    x_n_minus_1 * sum / n
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use p3_baby_bear::BabyBear;
    use p3_dft::Radix2Dit;
    use p3_field::{Field, PrimeCharacteristicRing};

    use super::*;

    type F = BabyBear;

    #[test]
    fn test_eval_periodic_poly_constant() {
        // Constant polynomial: all values are 5
        let values = vec![F::from_u64(5); 4];
        let point = F::from_u64(7);
        let result = eval_periodic_poly(&values, point);
        assert_eq!(result, F::from_u64(5));
    }

    #[test]
    fn test_eval_periodic_poly_at_roots() {
        // Values at roots of unity should interpolate correctly
        let values: Vec<F> = vec![1, 2, 3, 4].into_iter().map(F::from_u64).collect();
        let omega = F::two_adic_generator(2); // 4th root of unity

        for (i, &expected) in values.iter().enumerate() {
            let point = omega.exp_u64(i as u64);
            let result = eval_periodic_poly(&values, point);
            assert_eq!(result, expected, "Failed at root index {}", i);
        }
    }

    // Trace domain of 8 points, blown up by 2 to a 16-point LDE domain.
    fn domains() -> (TwoAdicMultiplicativeCoset<F>, TwoAdicMultiplicativeCoset<F>) {
        let trace = TwoAdicMultiplicativeCoset::new(F::ONE, 3).unwrap();
        let lde = TwoAdicMultiplicativeCoset::new(F::GENERATOR, 4).unwrap();
        (trace, lde)
    }

    // Three values are not the evaluations of a polynomial over a two-adic subgroup.
    //
    //     trace domain: 8 points
    //     column:       [1, 2, 3]  -> no subgroup of order 3 exists
    //
    // The table build extrapolates by DFT, which needs that subgroup, so it must refuse.
    #[test]
    #[should_panic(expected = "periodic column 0 has length 3, which is not a power of two")]
    fn lde_table_rejects_a_non_power_of_two_column() {
        let (trace, lde) = domains();
        let table = vec![vec![F::ONE, F::TWO, F::from_u64(3)]];

        TwoAdicPeriodicEvaluator::eval_on_lde_with_dft(&Radix2Dit::default(), &table, &trace, &lde);
    }

    // Sixteen values over an 8-point trace domain.
    //
    //     [v_0,...,v_7 | v_8,...,v_15]  <- only the first half would ever be read
    //
    // Projecting the opening point raises it to the power trace_len / period, which is not an
    // integer here, so the point-wise evaluation must refuse as well.
    #[test]
    #[should_panic(
        expected = "periodic column 0 has length 16, which does not divide the trace height 8"
    )]
    fn point_evaluation_rejects_a_column_longer_than_the_trace() {
        let (trace, _) = domains();
        let table = vec![vec![F::ONE; 16]];

        <TwoAdicPeriodicEvaluator<Radix2Dit<F>> as PeriodicEvaluator<
            F,
            TwoAdicMultiplicativeCoset<F>,
        >>::eval_at_point::<F>(&table, &trace, F::from_u64(7));
    }
}
