//! The system under test: a module compiled by `faasm-jit` and run by `faasm-runtime`.

use super::compare::{Export, ExportKind, Instantiation, Sandbox};
use super::generate::{MAX_MEMORY_PAGES, MAX_TABLE_ELEMENTS};
use super::value::{Outcome, TrapKind, Type, Value};
use faasm_runtime::{
    CompilerConfig, Config, Engine, Extern, Instance, InstantiateError, Interruption, Linker,
    MemoryStrategy, Module, OptLevel, Store, Trap, TrapCode, Val, ValType,
};
use std::sync::OnceLock;
use std::time::Duration;

/// Guard size of the guarded strategy: the runtime's default, 32 MiB.
pub const GUARD_BYTES: u64 = 32 << 20;

/// Which memory strategy an engine compiles for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `MemoryStrategy::Guarded { guard_bytes: GUARD_BYTES }`: no checks below the guard.
    Guarded,
    /// `MemoryStrategy::Bounded`: explicit checks everywhere.
    Bounded,
}

impl Strategy {
    fn memory_strategy(self) -> MemoryStrategy {
        match self {
            Strategy::Guarded => MemoryStrategy::Guarded {
                guard_bytes: GUARD_BYTES,
            },
            Strategy::Bounded => MemoryStrategy::Bounded,
        }
    }
}

/// The engine for `strategy` and `interruption`, made once per process: engines own the slot
/// pool and the epoch ticker, which every input reuses.
pub fn engine(strategy: Strategy, interruption: Interruption) -> &'static Engine {
    static ENGINES: [OnceLock<Engine>; 4] = [const { OnceLock::new() }; 4];
    let index = match (strategy, interruption) {
        (Strategy::Guarded, Interruption::Signal) => 0,
        (Strategy::Guarded, Interruption::Epoch) => 1,
        (Strategy::Bounded, Interruption::Signal) => 2,
        (Strategy::Bounded, Interruption::Epoch) => 3,
    };
    ENGINES[index].get_or_init(|| {
        Engine::new(engine_config(strategy, interruption)).expect("a valid fuzzing engine")
    })
}

/// Engine settings for fuzzing: the verifier on (it turns translator bugs into typed errors),
/// one compile thread (libFuzzer runs one input at a time), limits shared with the generator.
fn engine_config(strategy: Strategy, interruption: Interruption) -> Config {
    Config {
        compiler: compiler_config(strategy.memory_strategy(), OptLevel::Speed, 1),
        interruption,
        max_memory_pages: MAX_MEMORY_PAGES,
        max_table_elements: MAX_TABLE_ELEMENTS,
        ..Config::default()
    }
}

/// A compiler configuration with the verifier on.
pub fn compiler_config(
    memory_strategy: MemoryStrategy,
    opt_level: OptLevel,
    threads: usize,
) -> CompilerConfig {
    CompilerConfig {
        memory_strategy,
        epoch_interruption: true,
        spectre_guard: true,
        opt_level,
        verifier: true,
        threads,
        ..CompilerConfig::default()
    }
}

/// An instance in our runtime.
pub struct Ours {
    strategy: Strategy,
    store: Store,
    instance: Instance,
}

impl std::fmt::Debug for Ours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ours")
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl Ours {
    /// Compiles and instantiates `wasm` with no imports; every later call has `timeout`,
    /// enforced as the runtime does by default (a signal at the deadline).
    pub fn instantiate(strategy: Strategy, wasm: &[u8], timeout: Duration) -> Instantiation<Ours> {
        Ours::instantiate_with(strategy, Interruption::Signal, wasm, timeout)
    }

    /// [`Ours::instantiate`] with the deadline enforced by `interruption`.
    pub fn instantiate_with(
        strategy: Strategy,
        interruption: Interruption,
        wasm: &[u8],
        timeout: Duration,
    ) -> Instantiation<Ours> {
        let engine = engine(strategy, interruption);
        let module = match Module::new(engine, wasm) {
            Ok(module) => module,
            Err(e) => return Instantiation::Failed(format!("compile error: {e}")),
        };
        let mut store = Store::new(engine);
        store.set_timeout(Some(timeout));
        match Linker::new().instantiate(&mut store, &module) {
            Ok(instance) => Instantiation::Ready(Ours {
                strategy,
                store,
                instance,
            }),
            Err(InstantiateError::Trap(trap)) => Instantiation::Trapped(trap_kind(&trap)),
            Err(e) => Instantiation::Failed(e.to_string()),
        }
    }

    fn export(&self, name: &str) -> Option<Extern> {
        self.instance.get_export(&self.store, name)
    }
}

