//! The CUDA kernels compiled by the host C++ compiler and run on the CPU
//! (emu/shim.h stands in for the CUDA built-ins, emu/driver.cpp launches the
//! kernels as src/ntt.rs and src/merkle.rs do), checked against Plonky3.
//! This covers the kernels' arithmetic and index logic without a GPU; it
//! skips where no `c++` is installed.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use cloak_gpu::blake3::digest_bytes;
use cloak_gpu::check;
use cloak_gpu::field::{as_raw, from_raw};
use cloak_gpu::merkle::hiding_salts;
use cloak_prover::config::{SaltRng, Val, ZkRng};
use p3_commit::Mmcs;
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};
use p3_koala_bear::default_koalabear_poseidon2_16;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use p3_symmetric::Permutation;
use rand::{RngExt, SeedableRng};

/// The emulator binary, built once per test run; None where there is no C++ compiler.
fn emulator() -> Option<&'static PathBuf> {
    static EMU: OnceLock<Option<PathBuf>> = OnceLock::new();
    EMU.get_or_init(|| {
        if Command::new("c++").arg("--version").output().is_err() {
            eprintln!("SKIP host emulation: no c++ compiler");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("cloak-gpu-emu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = String::from(include_str!("../emu/shim.h"));
        src.push_str(cloak_gpu::context::FIELD_CUH);
        for (name, s) in cloak_gpu::kernel_sources() {
            if name != "field" && name != "arith" {
                src.push_str(&s.replace(
                    "extern __shared__ u32 sm[];",
                    "u32* sm = emu_dyn_smem.data();",
                ));
            }
        }
        src.push_str(include_str!("../emu/driver.cpp"));
        let cpp = dir.join("emu.cpp");
        std::fs::write(&cpp, src).unwrap();
        let bin = dir.join("emu");
        common::compile_cpp(&cpp, &bin, "the emulator");
        Some(bin)
    })
    .as_ref()
}

fn run(request: &[u32]) -> Vec<u32> {
    let bin = emulator().expect("checked");
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes: Vec<u8> = request.iter().flat_map(|w| w.to_le_bytes()).collect();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        let dump = bin.with_extension("failed-request");
        std::fs::write(&dump, &bytes).unwrap();
        panic!(
            "emulator failed: {:?}; request saved to {}",
            out.status,
            dump.display()
        );
    }
    out.stdout
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn raw(v: Val) -> u32 {
    as_raw(&[v])[0]
}

#[test]
fn emulated_poseidon2_matches_plonky3() {
    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(1);
    let n = 37;
    let states: Vec<Val> = (0..n * 16).map(|_| rng.random()).collect();
    let mut req = vec![1u32, n as u32];
    req.extend_from_slice(as_raw(&states));
    let got = from_raw(run(&req)).unwrap();
    let p = default_koalabear_poseidon2_16();
    let want: Vec<Val> = states
        .chunks_exact(16)
        .flat_map(|c| p.permute(c.try_into().unwrap()))
        .collect();
    check::compare(&got, &want).unwrap();
}

fn reverse_bits(x: usize, bits: usize) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS as usize - bits)
    }
}

#[test]
fn emulated_lde_matches_plonky3() {
    if emulator().is_none() {
        return;
    }
    for (i, &(log_h, w, added, max_bits, lanes)) in [
        (1usize, 3usize, 1usize, 8u32, 32u32),
        (3, 1, 1, 8, 32),
        (5, 4, 0, 8, 8),
        (10, 7, 1, 8, 32),
        (10, 7, 1, 3, 16),
        (12, 5, 2, 4, 32),
        (13, 33, 1, 10, 8),
        (13, 33, 1, 9, 16),
        (11, 40, 1, 8, 32),
        (4, 2, 1, 8, 8),
        // Register tiles: passes of 10 and 9, 7 and 6, 5 on their own.
        (19, 3, 1, 10, 8),
        (13, 9, 2, 7, 16),
        (5, 6, 1, 10, 8),
        (12, 2, 1, 6, 32),
    ]
    .iter()
    .enumerate()
    {
        for fused in [0u32, 1] {
            let mut rng = ZkRng::seed_from_u64(100 + i as u64);
            let m = RowMajorMatrix::<Val>::rand(&mut rng, 1 << log_h, w);
            let root = Val::two_adic_generator(log_h);
            let g_big = Val::two_adic_generator(log_h + added);
            let mut req = vec![
                3,
                log_h as u32,
                w as u32,
                added as u32,
                max_bits,
                lanes,
                fused,
                raw(root),
                raw(root.inverse()),
            ];
            for c in 0..1usize << added {
                req.push(raw(
                    Val::GENERATOR * g_big.exp_u64(reverse_bits(c, added) as u64)
                ));
            }
            req.push(raw(Val::from_usize(1 << log_h).inverse()));
            req.extend_from_slice(as_raw(&m.values));
            let want = check::cpu_lde(m, added);
            // Op 14: the same with register tiles for passes of 5..=10 stages.
            for op in [3u32, 14] {
                req[0] = op;
                let got = from_raw(run(&req)).unwrap();
                check::compare(&got, &want.values).unwrap_or_else(|e| {
                    panic!("op {op}: lde 2^{log_h} x {w} +{added} ({max_bits} bits x {lanes} lanes, fused {fused}): {e}")
                });
            }
        }
    }
}

