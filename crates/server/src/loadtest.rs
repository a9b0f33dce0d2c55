//! A bounded load test: concurrent clients each submit jobs, wait for them
//! and verify every result (proof and its attestation, bound to their own
//! nonce); then the server's job counts are checked against what was
//! submitted, so a job lost or made twice shows up. Run it against a server
//! nobody else uses meanwhile (the counts are the server's totals).

use crate::client::{Client, ClientError, Trust};
use crate::types::{JobOptions, JobRequest, JobState};
use cloak_machine::MachineKeys;
use cloak_prover::FriSettings;
use cloak_tee::Nonce;
use cloak_vm::Program;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to run.
pub struct LoadSpec {
    pub clients: usize,
    pub jobs_per_client: usize,
    pub elf: Vec<u8>,
    /// Job `i` (over all clients) gets `inputs[i % inputs.len()]`.
    pub inputs: Vec<Vec<Vec<u8>>>,
    pub options: JobOptions,
    /// `true`: each client submits all its jobs, then waits for them;
    /// `false`: submit, wait, verify, then the next.
    pub burst: bool,
    /// Give up on a job after this long (it then counts as lost).
    pub timeout: Duration,
    /// How often a client polls a job's status.
    pub poll: Duration,
}

/// Nearest-rank percentiles of a set of durations.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub n: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut s = samples.to_vec();
        s.sort();
        let rank = |p: f64| -> Duration {
            if s.is_empty() {
                return Duration::ZERO;
            }
            let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
            s[i - 1]
        };
        Percentiles {
            n: s.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: s.last().copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "n={} p50={:.0} ms p90={:.0} ms p99={:.0} ms max={:.0} ms",
            self.n,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Jobs the server accepted.
    pub submitted: usize,
    /// Submissions the server refused (e.g. 429 queue full).
    pub refused: usize,
    /// Jobs done whose proof and attestation verified.
    pub completed: usize,
    /// Jobs that ended failed or cancelled, or whose result did not verify.
    pub failed: usize,
    /// Accepted jobs the server no longer knows, or that never finished.
    pub lost: usize,
    /// Jobs the server holds or completed beyond those accepted, and
    /// resubmissions (same idempotency key) that made a new job.
    pub duplicated: usize,
    /// The accepted jobs' ids.
    pub job_ids: Vec<String>,
    pub submit: Percentiles,
    /// Submission to verified result.
    pub end_to_end: Percentiles,
    pub wall: Duration,
    /// The first few error messages.
    pub errors: Vec<String>,
}

impl LoadReport {
    /// Every job accepted completed and verified; none lost or duplicated.
    pub fn clean(&self) -> bool {
        self.completed == self.submitted
            && self.failed == 0
            && self.lost == 0
            && self.duplicated == 0
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "submitted {}  refused {}  completed {}  failed {}  lost {}  duplicated {}",
            self.submitted, self.refused, self.completed, self.failed, self.lost, self.duplicated
        )?;
        writeln!(f, "submit latency:     {}", self.submit)?;
        writeln!(f, "end-to-end latency: {}", self.end_to_end)?;
        let secs = self.wall.as_secs_f64();
        write!(
            f,
            "wall {:.1} s, {:.2} jobs/s completed",
            secs,
            self.completed as f64 / secs.max(1e-9)
        )?;
        for e in &self.errors {
            write!(f, "\nerror: {e}")?;
        }
        Ok(())
    }
}

/// The server's totals that the load test compares: jobs in the database
/// (every state) and jobs completed since it started.
fn server_counts(client: &Client) -> Result<(f64, f64), ClientError> {
    let text = client.metrics()?;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let jobs = JobState::ALL
        .iter()
        .map(|s| value(&format!("cloak_jobs{{state=\"{}\"}}", s.as_str())))
        .sum();
    Ok((jobs, value("cloak_jobs_done_total")))
}

/// One accepted job, as a client tracks it.
struct Accepted {
    id: String,
    nonce: Nonce,
    start: Instant,
}

