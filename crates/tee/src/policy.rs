//! Verification policy (TOML).
//!
//! ```toml
//! version = 1
//! # TCB statuses accepted for the TDX platform. Default: ["UpToDate"].
//! accepted_tcb_statuses = ["UpToDate"]
//! # Intel advisories that make a quote unacceptable even if its status is accepted.
//! rejected_advisory_ids = ["INTEL-SA-00837"]
//!
//! # Accepted TD measurements. An entry matches when every register it names
//! # equals the quote's value; the quote must match at least one entry.
//! [[allowed_measurements]]
//! name = "cloak v0.1.0 on dstack 0.5"
//! mrtd  = "<96 hex chars>"
//! rtmr0 = "…"   # optional
//! rtmr1 = "…"   # optional
//! rtmr2 = "…"   # optional
//! rtmr3 = "…"   # optional
//!
//! # dstack: accepted app compose hashes (the value measured into RTMR3).
//! allowed_compose_hashes = ["<64 hex chars>"]
//!
//! # Accept any TD code (no measurement pinned). Insecure outside testing.
//! allow_any_measurement = false
//! # Require NVIDIA GPU confidential-computing evidence.
//! require_gpu_cc = false
//! # Accept INSECURE dev evidence (no TEE). Never in production.
//! allow_dev = false
//! # If non-empty, dev evidence must be signed by one of these Ed25519 keys.
//! allowed_dev_keys = []
//! # Accept TDs launched in debug mode. Never in production.
//! allow_debug_td = false
//! ```
//!
//! A TDX or dstack attestation is accepted only if the policy pins something:
//! `allowed_measurements` (MRTD/RTMRs) or `allowed_compose_hashes` (dstack), or
//! explicitly sets `allow_any_measurement`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use dcap_qvl::TcbStatus;

use crate::attestation::read_limited;
use crate::error::TeeError;
use crate::types::{DevPublicKey, Digest32, Measurement};

/// Version of the policy format read by this build.
pub const POLICY_VERSION: u32 = 1;
const MAX_POLICY_BYTES: usize = 1024 * 1024;

fn one() -> u32 {
    POLICY_VERSION
}

fn default_statuses() -> Vec<TcbStatus> {
    vec![TcbStatus::UpToDate]
}

/// What a verifier accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy format version ([`POLICY_VERSION`]).
    #[serde(default = "one")]
    pub version: u32,
    /// Accepted TDX TCB statuses (default: only `UpToDate`). `Revoked` is never accepted.
    #[serde(default = "default_statuses")]
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// Intel security advisory ids that cause rejection.
    #[serde(default)]
    pub rejected_advisory_ids: Vec<String>,
    /// Accepted MRTD/RTMR combinations.
    #[serde(default)]
    pub allowed_measurements: Vec<AllowedMeasurements>,
    /// Accepted dstack compose hashes (SHA-256, as measured into RTMR3).
    #[serde(default)]
    pub allowed_compose_hashes: Vec<Digest32>,
    /// Accept any TD measurement (insecure outside testing).
    #[serde(default)]
    pub allow_any_measurement: bool,
    /// Require verified NVIDIA GPU CC evidence with CC mode on.
    #[serde(default)]
    pub require_gpu_cc: bool,
    /// Accept INSECURE dev evidence.
    #[serde(default)]
    pub allow_dev: bool,
    /// If non-empty, dev evidence must come from one of these keys.
    #[serde(default)]
    pub allowed_dev_keys: Vec<DevPublicKey>,
    /// Accept debug TDs (insecure).
    #[serde(default)]
    pub allow_debug_td: bool,
}

/// One accepted combination of TD measurement registers; unset registers are not constrained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedMeasurements {
    /// A label for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MRTD (initial TD contents, i.e. the firmware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrtd: Option<Measurement>,
    /// RTMR0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr0: Option<Measurement>,
    /// RTMR1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr1: Option<Measurement>,
    /// RTMR2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr2: Option<Measurement>,
    /// RTMR3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr3: Option<Measurement>,
}

