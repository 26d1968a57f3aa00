//! [`ClusterNode`]: what a host process needs of the cluster in one place: its registration
//! (joined once the host knows its address, left on a clean stop), the functions it holds warm
//! (published as they change), sharing its uploads, and fetching the functions it is asked to
//! run but does not have: it is the scheduler's [`FunctionSource`]. A watcher thread follows
//! the other hosts' uploads and flushes (on [`UPDATES_CHANNEL`]) and collects what they made
//! stale here ([`ClusterNode::take_invalidated`]), for the host to drop before its next call.

use crate::membership::{HostId, HostInfo, HostSpec, LoadProbe, Registration};
use crate::sharing::{self, SharedVersion, Synced, UPDATES_CHANNEL};
use crate::{Cluster, ClusterError, Result};
use faasm_runtime::Engine;
use faasm_scheduler::functions::StoreSource;
use faasm_scheduler::modules::Log;
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::{Function, FunctionId, FunctionSource, FunctionStore};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the watcher checks whether to stop while no message arrives.
const WATCH_POLL: Duration = Duration::from_millis(200);

/// How long the watcher waits before connecting again after losing its connection.
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// The most functions kept as invalidated one by one: past it, everything is.
const MAX_INVALIDATED: usize = 4096;

/// The longest update message handled (a name and a version; a flush and a host id); longer
/// ones are not ours and are ignored.
const MAX_UPDATE_BYTES: usize = 512;

/// What other hosts made stale on this one since the last [`ClusterNode::take_invalidated`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invalidated {
    /// Every warm function (a flush elsewhere, or updates possibly missed while the watcher
    /// was disconnected).
    pub all: bool,
    /// The functions of which another host shared a version this host does not hold.
    pub functions: BTreeSet<FunctionId>,
}

/// What the watcher thread and the node share.
#[derive(Debug, Default)]
struct Watch {
    stop: AtomicBool,
    invalidated: Mutex<Invalidated>,
}

