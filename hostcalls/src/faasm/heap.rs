//! The heap break behind `__sbrk`, `mmap` and `munmap`.
//!
//! Wasm memory only grows, so the host keeps a *break*: the end of what `__sbrk` and `mmap`
//! have handed out, at most the memory's size. It starts at the memory's size, and whenever
//! the memory's size differs from the last one seen (the guest ran `memory.grow` itself, or
//! this is the call's first memory call), the break moves to the new end: everything below
//! belongs to whoever grew it. `mmap` hands out 64 KiB-aligned ranges from the break (growing
//! memory when needed), `munmap` of the range at the top lowers the break (the pages stay and
//! are reused, zeroed, by the next `mmap`), `__sbrk` moves it by any amount.
//!
//! State mappings (`__faasm_read_state_ptr`) take whole pages at the end of memory through
//! [`Heap::reserve`]: the break moves past them and a *floor* keeps it there, so neither
//! `__sbrk` with a negative increment nor `munmap` can lower the break into a state region, and
//! `mmap` never hands one out (nor zeroes it).

/// A WebAssembly page.
pub(crate) const PAGE: u64 = 65536;

/// What `__sbrk` and `mmap` return on failure (`(void*)-1`, `MAP_FAILED`).
pub(crate) const FAILED: i32 = -1;

/// The break, and the memory size it was last synchronised with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Heap {
    brk: u64,
    seen_size: Option<u64>,
    /// The end of the highest reserved (state) range: the break never goes below it.
    floor: u64,
}

/// A memory the heap grows: its size in bytes, and growth by whole pages.
pub(crate) trait GrowMemory {
    /// The size in bytes.
    fn size(&mut self) -> u64;
    /// Grows by `pages`; false if the memory cannot grow that far.
    fn grow(&mut self, pages: u64) -> bool;
    /// Zeroes `[start, end)` (inside the memory).
    fn zero(&mut self, start: u64, end: u64);
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

impl Heap {
    /// Moves the break to the memory's end if the memory changed size behind our back.
    fn sync(&mut self, memory: &mut impl GrowMemory) -> u64 {
        let size = memory.size();
        if self.seen_size != Some(size) {
            self.brk = size;
            self.seen_size = Some(size);
        }
        size
    }

    /// Makes the memory at least `end` bytes long.
    fn ensure(&mut self, memory: &mut impl GrowMemory, size: u64, end: u64) -> bool {
        if end <= size {
            return true;
        }
        if end > u64::from(u32::MAX) + 1 || !memory.grow((end - size).div_ceil(PAGE)) {
            return false;
        }
        self.seen_size = Some(memory.size());
        true
    }

    /// `__sbrk(increment)`: the old break, or [`FAILED`]. The break must be a 32-bit address,
    /// so it stays below 4 GiB: a break of 4 GiB would come back as 0, a null pointer that
    /// looks like success.
    pub(crate) fn sbrk(&mut self, memory: &mut impl GrowMemory, increment: i32) -> i32 {
        let size = self.sync(memory);
        let old = self.brk;
        let Ok(old_address) = u32::try_from(old) else {
            return FAILED;
        };
        let Some(new) = old
            .checked_add_signed(i64::from(increment))
            .filter(|new| *new >= self.floor && *new <= u64::from(u32::MAX))
        else {
            return FAILED;
        };
        if !self.ensure(memory, size, new) {
            return FAILED;
        }
        self.brk = new;
        old_address as i32
    }

    /// Anonymous `mmap` of `len` bytes: a 64 KiB-aligned address, or [`FAILED`].
    pub(crate) fn mmap(&mut self, memory: &mut impl GrowMemory, len: u32) -> i32 {
        if len == 0 {
            return FAILED;
        }
        let size = self.sync(memory);
        let start = round_up(self.brk);
        let end = start + round_up(u64::from(len));
        if !self.ensure(memory, size, end) {
            return FAILED;
        }
        // Pages below the old size may hold what an earlier munmap gave back: anonymous
        // mappings start zeroed.
        if start < size {
            memory.zero(start, end.min(size));
        }
        self.brk = end;
        start as u32 as i32
    }

    /// `munmap(addr, len)` of a range already checked to lie in memory: lowers the break if
    /// the range reaches it. Always 0.
    pub(crate) fn munmap(&mut self, memory: &mut impl GrowMemory, addr: u32, len: u32) -> i32 {
        self.sync(memory);
        let start = u64::from(addr);
        let end = start + round_up(u64::from(len));
        if start < self.brk && end >= self.brk {
            self.brk = start.max(self.floor);
        }
        0
    }

