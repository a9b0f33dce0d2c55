//! A DuplexChallenger wrapper whose proof-of-work search is deterministic.
//!
//! Why: `DuplexChallenger::grind` (p3-challenger 0.8.0) searches candidates with rayon's
//! `find_map_any`, so with the `parallel` feature the returned witness depends on thread
//! scheduling (any passing witness is accepted by the verifier). That makes otherwise
//! seeded proofs non-reproducible. This wrapper returns the *smallest* passing witness
//! (rayon `find_first`), which a GPU backend can reproduce exactly. The transcript
//! (observe/sample) behaviour is delegated unchanged, so proofs verify with either type
//! and the wire format is identical.

use p3_challenger::{
    CanObserve, CanSample, CanSampleBits, DuplexChallenger, FieldChallenger, GrindingChallenger,
};
use p3_field::{BasedVectorSpace, Field, PackedValue, PrimeCharacteristicRing, PrimeField64};
use p3_maybe_rayon::prelude::*;
use p3_symmetric::{Hash, MerkleCap, Permutation};

use crate::config::{Perm16, Val};

type Inner = DuplexChallenger<Val, Perm16, 16, 8>;

#[derive(Clone, Debug)]
pub struct DetChallenger(pub Inner);

impl DetChallenger {
    pub fn new(perm: Perm16) -> Self {
        Self(Inner::new(perm))
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
impl<const N: usize> CanObserve<Hash<Val, Val, N>> for DetChallenger {
    fn observe(&mut self, values: Hash<Val, Val, N>) {
        self.0.observe(values)
    }
}
impl<const N: usize> CanObserve<MerkleCap<Val, [Val; N]>> for DetChallenger {
    fn observe(&mut self, cap: MerkleCap<Val, [Val; N]>) {
        self.0.observe(cap)
    }
}
impl<'a, const N: usize> CanObserve<&'a MerkleCap<Val, [Val; N]>> for DetChallenger {
    fn observe(&mut self, cap: &'a MerkleCap<Val, [Val; N]>) {
        self.0.observe(cap)
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
        // Same search as DuplexChallenger::grind (SIMD lanes = candidates, witness absorbed
        // at the next free rate slot, output read from slot RATE-1), but with rayon's
        // `find_map_first` so the result is the smallest passing witness.
        const RATE: usize = 8;
        let lanes = <Val as Field>::Packing::WIDTH;
        let order = Val::ORDER_U64;
        let mask = (1u64 << bits) - 1;
        let witness_idx = self.0.input_buffer.len();
        let tagged_capacity = self.0.sponge_state[RATE] + Val::from_u8((witness_idx + 1) as u8);
        // The `.into()`s are no-ops only when `Packing` is scalar (a build without
        // SIMD target features); with AVX2/AVX-512 they widen to packed lanes.
        #[allow(clippy::useless_conversion)]
        let base_state: [<Val as Field>::Packing; 16] = core::array::from_fn(|i| {
            if i < witness_idx {
                self.0.input_buffer[i].into()
            } else if i < RATE {
                <Val as Field>::Packing::ZERO
            } else if i == RATE {
                tagged_capacity.into()
            } else {
                self.0.sponge_state[i].into()
            }
        });
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
