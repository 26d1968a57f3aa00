//! `faasm-run serve` through the built binary and a real HTTP client: each test starts a host
//! of its own on a free loopback port (`--listen 127.0.0.1:0`; the bound address is the first
//! line of its stdout) over a store of its own, and drives it over HTTP: upload, download,
//! synchronous and asynchronous invoke, state (shared with `faasm-run invoke` processes on the
//! same store, and kept whole through a `kill -9` mid-push), shared files (`/file`, read by
//! functions at `faasm://`), Faasm's planner messages (and the paper-era form), metrics, every
//! error code, bad input, 1,000 connections at once, and a graceful shutdown with a call in
//! flight. The example functions of `functions/` are built by
//! `support/functions.rs`.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/functions.rs"]
mod functions;
#[path = "support/python.rs"]
mod python;
#[path = "../state/tests/common/mod.rs"]
mod redis_server;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A module that outputs nothing and returns at once.
const NOOP: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

/// A module that never returns (until its timeout).
const SPIN: &str = r#"(module (memory (export "memory") 1)
    (func (export "_start") (loop $l (br $l))))"#;

/// A module that traps.
const TRAP: &str = r#"(module (memory (export "memory") 1)
    (func $inner unreachable)
    (func (export "_start") (call $inner)))"#;

/// A module that counts down from 2^31 (a second or so of work), then outputs `done`.
const SLOW: &str = r#"(module
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "done")
    (func (export "_start") (local $n i64)
        (local.set $n (i64.const 2147483648))
        (loop $l
            (local.set $n (i64.sub (local.get $n) (i64.const 1)))
            (br_if $l (i64.ne (local.get $n) (i64.const 0))))
        (call $write (i32.const 16) (i32.const 4))))"#;

/// Outputs the state value `input` of its user (read from the global tier on first use).
const READ_STATE: &str = r#"(module
    (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "input\00")
    (func (export "_start") (local $size i32)
        (local.set $size (call $read (i32.const 16) (i32.const 0) (i32.const 0)))
        (drop (call $read (i32.const 16) (i32.const 64) (local.get $size)))
        (call $write (i32.const 64) (local.get $size))))"#;

/// The same for the value `shared`.
const READ_STATE_SHARED: &str = r#"(module
    (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "shared\00")
    (func (export "_start") (local $size i32)
        (local.set $size (call $read (i32.const 16) (i32.const 0) (i32.const 0)))
        (drop (call $read (i32.const 16) (i32.const 64) (local.get $size)))
        (call $write (i32.const 64) (local.get $size))))"#;

