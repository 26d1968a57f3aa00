//! The compile driver: validation, parallel translation and compilation, and the artifact.

use crate::error::CompileError;
use crate::module::{FunctionBody, ImportKind, ModuleInfo};
use crate::proposals::Proposals;
use crate::trampoline;
use crate::translate::env::wasm_signature;
use crate::translate::{FuncTranslator, TranslationContext};
use crate::trap::TrapCode;
use crate::vmctx::VMOffsets;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, ExternalName, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::FunctionBuilderContext;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use wasmparser::{Parser, Payload, Validator};

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
    /// Make the address of an access that fails its explicit bounds check null before the
    /// access (Cranelift's `select_spectre_guard`, a conditional move the CPU does not
    /// predict), so that a mispredicted check cannot read or write out of bounds speculatively
    /// (Spectre v1). Explicit checks are every access under [`MemoryStrategy::Bounded`] and
    /// those whose static offset exceeds the guard region under `Guarded`. On by default; off
    /// only to measure what it costs.
    pub spectre_guard: bool,
    /// Cranelift optimisation level.
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier on every function (on in debug builds and tests).
    pub verifier: bool,
    /// Compile threads: 1 compiles on the calling thread, 0 on a process-wide pool with one
    /// thread per available core, `n` on a pool of `n` threads owned by the [`Compiler`].
    pub threads: usize,
    /// The proposals beyond WebAssembly 2.0 that validation accepts (all by default).
    pub proposals: Proposals,
}