#[test]
fn emulated_merkle_matches_plonky3() {
    if emulator().is_none() {
        return;
    }
    // Leaves of one BLAKE3 chunk (256 words) or less, then of several: one
    // full chunk, two, four exactly, and five (two subtrees merged early).
    // The last two cases' trees have layers above 128 nodes (`compress_sub`:
    // up to 8 a launch, so the last one takes two) and injections both there
    // and in the layers `compress_top` makes.
    let cases: [&[(usize, usize)]; 9] = [
        &[(1 << 8, 10)],
        &[(1 << 6, 16)],
        &[(1 << 4, 252)],
        &[(1 << 4, 300)],
        &[(1 << 3, 700), (1 << 3, 316), (1 << 2, 600)],
        &[(1 << 3, 1200)],
        &[
            (1 << 6, 20),
            (1 << 8, 3),
            (1 << 8, 1),
            (1, 4),
            (2, 2),
            (1 << 6, 9),
        ],
        &[(1 << 10, 2), (1 << 9, 3), (1 << 5, 5), (1, 1)],
        &[(1 << 17, 1), (1 << 12, 2), (1 << 8, 1), (1 << 2, 3)],
    ];
    for (i, shapes) in cases.iter().enumerate() {
        let mut rng = ZkRng::seed_from_u64(200 + i as u64);
        let mats: Vec<RowMajorMatrix<Val>> = shapes
            .iter()
            .map(|&(h, w)| RowMajorMatrix::rand(&mut rng, h, w))
            .collect();
        let seed = [i as u8 + 7; 32];
        let heights: Vec<usize> = shapes.iter().map(|s| s.0).collect();
        let salts = hiding_salts(&mut SaltRng::from_seed(seed), &heights);
        let mut req = vec![4, mats.len() as u32];
        for (m, s) in mats.iter().zip(&salts) {
            req.extend([m.height() as u32, m.width() as u32]);
            req.extend_from_slice(as_raw(&m.values));
            req.extend_from_slice(as_raw(&s.values));
        }
        let out = run(&req);
        let mut layers: Vec<Vec<[u32; 8]>> = Vec::new();
        let mut pos = 1;
        for _ in 0..out[0] {
            let n = out[pos] as usize;
            pos += 1;
            layers.push(
                out[pos..pos + 8 * n]
                    .chunks_exact(8)
                    .map(|c| c.try_into().unwrap())
                    .collect(),
            );
            pos += 8 * n;
        }
        let mmcs = check::cpu_mmcs(seed);
        let (cap, data) = mmcs.commit(mats);
        let root = *layers.last().unwrap().first().unwrap();
        assert_eq!(digest_bytes(&root), cap.roots()[0], "case {i}: root");
        let max_h = heights.iter().copied().max().unwrap();
        for idx in [0, 1, max_h / 2 + 1, max_h - 1] {
            let idx = idx % max_h;
            let (_, (_, sibs)) = mmcs.open_batch(idx, &data).unpack();
            let ours: Vec<[u8; 32]> = (0..layers.len() - 1)
                .map(|l| digest_bytes(&layers[l][(idx >> l) ^ 1]))
                .collect();
            let theirs = sibs.to_vec();
            assert_eq!(ours, theirs, "case {i}: siblings of {idx}");
        }
    }
}

/// `zk_salts` (op 19) makes the salts a [`SaltRng`] gives, one keystream
/// word each, from any start (mid-block too), over many blocks, into
/// consecutive outputs of any sizes (empty ones too).
#[test]
fn emulated_salts_match_the_host() {
    use rand::Rng;

    if emulator().is_none() {
        return;
    }
    let cases: [(u64, usize, &[usize]); 5] = [
        (1, 0, &[1]),
        (2, 5, &[16]),
        (3, 17, &[3000]),
        (4, 1, &[40_000]),
        (
            5,
            9,
            &[4, 0, 12, 8000, 36, 1, 20, 4, 4, 4, 4, 4, 4, 4, 4, 1000],
        ),
    ];
    for (seed, skip, sizes) in cases {
        let mut host = SaltRng::seed_from_u64(seed);
        host.keystream_mut().set_stream(seed * 3);
        for _ in 0..skip {
            host.next_u32();
        }
        let k = host.keystream();
        let key = k.get_seed();
        let (stream, first) = (k.get_stream(), k.get_word_pos() as u64);
        let mut req = vec![19u32];
        req.extend((0..8).map(|i| u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().unwrap())));
        req.extend([
            stream as u32,
            (stream >> 32) as u32,
            first as u32,
            (first >> 32) as u32,
        ]);
        req.push(sizes.len() as u32);
        req.extend(sizes.iter().map(|&n| n as u32));
        let n: usize = sizes.iter().sum();
        let want: Vec<Val> = (0..n).map(|_| host.random()).collect();
        let got = from_raw(run(&req)).unwrap();
        check::compare(&got, &want).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(host.keystream().get_word_pos(), (first + n as u64) as u128);
    }
}

