//! Functions: calling Wasm from the host (through the module's `array_to_wasm` trampoline and
//! the trap-catching entry), host functions (a context generated code calls through the
//! module's `wasm_to_host` trampoline), and what a host function sees of its caller.

use crate::engine::Interruption;
use crate::instance::Instance;
use crate::interrupt;
use crate::store::{Store, StoreId, StoreInner};
use crate::traphandlers;
use crate::values::{Trap, Val};
use crate::vm::VMFuncRef;
use crate::{CallBounds, Extern, Memory};
use faasm_jit::{FuncType, TrapCode, VMCTX_MAGIC, VMOffsets, ValType};
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

/// The closure behind a host function, on raw value slots (the `u128` encoding generated code
/// uses): it reads the parameters from the slots and leaves the results in them. A
/// [`Func::new`] closure on [`Val`]s is wrapped into one; a [`Func::wrap`] closure reads and
/// writes native values directly, with no allocation.
type RawHostFn = dyn Fn(&mut Caller<'_>, &mut [u128]) -> Result<(), Trap> + Send + Sync;

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
    func: Box<RawHostFn>,
}

/// A host function owned by a store: its context, and the funcref record generated code uses
/// for it once an instance has imported it.
#[derive(Debug)]
pub(crate) struct HostFunc {
    ctx: NonNull<HostContext>,
    func_ref: Option<NonNull<VMFuncRef>>,
}

