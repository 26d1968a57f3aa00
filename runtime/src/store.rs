//! The store: owner of instances, host functions, tables, memories and globals, which handles
//! name by index. Its state lives in one heap block whose address never changes, because
//! instances and generated code point into it; the `Store` value itself may move freely.

use crate::backtrace::WasmBacktrace;
use crate::blocking::{BlockingHook, CallBounds};
use crate::engine::{Engine, Interruption};
use crate::func::{Func, FuncData};
use crate::global::GlobalData;
use crate::instance::InstanceData;
use crate::memory::MemoryData;
use crate::table::TableData;
use crate::values::{Trap, Val, extern_ref_from_raw, extern_ref_to_raw};
use crate::vm::{Definition, VMRuntimeLimits};
use faasm_jit::ValType;
use std::collections::BTreeMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Identifies a store; handles carry it so that using one with another store is caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StoreId(u64);

impl StoreId {
    fn next() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Owns everything instances are made of. `Send`, not `Sync`: one thread uses it at a time.
pub struct Store {
    inner: NonNull<StoreInner>,
}

// SAFETY: the store exclusively owns everything behind its pointer; host functions are
// `Send + Sync`, modules and the engine are `Send + Sync`, and raw pointers inside only point to
// memory the store owns. Nothing is tied to the creating thread.
unsafe impl Send for Store {}

pub(crate) struct StoreInner {
    pub(crate) id: StoreId,
    pub(crate) engine: Engine,
    pub(crate) limits: Definition<VMRuntimeLimits>,
    pub(crate) timeout: Option<Duration>,
    /// When the top-level call in progress times out (set with the epoch deadline).
    pub(crate) deadline: Option<Instant>,
    /// What host functions do around a wait (see [`CallBounds::blocking`]).
    pub(crate) blocking_hook: Option<Arc<dyn BlockingHook>>,
    /// Calls into generated code in progress (nested through host functions).
    pub(crate) active_calls: u32,
    /// The Wasm backtrace of the last top-level call's trap.
    pub(crate) last_backtrace: Option<WasmBacktrace>,
    pub(crate) instances: Vec<NonNull<InstanceData>>,
    /// VMContext start address → instance index, to map funcref pointers back to functions.
    pub(crate) vmctx_starts: BTreeMap<usize, u32>,
    pub(crate) funcs: Vec<FuncData>,
    pub(crate) tables: Vec<TableData>,
    pub(crate) memories: Vec<MemoryData>,
    pub(crate) globals: Vec<GlobalData>,
    /// Counts the calls into generated code that may write linear memory (see
    /// `Module::may_write_memory`): a memory whose reset saw this count, unchanged since, was
    /// not written by generated code (host writes mark the memory itself).
    pub(crate) memory_writes: u64,
}

impl Store {
    /// An empty store for `engine`.
    pub fn new(engine: &Engine) -> Store {
        let limits = Definition::boxed(VMRuntimeLimits {
            stack_limit: 0,
            epoch_deadline: u64::MAX,
            epoch_counter: engine.epoch_counter(),
        });
        let inner = Box::new(StoreInner {
            id: StoreId::next(),
            engine: engine.clone(),
            limits,
            timeout: None,
            deadline: None,
            blocking_hook: None,
            active_calls: 0,
            last_backtrace: None,
            instances: Vec::new(),
            vmctx_starts: BTreeMap::new(),
            funcs: Vec::new(),
            tables: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            memory_writes: 0,
        });
        Store {
            inner: NonNull::from(Box::leak(inner)),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner().engine
    }

    /// Sets the deadline of every later top-level call: it traps with `Interrupt` once
    /// `timeout` has passed (stopped by a signal, or at its next epoch check, as the engine's
    /// [`Interruption`] says), and host functions that wait end by then with the same trap
    /// ([`Store::call_bounds`]). `None` (or a timeout past what the clock can express) removes
    /// the deadline.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        let engine = &self.inner().engine;
        if timeout.is_some() && engine.config().interruption == Interruption::Epoch {
            engine.start_ticker();
        }
        self.inner_mut().timeout = timeout;
    }

