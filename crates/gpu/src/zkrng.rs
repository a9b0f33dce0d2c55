//! The zero-knowledge draws of the hiding PCS and MMCS, made in parallel on
//! the host with exactly the values (and the final stream position) of the
//! sequential draws.
//!
//! Plonky3 samples a KoalaBear element (`StandardUniform`, p3-monty-31 0.8.0)
//! as `next_u32() >> 1`, retried while it is ≥ p (about 1 word in 128), from
//! one ChaCha20 stream. A draw's position in the stream thus depends on every
//! earlier draw, but ChaCha20 is seekable (`set_word_pos`): [`sample`] reads
//! chunks of the keystream in parallel, keeps the accepted words in order,
//! and leaves the rng just past the last word used, where the sequential
//! draws would have left it.

use cloak_prover::config::{Val, ZkRng};
use p3_field::PrimeField32;
use rayon::prelude::*;

/// Keystream words per parallel chunk (a multiple of ChaCha's 16-word block).
const CHUNK_WORDS: usize = 1 << 16;

/// A generator on the same key and stream as `rng` (its position is set by
/// the caller). ChaCha20Rng is not `Clone`; its key, stream and position are
/// its whole state.
fn fork(rng: &ZkRng) -> ZkRng {
    let mut r = <ZkRng as rand::SeedableRng>::from_seed(rng.get_seed());
    r.set_stream(rng.get_stream());
    r.set_word_pos(rng.get_word_pos());
    r
}

/// `n` elements as `(0..n).map(|_| rng.random::<Val>())` draws them, and
/// `rng` advanced as far.
pub fn sample(rng: &mut ZkRng, n: usize) -> Vec<Val> {
    sample_chunked(rng, n, CHUNK_WORDS)
}

fn sample_chunked(rng: &mut ZkRng, n: usize, chunk: usize) -> Vec<Val> {
    let p = Val::ORDER_U32;
    let start = rng.get_word_pos();
    let mut out: Vec<u32> = Vec::with_capacity(n);
    // Words read so far (from `start`).
    let mut read: u128 = 0;
    while out.len() < n {
        let missing = n - out.len();
        // Enough chunks for the missing draws with ~1% rejections, plus one.
        let chunks = (missing + missing / 64).div_ceil(chunk) + 1;
        let parts: Vec<(Vec<u32>, usize)> = (0..chunks)
            .into_par_iter()
            .map(|c| {
                let mut r = fork(rng);
                r.set_word_pos(start + read + (c * chunk) as u128);
                let mut words = vec![0u32; chunk];
                for w in words.iter_mut() {
                    *w = rand::Rng::next_u32(&mut r);
                }
                let accepted: Vec<u32> = words.iter().map(|w| w >> 1).filter(|&x| x < p).collect();
                (accepted, chunk)
            })
            .collect();
        for (accepted, _) in parts {
            if out.len() + accepted.len() <= n {
                out.extend_from_slice(&accepted);
                read += chunk as u128;
            } else {
                // The last chunk needed: stop right after the n-th accepted word.
                let need = n - out.len();
                let mut r = fork(rng);
                r.set_word_pos(start + read);
                let mut used = 0u128;
                while out.len() < n {
                    let x = rand::Rng::next_u32(&mut r) >> 1;
                    used += 1;
                    if x < p {
                        out.push(x);
                    }
                }
                debug_assert!(need <= accepted.len());
                read += used;
                break;
            }
        }
    }
    rng.set_word_pos(start + read);
    // The accepted words are the elements' Montgomery words
    // (`MontyField31::new_monty`), all < p.
    crate::field::from_raw(out).expect("accepted words are < p")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt, SeedableRng};

    #[test]
    fn matches_sequential_draws_and_position() {
        for (seed, n, chunk) in [
            (1u64, 0usize, 64usize),
            (2, 1, 64),
            (3, 1000, 64),
            (4, 5000, 256),
            (5, 70_000, 1 << 16),
        ] {
            let mut a = ZkRng::seed_from_u64(seed);
            let mut b = fork(&a);
            // Start mid-block.
            let _ = a.next_u32();
            let _ = b.next_u32();
            let seq: Vec<Val> = (0..n).map(|_| a.random()).collect();
            let par = sample_chunked(&mut b, n, chunk);
            assert_eq!(seq, par, "n = {n}");
            assert_eq!(a.next_u32(), b.next_u32(), "position after n = {n}");
        }
    }
}
