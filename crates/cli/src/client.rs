//! `cloak client ...`: talk to `cloak serve`, verifying everything received.

use crate::attest::TrustArgs;
use crate::input::{parse_input, INPUT_FORMS};
use crate::prove::print_statement;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use cloak_server::loadtest::{self, LoadSpec};
use cloak_server::types::JobOptions;
use cloak_server::{Client, Trust};
use cloak_tee::Nonce;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ClientArgs {
    /// The service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Fetch the service's key attestation for a fresh nonce and verify it.
    Attestation {
        #[command(flatten)]
        trust: TrustArgs,
        /// Also write the attestation here.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Upload an ELF; prints its vk id.
    Upload { elf: PathBuf },
    /// Verify the key attestation, encrypt the inputs to it, upload the ELF,
    /// submit, wait, then verify the proof and its attestation and write both.
    Prove(ProveArgs),
    /// Verify the key attestation, encrypt the inputs, submit a job for an
    /// uploaded program; prints the job id and the nonce to verify it with.
    Submit {
        /// The program's vk id (from `upload`).
        program: String,
        #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer; repeat for more. Forms: {INPUT_FORMS}"))]
        inputs: Vec<String>,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        options: OptionArgs,
    },
    /// Print a job's state and progress (JSON).
    Status { id: String },
    /// Fetch a finished job's proof and attestation, verify both, write both.
    Result {
        id: String,
        /// The program's ELF (the proof is verified against it).
        #[arg(long)]
        elf: PathBuf,
        /// The nonce printed by `submit`.
        #[arg(long)]
        nonce: String,
        #[command(flatten)]
        trust: TrustArgs,
        #[arg(short, long, default_value = "proof.bin")]
        output: PathBuf,
    },
    /// Cancel a job (stopping its proof) and delete its result.
    Cancel { id: String },
    /// Concurrent clients each submit jobs, wait and verify every result;
    /// then the server's job counts are checked: prints submitted,
    /// completed, failed, lost and duplicated jobs and latency percentiles.
    /// Use a server nobody else uses meanwhile. Exits 1 unless every job
    /// completed and verified with none lost or duplicated.
    LoadTest(LoadTestArgs),
}

#[derive(Args)]
struct LoadTestArgs {
    elf: PathBuf,
    #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer; repeat for more (every job gets the same). Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Jobs each client submits.
    #[arg(long, default_value_t = 5)]
    jobs: usize,
    /// Each client submits all its jobs first, then waits for them (default:
    /// one at a time, each waited for and verified before the next).
    #[arg(long)]
    burst: bool,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    options: OptionArgs,
    /// Give up on a job after this many seconds (it counts as lost).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

#[derive(Args)]
struct OptionArgs {
    /// Stop (and fail the job) after this many cycles.
    #[arg(long)]
    max_cycles: Option<u64>,
    /// Cycles per shard.
    #[arg(long)]
    shard_cycles: Option<u64>,
}

impl OptionArgs {
    fn job_options(&self) -> JobOptions {
        JobOptions {
            max_cycles: self.max_cycles,
            shard_cycles: self.shard_cycles,
        }
    }
}

#[derive(Args)]
struct ProveArgs {
    elf: PathBuf,
    #[arg(long = "input", value_name = "INPUT", long_help = format!("One guest input buffer; repeat for more. Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    options: OptionArgs,
    /// Where to write the proof (the attestation goes next to it, `.att.json`).
    #[arg(short, long, default_value = "proof.bin")]
    output: PathBuf,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

fn trust(args: &TrustArgs) -> Result<Trust> {
    let (policy, options) = args.load()?;
    Ok(Trust { policy, options })
}

fn inputs(specs: &[String]) -> Result<Vec<Vec<u8>>> {
    specs.iter().map(|s| parse_input(s)).collect()
}

fn write_result(output: &PathBuf, v: &cloak_server::VerifiedResult) -> Result<()> {
    std::fs::write(output, &v.proof).with_context(|| format!("writing {}", output.display()))?;
    let att = output.with_extension("att.json");
    v.attestation
        .write_file(&att)
        .with_context(|| format!("writing {}", att.display()))?;
    print_statement(&v.statement, false)?;
    println!();
    println!("{}", v.verdict);
    println!(
        "proof and attestation: ACCEPTED; wrote {} and {}",
        output.display(),
        att.display()
    );
    Ok(())
}

pub fn run(args: ClientArgs) -> Result<ExitCode> {
    let client = Client::new(&args.server)?;
    match args.command {
        ClientCommand::Attestation { trust: t, output } => {
            let trust = trust(&t)?;
            let verified = client.verified_key(&trust)?;
            println!("{}", verified.verdict());
            if let Some(out) = output {
                let nonce = verified.statement().nonce;
                let res = client.attestation(&nonce)?;
                std::fs::write(&out, res.attestation.to_string())
                    .with_context(|| format!("writing {}", out.display()))?;
            }
        }
        ClientCommand::Upload { elf } => {
            let bytes =
                std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
            println!("{}", client.upload_program(&bytes)?);
        }
        ClientCommand::Prove(p) => {
            let elf =
                std::fs::read(&p.elf).with_context(|| format!("reading {}", p.elf.display()))?;
            let trust = trust(&p.trust)?;
            let (status, verified) = client.prove(
                &elf,
                &inputs(&p.inputs)?,
                &p.options.job_options(),
                &trust,
                Duration::from_secs(p.timeout),
            )?;
            println!(
                "job {}: {} cycles in {} shard(s)",
                status.id,
                status.cycles.unwrap_or_default(),
                status.shards_proven
            );
            write_result(&p.output, &verified)?;
        }
        ClientCommand::Submit {
            program,
            inputs: specs,
            trust: t,
            options,
        } => {
            let trust = trust(&t)?;
            let key = client.verified_key(&trust)?;
            let mut bufs = inputs(&specs)?;
            let sealed = Client::encrypt(&key, &trust, &bufs);
            zeroize::Zeroize::zeroize(&mut bufs);
            let nonce = Nonce::random()?;
            let job = client.submit(&program, &sealed?, &options.job_options(), &nonce)?;
            println!("job: {}", job.id);
            println!("nonce: {}", nonce.to_hex());
        }
        ClientCommand::Status { id } => {
            println!("{}", serde_json::to_string_pretty(&client.status(&id)?)?);
        }
        ClientCommand::Result {
            id,
            elf,
            nonce,
            trust: t,
            output,
        } => {
            let trust = trust(&t)?;
            let elf_bytes =
                std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
            let nonce = Nonce::from_hex(&nonce).context("--nonce")?;
            let result = client.result(&id)?;
            let verified = Client::verify_result(&result, &elf_bytes, &trust, &nonce)?;
            write_result(&output, &verified)?;
        }
        ClientCommand::Cancel { id } => {
            let s = client.cancel(&id)?;
            println!("job {}: {}", s.id, s.state.as_str());
        }
        ClientCommand::LoadTest(a) => {
            let elf =
                std::fs::read(&a.elf).with_context(|| format!("reading {}", a.elf.display()))?;
            let spec = LoadSpec {
                clients: a.clients,
                jobs_per_client: a.jobs,
                elf,
                inputs: vec![inputs(&a.inputs)?],
                options: a.options.job_options(),
                burst: a.burst,
                timeout: Duration::from_secs(a.timeout),
                poll: Duration::from_millis(100),
            };
            let report = loadtest::run(&args.server, &spec, &trust(&a.trust)?)?;
            println!("{report}");
            if !report.clean() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
