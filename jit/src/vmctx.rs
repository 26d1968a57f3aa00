//! The VMContext layout: defined once here, used by codegen, and checked by the runtime's
//! `#[repr(C)]` structures with `offset_of!` tests.
//!
//! Every instance has one `VMContext`, a block of memory the runtime allocates and generated code
//! reaches through its first argument. Its layout, for a module with `T` types, imported functions
//! `IF`, tables `IT`, memories `IM`, globals `IG`, and defined tables `DT`, memories `DM`, globals
//! `DG`, functions `F` (all of them, imported ones included):
//!
//! ```text
//!  0  magic: u32, padding          "faas" for an instance, "host" for a host function's context
//!  8  limits: *const VMRuntimeLimits   stack limit and epoch deadline, shared by a store
//! 16  builtins: *const [fn; Builtin::COUNT]
//! 24  runtime_data: *mut ()        opaque to generated code; the runtime's instance pointer
//! 32  type_ids: [u32; T]           engine-wide canonical id of each type, for call_indirect
//!     imported_functions: [VMFunctionImport; IF]     16 bytes each
//!     imported_tables:    [*mut VMTableDefinition; IT]
//!     imported_memories:  [*mut VMMemoryDefinition; IM]
//!     imported_globals:   [*mut VMGlobalDefinition; IG]
//!     defined_tables:     [VMTableDefinition; DT]    16 bytes each
//!     defined_memories:   [VMMemoryDefinition; DM]   16 bytes each
//!     defined_globals:    [VMGlobalDefinition; DG]   16 bytes each, 16-byte aligned
//!     func_refs:          [VMFuncRef; F]             24 bytes each
//! ```

use crate::module::ModuleInfo;

/// Offset of the magic number in every VMContext and host-function context.
pub const VMCTX_MAGIC_OFFSET: u32 = 0;
/// Magic number of an instance's VMContext ("faas", little-endian).
pub const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"faas");
/// Magic number of a host function's context ("host", little-endian): what stands at
/// [`VMCTX_MAGIC_OFFSET`] of a `vmctx` that reaches the host instead of an instance.
pub const HOST_FUNC_MAGIC: u32 = u32::from_le_bytes(*b"host");
/// In a host function's context (the `vmctx` of a `VMFunctionImport` that reaches the host), the
/// offset of its entry point: `extern "C" fn(host_ctx, caller_vmctx, values: *mut u128, len: u32) -> u32`,
/// returning 0 on success and anything else to trap with [`crate::TrapCode::HostError`].
pub const HOST_FUNC_ENTRY_OFFSET: u32 = 8;

/// Field offsets of `VMRuntimeLimits`, which a store shares between all its instances.
pub mod vm_limits {
    /// `stack_limit: usize`: generated code traps when the stack pointer goes below it.
    pub const STACK_LIMIT: u32 = 0;
    /// `epoch_deadline: u64`: generated code traps once the engine's epoch reaches it.
    pub const EPOCH_DEADLINE: u32 = 8;
    /// `epoch_counter: *const u64`: the engine's current epoch.
    pub const EPOCH_COUNTER: u32 = 16;
    /// Size of the structure.
    pub const SIZE: u32 = 24;
}

/// Field offsets of `VMFuncRef`, what a funcref points to.
pub mod vm_func_ref {
    /// `code: *const u8`: the function's body, with the Wasm calling convention.
    pub const CODE: u32 = 0;
    /// `vmctx: *mut VMContext`: the callee's context.
    pub const VMCTX: u32 = 8;
    /// `type_id: u32`: engine-wide canonical type id.
    pub const TYPE_ID: u32 = 16;
    /// Size of the structure.
    pub const SIZE: u32 = 24;
}

/// Field offsets of `VMTableDefinition`. Elements are 8 bytes: a `*const VMFuncRef` or an extern
/// handle, 0 for null.
pub mod vm_table {
    /// `base: *mut u64`
    pub const BASE: u32 = 0;
    /// `current_elements: u64`
    pub const CURRENT_ELEMENTS: u32 = 8;
    /// Size of the structure.
    pub const SIZE: u32 = 16;
    /// Size of one element.
    pub const ELEMENT_SIZE: u32 = 8;
}

