//! NVIDIA GPU confidential computing: evidence collection through NVML
//! (loaded at run time) and offline verification of the GPU attestation report.
//!
//! The report returned by `nvmlDeviceGetConfComputeGpuAttestationReport` is an
//! SPDM 1.1 `GET_MEASUREMENTS` request (37 bytes, carrying our 32-byte nonce)
//! followed by the GPU's signed response (measurement blocks, the responder's
//! nonce, NVIDIA opaque data, and an ECDSA P-384 signature over SHA-384 of
//! request‖response). Offline we check:
//!
//! * the nonce in the request equals the nonce derived from the statement;
//! * the signature with the leaf certificate of the GPU's attestation chain;
//! * the chain: each certificate signed by the next (ECDSA P-384/SHA-384), all
//!   valid at the verification time, ending at the pinned NVIDIA Device Identity
//!   root CA (`src/certs/nvidia_device_identity_ca.pem`);
//! * the firmware id (FWID) in the leaf certificate equals the FWID in the report.
//!
//! Not checked offline: certificate revocation (NVIDIA OCSP), and the measurement
//! values against NVIDIA's reference integrity manifests (RIM service) — so a
//! signed report from a genuine GPU running unexpected firmware would pass. The
//! CC-mode flag comes from the driver through NVML and is not itself signed.

use std::fmt;

use der::{DecodePem, Encode};
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use serde::Serialize;
use x509_cert::Certificate;

use crate::attestation::{Evidence, GpuDeviceEvidence, NvidiaGpuEvidence};
use crate::error::TeeError;
use crate::sources::{Binding, BindingValue, EvidenceSource, Probe, SourceKind};
use crate::types::{no_panic, Digest32};
use crate::x509::{strict_pem_chain, verify_chain_to};

/// PEM of the NVIDIA Device Identity CA (the root of GPU attestation certificate chains).
pub const NVIDIA_DEVICE_ROOT_CA_PEM: &str = include_str!("certs/nvidia_device_identity_ca.pem");

const SPDM_REQUEST_LEN: usize = 37;
const SIGNATURE_LEN: usize = 96;
const OID_TCG_DICE_TCB_INFO: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.23.133.5.4.1");
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// A parsed GPU attestation report (SPDM GET_MEASUREMENTS request + response).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuReport {
    /// SPDM version byte (0x11 = SPDM 1.1).
    pub spdm_version: u8,
    /// The requester's nonce (ours).
    pub request_nonce: [u8; 32],
    /// The responder's nonce.
    pub response_nonce: [u8; 32],
    /// Measurement blocks: (index, DMTF value type, value).
    pub measurements: Vec<(u8, u8, Vec<u8>)>,
    /// NVIDIA opaque data items: (type, bytes).
    pub opaque: Vec<(u16, Vec<u8>)>,
    /// Number of bytes covered by the signature.
    pub signed_len: usize,
    /// The raw `r || s` signature.
    pub signature: Vec<u8>,
}

const OPAQUE_DRIVER_VERSION: u16 = 3;
const OPAQUE_VBIOS_VERSION: u16 = 6;
const OPAQUE_FWID: u16 = 20;