/// Writes "hello" to the state value `pushed` and pushes it to the global tier.
const PUSH_STATE: &str = r#"(module
    (import "env" "__faasm_write_state" (func $write (param i32 i32 i32)))
    (import "env" "__faasm_push_state" (func $push (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "pushed\00")
    (data (i32.const 32) "hello")
    (func (export "_start")
        (call $write (i32.const 16) (i32.const 32) (i32.const 5))
        (call $push (i32.const 16))))"#;

/// Writes its input as the state value `shared` and pushes it.
const WRITE_INPUT_AS_SHARED: &str = r#"(module
    (import "env" "__faasm_read_input" (func $input (param i32 i32) (result i32)))
    (import "env" "__faasm_write_state" (func $write (param i32 i32 i32)))
    (import "env" "__faasm_push_state" (func $push (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "shared\00")
    (func (export "_start") (local $size i32)
        (local.set $size (call $input (i32.const 64) (i32.const 1024)))
        (call $write (i32.const 16) (i32.const 64) (local.get $size))
        (call $push (i32.const 16))))"#;

/// This test binary's scratch directory.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-serve");
    fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// A running `faasm-run serve`, killed when dropped (if it has not ended).
struct Host {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Host {
    /// Starts a host over a new store named `name`, with `options` added.
    fn start(name: &str, options: &[&str]) -> Host {
        let dir = scratch().join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Host::start_in(&dir, options)
    }

    /// Starts a host over the store in `dir` as it is (what a restart finds).
    fn start_in(dir: &Path, options: &[&str]) -> Host {
        let log = dir.join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(dir.join("store"))
            .args(options)
            .env("HOME", dir.join("home"))
            .env("FAASM_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting faasm-run serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "no address from serve: {line:?}; log: {}",
                    fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        Host { child, base, log }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `host:port` part.
    fn address(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        request(&self.url(path), method, body, &[])
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, b"")
    }

    /// Uploads `wasm` as `id` and checks the answer.
    fn upload(&self, id: &str, wasm: &[u8]) {
        let reply = self.request("PUT", &format!("/f/{id}"), wasm);
        assert_eq!(reply.status, 200, "upload of {id}: {}", reply.text());
        assert_eq!(reply.text(), "Function upload complete");
    }

    fn upload_wat(&self, id: &str, wat: &str) {
        self.upload(id, &wat::parse_str(wat).unwrap());
    }

    /// `POST /` with a JSON document.
    fn planner(&self, message: &Value) -> Reply {
        self.request("POST", "/", message.to_string().as_bytes())
    }

    /// Checks that the host still answers.
    fn assert_alive(&self) {
        let reply = self.get("/ping");
        assert_eq!((reply.status, reply.text().as_str()), (200, "PONG"));
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ends the process at once with SIGKILL (`kill -9`), as a crash would.
    fn kill_hard(&mut self) {
        self.child.kill().expect("killing serve");
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `error` of a JSON error answer.
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text()))
            .to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// One request with `ureq`.
fn request(url: &str, method: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let agent = agent();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(body.to_vec()).unwrap();
    let mut response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends `head` on a new connection (closing after the answer) and returns the answer's
/// status and body.
fn raw_request(address: &str, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // The server may close the connection with the unread body pending: what was read counts.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_string());
    (status, body)
}

fn echo_wasm() -> Vec<u8> {
    fs::read(functions::c_function("echo")).unwrap()
}

/// Polls `GET /calls/{id}` until the call has ended.
fn wait_for_call(host: &Host, id: u64) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = host.get(&format!("/calls/{id}"));
        if reply.status != 202 {
            return reply;
        }
        assert!(Instant::now() < deadline, "call {id} never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ping_upload_download_and_invoke() {
    let host = Host::start("basics", &[]);
    host.assert_alive();
    let echo = echo_wasm();
    host.upload("demo/echo", &echo);

    let download = host.get("/f/demo/echo");
    assert_eq!(download.status, 200);
    assert_eq!(download.body, echo, "the module as uploaded");

    let reply = host.request("POST", "/f/demo/echo", b"hello over http");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "hello over http");
    assert_eq!(reply.header("x-faasm-return-value"), Some("0"));

    // Binary input comes back byte for byte; an empty input gives an empty output.
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(host.request("POST", "/f/demo/echo", &bytes).body, bytes);
    assert_eq!(host.request("POST", "/f/demo/echo", b"").body, b"");

    // Asynchronous: 202 and an id, then the result at /calls/{id}.
    let accepted = host.request("POST", "/f/demo/echo?async=true", b"later");
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["id"].as_u64().expect("a call id");
    let done = wait_for_call(&host, id);
    assert_eq!(done.status, 200);
    assert_eq!(done.text(), "later");

    // A non-zero return value is the function's answer: 200, the value in the header.
    host.upload_wat(
        "demo/ret42",
        r#"(module (memory (export "memory") 1) (func (export "_start") (result i32) (i32.const 42)))"#,
    );
    let reply = host.request("POST", "/f/demo/ret42", b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-faasm-return-value"), Some("42"));

    // A new upload replaces the function for later calls.
    host.upload_wat("demo/echo", NOOP);
    assert_eq!(host.request("POST", "/f/demo/echo", b"x").body, b"");
}

#[test]
fn errors_have_fitting_codes() {
    let host = Host::start("errors", &["--timeout", "1s", "--max-body", "1MiB"]);
    // 400: a module that is not Wasm, with the byte offset; a malformed one; missing imports.
    let reply = host.request("PUT", "/f/demo/bad", b"this is not wasm");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.error().contains("offset"), "{}", reply.text());
    let reply = host.request("PUT", "/f/demo/bad", b"\0asm\x01\0\0\0\x01");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.error().contains("offset"), "{}", reply.text());
    let needs =
        wat::parse_str(r#"(module (import "env" "__faasm_nope" (func)) (func (export "_start")))"#)
            .unwrap();
    let reply = host.request("PUT", "/f/demo/needs", &needs);
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("env.__faasm_nope"),
        "{}",
        reply.text()
    );
    assert_eq!(host.get("/f/demo/bad").status, 404, "nothing was stored");

    // 404: unknown function, call, endpoint.
    let reply = host.request("POST", "/f/demo/nope", b"");
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("demo/nope"), "{}", reply.text());
    assert_eq!(host.get("/f/demo/nope").status, 404);
    assert_eq!(host.get("/calls/12345").status, 404);
    assert_eq!(host.get("/calls/not-a-number").status, 404);
    assert_eq!(host.get("/nowhere").status, 404);

    // 500: a trap, with its backtrace.
    host.upload_wat("demo/trap", TRAP);
    let reply = host.request("POST", "/f/demo/trap", b"");
    assert_eq!(reply.status, 500, "{}", reply.text());
    let error = reply.error();
    assert!(error.contains("unreachable"), "{error}");
    assert!(error.contains("wasm backtrace"), "{error}");

    // 504: past the call's timeout (1 s here).
    host.upload_wat("demo/spin", SPIN);
    let start = Instant::now();
    let reply = host.request("POST", "/f/demo/spin", b"");
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(reply.error().contains("timed out"), "{}", reply.text());
    assert!(start.elapsed() < Duration::from_secs(30));

    // 413: a body over --max-body, for an upload, an invoke, a state value and the planner.
    // The answer comes as soon as the declared length is over the limit, before the body is
    // read (so a raw socket sends the headers only: a client still writing may see the
    // connection closed under it).
    for (method, path) in [
        ("PUT", "/f/demo/big"),
        ("POST", "/f/demo/trap"),
        ("PUT", "/s/demo/big"),
        ("POST", "/"),
    ] {
        let (status, body) = raw_request(
            host.address(),
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: faasm\r\nContent-Length: {}\r\n\r\n",
                2 << 20
            ),
        );
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }
    // A chunked body (no declared length) is cut at the limit as it is read.
    let mut stream = TcpStream::connect(host.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let size = (1 << 20) + 16;
    let mut chunked = format!(
        "PUT /s/demo/big HTTP/1.1\r\nHost: faasm\r\nTransfer-Encoding: chunked\r\n\r\n{size:x}\r\n"
    )
    .into_bytes();
    chunked.extend(vec![b'x'; size]);
    chunked.extend(b"\r\n0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&chunked);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A body of the limit's size exactly is taken (and then refused as no Wasm).
    let reply = host.request("PUT", "/f/demo/big", &vec![b'x'; 1 << 20]);
    assert_eq!(reply.status, 400, "{}", reply.text());

    // 400: names that could leave the store.
    let echo = echo_wasm();
    for path in [
        "/f/demo/%2E%2E",
        "/f/%2E%2E/echo",
        "/f/demo%2Fx/echo",
        "/f/demo/a%2Fb",
        "/f/./echo",
        "/f/demo/a%00b",
    ] {
        let reply = host.request("PUT", path, &echo);
        assert!(
            reply.status == 400 || reply.status == 404,
            "PUT {path}: {} {}",
            reply.status,
            reply.text()
        );
        assert_ne!(reply.status, 200);
    }
    let reply = host.request("PUT", "/f/demo/%2E%2E", &echo);
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("bad function name"),
        "{}",
        reply.text()
    );
    assert_eq!(host.request("POST", "/f/..%2F../echo", b"").status, 400);
    assert!(
        !scratch().join("errors/echo").exists(),
        "nothing written outside the store"
    );
    host.assert_alive();
}

/// `tests/guests/c/shared_file.c` (over `sdk/c/faasm.h`), built.
fn shared_file_wasm() -> Vec<u8> {
    let mut guest = build::CBuild::guest("shared_file");
    guest.includes.push(functions::sdk_dir().join("c"));
    fs::read(build::build_c(&guest, build::CTarget::Wasi)).unwrap()
}

impl Host {
    /// `PUT /file` with `FilePath: path`.
    fn put_file(&self, path: &str, bytes: &[u8]) -> Reply {
        request(&self.url("/file"), "PUT", bytes, &[("FilePath", path)])
    }

    /// `GET /file` with `FilePath: path`.
    fn get_file(&self, path: &str) -> Reply {
        request(&self.url("/file"), "GET", b"", &[("FilePath", path)])
    }
}

#[test]
fn shared_files_are_uploaded_and_read_at_faasm_urls() {
    let host = Host::start("files", &["--max-body", "1MiB"]);
    host.upload("demo/shared", &shared_file_wasm());
    let reply = host.put_file("data/x.txt", b"hello shared file");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "File upload complete");
    let reply = host.get_file("data/x.txt");
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (200, &b"hello shared file"[..])
    );

    // A function reads it at faasm://data/x.txt through stock wasi-libc's fopen.
    let reply = host.request("POST", "/f/demo/shared", b"read data/x.txt");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-faasm-return-value"), Some("0"));
    assert_eq!(reply.text(), "hello shared file");
    // Replaced whole: the next call reads the new bytes; binary bytes round-trip.
    let bytes: Vec<u8> = (0..=255).cycle().take(300_000).collect();
    assert_eq!(host.put_file("data/x.txt", &bytes).status, 200);
    assert_eq!(host.get_file("data/x.txt").body, bytes);
    assert_eq!(
        host.request("POST", "/f/demo/shared", b"read data/x.txt")
            .body,
        bytes
    );
    // Faasm's clients may name it with its URL.
    assert_eq!(host.get_file("faasm://data/x.txt").body, bytes);

    // 404 for a file never uploaded, over HTTP and in the guest.
    let reply = host.get_file("data/missing");
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.error().contains("no shared file"), "{}", reply.text());
    let reply = host.request("POST", "/f/demo/shared", b"read data/missing");
    assert_eq!(reply.header("x-faasm-return-value"), Some("1"));
    assert_eq!(reply.text(), "ENOENT");

    // 400 for paths that could leave the directory (or name nothing), and without the header.
    let long = "x/".repeat(600);
    for path in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a/./b",
        "a//b",
        "data/",
        "faasm:///etc/passwd",
        "",
        long.as_str(),
    ] {
        for reply in [host.put_file(path, b"planted"), host.get_file(path)] {
            assert_eq!(reply.status, 400, "{path:?}: {}", reply.text());
            assert!(
                reply.error().contains("bad shared file path"),
                "{}",
                reply.text()
            );
        }
    }
    for method in ["PUT", "GET"] {
        let reply = host.request(method, "/file", b"x");
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.error().contains("FilePath"), "{}", reply.text());
    }
    let store = scratch().join("files/store");
    for planted in ["../x", "x", "b", "../b", "../../b", "store/b"] {
        assert!(!store.join(planted).exists(), "{planted} was written");
    }
    // 409 where the path runs into a file, or is a directory.
    assert_eq!(host.put_file("data/x.txt/y", b"y").status, 409);
    assert_eq!(host.put_file("data", b"d").status, 409);
    // 413 over the body limit.
    let (status, body) = raw_request(
        host.address(),
        &format!(
            "PUT /file HTTP/1.1\r\nHost: faasm\r\nFilePath: big\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        ),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(host.get_file("big").status, 404);

    // Every write through faasm:// fails: the preopen is read-only. (wasi-libc opens with the
    // rights the directory lets it have, so `open(O_RDWR)` gives a descriptor that cannot
    // write; its `write` says EBADF, as POSIX does for a descriptor not open for writing.)
    let reply = host.request("POST", "/f/demo/shared", b"write data/x.txt");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "fopen w: error ENOTCAPABLE\n\
         fopen a: error ENOTCAPABLE\n\
         open rdwr: ok\n\
         write: error EBADF\n\
         ftruncate: error ENOTCAPABLE\n\
         open trunc: error ENOTCAPABLE\n\
         unlink: error ENOTCAPABLE\n\
         rename: error ENOTCAPABLE\n\
         mkdir: error ENOTCAPABLE\n\
         create: error ENOTCAPABLE\n"
    );
    assert_eq!(host.get_file("data/x.txt").body, bytes, "unchanged");
    let mut names: Vec<String> = fs::read_dir(store.join("#files"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["data"], "nothing created beside it");

    // `faasm-run invoke` on the same store reads them too.
    let output = faasm_run(&[
        "invoke",
        "demo/shared",
        "--store",
        store.to_str().unwrap(),
        "--input",
        "read data/x.txt",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, bytes);
    host.assert_alive();
}

#[test]
fn a_full_host_answers_503() {
    let host = Host::start("full", &["--timeout", "3s", "--max-in-flight", "1"]);
    host.upload_wat("demo/spin", SPIN);
    host.upload_wat("demo/noop", NOOP);
    let accepted = host.request("POST", "/f/demo/spin?async=true", b"");
    assert_eq!(accepted.status, 202);
    let reply = host.request("POST", "/f/demo/noop", b"");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.error().contains("max_in_flight"), "{}", reply.text());
    // The spinning call ends at its timeout: its result is a 504; then the host takes calls.
    let id = accepted.json()["id"].as_u64().unwrap();
    assert_eq!(wait_for_call(&host, id).status, 504);
    assert_eq!(host.request("POST", "/f/demo/noop", b"").status, 200);
}

#[test]
fn state_values_over_http() {
    let host = Host::start("state", &[]);
    let reply = host.request("PUT", "/s/demo/greeting", b"hello state");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = host.get("/s/demo/greeting");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello state");
    // Replaced whole.
    host.request("PUT", "/s/demo/greeting", b"hi");
    assert_eq!(host.get("/s/demo/greeting").text(), "hi");
    // Users are namespaces.
    assert_eq!(host.get("/s/other/greeting").status, 404);
    assert_eq!(host.get("/s/demo/missing").status, 404);
    assert_eq!(host.request("PUT", "/s/demo/empty", b"").status, 400);
    assert_eq!(host.request("PUT", "/s/demo/%2E%2E", b"x").status, 400);

    // Functions of the user read values set over HTTP, and their pushes can be got over it.
    host.upload_wat("demo/read", READ_STATE);
    host.upload_wat("demo/push", PUSH_STATE);
    host.request("PUT", "/s/demo/input", b"from http");
    let reply = host.request("POST", "/f/demo/read", b"");
    assert_eq!((reply.status, reply.text().as_str()), (200, "from http"));
    assert_eq!(host.request("POST", "/f/demo/push", b"").status, 200);
    assert_eq!(host.get("/s/demo/pushed").text(), "hello");
    assert_eq!(
        host.get("/s/other/pushed").status,
        404,
        "pushed for its user only"
    );
    host.assert_alive();
}

#[test]
fn state_over_a_shared_redis_tier() {
    let Some(redis) = redis_server::redis_or_skip("state_over_a_shared_redis_tier") else {
        return;
    };
    let first = Host::start("redis-first", &["--state", &redis.url()]);
    let second = Host::start("redis-second", &["--state", &redis.url()]);
    assert_eq!(
        first.request("PUT", "/s/demo/shared", b"one tier").status,
        200
    );
    assert_eq!(second.get("/s/demo/shared").text(), "one tier");
    second.upload_wat("demo/read", READ_STATE_SHARED);
    assert_eq!(
        second.request("POST", "/f/demo/read", b"").text(),
        "one tier"
    );
}

/// Bytes of the value [`PUSH_GENERATION`] pushes.
const GENERATION_BYTES: usize = 8 << 20;

/// Fills 8 MiB with the first byte of its input (the generation) and pushes it whole as the
/// state value `big`.
const PUSH_GENERATION: &str = r#"(module
    (import "env" "__faasm_read_input" (func $input (param i32 i32) (result i32)))
    (import "env" "__faasm_write_state" (func $write (param i32 i32 i32)))
    (import "env" "__faasm_push_state" (func $push (param i32)))
    (memory (export "memory") 200)
    (data (i32.const 16) "big\00")
    (func (export "_start")
        (drop (call $input (i32.const 32) (i32.const 1)))
        (memory.fill (i32.const 65536) (i32.load8_u (i32.const 32)) (i32.const 8388608))
        (call $write (i32.const 16) (i32.const 65536) (i32.const 8388608))
        (call $push (i32.const 16))))"#;

