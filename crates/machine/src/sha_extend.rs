//! ShaExtend: the SHA_EXTEND precompile (SHA-256 message schedule), 64 rows
//! per call, one per word `w[j]` of the 64-word region at `a0`.
//!
//! Row `j` of a call (step selector `sel[j]`, see
//! [`crate::precompile::eval_steps`]) makes the call's one memory access to
//! word `j` at timestamp `4 clk + 3`: it consumes the old value `prev` and
//! provides `new`. Rows 0..16 copy (`new = prev`); rows 16..64 compute
//! `new = sigma1(w[j-2]) + w[j-7] + sigma0(w[j-15]) + w[j-16] mod 2^32`.
//! The row carries a window `win[0..16] = w[j-16..j]` of the call's new
//! values: each next row of the call has `win'[k] = win[k+1]` and
//! `win'[15] = new`, so from row 16 on the window holds exactly the words the
//! schedule reads (row 0's window is free and has left it by row 16).
//! `win[1]` (`w[j-15]`) and `win[14]` (`w[j-2]`) are decomposed into 32
//! boolean columns each (per 16-bit limb); `sigma0` and `sigma1` are then
//! polynomial in those bits (XOR of booleans, degree 3), shifts and rotations
//! being re-indexings.
//!
//! # Why it is sound
//! - *Calls.* Row 0 of a call receives the CPU's
//!   `precompile(clk, SHA_EXTEND, a0, a1)` message, so each SHA_EXTEND ECALL
//!   has exactly one call here and vice versa. The step selectors force every
//!   call to be 64 consecutive rows `sel[0..64]`; `clk` is constant and the
//!   key grows by one along a call, so rows of different calls cannot be
//!   mixed, dropped or duplicated. Row 0 fixes the key to
//!   `MEMORY_KEY_BASE + a0 / 4` with `a0_lo = 4 w` (`w` range-checked) and
//!   `2 a0_hi` range-checked: the region is word-aligned and below 2^31 + 256,
//!   keys below the Memory table's bound.
//! - *Memory.* One access per word of the region at `4 clk + 3`, with gaps
//!   checked as in the CPU, so the accesses read the words' current values
//!   and two accesses to one key at one timestamp are impossible.
//! - *Values.* Old values are valid memory (limbs below 2^16); new values are
//!   range-checked. The window holds new values only, so every limb in the
//!   addition below is below 2^16, and `sigma0`, `sigma1` are sums of bits
//!   (below 2^16 per limb). Decomposing `win[1]`, `win[14]` per limb into
//!   booleans is then unique. Each limb equation `sum = new + carry 2^16` has
//!   a two-bit carry and both sides below 2^19 < p: it holds over the
//!   integers, so `new` is the schedule word mod 2^32.
//! - *Padding.* Padding rows have no selector set, so they send and receive
//!   nothing and every gated constraint vanishes; the ungated ones (booleans,
//!   bit decompositions, sigma definitions) hold on all-zero rows.
//! - Degree: sigma definitions are 3, everything else at most 2.

use crate::bus::PRECOMPILE_BUS;
use crate::event::{padded_height, Multiplicities, TraceError};
use crate::precompile::{
    eval_steps, limbs_of_bits, ptr_key, push_access, push_ptr_checks, set_access, set_bits,
    set_ptr, set_word, sigma_bits, AccessCols, PrecompileCall, PtrCols,
};
use cloak_prover::Val;
use cloak_vm::syscall::SHA_EXTEND;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Rows per call.
pub const ROWS_PER_CALL: usize = 64;

/// Column indices.
pub mod cols {
    pub const CLK: usize = 0;
    /// a0: the region's pointer limbs and `ptr_lo / 4` (checked on row 0).
    pub const PTR_LO: usize = 1;
    pub const PTR_HI: usize = 2;
    pub const PTR_W: usize = 3;
    /// a1, as the message carries it (unused by SHA_EXTEND).
    pub const A1_LO: usize = 4;
    pub const A1_HI: usize = 5;
    /// The accessed word's memory key, old and new value, timestamp gap.
    pub const KEY: usize = 6;
    pub const PREV_LO: usize = 7;
    pub const PREV_HI: usize = 8;
    pub const NEW_LO: usize = 9;
    pub const NEW_HI: usize = 10;
    pub const GAP_LO: usize = 11;
    pub const GAP_HI: usize = 12;
    /// Carries of the addition: low limb (2 bits), high limb (2 bits).
    pub const CARRY: usize = 13;
    /// sigma0(win[1]) and sigma1(win[14]), as limbs.
    pub const S0_LO: usize = 17;
    pub const S0_HI: usize = 18;
    pub const S1_LO: usize = 19;
    pub const S1_HI: usize = 20;
    /// Step selectors `sel[0..64]`.
    pub const SEL: usize = 21;
    /// The window `win[k] = w[j - 16 + k]`: limbs at `WIN + 2k`, `WIN + 2k + 1`.
    pub const WIN: usize = SEL + super::ROWS_PER_CALL;
    /// Bits of `win[1]` (`w[j-15]`) and of `win[14]` (`w[j-2]`).
    pub const BITS15: usize = WIN + 32;
    pub const BITS2: usize = BITS15 + 32;
}
pub const WIDTH: usize = cols::BITS2 + 32;

