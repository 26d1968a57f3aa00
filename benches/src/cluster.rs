//! The `cluster` group: `faasm-run serve --cluster` processes over one `redis-server` on this
//! machine (`cargo run --release -p faasm-benches --bin cluster`, about a minute; needs
//! `redis-server`, `wrk` and clang with wasi-libc).
//!
//! - **Throughput** on 1, 2 and 3 hosts: the no-op C function of the `http` group uploaded on
//!   host 1, then wrk against every host at once (64 keep-alive connections split evenly),
//!   requests per second summed. Calls are placed by the cluster's rule, so a call reaching a
//!   host where the function is not warm runs where it is (while a worker is free there).
//! - **Chain and await round trip**: `chainer` chains `leaf` by name, awaits its output and
//!   outputs it. On host 2, where `leaf` is warm, the chained call runs locally; on host 1,
//!   where it is not, it goes to host 2 (its stream, then host 1's results stream). The round
//!   trip is the median of `chainer`'s HTTP latency minus the median of a no-op's on the same
//!   host (both measured over the same keep-alive connection, one call at a time).
//! - **Redis floor**: a bare round trip through Redis streams between two connections on the
//!   same server ([`crate::redis_floor`]): what a cross-host round trip cannot go below.
//! - **Upload to first call on another host**: a fresh module uploaded on host 1, then its
//!   first call on host 2 through the planner's paper-era form, which runs where it arrives:
//!   host 2 fetches module and Proto-Faaslet, compiles the module and restores the snapshot.
//!
//! Every host and Redis are started fresh per host count and killed at the end.

use crate::Peer;
use crate::http::{self, Client, Listening, Point};
use crate::report::{Row, Unit};
use crate::state::RedisServer;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Host counts measured.
pub const HOSTS: [usize; 3] = [1, 2, 3];
/// Connections over all hosts.
const CONNECTIONS: u32 = 64;
/// Sequential calls per latency sample set.
const SAMPLES: usize = 300;
/// Round trips of the Redis floor.
const FLOOR_SAMPLES: usize = 2_000;
/// Fresh modules for the upload-to-call time.
const SHARES: usize = 10;
/// The issue's targets.
const TARGET_ROUND_TRIP_US: f64 = 300.0;
const TARGET_COST: f64 = 0.20;

/// `leaf`: outputs its input.
const LEAF: &str = r#"(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 1024)))
    (call $write (i32.const 0) (local.get $n))))"#;

/// `chainer`: chains `leaf` with its input, awaits it, outputs the leaf's output.
const CHAINER: &str = r#"(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write (param i32 i32)))
  (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_await_call_output" (func $await_out (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func $malloc (export "malloc") (param i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 0)))
    (local.get $p))
  (data (i32.const 2048) "leaf\00")
  (func (export "_start") (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 1024)))
    (if (call $await_out (call $chain (i32.const 2048) (i32.const 0) (local.get $n))
          (i32.const 1100) (i32.const 1104))
      (then unreachable))
    (call $write (i32.load (i32.const 1100)) (i32.load (i32.const 1104)))))"#;

/// How the group runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Seconds of load per throughput point.
    pub seconds: u32,
    /// Rounds of the throughput points (the median is kept).
    pub rounds: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            seconds: 3,
            rounds: 3,
        }
    }
}

/// Everything the group measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// The settings it ran with.
    pub settings: Settings,
    /// Requests per second over all hosts, per host count (median over the rounds), and
    /// every round's figure.
    pub throughput: Vec<(usize, f64, Vec<f64>)>,
    /// Latencies (µs, sorted): no-op and `chainer` on host 1 (leaf on host 2), on host 2
    /// (leaf local).
    pub noop_remote_host_us: Vec<f64>,
    /// `chainer` on host 1, its `leaf` on host 2.
    pub chain_cross_us: Vec<f64>,
    /// No-op on host 2.
    pub noop_local_host_us: Vec<f64>,
    /// `chainer` on host 2, its `leaf` there too.
    pub chain_local_us: Vec<f64>,
    /// Upload on host 1 to the first call's answer on host 2 (µs, sorted).
    pub share_us: Vec<f64>,
    /// A bare round trip through Redis streams (µs, sorted): the floor under
    /// `chain_cross_us`.
    pub redis_floor_us: Vec<f64>,
}