impl AllowedMeasurements {
    /// Whether the given registers match every register this entry names.
    pub fn matches(&self, mrtd: &Measurement, rtmr: &[Measurement; 4]) -> bool {
        let eq = |want: &Option<Measurement>, got: &Measurement| want.is_none_or(|w| &w == got);
        eq(&self.mrtd, mrtd)
            && eq(&self.rtmr0, &rtmr[0])
            && eq(&self.rtmr1, &rtmr[1])
            && eq(&self.rtmr2, &rtmr[2])
            && eq(&self.rtmr3, &rtmr[3])
    }

    fn is_empty(&self) -> bool {
        self.mrtd.is_none()
            && self.rtmr0.is_none()
            && self.rtmr1.is_none()
            && self.rtmr2.is_none()
            && self.rtmr3.is_none()
    }

    pub(crate) fn label(&self, i: usize) -> String {
        match &self.name {
            Some(n) => format!("#{i} ({n})"),
            None => format!("#{i}"),
        }
    }
}

impl Default for Policy {
    /// The default policy: UpToDate only, nothing pinned (so TDX attestations are
    /// rejected until measurements are added), no GPU requirement, no dev evidence.
    fn default() -> Self {
        Policy {
            version: POLICY_VERSION,
            accepted_tcb_statuses: default_statuses(),
            rejected_advisory_ids: Vec::new(),
            allowed_measurements: Vec::new(),
            allowed_compose_hashes: Vec::new(),
            allow_any_measurement: false,
            require_gpu_cc: false,
            allow_dev: false,
            allowed_dev_keys: Vec::new(),
            allow_debug_td: false,
        }
    }
}