const PTR: PtrCols = PtrCols {
    lo: cols::PTR_LO,
    hi: cols::PTR_HI,
    w: cols::PTR_W,
};
const ACCESS: AccessCols = AccessCols {
    key: cols::KEY,
    prev_lo: cols::PREV_LO,
    new_lo: cols::NEW_LO,
    gap_lo: cols::GAP_LO,
};

#[derive(Clone, Copy, Debug, Default)]
pub struct ShaExtendAir;

impl<F> BaseAir<F> for ShaExtendAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        use cols::*;
        let mut v = vec![CLK, KEY];
        v.extend(SEL..WIN + 32);
        v
    }
}

impl<AB: InteractionBuilder> Air<AB> for ShaExtendAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let re: Vec<AB::Expr> = r.iter().map(|&v| v.into()).collect();
        let x = |i: usize| -> AB::Expr { r[i].into() };
        let n = |i: usize| -> AB::Expr { next[i].into() };
        let c = |v: u32| AB::Expr::from_u32(v);

        let (is_real, cont) = eval_steps(builder, &r, &next, SEL, ROWS_PER_CALL);
        let sel = |j: usize| x(SEL + j);
        let is_first = sel(0);
        let copy = (0..16).fold(AB::Expr::ZERO, |acc, j| acc + sel(j));
        let compute = is_real.clone() - copy.clone();

        // A call's rows: same cycle, next word; row 0 starts at a0.
        let mut t = builder.when_transition();
        t.assert_zero(cont.clone() * (n(CLK) - x(CLK)));
        t.assert_zero(cont.clone() * (n(KEY) - x(KEY) - c(1)));
        let mut first = builder.when(r[SEL]);
        first.assert_eq(x(PTR_LO), x(PTR_W) * c(4));
        first.assert_eq(x(KEY), ptr_key(&re, PTR));

        // The window shifts in this row's new value.
        let mut t = builder.when_transition();
        for k in 0..15 {
            for l in 0..2 {
                t.assert_zero(cont.clone() * (n(WIN + 2 * k + l) - x(WIN + 2 * k + 2 + l)));
            }
        }
        for l in 0..2 {
            t.assert_zero(cont.clone() * (n(WIN + 30 + l) - x(NEW_LO + l)));
        }

        // sigma0(w[j-15]) and sigma1(w[j-2]) from the bits of win[1], win[14].
        let bits = |col: usize| -> Vec<AB::Expr> { (0..32).map(|i| x(col + i)).collect() };
        for (bcol, wcol) in [(BITS15, WIN + 2), (BITS2, WIN + 28)] {
            for i in 0..32 {
                builder.assert_bool(r[bcol + i]);
            }
            let [lo, hi] = limbs_of_bits(&bits(bcol));
            builder.assert_eq(x(wcol), lo);
            builder.assert_eq(x(wcol + 1), hi);
        }
        let [s0_lo, s0_hi] = limbs_of_bits(&sigma_bits(&bits(BITS15), 7, 18, 3, false));
        let [s1_lo, s1_hi] = limbs_of_bits(&sigma_bits(&bits(BITS2), 17, 19, 10, false));
        builder.assert_eq(x(S0_LO), s0_lo);
        builder.assert_eq(x(S0_HI), s0_hi);
        builder.assert_eq(x(S1_LO), s1_lo);
        builder.assert_eq(x(S1_HI), s1_hi);

        // Rows 16..64: new = sigma1 + w[j-7] + sigma0 + w[j-16] mod 2^32.
        for i in 0..4 {
            builder.assert_bool(r[CARRY + i]);
        }
        let carry_lo = x(CARRY) + x(CARRY + 1) * c(2);
        let carry_hi = x(CARRY + 2) + x(CARRY + 3) * c(2);
        let limb = c(1 << 16);
        builder.assert_zero(
            compute.clone()
                * (x(S1_LO) + x(WIN + 18) + x(S0_LO) + x(WIN)
                    - x(NEW_LO)
                    - carry_lo.clone() * limb.clone()),
        );
        builder.assert_zero(
            compute
                * (x(S1_HI) + x(WIN + 19) + x(S0_HI) + x(WIN + 1) + carry_lo
                    - x(NEW_HI)
                    - carry_hi * limb),
        );
        // Rows 0..16 leave their word unchanged.
        builder.assert_zero(copy.clone() * (x(NEW_LO) - x(PREV_LO)));
        builder.assert_zero(copy * (x(NEW_HI) - x(PREV_HI)));

        // Buses.
        builder.push_interaction(
            PRECOMPILE_BUS,
            [
                x(CLK),
                c(SHA_EXTEND),
                x(PTR_LO),
                x(PTR_HI),
                x(A1_LO),
                x(A1_HI),
            ],
            Count::bounded(-is_first.clone(), 1),
        );
        push_ptr_checks(builder, &r, PTR, is_first);
        push_access(builder, &r, x(CLK), ACCESS, is_real);
    }
}

