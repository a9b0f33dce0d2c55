//! `cloak prove`, `cloak verify`, `cloak vk`.

use crate::attest::TrustArgs;
use crate::input::{parse_input, INPUT_FORMS};
use anyhow::{bail, Context, Result};
use clap::Args;
use cloak_machine::zkvm::ProveReport;
use cloak_machine::{MachineKeys, Proof, ProveOptions, Statement};
use cloak_prover::{CpuBackend, FriSettings};
use cloak_tee::{
    evaluate_attestation, Attestation, Attester, DevSigner, Digest32, ExpectedStatement, Nonce,
    Statement as TeeStatement,
};
use cloak_vm::{ExecConfig, Program};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct ProveArgs {
    /// The RV32IM ELF to prove.
    elf: PathBuf,
    /// One guest input buffer; repeat for more.
    #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer, read by the guest in order; repeat for more. Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    /// Where to prove: `cpu`, or `gpu` (the main-trace commitments on the
    /// first CUDA device, the rest on the CPU; the same proof bytes).
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Where to write the proof.
    #[arg(short, long, default_value = "proof.bin")]
    output: PathBuf,
    /// Stop with an error after this many cycles.
    #[arg(long)]
    max_cycles: Option<u64>,
    /// Stop with an error when the guest touches more than this many bytes of memory.
    #[arg(long)]
    max_memory: Option<u64>,
    /// Draw the proof's zero-knowledge randomness from this 32-byte hex seed
    /// instead of the OS, for reproducible proofs. Never use it for private
    /// inputs: the randomness is what hides them.
    #[arg(long, value_name = "HEX")]
    insecure_seed: Option<String>,
    /// Cycles per shard: each shard is proven on its own, so memory grows
    /// with the shard size, not with the program's length (at most 2^21).
    #[arg(long, default_value_t = cloak_machine::zkvm::DEFAULT_SHARD_CYCLES)]
    shard_cycles: u64,
    /// Memory (MiB, estimated) to spend keeping shards' pass-1 commitments
    /// for pass 2 instead of committing them again; 0 keeps only the last.
    /// Default: 4096 on the CPU; on the GPU, 40% of the device's memory.
    #[arg(long, value_name = "MIB")]
    keep_commitments_mib: Option<u64>,
    /// Execute each shard only when the previous one is proven, instead of
    /// one shard ahead on a thread of its own (for measuring the pipeline).
    #[arg(long)]
    no_pipeline: bool,
    /// Shards whose traces are generated at once, each on every core
    /// (default: 3; each holds one shard's traces).
    #[arg(long, value_name = "N")]
    trace_threads: Option<usize>,
    /// Shards the executor may run ahead of the generating threads
    /// (default: 0; each holds one shard's execution record).
    #[arg(long, value_name = "N")]
    exec_ahead: Option<usize>,
    /// Threads tracing shards at once, from checkpoints a run ahead makes
    /// (default: `CLOAK_EXEC_THREADS`, else 1; the records are the same on
    /// any number).
    #[arg(long, value_name = "N")]
    exec_threads: Option<usize>,
    /// With `--backend gpu`: use at most this many GPUs (default: all; the
    /// shards are spread over them, one worker each).
    #[arg(long, value_name = "N")]
    gpus: Option<usize>,
    /// Also attest the proof's statement: `tee` uses this machine's TEE
    /// (TDX through configfs-tsm or dstack, plus NVIDIA GPU CC evidence);
    /// `dev` signs with a throwaway local key (INSECURE, for machines without a TEE).
    #[arg(long, value_enum)]
    attest: Option<AttestWith>,
    /// The verifier's nonce (32 bytes hex) to bind into the attestation; random if absent.
    #[arg(long, value_name = "HEX", requires = "attest")]
    nonce: Option<String>,
    /// Where to write the attestation (default: the proof path with `.att.json`).
    #[arg(long, requires = "attest")]
    attestation_out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Cpu,
    Gpu,
}

