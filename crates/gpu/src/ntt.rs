//! Batched NTTs and the coset low-degree extension of trace columns.
//!
//! [`Ntt::coset_lde_batch`] produces exactly the matrix that the PCS commits:
//! `Radix2DitParallel::coset_lde_batch(trace, added_bits, shift)` followed by
//! `.bit_reverse_rows()` (what `TwoAdicFriPcs::commit` does), i.e. the
//! `h << added_bits` rows of the extension in bit-reversed order:
//!
//! ```text
//! out[r] = f(shift * g^bitrev(r)),   g a primitive (h << added_bits)-th root of unity,
//! ```
//!
//! where column `f` is the polynomial of degree < h with `f(omega^i) = trace[i]`
//! (`omega = g^(2^added_bits)`). Field arithmetic is exact, so any algorithm
//! computing these values gives the same bytes as Plonky3; the checks compare
//! against Plonky3 itself on random matrices.
//!
//! The GPU computes it in three steps (cuda/ntt.cu):
//! 1. an inverse DIF NTT of the trace in place: coefficients, bit-reversed rows;
//! 2. `lde_scatter`: for each output block m (one per coset), row j gets
//!    coefficient j times `shift_m^j / h`, where block m is the coset
//!    `shift * g^bitrev(m, added_bits)` (Plonky3's slot order); rows past h
//!    are zero in the coefficient form, and block m alone only needs the h
//!    low coefficients;
//! 3. a forward DIF NTT of size h on each block: natural-order coefficients in,
//!    bit-reversed evaluations out, so block m row i is
//!    `f(shift_m * omega^bitrev_h(i))`, which is output row `m*h + i` above
//!    because `bitrev_{h<<a}(m*h + i) = bitrev_h(i) << a | bitrev_a(m)`.
//!
//! Each NTT runs as a few launches of `ntt_dif_pass`, each doing up to
//! [`Ntt::max_pass_bits`] butterfly stages in shared memory (see ntt.cu).
//! By default step 2 is fused into the first pass of step 3
//! (`lde_first_pass` reads the bit-reversed coefficients and scales them as
//! it loads its tile), which saves writing and re-reading the whole output
//! once; [`Ntt::with_fused_scatter`]`(false)` runs them apart.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Mutex;

use cloak_prover::config::Val;
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaFunction, CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{as_raw, from_raw};

/// A row-major KoalaBear matrix in device memory (Montgomery words, see
/// [`crate::field`]).
pub struct DeviceMatrix {
    pub buf: CudaSlice<u32>,
    pub width: usize,
    pub height: usize,
}

impl DeviceMatrix {
    pub fn upload(gpu: &GpuContext, m: &RowMajorMatrix<Val>) -> Result<Self> {
        Ok(Self {
            buf: gpu.upload(as_raw(&m.values))?,
            width: m.width(),
            height: m.height(),
        })
    }

    pub fn download(&self, gpu: &GpuContext) -> Result<RowMajorMatrix<Val>> {
        let mut raw = gpu.download(&self.buf)?;
        raw.truncate(self.width * self.height);
        Ok(RowMajorMatrix::new(from_raw(raw)?, self.width))
    }