#[derive(Default)]
struct Tally {
    report: LoadReport,
    submit: Vec<Duration>,
    e2e: Vec<Duration>,
    requests: Vec<(String, JobRequest)>,
}

impl Tally {
    fn error(&mut self, e: String) {
        if self.report.errors.len() < 10 {
            self.report.errors.push(e);
        }
    }
}

/// Runs the load test against `url`.
pub fn run(url: &str, spec: &LoadSpec, trust: &Trust) -> Result<LoadReport, ClientError> {
    if spec.inputs.is_empty() || spec.clients == 0 || spec.jobs_per_client == 0 {
        return Err(ClientError::Other(
            "nothing to submit: clients, jobs per client and input sets must be at least 1".into(),
        ));
    }
    let admin = Client::new(url)?;
    let program =
        Program::from_elf(&spec.elf).map_err(|e| ClientError::Other(format!("the ELF: {e}")))?;
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT)
        .map_err(|e| ClientError::Other(format!("deriving the keys: {e}")))?;
    let vk = admin.upload_program(&spec.elf)?;
    let (jobs_before, done_before) = server_counts(&admin)?;
    let tally = Mutex::new(Tally::default());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for c in 0..spec.clients {
            let (tally, keys, vk) = (&tally, &keys, &vk);
            scope.spawn(move || {
                if let Err(e) = client_loop(url, spec, trust, keys, vk, c, tally) {
                    tally.lock().unwrap().error(format!("client {c}: {e}"));
                }
            });
        }
    });
    let wall = start.elapsed();
    let mut t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    // Each accepted request sent again with its idempotency key must answer
    // the job it made, not a new one.
    let requests = std::mem::take(&mut t.requests);
    for (id, req) in &requests {
        match admin.submit_raw(req) {
            Ok(s) if &s.id == id => {}
            Ok(s) => {
                t.report.duplicated += 1;
                let e = format!("resubmitting job {id} made job {}", s.id);
                t.error(e);
            }
            Err(e) => t.error(format!("resubmitting job {id}: {e}")),
        }
    }
    let (jobs_after, done_after) = server_counts(&admin)?;
    let r = &mut t.report;
    let new_jobs = (jobs_after - jobs_before).round() as i64;
    let new_done = (done_after - done_before).round() as i64;
    let accepted = r.submitted as i64;
    r.duplicated += (new_jobs - accepted).max(0) as usize;
    r.duplicated += (new_done - r.completed as i64).max(0) as usize;
    r.lost += (accepted - new_jobs).max(0) as usize;
    r.submit = Percentiles::of(&t.submit);
    r.end_to_end = Percentiles::of(&t.e2e);
    r.wall = wall;
    Ok(t.report)
}

fn client_loop(
    url: &str,
    spec: &LoadSpec,
    trust: &Trust,
    keys: &MachineKeys,
    vk: &str,
    index: usize,
    tally: &Mutex<Tally>,
) -> Result<(), ClientError> {
    let client = Client::new(url)?;
    let verified = client.verified_key(trust)?;
    let mut waiting = Vec::new();
    for j in 0..spec.jobs_per_client {
        let n = index * spec.jobs_per_client + j;
        let sealed = Client::encrypt(&verified, trust, &spec.inputs[n % spec.inputs.len()])?;
        let nonce = Nonce::random().map_err(|e| ClientError::Other(e.to_string()))?;
        let request = JobRequest {
            program: vk.to_string(),
            inputs: serde_json::from_str(&sealed.to_json())
                .map_err(|e| ClientError::Other(e.to_string()))?,
            options: spec.options.clone(),
            nonce: Some(nonce.to_hex()),
            idempotency_key: Some(nonce.to_hex()),
        };
        let start = Instant::now();
        let submitted = client.submit(vk, &sealed, &spec.options, &nonce);
        let took = start.elapsed();
        let mut t = tally.lock().unwrap();
        match submitted {
            Ok(status) => {
                t.report.submitted += 1;
                t.submit.push(took);
                t.report.job_ids.push(status.id.clone());
                t.requests.push((status.id.clone(), request));
                drop(t);
                let job = Accepted {
                    id: status.id,
                    nonce,
                    start,
                };
                if spec.burst {
                    waiting.push(job);
                } else {
                    finish(&client, spec, trust, keys, job, tally);
                }
            }
            Err(e) => {
                t.report.refused += 1;
                t.error(format!("submitting: {e}"));
            }
        }
    }
    for job in waiting {
        finish(&client, spec, trust, keys, job, tally);
    }
    Ok(())
}

