//! Tracing mode on several threads, with the serial tracer's shards.
//!
//! Tracing a 2^19-cycle shard takes one core 13-20 ms on the GPU machine,
//! and the prover's pass 1 waits for it. Here the executor itself runs ahead
//! in stamps mode (timestamps, no record) and, at each shard's start,
//! publishes a [`Checkpoint`]: the registers and their timestamps, the
//! counters, and copies of the memory pages touched since the last
//! checkpoint. Tracer threads take the shards in turn and each keep a
//! memory of their own; to trace shard `k` a tracer restores the pages of
//! the checkpoints after the state it holds, up to `k`'s, and then runs the
//! serial tracer's code on one shard. A tracer that finished shard `j` holds
//! checkpoint `j + 1`'s state exactly, since execution is deterministic, so
//! it only restores what changed since. (On one H200 the proofs were no
//! faster for it, BENCHMARKS.md stop 32: the prover uses one thread unless
//! told otherwise.)
//!
//! The leader cuts shards with the serial tracer's code (`run_shard`), so
//! the shards, their order, the output and the errors are the serial run's:
//! the records handed on are equal field for field (`tests/parallel.rs`).
//! An error ends the run where the serial run would end it: the shards
//! before it are handed on, then the error (the tracer of the failing
//! shard meets it again).

use crate::error::ExecError;
use crate::executor::{mode, ExecOutput, Executor, ShardPolicy, Tracer};
use crate::memory::PageSnapshot;
use crate::record::Shard;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// More tracing threads than this are not started: each holds a copy of
/// the guest's memory, and a few already outrun the run ahead.
pub const MAX_TRACING_THREADS: usize = 16;

/// The machine state at a shard's start, less what tracers already hold.
struct Checkpoint {
    clk: u64,
    pc: u32,
    regs: [u32; 32],
    reg_ts: [u64; 32],
    committed: [Option<u32>; 8],
    /// Input buffers read so far.
    inputs_read: usize,
    /// Public-value bytes written since the previous checkpoint.
    public_values: Vec<u8>,
    /// Pages touched since the previous checkpoint, as they are here.
    pages: Vec<PageSnapshot>,
}

/// What the threads share, under one lock.
struct State {
    /// Published checkpoints still needed, by shard index.
    checkpoints: BTreeMap<usize, Arc<Checkpoint>>,
    /// Checkpoints published: the shards the run has so far.
    published: usize,
    /// Set when the leader stops: the run's output or its error.
    leader: Option<Result<ExecOutput, ExecError>>,
    /// Shards handed to `on_shard` so far.
    delivered: usize,
    /// Traced shards waiting to be handed on.
    traced: BTreeMap<usize, Result<Tracer, ExecError>>,
    /// Buffers of shards handed on, for the next shards.
    free: Vec<Tracer>,
    /// Per tracer thread: the first checkpoint it still needs (`usize::MAX`
    /// once it has stopped).
    needs: Vec<usize>,
    /// Set to stop every thread: `on_shard` failed or a thread panicked.
    stop: bool,
    panicked: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the checkpoints no tracer needs any more.
    fn collect(state: &mut State) {
        let keep_from = state.needs.iter().copied().min().unwrap_or(usize::MAX);
        state.checkpoints = state.checkpoints.split_off(&keep_from);
    }
}

/// Stops the run if the thread holding it unwinds, so that nobody waits
/// for its work; the scope then re-raises the panic.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.lock();
            state.stop = true;
            state.panicked = true;
            self.0.changed.notify_all();
        }
    }
}

