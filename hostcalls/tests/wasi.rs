//! WASI preview1 end to end: WAT guests compiled by our JIT and run by our runtime call the
//! real host functions. Most tests use a proxy guest that re-exports every WASI import, so the
//! test drives each call with exact arguments and inspects guest memory; a few are whole
//! programs (`_start`) that do what a C or Rust guest would.

use faasm_hostcalls::types::{
    eventtype, fdflags, filetype, fstflags, lookupflags, oflags, rights, whence,
};
use faasm_hostcalls::{
    Errno, Input, Output, ReadPipe, SeededRandom, WasiCtx, WasiCtxBuilder, WasiHandle, WritePipe,
    add_to_linker, signatures,
};
use faasm_runtime::{Engine, Instance, Linker, Memory, Module, Store, Trap, Val, ValType};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

/// A fresh host directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "faasm-hostcalls-wasi-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path.canonicalize().unwrap())
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Guest addresses the tests use.
const PATH_A: u32 = 1024;
const PATH_B: u32 = 2048;
const IOVS: u32 = 3072;
const OUT: u32 = 4096;
const OUT2: u32 = 4160;
const DATA: u32 = 8192;
/// The proxy's memory: two pages.
const MEMORY_SIZE: u32 = 2 * 65536;

/// The preopen's descriptor in every test context that has one.
const ROOT: u32 = 3;

fn errno(e: Errno) -> i32 {
    i32::from(e.raw())
}

/// A module importing every WASI function and exporting a wrapper of the same name and type.
fn proxy_wat() -> String {
    let mut imports = String::new();
    let mut wrappers = String::new();
    for (name, ty) in signatures() {
        let params: Vec<String> = ty.params.iter().map(ValType::to_string).collect();
        let params = params.join(" ");
        let result = if ty.results.is_empty() {
            ""
        } else {
            "(result i32)"
        };
        let gets: String = (0..ty.params.len())
            .map(|i| format!("local.get {i} "))
            .collect();
        imports += &format!(
            "(import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param {params}) {result}))\n"
        );
        wrappers +=
            &format!("(func (export \"{name}\") (param {params}) {result} {gets} call ${name})\n");
    }
    format!("(module\n{imports}(memory (export \"memory\") 2)\n{wrappers})")
}

/// A guest instance with WASI linked, and the handle to its context.
struct Guest {
    store: Store,
    instance: Instance,
    memory: Option<Memory>,
    wasi: WasiHandle,
}

impl Guest {
    fn with_wat(ctx: WasiCtx, wat: &str) -> Guest {
        let engine = Engine::default();
        let mut store = Store::new(&engine);
        let mut linker = Linker::new();
        let wasi = add_to_linker(&mut linker, &mut store, ctx);
        let wasm = wat::parse_str(wat).expect("valid wat");
        let module = Module::new(&engine, &wasm).expect("compiles");
        let instance = linker.instantiate(&mut store, &module).expect("links");
        let memory = instance.get_memory(&store, "memory");
        Guest {
            store,
            instance,
            memory,
            wasi,
        }
    }

    fn proxy(ctx: WasiCtx) -> Guest {
        Guest::with_wat(ctx, &proxy_wat())
    }

    /// Calls export `name`.
    fn invoke(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Trap> {
        let func = self
            .instance
            .get_func(&self.store, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        func.call(&mut self.store, args)
    }

    /// Calls WASI function `name` (through the proxy) and returns its errno.
    fn call(&mut self, name: &str, args: &[Val]) -> i32 {
        match self.invoke(name, args) {
            Ok(results) => match results.as_slice() {
                [Val::I32(errno)] => *errno,
                other => panic!("{name} returned {other:?}"),
            },
            Err(trap) => panic!("{name} trapped: {trap}"),
        }
    }

    fn mem(&mut self) -> &mut [u8] {
        self.memory.expect("memory").data_mut(&mut self.store)
    }

    fn write(&mut self, at: u32, bytes: &[u8]) {
        let at = at as usize;
        self.mem()[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn read(&mut self, at: u32, len: usize) -> Vec<u8> {
        let at = at as usize;
        self.mem()[at..at + len].to_vec()
    }

    fn u32_at(&mut self, at: u32) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }

    fn u64_at(&mut self, at: u32) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }

    /// Writes `path` at `at` and returns the `(ptr, len)` arguments for it.
    fn path(&mut self, at: u32, path: &str) -> [Val; 2] {
        self.write(at, path.as_bytes());
        [Val::I32(at as i32), Val::I32(path.len() as i32)]
    }

    /// `path_open` relative to `dir`, returning the new descriptor or the errno.
    fn open_with(
        &mut self,
        dir: u32,
        path: &str,
        lookup: u32,
        open: u16,
        base: u64,
        fd_flags: u16,
    ) -> Result<u32, i32> {
        let [ptr, len] = self.path(PATH_A, path);
        let args = [
            Val::I32(dir as i32),
            Val::I32(lookup as i32),
            ptr,
            len,
            Val::I32(i32::from(open)),
            Val::I64(base as i64),
            Val::I64(rights::ALL as i64),
            Val::I32(i32::from(fd_flags)),
            Val::I32(OUT as i32),
        ];
        match self.call("path_open", &args) {
            0 => Ok(self.u32_at(OUT)),
            e => Err(e),
        }
    }

    /// Opens a file for reading and writing, following links.
    fn open(&mut self, path: &str, open: u16) -> Result<u32, i32> {
        let base = rights::REGULAR_FILE_BASE;
        self.open_with(ROOT, path, lookupflags::SYMLINK_FOLLOW, open, base, 0)
    }

    fn open_dir(&mut self, path: &str) -> Result<u32, i32> {
        let base = rights::DIRECTORY_BASE;
        let flags = lookupflags::SYMLINK_FOLLOW;
        self.open_with(ROOT, path, flags, oflags::DIRECTORY, base, 0)
    }

    /// Writes `data` through one iovec; returns errno and bytes written.
    fn write_fd(&mut self, fd: u32, data: &[u8]) -> (i32, u32) {
        self.write(DATA, data);
        self.write(IOVS, &iovec(DATA, data.len() as u32));
        let args = [fd, IOVS, 1, OUT].map(|v| Val::I32(v as i32));
        (self.call("fd_write", &args), self.u32_at(OUT))
    }

    /// Reads up to `len` bytes through one iovec.
    fn read_fd(&mut self, fd: u32, len: u32) -> Result<Vec<u8>, i32> {
        self.write(IOVS, &iovec(DATA, len));
        let args = [fd, IOVS, 1, OUT].map(|v| Val::I32(v as i32));
        match self.call("fd_read", &args) {
            0 => {
                let n = self.u32_at(OUT) as usize;
                Ok(self.read(DATA, n))
            }
            e => Err(e),
        }
    }

    fn seek(&mut self, fd: u32, offset: i64, how: u8) -> Result<u64, i32> {
        let args = [
            Val::I32(fd as i32),
            Val::I64(offset),
            Val::I32(i32::from(how)),
            Val::I32(OUT as i32),
        ];
        match self.call("fd_seek", &args) {
            0 => Ok(self.u64_at(OUT)),
            e => Err(e),
        }
    }

    fn close(&mut self, fd: u32) -> i32 {
        self.call("fd_close", &[Val::I32(fd as i32)])
    }

    /// A call taking `(fd, path_ptr, path_len)`.
    fn path_call(&mut self, name: &str, dir: u32, path: &str) -> i32 {
        let [ptr, len] = self.path(PATH_A, path);
        self.call(name, &[Val::I32(dir as i32), ptr, len])
    }

    /// `path_filestat_get` relative to the root, returning the 64-byte filestat.
    fn stat(&mut self, path: &str, lookup: u32) -> Result<Vec<u8>, i32> {
        self.stat_at(ROOT, path, lookup)
    }

    /// `path_filestat_get` relative to `dir`.
    fn stat_at(&mut self, dir: u32, path: &str, lookup: u32) -> Result<Vec<u8>, i32> {
        let [ptr, len] = self.path(PATH_A, path);
        let args = [
            Val::I32(dir as i32),
            Val::I32(lookup as i32),
            ptr,
            len,
            Val::I32(DATA as i32),
        ];
        match self.call("path_filestat_get", &args) {
            0 => Ok(self.read(DATA, 64)),
            e => Err(e),
        }
    }

    fn rename(&mut self, from: &str, to: &str) -> i32 {
        self.rename_at(ROOT, from, ROOT, to)
    }

    /// `path_rename` from `from` under `from_dir` to `to` under `to_dir`.
    fn rename_at(&mut self, from_dir: u32, from: &str, to_dir: u32, to: &str) -> i32 {
        let [a, a_len] = self.path(PATH_A, from);
        let [b, b_len] = self.path(PATH_B, to);
        let (old, new) = (Val::I32(from_dir as i32), Val::I32(to_dir as i32));
        self.call("path_rename", &[old, a, a_len, new, b, b_len])
    }

    fn link(&mut self, from: &str, to: &str, lookup: u32) -> i32 {
        self.link_at(ROOT, from, ROOT, to, lookup)
    }

    /// `path_link` from `from` under `from_dir` to `to` under `to_dir`.
    fn link_at(&mut self, from_dir: u32, from: &str, to_dir: u32, to: &str, lookup: u32) -> i32 {
        let [a, a_len] = self.path(PATH_A, from);
        let [b, b_len] = self.path(PATH_B, to);
        let (old, new) = (Val::I32(from_dir as i32), Val::I32(to_dir as i32));
        let lookup = Val::I32(lookup as i32);
        self.call("path_link", &[old, lookup, a, a_len, new, b, b_len])
    }

    fn symlink(&mut self, target: &str, link: &str) -> i32 {
        self.symlink_at(target, ROOT, link)
    }

    /// `path_symlink` making `link` under `dir`.
    fn symlink_at(&mut self, target: &str, dir: u32, link: &str) -> i32 {
        let [a, a_len] = self.path(PATH_A, target);
        let [b, b_len] = self.path(PATH_B, link);
        self.call("path_symlink", &[a, a_len, Val::I32(dir as i32), b, b_len])
    }

    fn readlink(&mut self, path: &str, buf_len: u32) -> Result<Vec<u8>, i32> {
        self.readlink_at(ROOT, path, buf_len)
    }

    /// `path_readlink` relative to `dir`.
    fn readlink_at(&mut self, dir: u32, path: &str, buf_len: u32) -> Result<Vec<u8>, i32> {
        let [ptr, len] = self.path(PATH_A, path);
        let rest = [DATA, buf_len, OUT].map(|v| Val::I32(v as i32));
        match self.call(
            "path_readlink",
            &[Val::I32(dir as i32), ptr, len, rest[0], rest[1], rest[2]],
        ) {
            0 => {
                let n = self.u32_at(OUT) as usize;
                Ok(self.read(DATA, n))
            }
            e => Err(e),
        }
    }

    /// `path_filestat_set_times` of `path` under `dir` to the given times (both set).
    fn set_times_at(&mut self, dir: u32, path: &str, lookup: u32, atim: u64, mtim: u64) -> i32 {
        let [ptr, len] = self.path(PATH_A, path);
        let flags = Val::I32(i32::from(fstflags::ATIM | fstflags::MTIM));
        let times = [Val::I64(atim as i64), Val::I64(mtim as i64)];
        let args = [Val::I32(dir as i32), Val::I32(lookup as i32), ptr, len];
        self.call(
            "path_filestat_set_times",
            &[
                args[0], args[1], args[2], args[3], times[0], times[1], flags,
            ],
        )
    }

    /// The names `fd_readdir` lists for `fd`, `.` and `..` left out.
    fn names(&mut self, fd: u32) -> Vec<String> {
        let bytes = self.readdir(fd, 60000, 0);
        parse_dirents(&bytes)
            .into_iter()
            .map(|(_, name, _)| name)
            .filter(|name| name != "." && name != "..")
            .collect()
    }

    /// `fd_readdir` into a buffer of `buf_len` bytes from `cookie`: the bytes used.
    fn readdir(&mut self, fd: u32, buf_len: u32, cookie: u64) -> Vec<u8> {
        let args = [
            Val::I32(fd as i32),
            Val::I32(DATA as i32),
            Val::I32(buf_len as i32),
            Val::I64(cookie as i64),
            Val::I32(OUT as i32),
        ];
        assert_eq!(self.call("fd_readdir", &args), 0);
        let used = self.u32_at(OUT) as usize;
        self.read(DATA, used)
    }
}

fn iovec(ptr: u32, len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&ptr.to_le_bytes());
    out[4..].copy_from_slice(&len.to_le_bytes());
    out
}

/// A context whose root preopen (fd 3, guest name `/`) is `dir`, with captured stdout/stderr.
fn ctx_with_root(dir: &Path) -> WasiCtxBuilder {
    WasiCtx::builder().preopen_dir(dir, "/")
}

/// A proxy guest over a fresh root directory.
fn fs_guest() -> (TempDir, Guest) {
    let dir = TempDir::new();
    let guest = Guest::proxy(ctx_with_root(&dir.0).build().unwrap());
    (dir, guest)
}

/// Parses `fd_readdir` output into `(d_next, name, d_type)` of the entries that are whole.
fn parse_dirents(mut bytes: &[u8]) -> Vec<(u64, String, u8)> {
    let mut out = Vec::new();
    while bytes.len() >= 24 {
        let next = u64::from_le_bytes(bytes[0..8].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        let ty = bytes[20];
        if bytes.len() < 24 + len {
            break;
        }
        out.push((
            next,
            String::from_utf8(bytes[24..24 + len].to_vec()).unwrap(),
            ty,
        ));
        bytes = &bytes[24 + len..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Whole programs
// ---------------------------------------------------------------------------------------------

const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, stdout\n")
  (data (i32.const 32) "and stderr\n")
  (func (export "_start")
    ;; iovec at 0: {16, 14}; iovec at 8: {32, 11}
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 14))
    (i32.store (i32.const 8) (i32.const 32))
    (i32.store (i32.const 12) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))
    (drop (call $fd_write (i32.const 2) (i32.const 8) (i32.const 1) (i32.const 100)))))"#;

#[test]
fn a_program_writes_to_captured_stdout_and_stderr() {
    let (stdout, stderr) = (WritePipe::new(), WritePipe::new());
    let ctx = WasiCtx::builder()
        .stdout(Output::Pipe(stdout.clone()))
        .stderr(Output::Pipe(stderr.clone()))
        .build()
        .unwrap();
    let mut guest = Guest::with_wat(ctx, HELLO);
    guest.invoke("_start", &[]).unwrap();
    assert_eq!(stdout.contents(), b"hello, stdout\n");
    assert_eq!(stderr.contents(), b"and stderr\n");
}

#[test]
fn a_captured_output_limit_gives_enospc() {
    let stdout = WritePipe::with_limit(4);
    let ctx = WasiCtx::builder()
        .stdout(Output::Pipe(stdout.clone()))
        .build()
        .unwrap();
    let mut guest = Guest::proxy(ctx);
    assert_eq!(guest.write_fd(1, b"abc"), (0, 3));
    assert_eq!(guest.write_fd(1, b"de").0, errno(Errno::NoSpc));
    assert_eq!(stdout.contents(), b"abc");
}

const EXIT: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start") (call $exit (i32.const 42)) unreachable))"#;

#[test]
fn proc_exit_reaches_the_caller_as_an_exit_trap() {
    let mut guest = Guest::with_wat(WasiCtx::builder().build().unwrap(), EXIT);
    assert_eq!(guest.invoke("_start", &[]), Err(Trap::Exit(42)));
    // The instance stays usable after the landing pad.
    assert_eq!(guest.invoke("_start", &[]), Err(Trap::Exit(42)));
}

#[test]
fn proc_exit_through_the_proxy_keeps_the_code_bits() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    assert_eq!(
        guest.invoke("proc_exit", &[Val::I32(0)]),
        Err(Trap::Exit(0))
    );
    assert_eq!(
        guest.invoke("proc_exit", &[Val::I32(-1)]),
        Err(Trap::Exit(-1))
    );
}

