//! The Rust guest SDK of faasm-rs: safe wrappers over the Faasm host interface (the `env`
//! imports of `docs/abi.md`, with the names and signatures of Faasm's own guest library), for
//! functions built with stock `rustc --target wasm32-wasip1`.
//!
//! A function is a binary: its `main` runs for each call, and its exit status is the call's
//! result (0: success; return `std::process::ExitCode::FAILURE` to fail the call). It reads its
//! input with [`input`], sets its output with [`set_output`], and may chain other calls
//! ([`chain`] by name, [`chain_this`] / [`chain_fn`] into this same module by function-table
//! index) and wait for them ([`await_call`], [`await_call_output`]).
//!
//! ```no_run
//! // The whole of a function's `main`: greets its input.
//! let name = faasm_sdk::input_string();
//! faasm_sdk::set_output(format!("Hello, {name}!").as_bytes());
//! ```
//!
//! # The `malloc` export
//!
//! [`await_call_output`] receives the callee's output in memory that the host allocates with the
//! module's *exported* `malloc`. A `wasm32-wasip1` binary exports only `memory`, `_start`,
//! `__main_void` and its `#[no_mangle]` functions: wasi-libc's `malloc` (the allocator under
//! Rust's `std` on this target) is linked but not exported, and this crate cannot export a
//! function of that name itself (a second `malloc` symbol is a duplicate-symbol link error, and a
//! library's build script cannot pass link arguments to the binaries that use it). So a
//! function that calls [`await_call_output`] must export it with one line in its own
//! `build.rs`:
//!
//! ```text
//! fn main() {
//!     println!("cargo::rustc-link-arg-bins=--export=malloc");
//! }
//! ```
//!
//! The other calls need no export. This crate uses `unsafe` only in its FFI layer ([`ffi`] and
//! the private wrappers that call it), each call with a `SAFETY` comment.
//!
//! # State
//!
//! [`state`] wraps the state table: values of the calling function's user, one copy per host
//! shared by every function on it, synchronised between hosts by explicit push and pull:
//!
//! ```no_run
//! use faasm_sdk::state;
//! state::write("counts", &[0u8; 16]);
//! state::push("counts");
//! let mut copy = [0u8; 16];
//! state::read("counts", &mut copy);
//! ```

use std::ffi::CString;
use std::fmt;

/// The raw `env` imports, exactly as the host provides them (`docs/abi.md`). Every pointer,
/// length and `int` is an `i32` on `wasm32`. Prefer the safe functions of the crate root.
///
/// Declaring an import here costs nothing: only the imports a function actually calls appear in
/// its module.
pub mod ffi {
    use std::ffi::{c_char, c_void};

    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        /// `len == 0`: the size of the call's input. Otherwise copies `min(len, size)` bytes
        /// to `buf` and returns how many.
        pub fn __faasm_read_input(buf: *mut u8, len: i32) -> i32;

        /// Sets the call's output to the `len` bytes at `ptr` (copied by the host).
        pub fn __faasm_write_output(ptr: *const u8, len: i32);

        /// Chains function `name` (NUL-terminated) of the same user with `len` bytes of input
        /// at `input`; returns the call id.
        pub fn __faasm_chain_name(name: *const c_char, input: *const u8, len: i32) -> u32;

        /// Chains this module at function-table index `func_idx`; returns the call id.
        pub fn __faasm_chain_ptr(func_idx: i32, input: *const u8, len: i32) -> u32;

        /// Blocks until call `id` ends: its result, or 1 when it failed or timed out.
        pub fn __faasm_await_call(id: u32) -> i32;

        /// As [`__faasm_await_call`], and writes to `*out_ptr` / `*out_len` a buffer (from the
        /// module's exported `malloc`, owned by the caller) holding the callee's output.
        pub fn __faasm_await_call_output(id: u32, out_ptr: *mut *mut u8, out_len: *mut i32) -> i32;