impl Default for CompilerConfig {
    fn default() -> Self {
        CompilerConfig {
            memory_strategy: MemoryStrategy::default(),
            epoch_interruption: true,
            spectre_guard: true,
            opt_level: OptLevel::default(),
            verifier: cfg!(debug_assertions),
            threads: 0,
            proposals: Proposals::ALL,
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
    /// Whether a call to each defined function (by defined-function index) may write linear
    /// memory, directly or through its callees (see [`crate::effects`]'s rules): false is a
    /// promise the runtime relies on to skip resetting memories.
    pub writes_memory: Vec<bool>,
    /// The memory strategy the code was compiled for.
    pub memory_strategy: MemoryStrategy,
    /// SHA-256 of the module's bytes as given to the compiler.
    pub wasm_sha256: [u8; 32],
    /// The module's sections with every function body replaced by an empty one and without
    /// custom sections other than `name`: enough to parse [`CompiledModule::info`] again, which
    /// is how an AOT artifact stores the module's declarations.
    pub wasm_sections: Vec<u8>,
}

impl CompiledModule {
    /// The trap recorded for the instruction at `code_offset`, if any.
    pub fn trap_at(&self, code_offset: u32) -> Option<TrapCode> {
        self.traps
            .binary_search_by_key(&code_offset, |(offset, _)| *offset)
            .ok()
            .map(|i| self.traps[i].1)
    }

    /// The index (in the function index space) of the defined function whose code contains
    /// `code_offset`; `None` inside trampolines and padding.
    pub fn function_at(&self, code_offset: u32) -> Option<u32> {
        let after = self.functions.partition_point(|f| f.offset <= code_offset);
        let defined = after.checked_sub(1)?;
        let loc = self.functions[defined];
        (code_offset - loc.offset < loc.len).then(|| self.info.num_imported_funcs + defined as u32)
    }

    /// Checks that the tables agree with the module description and the code: index spaces
    /// and import counts, one location per function and per type, every location and trap
    /// site inside the code, functions and trap sites in ascending order, and the VMContext
    /// layout. What the compiler produces always passes; an artifact from elsewhere must, before
    /// anything indexes with these tables.
    pub fn check_consistency(&self) -> Result<(), String> {
        check_counts(self)?;
        if self.offsets != VMOffsets::new(&self.info) {
            return Err("VMContext layout does not match the module".to_string());
        }
        check_code_locations(self)
    }
}

/// Index spaces, imports and code tables agree with each other (checked before anything
/// subtracts or indexes with these counts).
fn check_counts(compiled: &CompiledModule) -> Result<(), String> {
    let info = &compiled.info;
    let imported = [
        (info.num_imported_funcs, info.functions.len()),
        (info.num_imported_tables, info.tables.len()),
        (info.num_imported_memories, info.memories.len()),
        (info.num_imported_globals, info.globals.len()),
    ];
    if imported.iter().any(|(n, total)| *n as usize > *total) {
        return Err("more imports than entities".to_string());
    }
    let count = |f: fn(&ImportKind) -> bool| info.imports.iter().filter(|i| f(&i.kind)).count();
    let import_counts = [
        count(|k| matches!(k, ImportKind::Func(_))),
        count(|k| matches!(k, ImportKind::Table(_))),
        count(|k| matches!(k, ImportKind::Memory(_))),
        count(|k| matches!(k, ImportKind::Global(_))),
    ];
    if imported
        .iter()
        .zip(import_counts)
        .any(|((n, _), c)| *n as usize != c)
    {
        return Err("import counts do not match the imports".to_string());
    }
    if info.global_inits.len() != info.num_defined_globals() as usize {
        return Err("global initialiser count does not match the globals".to_string());
    }
    if compiled.functions.len() != info.num_defined_funcs() as usize
        || compiled.writes_memory.len() != compiled.functions.len()
    {
        return Err("function count does not match the module".to_string());
    }
    let types = info.types.len();
    if compiled.array_to_wasm.len() != types || compiled.wasm_to_host.len() != types {
        return Err("trampoline count does not match the type count".to_string());
    }
    if info.functions.iter().any(|ty| *ty as usize >= types) {
        return Err("function with an unknown type".to_string());
    }
    Ok(())
}

/// Every code location and trap site lies inside the code; functions and trap sites are in
/// ascending order.
fn check_code_locations(compiled: &CompiledModule) -> Result<(), String> {
    let code_len = compiled.code.len() as u64;
    let mut locations = compiled
        .functions
        .iter()
        .chain(&compiled.array_to_wasm)
        .chain(&compiled.wasm_to_host);
    if let Some(loc) = locations.find(|l| u64::from(l.offset) + u64::from(l.len) > code_len) {
        return Err(format!(
            "code location {loc:?} beyond {code_len} bytes of code"
        ));
    }
    let functions_sorted = compiled
        .functions
        .windows(2)
        .all(|w| w[0].offset + w[0].len <= w[1].offset);
    if !functions_sorted {
        return Err("functions overlap or are out of order".to_string());
    }
    let traps_sorted = compiled.traps.windows(2).all(|w| w[0].0 < w[1].0);
    if !traps_sorted
        || compiled
            .traps
            .last()
            .is_some_and(|(o, _)| u64::from(*o) >= code_len)
    {
        return Err("trap table unsorted or beyond the code".to_string());
    }
    Ok(())
}

/// Compiles WebAssembly modules for the host machine.
pub struct Compiler {
    config: CompilerConfig,
    isa: OwnedTargetIsa,
    fingerprint: String,
    /// The compiler's own threads when `config.threads > 1`. Threads live as long as the
    /// compiler: spawning them per module cost more than compiling a small module.
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("config", &self.config)
            .field("isa", &self.isa.triple())
            .finish()
    }
}

/// What a compiling thread reuses from one function to the next, for their allocations.
struct WorkerState {
    context: Context,
    builder: FunctionBuilderContext,
    translator: FuncTranslator,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            context: Context::new(),
            builder: FunctionBuilderContext::new(),
            translator: FuncTranslator::new(),
        }
    }
}

thread_local! {
    /// Each compiling thread's reusable state, between jobs (taken while a job runs).
    static WORKER_STATE: Cell<Option<WorkerState>> = const { Cell::new(None) };
}

