//! Registered functions: a Proto-Faaslet and what its calls get through WASI, and the idle
//! Faaslets kept for later calls.

use super::{SchedulerError, lock};
use faasm_hostcalls::{
    FaasmCtx, FaasmHandle, Output, PreopenedDir, WasiCtx, WasiHandle, WritePipe,
    add_faasm_to_linker,
};
use faasm_runtime::{ImportKind, Linker, Module, Store};
use faasm_snapshot::{Faaslet, Snapshot};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The most of a failed initialisation's stderr kept for its error.
const MAX_PREPARE_STDERR: usize = 64 << 10;

/// How long a function's initialisation (constructors and zygote) may take by default.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A function the scheduler can run: its Proto-Faaslet, and what its calls see through WASI
/// besides their command line and captured stdio.
#[derive(Debug, Clone)]
pub struct Function {
    snapshot: Snapshot,
    setup: CallSetup,
    /// The preopens, opened by the first call that could open them all and shared by every
    /// later call (and every clone of this function): a call then duplicates descriptors
    /// instead of looking up host paths.
    opened: Arc<OnceLock<Vec<Arc<PreopenedDir>>>>,
}

/// What every call of a function sees through WASI besides its command line and stdio:
/// environment variables and preopened host directories. A function prepared with
/// [`Function::prepare_seeing`] sees them during its initialisation too.
#[derive(Debug, Clone, Default)]
pub struct CallSetup {
    preopens: Vec<Preopen>,
    env: Vec<(String, String)>,
}

/// A host directory every call of a function sees.
#[derive(Debug, Clone)]
struct Preopen {
    host: PathBuf,
    guest: String,
    read_only: bool,
}

impl CallSetup {
    /// Preopens host directory `host` as `guest`.
    pub fn preopen_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            read_only: false,
        });
        self
    }

    /// Preopens host directory `host` as `guest`, for reading only (see
    /// [`faasm_hostcalls::WasiCtxBuilder::preopen_dir_read_only`]).
    pub fn preopen_dir_read_only(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
    ) -> Self {
        self.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            read_only: true,
        });
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A WASI context builder with this environment and these preopens, looked up now.
    fn wasi_builder(&self) -> faasm_hostcalls::WasiCtxBuilder {
        let mut builder = WasiCtx::builder().envs(self.env.iter().cloned());
        for preopen in &self.preopens {
            builder = if preopen.read_only {
                builder.preopen_dir_read_only(&preopen.host, &preopen.guest)
            } else {
                builder.preopen_dir(&preopen.host, &preopen.guest)
            };
        }
        builder
    }
}

impl Function {
    /// A function from a Proto-Faaslet prepared with the host interface's imports (see
    /// [`Function::prepare`]).
    pub fn new(snapshot: Snapshot) -> Function {
        Function::with_setup(snapshot, CallSetup::default())
    }

    /// A function from a Proto-Faaslet whose calls see `setup`.
    pub fn with_setup(snapshot: Snapshot, setup: CallSetup) -> Function {
        Function {
            snapshot,
            setup,
            opened: Arc::default(),
        }
    }

    /// Checks that the host interface (WASI and the Faasm `env` calls) provides every import of
    /// `module` (naming every missing one otherwise), then initialises it and captures its
    /// Proto-Faaslet. Chaining during initialisation traps. The initialisation may take
    /// [`DEFAULT_INIT_TIMEOUT`] (see [`Function::prepare_within`]).
    pub fn prepare(module: &Module) -> Result<Function, SchedulerError> {
        Function::prepare_within(module, DEFAULT_INIT_TIMEOUT)
    }

    /// [`Function::prepare`] with `timeout` for the whole initialisation (host calls
    /// included): a module whose constructors or zygote run longer fails to prepare.
    pub fn prepare_within(module: &Module, timeout: Duration) -> Result<Function, SchedulerError> {
        Function::prepare_seeing(module, timeout, CallSetup::default())
    }