/// `quotient_chunk_coeffs` (op 20), each row's powers made from the row
/// before, against its definition: row i < h is
/// `idft[bitrev(i)] * scale * shift^i - g^i r[i]`, row h + i is
/// `p g^i r[i]`, the rest zero; heights below and above a thread's 8 rows.
#[test]
fn emulated_quotient_chunk_coeffs_match_their_definition() {
    use rand::RngExt;

    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0xc0ef);
    for log_h in [0usize, 1, 2, 3, 5, 10] {
        let h = 1usize << log_h;
        let (shift, scale, g, p): (Val, Val, Val, Val) =
            (rng.random(), rng.random(), rng.random(), rng.random());
        let idft: Vec<Val> = (0..8 * h).map(|_| rng.random()).collect();
        let r: Vec<Val> = (0..8 * h).map(|_| rng.random()).collect();
        let mut req = vec![20u32, log_h as u32, raw(shift), raw(scale), raw(g), raw(p)];
        req.extend_from_slice(as_raw(&idft));
        req.extend_from_slice(as_raw(&r));
        let got = from_raw(run(&req)).unwrap();
        let mut want = vec![Val::ZERO; 4 * h * 8];
        for i in 0..h {
            let src = reverse_bits(i, log_h);
            let (sp, gp) = (scale * shift.exp_u64(i as u64), g.exp_u64(i as u64));
            for c in 0..8 {
                want[i * 8 + c] = idft[src * 8 + c] * sp - gp * r[i * 8 + c];
                want[(h + i) * 8 + c] = p * gp * r[i * 8 + c];
            }
        }
        check::compare(&got, &want).unwrap_or_else(|e| panic!("2^{log_h}: {e}"));
    }
}

