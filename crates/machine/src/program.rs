//! Program: the preprocessed instruction table, providing one `program`
//! message per executable instruction of the ELF: its pc and its *decoded*
//! form (operand registers, immediate, branch/jump target, the constant a
//! LUI/AUIPC/JAL/JALR writes, the `alu` op id, and one flag per instruction
//! class).
//!
//! All of it is preprocessed, so it is fixed by the verifying key: a prover
//! cannot run an instruction the program does not contain, nor decode one
//! differently. The CPU copies the message into its own columns, so the flags
//! it branches on need no booleanity or exclusivity constraints of their own:
//! the decoder here makes them one-hot per class. The only witness is how often
//! each instruction was fetched. Padding rows carry `is_real = 0`, and
//! `mult * (1 - is_real) = 0` stops a prover from fetching them.
//!
//! Branch and JAL targets are `pc + imm` as a field element; a target outside
//! the provable text range (at or above [`MAX_TEXT_END`]) is replaced by
//! [`MAX_TEXT_END`] itself, where no instruction lies, so such a jump cannot be
//! followed by any fetch.

use crate::bus::{alu_op, limbs, PROGRAM_BUS};
use crate::event::TraceError;
use cloak_prover::Val;
use cloak_vm::{Instruction, Opcode, Program};
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::Arc;

/// Text must lie below 2^30 to be proven: pcs and jump targets are then field
/// elements with room to spare, and a wrapped target never aliases a real pc.
pub const MAX_TEXT_END: u32 = 1 << 30;

/// Fields of the `program` message, in order. The CPU table holds the same
/// fields in its first [`FETCH_WIDTH`] columns.
pub mod fields {
    pub const PC: usize = 0;
    pub const RD: usize = 1;
    pub const RS1: usize = 2;
    pub const RS2: usize = 3;
    pub const IMM_LO: usize = 4;
    pub const IMM_HI: usize = 5;
    /// Branch/JAL target (see the module docs).
    pub const TARGET: usize = 6;
    /// The value LUI, AUIPC, JAL and JALR write to rd.
    pub const VALUE_LO: usize = 7;
    pub const VALUE_HI: usize = 8;
    /// The `alu` op id: of the ALU operation, or SLT/SLTU for ordered branches.
    pub const ALU_OP: usize = 9;
    // Flags.
    pub const READS_RS1: usize = 10;
    pub const READS_RS2: usize = 11;
    /// Writes rd, and rd is not x0.
    pub const WRITES_RD: usize = 12;
    /// ALU operation on two registers: `c = rs2`.
    pub const ALU_RR: usize = 13;
    /// ALU operation with an immediate: `c = imm`.
    pub const ALU_IMM: usize = 14;
    /// LUI, AUIPC, JAL, JALR: rd = value.
    pub const CONST: usize = 15;
    pub const JAL: usize = 16;
    pub const JALR: usize = 17;
    /// BEQ, BNE.
    pub const BRANCH_EQ: usize = 18;
    /// BLT, BGE, BLTU, BGEU (an `alu` SLT/SLTU message decides them).
    pub const BRANCH_LT: usize = 19;
    /// BNE, BGE, BGEU: taken when the comparison fails.
    pub const BRANCH_NEG: usize = 20;
    pub const LB: usize = 21;
    pub const LBU: usize = 22;
    pub const LH: usize = 23;
    pub const LHU: usize = 24;
    pub const LW: usize = 25;
    pub const SB: usize = 26;
    pub const SH: usize = 27;
    pub const SW: usize = 28;
    pub const ECALL: usize = 29;
}
/// Width of the `program` message (and of the CPU's copy of it).
pub const FETCH_WIDTH: usize = 30;
/// Preprocessed columns: the message, then `is_real`.
pub const PREPROCESSED_WIDTH: usize = FETCH_WIDTH + 1;
const IS_REAL: usize = FETCH_WIDTH;
/// Main columns: the fetch multiplicity.
pub const WIDTH: usize = 1;

/// One instruction as the table holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramRow {
    pub pc: u32,
    pub instruction: Instruction,
}

impl ProgramRow {
    /// The `program` message of this instruction.
    pub fn message(&self) -> [u32; FETCH_WIDTH] {
        decode(self.pc, &self.instruction)
    }
}

