//! The runtime functions generated code calls (`faasm_jit::Builtin`), in an array that every
//! VMContext points to. Each takes the caller's VMContext first, checks bounds exactly as the
//! specification says (the whole range before writing anything) and returns 1 for "out of
//! bounds" (generated code then traps) or `u32::MAX` for a failed grow. They never panic or
//! unwind: the C ABI would abort the process.

use crate::instance::InstanceData;
use crate::interrupt;
use crate::store::StoreInner;
use crate::table;
use crate::traphandlers;
use crate::values::Trap;
use faasm_jit::{TrapCode, VMOffsets};

type Vmctx = *mut u8;

/// Function pointers in `faasm_jit::Builtin::ALL` order (checked by a test).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BuiltinArray {
    memory_grow: unsafe extern "C" fn(Vmctx, u32, u32) -> u32,
    memory_fill: unsafe extern "C" fn(Vmctx, u32, u32, u32, u32) -> u32,
    memory_copy: unsafe extern "C" fn(Vmctx, u32, u32, u32, u32, u32) -> u32,
    memory_init: unsafe extern "C" fn(Vmctx, u32, u32, u32, u32, u32) -> u32,
    data_drop: unsafe extern "C" fn(Vmctx, u32),
    table_grow: unsafe extern "C" fn(Vmctx, u32, u32, u64) -> u32,
    table_fill: unsafe extern "C" fn(Vmctx, u32, u32, u64, u32) -> u32,
    table_copy: unsafe extern "C" fn(Vmctx, u32, u32, u32, u32, u32) -> u32,
    table_init: unsafe extern "C" fn(Vmctx, u32, u32, u32, u32, u32) -> u32,
    elem_drop: unsafe extern "C" fn(Vmctx, u32),
}

/// The array every VMContext's `builtins` field points to.
pub(crate) static BUILTINS: BuiltinArray = BuiltinArray {
    memory_grow,
    memory_fill,
    memory_copy,
    memory_init,
    data_drop,
    table_grow,
    table_fill,
    table_copy,
    table_init,
    elem_drop,
};

const OUT_OF_BOUNDS: u32 = 1;
const OK: u32 = 0;
const GROW_FAILED: u32 = u32::MAX;

/// The calling instance and its store.
///
/// # Safety
/// `vmctx` must be the VMContext of a live instance, called from generated code while the
/// instance's store is borrowed by the call that entered it (so no Rust reference to the store
/// is in use).
unsafe fn context<'a>(vmctx: Vmctx) -> Option<(&'a mut InstanceData, &'a mut StoreInner)> {
    if vmctx.is_null() {
        return None;
    }
    // SAFETY: `runtime_data` of a VMContext holds its `InstanceData` pointer.
    let instance = unsafe {
        vmctx
            .add(VMOffsets::RUNTIME_DATA as usize)
            .cast::<*mut InstanceData>()
            .read()
    };
    // SAFETY: the instance lives as long as its store, which outlives the call.
    let instance = unsafe { instance.as_mut()? };
    // SAFETY: the store's state outlives its instances; the instance and the store state are
    // distinct allocations, so the two references do not overlap.
    let store = unsafe { instance.store_ptr().as_mut()? };
    Some((instance, store))
}

/// Status of a bulk operation: 0 if it was in bounds and done, 1 otherwise.
fn status(done: Option<bool>) -> u32 {
    if done == Some(true) {
        OK
    } else {
        OUT_OF_BOUNDS
    }
}

/// `memory.grow`: the old size in pages, or `u32::MAX`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn memory_grow(vmctx: Vmctx, memory: u32, delta: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let result = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let handle = instance.memory_handle(memory)?;
        let old = store
            .memories
            .get_mut(handle.index as usize)?
            .grow(u64::from(delta))?;
        u32::try_from(old).ok()
    });
    result.unwrap_or(GROW_FAILED)
}

