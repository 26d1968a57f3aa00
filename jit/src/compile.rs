//! The compile driver: validation, parallel translation and compilation, and the artifact.

use crate::error::CompileError;
use crate::module::{FunctionBody, ModuleInfo};
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
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmparser::{Validator, WasmFeatures};

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
pub struct Compiler {
    config: CompilerConfig,
    isa: OwnedTargetIsa,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("config", &self.config)
            .field("isa", &self.isa.triple())
            .finish()
    }
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
}

/// WebAssembly 2.0 as this compiler supports it (SIMD is validated, then rejected by the translator).
fn wasm_features() -> WasmFeatures {
    WasmFeatures::WASM2
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
        flags
            .set("preserve_frame_pointers", "true")
            .map_err(setting_error)?;
        flags
            .set("enable_probestack", "false")
            .map_err(setting_error)?;
        let isa_builder = cranelift_native::builder()
            .map_err(|e| CompileError::unsupported(0, format!("host instruction set: {e}")))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| CompileError::unsupported(0, format!("host instruction set: {e}")))?;
        Ok(Compiler { config, isa })
    }

    /// The configuration.
    pub fn config(&self) -> &CompilerConfig {
        &self.config
    }

    /// Validates and compiles `wasm` (binary format).
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, CompileError> {
        let (info, bodies) = Self::validate_and_parse(wasm)?;
        let offsets = VMOffsets::new(&info);
        let mut jobs: Vec<Job> = (0..bodies.len() as u32).map(Job::Function).collect();
        for type_index in 0..info.types.len() as u32 {
            jobs.push(Job::ArrayToWasm(type_index));
            jobs.push(Job::WasmToHost(type_index));
        }
        let pieces = self.compile_jobs(&info, &offsets, &bodies, &jobs)?;
        Ok(self.link(info, offsets, &jobs, pieces))
    }

    /// The Cranelift IR our translator produces for each defined function of `wasm`, before
    /// Cranelift optimises it: what the golden translator tests compare.
    pub fn clif(&self, wasm: &[u8]) -> Result<Vec<String>, CompileError> {
        let (info, bodies) = Self::validate_and_parse(wasm)?;
        let offsets = VMOffsets::new(&info);
        let mut translator = FuncTranslator::new();
        let mut fctx = FunctionBuilderContext::new();
        let mut out = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let func_index = info.num_imported_funcs + i as u32;
            let mut func = ir::Function::new();
            self.translate_function(
                &info,
                &offsets,
                func_index,
                body,
                &mut func,
                &mut translator,
                &mut fctx,
            )?;
            out.push(func.display().to_string());
        }
        Ok(out)
    }

    fn validate_and_parse(
        wasm: &[u8],
    ) -> Result<(ModuleInfo, Vec<FunctionBody<'_>>), CompileError> {
        Validator::new_with_features(wasm_features()).validate_all(wasm)?;
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

    /// Compiles every job on `config.threads` threads (one per core by default), each reusing one
    /// Cranelift context, builder context and translator.
    fn compile_jobs(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        bodies: &[FunctionBody<'_>],
        jobs: &[Job],
    ) -> Result<Vec<CompiledPiece>, CompileError> {
        let threads = match self.config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(jobs.len())
        .max(1);
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<CompiledPiece, CompileError>>>> =
            Mutex::new((0..jobs.len()).map(|_| None).collect());
        let work = || {
            let mut ctx = Context::new();
            let mut fctx = FunctionBuilderContext::new();
            let mut translator = FuncTranslator::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                ctx.clear();
                let piece = self.compile_job(
                    info,
                    offsets,
                    bodies,
                    *job,
                    &mut ctx,
                    &mut fctx,
                    &mut translator,
                );
                let failed = piece.is_err();
                results.lock().expect("no panics while holding the lock")[i] = Some(piece);
                if failed {
                    next.store(jobs.len(), Ordering::Relaxed);
                }
            }
        };
        if threads == 1 {
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(work);
                }
            });
        }
        let results = results
            .into_inner()
            .expect("no panics while holding the lock");
        // Report the first failing job in module order, so errors are deterministic.
        let mut pieces = Vec::with_capacity(jobs.len());
        for result in results {
            match result {
                Some(Ok(piece)) => pieces.push(piece),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Ok(pieces)
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
        let mut piece = CompiledPiece {
            bytes: buffer.data().to_vec(),
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
            code.resize(code.len().next_multiple_of(16), 0xcc);
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
            memory_strategy: self.config.memory_strategy,
        }
    }
}
