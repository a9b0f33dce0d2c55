//! Intel TDX quotes: parsing (`inspect_quote`), DCAP verification with
//! dcap-qvl, collateral handling and the quote-level policy checks.

use std::fmt;
use std::path::Path;

use dcap_qvl::quote::{AuthData, Quote, Report};
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy, TcbStatus};
use serde::{Deserialize, Serialize};

use crate::attestation::read_limited;
use crate::error::TeeError;
use crate::policy::Policy;
use crate::types::{no_panic, Measurement, ReportData};
use crate::verdict::Check;
use crate::x509::{strict_pem_chain, verify_chain_to, INTEL_SGX_ROOT_CA_DER};

const TEE_TYPE_SGX: u32 = 0x0000_0000;
const TEE_TYPE_TDX: u32 = 0x0000_0081;
const MAX_QUOTE_BYTES: usize = 1024 * 1024;
const MAX_COLLATERAL_BYTES: usize = 8 * 1024 * 1024;

/// DCAP collateral for a quote (PCK CRL chain, TCB info, QE identity, ...),
/// in the JSON format produced by dcap-qvl / a PCCS fetch (see the fixtures).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Collateral(pub QuoteCollateralV3);

impl fmt::Debug for Collateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.validity_window() {
            Ok((a, b)) => write!(f, "Collateral(valid {a}..{b})"),
            Err(_) => write!(f, "Collateral(unparsed dates)"),
        }
    }
}

impl Collateral {
    /// Parses collateral JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TeeError> {
        if bytes.len() > MAX_COLLATERAL_BYTES {
            return Err(TeeError::TooLarge {
                what: "collateral file",
                size: bytes.len() as u64,
                limit: MAX_COLLATERAL_BYTES as u64,
            });
        }
        serde_json::from_slice(bytes)
            .map(Collateral)
            .map_err(|e| TeeError::Malformed {
                what: "collateral JSON",
                detail: e.to_string(),
            })
    }

    /// Reads a collateral JSON file.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self, TeeError> {
        let path = path.as_ref();
        let bytes = read_limited("collateral file", path, MAX_COLLATERAL_BYTES)?;
        Self::from_json(&bytes).map_err(|e| match e {
            TeeError::Malformed { what, detail } => TeeError::Malformed {
                what,
                detail: format!("{}: {detail}", path.display()),
            },
            other => other,
        })
    }

    /// Serializes to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).unwrap_or_default()
    }

    /// The window `[latest issueDate, earliest nextUpdate]` of the TCB info and
    /// QE identity, in Unix seconds. (CRLs and certificates are also checked
    /// during verification; this is the window callers usually need.)
    pub fn validity_window(&self) -> Result<(u64, u64), TeeError> {
        let (a1, b1) = json_dates("TCB info", &self.0.tcb_info)?;
        let (a2, b2) = json_dates("QE identity", &self.0.qe_identity)?;
        Ok((a1.max(a2), b1.min(b2)))
    }
}

