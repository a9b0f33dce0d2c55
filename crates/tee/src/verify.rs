//! Verifying an attestation against a policy.

use crate::attestation::DstackEvent;
use crate::attestation::{Attestation, Evidence, NvidiaGpuEvidence, ATTESTATION_VERSION};
use crate::dev::verify_dev_evidence;
use crate::dstack::replay_rtmr3;
use crate::error::TeeError;
use crate::gpu::verify_gpu_device;
use crate::policy::Policy;
use crate::statement::{ExpectedStatement, Statement};
use crate::tdx::{verify_quote, Collateral};
use crate::types::{Digest32, HexBytes, InputPublicKey};
use crate::verdict::{Check, GpuSummary, Verdict};

/// How to verify: the time, where collateral comes from, and what the verifier expects.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Verification time, Unix seconds. Use [`crate::unix_now`] for "now";
    /// tests pass a fixed time.
    pub time: u64,
    /// TDX collateral chosen by the verifier (takes precedence over collateral
    /// embedded in the attestation).
    pub collateral: Option<Collateral>,
    /// PCCS to fetch collateral from when none is given (needs the `pccs` feature).
    pub pccs_url: Option<String>,
    /// Statement fields the verifier expects (its nonce, the proof it holds, ...).
    pub expected: ExpectedStatement,
}

impl VerifyOptions {
    /// Options verifying at `time` (Unix seconds), no collateral, no expectations.
    pub fn at(time: u64) -> Self {
        VerifyOptions {
            time,
            collateral: None,
            pccs_url: None,
            expected: ExpectedStatement::default(),
        }
    }

    /// Sets the collateral.
    pub fn with_collateral(mut self, c: Collateral) -> Self {
        self.collateral = Some(c);
        self
    }

    /// Sets the expected statement fields.
    pub fn with_expected(mut self, e: ExpectedStatement) -> Self {
        self.expected = e;
        self
    }

    /// Sets a PCCS URL.
    pub fn with_pccs_url(mut self, url: impl Into<String>) -> Self {
        self.pccs_url = Some(url.into());
        self
    }
}

/// An attestation that passed verification. Only this crate can construct it,
/// so holding one proves the checks ran (see [`crate::encrypt_inputs`]).
#[derive(Clone, Debug)]
pub struct VerifiedAttestation {
    statement: Statement,
    verdict: Verdict,
    policy_digest: Digest32,
}

impl VerifiedAttestation {
    /// The verified statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }
    /// The full verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }
    /// The attested HPKE input key, if the statement carries one.
    pub fn input_key(&self) -> Option<&InputPublicKey> {
        self.statement.input_key.as_ref()
    }
    /// Digest of the policy it was verified under.
    pub fn policy_digest(&self) -> &Digest32 {
        &self.policy_digest
    }
    /// Whether the platform evidence is INSECURE dev evidence.
    pub fn is_insecure_dev(&self) -> bool {
        self.verdict.insecure_dev
    }
}

/// Verifies and returns the verified attestation, or `TeeError::Rejected` with
/// the verdict listing every check.
pub fn verify_attestation(
    att: &Attestation,
    policy: &Policy,
    opts: &VerifyOptions,
) -> Result<VerifiedAttestation, TeeError> {
    let verdict = evaluate_attestation(att, policy, opts);
    if verdict.accepted {
        tracing::info!(report_data = %att.report_data, insecure_dev = verdict.insecure_dev, "attestation accepted");
        Ok(VerifiedAttestation {
            statement: att.statement.clone(),
            policy_digest: verdict.policy_digest,
            verdict,
        })
    } else {
        tracing::warn!(report_data = %att.report_data, failures = verdict.failures().count(), "attestation rejected");
        Err(TeeError::Rejected(Box::new(verdict)))
    }
}

