//! A compiled module with its code published: what instances of it share.

use crate::code::CodeMemory;
use crate::engine::Engine;
use faasm_jit::{CompileError, CompiledModule, FunctionLoc, ImportKind, ModuleInfo, VMOffsets};
use std::fmt;
use std::sync::Arc;

/// A compiled, published module. Cheap to clone; instantiate it with a [`crate::Linker`].
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    engine: Engine,
    /// The artifact without its code bytes (those live in `code`).
    artifact: Arc<CompiledModule>,
    code: CodeMemory,
    /// Canonical id of each type index.
    type_ids: Vec<u32>,
}

impl Module {
    /// Validates and compiles `wasm` (binary format) and publishes its code.
    pub fn new(engine: &Engine, wasm: &[u8]) -> Result<Module, CompileError> {
        let compiled = engine.compiler().compile(wasm)?;
        // SAFETY: the artifact comes straight from our compiler for this engine's configuration.
        unsafe { Module::from_compiled(engine, compiled) }
    }

    /// Publishes an already compiled artifact (for example one loaded from an AOT cache). Its
    /// shape is checked against its module description; its machine code cannot be.
    ///
    /// # Safety
    /// `compiled.code` must be machine code for this machine produced by `faasm_jit` (or code
    /// that follows exactly the same conventions: calling conventions, VMContext layout, trap
    /// table) for this engine's compiler configuration. Running anything else is undefined
    /// behaviour.
    pub unsafe fn from_compiled(
        engine: &Engine,
        mut compiled: CompiledModule,
    ) -> Result<Module, CompileError> {
        check_artifact(engine, &compiled)?;
        let code_bytes = std::mem::take(&mut compiled.code);
        let artifact = Arc::new(compiled);
        let code = CodeMemory::publish(&code_bytes, artifact.clone()).map_err(|e| {
            CompileError::Limit(format!(
                "cannot map {} bytes of code: {e}",
                code_bytes.len()
            ))
        })?;
        let type_ids = artifact
            .info
            .types
            .iter()
            .map(|ty| engine.type_id(ty))
            .collect();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                artifact,
                code,
                type_ids,
            }),
        })
    }

    /// What the module declares.
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.artifact.info
    }

    /// The engine the module was compiled by.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn offsets(&self) -> &VMOffsets {
        &self.inner.artifact.offsets
    }

    /// Canonical id of type `type_index`.
    pub(crate) fn type_id(&self, type_index: u32) -> Option<u32> {
        self.inner.type_ids.get(type_index as usize).copied()
    }

    /// Address of defined function `defined_index`.
    pub(crate) fn function_code(&self, defined_index: u32) -> Option<*const u8> {
        self.code_at(self.inner.artifact.functions.get(defined_index as usize)?)
    }

    /// Address of the host-to-Wasm trampoline of type `type_index`.
    pub(crate) fn array_to_wasm(&self, type_index: u32) -> Option<*const u8> {
        self.code_at(self.inner.artifact.array_to_wasm.get(type_index as usize)?)
    }

    /// Address of the Wasm-to-host trampoline of type `type_index`.
    pub(crate) fn wasm_to_host(&self, type_index: u32) -> Option<*const u8> {
        self.code_at(self.inner.artifact.wasm_to_host.get(type_index as usize)?)
    }

    fn code_at(&self, loc: &FunctionLoc) -> Option<*const u8> {
        let offset = loc.offset as usize;
        // SAFETY: `check_artifact` verified every location lies inside the code, so the offset
        // stays inside the mapping.
        (offset < self.inner.code.len()).then(|| unsafe { self.inner.code.base().add(offset) })
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("code", &self.inner.code)
            .field("functions", &self.inner.artifact.functions.len())
            .finish_non_exhaustive()
    }
}

