//! The proof format: a magic tag, a format version, then the postcard encoding
//! of the proof (a Plonky3 batch proof, or a structure holding them). Decoding is strict: a wrong tag or version is
//! named, and trailing bytes are rejected (plain postcard ignores them, which
//! would make proofs malleable).

use crate::config::Config;
use p3_batch_stark::BatchProof;
use thiserror::Error;

/// Identifies a Cloak proof file.
pub const MAGIC: [u8; 8] = *b"CLOAKPRF";
/// Bumped on any change to the encoding or to what is proven.
pub const FORMAT_VERSION: u32 = 4;

pub type StarkProof = BatchProof<Config>;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofFormatError {
    #[error("not a Cloak proof: the file does not start with \"CLOAKPRF\"")]
    BadMagic,
    #[error(
        "proof format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
    #[error("proof is truncated: {len} bytes, shorter than its 12-byte header")]
    Truncated { len: usize },
    #[error("malformed proof body at or after byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
    #[error("{extra} unexpected bytes after the proof body")]
    TrailingBytes { extra: usize },
}

/// Encodes a proof with its header.
pub fn encode<T: serde::Serialize>(proof: &T) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Serialising into a Vec cannot fail for these types.
    let body = postcard::to_allocvec(proof).unwrap_or_default();
    out.extend_from_slice(&body);
    out
}

/// Decodes a proof, checking the header and that nothing follows the body.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProofFormatError> {
    const HEADER: usize = MAGIC.len() + 4;
    if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
        return Err(ProofFormatError::BadMagic);
    }
    if bytes.len() < HEADER {
        return Err(ProofFormatError::Truncated { len: bytes.len() });
    }
    let found = u32::from_le_bytes(bytes[MAGIC.len()..HEADER].try_into().expect("4 bytes"));
    if found != FORMAT_VERSION {
        return Err(ProofFormatError::UnsupportedVersion { found });
    }
    let (proof, rest) = postcard::take_from_bytes::<T>(&bytes[HEADER..]).map_err(|e| {
        ProofFormatError::Malformed {
            offset: HEADER,
            reason: e.to_string(),
        }
    })?;
    if !rest.is_empty() {
        return Err(ProofFormatError::TrailingBytes { extra: rest.len() });
    }
    Ok(proof)
}