/// `memory.fill`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn memory_fill(vmctx: Vmctx, memory: u32, dst: u32, byte: u32, len: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let handle = instance.memory_handle(memory)?;
        let memory = store.memories.get(handle.index as usize)?;
        let target = memory.range_ptr(u64::from(dst), u64::from(len))?;
        for (i, (offset, chunk)) in chunks(len as usize, false).enumerate() {
            if i > 0 && past_deadline(store) {
                return Some(Bulk::Interrupted);
            }
            // SAFETY: `range_ptr` checked the whole range, of which this chunk is part; a raw
            // write forms no reference to memory that may be mapped shared.
            unsafe { std::ptr::write_bytes(target.add(offset), byte as u8, chunk) };
        }
        Some(Bulk::Done)
    });
    bulk_status(done)
}

/// `memory.copy`, between two memories or within one (overlap allowed).
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn memory_copy(
    vmctx: Vmctx,
    dst_memory: u32,
    dst: u32,
    src_memory: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let (dst_handle, src_handle) = (
            instance.memory_handle(dst_memory)?,
            instance.memory_handle(src_memory)?,
        );
        let len64 = u64::from(len);
        let source = store
            .memories
            .get(src_handle.index as usize)?
            .range_ptr(u64::from(src), len64)?;
        let target = store
            .memories
            .get(dst_handle.index as usize)?
            .range_ptr(u64::from(dst), len64)?;
        // Chunks from the end when the target lies after the source: a chunk never
        // overwrites source bytes a later chunk still has to read.
        let backwards = (target as usize) > (source as usize);
        for (i, (offset, chunk)) in chunks(len as usize, backwards).enumerate() {
            if i > 0 && past_deadline(store) {
                return Some(Bulk::Interrupted);
            }
            // SAFETY: both ranges are in bounds of live memories (whose bases never move), and
            // the chunk is part of both. Raw pointers only, no `&`/`&mut` slices that would
            // alias when both are one memory (or that would span shared pages); `copy` allows
            // the chunks to overlap, as `memory.copy` within one memory requires.
            unsafe { std::ptr::copy(source.add(offset), target.add(offset), chunk) };
        }
        Some(Bulk::Done)
    });
    bulk_status(done)
}

/// Bytes a bulk memory operation writes between looks at the call's deadline (none before
/// the first chunk: the many small copies of compiled C code must not read the clock).
const CHUNK_BYTES: usize = 1 << 20;

/// Whether the call running a bulk memory operation is past its deadline: its thread's
/// deadline fired (under `Interruption::Signal`, also an enclosing call's), or the store's
/// deadline passed (which the epoch mode's checks in generated code would only see after
/// the operation).
fn past_deadline(store: &StoreInner) -> bool {
    interrupt::fired()
        || store
            .deadline
            .is_some_and(|deadline| std::time::Instant::now() >= deadline)
}

/// How a bulk memory operation that was in bounds ended.
enum Bulk {
    Done,
    /// Stopped between two chunks because the call's deadline passed.
    Interrupted,
}

/// The `(offset, length)` of the chunks of `len` bytes, last first if `backwards`.
fn chunks(len: usize, backwards: bool) -> impl Iterator<Item = (usize, usize)> {
    let count = len.div_ceil(CHUNK_BYTES);
    (0..count).map(move |i| {
        let i = if backwards { count - 1 - i } else { i };
        let offset = i * CHUNK_BYTES;
        (offset, CHUNK_BYTES.min(len - offset))
    })
}

/// Status of a bulk memory operation (see [`status`]); one the deadline stopped records the
/// `Interrupt` trap in the current activation, which wins over the out-of-bounds trap that
/// generated code then raises.
fn bulk_status(done: Option<Bulk>) -> u32 {
    match done {
        Some(Bulk::Done) => OK,
        Some(Bulk::Interrupted) => {
            let activation = traphandlers::current_activation();
            // SAFETY: a non-null current activation lives on this thread's stack until the
            // call that generated code made into this builtin returns.
            if let Some(activation) = unsafe { activation.as_ref() } {
                activation.set_host_trap(Trap::Wasm(TrapCode::Interrupt));
            }
            OUT_OF_BOUNDS
        }
        None => OUT_OF_BOUNDS,
    }
}

/// `memory.init` from a data segment (empty once dropped).
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn memory_init(
    vmctx: Vmctx,
    memory: u32,
    data: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let segment = instance.data_segment(data)?;
        let bytes = segment.get(src as usize..src as usize + len as usize)?;
        let handle = instance.memory_handle(memory)?;
        Some(
            store
                .memories
                .get_mut(handle.index as usize)?
                .write(u64::from(dst), bytes),
        )
    });
    status(done)
}

