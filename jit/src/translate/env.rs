//! The environment: how our VM lays things out. The translator asks it for the address of a global,
//! the base of a memory, a checked heap address, a table element, a call to an import or a
//! builtin; it answers with IR that follows [`VMOffsets`] and the configured memory strategy.

use crate::builtins::Builtin;
use crate::compile::MemoryStrategy;
use crate::module::ModuleInfo;
use crate::trap::TrapCode;
use crate::types::{FuncType, ValType};
use crate::vmctx::{VMOffsets, vm_func_ref, vm_limits, vm_memory, vm_table};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, AbiParam, AliasRegion, AliasRegionData, ArgumentPurpose, InstBuilder, MemFlagsData,
    Signature, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;

/// Pointer type of the target (x86-64).
pub(crate) const POINTER: ir::Type = types::I64;

/// Calling convention of functions compiled from Wasm (and of `wasm_to_host` trampolines): `tail`,
/// which returns any number of values.
pub(crate) const WASM_CALL_CONV: CallConv = CallConv::Tail;
/// Calling convention of everything the host calls or is called with: the platform's C convention.
pub(crate) const HOST_CALL_CONV: CallConv = CallConv::SystemV;

/// The Cranelift type of a Wasm value type.
pub(crate) fn clif_type(ty: ValType) -> ir::Type {
    match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::FuncRef | ValType::ExternRef => POINTER,
    }
}

