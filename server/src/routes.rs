//! The REST side of the API: `/ping`, functions (`/f/{user}/{func}`: upload, download,
//! synchronous and asynchronous invoke), calls (`/calls/{id}`), state (`/s/{user}/{key}`: set,
//! get, delete), shared files (`/file` with a `FilePath` header: upload, download) and
//! `/metrics`. Every handler hands the host's blocking work to tokio's blocking threads.

use crate::host::{Admitted, Host, HostError, Placement, Poll, REMOTE_CALL_IDS, remote_call_id};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use faasm_cluster::HostId;
use faasm_cluster::calls::{Outgoing, RemoteResult};
use faasm_hostcalls::faasm_state::StateError;
use faasm_scheduler::shared_files::SharedFileError;
use faasm_scheduler::{CallResult, Failure};
use serde::Deserialize;
use std::sync::Arc;

/// The header that carries a call's return value.
pub const RETURN_VALUE_HEADER: &str = "x-faasm-return-value";
/// The header that carries a call's id.
pub const CALL_ID_HEADER: &str = "x-faasm-call-id";
/// The header that names the host of the cluster that ran a call.
pub const HOST_HEADER: &str = "x-faasm-host";
/// The header that names a shared file (`PUT /file`, `GET /file`), as Faasm's clients send it.
pub const FILE_PATH_HEADER: &str = "FilePath";

/// The routes of this module, over `host`.
pub fn router() -> Router<Arc<Host>> {
    Router::new()
        .route("/ping", get(ping))
        .route(
            "/f/{user}/{function}",
            put(upload).get(download).post(invoke),
        )
        .route("/p/{user}/{function}", put(upload_python))
        .route("/calls/{id}", get(poll))
        .route(
            "/s/{user}/{key}",
            put(put_state).get(get_state).delete(delete_state),
        )
        .route("/file", put(put_file).get(get_file))
        .route("/metrics", get(metrics))
}

async fn ping() -> &'static str {
    "PONG"
}