/// An opened backend (the GPU's context and compiled kernels are reused
/// across proofs).
pub enum Prover {
    Cpu,
    Gpu(GpuSet),
}

/// The GPU provers a proof spreads its shards over (one worker each,
/// [`workers_per_gpu`] of them on each device, device by device); derefs to
/// the first, which also proves the memory proof.
pub struct GpuSet(Vec<cloak_gpu::GpuBackend>, usize);

impl std::ops::Deref for GpuSet {
    type Target = cloak_gpu::GpuBackend;
    fn deref(&self) -> &cloak_gpu::GpuBackend {
        &self.0[0]
    }
}

impl GpuSet {
    pub fn all(&self) -> &[cloak_gpu::GpuBackend] {
        &self.0
    }

    /// How many devices the provers run on.
    pub fn devices(&self) -> usize {
        self.0.len() / self.1
    }

    /// Provers on each device.
    pub fn workers_per_device(&self) -> usize {
        self.1
    }

    /// Every device's copies so far, together.
    pub fn transfer_totals(&self) -> cloak_gpu::TransferTotals {
        self.0
            .iter()
            .fold(cloak_gpu::TransferTotals::default(), |acc, g| {
                acc.plus(&g.context().transfer_totals())
            })
    }

    /// Every device in this transfer mode (the TEE-overhead experiment).
    pub fn set_transfer_mode(&self, mode: cloak_gpu::TransferMode) {
        for g in &self.0 {
            g.context().set_transfer_mode(mode);
        }
    }

    /// Every device's pooled memory back to the driver, so the next proof's
    /// peak is its own.
    pub fn release_pool_memory(&self) -> Result<()> {
        for g in &self.0 {
            g.context().release_pool_memory()?;
        }
        Ok(())
    }

    /// The largest peak device memory since the last call, over the devices.
    pub fn take_peak_memory(&self) -> u64 {
        self.0
            .iter()
            .map(|g| g.context().take_peak_memory())
            .max()
            .unwrap_or(0)
    }
}

