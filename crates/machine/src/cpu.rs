//! CPU: one row per executed cycle.
//!
//! A row fetches its decoded instruction from the Program table (the first
//! [`FETCH_WIDTH`] columns are the `program` message, so every flag the row
//! branches on is fixed by the verifying key), reads and writes registers and
//! memory through the `memory` bus, hands arithmetic to the ALU chips through
//! `alu` messages, and computes the next pc.
//!
//! # Why it is sound
//! - *Time.* `clk` starts at 0 and grows by one per row, and the four accesses
//!   of a cycle use timestamps `4 clk + 1 + position` (rs1, rs2, memory, rd).
//!   Each access consumes `(key, prev, prev_ts)` and provides `(key, new, ts)`
//!   with `prev_ts = ts - 1 - (e_lo + 2^14 e_hi)`, both limbs range-checked: so
//!   `ts - prev_ts - 1` lies in `[0, 2^30 + 2^16)`. Every provided timestamp is
//!   below 2^29 (at most 2^27 cycles per proof), so a `prev_ts >= ts` would wrap
//!   to at least `p - 2^29`, outside that range. Offline memory checking
//!   (consumes = provides, one initial and one final state per key, strictly
//!   increasing timestamps) then makes every read return the last write.
//! - *Values.* Every value written to memory or a register is two limbs below
//!   2^16: ALU results are range-checked by their chip, loaded parts are built
//!   from checked bytes and limbs, constants come from the program table, and
//!   HINT_LEN's free result is range-checked here. Initial values are 0 or
//!   image words. So values read back need no further range check.
//! - *Syscalls.* On ECALL rows exactly one syscall flag is set, and t0's
//!   limbs (`rd_prev`) equal that flag's code limb by limb (two equations, so
//!   no field wraparound admits another t0). HINT_READ and the precompiles
//!   (SHA_EXTEND, SHA_COMPRESS) are served by their tables: the row sends
//!   `hint(..)` or `precompile(clk, code, a0, a1)`, which the table answers
//!   exactly once and which fixes the memory it touches (at `4 clk + 3`).
//!   COMMIT_DEFERRED_PROOFS commits a word of 0 at an index below 8 (its
//!   high limb 0, its low limb times 2^13 range-checked through `addr_w`).
//! - *Padding.* Rows after the halt have `is_real = 0`, every flag 0 (so they
//!   send nothing), and no real row follows them. The last real row is a HALT.
//! - *Addresses.* Load/store addresses come from an `alu(ADD)` message
//!   (`rs1 + imm`), are split as `lo = 4w + 2 bit1 + bit0` with `w < 2^14`, and
//!   are kept below 2^31 (`range16(2 hi)`, through `addr_hi_scaled`), so memory keys
//!   `32 + w + 2^14 hi` are below 2^29 + 32 and distinct from register keys.
//!   JALR targets are kept below 2^30 (`range16(4 hi)`), so the field value of
//!   the target is the target.
//! - *Degree.* The main constraints have degree at most 3 and the packed
//!   LogUp constraints 4, which the quotient sized for the sparse masks fits
//!   in `4n` points (docs/prover-design.md). The addressed limb and byte,
//!   the byte-replaced limb, the high-limb hit, the branch condition and the
//!   next pc are degree-2 expressions inside the constraints that use them
//!   (helper columns until stop 30); the stored limb, the last-row marker and
//!   the scaled high address limb stay helper columns, each pinned on every
//!   row by one equation, so they add no freedom.
//! - *Equality.* `eq` is boolean, `eq (b - c) = 0` limb by limb, and
//!   `eq + (b_lo - c_lo) inv_lo + (b_hi - c_hi) inv_hi = 1`: if `b = c` the
//!   last forces `eq = 1`; if not, the second forces `eq = 0`.

use crate::bus::{
    ADD_ID, ALU_BUS, BYTE_BUS, COMMIT_BUS, HINT_BUS, MEMORY_BUS, MEMORY_KEY_BASE, PRECOMPILE_BUS,
    PROGRAM_BUS, RANGE16_BUS, XOR_ID,
};
use crate::program::{fields as f, FETCH_WIDTH};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};

