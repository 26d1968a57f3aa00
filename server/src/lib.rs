//! The HTTP host of faasm-rs: one long-lived [`faasm_scheduler::Scheduler`] over a function
//! store, behind an HTTP/1.1 server (axum on tokio, keep-alive) that speaks Faasm's upload and
//! planner API and a synchronous REST invoke. It owns
//!
//! - [`host`]: the host without HTTP: store, scheduler, admission (503 when full),
//!   asynchronous calls and their results, state values, metrics;
//! - `routes`: `/ping`, `/f/{user}/{func}` (upload, download, invoke), `/calls/{id}`,
//!   `/s/{user}/{key}`, `/file` (shared files), `/metrics`;
//! - `planner`: Faasm's planner messages on `POST /` (and the paper-era form);
//! - [`metrics`]: the Prometheus text of `/metrics`;
//! - `cluster`: the host in a cluster of hosts (`--cluster`), and `GET /cluster`;
//! - `inbox`: the calls other hosts send here (taken from this host's stream, run, answered
//!   under this host's lease; the calls of hosts that are gone, claimed);
//! - `outbox`: the calls sent from here to other hosts (chained calls placed elsewhere, and
//!   synchronous HTTP calls), and the watcher of their results;
//! - [`Server`]: binding, one log line per request (through `tracing`), and graceful shutdown
//!   on SIGINT or SIGTERM;
//! - [`log_lines`]: a writer for those lines that batches them on a thread of its own.
//!
//! Calls run on the scheduler's worker threads; handlers never block the async runtime (the
//! host's work goes to tokio's blocking threads, and the results of calls come back over
//! channels from the threads that end them). It must not parse command lines or print
//! (logs go through `tracing`, whose subscriber the binary sets up), and contains no `unsafe`.
#![forbid(unsafe_code)]

mod call_times;
mod cluster;
pub mod host;
mod inbox;
pub mod log_lines;
pub mod metrics;
mod outbox;
mod planner;
mod routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::{ChainLimits, StateLimits};
use host::{Host, HostConfig, HostError};
use inbox::Inbox;
use outbox::Watcher;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;

pub use cluster::ClusterConfig;
pub use routes::{CALL_ID_HEADER, FILE_PATH_HEADER, HOST_HEADER, RETURN_VALUE_HEADER};

/// Blocking threads, for submits that load a function, uploads and state; no thread waits
/// for a call's end (the worker that ends it hands the result over).
const BLOCKING_THREADS: usize = 512;

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to listen on (port 0: any free port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// The function store's directory.
    pub store_dir: PathBuf,
    /// The global state tier's URL (`redis://HOST:PORT`); `None`: the store's embedded tier.
    pub state: Option<String>,
    /// Calls executing guest code at once.
    pub workers: usize,
    /// Calls admitted at once; one more gets 503.
    pub max_in_flight: usize,
    /// The largest request body (a module, an input, a state value), in bytes; larger gets
    /// 413.
    pub body_limit: usize,
    /// Wall-clock limit of a call (504 past it).
    pub call_timeout: Duration,
    /// Time a module's initialisation may take at upload.
    pub init_timeout: Duration,
    /// Per-user bounds of chaining.
    pub chain_limits: ChainLimits,
    /// Per-user bounds of state.
    pub state_limits: StateLimits,
    /// The cluster to join (`None`: this host alone).
    pub cluster: Option<ClusterConfig>,
    /// The CPython that runs Python functions (`None`: the host runs none).
    pub python: Option<Arc<PythonRuntime>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store_dir: PathBuf::from("functions"),
            state: None,
            workers: 2,
            max_in_flight: 1024,
            body_limit: 64 << 20,
            call_timeout: Duration::from_secs(60),
            init_timeout: faasm_scheduler::DEFAULT_INIT_TIMEOUT,
            chain_limits: ChainLimits::default(),
            state_limits: StateLimits::default(),
            cluster: None,
            python: None,
        }
    }
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The host could not be set up (a bad `--state` URL, no worker threads).
    #[error("{0}")]
    Host(#[from] HostError),
    /// The address could not be bound, or the async runtime could not start.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    host: Arc<Host>,
    config: ServerConfig,
    /// The calls other hosts of the cluster send here (`None` outside a cluster).
    inbox: Option<Inbox>,
    /// The results of the calls chained from here to other hosts (`None` outside a cluster).
    watcher: Option<Watcher>,
}

impl Server {
    /// Sets up the host and binds the address.
    pub fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let host = Host::new(
            &config.store_dir,
            config.state.as_deref(),
            HostConfig {
                workers: config.workers,
                max_in_flight: config.max_in_flight,
                call_timeout: config.call_timeout,
                init_timeout: config.init_timeout,
                chain_limits: config.chain_limits,
                state_limits: config.state_limits,
                cluster: config.cluster.clone(),
                python: config.python.clone(),
            },
        )?;
        let listen_error = |source| ServerError::Listen {
            address: config.listen,
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("faasm-http")
            .max_blocking_threads(BLOCKING_THREADS)
            .build()
            .map_err(listen_error)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(listen_error)?;
        let mut server = Server {
            runtime,
            listener,
            host: Arc::new(host),
            config,
            inbox: None,
            watcher: None,
        };
        if let Some((inbox, watcher)) = server.join_cluster()? {
            server.inbox = Some(inbox);
            server.watcher = Some(watcher);
        }
        Ok(server)
    }