/// Runs every check and returns the verdict (accepted or not); never fails.
pub fn evaluate_attestation(att: &Attestation, policy: &Policy, opts: &VerifyOptions) -> Verdict {
    let mut v = Verdict {
        accepted: false,
        insecure_dev: false,
        verification_time: opts.time,
        attestation_version: att.version,
        statement: att.statement.clone(),
        report_data: att.report_data,
        policy_digest: policy.digest(),
        platform: None,
        tcb_status: None,
        mrtd: None,
        rtmr: None,
        compose_hash: None,
        gpus: Vec::new(),
        checks: Vec::new(),
        not_checked: vec![
            "the proof itself: only its digest is bound here; verify the proof separately and compare its digest".into(),
            "which MRTD/RTMR or compose-hash values a given Cloak build should have: the policy supplies them".into(),
        ],
    };
    if let Err(e) = policy.validate() {
        v.checks.push(Check::fail("policy", e.to_string()));
    }
    v.checks.push(Check::new(
        "format version",
        att.version == ATTESTATION_VERSION,
        format!("{} (this build reads {ATTESTATION_VERSION})", att.version),
    ));
    let rd = att.statement.report_data();
    v.checks.push(if rd == att.report_data {
        Check::pass("statement binding", "report_data = SHA-512 of the length-prefixed statement (v1)")
    } else {
        Check::fail(
            "statement binding",
            format!("the statement hashes to {rd}, not to the attested report_data: the statement was altered or the evidence belongs to another statement"),
        )
    });
    for (name, r) in opts.expected.compare(&att.statement) {
        v.checks.push(match r {
            Ok(d) => Check::pass(format!("expected {name}"), d),
            Err(d) => Check::fail(format!("expected {name}"), d),
        });
    }

    let platforms: Vec<&Evidence> = att.platform_evidence().collect();
    match platforms.as_slice() {
        [] => v.checks.push(Check::fail(
            "platform evidence",
            "none: need tdx, dstack or dev evidence",
        )),
        [one] => platform_checks(&mut v, att, one, policy, opts),
        many => v.checks.push(Check::fail(
            "platform evidence",
            format!(
                "{} platform evidence items; exactly one is expected",
                many.len()
            ),
        )),
    }
    gpu_checks(&mut v, att, policy, opts.time);
    v.accepted = !v.checks.iter().any(|c| c.is_failure());
    v
}

fn platform_checks(
    v: &mut Verdict,
    att: &Attestation,
    ev: &Evidence,
    policy: &Policy,
    opts: &VerifyOptions,
) {
    match ev {
        Evidence::Tdx(t) => {
            v.platform = Some("Intel TDX (configfs-tsm quote)".into());
            tdx_checks(v, att, &t.quote, t.collateral.as_ref(), None, policy, opts);
        }
        Evidence::Dstack(d) => {
            v.platform = Some(format!("dstack (Intel TDX), app id {}", d.app_id));
            v.not_checked.push(
                "dstack: app id, instance id and vm_config are informational; only the compose hash measured into RTMR3 is verified".into(),
            );
            tdx_checks(
                v,
                att,
                &d.quote,
                d.collateral.as_ref(),
                Some(&d.event_log),
                policy,
                opts,
            );
        }
        Evidence::Dev(d) => {
            v.insecure_dev = true;
            v.platform = Some("dev (INSECURE: local key, no TEE)".into());
            if !policy.allow_dev {
                v.checks.push(Check::fail(
                    "dev evidence",
                    "INSECURE dev evidence (a local key, no TEE) is rejected: the policy does not set allow_dev",
                ));
                return;
            }
            v.checks.push(match verify_dev_evidence(d, &att.report_data) {
                Ok(()) => Check::warn(
                    "dev evidence",
                    format!("signature by {} verifies; INSECURE, accepted only because the policy sets allow_dev", d.public_key),
                ),
                Err(e) => Check::fail("dev evidence", e),
            });
            if !policy.allowed_dev_keys.is_empty() {
                v.checks.push(Check::new(
                    "dev key",
                    policy.allowed_dev_keys.contains(&d.public_key),
                    format!(
                        "{} {} in allowed_dev_keys",
                        d.public_key,
                        if policy.allowed_dev_keys.contains(&d.public_key) {
                            "is"
                        } else {
                            "is not"
                        }
                    ),
                ));
            }
            v.checks.push(Check::skipped(
                "TD measurements",
                "dev evidence has no measurements",
            ));
        }
        Evidence::NvidiaGpu(_) => {}
    }
}

