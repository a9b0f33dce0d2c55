//! The execution record: what tracing mode emits for the prover.
//!
//! The record is cut into shards of at most a chosen number of cycles. Each shard
//! holds fixed-size, `Copy` events in flat vectors (one CPU event per cycle, one
//! event per syscall, one memory access per word a syscall touches), the machine
//! state at both of its boundaries, and the memory words it touched with their
//! state on entry and exit, so a shard can be proven on its own and tied to its
//! neighbours by a global memory argument.
//!
//! ## Timestamps
//! Cycle `clk` (0-based, counted from the program's start) owns the four
//! timestamps `4 * clk + 1 + position`, one per access position (rs1, rs2,
//! memory, rd), in that order; timestamp 0 is the initial image. Every access
//! records the value and timestamp it replaces, which is exactly what offline
//! memory checking consumes: each access removes `(addr, prev_value, prev_ts)`
//! from the memory multiset and adds `(addr, value, ts)` with `prev_ts < ts`.
//! Registers are memory words at addresses 0..32 (x0 reads are recorded too,
//! writes to x0 are not performed).

/// Access positions within one cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Position {
    Rs1 = 0,
    Rs2 = 1,
    Memory = 2,
    Rd = 3,
}

/// The timestamp of an access at `position` in cycle `clk`.
#[inline(always)]
pub const fn timestamp(clk: u64, position: Position) -> u64 {
    4 * clk + 1 + position as u64
}

/// One executed instruction. The instruction itself is not stored: the prover
/// fetches it from the program table by `pc`.
///
/// Register slots hold values; for slots the instruction does not use, the value
/// and timestamp are 0. `rd` holds the value written (for ECALL: t0 after the
/// call); `rd_prev` the value it replaced. For loads and stores `mem_addr` is the
/// aligned word address and `mem_value`/`mem_prev` the whole word after/before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CpuEvent {
    pub pc: u32,
    pub rs1: u32,
    pub rs2: u32,
    pub rd: u32,
    pub rd_prev: u32,
    pub mem_addr: u32,
    pub mem_value: u32,
    pub mem_prev: u32,
    pub rs1_prev_ts: u64,
    pub rs2_prev_ts: u64,
    pub rd_prev_ts: u64,
    pub mem_prev_ts: u64,
}

/// One word accessed by a syscall (precompile state, hint writes). Each word is
/// accessed at most once per syscall, at timestamp `timestamp(clk, Memory)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryAccess {
    pub addr: u32,
    pub value: u32,
    pub prev_value: u32,
    pub prev_ts: u64,
}

/// One ECALL. Its memory accesses are `accesses[first_access..first_access + access_count]`
/// in the shard's `syscall_accesses`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallEvent {
    pub clk: u64,
    pub code: u32,
    pub arg1: u32,
    pub arg2: u32,
    /// The value left in t0.
    pub result: u32,
    pub first_access: u32,
    pub access_count: u32,
}

/// Machine state between two cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoundaryState {
    /// Cycles executed before this point.
    pub clk: u64,
    pub pc: u32,
    pub registers: [u32; 32],
    pub register_ts: [u64; 32],
}

/// A memory word touched in a shard: its state when the shard first touched it
/// and when the shard ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TouchedWord {
    pub addr: u32,
    pub initial_value: u32,
    pub initial_ts: u64,
    pub final_value: u32,
    pub final_ts: u64,
}

/// One shard of the execution record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub start: BoundaryState,
    pub end: BoundaryState,
    /// `cpu[i]` is cycle `start.clk + i`.
    pub cpu: Vec<CpuEvent>,
    pub syscalls: Vec<SyscallEvent>,
    pub syscall_accesses: Vec<MemoryAccess>,
    /// Memory words (not registers) this shard accessed, in address order.
    pub touched: Vec<TouchedWord>,
    /// Whether the program halted in this shard.
    pub halted: bool,
}

impl Shard {
    /// Cycles executed in this shard.
    pub fn cycles(&self) -> u64 {
        self.cpu.len() as u64
    }

    /// Moves this shard's record into `dest` without copying its events:
    /// `dest` gets them and this shard's bookkeeping (index, boundaries,
    /// halt), and `self` keeps its bookkeeping and takes `dest`'s buffers,
    /// whose contents are left as they were (the executor clears them before
    /// filling them with the next shard). A pipeline hands each shard to
    /// another thread this way, and the executor refills memory a finished
    /// shard gave back (a 2^19-cycle shard's events are ~40 MB).
    pub fn move_into(&mut self, dest: &mut Shard) {
        // Destructured, so that a new field cannot be forgotten here.
        let Shard {
            index,
            start,
            end,
            cpu,
            syscalls,
            syscall_accesses,
            touched,
            halted,
        } = self;
        dest.index = *index;
        dest.start = *start;
        dest.end = *end;
        dest.halted = *halted;
        std::mem::swap(cpu, &mut dest.cpu);
        std::mem::swap(syscalls, &mut dest.syscalls);
        std::mem::swap(syscall_accesses, &mut dest.syscall_accesses);
        std::mem::swap(touched, &mut dest.touched);
    }

    /// A shard with this one's bookkeeping and no events (and no buffers).
    pub fn empty_like(&self) -> Shard {
        Shard {
            cpu: Vec::new(),
            syscalls: Vec::new(),
            syscall_accesses: Vec::new(),
            touched: Vec::new(),
            ..*self
        }
    }

    /// The memory accesses made by `event`.
    pub fn accesses_of(&self, event: &SyscallEvent) -> &[MemoryAccess] {
        let start = event.first_access as usize;
        &self.syscall_accesses[start..start + event.access_count as usize]
    }
}
