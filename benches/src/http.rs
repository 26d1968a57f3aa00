//! The `http` group (issue 14): `faasm-run serve` driven over HTTP, beside the machine's floor
//! measured in the same run.
//!
//! - *ours*: the real `faasm-run serve` binary (built first with `cargo build --release --bin
//!   faasm-run` into the target directory of this binary, or the one `$FAASM_RUN` names), on a
//!   free loopback port, over a fresh function store, with its defaults (2 workers, one log line
//!   per request, written to `target/http-bench/serve.log`). The function is
//!   `benches/kernels/http_noop.c` (`int main(void) { return 0; }`, built with `clang
//!   --target=wasm32-wasi -O2`), uploaded with `PUT /f/bench/noop` and invoked synchronously
//!   with `POST /f/bench/noop` and a 4-byte body.
//! - *floor*: this binary again, as a child process ([`FLOOR_ENV`] set): a minimal axum server
//!   (the HTTP stack of `faasm-run serve`, on tokio's multi-threaded runtime) answering every
//!   request with a constant. Nothing on this machine answers HTTP faster than that; the
//!   ratio ours / floor is what the host adds.
//!
//! The load generator is Debian's `wrk` (closed loop, keep-alive connections, `-t` 1 for one
//! connection and 2 otherwise): the same request at 1, 16 and 64 connections, [`Settings::seconds`]
//! per point, after a warm-up. A Lua `done` hook prints the requests, the errors and the exact
//! 50th and 99th percentiles of the latency (µs) on one line. The points of ours and the floor
//! alternate, round after round ([`Settings::rounds`]), so that a burst of load on the shared
//! machine hits both; each figure is the median over the rounds. Any error or non-2xx answer
//! fails the run (no figure is kept for a server that answered errors).
//!
//! The cold invoke: [`COLD_CALLS`] times, a fresh function (the no-op module with a custom
//! section naming it, so that no cache keyed by the module's bytes can serve it) is uploaded
//! under a new name, then its first `POST` is timed on a kept-alive connection (ureq): median
//! and 99th percentile (with 20 calls, the slowest but one).
//!
//! The issue's targets: at least 50% of the floor's requests per second at 64 connections,
//! p99 at most 2 ms at 16 connections, a cold invoke of at most 5 ms.

use crate::Peer;
use crate::report::{Row, Unit};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The connection counts measured.
pub const CONNECTIONS: [u32; 3] = [1, 16, 64];
/// Fresh functions uploaded and invoked once each for the cold figure.
pub const COLD_CALLS: usize = 20;
/// Set in the environment of the floor's child process (this binary started again).
pub const FLOOR_ENV: &str = "FAASM_BENCH_HTTP_FLOOR";
/// The user of every benchmark function.
const USER: &str = "bench";
/// The warm function driven by wrk.
const NOOP: &str = "noop";
/// The body of every invoke (the no-op function ignores it).
const INPUT: &[u8] = b"ping";
/// The targets of issue 14.
const TARGET_RPS_RATIO: f64 = 0.5;
const TARGET_P99_16_US: f64 = 2_000.0;
const TARGET_COLD_US: f64 = 5_000.0;

/// How long the group runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Seconds of load per point (one server, one connection count).
    pub seconds: u32,
    /// Rounds over every point; each figure is the median over them.
    pub rounds: usize,
}

impl Default for Settings {
    /// 3 s per point and 3 rounds: with the warm-ups and the cold calls, about a minute.
    fn default() -> Self {
        Settings {
            seconds: 3,
            rounds: 3,
        }
    }
}

/// One wrk run: requests per second and latency percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Requests answered per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile of the latency, µs.
    pub p99_us: f64,
}

/// Everything the group measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// The settings it ran with.
    pub settings: Settings,
    /// Ours, per connection count (medians over the rounds).
    pub ours: Vec<(u32, Point)>,
    /// The floor, per connection count (medians over the rounds).
    pub floor: Vec<(u32, Point)>,
    /// Every round's points, in the order run (server, connections, point), for the log.
    pub runs: Vec<(&'static str, u32, Point)>,
    /// Cold invokes, sorted, µs.
    pub cold_us: Vec<f64>,
}

