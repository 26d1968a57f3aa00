//! The engine's pool of memory slots. A slot is `[guard][reservation][guard]` of address space,
//! all `PROT_NONE` except the accessible prefix of the reservation. Released slots have their
//! pages discarded and are kept on a free list with their access rights and memory image, so
//! creating an instance does not map and unmap gigabytes of address space each time, and a memory
//! of the same size (and image) as the slot's last one costs no system call to set up.
//!
//! Resetting a slot to its image costs time in proportion to the pages written, not to the
//! image: where the kernel can track writes ([`sys::written_pages`]), the image's range is
//! write-protected from the slot's first reset on, a reset asks which pages were written since
//! (one `ioctl`) and copies the image's bytes back into them, and those pages stay resident and
//! writable, so the next call writing them again takes no fault. Past [`MAX_RESTORED_PAGES`]
//! written pages (or after growth or shared mappings), the slot falls back to one `madvise`
//! over everything and protects the image again. A slot whose memory was not written since its
//! last reset is returned to the pool as it is, without a system call.

use crate::image::MemoryImage;
use crate::sys::{self, Protection};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

/// How many released slots the pool keeps (per pool) before unmapping the rest: bounds the
/// address space held by idle slots (about 4 GiB each with guard regions).
const MAX_FREE_SLOTS: usize = 64;

/// Most written pages a reset copies back from the image (2 MiB with 4 KiB pages); beyond
/// that it discards them all with `madvise`. Copying a page costs about a tenth of the fault
/// that brings a discarded page back, so keeping written pages resident pays until the copies
/// outgrow the faults; this also bounds the resident memory a free slot keeps. Measured with a
/// no-op Python function (CPython writes 64 to 256 pages per call, scattered over its heap):
/// 0.93 ms per warm call with a limit of 64 pages, 0.18 ms with 512.
pub(crate) const MAX_RESTORED_PAGES: usize = 512;

/// One reserved region for a linear memory. Unmapped when dropped, unless returned to the pool.
#[derive(Debug)]
pub(crate) struct Slot {
    mapping: *mut u8,
    mapping_len: usize,
    base: *mut u8,
    reservation: usize,
    accessible: usize,
    /// The memory image mapped copy-on-write at the base, if any: its id and length.
    image: Option<MappedImage>,
    /// Ranges `(offset, len)` where a file is mapped `MAP_SHARED` (see [`Slot::map_shared`]),
    /// removed by every discard.
    shared: Vec<(usize, usize)>,
    /// Whether the image's range is registered for write tracking and was write-protected
    /// when its contents were last the image's: then the pages written since are exactly those
    /// [`sys::written_pages::scan_written`] reports.
    tracked: bool,
    /// Set by the slot's owner when giving it back: its contents are its image's (or its
    /// zeros), it is accessible exactly over the image and maps nothing shared. The pool then
    /// keeps it without discarding anything.
    clean: bool,
}

/// The image a slot maps at its base (kept so that a released slot can restore the pages
/// written in it; the mapping holds the image's file open anyway).
type MappedImage = Arc<MemoryImage>;

// SAFETY: a slot is an exclusively owned mapping; its pointers are addresses, not shared Rust data.
unsafe impl Send for Slot {}

impl Slot {
    fn reserve(guard: usize, reservation: usize) -> io::Result<Slot> {
        let too_large = || io::Error::other("memory reservation too large");
        let mapping_len = guard
            .checked_mul(2)
            .and_then(|g| g.checked_add(reservation))
            .ok_or_else(too_large)?;
        let mapping = sys::map_anonymous(mapping_len, Protection::None)?;
        Ok(Slot {
            mapping,
            mapping_len,
            // SAFETY: `guard < mapping_len`, so the result stays inside the mapping.
            base: unsafe { mapping.add(guard) },
            reservation,
            accessible: 0,
            image: None,
            shared: Vec::new(),
            tracked: false,
            clean: false,
        })
    }

    /// The first byte of the reservation: the memory's base, which never moves.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Whether `address` lies in the slot's inaccessible part: a guard region, or the part of
    /// the reservation above the accessible prefix. Only reads plain fields: the signal handler
    /// calls it.
    pub(crate) fn is_inaccessible(&self, address: usize) -> bool {
        let mapping = self.mapping as usize;
        let base = self.base as usize;
        let in_mapping = address >= mapping && address - mapping < self.mapping_len;
        let accessible = address >= base && address - base < self.accessible;
        in_mapping && !accessible
    }