/// FRI's fold and reduced-input injection (op 5, 6) and the layer commitment
/// (op 4 on the folded words read as rows of 8) over several rounds, against
/// p3-fri's commit phase pieces: `ExtensionMmcs::commit_matrix` and
/// `TwoAdicFriFolding::fold_matrix`.
#[test]
fn emulated_fri_commit_phase_matches_plonky3() {
    use cloak_gpu::field::{ext_as_raw, ext_from_raw};
    use cloak_prover::config::{Challenge, ChallengeMmcs};
    use p3_fri::{FriFoldingStrategy, TwoAdicFriFolding};

    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0xf1);
    let log_n = 9;
    let mut folded: Vec<Challenge> = (0..1 << log_n).map(|_| rng.random()).collect();
    let extra: Vec<Challenge> = (0..1 << (log_n - 3)).map(|_| rng.random()).collect();
    let salt_seed = [7u8; 32];
    let mmcs = ChallengeMmcs::new(check::cpu_mmcs(salt_seed));
    let mut salt_rng = SaltRng::from_seed(salt_seed);
    let folding = TwoAdicFriFolding::<(), ()>(std::marker::PhantomData);
    let mut words = ext_as_raw(&folded).to_vec();
    for round in 0..6 {
        let rows = folded.len() / 2;
        // The layer's root: op 4 on the words as a rows x 8 matrix.
        let (cap, _) = mmcs.commit_matrix(RowMajorMatrix::new(folded.clone(), 2));
        let salts = hiding_salts(&mut salt_rng, &[rows]);
        let mut req = vec![4u32, 1, rows as u32, 8];
        req.extend_from_slice(&words);
        req.extend_from_slice(as_raw(&salts[0].values));
        let out = run(&req);
        let root = digest_bytes(&out[out.len() - 8..]);
        assert_eq!(root, cap.roots()[0], "round {round}: root");

        let beta: Challenge = rng.random();
        folded = FriFoldingStrategy::<Val, Challenge>::fold_matrix(
            &folding,
            beta,
            1,
            RowMajorMatrix::new(folded, 2),
        );
        let log_rows = rows.trailing_zeros() as usize;
        let g_inv = Val::two_adic_generator(log_rows + 1).inverse();
        let mut req = vec![
            5u32,
            rows as u32,
            log_rows as u32,
            raw(g_inv),
            raw(Val::ONE.halve()),
        ];
        req.extend_from_slice(ext_as_raw(&[beta]));
        req.extend_from_slice(&words);
        words = run(&req);
        if folded.len() == extra.len() {
            let b2 = beta.square();
            folded
                .iter_mut()
                .zip(&extra)
                .for_each(|(c, &x)| *c += b2 * x);
            let mut req = vec![6u32, rows as u32];
            req.extend_from_slice(ext_as_raw(&[b2]));
            req.extend_from_slice(&words);
            req.extend_from_slice(ext_as_raw(&extra));
            words = run(&req);
        }
        let got = ext_from_raw(words.clone()).unwrap();
        check::compare(&got, &folded).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

/// The device draws (op 7: zk_count, the scan's levels, zk_scatter) give the values
/// and the end position of the host's sequential `rng.random::<Val>()`
/// draws, from any start (mid-block included); a window too short says so
/// (its total below n, no end).
#[test]
fn emulated_zk_draws_match_the_host() {
    use rand::Rng;

    if emulator().is_none() {
        return;
    }
    let request = |rng: &ZkRng, n: usize, words: u64| -> Vec<u32> {
        let seed = rng.get_seed();
        let mut req = vec![7u32];
        req.extend((0..8).map(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().unwrap())));
        let stream = rng.get_stream();
        let first = rng.get_word_pos() as u64;
        req.extend([
            stream as u32,
            (stream >> 32) as u32,
            first as u32,
            (first >> 32) as u32,
        ]);
        req.extend([n as u32, words as u32, (words >> 32) as u32]);
        req
    };
    for (seed, skip, n) in [
        (1u64, 0usize, 1usize),
        (2, 3, 1000),
        (3, 17, 40_000),
        // Over 9000 segments: the scan has three levels.
        (5, 2, 150_000),
        // A window of n + n/32 + 64 words in segments of 16: 1024 segments
        // (a full group of 32 at the top level), then 1025 (one past it).
        (6, 0, 15_825),
        (7, 5, 15_827),
        (4, 1, 5),
    ] {
        let mut host = ZkRng::seed_from_u64(seed);
        host.set_stream(seed * 7);
        for _ in 0..skip {
            host.next_u32();
        }
        let start = host.get_word_pos();
        let req = request(&host, n, (n + n / 32 + 64) as u64);
        let want: Vec<Val> = (0..n).map(|_| host.random()).collect();
        let out = run(&req);
        let total = out[0] as u64 | (out[1] as u64) << 32;
        assert!(total >= n as u64, "window total {total} below {n}");
        let got = from_raw(out[2..2 + n].to_vec()).unwrap();
        check::compare(&got, &want).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let end = out[2 + n] as u64 | (out[3 + n] as u64) << 32;
        assert_eq!(
            start + end as u128,
            host.get_word_pos(),
            "seed {seed}: end position"
        );
    }
    // A window of n words (whole segments of 16) cannot hold n draws when
    // any word is rejected: over 5120 words some are (1 in 128). The total
    // says so, the scatter (which runs anyway, as on the device) reports no
    // end, and the draws it wrote are the first ones, as `draw_on_device`
    // discards them before doubling the window.
    let mut host = ZkRng::seed_from_u64(9);
    let out = run(&request(&host, 5120, 5120));
    let total = out[0] as usize;
    assert!(total < 5120 && out.len() == 2 + 5120 + 2, "{:?}", &out[..2]);
    assert_eq!((out[2 + 5120], out[3 + 5120]), (0, 0), "no end position");
    let want: Vec<Val> = (0..total).map(|_| host.random()).collect();
    let got = from_raw(out[2..2 + total].to_vec()).unwrap();
    check::compare(&got, &want).unwrap();
}

/// Op 8 (`zk_widen`, the inverse NTT, `lde_first_pass_masked`, the other
/// passes, as `backend::masked_lde` launches them) gives the vendored
/// p3-fri's `masked_trace_lde`: traces narrower and wider than a tile's
/// lanes, one pass and several, masks shorter than the trace and as long.
#[test]
fn emulated_masked_lde_matches_plonky3() {
    use cloak_prover::config::{Dft, NUM_RANDOM_CODEWORDS as NRC};

    if emulator().is_none() {
        return;
    }
    for (i, &(log_h, w, mask_len, max_bits, lanes)) in [
        (8usize, 3usize, 190usize, 10u32, 8u32),
        (8, 61, 256, 4, 32),
        (9, 1, 100, 5, 16),
        (10, 40, 190, 10, 8),
    ]
    .iter()
    .enumerate()
    {
        let added = 2usize;
        let h = 1usize << log_h;
        let mut rng = ZkRng::seed_from_u64(300 + i as u64);
        let trace = RowMajorMatrix::<Val>::rand(&mut rng, h, w);
        let draws: Vec<Val> = (0..2 * h * NRC + mask_len * w)
            .map(|_| rng.random())
            .collect();
        let want = p3_fri::masked_trace_lde(
            &Dft::default(),
            trace.clone(),
            &draws,
            NRC,
            mask_len,
            added - 1,
            Val::GENERATOR,
        );
        let g_big = Val::two_adic_generator(log_h + added);
        let root = Val::two_adic_generator(log_h);
        let shifts: Vec<Val> = (0..1usize << added)
            .map(|c| Val::GENERATOR * g_big.exp_u64(reverse_bits(c, added) as u64))
            .collect();
        let mut req = vec![
            8,
            log_h as u32,
            w as u32,
            NRC as u32,
            mask_len as u32,
            added as u32,
            max_bits,
            lanes,
            raw(root),
            raw(root.inverse()),
        ];
        req.extend(shifts.iter().map(|&s| raw(s)));
        req.push(raw(Val::from_usize(h).inverse()));
        req.extend(
            shifts
                .iter()
                .map(|&s| raw(Val::from_usize(h) * (s.exp_u64(h as u64) - Val::ONE))),
        );
        req.extend_from_slice(as_raw(&trace.values));
        req.extend_from_slice(as_raw(&draws));
        // Op 15: the same with register tiles for passes of 5..=10 stages.
        for op in [8u32, 15] {
            req[0] = op;
            let got = from_raw(run(&req)).unwrap();
            check::compare(&got, &want.values)
                .unwrap_or_else(|e| panic!("op {op}: 2^{log_h} x {w}, mask {mask_len}: {e}"));
        }
    }
}

