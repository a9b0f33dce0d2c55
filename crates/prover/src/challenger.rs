//! A DuplexChallenger wrapper whose proof-of-work search is deterministic.
//!
//! Why: `DuplexChallenger::grind` (p3-challenger 0.8.0) searches candidates with rayon's
//! `find_map_any`, so with the `parallel` feature the returned witness depends on thread
//! scheduling (any passing witness is accepted by the verifier). That makes otherwise
//! seeded proofs non-reproducible. This wrapper returns the *smallest* passing witness
//! (rayon `find_first`), which a GPU backend can reproduce exactly. Observing field
//! elements and sampling are delegated unchanged. Merkle roots, 32 BLAKE3 bytes (the
//! config's trees), which the duplex cannot observe, enter as sixteen 16-bit limbs.
//!
//! A [`WitnessSearch`] (the GPU's) may take the search over; its witness is
//! checked on the host before it enters the transcript.

use p3_challenger::{
    CanObserve, CanSample, CanSampleBits, DuplexChallenger, FieldChallenger, GrindingChallenger,
};
use p3_field::{BasedVectorSpace, Field, PackedValue, PrimeCharacteristicRing, PrimeField64};
use p3_maybe_rayon::prelude::*;
use p3_symmetric::{Hash, MerkleCap, Permutation};

use std::sync::Arc;

use crate::config::{Perm16, Val};

type Inner = DuplexChallenger<Val, Perm16, 16, 8>;

/// Sponge rate of the challenger (state words overwritten by absorbed input).
pub const CHALLENGER_RATE: usize = 8;

/// A faster search for a proof-of-work witness (a GPU's). It must find what
/// [`DetChallenger::grind`]'s host search finds: the smallest candidate
/// `w < p` such that `state` with `state[witness_idx] = w`, permuted by
/// Poseidon2-16, has `bits` zero low bits in (the canonical value of)
/// `state[CHALLENGER_RATE - 1]`.
pub trait WitnessSearch: Send + Sync + std::fmt::Debug {
    /// The witness, or `None` where the search could not run (the host's
    /// search then runs instead).
    fn search(&self, state: [Val; 16], witness_idx: usize, bits: usize) -> Option<Val>;
}

#[derive(Clone, Debug)]
pub struct DetChallenger(pub Inner, Option<Arc<dyn WitnessSearch>>);

impl DetChallenger {
    pub fn new(perm: Perm16) -> Self {
        Self(Inner::new(perm), None)
    }

    /// Proof-of-work witnesses are searched by `search` from now on (and
    /// by this challenger's clones).
    pub fn set_witness_search(&mut self, search: Arc<dyn WitnessSearch>) {
        self.1 = Some(search);
    }

    /// The state a candidate witness is absorbed into: the pending input,
    /// zeros up to the rate, the capacity tagged with the absorbed length
    /// (as the duplex does), and the rest of the sponge state. The witness
    /// goes at index `self.0.input_buffer.len()`.
    pub fn grind_base_state(&self) -> [Val; 16] {
        let witness_idx = self.0.input_buffer.len();
        let tagged_capacity =
            self.0.sponge_state[CHALLENGER_RATE] + Val::from_u8((witness_idx + 1) as u8);
        core::array::from_fn(|i| {
            if i < witness_idx {
                self.0.input_buffer[i]
            } else if i < CHALLENGER_RATE {
                Val::ZERO
            } else if i == CHALLENGER_RATE {
                tagged_capacity
            } else {
                self.0.sponge_state[i]
            }
        })
    }
}

