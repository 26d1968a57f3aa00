//! Memory images: the bytes of a linear memory in a sealed memfd, mapped copy-on-write
//! (`MAP_FIXED | MAP_PRIVATE`) over the start of a slot. Mapping is O(1) in the image's size and
//! pages stay shared with the file until written; `madvise(MADV_DONTNEED)` of a private file
//! mapping makes the pages read as the image again, which is how a memory is reset.

use crate::sys;
use faasm_jit::{ConstOp, DataKind, ModuleInfo, WASM_PAGE_SIZE};
use std::fmt;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Below this many bytes of active data, a memory's segments are copied at instantiation rather
/// than mapped from an image: copying a few KiB costs less than mapping one (and each image holds
/// a file descriptor for the module's life).
pub(crate) const MIN_IMAGE_DATA_BYTES: usize = 16 << 10;

/// The contents of one linear memory, immutable, shareable between any number of memories (and
/// threads). Its length is a whole number of Wasm pages.
pub struct MemoryImage {
    file: File,
    len: usize,
    id: u64,
    /// A read-only view of the bytes, mapped on first use (resets copy written pages back
    /// from it); `None` if mapping failed.
    view: OnceLock<Option<View>>,
}

/// A read-only shared mapping of a sealed image file.
struct View {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the view is an immutable mapping (its file is sealed against writes), owned by the
// image; sharing its address between threads shares only reads.
unsafe impl Send for View {}
// SAFETY: as for `Send`: nothing can write through or behind the mapping.
unsafe impl Sync for View {}

impl Drop for View {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the view's mapping is ours, and the image that lent out slices of it is
            // being dropped, so none remain.
            let _ = unsafe { sys::unmap(self.ptr.cast_mut(), self.len) };
        }
    }
}

impl MemoryImage {
    /// An image of `bytes`, whose length must be a multiple of the Wasm page size (64 KiB).
    pub fn new(bytes: &[u8]) -> io::Result<MemoryImage> {
        MemoryImage::from_chunks(bytes.len(), &[(0, bytes)])
    }

    /// An image of a memory of `len` bytes holding `chunks` (offset, bytes) and zeros
    /// elsewhere: a memory's private pages, without its shared mappings (which are not its
    /// own contents).
    pub(crate) fn of_chunks(len: usize, chunks: &[(usize, &[u8])]) -> io::Result<MemoryImage> {
        MemoryImage::from_chunks(len, chunks)
    }

    /// An image of `len` bytes (a multiple of the Wasm page size), zero except for `chunks`
    /// (offset, bytes) written in order. Pages no chunk touches cost no memory.
    fn from_chunks(len: usize, chunks: &[(usize, &[u8])]) -> io::Result<MemoryImage> {
        if !(len as u64).is_multiple_of(WASM_PAGE_SIZE) {
            return Err(io::Error::other(
                "a memory image must be a whole number of 64 KiB pages",
            ));
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let file = sys::sealed_memfd(c"faasm-memory-image", len, chunks)?;
        Ok(MemoryImage {
            file,
            len,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            view: OnceLock::new(),
        })
    }

    /// The initial contents of defined memory `defined` of a module, if its active data
    /// segments can be applied ahead of instantiation: all at constant offsets, all within the
    /// memory's initial size (otherwise instantiation traps, which the copying path reports),
    /// and at least [`MIN_IMAGE_DATA_BYTES`] of them. `None` also if the image cannot be created
    /// (no file descriptors left, for example): the segments are then copied.
    pub(crate) fn of_data_segments(info: &ModuleInfo, defined: u32) -> Option<Arc<MemoryImage>> {
        let memory = info.num_imported_memories + defined;
        let initial_bytes = info.memories.get(memory as usize)?.minimum * WASM_PAGE_SIZE;
        let mut chunks = Vec::new();
        for segment in &info.data {
            let DataKind::Active {
                memory: target,
                offset,
            } = &segment.kind
            else {
                continue;
            };
            if *target != memory {
                continue;
            }
            let [ConstOp::I32Const(offset)] = offset.ops[..] else {
                return None;
            };
            let offset = offset as u32 as u64;
            if offset + segment.bytes.len() as u64 > initial_bytes {
                return None;
            }
            chunks.push((offset as usize, &segment.bytes[..]));
        }
        let data_bytes: usize = chunks.iter().map(|(_, bytes)| bytes.len()).sum();
        if data_bytes < MIN_IMAGE_DATA_BYTES {
            return None;
        }
        let end = chunks
            .iter()
            .map(|(offset, bytes)| offset + bytes.len())
            .max()?;
        let len = (end as u64).next_multiple_of(WASM_PAGE_SIZE) as usize;
        MemoryImage::from_chunks(len, &chunks).ok().map(Arc::new)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the image is empty (a memory of zero pages).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size in Wasm pages.
    pub fn pages(&self) -> u64 {
        self.len as u64 / WASM_PAGE_SIZE
    }

    /// A copy of the contents (for serialising).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; self.len];
        sys::read_file_at(&self.file, &mut bytes, 0)?;
        Ok(bytes)
    }

    /// Identifies the image for the life of the process (slots remember which one they map).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The image's bytes, through a read-only mapping made on first use; `None` if it cannot
    /// be mapped (out of address space or mappings).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        let view = self.view.get_or_init(|| {
            let ptr = sys::map_file_read_only(&self.file, self.len).ok()?;
            Some(View { ptr, len: self.len })
        });
        // SAFETY: the view maps `len` bytes of a file sealed against writes and resizing
        // (`sys::sealed_memfd`), so the bytes never change; it lives as long as `self`.
        view.as_ref()
            .map(|view| unsafe { std::slice::from_raw_parts(view.ptr, view.len) })
    }
}

impl fmt::Debug for MemoryImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryImage")
            .field("id", &self.id)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_hold_whole_pages_and_read_back() {
        assert!(MemoryImage::new(&[1, 2, 3]).is_err());
        let mut bytes = vec![0u8; 2 * WASM_PAGE_SIZE as usize];
        bytes[70_000] = 7;
        let image = MemoryImage::new(&bytes).expect("image");
        assert_eq!(image.pages(), 2);
        assert_eq!(image.to_vec().expect("read"), bytes);
        assert!(MemoryImage::new(&[]).expect("empty").is_empty());
    }

    #[test]
    fn chunks_are_placed_at_their_offsets_and_the_rest_is_zero() {
        let page = WASM_PAGE_SIZE as usize;
        let (low, high) = (vec![9u8; 100], vec![7u8; 10]);
        let image = MemoryImage::of_chunks(2 * page, &[(1, &low), (70_000, &high)]).expect("image");
        let back = image.to_vec().expect("read");
        assert_eq!((back[0], back[1], back[100], back[101]), (0, 9, 9, 0));
        assert_eq!(&back[70_000..70_010], &high[..]);
        assert_eq!(back.iter().filter(|b| **b != 0).count(), 110);
    }
}