fn malformed(detail: impl Into<String>) -> TeeError {
    TeeError::Malformed {
        what: "GPU attestation report",
        detail: detail.into(),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TeeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                malformed(format!(
                    "truncated at offset {} reading {what} ({n} bytes, {} left)",
                    self.pos,
                    self.b.len().saturating_sub(self.pos)
                ))
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, TeeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, TeeError> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u24(&mut self, what: &str) -> Result<usize, TeeError> {
        let s = self.take(3, what)?;
        Ok(usize::from(s[0]) | usize::from(s[1]) << 8 | usize::from(s[2]) << 16)
    }
}

impl GpuReport {
    /// Parses the report bytes. Bytes after the signature must be zero padding.
    pub fn parse(bytes: &[u8]) -> Result<Self, TeeError> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(TeeError::TooLarge {
                what: "GPU attestation report",
                size: bytes.len() as u64,
                limit: MAX_REPORT_BYTES as u64,
            });
        }
        let mut r = Reader { b: bytes, pos: 0 };
        let req = r.take(SPDM_REQUEST_LEN, "SPDM GET_MEASUREMENTS request")?;
        let spdm_version = req[0];
        if !(0x11..=0x12).contains(&spdm_version) {
            return Err(malformed(format!(
                "unsupported SPDM version 0x{spdm_version:02x} in the request"
            )));
        }
        if req[1] != 0xe0 {
            return Err(malformed(format!(
                "request code 0x{:02x} is not GET_MEASUREMENTS (0xe0)",
                req[1]
            )));
        }
        let mut request_nonce = [0u8; 32];
        request_nonce.copy_from_slice(&req[4..36]);

        let rsp_version = r.u8("response SPDM version")?;
        if rsp_version != spdm_version {
            return Err(malformed(format!(
                "response SPDM version 0x{rsp_version:02x} differs from the request's 0x{spdm_version:02x}"
            )));
        }
        let code = r.u8("response code")?;
        if code != 0x60 {
            return Err(malformed(format!(
                "response code 0x{code:02x} is not MEASUREMENTS (0x60)"
            )));
        }
        r.take(2, "response params")?;
        let blocks = r.u8("number of blocks")?;
        let record_len = r.u24("measurement record length")?;
        let record = r.take(record_len, "measurement record")?;
        let mut measurements = Vec::new();
        let mut m = Reader { b: record, pos: 0 };
        for i in 0..blocks {
            let index = m.u8("block index")?;
            let spec = m.u8("measurement specification")?;
            if spec != 1 {
                return Err(malformed(format!(
                    "block {i}: measurement specification {spec} is not DMTF (1)"
                )));
            }
            let size = usize::from(m.u16("block size")?);
            let mut blk = Reader {
                b: m.take(size, "measurement block")?,
                pos: 0,
            };
            let vtype = blk.u8("DMTF value type")?;
            let vsize = usize::from(blk.u16("DMTF value size")?);
            let value = blk.take(vsize, "DMTF value")?.to_vec();
            if blk.pos != blk.b.len() {
                return Err(malformed(format!(
                    "block {i}: {} unexpected bytes after the value",
                    blk.b.len() - blk.pos
                )));
            }
            measurements.push((index, vtype, value));
        }
        if m.pos != record.len() {
            return Err(malformed(format!(
                "measurement record has {} bytes after {blocks} blocks",
                record.len() - m.pos
            )));
        }
        let mut response_nonce = [0u8; 32];
        response_nonce.copy_from_slice(r.take(32, "response nonce")?);
        let opaque_len = usize::from(r.u16("opaque data length")?);
        let opaque_bytes = r.take(opaque_len, "opaque data")?;
        let mut opaque = Vec::new();
        let mut o = Reader {
            b: opaque_bytes,
            pos: 0,
        };
        while o.pos < opaque_bytes.len() {
            let t = o.u16("opaque item type")?;
            let n = usize::from(o.u16("opaque item size")?);
            opaque.push((t, o.take(n, "opaque item")?.to_vec()));
        }
        let signed_len = r.pos;
        let signature = r.take(SIGNATURE_LEN, "ECDSA P-384 signature")?.to_vec();
        if let Some(p) = bytes[r.pos..].iter().position(|&b| b != 0) {
            return Err(malformed(format!(
                "non-zero byte at offset {} after the signature",
                r.pos + p
            )));
        }
        Ok(GpuReport {
            spdm_version,
            request_nonce,
            response_nonce,
            measurements,
            opaque,
            signed_len,
            signature,
        })
    }

    fn opaque(&self, t: u16) -> Option<&[u8]> {
        self.opaque
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    /// Driver version string from the signed opaque data.
    pub fn driver_version(&self) -> Option<String> {
        self.opaque(OPAQUE_DRIVER_VERSION).map(|b| {
            String::from_utf8_lossy(b)
                .trim_end_matches('\0')
                .to_string()
        })
    }

    /// VBIOS version (as NVIDIA formats it) from the signed opaque data.
    pub fn vbios_version(&self) -> Option<String> {
        let b = self.opaque(OPAQUE_VBIOS_VERSION)?;
        let half = b.len() / 2;
        let mut parts: Vec<String> = b
            .get(..half)?
            .iter()
            .rev()
            .map(|x| format!("{x:02x}"))
            .collect();
        parts.push(format!("{:02x}", b.get(half)?));
        Some(parts.join("."))
    }

    /// The firmware id (FWID) from the signed opaque data.
    pub fn fwid(&self) -> Option<&[u8]> {
        self.opaque(OPAQUE_FWID)
    }
}

