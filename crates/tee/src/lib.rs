//! TEE attestation evidence, statement binding and confidential inputs for Cloak.
//!
//! * [`Statement`] and its versioned 64-byte [`Statement::report_data`] binding.
//! * Evidence sources behind [`EvidenceSource`]: Intel TDX via configfs-tsm
//!   ([`ConfigfsTsmSource`]), dstack's guest agent ([`DstackSource`]), NVIDIA GPU
//!   CC via NVML ([`NvmlSource`]), and the INSECURE [`DevSource`]. [`detect`]
//!   reports what is usable; [`Attester`] produces an [`Attestation`].
//! * Verification: [`verify_attestation`] / [`evaluate_attestation`] against a
//!   TOML [`Policy`], giving a [`Verdict`] (Display + JSON).
//! * TDX quotes: [`inspect_quote`], [`verify_quote`] (dcap-qvl, offline collateral).
//! * Confidential inputs: [`encrypt_inputs`] (HPKE to the attested key) and
//!   [`InputSecretKey::decrypt`] on the prover.
//!
//! See `README.md` in this crate for the flows and the file formats.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attestation;
mod detect;
mod dev;
mod dstack;
mod error;
mod gpu;
mod inputs;
mod policy;
mod sources;
mod statement;
mod tdx;
mod types;
mod verdict;
mod verify;
mod x509;

pub use attestation::{
    Attestation, DevEvidence, DstackEvent, DstackEvidence, Evidence, GpuDeviceEvidence,
    NvidiaGpuEvidence, TdxEvidence, ATTESTATION_VERSION, DEV_WARNING, MAX_ATTESTATION_BYTES,
};
pub use detect::{detect, detect_with, Attester, DetectConfig, DetectReport};
pub use dev::{verify_dev_evidence, DevSigner, DevSource};
pub use dstack::{
    parse_event_log, parse_http_response, replay_rtmr3, DstackSource, ReplayedRtmr3,
    DSTACK_RUNTIME_EVENT_TYPE, DSTACK_SOCKETS,
};
pub use error::TeeError;
pub use gpu::{
    nvml_status, verify_gpu_cert_chain, verify_gpu_device, GpuCcStatus, GpuCheck, GpuReport,
    NvmlSource, NvmlStatus, NVIDIA_DEVICE_ROOT_CA_PEM,
};
pub use inputs::{
    encrypt_inputs, encrypt_inputs_with_aad, EncryptedInputs, InputSecretKey, Plaintext,
    HPKE_SUITE, INPUTS_VERSION,
};
pub use policy::{AllowedMeasurements, Policy, TcbStatus, POLICY_VERSION};
pub use sources::{
    Binding, BindingValue, ConfigfsTsmSource, EvidenceSource, Probe, SourceKind, TSM_REPORT_DIR,
};
pub use statement::{ExpectedStatement, Statement, GPU_NONCE_DOMAIN, REPORT_DATA_DOMAIN};
#[cfg(feature = "pccs")]
pub use tdx::fetch_collateral;
pub use tdx::{
    inspect_quote, inspect_quote_with_collateral, verify_quote, verify_quote_with_policy,
    Collateral, QuoteInfo, TcbResult, VerifiedQuote,
};
pub use types::{
    unix_now, DevPublicKey, DevSignature, Digest32, HexBytes, InputPublicKey, Measurement, Nonce,
    ReportData,
};
pub use verdict::{Check, GpuSummary, Outcome, Verdict};
pub use verify::{evaluate_attestation, verify_attestation, VerifiedAttestation, VerifyOptions};
