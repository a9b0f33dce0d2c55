//! `MachineAir`: every table of the machine as one type, because the batch
//! prover takes a slice of a single AIR type.

use crate::add_sub::AddSubAir;
use crate::bitwise::BitwiseAir;
use crate::blind::BlindSinkAir;
use crate::byte::ByteAir;
use crate::commit::CommitAir;
use crate::cpu::CpuAir;
use crate::divrem::DivRemAir;
use crate::hint::HintAir;
use crate::keccak::KeccakPermuteAir;
use crate::lt::LtAir;
use crate::memory::{ImageAir, MemoryAir, MemoryKind};
use crate::mul::MulAir;
use crate::program::ProgramAir;
use crate::range16::Range16Air;
use crate::sha_compress::ShaCompressAir;
use crate::sha_extend::ShaExtendAir;
use crate::shift::ShiftAir;

use serde::{Deserialize, Serialize};

crate::air_enum! {
    #[derive(Clone, Debug)]
    pub enum MachineAir {
        Range16(Range16Air),
        Byte(ByteAir),
        AddSub(AddSubAir),
        Bitwise(BitwiseAir),
        Lt(LtAir),
        Shift(ShiftAir),
        Mul(MulAir),
        DivRem(DivRemAir),
        Program(ProgramAir),
        Image(ImageAir),
        Cpu(CpuAir),
        Memory(MemoryAir),
        Commit(CommitAir),
        Hint(HintAir),
        BlindSink(BlindSinkAir),
        ShaExtend(ShaExtendAir),
        ShaCompress(ShaCompressAir),
        KeccakPermute(KeccakPermuteAir),
    }
}

/// Index of each table in a shard proof ([`MachineAir::shard_tables`]).
pub mod table {
    pub const RANGE16: usize = 0;
    pub const BYTE: usize = 1;
    pub const ADD_SUB: usize = 2;
    pub const BITWISE: usize = 3;
    pub const LT: usize = 4;
    pub const SHIFT: usize = 5;
    pub const MUL: usize = 6;
    pub const DIVREM: usize = 7;
    pub const PROGRAM: usize = 8;
    pub const CPU: usize = 9;
    pub const MEMORY: usize = 10;
    pub const COMMIT: usize = 11;
    pub const HINT: usize = 12;
    pub const SHA_EXTEND: usize = 13;
    pub const SHA_COMPRESS: usize = 14;
    pub const KECCAK_PERMUTE: usize = 15;
    /// Number of tables.
    pub const COUNT: usize = 16;
    /// Tables from here on are left out of a shard proof whose shard makes
    /// no call to them (see [`super::TableSet`]); the ones before are in
    /// every shard proof.
    pub const FIRST_OPTIONAL: usize = HINT;
    /// Table names, for reports.
    pub const NAMES: [&str; COUNT] = [
        "range16",
        "byte",
        "add_sub",
        "bitwise",
        "lt",
        "shift",
        "mul",
        "divrem",
        "program",
        "cpu",
        "memory",
        "commit",
        "hint",
        "sha_extend",
        "sha_compress",
        "keccak_permute",
    ];
}

/// Which shard tables one shard proof includes: bit `i` for table `i`.
///
/// A shard leaves out the input and precompile tables it makes no call to
/// (padded, they would cost a Keccak table's 2,739 columns in every proof).
/// This is the prover's choice and needs no trust: a left-out table's
/// messages (the CPU's `hint` and `precompile` sends) would have no receiver,
/// so the bus would not balance, and an unused table included sends nothing.
/// The set is bound by the proof's transcript (it absorbs every table's
/// width) and the verifier checks it holds every required table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableSet(pub u32);

impl TableSet {
    /// The tables every shard proof holds.
    pub const REQUIRED: TableSet = TableSet((1u32 << table::FIRST_OPTIONAL) - 1);
    /// Every shard table.
    pub const ALL: TableSet = TableSet((1u32 << table::COUNT) - 1);

    /// This set with table `t` added when `used`.
    pub fn with(self, t: usize, used: bool) -> TableSet {
        TableSet(self.0 | (u32::from(used) << t))
    }

    /// Whether this is a set a shard proof may have: the required tables
    /// and no table beyond the last.
    pub fn is_valid(self) -> bool {
        self.0 & Self::REQUIRED.0 == Self::REQUIRED.0 && self.0 & !Self::ALL.0 == 0
    }

    pub fn contains(self, t: usize) -> bool {
        t < table::COUNT && self.0 >> t & 1 == 1
    }

    /// `contains` for every table, in table order.
    pub fn flags(self) -> Vec<bool> {
        (0..table::COUNT).map(|t| self.contains(t)).collect()
    }

    /// The entries of a per-table list that belong to this set.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(t, _)| self.contains(*t))
            .map(|(_, x)| x)
            .collect()
    }
}

/// Index of each table in the memory proof ([`MachineAir::global_tables`]).
pub mod global_table {
    pub const RANGE16: usize = 0;
    pub const IMAGE: usize = 1;
    pub const MEMORY: usize = 2;
    /// Consumes every shard's blinding message (`crate::blind`).
    pub const BLIND: usize = 3;
    pub const COUNT: usize = 4;
}

impl MachineAir {
    /// The ALU chips and the lookup tables they use, in
    /// [`crate::ChipTraces::into_vec`] order: the tables that need no program.
    pub fn alu_chips() -> Vec<MachineAir> {
        vec![
            MachineAir::Range16(Range16Air),
            MachineAir::Byte(ByteAir),
            MachineAir::AddSub(AddSubAir),
            MachineAir::Bitwise(BitwiseAir),
            MachineAir::Lt(LtAir),
            MachineAir::Shift(ShiftAir),
            MachineAir::Mul(MulAir),
            MachineAir::DivRem(DivRemAir),
        ]
    }

    /// The tables of every shard proof of one program, in [`table`] order.
    pub fn shard_tables(program: ProgramAir) -> Vec<MachineAir> {
        let mut airs = MachineAir::alu_chips();
        airs.extend([
            MachineAir::Program(program),
            MachineAir::Cpu(CpuAir),
            MachineAir::Memory(MemoryAir {
                kind: MemoryKind::Shard,
            }),
            MachineAir::Commit(CommitAir),
            MachineAir::Hint(HintAir),
            MachineAir::ShaExtend(ShaExtendAir),
            MachineAir::ShaCompress(ShaCompressAir),
            MachineAir::KeccakPermute(KeccakPermuteAir),
        ]);
        airs
    }

    /// The tables of the memory proof (initial image, every key's first and
    /// last state), in [`global_table`] order.
    pub fn global_tables(image: ImageAir) -> Vec<MachineAir> {
        vec![
            MachineAir::Range16(Range16Air),
            MachineAir::Image(image),
            MachineAir::Memory(MemoryAir {
                kind: MemoryKind::Global,
            }),
            MachineAir::BlindSink(BlindSinkAir),
        ]
    }
}
