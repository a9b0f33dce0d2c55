//! The HTTP routes.

use crate::db::{Inserted, NewJob};
use crate::error::ApiError;
use crate::inputs::unpack_inputs;
use crate::metrics::Metrics;
use crate::service::Service;
use crate::types::{
    AttestationResponse, JobRequest, JobResult, JobState, JobStatus, ProgramResponse,
};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cloak_machine::MachineKeys;
use cloak_prover::FriSettings;
use cloak_tee::{EncryptedInputs, Nonce, Statement};
use cloak_vm::Program;
use serde::Deserialize;
use std::sync::Arc;

type AppState = Arc<Service>;
type ApiResult<T> = Result<T, ApiError>;

pub fn router(service: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/attestation", get(attestation))
        .route("/v1/programs", post(upload_program))
        .route("/v1/jobs", post(submit_job))
        .route("/v1/jobs/{id}", get(job_status).delete(cancel_job))
        .route("/v1/jobs/{id}/result", get(job_result))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        // Bodies are read with explicit limits (see `read_body`).
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(service.clone(), count))
        .with_state(service)
}

/// Counts requests and 4xx answers.
async fn count(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    Metrics::inc(&s.metrics.requests);
    if res.status().is_client_error() {
        Metrics::inc(&s.metrics.client_errors);
    }
    res
}

/// Reads a body of at most `limit` bytes; more answers 413 naming the limit.
async fn read_body(body: Body, limit: usize, what: &str) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::too_large(format!(
                    "{what} is larger than this server's limit of {limit} bytes"
                ));
            }
            source = err.source();
        }
        ApiError::bad_request(format!("reading {what}: {e}"))
    })
}

/// Runs blocking work (key derivation, decryption) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker: {e}")))
}

async fn healthz(State(s): State<AppState>) -> ApiResult<&'static str> {
    s.db().ping()?;
    Ok("ok\n")
}

async fn metrics(State(s): State<AppState>) -> ApiResult<Response> {
    let states = s.db().state_counts()?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&states),
    )
        .into_response())
}

#[derive(Deserialize)]
struct NonceQuery {
    nonce: Option<String>,
}

async fn attestation(
    State(s): State<AppState>,
    Query(q): Query<NonceQuery>,
) -> ApiResult<Json<AttestationResponse>> {
    let att = match q.nonce {
        None => s.default_attestation.clone(),
        Some(h) => {
            let nonce = Nonce::from_hex(&h)
                .map_err(|e| ApiError::bad_request(format!("nonce: {e} (want 64 hex digits)")))?;
            let s2 = s.clone();
            blocking(move || {
                s2.attester
                    .attest(Statement::for_input_key(nonce, s2.input_key.public_key()))
            })
            .await?
            .map_err(|e| ApiError::internal(format!("attesting: {e}")))?
        }
    };
    let attestation = serde_json::from_str(&att.to_json())
        .map_err(|e| ApiError::internal(format!("attestation JSON: {e}")))?;
    Ok(Json(AttestationResponse {
        attestation,
        input_key: s.input_key.public_key().to_hex(),
        platform: s.attester.platform_kind().to_string(),
    }))
}

async fn upload_program(
    State(s): State<AppState>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ProgramResponse>)> {
    let elf = read_body(body, s.limits.max_elf_bytes, "the ELF").await?;
    let elf2 = elf.clone();
    let vk = blocking(move || -> ApiResult<[u8; 32]> {
        let program = Program::from_elf(&elf2)
            .map_err(|e| ApiError::bad_request(format!("not a valid RV32IM ELF: {e}")))?;
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT).map_err(|e| {
            ApiError::unprocessable(format!("cannot derive the program's keys: {e}"))
        })?;
        Ok(keys.vk_digest())
    })
    .await??;
    let vk = hex::encode(vk);
    s.db().insert_program(&vk, &elf)?;
    Metrics::inc(&s.metrics.programs_uploaded);
    Ok((
        StatusCode::CREATED,
        Json(ProgramResponse {
            vk,
            size: elf.len() as u64,
        }),
    ))
}

