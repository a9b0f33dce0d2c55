//! `air_enum!`: one AIR type over several tables. The batch prover takes a
//! slice of a single AIR type, so a machine (or a test) wraps its tables in an
//! enum; this macro writes that enum and forwards every `BaseAir` method with a
//! non-trivial default and `Air::eval`. Forwarding by hand invites a silent
//! bug: a missed method gives the enum the default (e.g. no preprocessed columns).

/// Declares an enum whose variants each hold one AIR, and implements `BaseAir`
/// and `Air` for it by forwarding to the variant.
#[macro_export]
macro_rules! air_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident($air:ty)),+ $(,)? }) => {
        $(#[$meta])*
        $vis enum $name {
            $($variant($air)),+
        }

        impl<F: $crate::air_enum::reexport::Field> $crate::air_enum::reexport::BaseAir<F> for $name {
            fn width(&self) -> usize {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::width(a)),+ }
            }
            fn num_public_values(&self) -> usize {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::num_public_values(a)),+ }
            }
            fn preprocessed_trace(&self) -> Option<$crate::air_enum::reexport::RowMajorMatrix<F>> {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::preprocessed_trace(a)),+ }
            }
            fn preprocessed_width(&self) -> usize {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::preprocessed_width(a)),+ }
            }
            fn main_next_row_columns(&self) -> Vec<usize> {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::main_next_row_columns(a)),+ }
            }
            fn preprocessed_next_row_columns(&self) -> Vec<usize> {
                match self { $($name::$variant(a) => $crate::air_enum::reexport::BaseAir::<F>::preprocessed_next_row_columns(a)),+ }
            }
        }

        impl<AB: $crate::air_enum::reexport::InteractionBuilder> $crate::air_enum::reexport::Air<AB> for $name
        where
            AB::F: $crate::air_enum::reexport::Field,
        {
            fn eval(&self, builder: &mut AB) {
                match self { $($name::$variant(a) => a.eval(builder)),+ }
            }
        }
    };
}

/// What the macro's expansion names, so users need not depend on these crates.
#[doc(hidden)]
pub mod reexport {
    pub use p3_air::{Air, BaseAir};
    pub use p3_field::Field;
    pub use p3_lookup::InteractionBuilder;
    pub use p3_matrix::dense::RowMajorMatrix;
}
