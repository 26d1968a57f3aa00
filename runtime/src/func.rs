//! Functions: calling Wasm from the host (through the module's `array_to_wasm` trampoline and
//! the trap-catching entry), host functions (a context generated code calls through the
//! module's `wasm_to_host` trampoline), and what a host function sees of its caller.

use crate::instance::Instance;
use crate::store::{Store, StoreId, StoreInner};
use crate::traphandlers;
use crate::values::{Trap, Val};
use crate::vm::VMFuncRef;
use crate::{Extern, Memory};
use faasm_jit::{FuncType, VMCTX_MAGIC, VMOffsets};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

/// A function of a store: defined by an instance or by the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Func {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// What a store knows about one of its functions.
#[derive(Debug)]
pub(crate) enum FuncData {
    /// Function `func_index` (a defined one) of instance `instance`.
    Wasm { instance: u32, func_index: u32 },
    /// A host function.
    Host(HostFunc),
}

/// The closure behind a host function.
type HostFn = dyn Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync;

/// The entry point generated code calls: `(host_ctx, caller_vmctx, values, len) -> status`.
type HostEntry = unsafe extern "C" fn(*mut HostContext, *mut u8, *mut u128, u32) -> u32;

/// Magic number of a host function's context, where an instance's VMContext has `VMCTX_MAGIC`.
pub(crate) const HOST_CONTEXT_MAGIC: u32 = faasm_jit::HOST_FUNC_MAGIC;

/// A host function's context: the `vmctx` generated code passes to the `wasm_to_host`
/// trampoline. The first fields are read by generated code (see `faasm_jit::HOST_FUNC_ENTRY_OFFSET`).
#[repr(C)]
pub(crate) struct HostContext {
    magic: u32,
    entry: HostEntry,
    type_id: u32,
    ty: FuncType,
    func: Box<HostFn>,
}

/// A host function owned by a store: its context, and the funcref record generated code uses
/// for it once an instance has imported it.
#[derive(Debug)]
pub(crate) struct HostFunc {
    ctx: NonNull<HostContext>,
    func_ref: Option<NonNull<VMFuncRef>>,
}

impl HostFunc {
    fn new(ty: FuncType, type_id: u32, func: Box<HostFn>) -> HostFunc {
        let ctx = Box::new(HostContext {
            magic: HOST_CONTEXT_MAGIC,
            entry: host_entry,
            type_id,
            ty,
            func,
        });
        HostFunc {
            ctx: NonNull::from(Box::leak(ctx)),
            func_ref: None,
        }
    }

    /// The context pointer generated code passes back to `host_entry`.
    pub(crate) fn ctx_ptr(&self) -> *mut u8 {
        self.ctx.as_ptr().cast()
    }

    fn ctx(&self) -> &HostContext {
        // SAFETY: the context lives until `drop`; nothing mutates it after creation.
        unsafe { self.ctx.as_ref() }
    }

    pub(crate) fn ty(&self) -> &FuncType {
        &self.ctx().ty
    }

    pub(crate) fn type_id(&self) -> u32 {
        self.ctx().type_id
    }

    /// The funcref record of the first instance that imported this function.
    pub(crate) fn func_ref(&self) -> Option<*const VMFuncRef> {
        self.func_ref.map(|p| p.as_ptr().cast_const())
    }

    /// Remembers `func_ref` (inside an importer's VMContext, which lives as long as the store)
    /// as this function's funcref, if it has none yet.
    pub(crate) fn adopt_func_ref(&mut self, func_ref: *mut VMFuncRef) {
        if self.func_ref.is_none() {
            self.func_ref = NonNull::new(func_ref);
        }
    }
}

impl Drop for HostFunc {
    fn drop(&mut self) {
        // SAFETY: the context comes from `Box::leak` in `new` and is freed once; the store is
        // being dropped, so no generated code can call it any more.
        drop(unsafe { Box::from_raw(self.ctx.as_ptr()) });
    }
}

impl fmt::Debug for HostContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostContext")
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

