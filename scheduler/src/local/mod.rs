//! The in-process scheduler: calls of registered functions run on Faaslets spawned from each
//! function's Proto-Faaslet and reset after every call, on a pool of worker threads; calls a
//! function chains are queued and can be awaited.
//!
//! ```no_run
//! use faasm_scheduler::{CallRequest, Function, Scheduler};
//! use faasm_runtime::{Engine, Module};
//!
//! let engine = Engine::default();
//! let module = Module::new(&engine, &std::fs::read("echo.wasm")?)?;
//! let scheduler = Scheduler::new(&engine, 2)?;
//! scheduler.register("demo", "echo", Function::prepare(&module)?);
//! let result = scheduler.invoke("demo", "echo", CallRequest::with_input("hello"))?;
//! assert!(result.succeeded());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Workers and awaiting.** At most `workers` calls execute guest code at once: a thread runs
//! a call only while it holds one of `workers` *permits*. A call that awaits a chained call
//! never blocks while holding its permit, so a pool whose every call awaits cannot deadlock:
//!
//! 1. If the awaited call has not started yet, the awaiting thread takes it off the queue and
//!    runs it itself, nested in the await (its permit serves the callee; no thread hand-off,
//!    which also makes a chain + await round trip cheap). Nesting is bounded
//!    (`max_inline_depth`); worker threads get a stack big enough for it.
//! 2. Otherwise (the callee runs on another thread, or nesting is too deep) the awaiting call
//!    gives its permit back, and if calls are queued and no idle thread could take them, the
//!    pool starts a temporary thread (at most `max_threads` threads in all). When the callee
//!    ends, the awaiting call waits for a permit again (ahead of queued calls) and goes on.
//!    Temporary threads leave after a short idle time.
//!
//! A call that waits in a host call (a sleep, a read of a pipe, a state lock, a global-tier
//! request) gives its permit back the same way for the wait, through the blocking hook the
//! scheduler installs in its store (`LendPermit`): sleeping calls do not hold up queued ones.
//! A host call that does not wait (a read of a regular file, a free local lock) never touches
//! the pool.
//!
//! **Timeouts.** Every call has a wall-clock timeout (the request's, else the default): the
//! store's epoch deadline, so a runaway call ends with a timeout failure and the worker lives
//! on, and the deadline host calls wait by (`faasm_runtime::CallBounds`): a sleep, a read, a
//! state lock or a global-tier request ends at it with the same failure. Time spent awaiting
//! counts against it. An await has its own timeout (the
//! configuration's), capped by the awaiting call's remaining time; when it passes, the awaiting
//! call gets 1 (the callee runs on, to its own timeout). A callee run inline by its awaiter
//! gets at most the await's remaining time.
//!
//! **Limits.** A guest cannot make the host run or keep without bound ([`ChainLimits`],
//! per user: every user gets the same numbers). A call may chain calls only down to
//! `max_chain_depth` levels below its invocation's top-level call, at most
//! `max_chained_per_call` of them itself, while its invocation has made fewer than
//! `max_calls_per_invocation` calls and its user has fewer than `max_queued_per_user` chained
//! calls waiting to start on this scheduler, whose inputs hold at most
//! `max_queued_bytes_per_user` bytes with the new one's. A chain past a limit traps in the calling guest
//! (`env::__faasm_chain_name: max_chain_depth limit (64) reached: ...`); the invocation's
//! [`CallResult::limit`] repeats the first such message, so a fork bomb (a function that chains
//! itself twice and awaits both, for ever) ends with the limit named, at most
//! `max_calls_per_invocation` calls later. The state tier has its own bounds
//! ([`StateLimits`]: value size, keys and bytes per user, resident values).
//!
//! **State.** The scheduler is one host: it has one [`LocalTier`] (the configuration's, or one
//! over an embedded in-process global tier), and every call's state imports use it with the
//! called function's user, so functions of one user on this scheduler share each value's one
//! copy (mapped into each Faaslet's memory by `__faasm_read_state_ptr`), and no function names
//! another user's keys. When a call ends, the state locks it still holds are released and its
//! Faaslet's reset unmaps its state mappings.
//!
//! **Results and call ids.** A call's result is kept while any call of the same invocation
//! tree (the top-level call and everything chained from it, transitively; all of one user) is
//! queued or running, or its [`CallHandle`] lives, so any of them can await any other by id;
//! then it is dropped. A call can await only calls of its own tree: any other id (another
//! tree's, another user's, one never given out) gets the same answer along the same path, "no
//! call with id N" (the await returns 1, no output), so awaiting reveals nothing about other
//! tenants' calls and never runs them. Ids are random positive `i32`s (a keyed hash of a
//! counter, with a key from the OS's randomness per scheduler; unique among the calls kept),
//! not sequential numbers: one tree's ids say nothing about another's.

