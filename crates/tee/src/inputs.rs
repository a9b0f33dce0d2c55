//! Confidential inputs: HPKE (RFC 9180) to the prover's attested key.
//!
//! Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode.
//!
//! ```text
//! info = LP("cloak-tee/confidential-inputs/v1") || LP(key_statement.report_data())
//! aad  = caller-chosen associated data (carried, authenticated, in the envelope)
//! ```
//!
//! Binding `info` to the key statement's `report_data` means the ciphertext can
//! only be opened in the context of the exact attestation the sender verified.
//! Plaintext and secret keys live in zeroizing buffers, are never logged
//! (their `Debug` output is redacted, they have no `Display`) and this module
//! never writes them anywhere.

use std::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::attestation::check_version;
use crate::error::TeeError;
use crate::policy::Policy;
use crate::statement::Statement;
use crate::types::{HexBytes, InputPublicKey};
use crate::verify::VerifiedAttestation;

/// The HPKE suite, as written in envelopes.
pub const HPKE_SUITE: &str = "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/ChaCha20Poly1305";
/// Envelope format version.
pub const INPUTS_VERSION: u32 = 1;
const INFO_DOMAIN: &str = "cloak-tee/confidential-inputs/v1";
const MAX_ENVELOPE_BYTES: usize = 256 * 1024 * 1024;

type KemT = X25519HkdfSha256;

/// Encrypted confidential inputs (JSON). Safe to store and send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedInputs {
    /// Envelope version ([`INPUTS_VERSION`]).
    pub version: u32,
    /// HPKE suite ([`HPKE_SUITE`]).
    pub suite: String,
    /// The attested key statement the sender verified (its `input_key` is the recipient).
    pub key_statement: Statement,
    /// HPKE encapsulated key.
    pub enc: HexBytes,
    /// Ciphertext with the AEAD tag.
    pub ciphertext: HexBytes,
    /// Associated data (authenticated, not encrypted).
    pub aad: HexBytes,
}

impl EncryptedInputs {
    /// Parses an envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TeeError> {
        const WHAT: &str = "encrypted inputs file";
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(TeeError::TooLarge {
                what: WHAT,
                size: bytes.len() as u64,
                limit: MAX_ENVELOPE_BYTES as u64,
            });
        }
        check_version(WHAT, bytes, INPUTS_VERSION)?;
        let e: EncryptedInputs =
            serde_json::from_slice(bytes).map_err(|e| TeeError::Malformed {
                what: WHAT,
                detail: e.to_string(),
            })?;
        if e.suite != HPKE_SUITE {
            return Err(TeeError::Malformed {
                what: WHAT,
                detail: format!("suite {:?} is not {HPKE_SUITE:?}", e.suite),
            });
        }
        Ok(e)
    }

    /// Serializes to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn info(key_statement: &Statement) -> Vec<u8> {
    let rd = key_statement.report_data();
    let mut v = Vec::with_capacity(8 + INFO_DOMAIN.len() + 8 + 64);
    v.extend_from_slice(&(INFO_DOMAIN.len() as u64).to_le_bytes());
    v.extend_from_slice(INFO_DOMAIN.as_bytes());
    v.extend_from_slice(&64u64.to_le_bytes());
    v.extend_from_slice(rd.as_bytes());
    v
}

/// Decrypted inputs. Zeroized on drop; `Debug` shows only the length.
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    /// The bytes. Keep them in memory; do not log or write them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext(<redacted, {} bytes>)", self.0.len())
    }
}

/// The prover's HPKE secret key. Generated in memory, zeroized on drop, never
/// serialized, `Debug` redacted.
pub struct InputSecretKey {
    secret: Zeroizing<[u8; 32]>,
    public: InputPublicKey,
}

impl fmt::Debug for InputSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "InputSecretKey(public {}, secret <redacted>)",
            self.public
        )
    }
}

impl InputSecretKey {
    /// Generates a key from the OS CSPRNG.
    pub fn generate() -> Result<Self, TeeError> {
        let mut ikm = Zeroizing::new([0u8; 32]);
        getrandom::fill(ikm.as_mut())
            .map_err(|e| TeeError::Crypto(format!("OS random source: {e}")))?;
        Ok(Self::derive(ikm.as_ref()))
    }

