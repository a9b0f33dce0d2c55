//! `cloak attest` (what TEE is here), `cloak attest inspect` (a quote's
//! fields), `cloak attest verify` (an attestation against a policy) and
//! `cloak encrypt-input` (HPKE to an attested key, after verifying it).

use crate::input::{parse_input, INPUT_FORMS};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use cloak_tee::{
    detect, encrypt_inputs, evaluate_attestation, inspect_quote, inspect_quote_with_collateral,
    unix_now, verify_attestation, Attestation, Collateral, ExpectedStatement, Nonce, Policy,
    VerifyOptions,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroize;

#[derive(Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    command: Option<AttestCommand>,
    /// Print the detection report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AttestCommand {
    /// Print the fields of a TDX quote (binary or hex file).
    Inspect {
        quote: PathBuf,
        /// DCAP collateral (JSON) to also evaluate the TCB status, at the current time.
        #[arg(long)]
        collateral: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Verify an attestation file against a policy and print the verdict.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    attestation: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Require this verifier nonce (hex) in the attested statement.
    #[arg(long)]
    nonce: Option<String>,
    #[arg(long)]
    json: bool,
}

/// How an attestation is judged: shared by `attest verify` and `encrypt-input`.
#[derive(Args)]
pub struct TrustArgs {
    /// Verification policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// DCAP collateral (JSON) for the TDX quote, unless the attestation embeds it.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Verify as of this Unix time instead of now (for archived attestations).
    #[arg(long)]
    time: Option<u64>,
    /// Accept INSECURE development evidence (machines without a TEE).
    #[arg(long)]
    allow_dev: bool,
}

impl TrustArgs {
    pub fn new(
        policy: PathBuf,
        collateral: Option<PathBuf>,
        time: Option<u64>,
        allow_dev: bool,
    ) -> TrustArgs {
        TrustArgs {
            policy,
            collateral,
            time,
            allow_dev,
        }
    }

    pub fn load(&self) -> Result<(Policy, VerifyOptions)> {
        let mut policy = Policy::read_file(&self.policy)?;
        if self.allow_dev {
            policy = policy.with_allow_dev(true);
        }
        let mut opts = VerifyOptions::at(self.time.unwrap_or_else(unix_now));
        if let Some(c) = &self.collateral {
            opts = opts.with_collateral(Collateral::read_file(c)?);
        }
        Ok((policy, opts))
    }
}

#[derive(Args)]
pub struct EncryptArgs {
    /// The prover's attestation, carrying its input-encryption key.
    #[arg(long)]
    attestation: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// One guest input buffer; repeat for more.
    #[arg(long = "input", value_name = "INPUT", required = true, long_help = format!("One guest input buffer; repeat for more. Forms: {INPUT_FORMS}"))]
    inputs: Vec<String>,
    /// Where to write the encrypted inputs (JSON).
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(args: AttestArgs) -> Result<ExitCode> {
    match args.command {
        None => {
            let report = detect();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(AttestCommand::Inspect {
            quote,
            collateral,
            json,
        }) => {
            let bytes = read_quote(&quote)?;
            let info = match collateral {
                Some(c) => {
                    inspect_quote_with_collateral(&bytes, &Collateral::read_file(c)?, unix_now())?
                }
                None => inspect_quote(&bytes)?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("{info}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(AttestCommand::Verify(v)) => verify(v),
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let att = Attestation::read_file(&args.attestation)?;
    let (policy, mut opts) = args.trust.load()?;
    if let Some(nonce) = &args.nonce {
        opts = opts.with_expected(ExpectedStatement {
            nonce: Some(Nonce::from_hex(nonce).context("--nonce")?),
            ..ExpectedStatement::default()
        });
    }
    let verdict = evaluate_attestation(&att, &policy, &opts);
    if args.json {
        println!("{}", verdict.to_json());
    } else {
        println!("{verdict}");
    }
    Ok(if verdict.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Inputs are packed as a sequence of (u64 little-endian length, bytes) so the
/// prover can split them back into the guest's input buffers.
pub fn pack_inputs(inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for buf in inputs {
        out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        out.extend_from_slice(buf);
    }
    out
}

pub fn encrypt(args: EncryptArgs) -> Result<ExitCode> {
    let att = Attestation::read_file(&args.attestation)?;
    let (policy, opts) = args.trust.load()?;
    // Refuses unless the attestation verifies: no encryption to an unverified key.
    let verified = verify_attestation(&att, &policy, &opts)
        .context("the attestation does not verify; refusing to encrypt to its key")?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| parse_input(s))
        .collect::<Result<Vec<_>>>()?;
    let mut inputs = inputs;
    let mut packed = pack_inputs(&inputs);
    let sealed = encrypt_inputs(&verified, &policy, &packed);
    packed.zeroize();
    inputs.zeroize();
    let count = inputs.len();
    let sealed = sealed?;
    std::fs::write(&args.output, sealed.to_json())
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "encrypted {count} input buffer(s) to the attested key; wrote {}",
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A quote file may hold the raw bytes or their hex.
fn read_quote(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = std::str::from_utf8(&bytes).ok().map(str::trim);
    match text.map(|t| t.strip_prefix("0x").unwrap_or(t)) {
        Some(t) if !t.is_empty() && t.bytes().all(|c| c.is_ascii_hexdigit()) => {
            hex::decode(t).with_context(|| format!("{}: odd-length hex", path.display()))
        }
        _ => Ok(bytes),
    }
}
