//! Linear memories in pooled slots. The base never moves; growing makes more pages of the
//! reservation accessible. Under `Guarded`, the reservation is 4 GiB with `guard_bytes` of
//! inaccessible space on each side, which is what lets the compiler omit bounds checks; under
//! `Bounded`, it is the memory's maximum and every access is checked.

use crate::engine::Engine;
use crate::image::MemoryImage;
use crate::pool::Slot;
use crate::store::{Store, StoreId, StoreInner};
use crate::values::Trap;
use crate::vm::{Definition, VMMemoryDefinition};
use faasm_jit::{MAX_WASM_PAGES, MemoryStrategy, MemoryType, WASM_PAGE_SIZE};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A linear memory of a store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// A store's memory: its slot and the definition generated code reads.
#[derive(Debug)]
pub(crate) struct MemoryData {
    declared: MemoryType,
    /// Largest size allowed: declared maximum, engine limit, 4 GiB.
    max_pages: u64,
    /// Always `Some` until the store returns it to the pool.
    slot: Option<Slot>,
    def: Definition<VMMemoryDefinition>,
    /// The pages this memory and its siblings may hold together, and how many of them this
    /// memory holds (its current size once published).
    budget: PageBudget,
    budgeted_pages: u64,
    /// The store's memory-write count ([`StoreInner::memory_writes`]) when the memory last held
    /// exactly the image its slot maps; `None` once the host wrote it (or if it never did). While
    /// it equals the store's count, nothing can have written the memory since.
    clean_at: Option<u64>,
}

/// The pages all memories of one instance may hold together. The engine's `max_memory_pages`
/// bounds a Faaslet's memory in all, not each of its memories: a module declaring many memories
/// (multi-memory) gets no more than one with a single memory. Shared by the memories it covers.
#[derive(Clone, Debug)]
pub(crate) struct PageBudget {
    limit: u64,
    held: Arc<AtomicU64>,
}

