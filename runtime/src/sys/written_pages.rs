//! Finding the pages of a range that were written, without a fault per write and without
//! walking `struct page`s: Linux's asynchronous userfaultfd write-protection
//! (`UFFD_FEATURE_WP_ASYNC`, Linux 6.7) and `PAGEMAP_SCAN` on `/proc/self/pagemap`.
//!
//! A range registered for write-protection and protected ([`track`]) has the uffd-wp bit on
//! every page-table entry (markers on entries not populated yet). The first write to a page
//! faults once; the kernel clears the bit itself (asynchronous mode: no message, no handler
//! thread, writes from the kernel on the process's behalf such as `read(2)` into the range
//! work too). [`scan_written`] then lists the pages whose bit is clear: every page written
//! since it was last protected. Reading a page never clears the bit.
//!
//! Nothing here is needed for correctness elsewhere: a range that is not registered scans as
//! written wherever a page is present, so a caller that copes with "written" pages that were
//! not is only slower. The process-wide userfaultfd is opened on first use; where the kernel
//! or a seccomp filter refuses it, [`available`] is false and callers reset pages by other
//! means.

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::OnceLock;

/// `struct uffdio_api`.
#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_range`.
#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

/// `struct uffdio_register`.
#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

/// `struct uffdio_writeprotect`.
#[repr(C)]
struct UffdioWriteProtect {
    range: UffdioRange,
    mode: u64,
}

/// `struct page_region`: `[start, end)` and the categories of its pages.
#[repr(C)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `struct pm_scan_arg`.
#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

// From the kernel's uapi headers (linux/userfaultfd.h, linux/fs.h), which the libc crate does
// not carry; the ioctl numbers are `_IOWR` of the structures above.
const UFFD_API: u64 = 0xaa;
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_API: libc::c_ulong = 0xc018_aa3f;
const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00;
const UFFDIO_WRITEPROTECT: libc::c_ulong = 0xc018_aa06;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
const PAGEMAP_SCAN: libc::c_ulong = 0xc060_6610;
const PAGE_IS_WRITTEN: u64 = 1 << 1;

/// The process's userfaultfd (write-protection only, asynchronous) and `/proc/self/pagemap`.
struct Tracker {
    uffd: File,
    pagemap: File,
}

fn tracker() -> Option<&'static Tracker> {
    static TRACKER: OnceLock<Option<Tracker>> = OnceLock::new();
    TRACKER.get_or_init(|| open_tracker().ok()).as_ref()
}