fn collateral_for(
    quote: &HexBytes,
    embedded: Option<&Collateral>,
    opts: &VerifyOptions,
) -> Result<Collateral, String> {
    if let Some(c) = &opts.collateral {
        return Ok(c.clone());
    }
    if let Some(c) = embedded {
        return Ok(c.clone());
    }
    match &opts.pccs_url {
        #[cfg(feature = "pccs")]
        Some(url) => crate::tdx::fetch_collateral(url, quote.as_slice()).map_err(|e| e.to_string()),
        #[cfg(not(feature = "pccs"))]
        Some(url) => {
            let _ = quote;
            Err(format!("a PCCS URL ({url}) is configured but this build lacks the `pccs` feature; pass a collateral file"))
        }
        None => {
            let _ = quote;
            Err("no collateral: pass a collateral file (or configure a PCCS URL with the `pccs` feature)".into())
        }
    }
}

fn tdx_checks(
    v: &mut Verdict,
    att: &Attestation,
    quote: &HexBytes,
    embedded: Option<&Collateral>,
    events: Option<&Vec<DstackEvent>>,
    policy: &Policy,
    opts: &VerifyOptions,
) {
    v.not_checked.push(
        "TDX: revocation is only as fresh as the CRLs in the collateral, judged at the verification time".into(),
    );
    let coll = match collateral_for(quote, embedded, opts) {
        Ok(c) => c,
        Err(e) => {
            v.checks.push(Check::fail("TDX collateral", e));
            return;
        }
    };
    let vq = match verify_quote(quote.as_slice(), &coll, opts.time, policy.allow_debug_td) {
        Ok(q) => q,
        Err(e) => {
            v.checks.push(Check::fail("TDX quote", e.to_string()));
            return;
        }
    };
    v.checks.push(Check::pass(
        "TDX quote",
        format!(
            "ECDSA quote signature, QE report, PCK chain to Intel's SGX root CA, CRLs, TCB info and QE identity verified at {}",
            opts.time
        ),
    ));
    v.tcb_status = Some(vq.tcb_status.to_string());
    v.mrtd = vq.info.mrtd.map(|m| m.to_hex());
    v.rtmr = vq.info.rtmr.map(|r| r.iter().map(|m| m.to_hex()).collect());
    v.checks.push(Check::new(
        "quote report_data",
        vq.info.report_data == att.report_data,
        if vq.info.report_data == att.report_data {
            "equals the statement's report_data".to_string()
        } else {
            format!(
                "quote carries {}, the statement hashes to {}",
                vq.info.report_data, att.report_data
            )
        },
    ));
    let mut compose_hash = None;
    if let Some(events) = events {
        match replay_rtmr3(events) {
            Ok(r) => {
                let quote_rtmr3 = vq.info.rtmr.map(|x| x[3]);
                if Some(r.rtmr3) == quote_rtmr3 {
                    v.checks.push(Check::pass(
                        "dstack event log",
                        "RTMR3 events replay to the quote's RTMR3",
                    ));
                    compose_hash = r.compose_hash;
                    v.compose_hash = r.compose_hash.map(hex::encode);
                    if compose_hash.is_none() {
                        v.checks.push(Check::warn(
                            "dstack compose hash",
                            "no compose-hash event in RTMR3",
                        ));
                    }
                } else {
                    v.checks.push(Check::fail(
                        "dstack event log",
                        format!(
                            "RTMR3 events replay to {}, the quote has {}",
                            r.rtmr3,
                            quote_rtmr3.map(|m| m.to_hex()).unwrap_or_default()
                        ),
                    ));
                }
            }
            Err(e) => v
                .checks
                .push(Check::fail("dstack event log", e.to_string())),
        }
    }
    v.checks
        .extend(vq.policy_checks(policy, compose_hash.as_ref()));
}