mod call;
mod function;
mod pool;
mod remote;

pub use faasm_hostcalls::faasm_state::StateLimits;
pub use function::{CallSetup, DEFAULT_INIT_TIMEOUT, Function, FunctionSource};
pub use remote::{ChainPlacement, SendCall};

use crate::local::function::FunctionEntry;
use crate::local::pool::Pool;
use faasm_hostcalls::CallId;
use faasm_hostcalls::faasm_state::{GlobalTier, InProcessTier, LocalTier};
use faasm_runtime::{Engine, Trap, WasmBacktrace};
use faasm_snapshot::SnapshotError;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a [`Scheduler`] runs calls.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Calls executing guest code at once (at least 1).
    pub workers: usize,
    /// Threads in all, temporary ones included (at least `workers`).
    pub max_threads: usize,
    /// Wall-clock limit of a call whose request gives none (`None`: no limit).
    pub default_timeout: Option<Duration>,
    /// How long `__faasm_await_call` waits (`None`: as long as the awaiting call may run).
    pub await_timeout: Option<Duration>,
    /// Whether an await runs a callee that has not started yet itself (see the module docs).
    pub inline_awaits: bool,
    /// How deeply awaits may nest callees run inline on one thread.
    pub max_inline_depth: u32,
    /// Idle Faaslets kept per function for later calls.
    pub max_idle_faaslets: usize,
    /// Bytes of stdout (and of stderr) a call may write; writes past it fail with `ENOSPC`.
    pub max_captured_stdio: usize,
    /// Whether calls' stdout and stderr also go to the process's (a CLI's `invoke`).
    pub echo_stdio: bool,
    /// What `__faasm_conf_flag` reads (unset flags read as 0).
    pub conf_flags: HashMap<String, i32>,
    /// The host's local state tier, shared by every call of the scheduler (`None`: a new one
    /// over an embedded in-process global tier, both bounded by `state_limits`: the global
    /// tier holds at most `max_bytes_per_user` per user too). Calls name keys of their
    /// function's user only.
    pub state: Option<Arc<LocalTier>>,
    /// The bounds of the state tier the scheduler makes (when `state` is `None`, and in
    /// [`SchedulerConfig::with_global_tier`]); a tier given in `state` has its own.
    pub state_limits: StateLimits,
    /// How much one user's calls may chain (see the module docs).
    pub chain_limits: ChainLimits,
}

/// Bounds of chaining, per user (see the module docs). Each one ends the chaining call with a
/// trap that names it and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLimits {
    /// Levels of chained calls below an invocation's top-level call (which is at depth 0).
    /// Default 64.
    pub max_chain_depth: u32,
    /// Calls one call may chain (its fan-out). Default 4096.
    pub max_chained_per_call: u32,
    /// Calls of one invocation tree in all, its top-level call included. Default 10 000.
    pub max_calls_per_invocation: usize,
    /// Chained calls of one user queued and not started yet on this scheduler. Default 10 000.
    pub max_queued_per_user: usize,
    /// Bytes of the inputs of those calls (each input is a copy of guest memory). Default
    /// 1 GiB.
    pub max_queued_bytes_per_user: usize,
}

impl Default for ChainLimits {
    fn default() -> Self {
        ChainLimits {
            max_chain_depth: 64,
            max_chained_per_call: 4096,
            max_calls_per_invocation: 10_000,
            max_queued_per_user: 10_000,
            max_queued_bytes_per_user: 1 << 30,
        }
    }
}

impl SchedulerConfig {
    /// Sets the state tier to a new local tier over `global`, the tier hosts synchronise
    /// through: for example Redis,
    /// `config.with_global_tier(Arc::new(faasm_state::RedisTier::new(url)?))`.
    pub fn with_global_tier(mut self, global: Arc<dyn GlobalTier>) -> SchedulerConfig {
        self.state = Some(Arc::new(
            LocalTier::new(global).with_limits(self.state_limits),
        ));
        self
    }

    /// Sets the state tier (one per host: share it between schedulers of one host).
    pub fn with_state(mut self, state: Arc<LocalTier>) -> SchedulerConfig {
        self.state = Some(state);
        self
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            workers: 2,
            max_threads: 1024,
            default_timeout: Some(Duration::from_secs(60)),
            await_timeout: Some(Duration::from_secs(60)),
            inline_awaits: true,
            max_inline_depth: 4,
            max_idle_faaslets: 64,
            max_captured_stdio: 16 << 20,
            echo_stdio: false,
            conf_flags: HashMap::new(),
            state: None,
            state_limits: StateLimits::default(),
            chain_limits: ChainLimits::default(),
        }
    }
}

