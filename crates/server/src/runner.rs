//! The job runner: proves one job at a time. With a look-ahead of N, a
//! second thread prepares (executes, traces) up to N queued jobs while the
//! current one proves; with 0, each job is prepared just before it proves.
//!
//! Restart safety: preparing only reads the database. A job becomes
//! `running` (attempts + 1) only when the prover claims it, in one UPDATE
//! guarded by `state = 'queued'`; a job cancelled while it was being
//! prepared is then simply dropped, and a crash loses only in-memory work.

use crate::db::QueuedJob;
use crate::metrics::Metrics;
use crate::prepare::{Prepared, Preparer, Work};
use crate::progress::{ProgressBackend, STOPPED};
use crate::service::Service;
use crate::types::JobState;
use cloak_prover::CpuBackend;
use cloak_tee::{Digest32, Nonce, Statement};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job found running this many times (the server died each time) fails
/// instead of being tried again.
pub const MAX_ATTEMPTS: u32 = 3;

/// How the runner overlaps preparing and proving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// Jobs prepared ahead of the one proving (0: serial).
    pub lookahead: usize,
    /// Generate the traces ahead only for jobs of at most this many cycles
    /// (each prepared job holds its traces in memory until it proves).
    /// Off by default: on the CPU, generating the traces is under 1% of a
    /// job, and `MachineKeys::prove_witness` commits every shard twice
    /// (`prove_on` keeps the last shard's commitment), which costs more than
    /// tracing ahead saves (BENCHMARKS.md, "Service").
    pub witness_max_cycles: u64,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            lookahead: 1,
            witness_max_cycles: 0,
        }
    }
}

/// Ids prepared but not yet claimed: the preparer skips them.
type Pending = Mutex<HashSet<String>>;

/// Runs jobs until the service stops.
pub fn run(service: Arc<Service>) {
    let pipeline = service.pipeline;
    if pipeline.lookahead == 0 {
        run_serial(&service);
    } else {
        run_pipelined(service, pipeline);
    }
}

fn run_serial(service: &Service) {
    let mut preparer = Preparer::new(service.pipeline.witness_max_cycles);
    let pending = Pending::default();
    while !service.wakeup.stopping() {
        match next_job(service, &pending) {
            Some(job) => {
                let prepared = preparer.prepare(service, job);
                prove_prepared(service, prepared, &pending);
            }
            None => {
                if service.wakeup.wait(Duration::from_secs(1)) {
                    return;
                }
            }
        }
    }
}

fn run_pipelined(service: Arc<Service>, pipeline: Pipeline) {
    // `sync_channel(n - 1)` holds n - 1 jobs, plus one the preparer blocks
    // on sending: n prepared jobs at most.
    let (tx, rx) = sync_channel::<Prepared>(pipeline.lookahead - 1);
    let pending = Arc::new(Pending::default());
    let (s2, p2) = (service.clone(), pending.clone());
    let preparer = std::thread::Builder::new()
        .name("cloak-prepare".into())
        .spawn(move || {
            let mut preparer = Preparer::new(pipeline.witness_max_cycles);
            while !s2.wakeup.stopping() {
                match next_job(&s2, &p2) {
                    Some(job) => {
                        p2.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(job.id.clone());
                        if tx.send(preparer.prepare(&s2, job)).is_err() {
                            return; // the prover stopped
                        }
                    }
                    None => {
                        if s2.wakeup.wait(Duration::from_secs(1)) {
                            return;
                        }
                    }
                }
            }
        });
    let preparer = match preparer {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "starting the preparer; running serially");
            return run_serial(&service);
        }
    };
    while !service.wakeup.stopping() {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(prepared) => prove_prepared(&service, prepared, &pending),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Jobs still prepared stay `queued` in the database.
    drop(rx);
    let _ = preparer.join();
}

/// The oldest queued job not already prepared.
fn next_job(service: &Service, pending: &Pending) -> Option<QueuedJob> {
    let skip = pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match service.db().peek_queued(skip.len() + 1) {
        Ok(jobs) => jobs.into_iter().find(|j| !skip.contains(&j.id)),
        Err(e) => {
            tracing::error!(error = %e, "job database");
            std::thread::sleep(Duration::from_secs(1));
            None
        }
    }
}

