//! The result of verifying an attestation, for people (Display) and machines (JSON).

use std::fmt;

use serde::Serialize;

use crate::statement::Statement;
use crate::types::{Digest32, ReportData};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check passed but something deserves attention (e.g. an insecure policy setting).
    Warn,
    /// The check failed; the attestation is rejected.
    Fail,
    /// The check did not apply.
    Skipped,
}

/// One named check with its outcome and a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Details (values compared, reasons).
    pub detail: String,
}

impl Check {
    pub(crate) fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            outcome: if ok { Outcome::Pass } else { Outcome::Fail },
            detail: detail.into(),
        }
    }
    pub(crate) fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, true, detail)
    }
    pub(crate) fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, false, detail)
    }
    pub(crate) fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            outcome: Outcome::Warn,
            detail: detail.into(),
        }
    }
    pub(crate) fn skipped(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            outcome: Outcome::Skipped,
            detail: detail.into(),
        }
    }
    /// Whether this check failed.
    pub fn is_failure(&self) -> bool {
        self.outcome == Outcome::Fail
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "SKIP",
        };
        write!(f, "[{tag}] {}: {}", self.name, self.detail)
    }
}

/// Summary of one verified GPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuSummary {
    /// NVML index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: String,
    /// Driver-reported CC mode.
    pub cc_enabled: bool,
    /// Driver version from the signed report's opaque data, if present.
    pub driver_version: Option<String>,
    /// VBIOS version from the signed report, if present.
    pub vbios_version: Option<String>,
    /// Whether signature, certificate chain and nonce verified.
    pub report_verified: bool,
}

/// The full result of verifying an attestation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether every check passed (warnings allowed).
    pub accepted: bool,
    /// Whether the platform evidence is the INSECURE dev source.
    pub insecure_dev: bool,
    /// Verification time used (Unix seconds).
    pub verification_time: u64,
    /// Attestation format version.
    pub attestation_version: u32,
    /// The attested statement.
    pub statement: Statement,
    /// The `report_data` carried by the attestation.
    pub report_data: ReportData,
    /// Digest of the policy applied.
    pub policy_digest: Digest32,
    /// Platform description ("Intel TDX via configfs-tsm", "dstack (Intel TDX)", "dev (INSECURE)").
    pub platform: Option<String>,
    /// Platform TCB status, if a TDX quote was verified.
    pub tcb_status: Option<String>,
    /// MRTD, if a TDX quote was verified.
    pub mrtd: Option<String>,
    /// RTMR0-3, if a TDX quote was verified.
    pub rtmr: Option<Vec<String>>,
    /// dstack compose hash verified through RTMR3.
    pub compose_hash: Option<String>,
    /// GPUs whose evidence was examined.
    pub gpus: Vec<GpuSummary>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// What this verifier does not check (so nobody assumes it does).
    pub not_checked: Vec<String>,
}

impl Verdict {
    /// Failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.is_failure())
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = if self.accepted {
            "ACCEPTED"
        } else {
            "REJECTED"
        };
        writeln!(f, "Cloak attestation verdict: {head}")?;
        if self.insecure_dev {
            writeln!(
                f,
                "!!! INSECURE: dev evidence, signed by a local key; no TEE protects this prover !!!"
            )?;
        }
        if let Some(p) = &self.platform {
            writeln!(f, "platform: {p}")?;
        }
        if let Some(s) = &self.tcb_status {
            writeln!(f, "TCB status: {s}")?;
        }
        if let Some(m) = &self.mrtd {
            writeln!(f, "MRTD: {m}")?;
        }
        if let Some(r) = &self.rtmr {
            for (i, m) in r.iter().enumerate() {
                writeln!(f, "RTMR{i}: {m}")?;
            }
        }
        if let Some(c) = &self.compose_hash {
            writeln!(f, "dstack compose hash: {c}")?;
        }
        for g in &self.gpus {
            writeln!(
                f,
                "GPU {}: {} {} CC {} driver {} vbios {} report {}",
                g.index,
                g.name,
                g.uuid,
                if g.cc_enabled { "on" } else { "OFF" },
                g.driver_version.as_deref().unwrap_or("?"),
                g.vbios_version.as_deref().unwrap_or("?"),
                if g.report_verified {
                    "verified"
                } else {
                    "NOT verified"
                }
            )?;
        }
        writeln!(f, "statement (format v{}):", self.attestation_version)?;
        writeln!(f, "{}", self.statement)?;
        writeln!(f, "report_data: {}", self.report_data)?;
        writeln!(f, "policy digest: {}", self.policy_digest)?;
        writeln!(
            f,
            "verification time: {} (unix seconds)",
            self.verification_time
        )?;
        writeln!(f, "checks:")?;
        for c in &self.checks {
            writeln!(f, "  {c}")?;
        }
        if !self.not_checked.is_empty() {
            writeln!(f, "not checked:")?;
            for n in &self.not_checked {
                writeln!(f, "  - {n}")?;
            }
        }
        Ok(())
    }
}
