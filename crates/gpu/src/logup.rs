//! A table's LogUp permutation trace made on the device from its main trace
//! (already there for the commitment), as p3-lookup 0.8.0's
//! `LogUpGadget::generate_permutation` makes it on the host: the fraction
//! columns by generated kernels ([`crate::codegen::generate_logup`]), then
//! the row totals, their prefix sums (a block scan) and the accumulator
//! column. Only the terminal (16 bytes) comes back; nothing goes up but the
//! challenges.

use std::hash::{Hash, Hasher};

use cloak_prover::config::{Challenge, Val};
use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, LaunchConfig, PushKernelArg};
use p3_lookup::Lookup;

use crate::codegen::{self, LogupPart};
use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{as_raw, ext_as_raw, ext_from_raw};
use crate::ntt::DeviceMatrix;
use crate::rounds::prove_source;

/// Rows per block of `ext_scan_blocks` (cuda/prove.cu's `SCAN_BLOCK`).
const SCAN_BLOCK: usize = 1024;

/// A table's generated LogUp kernels.
#[derive(Clone, Debug)]
pub struct LogupKernel {
    /// Module name prefix: the table name and a hash of the sources.
    pub module: String,
    pub parts: Vec<LogupPart>,
    pub num_lookups: usize,
}

impl LogupKernel {
    pub fn new(
        name: &str,
        lookups: &[Lookup<Val>],
        main_width: usize,
        preprocessed_width: usize,
        num_public_values: usize,
    ) -> Result<Self> {
        let parts =
            codegen::generate_logup(lookups, main_width, preprocessed_width, num_public_values)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for p in &parts {
            p.source.hash(&mut h);
        }
        Ok(LogupKernel {
            module: format!("logup-{name}-{:016x}", h.finish()),
            parts,
            num_lookups: lookups.len(),
        })
    }

    fn part_module(&self, p: usize) -> String {
        format!("{}-p{p}", self.module)
    }

    /// Compiles (NVRTC, in parallel) and loads the parts not yet loaded.
    pub fn prepare(&self, gpu: &GpuContext) -> Result<()> {
        use rayon::prelude::*;
        let todo: Vec<usize> = (0..self.parts.len())
            .filter(|&p| !gpu.has_module(&self.part_module(p)))
            .collect();
        let arch = gpu.compute_capability();
        let compiled: Vec<Result<crate::Compiled>> = todo
            .par_iter()
            .map(|&p| {
                let src = format!("{}{}", codegen::QUOTIENT_CUH, self.parts[p].source);
                crate::compile(&self.part_module(p), &src, arch)
            })
            .collect();
        for (&p, c) in todo.iter().zip(compiled) {
            gpu.load_compiled(&self.part_module(p), c?)?;
        }
        Ok(())
    }
}

/// The permutation trace of a table whose row-major `h × w` main trace is
/// `main` (and preprocessed trace `prep`, `h × pw`, if any), flattened to
/// the base field (`h × 4(n + 1)`, as the PCS commits it), and its terminal.
#[allow(clippy::too_many_arguments)]
pub fn permutation_on_device(
    gpu: &GpuContext,
    k: &LogupKernel,
    main: &CudaSlice<u32>,
    h: usize,
    w: usize,
    prep: Option<(&CudaSlice<u32>, usize)>,
    public_values: &[Val],
    challenges: &[Challenge],
) -> Result<(DeviceMatrix, Challenge)> {
    let scalars = LogupScalars::new(public_values, challenges);
    let dev = gpu.upload(&scalars.words)?;
    let mut terminal = gpu.alloc_u32(4)?;
    let perm = permutation_deferred(
        gpu,
        k,
        main,
        h,
        w,
        prep,
        &scalars,
        &dev.slice(..),
        &mut terminal.slice_mut(..),
    )?;
    Ok((perm, ext_from_raw(gpu.download(&terminal)?)?[0]))
}

/// A table's LogUp scalars (public values, then challenges) as words.
pub struct LogupScalars {
    pub words: Vec<u32>,
    publics: usize,
    challenges: usize,
}

impl LogupScalars {
    pub fn new(public_values: &[Val], challenges: &[Challenge]) -> Self {
        let publics = crate::field::nonempty_words(as_raw(public_values));
        let n = publics.len();
        Self {
            words: [&publics[..], ext_as_raw(challenges)].concat(),
            publics: n,
            challenges: challenges.len(),
        }
    }
}

