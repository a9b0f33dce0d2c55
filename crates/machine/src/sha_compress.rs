//! ShaCompress: the SHA_COMPRESS precompile (one SHA-256 compression of the
//! 64 schedule words at `a0` into the state `h[0..8]` at `a1`), 72 rows per
//! call: 64 round rows, then 8 rows that write the state back.
//!
//! Every row makes one of the call's memory accesses at `4 clk + 3`. Round
//! row `j` (step selector `sel[j]`) reads `w[j]` (`new = prev`) and uses it as
//! the round's schedule word; state row `k` (`sel[64 + k]`) updates `h[k]`.
//! The working variables `a..h` are columns of every row: `a, b, c, e, f, g`
//! as 32 boolean columns each (for `Sigma0`, `Sigma1`, `Maj`, `Ch`), `d` and
//! `h` as 16-bit limbs. Round row `j` holds the state before round `j`, and
//! the next row holds the state after it:
//! `a' = T1 + T2`, `b' = a`, `c' = b`, `d' = c`, `e' = d + T1`, `f' = e`,
//! `g' = f`, `h' = g`, with `T1 = h + Sigma1(e) + Ch(e, f, g) + K[j] + w[j]`
//! and `T2 = Sigma0(a) + Maj(a, b, c)`. `K[j] = sum_j sel[j] K_j` is fixed by
//! the selector. The state rows keep the final state and write
//! `h[k] + state[k] mod 2^32`. `hold[0..8]` (the old state) is constant along
//! a call: round 0's state equals it, and state row `k` reads `hold[k]` as
//! `h[k]`'s old value.
//!
//! # Why it is sound
//! - *Calls.* Row 0 receives the CPU's `precompile(clk, SHA_COMPRESS, a0, a1)`
//!   message, once per ECALL. The step selectors force 72 consecutive rows
//!   per call; `clk`, the pointers and `hold` are constant along the call;
//!   keys run `a0 / 4 + 0..64` on round rows (row 0 fixes the start) and
//!   `a1 / 4 + 0..8` on state rows (state row 0 fixes the start). Pointers
//!   are word-aligned and below 2^31 (as in HintRead). So rows of different
//!   calls cannot be mixed, dropped or duplicated, and the call reads exactly
//!   the region the guest named.
//! - *Memory.* One access per word at `4 clk + 3` with checked gaps (as in
//!   the CPU): each reads the word's current value, and no key is accessed
//!   twice at one timestamp (so overlapping `w` and `h` regions cannot be
//!   proven).
//! - *Values.* Old values are valid memory; new values are range-checked.
//!   State words are sums of boolean columns or (`d`, `h`) copies of such
//!   sums or of old memory values, so every limb is below 2^16 and the bit
//!   decompositions are unique. Each limb equation `sum = new + carry 2^16`
//!   adds at most 7 limbs and a carry, with a 3-bit carry (a result limb is
//!   a sum of 16 bits, below 2^16): both sides are below 2^19 < p, so the
//!   equations hold over the integers and `a'`, `e'`, `h[k]'` are the SHA-256
//!   values mod 2^32.
//! - *Padding.* No selector set: nothing sent or received, every gated
//!   constraint vanishes, the ungated ones hold on all-zero rows.
//! - Degree: `Sigma`, `Maj` definitions are 3, everything else at most 2.

use crate::bus::PRECOMPILE_BUS;
use crate::event::{padded_height, Multiplicities, TraceError};
use crate::precompile::{
    eval_steps, limbs_of_bits, ptr_key, push_access, push_ptr_checks, set_access, set_bits,
    set_ptr, set_word, sigma_bits, AccessCols, PrecompileCall, PtrCols,
};
use cloak_prover::Val;
use cloak_vm::syscall::SHA_COMPRESS;
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

/// Round rows per call.
pub const ROUNDS: usize = 64;
/// Rows per call: the rounds and one row per state word.
pub const ROWS_PER_CALL: usize = ROUNDS + 8;

