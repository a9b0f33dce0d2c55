//! Merkle commitments matching `MerkleTreeHidingMmcs` (the config's `ValMmcs`):
//! leaves hashed with `SerializingHasher<Blake3>`, nodes compressed with
//! `CompressionFunctionFromHasher<Blake3, 2, 32>` (cuda/blake3.cu), each
//! matrix row followed by `SALT_ELEMS` = 4 salt elements. A digest is 8 words
//! on the device, the 32 bytes of [`Digest`] on the host.
//!
//! The layout is p3-merkle-tree 0.8.0's (`MerkleTree::new` with arity 2):
//! * matrices are taken tallest first (a stable sort, so equal heights keep
//!   their input order); the first digest layer hashes, for each row index r
//!   of the tallest height, the concatenation over the tallest matrices of
//!   (row r of the matrix, row r of its salts) as one sponge message;
//! * each next layer halves the previous one, node i = C(prev[2i], prev[2i+1]);
//!   where matrices of that layer's height exist, node i is instead
//!   C(C(prev[2i], prev[2i+1]), H(row i of each such matrix with its salts));
//! * the commitment (cap height 0) is the single root; an opening's
//!   siblings are `layer[l][(index >> l) ^ 1]`.
//!
//! Heights must be powers of two (every LDE is), which keeps every layer a
//! power of two with no padding nodes.
//!
//! The salts are drawn on the host exactly as `MerkleTreeHidingMmcs::commit`
//! draws them ([`hiding_salts`]): one `RowMajorMatrix::rand(rng, height, 4)`
//! per input matrix, in input order, from the mmcs's rng.

use cloak_prover::config::{Digest, Val, SALT_ELEMS};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use p3_matrix::dense::RowMajorMatrix;
use rand::Rng;

use crate::blake3::{blake3_source, digest_bytes};
use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::ntt::DeviceMatrix;

/// Words per digest on the device.
pub const DIGEST_WORDS: usize = 8;
/// The most segments (matrices plus their salt matrices) one leaf message may join.
const MAX_SEGMENTS: usize = 256; // must match cuda/blake3.cu
/// Words a leaf message may hold: fewer than 2^16 BLAKE3 chunks of 256
/// words, the depth of the kernel's chaining-value stack (`B3_MAX_DEPTH`).
const MAX_ROW_WORDS: u64 = 1 << 24; // must match cuda/blake3.cu
/// Segment tables up to this size go to the kernel by value, not by upload.
const INLINE_SEGMENTS: usize = 16; // must match cuda/blake3.cu

/// `InlineSegments` of cuda/blake3.cu: (pointer, width) pairs.
#[repr(C)]
#[derive(Clone, Copy)]
struct InlineSegments([[u64; 2]; INLINE_SEGMENTS]);

// SAFETY: plain words, laid out as the kernel's struct of 16 (pointer, u64).
unsafe impl cudarc::driver::DeviceRepr for InlineSegments {}

/// Layers of at most this many nodes are made by one `compress_top` block.
const TOP_NODES: usize = 128;
/// ... which is at most this many layers (128 nodes down to the root).
const TOP_LEVELS: usize = 8; // must match cuda/blake3.cu's MERKLE_TOP_LEVELS

/// `TopLayers` of cuda/blake3.cu: each top layer's output and injected
/// digests (0 for none).
#[repr(C)]
#[derive(Clone, Copy)]
struct TopLayers {
    out: [u64; TOP_LEVELS],
    inject: [u64; TOP_LEVELS],
}

// SAFETY: plain words, laid out as the kernel's struct of 16 pointers.
unsafe impl cudarc::driver::DeviceRepr for TopLayers {}

/// The salts `MerkleTreeHidingMmcs::commit` draws for matrices of these
/// heights (in input order) from `rng`.
pub fn hiding_salts<R: Rng>(rng: &mut R, heights: &[usize]) -> Vec<RowMajorMatrix<Val>> {
    heights
        .iter()
        .map(|&h| RowMajorMatrix::rand(rng, h, SALT_ELEMS))
        .collect()
}

/// A Merkle tree in device memory: every digest layer, leaves first.
pub struct GpuMerkleTree {
    /// Layer l holds `layer_lens[l]` digests of 8 words.
    pub layers: Vec<CudaSlice<u32>>,
    pub layer_lens: Vec<usize>,
}

impl GpuMerkleTree {
    /// The root digest (the commitment with cap height 0).
    pub fn root(&self, gpu: &GpuContext) -> Result<Digest> {
        let top = self.layers.last().expect("a tree has a layer");
        let raw = gpu.download(top)?;
        Ok(digest_bytes(&raw[..DIGEST_WORDS]))
    }

