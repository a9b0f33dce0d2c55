//! Poseidon2 over KoalaBear (width 16, the challenger's) on the device, with
//! exactly the constants of `default_koalabear_poseidon2_16`: the
//! proof-of-work search and its checks. (The Merkle trees hash with BLAKE3,
//! [`crate::blake3`]; width 24, their leaf sponge until stop 24, is gone.)
//!
//! The round constants are read from p3-koala-bear's public tables at run
//! time and the internal-layer diagonals are measured from p3's generic
//! internal linear layer (applied to unit vectors), then written into the
//! kernel source as `__constant__` arrays before NVRTC compiles it; nothing is
//! retyped. The structure of the permutation is in cuda/poseidon2.cu.

use std::fmt::Write;

use cloak_prover::config::Val;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_koala_bear::{
    GenericPoseidon2LinearLayersKoalaBear, KOALABEAR_POSEIDON2_HALF_FULL_ROUNDS,
    KOALABEAR_POSEIDON2_PARTIAL_ROUNDS_16, KOALABEAR_POSEIDON2_RC_16_EXTERNAL_FINAL,
    KOALABEAR_POSEIDON2_RC_16_EXTERNAL_INITIAL, KOALABEAR_POSEIDON2_RC_16_INTERNAL,
};
use p3_poseidon2::GenericPoseidon2LinearLayers;

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{as_raw, from_raw};

/// The diagonal V of the internal matrix 1 + Diag(V), read off Plonky3's
/// internal linear layer: column j of the matrix is `1 + V_j e_j`.
pub fn internal_diagonal<const W: usize>() -> [Val; W]
where
    GenericPoseidon2LinearLayersKoalaBear: GenericPoseidon2LinearLayers<W>,
{
    std::array::from_fn(|j| {
        let mut col = [Val::ZERO; W];
        col[j] = Val::ONE;
        GenericPoseidon2LinearLayersKoalaBear::internal_linear_layer(&mut col);
        for (i, &c) in col.iter().enumerate() {
            if i != j {
                assert_eq!(c, Val::ONE, "internal layer is not 1 + Diag(V)");
            }
        }
        col[j] - Val::ONE
    })
}

fn push_array(out: &mut String, name: &str, values: &[Val]) {
    write!(out, "__constant__ u32 {name}[{}] = {{", values.len()).unwrap();
    for (i, v) in as_raw(values).iter().enumerate() {
        if i % 8 == 0 {
            out.push_str("\n    ");
        }
        write!(out, "{v:#010x}u, ").unwrap();
    }
    out.push_str("\n};\n");
}

/// The CUDA expression for `v · x` where `x` is the expression `x`: the
/// diagonals are chosen (by Plonky3) from small integers and powers of 1/2
/// with either sign, so most products need no multiplication. Returns the
/// expression for `|v| · x` and whether `v` is negative.
fn times_const(v: Val, x: &str) -> (String, bool) {
    let two_inv = Val::TWO.inverse();
    for (mag, neg) in [(v, false), (-v, true)] {
        let small = [
            (Val::ONE, x.to_string()),
            (Val::TWO, format!("kb_double({x})")),
            (Val::from_u8(3), format!("kb_mul_w({x})")),
            (Val::from_u8(4), format!("kb_double(kb_double({x}))")),
        ];
        if let Some((_, e)) = small.iter().find(|(c, _)| *c == mag) {
            return (e.clone(), neg);
        }
        // 1/2^k, k <= 24: the division needs p = 1 mod 2^k.
        if let Some(k) = (1..=24u32).find(|&k| two_inv.exp_u64(k as u64) == mag) {
            return (format!("kb_div_2exp({x}, {k})"), neg);
        }
    }
    (format!("kb_mul({:#010x}u, {x})", as_raw(&[v])[0]), false)
}

/// `p2_internal<W>(s, sum)`: `s_i <- sum + V_i s_i` for every i, with the
/// product by each `V_i` written out ([`times_const`]).
fn push_internal_layer(out: &mut String, width: usize, diag: &[Val]) {
    writeln!(
        out,
        "template <> __device__ __forceinline__ void p2_internal<{width}>(u32* s, u32 sum) {{"
    )
    .unwrap();
    for (i, &v) in diag.iter().enumerate() {
        let (e, neg) = times_const(v, &format!("s[{i}]"));
        let op = if neg { "kb_sub" } else { "kb_add" };
        writeln!(out, "    s[{i}] = {op}(sum, {e});").unwrap();
    }
    out.push_str("}\n");
}