/// One unit of compile work.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// A defined function, by defined-function index.
    Function(u32),
    /// The host-to-Wasm trampoline of a type.
    ArrayToWasm(u32),
    /// The Wasm-to-host trampoline of a type.
    WasmToHost(u32),
}

/// Machine code of one job, before layout.
#[derive(Debug, Default)]
struct CompiledPiece {
    bytes: Vec<u8>,
    traps: Vec<(u32, TrapCode)>,
    /// Direct calls to patch: offset of the 32-bit PC-relative field, callee function index, addend.
    calls: Vec<(u32, u32, i64)>,
    /// The offset of the header of the piece's innermost loop, which linking places on a
    /// [`LOOP_ALIGNMENT`] boundary (see [`innermost_loop_header`]).
    loop_header: Option<u32>,
}

/// Where the innermost loop of a function starts in linked code: a multiple of this. x86-64
/// cores fetch and cache decoded instructions in 32-byte windows, so a small loop straddling a
/// window boundary takes more cycles per iteration than the same loop inside one window
/// (measured: the sieve kernel's 28-byte inner loop ran 14% slower one byte before a boundary
/// than at it). Cranelift places blocks without alignment; the linker moves whole functions
/// instead, which aligns one loop per function, the innermost one.
const LOOP_ALIGNMENT: u32 = 32;

/// Functions (and trampolines) start on a multiple of this unless a loop's alignment moves them.
const FUNCTION_ALIGNMENT: usize = 16;

/// The start of the innermost loop of compiled code, from Cranelift's block layout (block
/// starts and edges, recorded with its `machine_code_cfg_info` flag): the target of the
/// backward edge whose loop (from the header to the end of the block jumping back) is the
/// shortest. `None` without loops.
fn innermost_loop_header(starts: &[u32], edges: &[(u32, u32)], code_len: u32) -> Option<u32> {
    let block_end = |start: u32| {
        let next = starts.partition_point(|s| *s <= start);
        starts.get(next).copied().unwrap_or(code_len)
    };
    edges
        .iter()
        .filter(|(from, to)| to <= from)
        .min_by_key(|(from, to)| (block_end(*from) - to, *to))
        .map(|(_, to)| *to)
}

/// On x86-64, SSE4.1: Cranelift lowers SIMD with it (any x86-64 CPU since 2008 has it). A
/// machine without it is refused when the compiler is made, not at a module's first `v128`.
fn require_sse41(isa: &dyn cranelift_codegen::isa::TargetIsa) -> Result<(), CompileError> {
    if isa.name() != "x64" {
        return Ok(());
    }
    let sse41 = isa
        .isa_flags()
        .iter()
        .find(|flag| flag.name == "has_sse41")
        .and_then(|flag| flag.as_bool());
    match sse41 {
        Some(true) => Ok(()),
        _ => Err(CompileError::unsupported(
            0,
            "this x86-64 CPU lacks SSE4.1, which faasm-rs needs for WebAssembly SIMD",
        )),
    }
}

