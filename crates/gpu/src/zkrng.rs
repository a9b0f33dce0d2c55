//! The zero-knowledge draws of the hiding PCS and MMCS, made in parallel on
//! the host or the device with exactly the values (and the final stream
//! position) of the sequential draws.
//!
//! The Merkle salts come from a [`SaltRng`], whose words the sampler always
//! accepts: salt `i` is keystream word `i` mod p, so [`salts_split`] makes
//! each from its own word. The masks and random codewords come from the
//! plain stream, as below.
//!
//! Plonky3 samples a KoalaBear element (`StandardUniform`, p3-monty-31 0.8.0)
//! as `next_u32() >> 1`, retried while it is ≥ p (about 1 word in 128), from
//! one ChaCha20 stream. A draw's position in the stream thus depends on every
//! earlier draw, but ChaCha20 is seekable (`set_word_pos`): [`Samples::draw`]
//! reads chunks of the keystream in parallel, keeps each chunk's accepted
//! words in order, and leaves the rng just past the last word used, where the
//! sequential draws would have left it. The draws stay in their chunks
//! ([`Samples::copy_to`]) so callers scatter them in parallel too.

use cloak_prover::config::{SaltRng, Val, ZkRng};
use p3_field::{PrimeCharacteristicRing as _, PrimeField32};
use rayon::prelude::*;

/// Keystream words per parallel chunk.
const CHUNK_WORDS: usize = 1 << 16;

/// A generator on the same key and stream as `rng` (its position is set by
/// the caller). ChaCha20Rng is not `Clone`; its key, stream and position are
/// its whole state.
pub(crate) fn fork(rng: &ZkRng) -> ZkRng {
    let mut r = <ZkRng as rand::SeedableRng>::from_seed(rng.get_seed());
    r.set_stream(rng.get_stream());
    r.set_word_pos(rng.get_word_pos());
    r
}

/// [`fork`] for the salt stream.
pub(crate) fn fork_salts(rng: &SaltRng) -> SaltRng {
    let mut r = <SaltRng as rand::SeedableRng>::from_seed(rng.keystream().get_seed());
    let k = r.keystream_mut();
    k.set_stream(rng.keystream().get_stream());
    k.set_word_pos(rng.keystream().get_word_pos());
    r
}

/// `n` draws, as consecutive runs (one per keystream chunk).
pub struct Samples {
    runs: Vec<Vec<Val>>,
    /// `starts[i]`: the index of `runs[i][0]` among the draws.
    starts: Vec<usize>,
    n: usize,
}

impl Samples {
    /// `n` elements as `(0..n).map(|_| rng.random::<Val>())` draws them, and
    /// `rng` advanced as far.
    pub fn draw(rng: &mut ZkRng, n: usize) -> Samples {
        Self::draw_chunked(rng, n, CHUNK_WORDS)
    }

    fn draw_chunked(rng: &mut ZkRng, n: usize, chunk: usize) -> Samples {
        let p = Val::ORDER_U32;
        let start = rng.get_word_pos();
        let mut runs: Vec<Vec<u32>> = Vec::new();
        let mut starts = Vec::new();
        let mut have = 0usize;
        // Words read so far (from `start`).
        let mut read: u128 = 0;
        while have < n {
            let missing = n - have;
            // Enough chunks for the missing draws with ~1% rejections, plus one.
            let chunks = (missing + missing / 64).div_ceil(chunk) + 1;
            let base = fork(rng);
            let parts: Vec<Vec<u32>> = (0..chunks)
                .into_par_iter()
                .map(|c| {
                    let mut r = fork(&base);
                    r.set_word_pos(start + read + (c * chunk) as u128);
                    let mut out = Vec::with_capacity(chunk);
                    for _ in 0..chunk {
                        let x = rand::Rng::next_u32(&mut r) >> 1;
                        if x < p {
                            out.push(x);
                        }
                    }
                    out
                })
                .collect();
            for accepted in parts {
                if have + accepted.len() <= n {
                    have += accepted.len();
                    read += chunk as u128;
                    starts.push(have - accepted.len());
                    runs.push(accepted);
                } else {
                    // The last chunk needed: stop right after the n-th accepted word.
                    let need = n - have;
                    let mut r = fork(&base);
                    r.set_word_pos(start + read);
                    let mut last = Vec::with_capacity(need);
                    while last.len() < need {
                        let x = rand::Rng::next_u32(&mut r) >> 1;
                        read += 1;
                        if x < p {
                            last.push(x);
                        }
                    }
                    starts.push(have);
                    have += need;
                    runs.push(last);
                    break;
                }
            }
        }
        rng.set_word_pos(start + read);
        // The accepted words are the elements' Montgomery words
        // (`MontyField31::new_monty`), all < p.
        let runs: Vec<Vec<Val>> = runs
            .into_par_iter()
            .map(|r| crate::field::from_raw(r).expect("accepted words are < p"))
            .collect();
        Samples { runs, starts, n }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Copies draws `k .. k + dst.len()` into `dst`.
    pub fn copy_to(&self, mut k: usize, mut dst: &mut [Val]) {
        assert!(k + dst.len() <= self.n, "draws {k}.. past {}", self.n);
        while !dst.is_empty() {
            let i = self.starts.partition_point(|&s| s <= k) - 1;
            let off = k - self.starts[i];
            let take = (self.runs[i].len() - off).min(dst.len());
            let (head, tail) = dst.split_at_mut(take);
            head.copy_from_slice(&self.runs[i][off..off + take]);
            dst = tail;
            k += take;
        }
    }

    /// All the draws in one vector.
    pub fn to_vec(&self) -> Vec<Val> {
        let mut v = Val::zero_vec(self.n);
        v.par_chunks_mut(CHUNK_WORDS)
            .enumerate()
            .for_each(|(i, c)| self.copy_to(i * CHUNK_WORDS, c));
        v
    }
}

/// Threads a block of the count and the scatter: the scatter stages a
/// block's draws in shared memory sized for this many (`cuda/zkrng.cu`'s
/// `ZK_SCATTER_BLOCK`).
const SCATTER_BLOCK: u64 = 128;
/// Values per thread of each level of the scan (cuda/zkrng.cu's `ZK_SCAN_GROUP`).
const SCAN_GROUP: u64 = 32;

pub(crate) fn zkrng_source() -> String {
    include_str!("../cuda/zkrng.cu").to_string()
}

/// The key arguments of the zk kernels: the 8 key words and the stream id.
fn key_words(rng: &ZkRng) -> ([u32; 8], u64) {
    let seed = rng.get_seed();
    let k = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().unwrap()));
    (k, rng.get_stream())
}

