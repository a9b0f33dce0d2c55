//! The job store: an embedded SQLite database (WAL, synchronous=FULL).
//!
//! Every state change is one statement or one transaction, so after a crash
//! the database holds either the state before or the state after it. A job's
//! result (proof + attestation + `done`) is written in one UPDATE guarded by
//! `state = 'running'`, so it is recorded at most once.

use crate::types::{JobOptions, JobState, JobStatus};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS programs (
    vk      TEXT PRIMARY KEY,
    elf     BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    program       TEXT NOT NULL REFERENCES programs(vk),
    inputs        TEXT NOT NULL,
    options       TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    cycles        INTEGER,
    shards_total  INTEGER,
    shards_proven INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    error         TEXT,
    proof         BLOB,
    attestation   TEXT,
    created       INTEGER NOT NULL,
    started       INTEGER,
    finished      INTEGER,
    idem          TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
";

/// A queued job, as the runner reads it before preparing it.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    pub id: String,
    pub program: String,
    /// The encrypted-inputs envelope (JSON).
    pub inputs: String,
    pub options: JobOptions,
    pub nonce: String,
    /// Proving attempts already started (a crash interrupted each).
    pub attempts: u32,
}

/// A finished job's stored result.
#[derive(Debug)]
pub struct StoredResult {
    pub program: String,
    pub state: JobState,
    pub error: Option<String>,
    pub proof: Option<Vec<u8>>,
    pub attestation: Option<String>,
    pub nonce: String,
    pub exit_code: Option<u32>,
}

/// A new job.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub program: &'a str,
    pub inputs: &'a str,
    pub options: &'a JobOptions,
    pub nonce: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// What [`Db::insert_job`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// A job with this idempotency key exists: (its id, its program).
    Existing(String, String),
    QueueFull,
}

