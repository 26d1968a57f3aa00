//! Faasm's planner messages on `POST /`, as Faasm's clients (`faasmctl`) send them:
//!
//! - `{"http_type": "EXECUTE_BATCH", "payload": "<BatchExecuteRequest JSON>"}` queues every
//!   message of the batch and answers a `BatchExecuteRequestStatus` with the app id;
//! - `EXECUTE_BATCH_STATUS` (the payload names the app) answers `finished` and, once every
//!   message has ended, `messageResults` (each message as given, with `output_data`,
//!   `returnValue`, `start_ts` and `finish_ts`);
//! - `GET_AVAILABLE_HOSTS` (this one host, or the cluster's live hosts), `RESET` and `FLUSH_EXECUTORS` (forget the warm
//!   Faaslets); any other type is refused with 400;
//! - the paper-era form `{"user", "function", "input_data", "async"}` (the output, or the
//!   call id with `async`) and `{"id": N, "status": true}` (`RUNNING`, `SUCCESS: output`,
//!   `FAILED: output`).
//!
//! Protobuf's JSON mapping: field names in lower camel case or their `json_name`s (both are
//! read), enums by name or number, `bytes` (a message's `input_data`) as base64 (standard or
//! URL-safe, padded or not), 64-bit integers as strings (numbers are read too). Answers hold
//! only fields of Faasm's messages (its Python client refuses unknown ones); `output_data` is
//! a string there, so an output that is not UTF-8 reaches it with U+FFFD in place of bad bytes.

use crate::host::{BatchMessage, Host, Poll};
use crate::routes::{ApiError, LogTarget, blocking, failure_text};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use faasm_scheduler::CallResult;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Messages one batch may hold.
const MAX_BATCH_MESSAGES: usize = 1024;

/// The planner's route.
pub fn router() -> Router<Arc<Host>> {
    Router::new().route("/", post(planner))
}

async fn planner(
    State(host): State<Arc<Host>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|error| bad_request(format!("malformed JSON: {error}")))?;
    let Value::Object(request) = request else {
        return Err(bad_request("the request is not a JSON object"));
    };
    if let Some(kind) = field(&request, &["http_type", "type"]) {
        let kind = type_name(kind)?;
        let payload = payload(&request)?;
        let target = payload.as_ref().and_then(batch_target);
        let answer = http_message(host, &kind, payload).await;
        return Ok(logged(answer, target));
    }
    if request.get("status").and_then(Value::as_bool) == Some(true) {
        return paper_status(&host, &request);
    }
    if request.contains_key("user") || request.contains_key("function") {
        let target = call_target(&request);
        let answer = paper_call(host, &request).await;
        return Ok(logged(answer, target));
    }
    Err(bad_request(
        "expected a planner message (`http_type` and `payload`), a call (`user`, `function`) \
         or a status request (`id`, `status`)",
    ))
}

/// The answer (or error), naming `target` for the request's log line.
fn logged(answer: Result<Response, ApiError>, target: Option<String>) -> Response {
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    if let Some(target) = target {
        response.extensions_mut().insert(LogTarget(target));
    }
    response
}

/// `user/function` of a call.
fn call_target(call: &Map<String, Value>) -> Option<String> {
    let user = string_field(call, &["user"])?;
    let function = string_field(call, &["function"])?;
    Some(format!("{user}/{function}"))
}

/// `user/function` of a batch (or of its first message).
fn batch_target(batch: &Map<String, Value>) -> Option<String> {
    call_target(batch).or_else(|| match field(batch, &["messages"])? {
        Value::Array(messages) => match messages.first()? {
            Value::Object(message) => call_target(message),
            _ => None,
        },
        _ => None,
    })
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The first of `names` present in `object`.
fn field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| object.get(*name))
}

/// A `http_type`: the enum's name (or its number, as protobuf's JSON allows).
fn type_name(kind: &Value) -> Result<String, ApiError> {
    match kind {
        Value::String(name) => Ok(name.clone()),
        Value::Number(number) => Ok(match number.as_u64() {
            Some(1) => "RESET".to_string(),
            Some(3) => "FLUSH_EXECUTORS".to_string(),
            Some(5) => "GET_AVAILABLE_HOSTS".to_string(),
            Some(10) => "EXECUTE_BATCH".to_string(),
            Some(11) => "EXECUTE_BATCH_STATUS".to_string(),
            _ => format!("#{number}"),
        }),
        _ => Err(bad_request("`http_type` is neither a name nor a number")),
    }
}