impl Results {
    fn at(points: &[(u32, Point)], connections: u32) -> Option<Point> {
        points
            .iter()
            .find(|(c, _)| *c == connections)
            .map(|(_, point)| *point)
    }

    /// Ours at `connections`.
    pub fn ours_at(&self, connections: u32) -> Option<Point> {
        Self::at(&self.ours, connections)
    }

    /// The floor at `connections`.
    pub fn floor_at(&self, connections: u32) -> Option<Point> {
        Self::at(&self.floor, connections)
    }

    /// The median cold invoke, µs.
    pub fn cold_median_us(&self) -> f64 {
        percentile(&self.cold_us, 50.0)
    }

    /// The 99th percentile of the cold invokes, µs.
    pub fn cold_p99_us(&self) -> f64 {
        percentile(&self.cold_us, 99.0)
    }
}

/// The nearest-rank percentile `p` of sorted `values`.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (the upper one of an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// The floor.

/// If this process was started as the floor ([`FLOOR_ENV`] set), serves it until killed and
/// never returns. Call first thing in `main`.
pub fn run_floor_if_requested() {
    if std::env::var_os(FLOOR_ENV).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("floor-http")
        .build()
        .expect("starting the floor's runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the floor to a free loopback port");
        let address = listener.local_addr().expect("the floor's address");
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
        let app = axum::Router::new().fallback(|| async { "ok" });
        axum::serve(listener, app).await.expect("serving the floor");
    });
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// Servers as child processes.

/// A server child process that printed `listening on http://ADDR`; killed on drop.
#[derive(Debug)]
pub(crate) struct Listening {
    child: Child,
    pub(crate) base: String,
}