/// Column indices after the fetched message.
pub mod cols {
    use crate::program::FETCH_WIDTH;
    pub const IS_REAL: usize = FETCH_WIDTH;
    pub const CLK: usize = FETCH_WIDTH + 1;
    /// rs1's value (`b` of `alu` messages).
    pub const B_LO: usize = FETCH_WIDTH + 2;
    pub const B_HI: usize = FETCH_WIDTH + 3;
    /// rs2's value, or the immediate for ALU-immediate operations (`c`).
    pub const C_LO: usize = FETCH_WIDTH + 4;
    pub const C_HI: usize = FETCH_WIDTH + 5;
    /// The value written to rd (for ordered branches: the comparison result).
    pub const A_LO: usize = FETCH_WIDTH + 6;
    pub const A_HI: usize = FETCH_WIDTH + 7;
    /// rd's value before the write (for ECALL: the syscall code in t0).
    pub const RD_PREV_LO: usize = FETCH_WIDTH + 8;
    pub const RD_PREV_HI: usize = FETCH_WIDTH + 9;
    /// Timestamp gaps `ts - prev_ts - 1 = lo + 2^14 hi` per access.
    pub const E_RS1: usize = FETCH_WIDTH + 10;
    pub const E_RS2: usize = FETCH_WIDTH + 12;
    pub const E_MEM: usize = FETCH_WIDTH + 14;
    pub const E_RD: usize = FETCH_WIDTH + 16;
    /// Load/store address or JALR target `rs1 + imm`, and its split.
    pub const ADDR_LO: usize = FETCH_WIDTH + 18;
    pub const ADDR_HI: usize = FETCH_WIDTH + 19;
    pub const ADDR_W: usize = FETCH_WIDTH + 20;
    pub const ADDR_BIT0: usize = FETCH_WIDTH + 21;
    pub const ADDR_BIT1: usize = FETCH_WIDTH + 22;
    /// The memory word before and after the access.
    pub const MEM_PREV_LO: usize = FETCH_WIDTH + 23;
    pub const MEM_PREV_HI: usize = FETCH_WIDTH + 24;
    pub const MEM_NEW_LO: usize = FETCH_WIDTH + 25;
    pub const MEM_NEW_HI: usize = FETCH_WIDTH + 26;
    /// Bytes of the addressed limb of the old word, and their XOR (the lookup's output).
    pub const Q0: usize = FETCH_WIDTH + 27;
    pub const Q1: usize = FETCH_WIDTH + 28;
    pub const QX: usize = FETCH_WIDTH + 29;
    /// Bytes of the stored value's low limb (SB), and their XOR.
    pub const R0: usize = FETCH_WIDTH + 30;
    pub const R1: usize = FETCH_WIDTH + 31;
    pub const RX: usize = FETCH_WIDTH + 32;
    /// Sign bit of a signed load, and the range-checked rest that proves it.
    pub const SIGN: usize = FETCH_WIDTH + 33;
    pub const SIGN_REST: usize = FETCH_WIDTH + 34;
    /// Branches: `b == c`, and the inverses that prove `b != c`.
    pub const EQ: usize = FETCH_WIDTH + 35;
    pub const INV_LO: usize = FETCH_WIDTH + 36;
    pub const INV_HI: usize = FETCH_WIDTH + 37;
    pub const TAKEN: usize = FETCH_WIDTH + 38;
    /// Syscall flags, one-hot on ECALL rows.
    pub const SYS_HALT: usize = FETCH_WIDTH + 39;
    pub const SYS_WRITE: usize = FETCH_WIDTH + 40;
    pub const SYS_COMMIT: usize = FETCH_WIDTH + 41;
    pub const SYS_DEFERRED: usize = FETCH_WIDTH + 42;
    pub const SYS_HINT_LEN: usize = FETCH_WIDTH + 43;
    pub const SYS_HINT_READ: usize = FETCH_WIDTH + 44;
    /// Precompiles, served by their tables through the `precompile` bus.
    pub const SYS_SHA_EXTEND: usize = FETCH_WIDTH + 45;
    pub const SYS_SHA_COMPRESS: usize = FETCH_WIDTH + 46;
    pub const SYS_KECCAK_PERMUTE: usize = FETCH_WIDTH + 47;
    // Helpers the constraints' degree needs, each pinned on every row by
    // one constraint, and computed by [`super::fill_derived`]. (The
    // addressed limb and byte, the byte-replaced limb, the high-limb hit,
    // the branch condition and the next pc were helper columns too while a
    // constraint's degree was held to 2; degree 4 now fits the quotient, so
    // they are expressions: `CpuAir::eval`.)
    /// The limb a sub-word store writes: the addressed limb with its
    /// addressed byte replaced by `r0` for SB, `c_lo` for SH.
    pub const STORED: usize = FETCH_WIDTH + 48;
    /// 1 on the shard's last real row, else 0 (filled by [`super::fill_ends`]).
    pub const ENDS: usize = FETCH_WIDTH + 49;
    /// `addr_hi` times 2 (loads and stores) or 4 (JALR): one range check
    /// bounds the address below 2^31 or the jump target below 2^30.
    pub const ADDR_HI_SCALED: usize = FETCH_WIDTH + 50;
}
pub const WIDTH: usize = FETCH_WIDTH + 51;

