//! Trace generation for every table from one (whole-execution) shard of the
//! executor's record.

use crate::air::{global_table, table, TableSet};
use crate::bus::{limbs, memory_key};
use crate::cpu;
use crate::cpu_rows::{self, CpuRowInputs, CpuSends};
use crate::event::{Multiplicities, TraceError};
use crate::hint::{self, cols as h};
use crate::memory::{self, ImageAir, MemoryKind, WordState};
use crate::program::ProgramAir;
use crate::shift::ShiftRowInputs;
use crate::{commit, keccak, range16, sha_compress, sha_extend, ChipTraces};
use cloak_prover::{Challenge, MainTrace, Val};
use cloak_vm::record::{timestamp, Position};
use cloak_vm::{Program, Shard};
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use std::collections::BTreeMap;

/// Most cycles one shard covers: Plonky3 0.8.0 supports tables of up to 2^21
/// rows at constraint degree 3 (the Shift, DivRem and precompile tables; the
/// CPU, at degree 2, could take 2^22).
pub const MAX_SHARD_CYCLES: u64 = 1 << 21;
/// Most cycles of a whole execution: timestamps `4 clk + 4` stay below 2^29.
pub const MAX_TOTAL_CYCLES: u64 = 1 << 27;

/// The non-zero words of `program`'s initial memory as `(key, value)`, keys
/// increasing: what the Image table holds.
pub fn image_words(program: &Program) -> Vec<(u32, u32)> {
    let mut words: BTreeMap<u32, u32> = BTreeMap::new();
    for seg in &program.segments {
        for (i, &byte) in seg.data.iter().enumerate() {
            let addr = seg.vaddr.wrapping_add(i as u32);
            *words.entry(addr & !3).or_default() |= u32::from(byte) << ((addr & 3) * 8);
        }
    }
    words
        .into_iter()
        .filter(|&(_, v)| v != 0)
        .map(|(addr, v)| (memory_key(addr), v))
        .collect()
}

/// The traces of one shard's tables (in [`table`] order) and their public
/// values. The Memory table's public values (the `global-memory` bus's
/// challenges and this shard's share) are zero until [`set_global_share`].
#[derive(Clone)]
pub struct ShardWitness {
    pub traces: Vec<RowMajorMatrix<Val>>,
    /// The CPU trace as its rows' inputs, where it was generated so
    /// ([`TraceForm::Inputs`]; its matrix in `traces` is then empty).
    pub cpu_inputs: Option<CpuRowInputs>,
    /// The Shift trace likewise.
    pub shift_inputs: Option<ShiftRowInputs>,
    pub public_values: Vec<Vec<Val>>,
    /// The Memory table's rows: what the shard takes from and gives to the
    /// `global-memory` bus.
    pub boundary: Vec<WordState>,
    /// The words this shard COMMITted.
    pub committed: [bool; 8],
    /// Where the shard starts and ends.
    pub cpu: CpuPublics,
    /// The tables its proof includes: the required ones and those it calls.
    pub tables: TableSet,
}

impl ShardWitness {
    /// Table `t`'s height (the CPU's and Shift's where they are deferred too).
    pub fn height(&self, t: usize) -> usize {
        match (&self.cpu_inputs, &self.shift_inputs) {
            (Some(inputs), _) if t == table::CPU => inputs.height,
            (_, Some(inputs)) if t == table::SHIFT => inputs.height,
            _ => self.traces[t].height(),
        }
    }

    /// The main traces of the tables the proof includes (`tables`), the
    /// CPU's and Shift's deferred where they were generated as their rows'
    /// inputs; the others are dropped.
    pub fn take_main_traces(&mut self) -> Vec<MainTrace> {
        let mut cpu_inputs = self.cpu_inputs.take();
        let mut shift_inputs = self.shift_inputs.take();
        let traces = std::mem::take(&mut self.traces);
        let items = traces.into_iter().enumerate().collect();
        self.tables
            .select(items)
            .into_iter()
            .map(|(t, m)| {
                if let Some(inputs) = cpu_inputs.take_if(|_| t == table::CPU) {
                    MainTrace::Deferred(Box::new(inputs))
                } else if let Some(inputs) = shift_inputs.take_if(|_| t == table::SHIFT) {
                    MainTrace::Deferred(Box::new(inputs))
                } else {
                    MainTrace::Values(m)
                }
            })
            .collect()
    }
}