impl CanObserve<Val> for DetChallenger {
    fn observe(&mut self, value: Val) {
        self.0.observe(value)
    }
}
impl<const N: usize> CanObserve<[Val; N]> for DetChallenger {
    fn observe(&mut self, values: [Val; N]) {
        self.0.observe(values)
    }
}
/// A 32-byte Merkle digest enters the transcript as sixteen 16-bit limbs
/// (little-endian), each a field element below p: injective, so two
/// different commitments never absorb the same elements.
impl CanObserve<[u8; 32]> for DetChallenger {
    fn observe(&mut self, digest: [u8; 32]) {
        for limb in digest.chunks_exact(2) {
            self.0
                .observe(Val::from_u16(u16::from_le_bytes([limb[0], limb[1]])));
        }
    }
}
impl CanObserve<Hash<Val, u8, 32>> for DetChallenger {
    fn observe(&mut self, digest: Hash<Val, u8, 32>) {
        self.observe(<[u8; 32]>::from(digest))
    }
}
impl CanObserve<MerkleCap<Val, [u8; 32]>> for DetChallenger {
    fn observe(&mut self, cap: MerkleCap<Val, [u8; 32]>) {
        self.observe(&cap)
    }
}
impl<'a> CanObserve<&'a MerkleCap<Val, [u8; 32]>> for DetChallenger {
    fn observe(&mut self, cap: &'a MerkleCap<Val, [u8; 32]>) {
        for &root in cap.roots() {
            self.observe(root);
        }
    }
}
impl<EF: BasedVectorSpace<Val>> CanSample<EF> for DetChallenger {
    fn sample(&mut self) -> EF {
        self.0.sample()
    }
}
impl CanSampleBits<usize> for DetChallenger {
    fn sample_bits(&mut self, bits: usize) -> usize {
        self.0.sample_bits(bits)
    }
}
impl FieldChallenger<Val> for DetChallenger {}

impl GrindingChallenger for DetChallenger {
    type Witness = Val;

