//! The host behind the HTTP API, with no HTTP in it: the function store (and its shared
//! files), the scheduler that runs calls of its functions, admission (at most `max_in_flight` calls at once), the calls
//! made with `async` and their results, and the metrics of all of it. Every method blocks
//! (compiling, loading, running): the handlers call them on tokio's blocking threads.

use crate::call_times::CallTimes;
use crate::cluster::ClusterConfig;
use crate::metrics::{CallOutcome, Metrics, Readings};
use crate::outbox::Outbox;
use faasm_cluster::calls::{Outgoing, RemoteResult};
use faasm_cluster::{ClusterNode, HostId, HostInfo};
use faasm_hostcalls::faasm_state::{StateError, StateKey};
use faasm_runtime::Engine;
use faasm_scheduler::functions::{self, StoreSource};
use faasm_scheduler::modules::Log;
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::shared_files::{SharedFileError, SharedFilePath};
use faasm_scheduler::store::BadFunctionId;
use faasm_scheduler::{
    CallHandle, CallRequest, CallResult, ChainLimits, Failure, FunctionId, FunctionStore,
    Scheduler, SchedulerConfig, SchedulerError, StateLimits,
    global_state::{self, GlobalTierLocation},
};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Results of finished asynchronous calls kept for polling; the oldest go first.
const MAX_KEPT_RESULTS: usize = 10_000;

/// How a host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Calls executing guest code at once.
    pub workers: usize,
    /// Calls admitted at once (running or queued); one more is refused as "host full".
    pub max_in_flight: usize,
    /// Wall-clock limit of a call.
    pub call_timeout: Duration,
    /// Time a module's initialisation may take when it is uploaded.
    pub init_timeout: Duration,
    /// Per-user bounds of chaining.
    pub chain_limits: ChainLimits,
    /// Per-user bounds of state.
    pub state_limits: StateLimits,
    /// The cluster to share functions with and fetch them from (`None`: this host alone).
    pub cluster: Option<ClusterConfig>,
    /// The CPython that runs Python functions (`None`: the host runs none).
    pub python: Option<Arc<PythonRuntime>>,
}