impl Compiler {
    /// A compiler for the host's instruction set with `config`.
    pub fn new(config: CompilerConfig) -> Result<Compiler, CompileError> {
        let setting_error =
            |e: settings::SetError| CompileError::Limit(format!("Cranelift setting: {e}"));
        let mut flags = settings::builder();
        let opt_level = match config.opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
        };
        flags.set("opt_level", opt_level).map_err(setting_error)?;
        flags
            .set(
                "enable_verifier",
                if config.verifier { "true" } else { "false" },
            )
            .map_err(setting_error)?;
        flags.set("unwind_info", "false").map_err(setting_error)?;
        // Block starts and edges in the machine code, for placing loops (`LOOP_ALIGNMENT`).
        flags
            .set("machine_code_cfg_info", "true")
            .map_err(setting_error)?;
        flags
            .set("preserve_frame_pointers", "true")
            .map_err(setting_error)?;
        flags
            .set("enable_probestack", "false")
            .map_err(setting_error)?;
        // Wasm functions may return more values than fit in registers: Cranelift then passes a
        // hidden return-area pointer.
        flags
            .set("enable_multi_ret_implicit_sret", "true")
            .map_err(setting_error)?;
        let isa_builder = cranelift_native::builder()
            .map_err(|e| CompileError::unsupported(0, format!("host instruction set: {e}")))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| CompileError::unsupported(0, format!("host instruction set: {e}")))?;
        require_sse41(&*isa)?;
        let fingerprint = fingerprint(&config, &*isa);
        let pool = match config.threads {
            0 | 1 => None,
            threads => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("faasm-compile-{i}"))
                    .build()
                    .map_err(|e| {
                        CompileError::Limit(format!("cannot start {threads} compile threads: {e}"))
                    })?,
            ),
        };
        Ok(Compiler {
            config,
            isa,
            fingerprint,
            pool,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CompilerConfig {
        &self.config
    }

    /// What decides the machine code this compiler generates, as `key=value` items separated by
    /// `; `: this crate's version and a hash of its sources, Cranelift's version, the target,
    /// the configuration items that change code (memory strategy, epoch checks, optimisation
    /// level) and every Cranelift setting, including the CPU features detected on this machine.
    /// Code is only reused by a compiler with the same fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Validates and compiles `wasm` (binary format).
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, CompileError> {
        let (info, bodies) = self.validate_and_parse(wasm)?;
        let offsets = VMOffsets::new(&info);
        let mut jobs: Vec<Job> = (0..bodies.len() as u32).map(Job::Function).collect();
        for type_index in 0..info.types.len() as u32 {
            jobs.push(Job::ArrayToWasm(type_index));
            jobs.push(Job::WasmToHost(type_index));
        }
        let pieces = self.compile_jobs(&info, &offsets, &bodies, &jobs)?;
        let writes_memory = crate::effects::memory_writers(&info, &bodies)?;
        let mut module = self.link(info, offsets, &jobs, pieces);
        module.writes_memory = writes_memory;
        module.wasm_sha256 = Sha256::digest(wasm).into();
        module.wasm_sections = sections_without_code(wasm)?;
        Ok(module)
    }

    /// The Cranelift IR our translator produces for each defined function of `wasm`, before
    /// Cranelift optimises it (`optimized = false`) or after its mid-end optimisations, just before
    /// lowering (`optimized = true`): what the golden translator tests compare.
    pub fn clif(&self, wasm: &[u8], optimized: bool) -> Result<Vec<String>, CompileError> {
        let (info, bodies) = self.validate_and_parse(wasm)?;
        let offsets = VMOffsets::new(&info);
        let mut translator = FuncTranslator::new();
        let mut fctx = FunctionBuilderContext::new();
        let mut ctx = Context::new();
        let mut out = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let func_index = info.num_imported_funcs + i as u32;
            ctx.clear();
            self.translate_function(
                &info,
                &offsets,
                func_index,
                body,
                &mut ctx.func,
                &mut translator,
                &mut fctx,
            )?;
            if optimized {
                ctx.optimize(&*self.isa, &mut ControlPlane::default())
                    .map_err(|e| CompileError::Codegen {
                        func_index,
                        message: format!("{e:?}"),
                    })?;
            }
            out.push(ctx.func.display().to_string());
        }
        Ok(out)
    }

    fn validate_and_parse<'w>(
        &self,
        wasm: &'w [u8],
    ) -> Result<(ModuleInfo, Vec<FunctionBody<'w>>), CompileError> {
        Validator::new_with_features(self.config.proposals.wasm_features()).validate_all(wasm)?;
        ModuleInfo::parse(wasm)
    }

    fn translation_context<'m>(
        &self,
        info: &'m ModuleInfo,
        offsets: &'m VMOffsets,
    ) -> TranslationContext<'m> {
        TranslationContext {
            module: info,
            offsets,
            strategy: self.config.memory_strategy,
            epoch_interruption: self.config.epoch_interruption,
            spectre_guard: self.config.spectre_guard,
            frontend_config: self.isa.frontend_config(),
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; bundling would only rename the arguments"
    )]
    fn translate_function(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        func_index: u32,
        body: &FunctionBody<'_>,
        func: &mut ir::Function,
        translator: &mut FuncTranslator,
        fctx: &mut FunctionBuilderContext,
    ) -> Result<(), CompileError> {
        let ty = info.func_type(func_index);
        func.name = UserFuncName::user(0, func_index);
        func.signature = wasm_signature(ty);
        let cx = self.translation_context(info, offsets);
        translator.translate(&cx, ty, &body.body, func, fctx)
    }

    /// Compiles every job: on the calling thread when `config.threads` is 1, otherwise on a pool
    /// (see [`CompilerConfig::threads`]), each job a task of its own so that one large function
    /// does not hold back the rest. Each worker reuses one Cranelift context, builder context
    /// and translator across its jobs.
    fn compile_jobs(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        bodies: &[FunctionBody<'_>],
        jobs: &[Job],
    ) -> Result<Vec<CompiledPiece>, CompileError> {
        let compile = |job: &Job| {
            let mut state = WORKER_STATE.take().unwrap_or_default();
            state.context.clear();
            let piece = self.compile_job(
                info,
                offsets,
                bodies,
                *job,
                &mut state.context,
                &mut state.builder,
                &mut state.translator,
            );
            // A function abandoned half-built (an error, or a panic that unwinds past here)
            // leaves the builder context dirty: only a clean state is kept.
            if piece.is_ok() {
                WORKER_STATE.set(Some(state));
            }
            piece
        };
        let on_pool = || -> Vec<Result<CompiledPiece, CompileError>> {
            jobs.par_iter().with_max_len(1).map(compile).collect()
        };
        let results = match (&self.pool, self.config.threads) {
            (_, 1) => jobs.iter().map(compile).collect(),
            (Some(pool), _) => pool.install(on_pool),
            (None, _) => on_pool(),
        };
        // The first failing job in module order, so that errors are deterministic.
        results.into_iter().collect()
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the per-thread reusable state travels with the job"
    )]
    fn compile_job(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        bodies: &[FunctionBody<'_>],
        job: Job,
        ctx: &mut Context,
        fctx: &mut FunctionBuilderContext,
        translator: &mut FuncTranslator,
    ) -> Result<CompiledPiece, CompileError> {
        let frontend_config = self.isa.frontend_config();
        let func_index = match job {
            Job::Function(defined) => {
                let func_index = info.num_imported_funcs + defined;
                let body = &bodies[defined as usize];
                self.translate_function(
                    info,
                    offsets,
                    func_index,
                    body,
                    &mut ctx.func,
                    translator,
                    fctx,
                )?;
                func_index
            }
            Job::ArrayToWasm(ty) => {
                trampoline::build_array_to_wasm(
                    &info.types[ty as usize],
                    &mut ctx.func,
                    fctx,
                    frontend_config,
                );
                u32::MAX
            }
            Job::WasmToHost(ty) => {
                trampoline::build_wasm_to_host(
                    &info.types[ty as usize],
                    &mut ctx.func,
                    fctx,
                    frontend_config,
                );
                u32::MAX
            }
        };
        self.emit(ctx, func_index)
    }

    fn emit(&self, ctx: &mut Context, func_index: u32) -> Result<CompiledPiece, CompileError> {
        let isa: &dyn TargetIsa = &*self.isa;
        let compiled = ctx
            .compile(isa, &mut ControlPlane::default())
            .map_err(|e| CompileError::Codegen {
                func_index,
                message: format!("{:?}", e.inner),
            })?;
        let buffer = compiled.buffer.clone();
        let loop_header = innermost_loop_header(
            &compiled.bb_starts,
            &compiled.bb_edges,
            buffer.data().len() as u32,
        );
        let mut piece = CompiledPiece {
            bytes: buffer.data().to_vec(),
            loop_header,
            ..CompiledPiece::default()
        };
        for trap in buffer.traps() {
            let code = TrapCode::from_clif(trap.code).ok_or_else(|| CompileError::Codegen {
                func_index,
                message: format!("unknown trap code {}", trap.code),
            })?;
            piece.traps.push((trap.offset, code));
        }
        for reloc in buffer.relocs() {
            let callee = match (&reloc.kind, &reloc.target) {
                (
                    Reloc::X86CallPCRel4,
                    FinalizedRelocTarget::ExternalName(ExternalName::User(name)),
                ) => ctx.func.params.user_named_funcs()[*name].index,
                (kind, target) => {
                    return Err(CompileError::Codegen {
                        func_index,
                        message: format!("unexpected relocation {kind:?} to {target:?}"),
                    });
                }
            };
            piece.calls.push((reloc.offset, callee, reloc.addend));
        }
        Ok(piece)
    }

    /// Lays the pieces out one after another (16-byte aligned) and resolves the direct calls.
    fn link(
        &self,
        info: ModuleInfo,
        offsets: VMOffsets,
        jobs: &[Job],
        pieces: Vec<CompiledPiece>,
    ) -> CompiledModule {
        let mut code = Vec::new();
        let mut locations = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let start = match piece.loop_header {
                Some(header) => {
                    let header = header as usize;
                    let alignment = LOOP_ALIGNMENT as usize;
                    (code.len() + header).next_multiple_of(alignment) - header
                }
                None => code.len().next_multiple_of(FUNCTION_ALIGNMENT),
            };
            code.resize(start, 0xcc);
            locations.push(FunctionLoc {
                offset: code.len() as u32,
                len: piece.bytes.len() as u32,
            });
            code.extend_from_slice(&piece.bytes);
        }
        let num_defined = info.num_defined_funcs() as usize;
        let mut traps = Vec::new();
        for (piece, location) in pieces.iter().zip(&locations) {
            for (offset, callee, addend) in &piece.calls {
                let site = location.offset + offset;
                let callee_defined = (callee - info.num_imported_funcs) as usize;
                let target = i64::from(locations[callee_defined].offset);
                let displacement = (target + addend - i64::from(site)) as i32;
                code[site as usize..site as usize + 4].copy_from_slice(&displacement.to_le_bytes());
            }
            traps.extend(
                piece
                    .traps
                    .iter()
                    .map(|(offset, code)| (location.offset + offset, *code)),
            );
        }
        traps.sort_by_key(|(offset, _)| *offset);
        let num_types = info.types.len();
        let mut array_to_wasm = vec![FunctionLoc::default(); num_types];
        let mut wasm_to_host = vec![FunctionLoc::default(); num_types];
        for (job, location) in jobs.iter().zip(&locations) {
            match *job {
                Job::Function(_) => {}
                Job::ArrayToWasm(ty) => array_to_wasm[ty as usize] = *location,
                Job::WasmToHost(ty) => wasm_to_host[ty as usize] = *location,
            }
        }
        CompiledModule {
            info,
            offsets,
            code,
            functions: locations[..num_defined].to_vec(),
            array_to_wasm,
            wasm_to_host,
            traps,
            writes_memory: Vec::new(),
            memory_strategy: self.config.memory_strategy,
            wasm_sha256: [0; 32],
            wasm_sections: Vec::new(),
        }
    }
}