fn p384_key(cert: &Certificate) -> Result<VerifyingKey, String> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
        .map_err(|_| "public key is not an ECDSA P-384 key".to_string())
}

fn leaf_fwid(cert: &Certificate) -> Option<Vec<u8>> {
    let exts = cert.tbs_certificate().extensions()?;
    let ext = exts.iter().find(|e| e.extn_id == OID_TCG_DICE_TCB_INFO)?;
    let v = ext.extn_value.as_bytes();
    v.get(v.len().checked_sub(48)?..).map(|s| s.to_vec())
}

/// Verifies a GPU certificate chain (PEM, leaf first) up to the pinned NVIDIA root
/// at `time`. The chain may or may not include the root itself.
pub fn verify_gpu_cert_chain(pem: &str, time: u64) -> Result<(), String> {
    let certs =
        strict_pem_chain("GPU certificate chain", pem.as_bytes()).map_err(|e| e.to_string())?;
    verify_chain_root(&certs, time)
}

fn verify_chain_root(certs: &[Certificate], time: u64) -> Result<(), String> {
    let root = Certificate::from_pem(NVIDIA_DEVICE_ROOT_CA_PEM.as_bytes())
        .map_err(|e| format!("embedded NVIDIA root certificate: {e}"))?;
    let root_der = root.to_der().map_err(|e| e.to_string())?;
    verify_chain_to(certs, &root_der, Some(time))
}

/// Result of verifying one GPU's evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuCheck {
    /// Parsed report, if it parsed.
    pub report: Option<GpuReport>,
    /// `Ok(())` if nonce, signature, chain and FWID verified; the reason otherwise.
    pub result: Result<(), String>,
}

/// Verifies one GPU's evidence offline against the expected nonce at `time`.
pub fn verify_gpu_device(ev: &GpuDeviceEvidence, expected_nonce: &[u8; 32], time: u64) -> GpuCheck {
    let report = match GpuReport::parse(ev.attestation_report.as_slice()) {
        Ok(r) => r,
        Err(e) => {
            return GpuCheck {
                report: None,
                result: Err(e.to_string()),
            }
        }
    };
    let result = (|| {
        if &ev.nonce.0 != expected_nonce {
            return Err(format!(
                "evidence nonce {} is not the statement's GPU nonce {}",
                ev.nonce,
                hex::encode(expected_nonce)
            ));
        }
        if &report.request_nonce != expected_nonce {
            return Err(format!(
                "nonce in the signed report {} is not the statement's GPU nonce {}",
                hex::encode(report.request_nonce),
                hex::encode(expected_nonce)
            ));
        }
        let certs = strict_pem_chain("GPU certificate chain", ev.cert_chain_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        let leaf = certs.first().ok_or("empty certificate chain")?;
        let key = p384_key(leaf).map_err(|e| format!("leaf certificate: {e}"))?;
        let sig = Signature::from_slice(&report.signature)
            .map_err(|_| "malformed report signature".to_string())?;
        let signed = ev
            .attestation_report
            .as_slice()
            .get(..report.signed_len)
            .ok_or("report shorter than its signed part")?;
        key.verify(signed, &sig).map_err(|_| {
            "report signature does not verify with the leaf certificate".to_string()
        })?;
        verify_chain_root(&certs, time)?;
        match (report.fwid(), leaf_fwid(leaf)) {
            (Some(a), Some(b)) if a == b.as_slice() => Ok(()),
            (Some(a), Some(b)) => Err(format!(
                "FWID in the report {} differs from the leaf certificate's {}",
                hex::encode(a),
                hex::encode(b)
            )),
            (None, _) => Err("report carries no FWID".into()),
            (_, None) => Err("leaf certificate carries no FWID extension".into()),
        }
    })();
    GpuCheck {
        report: Some(report),
        result,
    }
}

/// CC state of one GPU as reported by NVML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuCcStatus {
    /// NVML index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: String,
    /// CC feature on/off (`nvmlSystemGetConfComputeSettings`), or why it could not be read.
    pub cc_enabled: Result<bool, String>,
    /// CC devtools (debug) mode.
    pub cc_dev_mode: Result<bool, String>,
    /// GPUs-ready state (`nvmlSystemGetConfComputeGpusReadyState`).
    pub ready_state: Result<bool, String>,
}