/// What every shard's statement shares: the digest words the guest
/// COMMITted (zero where none) and the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionClaim {
    pub digest: [u32; 8],
    pub exit_code: u32,
}

/// How [`generate_shard_as`] hands over the CPU and Shift traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceForm {
    /// Their values, in [`ShardWitness::traces`].
    Values,
    /// Their rows' inputs ([`ShardWitness::cpu_inputs`],
    /// [`ShardWitness::shift_inputs`]; their traces in `traces` are empty),
    /// for a backend that expands them on its device.
    Inputs,
}

/// Builds every trace of one shard. `claim` comes from executing the whole
/// program first; a COMMIT of another value is an error.
pub fn generate_shard(
    program: &ProgramAir,
    shard: &Shard,
    claim: ExecutionClaim,
    min_height: usize,
) -> Result<ShardWitness, TraceError> {
    generate_shard_as(program, shard, claim, min_height, TraceForm::Values)
}

thread_local! {
    /// A chunk's row inputs, expanded into its rows right after (while in
    /// the cache) where the CPU trace's values are made on the host.
    static CHUNK_INPUTS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`generate_shard`], with the CPU trace in the form `form`.
pub fn generate_shard_as(
    program: &ProgramAir,
    shard: &Shard,
    claim: ExecutionClaim,
    min_height: usize,
    form: TraceForm,
) -> Result<ShardWitness, TraceError> {
    generate_shard_with(program, shard, || Ok(claim), min_height, form)
}

