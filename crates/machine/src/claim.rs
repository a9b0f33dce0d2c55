//! The claim (exit code and digest) every shard's traces are generated
//! against, possibly still being fixed by the fast run on another thread.
//!
//! The fast run over the whole program is what fixes the claim, and no
//! shard's traces can be finished without it. Executing the first shards
//! in tracing mode needs nothing from it, nor does generating every table
//! but the Commit table (`witness::generate_shard_with`), so the prover
//! starts them while the fast run goes on, and generation waits for the
//! claim here only to finish.
//! Meanwhile both runs hold a guest memory image.

use std::sync::{Condvar, Mutex};

use crate::witness::ExecutionClaim;

/// A claim the fast run fills in once, on its own thread.
#[derive(Default)]
pub(crate) struct PendingClaim {
    /// `Some(Ok)` once the run finished, `Some(Err(()))` if it failed (its
    /// error goes to the caller by the run's own thread).
    slot: Mutex<Option<Result<ExecutionClaim, ()>>>,
    ready: Condvar,
}

impl PendingClaim {
    /// Sets the outcome and wakes every waiter.
    pub(crate) fn set(&self, claim: Result<ExecutionClaim, ()>) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(claim);
        self.ready.notify_all();
    }

    /// The claim, once the fast run has set it; `Err` if the run failed.
    pub(crate) fn wait(&self) -> Result<ExecutionClaim, ()> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(outcome) = *slot {
                return outcome;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Where shard generation takes its claim from.
#[derive(Clone, Copy)]
pub(crate) enum ClaimSource<'a> {
    Known(ExecutionClaim),
    Pending(&'a PendingClaim),
}

impl ClaimSource<'_> {
    /// The claim, waiting for the fast run if it is still going; `Err` if
    /// that run failed.
    pub(crate) fn get(self) -> Result<ExecutionClaim, ()> {
        match self {
            ClaimSource::Known(claim) => Ok(claim),
            ClaimSource::Pending(pending) => pending.wait(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_get_the_claim_set_later() {
        let pending = PendingClaim::default();
        let claim = ExecutionClaim {
            digest: [7; 8],
            exit_code: 3,
        };
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(|| ClaimSource::Pending(&pending).get()))
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(20));
            pending.set(Ok(claim));
            for w in waiters {
                assert_eq!(w.join().unwrap(), Ok(claim));
            }
        });
        // Later waiters return at once.
        assert_eq!(pending.wait(), Ok(claim));
    }

    #[test]
    fn a_failed_run_fails_every_waiter() {
        let pending = PendingClaim::default();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| pending.wait());
            pending.set(Err(()));
            assert_eq!(waiter.join().unwrap(), Err(()));
        });
    }
}
