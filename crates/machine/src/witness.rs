//! Trace generation for every table from one (whole-execution) shard of the
//! executor's record.

use crate::air::{global_table, table, TableSet};
use crate::bus::{limbs, memory_key};
use crate::cpu::{self, cols as c, SYSCALLS};
use crate::event::{AluEvent, ByteOp, Multiplicities, TraceError};
use crate::hint::{self, cols as h};
use crate::memory::{self, ImageAir, MemoryKind, WordState};
use crate::precompile::PrecompileCall;
use crate::program::{fields as f, ProgramAir, FETCH_WIDTH};
use crate::{commit, keccak, range16, sha_compress, sha_extend, ChipTraces};
use cloak_prover::{Challenge, Val};
use cloak_vm::record::MemoryAccess;
use cloak_vm::record::{timestamp, Position};
use cloak_vm::syscall::{COMMIT, HINT_READ, KECCAK_PERMUTE, SHA_COMPRESS, SHA_EXTEND};
use cloak_vm::{Opcode, Program, Shard};
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
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

/// What every shard's statement shares: the digest words the guest
/// COMMITted (zero where none) and the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionClaim {
    pub digest: [u32; 8],
    pub exit_code: u32,
}

/// Builds every trace of one shard. `claim` comes from executing the whole
/// program first; a COMMIT of another value is an error.
pub fn generate_shard(
    program: &ProgramAir,
    shard: &Shard,
    claim: ExecutionClaim,
    min_height: usize,
) -> Result<ShardWitness, TraceError> {
    let cycles = shard.cpu.len() as u64;
    if cycles == 0 {
        return Err(TraceError::BadRecord("an empty shard".into()));
    }
    if shard.end.clk >= MAX_TOTAL_CYCLES {
        return Err(TraceError::TooManyCycles {
            cycles: shard.end.clk,
            max: MAX_TOTAL_CYCLES,
        });
    }
    if cycles > MAX_SHARD_CYCLES {
        return Err(TraceError::TooManyCycles {
            cycles,
            max: MAX_SHARD_CYCLES,
        });
    }
    let mut phases = crate::phases::Phases::start("generation phases");
    let height = crate::event::padded_height(shard.cpu.len(), min_height)?;
    // Each row is zeroed as it is filled (`cpu_rows`, the padding below).
    let mut values = crate::rows::stale(height * cpu::WIDTH);
    phases.mark("alloc");
    let mut mults = Multiplicities::default();
    let chunks = crate::rows::fill_chunks(
        &mut values,
        cpu::WIDTH,
        shard.cpu.len(),
        &mut mults,
        |first, rows, mults| cpu_rows(program, shard, claim, first, rows, mults),
    )?;
    let mut sends = CpuSends::default();
    let mut next_syscall = 0;
    for chunk in chunks {
        // Each chunk takes the syscall events from its first cycle on; a
        // sequential fill takes them one after another, so no event may be
        // left between two chunks' runs of them.
        if chunk.first_syscall != next_syscall {
            let clk = shard.syscalls[next_syscall].clk;
            return Err(TraceError::BadRecord(format!(
                "syscall event at cycle {clk} without its ECALL"
            )));
        }
        next_syscall = chunk.first_syscall + chunk.syscalls;
        sends.append(chunk);
    }
    phases.mark("cpu");
    let CpuSends {
        alu,
        commit_counts,
        hint_calls,
        extend_calls,
        compress_calls,
        keccak_calls,
        ..
    } = sends;
    // Padding rows: the clock keeps counting; b == c == 0.
    for (i, row) in values
        .chunks_exact_mut(cpu::WIDTH)
        .enumerate()
        .skip(shard.cpu.len())
    {
        row.fill(Val::ZERO);
        row[c::CLK] = Val::from_u64(shard.start.clk + i as u64);
        row[c::EQ] = Val::ONE;
        cpu::fill_derived(row);
    }
    // ENDS marks the last real row: the rows before it are real and those
    // after it padding (`cpu::fill_ends`, without its pass over every row).
    values[(shard.cpu.len() - 1) * cpu::WIDTH + c::ENDS] = Val::ONE;
    #[cfg(debug_assertions)]
    {
        let mut filled = values.clone();
        cpu::fill_ends(&mut filled);
        debug_assert!(filled == values, "ENDS differs from cpu::fill_ends");
    }
    let cpu_trace = RowMajorMatrix::new(values, cpu::WIDTH);
    phases.mark("cpu_padding");

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
            )));
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

    let committed = commit_counts.map(|n| n > 0);
    let commit_trace = commit::trace(claim.digest, commit_counts, min_height);
    phases.mark("memory");
    let program_trace = program.trace(&shard.cpu, |e| e.pc)?;
    phases.mark("program");

    let chips = ChipTraces::generate_timed(&alu, min_height, mults, &mut phases)?;
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
        public_values: shard_public_values(&cpu_publics, claim, committed),
        boundary,
        committed,
        cpu: cpu_publics,
        tables,
    })
}

