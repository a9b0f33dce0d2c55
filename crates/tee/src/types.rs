//! Small value types shared by the crate: fixed-size byte strings with hex
//! (de)serialization, variable-size hex bytes and the length-prefixed hasher
//! used by every digest this crate defines.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest;

use crate::error::TeeError;

/// Decodes a hex string (optional `0x` prefix, either case) into bytes.
pub(crate) fn decode_hex(what: &'static str, s: &str) -> Result<Vec<u8>, TeeError> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).map_err(|e| TeeError::Malformed {
        what,
        detail: format!("not valid hex ({e})"),
    })
}

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Parses a hex string of exactly `LEN` bytes (optional `0x` prefix).
            pub fn from_hex(s: &str) -> Result<Self, TeeError> {
                let bytes = decode_hex($what, s)?;
                Self::from_slice(&bytes)
            }

            /// Copies a slice of exactly `LEN` bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, TeeError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| TeeError::Malformed {
                    what: $what,
                    detail: format!("expected {} bytes, got {}", $len, bytes.len()),
                })?;
                Ok(Self(arr))
            }

            /// Lower-case hex, no prefix.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(b: [u8; $len]) -> Self {
                Self(b)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = TeeError;
            fn from_str(s: &str) -> Result<Self, TeeError> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_bytes!(
    /// A 32-byte digest (SHA-256 or similar), hex in files.
    Digest32,
    32,
    "32-byte digest"
);
fixed_bytes!(
    /// A 32-byte verifier nonce, hex in files. Use [`Nonce::random`] to make one.
    Nonce,
    32,
    "32-byte nonce"
);
fixed_bytes!(
    /// The 64-byte TDX `report_data` (see [`crate::Statement::report_data`]).
    ReportData,
    64,
    "64-byte report_data"
);
fixed_bytes!(
    /// A 48-byte TDX measurement register value (MRTD, RTMR0-3).
    Measurement,
    48,
    "48-byte measurement"
);
fixed_bytes!(
    /// An X25519 public key used to encrypt confidential inputs (HPKE `pkR`).
    InputPublicKey,
    32,
    "32-byte X25519 public key"
);
fixed_bytes!(
    /// An Ed25519 public key (insecure `dev` evidence only).
    DevPublicKey,
    32,
    "32-byte Ed25519 public key"
);
fixed_bytes!(
    /// An Ed25519 signature (insecure `dev` evidence only).
    DevSignature,
    64,
    "64-byte Ed25519 signature"
);

impl Nonce {
    /// A fresh random nonce from the operating system's CSPRNG.
    pub fn random() -> Result<Self, TeeError> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| TeeError::Crypto(format!("OS random source: {e}")))?;
        Ok(Self(b))
    }
}

/// Variable-length bytes, hex-encoded in files.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    /// The raw bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for HexBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 64 {
            write!(f, "HexBytes({})", hex::encode(&self.0))
        } else {
            write!(
                f,
                "HexBytes({}.. {} bytes)",
                hex::encode(&self.0[..32]),
                self.0.len()
            )
        }
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        decode_hex("hex bytes", &s)
            .map(HexBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// Hashes a sequence of fields, each written as `u64 little-endian length || bytes`.
///
/// An absent optional field is written as a zero-length field. Every present
/// field this crate writes has a fixed non-zero length, so the encoding is
/// unambiguous.
pub(crate) struct LengthPrefixed<D: Digest> {
    hasher: D,
}

impl<D: Digest> LengthPrefixed<D> {
    pub(crate) fn new(domain: &str) -> Self {
        let mut s = Self { hasher: D::new() };
        s.field(domain.as_bytes());
        s
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    pub(crate) fn opt_field<T: AsRef<[u8]>>(&mut self, v: Option<&T>) -> &mut Self {
        match v {
            Some(b) => self.field(b.as_ref()),
            None => self.field(&[]),
        }
    }

    pub(crate) fn finish(self) -> sha2::digest::Output<D> {
        self.hasher.finalize()
    }
}

/// Runs third-party parsing/verification code and turns a panic into an error,
/// so that no input can crash the caller even if a dependency has a bug.
pub(crate) fn no_panic<T>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, TeeError>,
) -> Result<T, TeeError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(TeeError::Malformed {
            what,
            detail: "the parser panicked on this input (treated as malformed)".into(),
        }),
    }
}

/// Current wall-clock time in Unix seconds (for callers that want "now";
/// tests always pass an explicit time).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
