//! Every operating-system call of the crate: virtual memory (`mmap`, `mprotect`, `madvise`,
//! `munmap`), sealed memfd images mapped copy-on-write, signal handlers, alternate signal stacks,
//! the bounds of the current thread's stack and its scheduling policy; and, in
//! [`written_pages`], which pages of a range were written.
//!
//! Wrappers that cannot break memory safety on their own (creating a fresh mapping, querying
//! state) are safe functions; those that change memory other code may be using are `unsafe fn`.

pub(crate) mod written_pages;

use std::fs::File;
use std::io;
use std::ptr;
use std::sync::OnceLock;

/// Access rights of a range of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// No access: touching the pages faults.
    None,
    /// Read and write (linear memory, code while it is being copied).
    ReadWrite,
    /// Read and execute (published code; never writable at the same time).
    ReadExec,
}

impl Protection {
    fn to_prot(self) -> libc::c_int {
        match self {
            Protection::None => libc::PROT_NONE,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Protection::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
        }
    }
}

/// The size of an OS page.
pub(crate) fn page_size() -> usize {
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
pub(crate) fn round_up_to_page(len: usize) -> Option<usize> {
    let page = page_size();
    len.checked_add(page - 1).map(|l| l & !(page - 1))
}

/// Creates a fresh private anonymous mapping of `len` bytes (a multiple of the page size).
/// `PROT_NONE` mappings are made with `MAP_NORESERVE`: they only reserve address space.
pub(crate) fn map_anonymous(len: usize, protection: Protection) -> io::Result<*mut u8> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if protection == Protection::None {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: a new anonymous mapping at an address the kernel chooses cannot overlap memory
    // anyone else uses.
    let ptr = unsafe { libc::mmap(ptr::null_mut(), len, protection.to_prot(), flags, -1, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast())
}

/// Unmaps `[ptr, ptr + len)`.
///
/// # Safety
/// The range must be (part of) a mapping this crate made, and nothing may use it afterwards.
pub(crate) unsafe fn unmap(ptr: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: the caller guarantees the range is ours and unused.
    let rc = unsafe { libc::munmap(ptr.cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Changes the access rights of `[ptr, ptr + len)`, page-aligned.
///
/// # Safety
/// The range must lie in a mapping this crate made. Removing access from memory that Rust code
/// still references makes that code fault; the caller must make sure nobody does.
pub(crate) unsafe fn protect(ptr: *mut u8, len: usize, protection: Protection) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller guarantees the range is one of our mappings and is not referenced in a
    // way the new protection breaks.
    let rc = unsafe { libc::mprotect(ptr.cast(), len, protection.to_prot()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the pages of `[ptr, ptr + len)` back to the kernel: private anonymous pages read as
/// zero afterwards.
///
/// # Safety
/// The range must lie in a private anonymous mapping this crate made, and its contents must no
/// longer be needed.
pub(crate) unsafe fn discard(ptr: *mut u8, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller guarantees the range is ours and its contents are dead.
    let rc = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The signature of a `SA_SIGINFO` signal handler.
pub(crate) type SigInfoHandler =
    unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// The signal action currently installed for `signum`.
pub(crate) fn current_action(signum: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: sigaction is plain data; all-zero is a valid (empty) value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is a valid out-pointer.
    let rc = unsafe { libc::sigaction(signum, ptr::null(), &mut old) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old)
}

/// Installs `handler` for `signum` with `SA_SIGINFO | SA_ONSTACK | SA_NODEFER`.
///
/// # Safety
/// `handler` must be async-signal-safe and handle every fault of the process correctly (forward
/// what it does not own).
pub(crate) unsafe fn install_handler(
    signum: libc::c_int,
    handler: SigInfoHandler,
) -> io::Result<()> {
    let flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // SAFETY: forwarded from the caller.
    unsafe { install(signum, handler, flags) }
}

/// Installs `handler` for `signum` with `flags` and an empty `sa_mask`.
///
/// # Safety
/// As for [`install_handler`].
unsafe fn install(
    signum: libc::c_int,
    handler: SigInfoHandler,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: sigaction is plain data; all-zero is a valid value that we fill in below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = flags;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised; the caller vouches for the handler.
    let rc = unsafe { libc::sigaction(signum, &action, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs `handler` for `signum` with `SA_SIGINFO | SA_ONSTACK | SA_RESTART`, the signal
/// itself blocked while it runs: for a signal that interrupts rather than reports a fault
/// (system calls it lands in are restarted).
///
/// # Safety
/// `handler` must be async-signal-safe and hand on what it does not own.
pub(crate) unsafe fn install_interrupt_handler(
    signum: libc::c_int,
    handler: SigInfoHandler,
) -> io::Result<()> {
    let flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: forwarded from the caller.
    unsafe { install(signum, handler, flags) }
}

/// This process's id.
pub(crate) fn process_id() -> libc::pid_t {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// The calling thread's id.
pub(crate) fn current_thread_id() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Sends `signum` to thread `tid` of process `pid` (`tgkill(2)`); a thread that has exited
/// is not an error worth reporting (the caller's registry says who is alive).
pub(crate) fn signal_thread(pid: libc::pid_t, tid: libc::pid_t, signum: libc::c_int) {
    // SAFETY: tgkill only takes ids and a signal number.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signum) };
}

/// Restores the default action of `signum`. Async-signal-safe.
pub(crate) fn reset_to_default(signum: libc::c_int) {
    // SAFETY: sigaction is plain data; all-zero with `SIG_DFL` is the default action.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `action` is a valid default action; sigaction is async-signal-safe.
    unsafe { libc::sigaction(signum, &action, ptr::null_mut()) };
}

/// Sends `signum` to the calling thread (`raise(3)`). Async-signal-safe.
pub(crate) fn raise(signum: libc::c_int) {
    // SAFETY: raise only takes a signal number.
    unsafe { libc::raise(signum) };
}

/// Adds `signum` to `set`. Async-signal-safe.
pub(crate) fn add_to_set(set: &mut libc::sigset_t, signum: libc::c_int) {
    // SAFETY: `set` is a valid, initialised sigset_t.
    unsafe { libc::sigaddset(set, signum) };
}

/// Blocks the signals of `set` in the calling thread (in addition to those blocked already);
/// returns the mask before, `None` if it could not be changed. Async-signal-safe.
pub(crate) fn block_signals(set: &libc::sigset_t) -> Option<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; all-zero is a valid value for the out-parameter.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigset_t pointers.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, &mut old) };
    (rc == 0).then_some(old)
}

/// Unblocks `signum` in the calling thread.
pub(crate) fn unblock_signal(signum: libc::c_int) {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t to initialise and add to.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signum);
    }
    // SAFETY: `set` is a valid sigset_t; a null old-mask pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut()) };
}

/// Makes `set` the calling thread's signal mask. Async-signal-safe.
pub(crate) fn set_signal_mask(set: &libc::sigset_t) {
    // SAFETY: `set` is a valid sigset_t; a null old-mask pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, set, ptr::null_mut()) };
}

/// Writes `bytes` to stderr with `write(2)`, ignoring failures. Async-signal-safe.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a live buffer of `rest.len()` bytes.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => rest = &rest[n..],
            _ => return,
        }
    }
}

/// Ends the process with SIGABRT (`abort(3)`). Async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort takes no arguments and does not return.
    unsafe { libc::abort() }
}

/// The alternate signal stack of the calling thread.
pub(crate) fn current_alt_stack() -> io::Result<libc::stack_t> {
    // SAFETY: stack_t is plain data; all-zero is valid.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new stack only queries; `old` is a valid out-pointer.
    let rc = unsafe { libc::sigaltstack(ptr::null(), &mut old) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old)
}

/// Makes `[base, base + size)` the calling thread's alternate signal stack.
///
/// # Safety
/// The range must be writable memory that stays mapped until the stack is replaced or disabled.
pub(crate) unsafe fn set_alt_stack(base: *mut u8, size: usize) -> io::Result<()> {
    let stack = libc::stack_t {
        ss_sp: base.cast(),
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: the caller guarantees the memory outlives its use as a signal stack.
    let rc = unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Disables the calling thread's alternate signal stack.
pub(crate) fn disable_alt_stack() {
    let stack = libc::stack_t {
        ss_sp: ptr::null_mut(),
        ss_flags: libc::SS_DISABLE,
        ss_size: 0,
    };
    // SAFETY: disabling the alternate stack never touches memory.
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
}

/// The lowest address of the calling thread's stack, if the OS says.
pub(crate) fn current_thread_stack_low() -> Option<usize> {
    // SAFETY: pthread_attr_t is plain data, initialised by pthread_getattr_np before use.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_self is always valid; `attr` is a valid out-pointer.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return None;
    }
    let mut low: *mut libc::c_void = ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; the out-pointers are valid.
    let rc = unsafe { libc::pthread_attr_getstack(&attr, &mut low, &mut size) };
    // SAFETY: `attr` was initialised by pthread_getattr_np and is destroyed once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    (rc == 0 && !low.is_null()).then_some(low as usize)
}

/// Puts the calling thread in the `SCHED_BATCH` policy: it keeps its share of the CPU, but
/// waking it no longer preempts the thread that woke it.
pub(crate) fn set_current_thread_batch() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid sched_param that outlives
    // the call, which only reads it and changes nothing but the thread's policy.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A new memfd named `name` of `len` bytes, zero except for `chunks` (offset, bytes), written
/// in order, then sealed against writes and resizing (`F_SEAL_WRITE | F_SEAL_GROW |
/// F_SEAL_SHRINK | F_SEAL_SEAL`) so every mapping of it sees the same contents forever. Pages
/// no chunk touches stay holes: they cost no memory.
pub(crate) fn sealed_memfd(
    name: &std::ffi::CStr,
    len: usize,
    chunks: &[(usize, &[u8])],
) -> io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::FileExt;
    // SAFETY: memfd_create only reads the NUL-terminated name.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len as u64)?;
    for (offset, bytes) in chunks {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > len) {
            return Err(io::Error::other("memfd chunk beyond the file's length"));
        }
        file.write_all_at(bytes, *offset as u64)?;
    }
    seal(&file, SEAL_ATTEMPTS, || {})?;
    Ok(file)
}

/// How many times [`sealed_memfd`] asks for its seals before it gives up.
const SEAL_ATTEMPTS: u32 = 8;

/// Seals `file` against writes and resizing. The kernel refuses `F_SEAL_WRITE` with `EBUSY`
/// while anything else holds a reference to one of the file's pages (it waits about 150 ms
/// for them first): seen under load on CI, when a 10 MiB image was sealed while another
/// test's uploads ran. Such references are transient, so up to `attempts` requests are made,
/// `between` and a growing pause (10, 20, 40 ms, ...) separating them.
fn seal(file: &File, attempts: u32, mut between: impl FnMut()) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    let mut pause = std::time::Duration::from_millis(10);
    for attempt in 1..=attempts {
        // SAFETY: F_ADD_SEALS on a descriptor `file` owns takes an integer argument.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EBUSY) || attempt == attempts {
            return Err(error);
        }
        between();
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
    Err(io::Error::from_raw_os_error(libc::EBUSY))
}

/// Reads `buf.len()` bytes of `file` from `offset`.
pub(crate) fn read_file_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Maps the first `len` bytes of `file` read-write and copy-on-write (`MAP_PRIVATE`) at exactly
/// `addr`, replacing whatever was mapped there: pages stay shared with the file until written.
///
/// # Safety
/// `[addr, addr + len)` must be page-aligned, lie in a mapping this crate made, and hold nothing
/// Rust code still references; `len` must not exceed the file's size.
pub(crate) unsafe fn map_file_private_fixed(
    addr: *mut u8,
    len: usize,
    file: &File,
) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { map_file_fixed(addr, len, file, 0, libc::MAP_PRIVATE) }
}