impl fmt::Display for GpuCcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn show(r: &Result<bool, String>, yes: &str, no: &str) -> String {
            match r {
                Ok(true) => yes.into(),
                Ok(false) => no.into(),
                Err(e) => format!("unknown ({e})"),
            }
        }
        write!(
            f,
            "GPU {} {} {}: CC mode {}, devtools {}, ready state {}",
            self.index,
            self.name,
            self.uuid,
            show(&self.cc_enabled, "ON", "off"),
            show(&self.cc_dev_mode, "on", "off"),
            show(&self.ready_state, "ready", "not ready"),
        )
    }
}

/// NVML availability: loaded with its GPUs, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NvmlStatus {
    /// Driver version, if NVML loaded.
    pub driver_version: Option<String>,
    /// Per-GPU CC state.
    pub gpus: Vec<GpuCcStatus>,
    /// Why NVML is not usable, if it is not.
    pub error: Option<String>,
}

fn nvml_err(e: nvml_wrapper::error::NvmlError) -> String {
    e.to_string()
}

/// Loads NVML (if present) and reads every GPU's CC state.
pub fn nvml_status() -> NvmlStatus {
    let r = std::panic::catch_unwind(|| {
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => n,
            Err(e) => {
                return NvmlStatus {
                    driver_version: None,
                    gpus: Vec::new(),
                    error: Some(format!(
                        "NVML (libnvidia-ml.so.1) could not be loaded/initialised: {e}"
                    )),
                }
            }
        };
        let driver_version = nvml.sys_driver_version().ok();
        let count = match nvml.device_count() {
            Ok(c) => c,
            Err(e) => {
                return NvmlStatus {
                    driver_version,
                    gpus: Vec::new(),
                    error: Some(format!("NVML loaded but listing GPUs failed: {e}")),
                }
            }
        };
        let mut gpus = Vec::new();
        for index in 0..count {
            match nvml.device_by_index(index) {
                Ok(d) => gpus.push(GpuCcStatus {
                    index,
                    name: d.name().unwrap_or_default(),
                    uuid: d.uuid().unwrap_or_default(),
                    cc_enabled: d.is_cc_enabled().map_err(nvml_err),
                    cc_dev_mode: d.is_cc_dev_mode_enabled().map_err(nvml_err),
                    ready_state: d.get_confidential_compute_state().map_err(nvml_err),
                }),
                Err(e) => gpus.push(GpuCcStatus {
                    index,
                    name: String::new(),
                    uuid: String::new(),
                    cc_enabled: Err(nvml_err(e)),
                    cc_dev_mode: Err("device unavailable".into()),
                    ready_state: Err("device unavailable".into()),
                }),
            }
        }
        let error = if gpus.is_empty() {
            Some("NVML loaded but reports no GPU".into())
        } else {
            None
        };
        NvmlStatus {
            driver_version,
            gpus,
            error,
        }
    });
    r.unwrap_or_else(|_| NvmlStatus {
        driver_version: None,
        gpus: Vec::new(),
        error: Some("NVML query panicked".into()),
    })
}

