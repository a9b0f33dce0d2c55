//! Runs a table's generated quotient kernel ([`crate::codegen`]): uploads the
//! columns on the quotient domain and the challenges, launches one thread per
//! point, and downloads the extension-field quotient values that
//! `p3_batch_stark::prover::quotient_values` returns (before the split into
//! chunks).
//!
//! Inputs are column-major on the quotient coset `s·<w_Q>` in natural order
//! (column `c` is `Q` consecutive words), so a warp's loads of one column
//! are coalesced. A permutation (LogUp) column is 4 consecutive base
//! columns, its coordinates. Row `i`'s next row is `i + Q/n (mod Q)`, as p3
//! reads it (`next_step = 1 << (log Q - log n)`).

use std::hash::{Hash, Hasher};

use cloak_prover::config::{Challenge, Val};
use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};
use p3_matrix::Matrix;

use crate::codegen::{self, Generated, TableConstraints};
use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{as_raw, ext_as_raw, ext_from_raw};

/// A table's quotient kernel and the shape of the inputs it reads.
#[derive(Clone, Debug)]
pub struct QuotientKernel {
    /// Module name: the table name and a hash of the source (the cache key).
    pub module: String,
    pub generated: Generated,
    pub main_width: usize,
    pub preprocessed_width: usize,
    pub permutation_width: usize,
    pub num_public_values: usize,
    pub num_challenges: usize,
    pub num_permutation_values: usize,
}

impl QuotientKernel {
    /// Generates the kernel of table `name` from its constraints.
    pub fn new(name: &str, t: &TableConstraints) -> Result<Self> {
        let generated = codegen::generate(t)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        generated.parts.hash(&mut h);
        Ok(QuotientKernel {
            module: format!("quotient-{name}-{:016x}", h.finish()),
            generated,
            main_width: t.main_width,
            preprocessed_width: t.preprocessed_width,
            permutation_width: t.permutation_width,
            num_public_values: t.num_public_values,
            num_challenges: t.num_challenges,
            num_permutation_values: t.num_permutation_values,
        })
    }
}

/// One evaluation's inputs. Columns are column-major over the `2^log_q`
/// points of the quotient coset (see the module documentation).
pub struct QuotientInputs<'a> {
    /// Log2 of the trace domain (`n`; its shift is 1, as p3's natural domain).
    pub log_n: usize,
    /// Log2 of the quotient domain (`Q`), at least `log_n`.
    pub log_q: usize,
    /// The quotient coset's shift (not 1).
    pub shift: Val,
    pub main: &'a [Val],
    pub preprocessed: &'a [Val],
    /// Base coordinates of the permutation columns, `4 · width` columns.
    pub permutation: &'a [Val],
    pub public_values: &'a [Val],
    pub challenges: &'a [Challenge],
    pub permutation_values: &'a [Challenge],
    pub alpha: Challenge,
}

/// Log2 of the low table of the coset's points in [`selector_consts`]:
/// half of `log_q`, rounded up, so that both tables are about `sqrt(Q)`
/// entries (they are uploaded with every table's scalars).
pub fn point_low_bits(log_q: usize) -> usize {
    log_q.div_ceil(2)
}

/// `sel_consts` of cuda/quotient.cuh: shift, `w_Q`, `w_n^-1`, then `Z_H` and
/// its inverse on the `Q/n` classes of the coset, with Plonky3's formulas
/// (`TwoAdicMultiplicativeCoset::selectors_on_coset`); then the coset's
/// points in two tables, so that point `i` is one product
/// (`w_Q^lo` for `lo < 2^L`, `s w_Q^(hi 2^L)` for `hi < Q / 2^L`,
/// `L = `[`point_low_bits`]`(log Q)`), not a power a thread.
pub fn selector_consts(log_n: usize, log_q: usize, shift: Val) -> Vec<Val> {
    let rate_bits = log_q - log_n;
    let s_pow_n = shift.exp_power_of_2(log_n);
    let zh: Vec<Val> = Val::two_adic_generator(rate_bits)
        .powers()
        .take(1 << rate_bits)
        .map(|x| s_pow_n * x - Val::ONE)
        .collect();
    let inv: Vec<Val> = zh.iter().map(|z| z.inverse()).collect();
    let mut c = vec![
        shift,
        Val::two_adic_generator(log_q),
        Val::two_adic_generator(log_n).inverse(),
        Val::ZERO,
    ];
    c.extend(zh);
    c.extend(inv);
    let low_bits = point_low_bits(log_q);
    let w_q = Val::two_adic_generator(log_q);
    c.extend(w_q.powers().take(1 << low_bits));
    c.extend(
        w_q.exp_power_of_2(low_bits)
            .shifted_powers(shift)
            .take(1 << (log_q - low_bits)),
    );
    c
}

