//! rayon's threads placed below the prover's serial chain in the scheduler.
//!
//! Pass 1 is a chain: one thread executes the program shard by shard, rayon's
//! threads generate each shard's traces on every core, and a thread a GPU
//! hands that GPU its work. Once trace generation ran on every core, the
//! executor became the chain's slowest link: a 2^19-cycle shard took it
//! 13 ms alone and up to 32 ms while rayon's threads held every core
//! (BENCHMARKS.md, stop 30). Started with a higher nice value, rayon's
//! threads leave a core to the executor and the GPU's threads (which mostly
//! sleep) whenever those want one, and still take every other cycle.

/// The nice value rayon's threads take unless `CLOAK_RAYON_NICE` says
/// otherwise (0 leaves them at the process's priority).
pub const DEFAULT_RAYON_NICE: i32 = 5;

/// Builds rayon's global pool with each thread's nice value raised by
/// [`DEFAULT_RAYON_NICE`] (or `CLOAK_RAYON_NICE`, 0 to 19). Call it before
/// anything uses rayon: it returns `false`, changing nothing, if the pool
/// already exists. Raising a thread's nice value needs no privilege; where
/// the system refuses, the threads keep their priority.
pub fn init_rayon_pool() -> bool {
    let nice = std::env::var("CLOAK_RAYON_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(DEFAULT_RAYON_NICE)
        .clamp(0, 19);
    rayon::ThreadPoolBuilder::new()
        .start_handler(move |_| lower_this_thread(nice))
        .build_global()
        .is_ok()
}

/// Raises the calling thread's nice value by `nice` (Linux: a thread's
/// `setpriority`; elsewhere nothing).
fn lower_this_thread(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS as _, tid as libc::id_t);
        libc::setpriority(libc::PRIO_PROCESS as _, tid as libc::id_t, now + nice);
    }
}

#[cfg(test)]
mod tests {
    /// The pool's threads run below the caller's priority (Linux), and a
    /// second call finds the pool built.
    #[test]
    fn rayon_threads_run_at_a_higher_nice_value() {
        let built = super::init_rayon_pool();
        #[cfg(target_os = "linux")]
        if built {
            // SAFETY: getpriority on the calling thread's own id.
            let mine = unsafe { libc::getpriority(libc::PRIO_PROCESS as _, libc::gettid() as _) };
            let theirs = rayon::broadcast(|_| unsafe {
                libc::getpriority(libc::PRIO_PROCESS as _, libc::gettid() as _)
            });
            let want = (mine + super::DEFAULT_RAYON_NICE).min(19);
            assert!(theirs.iter().all(|&n| n == want), "{mine} -> {theirs:?}");
        }
        assert!(!super::init_rayon_pool());
    }
}
