//! Phase timings of trace generation (`cloak::pipeline` debug events).

/// The time each phase of a shard's trace generation took, reported as one
/// `cloak::pipeline` debug event: generation bounds the GPU prover's first
/// pass, so which part of it dominates decides what to speed up.
pub(crate) struct Phases {
    event: &'static str,
    last: std::time::Instant,
    ms: Vec<(&'static str, f64)>,
}

impl Phases {
    pub(crate) fn start(event: &'static str) -> Phases {
        Phases {
            event,
            last: std::time::Instant::now(),
            ms: Vec::with_capacity(8),
        }
    }

    pub(crate) fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1e3;
        self.ms.push((phase, (ms * 10.0).round() / 10.0));
        self.last = now;
    }

    pub(crate) fn report(&self, shard: u32) {
        if tracing::enabled!(target: crate::zkvm::PIPELINE, tracing::Level::DEBUG) {
            let phases: Vec<String> = self.ms.iter().map(|(p, ms)| format!("{p}={ms}")).collect();
            tracing::debug!(
                target: crate::zkvm::PIPELINE,
                shard,
                phases = phases.join(" "),
                "{}",
                self.event
            );
        }
    }
}
