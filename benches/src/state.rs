//! The `state` group (issue 8): push and pull of faasm-state's Redis global tier
//! ([`faasm_state::RedisTier`] under a [`faasm_state::LocalTier`]) against `redis-benchmark`
//! on the same server and the same payload size.
//!
//! The group starts its own `redis-server` (127.0.0.1, a free port, no persistence, killed when
//! the group is done) and, for payloads of 4 KiB, 64 KiB and 1 MiB, measures on one client:
//!
//! - *push*: [`LocalTier::push`] of a dirty value of that size (one `SET` of the whole value),
//!   only the push timed (the value is flagged dirty again between pushes, outside the timing);
//! - *pull*: [`LocalTier::pull`] of it (one `GET`, written into the value's memfd);
//! - `redis-benchmark -t set,get -d SIZE -n N -c 1 -P 1 --csv` against the same server: its
//!   requests per second of `SET` and `GET`, the same kind of single-client round trips.
//!
//! Every figure is the median of [`ROUNDS`] rounds (after a warm-up round) in which ours and
//! redis-benchmark alternate, so a burst of load on the shared machine hits both. The rows are
//! value rows (throughputs: MB/s, with 1 MB = 10⁶ bytes, and operations per second): ours in the
//! `ours` column, **redis-benchmark's figure in the `wasmtime` column** (the table's peer
//! column; each row's name says so), so the ratio column is ours / redis-benchmark, where
//! higher is better. The target of issue 8 is a ratio of at least 0.8.
//!
//! Without `redis-server` or `redis-benchmark` on `PATH`, the group prints why on stderr and
//! yields no rows.

