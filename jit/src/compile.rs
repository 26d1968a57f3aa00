//! The compile driver: validation, parallel translation and compilation, and the artifact.

use crate::error::CompileError;
use crate::module::ModuleInfo;
use crate::trap::TrapCode;
use crate::vmctx::VMOffsets;

/// How linear memories are protected: decides which bounds checks the compiler emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryStrategy {
    /// Each memory reserves 4 GiB plus `guard_bytes` of inaccessible address space after it (and
    /// as much before it). Accesses whose static `offset + size <= guard_bytes` need no bounds
    /// check: they fault in the guard, and the fault becomes a trap.
    Guarded {
        /// Size of the guard region after (and before) the 4 GiB reservation.
        guard_bytes: u64,
    },
    /// Each memory reserves its declared maximum; every access is checked explicitly.
    Bounded,
}

impl Default for MemoryStrategy {
    fn default() -> Self {
        MemoryStrategy::Guarded {
            guard_bytes: 32 << 20,
        }
    }
}

/// Cranelift's optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OptLevel {
    /// No optimisation: fastest compile.
    None,
    /// Optimise for speed.
    #[default]
    Speed,
}

/// Settings of the compiler. Code compiled with one configuration only runs in a runtime using the
/// same memory strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompilerConfig {
    /// Memory protection strategy.
    pub memory_strategy: MemoryStrategy,
    /// Emit epoch checks at function entry and loop headers.
    pub epoch_interruption: bool,
    /// Cranelift optimisation level.
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier on every function (on in debug builds and tests).
    pub verifier: bool,
    /// Compile threads; 0 means one per available core.
    pub threads: usize,
}

impl Default for CompilerConfig {
    fn default() -> Self {
        CompilerConfig {
            memory_strategy: MemoryStrategy::default(),
            epoch_interruption: true,
            opt_level: OptLevel::default(),
            verifier: cfg!(debug_assertions),
            threads: 0,
        }
    }
}

/// Where a piece of code lies in [`CompiledModule::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionLoc {
    /// Offset of the first instruction.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// A compiled module: position-independent machine code plus what the runtime needs to
/// instantiate and run it. All calls inside the code are already resolved; the code needs no
/// relocation, only to be mapped executable.
///
/// Calling conventions (all the platform's C convention):
/// - a defined function: `(callee_vmctx, caller_vmctx, params...) -> results`;
/// - `array_to_wasm[type]`: `(callee_vmctx, caller_vmctx, callee_code, values: *mut u128)`, loads
///   the parameters from `values`, calls `callee_code`, stores the results back into `values`;
/// - `wasm_to_host[type]`: a Wasm-convention function whose `callee_vmctx` is a host function's
///   context; it spills the parameters into a `u128` array and calls the context's entry point (see
///   [`crate::HOST_FUNC_ENTRY_OFFSET`]), trapping with [`TrapCode::HostError`] on a non-zero status.
#[derive(Debug, Clone)]
pub struct CompiledModule {
    /// The module's declarations.
    pub info: ModuleInfo,
    /// The VMContext layout of its instances.
    pub offsets: VMOffsets,
    /// Machine code of everything below.
    pub code: Vec<u8>,
    /// Each defined function, indexed by defined-function index.
    pub functions: Vec<FunctionLoc>,
    /// Host-to-Wasm trampolines, indexed by type index.
    pub array_to_wasm: Vec<FunctionLoc>,
    /// Wasm-to-host trampolines, indexed by type index.
    pub wasm_to_host: Vec<FunctionLoc>,
    /// Trap sites: code offset of a trapping instruction and its code, sorted by offset.
    pub traps: Vec<(u32, TrapCode)>,
    /// The memory strategy the code was compiled for.
    pub memory_strategy: MemoryStrategy,
}

impl CompiledModule {
    /// The trap recorded for the instruction at `code_offset`, if any.
    pub fn trap_at(&self, code_offset: u32) -> Option<TrapCode> {
        self.traps
            .binary_search_by_key(&code_offset, |(offset, _)| *offset)
            .ok()
            .map(|i| self.traps[i].1)
    }
}

/// Compiles WebAssembly modules for the host machine.
#[derive(Debug)]
pub struct Compiler {
    config: CompilerConfig,
}

impl Compiler {
    /// A compiler for the host's instruction set with `config`.
    pub fn new(config: CompilerConfig) -> Result<Compiler, CompileError> {
        Ok(Compiler { config })
    }

    /// The configuration.
    pub fn config(&self) -> &CompilerConfig {
        &self.config
    }

    /// Validates and compiles `wasm` (binary format).
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, CompileError> {
        let _ = (wasm, ModuleInfo::parse(wasm)?);
        Err(CompileError::unsupported(0, "compiler not yet implemented"))
    }
}