/// Where the pushing client is: the last generation whose call answered 200, when the call in
/// flight (of the next generation) was sent, and the total duration of the warm calls.
#[derive(Debug, Clone, Copy)]
struct Pushes {
    last_ok: u8,
    in_flight_since: Instant,
    durations: Duration,
    calls: u32,
}

/// Calls `demo/push_generation` at `url` with generations `first`, `first + 1`, ... one after
/// the other until a call fails (the host was killed), keeping `pushes` up to date.
fn push_generations(url: String, first: u8, pushes: std::sync::Arc<std::sync::Mutex<Pushes>>) {
    let agent = agent();
    for generation in first..=u8::MAX {
        let sent = Instant::now();
        pushes.lock().unwrap().in_flight_since = sent;
        let status = agent
            .post(&url)
            .send(&[generation][..])
            .map(|response| response.status().as_u16());
        if status.ok() != Some(200) {
            return;
        }
        let mut pushes = pushes.lock().unwrap();
        pushes.last_ok = generation;
        // The first call after a start loads the function: not counted in the mean.
        if generation != first {
            pushes.durations += sent.elapsed();
            pushes.calls += 1;
        }
    }
}

/// Issue 14: a `serve` killed with `kill -9` while a function pushes a large value keeps the
/// old value or the new one, never a mix. Each of six rounds lets a client push 8 MiB values
/// of successive generations, kills the host at a point of a call that moves from round to
/// round (40% to 100% of the warm calls' mean duration after the call in flight was sent: the
/// push is the end of a call), restarts it on the same store and reads the value over HTTP.
#[test]
fn a_kill_9_mid_push_keeps_the_old_or_the_new_value() {
    let name = "kill-mid-push";
    let dir = scratch().join(name);
    let mut host = Host::start(name, &[]);
    host.upload_wat("demo/push_generation", PUSH_GENERATION);
    let mut next: u8 = 1;
    let fractions = [0.4, 0.55, 0.7, 0.8, 0.9, 1.0];
    for (round, fraction) in fractions.into_iter().enumerate() {
        let pushes = std::sync::Arc::new(std::sync::Mutex::new(Pushes {
            last_ok: next - 1,
            in_flight_since: Instant::now(),
            durations: Duration::ZERO,
            calls: 0,
        }));
        let client = {
            let (url, pushes) = (host.url("/f/demo/push_generation"), pushes.clone());
            std::thread::spawn(move || push_generations(url, next, pushes))
        };
        // Two warm calls at least, for a mean duration; then the kill inside the next one.
        let deadline = Instant::now() + Duration::from_secs(120);
        let kill_at = loop {
            let now = pushes.lock().unwrap().to_owned();
            if now.calls >= 2 {
                let mean = now.durations / now.calls;
                break now.in_flight_since + mean.mul_f64(fraction);
            }
            assert!(!client.is_finished(), "the pushes failed: {}", host.log());
            assert!(Instant::now() < deadline, "no pushes after 120 s");
            std::thread::sleep(Duration::from_millis(2));
        };
        std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
        host.kill_hard();
        client.join().unwrap();
        let done = *pushes.lock().unwrap();
        host = Host::start_in(&dir, &[]);
        let reply = host.get("/s/demo/big");
        assert_eq!(reply.status, 200, "round {round}: {}", reply.text());
        assert_eq!(reply.body.len(), GENERATION_BYTES, "round {round}");
        let value = reply.body[0];
        assert!(
            value == done.last_ok || value == done.last_ok.wrapping_add(1),
            "round {round}: generation {value} after the last answered {}",
            done.last_ok
        );
        let mixed = reply.body.iter().position(|&byte| byte != value);
        assert_eq!(
            mixed, None,
            "round {round}: a torn value (generation {value} first)"
        );
        // The next round pushes new generations.
        next = done.last_ok + 2;
    }
    host.assert_alive();
}