impl Sandbox for Ours {
    fn label(&self) -> String {
        format!("faasm-rs ({:?})", self.strategy)
    }

    fn exports(&self) -> Vec<Export> {
        self.instance
            .exports(&self.store)
            .into_iter()
            .map(|(name, item)| Export {
                name,
                kind: export_kind(&self.store, item),
            })
            .collect()
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Outcome {
        let Some(Extern::Func(func)) = self.export(name) else {
            return Outcome::Trapped(TrapKind::Other(format!("no function `{name}`")));
        };
        let args: Vec<Val> = args.iter().map(to_val).collect();
        match func.call(&mut self.store, &args) {
            Ok(results) => Outcome::Returned(results.iter().map(from_val).collect()),
            Err(trap) => Outcome::Trapped(trap_kind(&trap)),
        }
    }

    fn global(&self, name: &str) -> Option<Value> {
        match self.export(name)? {
            Extern::Global(global) => Some(from_val(&global.get(&self.store))),
            _ => None,
        }
    }

    fn memory(&self, name: &str) -> Option<&[u8]> {
        match self.export(name)? {
            Extern::Memory(memory) => Some(memory.data(&self.store)),
            _ => None,
        }
    }

    fn table(&self, name: &str) -> Option<Vec<Value>> {
        let Extern::Table(table) = self.export(name)? else {
            return None;
        };
        let size = table.size(&self.store);
        (0..size)
            .map(|i| table.get(&self.store, i).map(|v| from_val(&v)))
            .collect()
    }
}

fn export_kind(store: &Store, item: Extern) -> ExportKind {
    match item {
        Extern::Func(func) => {
            let ty = func.ty(store);
            ExportKind::Func {
                params: ty.params.iter().map(|&t| type_of(t)).collect(),
                results: ty.results.iter().map(|&t| type_of(t)).collect(),
            }
        }
        Extern::Global(_) => ExportKind::Global,
        Extern::Memory(_) => ExportKind::Memory,
        Extern::Table(_) => ExportKind::Table,
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

fn to_val(value: &Value) -> Val {
    match *value {
        Value::I32(v) => Val::I32(v),
        Value::I64(v) => Val::I64(v),
        Value::F32(bits) => Val::F32(bits),
        Value::F64(bits) => Val::F64(bits),
        Value::V128(bits) => Val::V128(bits),
        // Plans only pass null function references.
        Value::FuncRef { .. } => Val::FuncRef(None),
        Value::ExternRef(handle) => Val::ExternRef(handle),
    }
}

fn from_val(val: &Val) -> Value {
    match *val {
        Val::I32(v) => Value::I32(v),
        Val::I64(v) => Value::I64(v),
        Val::F32(bits) => Value::F32(bits),
        Val::F64(bits) => Value::F64(bits),
        Val::V128(bits) => Value::V128(bits),
        Val::FuncRef(func) => Value::FuncRef {
            null: func.is_none(),
        },
        Val::ExternRef(handle) => Value::ExternRef(handle),
    }
}

/// Our trap in the terms both engines share.
pub fn trap_kind(trap: &Trap) -> TrapKind {
    match trap {
        Trap::Wasm(code) => match code {
            TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
            TrapCode::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
            TrapCode::TableOutOfBounds => TrapKind::TableOutOfBounds,
            TrapCode::IndirectCallToNull => TrapKind::IndirectCallToNull,
            TrapCode::BadSignature => TrapKind::BadSignature,
            TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
            TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
            TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
            TrapCode::StackOverflow => TrapKind::StackOverflow,
            TrapCode::Interrupt => TrapKind::OutOfTime,
            TrapCode::HostError => TrapKind::Other(trap.to_string()),
        },
        other => TrapKind::Other(other.to_string()),
    }
}