    /// Size of the reservation in bytes.
    #[cfg(test)]
    pub(crate) fn reservation(&self) -> usize {
        self.reservation
    }

    /// Number of accessible (read-write) bytes at the base.
    #[cfg(test)]
    pub(crate) fn accessible(&self) -> usize {
        self.accessible
    }

    /// Makes the first `len` bytes (a multiple of the page size, within the reservation)
    /// accessible. Never shrinks.
    pub(crate) fn make_accessible(&mut self, len: usize) -> io::Result<()> {
        if len > self.reservation {
            return Err(io::Error::other("beyond the slot's reservation"));
        }
        if len <= self.accessible {
            return Ok(());
        }
        // SAFETY: `[accessible, len)` lies in our reservation and is inaccessible now, so no Rust
        // reference to it exists.
        unsafe {
            sys::protect(
                self.base.add(self.accessible),
                len - self.accessible,
                Protection::ReadWrite,
            )?
        };
        self.accessible = len;
        Ok(())
    }

    /// Makes exactly the first `len` bytes (a multiple of the page size, within the reservation)
    /// accessible, growing or shrinking the accessible prefix with at most one `mprotect`.
    fn set_accessible(&mut self, len: usize) -> io::Result<()> {
        if len >= self.accessible {
            return self.make_accessible(len);
        }
        // SAFETY: `[len, accessible)` lies in our reservation; the memory that will use the slot
        // does not exist yet (or has shrunk below `len`), so nothing references those pages.
        unsafe { sys::protect(self.base.add(len), self.accessible - len, Protection::None)? };
        self.accessible = len;
        Ok(())
    }

    /// Makes a live slot hold `image` at its base instead of its current contents: what was
    /// written is discarded, then the image is installed (see [`Slot::install_image`]).
    pub(crate) fn map_image(&mut self, image: &Arc<MemoryImage>) -> io::Result<()> {
        let own_file = self.holds_image(image).then(|| image.file());
        self.discard(own_file)?;
        self.install_image(image)
    }

    /// Makes a slot whose contents were discarded hold `image` at its base, accessible and
    /// copy-on-write, with nothing accessible above it. A slot that already maps this image
    /// only needs its access rights adjusted (often nothing); otherwise the image is mapped with
    /// one `mmap`, O(1) in its size.
    fn install_image(&mut self, image: &Arc<MemoryImage>) -> io::Result<()> {
        if image.len() > self.reservation {
            return Err(io::Error::other(
                "memory image beyond the slot's reservation",
            ));
        }
        if self.image_id() == Some(image.id()) {
            return self.set_accessible(image.len());
        }
        self.forget_image()?;
        self.set_accessible(0)?;
        // SAFETY: `[base, base + len)` lies in our reservation, is inaccessible (so
        // unreferenced), and the image's file is at least `len` bytes long.
        unsafe { sys::map_file_private_fixed(self.base, image.len(), image.file())? };
        self.image = Some(Arc::clone(image));
        self.accessible = image.len();
        // Tracked from its first discard on (see `protect_image`), not now: write-protecting
        // allocates page tables over the image, which an idle Faaslet that is never called
        // should not hold.
        self.tracked = false;
        Ok(())
    }

    /// Returns the slot to its image: the image's bytes are copied back into the pages written
    /// since (see [`Slot::restore_written_pages`]: one `ioctl` and the copies), or, where that
    /// does not apply, written pages are discarded (the image's bytes show through again,
    /// pages above it read as zero) and access above the image is removed: one `madvise` over
    /// the accessible range (the kernel walks the page tables of that range: proportional to
    /// what was mapped, not to the image's size) plus one `mprotect` if the memory grew.
    /// Without an image, the slot is emptied. `image` is the image the slot holds, which lets
    /// shared mappings over it be undone in place.
    pub(crate) fn reset_to_image(&mut self, image: Option<&MemoryImage>) -> io::Result<usize> {
        if let Some(image) = image
            && self.restore_written_pages(image)
        {
            return Ok(image.len());
        }
        let own_file = image
            .filter(|image| self.holds_image(image))
            .map(MemoryImage::file);
        self.discard(own_file)?;
        let image_len = self.image_len();
        self.set_accessible(image_len)?;
        Ok(image_len)
    }