    /// Every layer, downloaded.
    pub fn download_layers(&self, gpu: &GpuContext) -> Result<Vec<Vec<Digest>>> {
        self.layers
            .iter()
            .zip(&self.layer_lens)
            .map(|(buf, &len)| {
                let raw = gpu.download(buf)?;
                Ok(raw[..len * DIGEST_WORDS]
                    .chunks_exact(DIGEST_WORDS)
                    .map(digest_bytes)
                    .collect())
            })
            .collect()
    }

    /// The sibling digests from leaf `index` up to (not including) the root.
    pub fn opening_siblings(&self, gpu: &GpuContext, index: usize) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for (l, (buf, &len)) in self.layers.iter().zip(&self.layer_lens).enumerate() {
            if len <= 1 {
                break;
            }
            let sib = (index >> l) ^ 1;
            let mut raw = [0u32; DIGEST_WORDS];
            let view = buf.slice(sib * DIGEST_WORDS..(sib + 1) * DIGEST_WORDS);
            gpu.download_into(&view, &mut raw)?;
            out.push(digest_bytes(&raw));
        }
        Ok(out)
    }
}

fn hash_rows(
    gpu: &GpuContext,
    group: &[(&DeviceMatrix, &DeviceMatrix)],
    rows: usize,
) -> Result<CudaSlice<u32>> {
    let f = gpu.function("blake3", blake3_source, "hash_rows")?;
    let mut segs: Vec<u64> = Vec::new();
    for (m, s) in group {
        for part in [*m, *s] {
            if part.height != rows {
                return Err(GpuError::Invalid("matrix and salt heights differ".into()));
            }
            if part.width > 0 {
                segs.push(gpu.device_ptr(&part.buf));
                segs.push(part.width as u64);
            }
        }
    }
    let num_segs = segs.len() / 2;
    if num_segs == 0 || num_segs > MAX_SEGMENTS {
        return Err(GpuError::Invalid(format!(
            "{num_segs} leaf segments (1..={MAX_SEGMENTS} allowed)"
        )));
    }
    let row_words: u64 = segs.chunks_exact(2).map(|s| s[1]).sum();
    if row_words >= MAX_ROW_WORDS {
        return Err(GpuError::Invalid(format!(
            "a leaf of {row_words} words (below {MAX_ROW_WORDS} allowed)"
        )));
    }
    let mut out = gpu.alloc_u32(rows * DIGEST_WORDS)?;
    let (n32, rows64) = (num_segs as u32, rows as u64);
    let grid = LaunchConfig::grid(rows64.div_ceil(128) as u32, 128);
    if num_segs <= INLINE_SEGMENTS {
        // By value: no copy of the table to the device.
        let f = gpu.function("blake3", blake3_source, "hash_rows_inline")?;
        let mut table = InlineSegments([[0; 2]; INLINE_SEGMENTS]);
        for (slot, pair) in table.0.iter_mut().zip(segs.chunks_exact(2)) {
            *slot = [pair[0], pair[1]];
        }
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(&table).arg(&n32).arg(&rows64).arg(&mut out);
        // SAFETY: as below; the table travels in the launch's parameters.
        unsafe { l.launch(grid) }?;
        return Ok(out);
    }
    let segs = gpu.upload(&segs)?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&segs).arg(&n32).arg(&rows64).arg(&mut out);
    // SAFETY: each segment pointer addresses rows x width words of a buffer
    // the caller keeps alive; buffers (the segment table too) are freed in
    // stream order, after the kernel.
    unsafe { l.launch(grid) }?;
    Ok(out)
}