    pub fn len(&self) -> usize {
        self.width * self.height
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn ntt_source() -> String {
    include_str!("../cuda/ntt.cu").to_string()
}

/// Threads per block of `ntt_dif_pass` and `lde_scatter`.
const THREADS: u32 = 256;
/// Lanes (columns) per block of `lde_scatter`.
const LANES: u32 = 32;
const ROWS_PER_BLOCK: u32 = THREADS / LANES;
/// KoalaBear's two-adicity: the largest NTT is 2^24.
const TWO_ADICITY: usize = 24;

/// Passes of this many stages have register-tile kernels (cuda/ntt.cu's
/// `NTT_REG_KERNELS`).
const REG_MIN_STAGES: u32 = 5;
const REG_MAX_STAGES: u32 = 10;

/// Register tiles unless `CLOAK_GPU_NTT_REG=0` (read when an [`Ntt`] is
/// made, to compare the two on one binary).
fn register_tiles_default() -> bool {
    std::env::var("CLOAK_GPU_NTT_REG").map_or(true, |v| v != "0")
}

/// Twiddle tables and coset power tables, cached per size on the device.
pub struct Ntt {
    /// Butterfly stages per shared-memory pass (the tile is 2^bits rows x `lanes`).
    max_pass_bits: u32,
    /// Adjacent words per tile row: 8, 16 or 32.
    lanes: u32,
    /// Fuse the LDE's coefficient scaling into the first forward pass.
    fuse_scatter: bool,
    /// Run passes of 5 to 10 stages as register tiles (`ntt_dif_pass_r<k>`,
    /// `lde_first_pass_r<k>`: one shared-memory exchange a pass).
    register_tiles: bool,
    twiddles: Mutex<HashMap<(usize, bool), CudaSlice<u32>>>,
    coset_powers: Mutex<HashMap<(usize, usize, u32), CudaSlice<u32>>>,
    /// Each coset's mask factor `h * (shift_m^h - 1)` ([`LdeMask`]).
    mask_factors: Mutex<HashMap<(usize, usize, u32), CudaSlice<u32>>>,
}

/// The upper coefficients of a sparse-masked LDE ([`Ntt::coset_lde_masked`],
/// the vendored p3-fri's `masked_trace_lde`): the committed polynomial of
/// column `c` is `C_c + (X^h - 1) U_c`, `C_c` the column's interpolant on
/// the size-`h` subgroup.
pub struct LdeMask<'a> {
    /// `mask_len × trace_width`, row-major: `U_c` of the trace columns
    /// (zero from coefficient `mask_len` on).
    pub trace: CudaView<'a, u32>,
    pub trace_width: usize,
    pub mask_len: usize,
    /// `h × (width - trace_width)`, row-major: `U_c` of the random
    /// codewords (the matrix's last columns).
    pub codewords: CudaView<'a, u32>,
}

/// The default tiling, 2^10 rows x 8 lanes (32 KiB, two passes for 2^20
/// rows), was the fastest of those timed on an H100 (BENCHMARKS.md).
impl Default for Ntt {
    fn default() -> Self {
        Self::with_tiling(10, 8)
    }
}

impl Ntt {
    /// Up to `max_pass_bits` stages per shared-memory pass over tiles of
    /// 32 lanes (8 stages use 32 KiB of shared memory per block; 9 and 10 use
    /// 64 and 128 KiB).
    pub fn new(max_pass_bits: u32) -> Self {
        Self::with_tiling(max_pass_bits, 32)
    }