/// A call to make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// What `__faasm_read_input` reads.
    pub input: Vec<u8>,
    /// The guest's arguments after `argv[0]` (the function's name), split at whitespace.
    pub cmdline: String,
    /// Function-table index to enter at; 0 (or less) runs `_start`.
    pub func_ptr: i32,
    /// The Python function a call of a Python function runs (`__faasm_get_py_entry`); empty
    /// for its main entry.
    pub py_entry: String,
    /// Wall-clock limit of this call (`None`: the scheduler's default).
    pub timeout: Option<Duration>,
}

impl CallRequest {
    /// A request of `_start` with `input`.
    pub fn with_input(input: impl Into<Vec<u8>>) -> CallRequest {
        CallRequest {
            input: input.into(),
            ..CallRequest::default()
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The call ran past its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The guest trapped (a host call's trap included).
    #[error("trapped: {trap}")]
    Trap {
        /// The trap.
        trap: Trap,
        /// The Wasm frames at the trap, innermost first.
        backtrace: Option<WasmBacktrace>,
    },
    /// The entry function returned a non-zero value.
    #[error("returned {0}")]
    NonZero(i32),
    /// The guest called `proc_exit` with a non-zero code.
    #[error("exited with code {0}")]
    Exit(i32),
    /// The call ran on another host and did not answer there (a trap, a timeout, a call that
    /// could not start), as that host told it.
    #[error("on host {host}: {message}")]
    Remote {
        /// The host that ran it.
        host: String,
        /// What happened there.
        message: String,
        /// Whether it was a timeout.
        timed_out: bool,
    },
    /// The call could not start: no Faaslet, no entry function, bad input for it, shut down.
    #[error("could not start: {0}")]
    Setup(String),
    /// (Only as an awaiting call sees it.) The await gave up after this long; the callee may
    /// still be running.
    #[error("await timed out after {0:?}")]
    AwaitTimeout(Duration),
}

/// What a call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallResult {
    /// The call's id.
    pub id: CallId,
    /// The entry's `i32` result or `proc_exit` code (0 for a function without result); 1 when
    /// the call trapped, timed out or could not start.
    pub return_value: i32,
    /// What the call set with `__faasm_write_output`.
    pub output: Vec<u8>,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Why it failed, if it did (a non-zero return value is a failure).
    pub failure: Option<Failure>,
    /// How long it ran (from leaving the queue to its end).
    pub duration: Duration,
    /// The first limit a call of its invocation tree ran into by the time it ended (see
    /// [`ChainLimits`]), as the trap of that call said it.
    pub limit: Option<String>,
}

impl CallResult {
    /// Whether the call returned 0.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// A call that did not start.
    fn not_started(id: CallId, reason: impl Into<String>) -> CallResult {
        CallResult {
            id,
            return_value: 1,
            failure: Some(Failure::Setup(reason.into())),
            ..CallResult::default()
        }
    }
}

/// Why the scheduler could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// No function of that name is registered (nor could the source load it).
    #[error("no function {user}/{function}")]
    UnknownFunction {
        /// The user.
        user: String,
        /// The function.
        function: String,
    },
    /// The function source failed to load a function.
    #[error("cannot load function {user}/{function}: {reason}")]
    Load {
        /// The user.
        user: String,
        /// The function.
        function: String,
        /// What went wrong.
        reason: String,
    },
    /// A module imports what the host interface does not provide.
    #[error("missing imports: {}", .0.join(", "))]
    MissingImports(Vec<String>),
    /// Initialising the module for its Proto-Faaslet failed.
    #[error("cannot prepare the Proto-Faaslet: {source}{}", stderr_suffix(stderr))]
    Prepare {
        /// Why.
        source: SnapshotError,
        /// What the initialisation wrote to stderr (a Python traceback, for example).
        stderr: String,
    },
    /// The WASI context a Proto-Faaslet's initialisation sees could not be made (a preopened
    /// directory that cannot be opened, for example).
    #[error("cannot set up the Proto-Faaslet's WASI: {0}")]
    PrepareWasi(String),
    /// The scheduler is shutting down.
    #[error("the scheduler is shutting down")]
    ShutDown,
    /// A worker thread could not start.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// `":\n"` and what a failed initialisation wrote to stderr, trimmed; empty if it wrote nothing.
pub(crate) fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr:\n{stderr}")
    }
}

/// Runs calls of registered functions on a pool of worker threads. Dropping it stops the
/// workers once their calls end; calls still queued then fail.
pub struct Scheduler {
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
}