        /// Paper-era alias of [`__faasm_chain_name`].
        pub fn __faasm_chain_function(name: *const c_char, input: *const u8, len: i32) -> u32;

        /// Paper-era alias of [`__faasm_chain_ptr`].
        pub fn __faasm_chain_this(idx: i32, input: *const u8, len: i32) -> u32;

        /// Paper-era: the table index this call entered at (0 for `_start`).
        pub fn __faasm_get_idx() -> i32;

        /// `len == 0`: the value's size (0 if absent). Otherwise `len` must be the size:
        /// copies the whole value to `buf` (pulling what is not pulled) and returns the size.
        pub fn __faasm_read_state(key: *const c_char, buf: *mut u8, len: i32) -> i32;

        /// Maps the whole value (size `total_len`) into linear memory, shared with every
        /// Faaslet on the host; returns its address (the same one on repeated calls).
        pub fn __faasm_read_state_ptr(key: *const c_char, total_len: i32) -> *mut u8;

        /// Overwrites the local value with `len` bytes at `data`; marks it dirty. No push.
        pub fn __faasm_write_state(key: *const c_char, data: *const u8, len: i32);

        /// Writes `len` bytes at `off` of the value (size `total_len`); marks them dirty.
        pub fn __faasm_write_state_offset(
            key: *const c_char,
            total_len: i32,
            off: i32,
            data: *const u8,
            len: i32,
        );

        /// Copies `len` bytes from `off` of the value (size `total_len`) to `buf`.
        pub fn __faasm_read_state_offset(
            key: *const c_char,
            total_len: i32,
            off: i32,
            buf: *mut u8,
            len: i32,
        );

        /// Maps only the pages holding `[off, off + len)`; returns the address of `off`.
        pub fn __faasm_read_state_offset_ptr(
            key: *const c_char,
            total_len: i32,
            off: i32,
            len: i32,
        ) -> *mut u8;

        /// Loads the file at `path` (NUL-terminated, a WASI path) into the value; its length.
        pub fn __faasm_write_state_from_file(key: *const c_char, path: *const c_char) -> u32;

        /// Marks the whole value dirty (after writes through a pointer).
        pub fn __faasm_flag_state_dirty(key: *const c_char, total_len: i32);

        /// Marks `[off, off + len)` of the value dirty.
        pub fn __faasm_flag_state_offset_dirty(
            key: *const c_char,
            total_len: i32,
            off: i32,
            len: i32,
        );

        /// If dirty, sends the whole value to the global tier.
        pub fn __faasm_push_state(key: *const c_char);

        /// Sends only the dirty chunks, then refreshes the local copy.
        pub fn __faasm_push_state_partial(key: *const c_char);

        /// As [`__faasm_push_state_partial`], sending the bytes where `mask_key` is non-zero.
        pub fn __faasm_push_state_partial_mask(key: *const c_char, mask_key: *const c_char);

        /// Replaces the local copy with the global tier's (size `len`).
        pub fn __faasm_pull_state(key: *const c_char, len: i32);

        /// Appends `len` bytes as one element of the key's list.
        pub fn __faasm_append_state(key: *const c_char, data: *const u8, len: i32);

        /// Copies the first `n_elems` elements of the list, concatenated, to `buf`.
        pub fn __faasm_read_appended_state(
            key: *const c_char,
            buf: *mut u8,
            buf_len: i32,
            n_elems: i32,
        );

        /// Deletes the key's list.
        pub fn __faasm_clear_appended_state(key: *const c_char);

