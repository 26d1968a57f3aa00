//! The process-global registry of published code: code range → trap table and function map.
//! The signal handler asks it whether a faulting PC is a trap site of generated code and
//! whether a return address lies in generated code; backtraces map PCs to functions with it.
//!
//! The handler may run on any thread at any time, so lookups never block: they spin on
//! `try_read` (writers only hold the lock for a map insertion or removal) and give up if the
//! faulting thread is itself the writer, which would otherwise deadlock.

use crate::backtrace::FrameInfo;
use faasm_jit::TrapCode;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, TryLockError};

/// What the registry knows of one code range: offset in the range → trap, and → function.
pub(crate) trait TrapTable: Send + Sync {
    /// The trap recorded for the instruction at `offset`, if any.
    fn trap_at(&self, offset: u32) -> Option<TrapCode>;

    /// The Wasm function whose code contains `offset`, if any.
    fn frame_info(&self, _offset: u32) -> Option<FrameInfo> {
        None
    }
}

impl TrapTable for faasm_jit::CompiledModule {
    fn trap_at(&self, offset: u32) -> Option<TrapCode> {
        faasm_jit::CompiledModule::trap_at(self, offset)
    }

    fn frame_info(&self, offset: u32) -> Option<FrameInfo> {
        let func_index = self.function_at(offset)?;
        Some(FrameInfo {
            module_name: self.info.name.clone(),
            func_index,
            func_name: self.info.func_name(func_index).map(str::to_string),
        })
    }
}

impl TrapTable for Vec<(u32, TrapCode)> {
    fn trap_at(&self, offset: u32) -> Option<TrapCode> {
        self.binary_search_by_key(&offset, |(o, _)| *o)
            .ok()
            .map(|i| self[i].1)
    }
}

struct Entry {
    end: usize,
    traps: Arc<dyn TrapTable>,
}

static REGISTRY: RwLock<BTreeMap<usize, Entry>> = RwLock::new(BTreeMap::new());

thread_local! {
    /// Set while this thread holds the registry's write lock.
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

/// Keeps a code range registered; unregisters it when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    start: usize,
}

/// Registers `[start, start + len)` with its trap table.
pub(crate) fn register(start: usize, len: usize, traps: Arc<dyn TrapTable>) -> Registration {
    with_write_lock(|map| {
        map.insert(
            start,
            Entry {
                end: start + len,
                traps,
            },
        )
    });
    Registration { start }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = with_write_lock(|map| map.remove(&self.start));
        // Dropping the trap table outside the lock keeps the critical section short.
        drop(removed);
    }
}

fn with_write_lock<R>(f: impl FnOnce(&mut BTreeMap<usize, Entry>) -> R) -> R {
    let mut map = REGISTRY
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    WRITING.set(true);
    let result = f(&mut map);
    WRITING.set(false);
    result
}

/// The trap of the instruction at `pc`, if `pc` is a trap site of registered code.
/// Async-signal-safe: no allocation, no blocking.
pub(crate) fn trap_code_at(pc: usize) -> Option<TrapCode> {
    with_range_of(pc, |table, offset| table.trap_at(offset)).flatten()
}

/// Whether `pc` lies in registered code. Async-signal-safe: no allocation, no blocking.
pub(crate) fn is_code(pc: usize) -> bool {
    with_range_of(pc, |_, _| ()).is_some()
}

/// The Wasm function whose code contains `pc`. Allocates: not for signal handlers.
pub(crate) fn frame_at(pc: usize) -> Option<FrameInfo> {
    with_range_of(pc, |table, offset| table.frame_info(offset)).flatten()
}

/// Calls `f` with the table and offset of the registered range containing `pc`. Never blocks
/// (spins on `try_read`; writers hold the lock only briefly) and gives up if this thread is the
/// writer, so the signal handler may use it.
fn with_range_of<R>(pc: usize, f: impl FnOnce(&dyn TrapTable, u32) -> R) -> Option<R> {
    if WRITING.get() {
        return None;
    }
    let map = loop {
        match REGISTRY.try_read() {
            Ok(map) => break map,
            Err(TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    };
    let (start, entry) = map.range(..=pc).next_back()?;
    if pc >= entry.end {
        return None;
    }
    let offset = u32::try_from(pc - start).ok()?;
    Some(f(&*entry.traps, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_trap_sites_only_inside_registered_ranges() {
        let traps: Arc<dyn TrapTable> = Arc::new(vec![(4u32, TrapCode::UnreachableCodeReached)]);
        let start = 0x7000_0000_0000usize;
        let registration = register(start, 16, traps);
        assert_eq!(
            trap_code_at(start + 4),
            Some(TrapCode::UnreachableCodeReached)
        );
        assert_eq!(trap_code_at(start + 5), None);
        assert!(is_code(start + 15) && !is_code(start + 16));
        assert_eq!(
            frame_at(start + 4),
            None,
            "a plain trap table knows no functions"
        );
        assert_eq!(trap_code_at(start + 16), None);
        assert_eq!(trap_code_at(start - 1), None);
        drop(registration);
        assert_eq!(trap_code_at(start + 4), None);
    }
}
