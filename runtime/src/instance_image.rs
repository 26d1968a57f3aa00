//! Capturing an instance's state (memories, globals, tables, dropped data segments) into an
//! [`InstanceImage`], instantiating from one without running initialisation again, and resetting
//! an instance to one after a call. Function references are encoded as indices into the
//! instance's function index space, so an image is meaningful in any store and any process that
//! instantiates the same module with the same imports.

use super::{Builder, InstanceData};
use crate::image::MemoryImage;
use crate::instance::Instance;
use crate::store::{Store, StoreInner};
use crate::values::Trap;
use faasm_jit::{ModuleInfo, RefType, ValType};
use std::collections::HashMap;
use std::sync::Arc;

/// The state of an instance apart from its code and imports. Function references (in tables and
/// globals) are encoded as function index + 1 and null as 0; extern references as their handle + 1.
#[derive(Debug, Clone)]
pub struct InstanceImage {
    /// One image per memory the instance defines (imported memories are not its state).
    pub memories: Vec<Arc<MemoryImage>>,
    /// The raw value of every global the instance defines, in index order.
    pub globals: Vec<u128>,
    /// The elements of every table the instance defines, in index order.
    pub tables: Vec<Vec<u64>>,
    /// Whether each data segment of the module has been dropped.
    pub dropped_data: Vec<bool>,
}

/// Why an instance's state could not be captured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The handle belongs to another store.
    #[error("the instance belongs to another store")]
    ForeignInstance,
    /// A table or global refers to a function outside the instance's function index space.
    #[error("{0} refers to a function the instance neither defines nor imports")]
    ForeignFuncRef(String),
    /// Creating a memory image failed.
    #[error("cannot create a memory image: {0}")]
    Image(String),
}

impl InstanceImage {
    /// Checks that the image has the shape of an instance of `module`: as many memories,
    /// globals, tables and data segments as it defines, table sizes within their types' limits,
    /// function references within its function index space.
    pub fn check_fits(&self, module: &crate::Module) -> Result<(), String> {
        check_fits(module.info(), self)
    }
}