/// `alpha^(total - 1 - g)` for each global constraint index `g`: the weight
/// p3's `ConstraintLayout::decompose_alpha` gives constraint `g`.
pub fn alpha_powers(total: usize, alpha: Challenge) -> Vec<Challenge> {
    let mut p: Vec<Challenge> = alpha.powers().take(total).collect();
    p.reverse();
    p
}

/// The columns of `m`, one after another.
pub fn column_major<M: Matrix<Val>>(m: &M) -> Vec<Val> {
    let (h, w) = (m.height(), m.width());
    let mut out = Val::zero_vec(h * w);
    for r in 0..h {
        for (c, v) in m.row(r).expect("row in range").into_iter().enumerate() {
            out[c * h + r] = v;
        }
    }
    out
}

impl QuotientInputs<'_> {
    /// Checks every length against the kernel's layout.
    pub fn validate(&self, k: &QuotientKernel) -> Result<()> {
        self.validate_scalars(k)?;
        let q = 1usize << self.log_q;
        let lens = [
            ("main", self.main.len(), q * k.main_width),
            (
                "preprocessed",
                self.preprocessed.len(),
                q * k.preprocessed_width,
            ),
            (
                "permutation",
                self.permutation.len(),
                q * 4 * k.permutation_width,
            ),
        ];
        check_lens(&lens)
    }

    /// Checks the domain and the scalar inputs (not the columns).
    pub fn validate_scalars(&self, k: &QuotientKernel) -> Result<()> {
        if self.log_q < self.log_n || self.log_q >= 27 || self.shift == Val::ONE {
            return Err(GpuError::Invalid(format!(
                "quotient domain 2^{} over trace 2^{} (shift must not be 1)",
                self.log_q, self.log_n
            )));
        }
        let lens = [
            (
                "public values",
                self.public_values.len(),
                k.num_public_values,
            ),
            ("challenges", self.challenges.len(), k.num_challenges),
            (
                "permutation values",
                self.permutation_values.len(),
                k.num_permutation_values,
            ),
        ];
        check_lens(&lens)
    }
}

fn check_lens(lens: &[(&str, usize, usize)]) -> Result<()> {
    for &(what, got, want) in lens {
        if got != want {
            return Err(GpuError::Invalid(format!(
                "{what}: {got} elements, the kernel reads {want}"
            )));
        }
    }
    Ok(())
}

impl QuotientKernel {
    /// The module name of part `p`.
    pub fn part_module(&self, p: usize) -> String {
        format!("{}-p{p}", self.module)
    }

    /// The CUDA source NVRTC compiles for part `p` (field.cuh goes in front).
    pub fn part_source(&self, p: usize) -> String {
        format!("{}{}", codegen::QUOTIENT_CUH, self.generated.parts[p])
    }
}

/// Compiles (NVRTC, the parts in parallel) and loads the parts of `k` not
/// yet cached on `gpu`.
pub fn prepare(gpu: &GpuContext, k: &QuotientKernel) -> Result<()> {
    use rayon::prelude::*;
    let todo: Vec<usize> = (0..k.generated.parts.len())
        .filter(|&p| !gpu.has_module(&k.part_module(p)))
        .collect();
    let arch = gpu.compute_capability();
    let compiled: Vec<Result<crate::Compiled>> = todo
        .par_iter()
        .map(|&p| crate::compile(&k.part_module(p), &k.part_source(p), arch))
        .collect();
    for (&p, c) in todo.iter().zip(compiled) {
        gpu.load_compiled(&k.part_module(p), c?)?;
    }
    Ok(())
}

/// Evaluates the quotient of `k`'s table on the GPU: `Q` extension values in
/// natural order, as p3's `quotient_values` returns them.
pub fn quotient_values(
    gpu: &GpuContext,
    k: &QuotientKernel,
    inp: &QuotientInputs,
) -> Result<Vec<Challenge>> {
    inp.validate(k)?;
    let up = |v: &[u32]| gpu.upload(&crate::field::nonempty_words(v));
    let main = up(as_raw(inp.main))?;
    let prep = up(as_raw(inp.preprocessed))?;
    let perm = up(as_raw(inp.permutation))?;
    let out = quotient_on_device(
        gpu,
        k,
        &DeviceColumns {
            main: &main,
            preprocessed: &prep,
            permutation: &perm,
        },
        inp,
    )?;
    ext_from_raw(gpu.download(&out)?)
}

/// The column inputs of [`quotient_on_device`], already on the device, in
/// the layout of [`QuotientInputs`] (column-major on the quotient coset).
pub struct DeviceColumns<'a> {
    pub main: &'a CudaSlice<u32>,
    pub preprocessed: &'a CudaSlice<u32>,
    pub permutation: &'a CudaSlice<u32>,
}

