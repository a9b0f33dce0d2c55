//! The attestation file format (JSON, versioned).
//!
//! ```json
//! {
//!   "version": 1,
//!   "statement": { "input_key": "…", "proof_digest": "…", "nonce": "…", … },
//!   "report_data": "<64 bytes hex>",
//!   "evidence": [
//!     { "type": "tdx", "quote": "<hex>", "collateral": { … optional … } },
//!     { "type": "dstack", "quote": "<hex>", "event_log": [ … ], "app_id": "…", … },
//!     { "type": "nvidia_gpu", "gpus": [ { "attestation_report": "<hex>", … } ] },
//!     { "type": "dev", "warning": "INSECURE …", "public_key": "…", "signature": "…" }
//!   ]
//! }
//! ```
//!
//! Byte strings are lower-case hex. Unknown fields are rejected, so a typo in a
//! hand-edited file fails loudly.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::TeeError;
use crate::statement::Statement;
use crate::tdx::Collateral;
use crate::types::{DevPublicKey, DevSignature, Digest32, HexBytes, LengthPrefixed, ReportData};

/// Version of the attestation file format written by this build.
pub const ATTESTATION_VERSION: u32 = 1;
/// Largest attestation file accepted (bytes).
pub const MAX_ATTESTATION_BYTES: usize = 16 * 1024 * 1024;

/// A statement plus the evidence that binds it to a TEE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// File format version ([`ATTESTATION_VERSION`]).
    pub version: u32,
    /// What is attested.
    pub statement: Statement,
    /// `statement.report_data()`, as placed in the TEE report.
    pub report_data: ReportData,
    /// Evidence: exactly one platform item (TDX, dstack or dev) and optionally GPU evidence.
    pub evidence: Vec<Evidence>,
}

/// One piece of evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// An Intel TDX quote obtained through Linux configfs-tsm.
    Tdx(TdxEvidence),
    /// A TDX quote plus event log obtained from dstack's guest agent.
    Dstack(DstackEvidence),
    /// NVIDIA GPU confidential-computing evidence obtained through NVML.
    NvidiaGpu(NvidiaGpuEvidence),
    /// INSECURE development evidence: an Ed25519 signature by a local key.
    Dev(DevEvidence),
}

impl Evidence {
    /// A short name for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Evidence::Tdx(_) => "tdx",
            Evidence::Dstack(_) => "dstack",
            Evidence::NvidiaGpu(_) => "nvidia_gpu",
            Evidence::Dev(_) => "dev",
        }
    }

    /// Whether this evidence attests the platform (binds `report_data`).
    pub fn is_platform(&self) -> bool {
        !matches!(self, Evidence::NvidiaGpu(_))
    }
}

/// TDX quote evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxEvidence {
    /// The raw quote.
    pub quote: HexBytes,
    /// DCAP collateral, if the attester fetched it. Collateral is signed by
    /// Intel, so carrying it here is safe; the verifier still checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<Collateral>,
}

/// Evidence from dstack's guest agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DstackEvidence {
    /// The raw TDX quote.
    pub quote: HexBytes,
    /// The runtime event log (RTMR3 events are replayed by the verifier).
    pub event_log: Vec<DstackEvent>,
    /// dstack app id, as reported by `/Info` (informational).
    #[serde(default)]
    pub app_id: String,
    /// dstack instance id, as reported by `/Info` (informational).
    #[serde(default)]
    pub instance_id: String,
    /// Compose hash as reported by `/Info` (informational; the verifier uses the
    /// value measured into RTMR3 through the event log).
    #[serde(default)]
    pub reported_compose_hash: String,
    /// The VM configuration string reported by the guest agent, if any (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_config: Option<String>,
    /// DCAP collateral, if the attester fetched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<Collateral>,
}

/// One dstack event-log entry (same field names as dstack's API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DstackEvent {
    /// Measurement register index (0-3 = RTMR0-3).
    pub imr: u32,
    /// TCG event type (dstack runtime events use 0x08000001).
    pub event_type: u32,
    /// Hex SHA-384 digest extended into the register.
    pub digest: String,
    /// Event name (`compose-hash`, `app-id`, ...); empty for boot events.
    #[serde(default)]
    pub event: String,
    /// Hex event payload.
    #[serde(default)]
    pub event_payload: String,
}

/// NVIDIA GPU evidence for every GPU in the VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvidiaGpuEvidence {
    /// One entry per GPU.
    pub gpus: Vec<GpuDeviceEvidence>,
}

/// Evidence for one GPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuDeviceEvidence {
    /// NVML device index.
    pub index: u32,
    /// Device name reported by NVML.
    #[serde(default)]
    pub name: String,
    /// Device UUID reported by NVML.
    #[serde(default)]
    pub uuid: String,
    /// Confidential-computing mode as reported by the driver (NVML). Not signed by the GPU.
    pub cc_enabled: bool,
    /// CC "devtools" (debug) mode as reported by the driver, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_dev_mode: Option<bool>,
    /// GPUs-ready state (accepting CC work) as reported by the driver, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_state: Option<bool>,
    /// The nonce the report was requested with.
    pub nonce: Digest32,
    /// The SPDM GET_MEASUREMENTS request+response returned by the GPU (signed).
    pub attestation_report: HexBytes,
    /// The GPU's attestation certificate chain (PEM, leaf first).
    pub cert_chain_pem: String,
}