/// Issue 14: without `--state`, a running `serve` and `faasm-run invoke` processes on the same
/// store share one embedded tier: each sees what the others push.
#[test]
fn serve_and_invoke_processes_share_state() {
    let host = Host::start("shared-state", &[]);
    host.upload_wat("demo/writer", WRITE_INPUT_AS_SHARED);
    host.upload_wat("demo/reader", READ_STATE_SHARED);
    let store = scratch().join("shared-state/store");
    let invoke = |function: &str, input: &str| {
        let output = faasm_run(&[
            "invoke",
            function,
            "--store",
            store.to_str().unwrap(),
            "--input",
            input,
        ]);
        assert!(output.status.success(), "invoke {function}: {output:?}");
        output.stdout
    };
    // One invoke process pushes; the host sees it, over HTTP and in a function.
    invoke("demo/writer", "from-invoke-1");
    assert_eq!(host.get("/s/demo/shared").text(), "from-invoke-1");
    assert_eq!(
        host.request("POST", "/f/demo/reader", b"").text(),
        "from-invoke-1"
    );
    // The host's function pushes; another invoke process reads it.
    let reply = host.request("POST", "/f/demo/writer", b"from-serve-00");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(invoke("demo/reader", ""), b"from-serve-00");
    // That process pushes in turn; the host and the first kind of process see it.
    invoke("demo/writer", "from-invoke-2");
    assert_eq!(host.get("/s/demo/shared").text(), "from-invoke-2");
    assert_eq!(invoke("demo/reader", ""), b"from-invoke-2");
    host.assert_alive();
}

