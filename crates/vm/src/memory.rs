//! Sparse word-addressed guest memory.
//!
//! A flat table of 65,536 optional 64 KiB pages covers the 32-bit address space:
//! one shift and one pointer load per access, no hashing. Untouched memory reads
//! as zero and costs nothing. In tracing mode each word also carries the
//! timestamp of its last access, kept in a parallel table so fast mode pays
//! nothing for it, and each page touched since the last
//! [`Memory::take_touched_pages`] is marked, so that a parallel run can hand
//! its tracers only the pages that changed ([`PageSnapshot`]).

/// Bytes per page (64 KiB).
pub const PAGE_BYTES: u64 = 1 << 16;
const PAGE_WORDS: usize = 1 << 14;
const PAGE_COUNT: usize = 1 << 16;

type Page<T> = Box<[T; PAGE_WORDS]>;
type PageTable<T> = Box<[Option<Page<T>>; PAGE_COUNT]>;

fn new_table<T>() -> PageTable<T> {
    let mut v = Vec::with_capacity(PAGE_COUNT);
    v.resize_with(PAGE_COUNT, || None);
    v.into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("table has PAGE_COUNT entries"))
}

fn clone_page<T: Copy>(page: &Page<T>) -> Page<T> {
    page.to_vec()
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("page has PAGE_WORDS entries"))
}

fn clone_table<T: Copy>(table: &PageTable<T>) -> PageTable<T> {
    let mut copy = new_table();
    for (slot, page) in copy.iter_mut().zip(table.iter()) {
        *slot = page.as_ref().map(clone_page);
    }
    copy
}

fn new_page<T: Copy + Default>() -> Page<T> {
    vec![T::default(); PAGE_WORDS]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("page has PAGE_WORDS entries"))
}

#[inline(always)]
fn split(addr: u32) -> (usize, usize) {
    (
        (addr >> 16) as usize,
        ((addr >> 2) as usize) & (PAGE_WORDS - 1),
    )
}

/// Allocating one more page would pass the configured memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimitExceeded {
    pub limit_bytes: u64,
}

/// One page's words and timestamps as they were when it was taken.
pub struct PageSnapshot {
    index: usize,
    values: Option<Page<u32>>,
    timestamps: Option<Page<u64>>,
}

impl PageSnapshot {
    /// The page's number (its address over [`PAGE_BYTES`]).
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Guest memory, word granular. Addresses passed in must be 4-aligned.
pub struct Memory {
    values: PageTable<u32>,
    timestamps: Option<PageTable<u64>>,
    /// A bit per page: touched since the last `take_touched_pages`.
    touched: Box<[u64; PAGE_COUNT / 64]>,
    pages: u64,
    max_pages: u64,
}

impl Clone for Memory {
    /// A deep copy, built on the heap (a page table is 512 KiB).
    fn clone(&self) -> Memory {
        Memory {
            values: clone_table(&self.values),
            timestamps: self.timestamps.as_ref().map(clone_table),
            touched: self.touched.clone(),
            pages: self.pages,
            max_pages: self.max_pages,
        }
    }
}

impl Memory {
    /// Empty memory; `limit_bytes` caps the bytes of pages the guest may touch.
    pub fn new(limit_bytes: Option<u64>) -> Memory {
        Memory {
            values: new_table(),
            timestamps: None,
            touched: Box::new([0; PAGE_COUNT / 64]),
            pages: 0,
            max_pages: limit_bytes.map_or(u64::MAX, |b| b.div_ceil(PAGE_BYTES)),
        }
    }

    /// Replaces the memory limit (pages already allocated stay).
    pub fn set_limit(&mut self, limit_bytes: Option<u64>) {
        self.max_pages = limit_bytes.map_or(u64::MAX, |b| b.div_ceil(PAGE_BYTES));
    }

    /// Starts keeping a last-access timestamp for every word (tracing mode).
    pub fn enable_timestamps(&mut self) {
        if self.timestamps.is_none() {
            self.timestamps = Some(new_table());
        }
    }

    /// Bytes of pages allocated so far.
    pub fn allocated_bytes(&self) -> u64 {
        self.pages * PAGE_BYTES
    }

    #[inline(always)]
    pub fn load(&self, addr: u32) -> u32 {
        let (p, w) = split(addr);
        match &self.values[p] {
            Some(page) => page[w],
            None => 0,
        }
    }

    #[inline(always)]
    pub fn store(&mut self, addr: u32, value: u32) -> Result<(), MemoryLimitExceeded> {
        let (p, w) = split(addr);
        match &mut self.values[p] {
            Some(page) => {
                page[w] = value;
                Ok(())
            }
            None => self.store_in_new_page(p, w, value),
        }
    }

    #[cold]
    fn store_in_new_page(
        &mut self,
        p: usize,
        w: usize,
        value: u32,
    ) -> Result<(), MemoryLimitExceeded> {
        if value == 0 {
            return Ok(()); // untouched memory already reads as zero
        }
        if self.pages >= self.max_pages {
            return Err(MemoryLimitExceeded {
                limit_bytes: self.max_pages * PAGE_BYTES,
            });
        }
        self.pages += 1;
        let mut page = new_page::<u32>();
        page[w] = value;
        self.values[p] = Some(page);
        Ok(())
    }

