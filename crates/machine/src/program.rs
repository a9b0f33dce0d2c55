//! Program: the preprocessed instruction table, providing
//! `program(pc, op, rd, rs1, rs2, imm_lo, imm_hi)` for every executable
//! instruction of the ELF.
//!
//! The instruction columns are preprocessed, so they are fixed by the verifying
//! key: a prover cannot run an instruction the program does not contain. The
//! only witness is how often each instruction was fetched. Padding rows (and
//! words that are not executable instructions, which are left out) carry
//! `is_real = 0`, and `mult * (1 - is_real) = 0` stops a prover from fetching
//! them.
//!
//! `op` is `cloak_vm::Opcode as u8` of the decoded instruction itself (ADDI
//! stays ADDI here; the CPU maps it to the `alu` bus form). `imm` is the
//! sign-extended immediate as two 16-bit limbs.

use crate::bus::{limbs, PROGRAM_BUS};
use crate::event::TraceError;
use cloak_prover::Val;
use cloak_vm::{Opcode, Program};
use p3_air::{Air, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use std::sync::Arc;

/// Preprocessed column indices.
pub mod cols {
    pub const PC: usize = 0;
    pub const OP: usize = 1;
    pub const RD: usize = 2;
    pub const RS1: usize = 3;
    pub const RS2: usize = 4;
    pub const IMM_LO: usize = 5;
    pub const IMM_HI: usize = 6;
    pub const IS_REAL: usize = 7;
}
/// Preprocessed columns.
pub const PREPROCESSED_WIDTH: usize = 8;
/// Main columns: the fetch multiplicity.
pub const WIDTH: usize = 1;

/// One instruction as the table holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramRow {
    pub pc: u32,
    pub opcode: Opcode,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub imm: u32,
}

/// The Program table of one ELF. Cheap to clone (the rows are shared).
#[derive(Clone, Debug)]
pub struct ProgramAir {
    rows: Arc<[ProgramRow]>,
    height: usize,
}

impl ProgramAir {
    /// The table of `program`'s executable instructions, padded to a power of
    /// two of at least `min_height` rows. Every pc must be a field element:
    /// text at or above the KoalaBear modulus (0x7f00_0001) cannot be proven.
    pub fn new(program: &Program, min_height: usize) -> Result<ProgramAir, TraceError> {
        let mut rows = Vec::new();
        for (i, ins) in program.instructions.iter().enumerate() {
            if matches!(ins.opcode, Opcode::Invalid | Opcode::Unsupported) {
                continue;
            }
            let pc = program.text_base.wrapping_add(4 * i as u32);
            if pc >= Val::ORDER_U32 {
                return Err(TraceError::PcOutOfField { pc });
            }
            rows.push(ProgramRow {
                pc,
                opcode: ins.opcode,
                rd: ins.rd,
                rs1: ins.rs1,
                rs2: ins.rs2,
                imm: ins.imm,
            });
        }
        let height = rows
            .len()
            .max(min_height)
            .checked_next_power_of_two()
            .ok_or(TraceError::TooManyRows { rows: rows.len() })?;
        Ok(ProgramAir {
            rows: rows.into(),
            height,
        })
    }

    /// The executable instructions, in pc order.
    pub fn rows(&self) -> &[ProgramRow] {
        &self.rows
    }

    pub fn log_height(&self) -> usize {
        self.height.trailing_zeros() as usize
    }

    /// The multiplicity column from the pcs the CPU fetched (one entry per
    /// executed cycle). A pc with no instruction is an error.
    pub fn trace(
        &self,
        fetched_pcs: impl IntoIterator<Item = u32>,
    ) -> Result<RowMajorMatrix<Val>, TraceError> {
        let mut mult = vec![0u64; self.height];
        for pc in fetched_pcs {
            let row = self
                .rows
                .binary_search_by_key(&pc, |r| r.pc)
                .map_err(|_| TraceError::NotAnInstruction { pc })?;
            mult[row] += 1;
        }
        Ok(RowMajorMatrix::new(
            mult.into_iter().map(Val::from_u64).collect(),
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
            let (imm_lo, imm_hi) = limbs(row.imm);
            cells[cols::PC] = F::from_u32(row.pc);
            cells[cols::OP] = F::from_u8(row.opcode as u8);
            cells[cols::RD] = F::from_u8(row.rd);
            cells[cols::RS1] = F::from_u8(row.rs1);
            cells[cols::RS2] = F::from_u8(row.rs2);
            cells[cols::IMM_LO] = F::from_u32(imm_lo);
            cells[cols::IMM_HI] = F::from_u32(imm_hi);
            cells[cols::IS_REAL] = F::ONE;
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
        builder.assert_zero(mult * (AB::Expr::ONE - p[cols::IS_REAL].into()));
        let message = [
            cols::PC,
            cols::OP,
            cols::RD,
            cols::RS1,
            cols::RS2,
            cols::IMM_LO,
            cols::IMM_HI,
        ]
        .map(|c| p[c].into());
        builder.push_interaction(PROGRAM_BUS, message, Count::provided(-mult.into()));
    }
}