/// Why the host did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A user or function name that is not allowed.
    #[error("{0}")]
    BadName(#[from] BadFunctionId),
    /// No such function in the store.
    #[error("no function {0}")]
    UnknownFunction(FunctionId),
    /// No planner batch with this app id is known.
    #[error("no app with id {0}")]
    UnknownApp(i32),
    /// No call with this id is known (never made, or its result was dropped).
    #[error("no call with id {0}")]
    UnknownCall(u64),
    /// As many calls as allowed are in flight.
    #[error("the host is full: {limit} calls in flight (max_in_flight); try again later")]
    Full {
        /// The limit.
        limit: usize,
    },
    /// The module could not be uploaded (not Wasm, invalid, imports missing, initialisation
    /// failed): the client's fault.
    #[error("{0}")]
    BadModule(faasm_scheduler::Error),
    /// The store or the scheduler failed.
    #[error("{0}")]
    Internal(String),
    /// A state request failed.
    #[error("state: {0}")]
    State(#[from] StateError),
    /// A shared file request failed.
    #[error("{0}")]
    File(#[from] SharedFileError),
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The cluster could not take or answer a call sent to another host.
    #[error("{0}")]
    Cluster(String),
    /// The host does not do what was asked (Python functions without a Python runtime, for
    /// example).
    #[error("{0}")]
    NotSupported(String),
}

/// One host: store, scheduler, admission, asynchronous calls and metrics.
#[derive(Debug)]
pub struct Host {
    engine: Engine,
    store: FunctionStore,
    scheduler: Scheduler,
    config: HostConfig,
    in_flight: Arc<AtomicUsize>,
    calls: Mutex<AsyncCalls>,
    idle: Condvar,
    known: Mutex<HashSet<FunctionId>>,
    batches: Mutex<Batches>,
    metrics: Metrics,
    /// The host's side of its cluster (`--cluster`).
    cluster: Option<Arc<ClusterNode>>,
    /// The calls sent to other hosts and awaited (none outside a cluster).
    outbox: Arc<Outbox>,
    /// The live hosts as last read, and when (see [`Host::hosts_view`]).
    hosts_view: Mutex<Option<(Instant, Arc<Vec<HostInfo>>)>>,
    /// How long calls run here, for placement.
    call_times: CallTimes,
}

/// How long a view of the cluster's hosts is used for placing calls before it is read again.
pub const HOSTS_VIEW_TTL: Duration = Duration::from_millis(50);

/// What sending a call to another host costs its caller, about: the call's trip through Redis
/// and back, and the two hosts' threads that hand it on (measured by the `cluster` bench:
/// 0.5 ms on loopback). A call that would start here sooner than that stays here.
pub const FORWARD_COST: Duration = Duration::from_millis(1);

/// Call ids from this number up name calls sent to other hosts of the cluster (the cluster's
/// id plus this); ids below it are this host's own.
pub const REMOTE_CALL_IDS: u64 = 1 << 32;

/// The id clients see for cluster call `id`.
pub fn remote_call_id(id: u64) -> u64 {
    id.saturating_add(REMOTE_CALL_IDS)
}

/// Where a call runs (see [`Host::place`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this host.
    Here,
    /// On another host of the cluster, through its stream of calls.
    There(HostId),
}

/// The batches of Faasm's planner API: app id → each message and its call id (bounded).
#[derive(Debug, Default)]
struct Batches {
    apps: HashMap<i32, Vec<TrackedMessage>>,
    order: VecDeque<i32>,
    next: i32,
}

/// A message of a batch: its call and its fields.
type TrackedMessage = (BatchCall, Map<String, Value>);

/// Where a message of a batch runs.
#[derive(Debug, Clone)]
enum BatchCall {
    /// Here, as the asynchronous call with this id.
    Here(u32),
    /// On another host of the cluster; its result lands here when that host answers (or
    /// when this host gives up on it).
    There(Arc<OnceLock<Arc<CallResult>>>),
}

/// One message of a planner batch: its call, and its fields as given (echoed in its result).
#[derive(Debug, Clone)]
pub struct BatchMessage {
    /// The message's fields.
    pub fields: Map<String, Value>,
    /// The user of the function to call.
    pub user: String,
    /// The function.
    pub function: String,
    /// The call's input.
    pub input: Vec<u8>,
    /// The guest's arguments after `argv[0]`.
    pub cmdline: String,
    /// The Python function a call of a Python function runs (empty: its main entry).
    pub py_entry: String,
}

/// The asynchronous calls: running ones, and the results of finished ones (bounded).
#[derive(Debug, Default)]
struct AsyncCalls {
    running: HashSet<u32>,
    finished: HashMap<u32, Arc<CallResult>>,
    order: VecDeque<u32>,
}

/// An admitted call: its handle, and its place among the calls in flight until it ends.
#[derive(Debug)]
pub struct Admitted {
    handle: CallHandle,
    id: FunctionId,
    cold: bool,
    started: Instant,
    _slot: InFlight,
}

impl Admitted {
    /// The call's id.
    pub fn call_id(&self) -> u32 {
        self.handle.id()
    }
}

/// One of the `max_in_flight` places; given back when dropped.
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The messages of a batch with their results (`None`: still running), and whether every
/// one has ended.
pub type BatchStatus = (Vec<(Map<String, Value>, Option<Arc<CallResult>>)>, bool);

/// What a poll of an asynchronous call finds.
#[derive(Debug, Clone)]
pub enum Poll {
    /// Still queued or running.
    Running,
    /// Ended with this result.
    Finished(Arc<CallResult>),
}

impl Host {
    /// A host over the store in `store_dir`, with `state` as the scheduler's global tier's URL
    /// (`None`: the store's embedded tier, shared with the other processes using the store).
    pub fn new(
        store_dir: &Path,
        state: Option<&str>,
        config: HostConfig,
    ) -> Result<Host, HostError> {
        let engine = Engine::default();
        let store = FunctionStore::new(store_dir);
        let mut scheduler_config = SchedulerConfig {
            workers: config.workers.max(1),
            default_timeout: Some(config.call_timeout),
            await_timeout: Some(config.call_timeout),
            chain_limits: config.chain_limits,
            state_limits: config.state_limits,
            ..SchedulerConfig::default()
        };
        let global =
            GlobalTierLocation::of(state, &store).open(config.state_limits.max_bytes_per_user)?;
        scheduler_config = scheduler_config.with_global_tier(global);
        let scheduler = Scheduler::with_config(&engine, scheduler_config)
            .map_err(|error| HostError::Internal(error.to_string()))?;
        let cluster = crate::cluster::node(&config, &engine, &store)?;
        match &cluster {
            Some(node) => scheduler.set_source(Arc::clone(node) as Arc<_>),
            None => {
                let mut source = StoreSource::new(engine.clone(), store.clone(), Log::quiet());
                if let Some(python) = &config.python {
                    source = source.with_python(Arc::clone(python));
                }
                scheduler.set_source(Arc::new(source));
            }
        }
        Ok(Host {
            engine,
            store,
            scheduler,
            config,
            in_flight: Arc::new(AtomicUsize::new(0)),
            calls: Mutex::default(),
            idle: Condvar::new(),
            known: Mutex::default(),
            batches: Mutex::default(),
            metrics: Metrics::new(),
            outbox: Arc::default(),
            hosts_view: Mutex::default(),
            call_times: CallTimes::default(),
            cluster,
        })
    }

    /// The metrics, to render.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Renders the metrics in Prometheus's text format, with the gauges read now.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&Readings {
            in_flight: self.in_flight.load(Ordering::Acquire),
            asynchronous: lock(&self.calls).running.len(),
            threads: self.scheduler.thread_count(),
            faaslets: self.scheduler.faaslets_alive(),
            state_values: self.scheduler.state().resident_values(),
        })
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Uploads `wasm` as `user/function`: compiled, Proto-Faaslet prepared, stored; later calls
    /// run the new version.
    pub fn upload(&self, user: &str, function: &str, wasm: Vec<u8>) -> Result<(), HostError> {
        let id = FunctionId::new(user, function)?;
        let origin = Path::new(&format!("{id}")).to_path_buf();
        let uploaded = functions::upload(
            &self.engine,
            &self.store,
            &id,
            wasm,
            &origin,
            self.config.init_timeout,
            Log::quiet(),
        );
        self.uploaded(id, uploaded)
    }

    /// Uploads `source` as Python function `user/function`: its Proto-Faaslet prepared with
    /// the source imported, both stored (and shared with the cluster, if the host is in one);
    /// later calls run the new version. Not on a host without a Python runtime.
    pub fn upload_python(
        &self,
        user: &str,
        function: &str,
        source: Vec<u8>,
    ) -> Result<(), HostError> {
        let id = FunctionId::new(user, function)?;
        let runtime = self.config.python.as_ref().ok_or_else(|| {
            HostError::NotSupported(
                "this host runs no Python functions: start it with --python DIR (the output \
                 of python/build.sh)"
                    .to_string(),
            )
        })?;
        let origin = Path::new(&format!("{id}.py")).to_path_buf();
        let uploaded = functions::upload_python(
            &self.engine,
            &self.store,
            runtime,
            &id,
            source,
            &origin,
            self.config.init_timeout,
            Log::quiet(),
        );
        self.uploaded(id, uploaded)
    }

    /// Counts an upload's outcome and, if it succeeded, registers the function for the next
    /// calls and shares it with the cluster (if the host is in one).
    fn uploaded(
        &self,
        id: FunctionId,
        uploaded: Result<(faasm_scheduler::Function, functions::Uploaded), faasm_scheduler::Error>,
    ) -> Result<(), HostError> {
        self.metrics.upload(uploaded.is_ok());
        let (function, _) = uploaded.map_err(upload_error)?;
        self.scheduler.register(&id.user, &id.function, function);
        lock(&self.known).insert(id.clone());
        if let Some(node) = &self.cluster {
            node.share(&id).map_err(|error| {
                HostError::Internal(format!(
                    "{id} is stored on this host but not shared with the cluster: {error}"
                ))
            })?;
        }
        Ok(())
    }

    /// The module of `user/function` as uploaded.
    pub fn module(&self, user: &str, function: &str) -> Result<Vec<u8>, HostError> {
        let id = FunctionId::new(user, function)?;
        match self.store.get(&id) {
            Ok(stored) => Ok(stored.wasm),
            Err(faasm_scheduler::store::StoreError::NotFound { .. }) => {
                Err(HostError::UnknownFunction(id))
            }
            Err(error) => Err(HostError::Internal(error.to_string())),
        }
    }

    /// Admits and queues a call of `user/function` with `input` (and `cmdline` as the
    /// guest's arguments).
    pub fn submit(
        &self,
        user: &str,
        function: &str,
        input: Vec<u8>,
        cmdline: String,
    ) -> Result<Admitted, HostError> {
        let request = CallRequest {
            input,
            cmdline,
            ..CallRequest::default()
        };
        self.submit_request(user, function, request)
    }

    /// Admits and queues `request`, a call of `user/function`.
    fn submit_request(
        &self,
        user: &str,
        function: &str,
        request: CallRequest,
    ) -> Result<Admitted, HostError> {
        let id = FunctionId::new(user, function)?;
        let slot = self.admit()?;
        self.queue(id, slot, request)
    }

    /// Queues a call another host of the cluster sent here. It is counted in flight but not
    /// refused past the limit: the host takes such calls only while it has room (see
    /// [`Host::room`]), and a refusal would only send the call back.
    /// A call chained by table index enters at `func_ptr` (0: the function's entry).
    pub(crate) fn submit_forwarded(
        &self,
        user: &str,
        function: &str,
        input: Vec<u8>,
        func_ptr: i32,
    ) -> Result<Admitted, HostError> {
        let id = FunctionId::new(user, function)?;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = InFlight(Arc::clone(&self.in_flight));
        let request = CallRequest {
            input,
            func_ptr,
            ..CallRequest::default()
        };
        self.queue(id, slot, request)
    }

    /// How many more calls the host admits now.
    pub(crate) fn room(&self) -> usize {
        self.config.max_in_flight.saturating_sub(self.in_flight())
    }

    fn queue(
        &self,
        id: FunctionId,
        slot: InFlight,
        request: CallRequest,
    ) -> Result<Admitted, HostError> {
        self.drop_invalidated();
        let cold = !lock(&self.known).contains(&id);
        let handle = match self.scheduler.submit(&id.user, &id.function, request) {
            Ok(handle) => handle,
            Err(SchedulerError::UnknownFunction { .. }) => {
                return Err(HostError::UnknownFunction(id));
            }
            Err(SchedulerError::ShutDown) => return Err(HostError::ShuttingDown),
            Err(error) => return Err(HostError::Internal(error.to_string())),
        };
        if cold {
            lock(&self.known).insert(id.clone());
        }
        Ok(Admitted {
            handle,
            id,
            cold,
            started: Instant::now(),
            _slot: slot,
        })
    }

    /// Whether calls of `user/function` find it loaded on this host: submitting one then only
    /// queues it (no store, cluster or Redis exchange), which an async handler may do on its
    /// own thread. While other hosts' invalidations wait to be applied (which may publish to
    /// Redis), nothing is warm.
    pub fn is_warm(&self, user: &str, function: &str) -> bool {
        if self
            .cluster
            .as_ref()
            .is_some_and(|node| node.has_invalidated())
        {
            return false;
        }
        FunctionId::new(user, function).is_ok_and(|id| lock(&self.known).contains(&id))
    }

    /// The result of an admitted call, awaited without holding a thread while it runs: the
    /// thread that ends the call sends the result over a channel.
    pub async fn finished(self: &Arc<Host>, call: Admitted) -> CallResult {
        let call_id = call.call_id();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.when_ended(call, move |result| {
            let _ = sender.send(result);
        });
        receiver.await.unwrap_or_else(|_| CallResult {
            id: call_id,
            return_value: 1,
            failure: Some(Failure::Setup(
                "the host dropped the call before it ended (shutting down)".to_string(),
            )),
            ..CallResult::default()
        })
    }

    /// Keeps an admitted call's result for [`Host::poll`] once it ends; no thread waits for it.
    pub fn track(self: &Arc<Host>, call: Admitted) -> u32 {
        let call_id = call.call_id();
        lock(&self.calls).running.insert(call_id);
        let host = Arc::clone(self);
        self.when_ended(call, move |result| host.keep(call_id, result));
        call_id
    }

    /// Counts an admitted call when it ends and hands its result to `then`, on the thread that
    /// ends it (see [`faasm_scheduler::CallHandle::on_done`]): `then` must be short, and must
    /// not block at all if this is called on an async thread.
    pub(crate) fn when_ended(
        self: &Arc<Host>,
        call: Admitted,
        then: impl FnOnce(CallResult) + Send + 'static,
    ) {
        let Admitted {
            handle,
            id,
            cold,
            started,
            _slot: slot,
        } = call;
        let host = Arc::clone(self);
        handle.on_done(move |result| {
            host.metrics
                .call(&id, outcome(&result), cold, started.elapsed());
            host.call_times.record(result.duration);
            drop(slot);
            then(result);
        });
    }

    fn keep(&self, call_id: u32, result: CallResult) {
        let mut calls = lock(&self.calls);
        calls.running.remove(&call_id);
        calls.finished.insert(call_id, Arc::new(result));
        calls.order.push_back(call_id);
        while calls.order.len() > MAX_KEPT_RESULTS {
            if let Some(oldest) = calls.order.pop_front() {
                calls.finished.remove(&oldest);
            }
        }
        self.idle.notify_all();
    }

    /// Where asynchronous call `call_id` is.
    pub fn poll(&self, call_id: u32) -> Result<Poll, HostError> {
        let calls = lock(&self.calls);
        if calls.running.contains(&call_id) {
            return Ok(Poll::Running);
        }
        calls
            .finished
            .get(&call_id)
            .map(|result| Poll::Finished(Arc::clone(result)))
            .ok_or(HostError::UnknownCall(u64::from(call_id)))
    }

    /// Sets state value `user/key` in the global tier.
    pub fn put_state(&self, user: &str, key: &str, data: &[u8]) -> Result<(), HostError> {
        let name = state_name(user, key)?;
        let global = self.scheduler.state().global();
        global_state::put(global.as_ref(), &name, data)?;
        Ok(())
    }

    /// State value `user/key` from the global tier.
    pub fn get_state(&self, user: &str, key: &str) -> Result<Vec<u8>, HostError> {
        let name = state_name(user, key)?;
        let global = self.scheduler.state().global();
        Ok(global_state::get(global.as_ref(), &name)?)
    }

    /// Stores `bytes` as the shared file `path` (functions read it at `faasm://PATH`).
    pub fn put_file(&self, path: &str, bytes: &[u8]) -> Result<(), HostError> {
        let path = SharedFilePath::parse(path)?;
        self.store.shared_files().put(&path, bytes)?;
        Ok(())
    }

    /// The bytes of the shared file `path`.
    pub fn get_file(&self, path: &str) -> Result<Vec<u8>, HostError> {
        let path = SharedFilePath::parse(path)?;
        Ok(self.store.shared_files().get(&path)?)
    }

    /// Calls executing guest code at once (a planner's "slots").
    pub fn slots(&self) -> usize {
        self.config.workers
    }

    /// Submits every message of a planner batch as an asynchronous call, each placed by the
    /// cluster's rule (here, or on another host: [`Host::submit_batch_message`]); returns the
    /// batch's app id (`requested` if given and free, else a new one) and its number of
    /// messages. Blocking.
    pub fn execute_batch(
        self: &Arc<Host>,
        requested: Option<i32>,
        messages: Vec<BatchMessage>,
    ) -> Result<(i32, usize), HostError> {
        let mut calls = Vec::with_capacity(messages.len());
        for message in messages {
            calls.push(self.submit_batch_message(message)?);
        }
        let count = calls.len();
        let mut batches = lock(&self.batches);
        let app_id = match requested {
            Some(id) if id != 0 && !batches.apps.contains_key(&id) => id,
            _ => loop {
                batches.next = batches.next.wrapping_add(1).max(1);
                let candidate = batches.next;
                if !batches.apps.contains_key(&candidate) {
                    break candidate;
                }
            },
        };
        batches.apps.insert(app_id, calls);
        batches.order.push_back(app_id);
        while batches.order.len() > MAX_KEPT_RESULTS {
            if let Some(oldest) = batches.order.pop_front() {
                batches.apps.remove(&oldest);
            }
        }
        Ok((app_id, count))
    }

    /// Places one message of a batch by the cluster's rule ([`Host::place`]) and submits it
    /// there. A message with a command line runs here: command lines do not travel between
    /// hosts. Blocking.
    fn submit_batch_message(
        self: &Arc<Host>,
        message: BatchMessage,
    ) -> Result<TrackedMessage, HostError> {
        let BatchMessage {
            fields,
            user,
            function,
            input,
            cmdline,
            py_entry,
        } = message;
        // Neither command lines nor Python entries travel between hosts (yet).
        if cmdline.is_empty()
            && py_entry.is_empty()
            && let Placement::There(to) = self.place(&user, &function)
        {
            let call = Outgoing {
                user: &user,
                function: &function,
                input: &input,
                func_ptr: 0,
                retryable: true,
            };
            let landed = Arc::new(OnceLock::new());
            let result = Arc::clone(&landed);
            let done = Box::new(move |answer| {
                let _ = result.set(Arc::new(crate::outbox::call_result(answer)));
            });
            match self.forward_answered(&to, &call, done) {
                Ok(_) => return Ok((BatchCall::There(landed), fields)),
                // A host that cannot take it (it left, its stream is full) leaves it here.
                Err((error, _)) => {
                    tracing::warn!("running a call of {user}/{function} here: {error}");
                }
            }
        }
        let call = self.submit_request(
            &user,
            &function,
            CallRequest {
                input,
                cmdline,
                py_entry,
                ..CallRequest::default()
            },
        )?;
        Ok((BatchCall::Here(self.track(call)), fields))
    }

    /// Each message of batch `app_id` with its result (if it has ended), and whether all have.
    pub fn batch_status(&self, app_id: i32) -> Result<BatchStatus, HostError> {
        let messages = lock(&self.batches)
            .apps
            .get(&app_id)
            .cloned()
            .ok_or(HostError::UnknownApp(app_id))?;
        let mut finished = true;
        let mut results = Vec::with_capacity(messages.len());
        for (call, fields) in messages {
            let result = match call {
                BatchCall::Here(call_id) => match self.poll(call_id) {
                    Ok(Poll::Finished(result)) => Some(result),
                    Ok(Poll::Running) => None,
                    // Dropped for newer results: reported as a call that could not be found.
                    Err(_) => Some(Arc::new(CallResult {
                        id: call_id,
                        return_value: 1,
                        failure: Some(Failure::Setup(format!("no call with id {call_id}"))),
                        ..CallResult::default()
                    })),
                },
                BatchCall::There(landed) => landed.get().cloned(),
            };
            finished &= result.is_some();
            results.push((fields, result));
        }
        Ok((results, finished))
    }

    /// Deletes state value `user/key` from the global tier.
    pub fn delete_state(&self, user: &str, key: &str) -> Result<(), HostError> {
        let name = state_name(user, key)?;
        let global = self.scheduler.state().global();
        global_state::delete(global.as_ref(), &name)?;
        Ok(())
    }

    /// Forgets the Faaslets kept warm: every function is loaded from the store again at its
    /// next call (Faasm's `FLUSH_EXECUTORS`), on every host of its cluster.
    pub fn flush(&self) {
        self.flush_here();
        if let Some(node) = &self.cluster
            && let Err(error) = node.publish_flush()
        {
            tracing::warn!("flush not sent to the cluster's other hosts: {error}");
        }
    }

    fn flush_here(&self) {
        let known: Vec<FunctionId> = lock(&self.known).drain().collect();
        for id in known {
            self.scheduler.unregister(&id.user, &id.function);
        }
        if let Some(node) = &self.cluster {
            node.forget_warm();
        }
    }

    /// Drops the functions other hosts of the cluster made stale (a new version, a flush), so
    /// that their next call fetches them again.
    fn drop_invalidated(&self) {
        let Some(node) = &self.cluster else {
            return;
        };
        let stale = node.take_invalidated();
        if stale.all {
            self.flush_here();
            return;
        }
        for id in stale.functions {
            // Chained calls load functions without passing here: unregistered whether known
            // or not.
            lock(&self.known).remove(&id);
            self.scheduler.unregister(&id.user, &id.function);
        }
    }

    /// Waits until no call is in flight, or `timeout` passes; whether that happened.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut calls = lock(&self.calls);
        while self.in_flight() > 0 || !calls.running.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let step = left.min(Duration::from_millis(50));
            calls = self
                .idle
                .wait_timeout(calls, step)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The host's side of its cluster, if it is in one.
    pub fn cluster(&self) -> Option<&Arc<ClusterNode>> {
        self.cluster.as_ref()
    }

    /// Calls running or waiting for a worker here, chained ones included.
    pub fn load(&self) -> usize {
        self.scheduler.load()
    }

    /// Whether the `load` calls here end sooner than a trip to another host would take
    /// ([`FORWARD_COST`]), judged by how long calls ran here lately (no, before any ended).
    fn queue_clears_soon(&self, load: usize) -> bool {
        self.call_times
            .expected_wait(load, self.config.workers)
            .is_some_and(|wait| wait <= FORWARD_COST)
    }

    /// Where a call of `user/function` arriving here over HTTP runs (see [`Host::place_by_rule`]).
    /// Reads the cluster if its view here is older than [`HOSTS_VIEW_TTL`] (blocking).
    pub fn place(&self, user: &str, function: &str) -> Placement {
        let warm_here = self.is_warm(user, function);
        self.place_by_rule(user, function, warm_here, true)
            .unwrap_or(Placement::Here)
    }

    /// [`Host::place`] without I/O: `None` if that needs a fresh view of the cluster, or a
    /// function this host has not loaded (submitting it could mean loading it). A warm
    /// function of a host alone, or with a worker free, runs here. For async handlers.
    pub fn place_now(&self, user: &str, function: &str) -> Option<Placement> {
        if !self.is_warm(user, function) {
            return None;
        }
        self.place_by_rule(user, function, true, false)
    }

    /// Where a call of `user/function` a guest here chains runs (see [`Host::place_by_rule`]).
    /// Reads the cluster (blocking).
    pub(crate) fn place_chained(&self, user: &str, function: &str) -> Placement {
        let warm_here =
            self.is_warm(user, function) || self.scheduler.is_registered(user, function);
        self.place_by_rule(user, function, warm_here, true)
            .unwrap_or(Placement::Here)
    }

    /// Where a call runs, by the rule of Faasm's scheduler: here if the function is warm here
    /// and a worker is free (or the calls ahead of it here end sooner than a trip to another
    /// host takes: [`FORWARD_COST`]; under a stream of short calls, hosts that are all busy
    /// would otherwise send each other calls that could have run where they arrived); else on another live host holding it warm with a worker free
    /// (the least loaded); else here if a worker is free (starting it cold); else, if this
    /// host's store holds the function, on the least loaded host with a worker free; else
    /// here, where it waits for a worker (or is refused if the host is full). A call sent to
    /// another host runs there, whatever its load then: a call moves once at most. Another
    /// host's load is the one its last heartbeat published plus the calls this host sent it
    /// since and that have not answered.
    ///
    /// `None` if deciding needs a fresh view of the cluster and `may_read` is false.
    fn place_by_rule(
        &self,
        user: &str,
        function: &str,
        warm_here: bool,
        may_read: bool,
    ) -> Option<Placement> {
        let Some(node) = &self.cluster else {
            return Some(Placement::Here);
        };
        let load = self.load();
        let free_here = load < self.config.workers;
        if warm_here && (free_here || self.queue_clears_soon(load)) {
            return Some(Placement::Here);
        }
        let Some(me) = node.host_id() else {
            return Some(Placement::Here);
        };
        let hosts = match self.hosts_view(node, may_read)? {
            Ok(hosts) => hosts,
            Err(error) => {
                tracing::warn!("placing a call of {user}/{function} here: {error}");
                return Some(Placement::Here);
            }
        };
        let outstanding = self.outbox.outstanding();
        let load = |h: &HostInfo| h.in_flight + outstanding.get(&h.id).copied().unwrap_or(0);
        let name = format!("{user}/{function}");
        let free = || hosts.iter().filter(|h| h.id != me && load(h) < h.workers);
        let warm_and_free = free()
            .filter(|h| h.warm.contains(&name))
            .min_by_key(|h| load(h));
        if let Some(host) = warm_and_free {
            return Some(Placement::There(host.id.clone()));
        }
        if free_here {
            return Some(Placement::Here);
        }
        let stored_here =
            FunctionId::new(user, function).is_ok_and(|id| self.store.function_dir(&id).exists());
        if !stored_here {
            return Some(Placement::Here);
        }
        Some(
            free()
                .min_by_key(|h| load(h))
                .map_or(Placement::Here, |h| Placement::There(h.id.clone())),
        )
    }

    /// The live hosts as this host last read them, read again (if `may_read`) when older than
    /// [`HOSTS_VIEW_TTL`]: hosts publish their loads once a heartbeat, so a view a few
    /// milliseconds old is as good as a new one, and a busy host places most calls without
    /// a round trip to Redis. `None` if the view is stale and `may_read` is false.
    fn hosts_view(
        &self,
        node: &ClusterNode,
        may_read: bool,
    ) -> Option<Result<Arc<Vec<HostInfo>>, faasm_cluster::ClusterError>> {
        if let Some((at, hosts)) = &*lock(&self.hosts_view)
            && at.elapsed() < HOSTS_VIEW_TTL
        {
            return Some(Ok(Arc::clone(hosts)));
        }
        if !may_read {
            return None;
        }
        Some(node.live_hosts().map(|hosts| {
            let hosts = Arc::new(hosts);
            *lock(&self.hosts_view) = Some((Instant::now(), Arc::clone(&hosts)));
            hosts
        }))
    }

    /// Lets guests' chained calls run on other hosts of the cluster, placed by
    /// [`Host::place_chained`].
    pub(crate) fn chain_across_the_cluster(self: &Arc<Host>) {
        let placement = crate::outbox::ClusterChains {
            host: Arc::downgrade(self),
        };
        self.scheduler.set_chain_placement(Arc::new(placement));
    }

    /// The calls this host sent to other hosts and awaits.
    pub(crate) fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Sends `call` to host `to` of the cluster; returns its cluster-wide id. Blocking.
    pub fn forward(&self, to: &HostId, call: &Outgoing<'_>) -> Result<u64, HostError> {
        let (node, me) = self.sender(call)?;
        node.cluster()
            .forward_call(to, &me, call)
            .map_err(|error| self.not_sent(error))
    }

    /// [`Host::forward`] of a call whose result `done` gets once this host's watcher reads it
    /// (no thread waits for it); `done` is given back, with why, if the call did not go out.
    /// Blocking (one Redis round trip).
    pub(crate) fn forward_answered(
        &self,
        to: &HostId,
        call: &Outgoing<'_>,
        done: crate::outbox::Answered,
    ) -> Result<u64, (String, crate::outbox::Answered)> {
        let (node, me) = match self.sender(call) {
            Ok(sender) => sender,
            Err(error) => return Err((error.to_string(), done)),
        };
        self.outbox
            .send(node, &me, to, call, done)
            .map_err(|(error, done)| (self.not_sent(error).to_string(), done))
    }

    /// This host's cluster and id, to send `call` from.
    fn sender(&self, call: &Outgoing<'_>) -> Result<(&Arc<ClusterNode>, HostId), HostError> {
        FunctionId::new(call.user, call.function)?;
        match (&self.cluster, self.cluster_id()) {
            (Some(node), Some(me)) => Ok((node, me)),
            _ => Err(HostError::Cluster("this host is in no cluster".to_owned())),
        }
    }

    /// The error of a call that did not go out; the view of the cluster is dropped, as the
    /// host it was for may have left since it was read.
    fn not_sent(&self, error: faasm_cluster::ClusterError) -> HostError {
        self.forget_hosts_view();
        HostError::Cluster(error.to_string())
    }

    /// Drops the view of the cluster's hosts: the next placement reads it again.
    pub(crate) fn forget_hosts_view(&self) {
        *lock(&self.hosts_view) = None;
    }

    /// The result of call `id` sent to another host, if it has one; unknown if no call has
    /// that id. Blocking.
    pub fn forwarded_result(&self, id: u64) -> Result<Option<RemoteResult>, HostError> {
        let Some(node) = &self.cluster else {
            return Err(HostError::UnknownCall(remote_call_id(id)));
        };
        let cluster = node.cluster();
        let failed = |error: faasm_cluster::ClusterError| HostError::Cluster(error.to_string());
        match cluster.call_result(id).map_err(failed)? {
            Some(result) => Ok(Some(result)),
            None if id > cluster.last_call_id().map_err(failed)? => {
                Err(HostError::UnknownCall(remote_call_id(id)))
            }
            None => Ok(None),
        }
    }

    /// This host's id in its cluster, if it has joined one.
    pub fn cluster_id(&self) -> Option<HostId> {
        self.cluster.as_ref().and_then(|node| node.host_id())
    }

    /// The host's wall-clock limit of a call.
    pub fn call_timeout(&self) -> Duration {
        self.config.call_timeout
    }

    fn admit(&self) -> Result<InFlight, HostError> {
        let limit = self.config.max_in_flight;
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = InFlight(Arc::clone(&self.in_flight));
        if before >= limit {
            return Err(HostError::Full { limit });
        }
        Ok(slot)
    }
}

