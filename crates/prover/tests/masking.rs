//! The hiding PCS's sparse trace masks (vendored p3-fri, `masked_trace_lde`):
//! the committed polynomial of each trace column equals the trace on the
//! trace domain, has degree below `h + k`, and differs from the unmasked
//! one everywhere else the proof can look; the random codewords have full
//! degree.

use cloak_prover::config::{Dft, FriSettings, Val, NUM_RANDOM_CODEWORDS};
use p3_dft::TwoAdicSubgroupDft;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_fri::{masked_trace_lde, trace_mask_draws};
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

const NRC: usize = NUM_RANDOM_CODEWORDS;

/// The coefficients (natural order) of the committed polynomials, from the
/// bit-reversed LDE on `GENERATOR * K`.
fn coefficients(lde: RowMajorMatrix<Val>) -> RowMajorMatrix<Val> {
    let natural = lde.bit_reverse_rows().to_row_major_matrix();
    Dft::default().coset_idft_batch(natural, Val::GENERATOR)
}

fn masked(h: usize, w: usize, k: usize, seed: u64) -> (RowMajorMatrix<Val>, RowMajorMatrix<Val>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let trace = RowMajorMatrix::<Val>::rand(&mut rng, h, w);
    let random: Vec<Val> = (0..trace_mask_draws(h, w, NRC, k))
        .map(|_| rng.random())
        .collect();
    let lde = masked_trace_lde(
        &Dft::default(),
        trace.clone(),
        &random,
        NRC,
        k,
        1,
        Val::GENERATOR,
    );
    (trace, lde)
}

#[test]
fn masked_columns_equal_the_trace_on_its_domain_and_stay_below_h_plus_k() {
    let (h, w, k) = (256, 5, FriSettings::DEFAULT.trace_mask_len());
    assert!(k <= h);
    let (trace, lde) = masked(h, w, k, 1);
    assert_eq!((lde.height(), lde.width()), (4 * h, w + NRC));
    let coeffs = coefficients(lde);
    for c in 0..w + NRC {
        let col: Vec<Val> = (0..4 * h)
            .map(|j| coeffs.values[j * (w + NRC) + c])
            .collect();
        let degree = col.iter().rposition(|v| *v != Val::ZERO).unwrap_or(0);
        if c < w {
            // Masked, and no more than k coefficients above the trace's.
            assert!(degree >= h, "column {c} is not masked");
            assert!(degree < h + k, "column {c} has degree {degree}");
        } else {
            assert!(
                degree > h + k,
                "random codeword {c} has degree {degree} only"
            );
            assert!(degree < 2 * h);
        }
        if c < w {
            // On the size-h subgroup X^h = 1: fold the coefficients.
            let folded: Vec<Val> = (0..h).map(|j| col[j] + col[j + h]).collect();
            let on_domain = Dft::default().dft(folded);
            let want: Vec<Val> = (0..h).map(|i| trace.values[i * w + c]).collect();
            assert_eq!(
                on_domain, want,
                "column {c} differs from the trace on its domain"
            );
        }
    }
}

#[test]
fn another_mask_changes_every_opened_row() {
    let (h, w, k) = (256, 3, FriSettings::DEFAULT.trace_mask_len());
    let (t1, a) = masked(h, w, k, 2);
    // The same trace, other masks.
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let random: Vec<Val> = (0..trace_mask_draws(h, w, NRC, k))
        .map(|_| rng.random())
        .collect();
    let b = masked_trace_lde(&Dft::default(), t1, &random, NRC, k, 1, Val::GENERATOR);
    // f - f' = (X^h - 1)(r - r'), of degree below h + k, vanishes at most
    // at h + k - 1 of the 4h points; in practice at none.
    let differing = (0..a.height())
        .filter(|&i| (0..w).all(|c| a.values[i * (w + NRC) + c] != b.values[i * (w + NRC) + c]))
        .count();
    assert!(differing > 4 * h - (h + k), "{differing} rows differ");
}

#[test]
fn masks_need_a_trace_at_least_as_tall() {
    let (h, w) = (64, 2);
    let k = FriSettings::DEFAULT.trace_mask_len();
    let trace = RowMajorMatrix::new(vec![Val::ONE; h * w], w);
    let random = vec![Val::ONE; trace_mask_draws(h, w, NRC, k)];
    let lde = std::panic::catch_unwind(|| {
        masked_trace_lde(&Dft::default(), trace, &random, NRC, k, 1, Val::GENERATOR)
    });
    assert!(lde.is_err());
}