/// Maps `len` bytes of `file` from `offset` read-write at exactly `addr`, replacing whatever was
/// mapped there, `MAP_SHARED` (writes go to the file, every mapping sees them) or `MAP_PRIVATE`
/// (copy-on-write) as `sharing` says.
///
/// # Safety
/// As for [`map_file_private_fixed`]; `offset` must be page-aligned and `offset + len` within
/// the file.
pub(crate) unsafe fn map_file_fixed(
    addr: *mut u8,
    len: usize,
    file: &File,
    offset: u64,
    sharing: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(());
    }
    let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
    let prot = Protection::ReadWrite.to_prot();
    // SAFETY: the caller guarantees the range is ours and unreferenced; MAP_FIXED replaces it.
    let ptr = unsafe {
        libc::mmap(
            addr.cast(),
            len,
            prot,
            sharing | libc::MAP_FIXED,
            file.as_raw_fd(),
            offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replaces `[addr, addr + len)` with fresh zeroed read-write anonymous memory.
///
/// # Safety
/// As for [`map_file_private_fixed`].
pub(crate) unsafe fn map_anonymous_rw_fixed(addr: *mut u8, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
    let prot = Protection::ReadWrite.to_prot();
    // SAFETY: the caller guarantees the range is ours and unreferenced; MAP_FIXED replaces it.
    let ptr = unsafe { libc::mmap(addr.cast(), len, prot, flags, -1, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replaces `[addr, addr + len)` with fresh inaccessible anonymous memory (`PROT_NONE`,
/// `MAP_NORESERVE`): whatever was mapped there (a file image) is gone.
///
/// # Safety
/// As for [`map_file_private_fixed`].
pub(crate) unsafe fn map_anonymous_fixed(addr: *mut u8, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
    // SAFETY: the caller guarantees the range is ours and unreferenced; MAP_FIXED replaces it.
    let ptr = unsafe { libc::mmap(addr.cast(), len, libc::PROT_NONE, flags, -1, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Maps the first `len` bytes of `file` read-only and shared: a view of a sealed image's bytes
/// (reading it faults the file's pages in, sharing them with every other mapping).
pub(crate) fn map_file_read_only(file: &File, len: usize) -> io::Result<*const u8> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(ptr::NonNull::dangling().as_ptr());
    }
    // SAFETY: a new mapping at an address the kernel chooses overlaps nothing in use.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast_const().cast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A memfd of one written page, and a pipe holding a reference to that page (spliced
    /// into it), as a transient reader of the page cache would.
    fn pinned_memfd() -> (File, [libc::c_int; 2]) {
        let file = sealed_memfd_unsealed();
        let mut pipe = [0; 2];
        // SAFETY: `pipe` has room for the two descriptors pipe2(2) writes. Close-on-exec:
        // other tests start child processes meanwhile.
        let made = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(made, 0);
        let mut offset: libc::loff_t = 0;
        // SAFETY: splice moves up to 4096 bytes from the memfd at `offset` (a local it
        // updates) into the pipe's write end; both descriptors are open.
        let moved = unsafe {
            libc::splice(
                file.as_raw_fd(),
                &mut offset,
                pipe[1],
                std::ptr::null_mut(),
                4096,
                0,
            )
        };
        assert_eq!(moved, 4096, "{}", io::Error::last_os_error());
        (file, pipe)
    }

    fn sealed_memfd_unsealed() -> File {
        use std::os::fd::FromRawFd;
        use std::os::unix::fs::FileExt;
        // SAFETY: memfd_create only reads the NUL-terminated name.
        let fd = unsafe {
            libc::memfd_create(
                c"seal-test".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        assert!(fd >= 0);
        // SAFETY: a fresh descriptor nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        file.write_all_at(&[7; 4096], 0).expect("write");
        file
    }

    /// Empties the pipe (dropping its page references) and closes it.
    fn drain(pipe: [libc::c_int; 2]) {
        let mut buf = [0u8; 4096];
        // SAFETY: reads into `buf`, of its length, from the pipe's read end; then closes
        // both ends, which nothing else uses.
        unsafe {
            assert_eq!(
                libc::read(pipe[0], buf.as_mut_ptr().cast(), buf.len()),
                4096
            );
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
    }

    #[test]
    fn a_page_held_elsewhere_delays_the_seal_until_it_is_let_go() {
        let (file, pipe) = pinned_memfd();
        let mut pipe = Some(pipe);
        let mut waits = 0;
        seal(&file, 3, || {
            waits += 1;
            if let Some(pipe) = pipe.take() {
                drain(pipe);
            }
        })
        .expect("sealed once the pipe let go of the page");
        assert_eq!(waits, 1, "the first request met the held page");
    }
}
