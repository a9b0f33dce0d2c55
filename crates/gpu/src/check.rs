//! Checks of every kernel against Plonky3 on the CPU, on random inputs.
//! Used by the tests (small sizes) and by the `cloak-gpu-check` binary.
//!
//! Each check draws its inputs from a ChaCha20 stream seeded with the given
//! seed, runs the GPU path and the Plonky3 path, and compares the results
//! word for word. Device outputs are poisoned (0xffffffff, not a field
//! element) before each kernel, so an unwritten element fails the check.

use cloak_prover::config::{Challenge, Dft, SaltRng, Val, ValMmcs, ZkRng};
use p3_commit::Mmcs;
use p3_dft::TwoAdicSubgroupDft;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_koala_bear::default_koalabear_poseidon2_16;
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use p3_symmetric::Permutation;
use rand::{RngExt, SeedableRng};

use crate::context::{GpuContext, Result};
use crate::field::{base_op, ext_op, BaseOp, ExtOp};
use crate::merkle::{commit_salted, hiding_salts, GpuMerkleTree};
use crate::ntt::{DeviceMatrix, Ntt};
use crate::poseidon2::permute_batch;

/// One check's outcome.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{verdict} {}: {}", self.name, self.detail)
    }
}

/// Compares two equal-length slices; Ok(()) or a description of the first difference.
pub fn compare<T: PartialEq + std::fmt::Debug>(
    gpu: &[T],
    cpu: &[T],
) -> std::result::Result<(), String> {
    if gpu.len() != cpu.len() {
        return Err(format!(
            "length {} on the GPU, {} on the CPU",
            gpu.len(),
            cpu.len()
        ));
    }
    let bad = gpu.iter().zip(cpu).filter(|(a, b)| a != b).count();
    match gpu.iter().zip(cpu).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{bad} of {} differ; first at {i}: gpu {:?} cpu {:?}",
            gpu.len(),
            gpu[i],
            cpu[i]
        )),
    }
}

/// A check named `name` that passed when `r` is Ok; `what` says what was compared.
pub fn verdict(name: String, what: String, r: std::result::Result<(), String>) -> Check {
    match r {
        Ok(()) => Check::new(name, true, what),
        Err(e) => Check::new(name, false, format!("{what}: {e}")),
    }
}

fn rng(seed: u64) -> ZkRng {
    ZkRng::seed_from_u64(seed)
}

fn random_vals(rng: &mut ZkRng, n: usize) -> Vec<Val> {
    (0..n).map(|_| rng.random()).collect()
}

/// Base-field add/sub/mul/inverse on n random pairs (plus 0, 1, -1 at the front).
pub fn check_base_arith(gpu: &GpuContext, seed: u64, n: usize) -> Result<Vec<Check>> {
    let mut r = rng(seed);
    let mut a = vec![Val::ZERO, Val::ONE, Val::NEG_ONE, Val::NEG_ONE, Val::TWO];
    let mut b = vec![
        Val::NEG_ONE,
        Val::NEG_ONE,
        Val::NEG_ONE,
        Val::ONE,
        Val::ZERO,
    ];
    a.extend(random_vals(&mut r, n));
    b.extend(random_vals(&mut r, n));
    let mut out = Vec::new();
    for (op, name, cpu) in [
        (
            BaseOp::Add,
            "add",
            (|x: Val, y: Val| x + y) as fn(Val, Val) -> Val,
        ),
        (BaseOp::Sub, "sub", |x, y| x - y),
        (BaseOp::Mul, "mul", |x, y| x * y),
        (BaseOp::Inv, "inverse", |x, _| {
            x.try_inverse().unwrap_or(Val::ZERO)
        }),
    ] {
        let g = base_op(gpu, op, &a, &b)?;
        let c: Vec<Val> = a.iter().zip(&b).map(|(&x, &y)| cpu(x, y)).collect();
        out.push(verdict(
            format!("koalabear {name}"),
            format!("{} elements", a.len()),
            compare(&g, &c),
        ));
    }
    Ok(out)
}

/// Extension add/sub/mul on n random pairs, against `BinomialExtensionField<KoalaBear, 4>`.
pub fn check_ext_arith(gpu: &GpuContext, seed: u64, n: usize) -> Result<Vec<Check>> {
    let mut r = rng(seed);
    let a: Vec<Challenge> = (0..n).map(|_| r.random()).collect();
    let b: Vec<Challenge> = (0..n).map(|_| r.random()).collect();
    let mut out = Vec::new();
    for (op, name, cpu) in [
        (
            ExtOp::Add,
            "add",
            (|x: Challenge, y: Challenge| x + y) as fn(Challenge, Challenge) -> Challenge,
        ),
        (ExtOp::Sub, "sub", |x, y| x - y),
        (ExtOp::Mul, "mul", |x, y| x * y),
    ] {
        let g = ext_op(gpu, op, &a, &b)?;
        let c: Vec<Challenge> = a.iter().zip(&b).map(|(&x, &y)| cpu(x, y)).collect();
        out.push(verdict(
            format!("ext4 {name}"),
            format!("{n} elements"),
            compare(&g, &c),
        ));
    }
    Ok(out)
}