    /// [`Function::prepare_within`] for a function whose initialisation reads what its calls
    /// will: `setup`'s environment and preopened directories, which its calls then see too.
    pub fn prepare_seeing(
        module: &Module,
        timeout: Duration,
        setup: CallSetup,
    ) -> Result<Function, SchedulerError> {
        let mut store = Store::new(module.engine());
        let mut linker = Linker::new();
        // What the initialisation writes to stderr (a traceback, say) explains its failure.
        let stderr = WritePipe::with_limit(MAX_PREPARE_STDERR);
        let wasi_ctx = setup
            .wasi_builder()
            .stderr(Output::Pipe(stderr.clone()))
            .build()
            .map_err(|error| SchedulerError::PrepareWasi(error.to_string()))?;
        faasm_hostcalls::add_to_linker(&mut linker, &mut store, wasi_ctx);
        add_faasm_to_linker(&mut linker, &mut store, FaasmCtx::new());
        let missing = missing_imports(&linker, module);
        if !missing.is_empty() {
            return Err(SchedulerError::MissingImports(missing));
        }
        match Snapshot::prepare_within(&mut store, &linker, module, timeout) {
            Ok(snapshot) => Ok(Function::with_setup(snapshot, setup)),
            Err(source) => Err(SchedulerError::Prepare {
                source,
                stderr: String::from_utf8_lossy(&stderr.take()).into_owned(),
            }),
        }
    }

    /// Every import of `module` the host interface (WASI and the Faasm `env` calls) does not
    /// provide, as `module.name (type)`: empty if the module links.
    pub fn missing_imports(module: &Module) -> Vec<String> {
        let mut store = Store::new(module.engine());
        let mut linker = Linker::new();
        link(&mut linker, &mut store);
        missing_imports(&linker, module)
    }

    /// Preopens host directory `host` as `guest` in every call.
    pub fn preopen_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Function {
        self.opened = Arc::default();
        self.setup = self.setup.preopen_dir(host, guest);
        self
    }

    /// Preopens host directory `host` as `guest` in every call, for reading only (see
    /// [`faasm_hostcalls::WasiCtxBuilder::preopen_dir_read_only`]).
    pub fn preopen_dir_read_only(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
    ) -> Function {
        self.opened = Arc::default();
        self.setup = self.setup.preopen_dir_read_only(host, guest);
        self
    }

    /// Sets an environment variable for every call.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Function {
        self.setup = self.setup.env(key, value);
        self
    }

    /// The Proto-Faaslet.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// A WASI context builder with this function's environment and preopens.
    pub(super) fn wasi_builder(&self) -> faasm_hostcalls::WasiCtxBuilder {
        let Some(opened) = self.opened_preopens() else {
            // A preopen that cannot be opened now is left to the builder, whose error names it.
            return self.setup.wasi_builder();
        };
        let mut builder = WasiCtx::builder().envs(self.setup.env.iter().cloned());
        for dir in opened {
            builder = builder.preopened(Arc::clone(dir));
        }
        builder
    }
}