impl HostFunc {
    /// A host function whose generated-code entry point is `entry`: [`host_entry`], or the
    /// [`typed_host_entry`] of the closure type `func` was boxed from.
    fn new(ty: FuncType, type_id: u32, func: Box<RawHostFn>, entry: HostEntry) -> HostFunc {
        let ctx = Box::new(HostContext {
            magic: HOST_CONTEXT_MAGIC,
            entry,
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
        let raw = dynamic_host_fn(ty.clone(), f);
        Func::from_raw_host_fn(store, ty, raw, host_entry)
    }

    /// A host function from a Rust closure on native values: `Fn(&mut Caller, A1, A2, ...) -> R`
    /// where each `Ai` is one of `i32`, `u32`, `i64`, `u64`, `f32`, `f64` and `R` is `()`, one
    /// of those, or a `Result` of either with [`Trap`]. The type comes from the signature, and
    /// calls from Wasm read and write the values in place: no [`Val`]s, no allocation.
    pub fn wrap<Params, Results>(store: &mut Store, f: impl IntoHostFunc<Params, Results>) -> Func {
        let parts = f.into_host_func();
        Func::from_raw_host_fn(store, parts.ty, parts.func, parts.entry)
    }

    fn from_raw_host_fn(
        store: &mut Store,
        ty: FuncType,
        raw: Box<RawHostFn>,
        entry: HostEntry,
    ) -> Func {
        let type_id = store.engine().type_id(&ty);
        let inner = store.inner_mut();
        let data = FuncData::Host(HostFunc::new(ty, type_id, raw, entry));
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
                let mut slots = vec![0u128; ctx.ty.array_slots()];
                encode_params(inner, &ctx.ty, params, &mut slots)?;
                invoke_host(store, ctx, &mut slots)?;
                let inner = store.inner();
                Ok(ctx
                    .ty
                    .results
                    .iter()
                    .zip(&slots)
                    .map(|(ty, raw)| inner.raw_to_val(*raw, *ty))
                    .collect())
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
    if module.may_write_memory(func_index) {
        store.inner_mut().memory_writes += 1;
    }
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
    let mut armed = None;
    if inner.active_calls == 0 {
        inner.arm_limits();
        inner.last_backtrace = None;
        if inner.engine.config().interruption == Interruption::Signal && inner.deadline.is_some() {
            armed = traphandlers::init_interrupt_handler()
                .and_then(|()| interrupt::arm(inner.deadline))
                .map_err(|e| Trap::Host(format!("cannot arm the call's deadline: {e}")))?;
        }
    }
    inner.active_calls += 1;
    let store_ptr: *mut Store = store;
    // SAFETY: forwarded to the caller; `store` is not used until the call returns.
    let result = unsafe { traphandlers::enter(store_ptr, trampoline, args) };
    drop(armed);
    let inner = store.inner_mut();
    inner.active_calls -= 1;
    result.map_err(|trapped| {
        inner.record_backtrace(trapped.backtrace, trapped.from_host);
        trapped.trap
    })
}

/// Runs a host function's closure on `slots` (parameters in, results out) for a caller in the
/// host (no calling instance), turning a panic into a trap.
fn invoke_host(store: &mut Store, ctx: &HostContext, slots: &mut [u128]) -> Result<(), Trap> {
    let mut caller = Caller {
        store,
        caller_vmctx: std::ptr::null_mut(),
    };
    catch_unwind(AssertUnwindSafe(|| (ctx.func)(&mut caller, slots)))
        .unwrap_or_else(|panic| Err(panicked(&*panic)))
}

/// Wraps a closure on [`Val`]s of type `ty` into one on raw slots: decodes the parameters,
/// checks the types of the results it leaves, encodes them.
fn dynamic_host_fn(
    ty: FuncType,
    f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
) -> Box<RawHostFn> {
    Box::new(move |caller, slots| {
        let inner = caller.store.inner();
        let params: Vec<Val> = ty
            .params
            .iter()
            .zip(slots.iter())
            .map(|(ty, raw)| inner.raw_to_val(*raw, *ty))
            .collect();
        let mut results: Vec<Val> = ty.results.iter().map(|ty| Val::default_for(*ty)).collect();
        f(caller, &params, &mut results)?;
        let inner = caller.store.inner();
        for ((result, expected), slot) in results.iter().zip(&ty.results).zip(slots.iter_mut()) {
            if result.ty() != *expected {
                return Err(Trap::Host(format!(
                    "host function of type {ty} returned a {} where a {expected} is due",
                    result.ty()
                )));
            }
            *slot = inner.val_to_raw(result)?;
        }
        Ok(())
    })
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

/// The entry point of [`Func::new`] host functions, called by `wasm_to_host` trampolines: runs
/// the context's closure through its vtable (see [`enter_host`]).
///
/// # Safety
/// As for [`enter_host`].
unsafe extern "C" fn host_entry(
    ctx: *mut HostContext,
    caller_vmctx: *mut u8,
    values: *mut u128,
    len: u32,
) -> u32 {
    // SAFETY: forwarded to the caller.
    unsafe {
        enter_host(
            ctx,
            caller_vmctx,
            values,
            len,
            true,
            |ctx, caller, slots| (ctx.func)(caller, slots),
        )
    }
}

/// The entry point of a [`Func::wrap`] host function whose closure on raw slots has type `C`:
/// as [`host_entry`], but calling `C` directly, where the compiler can inline it.
///
/// # Safety
/// As for [`enter_host`]; in addition, the context's closure must have been boxed from a `C`.
unsafe extern "C" fn typed_host_entry<C>(
    ctx: *mut HostContext,
    caller_vmctx: *mut u8,
    values: *mut u128,
    len: u32,
) -> u32
where
    C: Fn(&mut Caller<'_>, &mut [u128]) -> Result<(), Trap>,
{
    // SAFETY: forwarded to the caller, who also guarantees that the context's closure was
    // boxed from a `C`: the data pointer of the box points at one.
    unsafe {
        enter_host(
            ctx,
            caller_vmctx,
            values,
            len,
            false,
            |ctx, caller, slots| {
                let closure = &*std::ptr::from_ref::<RawHostFn>(&*ctx.func).cast::<C>();
                closure(caller, slots)
            },
        )
    }
}

/// The entry point [`typed_host_entry`] gives closures of the type of `_closure`.
fn typed_entry_of<C>(_closure: &C) -> HostEntry
where
    C: Fn(&mut Caller<'_>, &mut [u128]) -> Result<(), Trap>,
{
    typed_host_entry::<C>
}

/// What every entry point does around the closure: finds the store of the current activation,
/// checks the slots (if `check_slots`), runs `run` with a [`Caller`] and turns a panic into a
/// trap. Returns 0 with the results in `values`, or 1 after recording the trap in the current
/// activation (the trampoline then traps with `HostError`, which lands in that activation).
///
/// The slot check guards the dynamic entry; a typed entry skips it and takes the `len` slots
/// the trampoline passes (a debug assertion stays): the trampoline passes the slots of the
/// import's type, and linking made sure that type is the function's.
///
/// Every Wasm → host call runs this, so the successful path holds only what it needs: each
/// failure goes through [`host_call_failed`], out of line.
///
/// # Safety
/// Called by generated code only: `ctx` is a live host context, `caller_vmctx` the calling
/// instance's VMContext, `values` holds `len` slots, at least `array_slots()` of the context's
/// type when `check_slots` is false.
#[inline(always)]
unsafe fn enter_host(
    ctx: *mut HostContext,
    caller_vmctx: *mut u8,
    values: *mut u128,
    len: u32,
    check_slots: bool,
    run: impl FnOnce(&HostContext, &mut Caller<'_>, &mut [u128]) -> Result<(), Trap>,
) -> u32 {
    let activation = traphandlers::current_activation();
    if activation.is_null() {
        // Generated code only runs inside an activation; refuse rather than guess.
        return 1;
    }
    // SAFETY: the current activation lives on this thread's stack until its call returns.
    let activation = unsafe { &*activation };
    let store = activation.store();
    // SAFETY: the context lives as long as its store, which outlives the call.
    let ctx = unsafe { &*ctx };
    if store.is_null() {
        return outside_store(activation);
    }
    let slot_count = if check_slots {
        let needed = ctx.ty.array_slots();
        if (len as usize) < needed || (needed > 0 && values.is_null()) {
            return host_call_failed(activation, HostFailure::SlotCount(&ctx.ty, len));
        }
        needed
    } else {
        debug_assert!(len as usize >= ctx.ty.array_slots() && !values.is_null());
        len as usize
    };
    let slots: &mut [u128] = if slot_count == 0 {
        &mut []
    } else {
        // SAFETY: generated code passes `len >= slot_count` valid slots.
        unsafe { std::slice::from_raw_parts_mut(values, slot_count) }
    };
    let mut caller = Caller {
        // SAFETY: the activation's store is borrowed mutably by the call that entered generated
        // code and not used by it until we return.
        store: unsafe { &mut *store },
        caller_vmctx,
    };
    // The closure's trap is recorded inside, so that what crosses `catch_unwind` is a flag:
    // a `Result<(), Trap>` there would live in memory on every call.
    let returned = catch_unwind(AssertUnwindSafe(|| match run(ctx, &mut caller, slots) {
        Ok(()) => true,
        Err(trap) => {
            host_call_failed(activation, HostFailure::Trapped(trap));
            false
        }
    }));
    match returned {
        // Under `Interruption::Signal`, a deadline that passed while the host function ran
        // ends the call here, before generated code (which has no checks) goes on.
        Ok(true) if !interrupt::fired() => 0,
        Ok(true) => interrupted(activation),
        Ok(false) => 1,
        Err(panic) => host_call_failed(activation, HostFailure::Panicked(panic)),
    }
}

/// A host function called while the current activation has no store.
#[cold]
#[inline(never)]
fn outside_store(activation: &traphandlers::Activation) -> u32 {
    let trap = Trap::Host("host function called outside a store".to_string());
    activation.set_host_trap(trap);
    1
}

/// The call's deadline passed while a host function ran.
#[cold]
#[inline(never)]
fn interrupted(activation: &traphandlers::Activation) -> u32 {
    activation.set_host_trap(Trap::Wasm(TrapCode::Interrupt));
    1
}

/// Why a host call did not return normally.
enum HostFailure<'a> {
    /// A dynamic entry got fewer slots than its type needs.
    SlotCount(&'a FuncType, u32),
    /// The closure returned this trap.
    Trapped(Trap),
    /// The closure panicked.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Records why a host call failed in `activation` and returns the status that makes the
/// trampoline trap. Out of line, like [`outside_store`] and [`interrupted`], which take no
/// payload so that their calls are jumps: the successful path needs no stack frame.
#[cold]
#[inline(never)]
fn host_call_failed(activation: &traphandlers::Activation, failure: HostFailure<'_>) -> u32 {
    let trap = match failure {
        HostFailure::SlotCount(ty, len) => slot_count_error(ty, len),
        HostFailure::Trapped(trap) => trap,
        HostFailure::Panicked(panic) => panicked(&*panic),
    };
    activation.set_host_trap(trap);
    1
}

/// The trap a host function's panic becomes.
#[cold]
fn panicked(panic: &(dyn std::any::Any + Send)) -> Trap {
    Trap::Host(format!("host function panicked: {}", panic_message(panic)))
}

#[cold]
fn slot_count_error(ty: &FuncType, len: u32) -> Trap {
    Trap::Host(format!("host function of type {ty} got {len} value slots"))
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
    /// The VMContext of the calling instance (generated code passes its own), null if the host
    /// called. Resolved to an [`Instance`] only when asked: most host functions never do, and
    /// a no-op host call should not pay for it.
    caller_vmctx: *mut u8,
}

impl Caller<'_> {
    /// An export of the calling instance (`None` if the host called the function directly).
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        self.instance()?.get_export(self.store, name)
    }

    /// The calling instance's memory 0 as a handle (to grow it, for example), exported or not.
    pub fn memory(&self) -> Option<Memory> {
        self.instance()?.memory(self.store, 0)
    }

    /// The calling instance's memory 0, if it has one.
    ///
    /// # Panics
    ///
    /// If the memory has shared mappings (see [`Memory::data_mut`]); the handle from
    /// [`Caller::memory`] reads and writes such a memory.
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        let memory: Memory = self.instance()?.memory(self.store, 0)?;
        Some(memory.data_mut(self.store))
    }

    /// The calling instance, if Wasm called.
    pub fn instance(&self) -> Option<Instance> {
        // SAFETY: `caller_vmctx` is null or the VMContext generated code passed, of an instance
        // of this store that outlives the call.
        unsafe { instance_of_vmctx(self.caller_vmctx) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// The deadline and blocking hook of the call in progress (see [`CallBounds`]).
    pub fn call_bounds(&self) -> CallBounds {
        self.store.call_bounds()
    }

    /// The store, mutably: for example to call back into Wasm with [`Func::call`].
    pub fn store_mut(&mut self) -> &mut Store {
        self.store
    }
}

impl fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("instance", &self.instance())
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

/// A value type a [`Func::wrap`] closure takes or returns natively.
pub trait WasmTy: Copy + Send + Sync + 'static {
    /// Its WebAssembly type.
    const TYPE: ValType;
    /// Decodes it from a value slot.
    fn from_slot(slot: u128) -> Self;
    /// Encodes it into a value slot.
    fn into_slot(self) -> u128;
}

macro_rules! wasm_ty {
    ($($rust:ty => $wasm:ident, |$v:ident| $decode:expr, |$w:ident| $encode:expr;)*) => {$(
        impl WasmTy for $rust {
            const TYPE: ValType = ValType::$wasm;
            fn from_slot(slot: u128) -> Self {
                let $v = slot;
                $decode
            }
            fn into_slot(self) -> u128 {
                let $w = self;
                $encode
            }
        }
    )*};
}

wasm_ty! {
    i32 => I32, |s| s as u32 as i32, |v| u128::from(v as u32);
    u32 => I32, |s| s as u32, |v| u128::from(v);
    i64 => I64, |s| s as u64 as i64, |v| u128::from(v as u64);
    u64 => I64, |s| s as u64, |v| u128::from(v);
    f32 => F32, |s| f32::from_bits(s as u32), |v| u128::from(v.to_bits());
    f64 => F64, |s| f64::from_bits(s as u64), |v| u128::from(v.to_bits());
}

/// What a [`Func::wrap`] closure may return: `()`, a [`WasmTy`], or a `Result` of either with
/// a [`Trap`].
pub trait HostReturn: 'static {
    /// The result types.
    fn types() -> Vec<ValType>;
    /// Stores the results into the first slots, or passes the trap on.
    fn into_slots(self, slots: &mut [u128]) -> Result<(), Trap>;
}

impl HostReturn for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    fn into_slots(self, _: &mut [u128]) -> Result<(), Trap> {
        Ok(())
    }
}

impl<T: WasmTy> HostReturn for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn into_slots(self, slots: &mut [u128]) -> Result<(), Trap> {
        if let Some(slot) = slots.first_mut() {
            *slot = self.into_slot();
        }
        Ok(())
    }
}

impl<R: HostReturn> HostReturn for Result<R, Trap> {
    fn types() -> Vec<ValType> {
        R::types()
    }
    fn into_slots(self, slots: &mut [u128]) -> Result<(), Trap> {
        self?.into_slots(slots)
    }
}

/// What [`IntoHostFunc`] makes of a closure (opaque).
#[doc(hidden)]
pub struct HostFuncParts {
    ty: FuncType,
    func: Box<RawHostFn>,
    entry: HostEntry,
}

impl fmt::Debug for HostFuncParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFuncParts")
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

/// A Rust closure [`Func::wrap`] can turn into a host function. `Params` is the tuple of its
/// parameter types (after the [`Caller`]), `Results` its return type.
pub trait IntoHostFunc<Params, Results>: Send + Sync + 'static {
    /// The function's type, its closure on raw slots and the entry point generated code calls.
    #[doc(hidden)]
    fn into_host_func(self) -> HostFuncParts;
}

macro_rules! into_host_func {
    ($($param:ident),*) => {
        impl<F, R, $($param,)*> IntoHostFunc<($($param,)*), R> for F
        where
            F: Fn(&mut Caller<'_>, $($param),*) -> R + Send + Sync + 'static,
            R: HostReturn,
            $($param: WasmTy,)*
        {
            #[allow(
                non_snake_case,
                unused_mut,
                unused_variables,
                reason = "the type parameters name the values; a closure may take none"
            )]
            fn into_host_func(self) -> HostFuncParts {
                let ty = FuncType {
                    params: vec![$($param::TYPE),*],
                    results: R::types(),
                };
                let raw = move |caller: &mut Caller<'_>, slots: &mut [u128]| {
                    // Callers pass `array_slots()` slots: at least one per parameter.
                    let mut params = slots.iter();
                    $(let $param = $param::from_slot(params.next().copied().unwrap_or(0));)*
                    self(caller, $($param),*).into_slots(slots)
                };
                let entry = typed_entry_of(&raw);
                HostFuncParts {
                    ty,
                    func: Box::new(raw),
                    entry,
                }
            }
        }
    };
}

into_host_func!();
into_host_func!(A1);
into_host_func!(A1, A2);
into_host_func!(A1, A2, A3);
into_host_func!(A1, A2, A3, A4);
into_host_func!(A1, A2, A3, A4, A5);
into_host_func!(A1, A2, A3, A4, A5, A6);
into_host_func!(A1, A2, A3, A4, A5, A6, A7);
into_host_func!(A1, A2, A3, A4, A5, A6, A7, A8);