pub struct Db {
    conn: Connection,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        // One process per database: the exclusive lock is taken by the first
        // write below and held until the connection closes (or the process
        // dies), so a second server on the same data directory fails to start
        // instead of queueing this one's running jobs again.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
        Ok(Db { conn })
    }

    /// At start-up: jobs left `running` by a previous process go back to the
    /// queue (their proving attempt died with it). Returns how many.
    pub fn requeue_running(&self) -> rusqlite::Result<usize> {
        self.conn.execute(
            "UPDATE jobs SET state = 'queued', shards_proven = 0 WHERE state = 'running'",
            [],
        )
    }

    pub fn insert_program(&self, vk: &str, elf: &[u8]) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO programs (vk, elf, created) VALUES (?1, ?2, ?3)",
            params![vk, elf, now() as i64],
        )?;
        Ok(())
    }

    pub fn program_elf(&self, vk: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT elf FROM programs WHERE vk = ?1", [vk], |r| r.get(0))
            .optional()
    }

    pub fn program_exists(&self, vk: &str) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM programs WHERE vk = ?1", [vk], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Jobs queued or running.
    pub fn active_jobs(&self) -> rusqlite::Result<usize> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
            [],
            |r| r.get::<_, i64>(0).map(|n| n as usize),
        )
    }

    /// Inserts a job if fewer than `max_active` are queued or running and no
    /// job has its idempotency key, in one transaction.
    pub fn insert_job(&mut self, job: &NewJob, max_active: usize) -> rusqlite::Result<Inserted> {
        let tx = self.conn.transaction()?;
        if let Some(key) = job.idempotency_key {
            let existing = tx
                .query_row("SELECT id, program FROM jobs WHERE idem = ?1", [key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
            if let Some((id, program)) = existing {
                return Ok(Inserted::Existing(id, program));
            }
        }
        let active: i64 = tx.query_row(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
            [],
            |r| r.get(0),
        )?;
        if active as usize >= max_active {
            return Ok(Inserted::QueueFull);
        }
        tx.execute(
            "INSERT INTO jobs (id, program, inputs, options, nonce, state, created, idem)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7)",
            params![
                job.id,
                job.program,
                job.inputs,
                serde_json::to_string(job.options).expect("options serialize"),
                job.nonce,
                now() as i64,
                job.idempotency_key
            ],
        )?;
        tx.commit()?;
        Ok(Inserted::New)
    }

    /// The oldest queued jobs (at most `limit`), without changing them: the
    /// runner prepares a job before it claims it, so a job being prepared is
    /// still `queued` in the database and a crash leaves nothing to undo.
    pub fn peek_queued(&self, limit: usize) -> rusqlite::Result<Vec<QueuedJob>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, program, inputs, options, nonce, attempts FROM jobs
             WHERE state = 'queued' ORDER BY rowid LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            let options: String = r.get(3)?;
            Ok(QueuedJob {
                id: r.get(0)?,
                program: r.get(1)?,
                inputs: r.get(2)?,
                options: serde_json::from_str(&options).unwrap_or_default(),
                nonce: r.get(4)?,
                attempts: r.get(5)?,
            })
        })?;
        rows.collect()
    }

    /// Claims job `id` for proving if it is still queued, in one UPDATE:
    /// `running`, `attempts + 1`, and the execution's size (`None` when the
    /// job failed before it ran). Returns whether it was claimed (false: it
    /// was cancelled, or is gone).
    pub fn claim(&self, id: &str, size: Option<(u64, u64)>) -> rusqlite::Result<bool> {
        let (cycles, shards) = match size {
            Some((c, s)) => (Some(c as i64), Some(s as i64)),
            None => (None, None),
        };
        let n = self.conn.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?2,
             shards_proven = 0, cycles = ?3, shards_total = ?4
             WHERE id = ?1 AND state = 'queued'",
            params![id, now() as i64, cycles, shards],
        )?;
        Ok(n == 1)
    }

    /// A job's state (None: no such job).
    pub fn state(&self, id: &str) -> rusqlite::Result<Option<JobState>> {
        self.conn
            .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map(|s| s.map(|s| JobState::parse(&s).unwrap_or(JobState::Failed)))
    }

    pub fn set_progress(
        &self,
        id: &str,
        cycles: u64,
        shards_total: u64,
        shards_proven: u64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE jobs SET cycles = ?2, shards_total = ?3, shards_proven = ?4
             WHERE id = ?1 AND state = 'running'",
            params![id, cycles as i64, shards_total as i64, shards_proven as i64],
        )?;
        Ok(())
    }

    /// Records a proof. Only a `running` job takes it (a job cancelled while
    /// proving keeps `cancelled`); the ciphertext is dropped. Returns whether
    /// it was recorded.
    pub fn finish_ok(
        &self,
        id: &str,
        exit_code: u32,
        shards: u64,
        proof: &[u8],
        attestation: &str,
    ) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "UPDATE jobs SET state = 'done', exit_code = ?2, shards_proven = ?3, proof = ?4,
             attestation = ?5, finished = ?6, inputs = ''
             WHERE id = ?1 AND state = 'running'",
            params![
                id,
                exit_code,
                shards as i64,
                proof,
                attestation,
                now() as i64
            ],
        )?;
        Ok(n == 1)
    }

    pub fn finish_err(&self, id: &str, error: &str) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "UPDATE jobs SET state = 'failed', error = ?2, finished = ?3, inputs = ''
             WHERE id = ?1 AND state IN ('running', 'queued')",
            params![id, error, now() as i64],
        )?;
        Ok(n == 1)
    }

    /// Cancels a job: drops its ciphertext and any result. Returns the state it
    /// had, or None if there is no such job.
    pub fn cancel(&self, id: &str) -> rusqlite::Result<Option<JobState>> {
        let Some(status) = self.job(id)? else {
            return Ok(None);
        };
        self.conn.execute(
            "UPDATE jobs SET state = 'cancelled', inputs = '', proof = NULL, attestation = NULL,
             finished = COALESCE(finished, ?2) WHERE id = ?1",
            params![id, now() as i64],
        )?;
        Ok(Some(status.state))
    }

    pub fn job(&self, id: &str) -> rusqlite::Result<Option<JobStatus>> {
        self.conn
            .query_row(
                "SELECT id, program, state, attempts, cycles, shards_total, shards_proven,
                        exit_code, error, created, started, finished
                 FROM jobs WHERE id = ?1",
                [id],
                |r| {
                    let state: String = r.get(2)?;
                    Ok(JobStatus {
                        id: r.get(0)?,
                        program: r.get(1)?,
                        state: JobState::parse(&state).unwrap_or(JobState::Failed),
                        attempts: r.get(3)?,
                        cycles: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                        shards_total: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
                        shards_proven: r.get::<_, i64>(6)? as u64,
                        exit_code: r.get(7)?,
                        error: r.get(8)?,
                        created: r.get::<_, i64>(9)? as u64,
                        started: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
                        finished: r.get::<_, Option<i64>>(11)?.map(|v| v as u64),
                    })
                },
            )
            .optional()
    }

    pub fn result(&self, id: &str) -> rusqlite::Result<Option<StoredResult>> {
        self.conn
            .query_row(
                "SELECT program, state, error, proof, attestation, nonce, exit_code
                 FROM jobs WHERE id = ?1",
                [id],
                |r| {
                    let state: String = r.get(1)?;
                    Ok(StoredResult {
                        program: r.get(0)?,
                        state: JobState::parse(&state).unwrap_or(JobState::Failed),
                        error: r.get(2)?,
                        proof: r.get(3)?,
                        attestation: r.get(4)?,
                        nonce: r.get(5)?,
                        exit_code: r.get(6)?,
                    })
                },
            )
            .optional()
    }

    /// Every job id, oldest first.
    pub fn job_ids(&self) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT id FROM jobs ORDER BY rowid")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    /// How many jobs are in each state.
    pub fn state_counts(&self) -> rusqlite::Result<Vec<(JobState, u64)>> {
        let mut out = Vec::new();
        for s in JobState::ALL {
            let n: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM jobs WHERE state = ?1",
                [s.as_str()],
                |r| r.get(0),
            )?;
            out.push((s, n as u64));
        }
        Ok(out)
    }

    pub fn ping(&self) -> rusqlite::Result<()> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))
    }
}