impl Listening {
    /// Starts `command` (stdout piped) and waits for its address line.
    pub(crate) fn start(mut command: Command, what: &str) -> Result<Listening, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        // The child prints the line once bound, or exits (end of file).
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let status = child.wait();
            return Err(format!(
                "{what} printed no address ({line:?}); it ended with {status:?}"
            ));
        };
        Ok(Listening {
            base: base.to_string(),
            child,
        })
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/http-bench`, next to this binary's profile directory.
fn work_dir() -> PathBuf {
    bench_dir("http-bench")
}

/// `target/NAME` (made if missing), next to this binary's profile directory: a group's
/// scratch files and logs.
pub(crate) fn bench_dir(name: &str) -> PathBuf {
    let dir = profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::target_dir)
        .join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating target/{name}: {e}"));
    dir
}

/// The directory of this binary (`target/release`).
pub(crate) fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("this binary's path");
    exe.parent()
        .expect("a binary has a directory")
        .to_path_buf()
}

/// `faasm-run`: `$FAASM_RUN`, or built now with cargo into this binary's target directory
/// (a no-op when it is up to date), so that the figures are of the code checked out.
pub(crate) fn faasm_run() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FAASM_RUN") {
        return Ok(PathBuf::from(path));
    }
    let profile = profile_dir();
    let target = profile.parent().unwrap_or(&profile);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    eprintln!("http: cargo build --release --bin faasm-run (the server measured)");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "faasm", "--bin", "faasm-run"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .status()
        .map_err(|e| format!("cannot run cargo to build faasm-run: {e}"))?;
    if !status.success() {
        return Err(format!("building faasm-run failed: {status}"));
    }
    Ok(profile.join("faasm-run"))
}

/// `faasm-run serve` on a free loopback port over an empty store in `dir`, with `options`
/// added, logging to `dir/serve.log`.
pub(crate) fn start_ours(
    faasm_run: &Path,
    dir: &Path,
    options: &[&std::ffi::OsStr],
) -> Result<Listening, String> {
    let store = dir.join("store");
    let _ = std::fs::remove_dir_all(&store);
    let log = std::fs::File::create(dir.join("serve.log"))
        .map_err(|e| format!("cannot create {}: {e}", dir.join("serve.log").display()))?;
    let mut command = Command::new(faasm_run);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .args(options)
        .stderr(log);
    Listening::start(command, "faasm-run serve")
}

/// This binary again, as the floor.
fn start_floor() -> Result<Listening, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this binary's path: {e}"))?;
    let mut command = Command::new(exe);
    command.env(FLOOR_ENV, "1").stderr(Stdio::inherit());
    Listening::start(command, "the floor server")
}

// ---------------------------------------------------------------------------------------------
// Functions.

/// `benches/kernels/http_noop.c` for wasm32-wasi (`clang -O2`).
pub(crate) fn build_noop(dir: &Path) -> Result<Vec<u8>, String> {
    let source = crate::kernels::source_dir().join("http_noop.c");
    let wasm = dir.join("http_noop.wasm");
    let output = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Werror"])
        .arg(&source)
        .arg("-o")
        .arg(&wasm)
        .output()
        .map_err(|e| format!("cannot run clang (Debian's clang and wasi-libc): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "clang {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::read(&wasm).map_err(|e| format!("reading {}: {e}", wasm.display()))
}

/// `wasm` with a custom section `faasm-bench` holding `tag` at its end: the same code, other
/// bytes (and so another hash for any cache keyed by them).
pub(crate) fn tagged(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"faasm-bench";
    let mut content = leb128(name.len());
    content.extend_from_slice(name);
    content.extend_from_slice(tag.as_bytes());
    let mut module = wasm.to_vec();
    module.push(0); // custom section
    module.extend(leb128(content.len()));
    module.extend(content);
    module
}

/// Unsigned LEB128.
fn leb128(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

/// A blocking HTTP client with keep-alive.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    pub(crate) fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
        }
    }

    /// `GET path`: the answer's body; an error unless it is 200.
    pub(crate) fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        self.exchange("GET", path, b"")
    }

    /// Sends a request and reads the whole answer; an error unless it is 200.
    pub(crate) fn send(&self, method: &str, path: &str, body: &[u8]) -> Result<(), String> {
        self.exchange(method, path, body).map(drop)
    }

    fn exchange(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .body(body.to_vec())
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .read_to_vec()
            .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
        if status != 200 {
            return Err(format!(
                "{method} {url}: {status} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        Ok(answer)
    }

    fn upload(&self, function: &str, wasm: &[u8]) -> Result<(), String> {
        self.send("PUT", &format!("/f/{USER}/{function}"), wasm)
    }

    fn invoke(&self, function: &str) -> Result<(), String> {
        self.send("POST", &format!("/f/{USER}/{function}"), INPUT)
    }
}

/// Uploads [`COLD_CALLS`] fresh functions and times the first invoke of each (after one
/// unmeasured upload and invoke, which sets up the connection and the server's threads); µs,
/// sorted.
fn cold_invokes(client: &Client, noop: &[u8]) -> Result<Vec<f64>, String> {
    client.upload("cold_warmup", &tagged(noop, "cold_warmup"))?;
    client.invoke("cold_warmup")?;
    let mut times = Vec::with_capacity(COLD_CALLS);
    for i in 0..COLD_CALLS {
        let name = format!("cold{i}");
        client.upload(&name, &tagged(noop, &name))?;
        let started = Instant::now();
        client.invoke(&name)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

// ---------------------------------------------------------------------------------------------
// wrk.

/// The wrk script: a POST with [`INPUT`] as its body, and one line of results at the end
/// (requests, duration in µs, socket errors, non-2xx/3xx answers, p50 and p99 in µs).
pub(crate) const WRK_SCRIPT: &str = r#"-- faasm-benches `http`: POST the same small body on every request.
wrk.method = "POST"
wrk.body = "ping"
wrk.headers["Content-Type"] = "application/octet-stream"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("faasm-bench %.0f %.0f %.0f %.0f %.1f %.1f\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0)))
end
"#;

/// Whether `wrk` runs.
pub(crate) fn wrk_installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `wrk` at `connections` for `seconds` against `url`.
pub(crate) fn wrk(
    script: &Path,
    url: &str,
    connections: u32,
    seconds: u32,
) -> Result<Point, String> {
    let threads = connections.min(2);
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failed = |why: &str| {
        format!(
            "wrk -c{connections} {url}: {why}\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("faasm-bench "))
        .ok_or_else(|| failed("no result line"))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(|field| field.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| failed("a result that is not a number"))?;
    let [
        requests,
        duration_us,
        socket_errors,
        bad_status,
        p50_us,
        p99_us,
    ] = fields[..]
    else {
        return Err(failed("a result line without six fields"));
    };
    if socket_errors > 0.0 || bad_status > 0.0 {
        return Err(failed(&format!(
            "{socket_errors} socket errors and {bad_status} error answers"
        )));
    }
    if requests < 1.0 {
        return Err(failed("no request answered"));
    }
    Ok(Point {
        rps: requests / (duration_us / 1e6),
        p50_us,
        p99_us,
    })
}

// ---------------------------------------------------------------------------------------------
// The run.

/// Runs the group: starts both servers, measures the cold invokes, then every point
/// `settings.rounds` times. Progress on stderr.
pub fn measure(settings: Settings) -> Result<Results, String> {
    if !wrk_installed() {
        return Err("wrk is not installed (Debian: apt-get install -y wrk)".into());
    }
    let dir = work_dir();
    let script = dir.join("post.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| format!("writing post.lua: {e}"))?;
    let noop = build_noop(&dir)?;
    let faasm_run = faasm_run()?;
    let ours = start_ours(&faasm_run, &dir, &[])?;
    let floor = start_floor()?;
    let client = Client::new(&ours.base);
    client.upload(NOOP, &noop)?;
    client.invoke(NOOP)?;
    eprintln!(
        "http: ours at {}, the floor at {}; {COLD_CALLS} cold invokes",
        ours.base, floor.base
    );
    let cold_us = cold_invokes(&client, &noop)?;
    drop(client);
    let path = format!("/f/{USER}/{NOOP}");
    let servers = [("ours", &ours), ("floor", &floor)];
    for (name, server) in servers {
        eprintln!("http: warming up {name} (1 s at 16 connections)");
        wrk(&script, &format!("{}{path}", server.base), 16, 1)?;
    }
    let mut runs = Vec::new();
    for round in 0..settings.rounds {
        for connections in CONNECTIONS {
            // Who goes first alternates, so that neither always follows the other.
            let mut order = servers;
            if round % 2 == 1 {
                order.reverse();
            }
            for (name, server) in order {
                eprintln!(
                    "http: round {}/{}: {name}, {connections} connections, {} s",
                    round + 1,
                    settings.rounds,
                    settings.seconds
                );
                let url = format!("{}{path}", server.base);
                let point = wrk(&script, &url, connections, settings.seconds)?;
                runs.push((name, connections, point));
            }
        }
    }
    let medians = |server: &str| -> Vec<(u32, Point)> {
        CONNECTIONS
            .iter()
            .map(|&connections| {
                let points: Vec<Point> = runs
                    .iter()
                    .filter(|(name, c, _)| *name == server && *c == connections)
                    .map(|(_, _, point)| *point)
                    .collect();
                let of = |f: fn(&Point) -> f64| median(points.iter().map(f).collect());
                let point = Point {
                    rps: of(|p| p.rps),
                    p50_us: of(|p| p.p50_us),
                    p99_us: of(|p| p.p99_us),
                };
                (connections, point)
            })
            .collect()
    };
    Ok(Results {
        settings,
        ours: medians("ours"),
        floor: medians("floor"),
        runs,
        cold_us,
    })
}

// ---------------------------------------------------------------------------------------------
// Output.

/// `123 µs` below 10 ms, else `12.3 ms`.
pub(crate) fn micros(us: f64) -> String {
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

/// `met` or `NOT met (...)`.
fn verdict(met: bool, shortfall: String) -> String {
    if met {
        "met".into()
    } else {
        format!("**not met** ({shortfall})")
    }
}

/// The group's Markdown report: the table of both servers, the targets and whether they were
/// met in this run, and every run's figures.
pub fn markdown(results: &Results) -> String {
    let Settings { seconds, rounds } = results.settings;
    let mut text = format!(
        "## http: synchronous invoke of a no-op C function over `faasm-run serve`\n\n\
         wrk, keep-alive connections, {seconds} s per point, median of {rounds} rounds; \
         floor: a minimal axum server answering a constant, in the same run.\n\n\
         | connections | ours req/s | ours p50 | ours p99 | floor req/s | floor p50 | floor p99 | ours/floor req/s |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for connections in CONNECTIONS {
        let (Some(ours), Some(floor)) =
            (results.ours_at(connections), results.floor_at(connections))
        else {
            continue;
        };
        let _ = writeln!(
            text,
            "| {connections} | {} | {} | {} | {} | {} | {} | {:.2} |",
            crate::proto::thousands(ours.rps),
            micros(ours.p50_us),
            micros(ours.p99_us),
            crate::proto::thousands(floor.rps),
            micros(floor.p50_us),
            micros(floor.p99_us),
            ours.rps / floor.rps,
        );
    }
    let _ = writeln!(
        text,
        "\nCold invoke (upload of a fresh function, then its first `POST`; {} calls): median {}, p99 {}.\n",
        results.cold_us.len(),
        micros(results.cold_median_us()),
        micros(results.cold_p99_us()),
    );
    text.push_str("| target (issue 14) | measured | |\n|---|---:|---|\n");
    if let (Some(ours), Some(floor)) = (results.ours_at(64), results.floor_at(64)) {
        let ratio = ours.rps / floor.rps;
        let _ = writeln!(
            text,
            "| req/s at 64 connections ≥ 50% of the floor's | {:.0}% | {} |",
            ratio * 100.0,
            verdict(
                ratio >= TARGET_RPS_RATIO,
                format!("{:.0} points short", (TARGET_RPS_RATIO - ratio) * 100.0)
            )
        );
    }
    if let Some(ours) = results.ours_at(16) {
        let _ = writeln!(
            text,
            "| p99 at 16 connections ≤ 2 ms | {} | {} |",
            micros(ours.p99_us),
            verdict(
                ours.p99_us <= TARGET_P99_16_US,
                format!("{:.1}× the target", ours.p99_us / TARGET_P99_16_US)
            )
        );
    }
    let cold = results.cold_median_us();
    let _ = writeln!(
        text,
        "| cold invoke (median) ≤ 5 ms | {} | {} |",
        micros(cold),
        verdict(
            cold <= TARGET_COLD_US,
            format!("{:.1}× the target", cold / TARGET_COLD_US)
        )
    );
    text.push_str("\nEvery run (server, connections: req/s, p50, p99):\n\n");
    for (name, connections, point) in &results.runs {
        let _ = writeln!(
            text,
            "- {name}, {connections}: {}, {}, {}",
            crate::proto::thousands(point.rps),
            micros(point.p50_us),
            micros(point.p99_us)
        );
    }
    text
}

/// The group's rows in the report's table: value rows, ours in the `ours` column and **the
/// floor in the `wasmtime` column** (as the names say), so that the ratio column is
/// ours / floor; the cold invoke has no peer.
pub fn value_rows(results: &Results) -> Vec<Row> {
    let row = |name: String, unit: &'static str, ours: f64, floor: Option<f64>| {
        let mut medians = BTreeMap::from([(Peer::Ours, ours)]);
        if let Some(floor) = floor {
            medians.insert(Peer::Wasmtime, floor);
        }
        Row {
            group: "http",
            name,
            medians,
            unit: Unit::Value(unit),
        }
    };
    let mut rows = Vec::new();
    for connections in CONNECTIONS {
        let (Some(ours), Some(floor)) =
            (results.ours_at(connections), results.floor_at(connections))
        else {
            continue;
        };
        let plural = if connections == 1 { "" } else { "s" };
        let label = |what: &str| {
            format!(
                "no-op invoke over `faasm-run serve`, {connections} connection{plural}, {what} (floor: a minimal axum server, in the wasmtime column)"
            )
        };
        rows.push(row(label("req/s"), "req/s", ours.rps, Some(floor.rps)));
        rows.push(row(label("p50"), "µs", ours.p50_us, Some(floor.p50_us)));
        rows.push(row(label("p99"), "µs", ours.p99_us, Some(floor.p99_us)));
    }
    rows.push(row(
        format!(
            "cold invoke of a just-uploaded function, median of {}",
            results.cold_us.len()
        ),
        "µs",
        results.cold_median_us(),
        None,
    ));
    rows.push(row(
        format!(
            "cold invoke of a just-uploaded function, p99 of {}",
            results.cold_us.len()
        ),
        "µs",
        results.cold_p99_us(),
        None,
    ));
    rows
}