/// Commits `matrices`, each salted with the matching `salts` matrix
/// (height equal, width [`SALT_ELEMS`]), as `MerkleTreeHidingMmcs::commit`
/// does with those salts. Returns the whole tree (kept on the device).
pub fn commit_salted(
    gpu: &GpuContext,
    matrices: &[&DeviceMatrix],
    salts: &[&DeviceMatrix],
) -> Result<GpuMerkleTree> {
    if matrices.is_empty() || matrices.len() != salts.len() {
        return Err(GpuError::Invalid("need one salt matrix per matrix".into()));
    }
    for (m, s) in matrices.iter().zip(salts) {
        if !m.height.is_power_of_two() {
            return Err(GpuError::Invalid(format!(
                "height {} is not a power of two",
                m.height
            )));
        }
        if s.height != m.height || s.width != SALT_ELEMS {
            return Err(GpuError::Invalid("salt matrix must be height x 4".into()));
        }
    }
    // Tallest first, stable.
    let mut order: Vec<usize> = (0..matrices.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(matrices[i].height));
    let group_of = |h: usize| -> Vec<(&DeviceMatrix, &DeviceMatrix)> {
        order
            .iter()
            .filter(|&&i| matrices[i].height == h)
            .map(|&i| (matrices[i], salts[i]))
            .collect()
    };

    let max_h = matrices[order[0]].height;
    let leaves = crate::profile::span(gpu, "merkle: leaf hashes (tallest)");
    let mut layers = vec![hash_rows(gpu, &group_of(max_h), max_h)?];
    drop(leaves);
    let mut layer_lens = vec![max_h];
    let mut len = max_h;
    let inject_of = |next_len: usize| -> Result<Option<CudaSlice<u32>>> {
        let group = group_of(next_len);
        if group.is_empty() {
            return Ok(None);
        }
        let _s = crate::profile::span(gpu, "merkle: leaf hashes (shorter)");
        Ok(Some(hash_rows(gpu, &group, next_len)?))
    };
    // The `levels` layers of `n, n / 2, …` digests one launch makes (pushed
    // onto `layers`), each with the shorter matrices' digests injected into
    // it, as the launch's table; the injected buffers must outlive the launch.
    let alloc_layers = |n: usize,
                        levels: usize,
                        layers: &mut Vec<CudaSlice<u32>>,
                        layer_lens: &mut Vec<usize>|
     -> Result<(TopLayers, Vec<CudaSlice<u32>>)> {
        let mut table = TopLayers {
            out: [0; TOP_LEVELS],
            inject: [0; TOP_LEVELS],
        };
        let mut injects = Vec::new();
        for level in 0..levels {
            let n = n >> level;
            let next = gpu.alloc_u32(n * DIGEST_WORDS)?;
            table.out[level] = gpu.device_ptr(&next);
            if let Some(buf) = inject_of(n)? {
                table.inject[level] = gpu.device_ptr(&buf);
                injects.push(buf);
            }
            layers.push(next);
            layer_lens.push(n);
        }
        Ok((table, injects))
    };
    while len > 1 {
        let next_len = len / 2;
        let first = layers.len();
        if next_len <= TOP_NODES {
            // The rest of the tree in one block: next_len nodes down to the root.
            let compress_top = gpu.function("blake3", blake3_source, "compress_top")?;
            let _s = crate::profile::span(gpu, "merkle: compress layers");
            let levels = next_len.trailing_zeros() as usize + 1;
            let (top, injects) = alloc_layers(next_len, levels, &mut layers, &mut layer_lens)?;
            let (n0, levels32) = (next_len as u32, levels as u32);
            let mut l = gpu.stream().launch_builder(&compress_top);
            l.arg(&layers[first - 1]).arg(&n0).arg(&levels32).arg(&top);
            // SAFETY: the layer before holds 2 n0 digests; top's layer l
            // holds n0 >> l, its injected digests (where any) as many;
            // levels <= 8 since n0 <= 128. `injects` outlives the launch
            // on this stream (freed in stream order).
            unsafe { l.launch(LaunchConfig::grid(1, TOP_NODES as u32)) }?;
            drop(injects);
            break;
        }
        // Up to TOP_LEVELS layers above TOP_NODES nodes in one launch
        // (`compress_sub`, TOP_NODES threads a block).
        let levels = TOP_LEVELS.min((next_len / TOP_NODES).trailing_zeros() as usize);
        let compress_sub = gpu.function("blake3", blake3_source, "compress_sub")?;
        let (sub, injects) = alloc_layers(next_len, levels, &mut layers, &mut layer_lens)?;
        let _s = crate::profile::span(gpu, "merkle: compress layers");
        let levels32 = levels as u32;
        let mut l = gpu.stream().launch_builder(&compress_sub);
        l.arg(&layers[first - 1]).arg(&levels32).arg(&sub);
        // SAFETY: the layer before holds 2 next_len digests; sub's layer l
        // holds next_len >> l, its injected digests (where any) as many;
        // next_len is a multiple of TOP_NODES (a power of two above it) and
        // levels <= log2(TOP_NODES) + 1, so every block has a node in each
        // layer. `injects` outlives the launch (freed in stream order).
        unsafe {
            l.launch(LaunchConfig::grid(
                (next_len / TOP_NODES) as u32,
                TOP_NODES as u32,
            ))
        }?;
        drop(injects);
        len = next_len >> (levels - 1);
    }
    Ok(GpuMerkleTree { layers, layer_lens })
}