        /// Takes the host-local shared lock of the key.
        pub fn __faasm_lock_state_read(key: *const c_char);
        /// Releases the host-local shared lock of the key.
        pub fn __faasm_unlock_state_read(key: *const c_char);
        /// Takes the host-local exclusive lock of the key.
        pub fn __faasm_lock_state_write(key: *const c_char);
        /// Releases the host-local exclusive lock of the key.
        pub fn __faasm_unlock_state_write(key: *const c_char);
        /// Takes a global (all hosts) read lock of the key, shared with other readers.
        pub fn __faasm_lock_state_global_read(key: *const c_char);
        /// Releases the global read lock of the key.
        pub fn __faasm_unlock_state_global_read(key: *const c_char);
        /// Takes the global (all hosts) write lock of the key: no other holder, reader or writer.
        pub fn __faasm_lock_state_global_write(key: *const c_char);
        /// Releases the global write lock of the key.
        pub fn __faasm_unlock_state_global_write(key: *const c_char);

        /// Moves the heap break by `incr` bytes; returns the old break.
        pub fn __sbrk(incr: i32) -> *mut c_void;

        /// Anonymous mappings only: grows memory by `len` rounded up to 64 KiB; returns the
        /// address. `off` is the ABI's one `i64`.
        pub fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: i32,
            flags: i32,
            fd: i32,
            off: i64,
        ) -> *mut c_void;

        /// Releases a mapping (memory shrinks only at the top of the heap); returns 0.
        pub fn munmap(addr: *mut c_void, len: usize) -> i32;

        /// The host's configuration flag `key` (NUL-terminated); 0 when unknown.
        pub fn __faasm_conf_flag(key: *const c_char) -> u32;
    }

    // wasi-libc's allocator, which Rust's `std` links on `wasm32-wasip1`: the host's buffers of
    // `__faasm_await_call_output` come from `malloc`, so they go back with `free`.
    unsafe extern "C" {
        /// wasi-libc's `free`.
        pub fn free(ptr: *mut c_void);
    }
}

/// The id of a chained call, for [`await_call`] and [`await_call_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId(pub u32);

/// A chained call that did not succeed: it returned non-zero, trapped or timed out (the host
/// reports the last two as result 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFailed {
    /// The call.
    pub id: CallId,
    /// What `__faasm_await_call` returned (never 0).
    pub code: i32,
}

impl fmt::Display for CallFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {} failed with result {}", self.id.0, self.code)
    }
}

impl std::error::Error for CallFailed {}

/// A length as the ABI's `i32`. Guest memory is at most 4 GiB, and no single buffer a function
/// hands the host can reach 2 GiB in practice; beyond that this panics rather than truncating.
fn abi_len(len: usize) -> i32 {
    i32::try_from(len).expect("a buffer of 2 GiB or more cannot cross the Faasm ABI")
}

/// The call's whole input.
pub fn input() -> Vec<u8> {
    // SAFETY: with length 0 the host writes nothing and only returns the input's size.
    let size = unsafe { ffi::__faasm_read_input(std::ptr::null_mut(), 0) };
    let size = usize::try_from(size).unwrap_or(0);
    if size == 0 {
        return Vec::new();
    }
    let mut buffer = vec![0u8; size];
    // SAFETY: `buffer` is `size` writable bytes, and the host writes at most `size` bytes.
    let got = unsafe { ffi::__faasm_read_input(buffer.as_mut_ptr(), abi_len(size)) };
    buffer.truncate(usize::try_from(got).unwrap_or(0).min(size));
    buffer
}

/// The call's input as text; bytes that are not UTF-8 become U+FFFD.
pub fn input_string() -> String {
    String::from_utf8_lossy(&input()).into_owned()
}

/// Sets the call's output (a later call replaces it).
pub fn set_output(output: &[u8]) {
    // SAFETY: `output` is `output.len()` readable bytes; the host copies them.
    unsafe { ffi::__faasm_write_output(output.as_ptr(), abi_len(output.len())) }
}