/// The message's payload: a JSON document in a string (or, leniently, the object itself).
fn payload(request: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match field(request, &["payload", "payloadJson"]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => Ok(Some(object)),
            Ok(_) => Err(bad_request("the payload is not a JSON object")),
            Err(error) => Err(bad_request(format!(
                "malformed JSON in the payload: {error}"
            ))),
        },
        Some(Value::Object(object)) => Ok(Some(object.clone())),
        Some(_) => Err(bad_request("the payload is not a JSON string")),
    }
}

async fn http_message(
    host: Arc<Host>,
    kind: &str,
    payload: Option<Map<String, Value>>,
) -> Result<Response, ApiError> {
    match kind {
        "EXECUTE_BATCH" => {
            let batch = payload.ok_or_else(|| bad_request("EXECUTE_BATCH needs a payload"))?;
            execute_batch(host, batch).await
        }
        "EXECUTE_BATCH_STATUS" => {
            let batch =
                payload.ok_or_else(|| bad_request("EXECUTE_BATCH_STATUS needs a payload"))?;
            batch_status(&host, &batch)
        }
        "GET_AVAILABLE_HOSTS" => {
            let hosts = match crate::cluster::available_hosts(&host).await? {
                Some(hosts) => hosts,
                None => vec![json!({
                    "ip": "127.0.0.1",
                    "slots": host.slots(),
                    "usedSlots": host.in_flight(),
                })],
            };
            Ok(axum::Json(json!({ "hosts": hosts })).into_response())
        }
        "RESET" | "FLUSH_EXECUTORS" => {
            let flush_host = Arc::clone(&host);
            blocking(move || {
                flush_host.flush();
                Ok(())
            })
            .await?;
            let answer = if kind == "RESET" {
                "Planner fully reset!"
            } else {
                "Flushed executors!"
            };
            Ok(answer.into_response())
        }
        other => Err(bad_request(format!(
            "unsupported http_type {other}: this host serves EXECUTE_BATCH, \
             EXECUTE_BATCH_STATUS, GET_AVAILABLE_HOSTS, RESET and FLUSH_EXECUTORS"
        ))),
    }
}

async fn execute_batch(host: Arc<Host>, batch: Map<String, Value>) -> Result<Response, ApiError> {
    let messages = match field(&batch, &["messages"]) {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => return Err(bad_request("the batch has no messages")),
    };
    if messages.len() > MAX_BATCH_MESSAGES {
        return Err(bad_request(format!(
            "the batch has {} messages; at most {MAX_BATCH_MESSAGES} are taken",
            messages.len()
        )));
    }
    let batch_user = string_field(&batch, &["user"]);
    let batch_function = string_field(&batch, &["function"]);
    let mut parsed = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(fields) = message else {
            return Err(bad_request(format!("message {index} is not an object")));
        };
        let name = |names: &[&str], fallback: &Option<String>| {
            string_field(fields, names)
                .or_else(|| fallback.clone())
                .ok_or_else(|| bad_request(format!("message {index} names no {}", names[0])))
        };
        // Faasm names a Python function's script in `py_user`/`py_func` (its `user` and
        // `function` name the interpreter); here a Python function is stored under its own.
        let python = bool_field(fields, &["python", "isPython", "is_python"]);
        let (user, function) = if python {
            (
                name(&["py_user", "pythonUser", "python_user"], &None)?,
                name(&["py_func", "pythonFunction", "python_function"], &None)?,
            )
        } else {
            (
                name(&["user"], &batch_user)?,
                name(&["function"], &batch_function)?,
            )
        };
        let py_entry =
            string_field(fields, &["py_entry", "pythonEntry", "python_entry"]).unwrap_or_default();
        if !py_entry.is_empty() {
            faasm_hostcalls::check_py_entry(&py_entry)
                .map_err(|why| bad_request(format!("message {index}: {why}")))?;
        }
        parsed.push(BatchMessage {
            cmdline: string_field(fields, &["cmdline"]).unwrap_or_default(),
            py_entry,
            user,
            function,
            input: bytes_field(fields, &["input_data", "inputData"])
                .map_err(|why| bad_request(format!("message {index}: {why}")))?,
            fields: fields.clone(),
        });
    }
    let requested = int_field(&batch, &["appId"]).and_then(|id| i32::try_from(id).ok());
    let submit_host = Arc::clone(&host);
    let (app_id, count) = blocking(move || submit_host.execute_batch(requested, parsed)).await?;
    let status = json!({
        "appId": app_id,
        "finished": false,
        "expectedNumMessages": count,
        "messageResults": [],
    });
    Ok(axum::Json(status).into_response())
}