/// Copies its argv strings to stdout, then its environ strings.
const ECHO_ARGS_ENV: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (result i32)
    (if (call $args_sizes (i32.const 16) (i32.const 20)) (then (return (i32.const 1))))
    (if (call $args_get (i32.const 1024) (i32.const 2048)) (then (return (i32.const 2))))
    (call $print (i32.const 2048) (i32.load (i32.const 20)))
    (if (call $env_sizes (i32.const 16) (i32.const 20)) (then (return (i32.const 3))))
    (if (call $env_get (i32.const 1536) (i32.const 4096)) (then (return (i32.const 4))))
    (call $print (i32.const 4096) (i32.load (i32.const 20)))
    ;; argc / env count as a result check: argv[1] must point right after "prog\0".
    (i32.load (i32.const 1028))))"#;

#[test]
fn args_and_environment_round_trip_through_a_program() {
    let stdout = WritePipe::new();
    let ctx = WasiCtx::builder()
        .args(["prog", "arg one", "ünïcode"])
        .env("HOME", "/home/guest")
        .env("EMPTY", "")
        .stdout(Output::Pipe(stdout.clone()))
        .build()
        .unwrap();
    let mut guest = Guest::with_wat(ctx, ECHO_ARGS_ENV);
    assert_eq!(guest.invoke("_start", &[]), Ok(vec![Val::I32(2048 + 5)]));
    let expected = "prog\0arg one\0ünïcode\0HOME=/home/guest\0EMPTY=\0";
    assert_eq!(String::from_utf8(stdout.contents()).unwrap(), expected);
}

#[test]
fn the_host_can_swap_the_context_between_calls() {
    let first = WritePipe::new();
    let ctx = WasiCtx::builder()
        .stdout(Output::Pipe(first.clone()))
        .build()
        .unwrap();
    let mut guest = Guest::with_wat(ctx, HELLO);
    guest.invoke("_start", &[]).unwrap();
    let second = WritePipe::new();
    let next = WasiCtx::builder()
        .stdout(Output::Pipe(second.clone()))
        .build()
        .unwrap();
    guest.wasi.replace(next);
    guest.invoke("_start", &[]).unwrap();
    assert_eq!(first.contents(), b"hello, stdout\n");
    assert_eq!(second.contents(), b"hello, stdout\n");
}

#[test]
fn args_sizes_with_none() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    let args = [OUT, OUT2].map(|v| Val::I32(v as i32));
    assert_eq!(guest.call("args_sizes_get", &args), 0);
    assert_eq!((guest.u32_at(OUT), guest.u32_at(OUT2)), (0, 0));
    assert_eq!(guest.call("environ_sizes_get", &args), 0);
    assert_eq!(guest.call("args_get", &args), 0);
}

/// Opens `out.txt` (creating it), writes to it, closes it: what `fopen`/`fputs` come to.
const WRITE_FILE: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "out.txt")
  (data (i32.const 128) "written by wasm")
  (func (export "_start") (result i32)
    (local $errno i32)
    ;; path_open(3, follow, "out.txt", creat|trunc, rights: fd_write|fd_read|seek|tell)
    (local.set $errno (call $path_open (i32.const 3) (i32.const 1) (i32.const 64) (i32.const 7)
      (i32.const 9) (i64.const 102) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $errno) (then (return (local.get $errno))))
    (i32.store (i32.const 0) (i32.const 128))
    (i32.store (i32.const 4) (i32.const 15))
    (local.set $errno (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 20)))
    (if (local.get $errno) (then (return (local.get $errno))))
    (call $fd_close (i32.load (i32.const 16)))))"#;

#[test]
fn a_program_creates_and_writes_a_file() {
    let dir = TempDir::new();
    let mut guest = Guest::with_wat(ctx_with_root(&dir.0).build().unwrap(), WRITE_FILE);
    assert_eq!(guest.invoke("_start", &[]), Ok(vec![Val::I32(0)]));
    assert_eq!(
        std::fs::read(dir.path("out.txt")).unwrap(),
        b"written by wasm"
    );
}

/// Sleeps `ms` through a relative monotonic clock subscription.
const SLEEP: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "sleep_ms") (param $ms i32) (result i32)
    (i64.store (i32.const 0) (i64.const 0xfeed))                   ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))                        ;; eventtype clock
    (i32.store (i32.const 16) (i32.const 1))                        ;; monotonic
    (i64.store (i32.const 24) (i64.mul (i64.extend_i32_u (local.get $ms)) (i64.const 1000000)))
    (i64.store (i32.const 32) (i64.const 0))                        ;; precision
    (i32.store16 (i32.const 40) (i32.const 0))                      ;; relative
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    ;; 1 event, with our userdata and no error
    (i32.and
      (i32.and (i32.eq (i32.load (i32.const 128)) (i32.const 1))
               (i64.eq (i64.load (i32.const 64)) (i64.const 0xfeed)))
      (i32.eqz (i32.load16_u (i32.const 72))))))"#;