/// The scalars one table's quotient kernel reads (public values,
/// challenges, permutation values, powers of alpha, selector constants), as
/// words, with where each part starts and ends.
pub struct QuotientScalars {
    pub words: Vec<u32>,
    ranges: [std::ops::Range<usize>; 5],
    /// The trace's and the quotient domain's log sizes they were made for.
    log_n: usize,
    log_q: usize,
}

impl QuotientScalars {
    /// `inp`'s scalars for kernel `k` (checked against it).
    pub fn new(k: &QuotientKernel, inp: &QuotientInputs) -> Result<Self> {
        inp.validate_scalars(k)?;
        let pows = alpha_powers(k.generated.constraints, inp.alpha);
        let consts = selector_consts(inp.log_n, inp.log_q, inp.shift);
        let parts: [&[u32]; 5] = [
            as_raw(inp.public_values),
            ext_as_raw(inp.challenges),
            ext_as_raw(inp.permutation_values),
            ext_as_raw(&pows),
            as_raw(&consts),
        ];
        // An empty part gets a word, so that every kernel argument is a
        // valid pointer.
        let mut words = Vec::new();
        let ranges = parts.map(|part| {
            let start = words.len();
            words.extend(crate::field::nonempty_words(part));
            start..words.len()
        });
        Ok(Self {
            words,
            ranges,
            log_n: inp.log_n,
            log_q: inp.log_q,
        })
    }
}

/// [`quotient_values`] with the columns on the device (the slices of `inp`
/// for them are ignored; its scalars are used): the `4Q` words of the
/// quotient stay there.
pub fn quotient_on_device(
    gpu: &GpuContext,
    k: &QuotientKernel,
    cols: &DeviceColumns,
    inp: &QuotientInputs,
) -> Result<CudaSlice<u32>> {
    let scalars = QuotientScalars::new(k, inp)?;
    let dev = gpu.upload(&scalars.words)?;
    quotient_with_scalars(gpu, k, cols, &scalars, &dev.slice(..))
}

/// [`quotient_on_device`] with its scalars already on the device
/// (`on_device` holds `scalars.words`): a proof uploads every table's
/// scalars in one copy.
pub fn quotient_with_scalars(
    gpu: &GpuContext,
    k: &QuotientKernel,
    cols: &DeviceColumns,
    scalars: &QuotientScalars,
    on_device: &CudaView<'_, u32>,
) -> Result<CudaSlice<u32>> {
    if on_device.len() != scalars.words.len() {
        return Err(GpuError::Invalid(format!(
            "{} scalar words on the device for {}",
            on_device.len(),
            scalars.words.len()
        )));
    }
    let (log_n, log_q) = (scalars.log_n, scalars.log_q);
    let q = 1usize << log_q;
    let need = [
        ("main", cols.main.len(), q * k.main_width),
        (
            "preprocessed",
            cols.preprocessed.len(),
            q * k.preprocessed_width,
        ),
        (
            "permutation",
            cols.permutation.len(),
            q * 4 * k.permutation_width,
        ),
    ];
    for (what, got, want) in need {
        if got < want {
            return Err(GpuError::Invalid(format!(
                "{what}: {got} words on the device, the kernel reads {want}"
            )));
        }
    }
    prepare(gpu, k)?;
    let [publics, chal, pvals, pows, consts] =
        std::array::from_fn(|i| on_device.slice(scalars.ranges[i].clone()));
    let mut out = gpu.alloc_u32(4 * q)?;
    gpu.fill_u32(&mut out, u32::MAX)?;
    let (log_q, log_step) = (log_q as u32, (log_q - log_n) as u32);
    const BLOCK: u32 = codegen::QUOTIENT_BLOCK;
    let parts = k.generated.parts.len();
    for p in 0..parts {
        let f = gpu.function(&k.part_module(p), String::new, &codegen::part_kernel(p))?;
        // Bit 0: add to the earlier parts' sum; bit 1: the last part.
        let mode = u32::from(p > 0) | (u32::from(p + 1 == parts) << 1);
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(cols.main)
            .arg(cols.preprocessed)
            .arg(cols.permutation)
            .arg(&publics)
            .arg(&chal)
            .arg(&pvals)
            .arg(&pows)
            .arg(&consts)
            .arg(&mut out)
            .arg(&log_q)
            .arg(&log_step)
            .arg(&mode);
        // SAFETY: every column buffer holds at least what the kernel reads
        // (checked above), the scalars were checked by the caller's
        // `validate` or built here; the kernel writes out[0 .. 4Q).
        unsafe { l.launch(LaunchConfig::grid((q as u32).div_ceil(BLOCK), BLOCK)) }?;
    }
    Ok(out)
}