/// The function (or state key) a request concerned, `user/name`, when its path does not say:
/// put in a response's extensions for the request's log line.
#[derive(Debug, Clone)]
pub struct LogTarget(pub String);

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is still on the connection: it cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<HostError> for ApiError {
    fn from(error: HostError) -> ApiError {
        let status = match &error {
            HostError::BadName(_) | HostError::BadModule(_) => StatusCode::BAD_REQUEST,
            HostError::UnknownFunction(_)
            | HostError::UnknownCall(_)
            | HostError::UnknownApp(_) => StatusCode::NOT_FOUND,
            HostError::Full { .. } | HostError::ShuttingDown | HostError::Cluster(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HostError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            HostError::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
            HostError::State(state) => state_status(state),
            HostError::File(file) => file_status(file),
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

fn state_status(error: &StateError) -> StatusCode {
    match error {
        StateError::NotFound { .. } => StatusCode::NOT_FOUND,
        StateError::InvalidKey { .. } | StateError::ZeroSize { .. } => StatusCode::BAD_REQUEST,
        StateError::LimitExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn file_status(error: &SharedFileError) -> StatusCode {
    match error {
        SharedFileError::BadPath { .. } => StatusCode::BAD_REQUEST,
        SharedFileError::NotFound(_) => StatusCode::NOT_FOUND,
        SharedFileError::Conflict { .. } => StatusCode::CONFLICT,
        SharedFileError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Runs `work` on a blocking thread; a panic in it is a 500, never the server's end.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HostError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request's work failed unexpectedly",
        )),
    }
}

async fn upload(
    State(host): State<Arc<Host>>,
    Path((user, function)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<&'static str, ApiError> {
    let wasm = body?.to_vec();
    blocking(move || host.upload(&user, &function, wasm)).await?;
    Ok("Function upload complete")
}

/// `PUT /p/{user}/{func}`: a Python function's source, as Faasm's upload server takes it.
async fn upload_python(
    State(host): State<Arc<Host>>,
    Path((user, function)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<&'static str, ApiError> {
    let source = body?.to_vec();
    blocking(move || host.upload_python(&user, &function, source)).await?;
    Ok("Python function upload complete")
}

async fn download(
    State(host): State<Arc<Host>>,
    Path((user, function)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let wasm = blocking(move || host.module(&user, &function)).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], wasm).into_response())
}

#[derive(Debug, Deserialize)]
struct InvokeQuery {
    #[serde(default, rename = "async")]
    asynchronous: bool,
    /// `false`: if the call runs on another host and that host is lost, its answer is a
    /// failure naming the host rather than a run elsewhere.
    retry: Option<bool>,
}

async fn invoke(
    State(host): State<Arc<Host>>,
    Path((user, function)): Path<(String, String)>,
    Query(query): Query<InvokeQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = body?.to_vec();
    let retryable = query.retry.unwrap_or(true);
    let call = match place(&host, user, function, input, query.asynchronous, retryable).await? {
        Submitted::Here(call) => call,
        Submitted::There(id) => return Ok(running(remote_call_id(id))),
        Submitted::Awaited(id, answer) => {
            let shown = remote_call_id(id);
            return match answer.await {
                Ok(Ok(result)) => Ok(remote_response(shown, &result)),
                Ok(Err(message)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)),
                Err(_) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("call {shown} was dropped: the host is shutting down"),
                )),
            };
        }
    };
    if query.asynchronous {
        return Ok(running(u64::from(host.track(call))));
    }
    let result = host.finished(call).await;
    Ok(call_response(&result, host.cluster_id()))
}

/// Where [`place`] put a call.
enum Submitted {
    /// Queued on this host.
    Here(Admitted),
    /// Sent to another host of the cluster, as the call with this cluster id (to be polled).
    There(u64),
    /// Sent to another host, its answer to come over the channel.
    Awaited(
        u64,
        tokio::sync::oneshot::Receiver<Result<RemoteResult, String>>,
    ),
}

/// Places a call by the cluster's rule ([`Host::place`]) and submits it there. A call of a
/// function warm here, with a worker free (or no better host in this host's recent view of
/// the cluster), is queued at once on the async thread (no I/O); any other is placed and
/// submitted (or sent) on a blocking thread. A synchronous call sent elsewhere is answered
/// through this host's results watcher: no thread waits for it.
async fn place(
    host: &Arc<Host>,
    user: String,
    function: String,
    input: Vec<u8>,
    asynchronous: bool,
    retryable: bool,
) -> Result<Submitted, ApiError> {
    if host.place_now(&user, &function) == Some(Placement::Here) {
        return Ok(Submitted::Here(host.submit(
            &user,
            &function,
            input,
            String::new(),
        )?));
    }
    let host = Arc::clone(host);
    blocking(move || {
        let to = match host.place(&user, &function) {
            Placement::Here => {
                return host
                    .submit(&user, &function, input, String::new())
                    .map(Submitted::Here);
            }
            Placement::There(to) => to,
        };
        let call = Outgoing {
            user: &user,
            function: &function,
            input: &input,
            func_ptr: 0,
            retryable,
        };
        let sent = if asynchronous {
            host.forward(&to, &call).map(Submitted::There)
        } else {
            let (answer, answered) = tokio::sync::oneshot::channel();
            let done = Box::new(move |result| {
                let _ = answer.send(result);
            });
            host.forward_answered(&to, &call, done)
                .map(|id| Submitted::Awaited(id, answered))
                .map_err(|(error, _)| HostError::Cluster(error))
        };
        // A host that cannot take it (it left, its stream is full) leaves the call here.
        sent.or_else(|error| {
            tracing::warn!("running a call of {user}/{function} here: {error}");
            host.submit(&user, &function, input, String::new())
                .map(Submitted::Here)
        })
    })
    .await
}

/// Submits a call here. One of a loaded function is only queued, here, on the async thread; one
/// that may have to be loaded (from the store or the cluster) is submitted on a blocking
/// thread. The result then comes back from the worker that ran the call ([`Host::finished`],
/// [`Host::track`]): no thread waits for it, as each hand-off between threads (a wake-up)
/// costs about as much as a no-op call.
pub async fn submit(
    host: &Arc<Host>,
    user: String,
    function: String,
    input: Vec<u8>,
) -> Result<Admitted, ApiError> {
    if host.is_warm(&user, &function) {
        return Ok(host.submit(&user, &function, input, String::new())?);
    }
    let host = Arc::clone(host);
    blocking(move || host.submit(&user, &function, input, String::new())).await
}

async fn poll(State(host): State<Arc<Host>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, format!("no call with id {id}"));
    let shown: u64 = id.parse().map_err(|_| unknown())?;
    if let Some(remote) = shown.checked_sub(REMOTE_CALL_IDS) {
        let poll_host = Arc::clone(&host);
        return match blocking(move || poll_host.forwarded_result(remote)).await? {
            Some(result) => Ok(remote_response(shown, &result)),
            None => Ok(running(shown)),
        };
    }
    let local = u32::try_from(shown).map_err(|_| unknown())?;
    match host.poll(local)? {
        Poll::Running => Ok(running(shown)),
        Poll::Finished(result) => Ok(call_response(&result, host.cluster_id())),
    }
}

