//! Runs every kernel check against Plonky3 on random inputs and times the
//! kernels at realistic sizes against the CPU, printing a compact report.
//! Exit code 1 on any FAIL, 2 when no GPU could be opened.
//!
//! Usage: cloak-gpu-check [--seed N] [--log-h K] [--width W] [--reps R] [--quick] [--guests DIR]
//!   --log-h/--width: the timed trace (default 2^20 x 128; its LDE is 2^21 x 128)
//!   --quick: correctness checks only, no large timings
//!   --guests: the bundled guests' ELFs (default guests/bin), whose traces
//!     the quotient checks evaluate every machine table on

use std::process::ExitCode;
use std::time::Instant;

use cloak_gpu::check::{self, Check};
use cloak_gpu::{commit_salted, DeviceMatrix, GpuContext, GpuTimer, Ntt, Result};
use cloak_prover::config::{Val, ZkRng};
use p3_commit::Mmcs;
use p3_field::Field;
use p3_matrix::dense::RowMajorMatrix;
use rand::SeedableRng;

struct Args {
    seed: u64,
    log_h: usize,
    width: usize,
    reps: usize,
    quick: bool,
    guests: std::path::PathBuf,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut a = Args {
        seed: 0x00c1_0a4e,
        log_h: 20,
        width: 128,
        reps: 5,
        quick: false,
        guests: "guests/bin".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> std::result::Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seed" => a.seed = num("--seed")?,
            "--log-h" => a.log_h = num("--log-h")? as usize,
            "--width" => a.width = num("--width")? as usize,
            "--reps" => a.reps = (num("--reps")? as usize).max(1),
            "--quick" => a.quick = true,
            "--guests" => a.guests = it.next().ok_or("--guests needs a folder")?.into(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// LDE variants timed: (stages per pass, lanes per tile, scaling fused into the first pass).
const TILINGS: [(u32, u32, bool); 7] = [
    (8, 32, true),
    (9, 16, true),
    (10, 8, true),
    (10, 16, true),
    (10, 32, true),
    (8, 32, false),
    (10, 8, false),
];

fn ntt_variant((bits, lanes, fused): (u32, u32, bool)) -> Ntt {
    Ntt::with_tiling(bits, lanes).with_fused_scatter(fused)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

struct Report {
    checks: Vec<Check>,
    timings: Vec<String>,
}

impl Report {
    fn push(&mut self, c: Check) {
        println!("{c}");
        self.checks.push(c);
    }

    fn time(&mut self, line: String) {
        println!("TIME {line}");
        self.timings.push(line);
    }
}

fn correctness(gpu: &GpuContext, args: &Args, rep: &mut Report) -> Result<()> {
    let seed = args.seed;
    let s = |k: u64| seed.wrapping_mul(0x9e37_79b9).wrapping_add(k);
    for c in check::check_base_arith(gpu, s(1), 1 << 20)? {
        rep.push(c);
    }
    // The device opened a second time in this process, while its primary
    // context is active (the wait mode is set on each open), then used.
    let again = GpuContext::first()
        .and_then(|second| check::check_base_arith(&second, s(99), 1 << 10))
        .map_err(|e| e.to_string())
        .and_then(|checks| match checks.iter().find(|c| !c.passed) {
            Some(c) => Err(c.to_string()),
            None => Ok(()),
        });
    rep.push(check::verdict(
        "a second open of the device".into(),
        "base-field arithmetic on it".into(),
        again,
    ));
    for c in check::check_ext_arith(gpu, s(2), 1 << 18)? {
        rep.push(c);
    }
    for c in check::check_poseidon2(gpu, s(3), 1 << 14)? {
        rep.push(c);
    }
    let ntt = Ntt::default();
    for (log_n, w) in [(1, 3), (4, 1), (10, 40), (16, 9)] {
        rep.push(check::check_dft(gpu, &ntt, s(4 + log_n as u64), log_n, w)?);
    }
    for (log_h, w, added) in [
        (1, 3, 1),
        (3, 1, 1),
        (5, 64, 0),
        (10, 7, 1),
        (12, 5, 2),
        (16, 33, 1),
        (17, 128, 1),
        (20, 16, 1),
    ] {
        rep.push(check::check_lde(
            gpu,
            &ntt,
            s(30 + log_h as u64),
            log_h,
            w,
            added,
        )?);
    }
    // Sparse-masked trace LDEs (the main and permutation commitments):
    // narrow and wide traces, the smallest height the masks allow, and a
    // shard's CPU table.
    let fri = cloak_prover::config::FriSettings::DEFAULT;
    for (log_h, w) in [(8, 3), (8, 87), (12, 1), (15, 40), (19, 87)] {
        rep.push(check::check_masked_lde(
            gpu,
            &ntt,
            fri,
            s(40 + log_h as u64),
            log_h,
            w,
        )?);
    }
    // The other shared-memory tilings must give the same bytes.
    for (i, v) in TILINGS
        .iter()
        .copied()
        .chain([(4, 32, true), (4, 16, false)])
        .enumerate()
    {
        let mut c = check::check_lde(gpu, &ntt_variant(v), s(50 + i as u64), 15, 37, 1)?;
        c.name = format!("{} (tiles 2^{} x {}, fused {})", c.name, v.0, v.1, v.2);
        rep.push(c);
    }
    // Register tiles (passes of 5 to 10 stages, the default) against the
    // radix-4 shared-memory tiles, both against Plonky3.
    for (i, (log_h, w, reg)) in [
        (19, 5, false),
        (19, 5, true),
        (13, 40, false),
        (13, 40, true),
    ]
    .into_iter()
    .enumerate()
    {
        let ntt = Ntt::default().with_register_tiles(reg);
        let mut c = check::check_lde(gpu, &ntt, s(70 + i as u64), log_h, w, 1)?;
        c.name = format!("{} (register tiles {reg})", c.name);
        rep.push(c);
        let mut c = check::check_masked_lde(gpu, &ntt, fri, s(75 + i as u64), log_h, w)?;
        c.name = format!("{} (register tiles {reg})", c.name);
        rep.push(c);
    }
    rep.push(check::check_merkle(gpu, s(60), &[(1 << 10, 17)])?);
    rep.push(check::check_merkle(gpu, s(61), &[(1 << 12, 16)])?);
    rep.push(check::check_merkle(
        gpu,
        s(62),
        &[
            (1 << 10, 8),
            (1 << 12, 40),
            (1 << 7, 1),
            (1 << 12, 3),
            (1, 5),
            (1 << 12, 12),
            (2, 2),
            (1 << 10, 33),
        ],
    )?);
    // Nine matrices of one height: 18 segments, more than go by value, so
    // the segment table is uploaded.
    rep.push(check::check_merkle(gpu, s(63), &[(1 << 9, 3); 9])?);
    // Leaves longer than one BLAKE3 chunk (256 words): exactly one chunk,
    // two, four, and five (subtrees merged before the last chunk).
    rep.push(check::check_merkle(gpu, s(64), &[(1 << 8, 252)])?);
    rep.push(check::check_merkle(gpu, s(65), &[(1 << 10, 300)])?);
    rep.push(check::check_merkle(
        gpu,
        s(66),
        &[(1 << 8, 700), (1 << 8, 316), (1 << 7, 600)],
    )?);
    rep.push(check::check_merkle(gpu, s(67), &[(1 << 6, 1200)])?);
    // FRI's commit phase: short and long chains, down to 2 elements, and a
    // 2^20-element first layer (the size of a 2^18-row trace's LDE batch).
    for (i, &(log_n, rounds)) in [(1usize, 1usize), (6, 5), (12, 11), (20, 19)]
        .iter()
        .enumerate()
    {
        rep.push(check::check_fri(gpu, s(80 + i as u64), log_n, rounds)?);
    }
    for (i, &(log_n, w)) in [(3usize, 1usize), (10, 17), (20, 91)].iter().enumerate() {
        rep.push(check::check_open(gpu, s(100 + i as u64), log_n, w)?);
    }
    for (i, n) in [1usize, 1000, 1 << 20, 37_000_000].into_iter().enumerate() {
        rep.push(check::check_zk_draws(gpu, s(90 + i as u64), n)?);
    }
    rep.push(check::check_ahead(gpu, s(95))?);
    let t = Instant::now();
    for c in cloak_gpu::quotient_check::check_machine_quotients(gpu, &args.guests, s(70))? {
        rep.push(c);
    }
    println!("quotient checks took {:.1} s", t.elapsed().as_secs_f64());
    for (i, shapes) in [
        vec![(64usize, 3usize)],
        vec![(1 << 12, 17), (1 << 10, 5), (1 << 12, 1)],
        vec![(1 << 20, 8), (1 << 14, 8), (1 << 9, 8)],
    ]
    .iter()
    .enumerate()
    {
        rep.push(check::check_open_multi(gpu, s(110 + i as u64), shapes)?);
    }
    for (i, &(h, w)) in [
        (1usize, 1usize),
        (16, 40),
        (1 << 12, 33),
        (3000, 7),
        (1 << 19, 150),
    ]
    .iter()
    .enumerate()
    {
        rep.push(check::check_packed_upload(gpu, s(130 + i as u64), h, w)?);
    }
    rep.push(check::check_staged_upload(gpu, s(136), 1 << 19, 150)?);
    // The CPU table from its rows' inputs, on guests from the repository
    // root (skipped elsewhere): ALU and branches, bytes and precompiles,
    // a parser's loads and stores; full shards and a padded last one.
    let guests = std::path::Path::new("guests");
    if guests.join("bin/loop.elf").exists() {
        let vec_input = |path: &str| -> Result<Vec<u8>> {
            let path = guests.join("inputs").join(path);
            let bytes = std::fs::read(&path)
                .map_err(|e| cloak_gpu::GpuError::Invalid(format!("{}: {e}", path.display())))?;
            Ok(cloak_vm::input::vec_u8(&bytes))
        };
        for (guest, input, log_shard) in [
            ("loop", 120_000u32.to_le_bytes().to_vec(), 19),
            ("sha256", vec_input("abc.txt")?, 10),
            ("keccak256-soft", vec_input("abc.txt")?, 12),
            ("json", vec_input("json-small.json")?, 16),
        ] {
            let elf = guests.join("bin").join(format!("{guest}.elf"));
            rep.push(check::check_cpu_rows(gpu, &elf, input, log_shard)?);
        }
    } else {
        println!("SKIP CPU rows checks: no guests/bin here (run from the repository root)");
    }
    for pending in [0, 3, 7] {
        rep.push(check::check_grind(
            gpu,
            s(140 + pending as u64),
            pending,
            &[1, 3, 8, 12, 16],
        )?);
    }
    let t = Instant::now();
    for c in cloak_gpu::quotient_check::check_machine_logup(gpu, &args.guests, s(120))? {
        rep.push(c);
    }
    println!("LogUp checks took {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn timings(gpu: &GpuContext, args: &Args, rep: &mut Report) -> Result<()> {
    let (log_h, w) = (args.log_h, args.width);
    let h = 1usize << log_h;
    let mut rng = ZkRng::seed_from_u64(args.seed ^ 0x7431);
    let trace = RowMajorMatrix::<Val>::rand(&mut rng, h, w);
    let shape = format!("2^{log_h} x {w}");
    let lde_shape = format!("2^{} x {w}", log_h + 1);
    let cpu_reps = 3;

    // --- LDE ---
    let t = Instant::now();
    let trace_dev = DeviceMatrix::upload(gpu, &trace)?;
    gpu.synchronize()?;
    let upload_ms = ms_since(t);

    let mut variants = Vec::new();
    for v in TILINGS {
        let ntt = ntt_variant(v);
        let mut times = Vec::new();
        for i in 0..=args.reps {
            let copy = DeviceMatrix {
                buf: gpu.stream().clone_dtod(&trace_dev.buf)?,
                width: w,
                height: h,
            };
            let timer = GpuTimer::start(gpu)?;
            let out = ntt.coset_lde_batch(gpu, copy, 1, Val::GENERATOR)?;
            let ms = timer.stop()?;
            if i > 0 {
                times.push(ms);
            }
            drop(out);
        }
        variants.push((v, median(times)));
    }
    let best_tiling = variants
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    let ntt = ntt_variant(best_tiling);
    // Where the LDE's time goes: its two NTT phases alone.
    let mut scratch = gpu.stream().clone_dtod(&trace_dev.buf)?;
    let mut scratch2 = gpu.alloc_u32(2 * h * w)?;
    for (name, batch) in [("inverse NTT", 1usize), ("forward NTTs", 2)] {
        let mut times = Vec::new();
        for i in 0..=args.reps {
            let timer = GpuTimer::start(gpu)?;
            if batch == 1 {
                ntt.dif_inplace(gpu, &mut scratch, log_h, w, 1, true)?;
            } else {
                ntt.dif_inplace(gpu, &mut scratch2, log_h, w, 2, false)?;
            }
            let ms = timer.stop()?;
            if i > 0 {
                times.push(ms);
            }
        }
        let ms = median(times);
        let gb = (batch * h * w * 4) as f64 / 1e9;
        rep.time(format!(
            "  of which {name} (2^{log_h} x {w} x {batch}): {ms:.2} ms, {:.0} GB/s per pass over the data",
            gb * 2.0 * f64::from((log_h as u32).div_ceil(best_tiling.0)) / (ms / 1e3)
        ));
    }
    drop((scratch, scratch2));
    let copy = DeviceMatrix {
        buf: gpu.stream().clone_dtod(&trace_dev.buf)?,
        width: w,
        height: h,
    };
    let lde_dev = ntt.coset_lde_batch(gpu, copy, 1, Val::GENERATOR)?;
    let t = Instant::now();
    let lde_gpu = lde_dev.download(gpu)?;
    let download_ms = ms_since(t);
    // Again into memory already touched: the first copy pays for faulting in
    // fresh host pages.
    let mut again = vec![0u32; lde_dev.len()];
    let t = Instant::now();
    gpu.stream().memcpy_dtoh(&lde_dev.buf, &mut again[..])?;
    let download2_ms = ms_since(t);
    drop(again);

    let mut cpu_times = Vec::new();
    let mut lde_cpu = None;
    for _ in 0..cpu_reps {
        let m = trace.clone();
        let t = Instant::now();
        let out = check::cpu_lde(m, 1);
        cpu_times.push(ms_since(t));
        lde_cpu = Some(out);
    }
    let lde_cpu = lde_cpu.expect("ran");
    let cpu_lde_ms = median(cpu_times);
    rep.push(check::verdict(
        format!("lde {shape} +1 bit (timed size)"),
        "vs Radix2DitParallel::coset_lde_batch".into(),
        check::compare(&lde_gpu.values, &lde_cpu.values),
    ));
    for ((bits, lanes, fused), ms) in &variants {
        let how = if *fused {
            "scaling fused"
        } else {
            "separate scaling pass"
        };
        rep.time(format!(
            "lde {shape} -> {lde_shape}, tiles 2^{bits} x {lanes}, {how}: gpu {ms:.2} ms (kernels, median of {})",
            args.reps
        ));
    }
    let best = variants.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
    rep.time(format!(
        "lde {shape} -> {lde_shape}: cpu {cpu_lde_ms:.1} ms (median of {cpu_reps}); gpu/cpu speedup {:.1}x",
        cpu_lde_ms / best
    ));
    rep.time(format!(
        "transfers (pageable host memory): upload {shape} {upload_ms:.1} ms, download {lde_shape} {download_ms:.1} ms into a fresh Vec, {download2_ms:.1} ms into touched memory"
    ));

    // --- Merkle commit of the LDE ---
    let mut salt_seed = [0u8; 32];
    salt_seed[..8].copy_from_slice(&args.seed.to_le_bytes());
    salt_seed[31] = 0x11;
    let t = Instant::now();
    let salts = check::upload_salts(gpu, salt_seed, &[2 * h])?;
    gpu.synchronize()?;
    let salts_ms = ms_since(t);
    let mut times = Vec::new();
    let mut tree = None;
    for i in 0..=args.reps {
        let timer = GpuTimer::start(gpu)?;
        let tr = commit_salted(gpu, &[&lde_dev], &[&salts[0]])?;
        let ms = timer.stop()?;
        if i > 0 {
            times.push(ms);
        }
        tree = Some(tr);
    }
    let tree = tree.expect("ran");
    let gpu_merkle_ms = median(times);
    let mut cpu_times = Vec::new();
    for _ in 0..cpu_reps {
        let m = lde_cpu.clone();
        let mmcs = check::cpu_mmcs(salt_seed);
        let t = Instant::now();
        let (cap, _data) = mmcs.commit(vec![m]);
        cpu_times.push(ms_since(t));
        std::hint::black_box(cap);
    }
    let cpu_merkle_ms = median(cpu_times);
    let r = check::compare_tree(gpu, &tree, vec![lde_cpu], salt_seed, &[0, 12345, 2 * h - 1])?;
    rep.push(check::verdict(
        format!("merkle commit of the {lde_shape} lde (timed size)"),
        "root and 3 openings vs ValMmcs::commit".into(),
        r,
    ));
    rep.time(format!(
        "merkle commit {lde_shape} (+4 salt cols): gpu {gpu_merkle_ms:.2} ms (kernels, median of {}), cpu {cpu_merkle_ms:.1} ms (median of {cpu_reps}, salts included); speedup {:.1}x",
        args.reps,
        cpu_merkle_ms / gpu_merkle_ms
    ));
    rep.time(format!(
        "salts for {lde_shape}: host ChaCha20 draw + upload {salts_ms:.1} ms"
    ));

    // --- end to end: host trace -> LDE -> Merkle root on the host ---
    let t = Instant::now();
    let d = DeviceMatrix::upload(gpu, &trace)?;
    let salts = check::upload_salts(gpu, salt_seed, &[2 * h])?;
    let lde = ntt.coset_lde_batch(gpu, d, 1, Val::GENERATOR)?;
    let tr = commit_salted(gpu, &[&lde], &[&salts[0]])?;
    let _root = tr.root(gpu)?;
    let e2e = ms_since(t);
    rep.time(format!(
        "end to end (upload {shape}, salts, lde, commit, root back): gpu {e2e:.1} ms vs cpu lde+commit {:.1} ms: {:.1}x",
        cpu_lde_ms + cpu_merkle_ms,
        (cpu_lde_ms + cpu_merkle_ms) / e2e
    ));
    drop((tr, lde, lde_dev, tree));

    // --- raw permutation throughput (the challenger's width) ---
    {
        let width = 16usize;
        let n = 1usize << 22;
        let states: Vec<Val> = {
            let mut r = ZkRng::seed_from_u64(args.seed ^ width as u64);
            RowMajorMatrix::<Val>::rand(&mut r, n, width).values
        };
        // Warm up (and compile) once, then time one launch over n states.
        let _ = cloak_gpu::poseidon2::permute_batch(gpu, width, &states[..width * 1024])?;
        let timer = GpuTimer::start(gpu)?;
        let mut buf = gpu.upload(cloak_gpu::field::as_raw(&states))?;
        let upload = timer.stop()?;
        let timer = GpuTimer::start(gpu)?;
        cloak_gpu::poseidon2::permute_device(gpu, width, &mut buf)?;
        let ms = timer.stop()?;
        let _ = upload;
        rep.time(format!(
            "poseidon2 width {width}: {n} permutations in {ms:.2} ms = {:.0} M/s",
            n as f64 / ms / 1e3
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let gpu = match GpuContext::first() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("no GPU: {e}");
            return ExitCode::from(2);
        }
    };
    let (maj, min) = gpu.compute_capability();
    println!(
        "GPU: {} (sm_{maj}{min}, {} SMs, {:.1} GiB); host threads: {}",
        gpu.name(),
        gpu.sm_count(),
        gpu.total_mem().unwrap_or(0) as f64 / (1u64 << 30) as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("seed: {:#x}", args.seed);
    let mut rep = Report {
        checks: Vec::new(),
        timings: Vec::new(),
    };
    let t = Instant::now();
    if let Err(e) = correctness(&gpu, &args, &mut rep) {
        rep.push(check::verdict(
            "correctness checks".into(),
            "error".into(),
            Err(e.to_string()),
        ));
    }
    println!("correctness checks took {:.1} s", t.elapsed().as_secs_f64());
    if !args.quick {
        if let Err(e) = timings(&gpu, &args, &mut rep) {
            rep.push(check::verdict(
                "timed runs".into(),
                "error".into(),
                Err(e.to_string()),
            ));
        }
    }
    let failed = rep.checks.iter().filter(|c| !c.passed).count();
    let passed = rep.checks.len() - failed;
    println!("==== summary ({}) ====", gpu.name());
    for c in rep.checks.iter().filter(|c| !c.passed) {
        println!("{c}");
    }
    for t in &rep.timings {
        println!("TIME {t}");
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