#[test]
fn chain_and_fan_out_over_http() {
    let host = Host::start("chain", &[]);
    host.upload("demo/echo", &echo_wasm());
    host.upload(
        "demo/chain",
        &fs::read(functions::c_function("chain")).unwrap(),
    );
    host.upload(
        "demo/fanout",
        &fs::read(functions::c_function("fanout")).unwrap(),
    );
    let reply = host.request("POST", "/f/demo/chain", b"abc");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "echo said: abc")
    );
    let reply = host.request("POST", "/f/demo/fanout", b"4");
    assert_eq!((reply.status, reply.text().as_str()), (200, "80200"));
    let reply = host.request("POST", "/f/demo/fanout", b"100");
    assert_eq!((reply.status, reply.text().as_str()), (200, "50005000"));
    let reply = host.request("POST", "/f/demo/fanout", b"oops");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-faasm-return-value"), Some("1"));
    assert_eq!(reply.text(), "bad input");
}

#[test]
fn faasm_planner_messages() {
    let host = Host::start("planner", &[]);
    host.upload("demo/echo", &echo_wasm());

    let batch = json!({
        "appId": 7,
        "user": "demo",
        "function": "echo",
        "messages": [
            {"id": 1, "appId": 7, "user": "demo", "function": "echo",
             "input_data": BASE64.encode("first")},
            {"id": 2, "appId": 7, "user": "demo", "function": "echo",
             "inputData": URL_SAFE_NO_PAD.encode("second")},
        ],
    });
    let reply = host.planner(&json!({
        "http_type": "EXECUTE_BATCH",
        "payload": batch.to_string(),
    }));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let status = reply.json();
    assert_eq!(status["appId"], 7);
    assert_eq!(status["finished"], false);

    let deadline = Instant::now() + Duration::from_secs(60);
    let results = loop {
        let reply = host.planner(&json!({
            "http_type": "EXECUTE_BATCH_STATUS",
            "payload": json!({"appId": 7}).to_string(),
        }));
        assert_eq!(reply.status, 200, "{}", reply.text());
        let status = reply.json();
        if status["finished"] == true {
            break status["messageResults"].as_array().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "the batch never finished");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(results.len(), 2);
    for (result, expected) in results.iter().zip(["first", "second"]) {
        assert_eq!(result["output_data"], expected, "{result}");
        assert_eq!(result["returnValue"], 0);
        let start: u64 = result["start_ts"].as_str().unwrap().parse().unwrap();
        let finish: u64 = result["finish_ts"].as_str().unwrap().parse().unwrap();
        assert!(start <= finish && start > 1_600_000_000_000, "{result}");
    }
    assert_eq!(results[0]["id"], 1);

    let hosts = host.planner(&json!({"http_type": "GET_AVAILABLE_HOSTS"}));
    assert_eq!(hosts.status, 200);
    assert_eq!(hosts.json()["hosts"].as_array().unwrap().len(), 1);
    for kind in ["RESET", "FLUSH_EXECUTORS"] {
        assert_eq!(host.planner(&json!({ "http_type": kind })).status, 200);
    }
    // After a flush the function is loaded from the store again.
    assert_eq!(
        host.request("POST", "/f/demo/echo", b"again").text(),
        "again"
    );

    // Errors: unknown type, unknown app, unknown function, bad payloads.
    let reply = host.planner(&json!({"http_type": "GET_EXEC_GRAPH"}));
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("unsupported http_type"),
        "{}",
        reply.text()
    );
    let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH_STATUS",
                                     "payload": "{\"appId\": 999}"}));
    assert_eq!(reply.status, 404);
    let missing = json!({"messages": [{"user": "demo", "function": "nope"}]});
    let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH",
                                     "payload": missing.to_string()}));
    assert_eq!(reply.status, 404, "{}", reply.text());
    for payload in ["{\"messages\": [", "[1, 2]", "{\"messages\": []}"] {
        let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH", "payload": payload}));
        assert_eq!(reply.status, 400, "{payload}: {}", reply.text());
    }
    let not_base64 = json!({"messages": [{"user": "demo", "function": "echo",
                                          "input_data": "%%%"}]});
    let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH",
                                     "payload": not_base64.to_string()}));
    assert_eq!(reply.status, 400);
    for body in [
        &b"{\"http_type\": \"RESET\""[..],
        b"not json",
        b"",
        b"[]",
        b"{}",
    ] {
        let reply = host.request("POST", "/", body);
        assert_eq!(
            reply.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            reply.text()
        );
        assert!(reply.json()["error"].is_string());
    }

    // The paper-era form: synchronous, asynchronous, and the status of a call.
    let reply = host.planner(&json!({"user": "demo", "function": "echo",
                                     "input_data": "paper"}));
    assert_eq!((reply.status, reply.text().as_str()), (200, "paper"));
    let reply = host.planner(&json!({"user": "demo", "function": "echo",
                                     "input_data": "later", "async": true}));
    assert_eq!(reply.status, 200);
    let id: u64 = reply.text().parse().expect("a call id");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = host.planner(&json!({"id": id, "status": true}));
        assert_eq!(reply.status, 200);
        match reply.text().as_str() {
            "RUNNING" => {}
            "SUCCESS: later" => break,
            other => panic!("unexpected status {other}"),
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    host.upload_wat("demo/trap", TRAP);
    let reply = host.planner(&json!({"user": "demo", "function": "trap", "async": true}));
    let id: u64 = reply.text().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = host.planner(&json!({"id": id, "status": true})).text();
        if text.starts_with("FAILED: ") {
            assert!(text.contains("unreachable"), "{text}");
            break;
        }
        assert_eq!(text, "RUNNING");
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host.planner(&json!({"id": 1, "status": true})).status, 404);
    host.assert_alive();
}

