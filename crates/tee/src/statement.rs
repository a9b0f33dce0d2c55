//! The statement an attestation binds, and its 64-byte `report_data` encoding.
//!
//! # `report_data`, version 1
//!
//! ```text
//! report_data = SHA-512(
//!     LP("cloak-tee/report-data/v1")
//!  || LP(program_vk_digest)        32 bytes, or empty if absent
//!  || LP(public_values_digest)     32 bytes, or empty
//!  || LP(exit_code)                u32 little-endian (4 bytes), or empty
//!  || LP(proof_digest)             32 bytes, or empty
//!  || LP(input_key)                32-byte X25519 HPKE public key, or empty
//!  || LP(gpu_evidence_digest)      32 bytes, or empty
//!  || LP(nonce)                    32 bytes, always present
//! )
//! LP(x) = u64_le(len(x)) || x
//! ```
//!
//! Every present field has a fixed non-zero length, so "absent" (length 0) can
//! never be confused with a value. The domain tag carries the version: a
//! future encoding changes the tag, so digests of different versions never
//! collide. The whole 64-byte SHA-512 output is the TDX `REPORTDATA`.
//!
//! # GPU nonce
//!
//! GPU evidence is collected before the statement is final (its digest is a
//! statement field), so the GPU attestation report is requested with a nonce
//! derived from every *other* field:
//!
//! ```text
//! gpu_nonce = SHA-256(LP("cloak-tee/gpu-nonce/v1") || LP(vk) || LP(public_values)
//!                     || LP(exit_code) || LP(proof) || LP(input_key) || LP(nonce))
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

use crate::types::{Digest32, InputPublicKey, LengthPrefixed, Nonce, ReportData};

/// Domain tag (and version) of the `report_data` encoding.
pub const REPORT_DATA_DOMAIN: &str = "cloak-tee/report-data/v1";
/// Domain tag of the GPU nonce derivation.
pub const GPU_NONCE_DOMAIN: &str = "cloak-tee/gpu-nonce/v1";

/// What an attestation vouches for.
///
/// Two shapes are used in practice:
/// * a *key statement* (before proving): `input_key` and `nonce`, optionally the
///   program's `program_vk_digest`; users verify it and encrypt inputs to the key;
/// * a *proof statement* (after proving): additionally the proof digest, the
///   public-values digest and the exit code.
///
/// Absent fields are `None` and are encoded as empty (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Digest of the program's verifying key (identifies the guest program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_vk_digest: Option<Digest32>,
    /// Digest of the proof's public values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_values_digest: Option<Digest32>,
    /// The guest's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u32>,
    /// Digest of the proof bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_digest: Option<Digest32>,
    /// The prover's HPKE (X25519) public key for confidential inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_key: Option<InputPublicKey>,
    /// Digest of the GPU evidence carried in the attestation (set by the attester).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_evidence_digest: Option<Digest32>,
    /// The verifier's nonce (freshness).
    pub nonce: Nonce,
}

impl Statement {
    /// A statement with only the verifier nonce set.
    pub fn new(nonce: Nonce) -> Self {
        Statement {
            program_vk_digest: None,
            public_values_digest: None,
            exit_code: None,
            proof_digest: None,
            input_key: None,
            gpu_evidence_digest: None,
            nonce,
        }
    }

    /// A key statement: announces `input_key` for the verifier's `nonce`.
    pub fn for_input_key(nonce: Nonce, input_key: InputPublicKey) -> Self {
        Statement {
            input_key: Some(input_key),
            ..Statement::new(nonce)
        }
    }

    /// A proof statement.
    pub fn for_proof(
        nonce: Nonce,
        program_vk_digest: Digest32,
        public_values_digest: Digest32,
        exit_code: u32,
        proof_digest: Digest32,
    ) -> Self {
        Statement {
            program_vk_digest: Some(program_vk_digest),
            public_values_digest: Some(public_values_digest),
            exit_code: Some(exit_code),
            proof_digest: Some(proof_digest),
            ..Statement::new(nonce)
        }
    }