/// What workers and calls share.
pub(crate) struct Inner {
    engine: Engine,
    config: SchedulerConfig,
    conf_flags: Arc<HashMap<String, i32>>,
    state: Arc<LocalTier>,
    functions: RwLock<HashMap<(String, String), Arc<FunctionEntry>>>,
    source: RwLock<Option<Arc<dyn FunctionSource>>>,
    /// Where chained calls may go besides this scheduler's workers.
    placement: RwLock<Option<Arc<dyn ChainPlacement>>>,
    calls: Mutex<HashMap<CallId, Arc<CallSlot>>>,
    ids: CallIds,
    /// Chained calls queued and not started, and the bytes of their inputs, per user.
    queued: Mutex<HashMap<String, (usize, usize)>>,
    /// Faaslets alive, running or idle.
    faaslets: Arc<AtomicUsize>,
    pool: Pool,
}

/// A chained call counted as queued for its user until it starts (or is dropped unstarted).
pub(crate) struct QueuedCall {
    scheduler: Weak<Inner>,
    user: String,
    input_bytes: usize,
}

impl Drop for QueuedCall {
    fn drop(&mut self) {
        if let Some(inner) = self.scheduler.upgrade() {
            let mut queued = lock(&inner.queued);
            if let Some((calls, bytes)) = queued.get_mut(&self.user) {
                *calls -= 1;
                *bytes -= self.input_bytes;
                if *calls == 0 {
                    queued.remove(&self.user);
                }
            }
        }
    }
}

/// Where call ids come from: a keyed hash (the key is random, from the OS, per scheduler) of a
/// counter, so ids are unpredictable to guests, who only see their own.
struct CallIds {
    key: RandomState,
    counter: AtomicU64,
    /// Numbers the invocation trees (an id's tree is checked at every await).
    trees: AtomicU64,
}

impl CallIds {
    fn new() -> CallIds {
        CallIds {
            key: RandomState::new(),
            counter: AtomicU64::new(0),
            trees: AtomicU64::new(0),
        }
    }

    /// A candidate id: a positive `i32` (non-zero), unpredictable without the key.
    fn candidate(&self) -> CallId {
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let id = (self.key.hash_one(n) as u32) & 0x7fff_ffff;
            if id != 0 {
                return id;
            }
        }
    }

    fn next_tree(&self) -> u64 {
        self.trees.fetch_add(1, Ordering::Relaxed)
    }
}

impl Scheduler {
    /// A scheduler with `workers` workers and the default configuration otherwise.
    pub fn new(engine: &Engine, workers: usize) -> Result<Scheduler, SchedulerError> {
        Scheduler::with_config(
            engine,
            SchedulerConfig {
                workers,
                ..SchedulerConfig::default()
            },
        )
    }