fn open_tracker() -> io::Result<Tracker> {
    // User-mode-only faults are all asynchronous write-protection needs, and such a descriptor
    // needs no privilege (`vm.unprivileged_userfaultfd` may be 0).
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK | UFFD_USER_MODE_ONLY;
    // SAFETY: userfaultfd takes flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let uffd = unsafe { File::from_raw_fd(fd as libc::c_int) };
    let mut api = UffdioApi {
        api: UFFD_API,
        features: UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes one `uffdio_api`, which `api` is.
    unsafe { ioctl(&uffd, UFFDIO_API, &mut api)? };
    let pagemap = File::open("/proc/self/pagemap")?;
    Ok(Tracker { uffd, pagemap })
}

/// Calls `ioctl(file, request, arg)`.
///
/// # Safety
/// `request` must take a pointer to a `T` and touch no memory but it and what it points to.
unsafe fn ioctl<T>(file: &File, request: libc::c_ulong, arg: &mut T) -> io::Result<libc::c_int> {
    // SAFETY: the caller pairs `request` with its structure, which is valid and exclusively
    // borrowed.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request, std::ptr::from_mut(arg)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Whether write tracking works in this process (kernel ≥ 6.7 with userfaultfd allowed).
pub(crate) fn available() -> bool {
    tracker().is_some()
}

/// Registers `[ptr, ptr + len)` for write-protection and protects all of it (see
/// [`protect`]). Registering a range again, or one whose mapping was replaced, is allowed.
///
/// # Safety
/// The range must be page-aligned and lie in mappings this crate made.
pub(crate) unsafe fn track(ptr: *mut u8, len: usize) -> io::Result<()> {
    let tracker = tracker().ok_or_else(|| io::Error::other("no userfaultfd"))?;
    let mut register = UffdioRegister {
        range: range(ptr, len),
        mode: UFFDIO_REGISTER_MODE_WP,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_REGISTER takes one `uffdio_register`; it changes no memory contents.
    unsafe { ioctl(&tracker.uffd, UFFDIO_REGISTER, &mut register)? };
    // SAFETY: forwarded to the caller.
    unsafe { protect(ptr, len) }
}

/// Marks every page of `[ptr, ptr + len)` unwritten again (write-protects it; the next write
/// to each page faults once, in the kernel). Contents do not change.
///
/// # Safety
/// The range must be page-aligned, lie in mappings this crate made, and be registered with
/// [`track`].
pub(crate) unsafe fn protect(ptr: *mut u8, len: usize) -> io::Result<()> {
    let tracker = tracker().ok_or_else(|| io::Error::other("no userfaultfd"))?;
    let mut protect = UffdioWriteProtect {
        range: range(ptr, len),
        mode: UFFDIO_WRITEPROTECT_MODE_WP,
    };
    // SAFETY: UFFDIO_WRITEPROTECT takes one `uffdio_writeprotect`; it changes page-table
    // bits, never contents, of a range the caller vouches for.
    unsafe { ioctl(&tracker.uffd, UFFDIO_WRITEPROTECT, &mut protect).map(drop) }
}

fn range(ptr: *mut u8, len: usize) -> UffdioRange {
    UffdioRange {
        start: ptr as u64,
        len: len as u64,
    }
}

/// Most regions (runs of contiguous written pages) one scan reports; a scan finding more says
/// so, and the reset discards instead. As many as the pages a reset may copy back, so that only
/// the page count limits a scan (a call into CPython writes pages scattered over its heap).
pub(crate) const MAX_REGIONS: usize = crate::pool::MAX_RESTORED_PAGES;

/// Calls `each(offset, len)` for every run of written pages of `[ptr, ptr + len)` (offsets
/// relative to `ptr`) and returns true, or returns false without calling it if more than
/// `max_pages` pages (or more than [`MAX_REGIONS`] runs) were written: the scan stopped
/// early. One system call; the kernel reads page-table entries only, never `struct page`.
pub(crate) fn scan_written(
    ptr: *mut u8,
    len: usize,
    max_pages: usize,
    mut each: impl FnMut(usize, usize),
) -> io::Result<bool> {
    let tracker = tracker().ok_or_else(|| io::Error::other("no userfaultfd"))?;
    // Not initialised: the kernel writes the entries it reports, and only those are read.
    let mut regions = [const { MaybeUninit::<PageRegion>::uninit() }; MAX_REGIONS];
    let (start, end) = (ptr as u64, ptr as u64 + len as u64);
    let mut arg = PmScanArg {
        size: size_of::<PmScanArg>() as u64,
        flags: 0,
        start,
        end,
        walk_end: 0,
        vec: regions.as_mut_ptr() as u64,
        vec_len: MAX_REGIONS as u64,
        // One page more than allowed, so that exceeding the limit shows.
        max_pages: max_pages as u64 + 1,
        category_inverted: 0,
        category_mask: PAGE_IS_WRITTEN,
        category_anyof_mask: 0,
        return_mask: PAGE_IS_WRITTEN,
    };
    // SAFETY: PAGEMAP_SCAN takes one `pm_scan_arg` and writes at most `vec_len` regions to
    // `vec`, which is `regions`, alive and unborrowed until the call returns.
    let found = unsafe { ioctl(&tracker.pagemap, PAGEMAP_SCAN, &mut arg)? } as usize;
    // SAFETY: the kernel wrote the first `found` entries (its return value), at most
    // `vec_len`; `MaybeUninit<PageRegion>` has `PageRegion`'s layout.
    let regions: &[PageRegion] =
        unsafe { std::slice::from_raw_parts(regions.as_ptr().cast(), found.min(MAX_REGIONS)) };
    let page = super::page_size() as u64;
    let pages: u64 = regions.iter().map(|r| (r.end - r.start) / page).sum();
    if arg.walk_end < end || pages > max_pages as u64 {
        return Ok(false);
    }
    for region in regions {
        each(
            (region.start - start) as usize,
            (region.end - region.start) as usize,
        );
    }
    Ok(true)
}