impl Instance {
    /// Captures the instance's memories (up to their current size), globals, tables and
    /// dropped data segments.
    pub fn capture(&self, store: &Store) -> Result<InstanceImage, CaptureError> {
        let data = self.data(store).ok_or(CaptureError::ForeignInstance)?;
        let inner = store.inner();
        let refs = FuncRefIndex::new(inner, data);
        let info = data.module.info();
        let memories = data.memories[info.num_imported_memories as usize..]
            .iter()
            .map(|memory| {
                // Only the private pages are read: a reference over shared pages would
                // promise that other threads do not write them.
                let memory = &inner.memories[memory.index as usize];
                MemoryImage::of_chunks(memory.byte_len() as usize, &memory.private_chunks())
                    .map(Arc::new)
                    .map_err(|e| CaptureError::Image(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let globals = data.globals[info.num_imported_globals as usize..]
            .iter()
            .enumerate()
            .map(|(i, global)| {
                let global = &inner.globals[global.index as usize];
                match global.ty().content {
                    ValType::FuncRef => refs
                        .encode(global.raw() as u64, || format!("global {i}"))
                        .map(u128::from),
                    _ => Ok(global.raw()),
                }
            })
            .collect::<Result<_, _>>()?;
        let tables = data.tables[info.num_imported_tables as usize..]
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let table = &inner.tables[table.index as usize];
                let items = (0..table.size()).map(|e| table.get(e).unwrap_or(0));
                match table.ty().element {
                    RefType::FuncRef => items
                        .map(|raw| refs.encode(raw, || format!("table {i}")))
                        .collect(),
                    RefType::ExternRef => Ok(items.collect()),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(InstanceImage {
            memories,
            globals,
            tables,
            dropped_data: data.data_dropped.clone(),
        })
    }

    /// Returns the instance to `image` (normally the one it was instantiated from): memories
    /// are reset copy-on-write (pages written since are discarded, growth undone), mutable
    /// globals and tables are copied in, dropped data segments restored.
    pub fn reset(&self, store: &mut Store, image: &InstanceImage) -> Result<(), Trap> {
        let data = self
            .data(store)
            .ok_or_else(|| Trap::BadArguments("the instance belongs to another store".into()))?;
        check_fits(data.module.info(), image).map_err(Trap::BadArguments)?;
        let instance = store.inner().instances[self.index as usize];
        // SAFETY: instances live as long as the store, which `&mut Store` borrows exclusively;
        // the instance record is a separate allocation from the store's entity lists.
        let data = unsafe { &mut *instance.as_ptr() };
        restore(store.inner_mut(), data, image).map_err(Trap::BadArguments)
    }
}

/// Maps the function references an instance can hold to their function indices.
struct FuncRefIndex(HashMap<u64, u32>);

impl FuncRefIndex {
    fn new(store: &StoreInner, data: &InstanceData) -> FuncRefIndex {
        let mut map = HashMap::new();
        for (index, func) in data.funcs.iter().enumerate() {
            if let Ok(raw) = store.func_ref(*func) {
                map.insert(raw, index as u32);
            }
            if let Some(own) = data.func_ref_ptr(index as u32) {
                map.insert(own as u64, index as u32);
            }
        }
        FuncRefIndex(map)
    }

    fn encode(&self, raw: u64, what: impl Fn() -> String) -> Result<u64, CaptureError> {
        if raw == 0 {
            return Ok(0);
        }
        let index = self
            .0
            .get(&raw)
            .ok_or_else(|| CaptureError::ForeignFuncRef(what()))?;
        Ok(u64::from(*index) + 1)
    }
}

/// Checks that `image` has the shape of an instance of a module described by `info`.
pub(crate) fn check_fits(info: &ModuleInfo, image: &InstanceImage) -> Result<(), String> {
    let defined = |total: usize, imported: u32| total - imported as usize;
    let expect = |what: &str, found: usize, wanted: usize| {
        if found == wanted {
            Ok(())
        } else {
            Err(format!(
                "the image has {found} {what}, the module defines {wanted}"
            ))
        }
    };
    expect(
        "memories",
        image.memories.len(),
        defined(info.memories.len(), info.num_imported_memories),
    )?;
    expect(
        "globals",
        image.globals.len(),
        defined(info.globals.len(), info.num_imported_globals),
    )?;
    expect(
        "tables",
        image.tables.len(),
        defined(info.tables.len(), info.num_imported_tables),
    )?;
    expect(
        "data segment flags",
        image.dropped_data.len(),
        info.data.len(),
    )?;
    let memories = info.memories[info.num_imported_memories as usize..].iter();
    for (i, (ty, memory)) in memories.zip(&image.memories).enumerate() {
        let pages = memory.pages();
        if pages < ty.minimum || ty.maximum.is_some_and(|max| pages > max) {
            return Err(format!(
                "memory {i} has {pages} pages, outside its type's limits"
            ));
        }
    }
    let functions = info.functions.len() as u64;
    let valid_ref = |encoded: u64| encoded <= functions;
    let globals = info.globals[info.num_imported_globals as usize..].iter();
    for (i, (ty, value)) in globals.zip(&image.globals).enumerate() {
        if ty.content == ValType::FuncRef && *value > u128::from(functions) {
            return Err(format!(
                "global {i} refers to function {} of {functions}",
                value - 1
            ));
        }
    }
    let tables = info.tables[info.num_imported_tables as usize..].iter();
    for (i, (ty, items)) in tables.zip(&image.tables).enumerate() {
        let len = items.len() as u64;
        if len < ty.minimum || ty.maximum.is_some_and(|max| len > max) {
            return Err(format!(
                "table {i} has {len} elements, outside its type's limits"
            ));
        }
        if ty.element == RefType::FuncRef && !items.iter().all(|e| valid_ref(*e)) {
            return Err(format!("table {i} refers to a function beyond {functions}"));
        }
    }
    Ok(())
}

/// Copies `image`'s globals, tables and data-segment flags into an instance and resets its
/// memories to the image's.
fn restore(
    store: &mut StoreInner,
    data: &mut InstanceData,
    image: &InstanceImage,
) -> Result<(), String> {
    let module = data.module.clone();
    let info = module.info();
    let memories = &data.memories[info.num_imported_memories as usize..];
    let writes = store.memory_writes_outside_calls();
    for (memory, memory_image) in memories.iter().zip(&image.memories) {
        store.memories[memory.index as usize].reset_to_image(memory_image, writes)?;
    }
    restore_globals_and_tables(store, data, image, info)?;
    data.data_dropped.clone_from(&image.dropped_data);
    Ok(())
}

fn restore_globals_and_tables(
    store: &mut StoreInner,
    data: &InstanceData,
    image: &InstanceImage,
    info: &ModuleInfo,
) -> Result<(), String> {
    let decode = |encoded: u64| match encoded {
        0 => Ok(0),
        e => data
            .func_ref_ptr((e - 1) as u32)
            .map(|p| p as u64)
            .ok_or_else(|| format!("function index {} out of range", e - 1)),
    };
    let globals = data.globals[info.num_imported_globals as usize..].iter();
    for (global, value) in globals.zip(&image.globals) {
        let global = &mut store.globals[global.index as usize];
        if !global.ty().mutable {
            continue;
        }
        let raw = match global.ty().content {
            ValType::FuncRef => u128::from(decode(*value as u64)?),
            _ => *value,
        };
        global.set_raw(raw);
    }
    let tables = data.tables[info.num_imported_tables as usize..].iter();
    for (table, items) in tables.zip(&image.tables) {
        let table = &mut store.tables[table.index as usize];
        let decoded = match table.ty().element {
            RefType::FuncRef => items
                .iter()
                .map(|e| decode(*e))
                .collect::<Result<Vec<_>, _>>()?,
            RefType::ExternRef => items.clone(),
        };
        if !table.replace_elements(&decoded) {
            return Err("cannot allocate a table's elements".to_string());
        }
    }
    Ok(())
}

impl Builder<'_> {
    /// Defines memories from `image`, then globals and tables and element segments as usual,
    /// then copies the image's globals and tables in; data segments and the start function
    /// are not run (their effects are in the image).
    pub(super) fn build_from_image(
        mut self,
        imports: &[crate::Extern],
        image: &InstanceImage,
    ) -> Result<Instance, crate::InstantiateError> {
        let module = self.module();
        check_fits(module.info(), image).map_err(crate::InstantiateError::Resource)?;
        self.write_header()?;
        for (import, item) in module.info().imports.iter().zip(imports) {
            self.link_import(&import.kind, *item)?;
        }
        self.define_functions()?;
        self.define_memories_with(|defined| image.memories.get(defined))?;
        self.define_tables()?;
        self.define_globals()?;
        self.evaluate_elements()?;
        self.apply_element_segments()?;
        restore_globals_and_tables(self.store, self.instance, image, module.info())
            .map_err(crate::InstantiateError::Resource)?;
        self.instance.data_dropped.clone_from(&image.dropped_data);
        Ok(self.instance.handle)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Engine, Instance, Linker, Memory, Module, Store, Val};

    const MODULE: &str = r#"(module
        (memory (export "memory") 1)
        (data (i32.const 0) "snapshot")
        (func (export "noop"))
        (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func $poke (export "poke") (param i32) (i32.store8 (local.get 0) (i32.const 7)))
        (func (export "poke_through_a_call") (param i32) (call $poke (local.get 0))))"#;

    fn call(store: &mut Store, instance: Instance, name: &str, params: &[Val]) {
        let func = instance.get_func(store, name).expect("export");
        func.call(store, params).expect("call");
    }

    /// Writes `byte` at `offset` behind the runtime's back, as generated code would: no host
    /// API marks the memory written.
    fn write_unseen(store: &Store, memory: Memory, offset: usize, byte: u8) {
        let base = memory.data(store).as_ptr().cast_mut();
        // SAFETY: `offset` lies inside the memory's first page, accessible and private; no
        // slice over it is alive.
        unsafe { base.add(offset).write(byte) };
    }

    #[test]
    fn a_reset_after_calls_that_cannot_write_leaves_memory_alone() {
        let engine = Engine::new(Config::default()).expect("engine");
        let wasm = wat::parse_str(MODULE).expect("wat");
        let module = Module::new(&engine, &wasm).expect("compile");
        let mut store = Store::new(&engine);
        let linker = Linker::new();
        let first = linker
            .instantiate(&mut store, &module)
            .expect("instantiate");
        let image = first.capture(&store).expect("capture");
        let instance = linker
            .instantiate_from_image(&mut store, &module, &image)
            .expect("from image");
        let memory = instance.get_memory(&store, "memory").expect("memory");
        let byte_at = |store: &Store, offset: usize| memory.data(store)[offset];

        // After calls that cannot write, the reset is skipped: an unseen write survives it.
        write_unseen(&store, memory, 100, 1);
        call(&mut store, instance, "noop", &[]);
        call(&mut store, instance, "peek", &[Val::I32(0)]);
        instance.reset(&mut store, &image).expect("reset");
        assert_eq!(byte_at(&store, 100), 1, "the reset did nothing");

        // A call that may write (directly or through a callee) makes the reset restore.
        for writer in ["poke", "poke_through_a_call"] {
            write_unseen(&store, memory, 100, 1);
            call(&mut store, instance, writer, &[Val::I32(200)]);
            instance.reset(&mut store, &image).expect("reset");
            assert_eq!(
                (byte_at(&store, 100), byte_at(&store, 200)),
                (0, 0),
                "{writer}"
            );
            assert_eq!(&memory.data(&store)[..8], b"snapshot");
        }

        // Host writes mark the memory themselves.
        memory.write(&mut store, 300, &[9]).expect("write");
        instance.reset(&mut store, &image).expect("reset");
        assert_eq!(byte_at(&store, 300), 0, "host write undone");
        memory.grow(&mut store, 1).expect("grow");
        instance.reset(&mut store, &image).expect("reset");
        assert_eq!(memory.size_pages(&store), 1, "growth undone");
    }
}