/// What a run of CPU rows sends besides its range and byte checks, in row
/// order: the ALU operations, COMMITs and syscall calls, and which of the
/// shard's syscall events it took.
#[derive(Default)]
struct CpuSends<'a> {
    alu: Vec<AluEvent>,
    commit_counts: [u64; 8],
    hint_calls: Vec<(u64, u32, u32, &'a [MemoryAccess])>,
    extend_calls: Vec<PrecompileCall<'a>>,
    compress_calls: Vec<PrecompileCall<'a>>,
    keccak_calls: Vec<PrecompileCall<'a>>,
    /// The index of the first syscall event at or after the run's first cycle.
    first_syscall: usize,
    /// How many syscall events (from `first_syscall` on) its ECALLs took.
    syscalls: usize,
}

impl<'a> CpuSends<'a> {
    /// Appends the next run's sends.
    fn append(&mut self, next: CpuSends<'a>) {
        self.alu.extend(next.alu);
        for (mine, theirs) in self.commit_counts.iter_mut().zip(next.commit_counts) {
            *mine += theirs;
        }
        self.hint_calls.extend(next.hint_calls);
        self.extend_calls.extend(next.extend_calls);
        self.compress_calls.extend(next.compress_calls);
        self.keccak_calls.extend(next.keccak_calls);
    }
}