#[test]
fn poll_oneoff_sleeps_at_least_the_requested_time() {
    let mut guest = Guest::with_wat(WasiCtx::builder().build().unwrap(), SLEEP);
    let started = Instant::now();
    assert_eq!(
        guest.invoke("sleep_ms", &[Val::I32(50)]),
        Ok(vec![Val::I32(1)])
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn a_sleep_ends_at_the_call_deadline_as_a_timeout() {
    let mut guest = Guest::with_wat(WasiCtx::builder().build().unwrap(), SLEEP);
    guest.store.set_timeout(Some(Duration::from_millis(100)));
    let started = Instant::now();
    assert_eq!(
        guest.invoke("sleep_ms", &[Val::I32(5000)]),
        Err(Trap::timeout())
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A timeout too long for the clock is no deadline, and no panic.
    guest.store.set_timeout(Some(Duration::MAX));
    assert_eq!(
        guest.invoke("sleep_ms", &[Val::I32(10)]),
        Ok(vec![Val::I32(1)])
    );
}

#[test]
fn a_read_of_a_silent_fifo_ends_at_the_call_deadline() {
    use std::os::unix::fs::OpenOptionsExt;
    let (dir, mut guest) = fs_guest();
    let fifo = dir.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("running mkfifo");
    assert!(made.success());
    // A writer that stays open and never writes (opening read-write does not wait for a
    // reader).
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let fd = guest.open("fifo", 0).unwrap();
    guest.store.set_timeout(Some(Duration::from_millis(200)));
    // Polling for it waits until the deadline too.
    let mut sub = [0u8; 48];
    sub[8] = eventtype::FD_READ;
    sub[16..20].copy_from_slice(&fd.to_le_bytes());
    guest.write(DATA, &sub);
    let poll = [DATA, DATA + 1024, 1, OUT].map(|v| Val::I32(v as i32));
    let started = Instant::now();
    assert_eq!(guest.invoke("poll_oneoff", &poll), Err(Trap::timeout()));
    guest.write(IOVS, &iovec(DATA, 16));
    let read = [fd, IOVS, 1, OUT].map(|v| Val::I32(v as i32));
    assert_eq!(guest.invoke("fd_read", &read), Err(Trap::timeout()));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Bytes that come are read (and polled) at once, as much as there is.
    std::io::Write::write_all(&mut &writer, b"hi").unwrap();
    assert_eq!(guest.call("poll_oneoff", &poll), 0);
    assert_eq!(guest.u64_at(DATA + 1024 + 16), 2);
    assert_eq!(guest.read_fd(fd, 16), Ok(b"hi".to_vec()));
}

/// Opening a FIFO that has no writer blocked in `open(2)` for ever, past any deadline: the open
/// returns at once now, and the read waits until the deadline.
#[test]
fn an_open_of_a_fifo_without_a_writer_does_not_wait() {
    let (dir, mut guest) = fs_guest();
    let fifo = dir.path("lonely");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("running mkfifo");
    assert!(made.success());
    guest.store.set_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    // On the old code the open never returned: run it on a thread and give up after 5 s
    // (opening the FIFO for writing then releases it).
    let opener = std::thread::spawn(move || {
        let fd = guest.open("lonely", 0).unwrap();
        guest.write(IOVS, &iovec(DATA, 16));
        let read = [fd, IOVS, 1, OUT].map(|v| Val::I32(v as i32));
        tx.send(guest.invoke("fd_read", &read)).unwrap();
    });
    let outcome = rx.recv_timeout(Duration::from_secs(5));
    if outcome.is_err() {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    opener.join().unwrap();
    assert_eq!(outcome, Ok(Err(Trap::timeout())));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn poll_oneoff_absolute_realtime_deadline() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    // Subscription at DATA: realtime, absolute, 30 ms from now.
    let now_args = [Val::I32(0), Val::I64(1), Val::I32(OUT as i32)];
    assert_eq!(guest.call("clock_time_get", &now_args), 0);
    let deadline = guest.u64_at(OUT) + 30_000_000;
    let mut sub = [0u8; 48];
    sub[0] = 5;
    sub[8] = eventtype::CLOCK;
    sub[24..32].copy_from_slice(&deadline.to_le_bytes());
    sub[40] = 1; // abstime
    guest.write(DATA, &sub);
    let started = Instant::now();
    let args = [DATA, DATA + 1024, 1, OUT].map(|v| Val::I32(v as i32));
    assert_eq!(guest.call("poll_oneoff", &args), 0);
    assert!(started.elapsed() >= Duration::from_millis(25));
    assert_eq!(guest.u32_at(OUT), 1);
    assert_eq!(guest.u64_at(DATA + 1024), 5);
}

#[test]
fn poll_oneoff_reports_ready_files_and_streams_at_once() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"0123456789").unwrap();
    let fd = guest.open("f", 0).unwrap();
    let mut subs = Vec::new();
    for (userdata, kind, fd) in [
        (1u64, eventtype::FD_READ, fd),
        (2, eventtype::FD_WRITE, 1),
        (3, eventtype::FD_READ, 99),
    ] {
        let mut sub = [0u8; 48];
        sub[0..8].copy_from_slice(&userdata.to_le_bytes());
        sub[8] = kind;
        sub[16..20].copy_from_slice(&fd.to_le_bytes());
        subs.extend_from_slice(&sub);
    }
    // And a clock an hour away, which must not be waited for.
    let mut clock = [0u8; 48];
    clock[0] = 4;
    clock[16] = 1;
    clock[24..32].copy_from_slice(&3_600_000_000_000u64.to_le_bytes());
    subs.extend_from_slice(&clock);
    guest.write(DATA, &subs);
    let args = [DATA, DATA + 1024, 4, OUT].map(|v| Val::I32(v as i32));
    assert_eq!(guest.call("poll_oneoff", &args), 0);
    assert_eq!(guest.u32_at(OUT), 3);
    let event = |guest: &mut Guest, i: u32| {
        let at = DATA + 1024 + i * 32;
        (
            guest.u64_at(at),
            guest.read(at + 8, 2),
            guest.u64_at(at + 16),
        )
    };
    assert_eq!(event(&mut guest, 0), (1, vec![0, 0], 10));
    assert_eq!(event(&mut guest, 1).0, 2);
    let (userdata, error, _) = event(&mut guest, 2);
    assert_eq!(userdata, 3);
    assert_eq!(
        i32::from(u16::from_le_bytes([error[0], error[1]])),
        errno(Errno::BadF)
    );
}

// ---------------------------------------------------------------------------------------------
// Clocks, random, misc
// ---------------------------------------------------------------------------------------------

#[test]
fn clocks_are_monotonic_and_have_resolutions() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    let mut last = 0;
    for _ in 0..100 {
        let args = [Val::I32(1), Val::I64(1), Val::I32(OUT as i32)];
        assert_eq!(guest.call("clock_time_get", &args), 0);
        let now = guest.u64_at(OUT);
        assert!(now >= last);
        last = now;
    }
    for clock in 0..4 {
        let args = [Val::I32(clock), Val::I64(0), Val::I32(OUT as i32)];
        assert_eq!(guest.call("clock_time_get", &args), 0, "clock {clock}");
        let args = [Val::I32(clock), Val::I32(OUT as i32)];
        assert_eq!(guest.call("clock_res_get", &args), 0);
        assert!(guest.u64_at(OUT) > 0);
    }
    let realtime = [Val::I32(0), Val::I64(0), Val::I32(OUT as i32)];
    guest.call("clock_time_get", &realtime);
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(since_epoch.abs_diff(guest.u64_at(OUT)) < 5_000_000_000);
    let bad = [Val::I32(4), Val::I64(0), Val::I32(OUT as i32)];
    assert_eq!(guest.call("clock_time_get", &bad), errno(Errno::Inval));
}

#[test]
fn random_get_fills_the_buffer() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    guest.write(DATA, &[0u8; 4096]);
    let args = [Val::I32(DATA as i32), Val::I32(4096)];
    assert_eq!(guest.call("random_get", &args), 0);
    let bytes = guest.read(DATA, 4096);
    let zeros = bytes.iter().filter(|&&b| b == 0).count();
    assert!(zeros < 64, "{zeros} zero bytes out of 4096");
    assert_eq!(guest.call("random_get", &[Val::I32(0), Val::I32(0)]), 0);
}

#[test]
fn seeded_random_is_deterministic_through_the_guest() {
    let run = || {
        let ctx = WasiCtx::builder()
            .random(SeededRandom::new(1))
            .build()
            .unwrap();
        let mut guest = Guest::proxy(ctx);
        assert_eq!(
            guest.call("random_get", &[Val::I32(DATA as i32), Val::I32(32)]),
            0
        );
        guest.read(DATA, 32)
    };
    assert_eq!(run(), run());
}

#[test]
fn sched_yield_proc_raise_and_sockets() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    assert_eq!(guest.call("sched_yield", &[]), 0);
    assert_eq!(
        guest.call("proc_raise", &[Val::I32(6)]),
        errno(Errno::NoSys)
    );
    // No descriptor is a socket: `ENOTSOCK` for stdin (fd 0), a preopen and a file, as
    // Wasmtime answers; `EBADF` for a closed descriptor.
    let dir = TempDir::new();
    std::fs::write(dir.path("f"), b"f").unwrap();
    let mut guest = Guest::proxy(ctx_with_root(&dir.0).build().unwrap());
    let file = guest.open("f", 0).unwrap();
    let args = |fd: u32, n: usize| {
        let mut args = vec![Val::I32(0); n];
        args[0] = Val::I32(fd as i32);
        args
    };
    for fd in [0, ROOT, file] {
        let not_sock = errno(Errno::NotSock);
        assert_eq!(guest.call("sock_accept", &args(fd, 3)), not_sock);
        assert_eq!(guest.call("sock_recv", &args(fd, 6)), not_sock);
        assert_eq!(guest.call("sock_send", &args(fd, 5)), not_sock);
        assert_eq!(guest.call("sock_shutdown", &args(fd, 2)), not_sock);
    }
    assert_eq!(
        guest.call("sock_shutdown", &args(77, 2)),
        errno(Errno::BadF)
    );
}

// ---------------------------------------------------------------------------------------------
// Standard streams
// ---------------------------------------------------------------------------------------------

#[test]
fn stdin_from_a_pipe() {
    let input = ReadPipe::from_bytes("line one\nline two\n");
    let ctx = WasiCtx::builder()
        .stdin(Input::Pipe(input.clone()))
        .build()
        .unwrap();
    let mut guest = Guest::proxy(ctx);
    assert_eq!(guest.read_fd(0, 9).unwrap(), b"line one\n");
    assert_eq!(guest.read_fd(0, 100).unwrap(), b"line two\n");
    assert_eq!(guest.read_fd(0, 100).unwrap(), b"");
    input.push(b"more");
    assert_eq!(guest.read_fd(0, 100).unwrap(), b"more");
    // Streams do not seek.
    assert_eq!(guest.seek(0, 0, whence::SET), Err(errno(Errno::SPipe)));
    assert_eq!(guest.write_fd(0, b"x").0, errno(Errno::BadF));
}

#[test]
fn null_stdio_reads_nothing_and_drops_writes() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    assert_eq!(guest.read_fd(0, 10).unwrap(), b"");
    assert_eq!(guest.write_fd(1, b"gone"), (0, 4));
    assert_eq!(guest.write_fd(2, b"gone"), (0, 4));
}

#[test]
fn stdio_fdstat_is_a_stream() {
    let mut guest = Guest::proxy(WasiCtx::builder().build().unwrap());
    assert_eq!(
        guest.call("fd_fdstat_get", &[Val::I32(1), Val::I32(OUT as i32)]),
        0
    );
    let stat = guest.read(OUT, 24);
    let base = u64::from_le_bytes(stat[8..16].try_into().unwrap());
    assert_eq!(base & (rights::FD_SEEK | rights::FD_TELL), 0);
    assert_ne!(base & rights::FD_WRITE, 0);
}

