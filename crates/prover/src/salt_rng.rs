//! The Merkle salts' random stream: ChaCha20 words reduced mod p, so that
//! salt element `i` of a stream depends on keystream word `i` alone.
//!
//! Plonky3 samples a KoalaBear element as `next_u32() >> 1`, retried while
//! it is at least p (about one word in 128). From a plain ChaCha20 stream a
//! salt's place in the keystream then depends on every salt before it, and
//! a device that makes millions of salts at once has to count, scan and
//! scatter the accepted words (a third of a shard's draws' kernel time was
//! that bookkeeping). [`SaltRng`] hands the sampler words it always
//! accepts: `next_u32` is `(w mod p) << 1` for the next keystream word `w`,
//! so the salt is `w mod p`, one word each, in order.
//!
//! What it costs: `w mod p` is not uniform (values below `2^32 - 2p` come
//! up three times in `2^32`, the rest twice), so a salt element has 30.4
//! bits of min-entropy instead of 31.0, and a leaf's four 121.7 bits
//! instead of 124. Salts only need to be unpredictable (they keep an
//! unopened leaf's digest from revealing its row); the proof's masks and
//! random codewords, which zero knowledge needs uniform, stay on the plain
//! stream ([`crate::config::ZkRng`]).

use core::convert::Infallible;

use p3_field::PrimeField32;
use rand::{Rng as _, SeedableRng, TryCryptoRng, TryRng};

use crate::config::{Val, ZkRng};

/// The salt stream (see the module docs). Only `next_u32` is reduced: it is
/// all the field sampler reads. `next_u64` and `fill_bytes` (which forks a
/// stream, as cloning a `MerkleTreeHidingMmcs` does) give the keystream's
/// words as they are.
#[derive(Debug)]
pub struct SaltRng(ZkRng);

impl SaltRng {
    /// The underlying ChaCha20 stream (its key, stream id and word
    /// position, which a device needs to make the same salts).
    pub fn keystream(&self) -> &ZkRng {
        &self.0
    }

    /// The underlying stream, to move its position past salts made elsewhere.
    pub fn keystream_mut(&mut self) -> &mut ZkRng {
        &mut self.0
    }

    /// The salt element keystream word `w` gives (its Montgomery word).
    pub const fn salt_word(w: u32) -> u32 {
        w % Val::ORDER_U32
    }
}

impl TryRng for SaltRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(Self::salt_word(self.0.next_u32()) << 1)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl TryCryptoRng for SaltRng {}

impl SeedableRng for SaltRng {
    type Seed = <ZkRng as SeedableRng>::Seed;

    fn from_seed(seed: Self::Seed) -> Self {
        Self(ZkRng::from_seed(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt as _;

    #[test]
    fn a_salt_is_its_keystream_word_mod_p() {
        let mut salts = SaltRng::seed_from_u64(7);
        let mut plain = ZkRng::seed_from_u64(7);
        // Mid-block start, and past many blocks: one word a salt.
        let _ = salts.next_u32();
        let _ = plain.next_u32();
        for i in 0..5000 {
            let s: Val = salts.random();
            let w = plain.next_u32();
            assert_eq!(s.to_unique_u32(), w % Val::ORDER_U32, "salt {i}");
        }
        assert_eq!(salts.keystream().get_word_pos(), plain.get_word_pos());
    }

    #[test]
    fn forks_read_the_raw_keystream() {
        let mut salts = SaltRng::seed_from_u64(9);
        let mut plain = ZkRng::seed_from_u64(9);
        let a = SaltRng::from_rng(&mut salts);
        let b = ZkRng::from_rng(&mut plain);
        assert_eq!(a.keystream().get_seed(), b.get_seed());
        assert_eq!(salts.keystream().get_word_pos(), plain.get_word_pos());
    }
}
