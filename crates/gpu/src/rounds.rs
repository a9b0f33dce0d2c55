//! The commitments of a proof, made and kept on the GPU, each as the hiding
//! PCS (p3-fri 0.8.0 `HidingFriPcs` over `MerkleTreeHidingMmcs`) makes it
//! under a fresh `zk.config()`, with the same random draws in the same order:
//!
//! * [`commit_traces`]: main and permutation traces (`commit`: randomized
//!   to `2h × (w + 4)`, coset LDE, salts, tree);
//! * [`commit_preprocessed`]: the public preprocessed tables
//!   (`commit_preprocessing`: each table's own interpolant, no random columns),
//!   under the keygen seed;
//! * [`commit_quotient`]: the quotient chunks (`get_quotient_ldes`'s masks,
//!   then `commit_ldes`);
//! * [`commit_random`]: the random polynomials
//!   (`get_opt_randomization_poly_commitment`).
//!
//! Their draws come through [`ZkDraws`]: from the streams, or made ahead
//! (`crate::ahead`) in the same order.
//!
//! A [`Round`] keeps the committed LDEs, their salts and the tree, so the
//! quotient reads the traces where they are and queries are answered with
//! one gather ([`Round::open_multi`]): only opened rows and sibling digests
//! come back.

use cloak_prover::config::{
    Challenge, FriSettings, SaltRng, Val, DIGEST_BYTES, NUM_RANDOM_CODEWORDS,
};
use cloak_prover::stark::Commitment;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use p3_commit::PolynomialSpace;
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use p3_merkle_tree::PrunedMerklePaths;
use p3_symmetric::MerkleCap;

use crate::ahead::ZkDraws;
use crate::blake3::digest_bytes;
use crate::context::{GpuContext, GpuError, LaunchConfigExt, Result};
use crate::field::{base_word, from_raw};
use crate::merkle::{commit_salted, GpuMerkleTree, DIGEST_WORDS};
use crate::ntt::{DeviceMatrix, Ntt};
use crate::zkrng::salts_split;

pub(crate) fn prove_source() -> String {
    include_str!("../cuda/prove.cu").to_string()
}

/// One commitment's data on the device.
pub struct Round {
    /// The committed matrices (LDEs, rows bit-reversed), in input order.
    pub ldes: Vec<DeviceMatrix>,
    /// Each matrix's salts (`height × 4`).
    pub salts: Vec<DeviceMatrix>,
    pub tree: GpuMerkleTree,
}

/// One query's answer from a round: each matrix's row (salts stripped) and
/// its salts, in input order.
pub struct Opened {
    pub rows: Vec<Vec<Vec<Val>>>,
    pub salts: Vec<Vec<Vec<Val>>>,
    pub paths: PrunedMerklePaths<u8, DIGEST_BYTES>,
}

impl Round {
    /// Salts drawn from `salt_rng` for each LDE in order, then the tree.
    pub fn commit(
        gpu: &GpuContext,
        ldes: Vec<DeviceMatrix>,
        salt_rng: &mut SaltRng,
    ) -> Result<(Commitment, Round)> {
        let heights: Vec<usize> = ldes.iter().map(|m| m.height).collect();
        let salts = salts_split(gpu, salt_rng, &heights)?;
        Self::commit_with_salts(gpu, ldes, salts)
    }

    /// [`Round::commit`] with the salts from `zk`.
    pub fn commit_drawn(
        gpu: &GpuContext,
        ldes: Vec<DeviceMatrix>,
        zk: &mut ZkDraws<'_>,
    ) -> Result<(Commitment, Round)> {
        let heights: Vec<usize> = ldes.iter().map(|m| m.height).collect();
        let salts = zk.salts(gpu, &heights)?;
        Self::commit_with_salts(gpu, ldes, salts)
    }