    /// Tiles of `2^max_pass_bits` rows x `lanes` words (`lanes` 8, 16 or 32;
    /// `max_pass_bits` 1..=11, at most 128 KiB of shared memory per block).
    pub fn with_tiling(max_pass_bits: u32, lanes: u32) -> Self {
        assert!(matches!(lanes, 8 | 16 | 32), "lanes must be 8, 16 or 32");
        assert!((1..=11).contains(&max_pass_bits) && (lanes << max_pass_bits) * 4 <= 128 << 10);
        Self {
            max_pass_bits,
            lanes,
            fuse_scatter: true,
            register_tiles: register_tiles_default(),
            twiddles: Mutex::new(HashMap::new()),
            coset_powers: Mutex::new(HashMap::new()),
            mask_factors: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_pass_bits(&self) -> u32 {
        self.max_pass_bits
    }

    pub fn lanes(&self) -> u32 {
        self.lanes
    }

    /// Whether the LDE fuses its scaling step into the first forward pass
    /// (the default) or runs `lde_scatter` on its own (kept for comparison).
    pub fn with_fused_scatter(mut self, fuse: bool) -> Self {
        self.fuse_scatter = fuse;
        self
    }

    /// Whether passes of 5 to 10 stages run as register tiles (the default,
    /// unless `CLOAK_GPU_NTT_REG=0`) or as radix-4 shared-memory tiles.
    pub fn with_register_tiles(mut self, on: bool) -> Self {
        self.register_tiles = on;
        self
    }

    pub fn register_tiles(&self) -> bool {
        self.register_tiles
    }

    /// The register-tile kernel of a pass of `k` stages (`base` `_r<k>`),
    /// with its block's threads a lane, where this tiling uses one.
    fn register_kernel(&self, k: u32) -> Option<(String, u32)> {
        (self.register_tiles && (REG_MIN_STAGES..=REG_MAX_STAGES).contains(&k))
            .then(|| (format!("_r{k}"), 1u32 << (k / 2)))
    }

    /// `out[j] = scale * base^j` for j < n, computed on the device.
    fn powers(gpu: &GpuContext, base: Val, scale: Val, n: usize) -> Result<CudaSlice<u32>> {
        let f = gpu.function("ntt", ntt_source, "kb_powers")?;
        let mut out = gpu.alloc_u32(n)?;
        let (b, s, n32) = (as_raw(&[base])[0], as_raw(&[scale])[0], n as u32);
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(&mut out).arg(&b).arg(&s).arg(&n32);
        // SAFETY: out holds n words.
        unsafe { l.launch(LaunchConfig::grid(n32.div_ceil(256), 256)) }?;
        Ok(out)
    }

    /// Runs `f` with the twiddle table of the size-2^log_n transform
    /// (`omega^e`, or `omega^-e` when `inverse`, for e < n/2).
    fn with_twiddles<T>(
        &self,
        gpu: &GpuContext,
        log_n: usize,
        inverse: bool,
        f: impl FnOnce(&CudaSlice<u32>) -> Result<T>,
    ) -> Result<T> {
        let mut cache = self.twiddles.lock().expect("twiddle cache poisoned");
        let table = match cache.entry((log_n, inverse)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let root = Val::two_adic_generator(log_n);
                let root = if inverse { root.inverse() } else { root };
                e.insert(Self::powers(gpu, root, Val::ONE, (1usize << log_n) / 2)?)
            }
        };
        f(table)
    }

    /// In-place DIF NTT (natural order in, bit-reversed order out) of each
    /// column of `batch` consecutive row-major `2^log_n x width` matrices in
    /// `buf`: row r becomes `sum_j x_j omega^(j * bitrev(r))` (omega^-1 when
    /// `inverse`; no 1/n scaling). For one matrix this is the storage of
    /// Plonky3's `dft_batch(m)` (a bit-reversed view).
    pub fn dif_inplace(
        &self,
        gpu: &GpuContext,
        buf: &mut CudaSlice<u32>,
        log_n: usize,
        width: usize,
        batch: usize,
        inverse: bool,
    ) -> Result<()> {
        if log_n > TWO_ADICITY {
            return Err(GpuError::Invalid(format!(
                "NTT of 2^{log_n} rows: KoalaBear allows 2^24"
            )));
        }
        if buf.len() < (batch << log_n) * width {
            return Err(GpuError::Invalid(
                "NTT buffer shorter than batch x 2^log_n x width".into(),
            ));
        }
        if log_n == 0 || width == 0 || batch == 0 {
            return Ok(());
        }
        self.with_twiddles(gpu, log_n, inverse, |tw| {
            self.dif_passes(gpu, buf, tw, log_n, width, batch, 0)
        })
    }

    /// The passes `(k, s0)` of a size-2^log_n transform: as even as possible,
    /// each at most `max_pass_bits` stages.
    fn plan(&self, log_n: usize) -> Vec<(u32, u32)> {
        let l_bits = log_n as u32;
        let passes = l_bits.div_ceil(self.max_pass_bits);
        let mut s0 = 0;
        (0..passes)
            .map(|pass| {
                let k = l_bits / passes + u32::from(pass < l_bits % passes);
                s0 += k;
                (k, s0 - k)
            })
            .collect()
    }

    /// Grid, block and shared memory of a pass of k stages starting at s0,
    /// and its (wp, tiles) arguments.
    fn pass_geometry(
        &self,
        log_n: usize,
        width: usize,
        batch: usize,
        k: u32,
        s0: u32,
    ) -> Result<(LaunchConfig, u32, u64, u32)> {
        let lowbits = log_n as u32 - s0 - k;
        let wp = (width as u64) << lowbits;
        let tiles = wp.div_ceil(self.lanes as u64);
        let blocks = ((batch as u64) << s0) * tiles;
        if blocks > i32::MAX as u64 {
            return Err(GpuError::Invalid("NTT too large for one launch".into()));
        }
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (self.lanes, THREADS / self.lanes, 1),
            shared_mem_bytes: (self.lanes << k) * 4,
        };
        Ok((cfg, lowbits, wp, tiles as u32))
    }