#[test]
fn gathered_writes_and_scattered_reads() {
    let stdout = WritePipe::new();
    let ctx = WasiCtx::builder()
        .stdout(Output::Pipe(stdout.clone()))
        .stdin(Input::Pipe(ReadPipe::from_bytes("abcdefgh")))
        .build()
        .unwrap();
    let mut guest = Guest::proxy(ctx);
    guest.write(DATA, b"Hello, world");
    let mut iovs = Vec::new();
    iovs.extend_from_slice(&iovec(DATA, 5));
    iovs.extend_from_slice(&iovec(DATA + 5, 0));
    iovs.extend_from_slice(&iovec(DATA + 5, 7));
    guest.write(IOVS, &iovs);
    let args = [1, IOVS, 3, OUT].map(|v| Val::I32(v as i32));
    assert_eq!(guest.call("fd_write", &args), 0);
    assert_eq!(guest.u32_at(OUT), 12);
    assert_eq!(stdout.contents(), b"Hello, world");
    // Read into two buffers of 3 and 10 bytes: 3 + 5.
    let mut iovs = Vec::new();
    iovs.extend_from_slice(&iovec(DATA + 100, 3));
    iovs.extend_from_slice(&iovec(DATA + 200, 10));
    guest.write(IOVS, &iovs);
    let args = [0, IOVS, 2, OUT].map(|v| Val::I32(v as i32));
    assert_eq!(guest.call("fd_read", &args), 0);
    assert_eq!(guest.u32_at(OUT), 8);
    assert_eq!(guest.read(DATA + 100, 3), b"abc");
    assert_eq!(guest.read(DATA + 200, 5), b"defgh");
}

// ---------------------------------------------------------------------------------------------
// Bad pointers
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_pointers_are_efault_not_crashes() {
    let stdout = WritePipe::new();
    let dir = TempDir::new();
    let ctx = ctx_with_root(&dir.0)
        .stdout(Output::Pipe(stdout.clone()))
        .args(["prog"])
        .build()
        .unwrap();
    let mut guest = Guest::proxy(ctx);
    let fault = errno(Errno::Fault);
    let end = MEMORY_SIZE as i32;
    // An iovec array past the end, and one whose buffer runs past it or wraps around.
    assert_eq!(
        guest.call("fd_write", &[1, end - 4, 1, OUT as i32].map(Val::I32)),
        fault
    );
    guest.write(IOVS, &iovec(MEMORY_SIZE - 2, 4));
    assert_eq!(
        guest.call("fd_write", &[1, IOVS as i32, 1, OUT as i32].map(Val::I32)),
        fault
    );
    guest.write(IOVS, &iovec(u32::MAX - 1, 4));
    assert_eq!(
        guest.call("fd_write", &[1, IOVS as i32, 1, OUT as i32].map(Val::I32)),
        fault
    );
    guest.write(IOVS, &iovec(DATA, 4));
    assert_eq!(
        guest.call(
            "fd_write",
            &[1, IOVS as i32, i32::MAX, OUT as i32].map(Val::I32)
        ),
        fault
    );
    // A bad result pointer: nothing is written at all.
    assert_eq!(
        guest.call("fd_write", &[1, IOVS as i32, 1, -1].map(Val::I32)),
        fault
    );
    assert!(stdout.contents().is_empty());
    // Strings and result pointers of other calls.
    assert_eq!(guest.call("args_get", &[Val::I32(-4), Val::I32(0)]), fault);
    assert_eq!(
        guest.call("args_sizes_get", &[Val::I32(end), Val::I32(0)]),
        fault
    );
    assert_eq!(
        guest.call("random_get", &[Val::I32(end - 1), Val::I32(2)]),
        fault
    );
    assert_eq!(
        guest.call(
            "clock_time_get",
            &[Val::I32(1), Val::I64(0), Val::I32(end - 7)]
        ),
        fault
    );
    assert_eq!(
        guest.call(
            "path_create_directory",
            &[ROOT as i32, end - 1, 5].map(Val::I32)
        ),
        fault
    );
    assert_eq!(
        guest.call("fd_prestat_dir_name", &[ROOT as i32, end, 1].map(Val::I32)),
        fault
    );
    assert_eq!(
        guest.call("fd_fdstat_get", &[1, end - 23].map(Val::I32)),
        fault
    );
    let poll = [Val::I32(end - 47), Val::I32(0), Val::I32(1), Val::I32(0)];
    assert_eq!(guest.call("poll_oneoff", &poll), fault);
    assert_eq!(
        guest.call(
            "fd_readdir",
            &[
                Val::I32(ROOT as i32),
                Val::I32(end - 10),
                Val::I32(11),
                Val::I64(0),
                Val::I32(OUT as i32)
            ]
        ),
        fault
    );
    // A path that is not UTF-8.
    guest.write(PATH_A, &[0xff, 0xfe]);
    let bad = [ROOT as i32, PATH_A as i32, 2].map(Val::I32);
    assert_eq!(
        guest.call("path_create_directory", &bad),
        errno(Errno::IlSeq)
    );
}

const NO_MEMORY: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (func (export "write") (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "close") (result i32) (call $fd_close (i32.const 1))))"#;

#[test]
fn a_guest_without_memory_gets_efault_for_any_pointer() {
    let mut guest = Guest::with_wat(WasiCtx::builder().build().unwrap(), NO_MEMORY);
    assert_eq!(
        guest.invoke("write", &[]),
        Ok(vec![Val::I32(errno(Errno::Fault))])
    );
    assert_eq!(guest.invoke("close", &[]), Ok(vec![Val::I32(0)]));
}

// ---------------------------------------------------------------------------------------------
// Preopens
// ---------------------------------------------------------------------------------------------

#[test]
fn preopens_are_listed_from_fd_3_until_ebadf() {
    let (a, b) = (TempDir::new(), TempDir::new());
    let ctx = WasiCtx::builder()
        .preopen_dir(&a.0, "/")
        .preopen_dir(&b.0, "/data/in")
        .build()
        .unwrap();
    let mut guest = Guest::proxy(ctx);
    let mut names = Vec::new();
    for fd in 3.. {
        match guest.call("fd_prestat_get", &[Val::I32(fd), Val::I32(OUT as i32)]) {
            0 => {}
            e => {
                assert_eq!(e, errno(Errno::BadF));
                break;
            }
        }
        assert_eq!(guest.read(OUT, 1), [0]); // preopentype dir
        let len = guest.u32_at(OUT + 4);
        let args = [Val::I32(fd), Val::I32(DATA as i32), Val::I32(len as i32)];
        assert_eq!(guest.call("fd_prestat_dir_name", &args), 0);
        names.push(String::from_utf8(guest.read(DATA, len as usize)).unwrap());
        let short = [
            Val::I32(fd),
            Val::I32(DATA as i32),
            Val::I32(len as i32 - 1),
        ];
        assert_eq!(
            guest.call("fd_prestat_dir_name", &short),
            errno(Errno::NameTooLong)
        );
    }
    assert_eq!(names, ["/", "/data/in"]);
    assert_eq!(
        guest.call("fd_prestat_get", &[Val::I32(1), Val::I32(OUT as i32)]),
        errno(Errno::BadF)
    );
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

#[test]
fn create_write_seek_tell_read() {
    let (dir, mut guest) = fs_guest();
    let fd = guest
        .open("notes.txt", oflags::CREAT | oflags::EXCL)
        .unwrap();
    assert_eq!(guest.write_fd(fd, b"hello world"), (0, 11));
    let tell = |guest: &mut Guest| {
        assert_eq!(
            guest.call("fd_tell", &[Val::I32(fd as i32), Val::I32(OUT as i32)]),
            0
        );
        guest.u64_at(OUT)
    };
    assert_eq!(tell(&mut guest), 11);
    assert_eq!(guest.seek(fd, 6, whence::SET), Ok(6));
    assert_eq!(guest.read_fd(fd, 100).unwrap(), b"world");
    assert_eq!(guest.seek(fd, -5, whence::END), Ok(6));
    assert_eq!(guest.seek(fd, -2, whence::CUR), Ok(4));
    assert_eq!(guest.read_fd(fd, 3).unwrap(), b"o w");
    assert_eq!(guest.seek(fd, -100, whence::CUR), Err(errno(Errno::Inval)));
    assert_eq!(guest.seek(fd, 0, 3), Err(errno(Errno::Inval)));
    assert_eq!(tell(&mut guest), 7);
    assert_eq!(guest.close(fd), 0);
    assert_eq!(guest.close(fd), errno(Errno::BadF));
    assert_eq!(
        std::fs::read(dir.path("notes.txt")).unwrap(),
        b"hello world"
    );
    // EXCL on an existing file.
    assert_eq!(
        guest.open("notes.txt", oflags::CREAT | oflags::EXCL),
        Err(errno(Errno::Exist))
    );
    assert_eq!(guest.open("missing", 0), Err(errno(Errno::NoEnt)));
}

#[test]
fn pread_and_pwrite_leave_the_position_alone() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"0123456789").unwrap();
    let fd = guest.open("f", 0).unwrap();
    guest.write(DATA, b"AB");
    guest.write(IOVS, &iovec(DATA, 2));
    let pwrite = [
        Val::I32(fd as i32),
        Val::I32(IOVS as i32),
        Val::I32(1),
        Val::I64(4),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_pwrite", &pwrite), 0);
    assert_eq!(guest.u32_at(OUT), 2);
    guest.write(IOVS, &iovec(DATA + 100, 6));
    let pread = [
        Val::I32(fd as i32),
        Val::I32(IOVS as i32),
        Val::I32(1),
        Val::I64(2),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_pread", &pread), 0);
    assert_eq!(guest.u32_at(OUT), 6);
    assert_eq!(guest.read(DATA + 100, 6), b"23AB67");
    // Past the end: 0 bytes.
    let past = [
        Val::I32(fd as i32),
        Val::I32(IOVS as i32),
        Val::I32(1),
        Val::I64(1000),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_pread", &past), 0);
    assert_eq!(guest.u32_at(OUT), 0);
    assert_eq!(guest.seek(fd, 0, whence::CUR), Ok(0));
    assert_eq!(std::fs::read(dir.path("f")).unwrap(), b"0123AB6789");
    // Not on a stream.
    let on_stdout = [
        Val::I32(1),
        Val::I32(IOVS as i32),
        Val::I32(1),
        Val::I64(0),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_pwrite", &on_stdout), errno(Errno::SPipe));
}

#[test]
fn append_mode_writes_at_the_end_and_can_be_switched() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("log"), b"one\n").unwrap();
    let base = rights::REGULAR_FILE_BASE;
    let fd = guest
        .open_with(ROOT, "log", 0, 0, base, fdflags::APPEND)
        .unwrap();
    assert_eq!(guest.seek(fd, 0, whence::SET), Ok(0));
    assert_eq!(guest.write_fd(fd, b"two\n"), (0, 4));
    assert_eq!(std::fs::read(dir.path("log")).unwrap(), b"one\ntwo\n");
    assert_eq!(
        guest.call(
            "fd_fdstat_get",
            &[Val::I32(fd as i32), Val::I32(OUT as i32)]
        ),
        0
    );
    assert_eq!(guest.read(OUT + 2, 2), [fdflags::APPEND as u8, 0]);
    assert_eq!(guest.read(OUT, 1), [filetype::REGULAR_FILE]);
    // Turn append off: writes go to the position again.
    assert_eq!(
        guest.call("fd_fdstat_set_flags", &[Val::I32(fd as i32), Val::I32(0)]),
        0
    );
    assert_eq!(guest.seek(fd, 0, whence::SET), Ok(0));
    assert_eq!(guest.write_fd(fd, b"ONE"), (0, 3));
    assert_eq!(std::fs::read(dir.path("log")).unwrap(), b"ONE\ntwo\n");
    assert_eq!(
        guest.call("fd_fdstat_set_flags", &[Val::I32(fd as i32), Val::I32(64)]),
        errno(Errno::Inval)
    );
}

#[test]
fn truncate_allocate_and_set_size() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"some content").unwrap();
    let fd = guest.open("f", oflags::TRUNC).unwrap();
    assert_eq!(std::fs::metadata(dir.path("f")).unwrap().len(), 0);
    let fdv = Val::I32(fd as i32);
    assert_eq!(
        guest.call("fd_allocate", &[fdv, Val::I64(10), Val::I64(20)]),
        0
    );
    assert_eq!(std::fs::metadata(dir.path("f")).unwrap().len(), 30);
    assert_eq!(
        guest.call("fd_allocate", &[fdv, Val::I64(0), Val::I64(5)]),
        0
    );
    assert_eq!(std::fs::metadata(dir.path("f")).unwrap().len(), 30);
    assert_eq!(guest.call("fd_filestat_set_size", &[fdv, Val::I64(7)]), 0);
    assert_eq!(
        guest.call("fd_filestat_get", &[fdv, Val::I32(DATA as i32)]),
        0
    );
    assert_eq!(guest.u64_at(DATA + 32), 7);
    assert_eq!(guest.read(DATA + 16, 1), [filetype::REGULAR_FILE]);
    assert_eq!(
        guest.call("fd_filestat_set_size", &[fdv, Val::I64(-1)]),
        errno(Errno::Inval)
    );
    assert_eq!(
        guest.call("fd_allocate", &[fdv, Val::I64(i64::MAX), Val::I64(1)]),
        errno(Errno::FBig)
    );
    assert_eq!(
        guest.call("fd_advise", &[fdv, Val::I64(0), Val::I64(0), Val::I32(4)]),
        0
    );
    assert_eq!(
        guest.call("fd_advise", &[fdv, Val::I64(0), Val::I64(0), Val::I32(6)]),
        errno(Errno::Inval)
    );
    assert_eq!(guest.call("fd_sync", &[fdv]), 0);
    assert_eq!(guest.call("fd_datasync", &[fdv]), 0);
    assert_eq!(guest.call("fd_sync", &[Val::I32(ROOT as i32)]), 0);
    assert_eq!(guest.call("fd_sync", &[Val::I32(1)]), errno(Errno::Inval));
}

