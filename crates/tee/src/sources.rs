//! Evidence sources behind one trait, and the configfs-tsm (Intel TDX) source.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::attestation::{Evidence, TdxEvidence};
use crate::error::TeeError;
use crate::gpu::NvmlStatus;
use crate::types::ReportData;

/// Default configfs-tsm report directory.
pub const TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// Which source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Intel TDX through Linux configfs-tsm.
    ConfigfsTsm,
    /// dstack's guest agent.
    Dstack,
    /// NVIDIA GPU through NVML.
    Nvml,
    /// INSECURE local signing key.
    Dev,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::ConfigfsTsm => "Intel TDX via configfs-tsm",
            SourceKind::Dstack => "dstack guest agent (Intel TDX)",
            SourceKind::Nvml => "NVIDIA GPU confidential computing via NVML",
            SourceKind::Dev => "dev (INSECURE local key, no TEE)",
        })
    }
}

/// What a source binds its evidence to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// The statement's 64-byte `report_data` (platform sources).
    ReportData,
    /// The statement's 32-byte GPU nonce (GPU sources; collected first).
    GpuNonce,
}

/// The value evidence is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingValue {
    /// See [`Binding::ReportData`].
    ReportData(ReportData),
    /// See [`Binding::GpuNonce`].
    GpuNonce([u8; 32]),
}

/// Whether a source can be used here, and why (not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Which source.
    pub kind: SourceKind,
    /// Where it was looked for (path, socket, library).
    pub location: String,
    /// Whether it can produce evidence.
    pub usable: bool,
    /// What was found, or why it is not usable.
    pub detail: String,
    /// GPU details, for the NVML source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvml: Option<NvmlStatus>,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} at {}: {}",
            if self.usable { "x" } else { " " },
            self.kind,
            self.location,
            self.detail
        )
    }
}

/// A producer of evidence.
pub trait EvidenceSource: Send + Sync {
    /// Which source this is.
    fn kind(&self) -> SourceKind;
    /// What the evidence binds to.
    fn binding(&self) -> Binding;
    /// Checks whether the source is usable on this machine (cheap, no evidence produced).
    fn probe(&self) -> Probe;
    /// Produces evidence bound to `binding`.
    fn collect(&self, binding: &BindingValue) -> Result<Evidence, TeeError>;
}

/// Intel TDX quotes through the Linux configfs-tsm interface
/// (`/sys/kernel/config/tsm/report`): create an entry, write `inblob`
/// (the 64-byte report data), read `outblob` (the quote), remove the entry.
#[derive(Clone, Debug)]
pub struct ConfigfsTsmSource {
    dir: PathBuf,
}

impl Default for ConfigfsTsmSource {
    fn default() -> Self {
        Self::new(TSM_REPORT_DIR)
    }
}

impl ConfigfsTsmSource {
    /// A source using the given report directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConfigfsTsmSource { dir: dir.into() }
    }

    fn err(detail: String) -> TeeError {
        TeeError::Source {
            source_name: "configfs-tsm",
            detail,
        }
    }
}

fn read_trimmed(path: &Path) -> Result<String, TeeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| TeeError::io("read", path, e))
}

impl EvidenceSource for ConfigfsTsmSource {
    fn kind(&self) -> SourceKind {
        SourceKind::ConfigfsTsm
    }

    fn binding(&self) -> Binding {
        Binding::ReportData
    }

    fn probe(&self) -> Probe {
        let (usable, detail) = match std::fs::metadata(&self.dir) {
            Ok(m) if m.is_dir() => {
                // Only a TDX guest kernel registers a provider; an entry is needed to see it,
                // so report what we can without creating one.
                match probe_provider(&self.dir) {
                    Ok(provider) if provider == "tdx_guest" => {
                        (true, "present, provider tdx_guest".to_string())
                    }
                    Ok(provider) => (
                        false,
                        format!("present, but the provider is `{provider}`, not tdx_guest"),
                    ),
                    Err(e) => (false, format!("present but not usable: {e}")),
                }
            }
            Ok(_) => (false, "exists but is not a directory".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                false,
                "does not exist (not a confidential VM, configfs not mounted, or a kernel without CONFIG_TSM_REPORTS)"
                    .to_string(),
            ),
            Err(e) => (false, format!("cannot be accessed: {e}")),
        };
        Probe {
            kind: SourceKind::ConfigfsTsm,
            location: self.dir.display().to_string(),
            usable,
            detail,
            nvml: None,
        }
    }

    fn collect(&self, binding: &BindingValue) -> Result<Evidence, TeeError> {
        let BindingValue::ReportData(rd) = binding else {
            return Err(Self::err(
                "TDX quotes bind report_data, not a GPU nonce".into(),
            ));
        };
        let entry = TsmEntry::create(&self.dir)?;
        let provider = read_trimmed(&entry.path.join("provider"))?;
        if provider != "tdx_guest" {
            return Err(Self::err(format!(
                "provider is `{provider}`, not tdx_guest: this is not an Intel TDX guest"
            )));
        }
        let gen_before = read_trimmed(&entry.path.join("generation"))?;
        let inblob = entry.path.join("inblob");
        std::fs::write(&inblob, rd.as_bytes()).map_err(|e| TeeError::io("write", &inblob, e))?;
        let outblob = entry.path.join("outblob");
        let mut quote = Vec::new();
        std::fs::File::open(&outblob)
            .and_then(|f| f.take(1024 * 1024).read_to_end(&mut quote))
            .map_err(|e| TeeError::io("read", &outblob, e))?;
        let gen_after = read_trimmed(&entry.path.join("generation"))?;
        let expected = gen_before
            .parse::<u64>()
            .ok()
            .and_then(|g| g.checked_add(1))
            .map(|g| g.to_string());
        if expected.as_deref() != Some(gen_after.as_str()) {
            return Err(Self::err(format!(
                "generation went from {gen_before} to {gen_after}: another process wrote to the entry concurrently; retry"
            )));
        }
        if quote.is_empty() {
            return Err(Self::err("the kernel returned an empty quote".into()));
        }
        Ok(Evidence::Tdx(TdxEvidence {
            quote: quote.into(),
            collateral: None,
        }))
    }
}

/// A configfs-tsm report entry, removed on drop.
struct TsmEntry {
    path: PathBuf,
}

impl TsmEntry {
    fn create(dir: &Path) -> Result<Self, TeeError> {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd)
            .map_err(|e| TeeError::Crypto(format!("OS random source: {e}")))?;
        let path = dir.join(format!("cloak-{}-{}", std::process::id(), hex::encode(rnd)));
        std::fs::create_dir(&path).map_err(|e| TeeError::io("create directory", &path, e))?;
        Ok(TsmEntry { path })
    }
}

impl Drop for TsmEntry {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove configfs-tsm entry");
        }
    }
}

fn probe_provider(dir: &Path) -> Result<String, TeeError> {
    let entry = TsmEntry::create(dir)?;
    read_trimmed(&entry.path.join("provider"))
}