/// The SHA-256 round constants.
pub const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Column indices.
pub mod cols {
    pub const CLK: usize = 0;
    /// a0 (the schedule `w`) and a1 (the state `h`): limbs and `lo / 4`.
    pub const WPTR_LO: usize = 1;
    pub const WPTR_HI: usize = 2;
    pub const WPTR_W: usize = 3;
    pub const HPTR_LO: usize = 4;
    pub const HPTR_HI: usize = 5;
    pub const HPTR_W: usize = 6;
    /// The accessed word's memory key, old and new value, timestamp gap.
    pub const KEY: usize = 7;
    pub const PREV_LO: usize = 8;
    pub const PREV_HI: usize = 9;
    pub const NEW_LO: usize = 10;
    pub const NEW_HI: usize = 11;
    pub const GAP_LO: usize = 12;
    pub const GAP_HI: usize = 13;
    /// State rows: the carries of `h[k] + state[k]` (booleans).
    pub const HCARRY: usize = 14;
    /// Round rows: the carries of `a'` and `e'`, 3 bits per limb (lo, hi).
    pub const CARRY_A: usize = 16;
    pub const CARRY_E: usize = 22;
    /// Sigma0(a), Sigma1(e), Maj(a, b, c), Ch(e, f, g) as limbs.
    pub const S0: usize = 28;
    pub const S1: usize = 30;
    pub const MAJ: usize = 32;
    pub const CH: usize = 34;
    /// The working variables d and h as limbs.
    pub const D: usize = 36;
    pub const H: usize = 38;
    /// Step selectors: `sel[0..64]` rounds, `sel[64..72]` state words.
    pub const SEL: usize = 40;
    /// The old state `h[0..8]`, limbs at `HOLD + 2k`.
    pub const HOLD: usize = SEL + super::ROWS_PER_CALL;
    /// Bits of the working variables a, b, c, e, f, g.
    pub const A: usize = HOLD + 16;
    pub const B: usize = A + 32;
    pub const C: usize = B + 32;
    pub const E: usize = C + 32;
    pub const F: usize = E + 32;
    pub const G: usize = F + 32;
}
pub const WIDTH: usize = cols::G + 32;

const WPTR: PtrCols = PtrCols {
    lo: cols::WPTR_LO,
    hi: cols::WPTR_HI,
    w: cols::WPTR_W,
};
const HPTR: PtrCols = PtrCols {
    lo: cols::HPTR_LO,
    hi: cols::HPTR_HI,
    w: cols::HPTR_W,
};
const ACCESS: AccessCols = AccessCols {
    key: cols::KEY,
    prev_lo: cols::PREV_LO,
    new_lo: cols::NEW_LO,
    gap_lo: cols::GAP_LO,
};

/// Columns constant along a call.
const CONSTANT: [usize; 7] = [
    cols::CLK,
    cols::WPTR_LO,
    cols::WPTR_HI,
    cols::WPTR_W,
    cols::HPTR_LO,
    cols::HPTR_HI,
    cols::HPTR_W,
];

#[derive(Clone, Copy, Debug, Default)]
pub struct ShaCompressAir;

impl<F> BaseAir<F> for ShaCompressAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        (0..WIDTH).collect()
    }
}

/// The limbs of the 8 working variables of a row, in order a..h.
fn state<E: PrimeCharacteristicRing + Clone>(row: &[E]) -> [[E; 2]; 8] {
    use cols::*;
    let word = |col: usize| [row[col].clone(), row[col + 1].clone()];
    [
        limbs_of_bits(&row[A..A + 32]),
        limbs_of_bits(&row[B..B + 32]),
        limbs_of_bits(&row[C..C + 32]),
        word(D),
        limbs_of_bits(&row[E..E + 32]),
        limbs_of_bits(&row[F..F + 32]),
        limbs_of_bits(&row[G..G + 32]),
        word(H),
    ]
}