#[test]
fn rights_limit_what_a_descriptor_does() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("ro"), b"read only").unwrap();
    let fd = guest
        .open_with(ROOT, "ro", 0, 0, rights::FD_READ | rights::FD_SEEK, 0)
        .unwrap();
    assert_eq!(guest.write_fd(fd, b"x").0, errno(Errno::NotCapable));
    assert_eq!(guest.read_fd(fd, 4).unwrap(), b"read");
    // Rights can be dropped, not regained.
    let fdv = Val::I32(fd as i32);
    assert_eq!(
        guest.call(
            "fd_fdstat_set_rights",
            &[fdv, Val::I64(rights::FD_SEEK as i64), Val::I64(0)]
        ),
        0
    );
    assert_eq!(guest.read_fd(fd, 4), Err(errno(Errno::NotCapable)));
    let regain = [fdv, Val::I64(rights::FD_READ as i64), Val::I64(0)];
    assert_eq!(
        guest.call("fd_fdstat_set_rights", &regain),
        errno(Errno::NotCapable)
    );
    assert_eq!(std::fs::read(dir.path("ro")).unwrap(), b"read only");
    // A directory without PATH_OPEN cannot open anything.
    let sub = guest.open_dir(".").unwrap();
    let only_readdir = [
        Val::I32(sub as i32),
        Val::I64(rights::FD_READDIR as i64),
        Val::I64(0),
    ];
    assert_eq!(guest.call("fd_fdstat_set_rights", &only_readdir), 0);
    assert_eq!(
        guest.open_with(sub, "ro", 0, 0, rights::FD_READ, 0),
        Err(errno(Errno::NotCapable))
    );
}

#[test]
fn file_and_path_times() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("t"), b"").unwrap();
    let fd = guest.open("t", 0).unwrap();
    let (atim, mtim) = (1_000_000_000_123u64, 2_000_000_000_456u64);
    let set = [
        Val::I32(fd as i32),
        Val::I64(atim as i64),
        Val::I64(mtim as i64),
        Val::I32(1 | 4),
    ];
    assert_eq!(guest.call("fd_filestat_set_times", &set), 0);
    let stat = guest.stat("t", 0).unwrap();
    let at = |i: usize| u64::from_le_bytes(stat[i..i + 8].try_into().unwrap());
    assert_eq!((at(40), at(48)), (atim, mtim));
    // Path variant: only the modification time, to "now".
    let [ptr, len] = guest.path(PATH_A, "t");
    let set_now = [
        Val::I32(ROOT as i32),
        Val::I32(0),
        ptr,
        len,
        Val::I64(0),
        Val::I64(0),
        Val::I32(8),
    ];
    assert_eq!(guest.call("path_filestat_set_times", &set_now), 0);
    let stat = guest.stat("t", 0).unwrap();
    let at = |i: usize| u64::from_le_bytes(stat[i..i + 8].try_into().unwrap());
    assert_eq!(at(40), atim);
    assert!(at(48) > mtim);
    // ATIM together with ATIM_NOW is invalid.
    let both = [
        Val::I32(fd as i32),
        Val::I64(0),
        Val::I64(0),
        Val::I32(1 | 2),
    ];
    assert_eq!(
        guest.call("fd_filestat_set_times", &both),
        errno(Errno::Inval)
    );
}

#[test]
fn renumber_moves_a_descriptor() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("a"), b"A").unwrap();
    std::fs::write(dir.path("b"), b"B").unwrap();
    let a = guest.open("a", 0).unwrap();
    let b = guest.open("b", 0).unwrap();
    assert_eq!(
        guest.call("fd_renumber", &[Val::I32(a as i32), Val::I32(b as i32)]),
        0
    );
    assert_eq!(guest.read_fd(b, 1).unwrap(), b"A");
    assert_eq!(guest.read_fd(a, 1), Err(errno(Errno::BadF)));
    assert_eq!(
        guest.call("fd_renumber", &[Val::I32(b as i32), Val::I32(99)]),
        errno(Errno::BadF)
    );
    // The lowest free number is reused.
    assert_eq!(guest.open("a", 0), Ok(a));
}

#[test]
fn too_many_open_files_is_emfile() {
    let dir = TempDir::new();
    std::fs::write(dir.path("f"), b"").unwrap();
    let mut guest = Guest::proxy(ctx_with_root(&dir.0).max_open_files(6).build().unwrap());
    assert_eq!(guest.open("f", 0), Ok(4));
    assert_eq!(guest.open("f", 0), Ok(5));
    assert_eq!(guest.open("f", 0), Err(errno(Errno::MFile)));
}

// ---------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------

#[test]
fn create_list_and_remove_directories() {
    let (dir, mut guest) = fs_guest();
    assert_eq!(guest.path_call("path_create_directory", ROOT, "sub"), 0);
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "sub"),
        errno(Errno::Exist)
    );
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "sub/inner/"),
        0
    );
    assert!(dir.path("sub/inner").is_dir());
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "nope/inner"),
        errno(Errno::NoEnt)
    );
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "."),
        errno(Errno::Exist)
    );
    std::fs::write(dir.path("sub/file"), b"12345").unwrap();
    assert_eq!(
        guest.path_call("path_remove_directory", ROOT, "sub"),
        errno(Errno::NotEmpty)
    );
    assert_eq!(
        guest.path_call("path_remove_directory", ROOT, "sub/file"),
        errno(Errno::NotDir)
    );
    assert_eq!(
        guest.path_call("path_remove_directory", ROOT, "."),
        errno(Errno::Inval)
    );
    assert_eq!(
        guest.path_call("path_remove_directory", ROOT, "sub/.."),
        errno(Errno::Inval)
    );
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "sub/inner"),
        errno(Errno::IsDir)
    );
    assert_eq!(
        guest.path_call("path_remove_directory", ROOT, "sub/inner"),
        0
    );
    assert_eq!(guest.path_call("path_unlink_file", ROOT, "sub/file"), 0);
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "sub/file"),
        errno(Errno::NoEnt)
    );
    assert_eq!(guest.path_call("path_remove_directory", ROOT, "sub"), 0);
    assert!(!dir.path("sub").exists());
    assert!(dir.0.is_dir(), "the root itself survives");
}

#[test]
fn readdir_lists_entries_with_cookies_and_types() {
    let (dir, mut guest) = fs_guest();
    std::fs::create_dir(dir.path("d")).unwrap();
    std::fs::write(dir.path("b.txt"), b"").unwrap();
    std::fs::write(dir.path("a.txt"), b"").unwrap();
    std::os::unix::fs::symlink("a.txt", dir.path("c.link")).unwrap();
    let fd = guest.open_dir(".").unwrap();
    let entries = parse_dirents(&guest.readdir(fd, 4096, 0));
    let names: Vec<&str> = entries.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, [".", "..", "a.txt", "b.txt", "c.link", "d"]);
    let cookies: Vec<u64> = entries.iter().map(|(c, _, _)| *c).collect();
    assert_eq!(cookies, [1, 2, 3, 4, 5, 6]);
    let types: Vec<u8> = entries.iter().map(|(_, _, t)| *t).collect();
    use filetype::*;
    assert_eq!(
        types,
        [
            DIRECTORY,
            DIRECTORY,
            REGULAR_FILE,
            REGULAR_FILE,
            SYMBOLIC_LINK,
            DIRECTORY
        ]
    );
    // From cookie 3 on.
    let rest = parse_dirents(&guest.readdir(fd, 4096, 3));
    assert_eq!(
        rest.iter().map(|(_, n, _)| n.as_str()).collect::<Vec<_>>(),
        ["b.txt", "c.link", "d"]
    );
    // A small buffer: filled completely, the last entry cut.
    let small = guest.readdir(fd, 60, 0);
    assert_eq!(small.len(), 60);
    assert_eq!(parse_dirents(&small).len(), 2);
    // Past the end: nothing.
    assert!(guest.readdir(fd, 4096, 6).is_empty());
}