impl Func {
    /// A host function of type `ty`. `results` has the length of `ty.results`, pre-filled with
    /// zero values; the closure must leave values of the declared types there.
    pub fn new(
        store: &mut Store,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Func {
        let type_id = store.engine().type_id(&ty);
        let inner = store.inner_mut();
        let data = FuncData::Host(HostFunc::new(ty, type_id, Box::new(f)));
        Func {
            store: inner.id,
            index: StoreInner::push(&mut inner.funcs, data),
        }
    }

    /// The function's type (empty if the handle belongs to another store).
    pub fn ty(&self, store: &Store) -> FuncType {
        store.inner().func_type(*self).cloned().unwrap_or_default()
    }

    /// Checks the number and types of `params` (`Trap::BadArguments` otherwise), calls the
    /// function and returns its results.
    pub fn call(&self, store: &mut Store, params: &[Val]) -> Result<Vec<Val>, Trap> {
        let inner = store.inner();
        inner.check(self.store, "function")?;
        match inner.funcs.get(self.index as usize) {
            Some(FuncData::Wasm {
                instance,
                func_index,
            }) => {
                let (instance, func_index) = (*instance, *func_index);
                call_wasm(store, instance, func_index, params)
            }
            Some(FuncData::Host(host)) => {
                let ctx = host.ctx.as_ptr();
                // SAFETY: host contexts live as long as the store, which `store` borrows for the
                // whole call, and are never mutated.
                let ctx = unsafe { &*ctx };
                let mut slots = vec![0u128; params.len()];
                encode_params(inner, &ctx.ty, params, &mut slots)?;
                invoke_host(store, None, ctx, params)
            }
            None => Err(Trap::BadArguments("unknown function".to_string())),
        }
    }
}

impl StoreInner {
    /// The type of `func`.
    pub(crate) fn func_type(&self, func: Func) -> Option<&FuncType> {
        if func.store != self.id {
            return None;
        }
        match self.funcs.get(func.index as usize)? {
            FuncData::Wasm {
                instance,
                func_index,
            } => {
                let info = self.instance(*instance)?.module().info();
                let type_index = *info.functions.get(*func_index as usize)?;
                info.types.get(type_index as usize)
            }
            FuncData::Host(host) => Some(host.ty()),
        }
    }

