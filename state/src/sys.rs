//! Every operating-system call of the crate that needs `unsafe`: creating the memfd that holds a
//! value on this host, shared mappings of it (and reading a socket straight into one), and the
//! socket options the Redis tier's pull uses to wait for a whole reply before touching a value,
//! and the boot-time clock of the embedded tier's lock leases.
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
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::time::Duration;

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

/// Sets a TCP socket's receive low-water mark (`SO_RCVLOWAT`): `poll` reports it readable only
/// once this many bytes are queued (or at end of stream, or on an error). Linux grows the
/// receive buffer to hold that many bytes (up to half of `net.ipv4.tcp_rmem`'s maximum), so the
/// sender is not stalled by a window smaller than the mark.
pub fn set_receive_low_water(socket: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes.max(1)).map_err(io::Error::other)?;
    // SAFETY: the descriptor is valid for the call (borrowed); the kernel reads exactly
    // `size_of::<c_int>()` bytes from the live local `value`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits up to `timeout` for `socket` to be readable (see [`set_receive_low_water`]), or
/// closed or failed; returns whether it became any of those before the timeout.
pub fn wait_readable(socket: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut entry = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: `entry` is a live local array of one `pollfd` the kernel may update.
        let rc = unsafe { libc::poll(&raw mut entry, 1, millis) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Fills `buf` with random bytes from the kernel's CSPRNG (`getrandom(2)`, blocking only until
/// it is seeded at boot).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a live, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => filled += n,
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// The time since this machine booted, suspended time included (`CLOCK_BOOTTIME`): one clock
/// for every process of the machine that no one can set, so the embedded tier's lock leases
/// (an expiry written by one process, checked by another) do not move with the wall clock.
pub fn boot_time() -> io::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one `timespec` to the live local `now`.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(now.tv_sec).map_err(io::Error::other)?;
    let nanos = u32::try_from(now.tv_nsec).map_err(io::Error::other)?;
    Ok(Duration::new(secs, nanos))
}

/// How many received bytes are queued on `socket`, not read yet (`FIONREAD`).
pub fn bytes_queued(socket: BorrowedFd<'_>) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: the descriptor is valid for the call (borrowed); FIONREAD writes one `c_int` to
    // the live local `queued`.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &raw mut queued) };
    if rc == 0 {
        usize::try_from(queued).map_err(io::Error::other)
    } else {
        Err(io::Error::last_os_error())
    }
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
// `write`) or having the kernel do so (`read_from`, `write_framed`), never handing out Rust
// references into the memory.
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

    /// Reads from `fd` (one `read(2)`) into `[offset, offset + len)` of the mapping: the kernel
    /// writes the bytes, so no Rust reference to memory that others may write concurrently is
    /// formed. Returns how many bytes were read (0 at end of stream), as `read`. Panics if the
    /// range is past the end of the mapping.
    pub fn read_from(&self, fd: BorrowedFd<'_>, offset: usize, len: usize) -> io::Result<usize> {
        self.check(offset, len);
        loop {
            // SAFETY: the range is inside our live, writable mapping (checked above) and the
            // descriptor is valid for the call (borrowed); the kernel writes at most `len` bytes
            // there, and no Rust reference into the mapping exists (see `read`).
            let n =
                unsafe { libc::read(fd.as_raw_fd(), self.ptr.as_ptr().add(offset).cast(), len) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    /// Writes `head`, then `[offset, offset + len)` of the mapping, then `tail` to `fd` with
    /// `writev(2)` (again until all is written): the kernel reads the mapping, so a value goes
    /// from the memfd to a socket with no copy through a buffer of ours and in one system call.
    /// Fails with `WriteZero` if `fd` takes nothing. Panics if the range is past the end of the
    /// mapping.
    ///
    /// What is sent is what the mapping holds while it is sent: like a `pread`, racing with
    /// concurrent writers of the memfd.
    pub fn write_framed(
        &self,
        fd: BorrowedFd<'_>,
        head: &[u8],
        (offset, len): (usize, usize),
        tail: &[u8],
    ) -> io::Result<()> {
        self.check(offset, len);
        // SAFETY: `offset` is inside the mapping (checked above), so the pointer stays in it.
        let body = unsafe { self.ptr.as_ptr().add(offset) };
        let parts = [
            (head.as_ptr(), head.len()),
            (body.cast_const(), len),
            (tail.as_ptr(), tail.len()),
        ];
        let total = head.len() + len + tail.len();
        let mut written = 0;
        while written < total {
            let (iov, count) = remaining_iovecs(&parts, written);
            // SAFETY: `iov` holds `count` entries, each a live range: of `head` or `tail`
            // (borrowed for the call) or of our mapping (checked above); the kernel only reads
            // them, and the descriptor is valid for the call (borrowed).
            let n = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), count) };
            match n {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n if n > 0 => written += n as usize,
                _ => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "range [{offset}, {offset}+{len}) is past the end of a {}-byte mapping",
            self.len
        );
    }
}

/// The `iovec`s of what is left of `parts` (pointer, length) once `skip` bytes are written, and
/// how many there are.
fn remaining_iovecs(parts: &[(*const u8, usize); 3], mut skip: usize) -> ([libc::iovec; 3], i32) {
    let empty = libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty; 3];
    let mut count = 0;
    for &(base, len) in parts {
        if skip >= len {
            skip -= len;
            continue;
        }
        iov[count] = libc::iovec {
            // Only the address is computed here (`wrapping_add`, in bounds since skip < len);
            // nothing is read until `writev`.
            iov_base: base.wrapping_add(skip).cast_mut().cast(),
            iov_len: len - skip,
        };
        skip = 0;
        count += 1;
    }
    (iov, count as i32)
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
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;

    #[test]
    fn framed_writes_of_a_mapping_survive_partial_writes() {
        use std::io::Read;
        let len = 1 << 20;
        let file = memfd("faasm-state-test", len).unwrap();
        let map = SharedMapping::new(&file, 0, len).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        map.write(0, &data);
        // A socket buffer far smaller than the payload: writev returns short counts.
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            b.read_to_end(&mut all).unwrap();
            all
        });
        map.write_framed(a.as_fd(), b"head:", (100, len - 200), b":tail")
            .unwrap();
        drop(a);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), 5 + len - 200 + 5);
        assert_eq!(&all[..5], b"head:");
        assert!(all[5..all.len() - 5] == data[100..len - 100]);
        assert_eq!(&all[all.len() - 5..], b":tail");
    }

    #[test]
    fn iovecs_skip_what_is_written() {
        let (h, b, t) = ([1u8; 3], [2u8; 10], [3u8; 2]);
        let parts = [(h.as_ptr(), 3), (b.as_ptr(), 10), (t.as_ptr(), 2)];
        for (skip, lens) in [
            (0, vec![3, 10, 2]),
            (2, vec![1, 10, 2]),
            (3, vec![10, 2]),
            (12, vec![1, 2]),
            (13, vec![2]),
            (14, vec![1]),
        ] {
            let (iov, count) = remaining_iovecs(&parts, skip);
            let got: Vec<usize> = iov[..count as usize].iter().map(|v| v.iov_len).collect();
            assert_eq!(got, lens, "skip {skip}");
        }
        let (_, count) = remaining_iovecs(&parts, 15);
        assert_eq!(count, 0);
    }

    #[test]
    fn reads_from_a_socket_into_a_mapping() {
        use std::io::Write;
        let file = memfd("faasm-state-test", 8192).unwrap();
        let map = SharedMapping::new(&file, 0, 8192).unwrap();
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.write_all(b"payload").unwrap();
        assert_eq!(map.read_from(b.as_fd(), 5000, 100).unwrap(), 7);
        let mut buf = [0u8; 9];
        file.read_exact_at(&mut buf, 4999).unwrap();
        assert_eq!(&buf, b"\0payload\0");
        drop(a);
        assert_eq!(map.read_from(b.as_fd(), 0, 10).unwrap(), 0);
    }

    #[test]
    fn low_water_mark_holds_back_readiness() {
        use std::io::Write;
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (receiver, _) = listener.accept().unwrap();
        set_receive_low_water(receiver.as_fd(), 10).unwrap();
        sender.write_all(b"12345").unwrap();
        let wait = Duration::from_millis(50);
        assert!(!wait_readable(receiver.as_fd(), wait).unwrap());
        assert_eq!(bytes_queued(receiver.as_fd()).unwrap(), 5);
        sender.write_all(b"67890").unwrap();
        assert!(wait_readable(receiver.as_fd(), Duration::from_secs(5)).unwrap());
        assert_eq!(bytes_queued(receiver.as_fd()).unwrap(), 10);
        set_receive_low_water(receiver.as_fd(), 1).unwrap();
        drop(sender);
        assert!(wait_readable(receiver.as_fd(), wait).unwrap());
    }

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