#[test]
fn readdir_in_small_chunks_sees_every_entry_once() {
    let (dir, mut guest) = fs_guest();
    for i in 0..40 {
        std::fs::write(dir.path(&format!("file-{i:02}")), b"").unwrap();
    }
    let fd = guest.open_dir(".").unwrap();
    let (mut cookie, mut seen) = (0u64, Vec::new());
    loop {
        let bytes = guest.readdir(fd, 100, cookie);
        let entries = parse_dirents(&bytes);
        for (next, name, _) in &entries {
            seen.push(name.clone());
            cookie = *next;
        }
        if bytes.len() < 100 {
            break;
        }
    }
    assert_eq!(seen.len(), 42);
    assert_eq!(seen[2], "file-00");
    assert_eq!(seen[41], "file-39");
}

#[test]
fn readdir_on_a_file_is_enotdir_and_directories_refuse_writes() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"").unwrap();
    std::fs::create_dir(dir.path("d")).unwrap();
    let fd = guest.open("f", 0).unwrap();
    let args = [
        Val::I32(fd as i32),
        Val::I32(DATA as i32),
        Val::I32(100),
        Val::I64(0),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_readdir", &args), errno(Errno::NotDir));
    assert_eq!(guest.open("d", 0), Err(errno(Errno::IsDir)));
    assert_eq!(guest.open_dir("f"), Err(errno(Errno::NotDir)));
    let d = guest.open_dir("d").unwrap();
    assert_eq!(guest.read_fd(d, 1), Err(errno(Errno::IsDir)));
    assert_eq!(
        guest.call("fd_fdstat_get", &[Val::I32(d as i32), Val::I32(OUT as i32)]),
        0
    );
    assert_eq!(guest.read(OUT, 1), [filetype::DIRECTORY]);
    // Paths resolve relative to the directory descriptor.
    assert_eq!(
        guest
            .open_with(d, "new", 0, oflags::CREAT, rights::FD_WRITE, 0)
            .map(|_| ()),
        Ok(())
    );
    assert!(dir.path("d/new").is_file());
}

// ---------------------------------------------------------------------------------------------
// Rename, link, symlink, stat
// ---------------------------------------------------------------------------------------------

#[test]
fn rename_moves_files_and_directories() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("a"), b"A").unwrap();
    std::fs::create_dir(dir.path("d")).unwrap();
    assert_eq!(guest.rename("a", "d/b"), 0);
    assert_eq!(std::fs::read(dir.path("d/b")).unwrap(), b"A");
    assert_eq!(guest.rename("d", "e"), 0);
    assert!(dir.path("e/b").is_file());
    assert_eq!(guest.rename("missing", "x"), errno(Errno::NoEnt));
    assert_eq!(guest.rename("e", "e/inside"), errno(Errno::Inval));
    assert_eq!(guest.rename(".", "x"), errno(Errno::Busy));
}

#[test]
fn hard_links_share_the_inode() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("orig"), b"data").unwrap();
    assert_eq!(guest.link("orig", "copy", 0), 0);
    let a = guest.stat("orig", 0).unwrap();
    let b = guest.stat("copy", 0).unwrap();
    assert_eq!(a[8..16], b[8..16]); // ino
    assert_eq!(u64::from_le_bytes(a[24..32].try_into().unwrap()), 2); // nlink
    assert_eq!(guest.link("orig", "copy", 0), errno(Errno::Exist));
    std::fs::create_dir(dir.path("d")).unwrap();
    assert_eq!(guest.link("d", "d2", 0), errno(Errno::Perm));
}

#[test]
fn symlinks_are_created_read_and_followed() {
    let (dir, mut guest) = fs_guest();
    std::fs::create_dir(dir.path("d")).unwrap();
    std::fs::write(dir.path("d/target"), b"through the link").unwrap();
    assert_eq!(guest.symlink("d/target", "link"), 0);
    assert_eq!(guest.symlink("../d", "d/up"), 0);
    assert_eq!(guest.symlink("x", "link"), errno(Errno::Exist));
    assert_eq!(guest.readlink("link", 100).unwrap(), b"d/target");
    assert_eq!(guest.readlink("link", 3).unwrap(), b"d/t");
    assert_eq!(guest.readlink("d/target", 100), Err(errno(Errno::Inval)));
    let fd = guest.open("link", 0).unwrap();
    assert_eq!(guest.read_fd(fd, 100).unwrap(), b"through the link");
    let fd = guest.open("d/up/up/up/target", 0).unwrap();
    assert_eq!(guest.read_fd(fd, 7).unwrap(), b"through");
    // Without SYMLINK_FOLLOW a final link is not opened (O_NOFOLLOW), but stat sees it.
    let base = rights::FD_READ;
    assert_eq!(
        guest.open_with(ROOT, "link", 0, 0, base, 0),
        Err(errno(Errno::Loop))
    );
    assert_eq!(guest.stat("link", 0).unwrap()[16], filetype::SYMBOLIC_LINK);
    assert_eq!(
        guest.stat("link", lookupflags::SYMLINK_FOLLOW).unwrap()[16],
        filetype::REGULAR_FILE
    );
    // Unlinking the link leaves the target.
    assert_eq!(guest.path_call("path_unlink_file", ROOT, "link"), 0);
    assert!(dir.path("d/target").is_file());
    // A symlink loop.
    assert_eq!(guest.symlink("loop2", "loop1"), 0);
    assert_eq!(guest.symlink("loop1", "loop2"), 0);
    assert_eq!(guest.open("loop1", 0), Err(errno(Errno::Loop)));
}

#[test]
fn creating_through_a_dangling_link_stays_inside() {
    let (dir, mut guest) = fs_guest();
    assert_eq!(guest.symlink("made", "dangling"), 0);
    let fd = guest.open("dangling", oflags::CREAT).unwrap();
    assert_eq!(guest.write_fd(fd, b"ok").0, 0);
    assert_eq!(std::fs::read(dir.path("made")).unwrap(), b"ok");
}

#[test]
fn filestat_of_files_and_directories() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"12345").unwrap();
    let stat = guest.stat("f", 0).unwrap();
    let meta = std::fs::metadata(dir.path("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        u64::from_le_bytes(stat[0..8].try_into().unwrap()),
        meta.dev()
    );
    assert_eq!(
        u64::from_le_bytes(stat[8..16].try_into().unwrap()),
        meta.ino()
    );
    assert_eq!(stat[16], filetype::REGULAR_FILE);
    assert_eq!(u64::from_le_bytes(stat[32..40].try_into().unwrap()), 5);
    assert_eq!(guest.stat(".", 0).unwrap()[16], filetype::DIRECTORY);
    assert_eq!(guest.stat("missing", 0), Err(errno(Errno::NoEnt)));
    assert_eq!(guest.stat("f/", 0), Err(errno(Errno::NotDir)));
    assert_eq!(
        guest.call(
            "fd_filestat_get",
            &[Val::I32(ROOT as i32), Val::I32(DATA as i32)]
        ),
        0
    );
    assert_eq!(guest.read(DATA + 16, 1), [filetype::DIRECTORY]);
}

/// The read-only preopen's descriptor in [`read_only_fixture`] (after the writable root).
const SHARED: u32 = 4;

/// A writable root (fd 3) and, beside it, a read-only preopen `faasm:` (fd 4) holding
/// `data/x.txt`.
fn read_only_fixture() -> (TempDir, TempDir, Guest) {
    let (root, shared) = (TempDir::new(), TempDir::new());
    std::fs::create_dir_all(shared.path("data/sub")).unwrap();
    std::fs::write(shared.path("data/x.txt"), b"shared bytes").unwrap();
    std::fs::write(root.path("mine"), b"mine").unwrap();
    let ctx = ctx_with_root(&root.0)
        .preopen_dir_read_only(&shared.0, "faasm:")
        .build()
        .unwrap();
    (root, shared, Guest::proxy(ctx))
}

