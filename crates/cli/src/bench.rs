//! `cloak bench`: proves a suite of bundled guests at several sizes and writes
//! a CSV with the columns of SP1's zkvm-perf that apply to Cloak.

use crate::input::parse_input;
use crate::prove::{keys_for, load_program, Backend, GpuRun, Prover};
use anyhow::{Context, Result};
use clap::Args;
use cloak_machine::{Proof, ProveOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Where to write the CSV.
    #[arg(short, long, default_value = "bench.csv")]
    output: PathBuf,
    /// Only the small sizes (a quick check that the suite runs).
    #[arg(long)]
    quick: bool,
    /// Also loop and fibonacci at about 2^23 and 2^24 cycles: the
    /// throughput once a proof's first shard and last shards weigh little.
    #[arg(long, conflicts_with = "quick")]
    large: bool,
    /// Run only the cases whose program name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Cycles per shard.
    #[arg(long, default_value_t = cloak_machine::zkvm::DEFAULT_SHARD_CYCLES)]
    shard_cycles: u64,
    /// Execute each shard only when the previous one is proven (see
    /// `cloak prove --no-pipeline`).
    #[arg(long)]
    no_pipeline: bool,
    /// With `--backend gpu`: use at most this many GPUs (default: all).
    #[arg(long, value_name = "N")]
    gpus: Option<usize>,
    /// Where to prove: `cpu` or `gpu` (see `cloak prove --backend`).
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// The TEE-overhead experiment instead of the suite: each case of its
    /// suite (100 K to 100 M cycles) proven with plain host-device copies
    /// and with CC-mode transfer encryption emulated (or for real, on a GPU
    /// in CC mode); writes the CSV and a PNG plot beside it. Needs `--backend gpu`.
    #[arg(long)]
    tee_overhead: bool,
    /// With `--tee-overhead`: skip cases of more than this many cycles (nominal).
    #[arg(long, value_name = "CYCLES", requires = "tee_overhead")]
    up_to: Option<u64>,
    /// With `--tee-overhead`: proofs per mode and case, alternating which
    /// mode goes first; the CSV row takes each mode's median.
    #[arg(long, default_value_t = 1, requires = "tee_overhead")]
    repeat: usize,
    /// Only draw the PNG plot of an existing `--tee-overhead` CSV (no proving).
    #[arg(long, value_name = "CSV", conflicts_with = "tee_overhead")]
    plot_overhead: Option<PathBuf>,
}

/// Which runs of `cloak bench` prove a case.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Every run (`--quick` runs only these).
    Small,
    /// Every run but `--quick`.
    Default,
    /// Only `--large`.
    Large,
}

/// `(program, input, tier)`: sizes near 2^17, 2^20, 2^21 and 2^22 cycles
/// for loop and fibonacci (about 7 and 6 cycles per iteration plus ~6 K
/// cycles of start-up and public-value hashing; 2^23 and 2^24 with
/// `--large`), the hashes (software and precompile) on a short input, the
/// precompile hashes of 150 KB, and the real workload: json, serde_json
/// parsing 150 KB of records (20.6 M cycles).
const SUITE: &[(&str, &str, Tier)] = &[
    ("loop", "u32:17000", Tier::Small),
    ("loop", "u32:148000", Tier::Default),
    ("loop", "u32:290000", Tier::Default),
    ("loop", "u32:600000", Tier::Default),
    ("loop", "u32:1200000", Tier::Large),
    ("loop", "u32:2400000", Tier::Large),
    ("fibonacci", "u32:20000", Tier::Small),
    ("fibonacci", "u32:170000", Tier::Default),
    ("fibonacci", "u32:340000", Tier::Default),
    ("fibonacci", "u32:700000", Tier::Default),
    ("fibonacci", "u32:1400000", Tier::Large),
    ("fibonacci", "u32:2800000", Tier::Large),
    ("sha256-soft", "vec@guests/inputs/abc.txt", Tier::Small),
    ("sha256", "vec@guests/inputs/abc.txt", Tier::Small),
    (
        "sha256",
        "vec@guests/inputs/json-records.json",
        Tier::Default,
    ),
    ("json", "vec@guests/inputs/json-records.json", Tier::Default),
    ("keccak256-soft", "vec@guests/inputs/abc.txt", Tier::Small),
    ("keccak256", "vec@guests/inputs/abc.txt", Tier::Small),
    (
        "keccak256",
        "vec@guests/inputs/json-records.json",
        Tier::Default,
    ),
];