/// The exclusive prefix sums of `counts` (`n` of them) into `offsets`, and
/// their total into `total[0]`, by the share-nothing levels of
/// cuda/zkrng.cu: sums of groups of [`SCAN_GROUP`] until a level fits one
/// group, one thread over that level, then the offsets spread back down.
/// About 2 log_32(n) small launches; nothing crosses the bus.
fn exclusive_offsets(
    gpu: &crate::GpuContext,
    counts: &cudarc::driver::CudaSlice<u32>,
    n: u64,
    offsets: &mut cudarc::driver::CudaSlice<u64>,
    total: &mut cudarc::driver::CudaViewMut<'_, u64>,
) -> crate::Result<()> {
    use crate::context::LaunchConfigExt;
    use cudarc::driver::{LaunchConfig, PushKernelArg};

    let sum_counts = gpu.function("zkrng", zkrng_source, "zk_sum_counts")?;
    let sum_sums = gpu.function("zkrng", zkrng_source, "zk_sum_sums")?;
    let scan = gpu.function("zkrng", zkrng_source, "zk_scan")?;
    let spread_sums = gpu.function("zkrng", zkrng_source, "zk_spread_sums")?;
    let spread_counts = gpu.function("zkrng", zkrng_source, "zk_spread_counts")?;
    let grid = |len: u64| LaunchConfig::grid(len.div_ceil(SCAN_GROUP).div_ceil(128) as u32, 128);
    // levels[i]: the sums of level i + 1 (groups of the level below), with its length.
    let mut levels: Vec<(cudarc::driver::CudaSlice<u64>, u64)> = Vec::new();
    let mut below = n;
    loop {
        let len = below.div_ceil(SCAN_GROUP);
        let mut sums = gpu.alloc_u64(len as usize)?;
        let mut l = match levels.last() {
            None => {
                let mut l = gpu.stream().launch_builder(&sum_counts);
                l.arg(counts);
                l
            }
            Some((prev, _)) => {
                let mut l = gpu.stream().launch_builder(&sum_sums);
                l.arg(prev);
                l
            }
        };
        l.arg(&below).arg(&mut sums);
        // SAFETY: the input holds `below` values, sums one per group.
        unsafe { l.launch(grid(below)) }?;
        levels.push((sums, len));
        if len <= SCAN_GROUP {
            break;
        }
        below = len;
    }
    let (top, top_len) = levels.last_mut().expect("a level");
    let mut l = gpu.stream().launch_builder(&scan);
    l.arg(&mut *top).arg(&*top_len).arg(total);
    // SAFETY: one thread; top holds top_len values, total one.
    unsafe { l.launch(LaunchConfig::grid(1, 1)) }?;
    // Down: level i's offsets from level i + 1's (already offsets).
    while levels.len() > 1 {
        let (upper, _) = levels.pop().expect("two levels");
        let (lower, lower_len) = levels.last().expect("a level");
        let mut lower_offsets = gpu.alloc_u64(*lower_len as usize)?;
        let mut l = gpu.stream().launch_builder(&spread_sums);
        l.arg(lower)
            .arg(lower_len)
            .arg(&upper)
            .arg(&mut lower_offsets);
        // SAFETY: lower and lower_offsets hold lower_len values, upper one per group.
        unsafe { l.launch(grid(*lower_len)) }?;
        *levels.last_mut().expect("a level") = (lower_offsets, *lower_len);
    }
    let (first_offsets, _) = &levels[0];
    let mut l = gpu.stream().launch_builder(&spread_counts);
    l.arg(counts).arg(&n).arg(first_offsets).arg(offsets);
    // SAFETY: counts and offsets hold n values, first_offsets one per group.
    unsafe { l.launch(grid(n)) }?;
    Ok(())
}