    /// A scheduler with `config`; starts its workers.
    pub fn with_config(
        engine: &Engine,
        mut config: SchedulerConfig,
    ) -> Result<Scheduler, SchedulerError> {
        config.workers = config.workers.max(1);
        config.max_threads = config.max_threads.max(config.workers);
        let stack_size = pool::worker_stack_size(engine, config.max_inline_depth);
        let inner = Arc::new(Inner {
            engine: engine.clone(),
            conf_flags: Arc::new(config.conf_flags.clone()),
            state: config
                .state
                .clone()
                .unwrap_or_else(|| Arc::new(in_process_state(config.state_limits))),
            pool: Pool::new(config.workers, config.max_threads, stack_size),
            config,
            functions: RwLock::default(),
            source: RwLock::default(),
            placement: RwLock::default(),
            calls: Mutex::default(),
            ids: CallIds::new(),
            queued: Mutex::default(),
            faaslets: Arc::default(),
        });
        let mut scheduler = Scheduler {
            inner,
            workers: Vec::new(),
        };
        for _ in 0..scheduler.inner.config.workers {
            let handle =
                pool::start_worker(&scheduler.inner, false).map_err(SchedulerError::Thread)?;
            scheduler.workers.push(handle);
        }
        Ok(scheduler)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// The host's local state tier, which every call's state imports use (its values, locks
    /// and transfer counters).
    pub fn state(&self) -> &Arc<LocalTier> {
        &self.inner.state
    }

    /// Registers `function` as `user/name`, replacing an earlier one (calls already queued
    /// keep the old one).
    pub fn register(&self, user: &str, name: &str, function: Function) {
        let entry = Arc::new(FunctionEntry::new(
            user,
            name,
            function,
            Arc::clone(&self.inner.faaslets),
        ));
        write(&self.inner.functions).insert((user.to_string(), name.to_string()), entry);
    }

    /// Removes `user/name`; whether it was registered.
    pub fn unregister(&self, user: &str, name: &str) -> bool {
        write(&self.inner.functions)
            .remove(&(user.to_string(), name.to_string()))
            .is_some()
    }

    /// Whether `user/name` is registered (loaded, its Proto-Faaslet in memory).
    pub fn is_registered(&self, user: &str, name: &str) -> bool {
        read(&self.inner.functions).contains_key(&(user.to_string(), name.to_string()))
    }

    /// Where functions that are not registered are looked up (and then registered).
    pub fn set_source(&self, source: Arc<dyn FunctionSource>) {
        *write(&self.inner.source) = Some(source);
    }

    /// Where guests' chained calls may go besides this scheduler's workers (another host).
    pub fn set_chain_placement(&self, placement: Arc<dyn ChainPlacement>) {
        *write(&self.inner.placement) = Some(placement);
    }

    /// Calls running or waiting for a worker (chained ones included): a host's load.
    pub fn load(&self) -> usize {
        self.inner.pool.load()
    }

    /// Queues a call of `user/name`; the handle waits for its result.
    pub fn submit(
        &self,
        user: &str,
        name: &str,
        request: CallRequest,
    ) -> Result<CallHandle, SchedulerError> {
        let entry = self.inner.function(user, name)?;
        let tree = Tree::new(&self.inner);
        let slot = self.inner.enqueue(entry, request, &tree, 0, None)?;
        Ok(CallHandle { slot, _tree: tree })
    }

    /// Calls `user/name` and waits for the result. Failures of the call itself (traps,
    /// timeouts, non-zero returns) are in the result; errors are for calls that could not be
    /// queued.
    pub fn invoke(
        &self,
        user: &str,
        name: &str,
        request: CallRequest,
    ) -> Result<CallResult, SchedulerError> {
        Ok(self.submit(user, name, request)?.wait())
    }

    /// Waits until no call is queued, running or awaiting (chained calls nobody awaits
    /// included), or `timeout` passes; whether that happened.
    pub fn wait_idle(&self, timeout: Option<Duration>) -> bool {
        self.inner.pool.wait_idle(timeout)
    }

    /// Threads the pool has now (workers and temporary threads).
    pub fn thread_count(&self) -> usize {
        self.inner.pool.thread_count()
    }

    /// The most threads the pool has had at once.
    pub fn peak_thread_count(&self) -> usize {
        self.inner.pool.peak_thread_count()
    }

    /// Faaslets alive now: running a call, or idle and kept for the next.
    pub fn faaslets_alive(&self) -> usize {
        self.inner.faaslets.load(Ordering::Relaxed)
    }

    /// Results currently kept (of calls whose invocation tree is alive).
    pub fn tracked_calls(&self) -> usize {
        lock(&self.inner.calls).len()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let cancelled = self.inner.pool.shut_down();
        for slot in cancelled {
            if slot.take_queued().is_some() {
                slot.finish(CallResult::not_started(slot.id, "the scheduler shut down"));
            }
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.inner.config)
            .field("functions", &read(&self.inner.functions).len())
            .field("threads", &self.thread_count())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The entry of `user/name`, from the registry or the source.
    fn function(&self, user: &str, name: &str) -> Result<Arc<FunctionEntry>, SchedulerError> {
        let key = (user.to_string(), name.to_string());
        if let Some(entry) = read(&self.functions).get(&key) {
            return Ok(Arc::clone(entry));
        }
        let unknown = || SchedulerError::UnknownFunction {
            user: user.to_string(),
            function: name.to_string(),
        };
        let source = read(&self.source).clone().ok_or_else(unknown)?;
        let function = source
            .load(user, name)
            .map_err(|reason| SchedulerError::Load {
                user: user.to_string(),
                function: name.to_string(),
                reason,
            })?
            .ok_or_else(unknown)?;
        let mut functions = write(&self.functions);
        let entry = functions.entry(key).or_insert_with(|| {
            Arc::new(FunctionEntry::new(
                user,
                name,
                function,
                Arc::clone(&self.faaslets),
            ))
        });
        Ok(Arc::clone(entry))
    }

    /// Counts a chained call of `user` with `input_bytes` of input as queued, unless the
    /// user's queued calls are at their limits.
    fn reserve_queued(
        self: &Arc<Self>,
        user: &str,
        input_bytes: usize,
    ) -> Result<QueuedCall, String> {
        let limits = &self.config.chain_limits;
        let mut queued = lock(&self.queued);
        let (calls, bytes) = queued.entry(user.to_string()).or_default();
        if *calls >= limits.max_queued_per_user {
            return Err(limit_reached(
                "max_queued_per_user",
                limits.max_queued_per_user,
                format!("user {user} has {calls} chained calls waiting to start"),
            ));
        }
        if bytes.saturating_add(input_bytes) > limits.max_queued_bytes_per_user {
            return Err(limit_reached(
                "max_queued_bytes_per_user",
                limits.max_queued_bytes_per_user,
                format!(
                    "the inputs of user {user}'s chained calls waiting to start hold {bytes} \
                     bytes, and this one has {input_bytes}"
                ),
            ));
        }
        *calls += 1;
        *bytes += input_bytes;
        Ok(QueuedCall {
            scheduler: Arc::downgrade(self),
            user: user.to_string(),
            input_bytes,
        })
    }

    /// Records a call of `entry` at `depth` in `tree` and queues it.
    fn enqueue(
        self: &Arc<Self>,
        entry: Arc<FunctionEntry>,
        request: CallRequest,
        tree: &Arc<Tree>,
        depth: u32,
        queued: Option<QueuedCall>,
    ) -> Result<Arc<CallSlot>, SchedulerError> {
        let job = Job {
            entry,
            request,
            tree: Arc::clone(tree),
            depth,
            _queued: queued,
        };
        let slot = self.record(tree, |id| CallSlot::new(id, tree.id, job));
        let id = slot.id;
        if let Err(slot) = self.pool.push(self, Arc::clone(&slot)) {
            slot.take_queued();
            lock(&self.calls).remove(&id);
            return Err(SchedulerError::ShutDown);
        }
        Ok(slot)
    }

    /// Records the slot `make` builds for a call of `tree` under a new id: unique among the
    /// ids kept (the map is locked from the check to the insert).
    fn record(&self, tree: &Tree, make: impl FnOnce(CallId) -> CallSlot) -> Arc<CallSlot> {
        let slot = {
            let mut calls = lock(&self.calls);
            let id = loop {
                let id = self.ids.candidate();
                if !calls.contains_key(&id) {
                    break id;
                }
            };
            let slot = Arc::new(make(id));
            calls.insert(id, Arc::clone(&slot));
            slot
        };
        lock(&tree.ids).push(slot.id);
        slot
    }

    /// The sender of a chained call of `user/function` if the placement sends it elsewhere.
    fn elsewhere(&self, user: &str, function: &str) -> Option<Box<dyn SendCall>> {
        let placement = read(&self.placement).clone()?;
        placement.elsewhere(user, function)
    }

    /// Records a chained call of `tree` that `sender` runs elsewhere; its slot ends when
    /// the result comes back.
    fn send_elsewhere(
        &self,
        sender: Box<dyn SendCall>,
        request: CallRequest,
        tree: &Arc<Tree>,
    ) -> Arc<CallSlot> {
        let slot = self.record(tree, |id| CallSlot::elsewhere(id, tree.id));
        let ends = Arc::clone(&slot);
        sender.send(
            request,
            Box::new(move |mut result| {
                result.id = ends.id;
                ends.finish(result);
            }),
        );
        slot
    }

    /// Runs the call of `slot` on this thread, if it has not started yet, and publishes its
    /// result.
    fn run_slot(self: &Arc<Self>, slot: &CallSlot, cap: Option<Instant>) {
        if let Some(job) = slot.take_queued() {
            let run = AssertUnwindSafe(|| call::execute(self, slot.id, *job, cap));
            // A panic is a bug of the host; the call fails rather than never ending.
            let result = catch_unwind(run).unwrap_or_else(|_| {
                CallResult::not_started(slot.id, "the host panicked while running the call")
            });
            slot.finish(result);
        }
    }

    /// Waits for call `id` of tree `tree` for at most `timeout`, from a call of that tree that
    /// holds a permit (see the module docs for how this avoids deadlocks). A call of another
    /// tree is answered as an unknown id is, along the same path.
    fn await_call(
        self: &Arc<Self>,
        tree: u64,
        id: CallId,
        timeout: Option<Duration>,
    ) -> Arc<CallResult> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let found = lock(&self.calls)
            .get(&id)
            .filter(|slot| slot.tree == tree)
            .cloned();
        let Some(slot) = found else {
            return Arc::new(CallResult::not_started(id, format!("no call with id {id}")));
        };
        if let Some(result) = slot.result() {
            return result;
        }
        if self.config.inline_awaits && call::inline_depth() < self.config.max_inline_depth {
            self.run_slot(&slot, deadline);
            if let Some(result) = slot.result() {
                return result;
            }
        }
        self.pool.release_permit(self);
        let result = slot.wait(deadline);
        self.pool.acquire_permit();
        result.unwrap_or_else(|| {
            let waited = timeout.unwrap_or_default();
            Arc::new(CallResult {
                id,
                return_value: 1,
                failure: Some(Failure::AwaitTimeout(waited)),
                ..CallResult::default()
            })
        })
    }
}

/// A local tier over an in-process global tier of its own, both bounded by `limits` (the
/// global tier's memory is this process's: it holds at most `max_bytes_per_user` per user).
fn in_process_state(limits: StateLimits) -> LocalTier {
    let global = InProcessTier::new().with_max_bytes_per_user(limits.max_bytes_per_user);
    LocalTier::new(Arc::new(global)).with_limits(limits)
}

/// The message of a limit a call ran into.
fn limit_reached(limit: &str, max: impl fmt::Display, detail: String) -> String {
    format!("{limit} limit ({max}) reached: {detail}")
}

/// A queued call: what to run, the tree it belongs to and its depth there.
struct Job {
    entry: Arc<FunctionEntry>,
    request: CallRequest,
    tree: Arc<Tree>,
    depth: u32,
    /// Counts the call as queued until the job is taken apart (it starts) or dropped.
    _queued: Option<QueuedCall>,
}

/// A call's place in the scheduler: its job until it starts, then its result.
pub(crate) struct CallSlot {
    id: CallId,
    /// The invocation tree the call belongs to (see [`Tree::id`]).
    tree: u64,
    state: Mutex<SlotState>,
    done: Condvar,
    /// Threads waiting on `done`, counted under `state`'s lock: a call nobody awaits ends
    /// without a wake-up call to the kernel.
    waiters: AtomicUsize,
    /// Run with the result when the call ends (see [`CallHandle::on_done`]). Locked after
    /// `state`, never before.
    on_done: Mutex<Vec<DoneCallback>>,
}

/// What [`CallHandle::on_done`] runs.
type DoneCallback = Box<dyn FnOnce(Arc<CallResult>) + Send>;

enum SlotState {
    Queued(Box<Job>),
    Running,
    Done(Arc<CallResult>),
}

impl CallSlot {
    /// The slot of a call running elsewhere (see [`ChainPlacement`]).
    fn elsewhere(id: CallId, tree: u64) -> CallSlot {
        CallSlot {
            id,
            tree,
            state: Mutex::new(SlotState::Running),
            done: Condvar::new(),
            waiters: AtomicUsize::new(0),
            on_done: Mutex::default(),
        }
    }