impl Policy {
    /// Parses a TOML policy and validates it.
    pub fn from_toml_str(s: &str) -> Result<Self, TeeError> {
        if s.len() > MAX_POLICY_BYTES {
            return Err(TeeError::TooLarge {
                what: "policy file",
                size: s.len() as u64,
                limit: MAX_POLICY_BYTES as u64,
            });
        }
        // Check the version before the schema so old/new files get a clear message.
        let table: toml::Table = toml::from_str(s).map_err(|e| TeeError::Policy {
            location: "TOML syntax".into(),
            detail: e.to_string().trim_end().to_string(),
        })?;
        if let Some(v) = table.get("version") {
            match v.as_integer() {
                Some(n) if n == i64::from(POLICY_VERSION) => {}
                Some(n) => {
                    return Err(TeeError::UnsupportedVersion {
                        what: "policy",
                        found: u64::try_from(n).unwrap_or(u64::MAX),
                        supported: u64::from(POLICY_VERSION),
                    })
                }
                None => {
                    return Err(TeeError::Policy {
                        location: "field `version`".into(),
                        detail: format!("must be an integer, found {v}"),
                    })
                }
            }
        }
        let policy: Policy = toml::from_str(s).map_err(|e| TeeError::Policy {
            location: "schema".into(),
            detail: e.to_string().trim_end().to_string(),
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads a TOML policy file.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self, TeeError> {
        let path = path.as_ref();
        let bytes = read_limited("policy file", path, MAX_POLICY_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| TeeError::Policy {
            location: path.display().to_string(),
            detail: format!("not UTF-8: {e}"),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            TeeError::Policy { location, detail } => TeeError::Policy {
                location: format!("{}: {location}", path.display()),
                detail,
            },
            other => other,
        })
    }

    /// Serializes to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks internal consistency (also run by the parsers).
    pub fn validate(&self) -> Result<(), TeeError> {
        if self.version != POLICY_VERSION {
            return Err(TeeError::UnsupportedVersion {
                what: "policy",
                found: u64::from(self.version),
                supported: u64::from(POLICY_VERSION),
            });
        }
        if self.accepted_tcb_statuses.is_empty() {
            return Err(TeeError::Policy {
                location: "field `accepted_tcb_statuses`".into(),
                detail: "is empty: no TDX quote could ever be accepted".into(),
            });
        }
        if self.accepted_tcb_statuses.contains(&TcbStatus::Revoked) {
            return Err(TeeError::Policy {
                location: "field `accepted_tcb_statuses`".into(),
                detail: "`Revoked` can never be accepted".into(),
            });
        }
        for (i, m) in self.allowed_measurements.iter().enumerate() {
            if m.is_empty() {
                return Err(TeeError::Policy {
                    location: format!("allowed_measurements entry {}", m.label(i)),
                    detail: "names no register (mrtd, rtmr0-3); it would accept any TD".into(),
                });
            }
        }
        Ok(())
    }

    /// Whether the policy constrains TD code at all.
    pub fn pins_measurements(&self) -> bool {
        !self.allowed_measurements.is_empty() || !self.allowed_compose_hashes.is_empty()
    }

    /// SHA-256 of the policy's canonical JSON form; recorded in verdicts and
    /// checked by [`crate::encrypt_inputs`].
    pub fn digest(&self) -> Digest32 {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(b"cloak-tee/policy/v1\0");
        h.update(&json);
        Digest32(h.finalize().into())
    }

    /// Builder: accept an additional TCB status.
    pub fn accept_tcb_status(mut self, status: TcbStatus) -> Self {
        if !self.accepted_tcb_statuses.contains(&status) {
            self.accepted_tcb_statuses.push(status);
        }
        self
    }

    /// Builder: allow a measurement combination.
    pub fn allow_measurements(mut self, m: AllowedMeasurements) -> Self {
        self.allowed_measurements.push(m);
        self
    }

    /// Builder: allow a dstack compose hash.
    pub fn allow_compose_hash(mut self, h: Digest32) -> Self {
        self.allowed_compose_hashes.push(h);
        self
    }

    /// Builder: accept INSECURE dev evidence.
    pub fn with_allow_dev(mut self, allow: bool) -> Self {
        self.allow_dev = allow;
        self
    }

    /// Builder: require GPU CC evidence.
    pub fn with_require_gpu_cc(mut self, require: bool) -> Self {
        self.require_gpu_cc = require;
        self
    }

    /// Builder: accept any TD measurement (testing only).
    pub fn with_allow_any_measurement(mut self, allow: bool) -> Self {
        self.allow_any_measurement = allow;
        self
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_toml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_round_trips() {
        let p = Policy::default();
        let q = Policy::from_toml_str(&p.to_toml()).unwrap();
        assert_eq!(p, q);
        assert_eq!(Policy::from_toml_str("").unwrap(), p);
    }

    #[test]
    fn full_policy_parses() {
        let m = "ab".repeat(48);
        let text = format!(
            r#"
version = 1
accepted_tcb_statuses = ["UpToDate", "OutOfDate"]
rejected_advisory_ids = ["INTEL-SA-00837"]
allowed_compose_hashes = ["{}"]
require_gpu_cc = true
[[allowed_measurements]]
name = "build 1"
mrtd = "{m}"
rtmr3 = "0x{m}"
"#,
            "cd".repeat(32)
        );
        let p = Policy::from_toml_str(&text).unwrap();
        assert_eq!(p.accepted_tcb_statuses.len(), 2);
        assert!(p.require_gpu_cc);
        assert_eq!(
            p.allowed_measurements[0].mrtd,
            Some(Measurement([0xab; 48]))
        );
    }

    #[test]
    fn errors_are_specific() {
        let e = Policy::from_toml_str("allow_dve = true")
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_dve"), "{e}");
        let e = Policy::from_toml_str("version = 7")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 7"), "{e}");
        let e = Policy::from_toml_str("accepted_tcb_statuses = [\"Revoked\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Revoked"), "{e}");
        let e = Policy::from_toml_str("accepted_tcb_statuses = [\"Fine\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Fine"), "{e}");
        let e = Policy::from_toml_str("[[allowed_measurements]]\nname = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no register"), "{e}");
        let e = Policy::from_toml_str("[[allowed_measurements]]\nmrtd = \"abcd\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("48 bytes"), "{e}");
        let e = Policy::from_toml_str("version = ").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