/// Chains function `name` of the same user with `input`; returns the call's id.
///
/// # Panics
///
/// If `name` contains a NUL byte (the ABI passes it NUL-terminated).
pub fn chain(name: &str, input: &[u8]) -> CallId {
    let name = CString::new(name).expect("a function name contains no NUL byte");
    // SAFETY: `name` is a NUL-terminated string and `input` is `input.len()` readable bytes;
    // both outlive the call, and the host only reads them.
    let id =
        unsafe { ffi::__faasm_chain_name(name.as_ptr(), input.as_ptr(), abi_len(input.len())) };
    CallId(id)
}

/// Chains this same module, entering at function-table index `func_idx` instead of `_start`,
/// with `input`; returns the call's id. An entry that takes one `i32` receives the input
/// parsed as an integer; get an index with [`func_index`], or use [`chain_fn`].
pub fn chain_this(func_idx: u32, input: &[u8]) -> CallId {
    let idx = i32::try_from(func_idx).expect("a function-table index fits in an i32");
    // SAFETY: `input` is `input.len()` readable bytes that outlive the call; the host only
    // reads them.
    let id = unsafe { ffi::__faasm_chain_ptr(idx, input.as_ptr(), abi_len(input.len())) };
    CallId(id)
}

/// The function-table index of `entry` (on `wasm32` a function pointer is its table index,
/// and taking it puts the function in the table): what [`chain_this`] takes.
pub fn func_index(entry: extern "C" fn(i32) -> i32) -> u32 {
    let index = entry as usize;
    u32::try_from(index).expect("a wasm32 function pointer is a 32-bit table index")
}

/// Chains this module at `entry` with `arg` as its input (written in decimal, which is what
/// the host parses back into `entry`'s argument); returns the call's id.
pub fn chain_fn(entry: extern "C" fn(i32) -> i32, arg: i32) -> CallId {
    chain_this(func_index(entry), arg.to_string().as_bytes())
}

/// Waits for call `id` to end.
///
/// # Errors
///
/// [`CallFailed`] when the call returned non-zero, trapped or timed out.
pub fn await_call(id: CallId) -> Result<(), CallFailed> {
    // SAFETY: takes and returns plain integers.
    let code = unsafe { ffi::__faasm_await_call(id.0) };
    match code {
        0 => Ok(()),
        code => Err(CallFailed { id, code }),
    }
}

/// Waits for each call of `ids` in turn; returns the failures (empty: all succeeded).
pub fn await_all(ids: &[CallId]) -> Vec<CallFailed> {
    ids.iter().filter_map(|&id| await_call(id).err()).collect()
}

/// Waits for call `id` to end and returns its output. Needs the `malloc` export (see the crate
/// documentation).
///
/// # Errors
///
/// [`CallFailed`] when the call returned non-zero, trapped or timed out (its output, if any, is
/// dropped).
pub fn await_call_output(id: CallId) -> Result<Vec<u8>, CallFailed> {
    let mut ptr: *mut u8 = std::ptr::null_mut();
    let mut len: i32 = 0;
    // SAFETY: `ptr` and `len` are valid for writes of a pointer and an `i32`; the host writes
    // there a buffer it got from this module's `malloc` and its length.
    let code = unsafe { ffi::__faasm_await_call_output(id.0, &mut ptr, &mut len) };
    let output = if ptr.is_null() || len <= 0 {
        Vec::new()
    } else {
        let len = usize::try_from(len).unwrap_or(0);
        // SAFETY: the host wrote `len` bytes at `ptr`, a live `malloc` block of at least `len`
        // bytes that nothing else references until it is freed below.
        unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
    };
    if !ptr.is_null() {
        // SAFETY: `ptr` came from this module's `malloc` (the host's allocation for us), is
        // freed once, and the slice above was copied out before.
        unsafe { ffi::free(ptr.cast()) }
    }
    match code {
        0 => Ok(output),
        code => Err(CallFailed { id, code }),
    }
}