impl<AB: InteractionBuilder> Air<AB> for ShaCompressAir {
    fn eval(&self, builder: &mut AB) {
        use cols::*;
        let main = builder.main();
        let r: Vec<AB::Var> = main.current_slice().to_vec();
        let next: Vec<AB::Var> = main.next_slice().to_vec();
        let re: Vec<AB::Expr> = r.iter().map(|&v| v.into()).collect();
        let ne: Vec<AB::Expr> = next.iter().map(|&v| v.into()).collect();
        let x = |i: usize| re[i].clone();
        let n = |i: usize| ne[i].clone();
        let c = |v: u32| AB::Expr::from_u32(v);
        let limb = c(1 << 16);

        let (is_real, cont) = eval_steps(builder, &r, &next, SEL, ROWS_PER_CALL);
        let sel = |j: usize| x(SEL + j);
        let is_first = sel(0);
        let round = (0..ROUNDS).fold(AB::Expr::ZERO, |acc, j| acc + sel(j));
        let hsel = |k: usize| sel(ROUNDS + k);
        let hphase = is_real.clone() - round.clone();
        let hcont = hphase.clone() - hsel(7);

        // A call's rows share the cycle, pointers and old state.
        let mut t = builder.when_transition();
        for col in CONSTANT.into_iter().chain(HOLD..HOLD + 16) {
            t.assert_zero(cont.clone() * (n(col) - x(col)));
        }
        // Keys: a0 / 4 + j on round rows, a1 / 4 + k on state rows.
        t.assert_zero((cont.clone() - sel(ROUNDS - 1)) * (n(KEY) - x(KEY) - c(1)));
        let mut first = builder.when(r[SEL]);
        first.assert_eq(x(WPTR_LO), x(WPTR_W) * c(4));
        first.assert_eq(x(HPTR_LO), x(HPTR_W) * c(4));
        first.assert_eq(x(KEY), ptr_key(&re, WPTR));
        builder
            .when(r[SEL + ROUNDS])
            .assert_eq(x(KEY), ptr_key(&re, HPTR));

        // The working variables: bits, and round 0's state is the old state.
        for i in 0..192 {
            builder.assert_bool(r[A + i]);
        }
        let s = state(&re);
        let s_next = state(&ne);
        for (k, word) in s.iter().enumerate() {
            for (l, v) in word.iter().enumerate() {
                builder.assert_zero(is_first.clone() * (v.clone() - x(HOLD + 2 * k + l)));
            }
        }

        // Sigma0(a), Sigma1(e), Maj(a, b, c), Ch(e, f, g).
        let bits = |col: usize| -> Vec<AB::Expr> { (0..32).map(|i| x(col + i)).collect() };
        let (a, b, cc, e, f, g) = (bits(A), bits(B), bits(C), bits(E), bits(F), bits(G));
        let maj: Vec<AB::Expr> = (0..32)
            .map(|i| {
                let (a, b, cc) = (a[i].clone(), b[i].clone(), cc[i].clone());
                a.clone() * b.clone() + a.clone() * cc.clone() + b.clone() * cc.clone()
                    - a * b * cc * AB::Expr::TWO
            })
            .collect();
        let ch: Vec<AB::Expr> = (0..32)
            .map(|i| e[i].clone() * (f[i].clone() - g[i].clone()) + g[i].clone())
            .collect();
        let defs = [
            (S0, sigma_bits(&a, 2, 13, 22, true)),
            (S1, sigma_bits(&e, 6, 11, 25, true)),
            (MAJ, maj),
            (CH, ch),
        ];
        for (col, value_bits) in defs {
            let [lo, hi] = limbs_of_bits(&value_bits);
            builder.assert_eq(x(col), lo);
            builder.assert_eq(x(col + 1), hi);
        }

        // Rounds read w[j] unchanged and compute the next row's state.
        builder.assert_zero(round.clone() * (x(NEW_LO) - x(PREV_LO)));
        builder.assert_zero(round.clone() * (x(NEW_HI) - x(PREV_HI)));
        for i in 0..6 {
            builder.assert_bool(r[CARRY_A + i]);
            builder.assert_bool(r[CARRY_E + i]);
        }
        let carry = |col: usize| x(col) + x(col + 1) * c(2) + x(col + 2) * c(4);
        let k_limb = |l: usize| {
            (0..ROUNDS).fold(AB::Expr::ZERO, |acc, j| {
                let kl = if l == 0 { K[j] & 0xffff } else { K[j] >> 16 };
                acc + sel(j) * c(kl)
            })
        };
        let mut t = builder.when_transition();
        for (to, from) in [(1, 0), (2, 1), (3, 2), (5, 4), (6, 5), (7, 6)] {
            for l in 0..2 {
                t.assert_zero(round.clone() * (s_next[to][l].clone() - s[from][l].clone()));
            }
        }
        let mut carry_a_in = AB::Expr::ZERO;
        let mut carry_e_in = AB::Expr::ZERO;
        for l in 0..2 {
            let t1 = s[7][l].clone() + x(S1 + l) + x(CH + l) + k_limb(l) + x(PREV_LO + l);
            let a_sum = t1.clone() + x(S0 + l) + x(MAJ + l) + carry_a_in;
            let e_sum = t1 + s[3][l].clone() + carry_e_in;
            let (ca, ce) = (carry(CARRY_A + 3 * l), carry(CARRY_E + 3 * l));
            t.assert_zero(
                round.clone() * (a_sum - s_next[0][l].clone() - ca.clone() * limb.clone()),
            );
            t.assert_zero(
                round.clone() * (e_sum - s_next[4][l].clone() - ce.clone() * limb.clone()),
            );
            carry_a_in = ca;
            carry_e_in = ce;
        }

        // State rows: keep the final state, write h[k] + state[k].
        for word in 0..8 {
            for l in 0..2 {
                t.assert_zero(hcont.clone() * (s_next[word][l].clone() - s[word][l].clone()));
            }
        }
        builder.assert_bool(r[HCARRY]);
        builder.assert_bool(r[HCARRY + 1]);
        let mut carry_in = AB::Expr::ZERO;
        for l in 0..2 {
            let mut old = AB::Expr::ZERO;
            let mut add = AB::Expr::ZERO;
            for (k, word) in s.iter().enumerate() {
                old += hsel(k) * x(HOLD + 2 * k + l);
                add += hsel(k) * word[l].clone();
            }
            builder.assert_zero(old - hphase.clone() * x(PREV_LO + l));
            builder.assert_zero(
                add + hphase.clone()
                    * (x(PREV_LO + l) + carry_in - x(NEW_LO + l) - x(HCARRY + l) * limb.clone()),
            );
            carry_in = x(HCARRY + l);
        }

        // Buses.
        builder.push_interaction(
            PRECOMPILE_BUS,
            [
                x(CLK),
                c(SHA_COMPRESS),
                x(WPTR_LO),
                x(WPTR_HI),
                x(HPTR_LO),
                x(HPTR_HI),
            ],
            Count::bounded(-is_first.clone(), 1),
        );
        push_ptr_checks(builder, &r, WPTR, is_first.clone());
        push_ptr_checks(builder, &r, HPTR, is_first);
        push_access(builder, &r, x(CLK), ACCESS, is_real);
    }
}