impl Backend {
    /// Opens the backend: for `gpu`, every CUDA device (at most `max_gpus`)
    /// with `provers_per_gpu` provers each (else [`workers_per_gpu`]'s), or
    /// a clear error.
    pub fn open(self, max_gpus: Option<usize>, provers_per_gpu: Option<usize>) -> Result<Prover> {
        Ok(match self {
            Backend::Cpu => Prover::Cpu,
            Backend::Gpu => {
                let n = cloak_gpu::GpuContext::device_count()
                    .min(max_gpus.unwrap_or(usize::MAX))
                    .max(1);
                let per_device = match provers_per_gpu {
                    Some(n) => n.max(1),
                    None => workers_per_gpu()?,
                };
                let mut gpus = Vec::with_capacity(n * per_device);
                for i in 0..n {
                    let first = cloak_gpu::GpuBackend::on_device(i).with_context(|| {
                        format!("--backend gpu: no usable CUDA GPU on this machine (device {i})")
                    })?;
                    let siblings = (1..per_device)
                        .map(|_| {
                            first.sibling().with_context(|| {
                                format!("--backend gpu: another prover on device {i}")
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    gpus.push(first);
                    gpus.extend(siblings);
                }
                Prover::Gpu(GpuSet(gpus, per_device))
            }
        })
    }
}

/// Provers per GPU: three shards' commitments and proofs run at once on
/// each device, each prover on its own streams, so that one's small,
/// latency-bound launches overlap the others' work. Two made json about
/// 10% and fibonacci 6% faster on an H100 than one (stop 18); since pass 1
/// also does pass 2's challenge-free work, three beat two by about 5% on
/// loop and fibonacci and 2% on json (BENCHMARKS.md, stop 22), with the
/// same proof bytes and about 2.5 GiB more GPU memory. `CLOAK_GPU_WORKERS`
/// overrides it.
const DEFAULT_WORKERS_PER_GPU: usize = 3;

fn workers_per_gpu() -> Result<usize> {
    match std::env::var("CLOAK_GPU_WORKERS") {
        Err(_) => Ok(DEFAULT_WORKERS_PER_GPU),
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=8).contains(n))
            .with_context(|| format!("CLOAK_GPU_WORKERS={v}: expected 1 to 8 provers per GPU")),
    }
}

/// What the GPU did during one proof.
pub struct GpuRun {
    /// Lines for the log: calls, times, bytes.
    pub summary: String,
    /// Every host-device copy of the proof.
    pub transfers: cloak_gpu::TransferTotals,
    /// The most device memory seen in use during the proof (bytes).
    pub peak_memory: u64,
}

impl Prover {
    /// How much (estimated, see `kept_commitment_bytes`) pass 1 may keep of
    /// the shards' commitments by default: 4 GiB of host memory on the CPU;
    /// on the GPU, where they stay in device memory (about 1.4 times the
    /// estimate), 40% of the device's memory.
    pub fn default_keep_bytes(&self) -> u64 {
        match self {
            Prover::Cpu => cloak_machine::zkvm::DEFAULT_KEEP_COMMITMENTS_BYTES,
            Prover::Gpu(gpu) => gpu
                .context()
                .total_mem()
                .map_or(cloak_machine::zkvm::DEFAULT_KEEP_COMMITMENTS_BYTES, |m| {
                    m as u64 / 5 * 2
                }),
        }
    }

    /// `cpu` or `gpu`.
    pub fn name(&self) -> &'static str {
        match self {
            Prover::Cpu => "cpu",
            Prover::Gpu(_) => "gpu",
        }
    }

    /// `keys.prove` on this backend; with `gpu`, also what the GPU did.
    pub fn prove(
        &self,
        keys: &MachineKeys,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        opts: &ProveOptions,
    ) -> Result<(Proof, ProveReport, Option<GpuRun>)> {
        match self {
            Prover::Cpu => {
                let (proof, report) = keys.prove_on(&CpuBackend, program, inputs, opts)?;
                Ok((proof, report, None))
            }
            Prover::Gpu(gpus) => {
                let before = gpus.transfer_totals();
                gpus.release_pool_memory()?;
                gpus.take_peak_memory();
                let (proof, report) = keys.prove_on_many(gpus.all(), program, inputs, opts)?;
                let transfers = gpus.transfer_totals().since(&before);
                if let Some(profile) = cloak_gpu::profile::take_report() {
                    eprintln!("{profile}");
                }
                let run = GpuRun {
                    summary: gpu_summary(gpus, &transfers),
                    transfers,
                    peak_memory: gpus.take_peak_memory(),
                };
                Ok((proof, report, Some(run)))
            }
        }
    }
}

/// The GPU backends' calls: count, time and bytes moved each way.
fn gpu_summary(gpus: &GpuSet, t: &cloak_gpu::TransferTotals) -> String {
    let calls: Vec<cloak_gpu::CallRecord> =
        gpus.all().iter().flat_map(|g| g.take_calls()).collect();
    let gpu = &**gpus;
    let part = |op: &str| {
        let c: Vec<_> = calls.iter().filter(|c| c.op == op).collect();
        let wall: f64 = c.iter().map(|c| c.wall.as_secs_f64()).sum();
        let rng: f64 = c.iter().map(|c| c.zk_draws.as_secs_f64()).sum();
        format!(
            "{} {op} call(s) {:.3} s (zk draws {:.3} s)",
            c.len(),
            wall,
            rng
        )
    };
    let mut out = format!(
        "gpu ({} x{}, {} prover(s) each): {}; {}; {} ({}); transfers ({:?}): H2D {} B in {} copies, {:.1} ms; D2H {} B in {} copies, {:.1} ms; AES-GCM {:.1} ms",
        gpu.context().name(),
        gpus.devices(),
        gpus.workers_per_device(),
        part("stage"),
        part("commit_main"),
        part("prove"),
        if gpu.full_prove() { "on the GPU" } else { "on the CPU" },
        gpu.context().transfer_mode(),
        t.h2d_bytes,
        t.h2d_count,
        t.h2d_time.as_secs_f64() * 1e3,
        t.d2h_bytes,
        t.d2h_count,
        t.d2h_time.as_secs_f64() * 1e3,
        t.crypt_time.as_secs_f64() * 1e3,
    );
    for (i, c) in calls.iter().filter(|c| c.op == "commit_main").enumerate() {
        out.push_str(&format!(
            "\n  commit_main #{i}: {} cells, {:.1} ms (zk draws {:.1} ms), H2D {} B in {:.1} ms, D2H {} B",
            c.cells,
            c.wall.as_secs_f64() * 1e3,
            c.zk_draws.as_secs_f64() * 1e3,
            c.transfers.h2d_bytes,
            c.transfers.h2d_time.as_secs_f64() * 1e3,
            c.transfers.d2h_bytes
        ));
    }
    for (i, c) in calls.iter().filter(|c| c.op == "prove").enumerate() {
        let Some(st) = &c.stages else { continue };
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        out.push_str(&format!(
            "\n  prove #{i}: {} cells, {:.1} ms: main {:.1}, permutation {:.1}, quotient {:.1}, quotient+random commit {:.1}, open {:.1}, fri {:.1}, queries {:.1} ms; H2D {} B in {:.1} ms, D2H {} B in {:.1} ms",
            c.cells,
            ms(c.wall),
            ms(st.main_commit),
            ms(st.permutation),
            ms(st.quotient),
            ms(st.quotient_commit),
            ms(st.open),
            ms(st.fri),
            ms(st.queries),
            c.transfers.h2d_bytes,
            ms(c.transfers.h2d_time),
            c.transfers.d2h_bytes,
            ms(c.transfers.d2h_time),
        ));
    }
    out
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AttestWith {
    Tee,
    Dev,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The proof file `cloak prove` wrote.
    proof: PathBuf,
    /// The ELF the proof claims to run (its verifying key is derived from it).
    #[arg(long)]
    elf: PathBuf,
    /// Print the statement as JSON.
    #[arg(long)]
    json: bool,
    /// Also verify this attestation of the proof (from `cloak prove --attest`)
    /// and check that it binds this proof, program, exit code and public values.
    #[arg(long, requires = "policy")]
    attestation: Option<PathBuf>,
    /// Require this verifier nonce (hex) in the attested statement.
    #[arg(long, requires = "attestation")]
    nonce: Option<String>,
    #[command(flatten)]
    trust: OptionalTrust,
}

/// How an attestation is judged (see `cloak attest verify`); only used with `--attestation`.
#[derive(Args)]
pub struct OptionalTrust {
    /// Verification policy (TOML).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// DCAP collateral (JSON) for the TDX quote, unless the attestation embeds it.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Verify as of this Unix time instead of now.
    #[arg(long)]
    time: Option<u64>,
    /// Accept INSECURE development evidence (machines without a TEE).
    #[arg(long)]
    allow_dev: bool,
}

#[derive(Args)]
pub struct VkArgs {
    /// The RV32IM ELF.
    elf: PathBuf,
    /// Also print each shard table's row cost: main columns, LogUp columns
    /// (extension elements, 4 base cells each) and quotient chunks.
    #[arg(long)]
    layout: bool,
}

pub fn load_program(path: &Path) -> Result<Program> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Program::from_elf(&bytes).with_context(|| format!("loading {}", path.display()))
}

pub fn keys_for(program: &Program, path: &Path) -> Result<MachineKeys> {
    MachineKeys::new(program, FriSettings::DEFAULT)
        .with_context(|| format!("deriving the verifying key of {}", path.display()))
}

fn seed(seed: Option<&str>) -> Result<Option<[u8; 32]>> {
    let Some(hex_seed) = seed else {
        return Ok(None);
    };
    let bytes = hex::decode(hex_seed).context("--insecure-seed is not hex")?;
    let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        bail!(
            "--insecure-seed must be 32 bytes (64 hex digits), not {}",
            bytes.len()
        );
    };
    Ok(Some(seed))
}

