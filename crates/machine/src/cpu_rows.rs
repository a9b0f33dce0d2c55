//! The CPU table's rows in two steps: the *inputs*, what the execution
//! decides (24 small values a cycle: the program row, the operands and
//! result, the timestamp gaps, the address and memory words, the syscall),
//! and their *expansion* into the 81 columns, every one of which the AIR
//! then pins (the fetched message, the clock, bytes, signs, inverses,
//! flags and helpers).
//!
//! [`cpu_inputs`] makes the inputs and everything else a row sends (ALU
//! events, lookups, syscall calls), with every check of the record.
//! [`expand_row`] is the one host expansion; a backend may instead hand the
//! inputs to its device ([`CpuRowInputs`], a deferred trace), where
//! `cpu_expand` in crates/gpu/cuda/cpu_rows.cu makes the same cells. The
//! host then writes and moves 24 columns a cycle instead of 87.

use crate::bus::limbs;
use crate::cpu::{self, cols as c, SYSCALLS};
use crate::event::{AluEvent, ByteOp, Multiplicities, TraceError};
use crate::precompile::PrecompileCall;
use crate::program::{fields as f, ProgramAir, FETCH_WIDTH};
use crate::witness::ExecutionClaim;
use cloak_prover::{DeferredTrace, Val};
use cloak_vm::record::MemoryAccess;
use cloak_vm::record::{timestamp, Position};
use cloak_vm::syscall::{COMMIT, HINT_READ, KECCAK_PERMUTE, SHA_COMPRESS, SHA_EXTEND};
use cloak_vm::{Opcode, Shard};
use p3_field::PrimeCharacteristicRing;
use p3_matrix::dense::RowMajorMatrix;

/// Columns of a row's inputs. Those from `B_LO` to `MEM_NEW_HI` are the CPU
/// columns of the same name, as canonical values below 2^16.
pub mod inputs {
    /// The Program table row of the instruction executed.
    pub const PROGRAM_ROW: usize = 0;
    /// `B_LO` to `E_RD + 1`, in the CPU's order.
    pub const B_LO: usize = 1;
    pub const C_LO: usize = 3;
    pub const A_LO: usize = 5;
    pub const RD_PREV_LO: usize = 7;
    pub const E_RS1: usize = 9;
    pub const E_RD: usize = 15;
    pub const ADDR_LO: usize = 17;
    pub const ADDR_HI: usize = 18;
    /// `MEM_PREV_LO`, `MEM_PREV_HI`, `MEM_NEW_LO`, `MEM_NEW_HI`.
    pub const MEM_PREV_LO: usize = 19;
    /// 1 + the syscall's index in [`crate::cpu::SYSCALLS`] on ECALL rows, else 0.
    pub const SYSCALL: usize = 23;
    pub const WIDTH: usize = 24;
}
use inputs as i;

/// The CPU columns the inputs `B_LO..=E_RD + 1`, `ADDR_LO..=ADDR_HI` and
/// `MEM_PREV_LO..=MEM_NEW_HI` are copied to: `(first input, first column,
/// count)`.
pub const COPIED: [(usize, usize, usize); 3] = [
    (i::B_LO, c::B_LO, 16),
    (i::ADDR_LO, c::ADDR_LO, 2),
    (i::MEM_PREV_LO, c::MEM_PREV_LO, 4),
];

/// What a run of CPU rows sends besides its range and byte checks, in row
/// order: the ALU operations, COMMITs and syscall calls, and which of the
/// shard's syscall events it took.
#[derive(Default)]
pub(crate) struct CpuSends<'a> {
    /// The run's ALU operations: each run keeps its own (the chips split
    /// them per run), so [`CpuSends::append`] leaves them out.
    pub alu: Vec<AluEvent>,
    /// Each COMMIT's `(word index, value, pc)`, checked against the claim
    /// once it is known (generation does not wait for the fast run).
    pub commits: Vec<(usize, u32, u32)>,
    pub hint_calls: Vec<(u64, u32, u32, &'a [MemoryAccess])>,
    pub extend_calls: Vec<PrecompileCall<'a>>,
    pub compress_calls: Vec<PrecompileCall<'a>>,
    pub keccak_calls: Vec<PrecompileCall<'a>>,
    /// The index of the first syscall event at or after the run's first cycle.
    pub first_syscall: usize,
    /// How many syscall events (from `first_syscall` on) its ECALLs took.
    pub syscalls: usize,
}