fn json_dates(what: &'static str, json: &str) -> Result<(u64, u64), TeeError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Dates {
        issue_date: String,
        next_update: String,
    }
    let d: Dates = serde_json::from_str(json).map_err(|e| TeeError::Malformed {
        what,
        detail: format!("issueDate/nextUpdate: {e}"),
    })?;
    Ok((
        parse_rfc3339(what, &d.issue_date)?,
        parse_rfc3339(what, &d.next_update)?,
    ))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` into Unix seconds.
pub(crate) fn parse_rfc3339(what: &'static str, s: &str) -> Result<u64, TeeError> {
    let bad = || TeeError::Malformed {
        what,
        detail: format!("bad timestamp {s:?} (expected YYYY-MM-DDTHH:MM:SSZ)"),
    };
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u64, TeeError> {
        let part = s.get(r).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<u64>().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = s.get(19..).ok_or_else(bad)?;
    let frac_ok = rest == "Z"
        || (rest.len() > 2
            && rest.starts_with('.')
            && rest.ends_with('Z')
            && rest
                .bytes()
                .skip(1)
                .take(rest.len() - 2)
                .all(|c| c.is_ascii_digit()));
    if !frac_ok || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm), valid for years >= 1970 here.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468).ok_or_else(bad)?;
    Ok(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// TCB result of verifying a quote against collateral.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcbResult {
    /// The quote verified; this is the platform's TCB status.
    Verified {
        /// Converged TCB status.
        status: TcbStatus,
        /// Intel advisory ids that apply.
        advisory_ids: Vec<String>,
        /// Earliest expiry of any collateral item (Unix seconds).
        collateral_expires: u64,
    },
    /// Verification failed.
    Failed(String),
}

/// The fields of a quote, for people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuoteInfo {
    /// Quote format version (4 or 5).
    pub version: u16,
    /// TEE type code (0x81 = TDX, 0 = SGX).
    pub tee_type: u32,
    /// TEE type in words.
    pub tee_type_name: String,
    /// Report body kind ("TD 1.0", "TD 1.5", "SGX enclave").
    pub body: String,
    /// Attestation key type (2 = ECDSA-256 with P-256).
    pub attestation_key_type: u16,
    /// QE vendor id (hex).
    pub qe_vendor_id: String,
    /// MRTD (TD only).
    pub mrtd: Option<Measurement>,
    /// RTMR0..3 (TD only).
    pub rtmr: Option<[Measurement; 4]>,
    /// MRCONFIGID, MROWNER, MROWNERCONFIG (TD only, hex).
    pub mr_config_id: Option<String>,
    /// MROWNER (hex).
    pub mr_owner: Option<String>,
    /// MROWNERCONFIG (hex).
    pub mr_owner_config: Option<String>,
    /// MRSEAM: the TDX module measurement (hex).
    pub mr_seam: Option<String>,
    /// TEE_TCB_SVN (hex).
    pub tee_tcb_svn: Option<String>,
    /// TD attributes (hex).
    pub td_attributes: Option<String>,
    /// Whether the TD runs in debug mode (TD attributes bit 0).
    pub debug: bool,
    /// XFAM (hex).
    pub xfam: Option<String>,
    /// MRENCLAVE / MRSIGNER for SGX quotes (hex).
    pub sgx_mr_enclave: Option<String>,
    /// MRSIGNER for SGX quotes (hex).
    pub sgx_mr_signer: Option<String>,
    /// The 64-byte report data.
    pub report_data: ReportData,
    /// Zero bytes after the end of the quote structure (padding from the quote generator).
    pub trailing_zero_bytes: usize,
    /// TCB status, when collateral was given.
    pub tcb: Option<TcbResult>,
}

impl fmt::Display for QuoteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn line(f: &mut fmt::Formatter<'_>, k: &str, v: &dyn fmt::Display) -> fmt::Result {
            writeln!(f, "{k:<16} {v}")
        }
        line(f, "quote version", &self.version)?;
        line(
            f,
            "TEE type",
            &format!("{} (0x{:02x})", self.tee_type_name, self.tee_type),
        )?;
        line(f, "report body", &self.body)?;
        if let Some(m) = &self.mrtd {
            line(f, "MRTD", m)?;
        }
        if let Some(r) = &self.rtmr {
            for (i, m) in r.iter().enumerate() {
                line(f, &format!("RTMR{i}"), m)?;
            }
        }
        for (k, v) in [
            ("MRCONFIGID", &self.mr_config_id),
            ("MROWNER", &self.mr_owner),
            ("MROWNERCONFIG", &self.mr_owner_config),
            ("MRSEAM", &self.mr_seam),
            ("TEE_TCB_SVN", &self.tee_tcb_svn),
            ("TD attributes", &self.td_attributes),
            ("XFAM", &self.xfam),
            ("MRENCLAVE", &self.sgx_mr_enclave),
            ("MRSIGNER", &self.sgx_mr_signer),
        ] {
            if let Some(v) = v {
                line(f, k, v)?;
            }
        }
        line(f, "debug", &self.debug)?;
        line(f, "report_data", &self.report_data)?;
        if self.trailing_zero_bytes > 0 {
            line(
                f,
                "padding",
                &format!("{} zero bytes after the quote", self.trailing_zero_bytes),
            )?;
        }
        match &self.tcb {
            None => line(f, "TCB status", &"(not evaluated: no collateral given)"),
            Some(TcbResult::Verified {
                status,
                advisory_ids,
                collateral_expires,
            }) => {
                line(f, "TCB status", status)?;
                line(
                    f,
                    "advisories",
                    &if advisory_ids.is_empty() {
                        "none".to_string()
                    } else {
                        advisory_ids.join(", ")
                    },
                )?;
                line(
                    f,
                    "collateral exp.",
                    &format!("{collateral_expires} (unix seconds)"),
                )
            }
            Some(TcbResult::Failed(e)) => {
                line(f, "TCB status", &format!("VERIFICATION FAILED: {e}"))
            }
        }
    }
}

/// Parses a quote strictly: the quote must re-encode to exactly its own bytes
/// (so no length field can be stretched over padding), and bytes after it must
/// all be zero (padding from the quote generator). Together with the signature
/// and chain checks this makes every byte either authenticated or checked.
fn parse_quote(bytes: &[u8]) -> Result<(Quote, usize), TeeError> {
    use parity_scale_codec::Encode;
    if bytes.len() > MAX_QUOTE_BYTES {
        return Err(TeeError::TooLarge {
            what: "quote",
            size: bytes.len() as u64,
            limit: MAX_QUOTE_BYTES as u64,
        });
    }
    let quote = no_panic("quote", || {
        Quote::parse(bytes).map_err(|e| TeeError::Malformed {
            what: "quote",
            detail: format!("{e:#}"),
        })
    })?;
    let canonical = no_panic("quote", || Ok(quote.encode()))?;
    match bytes.get(..canonical.len()) {
        Some(prefix) if prefix == canonical.as_slice() => {}
        Some(prefix) => {
            let at = prefix
                .iter()
                .zip(&canonical)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(TeeError::Malformed {
                what: "quote",
                detail: format!("not in canonical form: byte {at} differs when the parsed quote is re-encoded (a length field does not match its contents)"),
            });
        }
        None => {
            return Err(TeeError::Malformed {
                what: "quote",
                detail: "shorter than its own encoding".into(),
            })
        }
    }
    let len = canonical.len();
    let tail = &bytes[len..];
    if let Some(pos) = tail.iter().position(|&b| b != 0) {
        return Err(TeeError::Malformed {
            what: "quote",
            detail: format!(
                "non-zero byte at offset {} after the end of the quote structure ({len} bytes)",
                len + pos
            ),
        });
    }
    Ok((quote, tail.len()))
}

/// Checks, byte for byte, the certificate chains dcap-qvl does not fully use:
/// the PCK chain in the quote (including the copy of the root) and the issuer
/// chains in the collateral (including `pck_crl_issuer_chain`, which dcap-qvl
/// ignores). Each must parse strictly and chain to the pinned Intel SGX Root CA.
fn check_intel_chains(quote: &Quote, c: &QuoteCollateralV3) -> Result<(), TeeError> {
    if let AuthData::V4(a) = &quote.auth_data {
        // dcap-qvl reads the QE report certification data without checking its type.
        if a.certification_data.cert_type != 6 {
            return Err(TeeError::QuoteVerification(format!(
                "outer certification data type is {}, expected 6 (QE report certification data)",
                a.certification_data.cert_type
            )));
        }
    }
    let check = |what: &'static str, pem: &[u8]| -> Result<(), TeeError> {
        let certs = strict_pem_chain(what, pem)?;
        verify_chain_to(&certs, INTEL_SGX_ROOT_CA_DER, None)
            .map_err(|e| TeeError::QuoteVerification(format!("{what}: {e}")))
    };
    if let Ok(chain) = quote.raw_cert_chain() {
        check("quote PCK certificate chain", chain)?;
    }
    if let Some(chain) = &c.pck_certificate_chain {
        check("collateral pck_certificate_chain", chain.as_bytes())?;
    }
    check(
        "collateral pck_crl_issuer_chain",
        c.pck_crl_issuer_chain.as_bytes(),
    )?;
    check(
        "collateral tcb_info_issuer_chain",
        c.tcb_info_issuer_chain.as_bytes(),
    )?;
    check(
        "collateral qe_identity_issuer_chain",
        c.qe_identity_issuer_chain.as_bytes(),
    )
}

fn info_from(quote: &Quote, trailing: usize) -> QuoteInfo {
    let h = &quote.header;
    let mut info = QuoteInfo {
        version: h.version,
        tee_type: h.tee_type,
        tee_type_name: match h.tee_type {
            TEE_TYPE_TDX => "Intel TDX".into(),
            TEE_TYPE_SGX => "Intel SGX".into(),
            _ => "unknown".into(),
        },
        body: String::new(),
        attestation_key_type: h.attestation_key_type,
        qe_vendor_id: hex::encode(h.qe_vendor_id),
        mrtd: None,
        rtmr: None,
        mr_config_id: None,
        mr_owner: None,
        mr_owner_config: None,
        mr_seam: None,
        tee_tcb_svn: None,
        td_attributes: None,
        debug: false,
        xfam: None,
        sgx_mr_enclave: None,
        sgx_mr_signer: None,
        report_data: ReportData([0; 64]),
        trailing_zero_bytes: trailing,
        tcb: None,
    };
    info.body = match &quote.report {
        Report::SgxEnclave(_) => "SGX enclave",
        Report::TD10(_) => "TD 1.0",
        Report::TD15(_) => "TD 1.5",
        Report::TD15Ex(_) => "TD 1.5 (extended)",
    }
    .into();
    if let Some(td) = quote.report.as_td10() {
        info.mrtd = Some(Measurement(td.mr_td));
        info.rtmr = Some([
            Measurement(td.rt_mr0),
            Measurement(td.rt_mr1),
            Measurement(td.rt_mr2),
            Measurement(td.rt_mr3),
        ]);
        info.mr_config_id = Some(hex::encode(td.mr_config_id));
        info.mr_owner = Some(hex::encode(td.mr_owner));
        info.mr_owner_config = Some(hex::encode(td.mr_owner_config));
        info.mr_seam = Some(hex::encode(td.mr_seam));
        info.tee_tcb_svn = Some(hex::encode(td.tee_tcb_svn));
        info.td_attributes = Some(hex::encode(td.td_attributes));
        info.debug = td.td_attributes[0] & 1 == 1;
        info.xfam = Some(hex::encode(td.xfam));
        info.report_data = ReportData(td.report_data);
    } else if let Some(sgx) = quote.report.as_sgx() {
        info.sgx_mr_enclave = Some(hex::encode(sgx.mr_enclave));
        info.sgx_mr_signer = Some(hex::encode(sgx.mr_signer));
        info.debug = sgx.attributes[0] & 2 == 2;
        info.report_data = ReportData(sgx.report_data);
    }
    info
}

/// Parses a quote and returns its fields (no verification).
pub fn inspect_quote(bytes: &[u8]) -> Result<QuoteInfo, TeeError> {
    let (quote, trailing) = parse_quote(bytes)?;
    Ok(info_from(&quote, trailing))
}

/// Parses a quote and, using `collateral` at `time` (Unix seconds), adds its TCB
/// status. A failed verification is reported in `tcb`, not as an error.
pub fn inspect_quote_with_collateral(
    bytes: &[u8],
    collateral: &Collateral,
    time: u64,
) -> Result<QuoteInfo, TeeError> {
    let mut info = inspect_quote(bytes)?;
    info.tcb = Some(match verify_quote(bytes, collateral, time, true) {
        Ok(v) => v
            .info
            .tcb
            .unwrap_or(TcbResult::Failed("no TCB result".into())),
        Err(e) => TcbResult::Failed(e.to_string()),
    });
    Ok(info)
}

/// A quote that passed DCAP verification (signatures, certificate chains, CRLs,
/// collateral validity at the given time, TCB matching). Policy not yet applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifiedQuote {
    /// The quote's fields, with `tcb` set.
    pub info: QuoteInfo,
    /// Converged TCB status.
    pub tcb_status: TcbStatus,
    /// Advisory ids.
    pub advisory_ids: Vec<String>,
    /// Earliest expiry of the collateral (Unix seconds).
    pub collateral_expires: u64,
    /// The platform TCB is below every level in Intel's TCB info (Intel's QVL:
    /// "TCB not supported"); `tcb_status` is then OutOfDate (or Revoked).
    pub below_oldest_tcb_level: bool,
}

/// Verifies a quote with dcap-qvl against Intel's production root CA.
///
/// `time` is the verification time in Unix seconds; collateral and certificates
/// must be valid at that time. Debug TDs are rejected unless `allow_debug`.
pub fn verify_quote(
    bytes: &[u8],
    collateral: &Collateral,
    time: u64,
    allow_debug: bool,
) -> Result<VerifiedQuote, TeeError> {
    let (quote, trailing) = parse_quote(bytes)?;
    if quote.header.tee_type != TEE_TYPE_TDX {
        return Err(TeeError::QuoteVerification(format!(
            "not a TDX quote (TEE type 0x{:02x})",
            quote.header.tee_type
        )));
    }
    let verifier = QuoteVerifier::new_prod().allow_debug(allow_debug);
    let policy = QuotePolicy::claims_only(time);
    let first = no_panic("quote", || {
        Ok(verifier.verify_with_policy(bytes, collateral.0.clone(), time, &policy))
    })?;
    let mut below_oldest_tcb_level = false;
    let claims = match first {
        Ok(c) => c,
        Err(e) if format!("{e:#}").contains("No matching TCB level found") => {
            // Every signature and chain verified, but the platform is below the
            // oldest TCB level Intel lists. Intel's QVL calls this "TCB not
            // supported"; we classify it as OutOfDate (Revoked if any listed level
            // is revoked), so only a policy that accepts OutOfDate accepts it.
            below_oldest_tcb_level = true;
            no_panic("quote", || {
                verifier
                    .dangerous_verify_claims_with_tcb_override(
                        bytes,
                        collateral.0.clone(),
                        time,
                        add_floor_level,
                    )
                    .map_err(|e| TeeError::QuoteVerification(format!("{e:#}")))
            })?
        }
        Err(e) => return Err(TeeError::QuoteVerification(format!("{e:#}"))),
    };
    check_intel_chains(&quote, &collateral.0)?;
    let mut info = info_from(&quote, trailing);
    info.tcb = Some(TcbResult::Verified {
        status: claims.tcb.status,
        advisory_ids: claims.tcb.advisory_ids.clone(),
        collateral_expires: claims.earliest_expiration_date,
    });
    Ok(VerifiedQuote {
        info,
        tcb_status: claims.tcb.status,
        advisory_ids: claims.tcb.advisory_ids,
        collateral_expires: claims.earliest_expiration_date,
        below_oldest_tcb_level,
    })
}

/// Adds a catch-all TCB level below every listed one: all SVNs zero, status
/// OutOfDate (Revoked if any listed level is Revoked), dated and advised like
/// the oldest listed level.
fn add_floor_level(mut info: dcap_qvl::TcbInfo) -> dcap_qvl::TcbInfo {
    use dcap_qvl::{Tcb, TcbComponents, TcbLevel};
    let revoked = info
        .tcb_levels
        .iter()
        .any(|l| l.tcb_status == TcbStatus::Revoked);
    let (sgx_n, tdx_n) = info
        .tcb_levels
        .first()
        .map(|l| (l.tcb.sgx_components.len(), l.tcb.tdx_components.len()))
        .unwrap_or((16, 16));
    let oldest = info.tcb_levels.last().cloned();
    let mut advisory_ids = oldest
        .as_ref()
        .map(|l| l.advisory_ids.clone())
        .unwrap_or_default();
    advisory_ids.sort();
    advisory_ids.dedup();
    info.tcb_levels.push(TcbLevel {
        tcb: Tcb {
            sgx_components: vec![TcbComponents { svn: 0 }; sgx_n],
            tdx_components: vec![TcbComponents { svn: 0 }; tdx_n],
            pce_svn: 0,
        },
        tcb_date: oldest
            .map(|l| l.tcb_date)
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
        tcb_status: if revoked {
            TcbStatus::Revoked
        } else {
            TcbStatus::OutOfDate
        },
        advisory_ids,
    });
    info
}

impl VerifiedQuote {
    fn below_note(&self) -> &'static str {
        if self.below_oldest_tcb_level {
            " (platform TCB is below the oldest level in Intel's TCB info; Intel's QVL reports TCB not supported)"
        } else {
            ""
        }
    }

    /// Applies the quote-level parts of a policy: TCB status, advisories and
    /// measurements (MRTD/RTMRs). `compose_hash` is the RTMR3-verified dstack
    /// compose hash, if the quote came from dstack.
    pub fn policy_checks(&self, policy: &Policy, compose_hash: Option<&[u8; 32]>) -> Vec<Check> {
        let mut checks = Vec::new();
        let status_ok = policy.accepted_tcb_statuses.contains(&self.tcb_status)
            && self.tcb_status != TcbStatus::Revoked;
        checks.push(Check::new(
            "TDX TCB status",
            status_ok,
            if status_ok {
                format!("{} is accepted{}", self.tcb_status, self.below_note())
            } else {
                format!(
                    "{}{} is not accepted by the policy (accepted: {})",
                    self.tcb_status,
                    self.below_note(),
                    policy
                        .accepted_tcb_statuses
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ));
        let rejected: Vec<&String> = self
            .advisory_ids
            .iter()
            .filter(|a| {
                policy
                    .rejected_advisory_ids
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(a))
            })
            .collect();
        checks.push(Check::new(
            "TDX advisories",
            rejected.is_empty(),
            if rejected.is_empty() {
                if self.advisory_ids.is_empty() {
                    "none apply".to_string()
                } else {
                    format!("applicable, not rejected: {}", self.advisory_ids.join(", "))
                }
            } else {
                format!(
                    "rejected by policy: {}",
                    rejected
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ));
        checks.push(measurement_check(&self.info, policy, compose_hash));
        checks
    }
}

fn measurement_check(info: &QuoteInfo, policy: &Policy, compose_hash: Option<&[u8; 32]>) -> Check {
    const NAME: &str = "TD measurements";
    let (Some(mrtd), Some(rtmr)) = (&info.mrtd, &info.rtmr) else {
        return Check::fail(NAME, "quote has no TD report");
    };
    if let Some((i, m)) = policy
        .allowed_measurements
        .iter()
        .enumerate()
        .find(|(_, m)| m.matches(mrtd, rtmr))
    {
        return Check::pass(
            NAME,
            format!("match allowed_measurements entry {}", m.label(i)),
        );
    }
    if let Some(ch) = compose_hash {
        if policy.allowed_compose_hashes.iter().any(|h| &h.0 == ch) {
            return Check::pass(
                NAME,
                format!(
                    "dstack compose hash {} is allowed (verified through RTMR3)",
                    hex::encode(ch)
                ),
            );
        }
    }
    if policy.allow_any_measurement {
        return Check::warn(
            NAME,
            format!("not pinned: policy sets allow_any_measurement (MRTD {mrtd})"),
        );
    }
    if !policy.pins_measurements() {
        return Check::fail(
            NAME,
            format!(
                "the policy pins no measurements: add allowed_measurements (MRTD {mrtd}) or \
                 allowed_compose_hashes, or set allow_any_measurement for testing"
            ),
        );
    }
    Check::fail(
        NAME,
        format!(
            "MRTD {mrtd} / RTMR0-3 match no allowed_measurements entry{}",
            match compose_hash {
                Some(h) => format!(" and compose hash {} is not allowed", hex::encode(h)),
                None => String::new(),
            }
        ),
    )
}

/// Verifies a quote and applies the policy's quote-level checks. Errors if any
/// check fails; the error names the failing check.
pub fn verify_quote_with_policy(
    bytes: &[u8],
    collateral: &Collateral,
    policy: &Policy,
    time: u64,
) -> Result<VerifiedQuote, TeeError> {
    let v = verify_quote(bytes, collateral, time, policy.allow_debug_td)?;
    let failed: Vec<String> = v
        .policy_checks(policy, None)
        .into_iter()
        .filter(|c| c.is_failure())
        .map(|c| c.to_string())
        .collect();
    if failed.is_empty() {
        Ok(v)
    } else {
        Err(TeeError::QuoteVerification(format!(
            "policy not satisfied: {}",
            failed.join("; ")
        )))
    }
}

/// Fetches collateral for `quote` from a PCCS (e.g. `https://pccs.phala.network`
/// or Intel's `https://api.trustedservices.intel.com`). Needs the `pccs` feature.
#[cfg(feature = "pccs")]
pub fn fetch_collateral(pccs_url: &str, quote: &[u8]) -> Result<Collateral, TeeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TeeError::Collateral(format!("cannot start an async runtime: {e}")))?;
    let client = dcap_qvl::collateral::CollateralClient::with_default_http(pccs_url)
        .map_err(|e| TeeError::Collateral(format!("PCCS client for {pccs_url}: {e:#}")))?;
    rt.block_on(client.fetch(quote))
        .map(Collateral)
        .map_err(|e| TeeError::Collateral(format!("fetching from {pccs_url}: {e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("t", "1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("t", "2025-06-19T10:16:03Z").unwrap(),
            1_750_328_163
        );
        assert_eq!(
            parse_rfc3339("t", "2024-02-29T23:59:59.123Z").unwrap(),
            1_709_251_199
        );
        for bad in [
            "",
            "2025-13-01T00:00:00Z",
            "2025-06-19 10:16:03Z",
            "2025-06-19T10:16:03+01:00",
            "x025-06-19T10:16:03Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_rfc3339("t", bad).is_err(), "{bad}");
        }
    }
}