    /// [`Slot::restore_own_image`], if `image` is the image the slot maps.
    fn restore_written_pages(&mut self, image: &MemoryImage) -> bool {
        self.holds_image(image) && self.restore_own_image()
    }

    /// Copies the bytes of the image the slot maps back into the pages written since the slot
    /// last held exactly that image, if the slot is tracked, the image covers exactly its
    /// accessible range with nothing shared, and at most [`MAX_RESTORED_PAGES`] pages were
    /// written. False (nothing done) otherwise: the caller discards instead. The pages stay
    /// written (unprotected): the next reset copies them again, and the next call writing them
    /// takes no fault.
    fn restore_own_image(&mut self) -> bool {
        let Some(image) = self.image.as_ref() else {
            return false;
        };
        let restorable = self.tracked && self.shared.is_empty() && self.accessible == image.len();
        let Some(bytes) = image.bytes().filter(|_| restorable) else {
            return false;
        };
        let base = self.base;
        let restored = sys::written_pages::scan_written(
            base,
            image.len(),
            MAX_RESTORED_PAGES,
            |offset, len| {
                let source = &bytes[offset..offset + len];
                // SAFETY: the scan reports ranges inside `[base, base + image.len())`, which is
                // accessible (checked above) and owned by this slot, whose owner is resetting
                // it and holds no reference into it; `source` is the image's view, a separate
                // mapping.
                unsafe { std::ptr::copy_nonoverlapping(source.as_ptr(), base.add(offset), len) };
            },
        );
        restored.unwrap_or(false)
    }

    /// Marks the slot as holding exactly its image (or zeros), accessible over exactly it, with
    /// nothing shared: [`SlotPool::release`] then keeps it as it is. Only the owner, which
    /// knows nothing was written since its last reset, may say so.
    pub(crate) fn set_clean(&mut self, clean: bool) {
        self.clean = clean;
    }

    /// Whether `image` is the one mapped at the base.
    pub(crate) fn holds_image(&self, image: &MemoryImage) -> bool {
        self.image_id() == Some(image.id())
    }

    /// The id of the image mapped at the base, if any.
    fn image_id(&self) -> Option<u64> {
        self.image.as_ref().map(|image| image.id())
    }

    /// The length of the image mapped at the base (0 without one).
    fn image_len(&self) -> usize {
        self.image.as_ref().map_or(0, |image| image.len())
    }

    /// Replaces a mapped image by plain anonymous memory, inaccessible over the image's range
    /// and zero above it.
    fn forget_image(&mut self) -> io::Result<()> {
        if self.image.is_some() {
            // The fresh mapping is inaccessible: keep the accessible range a prefix.
            self.set_accessible(0)?;
            // SAFETY: the image's range lies in our reservation and is inaccessible now, so
            // nothing references it.
            unsafe { sys::map_anonymous_fixed(self.base, self.image_len())? };
            self.image = None;
            self.tracked = false;
        }
        Ok(())
    }

    /// Discards what was written: shared mappings are removed (see [`Slot::unmap_shared`]), the
    /// image's bytes (or zeros) show through again. Access rights stay as they are.
    fn discard(&mut self, image_file: Option<&File>) -> io::Result<()> {
        let remapped = self.unmap_shared(image_file)?;
        // SAFETY: the accessible prefix is ours and its owner asked to drop what it wrote (or
        // the memory that used it is gone).
        unsafe { sys::discard(self.base, self.accessible)? };
        self.protect_image(remapped);
        Ok(())
    }

