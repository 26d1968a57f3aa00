//! Every operating-system call of the crate that needs `unsafe`: creating the memfd that holds a
//! value on this host, and shared mappings of it.
//!
//! The local tier itself reads and writes values with `pread`/`pwrite` on the memfd (safe, through
//! [`std::os::unix::fs::FileExt`]); those see exactly what a `MAP_SHARED` mapping of the same
//! memfd sees, since both go through the same page cache. [`SharedMapping`] is the safe,
//! owned mapping the tests (and any embedder that is not the runtime) use; the runtime maps the
//! memfd into a Faaslet's slot itself with `MAP_SHARED | MAP_FIXED`.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

/// The size of an OS page: the chunk size of the local tier and the granularity of mappings.
pub fn page_size() -> usize {
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        // SAFETY: sysconf only reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|s| s.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Rounds `len` up to a whole number of OS pages, `None` on overflow.
pub fn round_up_to_page(len: usize) -> Option<usize> {
    let page = page_size();
    len.checked_add(page - 1).map(|l| l & !(page - 1))
}

/// A new close-on-exec memfd named `name` (for `/proc/PID/maps` and debugging), `len` bytes of
/// zeros. Interior NUL bytes in `name` are replaced.
pub fn memfd(name: &str, len: usize) -> io::Result<File> {
    let name = CString::new(name.replace('\0', "_")).map_err(io::Error::other)?;
    // SAFETY: memfd_create only reads the NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len as u64)?;
    Ok(file)
}

/// A `MAP_SHARED` read-write mapping of a file, unmapped on drop. Writes through it are visible
/// to every other mapping of the same file and to `pread` on it, and the other way round.
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; it has no thread affinity.
unsafe impl Send for SharedMapping {}
// SAFETY: `&SharedMapping` only allows copying bytes in and out with raw copies (see `read` and
// `write`), never handing out Rust references into the memory.
unsafe impl Sync for SharedMapping {}

impl fmt::Debug for SharedMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl SharedMapping {
    /// Maps `len` bytes of `file` from `offset` (a multiple of the page size), read-write and
    /// shared, at an address the kernel chooses. `offset + len` must not exceed the file's
    /// length rounded up to a page (touching pages past the end raises `SIGBUS`).
    pub fn new(file: &File, offset: u64, len: usize) -> io::Result<SharedMapping> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a mapping needs a length",
            ));
        }
        if !offset.is_multiple_of(page_size() as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mapping offset is not page-aligned",
            ));
        }
        let file_len = file.metadata()?.len();
        let end = offset.checked_add(len as u64);
        let limit = round_up_to_page(usize::try_from(file_len).map_err(io::Error::other)?);
        if end.is_none() || limit.is_none() || end > limit.map(|l| l as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mapping reaches past the end of the file",
            ));
        }
        let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        // SAFETY: a new shared mapping at an address the kernel chooses cannot overlap memory
        // anyone else uses; the descriptor is valid for the duration of the call.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(SharedMapping { ptr, len })
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: mappings have a length).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the first byte (for diagnostics and address comparisons only).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Copies `buf.len()` bytes from `offset` of the mapping into `buf`. Panics if the range is
    /// past the end of the mapping.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        // SAFETY: the range is inside our live mapping (checked above) and `buf` is a distinct
        // Rust buffer. Other mappings of the file may write concurrently: that is shared memory
        // between Faaslets by design, and we only copy bytes, never form references into it.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), buf.as_mut_ptr(), buf.len())
        };
    }

    /// Copies `data` to `offset` of the mapping. Panics if the range is past the end of the
    /// mapping.
    pub fn write(&self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        // SAFETY: the range is inside our live, writable mapping (checked above) and `data` is a
        // distinct Rust buffer; no Rust reference into the mapping exists (see `read`).
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "range [{offset}, {offset}+{len}) is past the end of a {}-byte mapping",
            self.len
        );
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: the range is exactly the mapping we made, and nothing can use it after drop
        // (no references into it are ever handed out).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn two_mappings_and_pread_agree() {
        let file = memfd("faasm-state-test", 10_000).unwrap();
        let len = round_up_to_page(10_000).unwrap();
        let a = SharedMapping::new(&file, 0, len).unwrap();
        let b = SharedMapping::new(&file, 0, len).unwrap();
        assert_ne!(a.addr(), b.addr());
        a.write(9_000, b"hello");
        let mut buf = [0u8; 5];
        b.read(9_000, &mut buf);
        assert_eq!(&buf, b"hello");
        file.read_exact_at(&mut buf, 9_000).unwrap();
        assert_eq!(&buf, b"hello");
        file.write_all_at(b"world", 100).unwrap();
        a.read(100, &mut buf);
        assert_eq!(&buf, b"world");
        assert!(SharedMapping::new(&file, 0, len + page_size()).is_err());
        assert!(SharedMapping::new(&file, 1, 10).is_err());
    }
}