    /// The tree of `ldes` with these salts (one `height × 4` matrix each).
    pub fn commit_with_salts(
        gpu: &GpuContext,
        ldes: Vec<DeviceMatrix>,
        salts: Vec<DeviceMatrix>,
    ) -> Result<(Commitment, Round)> {
        let tree = commit_salted(
            gpu,
            &ldes.iter().collect::<Vec<_>>(),
            &salts.iter().collect::<Vec<_>>(),
        )?;
        gpu.note_memory()?;
        let root = tree.root(gpu)?;
        Ok((MerkleCap::new(vec![root]), Round { ldes, salts, tree }))
    }

    /// The tallest matrix's height.
    pub fn max_height(&self) -> usize {
        self.ldes.iter().map(|m| m.height).max().unwrap_or(0)
    }

    /// `MerkleTreeHidingMmcs::open_multi_batch` at leaf `indices` (of the
    /// tallest height): the rows, salts and the pruned sibling digests
    /// (p3-merkle-tree's `prune_paths` for arity 2: level by level, the
    /// sibling of every frontier node whose sibling is not in the frontier),
    /// fetched with one gather and one download.
    pub fn open_multi(&self, gpu: &GpuContext, indices: &[usize]) -> Result<Opened> {
        let mut opened = open_many(gpu, &[(self, indices)])?;
        Ok(opened.pop().expect("one answer per request"))
    }

    /// Adds to `spans` what [`Self::open_multi`] fetches: per index, each
    /// matrix's row and salts, then the pruned sibling digests. Returns the
    /// number of digests.
    fn push_open_spans(
        &self,
        gpu: &GpuContext,
        indices: &[usize],
        spans: &mut Spans,
    ) -> Result<usize> {
        let max_h = self.max_height();
        let log_max = max_h.trailing_zeros();
        for &index in indices {
            if index >= max_h {
                return Err(GpuError::Invalid(format!(
                    "query index {index} beyond the tree's {max_h} leaves"
                )));
            }
            for (m, s) in self.ldes.iter().zip(&self.salts) {
                let r = index >> (log_max - m.height.trailing_zeros());
                spans.push(gpu, &m.buf, r * m.width, m.width);
                spans.push(gpu, &s.buf, r * s.width, s.width);
            }
        }
        // The frontier walk of `prune_paths` (binary: a node's group is its
        // pair; a pair with one frontier node emits the other).
        let mut nodes: Vec<usize> = indices.to_vec();
        nodes.sort_unstable();
        nodes.dedup();
        let proof_levels = self.tree.layers.len() - 1;
        let mut digests = 0;
        for level in 0..proof_levels {
            let mut parents = Vec::with_capacity(nodes.len());
            let mut i = 0;
            while i < nodes.len() {
                let group = nodes[i] / 2;
                for k in 0..2 {
                    if i < nodes.len() && nodes[i] == 2 * group + k {
                        i += 1;
                    } else {
                        let node = 2 * group + k;
                        spans.push(
                            gpu,
                            &self.tree.layers[level],
                            node * DIGEST_WORDS,
                            DIGEST_WORDS,
                        );
                        digests += 1;
                    }
                }
                parents.push(group);
            }
            nodes = parents;
        }
        Ok(digests)
    }

    /// Reads [`Self::push_open_spans`]'s words back from the front of
    /// `words` into an answer (rows and salts as field elements, digests as
    /// bytes); returns it and the words it took.
    fn read_opened(
        &self,
        words: &[u32],
        queries: usize,
        digests: usize,
    ) -> Result<(Opened, usize)> {
        let (mut rows, mut salts) = (Vec::new(), Vec::new());
        let mut at = 0;
        let mut take = |n: usize| {
            let v = from_raw(words[at..at + n].to_vec());
            at += n;
            v
        };
        for _ in 0..queries {
            let (mut qr, mut qs) = (Vec::new(), Vec::new());
            for (m, s) in self.ldes.iter().zip(&self.salts) {
                qr.push(take(m.width)?);
                qs.push(take(s.width)?);
            }
            rows.push(qr);
            salts.push(qs);
        }
        let end = at + digests * DIGEST_WORDS;
        let sibling_hashes = words[at..end]
            .chunks_exact(DIGEST_WORDS)
            .map(digest_bytes)
            .collect::<Vec<_>>();
        let opened = Opened {
            rows,
            salts,
            paths: PrunedMerklePaths { sibling_hashes },
        };
        Ok((opened, end))
    }
}

