//! Operation flags shared by the chips: one boolean column per operation a
//! chip handles, at most one set per row (padding rows have none).

use p3_air::AirBuilder;
use p3_field::PrimeCharacteristicRing;

/// Constrains every flag to be boolean and their sum to be boolean, so at most
/// one is set, and returns the sum: 1 on rows that hold an operation, 0 on
/// padding rows (which then send and receive nothing).
pub fn assert_at_most_one<AB: AirBuilder>(builder: &mut AB, flags: &[AB::Var]) -> AB::Expr {
    let mut is_real = AB::Expr::ZERO;
    for &flag in flags {
        builder.assert_bool(flag);
        is_real += flag.into();
    }
    builder.assert_bool(is_real.clone());
    is_real
}