/// [`generate_shard_as`] with the claim asked for only where the traces
/// need it, after every table but the Commit table is made: the fast run
/// that fixes it may still be going (the prover's first shard would
/// otherwise wait for it). `claim`'s error is returned as it is.
pub fn generate_shard_with<E: From<TraceError>>(
    program: &ProgramAir,
    shard: &Shard,
    claim: impl FnOnce() -> Result<ExecutionClaim, E>,
    min_height: usize,
    form: TraceForm,
) -> Result<ShardWitness, E> {
    let cycles = shard.cpu.len() as u64;
    if cycles == 0 {
        return Err(TraceError::BadRecord("an empty shard".into()).into());
    }
    if shard.end.clk >= MAX_TOTAL_CYCLES {
        return Err(TraceError::TooManyCycles {
            cycles: shard.end.clk,
            max: MAX_TOTAL_CYCLES,
        }
        .into());
    }
    if cycles > MAX_SHARD_CYCLES {
        return Err(TraceError::TooManyCycles {
            cycles,
            max: MAX_SHARD_CYCLES,
        }
        .into());
    }
    let mut phases = crate::phases::Phases::start("generation phases");
    let rows = shard.cpu.len();
    let height = crate::event::padded_height(rows, min_height)?;
    let mut mults = Multiplicities::default();
    let fill_inputs = |first, inputs: &mut [u32], mults: &mut Multiplicities| {
        cpu_rows::cpu_inputs(program, shard, first, inputs, mults)
    };
    let (cpu_trace, cpu_inputs, chunks) = match form {
        TraceForm::Values => {
            // Each row is written whole as it is filled (`expand_row`).
            let mut values = crate::rows::stale(height * cpu::WIDTH);
            phases.mark("alloc");
            let chunks = crate::rows::fill_chunks(
                &mut values,
                cpu::WIDTH,
                rows,
                &mut mults,
                |first, out, mults| {
                    CHUNK_INPUTS.with_borrow_mut(|inputs| {
                        inputs.resize(out.len() / cpu::WIDTH * cpu_rows::inputs::WIDTH, 0);
                        let sends = fill_inputs(first, inputs, mults)?;
                        let clk = shard.start.clk + first as u64;
                        cpu_rows::expand_rows(program, inputs, clk, out);
                        Ok(sends)
                    })
                },
            )?;
            cpu_rows::pad_and_mark_ends(&mut values, rows, shard.start.clk);
            (RowMajorMatrix::new(values, cpu::WIDTH), None, chunks)
        }
        TraceForm::Inputs => {
            let len = rows * cpu_rows::inputs::WIDTH;
            // Fresh memory on huge pages, as the traces': a shard's inputs
            // are tens of MiB, faulted in on every core at once.
            let mut inputs = cloak_prover::trace_buffers::take_words(len).unwrap_or_else(|| {
                cloak_prover::trace_buffers::values_into_words(crate::rows::fresh(len))
            });
            phases.mark("alloc");
            let chunks = crate::rows::fill_chunks(
                &mut inputs,
                cpu_rows::inputs::WIDTH,
                rows,
                &mut mults,
                fill_inputs,
            )?;
            let deferred = CpuRowInputs {
                program: program.clone(),
                inputs,
                start_clk: shard.start.clk,
                height,
            };
            let empty = RowMajorMatrix::new(Vec::new(), cpu::WIDTH);
            (empty, Some(deferred), chunks)
        }
    };
    let mut sends = CpuSends::default();
    // Each chunk's ALU sends stay its own: the chips split them from there.
    let mut alu_parts = Vec::with_capacity(chunks.len());
    let mut next_syscall = 0;
    for mut chunk in chunks {
        // Each chunk takes the syscall events from its first cycle on; a
        // sequential fill takes them one after another, so no event may be
        // left between two chunks' runs of them.
        if chunk.first_syscall != next_syscall {
            let clk = shard.syscalls[next_syscall].clk;
            return Err(TraceError::BadRecord(format!(
                "syscall event at cycle {clk} without its ECALL"
            ))
            .into());
        }
        next_syscall = chunk.first_syscall + chunk.syscalls;
        alu_parts.push(std::mem::take(&mut chunk.alu));
        sends.append(chunk);
    }
    phases.mark("cpu");
    let CpuSends {
        commits,
        hint_calls,
        extend_calls,
        compress_calls,
        keccak_calls,
        ..
    } = sends;

    // HintRead rows.
    let hint_rows: usize = hint_calls
        .iter()
        .map(|(_, _, _, acc)| acc.len().max(1))
        .sum();
    let hint_height = crate::event::padded_height(hint_rows, min_height)?;
    let mut hvals = Val::zero_vec(hint_height * hint::WIDTH);
    let mut hrows = hvals.chunks_exact_mut(hint::WIDTH);
    for &(clk, ptr, len, accesses) in &hint_calls {
        if accesses.len() != len.div_ceil(4) as usize {
            return Err(TraceError::BadRecord(format!(
                "HINT_READ at cycle {clk} wrote {} words for {len} bytes",
                accesses.len()
            ))
            .into());
        }
        let ts = timestamp(clk, Position::Memory);
        let rows = accesses.len().max(1);
        for k in 0..rows {
            let row = hrows.next().expect("height covers every row");
            let set = |row: &mut [Val], col: usize, v: u32| row[col] = Val::from_u32(v);
            row[h::CLK] = Val::from_u64(clk);
            set(row, h::KEY, memory_key(ptr) + k as u32);
            set(row, h::IS_REAL, 1);
            let remaining = len - 4 * k as u32;
            set(row, h::REMAINING, remaining);
            if k == 0 {
                let (p_lo, p_hi) = limbs(ptr);
                let (l_lo, l_hi) = limbs(len);
                set(row, h::IS_FIRST, 1);
                set(row, h::PTR_LO, p_lo);
                set(row, h::PTR_HI, p_hi);
                set(row, h::LEN_LO, l_lo);
                set(row, h::LEN_HI, l_hi);
                set(row, h::PTR_W, p_lo >> 2);
                mults.range16((p_lo >> 2) as u16);
                mults.range16((2 * p_hi) as u16);
                mults.range16((4 * l_hi) as u16);
            }
            let Some(acc) = accesses.get(k) else {
                set(row, h::IS_EMPTY, 1);
                continue;
            };
            if k + 1 == rows {
                let pad = 4 - remaining;
                set(row, h::PAD0, pad & 1);
                set(row, h::PAD1, pad >> 1);
            }
            let (v_lo, v_hi) = limbs(acc.value);
            let (p_lo, p_hi) = limbs(acc.prev_value);
            set(row, h::VAL_LO, v_lo);
            set(row, h::VAL_HI, v_hi);
            set(row, h::PREV_LO, p_lo);
            set(row, h::PREV_HI, p_hi);
            gap_limbs(row, &mut mults, h::GAP_LO, ts, acc.prev_ts);
            mults.range16_word(acc.value);
        }
    }
    let hint_trace = RowMajorMatrix::new(hvals, hint::WIDTH);
    let extend_trace = sha_extend::trace(&extend_calls, min_height, &mut mults)?;
    let compress_trace = sha_compress::trace(&compress_calls, min_height, &mut mults)?;
    let keccak_trace = keccak::trace(&keccak_calls, min_height, &mut mults)?;
    phases.mark("syscalls");

    // Memory: the registers and the touched words, on entry and on exit.
    let mut boundary: Vec<WordState> = (0..32)
        .map(|reg| WordState {
            key: reg as u32,
            is_image: false,
            init: shard.start.registers[reg],
            init_ts: shard.start.register_ts[reg],
            final_value: shard.end.registers[reg],
            final_ts: shard.end.register_ts[reg],
        })
        .collect();
    for t in &shard.touched {
        boundary.push(WordState {
            key: memory_key(t.addr),
            is_image: false,
            init: t.initial_value,
            init_ts: t.initial_ts,
            final_value: t.final_value,
            final_ts: t.final_ts,
        });
    }
    boundary.sort_by_key(|w| w.key);
    let mem_height = crate::event::padded_height(boundary.len(), min_height)?;
    let (memory_trace, key_checks) = memory::trace(&boundary, mem_height);
    for g in key_checks {
        mults.range16(g);
    }

    phases.mark("memory");
    let program_trace = program.trace(&shard.cpu, |e| e.pc)?;
    phases.mark("program");

    let shift_as_inputs = form == TraceForm::Inputs;
    let alu: Vec<&[crate::AluEvent]> = alu_parts.iter().map(Vec::as_slice).collect();
    let mut chips =
        ChipTraces::generate_timed(&alu, min_height, mults, &mut phases, shift_as_inputs)?;
    let shift_inputs = chips.shift_inputs.take();
    // The claim, from here on: only the Commit table and the public values
    // hold it.
    let claim = claim()?;
    cpu_rows::check_commits(&commits, &claim)?;
    let mut commit_counts = [0u64; 8];
    for &(index, _, _) in &commits {
        commit_counts[index] += 1;
    }
    let committed = commit_counts.map(|n| n > 0);
    let commit_trace = commit::trace(claim.digest, commit_counts, min_height);
    phases.mark("claim");
    let mut traces = chips.into_vec();
    traces.extend([
        program_trace,
        cpu_trace,
        memory_trace,
        commit_trace,
        hint_trace,
        extend_trace,
        compress_trace,
        keccak_trace,
    ]);
    debug_assert_eq!(traces.len(), table::COUNT);
    let end_pc = if shard.halted { 0 } else { shard.end.pc };
    let cpu_publics = CpuPublics {
        start_pc: shard.start.pc,
        start_clk: shard.start.clk,
        end_pc,
        end_clk: shard.end.clk,
        is_last: shard.halted,
    };
    let tables = TableSet::REQUIRED
        .with(table::HINT, !hint_calls.is_empty())
        .with(table::SHA_EXTEND, !extend_calls.is_empty())
        .with(table::SHA_COMPRESS, !compress_calls.is_empty())
        .with(table::KECCAK_PERMUTE, !keccak_calls.is_empty());
    debug_assert_eq!(table::FIRST_OPTIONAL, table::HINT);
    debug_assert_eq!(table::KECCAK_PERMUTE + 1, table::COUNT);
    phases.report(shard.index);
    Ok(ShardWitness {
        traces,
        cpu_inputs,
        shift_inputs,
        public_values: shard_public_values(&cpu_publics, claim, committed),
        boundary,
        committed,
        cpu: cpu_publics,
        tables,
    })
}

