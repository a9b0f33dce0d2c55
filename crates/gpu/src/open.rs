//! The PCS opening's two passes over committed LDEs (p3-fri 0.8.0
//! `TwoAdicFriPcs::open`), on the GPU: each matrix's columns evaluated at an
//! out-of-domain point, and the reduced openings FRI folds. The matrices are
//! the committed LDEs (row-major, rows in bit-reversed order), so neither
//! pass moves a trace across the bus; only the opened values (one extension
//! element a column) come back.
//!
//! * [`inv_denoms`]: `1/(z − x)` over the bit-reversed coset
//!   `GENERATOR · ⟨ω_n⟩` of the tallest LDE; a shorter matrix uses a prefix.
//! * [`evaluate`]: p3's `interpolate_coset_with_precomputation` on the
//!   matrix's low coset (its first `height >> log_blowup` rows) with the
//!   adjusted weights `1/(z − x) − 1/z` and the scaling
//!   `z (zⁿ − gⁿ) / (n gⁿ)`.
//! * [`reduce`]: one matrix's term of the reduced openings:
//!   `ro[x] += (wo_k − rescale_k · Σ_j apow_j M[x][j]) · 1/(z_k − x)` per
//!   opening point `k`, as p3's open accumulates them.

use cudarc::driver::{CudaView, CudaViewMut, LaunchConfig, PushKernelArg};
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};

use cloak_prover::config::{Challenge, Val};

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{base_word, ext_from_raw, ext_words};
use crate::fri::DeviceExtVec;
use crate::ntt::DeviceMatrix;

pub(crate) fn open_source() -> String {
    include_str!("../cuda/open.cu").to_string()
}

/// Rows summed by one thread of [`evaluate`]'s first pass, at most: a
/// thread walks its rows one after another, so a launch takes at least that
/// walk's memory latency whatever the matrix's size.
const EVAL_CHUNK_ROWS: u32 = 256;
/// ... and at least, for matrices too small to fill the chip with
/// `EVAL_CHUNK_ROWS`-row chunks.
const EVAL_MIN_CHUNK_ROWS: u32 = 8;
/// Threads [`evaluate`]'s first pass aims for: about what an H100 holds at
/// once (132 SMs x 2048).
const EVAL_TARGET_THREADS: usize = 1 << 18;

/// Rows per chunk of [`evaluate`]'s first pass for a `rows x width` matrix:
/// 256-row chunks where the matrix fills the chip with them (a walk of 256
/// rows per thread, at full memory bandwidth, measured at 2.2 TB/s on an
/// H100), shorter ones down to 8 rows where it does not, so a small
/// matrix's launch is not one long walk on a few threads (with 256 rows
/// everywhere, 150 small matrices a shard proof took 75 us each).
fn eval_chunk_rows(rows: usize, width: usize) -> u32 {
    let per_thread = (rows * width / EVAL_TARGET_THREADS).max(1);
    let pow2 = per_thread.next_power_of_two().min(EVAL_CHUNK_ROWS as usize);
    (pow2 as u32).max(EVAL_MIN_CHUNK_ROWS)
}

/// Points a thread of `open_inv_denoms` inverts together (cuda/open.cu's
/// `INV_BATCH`)...
const INV_BATCH_LOG: usize = 3;
/// ... from this many points up (`INV_BATCH_MIN_LOG`; one a thread below).
const INV_BATCH_MIN_LOG: usize = 8;

/// Threads of an `open_inv_denoms` launch for `2^log_n` points.
fn inv_denoms_threads(log_n: usize) -> u64 {
    if log_n < INV_BATCH_MIN_LOG {
        1 << log_n
    } else {
        1 << (log_n - INV_BATCH_LOG)
    }
}

/// Chunk sums per thread of `open_eval_fold`; the finish adds at most this many.
const EVAL_FOLD: u64 = 64;

/// `1/(z − x_i)` for the `2^log_n` points `x_i = GENERATOR · ω^bitrev(i)`.
pub fn inv_denoms(gpu: &GpuContext, z: Challenge, log_n: usize) -> Result<DeviceExtVec> {
    let n = 1usize << log_n;
    let f = gpu.function("open", open_source, "open_inv_denoms")?;
    let mut out = gpu.alloc_u32(4 * n)?;
    let (n64, log32) = (n as u64, log_n as u32);
    let (shift, omega) = (
        base_word(Val::GENERATOR),
        base_word(Val::two_adic_generator(log_n)),
    );
    let [z0, z1, z2, z3] = ext_words(z);
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&mut out)
        .arg(&n64)
        .arg(&log32)
        .arg(&shift)
        .arg(&omega)
        .arg(&z0)
        .arg(&z1)
        .arg(&z2)
        .arg(&z3);
    // SAFETY: out holds n extension elements.
    unsafe {
        l.launch(LaunchConfig::grid(
            inv_denoms_threads(log_n).div_ceil(256) as u32,
            256,
        ))
    }?;
    Ok(DeviceExtVec { buf: out, len: n })
}

