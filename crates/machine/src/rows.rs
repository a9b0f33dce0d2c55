//! Filling a trace's rows on every core. A shard's trace generation is the
//! CPU's share of each shard the GPU proves, and the GPU's first pass waits
//! for it (BENCHMARKS.md), so one shard is spread over rayon's threads
//! instead of one thread per shard.
//!
//! Rows are filled in chunks of at most [`CHUNK_ROWS`]: each chunk counts
//! its lookups in its thread's multiplicities, added up once the shard's
//! tables are filled, and returns what else it produced; the outputs come
//! back in row order, and the first error (in row order) is the one
//! returned, as a sequential fill would.

use crate::event::{padded_height, Multiplicities, TraceError};
use cloak_prover::Val;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
use rayon::prelude::*;

/// `1 / v` (0 for 0), from a table made once for `|v| < 2^16`: rows invert
/// differences of 16-bit limbs (BEQ/BNE, SLT) and byte sums (DIV), and an
/// inversion costs more than the rest of such a row's filling.
pub(crate) fn inverse_of_small(v: i64) -> Val {
    static TABLE: std::sync::OnceLock<Vec<Val>> = std::sync::OnceLock::new();
    // Made on one thread: callers run on rayon's threads, and an initializer
    // that waited for rayon's other threads could wait for one blocked here.
    // One inversion and three products an entry (Montgomery's batch trick).
    let table = TABLE.get_or_init(|| {
        const N: usize = 1 << 16;
        let mut prefix = vec![Val::ONE; N];
        for k in 1..N {
            prefix[k] = prefix[k - 1] * Val::from_usize(k);
        }
        let mut table = vec![Val::ZERO; N];
        let mut inv = prefix[N - 1].inverse();
        for k in (1..N).rev() {
            table[k] = inv * prefix[k - 1];
            inv *= Val::from_usize(k);
        }
        table
    });
    match table.get(v.unsigned_abs() as usize) {
        Some(&inv) if v < 0 => -inv,
        Some(&inv) => inv,
        // Not met by the callers' differences; the field's inverse serves.
        None => Val::from_i64(v).try_inverse().unwrap_or(Val::ZERO),
    }
}

/// Rows per chunk, at most.
#[cfg(not(debug_assertions))]
pub(crate) const CHUNK_ROWS: usize = 1 << 15;
/// Small in debug builds, so that the tests' small shards are filled in
/// several chunks too (and their proofs check the merged counts).
#[cfg(debug_assertions)]
pub(crate) const CHUNK_ROWS: usize = 1 << 10;
/// Rows per chunk, at least (where a fill has more rows than that): a
/// chunk's rows should outweigh its scheduling.
pub(crate) const MIN_CHUNK_ROWS: usize = if CHUNK_ROWS < 1 << 10 {
    CHUNK_ROWS
} else {
    1 << 10
};

/// A zeroed trace of `len` cells: a buffer an earlier shard's traces gave
/// back ([`cloak_prover::trace_buffers`]) where one fits, else fresh memory.
/// Large fresh ones ask the kernel for huge pages before their first touch:
/// a shard's fresh traces are hundreds of MiB, and faulting them in 4 KiB
/// at a time, on every core at once, took much of trace generation's time.
pub(crate) fn zeroed(len: usize) -> Vec<Val> {
    if let Some(values) = cloak_prover::trace_buffers::take_zeroed(len) {
        return values;
    }
    fresh(len)
}

/// A trace of `len` cells whose contents are arbitrary (what an earlier
/// shard's traces left in a pooled buffer, or zeros): for a generator that
/// writes every cell, each row just before filling it (while it is in the
/// cache), which saves the pool's zeroing pass over the whole buffer.
pub(crate) fn stale(len: usize) -> Vec<Val> {
    if let Some(values) = cloak_prover::trace_buffers::take_stale(len) {
        return values;
    }
    fresh(len)
}

/// Fresh zeroed memory, large buffers on huge pages where the kernel has them.
pub(crate) fn fresh(len: usize) -> Vec<Val> {
    let values = Val::zero_vec(len);
    cloak_vm::huge::advise_huge_pages(
        values.as_ptr().cast(),
        std::mem::size_of_val(values.as_slice()),
    );
    values
}

/// The trace of a table with one row per event, in order, padded with zero
/// rows to a power of two of at least `min_height`: `fill(event, row, mults)`
/// fills an event's row and counts its lookups, on every core.
pub(crate) fn event_rows<E: Sync>(
    events: &[E],
    width: usize,
    min_height: usize,
    mults: &mut Multiplicities,
    fill: impl Fn(&E, &mut [Val], &mut Multiplicities) -> Result<(), TraceError> + Sync,
) -> Result<RowMajorMatrix<Val>, TraceError> {
    let height = padded_height(events.len(), min_height)?;
    let mut values = stale(height * width);
    fill_chunks(
        &mut values,
        width,
        events.len(),
        mults,
        |first, rows, mults| {
            for (event, row) in events[first..].iter().zip(rows.chunks_exact_mut(width)) {
                row.fill(Val::ZERO);
                fill(event, row, mults)?;
            }
            Ok(())
        },
    )?;
    zero_rows_from(&mut values, width, events.len());
    Ok(RowMajorMatrix::new(values, width))
}