    /// Reserves `len` bytes (rounded up to whole Wasm pages) at the end of memory, growing it,
    /// for a state mapping: returns the range's start (64 KiB-aligned), or `None` if memory
    /// cannot grow that far. The break moves past the range and never goes below it again.
    pub(crate) fn reserve(&mut self, memory: &mut impl GrowMemory, len: u64) -> Option<u64> {
        if len == 0 {
            return None;
        }
        let size = self.sync(memory);
        let start = round_up(size);
        let end = start.checked_add(round_up(len))?;
        if !self.ensure(memory, size, end) {
            return None;
        }
        self.brk = end;
        self.floor = end;
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory of `pages` pages with a limit, recording zeroed ranges.
    struct Fake {
        pages: u64,
        max: u64,
        zeroed: Vec<(u64, u64)>,
    }

    impl GrowMemory for Fake {
        fn size(&mut self) -> u64 {
            self.pages * PAGE
        }
        fn grow(&mut self, pages: u64) -> bool {
            if self.pages + pages > self.max {
                return false;
            }
            self.pages += pages;
            true
        }
        fn zero(&mut self, start: u64, end: u64) {
            self.zeroed.push((start, end));
        }
    }

    fn fake(pages: u64, max: u64) -> Fake {
        Fake {
            pages,
            max,
            zeroed: Vec::new(),
        }
    }

    #[test]
    fn sbrk_moves_the_break_and_grows_memory() {
        let mut mem = fake(1, 4);
        let mut heap = Heap::default();
        assert_eq!(heap.sbrk(&mut mem, 0), 65536);
        assert_eq!(heap.sbrk(&mut mem, 100), 65536);
        assert_eq!(mem.pages, 2);
        assert_eq!(heap.sbrk(&mut mem, 0), 65636);
        assert_eq!(heap.sbrk(&mut mem, -36), 65636);
        assert_eq!(heap.sbrk(&mut mem, 0), 65600);
        // Past the limit: refused, nothing moves.
        assert_eq!(heap.sbrk(&mut mem, 3 * 65536), FAILED);
        assert_eq!(heap.sbrk(&mut mem, 0), 65600);
        assert_eq!(heap.sbrk(&mut mem, -70000), FAILED);
    }

    #[test]
    fn sbrk_fails_at_4_gib_instead_of_returning_null() {
        const FULL: u64 = 65536;
        let mut mem = fake(FULL - 1, FULL);
        let mut heap = Heap::default();
        let last_page = ((FULL - 1) * PAGE) as u32 as i32;
        assert_eq!(heap.sbrk(&mut mem, 65536), FAILED, "a break of 4 GiB");
        assert_eq!(heap.sbrk(&mut mem, 65535), last_page);
        assert_eq!(heap.sbrk(&mut mem, 1), FAILED);
        // A memory the guest grew to 4 GiB itself: the break is 4 GiB, not 0.
        let mut full = fake(FULL, FULL);
        let mut heap = Heap::default();
        assert_eq!(heap.sbrk(&mut full, 0), FAILED);
        assert_eq!(heap.sbrk(&mut full, 16), FAILED);
        assert_eq!(heap.sbrk(&mut full, -16), FAILED);
        assert_eq!(heap.mmap(&mut full, 16), FAILED);
    }

    #[test]
    fn mmap_hands_out_aligned_pages_and_munmap_gives_the_top_back() {
        let mut mem = fake(2, 8);
        let mut heap = Heap::default();
        let a = heap.mmap(&mut mem, 10);
        assert_eq!(a, 2 * 65536);
        assert_eq!(mem.pages, 3);
        let b = heap.mmap(&mut mem, 65537);
        assert_eq!(b, 3 * 65536);
        assert_eq!(mem.pages, 5);
        // Not at the top: nothing changes.
        assert_eq!(heap.munmap(&mut mem, a as u32, 10), 0);
        assert_eq!(heap.mmap(&mut mem, 1), 5 * 65536);
        // At the top: the next mmap reuses the range, zeroed.
        assert_eq!(heap.munmap(&mut mem, 5 * 65536, 1), 0);
        assert_eq!(heap.mmap(&mut mem, 100), 5 * 65536);
        assert_eq!(mem.zeroed, [(5 * 65536, 6 * 65536)]);
        assert_eq!(mem.pages, 6);
        assert_eq!(heap.mmap(&mut mem, 0), FAILED);
        assert_eq!(heap.mmap(&mut mem, 3 * 65536), FAILED);
    }

    #[test]
    fn reserved_ranges_are_never_handed_out_again() {
        let mut mem = fake(2, 16);
        let mut heap = Heap::default();
        assert_eq!(heap.sbrk(&mut mem, 100), 2 * 65536);
        let r = heap.reserve(&mut mem, 5000).unwrap();
        assert_eq!(r, 3 * 65536);
        assert_eq!(mem.pages, 4);
        // The break is past the range and stays there.
        assert_eq!(heap.sbrk(&mut mem, 0), 4 * 65536);
        assert_eq!(heap.sbrk(&mut mem, -1), FAILED);
        assert_eq!(heap.munmap(&mut mem, r as u32, 65536), 0);
        assert_eq!(heap.mmap(&mut mem, 1), 4 * 65536);
        assert_eq!(heap.munmap(&mut mem, 3 * 65536, 2 * 65536), 0);
        assert_eq!(heap.mmap(&mut mem, 1), 4 * 65536);
        assert!(mem.zeroed.iter().all(|&(s, _)| s >= 4 * 65536));
        assert_eq!(heap.reserve(&mut mem, 0), None);
        assert_eq!(heap.reserve(&mut mem, 20 * 65536), None);
    }

    #[test]
    fn growth_by_the_guest_moves_the_break() {
        let mut mem = fake(1, 8);
        let mut heap = Heap::default();
        assert_eq!(heap.sbrk(&mut mem, 8), 65536);
        mem.pages = 3; // memory.grow by the guest's own allocator
        assert_eq!(heap.sbrk(&mut mem, 0), 3 * 65536);
        assert_eq!(heap.mmap(&mut mem, 1), 3 * 65536);
    }
}
