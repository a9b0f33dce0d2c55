//! A blocking Rust client that verifies everything it receives: the key
//! attestation before encrypting to its key, and every proof together with
//! the attestation bound to it.
//!
//! Not for use inside an async runtime (it uses `reqwest::blocking`).

use crate::inputs::pack_inputs;
use crate::types::{
    AttestationResponse, ErrorBody, JobOptions, JobRequest, JobResult, JobState, JobStatus,
    ProgramResponse,
};
use cloak_machine::{MachineKeys, Proof, Statement as ProofStatement};
use cloak_prover::FriSettings;
use cloak_tee::{
    encrypt_inputs, unix_now, verify_attestation, Attestation, Digest32, EncryptedInputs,
    ExpectedStatement, Nonce, Policy, Verdict, VerifiedAttestation, VerifyOptions,
};
use cloak_vm::Program;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use zeroize::Zeroize;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// Something the server sent does not verify.
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, ClientError>;

/// How attestations are judged: a policy and verification options (time,
/// collateral). Dev evidence is accepted only if the policy has `allow_dev`.
#[derive(Clone, Debug)]
pub struct Trust {
    pub policy: Policy,
    pub options: VerifyOptions,
}

impl Trust {
    pub fn new(policy: Policy) -> Trust {
        Trust {
            policy,
            options: VerifyOptions::at(unix_now()),
        }
    }
}

/// A proof and attestation that verified.
#[derive(Debug)]
pub struct VerifiedResult {
    /// What the proof proves (vk, exit code, public values).
    pub statement: ProofStatement,
    /// The attestation's verdict (accepted).
    pub verdict: Verdict,
    /// The proof file's bytes.
    pub proof: Vec<u8>,
    pub attestation: Attestation,
}

pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

fn att_from_value(v: &serde_json::Value) -> Result<Attestation> {
    Attestation::from_json(v.to_string().as_bytes())
        .map_err(|e| ClientError::Verify(format!("attestation: {e}")))
}