/// The syscalls the CPU handles (itself or through another table), with their
/// flag column.
pub const SYSCALLS: [(u32, usize); 9] = [
    (cloak_vm::syscall::HALT, cols::SYS_HALT),
    (cloak_vm::syscall::WRITE, cols::SYS_WRITE),
    (cloak_vm::syscall::COMMIT, cols::SYS_COMMIT),
    (
        cloak_vm::syscall::COMMIT_DEFERRED_PROOFS,
        cols::SYS_DEFERRED,
    ),
    (cloak_vm::syscall::HINT_LEN, cols::SYS_HINT_LEN),
    (cloak_vm::syscall::HINT_READ, cols::SYS_HINT_READ),
    (cloak_vm::syscall::SHA_EXTEND, cols::SYS_SHA_EXTEND),
    (cloak_vm::syscall::SHA_COMPRESS, cols::SYS_SHA_COMPRESS),
    (cloak_vm::syscall::KECCAK_PERMUTE, cols::SYS_KECCAK_PERMUTE),
];

/// The syscalls whose table receives a `precompile` message.
pub const PRECOMPILES: [usize; 3] = [
    cols::SYS_SHA_EXTEND,
    cols::SYS_SHA_COMPRESS,
    cols::SYS_KECCAK_PERMUTE,
];

/// Public values: where the shard starts and ends, whether it is the last
/// shard (which must end with HALT), and the exit code's limbs.
pub mod public {
    pub const START_PC: usize = 0;
    pub const START_CLK: usize = 1;
    /// The pc after the shard's last cycle (0 for the last shard).
    pub const END_PC: usize = 2;
    /// The clock after the shard's last cycle.
    pub const END_CLK: usize = 3;
    pub const IS_LAST: usize = 4;
    pub const EXIT_LO: usize = 5;
    pub const EXIT_HI: usize = 6;
}
pub const NUM_PUBLIC_VALUES: usize = 7;

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuAir;

impl<F> BaseAir<F> for CpuAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn num_public_values(&self) -> usize {
        NUM_PUBLIC_VALUES
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![f::PC, cols::IS_REAL, cols::CLK]
    }
}