    /// The last-access timestamp of a word (0 if never accessed). Only meaningful
    /// after [`Memory::enable_timestamps`].
    #[inline(always)]
    pub fn timestamp(&self, addr: u32) -> u64 {
        let (p, w) = split(addr);
        match self.timestamps.as_ref().and_then(|t| t[p].as_ref()) {
            Some(page) => page[w],
            None => 0,
        }
    }

    /// Records an access at `ts`, returning the previous timestamp.
    #[inline(always)]
    pub fn touch(&mut self, addr: u32, ts: u64) -> u64 {
        let (p, w) = split(addr);
        let table = self
            .timestamps
            .as_mut()
            .expect("touch() requires enable_timestamps()");
        let page = table[p].get_or_insert_with(new_page::<u64>);
        self.touched[p / 64] |= 1 << (p % 64);
        std::mem::replace(&mut page[w], ts)
    }

    /// Copies of the pages touched ([`Memory::touch`]) since the last call,
    /// and forgets that they were.
    pub fn take_touched_pages(&mut self) -> Vec<PageSnapshot> {
        let mut out = Vec::new();
        for (i, bits) in self.touched.iter_mut().enumerate() {
            let mut rest = std::mem::take(bits);
            while rest != 0 {
                let index = i * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                out.push(PageSnapshot {
                    index,
                    values: self.values[index].as_ref().map(clone_page),
                    timestamps: self
                        .timestamps
                        .as_ref()
                        .and_then(|t| t[index].as_ref().map(clone_page)),
                });
            }
        }
        out
    }

    /// Makes a page what `snapshot` says it was. A memory that was equal to
    /// the snapshot's source before that page changed becomes equal to it
    /// again on that page (pages are never freed, so a snapshot without
    /// values is only taken of a page this memory lacks as well).
    pub fn restore_page(&mut self, snapshot: &PageSnapshot) {
        let p = snapshot.index;
        match (&mut self.values[p], &snapshot.values) {
            (Some(mine), Some(theirs)) => mine.copy_from_slice(&theirs[..]),
            (slot @ None, Some(theirs)) => {
                *slot = Some(clone_page(theirs));
                self.pages += 1;
            }
            (_, None) => {}
        }
        if let Some(table) = &mut self.timestamps {
            match (&mut table[p], &snapshot.timestamps) {
                (Some(mine), Some(theirs)) => mine.copy_from_slice(&theirs[..]),
                (slot @ None, Some(theirs)) => *slot = Some(clone_page(theirs)),
                (_, None) => {}
            }
        }
    }

    /// Every word with a non-zero timestamp, as `(address, value, timestamp)`,
    /// in address order: the final state the memory argument closes with.
    pub fn touched_words(&self) -> Vec<(u32, u32, u64)> {
        let mut out = Vec::new();
        let Some(table) = &self.timestamps else {
            return out;
        };
        for (p, page) in table.iter().enumerate() {
            let Some(page) = page else { continue };
            for (w, &ts) in page.iter().enumerate() {
                if ts != 0 {
                    let addr = ((p as u32) << 16) | ((w as u32) << 2);
                    out.push((addr, self.load(addr), ts));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_memory_is_zero_and_free() {
        let mut m = Memory::new(None);
        assert_eq!(m.load(0xffff_fffc), 0);
        m.store(0x1000, 0).unwrap();
        assert_eq!(m.allocated_bytes(), 0);
        m.store(0xffff_fffc, 7).unwrap();
        assert_eq!(m.load(0xffff_fffc), 7);
        assert_eq!(m.allocated_bytes(), PAGE_BYTES);
    }

    #[test]
    fn limit_is_enforced_per_page() {
        let mut m = Memory::new(Some(PAGE_BYTES));
        m.store(0x10000, 1).unwrap();
        m.store(0x1fffc, 2).unwrap();
        assert_eq!(
            m.store(0x20000, 3),
            Err(MemoryLimitExceeded {
                limit_bytes: PAGE_BYTES
            })
        );
    }

    #[test]
    fn touched_pages_restore_a_copy_to_the_original() {
        let mut m = Memory::new(None);
        m.enable_timestamps();
        m.store(0x1_0000, 5).unwrap();
        m.touch(0x1_0000, 3);
        let mut copy = m.clone();
        m.take_touched_pages();
        m.store(0x1_0004, 6).unwrap();
        m.touch(0x1_0004, 7);
        m.store(0x5_0000, 8).unwrap();
        m.touch(0x5_0000, 9);
        m.touch(0x9_0000, 10); // a read of memory never written
        let pages = m.take_touched_pages();
        assert_eq!(
            pages.iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![1, 5, 9]
        );
        assert!(m.take_touched_pages().is_empty(), "taking forgets them");
        for page in &pages {
            copy.restore_page(page);
        }
        assert_eq!(copy.touched_words(), m.touched_words());
        assert_eq!(copy.allocated_bytes(), m.allocated_bytes());
        assert_eq!(copy.allocated_bytes(), 2 * PAGE_BYTES);
    }

    #[test]
    fn timestamps_track_last_access() {
        let mut m = Memory::new(None);
        m.enable_timestamps();
        assert_eq!(m.touch(0x400, 5), 0);
        assert_eq!(m.touch(0x400, 9), 5);
        assert_eq!(m.timestamp(0x400), 9);
        m.store(0x400, 3).unwrap();
        assert_eq!(m.touched_words(), vec![(0x400, 3, 9)]);
    }
}
