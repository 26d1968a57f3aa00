//! Instances: building a VMContext exactly as `faasm_jit::VMOffsets` lays it out, and
//! instantiation as the WebAssembly 2.0 specification orders it (imports, globals, tables and
//! memories, element then data segments, start function).

use crate::Extern;
use crate::builtins::BUILTINS;
use crate::func::{Func, FuncData};
use crate::global::{Global, GlobalData};
use crate::image::MemoryImage;
use crate::memory::{Memory, MemoryData, PageBudget};
use crate::module::Module;
use crate::store::{Store, StoreId, StoreInner};
use crate::table::{Table, TableData};
use crate::values::{InstantiateError, Trap};
use crate::vm::{Definition, VMContext, VMFuncRef, VMFunctionImport, VMGlobalDefinition};
use faasm_jit::{
    ConstExpr, ConstOp, DataKind, ElementKind, EntityIndex, ImportKind, TrapCode, VMOffsets,
    vm_func_ref,
};
use std::ptr::NonNull;
use std::sync::Arc;

#[path = "instance_image.rs"]
mod image;
pub use image::{CaptureError, InstanceImage};

/// An instance of a module in a store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Instance {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// A store's record of one instance. Its VMContext's `runtime_data` points here.
#[derive(Debug)]
pub(crate) struct InstanceData {
    handle: Instance,
    /// The store's state, for builtins called from generated code.
    store: *mut StoreInner,
    module: Module,
    vmctx: VMContext,
    /// Every function, table, memory and global of the module's index spaces (imports first).
    funcs: Vec<Func>,
    tables: Vec<Table>,
    memories: Vec<Memory>,
    globals: Vec<Global>,
    /// Evaluated items of each element segment; emptied by `elem.drop`.
    elements: Vec<Vec<u64>>,
    /// Whether each data segment was dropped.
    data_dropped: Vec<bool>,
}

impl Instance {
    /// The export `name`, if the instance has it (and belongs to `store`).
    pub fn get_export(&self, store: &Store, name: &str) -> Option<Extern> {
        let data = self.data(store)?;
        data.extern_of(data.module.info().export(name)?)
    }

    /// All exports, in declaration order.
    pub fn exports(&self, store: &Store) -> Vec<(String, Extern)> {
        let Some(data) = self.data(store) else {
            return Vec::new();
        };
        let exports = &data.module.info().exports;
        exports
            .iter()
            .filter_map(|e| Some((e.name.clone(), data.extern_of(e.index)?)))
            .collect()
    }