/// `USER/KEY`, checked as the state tiers check keys (and as function names are).
fn state_name(user: &str, key: &str) -> Result<String, HostError> {
    FunctionId::new(user, key)?;
    let name = format!("{user}/{key}");
    StateKey::parse(&name)?;
    Ok(name)
}

/// Upload errors that are the module's fault are the client's; the rest the host's.
fn upload_error(error: faasm_scheduler::Error) -> HostError {
    use faasm_scheduler::Error;
    match error {
        Error::Compile { .. }
        | Error::Syntax(_)
        | Error::MissingImports { .. }
        | Error::Snapshot { .. }
        | Error::Usage(_)
        | Error::Scheduler(SchedulerError::MissingImports(_) | SchedulerError::Prepare { .. }) => {
            HostError::BadModule(error)
        }
        other => HostError::Internal(other.to_string()),
    }
}

/// How a call ended, for the metrics.
pub fn outcome(result: &CallResult) -> CallOutcome {
    match &result.failure {
        None => CallOutcome::Success,
        Some(Failure::NonZero(_) | Failure::Exit(_)) => CallOutcome::NonZero,
        Some(Failure::Timeout(_) | Failure::AwaitTimeout(_)) => CallOutcome::Timeout,
        Some(Failure::Trap { .. }) => CallOutcome::Trap,
        Some(Failure::Remote {
            timed_out: true, ..
        }) => CallOutcome::Timeout,
        Some(Failure::Setup(_) | Failure::Remote { .. }) => CallOutcome::Error,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HostError {
    /// A short name of the kind of error, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::BadName(_) => "bad_name",
            HostError::UnknownFunction(_) => "unknown_function",
            HostError::UnknownCall(_) => "unknown_call",
            HostError::UnknownApp(_) => "unknown_app",
            HostError::Full { .. } => "full",
            HostError::BadModule(_) => "bad_module",
            HostError::Internal(_) => "internal",
            HostError::State(_) => "state",
            HostError::File(_) => "file",
            HostError::ShuttingDown => "shutting_down",
            HostError::Cluster(_) => "cluster",
            HostError::NotSupported(_) => "not_supported",
        }
    }
}