    /// The canonical type id of `func`.
    pub(crate) fn func_type_id(&self, func: Func) -> Option<u32> {
        match self.funcs.get(func.index as usize)? {
            FuncData::Wasm {
                instance,
                func_index,
            } => {
                let module = self.instance(*instance)?.module();
                module.type_id(*module.info().functions.get(*func_index as usize)?)
            }
            FuncData::Host(host) => Some(host.type_id()),
        }
    }
}

/// Checks the number and types of `params` against `ty` and encodes them into `slots`
/// (which must have room for them).
fn encode_params(
    store: &StoreInner,
    ty: &FuncType,
    params: &[Val],
    slots: &mut [u128],
) -> Result<(), Trap> {
    if params.len() != ty.params.len() {
        return Err(Trap::BadArguments(format!(
            "expected {} arguments for {ty}, got {}",
            ty.params.len(),
            params.len()
        )));
    }
    for (i, ((param, expected), slot)) in params.iter().zip(&ty.params).zip(slots).enumerate() {
        *slot = store.typed_val_to_raw(param, *expected, &format_args!("argument {i}"))?;
    }
    Ok(())
}

/// Calls defined function `func_index` of instance `instance` through its trampoline.
fn call_wasm(
    store: &mut Store,
    instance: u32,
    func_index: u32,
    params: &[Val],
) -> Result<Vec<Val>, Trap> {
    let inner = store.inner();
    let unknown = || Trap::BadArguments("function of an unknown instance".to_string());
    let data = inner.instance(instance).ok_or_else(unknown)?;
    let module = data.module().clone();
    let func_ref = data.func_ref(func_index).ok_or_else(unknown)?;
    let type_index = *module
        .info()
        .functions
        .get(func_index as usize)
        .ok_or_else(unknown)?;
    let ty = module
        .info()
        .types
        .get(type_index as usize)
        .ok_or_else(unknown)?;
    let trampoline = module.array_to_wasm(type_index).ok_or_else(unknown)?;
    let mut values = vec![0u128; ty.array_slots().max(1)];
    encode_params(inner, ty, params, &mut values)?;
    let args = [
        func_ref.vmctx as usize,
        func_ref.vmctx as usize,
        func_ref.code as usize,
        values.as_mut_ptr() as usize,
    ];
    // SAFETY: the trampoline of the callee's type gets the callee's context and code and a
    // slot array of `array_slots()` entries; the store outlives the call.
    unsafe { enter_wasm(store, trampoline as usize, args)? };
    let inner = store.inner();
    Ok(ty
        .results
        .iter()
        .zip(&values)
        .map(|(ty, raw)| inner.raw_to_val(*raw, *ty))
        .collect())
}

/// Enters generated code, arming the store's limits if this is its outermost call, and keeps
/// the Wasm backtrace of a trap in the store.
///
/// # Safety
/// As for [`traphandlers::enter`].
pub(crate) unsafe fn enter_wasm(
    store: &mut Store,
    trampoline: usize,
    args: [usize; 4],
) -> Result<(), Trap> {
    let inner = store.inner_mut();
    if inner.active_calls == 0 {
        inner.arm_limits();
        inner.last_backtrace = None;
    }
    inner.active_calls += 1;
    let store_ptr: *mut Store = store;
    // SAFETY: forwarded to the caller; `store` is not used until the call returns.
    let result = unsafe { traphandlers::enter(store_ptr, trampoline, args) };
    let inner = store.inner_mut();
    inner.active_calls -= 1;
    result.map_err(|trapped| {
        inner.record_backtrace(trapped.backtrace, trapped.from_host);
        trapped.trap
    })
}

/// Runs a host function's closure, turning a panic into a trap and checking the results'
/// types.
fn invoke_host(
    store: &mut Store,
    instance: Option<Instance>,
    ctx: &HostContext,
    params: &[Val],
) -> Result<Vec<Val>, Trap> {
    let mut results: Vec<Val> = ctx
        .ty
        .results
        .iter()
        .map(|ty| Val::default_for(*ty))
        .collect();
    let mut caller = Caller { store, instance };
    match catch_unwind(AssertUnwindSafe(|| {
        (ctx.func)(&mut caller, params, &mut results)
    })) {
        Ok(Ok(())) => {}
        Ok(Err(trap)) => return Err(trap),
        Err(panic) => {
            return Err(Trap::Host(format!(
                "host function panicked: {}",
                panic_message(&*panic)
            )));
        }
    }
    for (result, expected) in results.iter().zip(&ctx.ty.results) {
        if result.ty() != *expected {
            return Err(Trap::Host(format!(
                "host function of type {} returned a {} where a {expected} is due",
                ctx.ty,
                result.ty()
            )));
        }
    }
    Ok(results)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// The entry point of every host function, called by `wasm_to_host` trampolines. Returns 0
/// with the results in `values`, or 1 after recording the trap in the current activation (the
/// trampoline then traps with `HostError`, which lands in that activation).
///
/// # Safety
/// Called by generated code only: `ctx` is a live host context, `caller_vmctx` the calling
/// instance's VMContext, `values` holds `len` slots.
unsafe extern "C" fn host_entry(
    ctx: *mut HostContext,
    caller_vmctx: *mut u8,
    values: *mut u128,
    len: u32,
) -> u32 {
    let activation = traphandlers::current_activation();
    if activation.is_null() {
        // Generated code only runs inside an activation; refuse rather than guess.
        return 1;
    }
    // SAFETY: the current activation lives on this thread's stack until its call returns.
    let activation = unsafe { &*activation };
    let store = activation.store();
    let outcome = if store.is_null() {
        Err(Trap::Host(
            "host function called outside a store".to_string(),
        ))
    } else {
        // SAFETY: the activation's store is borrowed mutably by the call that entered generated
        // code and not used by it until we return; the context and slots come from generated
        // code per the contract above.
        catch_unwind(AssertUnwindSafe(|| unsafe {
            call_from_wasm(&mut *store, &*ctx, caller_vmctx, values, len)
        }))
        .unwrap_or_else(|panic| {
            Err(Trap::Host(format!(
                "host call failed: {}",
                panic_message(&*panic)
            )))
        })
    };
    match outcome {
        Ok(()) => 0,
        Err(trap) => {
            activation.set_host_trap(trap);
            1
        }
    }
}

/// Decodes the parameters from the slots, runs the closure, encodes the results.
///
/// # Safety
/// `values` must point to `len` writable slots; `caller_vmctx` must be null or a VMContext.
unsafe fn call_from_wasm(
    store: &mut Store,
    ctx: &HostContext,
    caller_vmctx: *mut u8,
    values: *mut u128,
    len: u32,
) -> Result<(), Trap> {
    let slots_needed = ctx.ty.array_slots();
    if (len as usize) < slots_needed || (slots_needed > 0 && values.is_null()) {
        return Err(Trap::Host(format!(
            "host function of type {} got {len} value slots",
            ctx.ty
        )));
    }
    let slots: &mut [u128] = if slots_needed == 0 {
        &mut []
    } else {
        // SAFETY: generated code passes `len >= slots_needed` valid slots.
        unsafe { std::slice::from_raw_parts_mut(values, slots_needed) }
    };
    // SAFETY: forwarded from the caller.
    let instance = unsafe { instance_of_vmctx(caller_vmctx) };
    let inner = store.inner();
    let params: Vec<Val> = ctx
        .ty
        .params
        .iter()
        .zip(slots.iter())
        .map(|(ty, raw)| inner.raw_to_val(*raw, *ty))
        .collect();
    let results = invoke_host(store, instance, ctx, &params)?;
    let inner = store.inner();
    for (slot, result) in slots.iter_mut().zip(&results) {
        *slot = inner.val_to_raw(result)?;
    }
    Ok(())
}

/// The instance whose VMContext `vmctx` is, if it is one.
///
/// # Safety
/// `vmctx` must be null or point to a VMContext or host context (both start with a magic u32).
unsafe fn instance_of_vmctx(vmctx: *mut u8) -> Option<Instance> {
    if vmctx.is_null() {
        return None;
    }
    // SAFETY: both kinds of context start with an aligned u32 magic.
    if unsafe { vmctx.cast::<u32>().read() } != VMCTX_MAGIC {
        return None;
    }
    // SAFETY: an instance's VMContext holds its `InstanceData` pointer at RUNTIME_DATA.
    let data = unsafe {
        vmctx
            .add(VMOffsets::RUNTIME_DATA as usize)
            .cast::<*const crate::instance::InstanceData>()
            .read()
    };
    // SAFETY: the instance outlives every call into it.
    unsafe { data.as_ref() }.map(|data| data.handle())
}

/// What a host function sees of its caller: the calling instance's exports and memory, and the
/// store (to call back into Wasm, for example).
pub struct Caller<'a> {
    store: &'a mut Store,
    instance: Option<Instance>,
}

impl Caller<'_> {
    /// An export of the calling instance (`None` if the host called the function directly).
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        self.instance?.get_export(self.store, name)
    }

    /// The calling instance's memory 0, if it has one.
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        let memory: Memory = self.instance?.memory(self.store, 0)?;
        Some(memory.data_mut(self.store))
    }

    /// The calling instance, if Wasm called.
    pub fn instance(&self) -> Option<Instance> {
        self.instance
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// The store, mutably: for example to call back into Wasm with [`Func::call`].
    pub fn store_mut(&mut self) -> &mut Store {
        self.store
    }
}

impl fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::{HOST_FUNC_ENTRY_OFFSET, VMCTX_MAGIC_OFFSET};
    use std::mem::offset_of;

    #[test]
    fn host_context_matches_jit_layout() {
        assert_eq!(offset_of!(HostContext, magic) as u32, VMCTX_MAGIC_OFFSET);
        assert_eq!(
            offset_of!(HostContext, entry) as u32,
            HOST_FUNC_ENTRY_OFFSET
        );
        assert_ne!(HOST_CONTEXT_MAGIC, VMCTX_MAGIC);
    }
}