impl NvidiaGpuEvidence {
    /// Digest bound into the statement (`gpu_evidence_digest`).
    pub fn digest(&self) -> Digest32 {
        let mut h = LengthPrefixed::<Sha256>::new("cloak-tee/gpu-evidence/v1");
        h.field(&(self.gpus.len() as u64).to_le_bytes());
        for g in &self.gpus {
            let flags = [
                u8::from(g.cc_enabled),
                opt_bool(g.cc_dev_mode),
                opt_bool(g.ready_state),
            ];
            h.field(&g.index.to_le_bytes())
                .field(g.name.as_bytes())
                .field(g.uuid.as_bytes())
                .field(&flags)
                .field(g.nonce.as_bytes())
                .field(g.attestation_report.as_slice())
                .field(g.cert_chain_pem.as_bytes());
        }
        Digest32(h.finish().into())
    }
}

fn opt_bool(b: Option<bool>) -> u8 {
    match b {
        None => 2,
        Some(true) => 1,
        Some(false) => 0,
    }
}

/// Text every dev evidence item must carry.
pub const DEV_WARNING: &str =
    "INSECURE DEVELOPMENT EVIDENCE: signed by a local key, no TEE involved";

/// INSECURE development evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevEvidence {
    /// Must equal [`DEV_WARNING`].
    pub warning: String,
    /// The local Ed25519 key.
    pub public_key: DevPublicKey,
    /// Signature over the dev message for `report_data`.
    pub signature: DevSignature,
}

#[derive(Deserialize)]
struct VersionProbe {
    version: Option<serde_json::Value>,
}

/// Reads a JSON document's `version` field first so that a file from another
/// version gets a version error rather than a confusing field error.
pub(crate) fn check_version(
    what: &'static str,
    bytes: &[u8],
    supported: u32,
) -> Result<(), TeeError> {
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(|e| TeeError::Malformed {
        what,
        detail: format!("not a JSON object: {e}"),
    })?;
    match probe.version {
        None => Err(TeeError::Malformed {
            what,
            detail: "missing field `version`".into(),
        }),
        Some(v) => match v.as_u64() {
            Some(n) if n == u64::from(supported) => Ok(()),
            Some(n) => Err(TeeError::UnsupportedVersion {
                what,
                found: n,
                supported: u64::from(supported),
            }),
            None => Err(TeeError::Malformed {
                what,
                detail: format!("field `version` must be an unsigned integer, found {v}"),
            }),
        },
    }
}

pub(crate) fn read_limited(
    what: &'static str,
    path: &Path,
    limit: usize,
) -> Result<Vec<u8>, TeeError> {
    let meta = std::fs::metadata(path).map_err(|e| TeeError::io("read", path, e))?;
    if meta.len() > limit as u64 {
        return Err(TeeError::TooLarge {
            what,
            size: meta.len(),
            limit: limit as u64,
        });
    }
    std::fs::read(path).map_err(|e| TeeError::io("read", path, e))
}

impl Attestation {
    /// Parses an attestation file (JSON). Errors name the field and position.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TeeError> {
        const WHAT: &str = "attestation file";
        if bytes.len() > MAX_ATTESTATION_BYTES {
            return Err(TeeError::TooLarge {
                what: WHAT,
                size: bytes.len() as u64,
                limit: MAX_ATTESTATION_BYTES as u64,
            });
        }
        check_version(WHAT, bytes, ATTESTATION_VERSION)?;
        serde_json::from_slice(bytes).map_err(|e| TeeError::Malformed {
            what: WHAT,
            detail: e.to_string(),
        })
    }

    /// Reads and parses an attestation file.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self, TeeError> {
        let path = path.as_ref();
        let bytes = read_limited("attestation file", path, MAX_ATTESTATION_BYTES)?;
        Self::from_json(&bytes).map_err(|e| match e {
            TeeError::Malformed { what, detail } => TeeError::Malformed {
                what,
                detail: format!("{}: {detail}", path.display()),
            },
            other => other,
        })
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: all map keys are strings.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes the attestation as JSON.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), TeeError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| TeeError::io("write", path, e))
    }

    /// Embeds DCAP collateral into the TDX/dstack evidence (e.g. fetched by the
    /// prover), so verifiers need no collateral file. Returns how many items
    /// received it. Collateral is signed by Intel; verifiers still check it.
    pub fn embed_collateral(&mut self, collateral: &Collateral) -> usize {
        let mut n = 0;
        for e in &mut self.evidence {
            match e {
                Evidence::Tdx(t) => t.collateral = Some(collateral.clone()),
                Evidence::Dstack(d) => d.collateral = Some(collateral.clone()),
                _ => continue,
            }
            n += 1;
        }
        n
    }

    /// The raw TDX quote of the platform evidence, if it is TDX or dstack.
    pub fn tdx_quote(&self) -> Option<&[u8]> {
        self.evidence.iter().find_map(|e| match e {
            Evidence::Tdx(t) => Some(t.quote.as_slice()),
            Evidence::Dstack(d) => Some(d.quote.as_slice()),
            _ => None,
        })
    }

    /// The platform evidence items (TDX, dstack, dev).
    pub fn platform_evidence(&self) -> impl Iterator<Item = &Evidence> {
        self.evidence.iter().filter(|e| e.is_platform())
    }
}
