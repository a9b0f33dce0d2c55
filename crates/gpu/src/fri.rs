//! FRI's commit phase on the GPU (p3-fri 0.8.0 with `max_log_arity` 1, the
//! only arity Cloak's `FriSettings` use): each round commits the folded
//! vector as an `n/2 × 2` extension matrix with the FRI MMCS
//! (`ExtensionMmcs` over the hiding `ValMmcs`, so a leaf is the row's 8 base
//! words and its 4 salts), then folds it with the round's challenge, and a
//! reduced input of the new length joins it scaled by `beta²`.
//!
//! The vectors never leave the device: a folded vector of `n` extension
//! elements is `4n` words, and read as rows of 8 words it already is the
//! flattened `n/2 × 2` matrix the MMCS commits, so no copy is made.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing, TwoAdicField};

use cloak_prover::config::{Challenge, SaltRng, Val};

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{base_word, ext_as_raw, ext_words};
use crate::merkle::commit_salted;
use crate::ntt::DeviceMatrix;
use crate::rounds::Round;
use crate::zkrng::salts_on_device;

pub(crate) fn fri_source() -> String {
    include_str!("../cuda/fri.cu").to_string()
}

/// A vector of extension elements on the device (4 words each).
pub struct DeviceExtVec {
    pub buf: CudaSlice<u32>,
    pub len: usize,
}

impl DeviceExtVec {
    pub fn upload(gpu: &GpuContext, v: &[Challenge]) -> Result<Self> {
        Ok(Self {
            buf: gpu.upload(ext_as_raw(v))?,
            len: v.len(),
        })
    }

    pub fn download(&self, gpu: &GpuContext) -> Result<Vec<Challenge>> {
        crate::field::ext_from_raw(gpu.download(&self.buf)?)
    }
}

/// `TwoAdicFriFolding::fold_matrix(beta, 1, m)` for a committed layer `m`
/// (`n` rows of 2 extension elements, flattened to 8 words, as
/// [`commit_layer`] returns it): the folded vector of `n` elements.
pub fn fold(gpu: &GpuContext, m: &DeviceMatrix, beta: Challenge) -> Result<DeviceExtVec> {
    let n = m.height;
    if m.width != 8 || n == 0 || !n.is_power_of_two() {
        return Err(GpuError::Invalid(format!(
            "FRI fold of a {n} x {} matrix: need n x 8 (2 extension elements a row), n a power of two",
            m.width
        )));
    }
    let log_n = n.trailing_zeros();
    let g_inv = Val::two_adic_generator(log_n as usize + 1).inverse();
    let half = Val::ONE.halve();
    let f = gpu.function("fri", fri_source, "fri_fold2")?;
    let mut out = gpu.alloc_u32(4 * n)?;
    let [b0, b1, b2, b3] = ext_words(beta);
    let (n64, gw, hw) = (n as u64, base_word(g_inv), base_word(half));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&m.buf)
        .arg(&mut out)
        .arg(&n64)
        .arg(&log_n)
        .arg(&gw)
        .arg(&hw)
        .arg(&b0)
        .arg(&b1)
        .arg(&b2)
        .arg(&b3);
    // SAFETY: m holds n rows of 8 words, out 4n words.
    unsafe { l.launch(LaunchConfig::grid(n64.div_ceil(256) as u32, 256)) }?;
    Ok(DeviceExtVec { buf: out, len: n })
}

/// `acc[i] += s · v[i]`: a reduced input of the folded vector's length joins it.
pub fn add_scaled(
    gpu: &GpuContext,
    acc: &mut DeviceExtVec,
    v: &DeviceExtVec,
    s: Challenge,
) -> Result<()> {
    if acc.len != v.len {
        return Err(GpuError::Invalid(format!(
            "FRI input of {} elements added to a folded vector of {}",
            v.len, acc.len
        )));
    }
    let f = gpu.function("fri", fri_source, "fri_add_scaled")?;
    let [s0, s1, s2, s3] = ext_words(s);
    let n = acc.len as u64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&mut acc.buf)
        .arg(&v.buf)
        .arg(&n)
        .arg(&s0)
        .arg(&s1)
        .arg(&s2)
        .arg(&s3);
    // SAFETY: both hold n elements (4n words).
    unsafe { l.launch(LaunchConfig::grid(n.div_ceil(256) as u32, 256)) }?;
    Ok(())
}

/// Commits the folded vector `v` as the FRI MMCS commits
/// `RowMajorMatrix::new(v, 2)`: one salt matrix (`v.len / 2` × 4) drawn from
/// `salt_rng` on the device as `MerkleTreeHidingMmcs::commit` draws it
/// ([`salts_on_device`]), then the tree.
/// Returns the round: the committed matrix (the same words, now read as
/// `v.len / 2` rows of 8: the layout ExtensionMmcs hands the inner MMCS, so
/// nothing is copied), which [`fold`] folds and query answers open, its
/// salts and the tree.
pub fn commit_layer(gpu: &GpuContext, v: DeviceExtVec, salt_rng: &mut SaltRng) -> Result<Round> {
    let salts = salts_on_device(gpu, salt_rng, v.len / 2)?;
    commit_layer_with_salts(gpu, v, salts)
}

/// [`commit_layer`] with its salt matrix (`v.len / 2` × 4) already drawn
/// (a proof draws every layer's salts up front, in one call: they do not
/// depend on the layers).
pub fn commit_layer_with_salts(
    gpu: &GpuContext,
    v: DeviceExtVec,
    salts: DeviceMatrix,
) -> Result<Round> {
    if v.len < 2 || !v.len.is_power_of_two() || salts.height != v.len / 2 {
        return Err(GpuError::Invalid(format!(
            "FRI layer of {} elements with {} salt rows: need a power of two, at least 2, and half as many salt rows",
            v.len, salts.height
        )));
    }
    let dim = <Challenge as BasedVectorSpace<Val>>::DIMENSION;
    let rows = v.len / 2;
    let leaves = DeviceMatrix {
        buf: v.buf,
        width: 2 * dim,
        height: rows,
    };
    let tree = commit_salted(gpu, &[&leaves], &[&salts])?;
    Ok(Round {
        ldes: vec![leaves],
        salts: vec![salts],
        tree,
    })
}