/// Plain forward NTT of a random 2^log_n x width matrix against
/// `Radix2DitParallel::dft_batch` (whose storage is bit-reversed).
pub fn check_dft(
    gpu: &GpuContext,
    ntt: &Ntt,
    seed: u64,
    log_n: usize,
    width: usize,
) -> Result<Check> {
    let mut r = rng(seed);
    let m = RowMajorMatrix::<Val>::rand(&mut r, 1 << log_n, width);
    let mut d = DeviceMatrix::upload(gpu, &m)?;
    ntt.dif_inplace(gpu, &mut d.buf, log_n, width, 1, false)?;
    let g = d.download(gpu)?;
    let c = Dft::default().dft_batch(m).bit_reverse_rows();
    Ok(verdict(
        format!("dft 2^{log_n} x {width}"),
        "vs Radix2DitParallel::dft_batch".into(),
        compare(&g.values, &c.values),
    ))
}

/// The CPU LDE as the PCS commits it: `coset_lde_batch(..).bit_reverse_rows()`.
pub fn cpu_lde(m: RowMajorMatrix<Val>, added_bits: usize) -> RowMajorMatrix<Val> {
    Dft::default()
        .coset_lde_batch(m, added_bits, Val::GENERATOR)
        .bit_reverse_rows()
}

/// Coset LDE of a random 2^log_h x width trace with shift `Val::GENERATOR`.
pub fn check_lde(
    gpu: &GpuContext,
    ntt: &Ntt,
    seed: u64,
    log_h: usize,
    width: usize,
    added_bits: usize,
) -> Result<Check> {
    let mut r = rng(seed);
    let m = RowMajorMatrix::<Val>::rand(&mut r, 1 << log_h, width);
    let d = DeviceMatrix::upload(gpu, &m)?;
    let out = ntt.coset_lde_batch(gpu, d, added_bits, Val::GENERATOR)?;
    let g = out.download(gpu)?;
    let c = cpu_lde(m, added_bits);
    Ok(verdict(
        format!("lde 2^{log_h} x {width} +{added_bits} bits"),
        "vs Radix2DitParallel::coset_lde_batch(shift = GENERATOR), bit-reversed storage".into(),
        compare(&g.values, &c.values),
    ))
}

/// A random `2^log_h × width` trace committed with the hiding PCS's sparse
/// masks: the device draws and `backend::masked_lde` against the host's
/// draws and the vendored p3-fri's `masked_trace_lde`, and both streams
/// left at the same position.
pub fn check_masked_lde(
    gpu: &GpuContext,
    ntt: &Ntt,
    fri: cloak_prover::config::FriSettings,
    seed: u64,
    log_h: usize,
    width: usize,
) -> Result<Check> {
    let mut r = rng(seed);
    let m = RowMajorMatrix::<Val>::rand(&mut r, 1 << log_h, width);
    let mut host_rng = rng(seed + 1);
    let mut dev_rng = crate::zkrng::fork(&host_rng);
    let want = crate::backend::masked_lde_on_host(fri, m.clone(), &mut host_rng)?;
    let d = DeviceMatrix::upload(gpu, &m)?;
    let draws =
        crate::zkrng::draw_on_device(gpu, &mut dev_rng, fri.trace_mask_draws(1 << log_h, width))?;
    let got = crate::backend::masked_lde(gpu, ntt, fri, &d, &draws)?.download(gpu)?;
    let same_end = host_rng.get_word_pos() == dev_rng.get_word_pos();
    Ok(verdict(
        format!("masked lde 2^{log_h} x {width}"),
        "vs the vendored p3-fri masked_trace_lde (host draws)".into(),
        compare(&got.values, &want.values).and_then(|()| {
            if same_end {
                Ok(())
            } else {
                Err("the streams end at different positions".into())
            }
        }),
    ))
}

/// n random states through each permutation.
pub fn check_poseidon2(gpu: &GpuContext, seed: u64, n: usize) -> Result<Vec<Check>> {
    let mut r = rng(seed);
    let mut out = Vec::new();
    let s16 = random_vals(&mut r, 16 * n);
    let g16 = permute_batch(gpu, 16, &s16)?;
    let p16 = default_koalabear_poseidon2_16();
    let c16: Vec<Val> = s16
        .chunks_exact(16)
        .flat_map(|c| p16.permute(<[Val; 16]>::try_from(c).expect("16")))
        .collect();
    out.push(verdict(
        "poseidon2 width 16".into(),
        format!("{n} states vs default_koalabear_poseidon2_16"),
        compare(&g16, &c16),
    ));
    Ok(out)
}