    /// After a discard, when the slot holds its image again: write-protects the image's range
    /// (discarded pages lose their protection), registering it first if it is not tracked yet
    /// or parts of it were mapped anew (`remapped`). From then on, resets copy written pages
    /// back instead of discarding. If that fails (or the kernel cannot track writes), the slot
    /// is not tracked and its resets discard.
    fn protect_image(&mut self, remapped: bool) {
        let image_len = self.image_len();
        if self.image.is_none() || !sys::written_pages::available() {
            return;
        }
        let register = remapped || !self.tracked;
        // SAFETY: the image's range is a page-aligned part of our reservation.
        let protected = unsafe {
            if register {
                sys::written_pages::track(self.base, image_len)
            } else {
                sys::written_pages::protect(self.base, image_len)
            }
        };
        self.tracked = protected.is_ok();
    }

    /// Maps `len` bytes of `file` from `file_offset` at `offset` in the slot, `MAP_SHARED`: the
    /// memory then reads and writes the file's pages, as does every other mapping of it. The
    /// range must be page-aligned and accessible; `file_offset + len` must lie within the file.
    /// The next discard (reset, release) puts back what the slot held there.
    pub(crate) fn map_shared(
        &mut self,
        offset: usize,
        len: usize,
        file: &std::fs::File,
        file_offset: u64,
    ) -> io::Result<()> {
        let page = sys::page_size();
        let aligned = offset.is_multiple_of(page)
            && len.is_multiple_of(page)
            && file_offset.is_multiple_of(page as u64);
        if !aligned {
            return Err(io::Error::other("shared mappings must be page-aligned"));
        }
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.accessible)
        {
            return Err(io::Error::other(
                "shared mapping beyond the accessible memory",
            ));
        }
        // SAFETY: `[offset, offset + len)` lies in the accessible part of our reservation, whose
        // owner (the memory, borrowed mutably by the caller) holds no reference into it; the
        // caller's file covers the range (checked by the kernel: a short file faults on
        // access, which the signal handler reports as out of bounds).
        unsafe {
            sys::map_file_fixed(
                self.base.add(offset),
                len,
                file,
                file_offset,
                libc::MAP_SHARED,
            )?
        };
        self.shared.push((offset, len));
        Ok(())
    }

    /// Ranges where a file is mapped shared.
    pub(crate) fn shared_ranges(&self) -> &[(usize, usize)] {
        &self.shared
    }

    /// Puts back what the slot held under every shared mapping: the image's pages (copy-on-
    /// write) below the image's end, zeroed anonymous memory above it. `image_file` is the file
    /// of the image the slot holds, if the caller has it; without it, a shared mapping over the
    /// image makes the slot forget the image (its pages cannot be put back).
    /// True if parts of the image's range were mapped anew.
    fn unmap_shared(&mut self, image_file: Option<&File>) -> io::Result<bool> {
        if self.shared.is_empty() {
            return Ok(false);
        }
        let image_len = self.image_len();
        let over_image = self.shared.iter().any(|(offset, _)| *offset < image_len);
        if over_image && image_file.is_none() {
            self.forget_image()?;
        }
        let image_len = self.image_len();
        let mut remapped = false;
        while let Some((offset, len)) = self.shared.pop() {
            let end = offset + len;
            let image_end = image_len.clamp(offset, end);
            // SAFETY: the range lies in our reservation (checked when it was mapped) and its
            // owner is being reset or is gone, so nothing references it; the image's file
            // covers `[0, image_len)`.
            unsafe {
                if let Some(file) = image_file.filter(|_| image_end > offset) {
                    let base = self.base.add(offset);
                    sys::map_file_fixed(
                        base,
                        image_end - offset,
                        file,
                        offset as u64,
                        libc::MAP_PRIVATE,
                    )?;
                    remapped = true;
                }
                let above = self.base.add(image_end);
                if end <= self.accessible {
                    sys::map_anonymous_rw_fixed(above, end - image_end)?;
                } else {
                    sys::map_anonymous_fixed(above, end - image_end)?;
                }
            }
        }
        Ok(remapped)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and its memory is gone.
        let _ = unsafe { sys::unmap(self.mapping, self.mapping_len) };
    }
}

/// Free slots by reservation size; all slots of one pool share a guard size.
#[derive(Debug)]
pub(crate) struct SlotPool {
    guard: usize,
    free: Mutex<HashMap<usize, Vec<Slot>>>,
}

impl SlotPool {
    /// A pool whose slots have `guard` bytes (rounded up to pages) on each side.
    pub(crate) fn new(guard: usize) -> SlotPool {
        SlotPool {
            guard: sys::round_up_to_page(guard).unwrap_or(guard),
            free: Mutex::new(HashMap::new()),
        }
    }