/// The opening kernels (ops 9, 10, 11) against p3: the denominators, the
/// opened values of a trace's LDE at a random point (p3's
/// `interpolate_coset_with_precomputation`, as `TwoAdicFriPcs::open` calls
/// it) and a two-point reduce, in several chunkings.
#[test]
fn emulated_open_matches_plonky3() {
    use cloak_gpu::field::{ext_as_raw, ext_from_raw};
    use cloak_prover::config::Challenge;
    use p3_field::TwoAdicField;

    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0x0be);
    // Denominators of the small cosets: one a thread below 256 points,
    // batches of 8 from there.
    let denoms_at = |z: Challenge, log_n: usize| -> Vec<Challenge> {
        let mut req = vec![9u32, 1 << log_n, log_n as u32];
        req.push(raw(Val::GENERATOR));
        req.push(raw(Val::two_adic_generator(log_n)));
        req.extend_from_slice(ext_as_raw(&[z]));
        ext_from_raw(run(&req)).unwrap()
    };
    for log_n in (0..=9usize).chain([12]) {
        let z: Challenge = rng.random();
        assert_eq!(
            denoms_at(z, log_n),
            check::cpu_inv_denoms(z, log_n),
            "2^{log_n}: denominators"
        );
    }
    // z on the coset: its own denominator is zero (no inverse), and the
    // other points of its batch of 8 keep theirs.
    let log_n = 9;
    let points: Vec<Val> = (0..1usize << log_n)
        .map(|i| {
            Val::GENERATOR * Val::two_adic_generator(log_n).exp_u64(reverse_bits(i, log_n) as u64)
        })
        .collect();
    let z = Challenge::from(points[37]);
    let want: Vec<Challenge> = points
        .iter()
        .map(|&x| (z - x).try_inverse().unwrap_or(Challenge::ZERO))
        .collect();
    assert_eq!(want[37], Challenge::ZERO);
    assert_eq!(denoms_at(z, log_n), want, "z on the coset");
    // (9, 17, 7): 74 chunks, folded once; (12, 40, 3): 1366 chunks, folded
    // twice; (13, 6, 2): 4096 chunks, folded once to exactly 64.
    for (log_n, w, chunk_rows) in [
        (3usize, 5usize, 256u32),
        (8, 3, 16),
        (9, 17, 7),
        (12, 40, 3),
        (13, 6, 2),
        (6, 33, 8),
    ] {
        let trace = RowMajorMatrix::<Val>::rand(&mut rng, 1 << log_n, w);
        let lde = check::cpu_lde(trace.clone(), 1);
        let h = lde.height();
        let z: Challenge = rng.random();
        let z2: Challenge = rng.random();
        let log_h = log_n + 1;

        let denoms = |z: Challenge| {
            let mut req = vec![9u32, h as u32, log_h as u32];
            req.push(raw(Val::GENERATOR));
            req.push(raw(Val::two_adic_generator(log_h)));
            req.extend_from_slice(ext_as_raw(&[z]));
            ext_from_raw(run(&req)).unwrap()
        };
        let inv = denoms(z);
        let inv2 = denoms(z2);
        assert_eq!(
            inv,
            check::cpu_inv_denoms(z, log_h),
            "2^{log_h}: denominators"
        );

        // Evaluate: the low coset (first h/2 rows).
        let rows = h / 2;
        let g_pow_n = Val::GENERATOR.exp_power_of_2(log_n);
        let scale =
            z * (z.exp_power_of_2(log_n) - g_pow_n) * g_pow_n.mul_2exp_u64(log_n as u64).inverse();
        let scale2 = z2
            * (z2.exp_power_of_2(log_n) - g_pow_n)
            * g_pow_n.mul_2exp_u64(log_n as u64).inverse();
        let want = check::cpu_open_eval(&lde, 1, z, &inv);
        let mut want2 = want.clone();
        want2.extend(check::cpu_open_eval(&lde, 1, z2, &inv2));
        // At z alone, then at z and z2 from one read (a trace's two points).
        for (points, want) in [
            (vec![(z, scale, &inv)], &want),
            (vec![(z, scale, &inv), (z2, scale2, &inv2)], &want2),
        ] {
            let mut req = vec![
                10u32,
                rows as u32,
                w as u32,
                chunk_rows,
                points.len() as u32,
            ];
            for (z, scale, inv) in points {
                req.extend_from_slice(ext_as_raw(&[z.inverse()]));
                req.extend_from_slice(ext_as_raw(&[scale]));
                req.extend_from_slice(ext_as_raw(&inv[..rows]));
            }
            req.extend_from_slice(as_raw(&lde.values[..rows * w]));
            let got = ext_from_raw(run(&req)).unwrap();
            assert_eq!(&got, want, "2^{log_h}: opened values");
        }

        // Reduce at two points.
        let apow: Vec<Challenge> = (0..w).map(|_| rng.random()).collect();
        let (wo, wo2, rs2): (Challenge, Challenge, Challenge) =
            (rng.random(), rng.random(), rng.random());
        let ro: Vec<Challenge> = (0..h).map(|_| rng.random()).collect();
        let mut want = ro.clone();
        check::cpu_reduce(
            &lde,
            &apow,
            &[(wo, Challenge::ONE, &inv), (wo2, rs2, &inv2)],
            &mut want,
        );
        let mut req = vec![11u32, h as u32, w as u32, 2];
        req.extend_from_slice(ext_as_raw(&apow));
        for (wo, rs, inv) in [(wo, Challenge::ONE, &inv), (wo2, rs2, &inv2)] {
            req.extend_from_slice(ext_as_raw(&[wo, rs]));
            req.extend_from_slice(ext_as_raw(inv));
        }
        req.extend_from_slice(ext_as_raw(&ro));
        req.extend_from_slice(as_raw(&lde.values));
        assert_eq!(ext_from_raw(run(&req)).unwrap(), want, "2^{log_h}: reduce");
    }
}

