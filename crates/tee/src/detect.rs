//! Detecting which evidence sources work here, and producing attestations.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::attestation::{Attestation, Evidence, ATTESTATION_VERSION};
use crate::dev::{DevSigner, DevSource};
use crate::dstack::{DstackSource, DSTACK_SOCKETS};
use crate::error::TeeError;
use crate::gpu::NvmlSource;
use crate::sources::{
    Binding, BindingValue, ConfigfsTsmSource, EvidenceSource, Probe, SourceKind, TSM_REPORT_DIR,
};
use crate::statement::Statement;

/// Where to look for sources (defaults: the standard locations).
#[derive(Clone, Debug)]
pub struct DetectConfig {
    /// configfs-tsm report directory.
    pub tsm_report_dir: PathBuf,
    /// dstack guest-agent sockets to try, in order.
    pub dstack_sockets: Vec<PathBuf>,
    /// Whether to try loading NVML.
    pub probe_nvml: bool,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            tsm_report_dir: PathBuf::from(TSM_REPORT_DIR),
            dstack_sockets: DSTACK_SOCKETS.iter().map(PathBuf::from).collect(),
            probe_nvml: true,
        }
    }
}

/// What [`detect`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DetectReport {
    /// One probe per place looked at.
    pub probes: Vec<Probe>,
}

impl DetectReport {
    /// The platform (CPU TEE) source that would be used, if any: dstack first
    /// (it adds the event log and compose hash), then configfs-tsm.
    pub fn platform(&self) -> Option<&Probe> {
        let usable = |k: SourceKind| self.probes.iter().find(|p| p.kind == k && p.usable);
        usable(SourceKind::Dstack).or_else(|| usable(SourceKind::ConfigfsTsm))
    }

    /// Whether a platform TEE is present.
    pub fn tee_present(&self) -> bool {
        self.platform().is_some()
    }

    /// The NVML probe, if NVML was probed.
    pub fn gpu(&self) -> Option<&Probe> {
        self.probes.iter().find(|p| p.kind == SourceKind::Nvml)
    }
}

impl fmt::Display for DetectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform() {
            Some(p) => writeln!(f, "TEE present: {} ({})", p.kind, p.location)?,
            None => writeln!(
                f,
                "No TEE present: no Intel TDX evidence source is usable on this machine."
            )?,
        }
        match self.gpu() {
            Some(g) if g.usable => writeln!(f, "GPU confidential computing: usable")?,
            Some(_) => writeln!(f, "GPU confidential computing: not usable")?,
            None => {}
        }
        writeln!(f, "Sources looked for:")?;
        for p in &self.probes {
            writeln!(f, "  {p}")?;
            if let Some(st) = &p.nvml {
                for g in &st.gpus {
                    writeln!(f, "      {g}")?;
                }
            }
        }
        Ok(())
    }
}

/// Probes every known source with the default locations. On a machine without
/// a TEE, the report says so and explains, for each source, why it is unusable;
/// if NVML loads it reports each GPU's CC mode.
pub fn detect() -> DetectReport {
    detect_with(&DetectConfig::default())
}

/// [`detect`] with explicit locations.
pub fn detect_with(cfg: &DetectConfig) -> DetectReport {
    let mut probes = vec![ConfigfsTsmSource::new(&cfg.tsm_report_dir).probe()];
    for s in &cfg.dstack_sockets {
        probes.push(DstackSource::new(s).probe());
    }
    if cfg.probe_nvml {
        probes.push(NvmlSource.probe());
    }
    DetectReport { probes }
}

/// Produces attestations from a platform source and an optional GPU source.
pub struct Attester {
    platform: Box<dyn EvidenceSource>,
    gpu: Option<Box<dyn EvidenceSource>>,
}

impl fmt::Debug for Attester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attester")
            .field("platform", &self.platform.kind())
            .field("gpu", &self.gpu.as_ref().map(|g| g.kind()))
            .finish()
    }
}

impl Attester {
    /// Uses the given sources. `platform` must bind report data; `gpu`, if any,
    /// must bind the GPU nonce.
    pub fn new(
        platform: Box<dyn EvidenceSource>,
        gpu: Option<Box<dyn EvidenceSource>>,
    ) -> Result<Self, TeeError> {
        if platform.binding() != Binding::ReportData {
            return Err(TeeError::Source {
                source_name: "attester",
                detail: format!("{} cannot be the platform source", platform.kind()),
            });
        }
        if let Some(g) = &gpu {
            if g.binding() != Binding::GpuNonce {
                return Err(TeeError::Source {
                    source_name: "attester",
                    detail: format!("{} cannot be the GPU source", g.kind()),
                });
            }
        }
        Ok(Attester { platform, gpu })
    }

    /// Auto-detects: dstack or configfs-tsm for the platform, NVML for GPUs when
    /// every GPU is in CC mode. Errors with the detection report if no TEE is present.
    pub fn auto() -> Result<Self, TeeError> {
        Self::auto_with(&DetectConfig::default())
    }

    /// [`Attester::auto`] with explicit locations.
    pub fn auto_with(cfg: &DetectConfig) -> Result<Self, TeeError> {
        let report = detect_with(cfg);
        let platform: Box<dyn EvidenceSource> = match report.platform() {
            Some(p) if p.kind == SourceKind::Dstack => Box::new(DstackSource::new(&p.location)),
            Some(p) => Box::new(ConfigfsTsmSource::new(&p.location)),
            None => return Err(TeeError::NoTee(Box::new(report))),
        };
        let gpu: Option<Box<dyn EvidenceSource>> = match report.gpu() {
            Some(g) if g.usable => Some(Box::new(NvmlSource)),
            _ => None,
        };
        Self::new(platform, gpu)
    }

    /// INSECURE: attest with a local dev key (no TEE). Verifiers reject the
    /// result unless their policy sets `allow_dev`.
    pub fn dev(signer: DevSigner) -> Self {
        Attester {
            platform: Box::new(DevSource::new(signer)),
            gpu: None,
        }
    }

    /// The platform source kind.
    pub fn platform_kind(&self) -> SourceKind {
        self.platform.kind()
    }

    /// Whether GPU evidence will be included.
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Attests `statement`: collects GPU evidence (bound to the statement's GPU
    /// nonce), sets `gpu_evidence_digest`, then collects platform evidence over
    /// `report_data`. Any `gpu_evidence_digest` passed in is replaced.
    pub fn attest(&self, mut statement: Statement) -> Result<Attestation, TeeError> {
        statement.gpu_evidence_digest = None;
        let mut evidence = Vec::new();
        if let Some(gpu) = &self.gpu {
            let ev = gpu.collect(&BindingValue::GpuNonce(statement.gpu_nonce()))?;
            if let Evidence::NvidiaGpu(g) = &ev {
                statement.gpu_evidence_digest = Some(g.digest());
            }
            evidence.push(ev);
        }
        let report_data = statement.report_data();
        evidence.insert(
            0,
            self.platform
                .collect(&BindingValue::ReportData(report_data))?,
        );
        tracing::info!(
            platform = %self.platform.kind(),
            gpu = self.gpu.is_some(),
            report_data = %report_data,
            "attestation produced"
        );
        Ok(Attestation {
            version: ATTESTATION_VERSION,
            statement,
            report_data,
            evidence,
        })
    }
}