/// Zeroes rows `first..` of the row-major `values` (the padding of a
/// [`stale`] buffer), on every core.
pub(crate) fn zero_rows_from(values: &mut [Val], width: usize, first: usize) {
    values[first * width..]
        .par_chunks_mut(1 << 16)
        .for_each(|cells| cells.fill(Val::ZERO));
}

/// Runs `fill(first_row, rows, mults)` over the first `rows` rows of the
/// row-major `values` (`width` cells a row), a chunk at a time in parallel
/// ([`chunk_rows_for`] rows a chunk). Each chunk counts its lookups in its
/// thread's counters of `mults` (`Multiplicities::settle` adds them up). A
/// fill of at most one chunk runs here, on `mults` itself.
pub(crate) fn fill_chunks<C: Send, T: Send>(
    values: &mut [C],
    width: usize,
    rows: usize,
    mults: &mut Multiplicities,
    fill: impl Fn(usize, &mut [C], &mut Multiplicities) -> Result<T, TraceError> + Sync,
) -> Result<Vec<T>, TraceError> {
    let real = &mut values[..rows * width];
    let chunk = chunk_rows_for(rows);
    if rows <= chunk {
        return Ok(vec![fill(0, real, mults)?]);
    }
    let counts = &*mults;
    // A thread that finds its counters in use (a fill that waits for rayon
    // work of its own could run another chunk here) counts apart.
    let spilled = std::sync::Mutex::new(Vec::new());
    let parts: Vec<Result<T, TraceError>> = real
        .par_chunks_mut(chunk * width)
        .enumerate()
        .map(|(k, rows)| {
            let mine = counts.per_thread.get_or(Default::default);
            match mine.try_borrow_mut() {
                Ok(mut own) => fill(k * chunk, rows, &mut own),
                Err(_) => {
                    let mut own = Multiplicities::default();
                    let out = fill(k * chunk, rows, &mut own);
                    spilled.lock().unwrap_or_else(|e| e.into_inner()).push(own);
                    out
                }
            }
        })
        .collect();
    let spilled = spilled.into_inner().unwrap_or_else(|e| e.into_inner());
    if !spilled.is_empty() {
        mults.add_all(&spilled);
    }
    parts.into_iter().collect()
}

/// Rows a chunk of a `rows`-row fill takes: [`CHUNK_ROWS`] at most, and
/// fewer, down to [`MIN_CHUNK_ROWS`], so each of rayon's threads gets
/// about four chunks (a loop shard's Mul, Shift and Bitwise tables, 75 K
/// rows each, were three chunks on three cores).
pub(crate) fn chunk_rows_for(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(4 * threads)
        .next_power_of_two()
        .clamp(MIN_CHUNK_ROWS, CHUNK_ROWS)
}

impl Multiplicities {
    /// Adds every one of `others`' counts to these, in parallel over the
    /// counters.
    pub(crate) fn add_all(&mut self, others: &[Multiplicities]) {
        const SPAN: usize = 1 << 12;
        let add = |mine: &mut [u64], theirs: &(dyn Fn(&Multiplicities) -> &[u64] + Sync)| {
            mine.par_chunks_mut(SPAN).enumerate().for_each(|(k, span)| {
                for other in others {
                    let from = &theirs(other)[k * SPAN..k * SPAN + span.len()];
                    for (m, o) in span.iter_mut().zip(from) {
                        *m += o;
                    }
                }
            });
        };
        add(&mut self.range16, &|o| &o.range16);
        for (op, mine) in self.byte.iter_mut().enumerate() {
            add(mine, &|o| &o.byte[op]);
        }
    }
}