/// The Cranelift signature of a Wasm function: `(callee_vmctx, caller_vmctx, params...) -> results`.
pub(crate) fn wasm_signature(ty: &FuncType) -> Signature {
    let mut sig = Signature::new(WASM_CALL_CONV);
    sig.params
        .push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(POINTER));
    sig.params
        .extend(ty.params.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig.returns
        .extend(ty.results.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig
}

/// Flags for accesses to runtime-owned memory: aligned, never trapping, in no alias region.
pub(crate) fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The alias regions of every translated function, declared first (see
/// [`declare_alias_regions`]) so that their handles are these constants: guest memory, the
/// VM's own data, and table elements.
pub(crate) const HEAP_REGION: u32 = 0;
const VMCTX_REGION: u32 = 1;
const TABLE_REGION: u32 = 2;

/// Declares the alias regions a translated function's memory accesses use. Must come before
/// anything else in the function.
pub(crate) fn declare_alias_regions(func: &mut ir::Function) {
    for (user_id, description) in [
        (HEAP_REGION, "heap"),
        (VMCTX_REGION, "vmctx"),
        (TABLE_REGION, "table"),
    ] {
        let region = func.dfg.alias_regions.insert(AliasRegionData {
            user_id,
            description: description.into(),
        });
        debug_assert_eq!(region, AliasRegion::from_u32(user_id));
    }
}

/// Flags for accesses to the VM's own data (VMContext fields, globals, memory and table
/// definitions, funcref records): [`trusted`], in the `vmctx` alias region. Guest memory and
/// table elements are other allocations in their own regions, so Cranelift may reuse a load of
/// VM data across a store to guest memory (a global, the bounded memory's length) and the other
/// way round. Calls (host functions, builtins such as `memory.grow`) are fences: whatever they
/// change is loaded again.
pub(crate) fn vm_flags() -> MemFlagsData {
    trusted().with_alias_region(Some(AliasRegion::from_u32(VMCTX_REGION)))
}

/// Flags for table elements: [`trusted`], in the `table` alias region.
pub(crate) fn table_flags() -> MemFlagsData {
    trusted().with_alias_region(Some(AliasRegion::from_u32(TABLE_REGION)))
}

/// Like [`trusted`], for fields that never change while code runs and are valid to read
/// anywhere in the function (they hang off the vmctx, not behind a guest-controlled check):
/// `can_move` lets Cranelift hoist them out of loops.
pub(crate) fn trusted_readonly() -> MemFlagsData {
    vm_flags().with_readonly().with_can_move()
}

/// Where a memory's, table's or global's definition lives: inline in our vmctx, or behind a pointer.
#[derive(Clone, Copy)]
struct DefinitionPtr {
    base: Value,
    offset: i32,
}

/// Per-function view of the VM layout.
pub(crate) struct FuncEnvironment<'m> {
    pub(crate) module: &'m ModuleInfo,
    pub(crate) offsets: &'m VMOffsets,
    pub(crate) strategy: MemoryStrategy,
    pub(crate) epoch_interruption: bool,
    /// Null the address of an access that fails its bounds check (see
    /// [`crate::CompilerConfig::spectre_guard`]).
    spectre_guard: bool,
    /// The function's `vmctx` parameter.
    pub(crate) vmctx: Value,
    wasm_sigs: HashMap<u32, ir::SigRef>,
    builtin_sigs: HashMap<Builtin, ir::SigRef>,
    direct_funcs: HashMap<u32, ir::FuncRef>,
}

impl<'m> FuncEnvironment<'m> {
    pub(crate) fn new(
        module: &'m ModuleInfo,
        offsets: &'m VMOffsets,
        strategy: MemoryStrategy,
        epoch_interruption: bool,
        spectre_guard: bool,
        vmctx: Value,
    ) -> Self {
        FuncEnvironment {
            module,
            offsets,
            strategy,
            epoch_interruption,
            spectre_guard,
            vmctx,
            wasm_sigs: HashMap::new(),
            builtin_sigs: HashMap::new(),
            direct_funcs: HashMap::new(),
        }
    }

    fn vmctx_load(
        &self,
        b: &mut FunctionBuilder,
        ty: ir::Type,
        offset: u32,
        readonly: bool,
    ) -> Value {
        let flags = if readonly {
            trusted_readonly()
        } else {
            vm_flags()
        };
        b.ins().load(ty, flags, self.vmctx, offset as i32)
    }

    // ---- globals ----------------------------------------------------------------------------

    /// Address and offset of global `index`'s 16-byte cell.
    pub(crate) fn global_addr(&self, b: &mut FunctionBuilder, index: u32) -> (Value, i32) {
        let offsets = self.offsets;
        let def = self.definition(
            b,
            index,
            self.module.num_imported_globals,
            |i| offsets.imported_global(i),
            |i| offsets.defined_global(i),
        );
        (def.base, def.offset)
    }

    /// Where entity `index`'s definition lives: behind the pointer our vmctx holds for an import,
    /// or inline in our vmctx for a definition of this module.
    fn definition(
        &self,
        b: &mut FunctionBuilder,
        index: u32,
        num_imported: u32,
        imported_offset: impl Fn(u32) -> u32,
        defined_offset: impl Fn(u32) -> u32,
    ) -> DefinitionPtr {
        if index < num_imported {
            let ptr = self.vmctx_load(b, POINTER, imported_offset(index), true);
            DefinitionPtr {
                base: ptr,
                offset: 0,
            }
        } else {
            DefinitionPtr {
                base: self.vmctx,
                offset: defined_offset(index - num_imported) as i32,
            }
        }
    }

    pub(crate) fn global_get(&self, b: &mut FunctionBuilder, index: u32) -> Value {
        let ty = self.module.globals[index as usize];
        let (base, offset) = self.global_addr(b, index);
        let flags = if ty.mutable {
            vm_flags()
        } else {
            trusted_readonly()
        };
        b.ins().load(clif_type(ty.content), flags, base, offset)
    }

    pub(crate) fn global_set(&self, b: &mut FunctionBuilder, index: u32, value: Value) {
        let (base, offset) = self.global_addr(b, index);
        b.ins().store(vm_flags(), value, base, offset);
    }

    // ---- memories ---------------------------------------------------------------------------

    fn memory_definition(&self, b: &mut FunctionBuilder, index: u32) -> DefinitionPtr {
        let offsets = self.offsets;
        self.definition(
            b,
            index,
            self.module.num_imported_memories,
            |i| offsets.imported_memory(i),
            |i| offsets.defined_memory(i),
        )
    }

    /// The memory's base address: it never moves, so the load is read-only and may be hoisted.
    pub(crate) fn memory_base(&self, b: &mut FunctionBuilder, index: u32) -> Value {
        let def = self.memory_definition(b, index);
        b.ins().load(
            POINTER,
            trusted_readonly(),
            def.base,
            def.offset + vm_memory::BASE as i32,
        )
    }

    /// The memory's current length in bytes (changes with `memory.grow`).
    pub(crate) fn memory_length(&self, b: &mut FunctionBuilder, index: u32) -> Value {
        let def = self.memory_definition(b, index);
        b.ins().load(
            types::I64,
            vm_flags(),
            def.base,
            def.offset + vm_memory::CURRENT_LENGTH as i32,
        )
    }

    /// The native address of a `size`-byte access at `index + offset` in memory `memory`, with the
    /// bounds check the strategy needs, and the static offset to put in the access itself.
    ///
    /// A checked access traps when the check fails; with the Spectre guard on, the address is
    /// also made null by a conditional move on the same condition, and the static offset is
    /// added before that, so that even a mispredicted branch past the trap only reaches the
    /// unmapped page at 0, never memory beyond the bounds.
    pub(crate) fn heap_addr(
        &self,
        b: &mut FunctionBuilder,
        memory: u32,
        index: Value,
        offset: u64,
        size: u32,
    ) -> (Value, i32) {
        let index = b.ins().uextend(types::I64, index);
        let end = offset + u64::from(size);
        let needs_check = match self.strategy {
            MemoryStrategy::Guarded { guard_bytes } => end > guard_bytes,
            MemoryStrategy::Bounded => true,
        };
        let mut out_of_bounds = None;
        if needs_check {
            // index + end > length  ⇔  out of bounds; index < 2^32 and end < 2^33: no overflow.
            let length = self.memory_length(b, memory);
            let last = b.ins().iadd_imm_u(index, end as i64);
            let oob = b.ins().icmp(IntCC::UnsignedGreaterThan, last, length);
            b.ins().trapnz(oob, TrapCode::MemoryOutOfBounds.to_clif());
            out_of_bounds = Some(oob);
        }
        let base = self.memory_base(b, memory);
        let addr = b.ins().iadd(base, index);
        if let Some(oob) = out_of_bounds.filter(|_| self.spectre_guard) {
            let addr = match offset {
                0 => addr,
                _ => b.ins().iadd_imm_u(addr, offset as i64),
            };
            let null = b.ins().iconst(POINTER, 0);
            return (b.ins().select_spectre_guard(oob, null, addr), 0);
        }
        match i32::try_from(offset) {
            Ok(offset) => (addr, offset),
            Err(_) => (b.ins().iadd_imm_u(addr, offset as i64), 0),
        }
    }

    // ---- tables -----------------------------------------------------------------------------

    fn table_definition(&self, b: &mut FunctionBuilder, index: u32) -> DefinitionPtr {
        let offsets = self.offsets;
        self.definition(
            b,
            index,
            self.module.num_imported_tables,
            |i| offsets.imported_table(i),
            |i| offsets.defined_table(i),
        )
    }

    /// Current number of elements of table `table`, as i64.
    pub(crate) fn table_size(&self, b: &mut FunctionBuilder, table: u32) -> Value {
        let def = self.table_definition(b, table);
        b.ins().load(
            types::I64,
            vm_flags(),
            def.base,
            def.offset + vm_table::CURRENT_ELEMENTS as i32,
        )
    }

    /// Address of element `index` (i32) of `table`, trapping with `TableOutOfBounds` outside it.
    pub(crate) fn table_element_addr(
        &self,
        b: &mut FunctionBuilder,
        table: u32,
        index: Value,
    ) -> Value {
        let def = self.table_definition(b, table);
        let size = b.ins().load(
            types::I64,
            vm_flags(),
            def.base,
            def.offset + vm_table::CURRENT_ELEMENTS as i32,
        );
        let index = b.ins().uextend(types::I64, index);
        let oob = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, size);
        b.ins().trapnz(oob, TrapCode::TableOutOfBounds.to_clif());
        let base = b.ins().load(
            POINTER,
            vm_flags(),
            def.base,
            def.offset + vm_table::BASE as i32,
        );
        let scaled = b.ins().ishl_imm_u(index, 3);
        b.ins().iadd(base, scaled)
    }

    // ---- functions and calls ----------------------------------------------------------------

    /// The address of function `index`'s `VMFuncRef`.
    pub(crate) fn func_ref(&self, b: &mut FunctionBuilder, index: u32) -> Value {
        b.ins()
            .iadd_imm_u(self.vmctx, i64::from(self.offsets.func_ref(index)))
    }

    fn wasm_sig(&mut self, b: &mut FunctionBuilder, type_index: u32) -> ir::SigRef {
        let module = self.module;
        *self.wasm_sigs.entry(type_index).or_insert_with(|| {
            b.import_signature(wasm_signature(&module.types[type_index as usize]))
        })
    }

    /// Calls function `index` with `args`: a call returning the call instruction, or with
    /// [`CallKind::Tail`] a `return_call` that ends the block (and returns `None`).
    pub(crate) fn call(
        &mut self,
        b: &mut FunctionBuilder,
        kind: CallKind,
        index: u32,
        args: &[Value],
    ) -> Option<ir::Inst> {
        let type_index = self.module.functions[index as usize];
        if self.module.is_imported_func(index) {
            let body =
                self.vmctx_load(b, POINTER, self.offsets.imported_function_body(index), true);
            let callee_vmctx = self.vmctx_load(
                b,
                POINTER,
                self.offsets.imported_function_vmctx(index),
                true,
            );
            let sig = self.wasm_sig(b, type_index);
            let all = self.with_vmctxs(callee_vmctx, args);
            kind.indirect(b, sig, body, &all)
        } else {
            let callee = self.direct_func(b, index, type_index);
            let all = self.with_vmctxs(self.vmctx, args);
            match kind {
                CallKind::Normal => Some(b.ins().call(callee, &all)),
                CallKind::Tail => {
                    b.ins().return_call(callee, &all);
                    None
                }
            }
        }
    }

    /// The arguments of a Wasm call: the callee's vmctx, ours (the caller's), then `args`.
    fn with_vmctxs(&self, callee_vmctx: Value, args: &[Value]) -> Vec<Value> {
        let mut all = Vec::with_capacity(args.len() + 2);
        all.extend_from_slice(&[callee_vmctx, self.vmctx]);
        all.extend_from_slice(args);
        all
    }

    fn direct_func(&mut self, b: &mut FunctionBuilder, index: u32, type_index: u32) -> ir::FuncRef {
        if let Some(f) = self.direct_funcs.get(&index) {
            return *f;
        }
        let signature = self.wasm_sig(b, type_index);
        let name = b
            .func
            .declare_imported_user_function(ir::UserExternalName::new(0, index));
        let func = b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.direct_funcs.insert(index, func);
        func
    }

    /// `call_indirect` (or `return_call_indirect` with [`CallKind::Tail`]): checks bounds, null
    /// and the signature, then calls.
    pub(crate) fn call_indirect(
        &mut self,
        b: &mut FunctionBuilder,
        kind: CallKind,
        (table, type_index): (u32, u32),
        index: Value,
        args: &[Value],
    ) -> Option<ir::Inst> {
        let addr = self.table_element_addr(b, table, index);
        let func_ref = b.ins().load(POINTER, table_flags(), addr, 0);
        b.ins()
            .trapz(func_ref, TrapCode::IndirectCallToNull.to_clif());
        let actual = b.ins().load(
            types::I32,
            vm_flags(),
            func_ref,
            vm_func_ref::TYPE_ID as i32,
        );
        let expected = self.vmctx_load(b, types::I32, self.offsets.type_id(type_index), true);
        let mismatch = b.ins().icmp(IntCC::NotEqual, actual, expected);
        b.ins().trapnz(mismatch, TrapCode::BadSignature.to_clif());
        let code = b
            .ins()
            .load(POINTER, vm_flags(), func_ref, vm_func_ref::CODE as i32);
        let callee_vmctx = b
            .ins()
            .load(POINTER, vm_flags(), func_ref, vm_func_ref::VMCTX as i32);
        let sig = self.wasm_sig(b, type_index);
        let all = self.with_vmctxs(callee_vmctx, args);
        kind.indirect(b, sig, code, &all)
    }

    /// Calls `builtin` with `args` (after vmctx); traps with the builtin's trap code on a non-zero
    /// status. Returns the result, if the builtin has one that is not a status.
    pub(crate) fn call_builtin(
        &mut self,
        b: &mut FunctionBuilder,
        builtin: Builtin,
        args: &[Value],
    ) -> Option<Value> {
        let sig = *self
            .builtin_sigs
            .entry(builtin)
            .or_insert_with(|| b.import_signature(builtin.signature(HOST_CALL_CONV, POINTER)));
        let table = self.vmctx_load(b, POINTER, VMOffsets::BUILTINS, true);
        let callee = b.ins().load(
            POINTER,
            trusted_readonly(),
            table,
            (builtin.index() * 8) as i32,
        );
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        let call = b.ins().call_indirect(sig, callee, &all);
        let result = b.inst_results(call).first().copied();
        match builtin.trap_code() {
            Some(code) => {
                b.ins().trapnz(
                    result.expect("status builtins return a value"),
                    code.to_clif(),
                );
                None
            }
            None => result,
        }
    }

    // ---- interruption -----------------------------------------------------------------------

    /// Traps with `Interrupt` once the engine's epoch has reached the store's deadline.
    ///
    /// The hot path reads the epoch with a plain load (another thread advances it; x86-64 loads
    /// of an aligned word are atomic). If that read says the deadline is reached, a cold path
    /// reads it again with an `atomic_load` and traps. The cold path matters twice:
    /// - an `atomic_load` is a memory fence to Cranelift's alias analysis, which would stop it
    ///   from reusing any load across loop iterations if it were on the hot path;
    /// - a plain load alone, in a loop without stores, would be merged with the check before
    ///   the loop and never see the epoch move. The cold fence lies on one incoming edge of
    ///   the loop header, so the header's load is never redundant.
    ///
    /// The cold path holds no call: a call there would clobber registers, and values live
    /// across it would be spilled in the hot loop.
    pub(crate) fn epoch_check(&mut self, b: &mut FunctionBuilder) {
        if !self.epoch_interruption {
            return;
        }
        let limits = self.vmctx_load(b, POINTER, VMOffsets::LIMITS, true);
        let counter = b.ins().load(
            POINTER,
            trusted_readonly(),
            limits,
            vm_limits::EPOCH_COUNTER as i32,
        );
        // The runtime sets the deadline only before the outermost call into a store, never while
        // Wasm runs: read-only for generated code, so it is loaded once, not per loop iteration.
        let deadline = b.ins().load(
            types::I64,
            trusted_readonly(),
            limits,
            vm_limits::EPOCH_DEADLINE as i32,
        );
        // In no alias region: the last fence decides whether it is redundant, and the cold
        // atomic load below is one.
        let epoch = b.ins().load(types::I64, trusted(), counter, 0);
        let maybe_expired = b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        let recheck = b.create_block();
        let done = b.create_block();
        b.set_cold_block(recheck);
        b.ins().brif(maybe_expired, recheck, &[], done, &[]);
        b.seal_block(recheck);
        b.switch_to_block(recheck);
        let epoch = b.ins().atomic_load(types::I64, trusted(), counter);
        let expired = b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        b.ins().trapnz(expired, TrapCode::Interrupt.to_clif());
        b.ins().jump(done, &[]);
        b.seal_block(done);
        b.switch_to_block(done);
    }
}