/// The table's trace for the shard's SHA_COMPRESS calls; checks that each
/// call's accesses are the 64 words at a0 (unchanged) then the 8 words at a1,
/// updated to the compression of the old state.
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
            TraceError::BadRecord(format!("SHA_COMPRESS at cycle {}: {what}", call.clk))
        };
        if call.accesses.len() != ROWS_PER_CALL {
            return Err(bad(format!(
                "{} memory accesses instead of 72",
                call.accesses.len()
            )));
        }
        let w: [u32; 64] = std::array::from_fn(|i| call.accesses[i].prev_value);
        let hold: [u32; 8] = std::array::from_fn(|k| call.accesses[ROUNDS + k].prev_value);
        let mut expected = hold;
        cloak_vm::precompiles::sha256_compress(&w, &mut expected);
        for (i, acc) in call.accesses.iter().enumerate() {
            let want = if i < ROUNDS {
                w[i]
            } else {
                expected[i - ROUNDS]
            };
            if acc.value != want {
                return Err(bad(format!(
                    "access {i} writes {:#010x}, the compression says {want:#010x}",
                    acc.value
                )));
            }
        }
        let mut st = hold;
        for (j, acc) in call.accesses.iter().enumerate() {
            let row = rows.next().expect("height covers every row");
            row[CLK] = Val::from_u64(call.clk);
            row[SEL + j] = Val::ONE;
            // Only row 0 sends the pointers' range checks.
            let first = j == 0;
            set_ptr(row, WPTR, call.arg1, first.then_some(&mut *mults), "w")?;
            set_ptr(row, HPTR, call.arg2, first.then_some(&mut *mults), "h")?;
            for (k, &v) in hold.iter().enumerate() {
                set_word(row, HOLD + 2 * k, v);
            }
            let addr = if j < ROUNDS {
                call.arg1.wrapping_add(4 * j as u32)
            } else {
                call.arg2.wrapping_add(4 * (j - ROUNDS) as u32)
            };
            set_access(row, ACCESS, call.clk, addr, acc, mults)?;
            let [a, b, c, d, e, f, g, h] = st;
            set_bits(row, A, a);
            set_bits(row, B, b);
            set_bits(row, C, c);
            set_word(row, D, d);
            set_bits(row, E, e);
            set_bits(row, F, f);
            set_bits(row, G, g);
            set_word(row, H, h);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let ch = (e & f) ^ (!e & g);
            set_word(row, S0, s0);
            set_word(row, S1, s1);
            set_word(row, MAJ, maj);
            set_word(row, CH, ch);
            if j < ROUNDS {
                let lo = |v: u32| v & 0xffff;
                let hi = |v: u32| v >> 16;
                let wj = w[j];
                let t1_lo = lo(h) + lo(s1) + lo(ch) + lo(K[j]) + lo(wj);
                let t1_hi = hi(h) + hi(s1) + hi(ch) + hi(K[j]) + hi(wj);
                let a_lo = t1_lo + lo(s0) + lo(maj);
                let ca_lo = a_lo >> 16;
                let ca_hi = (t1_hi + hi(s0) + hi(maj) + ca_lo) >> 16;
                let e_lo = t1_lo + lo(d);
                let ce_lo = e_lo >> 16;
                let ce_hi = (t1_hi + hi(d) + ce_lo) >> 16;
                for (col, v) in [
                    (CARRY_A, ca_lo),
                    (CARRY_A + 3, ca_hi),
                    (CARRY_E, ce_lo),
                    (CARRY_E + 3, ce_hi),
                ] {
                    for bit in 0..3 {
                        row[col + bit] = Val::from_u32((v >> bit) & 1);
                    }
                }
                let t1 = h
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[j])
                    .wrapping_add(wj);
                let t2 = s0.wrapping_add(maj);
                st = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
            } else {
                let k = j - ROUNDS;
                let lo = (hold[k] & 0xffff) + (st[k] & 0xffff);
                let carry_lo = lo >> 16;
                let carry_hi = ((hold[k] >> 16) + (st[k] >> 16) + carry_lo) >> 16;
                row[HCARRY] = Val::from_u32(carry_lo);
                row[HCARRY + 1] = Val::from_u32(carry_hi);
            }
        }
    }
    Ok(RowMajorMatrix::new(values, WIDTH))
}