/// Where a shard starts and ends (the CPU table's public values besides the
/// exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuPublics {
    pub start_pc: u32,
    pub start_clk: u64,
    /// 0 for the last shard.
    pub end_pc: u32,
    pub end_clk: u64,
    pub is_last: bool,
}

/// The public values of every table of a shard proof, with the Memory
/// table's (the `global-memory` challenges and share) zero.
pub fn shard_public_values(
    cpu: &CpuPublics,
    claim: ExecutionClaim,
    committed: [bool; 8],
) -> Vec<Vec<Val>> {
    let mut out = vec![Vec::new(); table::COUNT];
    let (lo, hi) = limbs(claim.exit_code);
    out[table::CPU] = vec![
        Val::from_u32(cpu.start_pc),
        Val::from_u64(cpu.start_clk),
        Val::from_u32(cpu.end_pc),
        Val::from_u64(cpu.end_clk),
        Val::from_bool(cpu.is_last),
        Val::from_u32(lo),
        Val::from_u32(hi),
    ];
    out[table::MEMORY] = vec![Val::ZERO; memory::NUM_PUBLIC_VALUES];
    out[table::COMMIT] = commit::public_values(claim.digest, committed);
    out
}

/// The Memory table's public values: the `global-memory` bus's challenges
/// and the proof's share of it.
pub fn memory_public_values(alpha: Challenge, beta: Challenge, share: Challenge) -> Vec<Val> {
    [alpha, beta, share]
        .iter()
        .flat_map(|e| e.as_basis_coefficients_slice().to_vec())
        .collect()
}