    fn grind(&mut self, bits: usize) -> Val {
        assert!(bits < 64 && (1u64 << bits) < Val::ORDER_U64);
        if bits == 0 {
            // same as DuplexChallenger: canonical zero witness, transcript untouched
            return Val::ZERO;
        }
        let witness_idx = self.0.input_buffer.len();
        let base = self.grind_base_state();
        if let Some(search) = &self.1 {
            if let Some(w) = search.search(base, witness_idx, bits) {
                // Checked here before it enters the transcript; a witness
                // that fails falls back to the host's search.
                let mut trial = self.0.clone();
                if trial.check_witness(bits, w) {
                    self.0 = trial;
                    return w;
                }
            }
        }
        // Same search as DuplexChallenger::grind (SIMD lanes = candidates, witness absorbed
        // at the next free rate slot, output read from slot RATE-1), but with rayon's
        // `find_map_first` so the result is the smallest passing witness.
        const RATE: usize = CHALLENGER_RATE;
        let lanes = <Val as Field>::Packing::WIDTH;
        let order = Val::ORDER_U64;
        let mask = (1u64 << bits) - 1;
        // The `.into()`s are no-ops only when `Packing` is scalar (a build without
        // SIMD target features); with AVX2/AVX-512 they widen to packed lanes.
        #[allow(clippy::useless_conversion)]
        let base_state: [<Val as Field>::Packing; 16] = core::array::from_fn(|i| base[i].into());
        let perm = &self.0.permutation;
        let w = (0..order.div_ceil(lanes as u64))
            .into_par_iter()
            .find_map_first(|batch| {
                let base = batch * lanes as u64;
                let mut state = base_state;
                let cands = <Val as Field>::Packing::from_fn(|l| {
                    let c = base + l as u64;
                    if c < order {
                        Val::from_u64(c)
                    } else {
                        Val::NEG_ONE
                    }
                });
                state[witness_idx] = cands;
                perm.permute_mut(&mut state);
                state[RATE - 1]
                    .as_slice()
                    .iter()
                    .zip(cands.as_slice())
                    .find(|(out, _)| out.as_canonical_u64() & mask == 0)
                    .map(|(_, &c)| c.as_canonical_u64())
            })
            .expect("failed to find proof-of-work witness");
        let w = Val::from_u64(w);
        assert!(self.0.check_witness(bits, w));
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Challenge;
    use p3_koala_bear::default_koalabear_poseidon2_16;

    /// A search that answers `answer`, whatever it is asked.
    #[derive(Debug)]
    struct Fixed(Option<Val>);

    impl WitnessSearch for Fixed {
        fn search(&self, _: [Val; 16], _: usize, _: usize) -> Option<Val> {
            self.0
        }
    }

    fn challenger() -> DetChallenger {
        let mut c = DetChallenger::new(default_koalabear_poseidon2_16());
        c.observe(Val::from_u32(7));
        c.observe(Val::from_u32(11));
        c
    }

    #[test]
    fn a_witness_search_is_checked_and_a_wrong_one_falls_back() {
        let bits = 8;
        let mut host = challenger();
        let w = host.grind(bits);
        let after: Val = host.sample();
        // The right answer, a wrong one, a bigger passing one (found by the
        // host from above `w`), and none: the same witness and transcript,
        // but for the passing one, which is accepted as it is (the search
        // must return the smallest; the check cannot tell).
        let mut bigger = None;
        for c in (w.as_canonical_u64() + 1)..Val::ORDER_U64 {
            let mut t = challenger();
            if t.0.check_witness(bits, Val::from_u64(c)) {
                bigger = Some(Val::from_u64(c));
                break;
            }
        }
        for (answer, expect) in [
            (Some(w), w),
            (Some(w + Val::ONE), w),
            (None, w),
            (bigger, bigger.unwrap()),
        ] {
            let mut c = challenger();
            c.set_witness_search(Arc::new(Fixed(answer)));
            assert_eq!(c.grind(bits), expect);
            if expect == w {
                let s: Val = c.sample();
                assert_eq!(s, after);
            }
        }
    }

    #[test]
    fn the_base_state_puts_the_witness_after_pending_input() {
        let c = challenger();
        let s = c.grind_base_state();
        assert_eq!(c.0.input_buffer.len(), 2);
        assert_eq!(&s[..2], &[Val::from_u32(7), Val::from_u32(11)]);
        assert!(s[2..CHALLENGER_RATE].iter().all(|v| *v == Val::ZERO));
    }

    /// The challenge drawn after observing `digest` as a Merkle root.
    fn after_root(digest: [u8; 32]) -> Challenge {
        let mut c = challenger();
        c.observe(MerkleCap::<Val, [u8; 32]>::new(vec![digest]));
        c.sample()
    }

    #[test]
    fn every_digest_byte_reaches_the_transcript() {
        let base = [0x5au8; 32];
        let first = after_root(base);
        for i in 0..32 {
            let mut d = base;
            d[i] ^= 1;
            assert_ne!(
                after_root(d),
                first,
                "byte {i} does not change the challenge"
            );
        }
    }

    #[test]
    fn digests_equal_modulo_p_absorb_differently() {
        // Words w and w + p (both 32-bit) would collide if a digest were
        // absorbed as words reduced mod p; the 16-bit limbs keep them apart.
        let p = Val::ORDER_U64 as u32;
        let (w, w2) = (5u32, 5u32 + p);
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[..4].copy_from_slice(&w.to_le_bytes());
        b[..4].copy_from_slice(&w2.to_le_bytes());
        assert_ne!(after_root(a), after_root(b));
        // And a cap observed by value or by reference, or as a `Hash`, is the same.
        let mut by_ref = challenger();
        by_ref.observe(&MerkleCap::<Val, [u8; 32]>::new(vec![a]));
        let mut by_hash = challenger();
        by_hash.observe(Hash::<Val, u8, 32>::from(a));
        let (r, h): (Challenge, Challenge) = (by_ref.sample(), by_hash.sample());
        assert_eq!(r, after_root(a));
        assert_eq!(h, after_root(a));
    }
}