/// Field offsets of `VMMemoryDefinition`.
pub mod vm_memory {
    /// `base: *mut u8`; never moves during the memory's life.
    pub const BASE: u32 = 0;
    /// `current_length: u64`, in bytes.
    pub const CURRENT_LENGTH: u32 = 8;
    /// Size of the structure.
    pub const SIZE: u32 = 16;
}

/// Layout of `VMGlobalDefinition`: 16 bytes of storage, the value in its low bytes (little-endian).
pub mod vm_global {
    /// Size (and alignment) of the structure.
    pub const SIZE: u32 = 16;
}

/// Layout of `VMFunctionImport`.
pub mod vm_function_import {
    /// `body: *const u8`
    pub const BODY: u32 = 0;
    /// `vmctx: *mut VMContext` (or a host function's context)
    pub const VMCTX: u32 = 8;
    /// Size of the structure.
    pub const SIZE: u32 = 16;
}

/// Offsets of the fields of one module's VMContext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VMOffsets {
    num_types: u32,
    num_imported_funcs: u32,
    num_imported_tables: u32,
    num_imported_memories: u32,
    num_imported_globals: u32,
    num_defined_tables: u32,
    num_defined_memories: u32,
    num_defined_globals: u32,
    num_funcs: u32,
    imported_functions: u32,
    imported_tables: u32,
    imported_memories: u32,
    imported_globals: u32,
    defined_tables: u32,
    defined_memories: u32,
    defined_globals: u32,
    func_refs: u32,
    size: u32,
}

impl VMOffsets {
    /// Offset of `limits: *const VMRuntimeLimits`.
    pub const LIMITS: u32 = 8;
    /// Offset of `builtins: *const [fn; Builtin::COUNT]`.
    pub const BUILTINS: u32 = 16;
    /// Offset of `runtime_data`.
    pub const RUNTIME_DATA: u32 = 24;
    /// Offset of `type_ids`.
    pub const TYPE_IDS: u32 = 32;

    /// The layout for `module`.
    pub fn new(module: &ModuleInfo) -> VMOffsets {
        Self::from_counts(
            module.types.len() as u32,
            [
                module.num_imported_funcs,
                module.num_imported_tables,
                module.num_imported_memories,
                module.num_imported_globals,
            ],
            [
                module.num_defined_tables(),
                module.num_defined_memories(),
                module.num_defined_globals(),
            ],
            module.functions.len() as u32,
        )
    }

    fn from_counts(
        num_types: u32,
        imported: [u32; 4],
        defined: [u32; 3],
        num_funcs: u32,
    ) -> VMOffsets {
        let [
            num_imported_funcs,
            num_imported_tables,
            num_imported_memories,
            num_imported_globals,
        ] = imported;
        let [
            num_defined_tables,
            num_defined_memories,
            num_defined_globals,
        ] = defined;
        let imported_functions = align(Self::TYPE_IDS + 4 * num_types, 16);
        let imported_tables = imported_functions + vm_function_import::SIZE * num_imported_funcs;
        let imported_memories = imported_tables + 8 * num_imported_tables;
        let imported_globals = imported_memories + 8 * num_imported_memories;
        let defined_tables = align(imported_globals + 8 * num_imported_globals, 16);
        let defined_memories = defined_tables + vm_table::SIZE * num_defined_tables;
        let defined_globals = defined_memories + vm_memory::SIZE * num_defined_memories;
        let func_refs = defined_globals + vm_global::SIZE * num_defined_globals;
        let size = align(func_refs + vm_func_ref::SIZE * num_funcs, 16);
        VMOffsets {
            num_types,
            num_imported_funcs,
            num_imported_tables,
            num_imported_memories,
            num_imported_globals,
            num_defined_tables,
            num_defined_memories,
            num_defined_globals,
            num_funcs,
            imported_functions,
            imported_tables,
            imported_memories,
            imported_globals,
            defined_tables,
            defined_memories,
            defined_globals,
            func_refs,
            size,
        }
    }