/// zkvm-perf's columns, then Cloak's: the backend, the time split (pass 1's
/// commitments within `core_prove_duration_ms`), and with `gpu` the
/// host-device copies of the proof and the peak device memory.
/// `core_prove_duration_ms` is the wall time of both passes, execution and
/// trace generation included (they run one shard ahead of the prover);
/// `execution_duration_ms` is the part of it spent waiting for them.
pub const HEADER: &str = "program,input,cycles,shards,execution_duration_ms,core_prove_duration_ms,core_verify_duration_ms,core_proof_size,core_khz,peak_memory_bytes,trace_cells,cells_per_cycle,backend,commit_pass_ms,h2d_bytes,h2d_ms,d2h_bytes,d2h_ms,gpu_peak_memory_bytes";

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if let Some(csv) = &args.plot_overhead {
        let png = csv.with_extension("png");
        crate::tee_overhead::plot_csv(csv, &png)?;
        eprintln!("wrote {}", png.display());
        return Ok(ExitCode::SUCCESS);
    }
    // The TEE-overhead experiment emulates one secure channel per prover
    // (`cloak_gpu::transfer`), which is per GPU only with one prover each.
    let provers_per_gpu = args.tee_overhead.then_some(1);
    let prover = args.backend.open(args.gpus, provers_per_gpu)?;
    let root = repo_root();
    if args.tee_overhead {
        let Prover::Gpu(gpu) = &prover else {
            anyhow::bail!("--tee-overhead measures host-device transfers: it needs --backend gpu");
        };
        let cfg = crate::tee_overhead::Config {
            output: args.output.clone(),
            only: args.only.clone(),
            up_to: args.up_to,
            shard_cycles: args.shard_cycles,
            repeats: args.repeat,
        };
        return crate::tee_overhead::run(&root, gpu, &prover, &cfg);
    }
    let mut out = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    writeln!(out, "{HEADER}")?;
    println!("{HEADER}");
    for &(name, input, tier) in SUITE {
        let runs = match tier {
            Tier::Small => true,
            Tier::Default => !args.quick,
            Tier::Large => args.large,
        };
        if !runs {
            continue;
        }
        if args.only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let line = case(
            &root,
            name,
            input,
            args.shard_cycles,
            !args.no_pipeline,
            &prover,
        )
        .with_context(|| format!("benchmarking {name} with {input}"))?;
        writeln!(out, "{line}")?;
        out.flush()?;
        println!("{line}");
    }
    eprintln!("wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// One proof of the suite, measured.
pub struct Measured {
    pub report: cloak_machine::zkvm::ProveReport,
    pub gpu: Option<GpuRun>,
    /// The CSV line.
    pub line: String,
}

fn case(
    root: &Path,
    name: &str,
    input: &str,
    shard_cycles: u64,
    pipeline: bool,
    prover: &Prover,
) -> Result<String> {
    let m = measure(root, name, input, shard_cycles, pipeline, prover)?;
    if let Some(gpu) = &m.gpu {
        eprintln!("{name} {input}: {}", gpu.summary);
    }
    Ok(m.line)
}

/// Proves `name` on `input` (a `vec@` path relative to the repository) and
/// verifies the proof.
pub fn measure(
    root: &Path,
    name: &str,
    input: &str,
    shard_cycles: u64,
    pipeline: bool,
    prover: &Prover,
) -> Result<Measured> {
    let elf = root.join("guests/bin").join(format!("{name}.elf"));
    let program = load_program(&elf)?;
    let spec = match input.strip_prefix("vec@") {
        Some(path) => format!("vec@{}", root.join(path).display()),
        None => input.to_string(),
    };
    let inputs = vec![parse_input(&spec)?];
    let keys = keys_for(&program, &elf)?;
    reset_peak_memory();
    let opts = ProveOptions {
        shard_cycles,
        pipeline,
        keep_commitments_bytes: prover.default_keep_bytes(),
        ..ProveOptions::default()
    };
    let (proof, report, gpu) = prover.prove(&keys, &program, inputs, &opts)?;
    let peak = peak_memory_bytes();
    let bytes = proof.to_bytes();
    let start = Instant::now();
    keys.verify(&Proof::from_bytes(&bytes)?)?;
    let verify = start.elapsed();
    let prove_secs = report.wall().as_secs_f64();
    let ms = |d: std::time::Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    let gpu_cols = match &gpu {
        Some(g) => format!(
            "{},{},{},{},{}",
            g.transfers.h2d_bytes,
            ms(g.transfers.h2d_time),
            g.transfers.d2h_bytes,
            ms(g.transfers.d2h_time),
            g.peak_memory
        ),
        None => ",,,,".into(),
    };
    let line = format!(
        "{name},{input},{},{},{:.1},{:.1},{:.1},{},{:.2},{},{},{:.1},{},{},{gpu_cols}",
        report.cycles,
        report.shards,
        report.execution.as_secs_f64() * 1e3,
        prove_secs * 1e3,
        verify.as_secs_f64() * 1e3,
        bytes.len(),
        report.cycles as f64 / prove_secs.max(1e-9) / 1e3,
        peak.map_or("".into(), |p| p.to_string()),
        report.trace_cells,
        report.trace_cells as f64 / report.cycles.max(1) as f64,
        prover.name(),
        ms(report.commit_pass),
    );
    Ok(Measured { report, gpu, line })
}

/// The repository root: where `guests/` is, from the working directory or
/// from the binary's location (target/release/cloak).
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("guests/bin").is_dir() {
        return cwd;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|d| d.join("guests/bin").is_dir())
                .map(Path::to_path_buf)
        })
        .unwrap_or(cwd)
}

/// Resets the kernel's peak-RSS counter for this process (Linux).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset (Linux `VmHWM`).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
