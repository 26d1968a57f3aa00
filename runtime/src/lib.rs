//! `faasm-runtime` runs the code `faasm-jit` compiles. It owns the engine (compiler, canonical
//! type ids, epoch counter, pool of memory slots, the process's deadline timer), modules (code published read-execute, W^X,
//! and registered for trap lookup), stores and the instances in them (VMContexts laid out
//! exactly as `faasm_jit::VMOffsets` says, checked by `offset_of!` tests), linear memories in
//! pooled slots with guard regions, tables, globals, the host-function linker, the entry into
//! generated code with its signal handlers and trap landing pad, stack limits, calls stopped
//! at their deadline (by a signal, or by epoch checks: [`Interruption`]; and the deadline host
//! functions wait by, [`CallBounds`]), and the
//! copy-on-write primitives snapshots need (memory images in sealed memfds,
//! [`Instance::capture`], [`Linker::instantiate_from_image`], [`Instance::reset`], which
//! costs time in proportion to the pages a call wrote and nothing after a call that cannot
//! write memory).
//! Higher layers (snapshots, host calls, the Faasm CLI) build on its safe API.
//!
//! It must not know about Faasm's ABI (WASI, the `env` interface) or the semantics of state and
//! snapshots: those belong to `faasm-hostcalls`, `faasm-state` and `faasm-snapshot`. All its OS
//! calls live in [`sys`]; it supports x86-64 Linux only.

mod artifact_key;
mod backtrace;
mod blocking;
mod builtins;
mod code;
mod engine;
mod func;
mod global;
mod image;
mod instance;
mod interrupt;
mod linker;
mod memory;
mod module;
mod pool;
mod registry;
mod store;
mod sys;
mod table;
mod traphandlers;
mod values;
mod vm;

pub use artifact_key::ArtifactKey;
pub use backtrace::{FrameInfo, WasmBacktrace};
pub use blocking::{BlockingHook, CallBounds};
pub use engine::{Config, Engine, Interruption};
pub use faasm_jit::{
    ArtifactError, CompileError, CompilerConfig, FuncType, GlobalType, Import, ImportKind,
    MemoryStrategy, MemoryType, ModuleInfo, OptLevel, Proposals, RefType, TableType, TrapCode,
    ValType, is_artifact,
};
pub use func::{Caller, Func, HostReturn, IntoHostFunc, WasmTy};
pub use global::Global;
pub use image::MemoryImage;
pub use instance::{CaptureError, Instance, InstanceImage};
pub use linker::Linker;
pub use memory::Memory;
pub use module::Module;
pub use store::Store;
pub use table::Table;
pub use values::{InstantiateError, Trap, Val};

/// The size of the host's memory pages: the granularity of [`Memory::map_shared`].
pub fn host_page_size() -> usize {
    sys::page_size()
}

/// Most host pages written since its last reset that a memory's reset copies back from its
/// image, keeping them resident; beyond that it discards every written page (`madvise`).
pub const RESET_COPY_LIMIT_PAGES: usize = pool::MAX_RESTORED_PAGES;

/// Whether resets here find written pages by asking the kernel (Linux ≥ 6.7 with userfaultfd
/// allowed: asynchronous write-protection and `PAGEMAP_SCAN`). Without it, every reset of a
/// written memory discards its pages, and written pages fault again on the next call.
pub fn resets_track_written_pages() -> bool {
    sys::written_pages::available()
}

/// Marks the calling thread as one that runs guest code: Linux's `SCHED_BATCH` policy, which
/// keeps the thread's share of the CPU but stops its wake-ups from preempting the thread that
/// woke it. A host that hands calls from its I/O threads to such threads keeps the I/O thread
/// on the CPU until it has nothing left to do, and the woken thread then runs the calls queued
/// meanwhile in a row: fewer context switches per call. (Measured on the `http` bench, 2 CPUs:
/// about a fifth more synchronous no-op calls per second at 64 connections, and no worse
/// 99th percentile latency.)
pub fn mark_current_thread_as_guest_runner() -> std::io::Result<()> {
    sys::set_current_thread_batch()
}

/// Something an instance exports or a module imports.
#[derive(Clone, Copy, Debug)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A table.
    Table(Table),
    /// A linear memory.
    Memory(Memory),
    /// A global.
    Global(Global),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    /// The scheduling policy of the calling thread, from `/proc/thread-self/stat` (field 41).
    fn current_thread_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name (which may hold spaces) start at field 3.
        let after_name = &stat[stat.rfind(')').unwrap() + 1..];
        after_name
            .split_whitespace()
            .nth(41 - 3)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_guest_runner_thread_is_in_the_batch_policy_and_others_are_not() {
        const SCHED_OTHER: u32 = 0;
        const SCHED_BATCH: u32 = 3;
        let policies = std::thread::spawn(|| {
            let before = current_thread_policy();
            mark_current_thread_as_guest_runner().unwrap();
            (before, current_thread_policy())
        })
        .join()
        .unwrap();
        assert_eq!(policies, (SCHED_OTHER, SCHED_BATCH));
        // Only the calling thread changed.
        assert_eq!(current_thread_policy(), SCHED_OTHER);
    }

    #[test]
    fn handles_cross_threads_as_documented() {
        send_sync::<Engine>();
        send_sync::<Module>();
        send::<Store>();
        send_sync::<(Func, Table, Memory, Global, Instance, Extern, Val, Linker)>();
        send_sync::<(Trap, InstantiateError)>();
    }
}