/// `n` draws made on the device (`cuda/zkrng.cu`): the values
/// `(0..n).map(|_| rng.random::<Val>())` gives, as Montgomery words in a
/// device buffer, and `rng` advanced as far. Only 16 bytes come back (the
/// window's total and the end position, in one download); nothing goes up.
pub fn draw_on_device(
    gpu: &crate::GpuContext,
    rng: &mut ZkRng,
    n: usize,
) -> crate::Result<cudarc::driver::CudaSlice<u32>> {
    use crate::context::LaunchConfigExt;
    use cudarc::driver::{LaunchConfig, PushKernelArg};

    let mut draws = gpu.alloc_u32(n)?;
    if n == 0 {
        return Ok(draws);
    }
    let first = u64::try_from(rng.get_word_pos())
        .map_err(|_| crate::GpuError::Invalid("ChaCha20 word position past 2^64".into()))?;
    let (k, stream) = key_words(rng);
    let count = gpu.function("zkrng", zkrng_source, "zk_count")?;
    let scatter = gpu.function("zkrng", zkrng_source, "zk_scatter")?;
    // About 1 word in 128 is rejected; 1/32 spare covers any real stream
    // (a short window is retried twice as long).
    let mut words = (n + n / 32 + 64) as u64;
    loop {
        // One thread a ChaCha20 block, from the block holding word `first`.
        let n_segs = (words + (first & 15)).div_ceil(16);
        let mut counts = gpu.alloc_u32(n_segs as usize)?;
        let mut offsets = gpu.alloc_u64(n_segs as usize)?;
        // [total accepted in the window, end of the n-th draw]
        let mut result = gpu.zeros::<u64>(2)?;
        let grid = LaunchConfig::grid(n_segs.div_ceil(SCATTER_BLOCK) as u32, SCATTER_BLOCK as u32);
        let mut l = gpu.stream().launch_builder(&count);
        for w in &k {
            l.arg(w);
        }
        l.arg(&stream).arg(&first).arg(&n_segs).arg(&mut counts);
        // SAFETY: counts holds n_segs words.
        unsafe { l.launch(grid) }?;
        exclusive_offsets(
            gpu,
            &counts,
            n_segs,
            &mut offsets,
            &mut result.slice_mut(0..1),
        )?;
        // With too short a window no thread holds the n-th draw: the end
        // stays 0, the draws are discarded and the window doubles.
        let n64 = n as u64;
        let mut end = result.slice_mut(1..2);
        let mut l = gpu.stream().launch_builder(&scatter);
        for w in &k {
            l.arg(w);
        }
        l.arg(&stream)
            .arg(&first)
            .arg(&n_segs)
            .arg(&offsets)
            .arg(&n64)
            .arg(&mut draws)
            .arg(&mut end);
        // SAFETY: draws holds n words; each index below n is written once.
        unsafe { l.launch(grid) }?;
        let [have, end] = gpu.download(&result)?[..] else {
            unreachable!("two words")
        };
        if have < n64 {
            words *= 2;
            continue;
        }
        rng.set_word_pos(first as u128 + end as u128);
        return Ok(draws);
    }
}

/// Consecutive draws from `rng` of these sizes, as separate buffers: the
/// values successive [`draw_on_device`] calls give, made in one call (one
/// round trip to the host instead of one per buffer) and split on the
/// device.
pub fn draw_split(
    gpu: &crate::GpuContext,
    rng: &mut ZkRng,
    sizes: &[usize],
) -> crate::Result<Vec<cudarc::driver::CudaSlice<u32>>> {
    let total: usize = sizes.iter().sum();
    let all = draw_on_device(gpu, rng, total)?;
    let mut out = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for &n in sizes {
        let mut buf = gpu.alloc_u32(n.max(1))?;
        if n > 0 {
            gpu.stream()
                .memcpy_dtod(&all.slice(at..at + n), &mut buf.slice_mut(0..n))?;
        }
        at += n;
        out.push(buf);
    }
    Ok(out)
}