/// The fingerprint of a compiler (see [`Compiler::fingerprint`]). The IR verifier is left out:
/// it checks the code without changing it.
fn fingerprint(config: &CompilerConfig, isa: &dyn TargetIsa) -> String {
    let shared: Vec<String> = isa
        .flags()
        .iter()
        .filter(|value| value.name != "enable_verifier")
        .map(|value| value.to_string())
        .collect();
    let specific: Vec<String> = isa.isa_flags().iter().map(|v| v.to_string()).collect();
    [
        format!(
            "faasm-jit={} (source {})",
            env!("CARGO_PKG_VERSION"),
            env!("FAASM_JIT_SOURCE_HASH")
        ),
        format!("cranelift={}", env!("FAASM_CRANELIFT_VERSION")),
        format!("target={}", isa.triple()),
        format!("memory={:?}", config.memory_strategy),
        format!("epoch_interruption={}", config.epoch_interruption),
        format!("spectre_guard={}", config.spectre_guard),
        format!("opt_level={:?}", config.opt_level),
        // Artifacts cached by an engine that accepts more are not for one that accepts less.
        format!("proposals={}", config.proposals),
        format!("flags={}", shared.join(",")),
        format!("isa_flags={}", specific.join(",")),
    ]
    .join("; ")
}

/// The sections of a validated module, with an empty body (`0 locals, end`) in place of each
/// function body and no custom section but `name`: see [`CompiledModule::wasm_sections`].
fn sections_without_code(wasm: &[u8]) -> Result<Vec<u8>, CompileError> {
    const EMPTY_BODY: [u8; 3] = [2, 0, 0x0b];
    let mut out = wasm[..8].to_vec();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        let keep = match &payload {
            Payload::CodeSectionStart { count, .. } => {
                let mut contents = leb128_u32(*count);
                for _ in 0..*count {
                    contents.extend_from_slice(&EMPTY_BODY);
                }
                put_section(&mut out, 10, &contents);
                continue;
            }
            Payload::CustomSection(reader) => reader.name() == "name",
            _ => true,
        };
        if let (true, Some((id, range))) = (keep, payload.as_section()) {
            put_section(
                &mut out,
                id,
                &wasm[range.start as usize..range.end as usize],
            );
        }
    }
    Ok(out)
}

