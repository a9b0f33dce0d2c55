//! The job runner: one blocking worker thread proving one job at a time.

use crate::db::ClaimedJob;
use crate::inputs::unpack_inputs;
use crate::metrics::Metrics;
use crate::progress::ProgressBackend;
use crate::service::Service;
use cloak_machine::{MachineKeys, ProveOptions};
use cloak_prover::FriSettings;
use cloak_tee::{Digest32, EncryptedInputs, Nonce, Statement};
use cloak_vm::{ExecConfig, Executor, Program};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A job found running this many times (the server died each time) fails
/// instead of being tried again.
pub const MAX_ATTEMPTS: u32 = 3;

/// Runs jobs until the service stops.
pub fn run(service: Arc<Service>) {
    let mut keys: HashMap<String, Arc<MachineKeys>> = HashMap::new();
    loop {
        if service.wakeup.stopping() {
            return;
        }
        let claimed = service.db().claim_next();
        match claimed {
            Ok(Some(job)) => {
                let id = job.id.clone();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_job(&service, &mut keys, job)
                }))
                .unwrap_or_else(|_| Err("the prover panicked".to_string()));
                if let Err(e) = outcome {
                    tracing::warn!(job = %id, error = %e, "job failed");
                    if service.db().finish_err(&id, &e).unwrap_or(false) {
                        Metrics::inc(&service.metrics.jobs_failed);
                    }
                }
            }
            Ok(None) => {
                if service.wakeup.wait(Duration::from_secs(1)) {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "job database");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn db_err(e: rusqlite::Error) -> String {
    format!("job database: {e}")
}

/// Proves one job and records its result; `Err` is the job's failure message.
fn run_job(
    service: &Service,
    keys_cache: &mut HashMap<String, Arc<MachineKeys>>,
    job: ClaimedJob,
) -> Result<(), String> {
    let start = Instant::now();
    tracing::info!(job = %job.id, attempt = job.attempts, "proving");
    if job.attempts > MAX_ATTEMPTS {
        return Err(format!(
            "gave up: the server stopped during each of {MAX_ATTEMPTS} proving attempts"
        ));
    }
    let elf = service
        .db()
        .program_elf(&job.program)
        .map_err(db_err)?
        .ok_or_else(|| format!("program {} is not stored", job.program))?;
    let program = Program::from_elf(&elf).map_err(|e| format!("loading the program: {e}"))?;
    let keys = match keys_cache.get(&job.program) {
        Some(k) => k.clone(),
        None => {
            let k = Arc::new(
                MachineKeys::new(&program, FriSettings::DEFAULT)
                    .map_err(|e| format!("deriving the keys: {e}"))?,
            );
            if keys_cache.len() >= 8 {
                keys_cache.clear();
            }
            keys_cache.insert(job.program.clone(), k.clone());
            k
        }
    };
    let envelope = EncryptedInputs::from_json(job.inputs.as_bytes())
        .map_err(|e| format!("the stored inputs: {e}"))?;
    let plaintext = service
        .input_key
        .decrypt(&envelope)
        .map_err(|e| format!("decrypting the inputs: {e}"))?;
    let inputs = unpack_inputs(plaintext.expose())?;
    drop(plaintext);
    let limits = &service.limits;
    let exec = ExecConfig {
        max_cycles: Some(
            job.options
                .max_cycles
                .unwrap_or(limits.max_cycles)
                .min(limits.max_cycles),
        ),
        max_memory_bytes: Some(limits.max_memory_bytes),
    };
    let shard_cycles = job
        .options
        .shard_cycles
        .unwrap_or(cloak_machine::zkvm::DEFAULT_SHARD_CYCLES);
    // Execute once (fast mode) for the progress report and to fail early on
    // a cycle or memory limit.
    let output = Executor::new(&program, inputs.clone(), exec.clone())
        .run()
        .map_err(|e| format!("executing the guest: {e}"))?;
    let shards_total = output.cycles.div_ceil(shard_cycles).max(1);
    service
        .db()
        .set_progress(&job.id, output.cycles, shards_total, 0)
        .map_err(db_err)?;
    let opts = ProveOptions {
        exec,
        shard_cycles,
        seed: None,
        ..ProveOptions::default()
    };
    let backend = ProgressBackend::new(|proven| {
        let proven = proven.min(shards_total);
        if let Err(e) = service
            .db()
            .set_progress(&job.id, output.cycles, shards_total, proven)
        {
            tracing::warn!(job = %job.id, error = %e, "recording progress");
        }
    });
    let (proof, report) = keys
        .prove_on(&backend, &program, inputs, &opts)
        .map_err(|e| format!("proving: {e}"))?;
    let bytes = proof.to_bytes();
    let nonce = Nonce::from_hex(&job.nonce).map_err(|e| format!("the job's nonce: {e}"))?;
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
    let recorded = service
        .db()
        .finish_ok(
            &job.id,
            proof.exit_code,
            report.shards as u64,
            &bytes,
            &att.to_json(),
        )
        .map_err(db_err)?;
    let m = &service.metrics;
    Metrics::add(&m.proving_micros, start.elapsed().as_micros() as u64);
    if recorded {
        Metrics::inc(&m.jobs_done);
        Metrics::add(&m.cycles_proven, report.cycles);
        Metrics::add(&m.shards_proven, report.shards as u64);
        tracing::info!(job = %job.id, cycles = report.cycles, shards = report.shards,
            secs = start.elapsed().as_secs_f64(), "job done");
    } else {
        tracing::info!(job = %job.id, "job was cancelled while proving; result dropped");
    }
    Ok(())
}
