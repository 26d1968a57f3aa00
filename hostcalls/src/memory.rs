//! A safe, checked view of a guest's linear memory.
//!
//! Host calls get the caller's memory as a `&mut [u8]` ([`faasm_runtime::Caller::memory_mut`]).
//! [`GuestMemory`] wraps it so that every guest pointer and length is checked before use:
//! ranges are computed in `usize` with overflow checks, so `ptr + len` past 4 GiB or past the
//! memory's end is a [`GuestError`], never a panic or an access outside the slice. WASI calls
//! turn a [`GuestError`] into `EFAULT` (or `EILSEQ` for a string that is not UTF-8).

use crate::errno::Errno;
use std::ops::Range;

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
}

impl From<GuestError> for Errno {
    fn from(error: GuestError) -> Errno {
        match error {
            GuestError::OutOfBounds { .. } => Errno::Fault,
            GuestError::InvalidUtf8 { .. } => Errno::IlSeq,
        }
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
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    /// A view of `bytes`, the whole of a linear memory.
    pub fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { bytes }
    }

    /// The memory's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the memory has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The host range of `[ptr, ptr + len)`, if it lies inside the memory.
    pub fn range(&self, ptr: u32, len: u64) -> Result<Range<usize>, GuestError> {
        let out_of_bounds = || GuestError::OutOfBounds {
            ptr,
            len,
            memory_size: self.bytes.len(),
        };
        let start = usize::try_from(ptr).map_err(|_| out_of_bounds())?;
        let len = usize::try_from(len).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        if end > self.bytes.len() {
            return Err(out_of_bounds());
        }
        Ok(start..end)
    }

    /// The `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], GuestError> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&self.bytes[range])
    }

    /// The `len` bytes at `ptr`, writable.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], GuestError> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&mut self.bytes[range])
    }

    /// Copies `data` to `ptr`.
    pub fn write_bytes(&mut self, ptr: u32, data: &[u8]) -> Result<(), GuestError> {
        let range = self.range(ptr, data.len() as u64)?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    /// The `N` bytes at `ptr`.
    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], GuestError> {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.range(ptr, N as u64)?]);
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
    pub fn str(&self, ptr: u32, len: u32) -> Result<&str, GuestError> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| GuestError::InvalidUtf8 { ptr, len })
    }

    /// The NUL-terminated string at `ptr`, without its NUL (the Faasm `env` interface passes
    /// keys and names so). A string that runs to the end of memory is out of bounds.
    pub fn c_str(&self, ptr: u32) -> Result<&str, GuestError> {
        let rest = self.range(ptr, 0).map(|range| &self.bytes[range.start..])?;
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(GuestError::OutOfBounds {
                ptr,
                len: rest.len() as u64 + 1,
                memory_size: self.bytes.len(),
            })?;
        let len = u32::try_from(len).map_err(|_| GuestError::OutOfBounds {
            ptr,
            len: len as u64,
            memory_size: self.bytes.len(),
        })?;
        self.str(ptr, len)
    }

    /// The `count` iovecs of the array at `ptr`, each checked to lie inside the memory, so a
    /// call can reject a bad one before it has any effect.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<IoVec>, GuestError> {
        let array = self.range(ptr, u64::from(count) * u64::from(crate::types::size::IOVEC))?;
        let iovecs: Vec<IoVec> = self.bytes[array]
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
        assert!(mem.slice(u32::MAX, u32::MAX).is_err());
        assert!(mem.slice(1, u32::MAX).is_err());
        assert!(mem.slice(64, 1).is_err());
        assert_eq!(mem.slice(64, 0).map(<[u8]>::len), Ok(0));
        assert!(mem.range(0, u64::MAX).is_err());
        assert_eq!(Errno::from(mem.slice(65, 0).unwrap_err()), Errno::Fault);
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
        assert!(mem.slice(0, 0).is_ok());
    }

    #[test]
    fn strings_and_iovecs() {
        let mut bytes = vec![0u8; 32];
        bytes[0..5].copy_from_slice(b"hello");
        bytes[8..12].copy_from_slice(&[0xff, 0xfe, 0, 0]);
        bytes[16..24].copy_from_slice(&[0, 0, 0, 0, 5, 0, 0, 0]);
        bytes[24..32].copy_from_slice(&[30, 0, 0, 0, 9, 0, 0, 0]);
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.str(0, 5), Ok("hello"));
        assert_eq!(mem.c_str(0), Ok("hello"));
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
}