/// [`permutation_on_device`] with its scalars already on the device
/// (`on_device` holds `scalars.words`) and its terminal left there, in
/// `terminal` (4 words): a proof uploads every table's scalars in one copy
/// and downloads every terminal in one.
#[allow(clippy::too_many_arguments)]
pub fn permutation_deferred(
    gpu: &GpuContext,
    k: &LogupKernel,
    main: &CudaSlice<u32>,
    h: usize,
    w: usize,
    prep: Option<(&CudaSlice<u32>, usize)>,
    scalars: &LogupScalars,
    on_device: &CudaView<'_, u32>,
    terminal: &mut CudaViewMut<'_, u32>,
) -> Result<DeviceMatrix> {
    let n = k.num_lookups;
    if n == 0 || h == 0 || !h.is_power_of_two() {
        return Err(GpuError::Invalid(format!(
            "LogUp trace of {n} lookups over {h} rows"
        )));
    }
    if scalars.challenges != 2 * n || main.len() < h * w {
        return Err(GpuError::Invalid(format!(
            "{} challenges for {n} lookups, or a main trace shorter than {h} x {w}",
            scalars.challenges
        )));
    }
    if on_device.len() != scalars.words.len() || terminal.len() != 4 {
        return Err(GpuError::Invalid(format!(
            "{} scalar words on the device for {}, {} for the terminal",
            on_device.len(),
            scalars.words.len(),
            terminal.len()
        )));
    }
    k.prepare(gpu)?;
    let aux_w = n + 1;
    let mut aux = gpu.zeros::<u32>(4 * h * aux_w)?;
    let dummy;
    let (prep_buf, pw) = match prep {
        Some((b, pw)) => (b, pw),
        None => {
            dummy = gpu.zeros::<u32>(1)?;
            (&dummy, 0)
        }
    };
    let publics = on_device.slice(..scalars.publics);
    let chal = on_device.slice(scalars.publics..);
    let (h64, w32, pw32, aw32) = (h as u64, w as u32, pw as u32, aux_w as u32);
    for (p, part) in k.parts.iter().enumerate() {
        let f = gpu.function(&k.part_module(p), String::new, &part.kernel)?;
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(main)
            .arg(prep_buf)
            .arg(&publics)
            .arg(&chal)
            .arg(&mut aux)
            .arg(&h64)
            .arg(&w32)
            .arg(&pw32)
            .arg(&aw32);
        // SAFETY: main holds h x w words, prep h x pw (codegen checked every
        // column index against the widths), chal 2n extension elements,
        // aux h x (n + 1); each thread writes its own row.
        unsafe { l.launch(LaunchConfig::grid(h.div_ceil(128) as u32, 128)) }?;
    }
    let mut totals = gpu.alloc_u32(4 * h)?;
    let f = gpu.function("prove", prove_source, "logup_row_totals")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&aux).arg(&mut totals).arg(&h64).arg(&aw32);
    // SAFETY: aux holds h x (n + 1) extension elements, totals h.
    unsafe { l.launch(LaunchConfig::grid(h.div_ceil(256) as u32, 256)) }?;
    let blocks = h.div_ceil(SCAN_BLOCK);
    let mut sums = gpu.alloc_u32(4 * blocks)?;
    let f = gpu.function("prove", prove_source, "ext_scan_blocks")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&mut totals).arg(&mut sums).arg(&h64);
    // SAFETY: totals holds h elements, sums one per block of SCAN_BLOCK.
    unsafe { l.launch(LaunchConfig::grid(blocks as u32, 256)) }?;
    let f = gpu.function("prove", prove_source, "ext_scan_sums")?;
    let b64 = blocks as u64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&mut sums).arg(&b64);
    // SAFETY: sums holds `blocks` elements.
    unsafe { l.launch(LaunchConfig::grid(1, 1)) }?;
    let f = gpu.function("prove", prove_source, "logup_accumulator")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&mut totals)
        .arg(&sums)
        .arg(&mut aux)
        .arg(&h64)
        .arg(&aw32);
    // SAFETY: as above; each thread writes its own total and the next row's
    // accumulator.
    unsafe { l.launch(LaunchConfig::grid(h.div_ceil(256) as u32, 256)) }?;
    gpu.stream()
        .memcpy_dtod(&totals.slice(4 * (h - 1)..4 * h), terminal)?;
    Ok(DeviceMatrix {
        buf: aux,
        width: 4 * aux_w,
        height: h,
    })
}
