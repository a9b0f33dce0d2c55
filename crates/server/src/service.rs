//! The service's shared state: database, keys, attester, limits, metrics.

use crate::db::Db;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::runner::Pipeline;
use anyhow::{Context, Result};
use cloak_tee::{Attestation, Attester, DevSigner, InputSecretKey, Nonce, Statement};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// How the service attests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttestMode {
    /// This machine's TEE (`Attester::auto`).
    Tee,
    /// INSECURE local dev key (no TEE); clients must opt in with allow-dev.
    Dev,
}

/// Start-up configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Holds `cloak.db` and the key seeds.
    pub data_dir: PathBuf,
    pub attest: AttestMode,
    pub limits: Limits,
    /// How the runner overlaps preparing the next jobs with proving.
    pub pipeline: Pipeline,
    /// Prove on the first CUDA GPU (`cloak_gpu::GpuBackend`) instead of the CPU.
    pub gpu: bool,
}

/// Wakes the runner when a job arrives or the server stops.
#[derive(Default)]
pub struct Wakeup {
    flag: Mutex<(bool, bool)>, // (work pending, stopping)
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        self.flag.lock().unwrap_or_else(|e| e.into_inner()).0 = true;
        self.cv.notify_all();
    }

    pub fn stop(&self) {
        self.flag.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.cv.notify_all();
    }

    pub fn stopping(&self) -> bool {
        self.flag.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Waits up to `timeout` for a notification; returns whether stopping.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let guard = self.flag.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |(pending, stop)| !*pending && !*stop)
            .unwrap_or_else(|e| e.into_inner());
        guard.0 = false;
        guard.1
    }
}

pub struct Service {
    db: Mutex<Db>,
    pub input_key: InputSecretKey,
    pub attester: Attester,
    pub limits: Limits,
    pub pipeline: Pipeline,
    pub metrics: Metrics,
    pub wakeup: Wakeup,
    /// The key attestation for requests without a nonce (made at start-up).
    pub default_attestation: Attestation,
    /// The GPU backend, opened (kernels compiled) at start-up; None proves on the CPU.
    pub gpu: Option<cloak_gpu::GpuBackend>,
}

/// Reads a 32-byte seed from `path`, creating it (mode 0600) from the OS
/// CSPRNG if absent.
fn seed_file(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    if let Ok(bytes) = std::fs::read(path) {
        let bytes = Zeroizing::new(bytes);
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not 32 bytes", path.display()))?;
        return Ok(Zeroizing::new(seed));
    }
    let seed = Zeroizing::new(Nonce::random().context("OS random source")?.0);
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(seed.as_ref())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(seed)
}

impl Service {
    /// Opens the database (queueing again any job a previous process left
    /// running) and loads or creates the input key.
    pub fn open(config: &ServerConfig) -> Result<Service> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let db = Db::open(&config.data_dir.join("cloak.db")).context("opening the job database")?;
        let metrics = Metrics::default();
        let requeued = db.requeue_running().context("requeueing running jobs")?;
        Metrics::add(&metrics.jobs_requeued_at_start, requeued as u64);
        if requeued > 0 {
            tracing::warn!(
                requeued,
                "jobs left running by the previous process are queued again"
            );
        }
        // The input key must survive restarts: queued jobs hold ciphertexts
        // encrypted to it. See README.md ("Keys") for what a TEE deployment
        // should use instead of a file.
        let key_seed = seed_file(&config.data_dir.join("input-key.seed"))?;
        let input_key = InputSecretKey::derive(&key_seed[..]);
        let attester = match config.attest {
            AttestMode::Tee => Attester::auto()
                .context("no TEE to attest with (use dev attestation on machines without one)")?,
            AttestMode::Dev => {
                let seed = seed_file(&config.data_dir.join("dev-signer.seed"))?;
                Attester::dev(DevSigner::from_seed(&seed))
            }
        };
        let gpu = if config.gpu {
            let gpu = cloak_gpu::GpuBackend::new()
                .context("proving on the GPU was asked for, but no usable CUDA GPU is here")?;
            tracing::info!(gpu = %gpu.context().name(), "proving on the GPU");
            Some(gpu)
        } else {
            None
        };
        let default_attestation = attester
            .attest(Statement::for_input_key(
                Nonce::random()?,
                input_key.public_key(),
            ))
            .context("attesting the input key")?;
        Ok(Service {
            db: Mutex::new(db),
            input_key,
            attester,
            limits: config.limits.clone(),
            pipeline: config.pipeline,
            metrics,
            wakeup: Wakeup::default(),
            default_attestation,
            gpu,
        })
    }

    /// The database (a poisoned lock is taken over: SQLite keeps it consistent).
    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}