/// Held by the tests that hand buffers to the process-wide pool and check
/// what comes back.
#[cfg(test)]
pub(crate) static POOL_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ByteOp;
    use p3_field::PrimeCharacteristicRing;

    /// The table's inverses are the field's, for every `|v| < 2^16`.
    #[test]
    fn small_inverses_are_inverses() {
        assert_eq!(inverse_of_small(0), Val::ZERO);
        for v in [1i64 << 16, -(1 << 20), 1 << 40] {
            assert_eq!(inverse_of_small(v), Val::from_i64(v).inverse(), "{v}");
        }
        for v in -(1i64 << 16) + 1..1 << 16 {
            if v != 0 {
                assert_eq!(inverse_of_small(v), Val::from_i64(v).inverse(), "{v}");
            }
        }
    }

    /// A chunked fill gives the cells, counts, outputs and first error of a
    /// sequential one.
    #[test]
    fn chunked_fill_matches_a_sequential_fill() {
        let rows = 3 * CHUNK_ROWS + 17;
        let fill = |first: usize, cells: &mut [Val], m: &mut Multiplicities| {
            for (i, row) in cells.chunks_exact_mut(2).enumerate() {
                let r = first + i;
                row[0] = Val::from_usize(r);
                row[1] = Val::from_usize(r * 7);
                m.range16((r % 65_536) as u16);
                m.byte(ByteOp::Xor, (r % 256) as u8, (r / 256 % 256) as u8);
            }
            Ok(first)
        };
        let mut seq = Multiplicities::default();
        let mut seq_values = Val::zero_vec(2 * rows);
        fill(0, &mut seq_values, &mut seq).unwrap();

        let mut par = Multiplicities::default();
        par.range16(5);
        seq.range16(5);
        let mut par_values = Val::zero_vec(2 * rows + 6);
        let firsts = fill_chunks(&mut par_values, 2, rows, &mut par, fill).unwrap();
        assert_eq!(firsts, vec![0, CHUNK_ROWS, 2 * CHUNK_ROWS, 3 * CHUNK_ROWS]);
        assert_eq!(&par_values[..2 * rows], &seq_values[..]);
        assert!(par_values[2 * rows..].iter().all(|v| *v == Val::ZERO));
        // The chunks' counts stay with their threads until settled.
        par.settle();
        assert_eq!(par.range16, seq.range16);
        assert_eq!(par.byte, seq.byte);

        // Rows in chunks 1 and 2 fail: chunk 1's row's error.
        let (bad1, bad2) = (CHUNK_ROWS + 5, 2 * CHUNK_ROWS + 1);
        let failing = |first: usize, cells: &mut [Val], _: &mut Multiplicities| {
            for i in 0..cells.len() / 2 {
                if first + i == bad1 || first + i == bad2 {
                    return Err(TraceError::TooManyRows { rows: first + i });
                }
            }
            Ok(())
        };
        let err = fill_chunks(&mut par_values, 2, rows, &mut par, failing).unwrap_err();
        assert!(matches!(err, TraceError::TooManyRows { rows } if rows == bad1));

        // Counts from several fills, some on threads still holding earlier
        // ones, settle to the sequential counts.
        let mut twice = Multiplicities::default();
        fill_chunks(&mut par_values, 2, rows, &mut twice, fill).unwrap();
        fill_chunks(&mut par_values, 2, rows, &mut twice, fill).unwrap();
        twice.settle();
        // (`seq` holds one `range16(5)` more than the fill's.)
        for (i, (t, s)) in twice.range16.iter().zip(&seq.range16).enumerate() {
            assert_eq!(*t, 2 * (s - u64::from(i == 5)), "range16 {i}");
        }
        for (t, s) in twice.byte.iter().zip(&seq.byte) {
            assert!(t.iter().zip(s).all(|(t, s)| *t == 2 * s));
        }
    }

    /// Chunks are powers of two between the bounds, about four a thread
    /// where the rows allow it.
    #[test]
    fn chunk_sizes_spread_rows_over_the_threads() {
        let threads = rayon::current_num_threads();
        for rows in [1, 100, 1 << 12, 75_000, 1 << 18, 1 << 19, 1 << 22] {
            let chunk = chunk_rows_for(rows);
            assert!(chunk.is_power_of_two(), "{rows}");
            assert!((MIN_CHUNK_ROWS..=CHUNK_ROWS).contains(&chunk), "{rows}");
            let chunks = rows.div_ceil(chunk);
            assert!(
                chunk == MIN_CHUNK_ROWS || chunk == CHUNK_ROWS || chunks >= 2 * threads,
                "{rows} rows: {chunks} chunks of {chunk} for {threads} threads"
            );
        }
    }

    /// A table made in a buffer an earlier trace left junk in is the table
    /// made in fresh memory: every row, the padding included, is zeroed
    /// before it is filled, and a row's unfilled cells stay zero.
    #[test]
    fn event_rows_in_a_stale_buffer_are_the_fresh_ones() {
        const WIDTH: usize = 8;
        let events: Vec<u32> = (0..(1u32 << 17) + 3).collect();
        let fill = |e: &u32, row: &mut [Val], _: &mut Multiplicities| {
            row[1] = Val::from_u32(*e);
            if e.is_multiple_of(3) {
                row[5] = Val::from_u32(e.wrapping_mul(7));
            }
            Ok(())
        };
        let fresh = event_rows(&events, WIDTH, 16, &mut Multiplicities::default(), fill).unwrap();
        let len = fresh.values.len();
        assert!(
            len * 4 >= cloak_prover::trace_buffers::MIN_BYTES,
            "pooled size"
        );
        let _pool = POOL_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let junk = vec![Val::from_u32(0x1234_5678); len];
        let ptr = junk.as_ptr();
        cloak_prover::trace_buffers::give_back(junk);
        let stale = event_rows(&events, WIDTH, 16, &mut Multiplicities::default(), fill).unwrap();
        assert_eq!(stale.values.as_ptr(), ptr, "the junk buffer was taken");
        assert!(stale.values == fresh.values);
        assert!(fresh.values[events.len() * WIDTH..]
            .iter()
            .all(|v| *v == Val::ZERO));
    }
}