/// The `global-memory` bus's share of a Memory table of `kind` with these
/// rows: each message `(key, lo, hi, ts)` with count `m` adds
/// `m / (alpha - (key beta^3 + lo beta^2 + hi beta + ts))`, as the LogUp
/// argument computes it.
pub fn global_share(
    words: &[WordState],
    kind: MemoryKind,
    alpha: Challenge,
    beta: Challenge,
) -> Challenge {
    let fingerprint = |key: u32, value: u32, ts: u64| -> Challenge {
        let (lo, hi) = limbs(value);
        let mut acc = Challenge::ZERO;
        for e in [
            Val::from_u32(key),
            Val::from_u32(lo),
            Val::from_u32(hi),
            Val::from_u64(ts),
        ] {
            acc = acc * beta + e;
        }
        alpha - acc
    };
    let sign = match kind {
        MemoryKind::Global => Challenge::ONE,
        MemoryKind::Shard => -Challenge::ONE,
    };
    let mut denominators = Vec::with_capacity(2 * words.len());
    for w in words {
        denominators.push(fingerprint(w.key, w.init, w.init_ts));
        denominators.push(fingerprint(w.key, w.final_value, w.final_ts));
    }
    let inverses = p3_field::batch_multiplicative_inverse(&denominators);
    let mut share = Challenge::ZERO;
    for pair in inverses.chunks_exact(2) {
        // The initial state with `sign`, the final one with the other sign.
        share += sign * (pair[0] - pair[1]);
    }
    share
}

/// One proof's traces and public values.
pub type TracesAndPublics = (Vec<RowMajorMatrix<Val>>, Vec<Vec<Val>>);

/// The memory proof's traces and public values (Memory publics zero until
/// set), for `words` (every key's first and last state, sorted by key) and
/// the shards' blinding messages.
pub fn generate_global(
    image: &ImageAir,
    words: &[WordState],
    blinds: &[[Val; 3]],
    min_height: usize,
) -> Result<TracesAndPublics, TraceError> {
    let mut mults = Multiplicities::default();
    let height = crate::event::padded_height(words.len(), min_height)?;
    let (memory_trace, checks) = memory::trace(words, height);
    for g in checks {
        mults.range16(g);
    }
    let blind_height = crate::event::padded_height(blinds.len(), min_height)?;
    let traces = vec![
        range16::trace(&mut mults),
        image.trace(),
        memory_trace,
        crate::blind::sink_trace(blinds, blind_height),
    ];
    let mut publics = vec![Vec::new(); global_table::COUNT];
    publics[global_table::MEMORY] = vec![Val::ZERO; memory::NUM_PUBLIC_VALUES];
    Ok((traces, publics))
}