impl<'p> Executor<'p> {
    /// Tracing mode on `threads` tracer threads plus this executor, which
    /// runs ahead to checkpoint each shard's start (module docs). The shards,
    /// the output and the error are [`Self::run_traced_with`]'s, and
    /// `on_shard` sees the shards in order on the calling thread. At most
    /// `threads + 1` traced shards wait for `on_shard` at once (each holds
    /// its record), and the leader checkpoints at most twice that far ahead.
    /// With `threads` 0 or 1, or an executor that has halted already, this
    /// is the serial run; threads past [`MAX_TRACING_THREADS`] are not used.
    pub fn run_traced_parallel<E: From<ExecError>>(
        &mut self,
        policy: &ShardPolicy<'_>,
        threads: usize,
        mut on_shard: impl FnMut(&mut Shard) -> Result<(), E>,
    ) -> Result<ExecOutput, E> {
        if threads <= 1 || self.halted {
            return self.run_traced_with(policy, on_shard);
        }
        let threads = threads.min(MAX_TRACING_THREADS);
        self.memory.enable_timestamps();
        let ahead = threads + 1;
        let shared = Shared {
            state: Mutex::new(State {
                checkpoints: BTreeMap::new(),
                published: 0,
                leader: None,
                delivered: 0,
                traced: BTreeMap::new(),
                free: Vec::new(),
                needs: vec![0; threads],
                stop: false,
                panicked: false,
            }),
            changed: Condvar::new(),
        };
        // Checkpoint 0 is the state every tracer starts from (its pages,
        // touched before, are never restored).
        let inputs_at_start = self.inputs.len();
        let first = self.checkpoint(inputs_at_start, 0);
        {
            let mut state = shared.lock();
            state.checkpoints.insert(0, Arc::new(first));
            state.published = 1;
        }
        let bases: Vec<Executor<'p>> = (0..threads).map(|_| self.fork()).collect();
        let capacity = self.shard_capacity(policy);
        let shared = &shared;
        std::thread::scope(|scope| {
            // A spawn that fails (the OS refusing a thread) panics here:
            // the threads already started must stop, not wait for it.
            let _guard = PanicGuard(shared);
            for (slot, base) in bases.into_iter().enumerate() {
                scope.spawn(move || {
                    trace_shards(shared, slot, threads, base, policy, ahead, capacity)
                });
            }
            let leader = &mut *self;
            scope.spawn(move || leader.lead(shared, policy, 2 * ahead, inputs_at_start));
            deliver(shared, &mut on_shard)
        })
    }

    /// A tracer's own copy of this executor's state (no record, no output
    /// but the public values, which HALT checks).
    fn fork(&self) -> Executor<'p> {
        Executor {
            program: self.program,
            regs: self.regs,
            pc: self.pc,
            clk: self.clk,
            memory: self.memory.clone(),
            inputs: self.inputs.clone(),
            committed: self.committed,
            output: ExecOutput {
                public_values: self.output.public_values.clone(),
                ..ExecOutput::default()
            },
            halted: self.halted,
            config: self.config.clone(),
            reg_ts: self.reg_ts,
            tracer: None,
            shard_accesses: 0,
            last_syscall: None,
        }
    }

    /// The current state as a checkpoint: the pages touched and the public
    /// values written since `public_values_from`.
    fn checkpoint(&mut self, inputs_at_start: usize, public_values_from: usize) -> Checkpoint {
        Checkpoint {
            clk: self.clk,
            pc: self.pc,
            regs: self.regs,
            reg_ts: self.reg_ts,
            committed: self.committed,
            inputs_read: inputs_at_start - self.inputs.len(),
            public_values: self.output.public_values[public_values_from..].to_vec(),
            pages: self.memory.take_touched_pages(),
        }
    }

    /// Brings a tracer's state to checkpoint `target`, given the
    /// checkpoints after the one it holds up to `target` (`since`, in
    /// order: each carries what changed before it).
    fn restore(&mut self, since: &[Arc<Checkpoint>], target: &Checkpoint, inputs_at_start: usize) {
        // Each page as the latest of them has it, copied once.
        let mut restored = std::collections::HashSet::new();
        for checkpoint in since.iter().rev() {
            for page in &checkpoint.pages {
                if restored.insert(page.index()) {
                    self.memory.restore_page(page);
                }
            }
        }
        for checkpoint in since {
            self.output
                .public_values
                .extend_from_slice(&checkpoint.public_values);
        }
        self.regs = target.regs;
        self.reg_ts = target.reg_ts;
        self.pc = target.pc;
        self.clk = target.clk;
        self.committed = target.committed;
        self.halted = false;
        while inputs_at_start - self.inputs.len() < target.inputs_read {
            self.inputs.pop_front();
        }
        // Output a tracer makes besides the public values is not needed.
        self.output.stdout.clear();
        self.output.stderr.clear();
        self.output.hint_output.clear();
    }

    /// The leader: runs in stamps mode, cutting shards as the tracer does,
    /// and publishes each next shard's checkpoint while at most `ahead`
    /// shards beyond those handed on.
    fn lead(
        &mut self,
        shared: &Shared,
        policy: &ShardPolicy<'_>,
        ahead: usize,
        inputs_at_start: usize,
    ) {
        let _guard = PanicGuard(shared);
        let limit = self.limit();
        let mut public_values_from = self.output.public_values.len();
        let result = loop {
            if let Err(e) = self.run_shard::<{ mode::STAMPS }>(policy, limit) {
                break Err(e);
            }
            if self.halted {
                break Ok(self.finish());
            }
            if self.clk >= limit {
                break Err(ExecError::CycleLimit { pc: self.pc, limit });
            }
            let checkpoint = Arc::new(self.checkpoint(inputs_at_start, public_values_from));
            public_values_from = self.output.public_values.len();
            let mut state = shared.lock();
            while !state.stop && state.published >= state.delivered + ahead {
                state = shared.wait(state);
            }
            if state.stop {
                return;
            }
            let index = state.published;
            state.checkpoints.insert(index, checkpoint);
            state.published += 1;
            shared.changed.notify_all();
        };
        shared.lock().leader = Some(result);
        shared.changed.notify_all();
    }
}