/// Whether a Wasm call returns to its caller, or replaces the caller's frame (`return_call*`,
/// the tail-call proposal). Every translated function uses the `tail` calling convention
/// ([`WASM_CALL_CONV`]), so a tail call may go to any of them, imported or not, and to the
/// `wasm_to_host` trampolines: the callee pops the caller's stack arguments, and a chain of tail
/// calls runs in constant stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallKind {
    Normal,
    Tail,
}

impl CallKind {
    /// An indirect call to `callee` with signature `sig`; `None` for a tail call (it has no
    /// results in this function).
    fn indirect(
        self,
        b: &mut FunctionBuilder,
        sig: ir::SigRef,
        callee: Value,
        args: &[Value],
    ) -> Option<ir::Inst> {
        match self {
            CallKind::Normal => Some(b.ins().call_indirect(sig, callee, args)),
            CallKind::Tail => {
                b.ins().return_call_indirect(sig, callee, args);
                None
            }
        }
    }
}

/// Sets the function's stack limit to `(*vmctx.limits).stack_limit`: Cranelift then checks the
/// stack pointer against it in the prologue and traps with a stack overflow.
pub(crate) fn install_stack_limit(func: &mut ir::Function) {
    let readonly = func.dfg.mem_flags.insert_unchecked(trusted_readonly());
    let vmctx = func.create_global_value(ir::GlobalValueData::VMContext);
    let limits = func.create_global_value(ir::GlobalValueData::Load {
        base: vmctx,
        offset: (VMOffsets::LIMITS as i32).into(),
        global_type: POINTER,
        flags: readonly,
    });
    let trusted = func.dfg.mem_flags.insert_unchecked(trusted());
    let stack_limit = func.create_global_value(ir::GlobalValueData::Load {
        base: limits,
        offset: (vm_limits::STACK_LIMIT as i32).into(),
        global_type: POINTER,
        flags: trusted,
    });
    func.stack_limit = Some(stack_limit);
}