    /// A kernel of the "ntt" module, allowed the shared memory of this tiling.
    fn tile_kernel(&self, gpu: &GpuContext, name: &str) -> Result<CudaFunction> {
        let f = gpu.function("ntt", ntt_source, name)?;
        let bytes = (self.lanes << self.max_pass_bits) * 4;
        if bytes > 48 << 10 {
            f.set_attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as i32,
            )?;
        }
        Ok(f)
    }

    /// The passes of `plan(log_n)` from index `first` on, in place.
    #[allow(clippy::too_many_arguments)]
    fn dif_passes(
        &self,
        gpu: &GpuContext,
        buf: &mut CudaSlice<u32>,
        tw: &CudaSlice<u32>,
        log_n: usize,
        width: usize,
        batch: usize,
        first: usize,
    ) -> Result<()> {
        let w32 = width as u32;
        for &(k, s0) in &self.plan(log_n)[first..] {
            let (mut cfg, lowbits, wp, tiles) = self.pass_geometry(log_n, width, batch, k, s0)?;
            // SAFETY (both launches): the grid covers batch x 2^log_n x width
            // words of buf (checked by the callers) and twiddle indices stay
            // below n/2.
            if let Some((suffix, threads)) = self.register_kernel(k) {
                let f = self.tile_kernel(gpu, &format!("ntt_dif_pass{suffix}"))?;
                cfg.block_dim.1 = threads;
                let mut l = gpu.stream().launch_builder(&f);
                l.arg(&mut *buf)
                    .arg(tw)
                    .arg(&w32)
                    .arg(&s0)
                    .arg(&lowbits)
                    .arg(&wp)
                    .arg(&tiles);
                unsafe { l.launch(cfg) }?;
            } else {
                let f = self.tile_kernel(gpu, "ntt_dif_pass")?;
                let mut l = gpu.stream().launch_builder(&f);
                l.arg(&mut *buf)
                    .arg(tw)
                    .arg(&w32)
                    .arg(&k)
                    .arg(&s0)
                    .arg(&lowbits)
                    .arg(&wp)
                    .arg(&tiles);
                unsafe { l.launch(cfg) }?;
            }
        }
        Ok(())
    }

    /// `shift_m^j / h` for each output block m and j < h (block-major), where
    /// `shift_m = shift * g^bitrev(m, added_bits)`: Plonky3's coset for slot m.
    fn coset_power_table<T>(
        &self,
        gpu: &GpuContext,
        log_h: usize,
        added_bits: usize,
        shift: Val,
        f: impl FnOnce(&CudaSlice<u32>) -> Result<T>,
    ) -> Result<T> {
        let key = (log_h, added_bits, as_raw(&[shift])[0]);
        let mut cache = self.coset_powers.lock().expect("coset cache poisoned");
        if let Entry::Vacant(e) = cache.entry(key) {
            let h = 1usize << log_h;
            let cosets = 1usize << added_bits;
            let h_inv = Val::from_usize(h).inverse();
            let mut table = gpu.alloc_u32(cosets * h)?;
            for (m, shift_m) in coset_shifts(shift, log_h, added_bits).enumerate() {
                let part = Self::powers(gpu, shift_m, h_inv, h)?;
                gpu.stream()
                    .memcpy_dtod(&part, &mut table.slice_mut(m * h..(m + 1) * h))?;
            }
            e.insert(table);
        }
        f(&cache[&key])
    }