/// Whether the host's configuration flag `key` is set (unknown flags are not).
///
/// # Panics
///
/// If `key` contains a NUL byte.
pub fn conf_flag(key: &str) -> bool {
    let key = CString::new(key).expect("a flag name contains no NUL byte");
    // SAFETY: `key` is a NUL-terminated string that outlives the call; the host only reads it.
    unsafe { ffi::__faasm_conf_flag(key.as_ptr()) != 0 }
}

/// The state calls: values of the calling function's user (keys: at most 256 bytes of
/// `A-Z a-z 0-9 _ . : -`), one copy per host shared by every function on it, and a global tier
/// that hosts synchronise through with [`push`] and [`pull`].
///
/// A value's size is fixed by the first call that gives one; every later size must agree. The
/// host traps the call (the function fails) on any misuse: a size that does not match, a range
/// past the end, an absent value read, an unlock of a lock not held. So these functions return
/// no errors.
///
/// # Panics
///
/// Every function that takes a key panics if it contains a NUL byte, and every length must be
/// below 2 GiB.
pub mod state {
    use super::{abi_len, ffi};
    use std::ffi::CString;

    fn c_key(key: &str) -> CString {
        CString::new(key).expect("a state key contains no NUL byte")
    }

    /// The value's size in bytes, 0 if it exists nowhere.
    pub fn size(key: &str) -> usize {
        let key = c_key(key);
        // SAFETY: with length 0 the host writes nothing; `key` is NUL-terminated and lives.
        let size = unsafe { ffi::__faasm_read_state(key.as_ptr(), std::ptr::null_mut(), 0) };
        usize::try_from(size).unwrap_or(0)
    }

    /// Copies the whole value into `buf`, whose length must be the value's size.
    pub fn read(key: &str, buf: &mut [u8]) {
        let key = c_key(key);
        // SAFETY: `buf` is `buf.len()` writable bytes; the host writes at most that many.
        unsafe { ffi::__faasm_read_state(key.as_ptr(), buf.as_mut_ptr(), abi_len(buf.len())) };
    }

    /// The whole value in a new vector (empty if it exists nowhere).
    pub fn read_vec(key: &str) -> Vec<u8> {
        let size = size(key);
        let mut buf = vec![0u8; size];
        if size > 0 {
            read(key, &mut buf);
        }
        buf
    }

    /// Copies `buf.len()` bytes from `offset` of the value (of `total_len` bytes) into `buf`.
    pub fn read_at(key: &str, total_len: usize, offset: usize, buf: &mut [u8]) {
        let key = c_key(key);
        // SAFETY: `buf` is `buf.len()` writable bytes; the host writes exactly that many.
        unsafe {
            ffi::__faasm_read_state_offset(
                key.as_ptr(),
                abi_len(total_len),
                abi_len(offset),
                buf.as_mut_ptr(),
                abi_len(buf.len()),
            )
        };
    }

    /// Overwrites the whole value with `data` (creating it with that size) and marks it dirty.
    /// Nothing leaves the host until [`push`].
    pub fn write(key: &str, data: &[u8]) {
        let key = c_key(key);
        // SAFETY: `data` is `data.len()` readable bytes; the host only reads them.
        unsafe { ffi::__faasm_write_state(key.as_ptr(), data.as_ptr(), abi_len(data.len())) };
    }

    /// Writes `data` at `offset` of the value (of `total_len` bytes) and marks it dirty.
    pub fn write_at(key: &str, total_len: usize, offset: usize, data: &[u8]) {
        let key = c_key(key);
        // SAFETY: `data` is `data.len()` readable bytes; the host only reads them.
        unsafe {
            ffi::__faasm_write_state_offset(
                key.as_ptr(),
                abi_len(total_len),
                abi_len(offset),
                data.as_ptr(),
                abi_len(data.len()),
            )
        };
    }