/// [`Round::open_multi`] of several rounds, each at its indices, with one
/// gather and one download for all of them (a proof's query answers: one
/// copy instead of one per round and FRI layer, each of which would wait
/// its turn on the secure channel in CC mode).
pub fn open_many(gpu: &GpuContext, requests: &[(&Round, &[usize])]) -> Result<Vec<Opened>> {
    let mut spans = Spans::default();
    let mut digests = Vec::with_capacity(requests.len());
    for (round, indices) in requests {
        digests.push(round.push_open_spans(gpu, indices, &mut spans)?);
    }
    let total = spans.total;
    let words = spans.gather(gpu)?;
    let mut at = 0;
    let mut out = Vec::with_capacity(requests.len());
    for ((round, indices), d) in requests.iter().zip(digests) {
        let (opened, took) = round.read_opened(&words[at..], indices.len(), d)?;
        at += took;
        out.push(opened);
    }
    debug_assert_eq!(at, total);
    Ok(out)
}

/// Device spans to gather into one buffer ([`Spans::gather`]).
#[derive(Default)]
struct Spans {
    src: Vec<u64>,
    lens: Vec<u64>,
    dst: Vec<u64>,
    total: usize,
}

impl Spans {
    fn push(&mut self, gpu: &GpuContext, buf: &CudaSlice<u32>, offset: usize, len: usize) {
        self.src.push(gpu.device_ptr(buf) + 4 * offset as u64);
        self.lens.push(len as u64);
        self.dst.push(self.total as u64);
        self.total += len;
    }

    /// The spans' words, in order: one upload (the span table) and one
    /// download.
    fn gather(self, gpu: &GpuContext) -> Result<Vec<u32>> {
        if self.src.is_empty() {
            return Ok(Vec::new());
        }
        let f = gpu.function("prove", prove_source, "gather_spans")?;
        let n = self.src.len() as u64;
        let table: Vec<u64> = [self.src, self.dst, self.lens].concat();
        let table = gpu.upload(&table)?;
        let mut out = gpu.alloc_u32(self.total.max(1))?;
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(&table).arg(&mut out).arg(&n);
        // SAFETY: each source span lies in a live buffer of this round (the
        // caller's borrow keeps it alive); dst offsets + lens stay below total.
        unsafe { l.launch(LaunchConfig::grid(n as u32, 32)) }?;
        let mut words = gpu.download(&out)?;
        words.truncate(self.total);
        Ok(words)
    }
}

/// The mask draws of [`commit_traces`] for traces of these `(height,
/// width)`s (`FriSettings::trace_mask_draws` of each).
pub fn trace_mask_sizes(fri: FriSettings, dims: &[(usize, usize)]) -> Vec<usize> {
    dims.iter()
        .map(|&(h, w)| fri.trace_mask_draws(h, w))
        .collect()
}

/// The heights of [`commit_traces`]'s LDEs (and salt matrices): the doubled
/// height, blown up.
pub fn trace_lde_heights(fri: FriSettings, dims: &[(usize, usize)]) -> Vec<usize> {
    dims.iter()
        .map(|&(h, _)| (2 * h) << fri.log_blowup)
        .collect()
}

