//! [`ClusterNode`]: what a host process needs of the cluster in one place: its registration
//! (joined once the host knows its address, left on a clean stop), the functions it holds warm
//! (published as they change), sharing its uploads, and fetching the functions it is asked to
//! run but does not have: it is the scheduler's [`FunctionSource`].

use crate::membership::{HostId, HostInfo, HostSpec, Registration};
use crate::sharing::{self, SharedVersion, Synced};
use crate::{Cluster, ClusterError, Result};
use faasm_runtime::Engine;
use faasm_scheduler::functions::StoreSource;
use faasm_scheduler::modules::Log;
use faasm_scheduler::{Function, FunctionId, FunctionSource, FunctionStore};
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A host's side of the cluster.
#[derive(Debug)]
pub struct ClusterNode {
    cluster: Cluster,
    engine: Engine,
    store: FunctionStore,
    init_timeout: Duration,
    log: Log,
    registration: Mutex<Option<Registration>>,
    warm: Mutex<BTreeSet<String>>,
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
            log,
            registration: Mutex::new(None),
            warm: Mutex::default(),
        }
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Registers the host with `spec` and a lease of `lease` (kept by a heartbeat); returns
    /// its id.
    pub fn join(&self, spec: HostSpec, lease: Duration) -> Result<HostId> {
        let registration = Registration::join(&self.cluster, spec, lease, self.log)?;
        let id = registration.id().clone();
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

    /// Removes the host from the cluster (a clean stop); nothing if it has not joined.
    pub fn leave(&self) -> Result<()> {
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
        let local = StoreSource::new(self.engine.clone(), self.store.clone(), self.log);
        let loaded = local.load(user, name)?;
        if loaded.is_some() {
            self.note_warm(&id);
        }
        Ok(loaded)
    }
}