    /// Loads the file at `path` (as the function's WASI file system names it) into the value;
    /// returns its length.
    pub fn write_from_file(key: &str, path: &str) -> usize {
        let key = c_key(key);
        let path = CString::new(path).expect("a path contains no NUL byte");
        // SAFETY: both strings are NUL-terminated and live; the host only reads them.
        unsafe { ffi::__faasm_write_state_from_file(key.as_ptr(), path.as_ptr()) as usize }
    }

    /// Marks the whole value (of `total_len` bytes) dirty, after writes through [`state_ptr`].
    pub fn flag_dirty(key: &str, total_len: usize) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe { ffi::__faasm_flag_state_dirty(key.as_ptr(), abi_len(total_len)) };
    }

    /// Marks `len` bytes from `offset` of the value dirty.
    pub fn flag_dirty_range(key: &str, total_len: usize, offset: usize, len: usize) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe {
            ffi::__faasm_flag_state_offset_dirty(
                key.as_ptr(),
                abi_len(total_len),
                abi_len(offset),
                abi_len(len),
            )
        };
    }

    /// If the value is dirty, sends all of it to the global tier.
    pub fn push(key: &str) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe { ffi::__faasm_push_state(key.as_ptr()) };
    }

    /// Sends only the dirty chunks, then refreshes the host's copy from the global tier.
    pub fn push_partial(key: &str) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe { ffi::__faasm_push_state_partial(key.as_ptr()) };
    }

    /// As [`push_partial`], sending the bytes where the value `mask_key` (same size) is
    /// non-zero.
    pub fn push_partial_mask(key: &str, mask_key: &str) {
        let (key, mask) = (c_key(key), c_key(mask_key));
        // SAFETY: both keys are NUL-terminated and live.
        unsafe { ffi::__faasm_push_state_partial_mask(key.as_ptr(), mask.as_ptr()) };
    }

    /// Replaces the host's copy (of `total_len` bytes) with the global tier's.
    pub fn pull(key: &str, total_len: usize) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe { ffi::__faasm_pull_state(key.as_ptr(), abi_len(total_len)) };
    }

    /// Appends `data` as one element of the key's list.
    pub fn append(key: &str, data: &[u8]) {
        let key = c_key(key);
        // SAFETY: `data` is `data.len()` readable bytes; the host only reads them.
        unsafe { ffi::__faasm_append_state(key.as_ptr(), data.as_ptr(), abi_len(data.len())) };
    }

    /// Copies the first `n_elems` elements of the key's list, concatenated, into `buf` (which
    /// must hold them).
    pub fn read_appended(key: &str, n_elems: usize, buf: &mut [u8]) {
        let key = c_key(key);
        // SAFETY: `buf` is `buf.len()` writable bytes; the host writes at most that many.
        unsafe {
            ffi::__faasm_read_appended_state(
                key.as_ptr(),
                buf.as_mut_ptr(),
                abi_len(buf.len()),
                abi_len(n_elems),
            )
        };
    }

    /// Deletes the key's list.
    pub fn clear_appended(key: &str) {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe { ffi::__faasm_clear_appended_state(key.as_ptr()) };
    }

    /// Which lock of a key: host-local or global (all hosts), shared (read) or exclusive
    /// (write).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Lock {
        /// The host-local shared lock.
        LocalRead,
        /// The host-local exclusive lock.
        LocalWrite,
        /// The global read lock.
        GlobalRead,
        /// The global write lock.
        GlobalWrite,
    }

    /// Takes `lock` of `key` (waiting for it, as long as the host's lock timeout: then the call
    /// fails). A call may hold each lock of a key once; the host releases what a call still
    /// holds when it ends. Prefer [`with_lock`].
    pub fn lock(key: &str, lock: Lock) {
        let key = c_key(key);
        let p = key.as_ptr();
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe {
            match lock {
                Lock::LocalRead => ffi::__faasm_lock_state_read(p),
                Lock::LocalWrite => ffi::__faasm_lock_state_write(p),
                Lock::GlobalRead => ffi::__faasm_lock_state_global_read(p),
                Lock::GlobalWrite => ffi::__faasm_lock_state_global_write(p),
            }
        }
    }

    /// Releases `lock` of `key`, which this call must hold.
    pub fn unlock(key: &str, lock: Lock) {
        let key = c_key(key);
        let p = key.as_ptr();
        // SAFETY: `key` is NUL-terminated and lives.
        unsafe {
            match lock {
                Lock::LocalRead => ffi::__faasm_unlock_state_read(p),
                Lock::LocalWrite => ffi::__faasm_unlock_state_write(p),
                Lock::GlobalRead => ffi::__faasm_unlock_state_global_read(p),
                Lock::GlobalWrite => ffi::__faasm_unlock_state_global_write(p),
            }
        }
    }

    /// Runs `f` holding `lock` of `key`, then releases it.
    pub fn with_lock<T>(key: &str, lock: Lock, f: impl FnOnce() -> T) -> T {
        self::lock(key, lock);
        let result = f();
        unlock(key, lock);
        result
    }

    /// The value `key` (of `total_len` bytes, created as zeros if it exists nowhere) mapped
    /// into this function's linear memory, shared with every function on this host that maps
    /// it: loads and stores through the pointer read and write the host's one copy, with no
    /// copy and no host call. Repeated calls for the key return the same pointer. Call
    /// [`flag_dirty`] (or [`flag_dirty_range`]) after writing if the changes are to be pushed.
    ///
    /// # Safety (of using the pointer)
    ///
    /// Getting the pointer is safe; using it is the caller's responsibility: it is valid for
    /// `total_len` bytes until the call ends (the host unmaps it then), and *other functions
    /// on the host may read and write the same bytes at any time*, so turning it into a Rust
    /// reference or slice (`&`/`&mut [u8]`) is only sound while this call holds a lock that
    /// excludes them ([`Lock::LocalWrite`] for `&mut`, [`Lock::LocalRead`] for `&`, with every
    /// writer using [`Lock::LocalWrite`]). Without locks (HOGWILD!-style updates), access it
    /// only through raw pointer reads and writes (`read_volatile`/`write_volatile`, or
    /// atomics), accepting torn values.
    pub fn state_ptr(key: &str, total_len: usize) -> *mut u8 {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives; the host returns an address in our memory.
        unsafe { ffi::__faasm_read_state_ptr(key.as_ptr(), abi_len(total_len)) }
    }

    /// The pages holding `[offset, offset + len)` of the value (of `total_len` bytes) mapped
    /// into linear memory, as [`state_ptr`] maps the whole value; returns the pointer to byte
    /// `offset`, valid for `len` bytes. The same safety rules apply.
    pub fn state_ptr_range(key: &str, total_len: usize, offset: usize, len: usize) -> *mut u8 {
        let key = c_key(key);
        // SAFETY: `key` is NUL-terminated and lives; the host returns an address in our memory.
        unsafe {
            ffi::__faasm_read_state_offset_ptr(
                key.as_ptr(),
                abi_len(total_len),
                abi_len(offset),
                abi_len(len),
            )
        }
    }

    /// Runs `f` on the mapped value `key` (of `total_len` bytes) as a mutable slice, holding
    /// the host-local write lock meanwhile (so no function that also locks sees it half
    /// written), then flags the value dirty. The safe way to update a shared value in place.
    pub fn with_state_mut<T>(key: &str, total_len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
        with_lock(key, Lock::LocalWrite, || {
            let ptr = state_ptr(key, total_len);
            // SAFETY: the host mapped `total_len` bytes at `ptr` for the rest of this call, and
            // this call holds the key's exclusive local lock, which every cooperating function
            // takes before touching the value: nothing else accesses it while the slice lives.
            let slice = unsafe { std::slice::from_raw_parts_mut(ptr, total_len) };
            let result = f(slice);
            flag_dirty(key, total_len);
            result
        })
    }
}
