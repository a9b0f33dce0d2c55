//! Traces cross the bus bit-packed: most trace columns hold bits, bytes or
//! 16-bit limbs, yet a field element is 32 bits. Every byte uploaded costs
//! bus time and, in confidential-computing mode, AES-GCM on the CPU
//! (`transfer.rs`), so the host packs each column of each chunk of rows in
//! as many bits as its largest value needs and the device unpacks it
//! (`unpack_trace` in cuda/prove.cu) into the row-major Montgomery words the
//! prover keeps, the same words a plain upload gives.
//!
//! Layout: the rows are cut into chunks of [`CHUNK_ROWS`]; chunk `k` is a
//! bit stream starting at word `chunk_start[k]` in which each row takes `B`
//! bits, its column `c` a field of `b` bits at `o` bits into the row, where
//! `meta[k * width + c] = o << 5 | b` (`b` ≤ 31: canonical KoalaBear values
//! are below 2^31; `B` is the last column's `o + b`). Chunks are packed in
//! parallel, each row by row (the order the trace is in memory), each read
//! once: its values are made canonical (out of Montgomery form) once.

use cloak_prover::config::Val;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use p3_field::PrimeField32;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use rayon::prelude::*;

use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::ntt::DeviceMatrix;
use crate::rounds::prove_source;

/// Rows per chunk: small enough that one value's column bits stay local
/// (each chunk sizes its columns afresh), large enough that the per-chunk
/// metadata (a word per column) is about 0.1% of a dense trace.
pub const CHUNK_ROWS: usize = 1024;

/// A matrix packed for upload: each chunk's bit stream on its own, so
/// packing writes each word once; the upload copies them into place
/// ([`Self::write_words`]) in the staging buffer it sends from.
#[derive(Debug)]
pub struct PackedMatrix {
    pub width: usize,
    pub height: usize,
    /// Chunk `k`'s stream; it starts at word `chunk_start[k]` of the words.
    pub streams: Vec<Vec<u32>>,
    pub chunk_start: Vec<u32>,
    pub meta: Vec<u32>,
}

impl PackedMatrix {
    /// Length of the words the device reads: the streams one after the
    /// other, and one spare word (the unpacker may read the word after a
    /// value's last); none for an empty matrix.
    pub fn word_len(&self) -> usize {
        if self.streams.is_empty() {
            0
        } else {
            self.streams.iter().map(Vec::len).sum::<usize>() + 1
        }
    }

    /// Writes the words ([`Self::word_len`] of them) into `out`, the
    /// streams copied in parallel.
    pub fn write_words(&self, out: &mut [u32]) {
        assert_eq!(out.len(), self.word_len(), "a buffer for the packed words");
        let mut slots: Vec<&mut [u32]> = Vec::with_capacity(self.streams.len());
        let mut rest = out;
        for stream in &self.streams {
            let (slot, tail) = rest.split_at_mut(stream.len());
            slots.push(slot);
            rest = tail;
        }
        if let Some(spare) = rest.first_mut() {
            *spare = 0;
        }
        slots
            .into_par_iter()
            .zip(self.streams.par_iter())
            .for_each(|(slot, stream)| slot.copy_from_slice(stream));
    }

    /// The words, in a fresh vector.
    pub fn words(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.word_len()];
        self.write_words(&mut out);
        out
    }

    /// Bytes the packed form moves (against `4 · width · height` unpacked).
    pub fn bytes(&self) -> usize {
        4 * (self.word_len() + self.chunk_start.len() + self.meta.len())
    }
}

/// Packs `m` (see the module doc). Errors if the matrix is too large for
/// the format's 32-bit offsets (far beyond what a shard's tables reach).
pub fn pack(m: &RowMajorMatrix<Val>) -> Result<PackedMatrix> {
    pack_with(m.width(), m.height(), &m.values, |chunk, scratch| {
        scratch.clear();
        scratch.extend(chunk.iter().map(|v| v.as_canonical_u32()));
        scratch
    })
}