    /// The coset LDE of `trace` (consumed: its buffer holds the coefficients
    /// midway) as the PCS commits it; see the module docs.
    pub fn coset_lde_batch(
        &self,
        gpu: &GpuContext,
        mut trace: DeviceMatrix,
        added_bits: usize,
        shift: Val,
    ) -> Result<DeviceMatrix> {
        let (h, w) = (trace.height, trace.width);
        if !h.is_power_of_two() {
            return Err(GpuError::Invalid(format!(
                "trace height {h} is not a power of two"
            )));
        }
        let log_h = h.trailing_zeros() as usize;
        if log_h + added_bits > TWO_ADICITY {
            return Err(GpuError::Invalid("LDE larger than 2^24 rows".into()));
        }
        let cosets = 1usize << added_bits;
        let mut out = gpu.alloc_u32(cosets * h * w)?;
        if w == 0 {
            return Ok(DeviceMatrix {
                buf: out,
                width: w,
                height: h * cosets,
            });
        }
        // 1. Coefficients, bit-reversed.
        self.dif_inplace(gpu, &mut trace.buf, log_h, w, 1, true)?;
        if !self.fuse_scatter || log_h == 0 {
            // 2. Scale by shift_m^j / h into each block, natural order.
            let scatter = gpu.function("ntt", ntt_source, "lde_scatter")?;
            self.coset_power_table(gpu, log_h, added_bits, shift, |pw| {
                let (lh, w32, c32) = (log_h as u32, w as u32, cosets as u32);
                let mut l = gpu.stream().launch_builder(&scatter);
                l.arg(&trace.buf)
                    .arg(&mut out)
                    .arg(pw)
                    .arg(&lh)
                    .arg(&w32)
                    .arg(&c32);
                let cfg = LaunchConfig {
                    grid_dim: ((h as u32).div_ceil(ROWS_PER_BLOCK), 1, 1),
                    block_dim: (LANES, ROWS_PER_BLOCK, 1),
                    shared_mem_bytes: 0,
                };
                // SAFETY: reads h x w coefficients and cosets x h powers, writes
                // cosets x h x w outputs.
                unsafe { l.launch(cfg) }?;
                Ok(())
            })?;
            // 3. Forward NTT of each block.
            self.dif_inplace(gpu, &mut out, log_h, w, cosets, false)?;
        } else {
            // 2+3. The scaling fused into the forward NTTs' first pass, then the rest.
            self.extend_fused(gpu, &trace.buf, &mut out, log_h, w, added_bits, shift, None)?;
        }
        Ok(DeviceMatrix {
            buf: out,
            width: w,
            height: h * cosets,
        })
    }
}