/// The CPU mmcs of the config, with its salt rng seeded from `salt_seed`.
pub fn cpu_mmcs(salt_seed: [u8; 32]) -> ValMmcs {
    cloak_prover::config::merkle_mmcs(SaltRng::from_seed(salt_seed))
}

/// Salts as `ValMmcs::commit` draws them, uploaded next to the matrices.
pub fn upload_salts(
    gpu: &GpuContext,
    salt_seed: [u8; 32],
    heights: &[usize],
) -> Result<Vec<DeviceMatrix>> {
    hiding_salts(&mut SaltRng::from_seed(salt_seed), heights)
        .iter()
        .map(|s| DeviceMatrix::upload(gpu, s))
        .collect()
}

/// Compares a GPU tree with `ValMmcs::commit` of the same matrices: the
/// root, and the salts and sibling paths of openings at `indices`.
pub fn compare_tree(
    gpu: &GpuContext,
    tree: &GpuMerkleTree,
    matrices: Vec<RowMajorMatrix<Val>>,
    salt_seed: [u8; 32],
    indices: &[usize],
) -> Result<std::result::Result<(), String>> {
    let heights: Vec<usize> = matrices.iter().map(|m| m.height()).collect();
    let mmcs = cpu_mmcs(salt_seed);
    let (cap, data) = mmcs.commit(matrices);
    let cpu_root = cap.roots()[0];
    let gpu_root = tree.root(gpu)?;
    if gpu_root != cpu_root {
        return Ok(Err(format!("root: gpu {gpu_root:?} cpu {cpu_root:?}")));
    }
    let salts = hiding_salts(&mut SaltRng::from_seed(salt_seed), &heights);
    let max_h = heights.iter().copied().max().unwrap_or(1);
    for &idx in indices {
        let idx = idx % max_h;
        let opening = mmcs.open_batch(idx, &data);
        let (cpu_salts, cpu_sibs) = opening.opening_proof;
        let gpu_sibs = tree.opening_siblings(gpu, idx)?;
        if gpu_sibs != cpu_sibs {
            return Ok(Err(format!("siblings of leaf {idx} differ")));
        }
        // The salts the CPU opened are the ones the GPU hashed.
        for (k, (s, h)) in salts.iter().zip(&heights).enumerate() {
            let row = idx >> (max_h / h).trailing_zeros();
            if s.row_slice(row).expect("row")[..] != cpu_salts[k][..] {
                return Ok(Err(format!("salt of matrix {k} at leaf {idx} differs")));
            }
        }
    }
    Ok(Ok(()))
}

/// Hiding Merkle commitment of random matrices with these (height, width)
/// shapes, against `ValMmcs::commit` with the same salt seed.
pub fn check_merkle(gpu: &GpuContext, seed: u64, shapes: &[(usize, usize)]) -> Result<Check> {
    let mut r = rng(seed);
    let matrices: Vec<RowMajorMatrix<Val>> = shapes
        .iter()
        .map(|&(h, w)| RowMajorMatrix::rand(&mut r, h, w))
        .collect();
    let mut salt_seed = [0u8; 32];
    salt_seed[..8].copy_from_slice(&seed.to_le_bytes());
    salt_seed[8] = 0x5a;
    let heights: Vec<usize> = shapes.iter().map(|s| s.0).collect();
    let dm: Vec<DeviceMatrix> = matrices
        .iter()
        .map(|m| DeviceMatrix::upload(gpu, m))
        .collect::<Result<_>>()?;
    let ds = upload_salts(gpu, salt_seed, &heights)?;
    let tree = commit_salted(
        gpu,
        &dm.iter().collect::<Vec<_>>(),
        &ds.iter().collect::<Vec<_>>(),
    )?;
    let indices = [0usize, 1, 5, 0x2a5, usize::MAX >> 1];
    let r = compare_tree(gpu, &tree, matrices, salt_seed, &indices)?;
    let shape_str = shapes
        .iter()
        .map(|(h, w)| format!("{h}x{w}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(verdict(
        format!("merkle [{shape_str}]"),
        format!("root and {} openings vs ValMmcs::commit", indices.len()),
        r,
    ))
}

