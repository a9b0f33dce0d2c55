//! Trace buffers reused across shards. A shard's traces are hundreds of MiB
//! that a backend which copies them elsewhere (the GPU's upload) no longer
//! needs once copied; the next shard's generation takes them back instead of
//! mapping fresh memory, whose page faults, taken on every core at once,
//! cost trace generation more than filling the rows (BENCHMARKS.md).
//!
//! The pool is process-wide and bounded ([`POOL_BYTES`]); buffers beyond it
//! are freed. Only large buffers ([`MIN_BYTES`] and up) are kept: small ones
//! cost the allocator nothing.

use crate::config::Val;
use p3_field::PrimeCharacteristicRing;
use p3_maybe_rayon::prelude::*;
use std::sync::Mutex;

/// The most memory the pool holds: a few shards' traces.
pub const POOL_BYTES: usize = 3 << 30;
/// Buffers below this size are not kept.
pub const MIN_BYTES: usize = 4 << 20;

struct Pool {
    /// Each buffer (length 0) with the number of its leading cells that hold
    /// values (its length when it was given back).
    buffers: Vec<(Vec<Val>, usize)>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: Vec::new(),
    bytes: 0,
});

fn bytes_of(capacity: usize) -> usize {
    capacity * std::mem::size_of::<Val>()
}

/// Hands a buffer back for a later [`take_zeroed`] (which discards its
/// contents) or [`take_stale`] (which leaves them). Small buffers, and any
/// that would overfill the pool, are freed.
pub fn give_back(mut values: Vec<Val>) {
    let bytes = bytes_of(values.capacity());
    if bytes < MIN_BYTES {
        return;
    }
    let written = values.len();
    values.clear();
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.bytes + bytes <= POOL_BYTES {
        pool.bytes += bytes;
        pool.buffers.push((values, written));
    }
}

/// The smallest pooled buffer whose capacity fits `len` cells (at least
/// `len`, at most twice it), with how many of its leading cells hold values.
fn take_fitting(len: usize) -> Option<(Vec<Val>, usize)> {
    if bytes_of(len) < MIN_BYTES {
        return None;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let best = pool
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, (b, _))| b.capacity() >= len && b.capacity() / 2 <= len)
        .min_by_key(|(_, (b, _))| b.capacity())
        .map(|(i, _)| i)?;
    let (values, written) = pool.buffers.swap_remove(best);
    pool.bytes -= bytes_of(values.capacity());
    Some((values, written))
}

/// Zeroes cells `from..len` of `values` (length 0) on every core and makes
/// its length `len`; the cells before `from` must hold values.
fn zero_from(mut values: Vec<Val>, from: usize, len: usize) -> Vec<Val> {
    let from = from.min(len);
    values.spare_capacity_mut()[from..len]
        .par_chunks_mut(1 << 16)
        .for_each(|chunk| {
            for cell in chunk {
                cell.write(Val::ZERO);
            }
        });
    // SAFETY: cells `..from` hold the values written before the buffer was
    // given back (`Vec::clear` leaves them in place), and the loop above
    // initialized `from..len`.
    unsafe { values.set_len(len) };
    values
}

/// A pooled buffer of `len` zeros, if the pool holds one whose capacity
/// fits (at least `len`, at most twice it, the smallest such), zeroed on
/// every core. `None` for small lengths and when none fits.
pub fn take_zeroed(len: usize) -> Option<Vec<Val>> {
    let (values, _) = take_fitting(len)?;
    Some(zero_from(values, 0, len))
}

/// As [`take_zeroed`], but the cells keep whatever an earlier trace left
/// in them (cells it never held are zero): for a caller that writes every
/// cell anyway, which saves a pass over hundreds of MiB of memory.
pub fn take_stale(len: usize) -> Option<Vec<Val>> {
    let (values, written) = take_fitting(len)?;
    Some(zero_from(values, written, len))
}

/// [`take_stale`] as a buffer of words: the same memory, as `Val` is a
/// `repr(transparent)` u32 (for inputs that are not field elements yet).
pub fn take_words(len: usize) -> Option<Vec<u32>> {
    take_stale(len).map(values_into_words)
}

/// The same allocation as words (each cell's Montgomery form).
pub fn values_into_words(values: Vec<Val>) -> Vec<u32> {
    let values = std::mem::ManuallyDrop::new(values);
    // SAFETY: `Val` is `repr(transparent)` over a u32 (size and alignment
    // equal), so the allocation is a valid one of `capacity` u32s.
    unsafe { Vec::from_raw_parts(values.as_ptr() as *mut u32, values.len(), values.capacity()) }
}

/// [`give_back`] of a buffer of words, each below the field's order (so the
/// cells are valid `Val`s for a later [`take_stale`]).
pub fn give_back_words(words: Vec<u32>) {
    debug_assert!(words
        .iter()
        .all(|&w| w < <Val as p3_field::PrimeField32>::ORDER_U32));
    let words = std::mem::ManuallyDrop::new(words);
    // SAFETY: as in `take_words`; every word is a canonical field value's
    // Montgomery-range u32, a valid `Val` representation.
    give_back(unsafe {
        Vec::from_raw_parts(words.as_ptr() as *mut Val, words.len(), words.capacity())
    });
}

/// Frees every pooled buffer.
pub fn release_all() {
    let buffers = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.bytes = 0;
        std::mem::take(&mut pool.buffers)
    };
    drop(buffers);
}

/// Calls [`release_all`] when dropped: a proof's buffers are reused across
/// its shards, not held by a long-running process (the proving service)
/// between proofs.
pub fn release_when_dropped() -> impl Drop {
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            release_all();
        }
    }
    Release
}

/// Bytes the pool holds now.
pub fn pooled_bytes() -> usize {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer given back comes back zeroed, at the length asked for, for
    /// a length it fits; not for one twice its size or more, nor for a
    /// small one. (One test: the pool is process-wide.)
    #[test]
    fn buffers_come_back_zeroed_where_they_fit() {
        let len = MIN_BYTES; // cells: a 16 MiB buffer
        let mut v = Val::zero_vec(len);
        v.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = Val::from_usize(i + 1));
        let ptr = v.as_ptr();
        give_back(v);
        assert!(pooled_bytes() >= bytes_of(len));
        assert!(take_zeroed(2 * len + 2).is_none(), "too small a buffer");
        assert!(take_zeroed(len / 4).is_none(), "far too large a buffer");
        let again = take_zeroed(len - 10).expect("a fitting buffer");
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert_eq!(again.len(), len - 10);
        assert!(again.iter().all(|x| *x == Val::ZERO));
        give_back(Val::zero_vec(16));
        assert!(take_zeroed(16).is_none(), "small buffers are not pooled");
        // A stale buffer keeps what was written; cells past that are zero.
        let mut v = Val::zero_vec(len);
        v.iter_mut().for_each(|x| *x = Val::from_usize(7));
        v.truncate(len / 2);
        give_back(v);
        let stale = take_stale(len).expect("a fitting buffer");
        assert!(stale[..len / 2].iter().all(|x| *x == Val::from_usize(7)));
        assert!(stale[len / 2..].iter().all(|x| *x == Val::ZERO));
        give_back(stale);
        give_back(again);
        drop(release_when_dropped());
        assert_eq!(pooled_bytes(), 0);
        assert!(take_zeroed(len).is_none(), "released");
    }
}
