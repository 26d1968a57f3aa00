//! The command line as a client of a running host (`--server URL`): uploads, invocations and
//! state values over the host's HTTP API, with the host's `{"error": ...}` answers as errors.

use crate::error::CliError;
use faasm_scheduler::FunctionId;
use std::time::Duration;

/// The header that carries a call's return value.
const RETURN_VALUE_HEADER: &str = "x-faasm-return-value";

/// A call's answer: its output and return value.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The output.
    pub(crate) output: Vec<u8>,
    /// The function's return value.
    pub(crate) return_value: i32,
}

/// A host at `server` (`http://HOST:PORT`).
#[derive(Debug)]
pub(crate) struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the host at `server`, whose requests may take `timeout` each.
    pub(crate) fn new(server: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            base: server.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// `PUT /f/{user}/{func}`.
    pub(crate) fn upload(&self, id: &FunctionId, wasm: &[u8]) -> Result<(), CliError> {
        self.send("PUT", &format!("/f/{}/{}", id.user, id.function), wasm)
            .map(|_| ())
    }

    /// `PUT /p/{user}/{func}`: a Python function's source.
    pub(crate) fn upload_python(&self, id: &FunctionId, source: &[u8]) -> Result<(), CliError> {
        self.send("PUT", &format!("/p/{}/{}", id.user, id.function), source)
            .map(|_| ())
    }

    /// `POST /f/{user}/{func}`: the call's output and return value.
    pub(crate) fn invoke(&self, id: &FunctionId, input: &[u8]) -> Result<Answer, CliError> {
        let path = format!("/f/{}/{}", id.user, id.function);
        let (headers, output) = self.send("POST", &path, input)?;
        let return_value = headers
            .get(RETURN_VALUE_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| CliError::Remote {
                url: self.url(&path),
                status: Some(200),
                message: format!("the answer has no {RETURN_VALUE_HEADER} header"),
            })?;
        Ok(Answer {
            output,
            return_value,
        })
    }

    /// `PUT /s/{user}/{key}`.
    pub(crate) fn put_state(&self, key: &str, data: &[u8]) -> Result<(), CliError> {
        self.send("PUT", &format!("/s/{key}"), data).map(|_| ())
    }

    /// `GET /s/{user}/{key}`.
    pub(crate) fn get_state(&self, key: &str) -> Result<Vec<u8>, CliError> {
        self.send("GET", &format!("/s/{key}"), b"")
            .map(|(_, body)| body)
    }

    /// `DELETE /s/{user}/{key}`.
    pub(crate) fn delete_state(&self, key: &str) -> Result<(), CliError> {
        self.send("DELETE", &format!("/s/{key}"), b"").map(|_| ())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; a 2xx answer's headers and body, or the error it reports.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(ureq::http::HeaderMap, Vec<u8>), CliError> {
        let url = self.url(path);
        let failed = |status, message: String| CliError::Remote {
            url: url.clone(),
            status,
            message,
        };
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .body(body.to_vec())
            .map_err(|error| failed(None, format!("bad request: {error}")))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|error| failed(None, error.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|error| failed(Some(status), format!("cannot read the answer: {error}")))?;
        if (200..300).contains(&status) {
            return Ok((headers, body));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|answer| answer["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(failed(Some(status), format!("{status}: {message}")))
    }
}