/// A tracer thread: traces shards `slot`, `slot + threads`, ... (each
/// while fewer than `ahead` shards wait to be handed on), bringing
/// `executor` to each one's checkpoint. Taking shards in turn keeps every
/// tracer within `threads` checkpoints of the next shard, which bounds the
/// checkpoints kept (a free-for-all lets one tracer lose every race and
/// pin them all).
fn trace_shards(
    shared: &Shared,
    slot: usize,
    threads: usize,
    mut executor: Executor<'_>,
    policy: &ShardPolicy<'_>,
    ahead: usize,
    capacity: usize,
) {
    let _guard = PanicGuard(shared);
    let inputs_at_start = executor.inputs.len();
    let limit = executor.limit();
    // The checkpoint this memory holds.
    let mut holds = 0usize;
    let mut index = slot;
    loop {
        let mut state = shared.lock();
        loop {
            if state.stop {
                return;
            }
            if index < state.published && index < state.delivered + ahead {
                break;
            }
            if state.leader.is_some() && index >= state.published {
                state.needs[slot] = usize::MAX;
                Shared::collect(&mut state);
                return;
            }
            state = shared.wait(state);
        }
        // Every checkpoint after the one this memory holds, up to the
        // shard's (`holds <= index`: shards are taken in order).
        let since: Vec<Arc<Checkpoint>> = state
            .checkpoints
            .range(holds + 1..index + 1)
            .map(|(_, c)| c.clone())
            .collect();
        let target = state.checkpoints[&index].clone();
        let mut tracer = state.free.pop().unwrap_or_default();
        drop(state);

        executor.restore(&since, &target, inputs_at_start);
        tracer.reset(index as u32, capacity);
        let traced = executor.trace_shard(&mut tracer, policy, limit);
        let failed = traced.is_err();
        let mut state = shared.lock();
        state.traced.insert(index, traced.map(|()| tracer));
        // After shard `index` this memory is checkpoint `index + 1`'s; the
        // next shard needs those after it, up to its own.
        holds = index + 1;
        index += threads;
        state.needs[slot] = if failed { usize::MAX } else { holds + 1 };
        Shared::collect(&mut state);
        shared.changed.notify_all();
        if failed {
            return;
        }
    }
}

/// The calling thread: hands the traced shards to `on_shard` in order,
/// then returns the leader's result (or the first error, in shard order).
fn deliver<E: From<ExecError>>(
    shared: &Shared,
    on_shard: &mut impl FnMut(&mut Shard) -> Result<(), E>,
) -> Result<ExecOutput, E> {
    let _guard = PanicGuard(shared);
    // Every thread stops, whether the run ended or failed.
    let stop = |shared: &Shared| {
        shared.lock().stop = true;
        shared.changed.notify_all();
    };
    loop {
        let mut state = shared.lock();
        let traced = loop {
            // The scope re-raises a thread's panic once the others end.
            assert!(!state.panicked, "a thread of the parallel run panicked");
            let next = state.delivered;
            if let Some(traced) = state.traced.remove(&next) {
                break traced;
            }
            if state.leader.is_some() && next >= state.published {
                let result = state.leader.take().expect("checked above");
                drop(state);
                stop(shared);
                return result.map_err(E::from);
            }
            state = shared.wait(state);
        };
        drop(state);
        let mut tracer = match traced {
            Ok(tracer) => tracer,
            Err(e) => {
                stop(shared);
                return Err(e.into());
            }
        };
        if let Err(e) = on_shard(&mut tracer.shard) {
            stop(shared);
            return Err(e);
        }
        let mut state = shared.lock();
        state.delivered += 1;
        state.free.push(tracer);
        shared.changed.notify_all();
    }
}