/// 202 `{"id": ID, "status": "running"}`: call `id` was accepted and has not ended.
fn running(id: u64) -> Response {
    let body = serde_json::json!({ "id": id, "status": "running" });
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// A call's answer: 200 with the output as the body and the return value in a header (a
/// non-zero return is the function's answer too); 500 for a trap (with the Wasm backtrace)
/// or a call that could not start; 504 for a timeout. In a cluster, a header names the host
/// (`ran_on`) that ran it.
pub fn call_response(result: &CallResult, ran_on: Option<HostId>) -> Response {
    let error = match &result.failure {
        None | Some(Failure::NonZero(_) | Failure::Exit(_)) => None,
        Some(
            Failure::Timeout(_)
            | Failure::AwaitTimeout(_)
            | Failure::Remote {
                timed_out: true, ..
            },
        ) => Some((StatusCode::GATEWAY_TIMEOUT, failure_text(result))),
        Some(Failure::Trap { .. } | Failure::Setup(_) | Failure::Remote { .. }) => {
            Some((StatusCode::INTERNAL_SERVER_ERROR, failure_text(result)))
        }
    };
    let ran_on = ran_on.map(|id| id.to_string());
    let answer = Answer {
        id: u64::from(result.id),
        return_value: result.return_value,
        output: &result.output,
        error,
        host: ran_on.as_deref(),
    };
    answer.into_response()
}

/// The answer to call `id` that ran on another host, as [`call_response`] gives it.
pub fn remote_response(id: u64, result: &RemoteResult) -> Response {
    let status = if result.timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let answer = Answer {
        id,
        return_value: result.return_value,
        output: &result.output,
        error: result.failure.clone().map(|text| (status, text)),
        host: Some(&result.host),
    };
    answer.into_response()
}

/// A call's answer, wherever it ran.
struct Answer<'a> {
    id: u64,
    return_value: i32,
    output: &'a [u8],
    /// The status and text of a call that did not answer.
    error: Option<(StatusCode, String)>,
    host: Option<&'a str>,
}

impl Answer<'_> {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(RETURN_VALUE_HEADER, HeaderValue::from(self.return_value));
        headers.insert(CALL_ID_HEADER, HeaderValue::from(self.id));
        if let Some(host) = self.host.and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(HOST_HEADER, host);
        }
        let Some((status, text)) = self.error else {
            return (StatusCode::OK, headers, self.output.to_vec()).into_response();
        };
        let body = serde_json::json!({
            "error": text,
            "return_value": self.return_value,
            "output": String::from_utf8_lossy(self.output),
        });
        (status, headers, axum::Json(body)).into_response()
    }
}

/// `trapped: wasm trap: unreachable` and the backtrace below it, or `timed out after 5s`.
pub fn failure_text(result: &CallResult) -> String {
    let Some(failure) = &result.failure else {
        return String::new();
    };
    let mut text = failure.to_string();
    if let Failure::Trap {
        backtrace: Some(backtrace),
        ..
    } = failure
        && !backtrace.frames().is_empty()
    {
        text.push_str(&format!("\nwasm backtrace:\n{backtrace}"));
    }
    if let Some(limit) = &result.limit {
        text.push_str(&format!("\nlimit: {limit}"));
    }
    text
}

async fn put_state(
    State(host): State<Arc<Host>>,
    Path((user, key)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<&'static str, ApiError> {
    let data = body?.to_vec();
    blocking(move || host.put_state(&user, &key, &data)).await?;
    Ok("State set")
}

async fn get_state(
    State(host): State<Arc<Host>>,
    Path((user, key)): Path<(String, String)>,
) -> Result<Vec<u8>, ApiError> {
    blocking(move || host.get_state(&user, &key)).await
}

async fn delete_state(
    State(host): State<Arc<Host>>,
    Path((user, key)): Path<(String, String)>,
) -> Result<&'static str, ApiError> {
    blocking(move || host.delete_state(&user, &key)).await?;
    Ok("State deleted")
}

/// The `FilePath` header of a shared file request (Faasm's name for it).
fn file_path(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get(FILE_PATH_HEADER).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("a shared file request needs the header {FILE_PATH_HEADER}: PATH"),
        )
    })?;
    let path = value.to_str().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the header {FILE_PATH_HEADER} is not visible ASCII"),
        )
    })?;
    Ok(path.to_string())
}

/// A shared file's answer, named by its path in the request's log line.
fn with_file_target(mut response: Response, path: String) -> Response {
    response.extensions_mut().insert(LogTarget(path));
    response
}

async fn put_file(
    State(host): State<Arc<Host>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let path = file_path(&headers)?;
    let bytes = body?;
    let target = path.clone();
    blocking(move || host.put_file(&path, &bytes)).await?;
    Ok(with_file_target(
        "File upload complete".into_response(),
        target,
    ))
}

async fn get_file(State(host): State<Arc<Host>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let path = file_path(&headers)?;
    let target = path.clone();
    let bytes = blocking(move || host.get_file(&path)).await?;
    let response = ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
    Ok(with_file_target(response, target))
}

async fn metrics(State(host): State<Arc<Host>>) -> Response {
    let text = host.render_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