#[test]
fn metrics_count_calls_starts_and_uploads() {
    let host = Host::start("metrics", &[]);
    host.upload("demo/echo", &echo_wasm());
    host.upload_wat("demo/trap", TRAP);
    assert_eq!(host.request("PUT", "/f/demo/bad", b"nope").status, 400);
    for _ in 0..3 {
        host.request("POST", "/f/demo/echo", b"x");
    }
    host.request("POST", "/f/demo/trap", b"");
    // After a flush, the next call of a function loads it from the store: a cold start.
    let flush = host.planner(&json!({"http_type": "FLUSH_EXECUTORS"}));
    assert_eq!(flush.status, 200);
    host.request("POST", "/f/demo/echo", b"x");
    let reply = host.get("/metrics");
    assert_eq!(reply.status, 200);
    let text = reply.text();
    for line in [
        r#"faasm_calls_total{user="demo",function="echo",outcome="success"} 4"#,
        r#"faasm_calls_total{user="demo",function="trap",outcome="trap"} 1"#,
        r#"faasm_uploads_total{outcome="success"} 2"#,
        r#"faasm_uploads_total{outcome="error"} 1"#,
        r#"faasm_starts_total{start="warm"} 4"#,
        r#"faasm_starts_total{start="cold"} 1"#,
        "faasm_call_duration_seconds_count 5",
        "faasm_calls_in_flight 0",
        // After the flush, only the Faaslet of the echo call since is alive (idle).
        "faasm_faaslets_alive 1",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}

#[test]
fn a_thousand_connections_at_once() {
    let host = Host::start("connections", &[]);
    let mut streams: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(host.address()).expect("connecting"))
        .collect();
    for stream in &mut streams {
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: faasm\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    for stream in &mut streams {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("PONG"), "{answer}");
    }
    // Half-sent requests and garbage do not hurt it either.
    for junk in [
        &b"GET /pi"[..],
        b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
        b"PUT /f/a/b HTTP/1.1\r\nContent-Length: 99\r\n\r\nshort",
    ] {
        let mut stream = TcpStream::connect(host.address()).unwrap();
        stream.write_all(junk).unwrap();
        drop(stream);
    }
    host.assert_alive();
}

