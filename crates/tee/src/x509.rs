//! Strict PEM certificate chains and ECDSA certificate signature checks
//! (P-256/SHA-256 for Intel, P-384/SHA-384 for NVIDIA).

use der::Encode;
use x509_cert::Certificate;

use crate::error::TeeError;

const OID_ECDSA_SHA256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const MAX_CHAIN_CERTS: usize = 16;

/// Intel SGX Root CA (DER), the trust anchor of DCAP quotes and collateral.
/// SHA-256 fingerprint 44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3.
pub(crate) const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("certs/intel_sgx_root_ca.der");

/// Parses a PEM certificate bundle strictly: only certificate blocks separated
/// by line breaks, optionally followed by NUL padding. Any other byte is an
/// error, so a changed byte anywhere is either a different certificate or a
/// parse failure.
pub(crate) fn strict_pem_chain(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<Certificate>, TeeError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let err = |detail: String| TeeError::Malformed { what, detail };
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let body_end = pem.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let mut rest = &pem[..body_end];
    let mut certs = Vec::new();
    loop {
        if !rest.starts_with(BEGIN) {
            return Err(err(format!(
                "expected `-----BEGIN CERTIFICATE-----` at byte {}",
                body_end - rest.len()
            )));
        }
        let end = find(rest, END)
            .ok_or_else(|| err(format!("certificate {} has no END line", certs.len())))?
            + END.len();
        let block = std::str::from_utf8(&rest[..end])
            .map_err(|_| err(format!("certificate {}: not ASCII", certs.len())))?;
        let (label, der_bytes) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| err(format!("certificate {}: {e}", certs.len())))?;
        if label != "CERTIFICATE" {
            return Err(err(format!(
                "block {} is a {label}, not a CERTIFICATE",
                certs.len()
            )));
        }
        let cert = <Certificate as der::Decode>::from_der(&der_bytes)
            .map_err(|e| err(format!("certificate {}: {e}", certs.len())))?;
        // Reject encodings the decoder tolerates but that are not the canonical DER
        // (otherwise two different byte strings would be the "same" certificate).
        if cert.to_der().ok().as_deref() != Some(der_bytes.as_slice()) {
            return Err(err(format!(
                "certificate {} is not canonical DER",
                certs.len()
            )));
        }
        certs.push(cert);
        if certs.len() > MAX_CHAIN_CERTS {
            return Err(err(format!("more than {MAX_CHAIN_CERTS} certificates")));
        }
        rest = &rest[end..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .unwrap_or(rest);
        if rest.is_empty() {
            return Ok(certs);
        }
    }
}

/// Subject name, for messages.
pub(crate) fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}

/// Checks that `cert` is signed by `issuer`'s key (ECDSA P-256/SHA-256 or P-384/SHA-384).
pub(crate) fn verify_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| format!("re-encoding: {e}"))?;
    let sig = cert
        .signature()
        .as_bytes()
        .ok_or("signature has unused bits")?;
    let key = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    let alg = cert.signature_algorithm().oid;
    let ok = if alg == OID_ECDSA_SHA256 {
        use p256::ecdsa::signature::Verifier;
        let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
            .map_err(|_| format!("issuer `{}` has no P-256 key", subject(issuer)))?;
        let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| "malformed ECDSA signature")?;
        k.verify(&tbs, &s).is_ok()
    } else if alg == OID_ECDSA_SHA384 {
        use p384::ecdsa::signature::Verifier;
        let k = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
            .map_err(|_| format!("issuer `{}` has no P-384 key", subject(issuer)))?;
        let s = p384::ecdsa::Signature::from_der(sig).map_err(|_| "malformed ECDSA signature")?;
        k.verify(&tbs, &s).is_ok()
    } else {
        return Err(format!("unsupported signature algorithm {alg}"));
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "signature does not verify with the key of `{}`",
            subject(issuer)
        ))
    }
}

/// Verifies a chain (leaf first) up to the trust anchor `root_der`: each
/// certificate is signed by the next, and the chain's last certificate is the
/// anchor itself or is signed by it. Validity periods are checked at `time`
/// when given.
pub(crate) fn verify_chain_to(
    certs: &[Certificate],
    root_der: &[u8],
    time: Option<u64>,
) -> Result<(), String> {
    let root = <Certificate as der::Decode>::from_der(root_der)
        .map_err(|e| format!("trust anchor: {e}"))?;
    let mut chain: Vec<&Certificate> = certs.iter().collect();
    let ends_with_root = chain
        .last()
        .and_then(|c| c.to_der().ok())
        .is_some_and(|d| d == root_der);
    if !ends_with_root {
        chain.push(&root);
    }
    if chain.len() < 2 {
        return Err("the chain holds only the root certificate".into());
    }
    for (i, pair) in chain.windows(2).enumerate() {
        let (cert, issuer) = (pair[0], pair[1]);
        if let Some(t) = time {
            check_validity(cert, t)
                .map_err(|e| format!("certificate {i} `{}`: {e}", subject(cert)))?;
        }
        verify_signed_by(cert, issuer)
            .map_err(|e| format!("certificate {i} `{}`: {e}", subject(cert)))?;
    }
    if let Some(t) = time {
        check_validity(&root, t).map_err(|e| format!("root `{}`: {e}", subject(&root)))?;
    }
    verify_signed_by(&root, &root).map_err(|e| format!("root self-signature: {e}"))
}

pub(crate) fn check_validity(cert: &Certificate, time: u64) -> Result<(), String> {
    let v = cert.tbs_certificate().validity();
    let nb = v.not_before.to_unix_duration().as_secs();
    let na = v.not_after.to_unix_duration().as_secs();
    if time < nb || time > na {
        return Err(format!("not valid at {time} (valid {nb}..{na})"));
    }
    Ok(())
}