/// Query answers with pruned Merkle paths ([`crate::rounds::Round::open_multi`])
/// of random matrices of these shapes at 87 random leaves (repeats
/// included), against `ValMmcs::open_multi_batch`: rows, salts and the
/// pruned sibling digests.
pub fn check_open_multi(gpu: &GpuContext, seed: u64, shapes: &[(usize, usize)]) -> Result<Check> {
    let mut r = rng(seed);
    let matrices: Vec<RowMajorMatrix<Val>> = shapes
        .iter()
        .map(|&(h, w)| RowMajorMatrix::rand(&mut r, h, w))
        .collect();
    let mut salt_seed = [0u8; 32];
    salt_seed[..8].copy_from_slice(&seed.to_le_bytes());
    salt_seed[8] = 0xa5;
    let heights: Vec<usize> = shapes.iter().map(|s| s.0).collect();
    let max_h = heights.iter().copied().max().unwrap_or(1);
    let mut indices: Vec<usize> = (0..87).map(|_| r.random_range(0..max_h)).collect();
    indices[86] = indices[3];
    let ldes: Vec<DeviceMatrix> = matrices
        .iter()
        .map(|m| DeviceMatrix::upload(gpu, m))
        .collect::<Result<_>>()?;
    let salts = upload_salts(gpu, salt_seed, &heights)?;
    let (_, round) = crate::rounds::Round::commit_with_salts(gpu, ldes, salts)?;
    let got = round.open_multi(gpu, &indices)?;
    let mmcs = cpu_mmcs(salt_seed);
    let (_, data) = mmcs.commit(matrices);
    let (rows, (cpu_salts, pruned)) = mmcs.open_multi_batch(&indices, &data);
    let result = if got.rows != rows {
        Err("opened rows differ".to_string())
    } else if got.salts != cpu_salts {
        Err("salts differ".to_string())
    } else if got.paths.sibling_hashes != pruned.sibling_hashes {
        Err(format!(
            "pruned paths differ ({} against {} digests)",
            got.paths.sibling_hashes.len(),
            pruned.sibling_hashes.len()
        ))
    } else {
        Ok(())
    };
    let shape_str = shapes
        .iter()
        .map(|(h, w)| format!("{h}x{w}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(verdict(
        format!("open_multi [{shape_str}]"),
        format!(
            "87 queries, {} pruned digests vs ValMmcs::open_multi_batch",
            pruned.sibling_hashes.len()
        ),
        result,
    ))
}

/// FRI's commit phase, `rounds` rounds from a random vector of `2^log_n`
/// extension elements, with reduced inputs of `2^(log_n - 2)` and
/// `2^(log_n - 5)` elements joining it (where the rounds reach them), and
/// random challenges: every layer's root (FRI MMCS, salts from one seed) and
/// the last folded vector against p3-fri's `ExtensionMmcs::commit_matrix`
/// and `TwoAdicFriFolding::fold_matrix`, combined as p3-fri's commit phase
/// combines them.
pub fn check_fri(gpu: &GpuContext, seed: u64, log_n: usize, rounds: usize) -> Result<Check> {
    use crate::fri::{add_scaled, commit_layer, fold, DeviceExtVec};
    use cloak_prover::config::ChallengeMmcs;
    use p3_fri::{FriFoldingStrategy, TwoAdicFriFolding};

    let mut r = rng(seed);
    let mut random_ext =
        |n: usize| -> Vec<Challenge> { (0..n).map(|_| r.random::<Challenge>()).collect() };
    let mut inputs = vec![random_ext(1 << log_n)];
    for k in [2, 5] {
        if log_n > k {
            inputs.push(random_ext(1 << (log_n - k)));
        }
    }
    let betas = random_ext(rounds);
    let mut salt_seed = [0u8; 32];
    salt_seed[..8].copy_from_slice(&seed.to_le_bytes());
    salt_seed[8] = 0xf1;
    let name = format!("fri commit phase 2^{log_n}, {rounds} rounds");
    if rounds > log_n {
        return Err(crate::GpuError::Invalid(format!(
            "{name}: more rounds than halvings"
        )));
    }

    // Plonky3.
    let mmcs = ChallengeMmcs::new(cpu_mmcs(salt_seed));
    let folding = TwoAdicFriFolding::<(), ()>(std::marker::PhantomData);
    let mut cpu_roots = Vec::new();
    let mut folded = inputs[0].clone();
    for &beta in &betas {
        let (commit, _) = mmcs.commit_matrix(RowMajorMatrix::new(folded.clone(), 2));
        cpu_roots.push(commit.roots()[0]);
        folded = FriFoldingStrategy::<Val, Challenge>::fold_matrix(
            &folding,
            beta,
            1,
            RowMajorMatrix::new(folded, 2),
        );
        if let Some(v) = inputs[1..].iter().find(|v| v.len() == folded.len()) {
            let beta2 = beta.square();
            folded.iter_mut().zip(v).for_each(|(c, &x)| *c += beta2 * x);
        }
    }

    // The GPU.
    let mut salt_rng = SaltRng::from_seed(salt_seed);
    let mut cur = DeviceExtVec::upload(gpu, &inputs[0])?;
    let device_inputs: Vec<DeviceExtVec> = inputs[1..]
        .iter()
        .map(|v| DeviceExtVec::upload(gpu, v))
        .collect::<Result<_>>()?;
    for (round, &beta) in betas.iter().enumerate() {
        let layer = commit_layer(gpu, cur, &mut salt_rng)?;
        let root = layer.tree.root(gpu)?;
        if root != cpu_roots[round] {
            return Ok(verdict(
                name,
                String::new(),
                Err(format!("round {round}: layer root differs")),
            ));
        }
        cur = fold(gpu, &layer.ldes[0], beta)?;
        if let Some(v) = device_inputs.iter().find(|v| v.len == cur.len) {
            add_scaled(gpu, &mut cur, v, beta.square())?;
        }
    }
    let gpu_folded = cur.download(gpu)?;
    Ok(verdict(
        name,
        format!(
            "{} layer roots and the final {} elements vs ExtensionMmcs::commit_matrix + TwoAdicFriFolding::fold_matrix",
            rounds,
            folded.len()
        ),
        compare(&gpu_folded, &folded),
    ))
}

