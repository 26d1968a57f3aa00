//! The in-process scheduler: calls of registered functions run on Faaslets spawned from each
//! function's Proto-Faaslet and reset after every call, on a pool of worker threads; calls a
//! function chains are queued and can be awaited.
//!
//! ```no_run
//! use faasm::scheduler::{CallRequest, Function, Scheduler};
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
//! **Timeouts.** Every call has a wall-clock timeout (the request's, else the default): the
//! store's epoch deadline, so a runaway call ends with a timeout failure and the worker lives
//! on. Time spent awaiting counts against it. An await has its own timeout (the
//! configuration's), capped by the awaiting call's remaining time; when it passes, the awaiting
//! call gets 1 (the callee runs on, to its own timeout). A callee run inline by its awaiter
//! gets at most the await's remaining time.
//!
//! **State.** The scheduler is one host: it has one [`LocalTier`] (the configuration's, or one
//! over an embedded in-process global tier), and every call's state imports use it with the
//! called function's user, so functions of one user on this scheduler share each value's one
//! copy (mapped into each Faaslet's memory by `__faasm_read_state_ptr`), and no function names
//! another user's keys. When a call ends, the state locks it still holds are released and its
//! Faaslet's reset unmaps its state mappings.
//!
//! **Results.** A call's result is kept while any call of the same invocation tree (the
//! top-level call and everything chained from it, transitively) is queued or running, or its
//! [`CallHandle`] lives, so any of them can await any other by id; then it is dropped.

mod call;
mod function;
mod pool;

pub use function::{Function, FunctionSource};

use crate::scheduler::function::FunctionEntry;
use crate::scheduler::pool::Pool;
use faasm_hostcalls::CallId;
use faasm_hostcalls::faasm_state::{GlobalTier, LocalTier};
use faasm_runtime::{Engine, Trap, WasmBacktrace};
use faasm_snapshot::SnapshotError;
use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, Weak};
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
    /// over an embedded in-process global tier, [`LocalTier::in_process`]). Calls name keys of
    /// their function's user only.
    pub state: Option<Arc<LocalTier>>,
}

impl SchedulerConfig {
    /// Sets the state tier to a new local tier over `global`, the tier hosts synchronise
    /// through: for example Redis,
    /// `config.with_global_tier(Arc::new(faasm_state::RedisTier::new(url)?))`.
    pub fn with_global_tier(mut self, global: Arc<dyn GlobalTier>) -> SchedulerConfig {
        self.state = Some(Arc::new(LocalTier::new(global)));
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
    #[error("cannot prepare the Proto-Faaslet: {0}")]
    Prepare(#[from] SnapshotError),
    /// The scheduler is shutting down.
    #[error("the scheduler is shutting down")]
    ShutDown,
    /// A worker thread could not start.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
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
    calls: Mutex<HashMap<CallId, Arc<CallSlot>>>,
    next_id: AtomicU32,
    pool: Pool,
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
                .unwrap_or_else(|| Arc::new(LocalTier::in_process())),
            pool: Pool::new(config.workers, config.max_threads, stack_size),
            config,
            functions: RwLock::default(),
            source: RwLock::default(),
            calls: Mutex::default(),
            next_id: AtomicU32::new(1),
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
        let entry = Arc::new(FunctionEntry::new(user, name, function));
        write(&self.inner.functions).insert((user.to_string(), name.to_string()), entry);
    }

    /// Removes `user/name`; whether it was registered.
    pub fn unregister(&self, user: &str, name: &str) -> bool {
        write(&self.inner.functions)
            .remove(&(user.to_string(), name.to_string()))
            .is_some()
    }

    /// Where functions that are not registered are looked up (and then registered).
    pub fn set_source(&self, source: Arc<dyn FunctionSource>) {
        *write(&self.inner.source) = Some(source);
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
        let slot = self.inner.enqueue(entry, request, &tree)?;
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
        let entry = functions
            .entry(key)
            .or_insert_with(|| Arc::new(FunctionEntry::new(user, name, function)));
        Ok(Arc::clone(entry))
    }

    fn next_id(&self) -> CallId {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
            if id != 0 && !lock(&self.calls).contains_key(&id) {
                return id;
            }
        }
    }

    /// Records a call of `entry` in `tree` and queues it.
    fn enqueue(
        &self,
        entry: Arc<FunctionEntry>,
        request: CallRequest,
        tree: &Arc<Tree>,
    ) -> Result<Arc<CallSlot>, SchedulerError> {
        let id = self.next_id();
        let job = Job {
            entry,
            request,
            tree: Arc::clone(tree),
        };
        let slot = Arc::new(CallSlot::new(id, job));
        lock(&self.calls).insert(id, Arc::clone(&slot));
        lock(&tree.ids).push(id);
        if let Err(slot) = self.pool.push(Arc::clone(&slot)) {
            slot.take_queued();
            lock(&self.calls).remove(&id);
            return Err(SchedulerError::ShutDown);
        }
        Ok(slot)
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

    /// Waits for call `id` for at most `timeout`, from a call that holds a permit (see the
    /// module docs for how this avoids deadlocks).
    fn await_call(self: &Arc<Self>, id: CallId, timeout: Option<Duration>) -> Arc<CallResult> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let Some(slot) = lock(&self.calls).get(&id).cloned() else {
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

/// A queued call: what to run, and the tree it belongs to.
struct Job {
    entry: Arc<FunctionEntry>,
    request: CallRequest,
    tree: Arc<Tree>,
}

/// A call's place in the scheduler: its job until it starts, then its result.
pub(crate) struct CallSlot {
    id: CallId,
    state: Mutex<SlotState>,
    done: Condvar,
}

enum SlotState {
    Queued(Box<Job>),
    Running,
    Done(Arc<CallResult>),
}

impl CallSlot {
    fn new(id: CallId, job: Job) -> CallSlot {
        CallSlot {
            id,
            state: Mutex::new(SlotState::Queued(Box::new(job))),
            done: Condvar::new(),
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
        *lock(&self.state) = SlotState::Done(Arc::new(result));
        self.done.notify_all();
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
            state = match deadline {
                None => self
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    self.done
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The calls of one invocation: their results are dropped when nothing of it is left.
struct Tree {
    scheduler: Weak<Inner>,
    ids: Mutex<Vec<CallId>>,
}

impl Tree {
    fn new(inner: &Arc<Inner>) -> Arc<Tree> {
        Arc::new(Tree {
            scheduler: Arc::downgrade(inner),
            ids: Mutex::default(),
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

    #[test]
    fn a_scheduler_has_at_least_one_worker() {
        let scheduler = Scheduler::new(&Engine::default(), 0).unwrap();
        assert_eq!(scheduler.config().workers, 1);
        assert_eq!(scheduler.thread_count(), 1);
        assert!(scheduler.wait_idle(Some(Duration::from_secs(1))));
        assert!(format!("{scheduler:?}").contains("Scheduler"));
    }
}
