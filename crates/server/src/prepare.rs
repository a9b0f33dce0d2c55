//! Preparing a job: everything the runner does before the STARK work
//! (load the program and its keys, decrypt the inputs, execute the guest
//! and, for small jobs, generate every trace), so that it can be done for
//! the next job while the current one proves. Preparing only reads the
//! database: a prepared job is still `queued` there until it is claimed.

use crate::db::QueuedJob;
use crate::inputs::unpack_inputs;
use crate::runner::MAX_ATTEMPTS;
use crate::service::Service;
use cloak_machine::zkvm::ExecutionWitness;
use cloak_machine::{MachineKeys, ProveOptions};
use cloak_prover::FriSettings;
use cloak_tee::EncryptedInputs;
use cloak_vm::{ExecConfig, Program};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroize;

/// A job ready to be claimed and proven; `work` is `Err` (the job's failure
/// message) when it cannot be proven.
pub struct Prepared {
    pub id: String,
    pub nonce: String,
    pub work: Result<Work, String>,
}

/// What proving a job needs.
pub struct Work {
    pub program: Arc<Program>,
    pub keys: Arc<MachineKeys>,
    /// The decrypted input buffers (zeroized on drop).
    pub inputs: Vec<Vec<u8>>,
    pub opts: ProveOptions,
    pub cycles: u64,
    pub shards_total: u64,
    /// Every shard's traces, generated ahead (only for jobs of at most
    /// [`Preparer`]'s `witness_max_cycles`, to bound memory).
    pub witness: Option<ExecutionWitness>,
}

impl Drop for Work {
    fn drop(&mut self) {
        self.inputs.zeroize();
    }
}

/// Prepares jobs; keeps the keys of the last programs it saw.
pub struct Preparer {
    keys: HashMap<String, (Arc<Program>, Arc<MachineKeys>)>,
    witness_max_cycles: u64,
}

/// How many programs' keys are kept.
const KEYS_CACHED: usize = 8;

impl Preparer {
    /// `witness_max_cycles`: generate the traces ahead for jobs of at most
    /// this many cycles (0: never; larger jobs generate them while proving).
    pub fn new(witness_max_cycles: u64) -> Preparer {
        Preparer {
            keys: HashMap::new(),
            witness_max_cycles,
        }
    }

    pub fn prepare(&mut self, service: &Service, job: QueuedJob) -> Prepared {
        let work =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work(service, &job)))
                .unwrap_or_else(|_| Err("preparing the job panicked".to_string()));
        Prepared {
            id: job.id,
            nonce: job.nonce,
            work,
        }
    }

    fn work(&mut self, service: &Service, job: &QueuedJob) -> Result<Work, String> {
        if job.attempts >= MAX_ATTEMPTS {
            return Err(format!(
                "gave up: the server stopped during each of {MAX_ATTEMPTS} proving attempts"
            ));
        }
        let (program, keys) = self.keys_for(service, &job.program)?;
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
        let mut work = Work {
            program,
            keys,
            inputs,
            opts: ProveOptions {
                exec,
                shard_cycles,
                seed: None,
                ..ProveOptions::default()
            },
            cycles: 0,
            shards_total: 0,
            witness: None,
        };
        // Execute once (tracing mode, cut into the shards proving will use,
        // no traces) for the progress report, to fail early on a cycle or
        // memory limit, and to decide whether to trace ahead.
        let (output, shards) = work
            .keys
            .shard_plan(&work.program, &work.inputs, &work.opts)
            .map_err(|e| format!("executing the guest: {e}"))?;
        work.cycles = output.cycles;
        work.shards_total = shards as u64;
        if self.witness_max_cycles > 0 && output.cycles <= self.witness_max_cycles {
            let w = work
                .keys
                .witness(&work.program, work.inputs.clone(), &work.opts)
                .map_err(|e| format!("generating the traces: {e}"))?;
            work.witness = Some(w);
        }
        Ok(work)
    }

    fn keys_for(
        &mut self,
        service: &Service,
        vk: &str,
    ) -> Result<(Arc<Program>, Arc<MachineKeys>), String> {
        if let Some(k) = self.keys.get(vk) {
            return Ok(k.clone());
        }
        let elf = service
            .db()
            .program_elf(vk)
            .map_err(|e| format!("job database: {e}"))?
            .ok_or_else(|| format!("program {vk} is not stored"))?;
        let program = Program::from_elf(&elf).map_err(|e| format!("loading the program: {e}"))?;
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT)
            .map_err(|e| format!("deriving the keys: {e}"))?;
        if self.keys.len() >= KEYS_CACHED {
            self.keys.clear();
        }
        let entry = (Arc::new(program), Arc::new(keys));
        self.keys.insert(vk.to_string(), entry.clone());
        Ok(entry)
    }
}