impl<AB: InteractionBuilder> Air<AB> for CpuAir
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        // Widths are fixed by `BaseAir` above.
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let publics: Vec<AB::Expr> = builder.public_values().iter().map(|&v| v.into()).collect();
        let c = |v: u32| AB::Expr::from_u32(v);
        let x = |i: usize| -> AB::Expr { r[i].into() };
        let is_real = x(IS_REAL);

        // --- Padding, time and the pc chain.
        builder.assert_bool(r[IS_REAL]);
        for flag in f::READS_RS1..FETCH_WIDTH {
            builder.assert_zero((c(1) - is_real.clone()) * x(flag));
        }
        builder.when_first_row().assert_one(r[IS_REAL]);
        builder
            .when_first_row()
            .assert_eq(r[CLK], publics[public::START_CLK].clone());
        builder
            .when_first_row()
            .assert_eq(r[f::PC], publics[public::START_PC].clone());
        let next_real: AB::Expr = next[IS_REAL].into();
        builder
            .when_transition()
            .assert_zero(next_real.clone() * (c(1) - is_real.clone()));
        builder
            .when_transition()
            .assert_eq(next[CLK], x(CLK) + c(1));

        let is_load = x(f::LB) + x(f::LBU) + x(f::LH) + x(f::LHU) + x(f::LW);
        let is_store = x(f::SB) + x(f::SH) + x(f::SW);
        let is_mem = is_load.clone() + is_store.clone();
        let is_ecall = x(f::ECALL);

        // --- Operands.
        builder.when(r[f::ALU_IMM]).assert_eq(r[C_LO], r[f::IMM_LO]);
        builder.when(r[f::ALU_IMM]).assert_eq(r[C_HI], r[f::IMM_HI]);
        builder.when(r[f::CONST]).assert_eq(r[A_LO], r[f::VALUE_LO]);
        builder.when(r[f::CONST]).assert_eq(r[A_HI], r[f::VALUE_HI]);

        // --- Address split (loads, stores, JALR).
        builder.assert_bool(r[ADDR_BIT0]);
        builder.assert_bool(r[ADDR_BIT1]);
        let uses_addr = is_mem.clone() + x(f::JALR);
        builder.assert_zero(
            uses_addr.clone()
                * (x(ADDR_LO) - x(ADDR_W) * c(4) - x(ADDR_BIT1) * c(2) - x(ADDR_BIT0)),
        );
        // Alignment: halves on 2, words on 4.
        let half = x(f::LH) + x(f::LHU) + x(f::SH);
        let word = x(f::LW) + x(f::SW);
        builder.assert_zero((half + word.clone()) * x(ADDR_BIT0));
        builder.assert_zero(word * x(ADDR_BIT1));

        // --- Loads and stores.
        let (bit0, bit1) = (x(ADDR_BIT0), x(ADDR_BIT1));
        let (prev_lo, prev_hi) = (x(MEM_PREV_LO), x(MEM_PREV_HI));
        let (new_lo, new_hi) = (x(MEM_NEW_LO), x(MEM_NEW_HI));
        let (sb, sh, sw) = (x(f::SB), x(f::SH), x(f::SW));
        // The addressed limb of the old word (`prev_lo`, or `prev_hi` when
        // `bit1`), its addressed byte (`q0`, or `q1` when `bit0`), and that
        // limb with the addressed byte replaced by `r0` (what SB writes):
        // degree 2 each.
        let sel = prev_lo.clone() + bit1.clone() * (prev_hi.clone() - prev_lo.clone());
        let byte = x(Q0) + bit0.clone() * (x(Q1) - x(Q0));
        let new_sel =
            (c(1) - bit0.clone()) * (x(R0) + x(Q1) * c(256)) + bit0 * (x(Q0) + x(R0) * c(256));
        builder.assert_eq(x(STORED), sb.clone() * new_sel + sh.clone() * x(C_LO));
        // A sub-word store into the high limb, and into the low one.
        let hi_hit = (sb.clone() + sh.clone()) * bit1;
        let lo_hit = sb + sh - hi_hit.clone();
        // The word after the access: SW writes `c`, SB and SH write `stored`
        // into the addressed limb, and everything else (loads, and rows that
        // access no memory) leaves it unchanged.
        builder.assert_eq(
            new_lo - prev_lo.clone(),
            lo_hit * (x(STORED) - prev_lo.clone()) + sw.clone() * (x(C_LO) - prev_lo.clone()),
        );
        builder.assert_eq(
            new_hi - prev_hi.clone(),
            hi_hit * (x(STORED) - prev_hi.clone()) + sw * (x(C_HI) - prev_hi.clone()),
        );
        // The addressed limb's bytes.
        let byte_op = x(f::LB) + x(f::LBU) + x(f::SB);
        builder.assert_zero(byte_op.clone() * (sel.clone() - x(Q0) - x(Q1) * c(256)));
        // Sign bits: the rest below 2^7 (bytes) or 2^15 (halves).
        builder.assert_bool(r[SIGN]);
        builder.assert_zero(x(f::LB) * (x(SIGN_REST) - (byte.clone() - x(SIGN) * c(128)) * c(512)));
        builder
            .assert_zero(x(f::LH) * (x(SIGN_REST) - (sel.clone() - x(SIGN) * c(1 << 15)) * c(2)));
        let sign = x(SIGN);
        let mut lb = builder.when(r[f::LB]);
        lb.assert_eq(x(A_LO), byte.clone() + sign.clone() * c(0xff00));
        lb.assert_eq(x(A_HI), sign.clone() * c(0xffff));
        let mut lbu = builder.when(r[f::LBU]);
        lbu.assert_eq(x(A_LO), byte);
        lbu.assert_zero(x(A_HI));
        let mut lh = builder.when(r[f::LH]);
        lh.assert_eq(x(A_LO), sel.clone());
        lh.assert_eq(x(A_HI), sign * c(0xffff));
        let mut lhu = builder.when(r[f::LHU]);
        lhu.assert_eq(x(A_LO), sel);
        lhu.assert_zero(x(A_HI));
        let mut lw = builder.when(r[f::LW]);
        lw.assert_eq(x(A_LO), prev_lo);
        lw.assert_eq(x(A_HI), prev_hi);
        builder
            .when(r[f::SB])
            .assert_eq(x(C_LO), x(R0) + x(R1) * c(256));

        // --- Branches and jumps.
        let (d_lo, d_hi) = (x(B_LO) - x(C_LO), x(B_HI) - x(C_HI));
        builder.assert_bool(r[EQ]);
        builder.assert_zero(x(EQ) * d_lo.clone());
        builder.assert_zero(x(EQ) * d_hi.clone());
        // `b != c` has an inverse of one nonzero limb difference; with the two
        // lines above, `eq` is exactly `b == c` (on every row).
        builder.assert_one(x(EQ) + d_lo * x(INV_LO) + d_hi * x(INV_HI));
        // Taken: the condition, flipped for BNE, BGE and BGEU.
        let is_branch = x(f::BRANCH_EQ) + x(f::BRANCH_LT);
        // The condition before negation (degree 2).
        let cond = x(f::BRANCH_EQ) * x(EQ) + x(f::BRANCH_LT) * x(A_LO);
        builder.assert_eq(
            x(TAKEN),
            cond.clone() + x(f::BRANCH_NEG) * (is_branch - cond * c(2)),
        );
        // The pc after this row (degree 2).
        let fallthrough = x(f::PC) + c(4);
        let jalr_target = x(ADDR_W) * c(4) + x(ADDR_BIT1) * c(2) + x(ADDR_HI) * c(1 << 16);
        let next_pc = fallthrough.clone()
            + (x(TAKEN) + x(f::JAL)) * (x(f::TARGET) - fallthrough.clone())
            + x(f::JALR) * (jalr_target - fallthrough);
        builder
            .when_transition()
            .assert_zero(next_real.clone() * (next[f::PC].into() - next_pc.clone()));

        // --- Syscalls.
        // The code's limbs separately: `lo + 2^16 hi` could wrap in the field.
        let mut sys_sum = AB::Expr::ZERO;
        let mut code_lo = AB::Expr::ZERO;
        let mut code_hi = AB::Expr::ZERO;
        for (number, col) in SYSCALLS {
            builder.assert_bool(r[col]);
            sys_sum += x(col);
            code_lo += x(col) * c(number & 0xffff);
            code_hi += x(col) * c(number >> 16);
        }
        builder.assert_eq(sys_sum, is_ecall.clone());
        builder.assert_zero(is_ecall.clone() * (x(RD_PREV_HI) - code_hi));
        builder.assert_zero(is_ecall.clone() * (x(RD_PREV_LO) - code_lo));
        // Every syscall but HINT_LEN leaves its code in t0.
        let keeps_t0 = is_ecall - x(SYS_HINT_LEN);
        builder.assert_zero(keeps_t0.clone() * (x(A_LO) - x(RD_PREV_LO)));
        builder.assert_zero(keeps_t0 * (x(A_HI) - x(RD_PREV_HI)));
        let mut halt = builder.when(r[SYS_HALT]);
        halt.assert_eq(x(B_LO), publics[public::EXIT_LO].clone());
        halt.assert_eq(x(B_HI), publics[public::EXIT_HI].clone());
        // COMMIT_DEFERRED_PROOFS: the word is 0 (no deferred proofs) and
        // its index is below 8, as the executor requires: the high limb is 0
        // and `addr_w` (free on ECALL rows) holds the low limb times 2^13,
        // range-checked below 2^16 with the address split's lookup.
        let mut deferred = builder.when(r[SYS_DEFERRED]);
        deferred.assert_zero(x(C_LO));
        deferred.assert_zero(x(C_HI));
        deferred.assert_zero(x(B_HI));
        deferred.assert_eq(x(ADDR_W), x(B_LO) * c(1 << 13));
        // HALT ends the execution: only the last shard holds it, as its last
        // real row. Every other shard ends at END_PC. Either way the clock
        // after the last real row is END_CLK.
        let is_last = publics[public::IS_LAST].clone();
        let not_last = c(1) - is_last.clone();
        let (end_pc, end_clk) = (
            publics[public::END_PC].clone(),
            publics[public::END_CLK].clone(),
        );
        builder.assert_zero(x(SYS_HALT) * not_last.clone());
        builder
            .when_transition()
            .assert_zero(x(SYS_HALT) * next_real.clone());
        // On the shard's last real row. `ends` is 1 there and 0 elsewhere:
        // `is_real - next_real`, or `is_real` on the trace's last row.
        builder
            .when_transition()
            .assert_eq(x(ENDS), is_real.clone() - next_real);
        builder.when_last_row().assert_eq(x(ENDS), is_real.clone());
        builder.assert_zero(x(ENDS) * (c(1) - x(SYS_HALT)) * is_last);
        builder.assert_zero(x(ENDS) * (next_pc - end_pc) * not_last);
        builder.assert_zero(x(ENDS) * (x(CLK) + c(1) - end_clk));

        // --- Buses.
        let one = |e: AB::Expr| Count::bounded(e, 1);
        let minus = |e: AB::Expr| Count::bounded(-e, 1);
        builder.push_interaction(
            PROGRAM_BUS,
            r[..FETCH_WIDTH].iter().map(|&v| v.into()),
            one(is_real.clone()),
        );
        // Arithmetic, and ordered branch comparisons (result in `a`).
        builder.push_interaction(
            ALU_BUS,
            [f::ALU_OP, A_LO, A_HI, B_LO, B_HI, C_LO, C_HI].map(x),
            one(x(f::ALU_RR) + x(f::ALU_IMM) + x(f::BRANCH_LT)),
        );
        builder.push_interaction(
            ALU_BUS,
            [
                c(ADD_ID),
                x(ADDR_LO),
                x(ADDR_HI),
                x(B_LO),
                x(B_HI),
                x(f::IMM_LO),
                x(f::IMM_HI),
            ],
            one(uses_addr.clone()),
        );
        let clk4 = x(CLK) * c(4);
        let mem_key = c(MEMORY_KEY_BASE) + x(ADDR_W) + x(ADDR_HI) * c(1 << 14);
        let accesses = [
            (x(f::RS1), B_LO, B_LO, E_RS1, 1, x(f::READS_RS1)),
            (x(f::RS2), C_LO, C_LO, E_RS2, 2, x(f::READS_RS2)),
            (mem_key, MEM_PREV_LO, MEM_NEW_LO, E_MEM, 3, is_mem.clone()),
            (x(f::RD), RD_PREV_LO, A_LO, E_RD, 4, x(f::WRITES_RD)),
        ];
        for (key, prev, new, gap, position, count) in accesses {
            let ts = clk4.clone() + c(position);
            let prev_ts = ts.clone() - c(1) - x(gap) - x(gap + 1) * c(1 << 14);
            builder.push_interaction(
                MEMORY_BUS,
                [key.clone(), x(prev), x(prev + 1), prev_ts],
                minus(count.clone()),
            );
            builder.push_interaction(
                MEMORY_BUS,
                [key, x(new), x(new + 1), ts],
                one(count.clone()),
            );
            for limb in [gap, gap + 1] {
                builder.push_interaction(RANGE16_BUS, [x(limb)], one(count.clone()));
            }
        }
        // Range checks: the address split, address bounds, sign rests, and
        // the free HINT_LEN result, whose limbs borrow the `addr_w` and
        // `sign_rest` columns (free on ECALL rows) to share their lookups.
        builder.assert_eq(
            x(ADDR_HI_SCALED),
            x(ADDR_HI) * (is_mem.clone() * c(2) + x(f::JALR) * c(4)),
        );
        builder.assert_zero(x(SYS_HINT_LEN) * (x(ADDR_W) - x(A_HI)));
        builder.assert_zero(x(SYS_HINT_LEN) * (x(SIGN_REST) - x(A_LO)));
        builder.push_interaction(
            RANGE16_BUS,
            [x(ADDR_W)],
            one(uses_addr.clone() + x(SYS_HINT_LEN) + x(SYS_DEFERRED)),
        );
        builder.push_interaction(RANGE16_BUS, [x(ADDR_HI_SCALED)], one(uses_addr));
        builder.push_interaction(
            RANGE16_BUS,
            [x(SIGN_REST)],
            one(x(f::LB) + x(f::LH) + x(SYS_HINT_LEN)),
        );
        // Byte checks of the byte decompositions.
        builder.push_interaction(BYTE_BUS, [c(XOR_ID), x(Q0), x(Q1), x(QX)], one(byte_op));
        builder.push_interaction(BYTE_BUS, [c(XOR_ID), x(R0), x(R1), x(RX)], one(x(f::SB)));
        // Syscalls served by other tables.
        builder.push_interaction(
            COMMIT_BUS,
            [B_LO, B_HI, C_LO, C_HI].map(x),
            one(x(SYS_COMMIT)),
        );
        builder.push_interaction(
            HINT_BUS,
            [x(CLK), x(B_LO), x(B_HI), x(C_LO), x(C_HI)],
            one(x(SYS_HINT_READ)),
        );
        // Precompiles: `(clk, code, a0, a1)`; the code in t0 is `rd_prev`
        // (its high limb times 2^16 stays below 2^22, no wraparound).
        let is_precompile = PRECOMPILES
            .iter()
            .fold(AB::Expr::ZERO, |acc, &col| acc + x(col));
        builder.push_interaction(
            PRECOMPILE_BUS,
            [
                x(CLK),
                x(RD_PREV_LO) + x(RD_PREV_HI) * c(1 << 16),
                x(B_LO),
                x(B_HI),
                x(C_LO),
                x(C_HI),
            ],
            one(is_precompile),
        );
    }
}