/// The hiding PCS's `commit` of `traces` (main or permutation, on the
/// device, row-major), each on its doubled natural domain: widened with the
/// random codewords and extended with its sparse masks from `zk` (the
/// vendored p3-fri's `masked_trace_lde`; the time spent drawing added to
/// `draws`), salts from `zk`, tree.
pub fn commit_traces(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: FriSettings,
    traces: &[&DeviceMatrix],
    zk: &mut ZkDraws<'_>,
    draws_time: &mut std::time::Duration,
) -> Result<(Commitment, Round)> {
    let t0 = std::time::Instant::now();
    let dims: Vec<(usize, usize)> = traces.iter().map(|t| (t.height, t.width)).collect();
    let draws = {
        let _s = crate::profile::span(gpu, "commit traces: zk draws");
        zk.masks(gpu, &trace_mask_sizes(fri, &dims))?
    };
    *draws_time += t0.elapsed();
    let mut ldes = Vec::with_capacity(traces.len());
    for (t, d) in traces.iter().zip(&draws) {
        let _s = crate::profile::span(gpu, "commit traces: masked LDE");
        ldes.push(crate::backend::masked_lde(gpu, ntt, fri, t, d)?);
    }
    drop(draws);
    let t0 = std::time::Instant::now();
    let heights: Vec<usize> = ldes.iter().map(|m| m.height).collect();
    debug_assert_eq!(heights, trace_lde_heights(fri, &dims));
    let salts = {
        let _s = crate::profile::span(gpu, "commit traces: salts");
        zk.salts(gpu, &heights)?
    };
    *draws_time += t0.elapsed();
    Round::commit_with_salts(gpu, ldes, salts)
}

/// `commit_preprocessing` of the public preprocessed tables (in instance
/// order): each `h × w` table's LDE onto `2h << log_blowup` points (its own
/// interpolant, unmasked), salts from `salt_rng` (the keygen config's), tree.
/// Also returns the tables as uploaded (row-major), which the LogUp traces read.
pub fn commit_preprocessed(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: FriSettings,
    tables: &[RowMajorMatrix<Val>],
    salt_rng: &mut SaltRng,
) -> Result<(Commitment, Round, Vec<DeviceMatrix>)> {
    let mut ldes = Vec::with_capacity(tables.len());
    let mut raw = Vec::with_capacity(tables.len());
    for t in tables {
        let (h, w) = (t.height(), t.width());
        let src = gpu.upload(crate::field::as_raw(&t.values))?;
        // The table's own interpolant, unmasked (vendored p3-fri's
        // `commit_preprocessing`): its LDE from the h rows onto the
        // committed 2h << log_blowup points.
        let mut copy = gpu.alloc_u32(h * w)?;
        gpu.stream().memcpy_dtod(&src, &mut copy)?;
        let table = DeviceMatrix {
            buf: copy,
            width: w,
            height: h,
        };
        ldes.push(ntt.coset_lde_batch(gpu, table, fri.log_blowup + 1, Val::GENERATOR)?);
        raw.push(DeviceMatrix {
            buf: src,
            width: w,
            height: h,
        });
    }
    let (commitment, round) = Round::commit(gpu, ldes, salt_rng)?;
    Ok((commitment, round, raw))
}

/// One table's quotient on its quotient domain (`2^log_q` points of the
/// coset `GENERATOR · ⟨ω_q⟩`, natural order, 4 words a point) and the number
/// of chunks it is split into.
pub struct TableQuotient {
    pub values: CudaSlice<u32>,
    pub log_q: usize,
    pub num_chunks: usize,
}

/// Width of a quotient chunk's matrix: 4 quotient coordinates and 4 random
/// columns.
const QUOTIENT_CHUNK_WIDTH: usize = 2 * NUM_RANDOM_CODEWORDS;

/// The mask draws of [`commit_quotient`] for quotients of these
/// `(log2 of the quotient domain, chunks)`: every table's, in the order the
/// host makes them (each table's chunks' random columns, then its masks).
pub fn quotient_mask_sizes(fri: FriSettings, shapes: &[(usize, usize)]) -> Result<Vec<usize>> {
    let mut sizes = Vec::new();
    for &(log_q, nc) in shapes {
        let log_chunks = nc.trailing_zeros() as usize;
        if nc < 2 || !nc.is_power_of_two() || log_chunks > log_q {
            return Err(GpuError::Invalid(format!(
                "{nc} quotient chunks of a 2^{log_q} domain"
            )));
        }
        let h = 1usize << (log_q - log_chunks);
        crate::backend::check_hiding_budget(fri, h)?;
        sizes.extend(std::iter::repeat_n(h * NUM_RANDOM_CODEWORDS, nc));
        sizes.push((nc - 1) * h * QUOTIENT_CHUNK_WIDTH);
    }
    Ok(sizes)
}