/// The device draws ([`crate::zkrng::draw_on_device`]) against the host's
/// sequential `rng.random::<Val>()`: values and the rng's position after,
/// from a start in the middle of a ChaCha20 block.
pub fn check_zk_draws(gpu: &GpuContext, seed: u64, n: usize) -> Result<Check> {
    let mut host = ZkRng::seed_from_u64(seed);
    host.set_stream(seed ^ 0x5eed);
    for _ in 0..(seed % 16) {
        rand::Rng::next_u32(&mut host);
    }
    let mut dev = ZkRng::from_seed(host.get_seed());
    dev.set_stream(host.get_stream());
    dev.set_word_pos(host.get_word_pos());
    let want: Vec<Val> = (0..n).map(|_| host.random()).collect();
    let got =
        crate::field::from_raw(gpu.download(&crate::zkrng::draw_on_device(gpu, &mut dev, n)?)?)?;
    let r = compare(&got[..n.min(got.len())], &want).and_then(|()| {
        if dev.get_word_pos() == host.get_word_pos() {
            Ok(())
        } else {
            Err(format!(
                "rng left at word {}, the host's at {}",
                dev.get_word_pos(),
                host.get_word_pos()
            ))
        }
    });
    Ok(verdict(
        format!("zk draws {n}"),
        "values and end position vs sequential ChaCha20Rng draws".into(),
        r,
    ))
}

/// Pass 2's draws made ahead ([`crate::ahead`]) against the same draws
/// made when needed, from streams of one seed: the same masks, salts and
/// random-polynomial commitment, the streams left at the same words, and a
/// request of other sizes refused.
pub fn check_ahead(gpu: &GpuContext, seed: u64) -> Result<Check> {
    use crate::ahead::{AheadPlan, ZkDraws};
    use cloak_prover::config::FriSettings;
    let fri = FriSettings::DEFAULT;
    let plan = AheadPlan {
        permutation: vec![(256, 12), (1024, 8)],
        quotient: vec![(10, 2), (12, 4)],
        random: vec![512, 2048],
        fri,
    };
    let streams = || {
        let mut masks = ZkRng::seed_from_u64(seed);
        masks.set_stream(1);
        let mut salts = SaltRng::seed_from_u64(seed);
        salts.keystream_mut().set_stream(2);
        (masks, salts)
    };
    let ntt = Ntt::default();
    let (mut ahead_masks, mut ahead_salts) = streams();
    let mut ahead = plan.draw(gpu, &ntt, &mut ahead_masks, &mut ahead_salts)?;
    let (mut masks, mut salts) = streams();
    let mut live = ZkDraws::Streams {
        masks: &mut masks,
        salts: &mut salts,
    };
    let mut taken = ZkDraws::Ahead(&mut ahead.drawn);
    let perm_masks = crate::rounds::trace_mask_sizes(fri, &plan.permutation);
    let perm_salts = crate::rounds::trace_lde_heights(fri, &plan.permutation);
    let q_masks = crate::rounds::quotient_mask_sizes(fri, &plan.quotient)?;
    let q_salts = crate::rounds::quotient_lde_heights(fri, &plan.quotient);
    // In stream order per stream: permutation masks and salts, then the
    // quotient's; each pair (ahead, live) downloaded.
    let mut pairs: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
    for (masks, salts) in [(&perm_masks, &perm_salts), (&q_masks, &q_salts)] {
        for (x, y) in taken
            .masks(gpu, masks)?
            .iter()
            .zip(&live.masks(gpu, masks)?)
        {
            pairs.push((gpu.download(x)?, gpu.download(y)?));
        }
        for (x, y) in taken
            .salts(gpu, salts)?
            .iter()
            .zip(&live.salts(gpu, salts)?)
        {
            pairs.push((gpu.download(&x.buf)?, gpu.download(&y.buf)?));
        }
    }
    let r = pairs.iter().try_for_each(|(x, y)| compare(x, y));
    let (random, _) = crate::rounds::commit_random(gpu, &ntt, fri, &plan.random, &mut live)?;
    let refused = taken.masks(gpu, &[1]).is_err();
    let r = r.and_then(|()| {
        if ahead.random.0 != random {
            return Err("the random polynomials' commitments differ".into());
        }
        if (
            ahead_masks.get_word_pos(),
            ahead_salts.keystream().get_word_pos(),
        ) != (masks.get_word_pos(), salts.keystream().get_word_pos())
        {
            return Err("the streams stop at other words".into());
        }
        if !ahead.drawn.is_empty() || !refused {
            return Err("draws left over, or a draw past them not refused".into());
        }
        Ok(())
    });
    Ok(verdict(
        "draws made ahead".into(),
        "permutation and quotient masks and salts, the random commitment, stream ends".into(),
        r,
    ))
}