    /// Sets the program's verifying-key digest.
    pub fn with_program_vk_digest(mut self, d: Digest32) -> Self {
        self.program_vk_digest = Some(d);
        self
    }

    /// Sets the HPKE input key.
    pub fn with_input_key(mut self, k: InputPublicKey) -> Self {
        self.input_key = Some(k);
        self
    }

    /// The 64-byte `report_data` this statement binds to (version 1 encoding).
    pub fn report_data(&self) -> ReportData {
        let exit = self.exit_code.map(u32::to_le_bytes);
        let mut h = LengthPrefixed::<Sha512>::new(REPORT_DATA_DOMAIN);
        h.opt_field(self.program_vk_digest.as_ref())
            .opt_field(self.public_values_digest.as_ref())
            .opt_field(exit.as_ref())
            .opt_field(self.proof_digest.as_ref())
            .opt_field(self.input_key.as_ref())
            .opt_field(self.gpu_evidence_digest.as_ref())
            .field(self.nonce.as_bytes());
        let out = h.finish();
        let mut rd = [0u8; 64];
        rd.copy_from_slice(&out);
        ReportData(rd)
    }

    /// The 32-byte nonce a GPU attestation report for this statement must carry.
    /// It covers every field except `gpu_evidence_digest`.
    pub fn gpu_nonce(&self) -> [u8; 32] {
        let exit = self.exit_code.map(u32::to_le_bytes);
        let mut h = LengthPrefixed::<Sha256>::new(GPU_NONCE_DOMAIN);
        h.opt_field(self.program_vk_digest.as_ref())
            .opt_field(self.public_values_digest.as_ref())
            .opt_field(exit.as_ref())
            .opt_field(self.proof_digest.as_ref())
            .opt_field(self.input_key.as_ref())
            .field(self.nonce.as_bytes());
        h.finish().into()
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref()
                .map(|x| x.to_string())
                .unwrap_or_else(|| "(absent)".into())
        }
        writeln!(
            f,
            "  program vk digest:    {}",
            opt(&self.program_vk_digest)
        )?;
        writeln!(
            f,
            "  public values digest: {}",
            opt(&self.public_values_digest)
        )?;
        writeln!(f, "  exit code:            {}", opt(&self.exit_code))?;
        writeln!(f, "  proof digest:         {}", opt(&self.proof_digest))?;
        writeln!(f, "  input key (X25519):   {}", opt(&self.input_key))?;
        writeln!(
            f,
            "  GPU evidence digest:  {}",
            opt(&self.gpu_evidence_digest)
        )?;
        write!(f, "  nonce:                {}", self.nonce)
    }
}

/// Statement fields a verifier expects; every `Some` field must be present in
/// the attested statement and equal. Use it to check that an attestation is
/// about *your* proof and *your* nonce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedStatement {
    /// Expected program verifying-key digest.
    pub program_vk_digest: Option<Digest32>,
    /// Expected public-values digest.
    pub public_values_digest: Option<Digest32>,
    /// Expected exit code.
    pub exit_code: Option<u32>,
    /// Expected proof digest.
    pub proof_digest: Option<Digest32>,
    /// Expected HPKE input key.
    pub input_key: Option<InputPublicKey>,
    /// Expected verifier nonce.
    pub nonce: Option<Nonce>,
}

impl ExpectedStatement {
    /// Expect everything a proof statement carries.
    pub fn proof(
        nonce: Nonce,
        program_vk_digest: Digest32,
        public_values_digest: Digest32,
        exit_code: u32,
        proof_digest: Digest32,
    ) -> Self {
        ExpectedStatement {
            program_vk_digest: Some(program_vk_digest),
            public_values_digest: Some(public_values_digest),
            exit_code: Some(exit_code),
            proof_digest: Some(proof_digest),
            input_key: None,
            nonce: Some(nonce),
        }
    }