/// The heights of [`commit_quotient`]'s chunk LDEs, in order.
pub fn quotient_lde_heights(fri: FriSettings, shapes: &[(usize, usize)]) -> Vec<usize> {
    shapes
        .iter()
        .flat_map(|&(log_q, nc)| {
            let h = 1usize << (log_q - nc.trailing_zeros() as usize);
            std::iter::repeat_n(h << (fri.log_blowup + 1), nc)
        })
        .collect()
}

/// `get_quotient_ldes` of every table's chunks (tables in order, each
/// drawing its chunks' random columns and then its masks from `zk`), then
/// `commit_ldes` of all of them with salts from `zk`.
pub fn commit_quotient(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: FriSettings,
    quotients: &[TableQuotient],
    zk: &mut ZkDraws<'_>,
) -> Result<(Commitment, Round)> {
    let split = gpu.function("prove", prove_source, "quotient_chunk")?;
    let last_mask = gpu.function("prove", prove_source, "quotient_last_mask")?;
    let coeffs = gpu.function("prove", prove_source, "quotient_chunk_coeffs")?;
    let width = QUOTIENT_CHUNK_WIDTH;
    let shapes: Vec<(usize, usize)> = quotients.iter().map(|q| (q.log_q, q.num_chunks)).collect();
    let sizes = quotient_mask_sizes(fri, &shapes)?;
    let mut draws = zk.masks(gpu, &sizes)?.into_iter();
    // Every table's mask multipliers (c_i / c_last, from `get_zp_cis`) up in
    // one copy.
    // Each table's chunk domains are kept for the chunks' shifts below.
    let mut muls: Vec<u32> = Vec::new();
    let mut mul_at = Vec::with_capacity(quotients.len());
    let mut all_domains = Vec::with_capacity(quotients.len());
    for tq in quotients {
        let nc = tq.num_chunks;
        let quotient_domain = TwoAdicMultiplicativeCoset::new(Val::GENERATOR, tq.log_q)
            .ok_or_else(|| GpuError::Invalid("quotient domain too large".into()))?;
        let domains = quotient_domain.split_domains(nc);
        let cis = zp_cis(&domains);
        let last_inv = cis[nc - 1].inverse();
        mul_at.push(muls.len());
        muls.extend(cis[..nc - 1].iter().map(|&c| base_word(c * last_inv)));
        all_domains.push(domains);
    }
    let muls = gpu.upload(&muls)?;
    let mut ldes = Vec::new();
    for ((t, tq), domains) in quotients.iter().enumerate().zip(&all_domains) {
        let nc = tq.num_chunks;
        let log_chunks = nc.trailing_zeros() as usize;
        let log_h = tq.log_q - log_chunks;
        let h = 1usize << log_h;
        // `with_random_cols(4)` of each chunk, in chunk order.
        let mut chunks = Vec::with_capacity(nc);
        for c in 0..nc {
            let d = draws.next().expect("one draw per chunk");
            let mut out = gpu.alloc_u32(h * width)?;
            let (h64, nc32, c32, total) = (h as u64, nc as u32, c as u32, (h * width) as u64);
            let mut l = gpu.stream().launch_builder(&split);
            l.arg(&tq.values)
                .arg(&d)
                .arg(&mut out)
                .arg(&h64)
                .arg(&nc32)
                .arg(&c32);
            // SAFETY: values hold 4 * nc * h words, d 4h, out 8h.
            unsafe { l.launch(LaunchConfig::grid(total.div_ceil(256) as u32, 256)) }?;
            chunks.push(out);
        }
        // The masks t_0 .. t_{nc-2}, drawn in one run, then t_{nc-1}.
        let block = h * width;
        let masks = draws.next().expect("one mask draw per table");
        let mul = muls.slice(mul_at[t]..mul_at[t] + nc - 1);
        let mut last = gpu.alloc_u32(block)?;
        {
            let (n64, count) = (block as u64, (nc - 1) as u32);
            let mut l = gpu.stream().launch_builder(&last_mask);
            l.arg(&masks).arg(&mul).arg(&mut last).arg(&n64).arg(&count);
            // SAFETY: masks hold count blocks of n words, last one, mul count.
            unsafe { l.launch(LaunchConfig::grid(n64.div_ceil(256) as u32, 256)) }?;
        }
        let lde_rows = h << (fri.log_blowup + 1);
        let log_lde = lde_rows.trailing_zeros() as usize;
        let scale = Val::from_usize(h).inverse();
        for (c, mut chunk) in chunks.into_iter().enumerate() {
            let shift = Val::GENERATOR / domains[c].shift();
            ntt.dif_inplace(gpu, &mut chunk, log_h, width, 1, true)?;
            let mut out = gpu.alloc_u32(lde_rows * width)?;
            let r = if c + 1 < nc {
                masks.slice(c * block..(c + 1) * block)
            } else {
                last.slice(0..block)
            };
            let (lh, sw, scw, gw, pw) = (
                log_h as u32,
                base_word(shift),
                base_word(scale),
                base_word(Val::GENERATOR),
                base_word(shift.exp_u64(h as u64)),
            );
            let rows = lde_rows as u64;
            let mut l = gpu.stream().launch_builder(&coeffs);
            l.arg(&chunk)
                .arg(&r)
                .arg(&mut out)
                .arg(&lh)
                .arg(&sw)
                .arg(&scw)
                .arg(&gw)
                .arg(&pw);
            // SAFETY: chunk and r hold h x 8 words, out 4h x 8 (the kernel
            // covers 4h rows: lde_rows is 4h at blowup 2).
            if lde_rows != 4 * h {
                return Err(GpuError::Invalid(format!(
                    "quotient chunk LDEs need log_blowup 1, not {}",
                    fri.log_blowup
                )));
            }
            unsafe { l.launch(LaunchConfig::grid(rows.div_ceil(256) as u32, 256)) }?;
            ntt.dif_inplace(gpu, &mut out, log_lde, width, 1, false)?;
            ldes.push(DeviceMatrix {
                buf: out,
                width,
                height: lde_rows,
            });
        }
    }
    debug_assert_eq!(
        ldes.iter().map(|m| m.height).collect::<Vec<_>>(),
        quotient_lde_heights(fri, &shapes)
    );
    Round::commit_drawn(gpu, ldes, zk)
}