#[test]
fn a_read_only_preopen_reads_and_refuses_every_change() {
    let (root, shared, mut guest) = read_only_fixture();
    let not_capable = errno(Errno::NotCapable);
    let follow = lookupflags::SYMLINK_FOLLOW;
    // Reads work: open, read, seek, stat, list.
    let fd = guest
        .open_with(
            SHARED,
            "data/x.txt",
            follow,
            0,
            rights::REGULAR_FILE_BASE,
            0,
        )
        .unwrap();
    assert_eq!(guest.read_fd(fd, 100).unwrap(), b"shared bytes");
    assert_eq!(guest.seek(fd, 7, whence::SET), Ok(7));
    assert_eq!(guest.read_fd(fd, 100).unwrap(), b"bytes");
    assert!(guest.stat_at(SHARED, "data/x.txt", follow).is_ok());
    let data = guest
        .open_with(
            SHARED,
            "data",
            follow,
            oflags::DIRECTORY,
            rights::DIRECTORY_BASE,
            0,
        )
        .unwrap();
    let mut names = guest.names(data);
    names.sort();
    assert_eq!(names, ["sub", "x.txt"]);
    // The file's descriptor got no right to change it, and cannot take one.
    let fdv = Val::I32(fd as i32);
    assert_eq!(guest.write_fd(fd, b"x").0, not_capable);
    let pwrite = [
        fdv,
        Val::I32(IOVS as i32),
        Val::I32(1),
        Val::I64(0),
        Val::I32(OUT as i32),
    ];
    assert_eq!(guest.call("fd_pwrite", &pwrite), not_capable);
    assert_eq!(
        guest.call("fd_filestat_set_size", &[fdv, Val::I64(0)]),
        not_capable
    );
    assert_eq!(
        guest.call("fd_allocate", &[fdv, Val::I64(0), Val::I64(100)]),
        not_capable
    );
    let times = [
        fdv,
        Val::I64(1),
        Val::I64(1),
        Val::I32(i32::from(fstflags::ATIM | fstflags::MTIM)),
    ];
    assert_eq!(guest.call("fd_filestat_set_times", &times), not_capable);
    let regain = [fdv, Val::I64(rights::REGULAR_FILE_BASE as i64), Val::I64(0)];
    assert_eq!(guest.call("fd_fdstat_set_rights", &regain), not_capable);
    // Opens that would create, truncate or append are refused.
    let base = rights::REGULAR_FILE_BASE;
    for (path, open, fd_flags) in [
        ("new.txt", oflags::CREAT, 0),
        ("data/x.txt", oflags::CREAT, 0),
        ("data/x.txt", oflags::TRUNC, 0),
        ("data/x.txt", 0, fdflags::APPEND),
    ] {
        assert_eq!(
            guest.open_with(SHARED, path, follow, open, base, fd_flags),
            Err(not_capable),
            "{path} {open:#x} {fd_flags:#x}"
        );
    }
    // Every path call that changes the tree, through the preopen or a directory under it.
    for dir in [SHARED, data] {
        let path = if dir == SHARED { "data/x.txt" } else { "x.txt" };
        let subdir = if dir == SHARED { "data/sub" } else { "sub" };
        assert_eq!(
            guest.path_call("path_create_directory", dir, "d"),
            not_capable
        );
        assert_eq!(guest.path_call("path_unlink_file", dir, path), not_capable);
        assert_eq!(
            guest.path_call("path_remove_directory", dir, subdir),
            not_capable
        );
        assert_eq!(guest.rename_at(dir, path, dir, "moved"), not_capable);
        assert_eq!(guest.symlink_at("x.txt", dir, "link"), not_capable);
        assert_eq!(guest.link_at(dir, path, dir, "hard", 0), not_capable);
        assert_eq!(guest.set_times_at(dir, path, follow, 1, 1), not_capable);
        assert_eq!(
            guest.open_with(dir, "new.txt", follow, oflags::CREAT, base, 0),
            Err(not_capable)
        );
    }
    // Nothing moves between it and a writable directory either way, nor is linked out.
    assert_eq!(
        guest.rename_at(SHARED, "data/x.txt", ROOT, "taken"),
        not_capable
    );
    assert_eq!(
        guest.rename_at(ROOT, "mine", SHARED, "data/planted"),
        not_capable
    );
    assert_eq!(
        guest.link_at(SHARED, "data/x.txt", ROOT, "hard", 0),
        not_capable
    );
    // The writable root still is.
    let own = guest.open("own", oflags::CREAT).unwrap();
    assert_eq!(guest.write_fd(own, b"ok"), (0, 2));
    assert_eq!(std::fs::read(root.path("own")).unwrap(), b"ok");
    // The shared tree is as it was.
    assert_eq!(
        std::fs::read(shared.path("data/x.txt")).unwrap(),
        b"shared bytes"
    );
    let mut left: Vec<String> = std::fs::read_dir(shared.path("data"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["sub", "x.txt"]);
    assert!(!root.path("taken").exists() && !root.path("hard").exists());
}

// ---------------------------------------------------------------------------------------------
// Escapes: every one refused, nothing outside touched
// ---------------------------------------------------------------------------------------------

/// A root with a secret beside it (outside), and links pointing out in several ways.
fn escape_fixture() -> (TempDir, TempDir, Guest) {
    let outside = TempDir::new();
    std::fs::write(outside.path("secret"), b"secret").unwrap();
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path("a/b")).unwrap();
    std::fs::write(dir.path("inside"), b"inside").unwrap();
    let unix =
        |target: &Path, link: &str| std::os::unix::fs::symlink(target, dir.path(link)).unwrap();
    unix(Path::new("/etc"), "etc");
    unix(&outside.0, "outside_abs");
    unix(Path::new("../.."), "up2");
    unix(Path::new("a/hop"), "chain");
    unix(Path::new("../../.."), "a/hop");
    let relative_out = Path::new("..").join(outside.0.file_name().unwrap());
    unix(&relative_out, "outside_rel");
    let guest = Guest::proxy(ctx_with_root(&dir.0).build().unwrap());
    (dir, outside, guest)
}

#[test]
fn dot_dot_and_absolute_paths_are_refused() {
    let (_dir, outside, mut guest) = escape_fixture();
    let perm = Err(errno(Errno::Perm));
    let name = outside.0.file_name().unwrap().to_str().unwrap().to_string();
    for path in [
        "..",
        "../..",
        &format!("../{name}/secret"),
        "a/../../inside",
        "a/b/../../..",
        "/etc/passwd",
        "/",
        "/inside",
    ] {
        assert_eq!(guest.open(path, 0), perm, "{path}");
        assert_eq!(guest.stat(path, 0).err(), perm.err(), "{path}");
    }
    // `..` inside the root is fine.
    assert!(guest.open("a/b/../../inside", 0).is_ok());
    // A subdirectory descriptor is a sandbox of its own, as in Wasmtime: `..` stays beneath it.
    let sub = guest.open_dir("a/b").unwrap();
    assert!(
        guest
            .open_with(sub, "./.", 0, oflags::DIRECTORY, 0, 0)
            .is_ok()
    );
    for path in ["../../inside", "..", "../b", "../../../inside"] {
        assert_eq!(
            guest.open_with(sub, path, 0, 0, rights::FD_READ, 0),
            perm,
            "{path}"
        );
    }
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let (_dir, _outside, mut guest) = escape_fixture();
    let perm = Err(errno(Errno::Perm));
    for path in [
        "etc/passwd",
        "etc",
        "outside_abs/secret",
        "outside_rel/secret",
        "up2",
        "chain/x",
        "a/hop/secret",
    ] {
        assert_eq!(guest.open(path, 0), perm, "{path}");
    }
    assert_eq!(guest.open_dir("etc"), perm);
    assert_eq!(guest.stat("etc/passwd", 0).err(), perm.err());
    assert_eq!(
        guest.stat("etc", lookupflags::SYMLINK_FOLLOW).err(),
        perm.err()
    );
    // Reading a relative link's text is allowed; an absolute one's would name a host path
    // (`EPERM`, as Wasmtime answers).
    assert_eq!(guest.readlink("up2", 100).unwrap(), b"../..");
    assert_eq!(guest.readlink("etc", 100).err(), perm.err());
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "outside_abs/new"),
        errno(Errno::Perm)
    );
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "outside_rel/secret"),
        errno(Errno::Perm)
    );
}

/// An absolute link is refused when made; a relative one may say anything, and is followed
/// only where it leads beneath the descriptor at the moment of use.
#[test]
fn escaping_symlinks_are_never_followed() {
    let (dir, outside, mut guest) = escape_fixture();
    let name = outside.0.file_name().unwrap().to_str().unwrap().to_string();
    let perm = errno(Errno::Perm);
    assert_eq!(guest.symlink("/etc/passwd", "l1"), perm);
    assert!(std::fs::symlink_metadata(dir.path("l1")).is_err());
    assert_eq!(guest.symlink("..", "l2"), 0);
    assert_eq!(guest.symlink(&format!("../../{name}"), "a/l3"), 0);
    assert_eq!(guest.symlink("../inside", "a/l4"), 0);
    assert_eq!(guest.open(&format!("l2/{name}/secret"), 0), Err(perm));
    assert_eq!(guest.open("a/l3/secret", 0), Err(perm));
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "a/l3/secret"),
        perm
    );
    let fd = guest.open("a/l4", 0).unwrap();
    assert_eq!(guest.read_fd(fd, 6).unwrap(), b"inside");
    assert_eq!(std::fs::read(outside.path("secret")).unwrap(), b"secret");
}

#[test]
fn rename_and_link_cannot_move_things_out_or_in() {
    let (dir, outside, mut guest) = escape_fixture();
    let name = outside.0.file_name().unwrap().to_str().unwrap().to_string();
    let perm = errno(Errno::Perm);
    assert_eq!(guest.rename("inside", "../stolen"), perm);
    assert_eq!(guest.rename("inside", &format!("../{name}/stolen")), perm);
    assert_eq!(guest.rename("inside", "outside_abs/stolen"), perm);
    assert_eq!(guest.rename("outside_rel/secret", "got"), perm);
    assert_eq!(guest.rename("inside", "/tmp/stolen"), perm);
    assert_eq!(guest.link("inside", "../linked", 0), perm);
    assert_eq!(
        guest.link("outside_abs/secret", "linked", lookupflags::SYMLINK_FOLLOW),
        perm
    );
    assert_eq!(guest.link("etc/passwd", "passwd", 0), perm);
    assert!(dir.path("inside").is_file());
    assert_eq!(std::fs::read_dir(&outside.0).unwrap().count(), 1);
    // Renaming an escaping link keeps it a link (not followed), still refused when used.
    assert_eq!(guest.rename("etc", "a/etc"), 0);
    assert_eq!(guest.open("a/etc/passwd", 0), Err(perm));
}

#[test]
fn readdir_of_the_root_does_not_show_its_parent() {
    let (dir, _outside, mut guest) = escape_fixture();
    let entries = parse_dirents(&guest.readdir(ROOT, 4096, 0));
    assert_eq!(entries[1].1, "..");
    use std::os::unix::fs::MetadataExt;
    // `..` of the root has the root's own inode.
    let bytes = guest.readdir(ROOT, 48, 0);
    let dotdot_ino = u64::from_le_bytes(bytes[24 + 1 + 8..24 + 1 + 16].try_into().unwrap());
    assert_eq!(dotdot_ino, std::fs::metadata(&dir.0).unwrap().ino());
}

// ---------------------------------------------------------------------------------------------
// Held directories: renames and moved links under open descriptors
// ---------------------------------------------------------------------------------------------

/// `base/root` (the preopen) beside `base/x/secret.txt`, as in the issue's reproduction
/// (`--dir ROOT::/sb` with `ROOT/../x/secret.txt` on the host).
fn beside_a_secret() -> (TempDir, PathBuf) {
    let base = TempDir::new();
    std::fs::create_dir_all(base.path("root")).unwrap();
    std::fs::create_dir_all(base.path("x")).unwrap();
    std::fs::write(base.path("x/secret.txt"), b"secret").unwrap();
    let root = base.path("root");
    (base, root)
}

/// Everything outside the root as it was: `x/` holds only the untouched secret, and the base
/// holds only `root` and `x`.
fn check_outside_untouched(base: &TempDir) {
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&base.0), ["root", "x"]);
    assert_eq!(names(&base.path("x")), ["secret.txt"]);
    assert_eq!(std::fs::read(base.path("x/secret.txt")).unwrap(), b"secret");
}