#[test]
fn shutdown_finishes_the_call_in_flight() {
    let mut host = Host::start("shutdown", &["--timeout", "60s"]);
    host.upload_wat("demo/slow", SLOW);
    let url = host.url("/f/demo/slow");
    let call = std::thread::spawn(move || request(&url, "POST", b"", &[]));
    // Wait until the call is admitted, then ask the host to stop.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !host
        .get("/metrics")
        .text()
        .contains("faasm_calls_in_flight 1")
    {
        assert!(Instant::now() < deadline, "the call never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let reply = call.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "done");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = host.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0), "log:\n{}", host.log());
    // New connections are refused once it has stopped.
    assert!(TcpStream::connect(host.address()).is_err());
}

#[test]
fn logs_one_json_line_per_request() {
    let host = Host::start("logs", &["--log-format", "json"]);
    host.assert_alive();
    assert_eq!(host.request("POST", "/f/demo/nope", b"").status, 404);
    // A planner message names its function in the body only.
    let paper = host.planner(&json!({"user": "demo", "function": "gone", "input_data": ""}));
    assert_eq!(paper.status, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = host.log();
        let lines: Vec<Value> = log
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let logged = |path: &str, target: &str| {
            lines.iter().any(|line| {
                line["fields"]["path"] == path
                    && line["fields"]["status"] == 404
                    && line["fields"]["target"] == target
                    && line["fields"]["method"] == "POST"
                    && line["fields"]["duration_ms"].is_number()
            })
        };
        if logged("/f/demo/nope", "demo/nope") && logged("/", "demo/gone") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log line for the request in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `faasm-run` with `args` (a client of a host through `--server`).
fn faasm_run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(args)
        .env("HOME", scratch().join("client-home"))
        .env_remove("FAASM_STORE_DIR")
        .output()
        .expect("running faasm-run")
}

#[test]
fn the_command_line_is_a_client_with_server() {
    let host = Host::start("client", &[]);
    let server = host.base.clone();
    let dir = scratch().join("client-files");
    fs::create_dir_all(&dir).unwrap();
    let echo = functions::c_function("echo");
    let trap = dir.join("trap.wat");
    fs::write(&trap, TRAP).unwrap();
    let ret42 = dir.join("ret42.wat");
    fs::write(
        &ret42,
        r#"(module (memory (export "memory") 1) (func (export "_start") (result i32) (i32.const 42)))"#,
    )
    .unwrap();

    let output = faasm_run(&[
        "upload",
        "demo/echo",
        echo.to_str().unwrap(),
        "--server",
        &server,
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("uploaded demo/echo to {server}")
    );
    // Text modules are assembled by the client; the host stores them as any other.
    for (id, file) in [("demo/trap", &trap), ("demo/ret42", &ret42)] {
        let output = faasm_run(&["upload", id, file.to_str().unwrap(), "--server", &server]);
        assert!(output.status.success(), "{output:?}");
    }
    assert_eq!(host.get("/f/demo/echo").body, fs::read(&echo).unwrap());

    let output = faasm_run(&[
        "invoke",
        "demo/echo",
        "--input",
        "remote",
        "--server",
        &server,
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout, b"remote");
    let output = faasm_run(&["invoke", "demo/ret42", "--server", &server]);
    assert_eq!(output.status.code(), Some(42), "{output:?}");
    let output = faasm_run(&["invoke", "demo/trap", "--server", &server]);
    assert_eq!(output.status.code(), Some(134), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("trapped") && stderr.contains("unreachable"),
        "{stderr}"
    );
    let output = faasm_run(&["invoke", "demo/nope", "--server", &server]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("demo/nope"),
        "{stderr}"
    );
    // Options the host decides are refused rather than dropped.
    let output = faasm_run(&[
        "invoke",
        "demo/echo",
        "--cmdline",
        "a b",
        "--server",
        &server,
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    // State through the host's global tier.
    let value = dir.join("value");
    fs::write(&value, b"via the host").unwrap();
    let put = faasm_run(&[
        "state",
        "put",
        "demo/k",
        value.to_str().unwrap(),
        "--server",
        &server,
    ]);
    assert!(put.status.success(), "{put:?}");
    assert_eq!(host.get("/s/demo/k").text(), "via the host");
    let get = faasm_run(&["state", "get", "demo/k", "--server", &server]);
    assert_eq!(get.stdout, b"via the host");
    let delete = faasm_run(&["state", "delete", "demo/k", "--server", &server]);
    assert!(delete.status.success(), "{delete:?}");
    let get = faasm_run(&["state", "get", "demo/k", "--server", &server]);
    assert_eq!(get.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&get.stderr).contains("404"),
        "{get:?}"
    );
    let bad = faasm_run(&["state", "get", "demo/k?x=1", "--server", &server]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");

    // No host there: one line saying so.
    drop(host);
    let output = faasm_run(&["invoke", "demo/echo", "--server", &server]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("faasm-run: http://"), "{stderr}");
}

/// Sleeps 8 s in `poll_oneoff` (a wait that gives the call's worker back to the scheduler).
const SLEEP_8S: &str = r#"(module
    (import "wasi_snapshot_preview1" "poll_oneoff"
      (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "\01\00\00\00")
    (data (i32.const 24) "\00\50\d6\dc\01\00\00\00")
    (func (export "_start")
      (if (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
        (then unreachable))))"#;

#[test]
fn waiting_calls_do_not_hold_up_new_ones() {
    // More asynchronous calls in flight than tokio's default 512 blocking threads: each has a
    // thread waiting for its end, and a new call must still get through at once.
    let host = Host::start(
        "many-waiting",
        &["--timeout", "30s", "--max-in-flight", "700"],
    );
    host.upload_wat("demo/sleep", SLEEP_8S);
    host.upload_wat("demo/noop", NOOP);
    let agent = agent();
    let url = host.url("/f/demo/sleep?async=true");
    let ids: Vec<u64> = (0..530)
        .map(|_| {
            let mut response = agent.post(&url).send(&[][..]).unwrap();
            assert_eq!(response.status().as_u16(), 202);
            let body: Value = serde_json::from_reader(response.body_mut().as_reader()).unwrap();
            body["id"].as_u64().unwrap()
        })
        .collect();
    let reply = host.request("POST", "/f/demo/noop", b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let first = host.get(&format!("/calls/{}", ids[0]));
    assert_eq!(
        first.status, 202,
        "the new call was answered only after the first sleeping call had ended"
    );
}

const PYTHON_ECHO: &str = "def faasm_main(data):\n    return b'py: ' + data\n\ndef shout(data):\n    return data.upper()\n";

#[test]
fn python_functions_over_http_and_planner_messages() {
    let runtime = python::runtime_dir();
    let host = Host::start("python", &["--python", runtime.to_str().unwrap()]);
    let reply = host.request("PUT", "/p/py/echo", PYTHON_ECHO.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "Python function upload complete");
    let reply = host.request("POST", "/f/py/echo", b"hi");
    assert_eq!((reply.status, reply.text().as_str()), (200, "py: hi"));

    // The command line uploads a `.py` through `PUT /p` and invokes it like any function.
    let source = scratch().join("python").join("shout.py");
    fs::write(&source, "def faasm_main(data):\n    return data.upper()\n").unwrap();
    let upload = faasm_run(&[
        "upload",
        "py/shout",
        source.to_str().unwrap(),
        "--server",
        &host.base,
    ]);
    assert!(upload.status.success(), "{upload:?}");
    let invoke = faasm_run(&[
        "invoke", "py/shout", "--input", "quiet", "--server", &host.base,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&invoke.stdout),
        "QUIET",
        "{invoke:?}"
    );

    // Faasm's planner names the script in py_user/py_func, its entry in py_entry.
    let batch = json!({
        "appId": 9,
        "messages": [
            {"user": "python", "function": "py_func", "python": true, "py_user": "py",
             "py_func": "echo", "input_data": BASE64.encode("one")},
            {"user": "python", "function": "py_func", "python": true, "py_user": "py",
             "py_func": "echo", "py_entry": "shout", "input_data": BASE64.encode("two")},
        ],
    });
    let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH", "payload": batch.to_string()}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    let results = loop {
        let status = host
            .planner(&json!({"http_type": "EXECUTE_BATCH_STATUS",
                             "payload": json!({"appId": 9}).to_string()}))
            .json();
        if status["finished"] == true {
            break status["messageResults"].as_array().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "the batch never finished");
        std::thread::sleep(Duration::from_millis(20));
    };
    let outputs: Vec<&str> = results
        .iter()
        .map(|result| result["output_data"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["py: one", "TWO"]);

    let bad = json!({"messages": [{"python": true, "py_user": "py", "py_func": "echo",
                                   "py_entry": "not an entry"}]});
    let reply = host.planner(&json!({"http_type": "EXECUTE_BATCH", "payload": bad.to_string()}));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.error().contains("is not a Python entry"),
        "{}",
        reply.text()
    );

    let reply = host.request("PUT", "/p/py/broken", b"raise SystemError('at import')\n");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.error().contains("SystemError: at import"),
        "{}",
        reply.text()
    );

    // A host without a Python runtime says so.
    let plain = Host::start("python-none", &[]);
    let reply = plain.request("PUT", "/p/py/echo", PYTHON_ECHO.as_bytes());
    assert_eq!(reply.status, 501, "{}", reply.text());
    assert!(reply.error().contains("--python"), "{}", reply.text());
}