/// p3's `1/(z − x)` over the bit-reversed coset `GENERATOR · ⟨ω⟩` of size
/// `2^log_n` (as `TwoAdicFriPcs::open` builds it: the coset's points,
/// bit-reversed, then inverted).
pub fn cpu_inv_denoms(z: Challenge, log_n: usize) -> Vec<Challenge> {
    use p3_field::TwoAdicField;
    let mut xs: Vec<Val> = Val::two_adic_generator(log_n)
        .shifted_powers(Val::GENERATOR)
        .take(1 << log_n)
        .collect();
    p3_util::reverse_slice_index_bits(&mut xs);
    let diffs: Vec<Challenge> = xs.iter().map(|&x| z - x).collect();
    p3_field::batch_multiplicative_inverse(&diffs)
}

/// p3's opened values of a committed LDE at `z`: the low coset's
/// `interpolate_coset_with_precomputation` with `compute_adjusted_weights`,
/// exactly as `TwoAdicFriPcs::open` calls them.
pub fn cpu_open_eval(
    lde: &RowMajorMatrix<Val>,
    log_blowup: usize,
    z: Challenge,
    inv: &[Challenge],
) -> Vec<Challenge> {
    use p3_matrix::interpolation::{compute_adjusted_weights, Interpolate};
    let rows = lde.height() >> log_blowup;
    let adj = compute_adjusted_weights(z, &inv[..rows]);
    lde.split_rows(rows)
        .0
        .interpolate_coset_with_precomputation(Val::GENERATOR, z, &adj)
}

/// p3's reduced-opening step for one matrix (the loop body of
/// `TwoAdicFriPcs::open`): `ro[x] += (wo_k − rs_k · Σ_j apow_j M[x][j]) · inv_k[x]`.
pub fn cpu_reduce(
    m: &RowMajorMatrix<Val>,
    apow: &[Challenge],
    points: &[(Challenge, Challenge, &[Challenge])],
    ro: &mut [Challenge],
) {
    for (x, r) in ro.iter_mut().enumerate() {
        let row = m.row_slice(x).expect("row");
        let comp: Challenge = apow.iter().zip(row.iter()).map(|(&a, &v)| a * v).sum();
        for &(wo, rs, inv) in points {
            *r += (wo - rs * comp) * inv[x];
        }
    }
}