/// A host's side of the cluster.
#[derive(Debug)]
pub struct ClusterNode {
    cluster: Cluster,
    engine: Engine,
    store: FunctionStore,
    init_timeout: Duration,
    python: Option<Arc<PythonRuntime>>,
    log: Log,
    registration: Mutex<Option<Registration>>,
    warm: Mutex<BTreeSet<String>>,
    watch: Arc<Watch>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClusterNode {
    /// A node of `cluster` for a host whose functions `engine` runs from `store`, which
    /// prepares a fetched function's Proto-Faaslet within `init_timeout` when it cannot use the
    /// shipped one, and says what happens to `log`. It is not a member until
    /// [`ClusterNode::join`].
    pub fn new(
        cluster: Cluster,
        engine: Engine,
        store: FunctionStore,
        init_timeout: Duration,
        log: Log,
    ) -> ClusterNode {
        ClusterNode {
            cluster,
            engine,
            store,
            init_timeout,
            python: None,
            log,
            registration: Mutex::new(None),
            warm: Mutex::default(),
            watch: Arc::default(),
            watcher: Mutex::new(None),
        }
    }

    /// Runs the cluster's Python functions with `runtime` (without one, fetching a Python
    /// function fails, naming the missing runtime).
    pub fn with_python(mut self, runtime: Arc<PythonRuntime>) -> ClusterNode {
        self.python = Some(runtime);
        self
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Registers the host with `spec` and a lease of `lease` (kept by a heartbeat, which
    /// publishes what `load` reads) and starts following the other hosts' uploads and flushes;
    /// returns its id.
    pub fn join(&self, spec: HostSpec, lease: Duration, load: Option<LoadProbe>) -> Result<HostId> {
        let registration = Registration::join(&self.cluster, spec, lease, load, self.log)?;
        let id = registration.id().clone();
        self.cluster.create_call_stream(&id)?;
        self.start_watcher(&id)?;
        let warm: Vec<String> = lock(&self.warm).iter().cloned().collect();
        if !warm.is_empty() {
            registration.set_warm(warm)?;
        }
        *lock(&self.registration) = Some(registration);
        Ok(id)
    }

    /// This host's id, once it has joined.
    pub fn host_id(&self) -> Option<HostId> {
        lock(&self.registration).as_ref().map(|r| r.id().clone())
    }

    /// The epoch of this host's lease, once it has joined (a new one after its lease lapsed
    /// and was taken again): what fences the results of the calls it takes.
    pub fn epoch(&self) -> Option<u64> {
        lock(&self.registration).as_ref().map(Registration::epoch)
    }

    /// Removes the host from the cluster (a clean stop); nothing if it has not joined.
    pub fn leave(&self) -> Result<()> {
        self.stop_watcher();
        match lock(&self.registration).take() {
            Some(registration) => registration.leave(),
            None => Ok(()),
        }
    }

    /// The live hosts.
    pub fn live_hosts(&self) -> Result<Vec<HostInfo>> {
        self.cluster.live_hosts()
    }

    /// Shares function `id` of the store (just uploaded) with the cluster, and publishes it
    /// as warm here.
    pub fn share(&self, id: &FunctionId) -> Result<SharedVersion> {
        let version = sharing::share(&self.cluster, &self.store, id)?;
        self.note_warm(id);
        Ok(version)
    }

    /// Whether other hosts made anything stale here that [`ClusterNode::take_invalidated`]
    /// has not yet taken (a look only: nothing is forgotten, no I/O).
    pub fn has_invalidated(&self) -> bool {
        *lock(&self.watch.invalidated) != Invalidated::default()
    }

    /// What other hosts made stale here since the last call (and forgets it).
    pub fn take_invalidated(&self) -> Invalidated {
        std::mem::take(&mut *lock(&self.watch.invalidated))
    }

    /// Tells the other hosts to drop their warm Faaslets (Faasm's `FLUSH_EXECUTORS`).
    pub fn publish_flush(&self) -> Result<()> {
        let sender = self.host_id().map_or_else(String::new, |id| id.to_string());
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(UPDATES_CHANNEL).arg(format!("flush {sender}"));
        self.cluster
            .run_once::<i64>("publish flush", UPDATES_CHANNEL, &cmd)
            .map(|_| ())
    }

    /// Publishes that the host holds no warm function any more (after a flush).
    pub fn forget_warm(&self) {
        lock(&self.warm).clear();
        self.publish_warm();
    }

    fn note_warm(&self, id: &FunctionId) {
        if lock(&self.warm).insert(id.to_string()) {
            self.publish_warm();
        }
    }

    fn publish_warm(&self) {
        let registration = lock(&self.registration);
        let Some(registration) = registration.as_ref() else {
            return;
        };
        let warm: Vec<String> = lock(&self.warm)
            .iter()
            .take(crate::MAX_WARM_FUNCTIONS)
            .cloned()
            .collect();
        if let Err(e) = registration.set_warm(warm) {
            self.log.say(format!("cluster: {e}"));
        }
    }

    /// Brings the store's copy of `id` up to the cluster's version (see [`sharing::sync`]),
    /// saying in the log what it fetched.
    pub fn sync(&self, id: &FunctionId) -> Result<Synced> {
        let synced = sharing::sync(
            &self.cluster,
            &self.engine,
            &self.store,
            self.python.as_deref(),
            id,
            self.init_timeout,
            self.log,
        )?;
        if let Synced::Installed(installed) = &synced {
            self.log.say(format!(
                "cluster: fetched {id} version {} in {} ms ({})",
                installed.version.version,
                installed.duration.as_millis(),
                if installed.restored {
                    "restored from the shipped Proto-Faaslet"
                } else {
                    "Proto-Faaslet prepared on this host"
                }
            ));
        }
        Ok(synced)
    }
}

impl ClusterNode {
    fn start_watcher(&self, own: &HostId) -> Result<()> {
        let mut watcher = lock(&self.watcher);
        if watcher.is_some() {
            return Ok(());
        }
        self.watch.stop.store(false, Ordering::Release);
        let (subscribed, first) = std::sync::mpsc::sync_channel(1);
        let watching = Watcher {
            cluster: self.cluster.another(),
            store: self.store.clone(),
            own: own.clone(),
            watch: Arc::clone(&self.watch),
            log: self.log,
        };
        let thread = std::thread::Builder::new()
            .name("faasm-cluster-watch".to_owned())
            .spawn(move || watching.run(subscribed))
            .map_err(|e| ClusterError::Invalid(format!("cannot start the watcher thread: {e}")))?;
        *watcher = Some(thread);
        drop(watcher);
        // Joined only once subscribed: no update after `join` returns is missed.
        match first.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.stop_watcher();
                Err(e)
            }
            Err(_) => {
                self.stop_watcher();
                Err(ClusterError::Invalid("the watcher thread ended".to_owned()))
            }
        }
    }

    fn stop_watcher(&self) {
        self.watch.stop.store(true, Ordering::Release);
        if let Some(thread) = lock(&self.watcher).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.stop_watcher();
    }
}

/// The watcher thread's part: subscribed to [`UPDATES_CHANNEL`], connecting again (and then
/// invalidating everything, as messages may have been missed) when its connection fails.
struct Watcher {
    cluster: Cluster,
    store: FunctionStore,
    own: HostId,
    watch: Arc<Watch>,
    log: Log,
}

impl Watcher {
    fn stopping(&self) -> bool {
        self.watch.stop.load(Ordering::Acquire)
    }

