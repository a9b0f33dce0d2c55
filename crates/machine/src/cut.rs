//! Where shards are cut: after at most `shard_cycles` cycles, and once the
//! shard's syscalls have added as much trace as its CPU table can hold.
//!
//! Cycles alone do not bound a shard's traces. A precompile call adds many
//! rows to a wide table (one KECCAK_PERMUTE: 24 rows of about 3,000 cells,
//! against one CPU row of about 135), and HINT_READ adds a row per word. A
//! loop of permutations would otherwise fill one 2^19-cycle shard with tens of
//! thousands of calls: gigabytes of trace, and tables taller than the field's
//! two-adic domains allow. So each syscall is priced in trace cells (its rows
//! times the row's main and LogUp cells) and a shard closes once they reach
//! the cells of a full CPU table. A shard's traces then stay within a constant
//! times its CPU table's, whatever the program calls.

use crate::air::table;
use cloak_vm::{syscall, SyscallEvent};

/// The table a syscall adds rows to, and how many.
pub fn syscall_rows(event: &SyscallEvent) -> Option<(usize, u64)> {
    match event.code {
        syscall::SHA_EXTEND => Some((table::SHA_EXTEND, crate::sha_extend::ROWS_PER_CALL as u64)),
        syscall::SHA_COMPRESS => Some((
            table::SHA_COMPRESS,
            crate::sha_compress::ROWS_PER_CALL as u64,
        )),
        syscall::KECCAK_PERMUTE => {
            Some((table::KECCAK_PERMUTE, crate::keccak::ROWS_PER_CALL as u64))
        }
        // One row per word written; an empty read still takes a row.
        syscall::HINT_READ => Some((table::HINT, u64::from(event.access_count.max(1)))),
        _ => None,
    }
}

/// Prices syscalls in trace cells.
#[derive(Clone, Debug)]
pub struct SyscallPricing {
    /// Main plus LogUp cells (base-field elements) of one row, per table.
    row_cells: Vec<u64>,
}

impl SyscallPricing {
    /// From each shard table's main width and LogUp (extension) column count.
    pub fn new(main_widths: &[usize], lookup_columns: &[usize]) -> Self {
        let row_cells = main_widths
            .iter()
            .zip(lookup_columns)
            .map(|(&main, &aux)| (main + 4 * aux) as u64)
            .collect();
        SyscallPricing { row_cells }
    }

    /// The trace cells `event` adds to its shard.
    pub fn cost(&self, event: &SyscallEvent) -> u64 {
        syscall_rows(event).map_or(0, |(t, rows)| rows.saturating_mul(self.row_cells[t]))
    }

    /// The cells syscalls may add to a shard of `shard_cycles` cycles: those
    /// of its full CPU table.
    pub fn budget(&self, shard_cycles: u64) -> u64 {
        shard_cycles.saturating_mul(self.row_cells[table::CPU])
    }
}