/// Waits for one job, fetches and verifies its result, and counts it.
fn finish(
    client: &Client,
    spec: &LoadSpec,
    trust: &Trust,
    keys: &MachineKeys,
    job: Accepted,
    tally: &Mutex<Tally>,
) {
    let outcome = wait_and_verify(client, spec, trust, keys, &job);
    let mut t = tally.lock().unwrap();
    match outcome {
        Ok(()) => {
            t.report.completed += 1;
            t.e2e.push(job.start.elapsed());
        }
        Err(Outcome::Lost(e)) => {
            t.report.lost += 1;
            t.error(format!("job {}: {e}", job.id));
        }
        Err(Outcome::Failed(e)) => {
            t.report.failed += 1;
            t.error(format!("job {}: {e}", job.id));
        }
    }
}

enum Outcome {
    Lost(String),
    Failed(String),
}

fn wait_and_verify(
    client: &Client,
    spec: &LoadSpec,
    trust: &Trust,
    keys: &MachineKeys,
    job: &Accepted,
) -> Result<(), Outcome> {
    let status = loop {
        match client.status(&job.id) {
            Ok(s) if s.state.is_terminal() => break s,
            Ok(_) => {}
            Err(e) if e.status() == Some(404) => {
                return Err(Outcome::Lost(format!("the server does not know it: {e}")))
            }
            // A transient error (the server restarting) is retried until the timeout.
            Err(_) => {}
        }
        if job.start.elapsed() > spec.timeout {
            return Err(Outcome::Lost(format!(
                "not finished after {:?}",
                spec.timeout
            )));
        }
        std::thread::sleep(spec.poll);
    };
    if status.state != JobState::Done {
        return Err(Outcome::Failed(format!(
            "ended {}: {}",
            status.state.as_str(),
            status.error.unwrap_or_default()
        )));
    }
    let result = client
        .result(&job.id)
        .map_err(|e| Outcome::Failed(format!("fetching the result: {e}")))?;
    Client::verify_result_with(&result, keys, trust, &job.nonce)
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(
            (p.n, p.p50, p.p90, p.p99, p.max),
            (100, ms(50), ms(90), ms(99), ms(100))
        );
        let p = Percentiles::of(&[ms(7)]);
        assert_eq!((p.p50, p.p99, p.max), (ms(7), ms(7), ms(7)));
        assert_eq!(Percentiles::of(&[]).max, Duration::ZERO);
    }

    #[test]
    fn an_empty_load_is_refused_before_any_request() {
        let spec = LoadSpec {
            clients: 0,
            jobs_per_client: 5,
            elf: Vec::new(),
            inputs: vec![Vec::new()],
            options: JobOptions::default(),
            burst: false,
            timeout: Duration::from_secs(1),
            poll: Duration::from_millis(10),
        };
        let trust = Trust::new(cloak_tee::Policy::default());
        // Port 1: nothing listens; the refusal must come first.
        match run("http://127.0.0.1:1", &spec, &trust) {
            Err(ClientError::Other(m)) => assert!(m.contains("nothing to submit"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_report_with_any_loss_is_not_clean() {
        let mut r = LoadReport {
            submitted: 3,
            completed: 3,
            ..LoadReport::default()
        };
        assert!(r.clean());
        r.duplicated = 1;
        assert!(!r.clean());
        r.duplicated = 0;
        r.completed = 2;
        r.lost = 1;
        assert!(!r.clean());
    }
}