/// The table's trace for the shard's SHA_EXTEND calls; checks that each call's
/// accesses are the 64 words at a0 and that the new words are the schedule
/// of the old ones.
pub fn trace(
    calls: &[PrecompileCall],
    min_height: usize,
    mults: &mut Multiplicities,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    use cols::*;
    let height = padded_height(calls.len() * ROWS_PER_CALL, min_height)?;
    let mut values = crate::rows::zeroed(height * WIDTH);
    let mut rows = values.chunks_exact_mut(WIDTH);
    for call in calls {
        let bad = |what: String| {
            TraceError::BadRecord(format!("SHA_EXTEND at cycle {}: {what}", call.clk))
        };
        if call.accesses.len() != ROWS_PER_CALL {
            return Err(bad(format!(
                "{} memory accesses instead of 64",
                call.accesses.len()
            )));
        }
        let mut w: [u32; 64] = std::array::from_fn(|i| call.accesses[i].prev_value);
        cloak_vm::precompiles::sha256_extend(&mut w);
        for (i, acc) in call.accesses.iter().enumerate() {
            if acc.value != w[i] {
                return Err(bad(format!(
                    "word {i} becomes {:#010x}, the schedule says {:#010x}",
                    acc.value, w[i]
                )));
            }
        }
        for (j, acc) in call.accesses.iter().enumerate() {
            let row = rows.next().expect("height covers every row");
            row[CLK] = Val::from_u64(call.clk);
            row[SEL + j] = Val::ONE;
            if j == 0 {
                set_ptr(row, PTR, call.arg1, Some(&mut *mults), "w")?;
                set_word(row, A1_LO, call.arg2);
            }
            let addr = call.arg1.wrapping_add(4 * j as u32);
            set_access(row, ACCESS, call.clk, addr, acc, mults)?;
            let win: [u32; 16] =
                std::array::from_fn(|k| (j + k).checked_sub(16).map_or(0, |i| w[i]));
            for (k, &v) in win.iter().enumerate() {
                set_word(row, WIN + 2 * k, v);
            }
            set_bits(row, BITS15, win[1]);
            set_bits(row, BITS2, win[14]);
            let s0 = win[1].rotate_right(7) ^ win[1].rotate_right(18) ^ (win[1] >> 3);
            let s1 = win[14].rotate_right(17) ^ win[14].rotate_right(19) ^ (win[14] >> 10);
            set_word(row, S0_LO, s0);
            set_word(row, S1_LO, s1);
            if j >= 16 {
                let lo = (s1 & 0xffff) + (win[9] & 0xffff) + (s0 & 0xffff) + (win[0] & 0xffff);
                let carry_lo = lo >> 16;
                let hi = (s1 >> 16) + (win[9] >> 16) + (s0 >> 16) + (win[0] >> 16) + carry_lo;
                let carry_hi = hi >> 16;
                for (i, b) in [carry_lo & 1, carry_lo >> 1, carry_hi & 1, carry_hi >> 1]
                    .into_iter()
                    .enumerate()
                {
                    row[CARRY + i] = Val::from_u32(b);
                }
            }
        }
    }
    Ok(RowMajorMatrix::new(values, WIDTH))
}