    /// A slot with at least `reservation` bytes whose first `len` bytes (a multiple of the page
    /// size) are accessible and zero, and nothing above them.
    pub(crate) fn acquire(&self, reservation: usize, len: usize) -> io::Result<Slot> {
        let mut slot = self.take(reservation, None)?;
        let prepared = slot.forget_image().and_then(|()| slot.set_accessible(len));
        if let Err(error) = prepared {
            self.release(slot);
            return Err(error);
        }
        Ok(slot)
    }

    /// A slot with at least `reservation` bytes holding `image` at its base (see
    /// [`Slot::install_image`]). Prefers a free slot that last held the same image: nothing to
    /// map.
    pub(crate) fn acquire_with_image(
        &self,
        reservation: usize,
        image: &Arc<MemoryImage>,
    ) -> io::Result<Slot> {
        let mut slot = self.take(reservation, Some(image.id()))?;
        if let Err(error) = slot.install_image(image) {
            self.release(slot);
            return Err(error);
        }
        Ok(slot)
    }

    /// A free slot of the reservation (preferring one that maps image `image_id`, or no image if
    /// `None`), or a new one.
    fn take(&self, reservation: usize, image_id: Option<u64>) -> io::Result<Slot> {
        let reservation = sys::round_up_to_page(reservation)
            .ok_or_else(|| io::Error::other("memory reservation too large"))?;
        let reused = self.lock().get_mut(&reservation).and_then(|free| {
            let same_image = free.iter().rposition(|slot| slot.image_id() == image_id);
            match same_image {
                Some(position) => Some(free.swap_remove(position)),
                None => free.pop(),
            }
        });
        match reused {
            Some(slot) => Ok(slot),
            None => Slot::reserve(self.guard, reservation),
        }
    }

    /// Discards `slot`'s contents (unless its owner marked it clean) and keeps it for reuse,
    /// with its access rights and image (or unmaps it if the pool is full or the discard
    /// failed).
    pub(crate) fn release(&self, mut slot: Slot) {
        let clean = std::mem::take(&mut slot.clean) || slot.restore_own_image();
        if !clean && slot.discard(None).is_err() {
            return;
        }
        let mut free = self.lock();
        if free.values().map(Vec::len).sum::<usize>() < MAX_FREE_SLOTS {
            free.entry(slot.reservation).or_default().push(slot);
        }
    }