    /// Compares against an attested statement: one `(field, Ok | Err(detail))` per expected field.
    pub(crate) fn compare(&self, s: &Statement) -> Vec<(&'static str, Result<String, String>)> {
        fn cmp<T: PartialEq + fmt::Display>(
            name: &'static str,
            want: &Option<T>,
            got: &Option<T>,
            out: &mut Vec<(&'static str, Result<String, String>)>,
        ) {
            if let Some(w) = want {
                let r = match got {
                    Some(g) if g == w => Ok(format!("{g}")),
                    Some(g) => Err(format!("attested {g}, expected {w}")),
                    None => Err(format!("absent from the attested statement, expected {w}")),
                };
                out.push((name, r));
            }
        }
        let mut out = Vec::new();
        cmp(
            "program vk digest",
            &self.program_vk_digest,
            &s.program_vk_digest,
            &mut out,
        );
        cmp(
            "public values digest",
            &self.public_values_digest,
            &s.public_values_digest,
            &mut out,
        );
        cmp("exit code", &self.exit_code, &s.exit_code, &mut out);
        cmp(
            "proof digest",
            &self.proof_digest,
            &s.proof_digest,
            &mut out,
        );
        cmp("input key", &self.input_key, &s.input_key, &mut out);
        cmp("nonce", &self.nonce, &Some(s.nonce), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> Digest32 {
        Digest32([b; 32])
    }

    #[test]
    fn every_field_changes_report_data() {
        let base = Statement {
            program_vk_digest: Some(d(1)),
            public_values_digest: Some(d(2)),
            exit_code: Some(0),
            proof_digest: Some(d(3)),
            input_key: Some(InputPublicKey([4; 32])),
            gpu_evidence_digest: Some(d(5)),
            nonce: Nonce([6; 32]),
        };
        let rd = base.report_data();
        let variants = [
            Statement {
                program_vk_digest: None,
                ..base.clone()
            },
            Statement {
                public_values_digest: Some(d(9)),
                ..base.clone()
            },
            Statement {
                exit_code: Some(1),
                ..base.clone()
            },
            Statement {
                proof_digest: Some(d(9)),
                ..base.clone()
            },
            Statement {
                input_key: None,
                ..base.clone()
            },
            Statement {
                gpu_evidence_digest: None,
                ..base.clone()
            },
            Statement {
                nonce: Nonce([7; 32]),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.report_data(), rd, "{v:?}");
        }
        // Moving a value between two fields of the same size changes the digest too.
        let swapped = Statement {
            program_vk_digest: Some(d(2)),
            public_values_digest: Some(d(1)),
            ..base.clone()
        };
        assert_ne!(swapped.report_data(), rd);
    }

    #[test]
    fn gpu_nonce_ignores_only_gpu_digest() {
        let a = Statement::for_input_key(Nonce([1; 32]), InputPublicKey([2; 32]));
        let mut b = a.clone();
        b.gpu_evidence_digest = Some(d(3));
        assert_eq!(a.gpu_nonce(), b.gpu_nonce());
        let c = Statement {
            exit_code: Some(0),
            ..a.clone()
        };
        assert_ne!(a.gpu_nonce(), c.gpu_nonce());
    }

    #[test]
    fn report_data_is_stable() {
        // Pins the version-1 encoding: changing it must change the domain tag.
        let s = Statement::new(Nonce([0; 32]));
        let mut h = sha2::Sha512::default();
        use sha2::Digest;
        h.update((REPORT_DATA_DOMAIN.len() as u64).to_le_bytes());
        h.update(REPORT_DATA_DOMAIN.as_bytes());
        for _ in 0..6 {
            h.update(0u64.to_le_bytes());
        }
        h.update(32u64.to_le_bytes());
        h.update([0u8; 32]);
        assert_eq!(s.report_data().0.as_slice(), h.finalize().as_slice());
    }
}