impl Function {
    /// The preopens, opened (by this call if none before could open them all).
    fn opened_preopens(&self) -> Option<&[Arc<PreopenedDir>]> {
        if let Some(opened) = self.opened.get() {
            return Some(opened);
        }
        let opened = self
            .setup
            .preopens
            .iter()
            .map(|p| PreopenedDir::open(&p.host, &p.guest, p.read_only).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(self.opened.get_or_init(|| opened))
    }
}

/// Where the scheduler finds functions that are not registered (a function store on disk,
/// for example). A function it returns is registered for later calls.
pub trait FunctionSource: Send + Sync {
    /// The function `user/name`: `Ok(None)` if there is none, `Err` with a reason if it
    /// exists but cannot be loaded.
    fn load(&self, user: &str, name: &str) -> Result<Option<Function>, String>;
}

/// Defines WASI (with an empty context) and the Faasm `env` interface (with an empty context)
/// in `linker`.
fn link(linker: &mut Linker, store: &mut Store) -> (WasiHandle, FaasmHandle) {
    // An empty builder has nothing that can fail.
    let wasi_ctx = WasiCtx::builder()
        .build()
        .unwrap_or_else(|_| unreachable!("an empty WASI context always builds"));
    let wasi = faasm_hostcalls::add_to_linker(linker, store, wasi_ctx);
    let faasm = add_faasm_to_linker(linker, store, FaasmCtx::new());
    (wasi, faasm)
}

/// Every import of `module` that `linker` lacks, as `module.name (type)`.
pub(crate) fn missing_imports(linker: &Linker, module: &Module) -> Vec<String> {
    linker
        .unresolved_imports(module)
        .iter()
        .map(|import| {
            let ty = match &import.kind {
                ImportKind::Func(index) => module
                    .info()
                    .types
                    .get(*index as usize)
                    .map_or_else(|| "(func)".to_string(), ToString::to_string),
                ImportKind::Table(ty) => ty.to_string(),
                ImportKind::Memory(ty) => ty.to_string(),
                ImportKind::Global(ty) => ty.to_string(),
            };
            format!("{}.{} {ty}", import.module, import.name)
        })
        .collect()
}

/// A Faaslet of a function in its own store, with the handles its host functions read.
pub(super) struct Warm {
    pub(super) store: Store,
    pub(super) faaslet: Faaslet,
    pub(super) wasi: WasiHandle,
    pub(super) faasm: FaasmHandle,
    _alive: Alive,
}

/// One Faaslet in the scheduler's count of those alive, until dropped.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Alive {
        count.fetch_add(1, Ordering::Relaxed);
        Alive(Arc::clone(count))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Warm {
    /// A new Faaslet of `function`, copy-on-write from its snapshot, counted in `alive`.
    fn spawn(function: &Function, alive: &Arc<AtomicUsize>) -> Result<Warm, String> {
        let snapshot = &function.snapshot;
        let mut store = Store::new(snapshot.module().engine());
        let mut linker = Linker::new();
        let (wasi, faasm) = link(&mut linker, &mut store);
        let faaslet = snapshot
            .spawn(&mut store, &linker)
            .map_err(|e| format!("cannot spawn a Faaslet: {e}"))?;
        Ok(Warm {
            store,
            faaslet,
            wasi,
            faasm,
            _alive: Alive::new(alive),
        })
    }
}

/// A registered function and its idle Faaslets.
pub(crate) struct FunctionEntry {
    pub(super) user: String,
    pub(super) name: String,
    pub(super) function: Function,
    idle: Mutex<Vec<Warm>>,
    /// The scheduler's count of Faaslets alive (running or idle, of every function).
    alive: Arc<AtomicUsize>,
}

impl FunctionEntry {
    pub(super) fn new(
        user: &str,
        name: &str,
        function: Function,
        alive: Arc<AtomicUsize>,
    ) -> FunctionEntry {
        FunctionEntry {
            user: user.to_string(),
            name: name.to_string(),
            function,
            idle: Mutex::default(),
            alive,
        }
    }

    /// An idle Faaslet, or a new one.
    pub(super) fn take(&self) -> Result<Warm, String> {
        if let Some(warm) = lock(&self.idle).pop() {
            return Ok(warm);
        }
        Warm::spawn(&self.function, &self.alive)
    }

    /// Keeps a Faaslet (already reset) for later calls, if fewer than `max` are idle.
    pub(super) fn give_back(&self, warm: Warm, max: usize) {
        let mut idle = lock(&self.idle);
        if idle.len() < max {
            idle.push(warm);
            return;
        }
        drop(idle);
        // Dropped outside the lock: its memory goes back to the engine's pool.
        drop(warm);
    }
}

impl fmt::Debug for FunctionEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionEntry")
            .field("user", &self.user)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