/// `lde_to_columns` (the quotient kernels' input) reads the first `cols`
/// columns of a bit-reversed row-major LDE column-major in natural order,
/// through its shared-memory tiles: heights below and across a tile,
/// widths below, at and across 32 columns, some columns left out.
#[test]
fn emulated_lde_to_columns_transposes_bit_reversed_rows() {
    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0x7c0);
    for (log_h, width, cols) in [
        (0usize, 3usize, 3usize),
        (4, 5, 2),
        (6, 33, 33),
        (7, 70, 65),
        (5, 32, 32),
    ] {
        let h = 1usize << log_h;
        let lde: Vec<u32> = (0..h * width).map(|_| rng.random()).collect();
        let mut req = vec![16u32, log_h as u32, width as u32, cols as u32];
        req.extend_from_slice(&lde);
        let got = run(&req);
        let want: Vec<u32> = (0..cols)
            .flat_map(|c| (0..h).map(move |i| (c, i)))
            .map(|(c, i)| lde[reverse_bits(i, log_h) * width + c])
            .collect();
        assert_eq!(got, want, "2^{log_h} rows x {width} ({cols} read)");
    }
}

/// Bit-packed traces (`packed::pack`) unpacked by `unpack_trace` give the
/// plain upload's Montgomery words: columns of 0 to 31 bits and random
/// elements, heights across and within chunks.
#[test]
fn emulated_unpack_restores_packed_traces() {
    use cloak_gpu::packed::{pack, CHUNK_ROWS};
    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0x9ac);
    for (h, w) in [
        (1usize, 1usize),
        (16, 40),
        (3000, 7),
        (CHUNK_ROWS * 2 + 5, 33),
    ] {
        let m = check::narrow_columns(&mut rng, h, w);
        let p = pack(&m).unwrap();
        let mut req = vec![12u32, h as u32, w as u32, CHUNK_ROWS as u32];
        let words = p.words();
        req.push(words.len() as u32);
        req.extend_from_slice(&words);
        req.push(p.chunk_start.len() as u32);
        req.extend_from_slice(&p.chunk_start);
        req.extend_from_slice(&p.meta);
        assert_eq!(run(&req), as_raw(&m.values), "{h} x {w}");
    }
}