/// The opening passes on a random trace's LDE (`2^log_n × w`, blowup 2):
/// the denominators, the opened values at a random point (against p3's
/// `interpolate_coset_with_precomputation`, and against the trace's own
/// `interpolate_subgroup`, an independent route), and one reduce with two
/// points into a random accumulator.
pub fn check_open(gpu: &GpuContext, seed: u64, log_n: usize, w: usize) -> Result<Check> {
    use crate::fri::DeviceExtVec;
    use crate::open::{evaluate, inv_denoms, reduce, ReducePoint};
    use p3_matrix::interpolation::Interpolate;

    let mut r = rng(seed);
    let trace = RowMajorMatrix::<Val>::rand(&mut r, 1 << log_n, w);
    let lde = cpu_lde(trace.clone(), 1);
    let (z, z2): (Challenge, Challenge) = (r.random(), r.random());
    let name = format!("open 2^{} x {w}", log_n + 1);
    let cpu_inv = cpu_inv_denoms(z, log_n + 1);
    let cpu_inv2 = cpu_inv_denoms(z2, log_n + 1);
    let want = cpu_open_eval(&lde, 1, z, &cpu_inv);
    let direct: Vec<Challenge> = trace.interpolate_subgroup(z);
    if want != direct {
        return Ok(verdict(
            name,
            String::new(),
            Err("the two CPU routes disagree".into()),
        ));
    }
    let apow: Vec<Challenge> = (0..w).map(|_| r.random()).collect();
    let (wo, wo2, rs2): (Challenge, Challenge, Challenge) = (r.random(), r.random(), r.random());
    let ro0: Vec<Challenge> = (0..lde.height()).map(|_| r.random()).collect();
    let mut cpu_ro = ro0.clone();
    cpu_reduce(
        &lde,
        &apow,
        &[(wo, Challenge::ONE, &cpu_inv), (wo2, rs2, &cpu_inv2)],
        &mut cpu_ro,
    );

    let m = DeviceMatrix::upload(gpu, &lde)?;
    let inv = inv_denoms(gpu, z, log_n + 1)?;
    let inv2 = inv_denoms(gpu, z2, log_n + 1)?;
    let r1 = compare(&inv.download(gpu)?, &cpu_inv).map_err(|e| format!("denominators: {e}"));
    let got = evaluate(gpu, &m, 1, z, &inv)?;
    // Both points from one read of the matrix, as a trace is opened.
    let got2 = crate::open::evaluate_at(gpu, &m, 1, &[(z, &inv), (z2, &inv2)])?;
    let mut want2 = want.clone();
    want2.extend(cpu_open_eval(&lde, 1, z2, &cpu_inv2));
    let mut ro = DeviceExtVec::upload(gpu, &ro0)?;
    let apow_dev = gpu.upload(crate::field::ext_as_raw(&apow))?;
    reduce(
        gpu,
        &m,
        &apow_dev.slice(..),
        &[
            ReducePoint {
                weighted_openings: wo,
                rescale: Challenge::ONE,
                inv: &inv,
            },
            ReducePoint {
                weighted_openings: wo2,
                rescale: rs2,
                inv: &inv2,
            },
        ],
        &mut ro,
    )?;
    let gpu_ro = ro.download(gpu)?;
    let result = r1
        .and_then(|()| compare(&got, &want).map_err(|e| format!("opened values: {e}")))
        .and_then(|()| {
            compare(&got2, &want2).map_err(|e| format!("opened values at two points: {e}"))
        })
        .and_then(|()| compare(&gpu_ro, &cpu_ro).map_err(|e| format!("reduce: {e}")));
    Ok(verdict(
        name,
        "1/(z - x), values at z and at two points vs interpolate_coset_with_precomputation and interpolate_subgroup, a two-point reduce".into(),
        result,
    ))
}

/// A random `h × w` matrix whose column `c` holds values of `c mod 33` bits
/// (32: random field elements), as traces mix bits, bytes, limbs and full
/// elements: the packing's test input.
pub fn narrow_columns(r: &mut ZkRng, h: usize, w: usize) -> RowMajorMatrix<Val> {
    let values = (0..h * w)
        .map(|t| match (t % w) % 33 {
            32 => r.random(),
            bits => Val::from_u32((r.random::<u32>() & ((1u64 << bits) - 1) as u32) % 0x7f00_0001),
        })
        .collect();
    RowMajorMatrix::new(values, w)
}

/// Bit-packed uploads ([`DeviceMatrix::upload_packed`]) of matrices of
/// `h × w` whose columns hold values of 0 to 31 bits (and random field
/// elements), against the plain upload's words.
pub fn check_packed_upload(gpu: &GpuContext, seed: u64, h: usize, w: usize) -> Result<Check> {
    let m = narrow_columns(&mut rng(seed), h, w);
    let packed = crate::packed::pack(&m)?;
    let plain = DeviceMatrix::upload(gpu, &m)?.buf;
    let unpacked = DeviceMatrix::unpack(gpu, &packed)?.buf;
    let (plain, unpacked) = (gpu.download(&plain)?, gpu.download(&unpacked)?);
    Ok(verdict(
        format!("packed upload {h}x{w}"),
        format!(
            "words against a plain upload ({} bytes packed, {} plain)",
            packed.bytes(),
            4 * h * w
        ),
        compare(&unpacked[..h * w], &plain[..h * w]),
    ))
}

/// A packed trace staged through a page-locked buffer
/// ([`GpuContext::reserve_pinned`]) and, where the only buffer is too small,
/// through the thread's pageable one: the device words must be the packed
/// words either way.
pub fn check_staged_upload(gpu: &GpuContext, seed: u64, h: usize, w: usize) -> Result<Check> {
    let m = narrow_columns(&mut rng(seed), h, w);
    let want = crate::packed::pack(&m)?.words();
    let mut errors = Vec::new();
    for (name, pinned_words) in [("pinned", want.len() + 5), ("pageable", want.len() / 2)] {
        let ctx = gpu.sibling()?;
        ctx.reserve_pinned(1, pinned_words.max(1))?;
        // Twice, so the second takes the buffer the first gave back.
        for round in 0..2 {
            let staged = crate::packed::stage_packed(&ctx, crate::packed::pack(&m)?)?;
            let got = ctx.download(&staged.words)?;
            if got[..want.len()] != want[..] {
                errors.push(format!("{name}, round {round}: staged words differ"));
            }
        }
    }
    Ok(verdict(
        format!("staged upload {h}x{w}"),
        "packed words through a page-locked buffer and through pageable memory".into(),
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        },
    ))
}

