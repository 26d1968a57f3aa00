//! A compiled module with its code published: what instances of it share.

use crate::artifact_key::ArtifactKey;
use crate::code::CodeMemory;
use crate::engine::Engine;
use crate::image::MemoryImage;
use faasm_jit::{ArtifactError, CompileError, CompiledModule, FunctionLoc, ModuleInfo, VMOffsets};
use std::fmt;
use std::sync::{Arc, OnceLock};

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
    /// Per defined memory, its initial contents as a copy-on-write image, where the data
    /// segments allow one (see [`MemoryImage::of_data_segments`]). Made on first instantiation.
    /// The data image is not part of the jit's artifact; it is derived here instead, from
    /// the artifact's parsed segments, because it is a memfd (an OS object the jit must not
    /// create) and a module that is only compiled or cached should not pay for it.
    memory_images: OnceLock<Vec<Option<Arc<MemoryImage>>>>,
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
                memory_images: OnceLock::new(),
            }),
        })
    }

    /// The AOT artifact of this module: its code and tables, checksummed and stamped with the
    /// engine's fingerprint. [`Module::deserialize`] loads it into an engine with the same
    /// fingerprint without compiling anything.
    pub fn serialize(&self) -> Vec<u8> {
        self.inner
            .engine
            .compiler()
            .serialize(&self.inner.artifact, self.inner.code.bytes())
    }

    /// The artifact followed by its authentication tag under `key`: what
    /// [`Module::deserialize_authenticated`] loads with the same key.
    pub fn serialize_authenticated(&self, key: &ArtifactKey) -> Vec<u8> {
        key.append_tag(self.serialize())
    }

    /// Loads an artifact written by [`Module::serialize_authenticated`] with `key`. The tag is
    /// checked first (an [`ArtifactError::Authentication`] if it does not match), then
    /// everything [`Module::deserialize`] checks.
    ///
    /// This is the safe way to load native code: a file that was changed (even with its
    /// checksum recomputed) or written without the key is rejected before anything in it is
    /// read. It is as trustworthy as the key is secret.
    pub fn deserialize_authenticated(
        engine: &Engine,
        bytes: &[u8],
        key: &ArtifactKey,
    ) -> Result<Module, ArtifactError> {
        let artifact = key.verify(bytes).ok_or(ArtifactError::Authentication)?;
        // SAFETY: the tag proves that `artifact` is what `serialize_authenticated` wrote with
        // this key, i.e. a `serialize` of a module compiled by a `faasm_jit` compiler; the
        // fingerprint check in `deserialize` ties it to this engine's configuration and CPU.
        unsafe { Module::deserialize(engine, artifact) }
    }

    /// Loads an artifact written by [`Module::serialize`] (or `faasm-run compile`).
    ///
    /// Every way the bytes can be wrong by accident is an [`ArtifactError`], never a crash:
    /// truncation, a flipped bit anywhere (SHA-256 over the whole file), another format
    /// version, code for another engine configuration, compiler build or CPU (the engine
    /// fingerprint), and tables that do not fit the module or the code.
    ///
    /// # Safety
    /// The machine code in `bytes` is run as it is, and no check can tell good code from bad:
    /// whoever writes the file can recompute its checksum and copy a real fingerprint. `bytes`
    /// must therefore come from [`Module::serialize`] of a module compiled by this crate (with
    /// any engine; another engine's artifact is an error), unchanged since. Bytes from anywhere
    /// less trusted than the running binary must go through
    /// [`Module::deserialize_authenticated`] instead.
    pub unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Module, ArtifactError> {
        let compiled = engine.compiler().deserialize(bytes)?;
        // SAFETY: the caller guarantees the artifact is an unchanged `serialize` of our
        // compiler's output; the fingerprint check tied it to this engine's configuration and
        // CPU features. `from_compiled` checks the tables again.
        unsafe { Module::from_compiled(engine, compiled) }.map_err(ArtifactError::Load)
    }

    /// SHA-256 of the WebAssembly bytes the module was compiled from.
    pub fn wasm_sha256(&self) -> [u8; 32] {
        self.inner.artifact.wasm_sha256
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

    /// The initial contents of each defined memory, where an image of them can be made.
    pub(crate) fn memory_images(&self) -> &[Option<Arc<MemoryImage>>] {
        self.inner.memory_images.get_or_init(|| {
            let info = self.info();
            let defined = info.memories.len() as u32 - info.num_imported_memories;
            (0..defined)
                .map(|memory| MemoryImage::of_data_segments(info, memory))
                .collect()
        })
    }

    /// Whether a call to function `func_index` (function index space) may write linear memory;
    /// imported functions may, unknown indices are answered "may" too.
    pub(crate) fn may_write_memory(&self, func_index: u32) -> bool {
        let defined = func_index.checked_sub(self.info().num_imported_funcs);
        defined
            .and_then(|d| self.inner.artifact.writes_memory.get(d as usize))
            .is_none_or(|writes| *writes)
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

/// Rejects artifacts whose tables do not fit their module description or code, or that were
/// compiled for another memory strategy, so that a corrupt (for example cached) artifact is an
/// error rather than a panic or worse.
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
    compiled.check_consistency().map_err(invalid)
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
    fn serialized_modules_load_and_keep_their_hash() {
        let engine = Engine::default();
        let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#)
            .expect("wat");
        let module = Module::new(&engine, &wasm).expect("compile");
        let bytes = module.serialize();
        // SAFETY: the bytes were just serialised from a module this engine compiled.
        let loaded = unsafe { Module::deserialize(&engine, &bytes) }.expect("load");
        assert_eq!(loaded.wasm_sha256(), module.wasm_sha256());
        assert_eq!(loaded.serialize(), bytes);
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() / 2] ^= 4;
        assert_eq!(
            // SAFETY: a changed byte is caught by the checksum before any code is published.
            unsafe { Module::deserialize(&engine, &corrupt) }.unwrap_err(),
            ArtifactError::Checksum
        );
    }

    /// The artifact of a module returning `0x11223344`, with that immediate in its code changed
    /// to `0x55667788` and the checksum recomputed: a forgery the checksum cannot catch.
    fn forged_artifact(engine: &Engine) -> (Vec<u8>, Vec<u8>) {
        let wasm =
            wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 0x11223344))"#)
                .expect("wat");
        let genuine = Module::new(engine, &wasm).expect("compile").serialize();
        let body_len = genuine.len() - 32;
        let mut forged = genuine[..body_len].to_vec();
        let at = forged
            .windows(4)
            .position(|w| w == 0x11223344u32.to_le_bytes())
            .expect("the immediate is in the code");
        forged[at..at + 4].copy_from_slice(&0x55667788u32.to_le_bytes());
        let checksum = <sha2::Sha256 as sha2::Digest>::digest(&forged);
        forged.extend_from_slice(&checksum);
        (genuine, forged)
    }

    #[test]
    fn a_forged_artifact_with_a_recomputed_checksum_is_rejected() {
        let engine = Engine::default();
        let key = ArtifactKey::from_bytes([42; 32]);
        let (genuine, forged) = forged_artifact(&engine);
        // The checksum alone lets the forgery through: that is why `deserialize` is unsafe.
        // SAFETY: the forged code differs only in the constant it returns.
        assert!(unsafe { Module::deserialize(&engine, &forged) }.is_ok());
        let tagged = key.append_tag(genuine.clone());
        let mut forged_with_genuine_tag = forged.clone();
        forged_with_genuine_tag.extend_from_slice(&tagged[genuine.len()..]);
        let tagged_with_another_key = ArtifactKey::from_bytes([43; 32]).append_tag(forged);
        for (what, bytes) in [
            ("forged code, genuine tag", &forged_with_genuine_tag),
            ("tagged with another key", &tagged_with_another_key),
            ("no tag", &genuine),
        ] {
            assert_eq!(
                Module::deserialize_authenticated(&engine, bytes, &key).unwrap_err(),
                ArtifactError::Authentication,
                "{what}"
            );
        }
        let loaded = Module::deserialize_authenticated(&engine, &tagged, &key).expect("genuine");
        assert_eq!(loaded.serialize_authenticated(&key), tagged);
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
