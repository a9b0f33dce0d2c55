//! Global bump allocator: the heap grows from the end of the loaded image
//! (`_end`, see `guest/link.ld`) up to [`MEMORY_LIMIT`].
//!
//! Every allocation is at least 4-byte aligned (so buffers can be passed to
//! `HINT_READ`).  Memory is reused only when the most recent allocation is
//! freed or resized; fresh memory above the high-water mark is zero, as the
//! VM starts with zeroed memory.

use crate::syscalls::MEMORY_LIMIT;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

extern "C" {
    static _end: u8;
}

struct State {
    /// Next free address (0 before the first allocation).
    pos: usize,
    /// Highest address ever handed out; memory above it is untouched (zero).
    high: usize,
}

/// The bump allocator (single-threaded).
pub struct BumpAllocator {
    state: UnsafeCell<State>,
}

// Guests are single-threaded.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    pub const fn new() -> Self {
        BumpAllocator {
            state: UnsafeCell::new(State { pos: 0, high: 0 }),
        }
    }

    #[inline]
    unsafe fn state(&self) -> &mut State {
        let s = &mut *self.state.get();
        if s.pos == 0 {
            s.pos = &_end as *const u8 as usize;
            s.high = s.pos;
        }
        s
    }

    /// Bytes allocated so far (current position minus `_end`).
    pub fn used(&self) -> usize {
        unsafe {
            let s = self.state();
            s.pos - &_end as *const u8 as usize
        }
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn align_up(x: usize, align: usize) -> Option<usize> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

unsafe impl GlobalAlloc for BumpAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = self.state();
        let align = if layout.align() < 4 {
            4
        } else {
            layout.align()
        };
        let start = match align_up(s.pos, align) {
            Some(v) => v,
            None => return ptr::null_mut(),
        };
        let end = match start.checked_add(layout.size()) {
            Some(e) if e <= MEMORY_LIMIT => e,
            _ => return ptr::null_mut(),
        };
        s.pos = end;
        if end > s.high {
            s.high = end;
        }
        start as *mut u8
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // Give back the most recent allocation only.
        let s = self.state();
        if p as usize + layout.size() == s.pos {
            s.pos = p as usize;
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let high = self.state().high;
        let p = self.alloc(layout);
        if !p.is_null() && (p as usize) < high {
            let dirty = core::cmp::min(high, p as usize + layout.size()) - p as usize;
            ptr::write_bytes(p, 0, dirty);
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let s = self.state();
        let old_end = p as usize + layout.size();
        if old_end == s.pos {
            // Last allocation: grow or shrink in place.
            if let Some(end) = (p as usize).checked_add(new_size) {
                if end <= MEMORY_LIMIT {
                    s.pos = end;
                    if end > s.high {
                        s.high = end;
                    }
                    return p;
                }
            }
            return ptr::null_mut();
        }
        if new_size <= layout.size() {
            return p;
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let q = self.alloc(new_layout);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, layout.size());
        }
        q
    }
}

#[global_allocator]
pub static ALLOCATOR: BumpAllocator = BumpAllocator::new();
