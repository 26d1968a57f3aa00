//! The `#[repr(C)]` structures generated code reads and writes, mirroring the layout that
//! `faasm_jit::vmctx` defines (checked field by field in the tests below), and raw access to a
//! VMContext block.

use faasm_jit::{VMCTX_MAGIC, VMOffsets};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

/// What a funcref points to.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct VMFuncRef {
    /// The function's body, with the Wasm calling convention.
    pub code: *const u8,
    /// The callee's context (an instance's vmctx or a host function's context).
    pub vmctx: *mut u8,
    /// Engine-wide canonical type id.
    pub type_id: u32,
}

/// A table as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMTableDefinition {
    /// First element; elements are 8-byte funcref pointers or extern handles, 0 for null.
    pub base: *mut u64,
    /// Number of elements.
    pub current_elements: u64,
}

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMMemoryDefinition {
    /// First byte; never moves during the memory's life.
    pub base: *mut u8,
    /// Accessible length in bytes.
    pub current_length: u64,
}

/// A global's storage: 16 bytes, the value in the low bytes (little-endian).
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub(crate) struct VMGlobalDefinition {
    bytes: [u8; 16],
}

impl VMGlobalDefinition {
    /// The stored raw value.
    pub fn get(&self) -> u128 {
        u128::from_le_bytes(self.bytes)
    }

    /// Stores a raw value.
    pub fn set(&mut self, raw: u128) {
        self.bytes = raw.to_le_bytes();
    }
}

/// An imported function: where to call and which context to pass.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct VMFunctionImport {
    /// The body, with the Wasm calling convention.
    pub body: *const u8,
    /// The callee's context.
    pub vmctx: *mut u8,
}

/// Limits shared by every instance of a store.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMRuntimeLimits {
    /// Generated code traps with a stack overflow when the stack pointer goes below it.
    pub stack_limit: usize,
    /// Generated code traps once the engine's epoch reaches it.
    pub epoch_deadline: u64,
    /// The engine's epoch counter.
    pub epoch_counter: *const u64,
}

/// One instance's VMContext: a zeroed, 16-byte aligned block of `VMOffsets::size()` bytes.
/// Raw access only: generated code reads and writes it behind Rust's back.
#[derive(Debug)]
pub(crate) struct VMContext {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl VMContext {
    /// Allocates a zeroed block for `offsets` and writes the magic number.
    pub fn new(offsets: &VMOffsets) -> Option<VMContext> {
        let layout = Layout::from_size_align(offsets.size().max(16) as usize, 16).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        let vmctx = VMContext { ptr, layout };
        // SAFETY: the magic lies at offset 0, inside the block, and is u32-aligned.
        unsafe { vmctx.write(faasm_jit::VMCTX_MAGIC_OFFSET, VMCTX_MAGIC) };
        Some(vmctx)
    }

    /// The start of the block.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Pointer to the field at `offset`.
    ///
    /// # Safety
    /// `offset + size_of::<T>()` must lie inside the block, and `offset` must be aligned for `T`.
    pub unsafe fn field<T>(&self, offset: u32) -> *mut T {
        // SAFETY: the caller guarantees the offset lies inside the allocation.
        unsafe { self.as_ptr().add(offset as usize).cast() }
    }

