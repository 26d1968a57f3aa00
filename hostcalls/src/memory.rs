//! A safe, checked view of a guest's linear memory.
//!
//! [`GuestMemory`] checks every guest pointer and length before use: ranges are computed in
//! `usize` with overflow checks, so `ptr + len` past 4 GiB or past the memory's end is a
//! [`GuestError`], never a panic or an access outside the memory. WASI calls turn a
//! [`GuestError`] into `EFAULT` (or `EILSEQ` for a string that is not UTF-8).
//!
//! A Faaslet's memory may hold state values mapped shared ([`Memory::map_shared`]), which
//! other threads write at any time. A Rust reference promises that the bytes under it do not
//! change, so this view never forms one over the whole memory: it reads and writes through the
//! runtime's raw copies ([`Memory::read`], [`Memory::write`], [`Memory::fill`]) and lends a
//! slice only of a range that lies in private pages ([`Memory::private_slice`]); a range that
//! overlaps a shared value is copied instead ([`GuestMemory::bytes`], [`GuestMemory::fill`]).

use crate::errno::Errno;
use faasm_runtime::{Caller, Memory, Store};
use std::borrow::Cow;
use std::ops::Range;

/// The longest NUL-terminated string [`GuestMemory::c_str`] reads (names, keys and paths of
/// the `env` interface): 64 KiB, far above `PATH_MAX`.
pub const MAX_C_STRING_BYTES: usize = 64 * 1024;

/// How many bytes a NUL-terminated string is searched in at a time.
const C_STRING_CHUNK: usize = 4096;

/// Why a guest pointer could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// `[ptr, ptr + len)` is not inside the memory.
    #[error("guest range {ptr:#x}+{len} is outside the {memory_size}-byte memory")]
    OutOfBounds {
        /// The guest pointer.
        ptr: u32,
        /// The length asked for.
        len: u64,
        /// The memory's size in bytes.
        memory_size: usize,
    },
    /// The bytes at `ptr` are not UTF-8.
    #[error("guest string at {ptr:#x} ({len} bytes) is not UTF-8")]
    InvalidUtf8 {
        /// The guest pointer.
        ptr: u32,
        /// The string's length.
        len: u32,
    },
    /// No NUL ends the string at `ptr` within `max` bytes.
    #[error("guest string at {ptr:#x} has no terminating NUL within {max} bytes")]
    Unterminated {
        /// The guest pointer.
        ptr: u32,
        /// The longest string accepted, in bytes without its NUL.
        max: usize,
    },
}

impl From<GuestError> for Errno {
    fn from(error: GuestError) -> Errno {
        match error {
            GuestError::OutOfBounds { .. } => Errno::Fault,
            GuestError::InvalidUtf8 { .. } => Errno::IlSeq,
            GuestError::Unterminated { .. } => Errno::NameTooLong,
        }
    }
}

/// For host functions that checked a range (with a message naming the call) before they use
/// it: the error of a range that still fails.
impl From<GuestError> for faasm_runtime::Trap {
    fn from(error: GuestError) -> faasm_runtime::Trap {
        faasm_runtime::Trap::Host(format!("guest memory: {error}"))
    }
}

/// One `iovec` / `ciovec` of a scatter/gather call: a guest buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    /// The buffer's guest address.
    pub ptr: u32,
    /// Its length in bytes.
    pub len: u32,
}

/// Checked access to a guest's linear memory. A caller without a memory gets an empty view, in
/// which every access is out of bounds.
#[derive(Debug)]
pub struct GuestMemory<'a> {
    access: Access<'a>,
}

/// What a [`GuestMemory`] reads and writes.
#[derive(Debug)]
enum Access<'a> {
    /// A linear memory of a store, which may hold shared mappings.
    Linear {
        memory: Memory,
        store: &'a mut Store,
        len: usize,
    },
    /// Plain host bytes, which nothing else writes: a memory without a module (hosts that drive
    /// WASI calls directly, tests).
    Bytes(&'a mut [u8]),
}