    /// The exported function `name`.
    pub fn get_func(&self, store: &Store, name: &str) -> Option<Func> {
        match self.get_export(store, name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The exported global `name`.
    pub fn get_global(&self, store: &Store, name: &str) -> Option<Global> {
        match self.get_export(store, name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// The exported memory `name`.
    pub fn get_memory(&self, store: &Store, name: &str) -> Option<Memory> {
        match self.get_export(store, name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The exported table `name`.
    pub fn get_table(&self, store: &Store, name: &str) -> Option<Table> {
        match self.get_export(store, name)? {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Memory `index` of the instance's memory index space (imported or defined, exported or
    /// not): what host functions need to reach memory 0 of a module that does not export it.
    pub fn memory(&self, store: &Store, index: u32) -> Option<Memory> {
        self.data(store)?.memories.get(index as usize).copied()
    }

    /// Table `index` of the instance's table index space (imported or defined, exported or
    /// not): a function table that stock toolchains do not export, for example.
    pub fn table(&self, store: &Store, index: u32) -> Option<Table> {
        self.data(store)?.tables.get(index as usize).copied()
    }

    fn data<'a>(&self, store: &'a Store) -> Option<&'a InstanceData> {
        let inner = store.inner();
        if self.store != inner.id {
            return None;
        }
        inner.instance(self.index)
    }
}

impl InstanceData {
    pub(crate) fn handle(&self) -> Instance {
        self.handle
    }

    pub(crate) fn module(&self) -> &Module {
        &self.module
    }

    pub(crate) fn store_ptr(&self) -> *mut StoreInner {
        self.store
    }

    pub(crate) fn memory_handle(&self, index: u32) -> Option<Memory> {
        self.memories.get(index as usize).copied()
    }

    pub(crate) fn table_handle(&self, index: u32) -> Option<Table> {
        self.tables.get(index as usize).copied()
    }

    /// Data segment `index`, empty once dropped.
    pub(crate) fn data_segment(&self, index: u32) -> Option<&[u8]> {
        let dropped = *self.data_dropped.get(index as usize)?;
        let bytes = &self.module.info().data.get(index as usize)?.bytes;
        Some(if dropped { &[] } else { bytes })
    }

    pub(crate) fn drop_data(&mut self, index: u32) {
        if let Some(dropped) = self.data_dropped.get_mut(index as usize) {
            *dropped = true;
        }
    }

    /// Element segment `index`'s items, empty once dropped.
    pub(crate) fn element_segment(&self, index: u32) -> Option<&[u64]> {
        self.elements.get(index as usize).map(Vec::as_slice)
    }

    pub(crate) fn drop_elements(&mut self, index: u32) {
        if let Some(items) = self.elements.get_mut(index as usize) {
            *items = Vec::new();
        }
    }

    fn extern_of(&self, index: EntityIndex) -> Option<Extern> {
        Some(match index {
            EntityIndex::Func(i) => Extern::Func(*self.funcs.get(i as usize)?),
            EntityIndex::Table(i) => Extern::Table(*self.tables.get(i as usize)?),
            EntityIndex::Memory(i) => Extern::Memory(*self.memories.get(i as usize)?),
            EntityIndex::Global(i) => Extern::Global(*self.globals.get(i as usize)?),
        })
    }

    /// Address of `func_refs[func_index]` in the VMContext.
    pub(crate) fn func_ref_ptr(&self, func_index: u32) -> Option<*mut VMFuncRef> {
        if func_index as usize >= self.module.info().functions.len() {
            return None;
        }
        // SAFETY: the index is in range, so the field lies inside the VMContext.
        Some(unsafe {
            self.vmctx
                .field::<VMFuncRef>(self.module.offsets().func_ref(func_index))
        })
    }

    /// The funcref record of function `func_index`.
    pub(crate) fn func_ref(&self, func_index: u32) -> Option<VMFuncRef> {
        // SAFETY: the record was written at instantiation and lives with the VMContext.
        self.func_ref_ptr(func_index).map(|p| unsafe { p.read() })
    }

    /// The function whose funcref record lies at `addr`, if one does.
    pub(crate) fn func_at_ref(&self, addr: usize) -> Option<Func> {
        let count = self.module.info().functions.len() as u32;
        if count == 0 {
            return None;
        }
        let first = self.vmctx.as_ptr() as usize + self.module.offsets().func_ref(0) as usize;
        let delta = addr.checked_sub(first)?;
        let size = vm_func_ref::SIZE as usize;
        if delta % size != 0 {
            return None;
        }
        self.funcs.get(delta / size).copied()
    }
}

/// Instantiates `module` in `store` with `imports` (one per import, in order, already checked
/// against the import types), then runs its start function.
pub(crate) fn instantiate(
    store: &mut Store,
    module: &Module,
    imports: &[Extern],
) -> Result<Instance, InstantiateError> {
    if !store.engine().same(module.engine()) {
        return Err(InstantiateError::Resource(
            "the module was compiled by another engine".to_string(),
        ));
    }
    let handle = Builder::create(store, module)?.build(imports)?;
    run_start(store, module, handle)?;
    Ok(handle)
}

/// Instantiates `module` in `store` with `imports` (checked as for [`instantiate`]) in the state
/// `image` captured: memories map the image copy-on-write; data segments and the start
/// function do not run again.
pub(crate) fn instantiate_from_image(
    store: &mut Store,
    module: &Module,
    imports: &[Extern],
    image: &InstanceImage,
) -> Result<Instance, InstantiateError> {
    if !store.engine().same(module.engine()) {
        return Err(InstantiateError::Resource(
            "the module was compiled by another engine".to_string(),
        ));
    }
    Builder::create(store, module)?.build_from_image(imports, image)
}

fn run_start(store: &mut Store, module: &Module, handle: Instance) -> Result<(), InstantiateError> {
    if let Some(start) = module.info().start {
        let func = store
            .inner()
            .instance(handle.index)
            .and_then(|data| data.funcs.get(start as usize).copied());
        let func = func.ok_or_else(|| {
            InstantiateError::Resource(format!("start function {start} out of range"))
        })?;
        func.call(store, &[]).map_err(InstantiateError::Trap)?;
    }
    Ok(())
}

/// Fills one instance's VMContext and store entries, step by step.
struct Builder<'a> {
    store: &'a mut StoreInner,
    instance: &'a mut InstanceData,
    offsets: VMOffsets,
}

impl<'a> Builder<'a> {
    /// Allocates the VMContext and registers the instance with the store, so that whatever the
    /// outcome, the store frees it (and everything pointing into it) in the right order.
    fn create(store: &'a mut Store, module: &Module) -> Result<Builder<'a>, InstantiateError> {
        let store_ptr = store.inner_ptr();
        let inner = store.inner_mut();
        let offsets = *module.offsets();
        let vmctx = VMContext::new(&offsets).ok_or_else(|| {
            InstantiateError::Resource("cannot allocate the VMContext".to_string())
        })?;
        let info = module.info();
        let handle = Instance {
            store: inner.id,
            index: inner.instances.len() as u32,
        };
        let data = Box::new(InstanceData {
            handle,
            store: store_ptr,
            module: module.clone(),
            vmctx,
            funcs: Vec::with_capacity(info.functions.len()),
            tables: Vec::with_capacity(info.tables.len()),
            memories: Vec::with_capacity(info.memories.len()),
            globals: Vec::with_capacity(info.globals.len()),
            elements: Vec::new(),
            data_dropped: vec![false; info.data.len()],
        });
        let mut data = NonNull::from(Box::leak(data));
        inner.instances.push(data);
        // SAFETY: the instance was just leaked into the store, which frees it; no other
        // reference to it exists while the builder lives.
        let instance = unsafe { data.as_mut() };
        inner
            .vmctx_starts
            .insert(instance.vmctx.as_ptr() as usize, handle.index);
        Ok(Builder {
            store: inner,
            instance,
            offsets,
        })
    }

    fn build(mut self, imports: &[Extern]) -> Result<Instance, InstantiateError> {
        self.write_header()?;
        let module = self.module();
        for (import, item) in module.info().imports.iter().zip(imports) {
            self.link_import(&import.kind, *item)?;
        }
        self.define_functions()?;
        let images = module.memory_images();
        self.define_memories_with(|defined| images.get(defined).and_then(Option::as_ref))?;
        self.define_tables()?;
        self.define_globals()?;
        self.evaluate_elements()?;
        self.apply_element_segments()?;
        self.apply_data_segments()?;
        Ok(self.instance.handle)
    }

    fn module(&self) -> Module {
        self.instance.module.clone()
    }

    /// # Safety
    /// `offset` must be a field of type `T` in this module's layout.
    unsafe fn write<T>(&self, offset: u32, value: T) {
        // SAFETY: forwarded to the caller.
        unsafe { self.instance.vmctx.write(offset, value) }
    }

    fn write_header(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let runtime_data: *mut InstanceData = &mut *self.instance;
        // SAFETY: the header fields have these types at these offsets (faasm_jit::vmctx).
        unsafe {
            self.write(VMOffsets::LIMITS, self.store.limits_ptr());
            self.write(VMOffsets::BUILTINS, &BUILTINS as *const _);
            self.write(VMOffsets::RUNTIME_DATA, runtime_data);
        }
        for type_index in 0..module.info().types.len() as u32 {
            let id = module
                .type_id(type_index)
                .ok_or_else(|| resource("type id missing"))?;
            // SAFETY: `type_ids[type_index]` is a u32 field for every type index.
            unsafe { self.write(self.offsets.type_id(type_index), id) };
        }
        Ok(())
    }

    fn link_import(&mut self, kind: &ImportKind, item: Extern) -> Result<(), InstantiateError> {
        match (kind, item) {
            (ImportKind::Func(type_index), Extern::Func(func)) => {
                self.import_func(*type_index, func)
            }
            (ImportKind::Table(_), Extern::Table(table)) => {
                let def = self
                    .store
                    .tables
                    .get(table.index as usize)
                    .ok_or_else(|| resource("unknown table"))?;
                let offset = self
                    .offsets
                    .imported_table(self.instance.tables.len() as u32);
                // SAFETY: `imported_tables[i]` is a `*mut VMTableDefinition`.
                unsafe { self.write(offset, def.definition_ptr()) };
                self.instance.tables.push(table);
                Ok(())
            }
            (ImportKind::Memory(_), Extern::Memory(memory)) => {
                let def = self
                    .store
                    .memories
                    .get(memory.index as usize)
                    .ok_or_else(|| resource("unknown memory"))?;
                let offset = self
                    .offsets
                    .imported_memory(self.instance.memories.len() as u32);
                // SAFETY: `imported_memories[i]` is a `*mut VMMemoryDefinition`.
                unsafe { self.write(offset, def.definition_ptr()) };
                self.instance.memories.push(memory);
                Ok(())
            }
            (ImportKind::Global(_), Extern::Global(global)) => {
                let def = self
                    .store
                    .globals
                    .get(global.index as usize)
                    .ok_or_else(|| resource("unknown global"))?;
                let offset = self
                    .offsets
                    .imported_global(self.instance.globals.len() as u32);
                // SAFETY: `imported_globals[i]` is a `*mut VMGlobalDefinition`.
                unsafe { self.write(offset, def.definition_ptr()) };
                self.instance.globals.push(global);
                Ok(())
            }
            _ => Err(resource("import kind does not match")),
        }
    }

    /// Writes `imported_functions[i]` and `func_refs[i]` for an imported function.
    fn import_func(&mut self, type_index: u32, func: Func) -> Result<(), InstantiateError> {
        let index = self.instance.funcs.len() as u32;
        let module = self.module();
        let type_id = module
            .type_id(type_index)
            .ok_or_else(|| resource("type id missing"))?;
        let own_func_ref = self
            .instance
            .func_ref_ptr(index)
            .ok_or_else(|| resource("function index"))?;
        let func_ref = match self.store.funcs.get_mut(func.index as usize) {
            Some(FuncData::Host(host)) => {
                let body = module
                    .wasm_to_host(type_index)
                    .ok_or_else(|| resource("no wasm-to-host trampoline"))?;
                host.adopt_func_ref(own_func_ref);
                VMFuncRef {
                    code: body,
                    vmctx: host.ctx_ptr(),
                    type_id,
                }
            }
            Some(FuncData::Wasm {
                instance,
                func_index,
            }) => {
                let (instance, func_index) = (*instance, *func_index);
                let exporter = self
                    .store
                    .instance(instance)
                    .ok_or_else(|| resource("unknown instance"))?;
                exporter
                    .func_ref(func_index)
                    .ok_or_else(|| resource("unknown function"))?
            }
            None => return Err(resource("unknown function")),
        };
        let import = VMFunctionImport {
            body: func_ref.code,
            vmctx: func_ref.vmctx,
        };
        // SAFETY: `imported_functions[index]` and `func_refs[index]` exist for an imported
        // function index and have these types.
        unsafe {
            self.write(self.offsets.imported_function(index), import);
            own_func_ref.write(func_ref);
        }
        self.instance.funcs.push(func);
        Ok(())
    }

    /// Writes `func_refs` for the defined functions and gives each a store handle.
    fn define_functions(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let info = module.info();
        for defined in 0..info.num_defined_funcs() {
            let index = info.num_imported_funcs + defined;
            let type_index = info.functions[index as usize];
            let func_ref = VMFuncRef {
                code: module
                    .function_code(defined)
                    .ok_or_else(|| resource("function code missing"))?,
                vmctx: self.instance.vmctx.as_ptr(),
                type_id: module
                    .type_id(type_index)
                    .ok_or_else(|| resource("type id missing"))?,
            };
            let ptr = self
                .instance
                .func_ref_ptr(index)
                .ok_or_else(|| resource("function index"))?;
            // SAFETY: `func_refs[index]` is a VMFuncRef field of this VMContext.
            unsafe { ptr.write(func_ref) };
            let data = FuncData::Wasm {
                instance: self.instance.handle.index,
                func_index: index,
            };
            let func = Func {
                store: self.store.id,
                index: StoreInner::push(&mut self.store.funcs, data),
            };
            self.instance.funcs.push(func);
        }
        Ok(())
    }

    /// Defines the module's memories: from the image `image_of` gives for a defined memory's
    /// index, zeroed where it gives none.
    fn define_memories_with<'i>(
        &mut self,
        image_of: impl Fn(usize) -> Option<&'i Arc<MemoryImage>>,
    ) -> Result<(), InstantiateError> {
        let module = self.module();
        let info = module.info();
        let budget = PageBudget::for_engine(&self.store.engine);
        for (defined, ty) in info.memories[info.num_imported_memories as usize..]
            .iter()
            .enumerate()
        {
            // SAFETY: `defined_memories[defined]` is a VMMemoryDefinition field of this
            // VMContext, which the store keeps alive as long as the memory.
            let def = unsafe {
                Definition::in_vmctx(
                    self.instance
                        .vmctx
                        .field(self.offsets.defined_memory(defined as u32)),
                )
            }
            .ok_or_else(|| resource("null VMContext field"))?;
            let image = image_of(defined);
            let memory = match image {
                Some(image) => {
                    let writes = self.store.memory_writes_outside_calls();
                    MemoryData::with_image(
                        &self.store.engine,
                        *ty,
                        def,
                        image,
                        budget.clone(),
                        writes,
                    )
                }
                None => MemoryData::new(&self.store.engine, *ty, def, budget.clone()),
            }
            .map_err(InstantiateError::Resource)?;
            let handle = Memory {
                store: self.store.id,
                index: StoreInner::push(&mut self.store.memories, memory),
            };
            self.instance.memories.push(handle);
        }
        Ok(())
    }

    fn define_tables(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let info = module.info();
        let limit = self.store.engine.config().max_table_elements;
        for (defined, ty) in info.tables[info.num_imported_tables as usize..]
            .iter()
            .enumerate()
        {
            // SAFETY: `defined_tables[defined]` is a VMTableDefinition field of this VMContext,
            // which the store keeps alive as long as the table.
            let def = unsafe {
                Definition::in_vmctx(
                    self.instance
                        .vmctx
                        .field(self.offsets.defined_table(defined as u32)),
                )
            }
            .ok_or_else(|| resource("null VMContext field"))?;
            let table = TableData::new(*ty, 0, limit, def).map_err(InstantiateError::Resource)?;
            let handle = Table {
                store: self.store.id,
                index: StoreInner::push(&mut self.store.tables, table),
            };
            self.instance.tables.push(handle);
        }
        Ok(())
    }

    fn define_globals(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let info = module.info();
        let defined_types = &info.globals[info.num_imported_globals as usize..];
        for (defined, (ty, init)) in defined_types.iter().zip(&info.global_inits).enumerate() {
            let value = self.eval(init)?;
            let field = self.offsets.defined_global(defined as u32);
            // SAFETY: `defined_globals[defined]` is a VMGlobalDefinition field of this
            // VMContext, which the store keeps alive as long as the global.
            let mut def = unsafe {
                Definition::<VMGlobalDefinition>::in_vmctx(self.instance.vmctx.field(field))
            }
            .ok_or_else(|| resource("null VMContext field"))?;
            def.get_mut().set(value);
            let handle = Global {
                store: self.store.id,
                index: StoreInner::push(&mut self.store.globals, GlobalData::new(*ty, def)),
            };
            self.instance.globals.push(handle);
        }
        Ok(())
    }

    fn evaluate_elements(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let mut elements = Vec::with_capacity(module.info().elements.len());
        for segment in &module.info().elements {
            let items = segment.items.iter().map(|item| Ok(self.eval(item)? as u64));
            elements.push(items.collect::<Result<Vec<u64>, InstantiateError>>()?);
        }
        self.instance.elements = elements;
        Ok(())
    }

    /// `table.init` + `elem.drop` of every active segment, in order; `elem.drop` of declared ones.
    fn apply_element_segments(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        for (index, segment) in module.info().elements.iter().enumerate() {
            match &segment.kind {
                ElementKind::Active { table, offset } => {
                    let offset = self.eval(offset)? as u32;
                    let handle = self
                        .instance
                        .table_handle(*table)
                        .ok_or_else(|| resource("table index"))?;
                    let table = self
                        .store
                        .tables
                        .get_mut(handle.index as usize)
                        .ok_or_else(|| resource("table"))?;
                    if !table.init(
                        offset,
                        &self.instance.elements[index],
                        0,
                        self.instance.elements[index].len() as u32,
                    ) {
                        return Err(InstantiateError::Trap(Trap::Wasm(
                            TrapCode::TableOutOfBounds,
                        )));
                    }
                    self.instance.drop_elements(index as u32);
                }
                ElementKind::Declared => self.instance.drop_elements(index as u32),
                ElementKind::Passive => {}
            }
        }
        Ok(())
    }

    /// `memory.init` + `data.drop` of every active segment, in order; segments of a memory
    /// created from the module's image of them (see [`Module::memory_images`]) are only dropped.
    fn apply_data_segments(&mut self) -> Result<(), InstantiateError> {
        let module = self.module();
        let info = module.info();
        let in_image = |memory: u32| {
            memory
                .checked_sub(info.num_imported_memories)
                .and_then(|defined| module.memory_images().get(defined as usize))
                .is_some_and(Option::is_some)
        };
        for (index, segment) in info.data.iter().enumerate() {
            let DataKind::Active { memory, offset } = &segment.kind else {
                continue;
            };
            if in_image(*memory) {
                self.instance.drop_data(index as u32);
                continue;
            }
            let offset = self.eval(offset)? as u32;
            let handle = self
                .instance
                .memory_handle(*memory)
                .ok_or_else(|| resource("memory index"))?;
            let memory = self
                .store
                .memories
                .get_mut(handle.index as usize)
                .ok_or_else(|| resource("memory"))?;
            if !memory.write(u64::from(offset), &segment.bytes) {
                return Err(InstantiateError::Trap(Trap::Wasm(
                    TrapCode::MemoryOutOfBounds,
                )));
            }
            self.instance.drop_data(index as u32);
        }
        Ok(())
    }

    /// Evaluates a constant expression to its raw (slot) encoding.
    fn eval(&self, expr: &ConstExpr) -> Result<u128, InstantiateError> {
        let malformed = || resource("malformed constant expression");
        let mut stack: Vec<u128> = Vec::with_capacity(2);
        for op in &expr.ops {
            let value = match *op {
                ConstOp::I32Const(v) => u128::from(v as u32),
                ConstOp::I64Const(v) => u128::from(v as u64),
                ConstOp::F32Const(bits) => u128::from(bits),
                ConstOp::F64Const(bits) => u128::from(bits),
                ConstOp::V128Const(bits) => bits,
                ConstOp::RefNull(_) => 0,
                ConstOp::RefFunc(index) => {
                    self.instance.func_ref_ptr(index).ok_or_else(malformed)? as u128
                }
                ConstOp::GlobalGet(index) => {
                    let handle = self
                        .instance
                        .globals
                        .get(index as usize)
                        .ok_or_else(malformed)?;
                    self.store
                        .globals
                        .get(handle.index as usize)
                        .ok_or_else(malformed)?
                        .raw()
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let (b, a) = (
                        stack.pop().ok_or_else(malformed)? as u32,
                        stack.pop().ok_or_else(malformed)? as u32,
                    );
                    u128::from(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let (b, a) = (
                        stack.pop().ok_or_else(malformed)? as u64,
                        stack.pop().ok_or_else(malformed)? as u64,
                    );
                    u128::from(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            stack.push(value);
        }
        match stack.as_slice() {
            [value] => Ok(*value),
            _ => Err(malformed()),
        }
    }
}

fn resource(what: &str) -> InstantiateError {
    InstantiateError::Resource(what.to_string())
}

/// Checks `item` against the import's type with the specification's matching rules; `Err` is
/// the reason for `IncompatibleImport`.
pub(crate) fn check_import(
    store: &StoreInner,
    module: &Module,
    kind: &ImportKind,
    item: Extern,
) -> Result<(), String> {
    let other_store = || "the item belongs to another store".to_string();
    match (kind, item) {
        (ImportKind::Func(type_index), Extern::Func(func)) => {
            store
                .check(func.store, "function")
                .map_err(|_| other_store())?;
            let expected = module.type_id(*type_index);
            if expected.is_none() || store.func_type_id(func) != expected {
                let expected = module
                    .info()
                    .types
                    .get(*type_index as usize)
                    .cloned()
                    .unwrap_or_default();
                let actual = store.func_type(func).cloned().unwrap_or_default();
                return Err(format!("expected {expected}, found {actual}"));
            }
            Ok(())
        }
        (ImportKind::Table(expected), Extern::Table(table)) => {
            store
                .check(table.store, "table")
                .map_err(|_| other_store())?;
            let data = store
                .tables
                .get(table.index as usize)
                .ok_or_else(|| "unknown table".to_string())?;
            let actual = data.ty();
            if actual.element != expected.element {
                return Err(format!(
                    "expected a table of {}, found {}",
                    expected.element, actual.element
                ));
            }
            check_limits(
                "table size",
                (actual.minimum, actual.maximum),
                (expected.minimum, expected.maximum),
            )
        }
        (ImportKind::Memory(expected), Extern::Memory(memory)) => {
            store
                .check(memory.store, "memory")
                .map_err(|_| other_store())?;
            let data = store
                .memories
                .get(memory.index as usize)
                .ok_or_else(|| "unknown memory".to_string())?;
            let actual = data.ty();
            check_limits(
                "memory size",
                (actual.minimum, actual.maximum),
                (expected.minimum, expected.maximum),
            )
        }
        (ImportKind::Global(expected), Extern::Global(global)) => {
            store
                .check(global.store, "global")
                .map_err(|_| other_store())?;
            let data = store
                .globals
                .get(global.index as usize)
                .ok_or_else(|| "unknown global".to_string())?;
            let actual = data.ty();
            if actual != *expected {
                let describe = |mutable: bool| if mutable { "mutable" } else { "immutable" };
                return Err(format!(
                    "expected {} {}, found {} {}",
                    describe(expected.mutable),
                    expected.content,
                    describe(actual.mutable),
                    actual.content
                ));
            }
            Ok(())
        }
        (kind, item) => Err(format!(
            "expected {}, found {}",
            import_kind_name(kind),
            extern_kind_name(&item)
        )),
    }
}

/// Limits match if the actual minimum is at least the expected one and, when a maximum is
/// expected, the actual one exists and is no larger.
fn check_limits(
    what: &str,
    actual: (u64, Option<u64>),
    expected: (u64, Option<u64>),
) -> Result<(), String> {
    if actual.0 < expected.0 {
        return Err(format!(
            "{what}: minimum {} is below the import's {}",
            actual.0, expected.0
        ));
    }
    match (expected.1, actual.1) {
        (None, _) => Ok(()),
        (Some(max), Some(actual_max)) if actual_max <= max => Ok(()),
        (Some(max), actual_max) => Err(format!(
            "{what}: maximum {actual_max:?} does not fit the import's {max}"
        )),
    }
}

fn import_kind_name(kind: &ImportKind) -> &'static str {
    match kind {
        ImportKind::Func(_) => "a function",
        ImportKind::Table(_) => "a table",
        ImportKind::Memory(_) => "a memory",
        ImportKind::Global(_) => "a global",
    }
}

fn extern_kind_name(item: &Extern) -> &'static str {
    match item {
        Extern::Func(_) => "a function",
        Extern::Table(_) => "a table",
        Extern::Memory(_) => "a memory",
        Extern::Global(_) => "a global",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_spec_matching_rules() {
        assert!(check_limits("t", (2, None), (1, None)).is_ok());
        assert!(check_limits("t", (0, None), (1, None)).is_err());
        assert!(check_limits("t", (1, None), (1, Some(2))).is_err());
        assert!(check_limits("t", (1, Some(3)), (1, Some(2))).is_err());
        assert!(check_limits("t", (1, Some(2)), (1, Some(2))).is_ok());
        assert!(check_limits("t", (1, Some(1)), (0, Some(2))).is_ok());
    }
}