/// The masks are sized for two opening points: the PCS opens a committed
/// trace at two (what a proof asks) and refuses three with an error.
#[test]
fn a_trace_commitment_opens_at_two_points_and_refuses_three() {
    use cloak_prover::challenger::DetChallenger;
    use cloak_prover::config::{seeded_config, Challenge, Pcs};
    use p3_commit::OpeningRequest;
    use p3_koala_bear::default_koalabear_poseidon2_16;
    use p3_uni_stark::StarkGenericConfig;

    let fri = FriSettings::DEFAULT;
    let h = 256;
    let points = |n: usize| -> Vec<Challenge> {
        (0..n)
            .map(|i| Challenge::from(Val::from_u32(1_000_003 + i as u32)))
            .collect()
    };
    for (n, ok) in [(2usize, true), (3, false)] {
        let config = seeded_config(fri, [7; 32]);
        let pcs: &Pcs = config.pcs();
        let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
        let trace = RowMajorMatrix::<Val>::rand(&mut rng, h, 3);
        let domain = <Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::natural_domain_for_degree(
            pcs,
            2 * h,
        );
        let (_, data) =
            <Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::commit(pcs, [(domain, trace)])
                .unwrap();
        let mut challenger = DetChallenger::new(default_koalabear_poseidon2_16());
        let opened = <Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::open(
            pcs,
            vec![OpeningRequest {
                prover_data: &data,
                points: vec![points(n)],
            }],
            &mut challenger,
        );
        match opened {
            Ok(_) => assert!(ok, "{n} points opened"),
            Err(e) => {
                assert!(!ok, "{n} points refused: {e}");
                assert!(e.to_string().contains("hiding budget"), "{e}");
            }
        }
    }
}

/// `masked_trace_lde` sets the masks in the DFT's hook, which sees the
/// coefficients bit-reversed (Plonky3's parallel DFT, the config's) or in
/// natural order (the trait's default, as `Radix2Dit` runs it): both give
/// the same rows.
#[test]
fn both_coefficient_layouts_give_the_same_lde() {
    let (h, w, k) = (512, 7, FriSettings::DEFAULT.trace_mask_len());
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let trace = RowMajorMatrix::<Val>::rand(&mut rng, h, w);
    let random: Vec<Val> = (0..trace_mask_draws(h, w, NRC, k))
        .map(|_| rng.random())
        .collect();
    let parallel = masked_trace_lde(
        &Dft::default(),
        trace.clone(),
        &random,
        NRC,
        k,
        1,
        Val::GENERATOR,
    );
    let plain = masked_trace_lde(
        &p3_dft::Radix2Dit::<Val>::default(),
        trace,
        &random,
        NRC,
        k,
        1,
        Val::GENERATOR,
    );
    assert_eq!(parallel.values, plain.values);
}

/// Preprocessed tables are public and committed unmasked as their own
/// interpolants (degree below `h`), which the masked quotient sizing counts
/// them as; upstream's zero rows would commit `C (1 + X^h) / 2`, of degree
/// up to `2h - 1`.
#[test]
fn a_preprocessed_table_is_committed_as_its_own_interpolant() {
    use cloak_prover::challenger::DetChallenger;
    use cloak_prover::config::{seeded_config, Challenge, Pcs};
    use p3_commit::PolynomialSpace;
    use p3_uni_stark::StarkGenericConfig;

    let (h, w) = (256, 3);
    let config = seeded_config(FriSettings::DEFAULT, [5; 32]);
    let pcs: &Pcs = config.pcs();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let table = RowMajorMatrix::<Val>::rand(&mut rng, h, w);
    let domain =
        <Pcs as p3_commit::Pcs<Challenge, DetChallenger>>::natural_domain_for_degree(pcs, 2 * h);
    let (_, data) =
        <Pcs as p3_commit::UnivariateStarkPcs<Challenge, DetChallenger>>::commit_preprocessing(
            pcs,
            [(domain, table.clone())],
        )
        .unwrap();
    // The committed LDE on GENERATOR * K_4h, natural order, and its coefficients.
    let lde_domain = domain.create_disjoint_domain(4 * h);
    let on_lde = <Pcs as p3_commit::UnivariateStarkPcs<Challenge, DetChallenger>>::get_evaluations_on_domain_no_random(
        pcs, &data, 0, lde_domain,
    )
    .to_row_major_matrix();
    assert_eq!(on_lde.width(), w, "no random columns");
    let coeffs = Dft::default().coset_idft_batch(on_lde, lde_domain.shift());
    let want = Dft::default().idft_batch(table);
    for c in 0..w {
        for j in 0..4 * h {
            let got = coeffs.values[j * w + c];
            let expected = if j < h {
                want.values[j * w + c]
            } else {
                Val::ZERO
            };
            assert_eq!(got, expected, "column {c}, coefficient {j}");
        }
    }
}
