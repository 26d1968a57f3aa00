//! The oracle: the same module in wasmi, an interpreter written independently of our JIT.

use super::compare::{Export, ExportKind, Instantiation, Sandbox};
use super::generate::{MAX_MEMORY_PAGES, MAX_TABLE_ELEMENTS};
use super::value::{Outcome, TrapKind, Type, Value};
use std::sync::OnceLock;
use wasmi::errors::{ErrorKind, InstantiationError, MemoryError, TableError};
use wasmi::{
    Engine, Error, ExternRef, F32, F64, Func, Instance, Linker, Module, Ref, Store, StoreLimits,
    StoreLimitsBuilder, TrapCode, Val, ValType,
};

/// How long a wasmi call may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// No limit: the module is metered by its own instrumentation.
    Unlimited,
    /// This much fuel (about one unit per instruction) for all calls together.
    Fuel(u64),
}

/// wasmi's engine for `budget`, made once per process.
fn engine(budget: Budget) -> &'static Engine {
    static UNLIMITED: OnceLock<Engine> = OnceLock::new();
    static METERED: OnceLock<Engine> = OnceLock::new();
    let (cell, metered) = match budget {
        Budget::Unlimited => (&UNLIMITED, false),
        Budget::Fuel(_) => (&METERED, true),
    };
    cell.get_or_init(|| {
        let mut config = wasmi::Config::default();
        config.consume_fuel(metered);
        // The SIMD the generator makes (WebAssembly 2.0), needing wasmi's `simd` feature; not
        // relaxed SIMD, which our validator refuses too. Extended constant expressions, tail
        // calls and multiple memories are on by default in wasmi 1.1: the generator decides.
        config.wasm_simd(true);
        config.wasm_relaxed_simd(false);
        Engine::new(&config)
    })
}

/// An instance in wasmi.
pub struct Reference {
    store: Store<StoreLimits>,
    instance: Instance,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference").finish_non_exhaustive()
    }
}

impl Reference {
    /// Compiles and instantiates `wasm` with no imports, the same memory and table limits as
    /// our engines, and `budget` for all calls.
    pub fn instantiate(wasm: &[u8], budget: Budget) -> Instantiation<Reference> {
        let engine = engine(budget);
        let module = match Module::new(engine, wasm) {
            Ok(module) => module,
            Err(e) => return Instantiation::Failed(format!("wasmi rejected the module: {e}")),
        };
        let mut store = Store::new(engine, limits());
        store.limiter(|limits| limits);
        if let Budget::Fuel(fuel) = budget {
            // Only fails when fuel metering is off, and it is on for this engine.
            store.set_fuel(fuel).expect("fuel metering is on");
        }
        match Linker::new(engine).instantiate_and_start(&mut store, &module) {
            Ok(instance) => Instantiation::Ready(Reference { store, instance }),
            Err(e) => match e.as_trap_code().map(trap_kind).or_else(|| bounds_trap(&e)) {
                Some(kind) => Instantiation::Trapped(kind),
                None => Instantiation::Failed(format!("wasmi: {e}")),
            },
        }
    }

    fn export(&self, name: &str) -> Option<wasmi::Extern> {
        self.instance.get_export(&self.store, name)
    }

    fn val_of(&mut self, value: &Value) -> Val {
        match *value {
            Value::I32(v) => Val::I32(v),
            Value::I64(v) => Val::I64(v),
            Value::F32(bits) => Val::F32(F32::from_bits(bits)),
            Value::F64(bits) => Val::F64(F64::from_bits(bits)),
            Value::V128(bits) => Val::V128(bits.into()),
            Value::FuncRef { .. } => Val::FuncRef(Ref::Null),
            Value::ExternRef(None) => Val::ExternRef(Ref::Null),
            Value::ExternRef(Some(handle)) => {
                Val::ExternRef(Ref::Val(ExternRef::new(&mut self.store, handle)))
            }
        }
    }

    fn value_of(&self, val: &Val) -> Value {
        match val {
            Val::I32(v) => Value::I32(*v),
            Val::I64(v) => Value::I64(*v),
            Val::F32(v) => Value::F32(v.to_bits()),
            Val::F64(v) => Value::F64(v.to_bits()),
            Val::V128(v) => Value::V128(v.as_u128()),
            Val::FuncRef(func) => Value::FuncRef {
                null: func.is_null(),
            },
            Val::ExternRef(handle) => Value::ExternRef(self.extern_handle(handle)),
        }
    }

    fn extern_handle(&self, reference: &Ref<ExternRef>) -> Option<u32> {
        let reference = reference.val()?;
        reference.data(&self.store).downcast_ref::<u32>().copied()
    }
}