    fn new(id: CallId, tree: u64, job: Job) -> CallSlot {
        CallSlot {
            id,
            tree,
            state: Mutex::new(SlotState::Queued(Box::new(job))),
            done: Condvar::new(),
            waiters: AtomicUsize::new(0),
            on_done: Mutex::default(),
        }
    }

    /// The job, if the call has not started: it is now running.
    fn take_queued(&self) -> Option<Box<Job>> {
        let mut state = lock(&self.state);
        if !matches!(*state, SlotState::Queued(_)) {
            return None;
        }
        match std::mem::replace(&mut *state, SlotState::Running) {
            SlotState::Queued(job) => Some(job),
            _ => None,
        }
    }

    fn finish(&self, result: CallResult) {
        let result = Arc::new(result);
        let (callbacks, waiters) = {
            let mut state = lock(&self.state);
            *state = SlotState::Done(Arc::clone(&result));
            let waiters = self.waiters.load(Ordering::Relaxed);
            (std::mem::take(&mut *lock(&self.on_done)), waiters)
        };
        if waiters > 0 {
            self.done.notify_all();
        }
        for callback in callbacks {
            callback(Arc::clone(&result));
        }
    }

    /// Runs `callback` with the result when the call ends (at once if it has).
    fn when_done(&self, callback: DoneCallback) {
        let state = lock(&self.state);
        if let SlotState::Done(result) = &*state {
            let result = Arc::clone(result);
            drop(state);
            callback(result);
        } else {
            lock(&self.on_done).push(callback);
        }
    }