/// Fills the timestamp-gap limbs `ts - prev_ts - 1 = lo + 2^14 hi` at `col`
/// and `col + 1`, counting their range checks.
fn gap_limbs(row: &mut [Val], mults: &mut Multiplicities, col: usize, ts: u64, prev_ts: u64) {
    let (lo, hi) = crate::cpu_rows::gap_split(mults, ts, prev_ts);
    row[col] = Val::from_u16(lo);
    row[col + 1] = Val::from_u16(hi);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::CHUNK_ROWS;
    use cloak_vm::record::SyscallEvent;
    use cloak_vm::{ExecConfig, Executor};

    /// fibonacci's one shard (several chunks of CPU rows) and its claim.
    fn fibonacci_shard() -> (ProgramAir, Shard, ExecutionClaim) {
        let path = format!(
            "{}/../../guests/bin/fibonacci.elf",
            env!("CARGO_MANIFEST_DIR")
        );
        let program = Program::from_elf(&std::fs::read(path).unwrap()).unwrap();
        // Several chunks in any build: a fibonacci step is more than one
        // cycle, and chunks are larger in release builds.
        let steps = (3 * CHUNK_ROWS) as u32;
        let inputs = vec![steps.to_le_bytes().to_vec()];
        let mut shards = Vec::new();
        let output = Executor::new(&program, inputs, ExecConfig::default())
            .run_traced(1 << 20, |s| {
                shards.push(s.clone());
                Ok::<(), cloak_vm::ExecError>(())
            })
            .unwrap();
        let claim = ExecutionClaim {
            digest: output.committed.map(|w| w.unwrap_or(0)),
            exit_code: output.exit_code,
        };
        let [shard] = <[Shard; 1]>::try_from(shards).unwrap();
        assert!(
            shard.cpu.len() > 3 * CHUNK_ROWS,
            "too few cycles for chunks"
        );
        (ProgramAir::new(&program, 16).unwrap(), shard, claim)
    }

    /// A pc finds the row whose instruction sits at it, and nothing else:
    /// below, past, inside and between the text's instructions are errors
    /// naming the pc. The program table's counts (on every core) are a
    /// sequential count of the fetched pcs.
    #[test]
    fn program_rows_are_found_by_pc_and_counted() {
        let (air, shard, _) = fibonacci_shard();
        for (i, row) in air.rows().iter().enumerate() {
            assert_eq!(air.row_index(row.pc).unwrap(), i);
            let (fetched, message, values) = air.fetch(i);
            assert_eq!(fetched.pc, row.pc);
            assert_eq!(*message, row.message());
            assert_eq!(*values, row.message().map(Val::from_u32));
        }
        let first = air.rows()[0].pc;
        let last = air.rows().last().unwrap().pc;
        for pc in [0, first - 4, first + 1, first + 2, last + 4, u32::MAX - 3] {
            assert!(
                matches!(air.row_index(pc), Err(TraceError::NotAnInstruction { pc: p }) if p == pc),
                "{pc:#x}"
            );
        }
        let mut counts = vec![0u32; air.rows().len()];
        for e in &shard.cpu {
            counts[air.row_index(e.pc).unwrap()] += 1;
        }
        let trace = air.trace(&shard.cpu, |e| e.pc).unwrap();
        for (i, c) in counts.iter().enumerate() {
            assert_eq!(trace.values[i], Val::from_u32(*c), "row {i}");
        }
        assert!(trace.values[counts.len()..].iter().all(|v| *v == Val::ZERO));
        // Two bad pcs, far apart: the earlier one is reported.
        let mut bad = shard.cpu.clone();
        let k = bad.len() - 5;
        bad[k].pc = last + 4;
        bad[3].pc = last + 8;
        assert!(matches!(
            air.trace(&bad, |e| e.pc),
            Err(TraceError::NotAnInstruction { pc }) if pc == last + 8
        ));
    }

    /// Traces made in buffers an earlier shard gave back (filled with junk
    /// here) are the traces made in fresh memory.
    #[test]
    fn reused_trace_buffers_give_the_same_traces() {
        let _pool = crate::rows::POOL_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (air, shard, claim) = fibonacci_shard();
        let fresh = generate_shard(&air, &shard, claim, 16).unwrap();
        for m in fresh.traces.clone() {
            let mut values = m.values;
            values
                .iter_mut()
                .for_each(|v| *v = Val::from_u32(0x1234_5678));
            cloak_prover::trace_buffers::give_back(values);
        }
        let pooled = cloak_prover::trace_buffers::pooled_bytes();
        assert!(pooled > 0, "the CPU trace is large enough to be pooled");
        let again = generate_shard(&air, &shard, claim, 16).unwrap();
        assert!(
            cloak_prover::trace_buffers::pooled_bytes() < pooled,
            "the second generation took pooled buffers"
        );
        assert_eq!(again.traces.len(), fresh.traces.len());
        for (t, (a, b)) in again.traces.iter().zip(&fresh.traces).enumerate() {
            assert_eq!(a.width, b.width, "table {t}");
            assert!(a.values == b.values, "table {t} differs");
        }
        cloak_prover::trace_buffers::release_all();
    }

    /// Every chunk takes the syscall events of its own cycles: an event
    /// with no ECALL, before the end of a chunk's run of them or between two
    /// chunks, and an ECALL with no event are errors that say so.
    #[test]
    fn syscall_events_must_match_the_ecalls_across_chunks() {
        let (air, shard, claim) = fibonacci_shard();
        let honest = generate_shard(&air, &shard, claim, 16).unwrap();
        assert!(honest.tables.contains(table::HINT));
        let stray_at = |clk: u64| {
            let mut s = shard.clone();
            let at = s.syscalls.partition_point(|e| e.clk < clk);
            s.syscalls.insert(
                at,
                SyscallEvent {
                    clk,
                    ..SyscallEvent::default()
                },
            );
            generate_shard(&air, &s, claim, 16)
                .err()
                .map(|e| e.to_string())
        };
        // After the last ECALL of chunk 1 (fibonacci's ECALLs are at its
        // start and end), so only the chunks' stitching sees it.
        let between = shard.start.clk + CHUNK_ROWS as u64 + 7;
        let err = stray_at(between).expect("a stray event between chunks");
        assert!(
            err.contains(&format!(
                "syscall event at cycle {between} without its ECALL"
            )),
            "{err}"
        );
        // Before the last ECALLs: the next ECALL takes the stray event.
        let last = shard.syscalls.last().unwrap().clk;
        let err = stray_at(last - 1).expect("a stray event before an ECALL");
        assert!(err.contains("ECALL without its syscall event"), "{err}");
        // An ECALL with no event.
        let mut s = shard.clone();
        s.syscalls.pop();
        let err = generate_shard(&air, &s, claim, 16)
            .err()
            .expect("a missing event");
        assert!(
            err.to_string().contains("ECALL without its syscall event"),
            "{err}"
        );
    }

    /// The claim is asked for once, after the tables that do not hold it,
    /// and its error is what generation returns; every COMMIT is still
    /// checked against it, the error naming the COMMIT's pc.
    #[test]
    fn the_claim_is_asked_for_last_and_checks_every_commit() {
        let (air, shard, claim) = fibonacci_shard();
        assert!(claim.digest.iter().any(|&w| w != 0), "fibonacci commits");
        let honest = generate_shard(&air, &shard, claim, 16).unwrap();
        let mut asked = 0;
        let late = generate_shard_with(
            &air,
            &shard,
            || {
                asked += 1;
                Ok::<_, TraceError>(claim)
            },
            16,
            TraceForm::Values,
        )
        .unwrap();
        assert_eq!(asked, 1);
        assert_eq!(late.public_values, honest.public_values);
        assert_eq!(late.traces.len(), honest.traces.len());
        for (a, b) in late.traces.iter().zip(&honest.traces) {
            assert_eq!(a.values, b.values);
        }
        // A failed claim's error comes back as it is.
        let failed = generate_shard_with(
            &air,
            &shard,
            || Err(TraceError::BadRecord("no claim".into())),
            16,
            TraceForm::Inputs,
        )
        .err()
        .expect("the claim's error");
        assert_eq!(
            failed.to_string(),
            TraceError::BadRecord("no claim".into()).to_string()
        );
        // A digest word other than what a COMMIT carried.
        let word = claim.digest.iter().position(|&w| w != 0).unwrap();
        let mut wrong = claim;
        wrong.digest[word] ^= 1;
        let err = generate_shard(&air, &shard, wrong, 16)
            .err()
            .expect("a COMMIT of another value")
            .to_string();
        assert!(
            err.contains("COMMIT of a digest word with a value other than its last one")
                && err.contains("pc 0x"),
            "{err}"
        );
    }
}