/// Every column of the committed LDE `m` at `z` (what p3's open computes for
/// the matrix and point), with `inv` from [`inv_denoms`] at `z` for a height
/// at least `m`'s. Downloads `m.width` extension elements.
pub fn evaluate(
    gpu: &GpuContext,
    m: &DeviceMatrix,
    log_blowup: usize,
    z: Challenge,
    inv: &DeviceExtVec,
) -> Result<Vec<Challenge>> {
    evaluate_at(gpu, m, log_blowup, &[(z, inv)])
}

/// [`evaluate`] at one or two points, from one read of `m`: the first
/// point's `m.width` values, then the second's.
pub fn evaluate_at(
    gpu: &GpuContext,
    m: &DeviceMatrix,
    log_blowup: usize,
    points: &[(Challenge, &DeviceExtVec)],
) -> Result<Vec<Challenge>> {
    let mut out = gpu.alloc_u32(4 * (points.len() * m.width).max(1))?;
    evaluate_into(gpu, m, log_blowup, points, &mut out.slice_mut(..))?;
    ext_from_raw(gpu.download(&out)?)
}

/// [`evaluate_at`] into `out` (`4 · points · m.width` words) on the device,
/// so that every matrix's values come back in one download. Each point
/// comes with its `1/(z − x)` from [`inv_denoms`], for a height at least
/// `m`'s.
pub fn evaluate_into(
    gpu: &GpuContext,
    m: &DeviceMatrix,
    log_blowup: usize,
    points: &[(Challenge, &DeviceExtVec)],
    out: &mut CudaViewMut<'_, u32>,
) -> Result<()> {
    let rows = m.height >> log_blowup;
    let npts = points.len();
    if rows == 0
        || !m.height.is_power_of_two()
        || points.iter().any(|(_, inv)| inv.len < rows)
        || m.width == 0
        || !(1..=2).contains(&npts)
    {
        return Err(GpuError::Invalid(format!(
            "opening a {} x {} matrix at blowup 2^{log_blowup} at {npts} points with {:?} denominators",
            m.height,
            m.width,
            points.iter().map(|(_, inv)| inv.len).collect::<Vec<_>>()
        )));
    }
    let width = npts * m.width;
    if out.len() < 4 * width {
        return Err(GpuError::Invalid(format!(
            "{} words for {width} evaluations",
            out.len(),
        )));
    }
    let log_rows = rows.trailing_zeros() as usize;
    let w = m.width as u32;
    let chunk_rows = eval_chunk_rows(rows, m.width);
    let chunks = rows.div_ceil(chunk_rows as usize) as u64;
    let mut part = gpu.alloc_u32(4 * chunks as usize * width)?;
    let rows64 = rows as u64;
    let kernel = if npts == 1 {
        "open_eval_partial"
    } else {
        "open_eval_partial2"
    };
    let f = gpu.function("open", open_source, kernel)?;
    let zinvs: Vec<[u32; 4]> = points.iter().map(|(z, _)| ext_words(z.inverse())).collect();
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&m.buf).arg(&rows64).arg(&w);
    for ((_, inv), zi) in points.iter().zip(&zinvs) {
        l.arg(&inv.buf)
            .arg(&zi[0])
            .arg(&zi[1])
            .arg(&zi[2])
            .arg(&zi[3]);
    }
    l.arg(&chunk_rows).arg(&chunks).arg(&mut part);
    let threads = chunks * w as u64;
    // SAFETY: m holds rows x w words (and more), each inv rows elements,
    // part chunks x npts x w.
    unsafe { l.launch(LaunchConfig::grid(threads.div_ceil(128) as u32, 128)) }?;
    // p3: scaling = z (z^N − g^N) / (N g^N), N the low coset's size.
    let g_pow_n = Val::GENERATOR.exp_power_of_2(log_rows);
    let denom_inv = g_pow_n.mul_2exp_u64(log_rows as u64).inverse();
    let scale = |z: Challenge| ext_words(z * (z.exp_power_of_2(log_rows) - g_pow_n) * denom_inv);
    let s = scale(points[0].0);
    let t = scale(points[npts - 1].0);
    // Fold the chunks' sums in groups until few are left for the finish
    // (one thread a column and point).
    let w_all = width as u32;
    let (mut part, mut chunks) = (part, chunks);
    if chunks > EVAL_FOLD {
        let fold = gpu.function("open", open_source, "open_eval_fold")?;
        while chunks > EVAL_FOLD {
            let groups = chunks.div_ceil(EVAL_FOLD);
            let mut next = gpu.alloc_u32(4 * groups as usize * width)?;
            let group = EVAL_FOLD as u32;
            let mut l = gpu.stream().launch_builder(&fold);
            l.arg(&part)
                .arg(&chunks)
                .arg(&w_all)
                .arg(&group)
                .arg(&mut next);
            let threads = groups * w_all as u64;
            // SAFETY: part holds chunks x width elements, next groups x width.
            unsafe { l.launch(LaunchConfig::grid(threads.div_ceil(128) as u32, 128)) }?;
            (part, chunks) = (next, groups);
        }
    }
    let f = gpu.function("open", open_source, "open_eval_finish")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&part).arg(&chunks).arg(&w_all).arg(&w);
    for word in s.iter().chain(t.iter()) {
        l.arg(word);
    }
    l.arg(out);
    // SAFETY: part holds chunks x width elements, out (checked) width.
    unsafe { l.launch(LaunchConfig::grid(w_all.div_ceil(128), 128)) }?;
    Ok(())
}

