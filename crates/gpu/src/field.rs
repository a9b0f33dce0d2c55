//! KoalaBear on the device: the representation at the host/device boundary
//! and element-wise kernels (used to check cuda/field.cuh against Plonky3).
//!
//! Device buffers hold KoalaBear elements exactly as Plonky3 stores them: the
//! Montgomery form `x * 2^32 mod p` in `[0, p)`, one `u32` per element
//! (`MontyField31` is `#[repr(transparent)]` over that `u32`). Moving data
//! between host and device is therefore a reinterpreting memcpy
//! ([`as_raw`], [`from_raw`]); there is no per-element conversion. An
//! extension element (`BinomialExtensionField<KoalaBear, 4>`) is 4 such words,
//! lowest coefficient first.

use cloak_prover::config::{Challenge, Val};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use p3_field::BasedVectorSpace;

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};

const _: () = assert!(size_of::<Val>() == 4 && align_of::<Val>() == 4);
const _: () = assert!(size_of::<Challenge>() == 16 && align_of::<Challenge>() == 4);

/// The raw words (Montgomery form) of a slice of KoalaBear elements.
pub fn as_raw(v: &[Val]) -> &[u32] {
    // SAFETY: KoalaBear is repr(transparent) over a u32 (size and alignment
    // asserted above); every element is a valid u32.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u32>(), v.len()) }
}

/// The raw words of a slice of extension elements (4 words each).
pub fn ext_as_raw(v: &[Challenge]) -> &[u32] {
    // SAFETY: BinomialExtensionField<KoalaBear, 4> is repr(transparent) over
    // [KoalaBear; 4] (size and alignment asserted above).
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u32>(), v.len() * 4) }
}

/// The Montgomery word of one base element (a kernel argument).
pub fn base_word(x: Val) -> u32 {
    as_raw(std::slice::from_ref(&x))[0]
}

/// The 4 Montgomery words of one extension element (kernel arguments).
/// `v`, or one zero word where it is empty: every buffer handed to a
/// kernel holds at least one word, so its pointer is valid.
pub fn nonempty_words(v: &[u32]) -> Vec<u32> {
    if v.is_empty() {
        vec![0]
    } else {
        v.to_vec()
    }
}

pub fn ext_words(x: Challenge) -> [u32; 4] {
    let c = ext_as_raw(std::slice::from_ref(&x));
    [c[0], c[1], c[2], c[3]]
}

/// Reinterprets raw words as KoalaBear elements, checking that each is a
/// canonical Montgomery value (< p), as every kernel output must be.
pub fn from_raw(v: Vec<u32>) -> Result<Vec<Val>> {
    if let Some(i) = v.iter().position(|&x| x >= P) {
        return Err(GpuError::Invalid(format!(
            "device word {i} is {:#x}, not a canonical KoalaBear value",
            v[i]
        )));
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: same size and alignment, and every value is canonical.
    Ok(unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<Val>(), v.len(), v.capacity()) })
}

/// Reinterprets raw words (a multiple of 4) as extension elements.
pub fn ext_from_raw(v: Vec<u32>) -> Result<Vec<Challenge>> {
    if !v.len().is_multiple_of(4) {
        return Err(GpuError::Invalid(
            "extension buffer length not a multiple of 4".into(),
        ));
    }
    let base = from_raw(v)?;
    Ok(base
        .chunks_exact(4)
        .map(|c| Challenge::from_basis_coefficients_slice(c).expect("4 coefficients"))
        .collect())
}

/// The KoalaBear prime, 2^31 - 2^24 + 1.
pub const P: u32 = 0x7f00_0001;

/// An element-wise base-field operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseOp {
    Add = 0,
    Sub = 1,
    Mul = 2,
    /// Inverse of the first operand (0 maps to 0).
    Inv = 3,
}

/// An element-wise extension-field operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtOp {
    Add = 0,
    Sub = 1,
    Mul = 2,
}

pub(crate) fn arith_source() -> String {
    include_str!("../cuda/arith.cu").to_string()
}

/// `op(a[i], b[i])` for every i, on the device.
pub fn base_op(gpu: &GpuContext, op: BaseOp, a: &[Val], b: &[Val]) -> Result<Vec<Val>> {
    if a.len() != b.len() {
        return Err(GpuError::Invalid("operand lengths differ".into()));
    }
    let f = gpu.function("arith", arith_source, "kb_binop")?;
    let da = gpu.upload(as_raw(a))?;
    let db = gpu.upload(as_raw(b))?;
    let mut out = gpu.alloc_u32(a.len())?;
    gpu.fill_u32(&mut out, u32::MAX)?;
    let n = a.len() as u64;
    let code = op as u32;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&da).arg(&db).arg(&mut out).arg(&n).arg(&code);
    // SAFETY: all three buffers hold n elements.
    unsafe { l.launch(LaunchConfig::grid(n.div_ceil(256) as u32, 256)) }?;
    let mut raw = gpu.download(&out)?;
    raw.truncate(a.len());
    from_raw(raw)
}

/// `op(a[i], b[i])` for every i over the degree-4 extension, on the device.
pub fn ext_op(
    gpu: &GpuContext,
    op: ExtOp,
    a: &[Challenge],
    b: &[Challenge],
) -> Result<Vec<Challenge>> {
    if a.len() != b.len() {
        return Err(GpuError::Invalid("operand lengths differ".into()));
    }
    let f = gpu.function("arith", arith_source, "kb4_binop")?;
    let da = gpu.upload(ext_as_raw(a))?;
    let db = gpu.upload(ext_as_raw(b))?;
    let mut out = gpu.alloc_u32(4 * a.len())?;
    gpu.fill_u32(&mut out, u32::MAX)?;
    let n = a.len() as u64;
    let code = op as u32;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&da).arg(&db).arg(&mut out).arg(&n).arg(&code);
    // SAFETY: the buffers hold n extension elements (4n words).
    unsafe { l.launch(LaunchConfig::grid(n.div_ceil(256) as u32, 256)) }?;
    let mut raw = gpu.download(&out)?;
    raw.truncate(4 * a.len());
    ext_from_raw(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_field::{PrimeCharacteristicRing, PrimeField32};

    #[test]
    fn constants_match_plonky3() {
        // field.cuh hard-codes p, p^-1 mod 2^32 and 1 in Montgomery form.
        assert_eq!(P, Val::ORDER_U32);
        assert_eq!(P.wrapping_mul(0x8100_0001), 1);
        assert_eq!(as_raw(&[Val::ONE])[0], 0x01ff_fffe);
        assert_eq!(((1u64 << 32) % P as u64) as u32, 0x01ff_fffe);
    }

    #[test]
    fn raw_roundtrip() {
        let v: Vec<Val> = (0..100u32).map(Val::from_u32).collect();
        let raw = as_raw(&v).to_vec();
        assert_eq!(from_raw(raw).unwrap(), v);
        assert!(from_raw(vec![P]).is_err());
    }
}