/// The `__constant__` prelude of cuda/poseidon2.cu, from Plonky3's tables.
pub fn constants_source() -> String {
    let mut s = String::from("// Generated at run time from p3-koala-bear 0.8.0.\n");
    writeln!(
        s,
        "#define P2_HALF_FULL {KOALABEAR_POSEIDON2_HALF_FULL_ROUNDS}"
    )
    .unwrap();
    writeln!(
        s,
        "#define P2_16_PARTIAL {KOALABEAR_POSEIDON2_PARTIAL_ROUNDS_16}"
    )
    .unwrap();
    let flat16 = |rc: &[[Val; 16]]| rc.iter().flatten().copied().collect::<Vec<_>>();
    push_array(
        &mut s,
        "P2_16_RC_INIT",
        &flat16(&KOALABEAR_POSEIDON2_RC_16_EXTERNAL_INITIAL),
    );
    push_array(
        &mut s,
        "P2_16_RC_TERM",
        &flat16(&KOALABEAR_POSEIDON2_RC_16_EXTERNAL_FINAL),
    );
    push_array(&mut s, "P2_16_RC_INT", &KOALABEAR_POSEIDON2_RC_16_INTERNAL);
    push_array(&mut s, "P2_16_DIAG", &internal_diagonal::<16>());
    s.push_str("template <int W> __device__ __forceinline__ void p2_internal(u32* s, u32 sum);\n");
    push_internal_layer(&mut s, 16, &internal_diagonal::<16>());
    s
}

pub(crate) fn poseidon2_source() -> String {
    format!(
        "{}{}\n{}",
        round_unrolling(),
        constants_source(),
        include_str!("../cuda/poseidon2.cu")
    )
}

/// How far the round loops are unrolled (see cuda/poseidon2.cu), for
/// comparing on a GPU: rolled by default; `CLOAK_P2_UNROLLED=1` unrolls them
/// fully, `CLOAK_P2_UNROLL=N` (2 to 8) N rounds at a time.
fn round_unrolling() -> String {
    if std::env::var_os("CLOAK_P2_UNROLLED").is_some_and(|v| v == "1") {
        return "#define P2_UNROLLED 1\n".into();
    }
    match std::env::var("CLOAK_P2_UNROLL")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n @ 2..=8) => format!("#define P2_UNROLL_PRAGMA _Pragma(\"unroll {n}\")\n"),
        _ => String::new(),
    }
}

/// Permutes each state (`width` = 16 consecutive elements) in place on
/// the device and returns the results.
pub fn permute_batch(gpu: &GpuContext, width: usize, states: &[Val]) -> Result<Vec<Val>> {
    if width == 0 || !states.len().is_multiple_of(width) {
        return Err(GpuError::Invalid(
            "states not a multiple of the width".into(),
        ));
    }
    let mut buf = gpu.upload(as_raw(states))?;
    permute_device(gpu, width, &mut buf)?;
    let mut raw = gpu.download(&buf)?;
    raw.truncate(states.len());
    from_raw(raw)
}

/// Permutes the states (`width` = 16 words each) in a device buffer in place.
pub fn permute_device(gpu: &GpuContext, width: usize, buf: &mut CudaSlice<u32>) -> Result<()> {
    let kernel = match width {
        16 => "p2_permute_16",
        _ => return Err(GpuError::Invalid(format!("no Poseidon2 of width {width}"))),
    };
    let f = gpu.function("poseidon2", poseidon2_source, kernel)?;
    let n = (buf.len() / width) as u64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(buf).arg(&n);
    // SAFETY: buf holds n states of `width` words.
    unsafe { l.launch(LaunchConfig::grid(n.div_ceil(128) as u32, 128)) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_field::Field;

    #[test]
    fn diagonals_match_the_documented_vectors() {
        // p3-koala-bear documents V16 = [-2, 1, 2, 1/2, 3, 4, -1/2, -3, -4, 1/2^8, ...].
        let two = Val::TWO;
        let d16 = internal_diagonal::<16>();
        assert_eq!(d16[0], -two);
        assert_eq!(d16[1], Val::ONE);
        assert_eq!(d16[3], two.inverse());
        assert_eq!(d16[15], -two.exp_u64(24).inverse());
    }

    #[test]
    fn constants_source_has_every_table() {
        let s = constants_source();
        for name in [
            "P2_16_RC_INIT[64]",
            "P2_16_RC_TERM[64]",
            "P2_16_RC_INT[20]",
            "P2_16_DIAG[16]",
        ] {
            assert!(s.contains(name), "{name} missing");
        }
    }

    /// Plonky3's diagonals are all small integers or powers of 1/2: the
    /// generated internal layers multiply nowhere, and the products they
    /// write out are the diagonal's (checked on values by the emulated and
    /// device permutations).
    #[test]
    fn internal_layers_are_written_without_multiplications() {
        let s = constants_source();
        let start = s.find("p2_internal<16>").expect("layer of width 16");
        let layers = &s[start..];
        assert!(!layers.contains("kb_mul("), "{layers}");
        assert!(layers.contains("s[0] = kb_sub(sum, kb_double(s[0]));"));
        assert!(layers.contains("s[15] = kb_sub(sum, kb_div_2exp(s[15], 24));"));
    }
}
