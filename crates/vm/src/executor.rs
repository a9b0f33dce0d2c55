//! The interpreter.
//!
//! One generic loop serves every mode (`mode`): fast mode keeps no record,
//! stamps mode keeps each register's and memory word's last-access timestamp
//! (what parallel tracing checkpoints, `parallel.rs`), tracing mode also
//! fills a [`CpuEvent`] per cycle. The const parameter removes the other
//! modes' branches from each loop at compile time.

use crate::error::ExecError;
use crate::instruction::{Instruction, Opcode};
use crate::memory::Memory;
use crate::program::Program;
use crate::record::{
    timestamp, BoundaryState, CpuEvent, MemoryAccess, Position, Shard, SyscallEvent, TouchedWord,
};
use std::collections::VecDeque;

/// What a run keeps besides the machine state: the const parameter of the
/// interpreter's loop.
pub(crate) mod mode {
    /// Nothing: fast mode.
    pub const FAST: u8 = 0;
    /// Every register's and memory word's last-access timestamp, and the
    /// last syscall's event, but no record: the run that checkpoints shard
    /// starts for parallel tracing.
    pub const STAMPS: u8 = 1;
    /// Timestamps and the execution record: tracing mode.
    pub const TRACE: u8 = 2;

    /// Whether mode `m` keeps timestamps.
    pub const fn stamps(m: u8) -> bool {
        m != FAST
    }

    /// Whether mode `m` records events.
    pub const fn events(m: u8) -> bool {
        m == TRACE
    }
}

/// Limits on one execution.
#[derive(Clone, Debug, Default)]
pub struct ExecConfig {
    /// Stop with [`ExecError::CycleLimit`] after this many cycles without HALT.
    pub max_cycles: Option<u64>,
    /// Stop with [`ExecError::MemoryLimit`] when the guest's data pages (64 KiB each,
    /// the loaded image included) pass this many bytes. Tracing mode also keeps a
    /// timestamp page per touched page, and a record bounded by the shard size.
    pub max_memory_bytes: Option<u64>,
}

/// Where tracing mode cuts shards.
///
/// Cycles alone do not bound a shard's traces: a syscall served by a wide
/// table (a precompile) or one row per word (HINT_READ) can add far more trace
/// than the cycle that called it. The prover prices each syscall and the
/// executor closes a shard once its syscalls cost `max_syscall_cost`.
pub struct ShardPolicy<'a> {
    /// At most this many cycles per shard (0 counts as 1).
    pub max_cycles: u64,
    /// Close the shard right after the syscall that brings its syscalls' total
    /// cost to this or more (a single syscall still fits any shard).
    pub max_syscall_cost: u64,
    /// The cost of one recorded syscall, in the caller's units (shared by
    /// the threads of a parallel run).
    pub syscall_cost: &'a (dyn Fn(&SyscallEvent) -> u64 + Sync),
}

impl ShardPolicy<'static> {
    /// Shards of at most `max_cycles` cycles, whatever their syscalls.
    pub fn cycles(max_cycles: u64) -> Self {
        ShardPolicy {
            max_cycles,
            max_syscall_cost: u64::MAX,
            syscall_cost: &|_| 0,
        }
    }
}

/// What a completed run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub cycles: u64,
    pub exit_code: u32,
    /// Bytes written to fd 3, in order.
    pub public_values: Vec<u8>,
    /// Bytes written to fd 1.
    pub stdout: Vec<u8>,
    /// Bytes written to fd 2.
    pub stderr: Vec<u8>,
    /// Buffers written to fd 4 (host-side hints), one per WRITE.
    pub hint_output: Vec<Vec<u8>>,
    /// The public-values digest words the guest COMMITted (the last value per
    /// word; `None` where it committed none).
    pub committed: [Option<u32>; 8],
}

impl ExecOutput {
    /// SHA-256 of the public values: the digest the statement carries.
    pub fn public_values_digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(&self.public_values).into()
    }
}