fn batch_status(host: &Host, batch: &Map<String, Value>) -> Result<Response, ApiError> {
    let app_id = int_field(batch, &["appId"])
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| bad_request("EXECUTE_BATCH_STATUS needs the batch's appId"))?;
    let (messages, finished) = host.batch_status(app_id)?;
    let results: Vec<Value> = if finished {
        messages
            .into_iter()
            .map(|(fields, result)| message_result(fields, result.as_deref()))
            .collect()
    } else {
        Vec::new()
    };
    let status = json!({
        "appId": app_id,
        "finished": finished,
        "expectedNumMessages": results.len().max(usize::from(!finished)),
        "messageResults": results,
    });
    Ok(axum::Json(status).into_response())
}

/// A message as the batch gave it, with its output, return value and times.
fn message_result(mut fields: Map<String, Value>, result: Option<&CallResult>) -> Value {
    if let Some(result) = result {
        for name in [
            "outputData",
            "output_data",
            "returnValue",
            "startTimestamp",
            "start_ts",
            "finishTimestamp",
            "finish_ts",
        ] {
            fields.remove(name);
        }
        let output = String::from_utf8_lossy(&result.output).into_owned();
        fields.insert("output_data".to_string(), Value::String(output));
        fields.insert("returnValue".to_string(), json!(result.return_value));
        let (start, finish) = epoch_millis(result.duration);
        fields.insert("start_ts".to_string(), Value::String(start.to_string()));
        fields.insert("finish_ts".to_string(), Value::String(finish.to_string()));
    }
    Value::Object(fields)
}

/// Milliseconds since the epoch at the start and end of a call that ended (about) now after
/// `duration`.
fn epoch_millis(duration: std::time::Duration) -> (u128, u128) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let start = now.saturating_sub(duration);
    (start.as_millis(), now.as_millis())
}

/// A boolean field (absent, or not a boolean: false).
fn bool_field(object: &Map<String, Value>, names: &[&str]) -> bool {
    field(object, names)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A string field.
fn string_field(object: &Map<String, Value>, names: &[&str]) -> Option<String> {
    field(object, names)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// An integer field, as a number or (64-bit integers in protobuf's JSON) a string.
fn int_field(object: &Map<String, Value>, names: &[&str]) -> Option<i64> {
    match field(object, names)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// A `bytes` field: base64, standard or URL-safe, padded or not (empty when absent).
fn bytes_field(object: &Map<String, Value>, names: &[&str]) -> Result<Vec<u8>, String> {
    match field(object, names) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => {
            let trimmed = text.trim_end_matches('=');
            STANDARD_NO_PAD
                .decode(trimmed)
                .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
                .map_err(|error| format!("`{}` is not base64: {error}", names[0]))
        }
        Some(_) => Err(format!("`{}` is not a string", names[0])),
    }
}

/// The paper-era call: `input_data` is the input as text; sync answers the output, async the
/// call id.
async fn paper_call(host: Arc<Host>, request: &Map<String, Value>) -> Result<Response, ApiError> {
    let user = string_field(request, &["user"]).ok_or_else(|| bad_request("no `user`"))?;
    let function =
        string_field(request, &["function"]).ok_or_else(|| bad_request("no `function`"))?;
    let input = match field(request, &["input_data", "inputData"]) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text.as_bytes().to_vec(),
        Some(_) => return Err(bad_request("`input_data` is not a string")),
    };
    let asynchronous = field(request, &["async", "isAsync"]).and_then(Value::as_bool) == Some(true);
    let call = crate::routes::submit(&host, user, function, input).await?;
    if asynchronous {
        return Ok(host.track(call).to_string().into_response());
    }
    let result = host.finished(call).await;
    Ok(crate::routes::call_response(&result, host.cluster_id()))
}

/// `{"id": N, "status": true}`: `RUNNING`, `SUCCESS: output` or `FAILED: output`.
fn paper_status(host: &Host, request: &Map<String, Value>) -> Result<Response, ApiError> {
    let id = int_field(request, &["id"])
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| bad_request("a status request needs the call's `id`"))?;
    let answer = match host.poll(id).map_err(ApiError::from)? {
        Poll::Running => "RUNNING".to_string(),
        Poll::Finished(result) if result.succeeded() => {
            format!("SUCCESS: {}", String::from_utf8_lossy(&result.output))
        }
        Poll::Finished(result) => {
            let output = String::from_utf8_lossy(&result.output);
            if output.is_empty() {
                format!("FAILED: {}", failure_text(&result))
            } else {
                format!("FAILED: {output}")
            }
        }
    };
    Ok(answer.into_response())
}