/// The issue's reproduction: `d` is opened, renamed to `d2`, and a link `../x` (made in `a/`,
/// where it points inside) is moved to `d`, where it points out. The old descriptor stays on
/// the directory it was opened on; every path through the moved link is refused; moving the
/// links around some more changes nothing.
#[test]
fn a_held_directory_survives_renames_and_moved_links() {
    let (base, root) = beside_a_secret();
    let mut guest = Guest::proxy(ctx_with_root(&root).build().unwrap());
    assert_eq!(guest.path_call("path_create_directory", ROOT, "a"), 0);
    assert_eq!(guest.path_call("path_create_directory", ROOT, "d"), 0);
    assert_eq!(guest.symlink("../x", "a/l"), 0);
    let fd = guest.open_dir("d").unwrap();
    assert_eq!(guest.rename("d", "d2"), 0);
    assert_eq!(guest.rename("a/l", "d"), 0);

    // Through the old descriptor: the (empty) directory now called d2.
    let no_ent = errno(Errno::NoEnt);
    assert_eq!(guest.names(fd), Vec::<String>::new());
    assert_eq!(guest.stat_at(fd, "secret.txt", 0), Err(no_ent));
    let read = rights::FD_READ;
    assert_eq!(
        guest.open_with(fd, "secret.txt", 0, 0, read, 0),
        Err(no_ent)
    );
    assert_eq!(guest.readlink_at(fd, "secret.txt", 64), Err(no_ent));
    assert_eq!(guest.link_at(fd, "secret.txt", fd, "hard", 0), no_ent);
    assert_eq!(guest.rename_at(fd, "secret.txt", fd, "moved"), no_ent);
    assert_eq!(
        guest.path_call("path_unlink_file", fd, "secret.txt"),
        no_ent
    );
    assert_eq!(guest.path_call("path_create_directory", fd, "made"), 0);
    assert_eq!(guest.rename_at(fd, "made", fd, "made2"), 0);
    assert!(root.join("d2/made2").is_dir());
    assert_eq!(guest.symlink_at("../..", fd, "up"), 0);
    let up = guest.open_with(
        fd,
        "up/x/secret.txt",
        lookupflags::SYMLINK_FOLLOW,
        0,
        read,
        0,
    );
    assert_eq!(up, Err(errno(Errno::Perm)));
    assert_eq!(guest.names(fd), ["made2", "up"]);

    // Through the moved link: refused.
    let perm = errno(Errno::Perm);
    assert_eq!(guest.open("d/secret.txt", 0), Err(perm));
    assert_eq!(guest.open_dir("d"), Err(perm));
    assert_eq!(guest.stat("d/secret.txt", 0), Err(perm));
    assert_eq!(guest.stat("d", lookupflags::SYMLINK_FOLLOW), Err(perm));
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "d/secret.txt"),
        perm
    );
    assert_eq!(
        guest.path_call("path_create_directory", ROOT, "d/new"),
        perm
    );
    assert_eq!(guest.path_call("path_remove_directory", ROOT, "d/"), perm);
    assert_eq!(guest.rename("d/secret.txt", "stolen"), perm);
    assert_eq!(guest.rename("a", "d/a"), perm);
    assert_eq!(guest.link("d/secret.txt", "hard", 0), perm);
    assert_eq!(guest.link("d", "hard", lookupflags::SYMLINK_FOLLOW), perm);
    assert_eq!(guest.set_times_at(ROOT, "d/secret.txt", 0, 1, 2), perm);
    assert_eq!(guest.readlink("d", 64).unwrap(), b"../x");

    // The link moved back under a/ (where it leads to a missing x), a/ moved under a held
    // descriptor, and a link to the root's parent moved to the top.
    assert_eq!(guest.rename("d", "a/l"), 0);
    assert_eq!(guest.stat("a/l/secret.txt", 0), Err(no_ent));
    let a = guest.open_dir("a").unwrap();
    assert_eq!(guest.path_call("path_create_directory", ROOT, "deep"), 0);
    assert_eq!(guest.rename("a", "deep/a"), 0);
    // From the descriptor on a/, the link leads above it: refused, wherever a/ now is.
    assert_eq!(guest.stat_at(a, "l/secret.txt", 0), Err(perm));
    assert_eq!(guest.rename("deep/a", "a"), 0);
    assert_eq!(guest.rename_at(a, "l", ROOT, "l"), 0);
    assert_eq!(guest.stat("l/secret.txt", 0), Err(perm));
    assert_eq!(guest.stat_at(a, "../l/secret.txt", 0), Err(perm));
    assert_eq!(guest.symlink_at("..", a, "up"), 0);
    assert_eq!(guest.rename_at(a, "up", ROOT, "up"), 0);
    assert_eq!(guest.open("up/x/secret.txt", 0), Err(perm));
    assert_eq!(
        guest.path_call("path_unlink_file", ROOT, "up/x/secret.txt"),
        perm
    );
    check_outside_untouched(&base);
}

/// One guest swaps a directory for a link out of the root and back, over and over, while
/// another (sharing the directory) opens, stats and lists through a descriptor held on the
/// directory and through its path: no answer ever shows the secret beside the root.
#[test]
fn renames_racing_with_lookups_never_lead_outside() {
    const ROUNDS: usize = 300;
    let (base, root) = beside_a_secret();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d/inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink("../x", root.join("a/l")).unwrap();
    // The reader's descriptor on d is opened before the renames start.
    let mut guest = Guest::proxy(ctx_with_root(&root).build().unwrap());
    let held = guest.open_dir("d").unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (root, done) = (root.clone(), done.clone());
        std::thread::spawn(move || {
            let mut guest = Guest::proxy(ctx_with_root(&root).build().unwrap());
            for _ in 0..ROUNDS {
                assert_eq!(guest.rename("d", "d2"), 0);
                assert_eq!(guest.rename("a/l", "d"), 0);
                assert_eq!(guest.rename("d", "a/l"), 0);
                assert_eq!(guest.rename("d2", "d"), 0);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let (mut lookups, read) = (0u64, rights::FD_READ);
    // What reached the secret, and where the held descriptor did not stay on its directory.
    let (mut leaks, mut strays) = (Vec::new(), Vec::new());
    while !done.load(Ordering::SeqCst) {
        lookups += 1;
        if guest.stat_at(held, "secret.txt", 0).is_ok() {
            leaks.push("stat secret.txt through the held descriptor");
        }
        if guest.open_with(held, "secret.txt", 0, 0, read, 0).is_ok() {
            leaks.push("open secret.txt through the held descriptor");
        }
        if guest.open("d/secret.txt", 0).is_ok() || guest.stat("d/secret.txt", 0).is_ok() {
            leaks.push("d/secret.txt through the root");
        }
        let args = [held, DATA, 60000, 0].map(|v| Val::I32(v as i32));
        let errno = guest.call(
            "fd_readdir",
            &[args[0], args[1], args[2], Val::I64(0), Val::I32(OUT as i32)],
        );
        let used = guest.u32_at(OUT) as usize;
        let listing = guest.read(DATA, used);
        let names: Vec<String> = parse_dirents(&listing)
            .into_iter()
            .map(|(_, name, _)| name)
            .filter(|name| name != "." && name != "..")
            .collect();
        if names.iter().any(|name| name == "secret.txt") {
            leaks.push("secret.txt listed through the held descriptor");
        } else if errno != 0 || names != ["inside.txt"] {
            strays.push(format!(
                "listing the held descriptor: errno {errno}, {names:?}"
            ));
        }
        if let Ok(fd) = guest.open_dir("d") {
            if guest.names(fd).iter().any(|name| name == "secret.txt") {
                leaks.push("secret.txt listed through d");
            }
            guest.close(fd);
        }
    }
    renamer.join().unwrap();
    leaks.dedup();
    assert!(leaks.is_empty(), "{lookups} rounds of lookups: {leaks:?}");
    assert!(strays.is_empty(), "{lookups} rounds of lookups: {strays:?}");
    assert!(lookups > 0);
    check_outside_untouched(&base);
}

// ---------------------------------------------------------------------------------------------
// Where our answers follow Wasmtime's
// ---------------------------------------------------------------------------------------------

#[test]
fn links_whose_destination_ends_in_a_slash_fail() {
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("f"), b"f").unwrap();
    assert_eq!(guest.symlink("f", "new/"), errno(Errno::NoEnt));
    assert_eq!(guest.symlink("f", "f/"), errno(Errno::Exist));
    assert_eq!(guest.link("f", "hard/", 0), errno(Errno::NoEnt));
    assert_eq!(guest.link("f", "f/", 0), errno(Errno::Exist));
    assert!(std::fs::symlink_metadata(dir.path("new")).is_err());
    assert!(std::fs::symlink_metadata(dir.path("hard")).is_err());
    // Without the slash both work.
    assert_eq!(guest.symlink("f", "new"), 0);
    assert_eq!(guest.link("f", "hard", 0), 0);
}

#[test]
fn set_times_without_follow_changes_the_link_itself() {
    use std::os::unix::fs::MetadataExt;
    let (dir, mut guest) = fs_guest();
    std::fs::write(dir.path("t"), b"t").unwrap();
    assert_eq!(guest.symlink("t", "l"), 0);
    let target_mtime = std::fs::metadata(dir.path("t")).unwrap().mtime();
    let (atim, mtim) = (1_000_000_000_123, 2_000_000_000_456);
    assert_eq!(guest.set_times_at(ROOT, "l", 0, atim, mtim), 0);
    let link = std::fs::symlink_metadata(dir.path("l")).unwrap();
    assert_eq!((link.mtime(), link.mtime_nsec()), (2000, 456));
    assert_eq!(
        std::fs::metadata(dir.path("t")).unwrap().mtime(),
        target_mtime
    );
    // Followed, the target's times change.
    let follow = lookupflags::SYMLINK_FOLLOW;
    assert_eq!(guest.set_times_at(ROOT, "l", follow, atim, mtim), 0);
    assert_eq!(std::fs::metadata(dir.path("t")).unwrap().mtime(), 2000);
}

/// Absolute paths and `..` above the descriptor are `EPERM` for every path call (Wasmtime's
/// answer), whether or not the name they lead to exists.
#[test]
fn escapes_are_eperm_for_every_path_call() {
    let (dir, mut guest) = fs_guest();
    std::fs::create_dir_all(dir.path("a/b")).unwrap();
    std::fs::write(dir.path("f"), b"f").unwrap();
    let perm = errno(Errno::Perm);
    let sub = guest.open_dir("a").unwrap();
    for (fd, path) in [
        (ROOT, ".."),
        (ROOT, "../nothing"),
        (ROOT, "a/../../f"),
        (ROOT, "/"),
        (ROOT, "/f"),
        (ROOT, "/etc/passwd"),
        (sub, ".."),
        (sub, "../f"),
        (sub, "b/../../f"),
    ] {
        let read = rights::FD_READ;
        assert_eq!(
            guest.open_with(fd, path, 0, 0, read, 0),
            Err(perm),
            "open {path}"
        );
        assert_eq!(guest.stat_at(fd, path, 0), Err(perm), "stat {path}");
        assert_eq!(
            guest.set_times_at(fd, path, 0, 1, 2),
            perm,
            "set times {path}"
        );
        assert_eq!(guest.readlink_at(fd, path, 8), Err(perm), "readlink {path}");
        for call in [
            "path_create_directory",
            "path_remove_directory",
            "path_unlink_file",
        ] {
            assert_eq!(guest.path_call(call, fd, path), perm, "{call} {path}");
        }
        assert_eq!(
            guest.rename_at(fd, path, ROOT, "x"),
            perm,
            "rename from {path}"
        );
        assert_eq!(
            guest.rename_at(ROOT, "f", fd, path),
            perm,
            "rename to {path}"
        );
        assert_eq!(
            guest.link_at(fd, path, ROOT, "x", 0),
            perm,
            "link from {path}"
        );
        assert_eq!(
            guest.link_at(ROOT, "f", fd, path, 0),
            perm,
            "link to {path}"
        );
        assert_eq!(guest.symlink_at("f", fd, path), perm, "symlink at {path}");
    }
    assert!(dir.path("f").is_file());
}