/// Fills the CPU rows of the shard's cycles `first..first + rows.len() /
/// WIDTH` (the shard's `first`-th cycle on), counting their range and byte
/// checks in `mults`.
fn cpu_rows<'a>(
    program: &ProgramAir,
    shard: &'a Shard,
    claim: ExecutionClaim,
    first: usize,
    rows: &mut [Val],
    mults: &mut Multiplicities,
) -> Result<CpuSends<'a>, TraceError> {
    let n = rows.len() / cpu::WIDTH;
    let events = &shard.cpu[first..first + n];
    let first_clk = shard.start.clk + first as u64;
    let first_syscall = shard.syscalls.partition_point(|s| s.clk < first_clk);
    let mut syscalls = shard.syscalls[first_syscall..].iter();
    let mut out = CpuSends {
        alu: Vec::with_capacity(n),
        first_syscall,
        ..CpuSends::default()
    };
    let CpuSends {
        alu,
        commit_counts,
        hint_calls,
        extend_calls,
        compress_calls,
        keccak_calls,
        syscalls: syscalls_taken,
        ..
    } = &mut out;
    for (i, (ev, row)) in events
        .iter()
        .zip(rows.chunks_exact_mut(cpu::WIDTH))
        .enumerate()
    {
        let clk = first_clk + i as u64;
        row.fill(Val::ZERO);
        let (prow, m, fetch) = program.fetch(program.row_index(ev.pc)?);
        let ins = prow.instruction;
        let set = |row: &mut [Val], col: usize, v: u32| row[col] = Val::from_u32(v);
        row[..FETCH_WIDTH].copy_from_slice(fetch);
        row[c::IS_REAL] = Val::ONE;
        row[c::CLK] = Val::from_u64(clk);
        let b = ev.rs1;
        let cval = if m[f::ALU_IMM] == 1 { ins.imm } else { ev.rs2 };
        let (b_lo, b_hi) = limbs(b);
        let (c_lo, c_hi) = limbs(cval);
        set(row, c::B_LO, b_lo);
        set(row, c::B_HI, b_hi);
        set(row, c::C_LO, c_lo);
        set(row, c::C_HI, c_hi);
        let bad = |what: &str| TraceError::BadRecord(format!("pc {:#010x}: {what}", ev.pc));

        // Register accesses.
        let gap = |row: &mut [Val], mults: &mut Multiplicities, col, pos, prev_ts| {
            gap_limbs(row, mults, col, timestamp(clk, pos), prev_ts)
        };
        if m[f::READS_RS1] == 1 {
            gap(row, mults, c::E_RS1, Position::Rs1, ev.rs1_prev_ts);
        }
        if m[f::READS_RS2] == 1 {
            gap(row, mults, c::E_RS2, Position::Rs2, ev.rs2_prev_ts);
        }
        if m[f::WRITES_RD] == 1 {
            gap(row, mults, c::E_RD, Position::Rd, ev.rd_prev_ts);
            let (lo, hi) = limbs(ev.rd_prev);
            set(row, c::RD_PREV_LO, lo);
            set(row, c::RD_PREV_HI, hi);
        }

        // Address, loads and stores.
        let is_load = (f::LB..=f::LW).any(|k| m[k] == 1);
        let is_store = (f::SB..=f::SW).any(|k| m[k] == 1);
        let is_mem = is_load || is_store;
        let mut a = 0u32;
        if is_mem || m[f::JALR] == 1 {
            let addr = b.wrapping_add(ins.imm);
            alu.push(AluEvent::new(Opcode::Add, b, ins.imm).expect("ADD"));
            let (lo, hi) = limbs(addr);
            set(row, c::ADDR_LO, lo);
            set(row, c::ADDR_HI, hi);
            set(row, c::ADDR_W, lo >> 2);
            set(row, c::ADDR_BIT0, lo & 1);
            set(row, c::ADDR_BIT1, (lo >> 1) & 1);
            mults.range16((lo >> 2) as u16);
            if is_mem {
                if hi >= 1 << 15 {
                    return Err(TraceError::AddressOutOfRange { pc: ev.pc, addr });
                }
                mults.range16((2 * hi) as u16);
            } else {
                // A JALR into text (below 2^30) is all the executor follows.
                mults.range16((4 * hi) as u16);
            }
        }
        if is_mem {
            if ev.mem_addr != b.wrapping_add(ins.imm) & !3 {
                return Err(bad("memory address differs from rs1 + imm"));
            }
            gap(row, mults, c::E_MEM, Position::Memory, ev.mem_prev_ts);
            let addr = b.wrapping_add(ins.imm);
            let (bit0, bit1) = (addr & 1, (addr >> 1) & 1);
            let (p_lo, p_hi) = limbs(ev.mem_prev);
            let (n_lo, n_hi) = limbs(ev.mem_value);
            set(row, c::MEM_PREV_LO, p_lo);
            set(row, c::MEM_PREV_HI, p_hi);
            set(row, c::MEM_NEW_LO, n_lo);
            set(row, c::MEM_NEW_HI, n_hi);
            let sel = if bit1 == 1 { p_hi } else { p_lo };
            let (q0, q1) = ((sel & 0xff) as u8, (sel >> 8) as u8);
            let byte = u32::from(if bit0 == 1 { q1 } else { q0 });
            if m[f::LB] + m[f::LBU] + m[f::SB] == 1 {
                set(row, c::Q0, q0.into());
                set(row, c::Q1, q1.into());
                set(row, c::QX, (q0 ^ q1).into());
                mults.byte(ByteOp::Xor, q0, q1);
            }
            if m[f::LB] == 1 {
                let sign = byte >> 7;
                set(row, c::SIGN, sign);
                let rest = 512 * (byte - 128 * sign);
                set(row, c::SIGN_REST, rest);
                mults.range16(rest as u16);
                a = byte | (sign * 0xffff_ff00);
            } else if m[f::LH] == 1 {
                let sign = sel >> 15;
                set(row, c::SIGN, sign);
                let rest = 2 * (sel - (sign << 15));
                set(row, c::SIGN_REST, rest);
                mults.range16(rest as u16);
                a = sel | (sign * 0xffff_0000);
            } else if m[f::LBU] == 1 {
                a = byte;
            } else if m[f::LHU] == 1 {
                a = sel;
            } else if m[f::LW] == 1 {
                a = ev.mem_prev;
            } else if m[f::SB] == 1 {
                let (r0, r1) = ((c_lo & 0xff) as u8, (c_lo >> 8) as u8);
                set(row, c::R0, r0.into());
                set(row, c::R1, r1.into());
                set(row, c::RX, (r0 ^ r1).into());
                mults.byte(ByteOp::Xor, r0, r1);
            }
        }

        // ALU operations and branch comparisons.
        if m[f::ALU_RR] == 1 || m[f::ALU_IMM] == 1 || m[f::BRANCH_LT] == 1 {
            let op: Opcode = if m[f::BRANCH_LT] == 1 {
                if m[f::ALU_OP] == Opcode::Slt as u32 {
                    Opcode::Slt
                } else {
                    Opcode::Sltu
                }
            } else {
                ins.opcode
            };
            let event = AluEvent::new(op, b, cval).ok_or(TraceError::UnsupportedOpcode(op))?;
            a = event.a;
            alu.push(event);
        }
        if m[f::CONST] == 1 {
            a = m[f::VALUE_LO] | m[f::VALUE_HI] << 16;
        }
        let eq = b == cval;
        row[c::EQ] = Val::from_bool(eq);
        if !eq {
            // 1 / (b_lo - c_lo) where that is non-zero, else 1 / (b_hi - c_hi)
            // (non-zero, as b != c).
            let d_lo = i64::from(b_lo) - i64::from(c_lo);
            if d_lo != 0 {
                row[c::INV_LO] = crate::rows::inverse_of_small(d_lo);
            } else {
                row[c::INV_HI] = crate::rows::inverse_of_small(i64::from(b_hi) - i64::from(c_hi));
            }
        }
        let taken = if m[f::BRANCH_EQ] == 1 {
            eq != (m[f::BRANCH_NEG] == 1)
        } else if m[f::BRANCH_LT] == 1 {
            (a == 1) != (m[f::BRANCH_NEG] == 1)
        } else {
            false
        };
        row[c::TAKEN] = Val::from_bool(taken);

        // Syscalls.
        if m[f::ECALL] == 1 {
            let code = ev.rd_prev;
            let &(_, col) = SYSCALLS.iter().find(|(n, _)| *n == code).ok_or_else(|| {
                TraceError::UnprovableSyscall {
                    pc: ev.pc,
                    code,
                    name: cloak_vm::syscall::syscall_name(code).unwrap_or("unknown"),
                }
            })?;
            row[col] = Val::ONE;
            a = ev.rd;
            if col == c::SYS_HINT_LEN {
                // The result's limbs are range-checked through these columns.
                mults.range16_word(a);
                set(row, c::ADDR_W, a >> 16);
                set(row, c::SIGN_REST, a & 0xffff);
            }
            if col == c::SYS_DEFERRED {
                // The word index (below 8), times 2^13, is range-checked here.
                if b >= 8 {
                    return Err(bad("COMMIT_DEFERRED_PROOFS of a word index outside 0..8"));
                }
                mults.range16((b << 13) as u16);
                set(row, c::ADDR_W, b << 13);
            }
            let sys = syscalls
                .next()
                .filter(|s| s.clk == clk)
                .ok_or_else(|| bad("ECALL without its syscall event"))?;
            *syscalls_taken += 1;
            if code == COMMIT {
                let index = b as usize;
                if index >= 8 {
                    return Err(bad("COMMIT of a digest word index outside 0..8"));
                }
                if claim.digest[index] != cval {
                    return Err(bad(
                        "COMMIT of a digest word with a value other than its last one \
                         (one proof holds one digest)",
                    ));
                }
                commit_counts[index] += 1;
            } else if code == HINT_READ {
                hint_calls.push((clk, b, cval, shard.accesses_of(sys)));
            } else if code == SHA_EXTEND || code == SHA_COMPRESS || code == KECCAK_PERMUTE {
                if sys.code != code || sys.arg1 != b || sys.arg2 != cval {
                    return Err(bad("precompile event differs from the ECALL's registers"));
                }
                let call = PrecompileCall {
                    clk,
                    arg1: b,
                    arg2: cval,
                    accesses: shard.accesses_of(sys),
                };
                match code {
                    SHA_EXTEND => extend_calls.push(call),
                    SHA_COMPRESS => compress_calls.push(call),
                    _ => keccak_calls.push(call),
                }
            }
        }
        if m[f::WRITES_RD] == 1 && a != ev.rd {
            return Err(bad(
                "the register write differs from the instruction's result",
            ));
        }
        let (a_lo, a_hi) = limbs(a);
        set(row, c::A_LO, a_lo);
        set(row, c::A_HI, a_hi);
        cpu::fill_derived(row);
    }
    Ok(out)
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
        range16::trace(&mults),
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
    let e = ts - 1 - prev_ts;
    let (lo, hi) = ((e & 0x3fff) as u16, (e >> 14) as u16);
    row[col] = Val::from_u16(lo);
    row[col + 1] = Val::from_u16(hi);
    mults.range16(lo);
    mults.range16(hi);
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
}
