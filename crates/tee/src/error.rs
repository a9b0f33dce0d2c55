//! The crate's error type.

use std::path::PathBuf;

use crate::detect::DetectReport;
use crate::verdict::Verdict;

/// Everything that can go wrong in this crate. Messages say what failed and where;
/// none of them ever contains confidential input plaintext or secret keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TeeError {
    /// Input that does not parse (file formats, quotes, hex, reports...).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed and where.
        detail: String,
    },
    /// A file format version this build does not read.
    #[error("unsupported {what} version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// Which format.
        what: &'static str,
        /// Version found in the input.
        found: u64,
        /// Version this build supports.
        supported: u64,
    },
    /// An input larger than this crate accepts.
    #[error("{what} is too large: {size} bytes (limit {limit})")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted ("read", "write", "create directory"...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An evidence source (configfs-tsm, dstack, NVML, dev) failed to produce evidence.
    #[error("evidence source `{source_name}` failed: {detail}")]
    Source {
        /// The source's name.
        source_name: &'static str,
        /// What failed.
        detail: String,
    },
    /// No platform TEE is available; the report says what was looked for and why
    /// each source is unusable.
    #[error("no TEE is present on this machine\n{0}")]
    NoTee(Box<DetectReport>),
    /// A TDX quote failed cryptographic or collateral verification.
    #[error("TDX quote verification failed: {0}")]
    QuoteVerification(String),
    /// DCAP collateral is missing, malformed or could not be fetched.
    #[error("TDX collateral: {0}")]
    Collateral(String),
    /// A policy file is invalid.
    #[error("invalid policy ({location}): {detail}")]
    Policy {
        /// Where in the policy (file, line/column or field).
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// The attestation did not satisfy the policy; the verdict lists every check.
    #[error("attestation REJECTED\n{0}")]
    Rejected(Box<Verdict>),
    /// Encryption/decryption of confidential inputs, or randomness, failed.
    #[error("confidential inputs: {0}")]
    Crypto(String),
}

impl TeeError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        TeeError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
