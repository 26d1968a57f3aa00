//! The engine: configuration, the compiler, canonical function-type ids, the epoch counter and
//! its ticker thread, and the pool of memory slots. Shared (`Arc`) by modules and stores.

use crate::pool::SlotPool;
use faasm_jit::{CompileError, Compiler, CompilerConfig, FuncType, MemoryStrategy};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Guard size on each side of a slot under [`MemoryStrategy::Bounded`], where every access is
/// checked explicitly and the guards only catch runtime bugs.
const BOUNDED_GUARD_BYTES: usize = 64 << 10;

/// How calls past their deadline (see [`Store::set_timeout`](crate::Store::set_timeout)) are
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interruption {
    /// The thread running the call is signalled at the deadline and the call is abandoned
    /// wherever its generated code is (see `interrupt.rs` for why that is sound); generated
    /// code carries no checks. For Faaslets, which are reset to their snapshot after every
    /// call, and any embedder that drops or resets an instance after it traps.
    #[default]
    Signal,
    /// Generated code checks the engine's epoch at every function entry and loop header, and
    /// a ticker thread advances the epoch every [`Config::epoch_tick`]: a call stops only at
    /// those points. For embedders that keep using an instance after it timed out.
    Epoch,
}

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings of the compiler, including the memory strategy. Its `epoch_interruption` is
    /// set from [`Config::interruption`].
    pub compiler: CompilerConfig,
    /// How calls past their deadline are stopped.
    pub interruption: Interruption,
    /// Stack space generated code may use below the host's entry point, in bytes.
    pub max_wasm_stack: usize,
    /// How often the epoch advances once a store has set a timeout (under
    /// [`Interruption::Epoch`] only).
    pub epoch_tick: Duration,
    /// Limit in pages for memories without a declared maximum, and for any growth.
    pub max_memory_pages: u64,
    /// Limit in elements for tables without a declared maximum, and for any growth.
    pub max_table_elements: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compiler: CompilerConfig::default(),
            interruption: Interruption::default(),
            max_wasm_stack: 1 << 20,
            epoch_tick: Duration::from_millis(1),
            max_memory_pages: faasm_jit::MAX_WASM_PAGES,
            max_table_elements: 10_000_000,
        }
    }
}

/// Compiles modules and owns what their instances share. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    config: Config,
    compiler: Compiler,
    types: Mutex<TypeRegistry>,
    epoch: AtomicU64,
    ticker_started: Mutex<bool>,
    slots: SlotPool,
}

/// Interns function types: equal types get equal ids for the engine's life.
#[derive(Debug, Default)]
struct TypeRegistry {
    ids: HashMap<FuncType, u32>,
}

impl Engine {
    /// An engine with `config`.
    pub fn new(mut config: Config) -> Result<Engine, CompileError> {
        config.compiler.epoch_interruption = config.interruption == Interruption::Epoch;
        let compiler = Compiler::new(config.compiler.clone())?;
        let guard = match config.compiler.memory_strategy {
            MemoryStrategy::Guarded { guard_bytes } => usize::try_from(guard_bytes)
                .map_err(|_| CompileError::Limit(format!("guard region of {guard_bytes} bytes")))?,
            MemoryStrategy::Bounded => BOUNDED_GUARD_BYTES,
        };
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config,
                compiler,
                types: Mutex::new(TypeRegistry::default()),
                epoch: AtomicU64::new(0),
                ticker_started: Mutex::new(false),
                slots: SlotPool::new(guard),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Advances the epoch by one: calls whose deadline is reached trap with `Interrupt`.
    pub fn increment_epoch(&self) {
        self.inner.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// What decides the code this engine's compiler generates (see
    /// `faasm_jit::Compiler::fingerprint`): artifacts load only into an engine with the same one.
    pub fn fingerprint(&self) -> &str {
        self.inner.compiler.fingerprint()
    }

    pub(crate) fn compiler(&self) -> &Compiler {
        &self.inner.compiler
    }

    pub(crate) fn slots(&self) -> &SlotPool {
        &self.inner.slots
    }

    /// The current epoch.
    pub(crate) fn current_epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    /// The address generated code reads the epoch from; valid while the engine lives.
    pub(crate) fn epoch_counter(&self) -> *const u64 {
        self.inner.epoch.as_ptr().cast_const()
    }

    /// The canonical id of `ty`.
    pub(crate) fn type_id(&self, ty: &FuncType) -> u32 {
        let mut registry = self.inner.types.lock().unwrap_or_else(|p| p.into_inner());
        let next = registry.ids.len() as u32;
        *registry.ids.entry(ty.clone()).or_insert(next)
    }

    /// Whether both handles name the same engine.
    pub(crate) fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Starts the thread that advances the epoch every `epoch_tick`, once. It stops when the
    /// engine is dropped.
    pub(crate) fn start_ticker(&self) {
        let mut started = self
            .inner
            .ticker_started
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *started {
            return;
        }
        let engine: Weak<EngineInner> = Arc::downgrade(&self.inner);
        let tick = self.inner.config.epoch_tick.max(Duration::from_micros(10));
        let spawned = std::thread::Builder::new()
            .name("faasm-epoch".to_string())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    match engine.upgrade() {
                        Some(engine) => engine.epoch.fetch_add(1, Ordering::Relaxed),
                        None => break,
                    };
                }
            });
        // If the thread cannot start, the next timeout tries again.
        *started = spawned.is_ok();
    }
}

impl Default for Engine {
    fn default() -> Self {
        // The default configuration is valid by construction; failing here is a bug.
        Engine::new(Config::default()).expect("the default engine configuration is valid")
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .field("epoch", &self.current_epoch())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::ValType;

    #[test]
    fn equal_types_share_an_id() {
        let engine = Engine::default();
        let a = engine.type_id(&FuncType::new([ValType::I32], [ValType::I64]));
        let b = engine.type_id(&FuncType::new([], []));
        let c = engine.type_id(&FuncType::new([ValType::I32], [ValType::I64]));
        assert_eq!(a, c);
        assert_ne!(a, b);
    }

    #[test]
    fn the_ticker_advances_the_epoch() {
        let engine = Engine::new(Config {
            epoch_tick: Duration::from_millis(1),
            ..Config::default()
        })
        .expect("engine");
        let start = engine.current_epoch();
        engine.start_ticker();
        engine.start_ticker();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while engine.current_epoch() < start + 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(engine.current_epoch() >= start + 3);
    }
}