/// `data.drop`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn data_drop(vmctx: Vmctx, data: u32) {
    // SAFETY: called by generated code with its own VMContext.
    if let Some((instance, _)) = unsafe { context(vmctx) } {
        instance.drop_data(data);
    }
}

/// `table.grow`: the old size, or `u32::MAX`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn table_grow(vmctx: Vmctx, table: u32, delta: u32, init: u64) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let result = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let handle = instance.table_handle(table)?;
        let old = store
            .tables
            .get_mut(handle.index as usize)?
            .grow(u64::from(delta), init)?;
        u32::try_from(old).ok()
    });
    result.unwrap_or(GROW_FAILED)
}

/// `table.fill`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn table_fill(vmctx: Vmctx, table: u32, dst: u32, value: u64, len: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let handle = instance.table_handle(table)?;
        Some(
            store
                .tables
                .get_mut(handle.index as usize)?
                .fill(dst, value, len),
        )
    });
    status(done)
}

/// `table.copy`, between two tables or within one (overlap allowed).
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn table_copy(
    vmctx: Vmctx,
    dst_table: u32,
    src_table: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let (dst_handle, src_handle) = (
            instance.table_handle(dst_table)?,
            instance.table_handle(src_table)?,
        );
        Some(table::copy(
            &mut store.tables,
            dst_handle.index as usize,
            src_handle.index as usize,
            dst,
            src,
            len,
        ))
    });
    status(done)
}

/// `table.init` from an element segment (empty once dropped).
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn table_init(
    vmctx: Vmctx,
    table: u32,
    elem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let done = unsafe { context(vmctx) }.and_then(|(instance, store)| {
        let items = instance.element_segment(elem)?;
        let handle = instance.table_handle(table)?;
        Some(
            store
                .tables
                .get_mut(handle.index as usize)?
                .init(dst, items, src, len),
        )
    });
    status(done)
}

/// `elem.drop`.
///
/// # Safety
/// Called by generated code only, with the caller's own VMContext (see [`context`]).
unsafe extern "C" fn elem_drop(vmctx: Vmctx, elem: u32) {
    // SAFETY: called by generated code with its own VMContext.
    if let Some((instance, _)) = unsafe { context(vmctx) } {
        instance.drop_elements(elem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::Builtin;
    use std::mem::{offset_of, size_of};

    #[test]
    fn array_follows_builtin_order() {
        let offsets = [
            (Builtin::MemoryGrow, offset_of!(BuiltinArray, memory_grow)),
            (Builtin::MemoryFill, offset_of!(BuiltinArray, memory_fill)),
            (Builtin::MemoryCopy, offset_of!(BuiltinArray, memory_copy)),
            (Builtin::MemoryInit, offset_of!(BuiltinArray, memory_init)),
            (Builtin::DataDrop, offset_of!(BuiltinArray, data_drop)),
            (Builtin::TableGrow, offset_of!(BuiltinArray, table_grow)),
            (Builtin::TableFill, offset_of!(BuiltinArray, table_fill)),
            (Builtin::TableCopy, offset_of!(BuiltinArray, table_copy)),
            (Builtin::TableInit, offset_of!(BuiltinArray, table_init)),
            (Builtin::ElemDrop, offset_of!(BuiltinArray, elem_drop)),
        ];
        for (builtin, offset) in offsets {
            assert_eq!(offset, builtin.index() * size_of::<usize>(), "{builtin:?}");
        }
        assert_eq!(
            size_of::<BuiltinArray>(),
            Builtin::COUNT * size_of::<usize>()
        );
    }

    #[test]
    fn a_null_context_fails_safely() {
        // SAFETY: a null VMContext is handled before any dereference.
        unsafe {
            assert_eq!(memory_grow(std::ptr::null_mut(), 0, 1), GROW_FAILED);
            assert_eq!(memory_fill(std::ptr::null_mut(), 0, 0, 0, 0), OUT_OF_BOUNDS);
            assert_eq!(table_grow(std::ptr::null_mut(), 0, 1, 0), GROW_FAILED);
        }
    }
}
