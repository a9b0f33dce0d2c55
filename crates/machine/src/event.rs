//! The input of trace generation: ALU operations as the executor performed them,
//! and the lookups the tables send, counted so the providing tables can fill
//! their multiplicity columns.

use crate::bus::alu_op;
use cloak_vm::Opcode;
use thiserror::Error;

/// One executed ALU operation `a = opcode(b, c)`. For immediate forms `c` is the
/// sign-extended immediate as a `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AluEvent {
    pub opcode: Opcode,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

impl AluEvent {
    /// The event with `a` computed from `b` and `c`; `None` for opcodes the
    /// chips here do not handle.
    pub fn new(opcode: Opcode, b: u32, c: u32) -> Option<AluEvent> {
        let a = match alu_op(opcode)? {
            Opcode::Add => b.wrapping_add(c),
            Opcode::Sub => b.wrapping_sub(c),
            Opcode::And => b & c,
            Opcode::Or => b | c,
            Opcode::Xor => b ^ c,
            Opcode::Slt => ((b as i32) < (c as i32)) as u32,
            Opcode::Sltu => (b < c) as u32,
            Opcode::Sll => b << (c & 31),
            Opcode::Srl => b >> (c & 31),
            Opcode::Sra => ((b as i32) >> (c & 31)) as u32,
            Opcode::Mul => b.wrapping_mul(c),
            Opcode::Mulh => ((i64::from(b as i32) * i64::from(c as i32)) >> 32) as u32,
            Opcode::Mulhsu => ((i64::from(b as i32) * i64::from(c)) >> 32) as u32,
            Opcode::Mulhu => ((u64::from(b) * u64::from(c)) >> 32) as u32,
            // RISC-V: x / 0 = -1 and x % 0 = x; INT_MIN / -1 = INT_MIN (wrapping)
            // and INT_MIN % -1 = 0.
            Opcode::Div if c == 0 => u32::MAX,
            Opcode::Div => (b as i32).wrapping_div(c as i32) as u32,
            Opcode::Divu => b.checked_div(c).unwrap_or(u32::MAX),
            Opcode::Rem if c == 0 => b,
            Opcode::Rem => (b as i32).wrapping_rem(c as i32) as u32,
            Opcode::Remu => b.checked_rem(c).unwrap_or(b),
            _ => return None,
        };
        Some(AluEvent { opcode, a, b, c })
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TraceError {
    #[error("no chip handles {0:?}")]
    UnsupportedOpcode(Opcode),
    #[error("{opcode:?}({b:#x}, {c:#x}) is {expected:#x}, but the event says {a:#x}")]
    WrongResult {
        opcode: Opcode,
        a: u32,
        b: u32,
        c: u32,
        expected: u32,
    },
    #[error("{rows} rows do not fit a power-of-two trace")]
    TooManyRows { rows: usize },
    #[error(
        "shard {shard}: the {table} table needs {height} rows, past the 2^{max_log} \
         that KoalaBear's two-adic domains allow this table (a single syscall this \
         large cannot be proven; split it into smaller calls)"
    )]
    TableTooTall {
        shard: usize,
        table: &'static str,
        height: usize,
        max_log: usize,
    },
    #[error("pc {pc:#010x} is at or above 0x40000000: text that high cannot be proven")]
    PcOutOfField { pc: u32 },
    #[error("pc {pc:#010x}: syscall {code:#010x} ({name}) has no table in the prover yet")]
    UnprovableSyscall {
        pc: u32,
        code: u32,
        name: &'static str,
    },
    #[error("pc {pc:#010x}: memory access at {addr:#010x} is at or above 0x80000000, which the prover does not cover")]
    AddressOutOfRange { pc: u32, addr: u32 },
    #[error("the execution ran {cycles} cycles; one proof covers at most {max} (timestamps must stay below 2^29)")]
    TooManyCycles { cycles: u64, max: u64 },
    #[error(
        "the execution did not halt within the traced cycles, so it cannot be proven as one shard"
    )]
    NotHalted,
    #[error("the record is inconsistent: {0}")]
    BadRecord(String),
    #[error("pc {pc:#010x} holds no executable instruction of the program")]
    NotAnInstruction { pc: u32 },
}