/// The decoded form of `ins` at `pc`, as the `program` message carries it.
pub fn decode(pc: u32, ins: &Instruction) -> [u32; FETCH_WIDTH] {
    use fields::*;
    use Opcode::*;
    let mut m = [0u32; FETCH_WIDTH];
    let op = ins.opcode;
    let (reads_rs1, reads_rs2) = cloak_vm::operand_reads(op);
    let writes = !matches!(
        op,
        Beq | Bne | Blt | Bge | Bltu | Bgeu | Sb | Sh | Sw | Fence
    );
    m[PC] = pc;
    m[RD] = u32::from(ins.rd);
    m[RS1] = u32::from(ins.rs1);
    m[RS2] = u32::from(ins.rs2);
    (m[IMM_LO], m[IMM_HI]) = limbs(ins.imm);
    m[READS_RS1] = reads_rs1 as u32;
    m[READS_RS2] = reads_rs2 as u32;
    m[WRITES_RD] = (writes && ins.rd != 0) as u32;
    let target = pc.wrapping_add(ins.imm);
    let value = match op {
        Lui => Some(ins.imm),
        Auipc => Some(target),
        Jal | Jalr => Some(pc.wrapping_add(4)),
        _ => None,
    };
    if let Some(value) = value {
        m[CONST] = 1;
        (m[VALUE_LO], m[VALUE_HI]) = limbs(value);
    }
    if matches!(op, Jal | Beq | Bne | Blt | Bge | Bltu | Bgeu) {
        m[TARGET] = target.min(MAX_TEXT_END);
    }
    if let Some(alu) = alu_op(op) {
        m[ALU_OP] = alu as u32;
        let register_form = alu == op;
        m[if register_form { ALU_RR } else { ALU_IMM }] = 1;
    }
    match op {
        Jal => m[JAL] = 1,
        Jalr => m[JALR] = 1,
        Beq => m[BRANCH_EQ] = 1,
        Bne => (m[BRANCH_EQ], m[BRANCH_NEG]) = (1, 1),
        Blt | Bge | Bltu | Bgeu => {
            m[BRANCH_LT] = 1;
            m[BRANCH_NEG] = matches!(op, Bge | Bgeu) as u32;
            m[ALU_OP] = if matches!(op, Blt | Bge) { Slt } else { Sltu } as u32;
        }
        Lb => m[LB] = 1,
        Lbu => m[LBU] = 1,
        Lh => m[LH] = 1,
        Lhu => m[LHU] = 1,
        Lw => m[LW] = 1,
        Sb => m[SB] = 1,
        Sh => m[SH] = 1,
        Sw => m[SW] = 1,
        Ecall => m[ECALL] = 1,
        _ => {}
    }
    m
}

/// The Program table of one ELF. Cheap to clone (the rows are shared).
///
/// Every executed cycle's CPU row starts with its instruction's `program`
/// message, so each row's message is decoded once, here, in both forms the
/// CPU rows need, and a pc finds its row by index, not by search.
#[derive(Clone, Debug)]
pub struct ProgramAir {
    rows: Arc<[ProgramRow]>,
    /// Each row's message, and the same as field elements.
    messages: Arc<[([u32; FETCH_WIDTH], [Val; FETCH_WIDTH])]>,
    /// The text's first pc, and for each of its words the row of its
    /// instruction (`u32::MAX` for a word with none).
    text_base: u32,
    row_index: Arc<[u32]>,
    height: usize,
}

impl ProgramAir {
    /// The table of `program`'s executable instructions, padded to a power of
    /// two of at least `min_height` rows. Text at or above [`MAX_TEXT_END`]
    /// cannot be proven.
    pub fn new(program: &Program, min_height: usize) -> Result<ProgramAir, TraceError> {
        let mut rows = Vec::new();
        let mut row_index = vec![u32::MAX; program.instructions.len()];
        for (i, ins) in program.instructions.iter().enumerate() {
            if matches!(ins.opcode, Opcode::Invalid | Opcode::Unsupported) {
                continue;
            }
            row_index[i] = rows.len() as u32;
            let pc = u64::from(program.text_base) + 4 * i as u64;
            if pc >= u64::from(MAX_TEXT_END) {
                return Err(TraceError::PcOutOfField { pc: pc as u32 });
            }
            rows.push(ProgramRow {
                pc: pc as u32,
                instruction: *ins,
            });
        }
        let height = rows
            .len()
            .max(min_height)
            .checked_next_power_of_two()
            .ok_or(TraceError::TooManyRows { rows: rows.len() })?;
        let messages = rows
            .iter()
            .map(|r| {
                let m = r.message();
                (m, m.map(Val::from_u32))
            })
            .collect();
        Ok(ProgramAir {
            rows: rows.into(),
            messages,
            text_base: program.text_base,
            row_index: row_index.into(),
            height,
        })
    }

