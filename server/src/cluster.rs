//! The host in a cluster of hosts sharing one Redis server (`faasm-run serve --cluster URL`,
//! see `faasm-cluster`): its settings, and `GET /cluster`, the live hosts.

use crate::host::{Host, HostConfig, HostError};
use crate::routes::{ApiError, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use faasm_cluster::{Cluster, ClusterNode, HostInfo};
use faasm_runtime::Engine;
use faasm_scheduler::FunctionStore;
use faasm_scheduler::modules::Log;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How a host joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's Redis server, `redis://HOST:PORT`.
    pub url: String,
    /// The host's lease: renewed every third of it; a host that stops renewing it drops out
    /// of the cluster when it lapses.
    pub lease: Duration,
}

/// The host's node of the cluster `config` names, if any, for functions `engine` runs from
/// `store`; its log lines go to the host's log.
pub(crate) fn node(
    config: &HostConfig,
    engine: &Engine,
    store: &FunctionStore,
) -> Result<Option<Arc<ClusterNode>>, HostError> {
    let Some(settings) = &config.cluster else {
        return Ok(None);
    };
    let cluster = Cluster::new(&settings.url)
        .map_err(|error| HostError::Internal(format!("--cluster: {error}")))?;
    let log = Log::to(|line| tracing::info!("{line}"));
    let mut node = ClusterNode::new(
        cluster,
        engine.clone(),
        store.clone(),
        config.init_timeout,
        log,
    );
    if let Some(python) = &config.python {
        node = node.with_python(Arc::clone(python));
    }
    Ok(Some(Arc::new(node)))
}

/// `GET /cluster`.
pub(crate) fn router() -> Router<Arc<Host>> {
    Router::new().route("/cluster", get(list))
}

/// `{"this_host": ID, "hosts": [{"id", "addr", "workers", "capacity", "started_ms", "epoch",
/// "in_flight", "lease_left_ms", "warm": ["user/function", ...]}, ...]}`; 404 on a host not in
/// a cluster.
async fn list(State(host): State<Arc<Host>>) -> Result<Json<Value>, ApiError> {
    let Some(node) = host.cluster().cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this host is not in a cluster (start it with --cluster redis://HOST:PORT)",
        ));
    };
    let this_host = node.host_id().map(|id| id.to_string());
    let hosts = blocking(move || {
        node.live_hosts()
            .map_err(|e| HostError::Internal(e.to_string()))
    })
    .await?;
    let hosts: Vec<Value> = hosts.iter().map(host_json).collect();
    Ok(Json(json!({ "this_host": this_host, "hosts": hosts })))
}

/// The live hosts of the host's cluster as Faasm's planner lists them (`ip`, `slots`: its
/// workers, `usedSlots`: its calls in flight at its last heartbeat); `None` outside a cluster.
pub(crate) async fn available_hosts(host: &Arc<Host>) -> Result<Option<Vec<Value>>, ApiError> {
    let Some(node) = host.cluster().cloned() else {
        return Ok(None);
    };
    let hosts = blocking(move || {
        node.live_hosts()
            .map_err(|e| HostError::Internal(e.to_string()))
    })
    .await?;
    let listed = hosts.iter().map(|host| {
        let ip = host
            .addr
            .rsplit_once(':')
            .map_or(host.addr.as_str(), |(ip, _port)| ip);
        json!({ "ip": ip, "slots": host.workers, "usedSlots": host.in_flight })
    });
    Ok(Some(listed.collect()))
}

fn host_json(host: &HostInfo) -> Value {
    json!({
        "id": host.id.as_str(),
        "addr": host.addr,
        "workers": host.workers,
        "capacity": host.capacity,
        "started_ms": host.started_ms,
        "epoch": host.epoch,
        "in_flight": host.in_flight,
        "lease_left_ms": u64::try_from(host.lease_left.as_millis()).unwrap_or(u64::MAX),
        "warm": host.warm,
    })
}