/// Checks an event's result and returns the operation it travels as.
pub(crate) fn checked(event: &AluEvent) -> Result<Opcode, TraceError> {
    let op = alu_op(event.opcode).ok_or(TraceError::UnsupportedOpcode(event.opcode))?;
    let expected = AluEvent::new(event.opcode, event.b, event.c)
        .ok_or(TraceError::UnsupportedOpcode(event.opcode))?
        .a;
    if expected != event.a {
        return Err(TraceError::WrongResult {
            opcode: event.opcode,
            a: event.a,
            b: event.b,
            c: event.c,
            expected,
        });
    }
    Ok(op)
}

/// An operation on a pair of bytes, as the Byte table provides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOp {
    And,
    Or,
    Xor,
    /// No operation: `byte(U8_PAIR, x, y, 0)` only shows that `x` and `y`
    /// are bytes (two byte range checks in one lookup).
    Pair,
}

impl ByteOp {
    /// In the Byte table's multiplicity column order.
    pub const ALL: [ByteOp; 4] = [ByteOp::And, ByteOp::Or, ByteOp::Xor, ByteOp::Pair];
    /// The operations with a preprocessed result column, in column order.
    pub const BITWISE: [ByteOp; 3] = [ByteOp::And, ByteOp::Or, ByteOp::Xor];

    pub fn apply(self, x: u8, y: u8) -> u8 {
        match self {
            ByteOp::And => x & y,
            ByteOp::Or => x | y,
            ByteOp::Xor => x ^ y,
            ByteOp::Pair => 0,
        }
    }

    /// The operation a bitwise ALU opcode performs on each byte.
    pub fn of(op: Opcode) -> Option<ByteOp> {
        match op {
            Opcode::And => Some(ByteOp::And),
            Opcode::Or => Some(ByteOp::Or),
            Opcode::Xor => Some(ByteOp::Xor),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How often each value was looked up on the `range16` and `byte` buses: the
/// multiplicity columns of the Range16 and Byte tables. Counters are `u64`, so
/// no realistic trace overflows them (the LogUp height check bounds the total
/// far lower anyway).
#[derive(Debug)]
pub struct Multiplicities {
    pub(crate) range16: Vec<u64>,
    /// Per [`ByteOp`], indexed by `x * 256 + y` (the Byte table's row).
    pub(crate) byte: [Vec<u64>; 4],
    /// Counts made by `rows::fill_chunks` on rayon's threads: one set of
    /// counters per thread, kept across every fill of a shard and added to
    /// these once ([`Self::settle`]). A set of counters per chunk instead,
    /// added up after each fill, cost more than a small chip's rows, so
    /// chips were filled in few, large chunks, on few cores.
    pub(crate) per_thread: thread_local::ThreadLocal<std::cell::RefCell<Multiplicities>>,
}

impl Default for Multiplicities {
    fn default() -> Self {
        Multiplicities {
            range16: vec![0; 1 << 16],
            byte: std::array::from_fn(|_| vec![0; 1 << 16]),
            per_thread: thread_local::ThreadLocal::new(),
        }
    }
}

impl Multiplicities {
    /// Counts one `range16(x)` send.
    pub fn range16(&mut self, x: u16) {
        self.range16[x as usize] += 1;
    }

    /// Counts one `byte(op, x, y, op(x, y))` send.
    pub fn byte(&mut self, op: ByteOp, x: u8, y: u8) {
        self.byte[op.index()][(x as usize) << 8 | y as usize] += 1;
    }

    /// Counts the range checks of both limbs of `word`.
    pub fn range16_word(&mut self, word: u32) {
        self.range16(word as u16);
        self.range16((word >> 16) as u16);
    }

    /// Adds the counts the threads of `rows::fill_chunks` still hold to
    /// these: what the tables read must be settled first.
    pub fn settle(&mut self) {
        let pending: Vec<Multiplicities> = std::mem::take(&mut self.per_thread)
            .into_iter()
            .map(|counts| {
                let mut counts = counts.into_inner();
                counts.settle();
                counts
            })
            .collect();
        if !pending.is_empty() {
            self.add_all(&pending);
        }
    }
}

/// A table height for `rows` rows: the next power of two, at least `min_height`.
pub(crate) fn padded_height(rows: usize, min_height: usize) -> Result<usize, TraceError> {
    rows.max(min_height)
        .max(1)
        .checked_next_power_of_two()
        .ok_or(TraceError::TooManyRows { rows })
}