    /// Runs until told to stop; the first subscription's outcome goes to `subscribed` (after
    /// it fails, the thread ends).
    fn run(self, subscribed: std::sync::mpsc::SyncSender<Result<()>>) {
        let mut first = Some(subscribed);
        let mut reconnecting = false;
        while !self.stopping() {
            let followed = self.follow(reconnecting, &mut first);
            if let Some(first) = first.take() {
                let _ = first.send(followed);
                return;
            }
            if let Err(e) = followed {
                self.log.say(format!("cluster: watching updates: {e}"));
                let until = Instant::now() + WATCH_RETRY;
                while Instant::now() < until && !self.stopping() {
                    std::thread::sleep(WATCH_POLL.min(until - Instant::now()));
                }
            }
            reconnecting = true;
        }
    }

    /// Subscribes and handles messages until told to stop (`Ok`) or the connection fails.
    fn follow(
        &self,
        reconnecting: bool,
        first: &mut Option<std::sync::mpsc::SyncSender<Result<()>>>,
    ) -> Result<()> {
        let mut con = self.cluster.subscriber_connection(WATCH_POLL)?;
        let failed = |e: redis::RedisError| ClusterError::Redis {
            operation: "follow updates",
            key: UPDATES_CHANNEL.to_owned(),
            url: self.cluster.url().to_owned(),
            message: e.to_string(),
        };
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe(UPDATES_CHANNEL).map_err(failed)?;
        if reconnecting {
            lock(&self.watch.invalidated).all = true;
        }
        if let Some(first) = first.take() {
            let _ = first.send(Ok(()));
        }
        while !self.stopping() {
            match pubsub.get_message() {
                Ok(message) => self.handle(message.get_payload_bytes()),
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }

    /// `flush SENDER`, or `user/function VERSION`.
    fn handle(&self, payload: &[u8]) {
        if payload.len() > MAX_UPDATE_BYTES {
            return;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let Some((first, second)) = text.split_once(' ') else {
            return;
        };
        let mut invalidated = lock(&self.watch.invalidated);
        if first == "flush" {
            if second != self.own.as_str() {
                invalidated.all = true;
            }
            return;
        }
        let (Ok(id), Ok(version)) = (first.parse::<FunctionId>(), second.parse::<u64>()) else {
            return;
        };
        let held = sharing::local_version(&self.store, &id).map(|v| v.version);
        if held == Some(version) {
            return;
        }
        if invalidated.functions.len() >= MAX_INVALIDATED {
            invalidated.all = true;
            invalidated.functions.clear();
        } else if !invalidated.all {
            invalidated.functions.insert(id);
        }
    }
}

impl FunctionSource for ClusterNode {
    /// The function from the store, after fetching it from the cluster if the cluster has
    /// another version (or this host none). With the cluster out of reach, the store's copy
    /// (if any) is used, and the log says so.
    fn load(&self, user: &str, name: &str) -> std::result::Result<Option<Function>, String> {
        let id = FunctionId::new(user, name).map_err(|error| error.to_string())?;
        if let Err(e) = self.sync(&id) {
            match e {
                ClusterError::Redis { .. } => self.log.say(format!(
                    "cluster: {e}; running {id} from this host's store if it has it"
                )),
                other => return Err(other.to_string()),
            }
        }
        let mut local = StoreSource::new(self.engine.clone(), self.store.clone(), self.log);
        if let Some(python) = &self.python {
            local = local.with_python(Arc::clone(python));
        }
        let loaded = local.load(user, name)?;
        if loaded.is_some() {
            self.note_warm(&id);
        }
        Ok(loaded)
    }
}