/// One opening point's part in [`reduce`]: the matrix's alpha-weighted
/// claimed value, the rescale of its compressed row, and `1/(z − x)`.
pub struct ReducePoint<'a> {
    pub weighted_openings: Challenge,
    pub rescale: Challenge,
    pub inv: &'a DeviceExtVec,
}

/// Adds the committed LDE `m`'s term to the reduced openings `ro` of its
/// height: `apow` are the powers of alpha times the matrix's first offset
/// (`m.width` of them), `points` its one or two opening points.
pub fn reduce(
    gpu: &GpuContext,
    m: &DeviceMatrix,
    apow: &CudaView<'_, u32>,
    points: &[ReducePoint<'_>],
    ro: &mut DeviceExtVec,
) -> Result<()> {
    if apow.len() != 4 * m.width || ro.len != m.height || points.is_empty() || points.len() > 2 {
        return Err(GpuError::Invalid(format!(
            "reducing a {} x {} matrix with {} power words, {} points, into {} rows",
            m.height,
            m.width,
            apow.len(),
            points.len(),
            ro.len
        )));
    }
    if points.iter().any(|p| p.inv.len < m.height) {
        return Err(GpuError::Invalid(
            "fewer denominators than the matrix's rows".into(),
        ));
    }
    let p0 = &points[0];
    let p1 = points.get(1).unwrap_or(p0);
    let (w0, r0) = (ext_words(p0.weighted_openings), ext_words(p0.rescale));
    let (w1, r1) = (ext_words(p1.weighted_openings), ext_words(p1.rescale));
    let (h, w, npts) = (m.height as u64, m.width as u32, points.len() as u32);
    let f = gpu.function("open", open_source, "open_reduce")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&m.buf)
        .arg(&h)
        .arg(&w)
        .arg(apow)
        .arg(&npts)
        .arg(&p0.inv.buf);
    for x in w0.iter().chain(&r0) {
        l.arg(x);
    }
    l.arg(&p1.inv.buf);
    for x in w1.iter().chain(&r1) {
        l.arg(x);
    }
    l.arg(&mut ro.buf);
    // SAFETY: m holds h x w words, apow w elements, each inv and ro h.
    unsafe { l.launch(LaunchConfig::grid(h.div_ceil(128) as u32, 128)) }?;
    Ok(())
}

/// A zeroed vector of `n` extension elements (a height's reduced openings).
pub fn zero_ext(gpu: &GpuContext, n: usize) -> Result<DeviceExtVec> {
    Ok(DeviceExtVec {
        buf: gpu.zeros::<u32>(4 * n)?,
        len: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_rows_fill_the_chip_and_stay_powers_of_two() {
        // A 2^20-row CPU table: 256-row chunks already give ~370 K threads.
        assert_eq!(eval_chunk_rows(1 << 20, 91), EVAL_CHUNK_ROWS);
        // Small matrices: the shortest walk.
        assert_eq!(eval_chunk_rows(1 << 10, 10), EVAL_MIN_CHUNK_ROWS);
        assert_eq!(eval_chunk_rows(1, 1), EVAL_MIN_CHUNK_ROWS);
        for (rows, width) in [(1 << 16, 40), (1 << 18, 12), (1 << 19, 7), (3000, 333)] {
            let c = eval_chunk_rows(rows, width);
            assert!(c.is_power_of_two() && (EVAL_MIN_CHUNK_ROWS..=EVAL_CHUNK_ROWS).contains(&c));
            // Never fewer threads than the target where shorter chunks were allowed.
            let threads = rows.div_ceil(c as usize) * width;
            assert!(
                c == EVAL_MIN_CHUNK_ROWS || threads * 2 > EVAL_TARGET_THREADS,
                "{rows} x {width}"
            );
        }
    }
}