    /// Number of slots waiting for reuse.
    #[cfg(test)]
    pub(crate) fn free_slots(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Vec<Slot>>> {
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the page at `addr` is mapped without any access, from `/proc/self/maps`.
    fn page_is_inaccessible(addr: *mut u8) -> bool {
        let addr = addr as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        maps.lines().any(|line| {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                return false;
            };
            let Some((start, end)) = range.split_once('-') else {
                return false;
            };
            let parse = |hex| usize::from_str_radix(hex, 16).unwrap_or(0);
            (parse(start)..parse(end)).contains(&addr) && perms.starts_with("---")
        })
    }

    #[test]
    fn released_slots_are_reused_and_reset() {
        let pool = SlotPool::new(64 << 10);
        let mut slot = pool.acquire(1 << 20, 0).expect("reserve");
        slot.make_accessible(128 << 10).expect("grow");
        // SAFETY: the first 128 KiB are accessible.
        unsafe { slot.base().write(42) };
        let base = slot.base();
        pool.release(slot);
        assert_eq!(pool.free_slots(), 1);
        let again = pool.acquire(1 << 20, 64 << 10).expect("reuse");
        assert_eq!(again.base(), base, "the free slot is reused");
        assert_eq!(again.accessible(), 64 << 10, "shrunk to the new size");
        // SAFETY: the first 64 KiB are accessible.
        assert_eq!(unsafe { again.base().read() }, 0, "contents were discarded");
        assert_eq!(pool.free_slots(), 0);
        assert!(
            page_is_inaccessible(again.base().wrapping_add(64 << 10)),
            "access above the new size was removed"
        );
    }

    #[test]
    fn images_map_copy_on_write_and_reset_to_their_bytes() {
        let pool = SlotPool::new(64 << 10);
        let mut bytes = vec![0u8; 128 << 10];
        bytes[5] = 5;
        bytes[(128 << 10) - 1] = 9;
        let image = Arc::new(MemoryImage::new(&bytes).expect("image"));
        let mut slot = pool.acquire_with_image(1 << 20, &image).expect("map");
        assert_eq!(slot.accessible(), 128 << 10);
        let base = slot.base();
        // SAFETY: the first 128 KiB are accessible; 192 KiB after growing.
        unsafe {
            assert_eq!(base.add(5).read(), 5);
            base.add(5).write(50);
            slot.make_accessible(192 << 10).expect("grow");
            base.add(150 << 10).write(1);
        }
        assert_eq!(slot.reset_to_image(Some(&image)).expect("reset"), 128 << 10);
        assert_eq!(slot.accessible(), 128 << 10);
        // SAFETY: the image's 128 KiB are accessible again.
        unsafe {
            assert_eq!(base.add(5).read(), 5, "the write was discarded");
            assert_eq!(base.add((128 << 10) - 1).read(), 9);
        }
        slot.make_accessible(192 << 10).expect("grow");
        assert_eq!(
            // SAFETY: 192 KiB are accessible.
            unsafe { base.add(150 << 10).read() },
            0,
            "above the image is zero"
        );
        pool.release(slot);
        let again = pool.acquire_with_image(1 << 20, &image).expect("reuse");
        assert_eq!(
            again.base(),
            base,
            "the slot holding the image is preferred"
        );
        // SAFETY: the image is accessible.
        assert_eq!(unsafe { base.add(5).read() }, 5);
        assert_eq!(again.accessible(), 128 << 10, "released at 192 KiB");
        assert!(page_is_inaccessible(base.wrapping_add(128 << 10)));
        pool.release(again);
        let plain = pool.acquire(1 << 20, 128 << 10).expect("plain");
        assert_eq!(
            // SAFETY: 128 KiB are accessible.
            unsafe { plain.base().add(5).read() },
            0,
            "a plain slot has no image"
        );
    }

    /// A slot holding an image of `pages` host pages, every byte of which depends on its
    /// offset, and the image.
    fn patterned_image(pool: &SlotPool, host_pages: usize) -> (Slot, Arc<MemoryImage>) {
        let len = (host_pages * sys::page_size()).next_multiple_of(64 << 10);
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        let image = Arc::new(MemoryImage::new(&bytes).expect("image"));
        let slot = pool
            .acquire_with_image(len.max(4 << 20), &image)
            .expect("map");
        (slot, image)
    }

    /// Writes one byte into each of `pages` (host page indices) of the slot.
    fn write_pages(slot: &Slot, pages: impl IntoIterator<Item = usize>) {
        for page in pages {
            // SAFETY: callers pass pages inside the accessible image.
            unsafe { slot.base().add(page * sys::page_size() + 5).write(0xee) };
        }
    }

    fn assert_holds(slot: &Slot, image: &MemoryImage) {
        // SAFETY: the image's range is accessible and nothing else writes it.
        let now = unsafe { std::slice::from_raw_parts(slot.base(), image.len()) };
        assert!(
            now == image.bytes().expect("view"),
            "differs from the image"
        );
    }

    #[test]
    fn written_pages_are_copied_back_up_to_the_limit_and_discarded_beyond() {
        assert!(
            sys::written_pages::available(),
            "write tracking needs Linux 6.7 or later with userfaultfd allowed"
        );
        let pool = SlotPool::new(64 << 10);
        let (mut slot, image) = patterned_image(&pool, 4 * MAX_RESTORED_PAGES);
        assert!(
            !slot.tracked,
            "an image is tracked from its first discard on"
        );
        write_pages(&slot, [7]);
        assert!(!slot.restore_written_pages(&image), "not tracked yet");
        slot.reset_to_image(Some(&image)).expect("reset");
        assert_holds(&slot, &image);
        assert!(slot.tracked, "tracked after the first discard");
        assert!(
            slot.restore_written_pages(&image),
            "nothing written: nothing to do"
        );
        // Every other page, up to the limit: many regions, all copied back.
        write_pages(&slot, (0..MAX_RESTORED_PAGES).map(|p| 2 * p));
        assert!(slot.restore_written_pages(&image));
        assert_holds(&slot, &image);
        // Copied pages stay written: writing them again and resetting copies them again.
        write_pages(&slot, [0, 2]);
        assert!(slot.restore_written_pages(&image));
        assert_holds(&slot, &image);
        // One page more than the limit: the scan gives up and the reset discards.
        write_pages(&slot, [1]);
        assert!(!slot.restore_written_pages(&image), "beyond the limit");
        assert_eq!(
            slot.reset_to_image(Some(&image)).expect("reset"),
            image.len()
        );
        assert_holds(&slot, &image);
        // The discard protected the image again: nothing counts as written.
        assert!(slot.tracked);
        write_pages(&slot, [3]);
        assert!(slot.restore_written_pages(&image));
        assert_holds(&slot, &image);
        // Released written: the pool copies the page back too, and the slot stays tracked.
        write_pages(&slot, [9]);
        let base = slot.base();
        pool.release(slot);
        let again = pool
            .acquire_with_image(image.len().max(4 << 20), &image)
            .expect("reuse");
        assert_eq!(again.base(), base);
        assert!(again.tracked);
        assert_holds(&again, &image);
        pool.release(again);
    }

    #[test]
    fn growth_and_shared_mappings_take_the_discarding_reset() {
        let pool = SlotPool::new(64 << 10);
        let (mut slot, image) = patterned_image(&pool, 16);
        slot.reset_to_image(Some(&image))
            .expect("first reset: tracking starts");
        write_pages(&slot, [1]);
        slot.make_accessible(image.len() + (64 << 10))
            .expect("grow");
        assert!(!slot.restore_written_pages(&image), "grown");
        slot.reset_to_image(Some(&image)).expect("reset");
        assert_holds(&slot, &image);
        let page = sys::page_size();
        let path = std::env::temp_dir().join(format!("faasm-pool-test-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("file");
        std::fs::remove_file(&path).expect("unlink");
        file.set_len(page as u64).expect("size");
        slot.map_shared(page, page, &file, 0).expect("share");
        assert!(!slot.restore_written_pages(&image), "shared");
        slot.reset_to_image(Some(&image)).expect("reset");
        assert_holds(&slot, &image);
        assert!(slot.tracked, "registered again over the remapped page");
        write_pages(&slot, [1]);
        assert!(slot.restore_written_pages(&image));
        assert_holds(&slot, &image);
        pool.release(slot);
    }

    #[test]
    fn a_slot_released_clean_keeps_what_it_holds() {
        let pool = SlotPool::new(64 << 10);
        let (mut slot, image) = patterned_image(&pool, 16);
        // A write the owner did not report: a clean release keeps it, which is why only an
        // owner that knows nothing was written may say clean.
        write_pages(&slot, [2]);
        let base = slot.base();
        slot.set_clean(true);
        pool.release(slot);
        let again = pool.acquire_with_image(4 << 20, &image).expect("reuse");
        assert_eq!(again.base(), base);
        // SAFETY: the image is accessible.
        assert_eq!(unsafe { base.add(2 * sys::page_size() + 5).read() }, 0xee);
        assert!(!again.clean, "cleanliness is said once, at release");
        pool.release(again);
        let third = pool.acquire_with_image(4 << 20, &image).expect("reuse");
        assert_holds(&third, &image);
        pool.release(third);
    }

    #[test]
    fn growth_stops_at_the_reservation() {
        let pool = SlotPool::new(4096);
        let mut slot = pool.acquire(64 << 10, 0).expect("reserve");
        assert!(slot.make_accessible(64 << 10).is_ok());
        assert!(slot.make_accessible(128 << 10).is_err());
        assert_eq!(slot.reservation(), 64 << 10);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_slots() {
        let pool = SlotPool::new(4096);
        let slots: Vec<_> = (0..MAX_FREE_SLOTS + 3)
            .map(|_| pool.acquire(4096, 4096).expect("reserve"))
            .collect();
        for slot in slots {
            pool.release(slot);
        }
        assert_eq!(pool.free_slots(), MAX_FREE_SLOTS);
    }
}