/// The proof-of-work search kernel finds the host's witness: the smallest
/// passing candidate, after 0 to 7 pending observed values.
#[test]
fn emulated_grind_finds_the_hosts_witness() {
    use cloak_prover::challenger::DetChallenger;
    use p3_challenger::{CanObserve, GrindingChallenger};
    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0x6e1d);
    for (pending, bits) in [(0usize, 1usize), (3, 8), (7, 10), (2, 12)] {
        let mut host = DetChallenger::new(default_koalabear_poseidon2_16());
        for _ in 0..pending {
            host.observe(rng.random::<Val>());
        }
        let mut req = vec![13u32, pending as u32, bits as u32];
        req.extend(host.grind_base_state().iter().map(|&v| raw(v)));
        let got = run(&req);
        let want = host.grind(bits);
        // The kernel answers the candidate itself (canonical), not its
        // Montgomery form.
        assert_eq!(
            got,
            vec![p3_field::PrimeField32::as_canonical_u32(&want)],
            "{pending} pending, {bits} bits"
        );
    }
}

/// The CPU table `cpu_expand` makes from a shard's rows' inputs (op 17) is
/// the host's (`generate_shard`) cell for cell, and so is the host's own
/// expansion of the same inputs (`DeferredTrace::into_values`): shards of
/// guests with every kind of row (loads and stores of bytes, halves and
/// words, branches, jumps, HINT and COMMIT syscalls, the SHA and Keccak
/// precompiles), the first, a middle and the last (padded) shard of each.
#[test]
fn emulated_cpu_rows_match_the_host() {
    use cloak_machine::air::table;
    use cloak_machine::program::ProgramAir;
    use cloak_machine::witness::{generate_shard, generate_shard_as, ExecutionClaim, TraceForm};
    use cloak_prover::DeferredTrace;
    use cloak_vm::{ExecConfig, Executor, Program};

    if emulator().is_none() {
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let vec_input = |path: &str| {
        cloak_vm::input::vec_u8(&std::fs::read(format!("{root}/guests/inputs/{path}")).unwrap())
    };
    let min = cloak_prover::FriSettings::DEFAULT.min_trace_height();
    for (guest, input, log_shard) in [
        ("fibonacci", 300u32.to_le_bytes().to_vec(), 10),
        ("sha256-soft", vec_input("abc.txt"), 12),
        ("sha256", vec_input("abc.txt"), 10),
        ("keccak256", vec_input("abc.txt"), 10),
        ("json", vec_input("json-small.json"), 14),
    ] {
        let elf = std::fs::read(format!("{root}/guests/bin/{guest}.elf")).unwrap();
        let program = Program::from_elf(&elf).unwrap();
        let inputs = vec![input];
        let output = Executor::new(&program, inputs.clone(), ExecConfig::default())
            .run()
            .unwrap();
        let claim = ExecutionClaim {
            digest: output.committed.map(|w| w.unwrap_or(0)),
            exit_code: output.exit_code,
        };
        let air = ProgramAir::new(&program, min).unwrap();
        let mut shards = Vec::new();
        Executor::new(&program, inputs, ExecConfig::default())
            .run_traced(1 << log_shard, |shard| {
                shards.push(shard.clone());
                Ok::<(), cloak_vm::ExecError>(())
            })
            .unwrap();
        let picked = [0, shards.len() / 2, shards.len() - 1];
        for &k in picked.iter().collect::<std::collections::BTreeSet<_>>() {
            let shard = &shards[k];
            let want = generate_shard(&air, shard, claim, min).unwrap();
            let want = &want.traces[table::CPU];
            let w = generate_shard_as(&air, shard, claim, min, TraceForm::Inputs).unwrap();
            assert_eq!(w.traces[table::CPU].values.len(), 0);
            let rows = w.cpu_inputs.clone().unwrap();
            assert_eq!(rows.height, want.height(), "{guest} shard {k}");
            let got = expand_cpu_emulated(&rows);
            assert!(
                got == as_raw(&want.values),
                "{guest} shard {k}: the device's CPU rows differ from the host's"
            );
            let host = Box::new(rows).into_values();
            assert!(host == *want, "{guest} shard {k}: into_values differs");
            let want = generate_shard(&air, shard, claim, min).unwrap();
            let want = &want.traces[table::SHIFT];
            let rows = w.shift_inputs.clone().unwrap();
            assert_eq!(
                expand_shift_emulated(&rows),
                as_raw(&want.values),
                "{guest} shard {k}"
            );
            assert!(
                Box::new(rows).into_values() == *want,
                "{guest} shard {k}: Shift"
            );
        }
    }
}

/// `cpu_expand` (op 17) against the host's expansion (`into_values`) on
/// random inputs over real programs' rows: every instruction kind the
/// guests hold (loads and stores of each width, branches, jumps, ALU forms,
/// ECALL) meets random operands, equal operands (`eq`), equal low limbs
/// (the high inverse), comparison results of 1 (taken ordered branches),
/// every syscall index on any row, and one past them.
#[test]
fn emulated_cpu_rows_match_the_host_on_random_inputs() {
    use cloak_machine::cpu_rows::{inputs as i, CpuRowInputs};
    use cloak_machine::program::ProgramAir;
    use cloak_prover::DeferredTrace;
    use cloak_vm::Program;

    if emulator().is_none() {
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let min = cloak_prover::FriSettings::DEFAULT.min_trace_height();
    let mut rng = ZkRng::seed_from_u64(0xc9a);
    for guest in ["json", "sha256", "keccak256-soft", "sha256-c"] {
        let elf = std::fs::read(format!("{root}/guests/bin/{guest}.elf")).unwrap();
        let air = ProgramAir::new(&Program::from_elf(&elf).unwrap(), min).unwrap();
        let (n, height) = (3000, 4096);
        let mut inputs = vec![0u32; n * i::WIDTH];
        for row in inputs.chunks_exact_mut(i::WIDTH) {
            for v in row.iter_mut() {
                *v = rng.random::<u32>() & 0xffff;
            }
            row[i::PROGRAM_ROW] = rng.random_range(0..air.rows().len()) as u32;
            row[i::SYSCALL] = match rng.random_range(0..3) {
                0 => rng.random_range(0..=10),
                _ => 0,
            };
            match rng.random_range(0..4) {
                0 => (row[i::C_LO], row[i::C_LO + 1]) = (row[i::B_LO], row[i::B_LO + 1]),
                1 => row[i::C_LO] = row[i::B_LO],
                2 => (row[i::A_LO], row[i::A_LO + 1]) = (1, 0),
                _ => {}
            }
        }
        let rows = CpuRowInputs {
            program: air.clone(),
            inputs,
            start_clk: rng.random_range(0..1u64 << 26),
            height,
        };
        let got = expand_cpu_emulated(&rows);
        let want = Box::new(rows).into_values();
        let width = want.width();
        if let Some(k) = (0..got.len()).find(|&k| got[k] != as_raw(&want.values)[k]) {
            panic!(
                "{guest}: row {}, column {} differs from the host's",
                k / width,
                k % width
            );
        }
    }
}

/// Canonical words as the Montgomery words an upload unpacks into.
fn montgomery(words: &[u32]) -> impl Iterator<Item = u32> + '_ {
    words.iter().map(|&x| as_raw(&[Val::from_u32(x)])[0])
}

/// Op 17 on `rows`: the CPU trace `cpu_expand` makes.
fn expand_cpu_emulated(rows: &cloak_machine::cpu_rows::CpuRowInputs) -> Vec<u32> {
    use cloak_machine::program::FETCH_WIDTH;
    let messages = rows.program.message_words();
    let mut req = vec![
        17u32,
        rows.rows() as u32,
        rows.height as u32,
        rows.start_clk as u32,
        (rows.start_clk >> 32) as u32,
        (messages.len() / FETCH_WIDTH) as u32,
    ];
    req.extend_from_slice(&messages);
    req.extend(montgomery(&rows.inputs));
    run(&req)
}

/// Op 18 on `rows`: the Shift trace `shift_expand` makes.
fn expand_shift_emulated(rows: &cloak_machine::shift::ShiftRowInputs) -> Vec<u32> {
    use cloak_machine::shift::inputs as si;
    let n = rows.inputs.len() / si::WIDTH;
    let mut req = vec![18u32, n as u32, rows.height as u32];
    req.extend(montgomery(&rows.inputs));
    run(&req)
}

/// `shift_expand` (op 18) against the host's Shift rows (`shift::trace`)
/// on random SLL, SRL and SRA events: signed and unsigned `b`, every shift
/// amount, `c`'s high bits set; and the host's expansion of the same inputs.
#[test]
fn emulated_shift_rows_match_the_host() {
    use cloak_machine::event::Multiplicities;
    use cloak_machine::{range16, shift, AluEvent};
    use cloak_prover::DeferredTrace;
    use cloak_vm::Opcode;

    if emulator().is_none() {
        return;
    }
    let mut rng = ZkRng::seed_from_u64(0x5f1);
    for (n, min) in [(1usize, 16usize), (700, 16), (3000, 4096)] {
        let events: Vec<AluEvent> = (0..n)
            .map(|k| {
                let op = [Opcode::Sll, Opcode::Srl, Opcode::Sra][k % 3];
                let b: u32 = rng.random();
                let c = if k % 5 == 0 {
                    (k as u32) % 32
                } else {
                    rng.random()
                };
                AluEvent::new(op, b, c).unwrap()
            })
            .collect();
        let (mut m1, mut m2) = (Multiplicities::default(), Multiplicities::default());
        let want = shift::trace(&events, min, &mut m1).unwrap();
        let rows = shift::row_inputs(&events, min, &mut m2).unwrap();
        assert!(
            range16::trace(&mut m1) == range16::trace(&mut m2),
            "{n} events: the inputs count other lookups"
        );
        assert_eq!(rows.height, want.height());
        assert_eq!(
            expand_shift_emulated(&rows),
            as_raw(&want.values),
            "{n} events"
        );
        assert!(
            Box::new(rows).into_values() == want,
            "{n} events: into_values"
        );
    }
}
