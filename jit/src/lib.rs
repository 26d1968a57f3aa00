//! `faasm-jit` is faasm-rs's own WebAssembly compiler: it validates a module with `wasmparser`,
//! translates every function from Wasm operators to Cranelift IR with our own translator, compiles the
//! functions in parallel, and returns a position-independent [`CompiledModule`]: machine code, the
//! offsets of functions and trampolines, the trap table and everything the runtime needs to
//! instantiate the module ([`ModuleInfo`]). A compiled module serialises to a validated AOT
//! artifact ([`Compiler::serialize`], [`Compiler::deserialize`]) tied to the compiler's
//! [fingerprint](Compiler::fingerprint).
//!
//! It owns the **VMContext layout** ([`VMOffsets`]): codegen reads offsets from there, and the runtime's
//! `#[repr(C)]` structures are checked against it. It also defines [`TrapCode`] and the builtin
//! functions ([`Builtin`]) that generated code calls in the runtime.
//!
//! It must not touch the operating system or contain `unsafe`: mapping code executable, memories,
//! signals and calling into generated code belong to `faasm-runtime`.
#![forbid(unsafe_code)]

mod artifact;
mod builtins;
mod compile;
mod effects;
mod error;
mod module;
mod proposals;
mod trampoline;
mod translate;
mod trap;
mod types;
mod vmctx;

pub use artifact::{ARTIFACT_MAGIC, ARTIFACT_VERSION, is_artifact};
pub use builtins::Builtin;
pub use compile::{
    CompiledModule, Compiler, CompilerConfig, FunctionLoc, MemoryStrategy, OptLevel,
};
pub use error::{ArtifactError, CompileError};
pub use module::{
    ConstExpr, ConstOp, DataKind, DataSegment, ElementKind, ElementSegment, EntityIndex, Export,
    Import, ImportKind, ModuleInfo,
};
pub use proposals::Proposals;
pub use trap::TrapCode;
pub use types::{FuncType, GlobalType, MemoryType, RefType, TableType, ValType};
pub use vmctx::{
    HOST_FUNC_ENTRY_OFFSET, HOST_FUNC_MAGIC, VMCTX_MAGIC, VMCTX_MAGIC_OFFSET, VMOffsets,
    vm_func_ref, vm_function_import, vm_global, vm_limits, vm_memory, vm_table,
};

/// Size in bytes of one Wasm page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Largest number of pages a 32-bit memory may have (4 GiB).
pub const MAX_WASM_PAGES: u64 = 65536;