    /// The index of the row holding the instruction at `pc`.
    pub fn row_index(&self, pc: u32) -> Result<usize, TraceError> {
        let offset = pc.wrapping_sub(self.text_base);
        match self.row_index.get((offset / 4) as usize) {
            Some(&row) if offset.is_multiple_of(4) && row != u32::MAX => Ok(row as usize),
            _ => Err(TraceError::NotAnInstruction { pc }),
        }
    }

    /// Row `row`'s instruction, its `program` message, and that message as
    /// field elements.
    pub fn fetch(&self, row: usize) -> (&ProgramRow, &[u32; FETCH_WIDTH], &[Val; FETCH_WIDTH]) {
        let (m, v) = &self.messages[row];
        (&self.rows[row], m, v)
    }

    /// Whether `other` is this table (a clone of it), not just an equal one.
    pub fn same_table(&self, other: &ProgramAir) -> bool {
        Arc::ptr_eq(&self.messages, &other.messages)
    }

    /// Every row's `program` message, one after the other
    /// ([`FETCH_WIDTH`] words a row).
    pub fn message_words(&self) -> Vec<u32> {
        self.messages.iter().flat_map(|(m, _)| *m).collect()
    }

    /// The executable instructions, in pc order.
    pub fn rows(&self) -> &[ProgramRow] {
        &self.rows
    }

    pub fn log_height(&self) -> usize {
        self.height.trailing_zeros() as usize
    }

    /// The multiplicity column from the pcs the CPU fetched (`pc_of` each of
    /// `fetched`, one per executed cycle), counted on every core. A pc with
    /// no instruction is an error: the first such pc in `fetched`'s order.
    pub fn trace<E: Sync>(
        &self,
        fetched: &[E],
        pc_of: impl Fn(&E) -> u32 + Sync,
    ) -> Result<RowMajorMatrix<Val>, TraceError> {
        use rayon::prelude::*;
        // Chunks of at least the table's height, so the per-chunk counts
        // cost no more than the counting; each chunk's result is kept, so
        // the first error in order is the one returned.
        let chunk = fetched
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(self.height)
            .max(1);
        let parts: Vec<Result<Vec<u32>, TraceError>> = fetched
            .par_chunks(chunk)
            .map(|chunk| {
                let mut mult = vec![0u32; self.height];
                for e in chunk {
                    mult[self.row_index(pc_of(e))?] += 1;
                }
                Ok(mult)
            })
            .collect();
        let mut mult = vec![0u32; self.height];
        for part in parts {
            mult.iter_mut().zip(part?).for_each(|(x, y)| *x += y);
        }
        Ok(RowMajorMatrix::new(
            mult.into_iter().map(Val::from_u32).collect(),
            WIDTH,
        ))
    }
}

impl<F: Field> BaseAir<F> for ProgramAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        let mut values = F::zero_vec(self.height * PREPROCESSED_WIDTH);
        for (row, cells) in self
            .rows
            .iter()
            .zip(values.chunks_exact_mut(PREPROCESSED_WIDTH))
        {
            for (cell, v) in cells.iter_mut().zip(row.message()) {
                *cell = F::from_u32(v);
            }
            cells[IS_REAL] = F::ONE;
        }
        Some(RowMajorMatrix::new(values, PREPROCESSED_WIDTH))
    }
    fn preprocessed_width(&self) -> usize {
        PREPROCESSED_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for ProgramAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        // Widths are fixed by `BaseAir` above.
        let p = builder.preprocessed().current_slice().to_vec();
        let mult = builder.main().current_slice()[0];
        // Padding rows cannot be fetched.
        builder.assert_zero(mult * (AB::Expr::ONE - p[IS_REAL].into()));
        let message = p[..FETCH_WIDTH].iter().map(|&v| v.into());
        builder.push_interaction(PROGRAM_BUS, message, Count::provided(-mult.into()));
    }
}
