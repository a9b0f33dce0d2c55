//! The quotient's size under sparse trace masks
//! (`p3_batch_stark::symbolic::masked_log_num_quotient_chunks`, vendored):
//! against its bound worked by hand for Cloak's masks, and against its
//! definition, the smallest quotient domain that holds the quotient's
//! coefficients.

use cloak_prover::config::FriSettings;
use p3_batch_stark::symbolic::{
    masked_log_num_quotient_chunks as chunks, masked_log_num_quotient_chunks_tall as tall,
    masked_packing_budget,
};

const MASK: usize = FriSettings::DEFAULT.trace_mask_len();

#[test]
fn cloaks_masks_are_190_coefficients() {
    assert_eq!(MASK, 190);
}

#[test]
fn worked_cases() {
    // Degree 3, h = 512: 3 * 701 + 2 - 512 + 1 = 1594 coefficients <= 2048.
    assert_eq!(chunks(3, 512, MASK), 1);
    // h = 256: 3 * 445 + 2 - 256 + 1 = 1082 > 1024.
    assert_eq!(chunks(3, 256, MASK), 2);
    // Degree 4, h = 1024: 4 * 1213 + 2 - 1024 + 1 = 3831 <= 4096; h = 512: 2295 > 2048.
    assert_eq!(chunks(4, 1024, MASK), 1);
    assert_eq!(chunks(4, 512, MASK), 2);
    // Degree 2 keeps upstream's smallest ZK quotient domain (4h); degree 5 needs 8h.
    assert_eq!(chunks(2, 1 << 19, MASK), 1);
    assert_eq!(chunks(5, 1 << 19, MASK), 2);
    // Upstream's doubled-trace model gives degree 3 and 4 two (k = 2) at every height.
    assert_eq!(chunks(3, 1 << 19, MASK), 1);
    assert_eq!(chunks(4, 1 << 19, MASK), 1);
}

#[test]
fn the_smallest_domain_that_holds_the_quotient() {
    for degree in 1..=9usize {
        for log_h in 0..=24 {
            let h = 1u128 << log_h;
            // A constraint of degree `degree` in columns of degree h + MASK - 1,
            // with two transition selectors, divided by X^h - 1.
            let quotient_len = (degree as u128 * (h + MASK as u128 - 1) + 2).saturating_sub(h) + 1;
            let k = chunks(degree, 1 << log_h, MASK);
            let floor = usize::from(degree >= 2);
            assert!(quotient_len <= (2 * h) << k, "degree {degree}, h 2^{log_h}");
            assert!(
                k == floor || quotient_len > (2 * h) << (k - 1),
                "degree {degree}, h 2^{log_h}: a smaller domain holds it"
            );
            if log_h >= 14 {
                assert_eq!(k, tall(degree), "degree {degree}, h 2^{log_h}");
            }
        }
    }
}

#[test]
fn packing_fills_a_tall_tables_bucket_and_no_more() {
    for degree in 1..=9usize {
        let budget = masked_packing_budget(tall(degree));
        assert!(budget >= degree, "degree {degree}");
        assert_eq!(tall(budget), tall(degree), "degree {degree}");
        assert!(tall(budget + 1) > tall(degree), "degree {degree}");
    }
    assert_eq!(masked_packing_budget(1), 4);
}
