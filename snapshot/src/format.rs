//! The serialised form of a snapshot, version 1, all integers little-endian:
//!
//! ```text
//! magic "FAASMSNP" | version u32 | fingerprint (u32 length + UTF-8) | module SHA-256 (32 bytes)
//! memories: u32 count, each u64 length (whole 64 KiB pages) + bytes
//! globals:  u32 count, each 16 bytes (raw value, function references as index + 1)
//! tables:   u32 count, each u32 length + that many u64 elements
//! dropped data segments: u32 count, each one byte 0 or 1
//! SHA-256 of everything above (32 bytes)
//! ```
//!
//! The loader checks the checksum first, then parses strictly (no trailing bytes, every count
//! bounded by the bytes left), then checks the engine fingerprint, the module hash and that the
//! state fits the module.

use crate::{RestoreError, Snapshot};
use faasm_runtime::{InstanceImage, MemoryImage, Module};
use sha2::{Digest, Sha256};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"FAASMSNP";
const VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;

impl Snapshot {
    /// The snapshot in the versioned, checksummed format above. Fails only if reading a
    /// memory image back fails.
    pub fn serialize(&self) -> std::io::Result<Vec<u8>> {
        let image = self.image();
        let mut out = Vec::with_capacity(self.memory_bytes() + 256);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, VERSION);
        let fingerprint = self.module().engine().fingerprint().as_bytes();
        put_u32(&mut out, fingerprint.len() as u32);
        out.extend_from_slice(fingerprint);
        out.extend_from_slice(&self.module().wasm_sha256());
        put_u32(&mut out, image.memories.len() as u32);
        for memory in &image.memories {
            out.extend_from_slice(&(memory.len() as u64).to_le_bytes());
            out.extend_from_slice(&memory.to_vec()?);
        }
        put_u32(&mut out, image.globals.len() as u32);
        for global in &image.globals {
            out.extend_from_slice(&global.to_le_bytes());
        }
        put_u32(&mut out, image.tables.len() as u32);
        for table in &image.tables {
            put_u32(&mut out, table.len() as u32);
            table
                .iter()
                .for_each(|e| out.extend_from_slice(&e.to_le_bytes()));
        }
        put_u32(&mut out, image.dropped_data.len() as u32);
        out.extend(image.dropped_data.iter().map(|d| u8::from(*d)));
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        Ok(out)
    }

    /// Loads a snapshot of `module` (compiled by the engine that will run it) from `bytes`,
    /// rejecting anything truncated, corrupt, of another version, engine or module, or whose
    /// state does not fit the module.
    pub fn deserialize(module: &Module, bytes: &[u8]) -> Result<Snapshot, RestoreError> {
        let body = verified_body(bytes)?;
        let mut reader = Reader(body);
        read_header(&mut reader, module)?;
        let image = read_image(&mut reader)?;
        if !reader.0.is_empty() {
            return Err(RestoreError::Malformed("trailing bytes".to_string()));
        }
        image.check_fits(module).map_err(RestoreError::Malformed)?;
        Ok(Snapshot {
            module: module.clone(),
            image: Arc::new(image),
        })
    }
}

/// The bytes before the checksum, once magic, version and checksum are right.
fn verified_body(bytes: &[u8]) -> Result<&[u8], RestoreError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) {
            RestoreError::Truncated
        } else {
            RestoreError::BadMagic
        });
    }
    let version_end = MAGIC.len() + 4;
    let version = bytes
        .get(MAGIC.len()..version_end)
        .ok_or(RestoreError::Truncated)?;
    let version = u32::from_le_bytes(version.try_into().map_err(|_| RestoreError::Truncated)?);
    if version != VERSION {
        return Err(RestoreError::UnsupportedVersion {
            found: version,
            expected: VERSION,
        });
    }
    let split = bytes
        .len()
        .checked_sub(CHECKSUM_LEN)
        .filter(|s| *s >= version_end)
        .ok_or(RestoreError::Truncated)?;
    let (body, checksum) = bytes.split_at(split);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(RestoreError::Checksum);
    }
    Ok(&body[version_end..])
}

fn read_header(reader: &mut Reader<'_>, module: &Module) -> Result<(), RestoreError> {
    let fingerprint_len = reader.u32()? as usize;
    let fingerprint = reader.bytes(fingerprint_len)?;
    let fingerprint = std::str::from_utf8(fingerprint)
        .map_err(|_| RestoreError::Malformed("fingerprint is not UTF-8".to_string()))?;
    if fingerprint != module.engine().fingerprint() {
        return Err(RestoreError::EngineMismatch(fingerprint.to_string()));
    }
    if reader.bytes(32)? != module.wasm_sha256() {
        return Err(RestoreError::ModuleMismatch);
    }
    Ok(())
}

fn read_image(reader: &mut Reader<'_>) -> Result<InstanceImage, RestoreError> {
    let memories = reader.list(8, |r| {
        let len = usize::try_from(r.u64()?).map_err(|_| RestoreError::Truncated)?;
        let image = MemoryImage::new(r.bytes(len)?)
            .map_err(|e| RestoreError::Malformed(format!("memory image: {e}")))?;
        Ok(Arc::new(image))
    })?;
    let globals = reader.list(16, |r| {
        let bytes = r.bytes(16)?;
        Ok(u128::from_le_bytes(bytes.try_into().expect("16 bytes")))
    })?;
    let tables = reader.list(4, |r| r.list(8, Reader::u64))?;
    let dropped_data = reader.list(1, |r| match r.bytes(1)? {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(RestoreError::Malformed("data segment flag".to_string())),
    })?;
    Ok(InstanceImage {
        memories,
        globals,
        tables,
        dropped_data,
    })
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Reads from the front of a byte slice; running out is `Truncated`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], RestoreError> {
        if len > self.0.len() {
            return Err(RestoreError::Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, RestoreError> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, RestoreError> {
        let bytes = self.bytes(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// A u32 count, then that many items of at least `min_item_len` bytes each (the count is
    /// checked against the bytes left before anything is allocated).
    fn list<T>(
        &mut self,
        min_item_len: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, RestoreError>,
    ) -> Result<Vec<T>, RestoreError> {
        let count = self.u32()? as usize;
        if count.saturating_mul(min_item_len) > self.0.len() {
            return Err(RestoreError::Truncated);
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_stop_at_the_end() {
        let mut reader = Reader(&[1, 0, 0, 0, 9]);
        assert_eq!(reader.u32(), Ok(1));
        assert_eq!(reader.u32(), Err(RestoreError::Truncated));
        let mut reader = Reader(&[200, 0, 0, 0, 1, 2]);
        assert_eq!(
            reader.list(1, |r| r.bytes(1).map(|b| b[0])),
            Err(RestoreError::Truncated)
        );
    }

    #[test]
    fn magic_and_version_are_checked_before_anything() {
        assert_eq!(verified_body(b"FAAS").unwrap_err(), RestoreError::Truncated);
        assert_eq!(
            verified_body(b"\0asm\x01\0\0\0").unwrap_err(),
            RestoreError::BadMagic
        );
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            verified_body(&bytes).unwrap_err(),
            RestoreError::UnsupportedVersion {
                found: 2,
                expected: 1
            }
        );
    }
}