impl Ntt {
    /// The forward NTTs of the `2^added_bits` output blocks of an LDE from
    /// the bit-reversed coefficients in `coeffs` (`h × w`, times h), the
    /// scaling by `shift_m^j / h` (and with `mask`, the mask's multiple
    /// per block, [`Self::mask_factor_table`]) applied as the first pass
    /// loads them, then the other passes, into `out`.
    #[allow(clippy::too_many_arguments)]
    fn extend_fused(
        &self,
        gpu: &GpuContext,
        coeffs: &CudaSlice<u32>,
        out: &mut CudaSlice<u32>,
        log_h: usize,
        w: usize,
        added_bits: usize,
        shift: Val,
        mask: Option<(&LdeMask<'_>, &CudaSlice<u32>)>,
    ) -> Result<()> {
        let cosets = 1usize << added_bits;
        let (k, s0) = self.plan(log_h)[0];
        let (mut cfg, lowbits, wp, tiles) = self.pass_geometry(log_h, w, cosets, k, s0)?;
        let kernel = match mask {
            Some(_) => "lde_first_pass_masked",
            None => "lde_first_pass",
        };
        let reg = self.register_kernel(k);
        let first = match &reg {
            Some((suffix, threads)) => {
                cfg.block_dim.1 = *threads;
                self.tile_kernel(gpu, &format!("{kernel}{suffix}"))?
            }
            None => self.tile_kernel(gpu, kernel)?,
        };
        let w32 = w as u32;
        let (wt32, len32) = mask.map_or((0, 0), |(m, _)| (m.trace_width as u32, m.mask_len as u32));
        self.coset_power_table(gpu, log_h, added_bits, shift, |pw| {
            self.with_twiddles(gpu, log_h, false, |tw| {
                let mut l = gpu.stream().launch_builder(&first);
                l.arg(coeffs).arg(&mut *out).arg(tw).arg(pw).arg(&w32);
                if reg.is_none() {
                    l.arg(&k);
                }
                l.arg(&lowbits).arg(&wp).arg(&tiles);
                if let Some((mask, factors)) = mask {
                    l.arg(&mask.trace)
                        .arg(&mask.codewords)
                        .arg(factors)
                        .arg(&wt32)
                        .arg(&len32);
                }
                // SAFETY: reads h x w coefficients and cosets x h powers
                // (with a mask: mask_len x wt and h x (w - wt) mask words,
                // checked by the caller, and a factor per coset), writes
                // cosets x h x w outputs; twiddle indices < h/2.
                unsafe { l.launch(cfg) }?;
                self.dif_passes(gpu, out, tw, log_h, w, cosets, 1)
            })
        })
    }

    /// `h * (shift_m^h - 1)` for each output block m (Plonky3's slot order,
    /// as [`Self::coset_power_table`]): on block m's coset `X^h` is
    /// `shift_m^h`, so the mask `(X^h - 1) U` is that multiple of `U` there.
    fn mask_factor_table<T>(
        &self,
        gpu: &GpuContext,
        log_h: usize,
        added_bits: usize,
        shift: Val,
        f: impl FnOnce(&CudaSlice<u32>) -> Result<T>,
    ) -> Result<T> {
        let key = (log_h, added_bits, as_raw(&[shift])[0]);
        let mut cache = self
            .mask_factors
            .lock()
            .expect("mask factor cache poisoned");
        if let Entry::Vacant(e) = cache.entry(key) {
            let h = 1usize << log_h;
            let factors: Vec<Val> = coset_shifts(shift, log_h, added_bits)
                .map(|shift_m| Val::from_usize(h) * (shift_m.exp_u64(h as u64) - Val::ONE))
                .collect();
            e.insert(gpu.upload(as_raw(&factors))?);
        }
        f(&cache[&key])
    }

    /// The coset LDE, as [`Self::coset_lde_batch`] lays it out, of the
    /// polynomials `C_c + (X^h - 1) U_c`: `wide` (`h × w`, consumed) holds
    /// the values of `C` on the size-`h` subgroup, `mask` the upper parts
    /// `U`. The mask is added to the coefficients as the first forward pass
    /// loads them, so it costs no pass of its own.
    pub fn coset_lde_masked(
        &self,
        gpu: &GpuContext,
        mut wide: DeviceMatrix,
        added_bits: usize,
        shift: Val,
        mask: &LdeMask<'_>,
    ) -> Result<DeviceMatrix> {
        let (h, w) = (wide.height, wide.width);
        if !h.is_power_of_two() || h < 2 {
            return Err(GpuError::Invalid(format!(
                "masked LDE of {h} rows: a power of two above 1 is needed"
            )));
        }
        let log_h = h.trailing_zeros() as usize;
        if log_h + added_bits > TWO_ADICITY {
            return Err(GpuError::Invalid("LDE larger than 2^24 rows".into()));
        }
        let codeword_cols = w
            .checked_sub(mask.trace_width)
            .ok_or_else(|| GpuError::Invalid("mask wider than the matrix".into()))?;
        if mask.mask_len > h
            || mask.trace.len() < mask.mask_len * mask.trace_width
            || mask.codewords.len() < h * codeword_cols
        {
            return Err(GpuError::Invalid(format!(
                "mask of {} x {} and {} words does not fit {h} x {w}",
                mask.mask_len,
                mask.trace_width,
                mask.codewords.len()
            )));
        }
        let cosets = 1usize << added_bits;
        // 1. Coefficients (times h), bit-reversed.
        self.dif_inplace(gpu, &mut wide.buf, log_h, w, 1, true)?;
        // 2+3. Mask and scaling fused into the forward NTTs' first pass.
        let mut out = gpu.alloc_u32(cosets * h * w)?;
        self.mask_factor_table(gpu, log_h, added_bits, shift, |factors| {
            let fused = Some((mask, factors));
            self.extend_fused(gpu, &wide.buf, &mut out, log_h, w, added_bits, shift, fused)
        })?;
        Ok(DeviceMatrix {
            buf: out,
            width: w,
            height: h * cosets,
        })
    }
}

/// `shift_m = shift * g^bitrev(m, added_bits)` for each output block m of
/// an LDE of `2^log_h` rows (`g` of order `2^(log_h + added_bits)`):
/// Plonky3's coset for slot m, which the scales and the mask factors share.
fn coset_shifts(shift: Val, log_h: usize, added_bits: usize) -> impl Iterator<Item = Val> {
    let g_big = Val::two_adic_generator(log_h + added_bits);
    (0..1usize << added_bits)
        .map(move |m| shift * g_big.exp_u64(reverse_bits(m, added_bits) as u64))
}

fn reverse_bits(x: usize, bits: usize) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS as usize - bits)
    }
}

#[cfg(test)]
mod tests {
    use super::reverse_bits;

    #[test]
    fn reverse_bits_small() {
        assert_eq!(reverse_bits(1, 1), 1);
        assert_eq!(reverse_bits(1, 3), 4);
        assert_eq!(reverse_bits(6, 3), 3);
        assert_eq!(reverse_bits(0, 0), 0);
    }
}
