//! `faasm-runtime` runs the code `faasm-jit` compiles. It owns the engine (compiler, canonical
//! type ids, epoch counter, pool of memory slots), modules (code published read-execute, W^X,
//! and registered for trap lookup), stores and the instances in them (VMContexts laid out
//! exactly as `faasm_jit::VMOffsets` says, checked by `offset_of!` tests), linear memories in
//! pooled slots with guard regions, tables, globals, the host-function linker, the entry into
//! generated code with its signal handlers and trap landing pad, stack limits and epoch
//! interruption (and the call deadline host functions wait by, [`CallBounds`]), and the
//! copy-on-write primitives snapshots need (memory images in sealed memfds,
//! [`Instance::capture`], [`Linker::instantiate_from_image`], [`Instance::reset`]).
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
pub use engine::{Config, Engine};
pub use faasm_jit::{
    ArtifactError, CompileError, CompilerConfig, FuncType, GlobalType, Import, ImportKind,
    MemoryStrategy, MemoryType, ModuleInfo, OptLevel, RefType, TableType, TrapCode, ValType,
    is_artifact,
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

    #[test]
    fn handles_cross_threads_as_documented() {
        send_sync::<Engine>();
        send_sync::<Module>();
        send::<Store>();
        send_sync::<(Func, Table, Memory, Global, Instance, Extern, Val, Linker)>();
        send_sync::<(Trap, InstantiateError)>();
    }
}