/// Claims a prepared job (if it is still queued), proves it and records the
/// outcome.
fn prove_prepared(service: &Service, prepared: Prepared, pending: &Pending) {
    let Prepared { id, nonce, work } = prepared;
    let size = work.as_ref().ok().map(|w| (w.cycles, w.shards_total));
    let claimed = service.db().claim(&id, size);
    pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    match claimed {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(job = %id, "cancelled before it was proven");
            return;
        }
        Err(e) => {
            // Still queued: it is prepared again.
            tracing::error!(job = %id, error = %e, "claiming a job");
            std::thread::sleep(Duration::from_secs(1));
            return;
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        work.and_then(|w| prove_job(service, &id, &nonce, w))
    }))
    .unwrap_or_else(|_| Err("the prover panicked".to_string()));
    if let Err(e) = outcome {
        if matches!(service.db().state(&id), Ok(Some(JobState::Cancelled))) {
            tracing::info!(job = %id, "cancelled while proving; stopped");
            Metrics::inc(&service.metrics.jobs_stopped);
        } else {
            tracing::warn!(job = %id, error = %e, "job failed");
            if service.db().finish_err(&id, &e).unwrap_or(false) {
                Metrics::inc(&service.metrics.jobs_failed);
            }
        }
    }
}

fn db_err(e: rusqlite::Error) -> String {
    format!("job database: {e}")
}

/// Proves a claimed job and records its result; `Err` is the job's failure
/// message (or [`STOPPED`] when it was cancelled).
fn prove_job(service: &Service, id: &str, nonce: &str, mut w: Work) -> Result<(), String> {
    let start = Instant::now();
    tracing::info!(job = %id, cycles = w.cycles, traced_ahead = w.witness.is_some(), "proving");
    let cancelled = || matches!(service.db().state(id), Ok(Some(JobState::Cancelled)));
    let (keys, shards_total, cycles) = (w.keys.clone(), w.shards_total, w.cycles);
    let proof = match w.witness.take() {
        Some(witness) => {
            // Small (bounded by `witness_max_cycles`): checked for
            // cancellation before, not during.
            if cancelled() {
                return Err(STOPPED.to_string());
            }
            let seed = cloak_prover::fresh_seed().map_err(|e| format!("randomness: {e}"))?;
            match &service.gpu {
                Some(gpu) => keys.prove_witness_on(gpu, &witness, seed),
                None => keys.prove_witness(&witness, seed),
            }
            .map_err(|e| format!("proving: {e}"))?
        }
        None => {
            let on_shard = |proven: u64| {
                let proven = proven.min(shards_total);
                if let Err(e) = service.db().set_progress(id, cycles, shards_total, proven) {
                    tracing::warn!(job = %id, error = %e, "recording progress");
                }
            };
            let inputs = std::mem::take(&mut w.inputs);
            let proven = match &service.gpu {
                Some(gpu) => keys.prove_on(
                    &ProgressBackend::new(gpu, on_shard, cancelled),
                    &w.program,
                    inputs,
                    &w.opts,
                ),
                None => keys.prove_on(
                    &ProgressBackend::new(&CpuBackend, on_shard, cancelled),
                    &w.program,
                    inputs,
                    &w.opts,
                ),
            };
            proven.map_err(|e| format!("proving: {e}"))?.0
        }
    };
    drop(w);
    let bytes = proof.to_bytes();
    let nonce = Nonce::from_hex(nonce).map_err(|e| format!("the job's nonce: {e}"))?;
    // Exactly the statement `cloak prove --attest` binds.
    let statement = Statement::for_proof(
        nonce,
        Digest32(keys.vk_digest()),
        Digest32(Sha256::digest(&proof.public_values).into()),
        proof.exit_code,
        Digest32(Sha256::digest(&bytes).into()),
    );
    let att = service
        .attester
        .attest(statement)
        .map_err(|e| format!("attesting the proof: {e}"))?;
    let shards = proof.shards.len() as u64;
    let recorded = service
        .db()
        .finish_ok(id, proof.exit_code, shards, &bytes, &att.to_json())
        .map_err(db_err)?;
    let m = &service.metrics;
    Metrics::add(&m.proving_micros, start.elapsed().as_micros() as u64);
    if recorded {
        Metrics::inc(&m.jobs_done);
        Metrics::add(&m.cycles_proven, cycles);
        Metrics::add(&m.shards_proven, shards);
        tracing::info!(job = %id, cycles, shards, secs = start.elapsed().as_secs_f64(), "job done");
    } else {
        tracing::info!(job = %id, "job was cancelled while proving; result dropped");
    }
    Ok(())
}