    fn result(&self) -> Option<Arc<CallResult>> {
        match &*lock(&self.state) {
            SlotState::Done(result) => Some(Arc::clone(result)),
            _ => None,
        }
    }

    /// Waits until the call ends or `deadline` passes.
    fn wait(&self, deadline: Option<Instant>) -> Option<Arc<CallResult>> {
        let mut state = lock(&self.state);
        loop {
            if let SlotState::Done(result) = &*state {
                return Some(Arc::clone(result));
            }
            let left = match deadline {
                None => None,
                Some(deadline) => Some(deadline.checked_duration_since(Instant::now())?),
            };
            // Counted and uncounted under the lock `finish` reads the count under.
            self.waiters.fetch_add(1, Ordering::Relaxed);
            state = match left {
                None => self
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.done
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The calls of one invocation: their results are dropped when nothing of it is left.
struct Tree {
    /// The tree's number in its scheduler: the calls of a tree may await one another only.
    id: u64,
    scheduler: Weak<Inner>,
    ids: Mutex<Vec<CallId>>,
    /// Calls made in the tree so far (the top-level call, and those chained: counted when
    /// they pass the limits).
    calls: AtomicUsize,
    /// The first limit a call of the tree ran into.
    limit: OnceLock<String>,
}

impl Tree {
    fn new(inner: &Arc<Inner>) -> Arc<Tree> {
        Arc::new(Tree {
            id: inner.ids.next_tree(),
            scheduler: Arc::downgrade(inner),
            ids: Mutex::default(),
            calls: AtomicUsize::new(1),
            limit: OnceLock::new(),
        })
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(inner) = self.scheduler.upgrade() {
            let ids = std::mem::take(&mut *lock(&self.ids));
            let mut calls = lock(&inner.calls);
            for id in ids {
                calls.remove(&id);
            }
        }
    }
}

/// A submitted call.
pub struct CallHandle {
    slot: Arc<CallSlot>,
    _tree: Arc<Tree>,
}

impl CallHandle {
    /// The call's id.
    pub fn id(&self) -> CallId {
        self.slot.id
    }

    /// Waits for the call's result.
    pub fn wait(self) -> CallResult {
        let result = self.slot.wait(None).unwrap_or_default();
        Arc::unwrap_or_clone(result)
    }

    /// Runs `callback` with the result when the call ends, on the thread that ends it (at once,
    /// on this thread, if it has ended): for callers that must not block a thread waiting,
    /// such as an async server, which sends the result over a channel. `callback` must be
    /// short: it holds the thread that ended the call (a worker, with its permit) while it
    /// runs, and may run on the caller's own thread (an async one must not block at all).
    pub fn on_done(self, callback: impl FnOnce(CallResult) + Send + 'static) {
        let CallHandle { slot, _tree: tree } = self;
        slot.when_done(Box::new(move |result| {
            // The tree (and with it the call's result) lives until the callback has run.
            let _tree = tree;
            callback(Arc::unwrap_or_clone(result));
        }));
    }

    /// Waits at most `timeout`; `None` if the call has not ended by then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<CallResult> {
        self.slot
            .wait(Instant::now().checked_add(timeout))
            .map(Arc::unwrap_or_clone)
    }
}

impl fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHandle")
            .field("id", &self.slot.id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_why() {
        let reasons = [
            (
                Failure::Timeout(Duration::from_millis(5)),
                "timed out after 5ms",
            ),
            (Failure::NonZero(3), "returned 3"),
            (Failure::Exit(2), "exited with code 2"),
            (
                Failure::Setup("no `_start`".into()),
                "could not start: no `_start`",
            ),
            (
                Failure::AwaitTimeout(Duration::from_secs(1)),
                "await timed out after 1s",
            ),
            (
                Failure::Trap {
                    trap: Trap::Host("boom".into()),
                    backtrace: None,
                },
                "trapped: host function failed: boom",
            ),
        ];
        for (failure, reason) in reasons {
            assert_eq!(failure.to_string(), reason);
        }
    }

    #[test]
    fn results_of_calls_that_did_not_start() {
        let result = CallResult::not_started(9, "gone");
        assert_eq!(result.id, 9);
        assert_eq!(result.return_value, 1);
        assert!(!result.succeeded());
        assert!(CallResult::default().succeeded());
    }

    #[test]
    fn worker_stacks_fit_the_nested_calls() {
        let engine = Engine::default();
        let wasm_stack = engine.config().max_wasm_stack;
        assert!(pool::worker_stack_size(&engine, 0) > wasm_stack);
        assert!(pool::worker_stack_size(&engine, 4) > 5 * wasm_stack);
        // Absurd depths are capped.
        assert_eq!(
            pool::worker_stack_size(&engine, u32::MAX),
            pool::worker_stack_size(&engine, 64)
        );
    }

    /// The scheduling policies of this process's threads named `faasm-worker`.
    fn worker_policies() -> Vec<u32> {
        let mut policies = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if comm.trim() != "faasm-worker" {
                continue;
            }
            // Field 41 of `stat`; the fields after the command name start at field 3.
            if let Some(policy) = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().nth(41 - 3))
                .and_then(|field| field.parse().ok())
            {
                policies.push(policy);
            }
        }
        policies
    }

    #[test]
    fn worker_threads_run_in_the_batch_policy() {
        const SCHED_BATCH: u32 = 3;
        let _scheduler = Scheduler::new(&Engine::default(), 2).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let policies = worker_policies();
            if policies.contains(&SCHED_BATCH) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no worker in SCHED_BATCH: {policies:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_scheduler_has_at_least_one_worker() {
        let scheduler = Scheduler::new(&Engine::default(), 0).unwrap();
        assert_eq!(scheduler.config().workers, 1);
        assert_eq!(scheduler.thread_count(), 1);
        assert!(scheduler.wait_idle(Some(Duration::from_secs(1))));
        assert!(format!("{scheduler:?}").contains("Scheduler"));
    }
}