use crate::Peer;
use crate::report::{Row, Unit};
use faasm_state::{LocalTier, RedisTier, StateKey};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The payload sizes measured, with their labels.
pub const SIZES: [(usize, &str); 3] =
    [(4 << 10, "4 KiB"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB")];

/// Measured rounds per figure (after one warm-up round); the median is reported.
pub const ROUNDS: usize = 5;

/// Bytes moved by one measurement of one operation (push, pull, SET or GET) at most: the number
/// of operations is this over the payload size, within [`MIN_OPERATIONS`] and
/// [`MAX_OPERATIONS`].
const BYTES_PER_MEASUREMENT: usize = 512 << 20;
/// The fewest operations in a measurement.
const MIN_OPERATIONS: usize = 400;
/// The most operations in a measurement.
const MAX_OPERATIONS: usize = 20_000;

/// The operations of one measurement of `size`-byte payloads.
pub fn operations(size: usize) -> usize {
    (BYTES_PER_MEASUREMENT / size).clamp(MIN_OPERATIONS, MAX_OPERATIONS)
}

/// Whether `program --version` runs.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A `redis-server` child process on 127.0.0.1, persistence off; killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free port of 127.0.0.1 with no persistence (no RDB
    /// snapshots, no AOF) and waits until it answers `PING`.
    pub fn start() -> Result<RedisServer, String> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--dir"])
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let mut server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ping(port) {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "redis-server on port {port} exited early: {status}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {port} did not answer PING within 15 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// Whether a server on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 16];
    matches!(stream.read(&mut reply), Ok(n) if reply[..n].starts_with(b"+PONG"))
}

/// Our push and pull of `size`-byte values through one [`LocalTier`] over a [`RedisTier`].
struct Ours {
    local: LocalTier,
    key: StateKey,
    size: usize,
}

impl Ours {
    /// A local tier on the server at `url`, with a value of `size` bytes written, pushed, pulled
    /// back and checked.
    fn new(url: &str, size: usize) -> Result<Ours, String> {
        let tier = RedisTier::new(url).map_err(|e| e.to_string())?;
        let local = LocalTier::new(Arc::new(tier));
        let key = StateKey::new("bench", &format!("payload-{size}")).map_err(|e| e.to_string())?;
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        local.write(&key, &data).map_err(|e| e.to_string())?;
        local.push(&key).map_err(|e| e.to_string())?;
        local.pull(&key, size).map_err(|e| e.to_string())?;
        let mut back = vec![0; size];
        local.read(&key, &mut back).map_err(|e| e.to_string())?;
        if back != data {
            return Err(format!("a {size}-byte value pulled back differs"));
        }
        Ok(Ours { local, key, size })
    }

    /// `n` pushes of the dirty value; pushes per second (only the pushes timed).
    fn push(&self, n: usize) -> Result<f64, String> {
        let mut total = Duration::ZERO;
        for _ in 0..n {
            self.local
                .flag_dirty(&self.key, self.size)
                .map_err(|e| e.to_string())?;
            let started = Instant::now();
            self.local.push(&self.key).map_err(|e| e.to_string())?;
            total += started.elapsed();
        }
        Ok(n as f64 / total.as_secs_f64())
    }

    /// `n` pulls of the value; pulls per second.
    fn pull(&self, n: usize) -> Result<f64, String> {
        let started = Instant::now();
        for _ in 0..n {
            self.local
                .pull(&self.key, self.size)
                .map_err(|e| e.to_string())?;
        }
        Ok(n as f64 / started.elapsed().as_secs_f64())
    }
}

/// `redis-benchmark -h 127.0.0.1 -p PORT -t set,get -d SIZE -n N -c 1 -P 1 --csv`: its `SET`
/// and `GET` requests per second.
fn redis_benchmark(port: u16, size: usize, n: usize) -> Result<(f64, f64), String> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set,get"])
        .args(["-d", &size.to_string(), "-n", &n.to_string()])
        .args(["-c", "1", "-P", "1", "--csv"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let rate = |test: &str| {
        parse_csv_rate(&stdout, test)
            .ok_or_else(|| format!("no {test} rate in redis-benchmark's output: {stdout:?}"))
    };
    Ok((rate("SET")?, rate("GET")?))
}

/// The requests per second of `test` in redis-benchmark's `--csv` output: the line
/// `"SET","105820.11",...` (the second field; Redis 7 adds latency fields and a header line,
/// older versions print only the two).
pub fn parse_csv_rate(csv: &str, test: &str) -> Option<f64> {
    csv.lines().find_map(|line| {
        let mut fields = line.split(',').map(|field| field.trim().trim_matches('"'));
        if fields.next()? != test {
            return None;
        }
        fields.next()?.parse().ok()
    })
}

/// The four rates (operations per second) of one payload size in one round.
#[derive(Debug, Clone, Copy)]
struct Rates {
    push: f64,
    pull: f64,
    set: f64,
    get: f64,
}

/// One round at `size`: ours, then redis-benchmark, `n` operations of each kind.
fn round(ours: &Ours, port: u16, n: usize) -> Result<Rates, String> {
    let push = ours.push(n)?;
    let pull = ours.pull(n)?;
    let (set, get) = redis_benchmark(port, ours.size, n)?;
    Ok(Rates {
        push,
        pull,
        set,
        get,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn value_row(name: String, unit: Unit, ours: f64, redis_benchmark: f64) -> Row {
    Row {
        group: "state",
        name,
        medians: BTreeMap::from([(Peer::Ours, ours), (Peer::Wasmtime, redis_benchmark)]),
        unit,
    }
}

/// The group's rows: for each payload size of [`SIZES`], push and pull in MB/s and in
/// operations per second, redis-benchmark's `SET` and `GET` in the `wasmtime` column. Empty,
/// with the reason on stderr, if Redis's programs are missing or the measurement fails.
pub fn value_rows() -> Vec<Row> {
    for program in ["redis-server", "redis-benchmark"] {
        if !installed(program) {
            eprintln!(
                "report: state skipped: `{program}` is not installed or not on PATH \
                 (`apt-get install -y redis-server` installs both redis-server and redis-benchmark)"
            );
            return Vec::new();
        }
    }
    match measure_all() {
        Ok(rows) => rows,
        Err(message) => {
            eprintln!("report: state skipped: {message}");
            Vec::new()
        }
    }
}

fn measure_all() -> Result<Vec<Row>, String> {
    let server = RedisServer::start()?;
    let url = server.url();
    let setups: Vec<Ours> = SIZES
        .iter()
        .map(|&(size, _)| Ours::new(&url, size))
        .collect::<Result<_, _>>()?;
    let mut all: Vec<(usize, &str, Vec<Rates>)> = SIZES
        .iter()
        .map(|&(size, label)| (size, label, Vec::with_capacity(ROUNDS)))
        .collect();
    for round_index in 0..=ROUNDS {
        for (ours, (size, _, rates)) in setups.iter().zip(&mut all) {
            // The warm-up round is shorter and not kept.
            let n = if round_index == 0 {
                operations(*size) / 10
            } else {
                operations(*size)
            };
            let measured = round(ours, server.port(), n.max(1))?;
            if round_index > 0 {
                rates.push(measured);
            }
        }
    }
    drop(server);
    let mut rows = Vec::new();
    for (size, label, rates) in all {
        let n = operations(size);
        let pick = |f: fn(&Rates) -> f64| median(rates.iter().map(f).collect());
        let (push, pull) = (pick(|r| r.push), pick(|r| r.pull));
        let (set, get) = (pick(|r| r.set), pick(|r| r.get));
        let mb = |ops: f64| ops * size as f64 / 1e6;
        for (ours_name, peer_name, ours, peer) in
            [("push", "SET", push, set), ("pull", "GET", pull, get)]
        {
            let peer_label = format!(
                "wasmtime column = redis-benchmark {peer_name} -d {size} -n {n} -c 1 -P 1, same server"
            );
            rows.push(value_row(
                format!("{ours_name} {label}, MB/s ({peer_label})"),
                Unit::Value("MB/s"),
                mb(ours),
                mb(peer),
            ));
            rows.push(value_row(
                format!("{ours_name} {label}, operations/s ({peer_label})"),
                Unit::Value("ops/s"),
                ours,
                peer,
            ));
        }
    }
    Ok(rows)
}