/// Matrices one `zk_salts` launch fills (cuda/zkrng.cu's `ZK_SALT_OUTS`).
const SALT_OUTS: usize = 16;

/// `ZkSaltOuts` of cuda/zkrng.cu: each output's address and the salts
/// that end it (a running total).
#[repr(C)]
#[derive(Clone, Copy)]
struct SaltOuts {
    out: [u64; SALT_OUTS],
    end: [u64; SALT_OUTS],
}

// SAFETY: plain words, laid out as the kernel's struct of 16 pointers and 16 u64.
unsafe impl cudarc::driver::DeviceRepr for SaltOuts {}

/// Salt matrices (`height × 4` each) for matrices of these heights, made
/// on the device (`zk_salts`, up to 16 matrices a launch) as
/// `MerkleTreeHidingMmcs::commit` draws them from its [`SaltRng`] (salt `i`
/// is keystream word `i` mod p), and `rng` advanced as far. Nothing
/// crosses the bus.
pub fn salts_split(
    gpu: &crate::GpuContext,
    rng: &mut SaltRng,
    heights: &[usize],
) -> crate::Result<Vec<crate::DeviceMatrix>> {
    use crate::context::LaunchConfigExt;
    use cloak_prover::config::SALT_ELEMS;
    use cudarc::driver::{LaunchConfig, PushKernelArg};

    let mut mats = heights
        .iter()
        .map(|&height| {
            Ok(crate::DeviceMatrix {
                buf: gpu.alloc_u32(height * SALT_ELEMS)?,
                width: SALT_ELEMS,
                height,
            })
        })
        .collect::<crate::Result<Vec<_>>>()?;
    let f = gpu.function("zkrng", zkrng_source, "zk_salts")?;
    for group in mats.chunks_mut(SALT_OUTS) {
        let mut outs = SaltOuts {
            out: [0; SALT_OUTS],
            end: [0; SALT_OUTS],
        };
        let mut n = 0u64;
        for (k, m) in group.iter().enumerate() {
            n += (m.height * SALT_ELEMS) as u64;
            outs.out[k] = gpu.device_ptr(&m.buf);
            outs.end[k] = n;
        }
        if n == 0 {
            continue;
        }
        let first = u64::try_from(rng.keystream().get_word_pos())
            .map_err(|_| crate::GpuError::Invalid("ChaCha20 word position past 2^64".into()))?;
        let (k, stream) = key_words(rng.keystream());
        let (blocks, count) = (((first & 15) + n).div_ceil(16), group.len() as u32);
        let mut l = gpu.stream().launch_builder(&f);
        for w in &k {
            l.arg(w);
        }
        l.arg(&stream).arg(&first).arg(&n).arg(&count).arg(&outs);
        // SAFETY: output k holds end[k] - end[k - 1] words (its height x
        // 4), each written once; the buffers outlive the launch (they are
        // returned, freed in stream order).
        unsafe {
            l.launch(LaunchConfig::grid(
                blocks.div_ceil(SCATTER_BLOCK) as u32,
                SCATTER_BLOCK as u32,
            ))
        }?;
        rng.keystream_mut()
            .set_word_pos(u128::from(first) + u128::from(n));
    }
    Ok(mats)
}

/// One hiding salt matrix (`height × 4`), made on the device as
/// `MerkleTreeHidingMmcs::commit` draws it on the host
/// (`RowMajorMatrix::rand(rng, height, 4)`, [`crate::hiding_salts`]).
pub fn salts_on_device(
    gpu: &crate::GpuContext,
    rng: &mut SaltRng,
    height: usize,
) -> crate::Result<crate::DeviceMatrix> {
    Ok(salts_split(gpu, rng, &[height])?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt, SeedableRng};

    #[test]
    fn matches_sequential_draws_and_position() {
        for (seed, n, chunk) in [
            (1u64, 0usize, 64usize),
            (2, 1, 64),
            (3, 1000, 64),
            (4, 5000, 256),
            (5, 70_000, 1 << 16),
            (6, 300_000, 1 << 16),
        ] {
            let mut a = ZkRng::seed_from_u64(seed);
            let mut b = fork(&a);
            // Start mid-block.
            let _ = a.next_u32();
            let _ = b.next_u32();
            let seq: Vec<Val> = (0..n).map(|_| a.random()).collect();
            let par = Samples::draw_chunked(&mut b, n, chunk);
            assert_eq!(seq, par.to_vec(), "n = {n}");
            // Any window.
            if n > 10 {
                let mut w = vec![Val::ZERO; n / 3];
                par.copy_to(n / 2, &mut w);
                assert_eq!(w, seq[n / 2..n / 2 + n / 3], "window, n = {n}");
            }
            assert_eq!(a.next_u32(), b.next_u32(), "position after n = {n}");
        }
    }
}
