//! The INSECURE `dev` evidence source, for machines without a TEE.
//!
//! It signs `report_data` with a local Ed25519 key. Anyone with the key can
//! forge it, so it proves nothing about where the prover ran. Every verifier in
//! this crate rejects it unless the policy sets `allow_dev = true`, and verdicts
//! label it INSECURE.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use crate::attestation::{DevEvidence, Evidence, DEV_WARNING};
use crate::error::TeeError;
use crate::sources::{Binding, BindingValue, EvidenceSource, Probe, SourceKind};
use crate::types::{DevPublicKey, DevSignature, ReportData};

const DEV_DOMAIN: &str = "cloak-tee/dev-evidence/v1";

fn message(rd: &ReportData) -> Vec<u8> {
    // The signed message is itself length-prefixed and domain-separated.
    let mut m = Vec::with_capacity(8 + DEV_DOMAIN.len() + 8 + 64);
    m.extend_from_slice(&(DEV_DOMAIN.len() as u64).to_le_bytes());
    m.extend_from_slice(DEV_DOMAIN.as_bytes());
    m.extend_from_slice(&64u64.to_le_bytes());
    m.extend_from_slice(rd.as_bytes());
    m
}

/// A local Ed25519 signing key for INSECURE dev evidence. The key is zeroized on drop
/// and never printed.
pub struct DevSigner {
    key: SigningKey,
}

impl fmt::Debug for DevSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DevSigner(public {}, secret <redacted>)",
            self.public_key()
        )
    }
}

impl DevSigner {
    /// A fresh random key.
    pub fn generate() -> Result<Self, TeeError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())
            .map_err(|e| TeeError::Crypto(format!("OS random source: {e}")))?;
        Ok(Self::from_seed(&seed))
    }

    /// A key from a 32-byte seed (deterministic; tests and reproducible dev setups).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        DevSigner {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key verifiers may pin in `allowed_dev_keys`.
    pub fn public_key(&self) -> DevPublicKey {
        DevPublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `report_data`, producing dev evidence.
    pub fn sign(&self, rd: &ReportData) -> DevEvidence {
        tracing::warn!("producing INSECURE dev evidence (no TEE)");
        DevEvidence {
            warning: DEV_WARNING.to_string(),
            public_key: self.public_key(),
            signature: DevSignature(self.key.sign(&message(rd)).to_bytes()),
        }
    }
}

/// Checks dev evidence's signature over `report_data`.
pub fn verify_dev_evidence(ev: &DevEvidence, rd: &ReportData) -> Result<(), String> {
    if ev.warning != DEV_WARNING {
        return Err(format!("warning text must be {DEV_WARNING:?}"));
    }
    let key = VerifyingKey::from_bytes(ev.public_key.as_bytes())
        .map_err(|_| "public key is not a valid Ed25519 point".to_string())?;
    let sig = ed25519_dalek::Signature::from_bytes(ev.signature.as_bytes());
    key.verify(&message(rd), &sig)
        .map_err(|_| "signature does not verify over this report_data".to_string())
}

/// The dev source: an [`EvidenceSource`] wrapping a [`DevSigner`].
#[derive(Debug)]
pub struct DevSource {
    signer: DevSigner,
}

impl DevSource {
    /// Wraps a signer.
    pub fn new(signer: DevSigner) -> Self {
        DevSource { signer }
    }
}

impl EvidenceSource for DevSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Dev
    }

    fn binding(&self) -> Binding {
        Binding::ReportData
    }

    fn probe(&self) -> Probe {
        Probe {
            kind: SourceKind::Dev,
            location: format!("local key {}", self.signer.public_key()),
            usable: true,
            detail: "INSECURE: signatures by a local key, no TEE".into(),
            nvml: None,
        }
    }

    fn collect(&self, binding: &BindingValue) -> Result<Evidence, TeeError> {
        match binding {
            BindingValue::ReportData(rd) => Ok(Evidence::Dev(self.signer.sign(rd))),
            BindingValue::GpuNonce(_) => Err(TeeError::Source {
                source_name: "dev",
                detail: "dev evidence binds report_data".into(),
            }),
        }
    }
}
