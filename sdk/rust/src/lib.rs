//! The Rust guest SDK of faasm-rs: safe wrappers over the Faasm host interface (the `env`
//! imports of `FAASM-ABI.md`, with the names and signatures of Faasm's own guest library), for
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

use std::ffi::CString;
use std::fmt;

/// The raw `env` imports, exactly as the host provides them (FAASM-ABI.md). Every pointer,
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

        // State (issue 8): the `__faasm_*_state*` imports of FAASM-ABI.md go here.

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