    /// Writes `value` at `offset`.
    ///
    /// # Safety
    /// As for [`VMContext::field`]; `T` must be the type the layout has there.
    pub unsafe fn write<T>(&self, offset: u32, value: T) {
        // SAFETY: forwarded to the caller; the block is ours and writable.
        unsafe { self.field::<T>(offset).write(value) }
    }
}

impl Drop for VMContext {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated with `layout` by `alloc_zeroed` and is freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Where a table, memory or global definition lives: in a box this crate owns (entities created
/// by the host), or inside an instance's VMContext (entities a module defines), which the store
/// keeps alive as long as the definition.
#[derive(Debug)]
pub(crate) struct Definition<T> {
    ptr: NonNull<T>,
    owned: bool,
}

impl<T> Definition<T> {
    /// A definition in its own allocation.
    pub fn boxed(value: T) -> Definition<T> {
        Definition {
            ptr: NonNull::from(Box::leak(Box::new(value))),
            owned: true,
        }
    }

    /// A definition inside a VMContext.
    ///
    /// # Safety
    /// `ptr` must point to a valid, initialised `T` that outlives the returned value.
    pub unsafe fn in_vmctx(ptr: *mut T) -> Option<Definition<T>> {
        Some(Definition {
            ptr: NonNull::new(ptr)?,
            owned: false,
        })
    }

    /// The address generated code uses.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Reads the definition.
    pub fn get(&self) -> &T {
        // SAFETY: the pointer is valid for our lifetime (constructor contracts); generated code
        // only writes it while no Rust reference is live (the store is borrowed by the call).
        unsafe { self.ptr.as_ref() }
    }

    /// Mutates the definition.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: as in `get`; `&mut self` makes this the only Rust access.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for Definition<T> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: owned definitions come from `Box::leak` in `boxed` and are freed once.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::{vm_func_ref, vm_function_import, vm_global, vm_limits, vm_memory, vm_table};
    use std::mem::{align_of, offset_of, size_of};

    fn offset(o: usize) -> u32 {
        o as u32
    }

    #[test]
    fn func_ref_matches_jit_layout() {
        assert_eq!(offset(offset_of!(VMFuncRef, code)), vm_func_ref::CODE);
        assert_eq!(offset(offset_of!(VMFuncRef, vmctx)), vm_func_ref::VMCTX);
        assert_eq!(offset(offset_of!(VMFuncRef, type_id)), vm_func_ref::TYPE_ID);
        assert_eq!(offset(size_of::<VMFuncRef>()), vm_func_ref::SIZE);
    }

    #[test]
    fn table_definition_matches_jit_layout() {
        assert_eq!(offset(offset_of!(VMTableDefinition, base)), vm_table::BASE);
        assert_eq!(
            offset(offset_of!(VMTableDefinition, current_elements)),
            vm_table::CURRENT_ELEMENTS
        );
        assert_eq!(offset(size_of::<VMTableDefinition>()), vm_table::SIZE);
        assert_eq!(offset(size_of::<u64>()), vm_table::ELEMENT_SIZE);
    }

    #[test]
    fn memory_definition_matches_jit_layout() {
        assert_eq!(
            offset(offset_of!(VMMemoryDefinition, base)),
            vm_memory::BASE
        );
        assert_eq!(
            offset(offset_of!(VMMemoryDefinition, current_length)),
            vm_memory::CURRENT_LENGTH
        );
        assert_eq!(offset(size_of::<VMMemoryDefinition>()), vm_memory::SIZE);
    }

    #[test]
    fn global_definition_matches_jit_layout() {
        assert_eq!(offset(size_of::<VMGlobalDefinition>()), vm_global::SIZE);
        assert_eq!(offset(align_of::<VMGlobalDefinition>()), vm_global::SIZE);
        let mut global = VMGlobalDefinition::default();
        global.set(0x1122_3344);
        assert_eq!(
            global.bytes[0], 0x44,
            "value in the low bytes, little-endian"
        );
        assert_eq!(global.get(), 0x1122_3344);
    }

    #[test]
    fn function_import_matches_jit_layout() {
        assert_eq!(
            offset(offset_of!(VMFunctionImport, body)),
            vm_function_import::BODY
        );
        assert_eq!(
            offset(offset_of!(VMFunctionImport, vmctx)),
            vm_function_import::VMCTX
        );
        assert_eq!(
            offset(size_of::<VMFunctionImport>()),
            vm_function_import::SIZE
        );
    }

    #[test]
    fn runtime_limits_match_jit_layout() {
        assert_eq!(
            offset(offset_of!(VMRuntimeLimits, stack_limit)),
            vm_limits::STACK_LIMIT
        );
        assert_eq!(
            offset(offset_of!(VMRuntimeLimits, epoch_deadline)),
            vm_limits::EPOCH_DEADLINE
        );
        assert_eq!(
            offset(offset_of!(VMRuntimeLimits, epoch_counter)),
            vm_limits::EPOCH_COUNTER
        );
        assert_eq!(offset(size_of::<VMRuntimeLimits>()), vm_limits::SIZE);
    }

    #[test]
    fn vmctx_is_zeroed_aligned_and_marked() {
        let offsets = VMOffsets::new(&faasm_jit::ModuleInfo::default());
        let vmctx = VMContext::new(&offsets).expect("allocation");
        assert_eq!(vmctx.as_ptr() as usize % 16, 0);
        // SAFETY: offset 0 holds the u32 magic; offset 8 lies inside the 32-byte header.
        let (magic, limits) = unsafe { (*vmctx.field::<u32>(0), *vmctx.field::<usize>(8)) };
        assert_eq!(magic, VMCTX_MAGIC);
        assert_eq!(limits, 0);
    }
}
