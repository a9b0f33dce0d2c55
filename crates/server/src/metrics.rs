//! Counters for `GET /metrics` (Prometheus text format, version 0.0.4).

use crate::types::JobState;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub programs_uploaded: AtomicU64,
    pub jobs_submitted: AtomicU64,
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_cancelled: AtomicU64,
    /// Proofs stopped part-way because their job was cancelled.
    pub jobs_stopped: AtomicU64,
    pub jobs_requeued_at_start: AtomicU64,
    pub cycles_proven: AtomicU64,
    pub shards_proven: AtomicU64,
    /// Microseconds from claiming a job to recording its result (traces,
    /// STARKs, attestation; not what was prepared ahead).
    pub proving_micros: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Ordering::Relaxed);
    }

    /// Renders every counter, plus the jobs per state from the database.
    pub fn render(&self, states: &[(JobState, u64)]) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            "cloak_http_requests_total",
            "HTTP requests answered.",
            &self.requests,
        );
        counter(
            "cloak_http_client_errors_total",
            "Requests answered with a 4xx status.",
            &self.client_errors,
        );
        counter(
            "cloak_programs_uploaded_total",
            "Programs uploaded.",
            &self.programs_uploaded,
        );
        counter(
            "cloak_jobs_submitted_total",
            "Jobs accepted.",
            &self.jobs_submitted,
        );
        counter(
            "cloak_jobs_done_total",
            "Jobs proven and attested.",
            &self.jobs_done,
        );
        counter("cloak_jobs_failed_total", "Jobs failed.", &self.jobs_failed);
        counter(
            "cloak_jobs_cancelled_total",
            "Jobs cancelled with DELETE.",
            &self.jobs_cancelled,
        );
        counter(
            "cloak_jobs_stopped_total",
            "Proofs stopped part-way because their job was cancelled.",
            &self.jobs_stopped,
        );
        counter(
            "cloak_jobs_requeued_at_start_total",
            "Jobs found running at start-up and queued again.",
            &self.jobs_requeued_at_start,
        );
        counter(
            "cloak_cycles_proven_total",
            "Guest cycles proven.",
            &self.cycles_proven,
        );
        counter(
            "cloak_shards_proven_total",
            "Shards proven.",
            &self.shards_proven,
        );
        let secs = self.proving_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP cloak_proving_seconds_total Time spent proving jobs."
        );
        let _ = writeln!(out, "# TYPE cloak_proving_seconds_total counter");
        let _ = writeln!(out, "cloak_proving_seconds_total {secs}");
        let _ = writeln!(out, "# HELP cloak_jobs Jobs in the database, by state.");
        let _ = writeln!(out, "# TYPE cloak_jobs gauge");
        for (state, n) in states {
            let _ = writeln!(out, "cloak_jobs{{state=\"{}\"}} {n}", state.as_str());
        }
        out
    }
}