impl Client {
    /// `base` like `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn check(res: reqwest::blocking::Response) -> Result<reqwest::blocking::Response> {
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let text = res.text().unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|e| e.error)
            .unwrap_or(text);
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
        })
    }

    pub fn healthz(&self) -> Result<()> {
        Self::check(self.http.get(self.url("/healthz")).send()?)?;
        Ok(())
    }

    pub fn metrics(&self) -> Result<String> {
        Ok(Self::check(self.http.get(self.url("/metrics")).send()?)?.text()?)
    }

    /// The raw key attestation for `nonce` (unverified).
    pub fn attestation(&self, nonce: &Nonce) -> Result<AttestationResponse> {
        let url = self.url(&format!("/v1/attestation?nonce={}", nonce.to_hex()));
        Ok(Self::check(self.http.get(url).send()?)?.json()?)
    }

    /// Fetches the key attestation for a fresh nonce and verifies it: valid
    /// under `trust`, fresh (our nonce), carrying the advertised input key.
    pub fn verified_key(&self, trust: &Trust) -> Result<VerifiedAttestation> {
        let nonce = Nonce::random().map_err(|e| ClientError::Other(e.to_string()))?;
        let res = self.attestation(&nonce)?;
        let att = att_from_value(&res.attestation)?;
        let opts = trust.options.clone().with_expected(ExpectedStatement {
            nonce: Some(nonce),
            ..ExpectedStatement::default()
        });
        let verified = verify_attestation(&att, &trust.policy, &opts)
            .map_err(|e| ClientError::Verify(format!("the key attestation: {e}")))?;
        match verified.input_key() {
            Some(k) if k.to_hex() == res.input_key => Ok(verified),
            Some(_) => Err(ClientError::Verify(
                "the attested input key is not the advertised one".into(),
            )),
            None => Err(ClientError::Verify(
                "the key attestation carries no input key".into(),
            )),
        }
    }

    /// Encrypts input buffers to a verified key.
    pub fn encrypt(
        verified: &VerifiedAttestation,
        trust: &Trust,
        inputs: &[Vec<u8>],
    ) -> Result<EncryptedInputs> {
        let mut packed = pack_inputs(inputs);
        let sealed = encrypt_inputs(verified, &trust.policy, &packed);
        packed.zeroize();
        sealed.map_err(|e| ClientError::Other(format!("encrypting the inputs: {e}")))
    }

    /// Uploads an ELF; returns its vk id.
    pub fn upload_program(&self, elf: &[u8]) -> Result<String> {
        let res = self
            .http
            .post(self.url("/v1/programs"))
            .header("content-type", "application/octet-stream")
            .body(elf.to_vec())
            .send()?;
        let p: ProgramResponse = Self::check(res)?.json()?;
        Ok(p.vk)
    }

    /// Submits a job (inputs already encrypted); `nonce` is bound into the
    /// proof's attestation and is also the idempotency key: if the answer is
    /// lost (connection error), the request is sent once more, and the server
    /// answers the job the first one made.
    pub fn submit(
        &self,
        program: &str,
        inputs: &EncryptedInputs,
        options: &JobOptions,
        nonce: &Nonce,
    ) -> Result<JobStatus> {
        let inputs = serde_json::from_str(&inputs.to_json())
            .map_err(|e| ClientError::Other(e.to_string()))?;
        let req = JobRequest {
            program: program.to_string(),
            inputs,
            options: options.clone(),
            nonce: Some(nonce.to_hex()),
            idempotency_key: Some(nonce.to_hex()),
        };
        match self.submit_raw(&req) {
            Err(ClientError::Http(e)) => {
                tracing::warn!(error = %e, "submitting again with the same idempotency key");
                self.submit_raw(&req)
            }
            other => other,
        }
    }

    /// Submits any request body (for tests of bad requests).
    pub fn submit_raw(&self, req: &JobRequest) -> Result<JobStatus> {
        let res = self.http.post(self.url("/v1/jobs")).json(req).send()?;
        Ok(Self::check(res)?.json()?)
    }

    pub fn status(&self, id: &str) -> Result<JobStatus> {
        let res = self.http.get(self.url(&format!("/v1/jobs/{id}"))).send()?;
        Ok(Self::check(res)?.json()?)
    }

    pub fn cancel(&self, id: &str) -> Result<JobStatus> {
        let res = self
            .http
            .delete(self.url(&format!("/v1/jobs/{id}")))
            .send()?;
        Ok(Self::check(res)?.json()?)
    }

    /// Polls until the job is done, failed or cancelled.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<JobStatus> {
        let start = Instant::now();
        loop {
            let s = self.status(id)?;
            if s.state.is_terminal() {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Other(format!(
                    "job {id} still {} after {timeout:?}",
                    s.state.as_str()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The raw result (unverified).
    pub fn result(&self, id: &str) -> Result<JobResult> {
        let res = self
            .http
            .get(self.url(&format!("/v1/jobs/{id}/result")))
            .send()?;
        Ok(Self::check(res)?.json()?)
    }

    /// Verifies a result: the proof against `elf`, the attestation under
    /// `trust`, and that it binds this proof, program, exit code, public
    /// values and our `nonce` (exactly as `cloak verify --attestation`).
    pub fn verify_result(
        result: &JobResult,
        elf: &[u8],
        trust: &Trust,
        nonce: &Nonce,
    ) -> Result<VerifiedResult> {
        let program =
            Program::from_elf(elf).map_err(|e| ClientError::Other(format!("the ELF: {e}")))?;
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT)
            .map_err(|e| ClientError::Other(format!("deriving the keys: {e}")))?;
        Self::verify_result_with(result, &keys, trust, nonce)
    }

    /// [`Self::verify_result`] with the program's keys already derived (for
    /// verifying many results of one program).
    pub fn verify_result_with(
        result: &JobResult,
        keys: &MachineKeys,
        trust: &Trust,
        nonce: &Nonce,
    ) -> Result<VerifiedResult> {
        let bytes = hex::decode(&result.proof)
            .map_err(|e| ClientError::Verify(format!("proof hex: {e}")))?;
        let proof =
            Proof::from_bytes(&bytes).map_err(|e| ClientError::Verify(format!("proof: {e}")))?;
        let statement = keys
            .verify(&proof)
            .map_err(|e| ClientError::Verify(format!("the proof does not verify: {e}")))?;
        if hex::encode(statement.vk_digest) != result.program {
            return Err(ClientError::Verify(format!(
                "the proof is for vk {}, the job's program is {}",
                hex::encode(statement.vk_digest),
                result.program
            )));
        }
        let att = att_from_value(&result.attestation)?;
        let expected = ExpectedStatement::proof(
            *nonce,
            Digest32(statement.vk_digest),
            Digest32(statement.public_values_digest),
            statement.exit_code,
            Digest32(Sha256::digest(&bytes).into()),
        );
        let verified = verify_attestation(
            &att,
            &trust.policy,
            &trust.options.clone().with_expected(expected),
        )
        .map_err(|e| ClientError::Verify(format!("the proof's attestation: {e}")))?;
        Ok(VerifiedResult {
            statement,
            verdict: verified.verdict().clone(),
            proof: bytes,
            attestation: att,
        })
    }

    /// The whole flow: verify the key attestation, upload the ELF, encrypt
    /// the inputs, submit, wait, fetch and verify the result.
    pub fn prove(
        &self,
        elf: &[u8],
        inputs: &[Vec<u8>],
        options: &JobOptions,
        trust: &Trust,
        timeout: Duration,
    ) -> Result<(JobStatus, VerifiedResult)> {
        let verified = self.verified_key(trust)?;
        let vk = self.upload_program(elf)?;
        let sealed = Self::encrypt(&verified, trust, inputs)?;
        let nonce = Nonce::random().map_err(|e| ClientError::Other(e.to_string()))?;
        let job = self.submit(&vk, &sealed, options, &nonce)?;
        let status = self.wait(&job.id, timeout)?;
        if status.state != JobState::Done {
            return Err(ClientError::Other(format!(
                "job {} ended {}: {}",
                job.id,
                status.state.as_str(),
                status.error.clone().unwrap_or_default()
            )));
        }
        let result = self.result(&job.id)?;
        let verified = Self::verify_result(&result, elf, trust, &nonce)?;
        Ok((status, verified))
    }
}