fn gpu_checks(v: &mut Verdict, att: &Attestation, policy: &Policy, time: u64) {
    let gpu_evs: Vec<&NvidiaGpuEvidence> = att
        .evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::NvidiaGpu(g) => Some(g),
            _ => None,
        })
        .collect();
    let bound = att.statement.gpu_evidence_digest;
    let g = match (bound, gpu_evs.as_slice()) {
        (None, []) => {
            v.checks.push(if policy.require_gpu_cc {
                Check::fail(
                    "GPU CC evidence",
                    "required by the policy, but the attestation carries none",
                )
            } else {
                Check::skipped(
                    "GPU CC evidence",
                    "none carried; not required by the policy",
                )
            });
            return;
        }
        (Some(d), []) => {
            v.checks.push(Check::fail(
                "GPU CC evidence",
                format!("the statement binds GPU evidence {d}, but the attestation carries none"),
            ));
            return;
        }
        (None, [_, ..]) => {
            v.checks.push(Check::fail(
                "GPU CC evidence",
                "GPU evidence is present but the statement does not bind it",
            ));
            return;
        }
        (Some(_), [_, _, ..]) => {
            v.checks.push(Check::fail(
                "GPU CC evidence",
                "more than one GPU evidence item",
            ));
            return;
        }
        (Some(d), [g]) => {
            let actual = g.digest();
            if actual != d {
                v.checks.push(Check::fail(
                    "GPU evidence binding",
                    format!("GPU evidence hashes to {actual}, the statement binds {d}"),
                ));
                return;
            }
            v.checks.push(Check::pass(
                "GPU evidence binding",
                "gpu_evidence_digest matches the GPU evidence",
            ));
            *g
        }
    };
    v.not_checked.extend([
        "GPU: certificate revocation (NVIDIA OCSP) is not checked offline".to_string(),
        "GPU: measurements are not compared with NVIDIA's reference integrity manifests (RIM service); a genuine GPU running unexpected firmware would pass".to_string(),
        "GPU: CC mode and ready state are reported by the driver (NVML), not signed by the GPU".to_string(),
    ]);
    if g.gpus.is_empty() {
        v.checks.push(Check::new(
            "GPU CC evidence",
            !policy.require_gpu_cc,
            "the GPU evidence lists no GPU",
        ));
        return;
    }
    let nonce = att.statement.gpu_nonce();
    for dev in &g.gpus {
        let r = verify_gpu_device(dev, &nonce, time);
        let name = format!("GPU {} report", dev.index);
        v.checks.push(match &r.result {
            Ok(()) => Check::pass(name, "nonce, ECDSA P-384 signature, certificate chain to the NVIDIA Device Identity CA and FWID verified"),
            Err(e) => Check::fail(name, e.clone()),
        });
        let cc_name = format!("GPU {} CC mode", dev.index);
        v.checks.push(if dev.cc_enabled {
            Check::pass(cc_name, "on (driver-reported)")
        } else if policy.require_gpu_cc {
            Check::fail(cc_name, "off, and the policy requires GPU CC")
        } else {
            Check::warn(cc_name, "off (driver-reported)")
        });
        v.gpus.push(GpuSummary {
            index: dev.index,
            name: dev.name.clone(),
            uuid: dev.uuid.clone(),
            cc_enabled: dev.cc_enabled,
            driver_version: r.report.as_ref().and_then(|x| x.driver_version()),
            vbios_version: r.report.as_ref().and_then(|x| x.vbios_version()),
            report_verified: r.result.is_ok(),
        });
    }
}