    /// The timeout of later top-level calls (see [`Store::set_timeout`]).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner().timeout
    }

    /// Sets what host functions do around a wait (a scheduler gives the call's worker permit
    /// back meanwhile). `None` removes it.
    pub fn set_blocking_hook(&mut self, hook: Option<Arc<dyn BlockingHook>>) {
        self.inner_mut().blocking_hook = hook;
    }

    /// The deadline and blocking hook of the call in progress: no deadline when no call into
    /// Wasm is active or the store has no timeout.
    pub fn call_bounds(&self) -> CallBounds {
        let inner = self.inner();
        let deadline = if inner.active_calls > 0 {
            inner.deadline
        } else {
            None
        };
        CallBounds::new(deadline, inner.blocking_hook.clone())
    }

    /// The Wasm functions that were active when the last call into Wasm trapped, innermost
    /// first (names from the modules' `name` sections). `None` if the last call returned, or
    /// failed before entering Wasm (bad arguments, for example). A trap in a host function
    /// called from Wasm has the Wasm frames that led to the call.
    pub fn last_backtrace(&self) -> Option<&WasmBacktrace> {
        self.inner().last_backtrace.as_ref()
    }

    pub(crate) fn inner(&self) -> &StoreInner {
        // SAFETY: `inner` comes from `Box::leak` and lives until `drop`; `&self` excludes
        // mutation through this handle.
        unsafe { self.inner.as_ref() }
    }

    pub(crate) fn inner_mut(&mut self) -> &mut StoreInner {
        // SAFETY: as in `inner`; `&mut self` makes this the only access through the handle.
        unsafe { self.inner.as_mut() }
    }

    /// The stable address of the store's state, for instances and generated code.
    pub(crate) fn inner_ptr(&mut self) -> *mut StoreInner {
        self.inner.as_ptr()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: `inner` came from `Box::leak` in `new` and is freed exactly once, here.
        drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        f.debug_struct("Store")
            .field("id", &inner.id)
            .field("instances", &inner.instances.len())
            .field("funcs", &inner.funcs.len())
            .field("memories", &inner.memories.len())
            .finish_non_exhaustive()
    }
}

impl StoreInner {
    /// The memory-write count, if no call into generated code is in progress: a memory reset
    /// (or made) from inside a host function may be written by the code that called it without
    /// the count moving, so it is never recorded as clean.
    pub(crate) fn memory_writes_outside_calls(&self) -> Option<u64> {
        (self.active_calls == 0).then_some(self.memory_writes)
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Memories go back to the engine's pool; definitions inside VMContexts are freed with
        // the instances below.
        for memory in &mut self.memories {
            if let Some(slot) = memory.take_slot_at_end(self.memory_writes) {
                self.engine.slots().release(slot);
            }
        }
        self.funcs.clear();
        self.tables.clear();
        self.memories.clear();
        self.globals.clear();
        for instance in self.instances.drain(..) {
            // SAFETY: instances come from `Box::leak` in `instantiate` and are freed once; no
            // generated code runs while the store is dropped.
            drop(unsafe { Box::from_raw(instance.as_ptr()) });
        }
    }
}

impl StoreInner {
    /// Fails if `store` is not this store's id.
    pub(crate) fn check(&self, store: StoreId, what: &str) -> Result<(), Trap> {
        if store == self.id {
            Ok(())
        } else {
            Err(Trap::BadArguments(format!(
                "{what} belongs to another store"
            )))
        }
    }

    pub(crate) fn instance(&self, index: u32) -> Option<&InstanceData> {
        let ptr = self.instances.get(index as usize)?;
        // SAFETY: instances live as long as the store; shared access through `&self`.
        Some(unsafe { ptr.as_ref() })
    }

    /// Registers a new entity and returns its index.
    pub(crate) fn push<T>(list: &mut Vec<T>, item: T) -> u32 {
        list.push(item);
        (list.len() - 1) as u32
    }