/// `flag * v` without a multiplication where `flag` is 0 or 1, as on every
/// row trace generation makes (exact for any `flag`, as tests that tamper
/// with flags need): the helpers below are mostly such products.
#[inline(always)]
fn times<F: Field>(flag: F, v: F) -> F {
    if flag == F::ZERO {
        F::ZERO
    } else if flag == F::ONE {
        v
    } else {
        flag * v
    }
}

/// Computes a CPU row's helper columns (`STORED` and `ADDR_HI_SCALED`;
/// `ENDS` needs the next row, see [`fill_ends`]) from its other columns,
/// exactly as [`CpuAir`] pins them. Trace generation calls it on every
/// row, padding included.
pub fn fill_derived<F: Field>(row: &mut [F]) {
    use cols::*;
    let c = |v: u32| F::from_u32(v);
    let bit0 = row[ADDR_BIT0];
    let new_sel =
        times(F::ONE - bit0, row[R0] + row[Q1] * c(256)) + times(bit0, row[Q0] + row[R0] * c(256));
    row[STORED] = times(row[f::SB], new_sel) + times(row[f::SH], row[C_LO]);
    let is_mem = (f::LB..=f::SW).fold(F::ZERO, |acc, k| acc + row[k]);
    row[ADDR_HI_SCALED] = row[ADDR_HI] * (is_mem.double() + row[f::JALR].double().double());
}

/// Fills the `ENDS` column of a row-major CPU trace: 1 on the last real row.
pub fn fill_ends<F: Field>(values: &mut [F]) {
    let height = values.len() / WIDTH;
    for i in 0..height {
        let next_real = if i + 1 < height {
            values[(i + 1) * WIDTH + cols::IS_REAL]
        } else {
            F::ZERO
        };
        values[i * WIDTH + cols::ENDS] = values[i * WIDTH + cols::IS_REAL] - next_real;
    }
}