/// Per-shard state kept only in tracing mode (`default()`: no buffers).
#[derive(Default)]
pub(crate) struct Tracer {
    pub(crate) shard: Shard,
    /// `(addr, prev_value, prev_ts)` of each memory word at its first access in this shard.
    pub(crate) first_touch: Vec<(u32, u32, u64)>,
    /// Accesses with an earlier timestamp happened before this shard.
    pub(crate) shard_start_ts: u64,
}

impl Tracer {
    /// Empties the buffers for shard `index`, keeping their memory, with
    /// room for `capacity` CPU events (buffers `on_shard` swapped in may be
    /// smaller, or none: then fresh memory, on huge pages).
    pub(crate) fn reset(&mut self, index: u32, capacity: usize) {
        let shard = &mut self.shard;
        shard.index = index;
        shard.cpu.clear();
        crate::huge::reserve_huge(&mut shard.cpu, capacity);
        shard.syscalls.clear();
        shard.syscall_accesses.clear();
        shard.touched.clear();
        self.first_touch.clear();
    }
}

/// Runs one program on one input.
pub struct Executor<'p> {
    pub(crate) program: &'p Program,
    pub(crate) regs: [u32; 32],
    pub(crate) pc: u32,
    pub(crate) clk: u64,
    pub(crate) memory: Memory,
    pub(crate) inputs: VecDeque<Vec<u8>>,
    pub(crate) committed: [Option<u32>; 8],
    pub(crate) output: ExecOutput,
    pub(crate) halted: bool,
    pub(crate) config: ExecConfig,
    pub(crate) reg_ts: [u64; 32],
    pub(crate) tracer: Option<Tracer>,
    /// Words syscalls accessed in this shard so far (stamps and tracing
    /// modes): where the next syscall's accesses start.
    pub(crate) shard_accesses: u32,
    /// The event of the syscall the last step made (stamps and tracing
    /// modes), for the shard policy's cost.
    pub(crate) last_syscall: Option<SyscallEvent>,
}