/// Rejects artifacts whose tables do not fit their module description or code, so that a
/// corrupt (for example cached) artifact is an error rather than a panic or worse.
fn check_artifact(engine: &Engine, compiled: &CompiledModule) -> Result<(), CompileError> {
    let invalid = |message: String| CompileError::Invalid {
        offset: 0,
        message: format!("compiled artifact: {message}"),
    };
    let strategy = engine.config().compiler.memory_strategy;
    if compiled.memory_strategy != strategy {
        return Err(invalid(format!(
            "compiled for memory strategy {:?}, the engine uses {strategy:?}",
            compiled.memory_strategy
        )));
    }
    check_counts(compiled).map_err(|m| invalid(m.to_string()))?;
    if compiled.offsets != VMOffsets::new(&compiled.info) {
        return Err(invalid(
            "VMContext layout does not match the module".to_string(),
        ));
    }
    check_code_locations(compiled).map_err(invalid)
}

/// Index spaces, imports and code tables agree with each other (checked before anything
/// subtracts or indexes with these counts).
fn check_counts(compiled: &CompiledModule) -> Result<(), &'static str> {
    let info = &compiled.info;
    let imported = [
        (info.num_imported_funcs, info.functions.len()),
        (info.num_imported_tables, info.tables.len()),
        (info.num_imported_memories, info.memories.len()),
        (info.num_imported_globals, info.globals.len()),
    ];
    if imported.iter().any(|(n, total)| *n as usize > *total) {
        return Err("more imports than entities");
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
        return Err("import counts do not match the imports");
    }
    if info.global_inits.len() != info.num_defined_globals() as usize {
        return Err("global initialiser count does not match the globals");
    }
    if compiled.functions.len() != info.num_defined_funcs() as usize {
        return Err("function count does not match the module");
    }
    let types = info.types.len();
    if compiled.array_to_wasm.len() != types || compiled.wasm_to_host.len() != types {
        return Err("trampoline count does not match the type count");
    }
    if info.functions.iter().any(|ty| *ty as usize >= types) {
        return Err("function with an unknown type");
    }
    Ok(())
}

/// Every code location and trap site lies inside the code; trap sites are sorted.
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
    let sorted = compiled.traps.windows(2).all(|w| w[0].0 < w[1].0);
    if !sorted
        || compiled
            .traps
            .last()
            .is_some_and(|(o, _)| u64::from(*o) >= code_len)
    {
        return Err("trap table unsorted or beyond the code".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::{CompilerConfig, FunctionLoc, TrapCode};

    fn artifact() -> CompiledModule {
        let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#)
            .expect("wat");
        faasm_jit::Compiler::new(CompilerConfig::default())
            .and_then(|c| c.compile(&wasm))
            .expect("compile")
    }

    fn publish(compiled: CompiledModule) -> Result<Module, CompileError> {
        // SAFETY: only artifacts the checks reject are published with changes; the others come
        // straight from the compiler.
        unsafe { Module::from_compiled(&Engine::default(), compiled) }
    }

    #[test]
    fn a_compiled_artifact_is_accepted() {
        let module = publish(artifact()).expect("valid");
        assert_eq!(module.info().exports.len(), 1);
        assert!(module.function_code(0).is_some());
        assert!(module.function_code(1).is_none());
    }

    #[test]
    fn inconsistent_artifacts_are_rejected() {
        let corruptions: [fn(&mut CompiledModule); 6] = [
            |c| c.memory_strategy = faasm_jit::MemoryStrategy::Bounded,
            |c| c.info.num_imported_funcs = 5,
            |c| c.functions.push(FunctionLoc::default()),
            |c| c.array_to_wasm.clear(),
            |c| c.functions[0].len = u32::MAX,
            |c| c.traps.push((u32::MAX, TrapCode::UnreachableCodeReached)),
        ];
        for (i, corrupt) in corruptions.iter().enumerate() {
            let mut compiled = artifact();
            corrupt(&mut compiled);
            assert!(
                matches!(publish(compiled), Err(CompileError::Invalid { .. })),
                "corruption {i}"
            );
        }
    }
}