/// Packs row-major canonical words (`width` a row), each below the field's
/// order, as [`pack`] packs their field elements.
pub fn pack_words(words: &[u32], width: usize) -> Result<PackedMatrix> {
    let out_of_field = std::sync::atomic::AtomicBool::new(false);
    let packed = pack_with(width, words.len() / width.max(1), words, |chunk, _| {
        // Checked here, where the chunk is in the cache anyway.
        if chunk.iter().any(|&w| w >= Val::ORDER_U32) {
            out_of_field.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        chunk
    })?;
    if out_of_field.into_inner() {
        return Err(GpuError::Invalid(
            "a word to pack is no canonical field value".into(),
        ));
    }
    Ok(packed)
}

/// Packs a `height × width` row-major matrix of cells `T`; `canonical`
/// gives a chunk's cells as canonical words (in the scratch buffer it is
/// handed, or where they already are).
fn pack_with<T: Sync>(
    width: usize,
    height: usize,
    values: &[T],
    canonical: impl for<'a> Fn(&'a [T], &'a mut Vec<u32>) -> &'a [u32] + Sync,
) -> Result<PackedMatrix> {
    if width == 0 || height == 0 {
        return Ok(PackedMatrix {
            width,
            height,
            streams: Vec::new(),
            chunk_start: Vec::new(),
            meta: Vec::new(),
        });
    }
    let too_large =
        || GpuError::Invalid(format!("a {height} x {width} trace is too large to pack"));
    if (width * 31) >> 27 != 0 || (CHUNK_ROWS * width * 31) >> 32 != 0 {
        return Err(too_large());
    }
    // One pass over the trace: each chunk's values made canonical once, into
    // a scratch buffer of its thread, then its column widths (hence its row
    // layout) and its bit stream.
    let parts: Vec<(Vec<u32>, Vec<u32>)> = values[..height * width]
        .par_chunks(CHUNK_ROWS * width)
        .map_init(Vec::new, |scratch: &mut Vec<u32>, chunk| {
            let canonical = canonical(chunk, scratch);
            let mut or = vec![0u32; width];
            for row in canonical.chunks_exact(width) {
                for (acc, v) in or.iter_mut().zip(row) {
                    *acc |= v;
                }
            }
            let mut prefix = 0u32;
            let meta: Vec<u32> = or
                .iter()
                .map(|&acc| {
                    let bits = 32 - acc.leading_zeros();
                    let m = prefix << 5 | bits;
                    prefix += bits;
                    m
                })
                .collect();
            let rows = chunk.len() / width;
            let mut out = vec![0u32; (rows * prefix as usize).div_ceil(32)];
            pack_rows(canonical, &meta, &mut out);
            (meta, out)
        })
        .collect();
    let mut chunk_start = Vec::with_capacity(parts.len());
    let mut total = 0u64;
    for (_, out) in &parts {
        chunk_start.push(u32::try_from(total).map_err(|_| too_large())?);
        total += out.len() as u64;
    }
    // The spare word's index must fit too.
    u32::try_from(total + 1).map_err(|_| too_large())?;
    let (metas, streams): (Vec<Vec<u32>>, Vec<Vec<u32>>) = parts.into_iter().unzip();
    Ok(PackedMatrix {
        width,
        height,
        streams,
        chunk_start,
        meta: metas.into_iter().flatten().collect(),
    })
}

/// Packs a chunk's rows (row-major, canonical values) one after the other
/// into `out`, each value in its column's width (`meta`), through one bit
/// accumulator. Columns of width 0 (all zero in this chunk: unused flags and
/// selectors, most of a wide table's columns in many chunks) are skipped,
/// so the serial loop runs over the values that take bits only.
fn pack_rows(chunk: &[u32], meta: &[u32], out: &mut [u32]) {
    let width = meta.len();
    let live: Vec<(usize, u32)> = meta
        .iter()
        .enumerate()
        .filter(|(_, &m)| m & 31 != 0)
        .map(|(c, &m)| (c, m & 31))
        .collect();
    // Without a branch a value (whether it completes a word depends on the
    // widths, which a predictor guesses badly): the word is stored every
    // time, and kept (`w` moves on) when it is full.
    let (mut acc, mut filled, mut w) = (0u64, 0u32, 0usize);
    for row in chunk.chunks_exact(width) {
        for &(c, bits) in &live {
            acc |= u64::from(row[c]) << filled;
            filled += bits;
            out[w] = acc as u32;
            let full = filled >> 5;
            w += full as usize;
            acc >>= 32 * full;
            filled &= 31;
        }
    }
    if filled > 0 {
        out[w] = acc as u32;
    }
}

/// A packed matrix already on the device ([`stage`]), to be unpacked there
/// ([`DeviceMatrix::from_staged`]).
pub struct StagedMatrix {
    pub width: usize,
    pub height: usize,
    pub(crate) words: CudaSlice<u32>,
    chunk_start: CudaSlice<u32>,
    meta: CudaSlice<u32>,
    /// Bytes uploaded.
    pub bytes: usize,
}

/// Packs `m` and uploads it on the upload stream
/// ([`GpuContext::upload_staged`]): the part of committing a trace that can
/// run on the thread that made it, while the GPU works on earlier ones.
pub fn stage(gpu: &GpuContext, m: &RowMajorMatrix<Val>) -> Result<StagedMatrix> {
    stage_packed(gpu, pack(m)?)
}

/// The upload half of [`stage`].
pub fn stage_packed(gpu: &GpuContext, packed: PackedMatrix) -> Result<StagedMatrix> {
    // Empty buffers still get a word: the launch wants a valid pointer.
    let up = |v: &[u32]| gpu.upload_staged(if v.is_empty() { &[0u32][..] } else { v });
    Ok(StagedMatrix {
        width: packed.width,
        height: packed.height,
        words: match packed.word_len() {
            0 => up(&[])?,
            len => gpu.upload_staged_with(len, |out| packed.write_words(out))?,
        },
        chunk_start: up(&packed.chunk_start)?,
        meta: up(&packed.meta)?,
        bytes: packed.bytes(),
    })
}

impl DeviceMatrix {
    /// [`DeviceMatrix::upload`] of `m` packed: the same device words, fewer
    /// bytes across the bus.
    pub fn upload_packed(gpu: &GpuContext, m: &RowMajorMatrix<Val>) -> Result<Self> {
        let packed = {
            let _s = crate::profile::span(gpu, "upload: pack (host)");
            pack(m)?
        };
        let _s = crate::profile::span(gpu, "upload: copy and unpack");
        Self::unpack(gpu, &packed)
    }

    /// Uploads `packed` and unpacks it on the device.
    pub fn unpack(gpu: &GpuContext, packed: &PackedMatrix) -> Result<Self> {
        if packed.width * packed.height == 0 {
            return Self::unpacked(gpu, packed.width, packed.height, None);
        }
        let words = gpu.upload(&packed.words())?;
        let chunk_start = gpu.upload(&packed.chunk_start)?;
        let meta = gpu.upload(&packed.meta)?;
        Self::unpacked(
            gpu,
            packed.width,
            packed.height,
            Some((&words, &chunk_start, &meta)),
        )
    }

    /// Unpacks a staged matrix on the compute stream; its packed buffers
    /// are freed once that is done.
    pub fn from_staged(gpu: &GpuContext, s: StagedMatrix) -> Result<Self> {
        let parts = (s.width * s.height > 0).then_some((&s.words, &s.chunk_start, &s.meta));
        let m = Self::unpacked(gpu, s.width, s.height, parts)?;
        gpu.free_after_compute(s)?;
        Ok(m)
    }

    /// A `height × width` matrix unpacked from device buffers (words, chunk
    /// starts, metadata), or zero words where there is nothing to unpack.
    fn unpacked(
        gpu: &GpuContext,
        width: usize,
        height: usize,
        parts: Option<(&CudaSlice<u32>, &CudaSlice<u32>, &CudaSlice<u32>)>,
    ) -> Result<Self> {
        let len = width * height;
        let mut buf = gpu.alloc_u32(len.max(1))?;
        if let Some((words, chunk_start, meta)) = parts {
            let f = gpu.function("prove", prove_source, "unpack_trace")?;
            let (h64, w32, rows32) = (height as u64, width as u32, CHUNK_ROWS as u32);
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(words)
                .arg(chunk_start)
                .arg(meta)
                .arg(&mut buf)
                .arg(&h64)
                .arg(&w32)
                .arg(&rows32);
            // SAFETY: `buf` holds height*width words; `words` the packed
            // streams (a value's bits lie within its chunk's words), `meta` a
            // word per chunk and column, `chunk_start` one per chunk.
            unsafe { l.launch(LaunchConfig::grid((len as u64).div_ceil(256) as u32, 256)) }?;
        }
        Ok(DeviceMatrix { buf, width, height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_field::PrimeCharacteristicRing;

    /// The reference unpacker, as the kernel reads the words.
    fn unpack_host(p: &PackedMatrix) -> Vec<u32> {
        let words = p.words();
        let mut out = vec![0u32; p.width * p.height];
        for (t, o) in out.iter_mut().enumerate() {
            let (row, c) = (t / p.width, t % p.width);
            let (k, r) = (row / CHUNK_ROWS, row % CHUNK_ROWS);
            let m = p.meta[k * p.width + c];
            let bits = m & 31;
            if bits == 0 {
                continue;
            }
            let last = p.meta[k * p.width + p.width - 1];
            let row_bits = u64::from((last >> 5) + (last & 31));
            let pos = r as u64 * row_bits + u64::from(m >> 5);
            let base = &words[p.chunk_start[k] as usize..];
            let w = (pos >> 5) as usize;
            let pair = u64::from(base[w]) | (u64::from(base[w + 1]) << 32);
            *o = ((pair >> (pos & 31)) as u32) & ((1u32 << bits) - 1);
        }
        out
    }

    /// The two-pass packer this crate used before `pack` read each chunk
    /// once (stop 16's), kept to pin the format: the bytes must not change.
    /// Its words, chunk starts and metadata.
    fn pack_two_pass(m: &RowMajorMatrix<Val>) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let width = m.width();
        let chunks: Vec<&[Val]> = m.values.chunks(CHUNK_ROWS * width).collect();
        let metas: Vec<(Vec<u32>, usize)> = chunks
            .iter()
            .map(|chunk| {
                let mut or = vec![0u32; width];
                for row in chunk.chunks_exact(width) {
                    for (acc, v) in or.iter_mut().zip(row) {
                        *acc |= v.as_canonical_u32();
                    }
                }
                let mut prefix = 0u32;
                let meta: Vec<u32> = or
                    .iter()
                    .map(|&acc| {
                        let bits = 32 - acc.leading_zeros();
                        let m = prefix << 5 | bits;
                        prefix += bits;
                        m
                    })
                    .collect();
                (meta, (chunk.len() / width * prefix as usize).div_ceil(32))
            })
            .collect();
        let mut chunk_start = Vec::new();
        let mut total = 0usize;
        for (_, words) in &metas {
            chunk_start.push(total as u32);
            total += words;
        }
        let mut words = vec![0u32; total + 1];
        for ((chunk, (meta, _)), &start) in chunks.iter().zip(&metas).zip(&chunk_start) {
            let canonical: Vec<u32> = chunk.iter().map(|v| v.as_canonical_u32()).collect();
            // Every column through the accumulator, zero-width ones too:
            // this reference keeps its own loop, apart from `pack_rows`'s.
            let (mut acc, mut filled, mut w) = (0u64, 0u32, start as usize);
            for row in canonical.chunks_exact(width) {
                for (&v, &m) in row.iter().zip(meta) {
                    acc |= u64::from(v) << filled;
                    filled += m & 31;
                    if filled >= 32 {
                        words[w] = acc as u32;
                        w += 1;
                        acc >>= 32;
                        filled -= 32;
                    }
                }
            }
            if filled > 0 {
                words[w] = acc as u32;
            }
        }
        (
            words,
            chunk_start,
            metas.into_iter().flat_map(|(m, _)| m).collect(),
        )
    }

    /// Words packed as words are the same bytes as the field elements they
    /// stand for packed as a trace; a word not below the order is refused.
    #[test]
    fn packed_words_are_packed_field_elements() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for (height, width) in [(1, 1), (1500, 24), (CHUNK_ROWS * 2, 5)] {
            let words: Vec<u32> = (0..height * width)
                .map(|t| (rng.random::<u32>() % Val::ORDER_U32) >> (t % 31))
                .collect();
            let m = RowMajorMatrix::new(words.iter().map(|&w| Val::from_u32(w)).collect(), width);
            let (a, b) = (pack_words(&words, width).unwrap(), pack(&m).unwrap());
            assert_eq!(
                (a.words(), a.chunk_start, a.meta),
                (b.words(), b.chunk_start, b.meta),
                "{height} x {width}"
            );
        }
        assert!(pack_words(&[1, Val::ORDER_U32], 2).is_err());
    }

    #[test]
    fn packing_round_trips_and_shrinks_narrow_columns() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for (height, width) in [(1, 1), (16, 3), (1024, 7), (4096, 37), (3000, 5)] {
            // Columns of 0, 1, 8, 16, 20 and 31 bits, and one that is zero
            // in some chunks only.
            let values: Vec<Val> = (0..height * width)
                .map(|t| {
                    let (row, c) = (t / width, t % width);
                    let v: u32 = rng.random();
                    Val::from_u32(match c % 7 {
                        0 => 0,
                        1 => v & 1,
                        2 => v & 0xff,
                        3 => v & 0xffff,
                        4 => v & 0xfffff,
                        5 => v % 0x7f00_0001,
                        _ if row < CHUNK_ROWS => 0,
                        _ => v & 0x3ff,
                    })
                })
                .collect();
            let m = RowMajorMatrix::new(values, width);
            let p = pack(&m).unwrap();
            assert_eq!(
                (p.words(), p.chunk_start.clone(), p.meta.clone()),
                pack_two_pass(&m),
                "{height} x {width}: the format changed"
            );
            let canonical: Vec<u32> = m.values.iter().map(|v| v.as_canonical_u32()).collect();
            assert_eq!(unpack_host(&p), canonical, "{height} x {width}");
            if height * width >= 4096 {
                assert!(
                    p.bytes() * 2 < 4 * height * width,
                    "{height} x {width}: {}",
                    p.bytes()
                );
            }
        }
    }
}