impl PageBudget {
    /// A budget of `limit` pages, none held.
    pub(crate) fn new(limit: u64) -> PageBudget {
        PageBudget {
            limit,
            held: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The budget of `engine`'s memory limit, for one instance (or one host-created memory).
    pub(crate) fn for_engine(engine: &Engine) -> PageBudget {
        PageBudget::new(engine.config().max_memory_pages)
    }

    /// Moves a holder from `old` to `new` pages; false (nothing changed) if the total would
    /// exceed the limit.
    fn resize_holding(&self, old: u64, new: u64) -> bool {
        if new <= old {
            self.recount(old, new);
            return true;
        }
        let extra = new - old;
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(extra).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Moves a holder from `old` to `new` pages whatever the limit: for pages already mapped.
    fn recount(&self, old: u64, new: u64) {
        if new >= old {
            self.held.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.held.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    fn exceeded(&self, pages: u64) -> String {
        format!(
            "memory of {pages} pages would bring this instance's memories to more than the \
             limit of {} pages in all (held: {})",
            self.limit,
            self.held.load(Ordering::Relaxed)
        )
    }
}

impl MemoryData {
    /// A memory of `ty.minimum` zeroed pages in a slot from `engine`'s pool, published through
    /// `def`.
    pub(crate) fn new(
        engine: &Engine,
        ty: MemoryType,
        def: Definition<VMMemoryDefinition>,
        budget: PageBudget,
    ) -> Result<MemoryData, String> {
        let (max_pages, reservation) = limits(engine, ty, ty.minimum)?;
        if !budget.resize_holding(0, ty.minimum) {
            return Err(budget.exceeded(ty.minimum));
        }
        // `limits` keeps the minimum within the reservation, so the product fits.
        let len = (ty.minimum * WASM_PAGE_SIZE) as usize;
        let slot = engine.slots().acquire(reservation, len).map_err(|e| {
            budget.resize_holding(ty.minimum, 0);
            format!("cannot reserve {reservation} bytes for a memory: {e}")
        })?;
        let mut memory = MemoryData {
            declared: ty,
            max_pages,
            slot: Some(slot),
            def,
            budget,
            budgeted_pages: ty.minimum,
            clean_at: None,
        };
        memory.publish(len);
        Ok(memory)
    }

    /// A memory of type `ty` whose contents are `image`, mapped copy-on-write, and zeros above
    /// it up to the type's minimum size if the image is shorter. `writes` is the store's
    /// memory-write count now (`None` during a call: see
    /// [`StoreInner::memory_writes_outside_calls`]).
    pub(crate) fn with_image(
        engine: &Engine,
        ty: MemoryType,
        def: Definition<VMMemoryDefinition>,
        image: &Arc<MemoryImage>,
        budget: PageBudget,
        writes: Option<u64>,
    ) -> Result<MemoryData, String> {
        let pages = image.pages().max(ty.minimum);
        let (max_pages, reservation) = limits(engine, ty, pages)?;
        if !budget.resize_holding(0, pages) {
            return Err(budget.exceeded(pages));
        }
        let slot = engine
            .slots()
            .acquire_with_image(reservation, image)
            .map_err(|e| {
                budget.resize_holding(pages, 0);
                format!("cannot map a memory image: {e}")
            })?;
        let mut memory = MemoryData {
            declared: ty,
            max_pages,
            slot: Some(slot),
            def,
            budget,
            budgeted_pages: pages,
            clean_at: writes.filter(|_| pages == image.pages()),
        };
        memory.publish(image.len());
        if memory.resize_to(pages).is_err() {
            let slot = memory.take_slot();
            slot.into_iter().for_each(|s| engine.slots().release(s));
            return Err(format!("cannot commit {pages} pages of memory"));
        }
        Ok(memory)
    }

    /// Returns the memory to the image it was created with (see `Slot::reset_to_image`), or to
    /// `image` if that is another one. Nothing to do if it holds `image` and nothing wrote it
    /// since it last did: the store's memory-write count is still `writes` (`None` during a
    /// call: see [`StoreInner::memory_writes_outside_calls`]).
    pub(crate) fn reset_to_image(
        &mut self,
        image: &Arc<MemoryImage>,
        writes: Option<u64>,
    ) -> Result<(), String> {
        let slot = self.slot.as_mut().ok_or("the memory has no slot")?;
        if self.clean_at.is_some() && self.clean_at == writes && slot.holds_image(image) {
            return Ok(());
        }
        let len = if slot.holds_image(image) {
            slot.reset_to_image(Some(image))
        } else {
            slot.map_image(image).map(|()| image.len())
        }
        .map_err(|e| format!("cannot reset a memory to its image: {e}"))?;
        self.publish(len);
        self.rebudget(len as u64 / WASM_PAGE_SIZE);
        self.clean_at = writes;
        Ok(())
    }

    /// Notes that the memory may differ from its image from now on.
    pub(crate) fn mark_written(&mut self) {
        self.clean_at = None;
    }

    /// Moves this memory's share of the budget to `pages`, which it holds already (a reset
    /// maps them whatever the budget says). A reset returns to the size the memory had when
    /// created, within the budget then; any excess is what siblings grew meanwhile, and their
    /// resets return it. Until then, growth is refused.
    fn rebudget(&mut self, pages: u64) {
        self.budget.recount(self.budgeted_pages, pages);
        self.budgeted_pages = pages;
    }

    fn publish(&mut self, len: usize) {
        let base = self.slot.as_ref().map_or(std::ptr::null_mut(), Slot::base);
        let def = self.def.get_mut();
        def.base = base;
        def.current_length = len as u64;
    }

    /// The definition generated code reads (of this memory, for importers).
    pub(crate) fn definition_ptr(&self) -> *mut VMMemoryDefinition {
        self.def.as_ptr()
    }

    /// The type with the current size as minimum.
    pub(crate) fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.size_pages(),
            ..self.declared
        }
    }

    pub(crate) fn size_pages(&self) -> u64 {
        self.byte_len() / WASM_PAGE_SIZE
    }

    pub(crate) fn byte_len(&self) -> u64 {
        self.def.get().current_length
    }

    /// Grows by `delta` pages; the old size in pages, or `None` beyond the limits.
    pub(crate) fn grow(&mut self, delta: u64) -> Option<u64> {
        self.mark_written();
        let old = self.size_pages();
        let new = old.checked_add(delta).filter(|n| *n <= self.max_pages)?;
        if !self.budget.resize_holding(self.budgeted_pages, new) {
            return None;
        }
        let previous_budget = std::mem::replace(&mut self.budgeted_pages, new);
        if self.resize_to(new).is_err() {
            self.budget.recount(new, previous_budget);
            self.budgeted_pages = previous_budget;
            return None;
        }
        Some(old)
    }

    fn resize_to(&mut self, pages: u64) -> Result<(), ()> {
        let bytes = usize::try_from(pages * WASM_PAGE_SIZE).map_err(|_| ())?;
        let slot = self.slot.as_mut().ok_or(())?;
        slot.make_accessible(bytes).map_err(|_| ())?;
        let base = slot.base();
        let def = self.def.get_mut();
        def.base = base;
        def.current_length = bytes as u64;
        Ok(())
    }

    /// The accessible bytes.
    pub(crate) fn data(&self) -> &[u8] {
        match &self.slot {
            // SAFETY: `[base, base + current_length)` is accessible memory owned by this slot;
            // `&self` excludes writes through the Rust API while the slice lives.
            Some(slot) => unsafe {
                std::slice::from_raw_parts(slot.base(), self.byte_len() as usize)
            },
            None => &[],
        }
    }

    /// The accessible bytes, mutably.
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        self.mark_written();
        match &self.slot {
            // SAFETY: as in `data`; `&mut self` makes this the only Rust access.
            Some(slot) => unsafe {
                std::slice::from_raw_parts_mut(slot.base(), self.byte_len() as usize)
            },
            None => &mut [],
        }
    }

    /// The address of `[offset, offset + len)` if it lies inside the memory. A raw pointer,
    /// not a slice: the range may be mapped shared and written by other threads, so accesses
    /// through it copy (`ptr::copy`) and never form a reference.
    pub(crate) fn range_ptr(&self, offset: u64, len: u64) -> Option<*mut u8> {
        let slot = self.slot.as_ref()?;
        offset
            .checked_add(len)
            .filter(|end| *end <= self.byte_len())?;
        // SAFETY: `offset + len <= current_length`, so the result stays inside the slot's
        // accessible prefix.
        Some(unsafe { slot.base().add(offset as usize) })
    }

    /// Copies `bytes` to `offset` (a raw copy: `bytes` may even lie in this memory); false
    /// (nothing written) if out of bounds.
    pub(crate) fn write(&mut self, offset: u64, bytes: &[u8]) -> bool {
        self.mark_written();
        let Some(target) = self.range_ptr(offset, bytes.len() as u64) else {
            return false;
        };
        // SAFETY: `range_ptr` checked the target range; `copy` allows the ranges to overlap.
        unsafe { std::ptr::copy(bytes.as_ptr(), target, bytes.len()) };
        true
    }

    /// Sets `len` bytes from `offset` to `byte` (a raw fill, as `write`); false (nothing
    /// written) if out of bounds.
    pub(crate) fn fill(&mut self, offset: u64, len: u64, byte: u8) -> bool {
        self.mark_written();
        let Some(target) = self.range_ptr(offset, len) else {
            return false;
        };
        // SAFETY: `range_ptr` checked that `[target, target + len)` is inside the memory's
        // accessible bytes; `write_bytes` forms no reference to them.
        unsafe { std::ptr::write_bytes(target, byte, len as usize) };
        true
    }

    /// The ranges of the memory's bytes that no shared mapping covers, in order, as
    /// `(offset, bytes)`: what only this store writes.
    pub(crate) fn private_chunks(&self) -> Vec<(usize, &[u8])> {
        private_ranges(self.byte_len() as usize, self.shared_ranges())
            .into_iter()
            .filter_map(|range| {
                let ptr = self.range_ptr(range.start as u64, range.len() as u64)?;
                // SAFETY: `range_ptr` checked the range; it overlaps no shared mapping, so only
                // this store writes it, and `&self` excludes that while the slice lives.
                Some((range.start, unsafe {
                    std::slice::from_raw_parts(ptr, range.len())
                }))
            })
            .collect()
    }

    /// Copies the memory's `[offset, offset + buf.len())` into `buf`; false (nothing read) if
    /// out of bounds.
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(source) = self.range_ptr(offset, buf.len() as u64) else {
            return false;
        };
        // SAFETY: `range_ptr` checked the source range; `copy` allows the ranges to overlap.
        unsafe { std::ptr::copy(source, buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Whether `[offset, offset + len)` overlaps a range mapped shared.
    pub(crate) fn overlaps_shared(&self, offset: u64, len: u64) -> bool {
        let end = offset.saturating_add(len);
        self.shared_ranges().iter().any(|&(start, shared_len)| {
            let (start, shared_end) = (start as u64, (start + shared_len) as u64);
            offset < shared_end && start < end
        })
    }

    /// Maps `len` bytes of `file` from `file_offset` at byte `offset`, shared (see
    /// [`Memory::map_shared`]).
    pub(crate) fn map_shared(
        &mut self,
        offset: u64,
        len: u64,
        file: &std::fs::File,
        file_offset: u64,
    ) -> Result<(), String> {
        self.mark_written();
        let page = crate::sys::page_size() as u64;
        let aligned = [offset, len, file_offset]
            .iter()
            .all(|value| value.is_multiple_of(page));
        if len == 0 || !aligned {
            return Err(format!(
                "a shared mapping needs a non-empty range of whole {page}-byte pages: offset \
                 {offset}, length {len}, file offset {file_offset}"
            ));
        }
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.byte_len())
        {
            return Err(format!(
                "a shared mapping of {len} bytes at {offset} lies beyond the memory's {} bytes",
                self.byte_len()
            ));
        }
        let file_len = file
            .metadata()
            .map_err(|e| format!("cannot read the shared file's size: {e}"))?
            .len();
        if file_offset
            .checked_add(len)
            .is_none_or(|end| end > file_len)
        {
            return Err(format!(
                "a shared mapping of {len} bytes from {file_offset} lies beyond the file's \
                 {file_len} bytes"
            ));
        }
        let slot = self.slot.as_mut().ok_or("the memory has no slot")?;
        slot.map_shared(offset as usize, len as usize, file, file_offset)
            .map_err(|e| format!("cannot map the shared file: {e}"))
    }

    /// The ranges `(offset, len)` where a file is mapped shared.
    pub(crate) fn shared_ranges(&self) -> &[(usize, usize)] {
        self.slot.as_ref().map_or(&[], Slot::shared_ranges)
    }

    /// Whether `address` lies in the inaccessible part of this memory's slot (see
    /// `Slot::is_inaccessible`); the signal handler calls it.
    pub(crate) fn is_guard_address(&self, address: usize) -> bool {
        self.slot
            .as_ref()
            .is_some_and(|slot| slot.is_inaccessible(address))
    }

    /// Gives up the slot (to return it to the pool); the memory is empty afterwards.
    pub(crate) fn take_slot(&mut self) -> Option<Slot> {
        let def = self.def.get_mut();
        def.current_length = 0;
        self.slot.take()
    }

    /// [`MemoryData::take_slot`] for the store's end, whose memory-write count is `writes`: a
    /// memory unwritten since its last reset gives a slot the pool keeps without a discard.
    pub(crate) fn take_slot_at_end(&mut self, writes: u64) -> Option<Slot> {
        let clean = self.clean_at == Some(writes);
        let mut slot = self.take_slot()?;
        slot.set_clean(clean);
        Some(slot)
    }
}

/// The check of [`Memory::data`] and [`Memory::data_mut`]: a slice over the whole memory is
/// sound only while nothing but this store writes it.
fn assert_no_shared_ranges(memory: &MemoryData) {
    assert!(
        memory.shared_ranges().is_empty(),
        "a slice over the whole of a memory with shared mappings ({:?}) would alias bytes \
         other threads write: use Memory::read, Memory::write or Memory::private_slice",
        memory.shared_ranges()
    );
}

/// The parts of `[0, len)` outside every `(offset, len)` of `shared`, in order.
fn private_ranges(len: usize, shared: &[(usize, usize)]) -> Vec<std::ops::Range<usize>> {
    let mut shared = shared.to_vec();
    shared.sort_unstable();
    let mut ranges = Vec::new();
    let mut start = 0;
    for (offset, shared_len) in shared {
        let offset = offset.min(len);
        if offset > start {
            ranges.push(start..offset);
        }
        start = start.max(offset.saturating_add(shared_len).min(len));
    }
    if start < len {
        ranges.push(start..len);
    }
    ranges
}

fn out_of_bounds(offset: u64, len: usize, memory_len: u64) -> Trap {
    Trap::BadArguments(format!(
        "{len} bytes at {offset} lie beyond the memory's {memory_len} bytes"
    ))
}

/// The largest size in pages a memory of type `ty` may reach, and the reservation of its slot;
/// an error if `initial_pages` exceeds that size.
fn limits(engine: &Engine, ty: MemoryType, initial_pages: u64) -> Result<(u64, usize), String> {
    let max_pages = ty
        .maximum
        .unwrap_or(MAX_WASM_PAGES)
        .min(engine.config().max_memory_pages)
        .min(MAX_WASM_PAGES);
    if initial_pages > max_pages {
        return Err(format!(
            "memory of {initial_pages} pages exceeds the limit of {max_pages} pages"
        ));
    }
    let reservation = match engine.config().compiler.memory_strategy {
        MemoryStrategy::Guarded { .. } => MAX_WASM_PAGES * WASM_PAGE_SIZE,
        MemoryStrategy::Bounded => max_pages * WASM_PAGE_SIZE,
    };
    let reservation =
        usize::try_from(reservation).map_err(|_| "memory reservation too large".to_string())?;
    Ok((max_pages, reservation))
}

impl Memory {
    /// A memory of type `ty`, zeroed.
    pub fn new(store: &mut Store, ty: MemoryType) -> Result<Memory, Trap> {
        if ty.maximum.is_some_and(|max| max < ty.minimum) {
            return Err(Trap::BadArguments(format!(
                "memory maximum below its minimum: {ty:?}"
            )));
        }
        let inner = store.inner_mut();
        let def = Definition::boxed(VMMemoryDefinition {
            base: std::ptr::null_mut(),
            current_length: 0,
        });
        let budget = PageBudget::for_engine(&inner.engine);
        let memory = MemoryData::new(&inner.engine, ty, def, budget).map_err(Trap::BadArguments)?;
        Ok(Memory {
            store: inner.id,
            index: StoreInner::push(&mut inner.memories, memory),
        })
    }

    /// The type, with the current size as minimum.
    pub fn ty(&self, store: &Store) -> MemoryType {
        self.data_ref(store).map_or(
            MemoryType {
                minimum: 0,
                maximum: Some(0),
            },
            MemoryData::ty,
        )
    }

    /// The current size in pages.
    pub fn size_pages(&self, store: &Store) -> u64 {
        self.data_ref(store).map_or(0, MemoryData::size_pages)
    }

    /// The current size in bytes.
    pub fn byte_len(&self, store: &Store) -> u64 {
        self.data_ref(store).map_or(0, MemoryData::byte_len)
    }

    /// The memory's bytes (empty if the handle belongs to another store).
    ///
    /// # Panics
    ///
    /// If ranges of the memory are mapped by [`Memory::map_shared`]: other threads write them
    /// at any time, and a Rust reference promises that its bytes do not change under it. Use
    /// [`Memory::read`], [`Memory::write`], [`Memory::fill`] and [`Memory::private_slice`] on
    /// such a memory (the host interface always does).
    pub fn data<'a>(&self, store: &'a Store) -> &'a [u8] {
        self.data_ref(store).map_or(&[], |memory| {
            assert_no_shared_ranges(memory);
            memory.data()
        })
    }

    /// The memory's bytes, mutably (empty if the handle belongs to another store).
    ///
    /// # Panics
    ///
    /// As [`Memory::data`], if ranges of the memory are mapped shared.
    pub fn data_mut<'a>(&self, store: &'a mut Store) -> &'a mut [u8] {
        let inner = store.inner_mut();
        if inner.check(self.store, "memory").is_err() {
            return &mut [];
        }
        inner
            .memories
            .get_mut(self.index as usize)
            .map_or(&mut [], |memory| {
                assert_no_shared_ranges(memory);
                memory.data_mut()
            })
    }

    /// Grows by `delta_pages`; returns the old size in pages. Growing beyond the maximum
    /// (declared, the engine's limit or 4 GiB) is `Trap::BadArguments`.
    pub fn grow(&self, store: &mut Store, delta_pages: u64) -> Result<u64, Trap> {
        let memory = self.data_checked(store)?;
        memory.grow(delta_pages).ok_or_else(|| {
            Trap::BadArguments(format!(
                "cannot grow a memory of {} pages by {delta_pages}",
                memory.size_pages()
            ))
        })
    }

    /// Maps `len` bytes of `file` from `file_offset` at byte `offset` of the memory,
    /// `MAP_SHARED`: loads and stores there read and write the file's pages, which every other
    /// memory mapping the same file (in any store of the process) sees at once, with no copy.
    /// This is how a state value lives once per host and appears in every Faaslet using it.
    ///
    /// `offset`, `len` and `file_offset` must be multiples of the host page size
    /// ([`crate::host_page_size`]), the range must lie inside the memory's current size and
    /// the file must hold `file_offset + len` bytes. The mapping lasts until the memory is reset
    /// to an image (a Faaslet's reset) or dropped: then the memory holds again what it held
    /// before. A capture of the memory ([`crate::Instance::capture`]) leaves those pages out
    /// (zero in the image).
    pub fn map_shared(
        &self,
        store: &mut Store,
        offset: u64,
        len: u64,
        file: &std::fs::File,
        file_offset: u64,
    ) -> Result<(), Trap> {
        let memory = self.data_checked(store)?;
        memory
            .map_shared(offset, len, file, file_offset)
            .map_err(Trap::BadArguments)
    }

    /// Copies `buf.len()` bytes from `offset` of the memory into `buf`. A raw copy that forms
    /// no reference to the memory, so the range may lie in a shared mapping other threads
    /// write (the copy then holds some moment's bytes of each). `BadArguments` if the range
    /// is out of bounds or the handle belongs to another store.
    pub fn read(&self, store: &Store, offset: u64, buf: &mut [u8]) -> Result<(), Trap> {
        let memory = self
            .data_ref(store)
            .ok_or_else(|| Trap::BadArguments("unknown memory".to_string()))?;
        memory
            .read(offset, buf)
            .then_some(())
            .ok_or_else(|| out_of_bounds(offset, buf.len(), memory.byte_len()))
    }

    /// Copies `bytes` to `offset` of the memory: a raw copy, as [`Memory::read`]; `bytes` may
    /// come from anywhere, this memory included (the copy then behaves as `memmove`).
    pub fn write(&self, store: &mut Store, offset: u64, bytes: &[u8]) -> Result<(), Trap> {
        let memory = self.data_checked(store)?;
        memory
            .write(offset, bytes)
            .then_some(())
            .ok_or_else(|| out_of_bounds(offset, bytes.len(), memory.byte_len()))
    }

    /// Sets `len` bytes from `offset` of the memory to `byte`: a raw fill, as
    /// [`Memory::write`]. `BadArguments` if the range is out of bounds or the handle belongs
    /// to another store.
    pub fn fill(&self, store: &mut Store, offset: u64, len: u64, byte: u8) -> Result<(), Trap> {
        let memory = self.data_checked(store)?;
        memory.fill(offset, len, byte).then_some(()).ok_or_else(|| {
            out_of_bounds(
                offset,
                usize::try_from(len).unwrap_or(usize::MAX),
                memory.byte_len(),
            )
        })
    }

    /// `[offset, offset + len)` of the memory as a slice, if it lies inside the memory and
    /// overlaps no range mapped shared ([`Memory::map_shared`]); `None` otherwise. Unlike
    /// [`Memory::data`], the reference covers only private pages, which nothing but this
    /// store changes.
    pub fn private_slice<'a>(&self, store: &'a Store, offset: u64, len: u64) -> Option<&'a [u8]> {
        let memory = self.data_ref(store)?;
        if memory.overlaps_shared(offset, len) {
            return None;
        }
        let start = memory.range_ptr(offset, len)?;
        // SAFETY: the range is inside the memory's accessible bytes and overlaps no shared
        // mapping, so only this store writes it, and `&Store` excludes that while the slice
        // lives.
        Some(unsafe { std::slice::from_raw_parts(start, len as usize) })
    }

    /// As [`Memory::private_slice`], mutably.
    pub fn private_slice_mut<'a>(
        &self,
        store: &'a mut Store,
        offset: u64,
        len: u64,
    ) -> Option<&'a mut [u8]> {
        let inner = store.inner_mut();
        inner.check(self.store, "memory").ok()?;
        let memory = inner.memories.get_mut(self.index as usize)?;
        if memory.overlaps_shared(offset, len) {
            return None;
        }
        memory.mark_written();
        let start = memory.range_ptr(offset, len)?;
        // SAFETY: as in `private_slice`; `&mut Store` makes this the only access.
        Some(unsafe { std::slice::from_raw_parts_mut(start, len as usize) })
    }

    /// The memory's data in `store`, for a change: `BadArguments` if the handle belongs to
    /// another store or names no memory.
    fn data_checked<'a>(&self, store: &'a mut Store) -> Result<&'a mut MemoryData, Trap> {
        let inner = store.inner_mut();
        inner.check(self.store, "memory")?;
        inner
            .memories
            .get_mut(self.index as usize)
            .ok_or_else(|| Trap::BadArguments("unknown memory".to_string()))
    }

    fn data_ref<'a>(&self, store: &'a Store) -> Option<&'a MemoryData> {
        let inner = store.inner();
        inner.check(self.store, "memory").ok()?;
        inner.memories.get(self.index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Config;

    fn engine(strategy: MemoryStrategy, max_memory_pages: u64) -> Engine {
        let mut config = Config {
            max_memory_pages,
            ..Config::default()
        };
        config.compiler.memory_strategy = strategy;
        Engine::new(config).expect("engine")
    }

    fn memory(engine: &Engine, minimum: u64, maximum: Option<u64>) -> Result<MemoryData, String> {
        let def = Definition::boxed(VMMemoryDefinition {
            base: std::ptr::null_mut(),
            current_length: 0,
        });
        let budget = PageBudget::for_engine(engine);
        MemoryData::new(engine, MemoryType { minimum, maximum }, def, budget)
    }

    #[test]
    fn grow_keeps_the_base_and_respects_the_maximum() {
        let engine = engine(MemoryStrategy::default(), MAX_WASM_PAGES);
        let mut m = memory(&engine, 1, Some(3)).expect("memory");
        let base = m.def.get().base;
        m.data_mut()[65535] = 1;
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.def.get().base, base);
        assert_eq!(m.byte_len(), 3 * WASM_PAGE_SIZE);
        assert_eq!(m.data()[65535], 1);
        assert_eq!(m.data()[3 * 65536 - 1], 0);
        assert_eq!(m.grow(1), None);
        assert_eq!(m.grow(0), Some(3));
        if let Some(slot) = m.take_slot() {
            engine.slots().release(slot);
        }
    }

    #[test]
    fn engine_limit_applies_to_unbounded_memories() {
        let engine = engine(MemoryStrategy::Bounded, 4);
        assert!(memory(&engine, 5, None).is_err());
        let mut m = memory(&engine, 1, None).expect("memory");
        assert_eq!(m.slot.as_ref().map(Slot::reservation), Some(4 * 65536));
        assert_eq!(m.grow(3), Some(1));
        assert_eq!(m.grow(1), None);
    }

    #[test]
    fn guarded_slots_reserve_four_gib() {
        let engine = engine(
            MemoryStrategy::Guarded {
                guard_bytes: 1 << 20,
            },
            MAX_WASM_PAGES,
        );
        let m = memory(&engine, 0, Some(0)).expect("memory");
        assert_eq!(m.slot.as_ref().map(Slot::reservation), Some(4 << 30));
        assert_eq!(m.data().len(), 0);
    }

    #[test]
    fn writes_are_bounds_checked() {
        let engine = engine(MemoryStrategy::Bounded, 16);
        let mut m = memory(&engine, 1, Some(1)).expect("memory");
        assert!(m.write(65534, &[1, 2]));
        assert!(!m.write(65535, &[1, 2]));
        assert!(m.write(65536, &[]));
        assert!(!m.write(65537, &[]));
        assert_eq!(&m.data()[65534..], &[1, 2]);
    }

    #[test]
    fn private_ranges_leave_out_every_shared_range() {
        let shared = [(70_000, 10), (4096, 4096), (0, 1), (131_000, 10_000)];
        assert_eq!(
            private_ranges(131_072, &shared),
            vec![1..4096, 8192..70_000, 70_010..131_000]
        );
        assert_eq!(private_ranges(8192, &[]), vec![0..8192]);
        assert_eq!(private_ranges(8192, &[(0, 8192)]), vec![]);
        // Overlapping shared ranges are merged.
        assert_eq!(
            private_ranges(100, &[(10, 20), (20, 20)]),
            vec![0..10, 40..100]
        );
    }
}