pub fn prove(args: ProveArgs) -> Result<ExitCode> {
    let program = load_program(&args.elf)?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| parse_input(s))
        .collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let prover = args.backend.open(args.gpus, None)?;
    let opts = ProveOptions {
        exec: ExecConfig {
            max_cycles: args.max_cycles,
            max_memory_bytes: args.max_memory,
        },
        shard_cycles: args.shard_cycles,
        seed: seed(args.insecure_seed.as_deref())?,
        keep_commitments_bytes: args.keep_commitments_mib.map_or_else(
            || prover.default_keep_bytes(),
            |m| m.saturating_mul(1 << 20),
        ),
        pipeline: !args.no_pipeline,
        trace_threads: args.trace_threads.unwrap_or(0),
        exec_ahead: args
            .exec_ahead
            .unwrap_or(cloak_machine::zkvm::DEFAULT_EXEC_AHEAD),
        exec_threads: args.exec_threads.unwrap_or(0),
    };
    if let Prover::Gpu(gpu) = &prover {
        println!(
            "gpu: {} opened, kernels compiled in {:.3} s",
            gpu.context().name(),
            start.elapsed().as_secs_f64()
        );
    }
    let start = Instant::now();
    let keys = keys_for(&program, &args.elf)?;
    let setup = start.elapsed();
    let (proof, report, gpu) = prover
        .prove(&keys, &program, inputs, &opts)
        .with_context(|| format!("proving {}", args.elf.display()))?;
    let bytes = proof.to_bytes();
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let wall_secs = report.wall().as_secs_f64();
    println!("cycles: {} in {} shard(s)", report.cycles, report.shards);
    println!("exit code: {}", proof.exit_code);
    println!("public values: {}", hex::encode(&proof.public_values));
    println!("vk: {}", hex::encode(keys.vk_digest()));
    println!(
        "setup: {:.3} s, proving: {:.3} s ({:.1} kHz; of it {:.3} s waiting for execution and traces)",
        setup.as_secs_f64(),
        wall_secs,
        report.cycles as f64 / wall_secs.max(1e-9) / 1e3,
        report.execution.as_secs_f64(),
    );
    println!(
        "pass 1 commitments ({}): {:.3} s",
        args.backend.name(),
        report.commit_pass.as_secs_f64()
    );
    if let Some(gpu) = gpu {
        println!("{}", gpu.summary);
        println!(
            "peak GPU memory in use: {:.2} GiB",
            gpu.peak_memory as f64 / (1u64 << 30) as f64
        );
    }
    println!("proof: {} ({} bytes)", args.output.display(), bytes.len());
    if let Some(peak) = crate::bench::peak_memory_bytes() {
        println!("peak memory: {:.2} GiB", peak as f64 / (1u64 << 30) as f64);
    }
    if let Some(with) = args.attest {
        let nonce = match &args.nonce {
            Some(h) => Nonce::from_hex(h).context("--nonce")?,
            None => Nonce::random()?,
        };
        let attester = match with {
            AttestWith::Tee => Attester::auto()
                .context("no TEE to attest with (use --attest dev on machines without one)")?,
            AttestWith::Dev => Attester::dev(DevSigner::generate()?),
        };
        let statement = proof_statement(&keys, &proof, &bytes, nonce);
        let att = attester.attest(statement)?;
        let path = args
            .attestation_out
            .unwrap_or_else(|| args.output.with_extension("att.json"));
        att.write_file(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "attestation: {} ({})",
            path.display(),
            attester.platform_kind()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&args.proof).with_context(|| format!("reading {}", args.proof.display()))?;
    let proof =
        Proof::from_bytes(&bytes).with_context(|| format!("decoding {}", args.proof.display()))?;
    let program = load_program(&args.elf)?;
    let keys = keys_for(&program, &args.elf)?;
    let statement = keys.verify(&proof).with_context(|| {
        format!(
            "{} is not a valid proof for {}",
            args.proof.display(),
            args.elf.display()
        )
    })?;
    let Some(att_path) = &args.attestation else {
        print_statement(&statement, args.json)?;
        return Ok(ExitCode::SUCCESS);
    };
    // The proof is valid; now the attestation must bind exactly this proof.
    let att = Attestation::read_file(att_path)?;
    let trust = TrustArgs::new(
        args.trust.policy.clone().expect("clap requires --policy"),
        args.trust.collateral.clone(),
        args.trust.time,
        args.trust.allow_dev,
    );
    let (policy, opts) = trust.load()?;
    let mut expected = ExpectedStatement::proof(
        Nonce([0; 32]),
        Digest32(statement.vk_digest),
        Digest32(statement.public_values_digest),
        statement.exit_code,
        Digest32(Sha256::digest(&bytes).into()),
    );
    expected.nonce = match &args.nonce {
        Some(h) => Some(Nonce::from_hex(h).context("--nonce")?),
        None => None,
    };
    let verdict = evaluate_attestation(&att, &policy, &opts.with_expected(expected));
    if args.json {
        let value = serde_json::json!({
            "proof": statement_json(&statement),
            "attestation": serde_json::from_str::<serde_json::Value>(&verdict.to_json())?,
            "accepted": verdict.accepted,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_statement(&statement, false)?;
        println!();
        println!("{verdict}");
        if args.nonce.is_none() {
            println!("note: no --nonce given, so the attestation's freshness was not checked");
        }
        println!(
            "proof and attestation: {} (the proof verified above; the attestation {} its digest)",
            if verdict.accepted {
                "ACCEPTED"
            } else {
                "REJECTED"
            },
            if verdict.accepted {
                "binds"
            } else {
                "was rejected or does not bind"
            }
        );
    }
    Ok(if verdict.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The TEE statement for a proof: program, public values, exit code and the
/// digest of the proof file's bytes.
fn proof_statement(keys: &MachineKeys, proof: &Proof, bytes: &[u8], nonce: Nonce) -> TeeStatement {
    TeeStatement {
        program_vk_digest: Some(Digest32(keys.vk_digest())),
        public_values_digest: Some(Digest32(Sha256::digest(&proof.public_values).into())),
        exit_code: Some(proof.exit_code),
        proof_digest: Some(Digest32(Sha256::digest(bytes).into())),
        input_key: None,
        gpu_evidence_digest: None,
        nonce,
    }
}

fn statement_json(s: &Statement) -> serde_json::Value {
    serde_json::json!({
        "valid": true,
        "vk": hex::encode(s.vk_digest),
        "exit_code": s.exit_code,
        "public_values": hex::encode(&s.public_values),
        "public_values_sha256": hex::encode(s.public_values_digest),
        "public_values_bound": s.exit_code == 0,
    })
}

pub fn print_statement(s: &Statement, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&statement_json(s))?);
    } else {
        println!("proof: valid");
        println!("vk: {}", hex::encode(s.vk_digest));
        println!("exit code: {}", s.exit_code);
        if s.exit_code == 0 {
            println!("public values: {}", hex::encode(&s.public_values));
            println!(
                "public values sha256: {}",
                hex::encode(s.public_values_digest)
            );
        } else {
            println!("public values: not bound (the guest exited non-zero)");
        }
    }
    Ok(())
}

pub fn vk(args: VkArgs) -> Result<ExitCode> {
    let program = load_program(&args.elf)?;
    let keys = keys_for(&program, &args.elf)?;
    println!("{}", hex::encode(keys.vk_digest()));
    if args.layout {
        println!(
            "table          main  logup  base cells/row  quotient chunks (2^{} rows)",
            cloak_machine::zkvm::LAYOUT_LOG_HEIGHT
        );
        for (name, main, logup, log_chunks) in keys.shard_layout() {
            let cells = main + 4 * logup;
            let chunks = 1usize << log_chunks;
            println!("{name:<13} {main:>5} {logup:>6} {cells:>15} {chunks:>16}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