impl<'a> CpuSends<'a> {
    /// Appends the next run's sends, but for its ALU operations.
    pub fn append(&mut self, next: CpuSends<'a>) {
        self.commits.extend(next.commits);
        self.hint_calls.extend(next.hint_calls);
        self.extend_calls.extend(next.extend_calls);
        self.compress_calls.extend(next.compress_calls);
        self.keccak_calls.extend(next.keccak_calls);
    }
}

/// Checks each COMMIT (`(word index, value, pc)`, from [`CpuSends`])
/// against the claim: a proof holds one digest, the last value the guest
/// committed per word, so every COMMIT of a word must carry it.
pub(crate) fn check_commits(
    commits: &[(usize, u32, u32)],
    claim: &ExecutionClaim,
) -> Result<(), TraceError> {
    match commits
        .iter()
        .find(|&&(index, value, _)| claim.digest[index] != value)
    {
        Some(&(_, _, pc)) => Err(TraceError::BadRecord(format!(
            "pc {pc:#010x}: COMMIT of a digest word with a value other than its last one \
             (one proof holds one digest)"
        ))),
        None => Ok(()),
    }
}

/// Fills the inputs of the shard's cycles `first..first + rows.len() /
/// inputs::WIDTH` (the shard's `first`-th cycle on), counting their range
/// and byte checks in `mults` (the expansion's included), and checks them
/// against the record.
pub(crate) fn cpu_inputs<'a>(
    program: &ProgramAir,
    shard: &'a Shard,
    first: usize,
    rows: &mut [u32],
    mults: &mut Multiplicities,
) -> Result<CpuSends<'a>, TraceError> {
    let n = rows.len() / i::WIDTH;
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
        commits,
        hint_calls,
        extend_calls,
        compress_calls,
        keccak_calls,
        syscalls: syscalls_taken,
        ..
    } = &mut out;
    for (k, (ev, row)) in events
        .iter()
        .zip(rows.chunks_exact_mut(i::WIDTH))
        .enumerate()
    {
        let clk = first_clk + k as u64;
        row.fill(0);
        let program_row = program.row_index(ev.pc)?;
        let (prow, m, _) = program.fetch(program_row);
        let ins = prow.instruction;
        row[i::PROGRAM_ROW] = program_row as u32;
        let b = ev.rs1;
        let cval = if m[f::ALU_IMM] == 1 { ins.imm } else { ev.rs2 };
        let (b_lo, b_hi) = limbs(b);
        let (c_lo, c_hi) = limbs(cval);
        (row[i::B_LO], row[i::B_LO + 1]) = (b_lo, b_hi);
        (row[i::C_LO], row[i::C_LO + 1]) = (c_lo, c_hi);
        let bad = |what: &str| TraceError::BadRecord(format!("pc {:#010x}: {what}", ev.pc));

        // Register accesses.
        let gap = |row: &mut [u32], mults: &mut Multiplicities, slot, pos, prev_ts| {
            gap_limbs(row, mults, slot, timestamp(clk, pos), prev_ts)
        };
        if m[f::READS_RS1] == 1 {
            gap(row, mults, i::E_RS1, Position::Rs1, ev.rs1_prev_ts);
        }
        if m[f::READS_RS2] == 1 {
            gap(row, mults, i::E_RS1 + 2, Position::Rs2, ev.rs2_prev_ts);
        }
        if m[f::WRITES_RD] == 1 {
            gap(row, mults, i::E_RD, Position::Rd, ev.rd_prev_ts);
            (row[i::RD_PREV_LO], row[i::RD_PREV_LO + 1]) = limbs(ev.rd_prev);
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
            (row[i::ADDR_LO], row[i::ADDR_HI]) = (lo, hi);
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
            gap(row, mults, i::E_RS1 + 4, Position::Memory, ev.mem_prev_ts);
            let addr = b.wrapping_add(ins.imm);
            let (bit0, bit1) = (addr & 1, (addr >> 1) & 1);
            let (p_lo, p_hi) = limbs(ev.mem_prev);
            let m_in = i::MEM_PREV_LO;
            (row[m_in], row[m_in + 1]) = (p_lo, p_hi);
            (row[m_in + 2], row[m_in + 3]) = limbs(ev.mem_value);
            let sel = if bit1 == 1 { p_hi } else { p_lo };
            let (q0, q1) = ((sel & 0xff) as u8, (sel >> 8) as u8);
            let byte = u32::from(if bit0 == 1 { q1 } else { q0 });
            if m[f::LB] + m[f::LBU] + m[f::SB] == 1 {
                mults.byte(ByteOp::Xor, q0, q1);
            }
            if m[f::LB] == 1 {
                let sign = byte >> 7;
                mults.range16((512 * (byte - 128 * sign)) as u16);
                a = byte | (sign * 0xffff_ff00);
            } else if m[f::LH] == 1 {
                let sign = sel >> 15;
                mults.range16((2 * (sel - (sign << 15))) as u16);
                a = sel | (sign * 0xffff_0000);
            } else if m[f::LBU] == 1 {
                a = byte;
            } else if m[f::LHU] == 1 {
                a = sel;
            } else if m[f::LW] == 1 {
                a = ev.mem_prev;
            } else if m[f::SB] == 1 {
                mults.byte(ByteOp::Xor, (c_lo & 0xff) as u8, (c_lo >> 8) as u8);
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

        // Syscalls.
        if m[f::ECALL] == 1 {
            let code = ev.rd_prev;
            let index = SYSCALLS
                .iter()
                .position(|&(n, _)| n == code)
                .ok_or_else(|| TraceError::UnprovableSyscall {
                    pc: ev.pc,
                    code,
                    name: cloak_vm::syscall::syscall_name(code).unwrap_or("unknown"),
                })?;
            row[i::SYSCALL] = index as u32 + 1;
            let col = SYSCALLS[index].1;
            a = ev.rd;
            if col == c::SYS_HINT_LEN {
                // The result's limbs are range-checked through ADDR_W and
                // SIGN_REST.
                mults.range16_word(a);
            }
            if col == c::SYS_DEFERRED {
                // The word index (below 8), times 2^13, is range-checked
                // through ADDR_W.
                if b >= 8 {
                    return Err(bad("COMMIT_DEFERRED_PROOFS of a word index outside 0..8"));
                }
                mults.range16((b << 13) as u16);
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
                commits.push((index, cval, ev.pc));
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
        (row[i::A_LO], row[i::A_LO + 1]) = limbs(a);
    }
    Ok(out)
}

/// Writes the timestamp gap at `slot` and `slot + 1` ([`gap_split`]).
#[inline(always)]
fn gap_limbs(row: &mut [u32], mults: &mut Multiplicities, slot: usize, ts: u64, prev_ts: u64) {
    let (lo, hi) = gap_split(mults, ts, prev_ts);
    (row[slot], row[slot + 1]) = (lo.into(), hi.into());
}

/// The limbs of the timestamp gap `ts - prev_ts - 1 = lo + 2^14 hi`, both
/// range checks counted.
#[inline(always)]
pub(crate) fn gap_split(mults: &mut Multiplicities, ts: u64, prev_ts: u64) -> (u16, u16) {
    let e = ts - 1 - prev_ts;
    let (lo, hi) = ((e & 0x3fff) as u16, (e >> 14) as u16);
    mults.range16(lo);
    mults.range16(hi);
    (lo, hi)
}

/// The CPU row of a cycle at `clk` from its inputs (`input`, of the
/// instruction whose message is `message`, as words and as field
/// elements), in the `ENDS = 0` of every row but the last real one.
/// Every cell is written.
#[inline]
pub fn expand_row(
    message: &[u32; FETCH_WIDTH],
    fetch: &[Val; FETCH_WIDTH],
    input: &[u32],
    clk: u64,
    row: &mut [Val],
) {
    let m = message;
    let set = |row: &mut [Val], col: usize, v: u32| row[col] = Val::from_u32(v);
    row.fill(Val::ZERO);
    row[..FETCH_WIDTH].copy_from_slice(fetch);
    row[c::IS_REAL] = Val::ONE;
    row[c::CLK] = Val::from_u64(clk);
    for (from, to, count) in COPIED {
        for k in 0..count {
            set(row, to + k, input[from + k]);
        }
    }
    let (b_lo, b_hi) = (input[i::B_LO], input[i::B_LO + 1]);
    let (c_lo, c_hi) = (input[i::C_LO], input[i::C_LO + 1]);
    let a = input[i::A_LO] | input[i::A_LO + 1] << 16;
    let lo = input[i::ADDR_LO];
    set(row, c::ADDR_W, lo >> 2);
    set(row, c::ADDR_BIT0, lo & 1);
    set(row, c::ADDR_BIT1, (lo >> 1) & 1);
    let (bit0, bit1) = (lo & 1, (lo >> 1) & 1);
    let (p_lo, p_hi) = (input[i::MEM_PREV_LO], input[i::MEM_PREV_LO + 1]);
    let sel = if bit1 == 1 { p_hi } else { p_lo };
    let (q0, q1) = (sel & 0xff, sel >> 8);
    let byte = if bit0 == 1 { q1 } else { q0 };
    if m[f::LB] + m[f::LBU] + m[f::SB] == 1 {
        set(row, c::Q0, q0);
        set(row, c::Q1, q1);
        set(row, c::QX, q0 ^ q1);
    }
    if m[f::LB] == 1 {
        let sign = byte >> 7;
        set(row, c::SIGN, sign);
        set(row, c::SIGN_REST, 512 * (byte - 128 * sign));
    } else if m[f::LH] == 1 {
        let sign = sel >> 15;
        set(row, c::SIGN, sign);
        set(row, c::SIGN_REST, 2 * (sel - (sign << 15)));
    } else if m[f::SB] == 1 {
        let (r0, r1) = (c_lo & 0xff, c_lo >> 8);
        set(row, c::R0, r0);
        set(row, c::R1, r1);
        set(row, c::RX, r0 ^ r1);
    }
    let eq = b_lo == c_lo && b_hi == c_hi;
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
    if let Some(&(_, col)) = (input[i::SYSCALL] as usize)
        .checked_sub(1)
        .and_then(|k| SYSCALLS.get(k))
    {
        row[col] = Val::ONE;
        if col == c::SYS_HINT_LEN {
            set(row, c::ADDR_W, a >> 16);
            set(row, c::SIGN_REST, a & 0xffff);
        }
        if col == c::SYS_DEFERRED {
            set(row, c::ADDR_W, b_lo << 13);
        }
    }
    cpu::fill_derived(row);
}

/// A padding row after the last real one, at `clk`: the clock keeps
/// counting, `b == c == 0`.
#[inline]
pub fn padding_row(clk: u64, row: &mut [Val]) {
    row.fill(Val::ZERO);
    row[c::CLK] = Val::from_u64(clk);
    row[c::EQ] = Val::ONE;
    cpu::fill_derived(row);
}

/// Expands a run of rows' inputs (`inputs`, the cycles from `clk` on) into
/// `rows`, one [`expand_row`] each.
pub fn expand_rows(program: &ProgramAir, inputs: &[u32], clk: u64, rows: &mut [Val]) {
    for (k, (input, row)) in inputs
        .chunks_exact(i::WIDTH)
        .zip(rows.chunks_exact_mut(cpu::WIDTH))
        .enumerate()
    {
        let (_, message, fetch) = program.fetch(input[i::PROGRAM_ROW] as usize);
        expand_row(message, fetch, input, clk + k as u64, row);
    }
}

/// The name [`CpuRowInputs`] goes by as a [`DeferredTrace`].
pub const CPU_ROWS_KIND: &str = "cloak-machine/cpu-rows-v1";

/// A shard's CPU trace as its rows' inputs, for a backend that expands
/// them on its device ([`cloak_prover::ProverBackend::expands`]
/// [`CPU_ROWS_KIND`]): `inputs` holds the real rows' inputs
/// ([`inputs::WIDTH`] words each), the trace has `height` rows, real ones
/// at clocks `start_clk..`, then padding, with `ENDS` on the last real row.
#[derive(Clone)]
pub struct CpuRowInputs {
    pub program: ProgramAir,
    pub inputs: Vec<u32>,
    pub start_clk: u64,
    pub height: usize,
}

impl CpuRowInputs {
    pub fn rows(&self) -> usize {
        self.inputs.len() / i::WIDTH
    }
}

impl DeferredTrace for CpuRowInputs {
    fn kind(&self) -> &'static str {
        CPU_ROWS_KIND
    }

    fn width(&self) -> usize {
        cpu::WIDTH
    }

    fn height(&self) -> usize {
        self.height
    }

    fn into_values(self: Box<Self>) -> RowMajorMatrix<Val> {
        use rayon::prelude::*;
        let rows = self.rows();
        let mut values = crate::rows::stale(self.height * cpu::WIDTH);
        let chunk = crate::rows::CHUNK_ROWS;
        values[..rows * cpu::WIDTH]
            .par_chunks_mut(chunk * cpu::WIDTH)
            .zip(self.inputs.par_chunks(chunk * i::WIDTH))
            .enumerate()
            .for_each(|(k, (out, inputs))| {
                let clk = self.start_clk + (k * chunk) as u64;
                expand_rows(&self.program, inputs, clk, out);
            });
        pad_and_mark_ends(&mut values, rows, self.start_clk);
        RowMajorMatrix::new(values, cpu::WIDTH)
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Fills the padding rows after the `rows` real ones of a CPU trace whose
/// first row is at `start_clk` ([`padding_row`]), and sets `ENDS` on the
/// last real row: the rows before it are real and those after it padding
/// ([`cpu::fill_ends`], without its pass over every row).
pub(crate) fn pad_and_mark_ends(values: &mut [Val], rows: usize, start_clk: u64) {
    for (k, row) in values.chunks_exact_mut(cpu::WIDTH).enumerate().skip(rows) {
        padding_row(start_clk + k as u64, row);
    }
    values[(rows - 1) * cpu::WIDTH + c::ENDS] = Val::ONE;
    #[cfg(debug_assertions)]
    {
        let mut filled = values.to_vec();
        cpu::fill_ends(&mut filled);
        debug_assert!(filled == values, "ENDS differs from cpu::fill_ends");
    }
}

impl Drop for CpuRowInputs {
    /// The inputs' buffer goes back to the trace buffers' pool (a backend
    /// drops them once uploaded), for the next shard's.
    fn drop(&mut self) {
        cloak_prover::trace_buffers::give_back_words(std::mem::take(&mut self.inputs));
    }
}

/// Field inverse on the device is by exponentiation; this pins that it is
/// the same element as the host's table (`rows::inverse_of_small`).
#[cfg(test)]
mod tests {
    use super::*;
    use p3_field::Field;

    #[test]
    fn small_inverses_are_field_inverses() {
        for v in [-65535i64, -300, -1, 1, 2, 255, 65535] {
            let inv = crate::rows::inverse_of_small(v);
            assert_eq!(inv * Val::from_i64(v), Val::ONE, "{v}");
            assert_eq!(inv, Val::from_i64(v).inverse(), "{v}");
        }
    }
}
