//! Large buffers backed by huge pages where the kernel has them.
//!
//! A buffer's pages are faulted in on first touch. A 2^19-cycle shard's CPU
//! events are 32 MiB: in 4 KiB pages that is 8192 faults, which took the
//! executor about as long as executing the shard (BENCHMARKS.md, stop 30).
//! Advising the kernel before the first touch (`MADV_HUGEPAGE`, honoured
//! where transparent huge pages are `madvise` or `always`) backs it with
//! 2 MiB pages instead. The advice never changes a buffer's contents.

/// Asks for huge pages for `len` bytes from `start` (the 2 MiB-aligned
/// part of it; nothing for ranges under 4 MiB, or off Linux). A refusal
/// leaves 4 KiB pages.
pub fn advise_huge_pages(start: *const u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        if len < 2 * HUGE {
            return;
        }
        let begin = (start as usize).next_multiple_of(HUGE);
        let end = (start as usize + len) / HUGE * HUGE;
        if end > begin {
            // SAFETY: the range lies inside the caller's allocation; the
            // advice changes how its pages are backed, never their contents.
            unsafe {
                libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// Reserves room for `additional` more elements in `v` and advises its
/// unused part for huge pages (before anything touches it, where the
/// reserve made a new allocation).
pub fn reserve_huge<T>(v: &mut Vec<T>, additional: usize) {
    v.reserve(additional);
    let spare = v.spare_capacity_mut();
    advise_huge_pages(spare.as_ptr().cast(), std::mem::size_of_val(spare));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reserving keeps the contents and gives the room asked for, whether
    /// or not the kernel takes the advice.
    #[test]
    fn reserving_keeps_contents_and_gives_room() {
        let mut v: Vec<u64> = (0..1000).collect();
        reserve_huge(&mut v, 3 << 20);
        assert!(v.capacity() >= 1000 + (3 << 20));
        assert!(v.iter().copied().eq(0..1000));
        v.extend(0..(3u64 << 20));
        assert_eq!(v.len(), 1000 + (3 << 20));
        let mut empty: Vec<u8> = Vec::new();
        reserve_huge(&mut empty, 0);
        assert!(empty.is_empty());
    }
}