fn put_section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    out.extend_from_slice(&leb128_u32(contents.len() as u32));
    out.extend_from_slice(contents);
}

fn leb128_u32(mut value: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn an_x86_64_cpu_without_sse41_is_refused_by_name_and_this_one_is_not() {
        let mut builder = cranelift_codegen::isa::lookup_by_name("x86_64").expect("x64 ISA");
        builder.set("has_sse41", "false").expect("has_sse41");
        let old = builder
            .finish(settings::Flags::new(settings::builder()))
            .expect("an x64 ISA");
        let error = require_sse41(&*old).expect_err("refused");
        assert!(error.to_string().contains("SSE4.1"), "{error}");
        let native = cranelift_native::builder()
            .expect("host ISA")
            .finish(settings::Flags::new(settings::builder()))
            .expect("host ISA");
        require_sse41(&*native).expect("this machine has SSE4.1");
    }
}

#[cfg(test)]
mod loop_placement_tests {
    use super::innermost_loop_header;

    #[test]
    fn the_shortest_backward_edge_names_the_innermost_loop() {
        // Blocks at 0, 10, 20, 40, 60; code ends at 80. An outer loop 10..60 (back edge from
        // the block at 40) and an inner one 20..40 (back edge from the block at 20 to itself).
        let starts = [0, 10, 20, 40, 60];
        let edges = [(0, 10), (10, 20), (20, 20), (20, 40), (40, 10), (40, 60)];
        assert_eq!(innermost_loop_header(&starts, &edges, 80), Some(20));
        // Without backward edges, no loop.
        assert_eq!(
            innermost_loop_header(&starts, &[(0, 10), (10, 60)], 80),
            None
        );
        // A loop whose back edge leaves the last block ends at the end of the code.
        assert_eq!(
            innermost_loop_header(&[0, 8], &[(0, 8), (8, 0)], 30),
            Some(0)
        );
    }
}