/// The Lagrange normalizers of the chunk domains (p3-fri's `get_zp_cis`):
/// `1 / prod_{j != i} Z_{D_j}(first point of D_i)`.
fn zp_cis(domains: &[TwoAdicMultiplicativeCoset<Val>]) -> Vec<Val> {
    domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            domains
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| o.vanishing_poly_at_point::<Val>(d.first_point()))
                .product::<Val>()
                .inverse()
        })
        .collect()
}

/// Width of a random polynomial's matrix: an extension element and the
/// random codewords.
pub fn random_width() -> usize {
    NUM_RANDOM_CODEWORDS + <Challenge as p3_field::BasedVectorSpace<Val>>::DIMENSION
}

/// The heights of [`commit_random`]'s LDEs for these doubled heights.
pub fn random_lde_heights(fri: FriSettings, ext_heights: &[usize]) -> Vec<usize> {
    ext_heights.iter().map(|&h| h << fri.log_blowup).collect()
}

/// `get_opt_randomization_poly_commitment`: for each table, a random
/// `2h × 8` matrix (`DenseMatrix::rand`, from `zk`'s masks) on its doubled
/// natural domain, committed by the inner PCS (LDE, salts from `zk`, tree).
pub fn commit_random(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: FriSettings,
    ext_heights: &[usize],
    zk: &mut ZkDraws<'_>,
) -> Result<(Commitment, Round)> {
    let width = random_width();
    for &h in ext_heights {
        crate::backend::check_hiding_budget(fri, h / 2)?;
    }
    let sizes: Vec<usize> = ext_heights.iter().map(|h| h * width).collect();
    let draws = zk.masks(gpu, &sizes)?;
    let mut ldes = Vec::with_capacity(ext_heights.len());
    for (buf, &h) in draws.into_iter().zip(ext_heights) {
        let dm = DeviceMatrix {
            buf,
            width,
            height: h,
        };
        ldes.push(ntt.coset_lde_batch(gpu, dm, fri.log_blowup, Val::GENERATOR)?);
    }
    debug_assert_eq!(
        ldes.iter().map(|m| m.height).collect::<Vec<_>>(),
        random_lde_heights(fri, ext_heights)
    );
    Round::commit_drawn(gpu, ldes, zk)
}