    /// Derives a key deterministically from input keying material (RFC 9180 DeriveKeyPair).
    pub fn derive(ikm: &[u8]) -> Self {
        let (sk, pk) = KemT::derive_keypair(ikm);
        let mut secret = Zeroizing::new([0u8; 32]);
        let mut tmp = sk.to_bytes();
        secret.copy_from_slice(&tmp);
        tmp.as_mut_slice().zeroize();
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        InputSecretKey {
            secret,
            public: InputPublicKey(public),
        }
    }

    /// The public key to put in the statement.
    pub fn public_key(&self) -> InputPublicKey {
        self.public
    }

    /// Decrypts an envelope addressed to this key. The plaintext stays in memory.
    pub fn decrypt(&self, env: &EncryptedInputs) -> Result<Plaintext, TeeError> {
        if env.version != INPUTS_VERSION {
            return Err(TeeError::UnsupportedVersion {
                what: "encrypted inputs",
                found: u64::from(env.version),
                supported: u64::from(INPUTS_VERSION),
            });
        }
        if env.suite != HPKE_SUITE {
            return Err(TeeError::Crypto(format!(
                "unsupported suite {:?}",
                env.suite
            )));
        }
        match env.key_statement.input_key {
            Some(k) if k == self.public => {}
            Some(k) => {
                return Err(TeeError::Crypto(format!(
                    "encrypted to key {k}, but this prover's key is {}",
                    self.public
                )))
            }
            None => {
                return Err(TeeError::Crypto(
                    "the envelope's key statement carries no input key".into(),
                ))
            }
        }
        let sk = <KemT as Kem>::PrivateKey::from_bytes(self.secret.as_ref())
            .map_err(|_| TeeError::Crypto("invalid secret key".into()))?;
        let enc = <KemT as Kem>::EncappedKey::from_bytes(env.enc.as_slice())
            .map_err(|_| TeeError::Crypto("malformed encapsulated key".into()))?;
        let pt = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, KemT>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info(&env.key_statement),
            env.ciphertext.as_slice(),
            env.aad.as_slice(),
        )
        .map_err(|_| {
            TeeError::Crypto(
                "decryption failed: wrong key, tampered ciphertext, or different associated data / key statement".into(),
            )
        })?;
        tracing::debug!(bytes = pt.len(), "confidential inputs decrypted in memory");
        Ok(Plaintext(Zeroizing::new(pt)))
    }
}

/// Encrypts `inputs` to the key in a verified attestation's statement, with empty
/// associated data. See [`encrypt_inputs_with_aad`].
pub fn encrypt_inputs(
    verified: &VerifiedAttestation,
    policy: &Policy,
    inputs: &[u8],
) -> Result<EncryptedInputs, TeeError> {
    encrypt_inputs_with_aad(verified, policy, inputs, &[])
}

/// Encrypts `inputs` to the HPKE key carried in a *verified* attestation.
///
/// `policy` must be the policy the attestation was verified under (checked by
/// digest), so a key verified under a lax policy cannot be used where a strict
/// one is configured. `aad` is authenticated but not encrypted.
pub fn encrypt_inputs_with_aad(
    verified: &VerifiedAttestation,
    policy: &Policy,
    inputs: &[u8],
    aad: &[u8],
) -> Result<EncryptedInputs, TeeError> {
    if verified.policy_digest() != &policy.digest() {
        return Err(TeeError::Crypto(
            "the attestation was verified under a different policy; verify it under this policy first".into(),
        ));
    }
    if verified.is_insecure_dev() && !policy.allow_dev {
        return Err(TeeError::Crypto(
            "refusing to encrypt to a key attested only by INSECURE dev evidence".into(),
        ));
    }
    let statement = verified.statement().clone();
    let key = statement
        .input_key
        .ok_or_else(|| TeeError::Crypto("the verified statement carries no input key".into()))?;
    let pk = <KemT as Kem>::PublicKey::from_bytes(key.as_bytes())
        .map_err(|_| TeeError::Crypto("the attested input key is not a valid X25519 key".into()))?;
    let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, KemT, _>(
        &OpModeS::Base,
        &pk,
        &info(&statement),
        inputs,
        aad,
        &mut rng,
    )
    .map_err(|e| TeeError::Crypto(format!("HPKE seal: {e}")))?;
    tracing::debug!(bytes = inputs.len(), recipient = %key, "confidential inputs encrypted");
    Ok(EncryptedInputs {
        version: INPUTS_VERSION,
        suite: HPKE_SUITE.to_string(),
        key_statement: statement,
        enc: enc.to_bytes().to_vec().into(),
        ciphertext: ct.into(),
        aad: aad.to_vec().into(),
    })
}