    /// Total size of the VMContext in bytes (a multiple of 16; allocate it 16-byte aligned).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Offset of `type_ids[type_index]`.
    pub fn type_id(&self, type_index: u32) -> u32 {
        assert!(type_index < self.num_types);
        Self::TYPE_IDS + 4 * type_index
    }

    /// Offset of `imported_functions[index]` (a `VMFunctionImport`).
    pub fn imported_function(&self, index: u32) -> u32 {
        assert!(index < self.num_imported_funcs);
        self.imported_functions + vm_function_import::SIZE * index
    }

    /// Offset of the body pointer of imported function `index`.
    pub fn imported_function_body(&self, index: u32) -> u32 {
        self.imported_function(index) + vm_function_import::BODY
    }

    /// Offset of the context pointer of imported function `index`.
    pub fn imported_function_vmctx(&self, index: u32) -> u32 {
        self.imported_function(index) + vm_function_import::VMCTX
    }

    /// Offset of `imported_tables[index]` (a `*mut VMTableDefinition`).
    pub fn imported_table(&self, index: u32) -> u32 {
        assert!(index < self.num_imported_tables);
        self.imported_tables + 8 * index
    }

    /// Offset of `imported_memories[index]` (a `*mut VMMemoryDefinition`).
    pub fn imported_memory(&self, index: u32) -> u32 {
        assert!(index < self.num_imported_memories);
        self.imported_memories + 8 * index
    }

    /// Offset of `imported_globals[index]` (a `*mut VMGlobalDefinition`).
    pub fn imported_global(&self, index: u32) -> u32 {
        assert!(index < self.num_imported_globals);
        self.imported_globals + 8 * index
    }

    /// Offset of `defined_tables[index]`, `index` counting defined tables only.
    pub fn defined_table(&self, index: u32) -> u32 {
        assert!(index < self.num_defined_tables);
        self.defined_tables + vm_table::SIZE * index
    }

    /// Offset of `defined_memories[index]`, `index` counting defined memories only.
    pub fn defined_memory(&self, index: u32) -> u32 {
        assert!(index < self.num_defined_memories);
        self.defined_memories + vm_memory::SIZE * index
    }

    /// Offset of `defined_globals[index]`, `index` counting defined globals only.
    pub fn defined_global(&self, index: u32) -> u32 {
        assert!(index < self.num_defined_globals);
        self.defined_globals + vm_global::SIZE * index
    }

    /// Offset of `func_refs[func_index]` (a `VMFuncRef`), for every function index.
    pub fn func_ref(&self, func_index: u32) -> u32 {
        assert!(func_index < self.num_funcs);
        self.func_refs + vm_func_ref::SIZE * func_index
    }
}

fn align(offset: u32, to: u32) -> u32 {
    offset.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_each_other_aligned() {
        let offsets = VMOffsets::from_counts(3, [2, 1, 1, 2], [1, 1, 3], 5);
        assert_eq!(offsets.type_id(0), 32);
        assert_eq!(offsets.imported_function(0), 48);
        assert_eq!(offsets.imported_table(0), 48 + 32);
        assert_eq!(offsets.imported_memory(0), 88);
        assert_eq!(offsets.imported_global(1), 104);
        assert_eq!(offsets.defined_table(0), 112);
        assert_eq!(offsets.defined_memory(0), 128);
        assert_eq!(offsets.defined_global(2), 144 + 32);
        assert_eq!(offsets.defined_global(0) % 16, 0);
        assert_eq!(offsets.func_ref(4), 192 + 4 * 24);
        assert_eq!(offsets.size(), 320);
    }

    #[test]
    fn empty_module_has_header_only() {
        let offsets = VMOffsets::new(&ModuleInfo::default());
        assert_eq!(offsets.size(), 32);
    }
}
