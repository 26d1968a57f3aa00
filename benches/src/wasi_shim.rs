//! A minimal WASI preview 1 for the peers' runs of the real programs (`execute`'s SQLite and
//! QuickJS), instead of wasmtime-wasi and wasmi_wasi and their dependency trees. Only what the
//! two drivers import (`wasm-objdump -x -j Import`) is here, and the workloads touch no file:
//! standard output is a counted sink, the clocks and `random_get` are deterministic, arguments
//! and environment are empty, and every call that needs a descriptor other than the standard
//! streams fails with `EBADF` (`poll_oneoff` with `ENOSYS`). This module is the peers' common
//! core, over a linear memory as bytes; `peer_wasmtime_wasi` and `peer_wasmi_wasi` bind it.

use crate::stopwatch::Stopwatch;

/// The import module of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The errno values the shim returns.
pub mod errno {
    /// No error.
    pub const SUCCESS: i32 = 0;
    /// A bad file descriptor.
    pub const BADF: i32 = 8;
    /// A bad address.
    pub const FAULT: i32 = 21;
    /// An invalid argument.
    pub const INVAL: i32 = 28;
    /// Not implemented.
    pub const NOSYS: i32 = 52;
}

/// The imports of the drivers that only reach files, directories or polling, with the errno
/// each returns: no descriptor but the standard streams exists here, and nothing waits.
pub const NO_FILES: &[(&str, i32)] = &[
    ("fd_close", errno::BADF),
    ("fd_fdstat_set_flags", errno::BADF),
    ("fd_filestat_get", errno::BADF),
    ("fd_filestat_set_size", errno::BADF),
    ("fd_prestat_get", errno::BADF),
    ("fd_prestat_dir_name", errno::BADF),
    ("fd_read", errno::BADF),
    ("fd_seek", errno::BADF),
    ("fd_sync", errno::BADF),
    ("path_create_directory", errno::BADF),
    ("path_filestat_get", errno::BADF),
    ("path_filestat_set_times", errno::BADF),
    ("path_open", errno::BADF),
    ("path_readlink", errno::BADF),
    ("path_remove_directory", errno::BADF),
    ("path_unlink_file", errno::BADF),
    ("poll_oneoff", errno::NOSYS),
];

/// The errno of `name` if it is one of [`NO_FILES`].
pub fn no_files_errno(name: &str) -> Option<i32> {
    NO_FILES
        .iter()
        .find(|(stub, _)| *stub == name)
        .map(|(_, errno)| *errno)
}

/// The realtime clock's first reading: 2023-11-14T22:13:20Z, in nanoseconds.
const REALTIME_ORIGIN: u64 = 1_700_000_000_000_000_000;
/// The monotonic clock's first reading (one second, never zero).
const MONOTONIC_ORIGIN: u64 = 1_000_000_000;
/// How far the clocks advance at every reading.
const TICK: u64 = 1_000;

/// One instance's WASI state and its `bench.start`/`bench.end` stopwatch.
#[derive(Debug, Default)]
pub struct WasiShim {
    /// The measured region.
    pub stopwatch: Stopwatch,
    written: u64,
    readings: u64,
    random: u64,
}

impl WasiShim {
    /// `fd_write`: the bytes written to standard output or error are counted and dropped.
    pub fn fd_write(&mut self, memory: &mut [u8], fd: i32, iovs: i32, count: i32, out: i32) -> i32 {
        if !(1..=2).contains(&fd) {
            return errno::BADF;
        }
        let Some(total) = iovec_total(memory, iovs, count) else {
            return errno::FAULT;
        };
        self.written += u64::from(total);
        store(memory, out, &total.to_le_bytes())
    }

    /// `clock_time_get`: deterministic clocks that advance a microsecond at every reading.
    pub fn clock_time_get(&mut self, memory: &mut [u8], clock: i32, out: i32) -> i32 {
        let origin = match clock {
            0 => REALTIME_ORIGIN,
            1..=3 => MONOTONIC_ORIGIN,
            _ => return errno::INVAL,
        };
        self.readings += 1;
        let now = origin + self.readings * TICK;
        store(memory, out, &now.to_le_bytes())
    }

    /// `random_get`: SplitMix64 from a fixed seed, so every run sees the same bytes.
    pub fn random_get(&mut self, memory: &mut [u8], buf: i32, len: i32) -> i32 {
        let Some(range) = range(memory, buf, len) else {
            return errno::FAULT;
        };
        for chunk in memory[range].chunks_mut(8) {
            let word = self.next_random().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        errno::SUCCESS
    }

    /// The bytes the guest wrote to standard output and error.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `args_sizes_get` and `environ_sizes_get`: no arguments, no environment.
pub fn empty_sizes(memory: &mut [u8], count: i32, size: i32) -> i32 {
    match store(memory, count, &0u32.to_le_bytes()) {
        errno::SUCCESS => store(memory, size, &0u32.to_le_bytes()),
        error => error,
    }
}

/// `args_get` and `environ_get`: nothing to write.
pub fn empty_get(_memory: &mut [u8], _pointers: i32, _buffer: i32) -> i32 {
    errno::SUCCESS
}

/// `fd_fdstat_get`: the standard streams are character devices with every right; nothing else
/// is open.
pub fn fd_fdstat_get(memory: &mut [u8], fd: i32, out: i32) -> i32 {
    if !(0..=2).contains(&fd) {
        return errno::BADF;
    }
    const CHARACTER_DEVICE: u8 = 2;
    let mut fdstat = [0u8; 24];
    fdstat[0] = CHARACTER_DEVICE;
    fdstat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    fdstat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    store(memory, out, &fdstat)
}

/// The guest range `[pointer, pointer + len)`, if it is inside `memory`.
fn range(memory: &[u8], pointer: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = pointer as u32 as usize;
    let end = start.checked_add(len as u32 as usize)?;
    (end <= memory.len()).then_some(start..end)
}

/// Writes `bytes` at `pointer`: `SUCCESS`, or `FAULT` outside the memory.
fn store(memory: &mut [u8], pointer: i32, bytes: &[u8]) -> i32 {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    match range(memory, pointer, len) {
        Some(range) => {
            memory[range].copy_from_slice(bytes);
            errno::SUCCESS
        }
        None => errno::FAULT,
    }
}

/// The little-endian `u32` at `pointer`.
fn load_u32(memory: &[u8], pointer: i32) -> Option<u32> {
    let bytes = memory.get(range(memory, pointer, 4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The total length of `count` iovecs at `iovs`, each buffer checked to be inside `memory`.
fn iovec_total(memory: &[u8], iovs: i32, count: i32) -> Option<u32> {
    let mut total: u32 = 0;
    for index in 0..count {
        let iovec = iovs.checked_add(index.checked_mul(8)?)?;
        let buf = load_u32(memory, iovec)?;
        let len = load_u32(memory, iovec.checked_add(4)?)?;
        range(memory, buf as i32, len as i32)?;
        total = total.checked_add(len)?;
    }
    Some(total)
}