    /// The `*const VMFuncRef` that represents `func` in tables, globals and arguments.
    pub(crate) fn func_ref(&self, func: Func) -> Result<u64, Trap> {
        self.check(func.store, "function")?;
        match self.funcs.get(func.index as usize) {
            Some(FuncData::Wasm {
                instance,
                func_index,
            }) => self
                .instance(*instance)
                .and_then(|i| i.func_ref_ptr(*func_index))
                .map(|p| p as u64)
                .ok_or_else(|| Trap::BadArguments("function of an unknown instance".to_string())),
            Some(FuncData::Host(host)) => host.func_ref().map(|p| p as u64).ok_or_else(|| {
                Trap::BadArguments(
                    "a host function becomes a funcref value only once a module has imported it \
                     (it needs that module's Wasm-to-host trampoline); import it first"
                        .to_string(),
                )
            }),
            None => Err(Trap::BadArguments("unknown function".to_string())),
        }
    }

    /// The function a `*const VMFuncRef` from generated code stands for.
    pub(crate) fn func_from_ref(&self, raw: u64) -> Option<Func> {
        let addr = usize::try_from(raw).ok()?;
        let (_, instance) = self.vmctx_starts.range(..=addr).next_back()?;
        self.instance(*instance)?.func_at_ref(addr)
    }

    /// The raw (u128 slot) encoding of `val`.
    pub(crate) fn val_to_raw(&self, val: &Val) -> Result<u128, Trap> {
        Ok(match *val {
            Val::I32(v) => u128::from(v as u32),
            Val::I64(v) => u128::from(v as u64),
            Val::F32(bits) => u128::from(bits),
            Val::F64(bits) => u128::from(bits),
            Val::V128(bits) => bits,
            Val::FuncRef(None) => 0,
            Val::FuncRef(Some(func)) => u128::from(self.func_ref(func)?),
            Val::ExternRef(handle) => u128::from(extern_ref_to_raw(handle)),
        })
    }

    /// The value of type `ty` encoded as `raw`.
    pub(crate) fn raw_to_val(&self, raw: u128, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => Val::FuncRef(match raw as u64 {
                0 => None,
                ptr => self.func_from_ref(ptr),
            }),
            ValType::ExternRef => Val::ExternRef(extern_ref_from_raw(raw as u64)),
        }
    }

    /// Checks that `val` has type `ty` and belongs to this store, and encodes it.
    /// `what` names the value in the error (formatted only on failure).
    pub(crate) fn typed_val_to_raw(
        &self,
        val: &Val,
        ty: ValType,
        what: &dyn fmt::Display,
    ) -> Result<u128, Trap> {
        if val.ty() != ty {
            return Err(Trap::BadArguments(format!(
                "{what}: expected {ty}, got {}",
                val.ty()
            )));
        }
        self.val_to_raw(val)
    }

    /// Keeps the backtrace of a trap. A trap that a host function reported after a nested call
    /// into Wasm trapped continues that call's backtrace with the outer frames.
    pub(crate) fn record_backtrace(&mut self, backtrace: WasmBacktrace, from_host: bool) {
        match (&mut self.last_backtrace, from_host) {
            (Some(inner), true) => inner.extend(backtrace),
            _ => self.last_backtrace = Some(backtrace),
        }
    }

    /// Prepares the limits for a top-level call into generated code.
    pub(crate) fn arm_limits(&mut self) {
        let stack_limit = crate::traphandlers::stack_limit(self.engine.config().max_wasm_stack);
        let deadline = match self.timeout {
            None => u64::MAX,
            Some(timeout) => {
                let tick = self.engine.config().epoch_tick.max(Duration::from_nanos(1));
                let ticks = timeout.as_nanos().div_ceil(tick.as_nanos());
                let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
                self.engine
                    .current_epoch()
                    .saturating_add(ticks)
                    .saturating_add(1)
            }
        };
        // A timeout too long for the clock to express is no deadline at all.
        self.deadline = self
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let limits = self.limits.get_mut();
        limits.stack_limit = stack_limit;
        limits.epoch_deadline = deadline;
    }

    /// Address of the store's runtime limits, for VMContexts.
    pub(crate) fn limits_ptr(&self) -> *mut VMRuntimeLimits {
        self.limits.as_ptr()
    }
}