async fn submit_job(
    State(s): State<AppState>,
    body: Body,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let limits = &s.limits;
    let body = read_body(body, limits.max_job_body_bytes(), "the job request").await?;
    let req: JobRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed job request: {e}")))?;
    let program = req.program.to_ascii_lowercase();
    if program.len() != 64 || !program.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "program {:?} is not a vk id (64 hex digits)",
            req.program
        )));
    }
    if !s.db().program_exists(&program)? {
        return Err(ApiError::not_found(format!(
            "unknown program {program}: upload its ELF with POST /v1/programs first"
        )));
    }
    if let Some(c) = req.options.max_cycles {
        if c > limits.max_cycles {
            return Err(ApiError::unprocessable(format!(
                "max_cycles {c} is above this server's limit of {} cycles",
                limits.max_cycles
            )));
        }
    }
    if let Some(c) = req.options.shard_cycles {
        if c < limits.min_shard_cycles || c > limits.max_shard_cycles {
            return Err(ApiError::unprocessable(format!(
                "shard_cycles {c} is outside [{}, {}]",
                limits.min_shard_cycles, limits.max_shard_cycles
            )));
        }
    }
    if let Some(k) = &req.idempotency_key {
        if k.is_empty() || k.len() > 128 {
            return Err(ApiError::bad_request(
                "idempotency_key must be 1 to 128 bytes",
            ));
        }
    }
    let nonce = match &req.nonce {
        Some(h) => Nonce::from_hex(h)
            .map_err(|e| ApiError::bad_request(format!("nonce: {e} (want 64 hex digits)")))?,
        None => Nonce::random().map_err(|e| ApiError::internal(e.to_string()))?,
    };
    let envelope_json = req.inputs.to_string();
    let envelope = EncryptedInputs::from_json(envelope_json.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("malformed encrypted inputs: {e}")))?;
    // HPKE with ChaCha20Poly1305: the ciphertext is the plaintext plus a 16-byte tag.
    let plain_len = envelope.ciphertext.as_slice().len().saturating_sub(16);
    if plain_len > limits.max_input_bytes {
        return Err(ApiError::too_large(format!(
            "the inputs are {plain_len} bytes; this server's limit is {} bytes",
            limits.max_input_bytes
        )));
    }
    // Open it now, so a bad ciphertext is refused here rather than failing
    // the job later; the plaintext is dropped (zeroized) at once.
    let s2 = s.clone();
    blocking(move || -> ApiResult<()> {
        let plaintext = s2
            .input_key
            .decrypt(&envelope)
            .map_err(|e| ApiError::bad_request(format!("the encrypted inputs do not open: {e}")))?;
        unpack_inputs(plaintext.expose()).map_err(|e| {
            ApiError::bad_request(format!(
                "the decrypted inputs are not (u64 length, bytes) records: {e}"
            ))
        })?;
        Ok(())
    })
    .await??;
    let id = hex::encode(
        &Nonce::random()
            .map_err(|e| ApiError::internal(e.to_string()))?
            .0[..16],
    );
    let inserted = s.db().insert_job(
        &NewJob {
            id: &id,
            program: &program,
            inputs: &envelope_json,
            options: &req.options,
            nonce: &nonce.to_hex(),
            idempotency_key: req.idempotency_key.as_deref(),
        },
        limits.max_queue,
    )?;
    match inserted {
        Inserted::New => {}
        Inserted::QueueFull => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the queue is full ({} jobs queued or running); try again later",
                    limits.max_queue
                ),
            ))
        }
        Inserted::Existing(id, existing_program) => {
            if existing_program != program {
                return Err(ApiError::conflict(format!(
                    "idempotency_key was already used for job {id} of another program"
                )));
            }
            let status = s
                .db()
                .job(&id)?
                .ok_or_else(|| ApiError::internal("job vanished"))?;
            return Ok((StatusCode::OK, Json(status)));
        }
    }
    Metrics::inc(&s.metrics.jobs_submitted);
    s.wakeup.notify();
    let status = s
        .db()
        .job(&id)?
        .ok_or_else(|| ApiError::internal("job vanished"))?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

fn check_id(id: &str) -> ApiResult<()> {
    if id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "job id {id:?} is not 32 hex digits"
        )))
    }
}

async fn job_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    check_id(&id)?;
    s.db()
        .job(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

async fn cancel_job(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    check_id(&id)?;
    let db = s.db();
    match db.cancel(&id)? {
        None => Err(ApiError::not_found(format!("no job {id}"))),
        Some(prev) => {
            if prev != JobState::Cancelled {
                Metrics::inc(&s.metrics.jobs_cancelled);
            }
            db.job(&id)?
                .map(Json)
                .ok_or_else(|| ApiError::internal("job vanished"))
        }
    }
}

async fn job_result(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobResult>> {
    check_id(&id)?;
    let r = s
        .db()
        .result(&id)?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    match r.state {
        JobState::Done => {}
        JobState::Failed => {
            return Err(ApiError::conflict(format!(
                "job {id} failed: {}",
                r.error.unwrap_or_default()
            )))
        }
        other => {
            return Err(ApiError::conflict(format!(
                "job {id} is {}; no result",
                other.as_str()
            )))
        }
    }
    let proof = r
        .proof
        .ok_or_else(|| ApiError::internal("done job without a proof"))?;
    let attestation = serde_json::from_str(&r.attestation.unwrap_or_default())
        .map_err(|e| ApiError::internal(format!("stored attestation: {e}")))?;
    let public_values = cloak_machine::Proof::from_bytes(&proof)
        .map(|p| hex::encode(p.public_values))
        .map_err(|e| ApiError::internal(format!("stored proof: {e}")))?;
    Ok(Json(JobResult {
        id,
        program: r.program,
        proof: hex::encode(&proof),
        attestation,
        nonce: r.nonce,
        exit_code: r.exit_code.unwrap_or_default(),
        public_values,
    }))
}