/// Collects GPU CC evidence for every GPU through NVML.
#[derive(Debug, Default, Clone, Copy)]
pub struct NvmlSource;

impl EvidenceSource for NvmlSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Nvml
    }

    fn binding(&self) -> Binding {
        Binding::GpuNonce
    }

    fn probe(&self) -> Probe {
        let st = nvml_status();
        let usable = st.error.is_none() && st.gpus.iter().all(|g| g.cc_enabled == Ok(true));
        let detail = match &st.error {
            Some(e) => e.clone(),
            None => {
                let gpus: Vec<String> = st.gpus.iter().map(|g| g.to_string()).collect();
                let mut d = format!(
                    "driver {}; {}",
                    st.driver_version.as_deref().unwrap_or("?"),
                    gpus.join("; ")
                );
                if !usable {
                    d.push_str(" — CC mode is not on for every GPU, so no GPU attestation report can be produced");
                }
                d
            }
        };
        Probe {
            kind: SourceKind::Nvml,
            location: "libnvidia-ml.so.1".into(),
            usable,
            detail,
            nvml: Some(st),
        }
    }

    fn collect(&self, binding: &BindingValue) -> Result<Evidence, TeeError> {
        let BindingValue::GpuNonce(nonce) = binding else {
            return Err(TeeError::Source {
                source_name: "nvml",
                detail: "GPU evidence must be bound to a GPU nonce".into(),
            });
        };
        let nonce = *nonce;
        no_panic("NVML output", move || collect_nvml(nonce))
    }
}

fn collect_nvml(nonce: [u8; 32]) -> Result<Evidence, TeeError> {
    let fail = |detail: String| TeeError::Source {
        source_name: "nvml",
        detail,
    };
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| fail(format!("cannot load NVML: {e}")))?;
    let count = nvml
        .device_count()
        .map_err(|e| fail(format!("device count: {e}")))?;
    if count == 0 {
        return Err(fail("no GPU".into()));
    }
    let mut gpus = Vec::new();
    for index in 0..count {
        let d = nvml
            .device_by_index(index)
            .map_err(|e| fail(format!("GPU {index}: {e}")))?;
        let cc_enabled = d
            .is_cc_enabled()
            .map_err(|e| fail(format!("GPU {index}: reading CC mode: {e}")))?;
        if !cc_enabled {
            return Err(fail(format!(
                "GPU {index}: confidential-computing mode is off"
            )));
        }
        let report = d
            .confidential_compute_gpu_attestation_report(nonce)
            .map_err(|e| fail(format!("GPU {index}: attestation report: {e}")))?;
        let cert = d
            .confidential_compute_gpu_certificate()
            .map_err(|e| fail(format!("GPU {index}: certificate chain: {e}")))?;
        let cert_chain_pem = String::from_utf8(cert.attestation_cert_chain)
            .map_err(|_| fail(format!("GPU {index}: certificate chain is not PEM text")))?;
        gpus.push(GpuDeviceEvidence {
            index,
            name: d.name().unwrap_or_default(),
            uuid: d.uuid().unwrap_or_default(),
            cc_enabled,
            cc_dev_mode: d.is_cc_dev_mode_enabled().ok(),
            ready_state: d.get_confidential_compute_state().ok(),
            nonce: Digest32(nonce),
            attestation_report: report.attestation_report.into(),
            cert_chain_pem: cert_chain_pem.trim_end_matches('\0').to_string(),
        });
    }
    Ok(Evidence::NvidiaGpu(NvidiaGpuEvidence { gpus }))
}