/// The same limits as `ours::engine_config`: growth past them fails (returns -1), never traps.
fn limits() -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size((MAX_MEMORY_PAGES * 65536) as usize)
        .table_elements(MAX_TABLE_ELEMENTS as usize)
        .build()
}

impl Sandbox for Reference {
    fn label(&self) -> String {
        "wasmi".to_string()
    }

    fn exports(&self) -> Vec<Export> {
        self.instance
            .exports(&self.store)
            .map(|export| Export {
                name: export.name().to_string(),
                kind: export_kind(&self.store, export.into_extern()),
            })
            .collect()
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Outcome {
        let Some(wasmi::Extern::Func(func)) = self.export(name) else {
            return Outcome::Trapped(TrapKind::Other(format!("no function `{name}`")));
        };
        let args: Vec<Val> = args.iter().map(|a| self.val_of(a)).collect();
        let mut results = result_slots(&self.store, &func);
        match func.call(&mut self.store, &args, &mut results) {
            Ok(()) => Outcome::Returned(results.iter().map(|v| self.value_of(v)).collect()),
            Err(e) => Outcome::Trapped(error_kind(&e)),
        }
    }

    fn global(&self, name: &str) -> Option<Value> {
        match self.export(name)? {
            wasmi::Extern::Global(global) => Some(self.value_of(&global.get(&self.store))),
            _ => None,
        }
    }

    fn memory(&self, name: &str) -> Option<&[u8]> {
        match self.export(name)? {
            wasmi::Extern::Memory(memory) => Some(memory.data(&self.store)),
            _ => None,
        }
    }

    fn table(&self, name: &str) -> Option<Vec<Value>> {
        let wasmi::Extern::Table(table) = self.export(name)? else {
            return None;
        };
        let size = table.size(&self.store);
        (0..size)
            .map(|i| table.get(&self.store, i).map(|v| self.value_of(&v)))
            .collect()
    }
}

fn result_slots(store: &Store<StoreLimits>, func: &Func) -> Vec<Val> {
    func.ty(store)
        .results()
        .iter()
        .map(|&ty| Val::default(ty))
        .collect()
}

fn export_kind(store: &Store<StoreLimits>, item: wasmi::Extern) -> ExportKind {
    match item {
        wasmi::Extern::Func(func) => {
            let ty = func.ty(store);
            ExportKind::Func {
                params: ty.params().iter().map(|&t| type_of(t)).collect(),
                results: ty.results().iter().map(|&t| type_of(t)).collect(),
            }
        }
        wasmi::Extern::Global(_) => ExportKind::Global,
        wasmi::Extern::Memory(_) => ExportKind::Memory,
        wasmi::Extern::Table(_) => ExportKind::Table,
    }
}

fn type_of(ty: ValType) -> Type {
    match ty {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
        ValType::V128 => Type::V128,
        ValType::FuncRef => Type::FuncRef,
        ValType::ExternRef => Type::ExternRef,
    }
}

fn error_kind(error: &Error) -> TrapKind {
    match error.as_trap_code() {
        Some(code) => trap_kind(code),
        None => bounds_trap(error).unwrap_or_else(|| TrapKind::Other(format!("wasmi: {error}"))),
    }
}

/// The trap the spec prescribes where wasmi reports an error instead of a trap code: an active
/// segment that does not fit at instantiation (WebAssembly 2.0, "Instantiation": it runs
/// `table.init`/`memory.init`, which trap), and out-of-bounds bulk table operations
/// (`table.copy`, `table.init`, `table.fill`: "out of bounds table access").
fn bounds_trap(error: &Error) -> Option<TrapKind> {
    match error.kind() {
        ErrorKind::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. })
        | ErrorKind::Table(
            TableError::InitOutOfBounds
            | TableError::CopyOutOfBounds
            | TableError::FillOutOfBounds
            | TableError::SetOutOfBounds,
        ) => Some(TrapKind::TableOutOfBounds),
        ErrorKind::Memory(MemoryError::OutOfBoundsAccess) => Some(TrapKind::MemoryOutOfBounds),
        _ => None,
    }
}

/// wasmi's trap in the terms both engines share.
fn trap_kind(code: TrapCode) -> TrapKind {
    match code {
        TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
        TrapCode::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds => TrapKind::TableOutOfBounds,
        TrapCode::IndirectCallToNull => TrapKind::IndirectCallToNull,
        TrapCode::BadSignature => TrapKind::BadSignature,
        TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
        TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
        TrapCode::StackOverflow => TrapKind::StackOverflow,
        TrapCode::OutOfFuel => TrapKind::OutOfTime,
        other => TrapKind::Other(format!("wasmi: {other:?}")),
    }
}