    /// Registers the host in its cluster, if it has one, under the address it listens on.
    /// Returns the inbox taking the calls other hosts send here, and the watcher of the
    /// results of the calls sent from here.
    fn join_cluster(&self) -> Result<Option<(Inbox, Watcher)>, ServerError> {
        let (Some(node), Some(settings)) = (self.host.cluster(), &self.config.cluster) else {
            return Ok(None);
        };
        let spec = faasm_cluster::HostSpec {
            addr: self.local_addr().to_string(),
            workers: u32::try_from(self.config.workers).unwrap_or(u32::MAX),
            capacity: u32::try_from(self.config.max_in_flight).unwrap_or(u32::MAX),
        };
        // The heartbeat reads the host's load; it must not keep the host alive.
        let host = Arc::downgrade(&self.host);
        let load: faasm_cluster::LoadProbe = Arc::new(move || {
            host.upgrade()
                .map_or(0, |host| u32::try_from(host.load()).unwrap_or(u32::MAX))
        });
        let id = node
            .join(spec, settings.lease, Some(load))
            .map_err(|error| HostError::Internal(format!("--cluster: {error}")))?;
        tracing::info!(host = %id, cluster = node.cluster().url(), "joined the cluster");
        let thread_error = |error| HostError::Internal(format!("--cluster: a thread: {error}"));
        let inbox = Inbox::start(&self.host, Arc::clone(node), id.clone()).map_err(thread_error)?;
        // A call sent elsewhere and awaited fails if it has no answer after this long.
        let give_up = self.config.call_timeout.saturating_mul(2) + Duration::from_secs(30);
        let outbox = Arc::clone(self.host.outbox());
        let watcher =
            Watcher::start(Arc::clone(node), id, outbox, give_up).map_err(thread_error)?;
        self.host.chain_across_the_cluster();
        Ok(Some((inbox, watcher)))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// Serves until SIGINT or SIGTERM; then stops accepting, lets the requests and calls in
    /// flight end (each within its timeout) and returns.
    pub fn run(self) -> Result<(), ServerError> {
        let Server {
            runtime,
            listener,
            host,
            config,
            inbox,
            watcher,
        } = self;
        let app = app(Arc::clone(&host), config.body_limit);
        // Past a call's timeout (and the time to answer), the requests in flight are cut.
        let grace = config.call_timeout + Duration::from_secs(5);
        runtime.block_on(async move {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let serving = tokio::spawn(async move {
                let mut stopped = stopped;
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
            });
            shutdown_signal().await;
            tracing::info!("shutting down: no new connections; finishing the calls in flight");
            if let Some(inbox) = inbox {
                // The calls other hosts sent end first, while the lease that lets their
                // results be stored holds; calls sent after this are left to be claimed.
                let left = tokio::task::spawn_blocking(move || inbox.drain(grace))
                    .await
                    .unwrap_or(usize::MAX);
                if left > 0 {
                    tracing::warn!("{left} calls from other hosts still running: left to them");
                }
            }
            if let Some(node) = host.cluster().cloned() {
                // Out of the cluster, so that no other host sends it more work.
                match tokio::task::spawn_blocking(move || node.leave()).await {
                    Ok(Ok(())) => tracing::info!("left the cluster"),
                    Ok(Err(error)) => tracing::warn!("leaving the cluster: {error}"),
                    Err(_) => tracing::warn!("leaving the cluster failed unexpectedly"),
                }
            }
            let _ = stop.send(true);
            match tokio::time::timeout(grace, serving).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => return Err(ServerError::Serve(error)),
                Ok(Err(_)) | Err(_) => {
                    tracing::warn!("requests still open after {grace:?}: closing them");
                }
            }
            let idle_host = Arc::clone(&host);
            let idle = tokio::task::spawn_blocking(move || idle_host.wait_idle(grace))
                .await
                .unwrap_or(false);
            if !idle {
                tracing::warn!("asynchronous calls still running after {grace:?}");
            }
            // Chained calls sent elsewhere are answered (or given up) by now.
            drop(watcher);
            tracing::info!("stopped");
            Ok(())
        })
    }
}

/// The whole API over `host`.
fn app(host: Arc<Host>, body_limit: usize) -> Router {
    routes::router()
        .merge(planner::router())
        .merge(cluster::router())
        .fallback(not_found)
        .with_state(host)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_declared_oversize(request, next, body_limit)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            routes::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request failed unexpectedly",
            )
            .into_response()
        }))
        .layer(middleware::from_fn(log_request))
}

/// A request whose `Content-Length` is over the limit gets 413 at once, before its body is
/// read (a body without a length is cut at the limit as it is read, with the same answer).
async fn refuse_declared_oversize(request: Request, next: Next, limit: usize) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if let Some(length) = declared
        && length > limit as u64
    {
        return routes::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body has {length} bytes; this host takes at most {limit} (--max-body)"),
        )
        .into_response();
    }
    next.run(request).await
}

async fn not_found(request: Request) -> Response {
    routes::ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {} {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// One log line per request: method, path, the function or state key it names, status and
/// duration.
async fn log_request(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let named = response.extensions().get::<routes::LogTarget>();
    let target = named
        .map(|target| target.0.as_str())
        .or_else(|| named_target(&path))
        .unwrap_or("-");
    tracing::info!(
        method = %method,
        path = %path,
        target = target,
        status = response.status().as_u16(),
        // Milliseconds to the microsecond (3 decimals), not a float's 16 digits of noise.
        duration_ms = (start.elapsed().as_micros() as f64 / 1000.0),
        "request"
    );
    response
}

/// `user/func` of `/f/user/func`, `user/key` of `/s/user/key`.
fn named_target(path: &str) -> Option<&str> {
    path.strip_prefix("/f/")
        .or_else(|| path.strip_prefix("/s/"))
        .filter(|rest| rest.matches('/').count() == 1)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}