/// The first `cols` columns of the committed polynomial on the coset
/// `GENERATOR · ⟨ω_q⟩` of `2^log_q` points, column-major in natural order
/// (the quotient kernels' input). Where the LDE has that size it is read
/// as it is (a smaller one is its first rows); a larger domain (degree-3 tables) is re-extended from the
/// LDE's first rows (the polynomial on `GENERATOR · ⟨ω_h⟩`, `h` the
/// height before the blowup), as p3's `get_evaluations_on_domain` does.
pub fn on_quotient_domain(
    gpu: &GpuContext,
    ntt: &Ntt,
    lde: &DeviceMatrix,
    log_blowup: usize,
    cols: usize,
    log_q: usize,
) -> Result<CudaSlice<u32>> {
    let f = gpu.function("prove", prove_source, "lde_to_columns")?;
    let log_lde = lde.height.trailing_zeros() as usize;
    let q = 1usize << log_q;
    let mut out = gpu.alloc_u32((q * cols).max(1))?;
    if cols == 0 {
        return Ok(out);
    }
    let launch = |src: &DeviceMatrix, log_rows: usize, out: &mut CudaSlice<u32>| -> Result<()> {
        let (lr, w, c) = (log_rows as u32, src.width as u32, cols as u32);
        // A block a tile of 32 rows x 32 columns (cuda/prove.cu's LDE_TILE).
        let cfg = LaunchConfig {
            grid_dim: (
                (1u32 << log_rows).div_ceil(32),
                (cols as u32).div_ceil(32),
                1,
            ),
            block_dim: (32, 8, 1),
            shared_mem_bytes: 0,
        };
        let mut l = gpu.stream().launch_builder(&f);
        l.arg(&src.buf).arg(out).arg(&lr).arg(&w).arg(&c);
        // SAFETY: src holds at least 2^log_rows rows of `width >= cols`
        // words; out 2^log_rows x cols.
        unsafe { l.launch(cfg) }?;
        Ok(())
    };
    if log_q <= log_lde {
        // The LDE's first 2^log_q rows (bit-reversed) are the coset of that size.
        launch(lde, log_q, &mut out)?;
        return Ok(out);
    }
    // The polynomial on GENERATOR·<ω_h> (natural order, row-major), then its
    // LDE onto GENERATOR·<ω_q>: as evaluations of P(GENERATOR·X) on <ω_h>,
    // extended with shift 1.
    let log_h = log_lde - log_blowup;
    let h = 1usize << log_h;
    let mut cm = gpu.alloc_u32(h * cols)?;
    launch(lde, log_h, &mut cm)?;
    let rm = transpose(gpu, &cm, h, cols)?;
    let ext = ntt.coset_lde_batch(
        gpu,
        DeviceMatrix {
            buf: rm,
            width: cols,
            height: h,
        },
        log_q - log_h,
        Val::ONE,
    )?;
    launch(&ext, log_q, &mut out)?;
    Ok(out)
}

/// A column-major `h × w` buffer made row-major.
fn transpose(gpu: &GpuContext, cm: &CudaSlice<u32>, h: usize, w: usize) -> Result<CudaSlice<u32>> {
    let f = gpu.function("prove", prove_source, "transpose")?;
    let mut out = gpu.alloc_u32(h * w)?;
    let (h64, w32) = (h as u64, w as u32);
    let total = (h * w) as u64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(cm).arg(&mut out).arg(&h64).arg(&w32);
    // SAFETY: both hold h*w words.
    unsafe { l.launch(LaunchConfig::grid(total.div_ceil(256) as u32, 256)) }?;
    Ok(out)
}
