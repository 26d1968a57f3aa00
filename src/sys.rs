//! The global allocator of `faasm-run`, the only `unsafe` code of this crate: glibc's `malloc`
//! until a host starts (`faasm-run serve` calls [`allocate_for_many_threads`] before it starts
//! any thread), mimalloc from then on.
//!
//! Why two: a host's threads (HTTP, workers, logs) allocate and free each other's request
//! buffers and results, on which glibc's arenas contend (mimalloc measured +18-28% requests
//! per second at 64 connections on the `http` bench). A run of one module (`faasm-run FILE`)
//! has one thread and lives a few milliseconds, and there mimalloc's first allocations were the
//! cost: a fresh page of its own per size class and the metadata of a 1 GiB arena, about 80 of
//! the 320 page faults of a hello-world run (each about 2 µs on a virtual machine), where
//! glibc packs the same allocations into a few pages of its heap.
//!
//! Every block is freed (and reallocated) by the allocator that made it, whatever the switch
//! says by then: mimalloc's page map tells its blocks from any other address. Blocks glibc made
//! before the switch (the parsed command line, for one) stay glibc's until they are freed.

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether new blocks come from mimalloc. Only ever goes from `false` to `true`.
static MIMALLOC: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    /// mimalloc's own test of ownership (`mimalloc.h`): whether `p` lies in a page mimalloc
    /// manages. A lookup in its page map, which its constructor sets up before `main`; false for
    /// any address it never handed out.
    fn mi_is_in_heap_region(p: *const c_void) -> bool;
}

/// New blocks come from mimalloc from now on: for a process about to run many threads that
/// free each other's blocks. Call it before starting them; blocks allocated earlier are not
/// moved.
pub fn allocate_for_many_threads() {
    MIMALLOC.store(true, Ordering::Release);
}

/// Whether `ptr`, a block of this allocator, was made by mimalloc. Before the switch none was,
/// and the page map is not consulted. A thread that receives a block made after the switch
/// sees the switch too: the store happened before that block's allocation, which happened
/// before the hand-over.
fn made_by_mimalloc(ptr: *mut u8) -> bool {
    // SAFETY: `mi_is_in_heap_region` only reads mimalloc's page map, for any address.
    MIMALLOC.load(Ordering::Acquire) && unsafe { mi_is_in_heap_region(ptr.cast_const().cast()) }
}

/// glibc's `malloc` until [`allocate_for_many_threads`], mimalloc after; see the module
/// documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostAllocator;

// SAFETY: every call goes to one of two allocators that meet `GlobalAlloc`'s contract, and
// every block is freed or reallocated by the allocator that made it (`made_by_mimalloc`), with
// the layout the caller gives, as that contract requires of the caller.
unsafe impl GlobalAlloc for HostAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MIMALLOC.load(Ordering::Relaxed) {
            // SAFETY: the caller's guarantees on `layout` are passed on.
            unsafe { MiMalloc.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if MIMALLOC.load(Ordering::Relaxed) {
            // SAFETY: the caller's guarantees on `layout` are passed on.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if made_by_mimalloc(ptr) {
            // SAFETY: `ptr` is a live block of mimalloc with this layout (caller's guarantee).
            unsafe { MiMalloc.dealloc(ptr, layout) }
        } else {
            // SAFETY: `ptr` is a live block of glibc with this layout (caller's guarantee).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if made_by_mimalloc(ptr) {
            // SAFETY: `ptr` is a live block of mimalloc with this layout, `new_size` valid for
            // it (caller's guarantees).
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        } else {
            // SAFETY: as above, for a block of glibc.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allocator of this crate's unit tests, so that they all run over both of its modes
    /// (the test below switches it while the others allocate).
    #[global_allocator]
    static ALLOCATOR: HostAllocator = HostAllocator;

    fn from_mimalloc<T>(value: &T) -> bool {
        // SAFETY: as in `made_by_mimalloc`; any address may be asked about.
        unsafe { mi_is_in_heap_region(std::ptr::from_ref(value).cast()) }
    }

    /// Blocks made before the switch are glibc's and stay usable (grown, freed) after it, on
    /// any thread; blocks made after it are mimalloc's; both kinds cross threads.
    #[test]
    fn blocks_are_freed_by_the_allocator_that_made_them() {
        let before: Vec<Box<[u8; 48]>> = (0..64).map(|i| Box::new([i as u8; 48])).collect();
        let mut grown = vec![1u64; 10];
        assert!(before.iter().all(|b| !from_mimalloc(&**b)));
        assert!(!from_mimalloc(&grown[0]));
        allocate_for_many_threads();
        let after: Vec<Box<[u8; 48]>> = (0..64).map(|i| Box::new([i as u8; 48])).collect();
        assert!(after.iter().all(|b| from_mimalloc(&**b)));
        grown.extend(std::iter::repeat_n(2u64, 100_000));
        assert_eq!(grown.iter().sum::<u64>(), 10 + 200_000);
        let handed_over = std::thread::scope(|s| {
            let threads: Vec<_> = [before, after]
                .into_iter()
                .map(|blocks| {
                    s.spawn(move || {
                        let total: usize = blocks.iter().map(|b| usize::from(b[47])).sum();
                        drop(blocks);
                        let made_here: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
                        (total, made_here)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect::<Vec<_>>()
        });
        for (total, made_there) in handed_over {
            assert_eq!(total, (0..64).sum::<usize>());
            assert_eq!(made_there.len(), 1000);
            assert!(from_mimalloc(&made_there[999].as_bytes()[0]));
        }
        drop(grown);
    }
}
