//! The JSON bodies of the HTTP API, shared by the server and the client.

use serde::{Deserialize, Serialize};

/// `GET /v1/attestation`: the service's key attestation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestationResponse {
    /// The attestation (the `cloak-tee` JSON format) of a key statement whose
    /// `input_key` is the service's HPKE public key and whose nonce is the
    /// caller's `?nonce=` (or a per-start nonce when none was given).
    pub attestation: serde_json::Value,
    /// The HPKE public key (hex), as in the statement.
    pub input_key: String,
    /// The platform that produced the evidence (`dev` means INSECURE).
    pub platform: String,
}

/// `POST /v1/programs`: the stored program.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramResponse {
    /// The verifying-key digest (hex): the program's id.
    pub vk: String,
    /// ELF size in bytes.
    pub size: u64,
}

/// Per-job proving options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Stop (and fail the job) after this many cycles; capped by the server's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cycles: Option<u64>,
    /// Cycles per shard (default: the machine's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_cycles: Option<u64>,
}

/// `POST /v1/jobs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The program's vk id from `POST /v1/programs`.
    pub program: String,
    /// The inputs, HPKE-encrypted to the attested key (`cloak-tee`'s envelope);
    /// the plaintext is (u64 LE length, bytes) records, one per guest input buffer.
    pub inputs: serde_json::Value,
    #[serde(default)]
    pub options: JobOptions,
    /// 32-byte hex nonce to bind into the proof's attestation (random if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A client-chosen key (at most 128 bytes): submitting again with the same
    /// key answers the job already made instead of making another, so a retry
    /// after a lost answer cannot run a job twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The state of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }

    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ];
}

/// `GET /v1/jobs/{id}` (also the answer to `POST /v1/jobs` and `DELETE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: String,
    pub program: String,
    pub state: JobState,
    /// Proving attempts started (more than 1 after a restart interrupted one).
    pub attempts: u32,
    /// Cycles executed (known once the execution ran).
    pub cycles: Option<u64>,
    /// Shards the execution is cut into (known with `cycles`).
    pub shards_total: Option<u64>,
    /// Shards proven so far.
    pub shards_proven: u64,
    pub exit_code: Option<u32>,
    /// Why the job failed.
    pub error: Option<String>,
    /// Unix seconds.
    pub created: u64,
    pub started: Option<u64>,
    pub finished: Option<u64>,
}

/// `GET /v1/jobs/{id}/result`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobResult {
    pub id: String,
    pub program: String,
    /// The proof file's bytes (`cloak prove`'s format), hex.
    pub proof: String,
    /// The attestation of the proof statement (as `cloak prove --attest`).
    pub attestation: serde_json::Value,
    /// The nonce bound into the attestation (hex).
    pub nonce: String,
    pub exit_code: u32,
    /// Public values (hex), as the proof carries them.
    pub public_values: String,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}