impl<'a> GuestMemory<'a> {
    /// A view of `bytes`, the whole of a memory that lives in the host.
    pub fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory {
            access: Access::Bytes(bytes),
        }
    }

    /// A view of linear memory `memory` of `store`.
    pub fn of_memory(memory: Memory, store: &'a mut Store) -> GuestMemory<'a> {
        let len = usize::try_from(memory.byte_len(store)).unwrap_or(usize::MAX);
        GuestMemory {
            access: Access::Linear { memory, store, len },
        }
    }

    /// A view of the calling instance's memory 0; an empty one if it has none.
    pub fn of_caller(caller: &'a mut Caller<'_>) -> GuestMemory<'a> {
        match caller.memory() {
            Some(memory) => GuestMemory::of_memory(memory, caller.store_mut()),
            None => GuestMemory::new(&mut []),
        }
    }

    /// The memory's size in bytes.
    pub fn len(&self) -> usize {
        match &self.access {
            Access::Linear { len, .. } => *len,
            Access::Bytes(bytes) => bytes.len(),
        }
    }

    /// Whether the memory has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The host range of `[ptr, ptr + len)`, if it lies inside the memory.
    pub fn range(&self, ptr: u32, len: u64) -> Result<Range<usize>, GuestError> {
        let memory_size = self.len();
        let out_of_bounds = || GuestError::OutOfBounds {
            ptr,
            len,
            memory_size,
        };
        let start = usize::try_from(ptr).map_err(|_| out_of_bounds())?;
        let len = usize::try_from(len).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        if end > memory_size {
            return Err(out_of_bounds());
        }
        Ok(start..end)
    }

    /// The `len` bytes at `ptr`: borrowed where they are private pages, a copy where they
    /// overlap a shared mapping.
    pub fn bytes(&self, ptr: u32, len: u32) -> Result<Cow<'_, [u8]>, GuestError> {
        let range = self.range(ptr, u64::from(len))?;
        match &self.access {
            Access::Bytes(bytes) => Ok(Cow::Borrowed(&bytes[range])),
            Access::Linear { memory, store, .. } => {
                let (offset, len) = (u64::from(ptr), u64::from(len));
                if let Some(private) = memory.private_slice(store, offset, len) {
                    return Ok(Cow::Borrowed(private));
                }
                let mut copy = vec![0; range.len()];
                self.read(ptr, &mut copy)?;
                Ok(Cow::Owned(copy))
            }
        }
    }

    /// As [`GuestMemory::bytes`], for as long as the memory is borrowed.
    pub fn into_bytes(self, ptr: u32, len: u32) -> Result<Cow<'a, [u8]>, GuestError> {
        let range = self.range(ptr, u64::from(len))?;
        let memory_size = self.len();
        match self.access {
            Access::Bytes(bytes) => Ok(Cow::Borrowed(&bytes[range])),
            Access::Linear { memory, store, .. } => {
                let store: &'a Store = store;
                let (offset, len) = (u64::from(ptr), u64::from(len));
                if let Some(private) = memory.private_slice(store, offset, len) {
                    return Ok(Cow::Borrowed(private));
                }
                let mut copy = vec![0; range.len()];
                memory
                    .read(store, offset, &mut copy)
                    .map_err(|_| GuestError::OutOfBounds {
                        ptr,
                        len,
                        memory_size,
                    })?;
                Ok(Cow::Owned(copy))
            }
        }
    }

    /// Copies the `buf.len()` bytes at `ptr` into `buf`.
    pub fn read(&self, ptr: u32, buf: &mut [u8]) -> Result<(), GuestError> {
        let range = self.range(ptr, buf.len() as u64)?;
        match &self.access {
            Access::Bytes(bytes) => buf.copy_from_slice(&bytes[range]),
            Access::Linear { memory, store, .. } => memory
                .read(store, u64::from(ptr), buf)
                .map_err(|_| self.out_of_bounds(ptr, buf.len()))?,
        }
        Ok(())
    }

    /// Copies `data` to `ptr`.
    pub fn write_bytes(&mut self, ptr: u32, data: &[u8]) -> Result<(), GuestError> {
        let range = self.range(ptr, data.len() as u64)?;
        let out_of_bounds = self.out_of_bounds(ptr, data.len());
        match &mut self.access {
            Access::Bytes(bytes) => bytes[range].copy_from_slice(data),
            Access::Linear { memory, store, .. } => memory
                .write(store, u64::from(ptr), data)
                .map_err(|_| out_of_bounds)?,
        }
        Ok(())
    }

    /// Runs `produce` on a buffer for the `len` bytes at `ptr`, into whose start it writes and
    /// returns how many bytes it wrote (at most `len`); those bytes end up at `ptr`, and the
    /// rest of the range keeps what it held. The buffer is the guest's bytes themselves where
    /// they are private pages; where they overlap a shared mapping, a zeroed copy of which only
    /// the bytes written are copied back (so a value other threads write is not overwritten
    /// with stale bytes). The whole range is checked before `produce` runs.
    pub fn fill<E: From<GuestError>>(
        &mut self,
        ptr: u32,
        len: u32,
        produce: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let range = self.range(ptr, u64::from(len))?;
        match &mut self.access {
            Access::Bytes(bytes) => return produce(&mut bytes[range]),
            Access::Linear { memory, store, .. } => {
                let (offset, len) = (u64::from(ptr), u64::from(len));
                if let Some(private) = memory.private_slice_mut(store, offset, len) {
                    return produce(private);
                }
            }
        }
        let mut copy = vec![0; range.len()];
        let written = produce(&mut copy)?.min(copy.len());
        self.write_bytes(ptr, &copy[..written])?;
        Ok(written)
    }

    /// Sets the `len` bytes at `ptr` to zero.
    pub fn zero(&mut self, ptr: u32, len: u64) -> Result<(), GuestError> {
        let range = self.range(ptr, len)?;
        let out_of_bounds = self.out_of_bounds(ptr, range.len());
        match &mut self.access {
            Access::Bytes(bytes) => bytes[range].fill(0),
            Access::Linear { memory, store, .. } => memory
                .fill(store, u64::from(ptr), len, 0)
                .map_err(|_| out_of_bounds)?,
        }
        Ok(())
    }

    fn out_of_bounds(&self, ptr: u32, len: usize) -> GuestError {
        GuestError::OutOfBounds {
            ptr,
            len: len as u64,
            memory_size: self.len(),
        }
    }

    /// The `N` bytes at `ptr`.
    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], GuestError> {
        let mut out = [0u8; N];
        self.read(ptr, &mut out)?;
        Ok(out)
    }

    /// The byte at `ptr`.
    pub fn read_u8(&self, ptr: u32) -> Result<u8, GuestError> {
        self.array::<1>(ptr).map(|[b]| b)
    }

    /// The little-endian `u16` at `ptr`.
    pub fn read_u16(&self, ptr: u32) -> Result<u16, GuestError> {
        self.array(ptr).map(u16::from_le_bytes)
    }

    /// The little-endian `u32` at `ptr`.
    pub fn read_u32(&self, ptr: u32) -> Result<u32, GuestError> {
        self.array(ptr).map(u32::from_le_bytes)
    }

    /// The little-endian `u64` at `ptr`.
    pub fn read_u64(&self, ptr: u32) -> Result<u64, GuestError> {
        self.array(ptr).map(u64::from_le_bytes)
    }

    /// Writes a byte at `ptr`.
    pub fn write_u8(&mut self, ptr: u32, value: u8) -> Result<(), GuestError> {
        self.write_bytes(ptr, &[value])
    }

    /// Writes a little-endian `u16` at `ptr`.
    pub fn write_u16(&mut self, ptr: u32, value: u16) -> Result<(), GuestError> {
        self.write_bytes(ptr, &value.to_le_bytes())
    }

    /// Writes a little-endian `u32` at `ptr`.
    pub fn write_u32(&mut self, ptr: u32, value: u32) -> Result<(), GuestError> {
        self.write_bytes(ptr, &value.to_le_bytes())
    }

    /// Writes a little-endian `u64` at `ptr`.
    pub fn write_u64(&mut self, ptr: u32, value: u64) -> Result<(), GuestError> {
        self.write_bytes(ptr, &value.to_le_bytes())
    }

    /// The UTF-8 string of `len` bytes at `ptr` (WASI passes paths with their length, without
    /// a terminating NUL).
    pub fn str(&self, ptr: u32, len: u32) -> Result<Cow<'_, str>, GuestError> {
        let invalid = || GuestError::InvalidUtf8 { ptr, len };
        match self.bytes(ptr, len)? {
            Cow::Borrowed(bytes) => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| invalid()),
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| invalid()),
        }
    }

    /// The NUL-terminated string at `ptr`, without its NUL (the Faasm `env` interface passes
    /// keys and names so), of at most [`MAX_C_STRING_BYTES`] bytes.
    pub fn c_str(&self, ptr: u32) -> Result<String, GuestError> {
        self.c_str_within(ptr, MAX_C_STRING_BYTES)
    }

    /// The NUL-terminated string at `ptr`, without its NUL, of at most `max` bytes: a longer
    /// one is [`GuestError::Unterminated`]; one that runs to the end of memory is out of
    /// bounds. It is read a chunk at a time, so a guest cannot make the host copy more than
    /// `max` bytes, whatever it passes.
    pub fn c_str_within(&self, ptr: u32, max: usize) -> Result<String, GuestError> {
        let start = self.range(ptr, 0)?.start;
        let mut text = Vec::new();
        loop {
            let at = start + text.len();
            let remaining = self.len() - at;
            if remaining == 0 {
                return Err(self.out_of_bounds(ptr, text.len() + 1));
            }
            let chunk_len = remaining.min(C_STRING_CHUNK).min(max + 1 - text.len());
            let chunk = self.bytes(at as u32, chunk_len as u32)?;
            match chunk.iter().position(|&b| b == 0) {
                Some(nul) => {
                    text.extend_from_slice(&chunk[..nul]);
                    break;
                }
                None => text.extend_from_slice(&chunk),
            }
            if text.len() > max {
                return Err(GuestError::Unterminated { ptr, max });
            }
        }
        let len = text.len() as u32;
        String::from_utf8(text).map_err(|_| GuestError::InvalidUtf8 { ptr, len })
    }

    /// The `count` iovecs of the array at `ptr`, each checked to lie inside the memory, so a
    /// call can reject a bad one before it has any effect.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<IoVec>, GuestError> {
        let size = u64::from(count) * u64::from(crate::types::size::IOVEC);
        self.range(ptr, size)?;
        let array = self.bytes(ptr, size as u32)?;
        let iovecs: Vec<IoVec> = array
            .chunks_exact(8)
            .map(|entry| IoVec {
                ptr: u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]),
                len: u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]),
            })
            .collect();
        for iovec in &iovecs {
            self.range(iovec.ptr, u64::from(iovec.len))?;
        }
        Ok(iovecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian_and_checked() {
        let mut bytes = vec![0u8; 16];
        let mut mem = GuestMemory::new(&mut bytes);
        mem.write_u64(8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(mem.read_u8(8), Ok(8));
        assert_eq!(mem.read_u16(8), Ok(0x0708));
        assert_eq!(mem.read_u32(12), Ok(0x0102_0304));
        assert!(mem.read_u64(9).is_err());
        assert!(mem.write_u32(13, 1).is_err());
        assert!(mem.read_u8(16).is_err());
        assert_eq!(mem.read_u8(15), Ok(1));
    }

    #[test]
    fn overflowing_ranges_are_faults_not_panics() {
        let mut bytes = vec![0u8; 64];
        let mem = GuestMemory::new(&mut bytes);
        assert!(mem.bytes(u32::MAX, u32::MAX).is_err());
        assert!(mem.bytes(1, u32::MAX).is_err());
        assert!(mem.bytes(64, 1).is_err());
        assert_eq!(mem.bytes(64, 0).map(|b| b.len()), Ok(0));
        assert!(mem.range(0, u64::MAX).is_err());
        assert_eq!(Errno::from(mem.bytes(65, 0).unwrap_err()), Errno::Fault);
        assert!(mem.iovecs(56, 1).is_ok());
        assert!(mem.iovecs(60, 1).is_err());
        assert!(mem.iovecs(60, u32::MAX).is_err());
    }

    #[test]
    fn an_empty_memory_faults_everything() {
        let mut nothing: [u8; 0] = [];
        let mut mem = GuestMemory::new(&mut nothing);
        assert!(mem.is_empty());
        assert!(mem.write_u8(0, 1).is_err());
        assert!(mem.bytes(0, 0).is_ok());
    }

    #[test]
    fn strings_and_iovecs() {
        let mut bytes = vec![0u8; 32];
        bytes[0..5].copy_from_slice(b"hello");
        bytes[8..12].copy_from_slice(&[0xff, 0xfe, 0, 0]);
        bytes[16..24].copy_from_slice(&[0, 0, 0, 0, 5, 0, 0, 0]);
        bytes[24..32].copy_from_slice(&[30, 0, 0, 0, 9, 0, 0, 0]);
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.str(0, 5).as_deref(), Ok("hello"));
        assert_eq!(mem.c_str(0).as_deref(), Ok("hello"));
        assert_eq!(Errno::from(mem.str(8, 2).unwrap_err()), Errno::IlSeq);
        assert_eq!(mem.iovecs(16, 1), Ok(vec![IoVec { ptr: 0, len: 5 }]));
        // The second iovec runs past the end: the whole array is refused.
        assert!(mem.iovecs(16, 2).is_err());
    }

    #[test]
    fn an_unterminated_c_string_is_out_of_bounds() {
        let mut bytes = vec![b'x'; 8];
        let mem = GuestMemory::new(&mut bytes);
        assert!(mem.c_str(2).is_err());
        assert!(mem.c_str(9).is_err());
    }

    #[test]
    fn c_strings_are_bounded_however_long_the_memory() {
        let mut bytes = vec![b'x'; 3 * C_STRING_CHUNK];
        let last = bytes.len() - 1;
        bytes[last] = 0;
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.c_str(0).map(|s| s.len()), Ok(last));
        assert_eq!(
            mem.c_str_within(0, 10),
            Err(GuestError::Unterminated { ptr: 0, max: 10 })
        );
        assert_eq!(
            mem.c_str_within(last as u32 - 10, 10).map(|s| s.len()),
            Ok(10)
        );
        assert_eq!(
            Errno::from(mem.c_str_within(0, 100).unwrap_err()),
            Errno::NameTooLong
        );
    }

    #[test]
    fn fill_keeps_what_it_did_not_write_and_checks_first() {
        let mut bytes = vec![7u8; 16];
        let mut mem = GuestMemory::new(&mut bytes);
        let written = mem.fill(4, 8, |buf| {
            buf[..3].copy_from_slice(b"abc");
            Ok::<_, GuestError>(3)
        });
        assert_eq!(written, Ok(3));
        let mut ran = false;
        let refused = mem.fill(12, 8, |_| {
            ran = true;
            Ok::<_, GuestError>(0)
        });
        assert!(refused.is_err() && !ran);
        assert_eq!(&bytes[3..9], &[7, b'a', b'b', b'c', 7, 7]);
    }
}