impl<'p> Executor<'p> {
    /// Loads the program's image into a fresh memory. All registers start at 0
    /// and the pc at the entry point; the guest sets up its own stack.
    pub fn new(program: &'p Program, inputs: Vec<Vec<u8>>, config: ExecConfig) -> Executor<'p> {
        // The image is loaded without a limit; the limit applies to what the guest touches.
        let mut memory = Memory::new(None);
        for (addr, value) in program.image_words() {
            memory
                .store(addr, value)
                .expect("memory without a limit cannot be full");
        }
        memory.set_limit(config.max_memory_bytes);
        Executor {
            program,
            regs: [0; 32],
            pc: program.entry,
            clk: 0,
            memory,
            inputs: inputs.into(),
            committed: [None; 8],
            output: ExecOutput::default(),
            halted: false,
            config,
            reg_ts: [0; 32],
            tracer: None,
            shard_accesses: 0,
            last_syscall: None,
        }
    }

    pub fn registers(&self) -> [u32; 32] {
        self.regs
    }

    pub fn pc(&self) -> u32 {
        self.pc
    }

    /// Cycles executed so far.
    pub fn cycles(&self) -> u64 {
        self.clk
    }

    /// The word at a 4-aligned address (0 if never written).
    pub fn read_word(&self, addr: u32) -> u32 {
        self.memory.load(addr & !3)
    }

    /// Every memory word accessed during a traced run with its final value and
    /// timestamp, in address order (empty after a fast-mode run).
    pub fn final_memory(&self) -> Vec<(u32, u32, u64)> {
        self.memory.touched_words()
    }

    /// Fast mode: runs to HALT without recording anything.
    pub fn run(&mut self) -> Result<ExecOutput, ExecError> {
        let limit = self.limit();
        while self.clk < limit {
            if self.step::<{ mode::FAST }>()? {
                return Ok(self.finish());
            }
        }
        Err(ExecError::CycleLimit { pc: self.pc, limit })
    }

    /// Tracing mode: runs to HALT, handing each shard of at most `shard_cycles`
    /// cycles to `on_shard` as soon as it is complete. The shard's buffers are
    /// reused for the next one, so memory stays bounded by the shard size and no
    /// fresh pages are faulted in per shard; `on_shard` copies out what it keeps.
    /// An error from `on_shard` stops execution. A `shard_cycles` of 0 counts as 1.
    pub fn run_traced<E: From<ExecError>>(
        &mut self,
        shard_cycles: u64,
        mut on_shard: impl FnMut(&Shard) -> Result<(), E>,
    ) -> Result<ExecOutput, E> {
        self.run_traced_with(&ShardPolicy::cycles(shard_cycles), |s| on_shard(s))
    }

    /// Tracing mode with shards cut by `policy`: after at most
    /// `policy.max_cycles` cycles, or right after the syscall that brings the
    /// shard's syscall cost to `policy.max_syscall_cost` or more, whichever
    /// comes first. Otherwise as [`Self::run_traced`], but `on_shard` may
    /// also take the record without copying it ([`Shard::move_into`]).
    pub fn run_traced_with<E: From<ExecError>>(
        &mut self,
        policy: &ShardPolicy<'_>,
        mut on_shard: impl FnMut(&mut Shard) -> Result<(), E>,
    ) -> Result<ExecOutput, E> {
        self.memory.enable_timestamps();
        let limit = self.limit();
        let capacity = self.shard_capacity(policy);
        let mut tracer = Tracer::default();
        tracer.reset(0, capacity);
        loop {
            if let Err(e) = self.trace_shard(&mut tracer, policy, limit) {
                return Err(e.into());
            }
            on_shard(&mut tracer.shard)?;
            if self.halted {
                return Ok(self.finish());
            }
            if self.clk >= limit {
                return Err(ExecError::CycleLimit { pc: self.pc, limit }.into());
            }
            let next = tracer.shard.index + 1;
            tracer.reset(next, capacity);
        }
    }

    /// Tracing mode, collecting every shard in memory (for tests and small programs).
    pub fn trace(&mut self, shard_cycles: u64) -> Result<(ExecOutput, Vec<Shard>), ExecError> {
        let mut shards = Vec::new();
        let output = self.run_traced(shard_cycles, |s| {
            shards.push(s.clone());
            Ok::<(), ExecError>(())
        })?;
        Ok((output, shards))
    }

    /// The cycle limit (none: `u64::MAX`).
    pub(crate) fn limit(&self) -> u64 {
        self.config.max_cycles.unwrap_or(u64::MAX)
    }

    /// The CPU events a shard under `policy` may hold, to reserve.
    pub(crate) fn shard_capacity(&self, policy: &ShardPolicy<'_>) -> usize {
        policy.max_cycles.max(1).min(self.limit()).min(1 << 24) as usize
    }

    /// Traces one shard from the current state into `tracer` (its buffers
    /// empty), up to the cut `policy` makes, a halt or `limit`, and closes it.
    pub(crate) fn trace_shard(
        &mut self,
        tracer: &mut Tracer,
        policy: &ShardPolicy<'_>,
        limit: u64,
    ) -> Result<(), ExecError> {
        tracer.shard_start_ts = timestamp(self.clk, Position::Rs1);
        tracer.shard.start = self.boundary();
        self.tracer = Some(std::mem::take(tracer));
        let run = self.run_shard::<{ mode::TRACE }>(policy, limit);
        *tracer = self.tracer.take().expect("a shard is open");
        run?;
        self.close_shard(tracer);
        Ok(())
    }

    /// Steps in mode `M` (stamps or tracing) until the shard that starts
    /// here ends: after `policy.max_cycles` cycles or at `limit`, at a halt,
    /// or right after the syscall that brings the shard's syscall cost to
    /// `policy.max_syscall_cost`. The serial tracer and the parallel run's
    /// checkpointing leader cut shards here, so they cut them alike.
    pub(crate) fn run_shard<const M: u8>(
        &mut self,
        policy: &ShardPolicy<'_>,
        limit: u64,
    ) -> Result<(), ExecError> {
        let shard_end = limit.min(self.clk.saturating_add(policy.max_cycles.max(1)));
        self.shard_accesses = 0;
        self.last_syscall = None;
        let mut syscall_cost = 0u64;
        while self.clk < shard_end && !self.halted {
            self.step::<M>()?;
            if let Some(event) = self.last_syscall.take() {
                syscall_cost = syscall_cost.saturating_add((policy.syscall_cost)(&event));
                if syscall_cost >= policy.max_syscall_cost {
                    break;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn boundary(&self) -> BoundaryState {
        BoundaryState {
            clk: self.clk,
            pc: self.pc,
            registers: self.regs,
            register_ts: self.reg_ts,
        }
    }

    pub(crate) fn close_shard(&self, tracer: &mut Tracer) {
        let shard = &mut tracer.shard;
        shard.end = self.boundary();
        shard.halted = self.halted;
        shard.touched.extend(tracer.first_touch.iter().map(
            |&(addr, initial_value, initial_ts)| TouchedWord {
                addr,
                initial_value,
                initial_ts,
                final_value: self.memory.load(addr),
                final_ts: self.memory.timestamp(addr),
            },
        ));
        shard.touched.sort_unstable_by_key(|t| t.addr);
    }

    pub(crate) fn finish(&mut self) -> ExecOutput {
        let mut out = std::mem::take(&mut self.output);
        out.cycles = self.clk;
        out.committed = self.committed;
        out
    }

    /// Records a memory access at `ts` (stamps and tracing modes).
    #[inline(always)]
    pub(crate) fn touch<const M: u8>(&mut self, addr: u32, prev_value: u32, ts: u64) -> u64 {
        let prev_ts = self.memory.touch(addr, ts);
        if mode::events(M) {
            let tracer = self.tracer.as_mut().expect("tracing");
            if prev_ts < tracer.shard_start_ts {
                tracer.first_touch.push((addr, prev_value, prev_ts));
            }
        }
        prev_ts
    }

    /// A word-granular access made by a syscall: writes `value` (pass the current
    /// value for a read) and records it in tracing mode.
    pub(crate) fn syscall_access<const M: u8>(
        &mut self,
        addr: u32,
        value: u32,
    ) -> Result<(), ExecError> {
        let prev_value = self.memory.load(addr);
        if value != prev_value {
            self.store_word(addr, value)?;
        }
        if mode::stamps(M) {
            let prev_ts = self.touch::<M>(addr, prev_value, timestamp(self.clk, Position::Memory));
            // Wrapping, as the record's u32 positions (`len() as u32`) do.
            self.shard_accesses = self.shard_accesses.wrapping_add(1);
            if mode::events(M) {
                self.tracer
                    .as_mut()
                    .expect("tracing")
                    .shard
                    .syscall_accesses
                    .push(MemoryAccess {
                        addr,
                        value,
                        prev_value,
                        prev_ts,
                    });
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn store_word(&mut self, addr: u32, value: u32) -> Result<(), ExecError> {
        self.memory
            .store(addr, value)
            .map_err(|e| ExecError::MemoryLimit {
                pc: self.pc,
                addr,
                limit_bytes: e.limit_bytes,
            })
    }

    #[inline(always)]
    fn check_access(&self, addr: u32, width: u32, kind: &'static str) -> Result<(), ExecError> {
        if addr & (width - 1) != 0 {
            return Err(ExecError::MisalignedAccess {
                pc: self.pc,
                addr,
                width,
                kind,
            });
        }
        if addr < crate::elf::MIN_ADDRESS {
            return Err(ExecError::ReservedAddress {
                pc: self.pc,
                addr,
                kind,
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn load<const M: u8>(
        &mut self,
        addr: u32,
        width: u32,
        ev: &mut CpuEvent,
    ) -> Result<u32, ExecError> {
        self.check_access(addr, width, "load")?;
        let word_addr = addr & !3;
        let word = self.memory.load(word_addr);
        if mode::stamps(M) {
            ev.mem_addr = word_addr;
            ev.mem_value = word;
            ev.mem_prev = word;
            ev.mem_prev_ts =
                self.touch::<M>(word_addr, word, timestamp(self.clk, Position::Memory));
        }
        Ok(word >> ((addr & 3) * 8))
    }

    #[inline(always)]
    fn store<const M: u8>(
        &mut self,
        addr: u32,
        width: u32,
        value: u32,
        ev: &mut CpuEvent,
    ) -> Result<(), ExecError> {
        self.check_access(addr, width, "store")?;
        let word_addr = addr & !3;
        let prev = self.memory.load(word_addr);
        let word = if width == 4 {
            value
        } else {
            let shift = (addr & 3) * 8;
            let mask = (u32::MAX >> (32 - 8 * width)) << shift;
            (prev & !mask) | ((value << shift) & mask)
        };
        self.store_word(word_addr, word)?;
        if mode::stamps(M) {
            ev.mem_addr = word_addr;
            ev.mem_value = word;
            ev.mem_prev = prev;
            ev.mem_prev_ts =
                self.touch::<M>(word_addr, prev, timestamp(self.clk, Position::Memory));
        }
        Ok(())
    }

    /// Executes one instruction; returns whether the program halted.
    #[inline(always)]
    fn step<const M: u8>(&mut self) -> Result<bool, ExecError> {
        use Opcode::*;
        let pc = self.pc;
        let Some(&ins) = self.program.fetch(pc) else {
            return Err(if !pc.is_multiple_of(4) {
                ExecError::MisalignedPc { pc }
            } else {
                ExecError::PcOutOfProgram { pc }
            });
        };
        let mut ev = CpuEvent::default();
        let (a, b) = (self.regs[ins.rs1 as usize], self.regs[ins.rs2 as usize]);
        if mode::stamps(M) {
            self.trace_reads(&ins, a, b, &mut ev);
        }
        let imm = ins.imm;
        let mut next_pc = pc.wrapping_add(4);
        let result = match ins.opcode {
            Add => a.wrapping_add(b),
            Sub => a.wrapping_sub(b),
            Sll => a << (b & 31),
            Slt => ((a as i32) < (b as i32)) as u32,
            Sltu => (a < b) as u32,
            Xor => a ^ b,
            Srl => a >> (b & 31),
            Sra => ((a as i32) >> (b & 31)) as u32,
            Or => a | b,
            And => a & b,
            Mul => a.wrapping_mul(b),
            Mulh => (((a as i32 as i64) * (b as i32 as i64)) >> 32) as u32,
            Mulhsu => (((a as i32 as i64) * (b as i64)) >> 32) as u32,
            Mulhu => (((a as u64) * (b as u64)) >> 32) as u32,
            Div => match (a as i32, b as i32) {
                (_, 0) => u32::MAX,
                (x, y) => x.wrapping_div(y) as u32, // INT_MIN / -1 = INT_MIN
            },
            Divu => a.checked_div(b).unwrap_or(u32::MAX),
            Rem => match (a as i32, b as i32) {
                (x, 0) => x as u32,
                (x, y) => x.wrapping_rem(y) as u32, // INT_MIN % -1 = 0
            },
            Remu => {
                if b == 0 {
                    a
                } else {
                    a % b
                }
            }
            Addi => a.wrapping_add(imm),
            Slti => ((a as i32) < (imm as i32)) as u32,
            Sltiu => (a < imm) as u32,
            Xori => a ^ imm,
            Ori => a | imm,
            Andi => a & imm,
            Slli => a << imm,
            Srli => a >> imm,
            Srai => ((a as i32) >> imm) as u32,
            Lui => imm,
            Auipc => pc.wrapping_add(imm),
            Jal => {
                next_pc = pc.wrapping_add(imm);
                pc.wrapping_add(4)
            }
            Jalr => {
                next_pc = a.wrapping_add(imm) & !1;
                pc.wrapping_add(4)
            }
            Beq | Bne | Blt | Bge | Bltu | Bgeu => {
                let taken = match ins.opcode {
                    Beq => a == b,
                    Bne => a != b,
                    Blt => (a as i32) < (b as i32),
                    Bge => (a as i32) >= (b as i32),
                    Bltu => a < b,
                    _ => a >= b,
                };
                if taken {
                    next_pc = pc.wrapping_add(imm);
                }
                return self.retire::<M>(&ins, None, next_pc, ev);
            }
            Lb => self.load::<M>(a.wrapping_add(imm), 1, &mut ev)? as i8 as u32,
            Lh => self.load::<M>(a.wrapping_add(imm), 2, &mut ev)? as i16 as u32,
            Lw => self.load::<M>(a.wrapping_add(imm), 4, &mut ev)?,
            Lbu => self.load::<M>(a.wrapping_add(imm), 1, &mut ev)? & 0xff,
            Lhu => self.load::<M>(a.wrapping_add(imm), 2, &mut ev)? & 0xffff,
            Sb | Sh | Sw => {
                let width = match ins.opcode {
                    Sb => 1,
                    Sh => 2,
                    _ => 4,
                };
                self.store::<M>(a.wrapping_add(imm), width, b, &mut ev)?;
                return self.retire::<M>(&ins, None, next_pc, ev);
            }
            Fence => return self.retire::<M>(&ins, None, next_pc, ev),
            Ecall => {
                let result = self.ecall::<M>(a, b)?;
                if self.halted {
                    next_pc = 0;
                }
                result
            }
            Unsupported => {
                return Err(ExecError::UnsupportedInstruction {
                    pc,
                    word: imm,
                    name: Instruction::unsupported_name(imm),
                })
            }
            Invalid => return Err(ExecError::InvalidInstruction { pc, word: imm }),
        };
        self.retire::<M>(&ins, Some(result), next_pc, ev)
    }

    /// Writes rd, advances pc and clk, and stores the event.
    #[inline(always)]
    fn retire<const M: u8>(
        &mut self,
        ins: &Instruction,
        result: Option<u32>,
        next_pc: u32,
        mut ev: CpuEvent,
    ) -> Result<bool, ExecError> {
        if let Some(value) = result {
            let rd = ins.rd as usize;
            if rd != 0 {
                if mode::stamps(M) {
                    ev.rd = value;
                    ev.rd_prev = self.regs[rd];
                    ev.rd_prev_ts =
                        std::mem::replace(&mut self.reg_ts[rd], timestamp(self.clk, Position::Rd));
                }
                self.regs[rd] = value;
            }
        }
        if mode::events(M) {
            ev.pc = self.pc;
            self.tracer.as_mut().expect("tracing").shard.cpu.push(ev);
        }
        self.pc = next_pc;
        self.clk += 1;
        Ok(self.halted)
    }

    /// Records the register reads `ins` makes.
    #[inline(always)]
    fn trace_reads(&mut self, ins: &Instruction, a: u32, b: u32, ev: &mut CpuEvent) {
        let (reads_rs1, reads_rs2) = operand_reads(ins.opcode);
        if reads_rs1 {
            ev.rs1 = a;
            ev.rs1_prev_ts = std::mem::replace(
                &mut self.reg_ts[ins.rs1 as usize],
                timestamp(self.clk, Position::Rs1),
            );
        }
        if reads_rs2 {
            ev.rs2 = b;
            ev.rs2_prev_ts = std::mem::replace(
                &mut self.reg_ts[ins.rs2 as usize],
                timestamp(self.clk, Position::Rs2),
            );
        }
    }
}

/// Which of rs1 and rs2 an opcode reads.
pub fn operand_reads(op: Opcode) -> (bool, bool) {
    use Opcode::*;
    match op {
        Add | Sub | Sll | Slt | Sltu | Xor | Srl | Sra | Or | And | Mul | Mulh | Mulhsu | Mulhu
        | Div | Divu | Rem | Remu | Beq | Bne | Blt | Bge | Bltu | Bgeu | Sb | Sh | Sw | Ecall => {
            (true, true)
        }
        Addi | Slti | Sltiu | Xori | Ori | Andi | Slli | Srli | Srai | Jalr | Lb | Lh | Lw
        | Lbu | Lhu => (true, false),
        Lui | Auipc | Jal | Fence | Unsupported | Invalid => (false, false),
    }
}