/// The CPU and Shift tables made on the device from each shard's rows'
/// inputs ([`crate::cpu_rows`], [`crate::shift_rows`]) against the host's
/// (`generate_shard`), for every shard of `elf` run on `input` in shards
/// of `2^log_shard` cycles.
pub fn check_cpu_rows(
    gpu: &GpuContext,
    elf: &std::path::Path,
    input: Vec<u8>,
    log_shard: u32,
) -> Result<Check> {
    use cloak_machine::air::table;
    use cloak_machine::program::ProgramAir;
    use cloak_machine::witness::{generate_shard, generate_shard_as, ExecutionClaim, TraceForm};
    use cloak_vm::{ExecConfig, Executor, Program};
    let invalid = |e: String| crate::context::GpuError::Invalid(format!("{}: {e}", elf.display()));
    let bytes = std::fs::read(elf).map_err(|e| invalid(e.to_string()))?;
    let program = Program::from_elf(&bytes).map_err(|e| invalid(e.to_string()))?;
    let inputs = vec![input];
    let output = Executor::new(&program, inputs.clone(), ExecConfig::default())
        .run()
        .map_err(|e| invalid(e.to_string()))?;
    let claim = ExecutionClaim {
        digest: output.committed.map(|w| w.unwrap_or(0)),
        exit_code: output.exit_code,
    };
    let min = cloak_prover::FriSettings::DEFAULT.min_trace_height();
    let air = ProgramAir::new(&program, min).map_err(|e| invalid(e.to_string()))?;
    let cache = crate::cpu_rows::MessageCache::default();
    let mut errors = Vec::new();
    let mut shards = 0;
    let mut run = |shard: &cloak_vm::Shard| -> Result<()> {
        shards += 1;
        let want = generate_shard(&air, shard, claim, min).map_err(|e| invalid(e.to_string()))?;
        let w = generate_shard_as(&air, shard, claim, min, TraceForm::Inputs)
            .map_err(|e| invalid(e.to_string()))?;
        let rows = w.cpu_inputs.ok_or_else(|| invalid("no inputs".into()))?;
        let staged = crate::cpu_rows::stage(gpu, &cache, &rows)?;
        let got = gpu.download(&crate::cpu_rows::expand(gpu, staged)?.buf)?;
        if got[..] != *crate::field::as_raw(&want.traces[table::CPU].values) {
            errors.push(format!("CPU of shard {}", shard.index));
        }
        let rows = w
            .shift_inputs
            .ok_or_else(|| invalid("no Shift inputs".into()))?;
        let staged = crate::shift_rows::stage(gpu, &rows)?;
        let got = gpu.download(&crate::shift_rows::expand(gpu, staged)?.buf)?;
        let shift = &want.traces[table::SHIFT].values;
        if got[..shift.len()] != *crate::field::as_raw(shift) {
            errors.push(format!("Shift of shard {}", shard.index));
        }
        Ok(())
    };
    let mut failed = None;
    Executor::new(&program, inputs, ExecConfig::default())
        .run_traced(1 << log_shard, |shard| {
            if failed.is_none() {
                failed = run(shard).err();
            }
            Ok::<(), cloak_vm::ExecError>(())
        })
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let name = elf.file_stem().map_or("?".into(), |s| s.to_string_lossy());
    Ok(verdict(
        format!("CPU and Shift rows of {name}, {shards} shards of 2^{log_shard}"),
        "the device's expansion of the rows' inputs against the host's traces".into(),
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("differ in {}", errors.join(", ")))
        },
    ))
}

/// The GPU's proof-of-work search against the host's (`DetChallenger::grind`)
/// after `pending` observed values, at each of `bits`.
pub fn check_grind(gpu: &GpuContext, seed: u64, pending: usize, bits: &[usize]) -> Result<Check> {
    use p3_challenger::{CanObserve, GrindingChallenger};
    let search = crate::grind::GpuWitnessSearch::new(gpu)?;
    let mut r = rng(seed);
    let mut results = Vec::new();
    for &b in bits {
        let mut host = cloak_prover::challenger::DetChallenger::new(
            p3_koala_bear::default_koalabear_poseidon2_16(),
        );
        for v in random_vals(&mut r, pending) {
            host.observe(v);
        }
        let base = host.grind_base_state();
        let gpu_w = search.find(base, pending, b)?;
        let host_w = host.grind(b);
        results.push((b, gpu_w, Some(host_w)));
    }
    let gpu_ws: Vec<_> = results.iter().map(|(b, g, _)| (*b, *g)).collect();
    let host_ws: Vec<_> = results.iter().map(|(b, _, h)| (*b, *h)).collect();
    Ok(verdict(
        format!("grind after {pending} observed"),
        format!("smallest witnesses of {bits:?} bits against the host's"),
        compare(&gpu_ws, &host_ws),
    ))
}