impl Results {
    /// Cross-host chain and await round trip: chainer minus no-op medians, µs.
    pub fn cross_round_trip_us(&self) -> f64 {
        med(&self.chain_cross_us) - med(&self.noop_remote_host_us)
    }

    /// The same with the chained call local, µs.
    pub fn local_round_trip_us(&self) -> f64 {
        med(&self.chain_local_us) - med(&self.noop_local_host_us)
    }

    /// What running 3 hosts costs against 1 in requests per second (0.1: 10% fewer).
    pub fn cost_of_hosts(&self) -> f64 {
        let of = |n| {
            self.throughput
                .iter()
                .find(|(hosts, _, _)| *hosts == n)
                .map_or(f64::NAN, |(_, rps, _)| *rps)
        };
        1.0 - of(3) / of(1)
    }
}

fn med(sorted: &[f64]) -> f64 {
    http::percentile(sorted, 50.0)
}

/// A cluster of `n` hosts over a fresh Redis.
struct Cluster {
    hosts: Vec<Listening>,
    redis: RedisServer,
}

impl Cluster {
    fn start(faasm_run: &Path, dir: &Path, n: usize) -> Result<Cluster, String> {
        let redis = RedisServer::start()?;
        let mut hosts = Vec::with_capacity(n);
        for i in 1..=n {
            let store = dir.join(format!("store{i}"));
            let _ = std::fs::remove_dir_all(&store);
            let log = std::fs::File::create(dir.join(format!("host{i}.log")))
                .map_err(|e| format!("cannot create a host's log: {e}"))?;
            let mut command = Command::new(faasm_run);
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--store"])
                .arg(&store)
                .args(["--cluster", &redis.url()])
                .stderr(log);
            hosts.push(Listening::start(command, "faasm-run serve --cluster")?);
        }
        // Every host lists every other before anything is measured.
        let client = Client::new(&hosts[0].base);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while count_hosts(&client)? < n {
            if Instant::now() > deadline {
                return Err(format!("the {n} hosts did not all join within 10 s"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(Cluster { hosts, redis })
    }

    fn client(&self, i: usize) -> Client {
        Client::new(&self.hosts[i].base)
    }
}

/// How many hosts `GET /cluster` lists.
fn count_hosts(client: &Client) -> Result<usize, String> {
    let body = client.get("/cluster")?;
    Ok(String::from_utf8_lossy(&body).matches("\"addr\"").count())
}

/// Times `count` sequential POSTs of `path` (after 20 unmeasured); µs, sorted.
fn latencies(client: &Client, path: &str, count: usize) -> Result<Vec<f64>, String> {
    for _ in 0..20 {
        client.send("POST", path, b"ping")?;
    }
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        client.send("POST", path, b"ping")?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// wrk against every host at once, connections split evenly; requests per second summed.
fn load_all_hosts(cluster: &Cluster, script: &Path, seconds: u32) -> Result<f64, String> {
    let per_host = (CONNECTIONS / cluster.hosts.len() as u32).max(1);
    let points: Vec<Result<Point, String>> = std::thread::scope(|s| {
        let runs: Vec<_> = cluster
            .hosts
            .iter()
            .map(|host| {
                let url = format!("{}/f/bench/noop", host.base);
                s.spawn(move || http::wrk(script, &url, per_host, seconds))
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|_| Err("wrk thread".into())))
            .collect()
    });
    let mut total = 0.0;
    for point in points {
        total += point?.rps;
    }
    Ok(total)
}

/// Runs the group; progress on stderr.
pub fn measure(settings: Settings) -> Result<Results, String> {
    if !http::wrk_installed() {
        return Err("wrk is not installed (Debian: apt-get install -y wrk)".into());
    }
    let dir = http::bench_dir("cluster-bench");
    let script = dir.join("post.lua");
    std::fs::write(&script, http::WRK_SCRIPT).map_err(|e| format!("writing post.lua: {e}"))?;
    let faasm_run = http::faasm_run()?;
    let noop = http::build_noop(&dir)?;
    let mut throughput = Vec::new();
    for n in HOSTS {
        eprintln!(
            "cluster: {n} host(s): {} rounds of {} s",
            settings.rounds, settings.seconds
        );
        let cluster = Cluster::start(&faasm_run, &dir, n)?;
        cluster.client(0).send("PUT", "/f/bench/noop", &noop)?;
        for i in 0..n {
            cluster.client(i).send("POST", "/f/bench/noop", b"ping")?;
        }
        let mut rounds = Vec::with_capacity(settings.rounds);
        for _ in 0..settings.rounds {
            rounds.push(load_all_hosts(&cluster, &script, settings.seconds)?);
        }
        throughput.push((n, http::median(rounds.clone()), rounds));
    }

    eprintln!("cluster: chain and await round trips, upload to first call elsewhere");
    let cluster = Cluster::start(&faasm_run, &dir, 2)?;
    let (one, two) = (cluster.client(0), cluster.client(1));
    let wasm = |text: &str| wat::parse_str(text).map_err(|e| format!("WAT: {e}"));
    two.send("PUT", "/f/bench/leaf", &wasm(LEAF)?)?;
    one.send("PUT", "/f/bench/chainer", &wasm(CHAINER)?)?;
    one.send("PUT", "/f/bench/noop", &noop)?;
    let noop_remote_host_us = latencies(&one, "/f/bench/noop", SAMPLES)?;
    let chain_cross_us = latencies(&one, "/f/bench/chainer", SAMPLES)?;
    // Host 2 runs its own chainer, whose leaf is warm there.
    two.send("PUT", "/f/bench/chainer2", &wasm(CHAINER)?)?;
    two.send("PUT", "/f/bench/noop2", &http::tagged(&noop, "two"))?;
    let noop_local_host_us = latencies(&two, "/f/bench/noop2", SAMPLES)?;
    let chain_local_us = latencies(&two, "/f/bench/chainer2", SAMPLES)?;
    let redis_floor_us = crate::redis_floor::round_trips(&cluster.redis.url(), FLOOR_SAMPLES)?;
    let mut share_us = Vec::with_capacity(SHARES);
    for i in 0..SHARES {
        let name = format!("share{i}");
        one.send(
            "PUT",
            &format!("/f/bench/{name}"),
            &http::tagged(&noop, &name),
        )?;
        let started = Instant::now();
        let call = format!(r#"{{"user": "bench", "function": "{name}", "input_data": "x"}}"#);
        two.send("POST", "/", call.as_bytes())?;
        share_us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    share_us.sort_by(f64::total_cmp);
    Ok(Results {
        settings,
        throughput,
        noop_remote_host_us,
        chain_cross_us,
        noop_local_host_us,
        chain_local_us,
        share_us,
        redis_floor_us,
    })
}

/// The group's report, with the issue's targets.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    out.push_str(
        "## cluster: `faasm-run serve --cluster` hosts over one Redis, on this machine\n\n",
    );
    out.push_str(&format!(
        "wrk over all hosts at once ({CONNECTIONS} connections split evenly), {} s per point, \
         median of {} rounds; a no-op C function uploaded on host 1.\n\n",
        results.settings.seconds, results.settings.rounds
    ));
    out.push_str("| hosts | req/s (all hosts) | vs 1 host | rounds |\n|---:|---:|---:|---|\n");
    let one = results
        .throughput
        .first()
        .map_or(f64::NAN, |(_, rps, _)| *rps);
    for (n, rps, rounds) in &results.throughput {
        let each: Vec<String> = rounds.iter().map(|r| format!("{r:.0}")).collect();
        out.push_str(&format!(
            "| {n} | {rps:.0} | {:.2} | {} |\n",
            rps / one,
            each.join(", ")
        ));
    }
    let row = |name: &str, sorted: &[f64]| {
        format!(
            "| {name} | {} | {} |\n",
            http::micros(med(sorted)),
            http::micros(http::percentile(sorted, 99.0))
        )
    };
    out.push_str(&format!(
        "\nLatency of one call at a time over HTTP ({SAMPLES} calls each):\n\n\
         | call | p50 | p99 |\n|---|---:|---:|\n"
    ));
    out.push_str(&row("no-op, host 1", &results.noop_remote_host_us));
    out.push_str(&row(
        "chainer on host 1, leaf on host 2",
        &results.chain_cross_us,
    ));
    out.push_str(&row("no-op, host 2", &results.noop_local_host_us));
    out.push_str(&row(
        "chainer on host 2, leaf on host 2",
        &results.chain_local_us,
    ));
    out.push_str(&row(
        "upload on host 1, then first call on host 2 (fetch, compile, restore)",
        &results.share_us,
    ));
    out.push_str(&row(
        "floor: a bare round trip through Redis streams (no host, no HTTP)",
        &results.redis_floor_us,
    ));
    let cross = results.cross_round_trip_us();
    let local = results.local_round_trip_us();
    let cost = results.cost_of_hosts();
    out.push_str(&format!(
        "\nChain + await round trip (chainer minus no-op, medians): cross-host {}, local {}; \
         the Redis floor alone (two appends, two blocking reads woken): {}.\n\n\
         | target (issue 15) | measured | |\n|---|---:|---|\n\
         | cross-host chain + await round trip ≤ 300 µs | {} | {} |\n\
         | 3 hosts cost ≤ 20% of 1 host's req/s | {:.0}% | {} |\n",
        http::micros(cross),
        http::micros(local),
        http::micros(med(&results.redis_floor_us)),
        http::micros(cross),
        if cross <= TARGET_ROUND_TRIP_US {
            "met"
        } else {
            "**not met**"
        },
        cost * 100.0,
        if cost <= TARGET_COST {
            "met"
        } else {
            "**not met**"
        },
    ));
    out
}

/// The group's rows in the report (values: requests per second, µs; nothing in the peers'
/// columns).
pub fn value_rows(results: &Results) -> Vec<Row> {
    let row = |name: String, unit: &'static str, value: f64| Row {
        group: "cluster",
        name,
        medians: BTreeMap::from([(Peer::Ours, value)]),
        unit: Unit::Value(unit),
    };
    let mut rows: Vec<Row> = results
        .throughput
        .iter()
        .map(|(hosts, rps, _)| {
            let plural = if *hosts == 1 { "" } else { "s" };
            row(
                format!("no-op invoke over {hosts} host{plural}, {CONNECTIONS} connections over all, req/s"),
                "req/s",
                *rps,
            )
        })
        .collect();
    rows.push(row(
        "chain + await round trip across hosts (chainer minus no-op, medians)".into(),
        "µs",
        results.cross_round_trip_us(),
    ));
    rows.push(row(
        "chain + await round trip on one host (chainer minus no-op, medians)".into(),
        "µs",
        results.local_round_trip_us(),
    ));
    rows.push(row(
        "bare round trip through Redis streams, the floor under the cross-host round trip".into(),
        "µs",
        med(&results.redis_floor_us),
    ));
    rows.push(row(
        format!("upload on one host to the first call's answer on another, median of {SHARES}"),
        "µs",
        med(&results.share_us),
    ));
    rows
}
