//! `faasm-run serve --cluster`: hosts started as processes of the built binary on loopback
//! ports over one real `redis-server` (the state crate's test helper) register, list each
//! other on `GET /cluster`, run on one host a function uploaded on another without
//! initialising it again, drop out when killed and leave at once when stopped.
#![forbid(unsafe_code)]

#[path = "support/python.rs"]
mod python;
#[path = "../state/tests/common/mod.rs"]
mod redis_server;

#[path = "chain_guests/mod.rs"]
mod chain_guests;

#[path = "support/build.rs"]
mod build;
#[path = "support/functions.rs"]
mod functions;

use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zygote draws 16 random bytes; a call outputs them. A host that initialised the function
/// itself would output other bytes than the uploading host.
const ZYGOTE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") (result i32)
    (drop (call $random (i32.const 0) (i32.const 16)))
    (i32.const 0))
  (func (export "_start")
    (call $output (i32.const 0) (i32.const 16))))
"#;

/// A `faasm-run serve --cluster` process, killed when dropped.
struct ClusterHost {
    child: Child,
    base: String,
    log: PathBuf,
}

impl ClusterHost {
    fn start(name: &str, redis: &str, lease: &str) -> ClusterHost {
        Self::start_with(name, &["--cluster", redis, "--cluster-lease", lease])
    }

    /// A host of no cluster (with its own embedded state tier), to compare with.
    fn start_alone(name: &str) -> ClusterHost {
        Self::start_with(name, &[])
    }

    fn start_with(name: &str, args: &[&str]) -> ClusterHost {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("faasm-run-cluster")
            .join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("host dir");
        let log = dir.join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(dir.join("store"))
            .args(args)
            .env("HOME", dir.join("home"))
            .env("FAASM_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("starting faasm-run serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            panic!(
                "no address from serve: {line:?}; log: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        ClusterHost {
            base: base.to_owned(),
            child,
            log,
        }
    }

    fn address(&self) -> &str {
        self.base.strip_prefix("http://").expect("http URL")
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (status, body, _) = self.exchange(method, path, body);
        (status, body)
    }

    /// A call's status, body and the id of the host that ran it (`x-faasm-host`).
    fn invoke(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>, String) {
        self.exchange("POST", path, body)
    }

    /// This host's id in the cluster.
    fn id(&self) -> String {
        let listing = self.cluster();
        listing["this_host"].as_str().expect("this_host").to_owned()
    }

    fn exchange(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => agent.get(&url).call(),
            "PUT" => agent.put(&url).send(body),
            _ => agent.post(&url).send(body),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let host = response
            .headers()
            .get("x-faasm-host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_vec().expect("body");
        (status, body, host)
    }

    fn cluster(&self) -> Value {
        let (status, body) = self.request("GET", "/cluster", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("JSON")
    }

    /// The addresses of the live hosts, sorted.
    fn live_addresses(&self) -> Vec<String> {
        let listing = self.cluster();
        let mut addresses: Vec<String> = listing["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["addr"].as_str().expect("addr").to_owned())
            .collect();
        addresses.sort();
        addresses
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once `ready` holds of it (a thread of the host writes its lines, a moment
    /// after they happen), or as it is after 5 s.
    fn log_once(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if ready(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (at most 30 s) for the process to end.
    fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "serve did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ClusterHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sorted(mut addresses: Vec<String>) -> Vec<String> {
    addresses.sort();
    addresses
}

#[test]
fn a_function_uploaded_on_one_host_runs_on_another_from_its_proto_faaslet() {
    let Some(redis) = redis_server::redis_or_skip("cluster upload and invoke") else {
        return;
    };
    let mut one = ClusterHost::start("share-1", &redis.url(), "3s");
    let two = ClusterHost::start("share-2", &redis.url(), "3s");
    let both = sorted(vec![one.address().to_owned(), two.address().to_owned()]);
    assert_eq!(one.live_addresses(), both);
    assert_eq!(two.live_addresses(), both);
    let listing = two.cluster();
    assert!(listing["this_host"].is_string(), "{listing}");
    let (status, body) = one.request("POST", "/", br#"{"http_type": "GET_AVAILABLE_HOSTS"}"#);
    assert_eq!(status, 200);
    let available: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        available["hosts"],
        serde_json::json!([
            {"ip": "127.0.0.1", "slots": 2, "usedSlots": 0},
            {"ip": "127.0.0.1", "slots": 2, "usedSlots": 0}
        ]),
        "{available}"
    );

    let wasm = wat::parse_str(ZYGOTE).expect("wat");
    let (status, body) = one.request("PUT", "/f/alice/zygote", &wasm);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, on_one, ran_on) = one.invoke("/f/alice/zygote", b"");
    assert_eq!((status, ran_on), (200, one.id()));
    // Host one holds it warm with workers free: a call to host two runs there.
    let (status, forwarded, ran_on) = two.invoke("/f/alice/zygote", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&forwarded));
    assert_eq!(
        (forwarded.as_slice(), ran_on),
        (on_one.as_slice(), one.id())
    );
    // With host one gone, host two runs it itself, from host one's Proto-Faaslet.
    let one_id = one.id();
    one.stop();
    let (status, on_two, ran_on) = two.invoke("/f/alice/zygote", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&on_two));
    assert_eq!(ran_on, two.id());
    assert_eq!(
        on_two, on_one,
        "host two did not start from host one's Proto-Faaslet"
    );
    let shipped = |log: &str| {
        log.contains("fetched alice/zygote version 1")
            && log.contains("restored from the shipped Proto-Faaslet")
    };
    let log = two.log_once(shipped);
    assert!(shipped(&log), "{log}");
    assert_eq!(
        two.cluster()["hosts"][0]["warm"],
        serde_json::json!(["alice/zygote"])
    );
    // A new version uploaded on host three reaches host two's next calls: its watcher hears
    // of it, the host drops the old Faaslets, and its calls run on host three (warm) until
    // that host is gone, then on host two, which fetches version 2.
    let mut three = ClusterHost::start("share-3", &redis.url(), "3s");
    let version_two = ZYGOTE.replace(
        "(call $output (i32.const 0) (i32.const 16))",
        "(call $output (i32.const 0) (i32.const 8))",
    );
    let (status, _) = three.request(
        "PUT",
        "/f/alice/zygote",
        &wat::parse_str(version_two).expect("wat"),
    );
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, output, ran_on) = two.invoke("/f/alice/zygote", b"");
        assert_eq!(status, 200);
        if output.len() == 8 {
            // On host three, warm; or on host two itself if its view of the cluster (kept
            // 50 ms) was read before host three joined.
            assert!(ran_on == three.id() || ran_on == two.id(), "{ran_on}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host two still runs version 1: {}",
            two.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    three.stop();
    let (status, output, ran_on) = two.invoke("/f/alice/zygote", b"");
    assert_eq!((status, output.len(), ran_on), (200, 8, two.id()));
    let fetched = |log: &str| log.contains("fetched alice/zygote version 2");
    let log = two.log_once(fetched);
    assert!(fetched(&log), "{log}");
    assert_ne!(one_id, two.id());
    // A function no host has is still unknown.
    let (status, _) = two.request("POST", "/f/alice/nobody", b"");
    assert_eq!(status, 404);
}

/// `echo`: outputs its input, or traps if the input starts with `!`.
const ECHO: &str = r#"
(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 65536)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 33)) (then unreachable))
    (call $output (i32.const 0) (local.get $n))))
"#;

#[test]
fn calls_go_to_a_warm_host_and_answer_sync_async_and_failed_from_there() {
    let Some(redis) = redis_server::redis_or_skip("cluster placement") else {
        return;
    };
    let hosts: Vec<ClusterHost> = (1..=3)
        .map(|n| ClusterHost::start(&format!("place-{n}"), &redis.url(), "3s"))
        .collect();
    let (first, third) = (&hosts[0], &hosts[2]);
    assert_eq!(third.live_addresses().len(), 3);
    let (status, _) = first.request("PUT", "/f/bob/echo", &wat::parse_str(ECHO).expect("wat"));
    assert_eq!(status, 200);
    // Uploaded on the first host, invoked on the third: placed on the first (warm, free).
    let input: Vec<u8> = (0..=255).collect();
    let (status, output, ran_on) = third.invoke("/f/bob/echo", &input);
    assert_eq!((status, output, ran_on), (200, input, first.id()));
    // Marked not to be run twice: the same answer while nothing fails.
    let (status, output, ran_on) = third.invoke("/f/bob/echo?retry=false", b"once");
    assert_eq!(
        (status, output.as_slice(), ran_on),
        (200, &b"once"[..], first.id())
    );
    // Asynchronously: an id for the call on the other host, polled on this one.
    let (status, body, _) = third.invoke("/f/bob/echo?async=true", b"later");
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let accepted: Value = serde_json::from_slice(&body).expect("JSON");
    let id = accepted["id"].as_u64().expect("id");
    assert!(id >= 1 << 32, "{accepted}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, ran_on) = third.exchange("GET", &format!("/calls/{id}"), b"");
        if status == 200 {
            assert_eq!((body.as_slice(), ran_on), (&b"later"[..], first.id()));
            break;
        }
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
        assert!(Instant::now() < deadline, "call {id} never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A trap over there is a 500 naming it here.
    let (status, body, ran_on) = third.invoke("/f/bob/echo", b"!");
    assert_eq!((status, ran_on), (500, first.id()));
    let error: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{error}"
    );
    let (status, _) = third.request("GET", "/calls/not-a-number", b"");
    assert_eq!(status, 404);
    // An id no call of the cluster was given is unknown, not running.
    let (status, _) = third.request("GET", &format!("/calls/{}", id + 1_000_000), b"");
    assert_eq!(status, 404);
    // Nothing is left pending in any host's stream.
    for host in &hosts {
        let pending = redis.command(&format!("XPENDING faasm:cluster:calls:{} run", host.id()));
        assert!(pending.starts_with("*4\r\n:0"), "{pending}");
    }
}

#[test]
fn a_killed_host_drops_out_after_its_lease_and_a_stopped_one_leaves_at_once() {
    let Some(redis) = redis_server::redis_or_skip("cluster membership") else {
        return;
    };
    let mut stays = ClusterHost::start("members-1", &redis.url(), "30s");
    let dies = ClusterHost::start("members-2", &redis.url(), "1s");
    assert_eq!(stays.live_addresses().len(), 2);
    let survivor = vec![stays.address().to_owned()];
    drop(dies); // SIGKILL: no chance to deregister.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stays.live_addresses() != survivor {
        assert!(
            Instant::now() < deadline,
            "the killed host is still listed: {}",
            stays.cluster()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its 30 s lease would keep it listed: stopping it removes it at once.
    let listing = stays.cluster();
    let id = listing["this_host"]
        .as_str()
        .expect("this host's id")
        .to_owned();
    assert_ne!(
        redis.command(&format!("ZSCORE faasm:cluster:hosts {id}")),
        "$-1"
    );
    stays.stop();
    assert_eq!(
        redis.command(&format!("ZSCORE faasm:cluster:hosts {id}")),
        "$-1"
    );
    assert_eq!(
        redis.command(&format!("EXISTS faasm:cluster:host:{id}")),
        ":0"
    );
    assert!(stays.log().contains("left the cluster"), "{}", stays.log());
}

#[test]
fn a_host_outside_a_cluster_says_so_on_get_cluster() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-cluster-alone");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("store"))
        .env("HOME", dir.join("home"))
        .env("FAASM_CACHE_DIR", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let host = ClusterHost {
        base: line.trim().trim_start_matches("listening on ").to_owned(),
        child,
        log: dir.join("none"),
    };
    let (status, body) = host.request("GET", "/cluster", b"");
    assert_eq!(status, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("--cluster redis://HOST:PORT"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// `sleeper`: sleeps 1.5 s (WASI `poll_oneoff`), then outputs its input.
const SLEEPER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 1500000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (local.set $n (call $read (i32.const 256) (i32.const 1024)))
    (call $output (i32.const 256) (local.get $n))))
"#;

/// Calls sent to `host` as another host would send them (an id from the cluster's counter,
/// an entry in the host's stream); their ids.
fn send_calls(redis: &redis_server::RedisServer, host: &str, count: usize) -> Vec<u64> {
    send_marked_calls(redis, host, count, "")
}

/// [`send_calls`] with more `fields` in each entry (`retry 0`).
fn send_marked_calls(
    redis: &redis_server::RedisServer,
    host: &str,
    count: usize,
    fields: &str,
) -> Vec<u64> {
    (0..count)
        .map(|i| {
            let reply = redis.command("INCR faasm:cluster:call-id");
            let id: u64 = reply.trim_start_matches(':').parse().expect("an id");
            let added = redis.command(&format!(
                "XADD faasm:cluster:calls:{host} * id {id} user bob function sleeper \
                 input call-{i} origin test {fields}"
            ));
            assert!(added.starts_with('$'), "{added}");
            id
        })
        .collect()
}

#[test]
fn calls_a_killed_host_had_taken_are_run_again_by_a_live_one_and_answered_once() {
    let Some(redis) = redis_server::redis_or_skip("cluster faults") else {
        return;
    };
    let survivor = ClusterHost::start("fault-1", &redis.url(), "1s");
    let doomed = ClusterHost::start("fault-2", &redis.url(), "1s");
    let wasm = wat::parse_str(SLEEPER).expect("wat");
    let (status, _) = survivor.request("PUT", "/f/bob/sleeper", &wasm);
    assert_eq!(status, 200);
    let (doomed_id, survivor_id) = (doomed.id(), survivor.id());
    let ids = send_calls(&redis, &doomed_id, 200);
    let not_retried = send_marked_calls(&redis, &doomed_id, 5, "retry 0");
    // The doomed host takes them all (asleep, they hold no worker), then is killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending = redis.command(&format!("XPENDING faasm:cluster:calls:{doomed_id} run"));
        if pending.starts_with("*4\r\n:205\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "not taken: {pending}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(doomed);
    // Every call ends with one answer, from the survivor, which ran it again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answered = Vec::new();
    while answered.len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "answered {answered:?} of {ids:?}; survivor's log:\n{}",
            survivor.log()
        );
        answered.clear();
        for (i, id) in ids.iter().enumerate() {
            let (status, body, ran_on) =
                survivor.exchange("GET", &format!("/calls/{}", (1u64 << 32) + id), b"");
            if status == 200 {
                assert_eq!(body, format!("call-{i}").into_bytes());
                assert_eq!(ran_on, survivor_id);
                answered.push(*id);
            } else {
                assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let reruns_in = |log: &str| {
        log.matches("running again a call of a host that is gone")
            .count()
    };
    let reruns = reruns_in(&survivor.log_once(|log| reruns_in(log) >= ids.len()));
    println!(
        "kill -9 with {} calls taken: {} answered, {reruns} run again, 0 failed",
        ids.len(),
        answered.len()
    );
    assert_eq!(reruns, ids.len());
    // The calls marked not to be retried end with a failure naming the lost host.
    for id in &not_retried {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let path = format!("/calls/{}", (1u64 << 32) + id);
            let (status, body, ran_on) = survivor.exchange("GET", &path, b"");
            if status != 202 {
                let text = String::from_utf8_lossy(&body);
                assert_eq!(status, 500, "{text}");
                assert!(
                    text.contains(&format!("host {doomed_id} was lost")),
                    "{text}"
                );
                assert_eq!(ran_on, doomed_id);
                break;
            }
            assert!(Instant::now() < deadline, "call {id} never ended");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    println!(
        "kill -9: {} calls marked not to be retried failed, naming the lost host",
        not_retried.len()
    );
    // Nothing pending anywhere, and the dead host's stream is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.command(&format!("EXISTS faasm:cluster:calls:{doomed_id}")) != ":0" {
        assert!(Instant::now() < deadline, "the dead host's stream stays");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Calls of `user/function` a host's metrics count as ended, whatever their outcome.
fn calls_counted(host: &ClusterHost, user: &str, function: &str) -> u64 {
    let (status, body) = host.request("GET", "/metrics", b"");
    assert_eq!(status, 200);
    let labels = format!("user=\"{user}\",function=\"{function}\"");
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|line| line.starts_with("faasm_calls_total{") && line.contains(&labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_fan_out_of_100_chained_calls_spreads_over_three_hosts_with_the_answer_of_one() {
    let Some(redis) = redis_server::redis_or_skip("cluster fan-out") else {
        return;
    };
    let hosts: Vec<ClusterHost> = (1..=3)
        .map(|n| ClusterHost::start(&format!("fan-{n}"), &redis.url(), "3s"))
        .collect();
    assert_eq!(hosts[0].live_addresses().len(), 3);
    for (name, wat) in [
        ("leaf", chain_guests::leaf_wat()),
        ("child", chain_guests::child_wat()),
        ("fanout", chain_guests::fanout_wat(100)),
    ] {
        let wasm = wat::parse_str(wat).expect("wat");
        let (status, body) = hosts[0].request("PUT", &format!("/f/demo/{name}"), &wasm);
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
    }
    // Each child chains a leaf in turn: 200 chained calls, each awaited.
    let (status, output, ran_on) = hosts[0].invoke("/f/demo/fanout", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&output));
    assert_eq!(ran_on, hosts[0].id());
    let expected: i32 = (0..100).map(|i| 2 * (i + 1)).sum();
    assert_eq!(output, expected.to_le_bytes());
    // Hosts two and three ran some of the children and leaves (counted where they ran, as
    // calls other hosts sent them); host one, all the rest.
    let ran: Vec<u64> = hosts[1..]
        .iter()
        .map(|host| calls_counted(host, "demo", "child") + calls_counted(host, "demo", "leaf"))
        .collect();
    println!(
        "fan-out of 100 children (200 chained calls) on 3 hosts: hosts two and three ran {ran:?}"
    );
    assert!(
        ran.iter().all(|&n| n > 0),
        "{ran:?}; host one's log:\n{}",
        hosts[0].log()
    );
    assert!(ran.iter().sum::<u64>() < 200, "{ran:?}");
    // The same again: the tree's ids stay private, the answer the same.
    let (status, again, _) = hosts[2].invoke("/f/demo/fanout", b"");
    assert_eq!((status, again), (200, expected.to_le_bytes().to_vec()));
}

/// Sends `signal` (`STOP`, `CONT`) to `host`'s process.
fn signal(host: &ClusterHost, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &host.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_host_stopped_past_its_lease_delivers_no_stale_result_once_its_calls_ran_elsewhere() {
    let Some(redis) = redis_server::redis_or_skip("cluster fencing") else {
        return;
    };
    let survivor = ClusterHost::start("fence-1", &redis.url(), "1s");
    let paused = ClusterHost::start("fence-2", &redis.url(), "1s");
    let wasm = wat::parse_str(SLEEPER).expect("wat");
    let (status, _) = survivor.request("PUT", "/f/bob/sleeper", &wasm);
    assert_eq!(status, 200);
    let (paused_id, survivor_id) = (paused.id(), survivor.id());
    let epoch_before = paused.cluster()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["id"] == paused_id.as_str())
        .expect("the paused host listed")["epoch"]
        .as_u64()
        .expect("epoch");
    let ids = send_calls(&redis, &paused_id, 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis
        .command(&format!("XPENDING faasm:cluster:calls:{paused_id} run"))
        .starts_with("*4\r\n:20\r\n")
    {
        assert!(Instant::now() < deadline, "the calls were not taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Cut off past its lease: the survivor claims and runs its calls meanwhile.
    signal(&paused, "STOP");
    let deadline = Instant::now() + Duration::from_secs(30);
    let answered_by = |id: u64| {
        let (status, body, ran_on) =
            survivor.exchange("GET", &format!("/calls/{}", (1u64 << 32) + id), b"");
        (status == 200).then_some((body, ran_on))
    };
    while !ids.iter().all(|id| answered_by(*id).is_some()) {
        assert!(Instant::now() < deadline, "{}", survivor.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&paused, "CONT");
    // Back, it finishes the calls it had taken; none of its results is stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fenced = || paused.log().matches("result of a call not stored").count();
    while fenced() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} fenced; log:\n{}",
            fenced(),
            ids.len(),
            paused.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, id) in ids.iter().enumerate() {
        let (body, ran_on) = answered_by(*id).expect("answered");
        assert_eq!(
            (body, &ran_on),
            (format!("call-{i}").into_bytes(), &survivor_id)
        );
    }
    println!(
        "SIGSTOP past the lease with {} calls taken: {} answered by the live host, {} stale \
         results refused",
        ids.len(),
        ids.len(),
        fenced()
    );
    // It joined again under a new epoch, and takes calls again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listing = survivor.cluster();
        let epoch = listing["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|h| h["id"] == paused_id.as_str())
            .and_then(|h| h["epoch"].as_u64());
        if epoch.is_some_and(|epoch| epoch > epoch_before) {
            break;
        }
        assert!(Instant::now() < deadline, "not back: {listing}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The calls it had taken, still pending under it, run again under its new lease, find
    // their answers stored, and are acknowledged: nothing stays pending.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = redis.command(&format!("XPENDING faasm:cluster:calls:{paused_id} run"));
        if pending.starts_with("*4\r\n:0\r\n") || pending.starts_with("-NOGROUP") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending}; log:\n{}",
            paused.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let later = send_calls(&redis, &paused_id, 1)[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((body, ran_on)) = answered_by(later) {
            assert_eq!(body, b"call-0");
            assert!(ran_on == paused_id || ran_on == survivor_id, "{ran_on}");
            break;
        }
        assert!(Instant::now() < deadline, "{}", paused.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_redis_restart_mid_run_loses_no_answer_and_no_acknowledged_state() {
    if redis_server::redis_or_skip("cluster redis restart").is_none() {
        return;
    }
    let aof = redis_server::temp_dir("cluster-aof");
    let mut redis = redis_server::RedisServer::start(redis_server::free_port(), Some(&aof));
    let runner = ClusterHost::start("restart-1", &redis.url(), "5s");
    let front = ClusterHost::start("restart-2", &redis.url(), "5s");
    let wasm = wat::parse_str(SLEEPER).expect("wat");
    let (status, _) = runner.request("PUT", "/f/bob/sleeper", &wasm);
    assert_eq!(status, 200);
    let (status, _) = front.request("PUT", "/s/bob/kept", b"acknowledged");
    assert_eq!(status, 200);
    // Calls sent from the front host to the runner, which has them asleep when Redis dies.
    let runner_id = runner.id();
    let ids = send_calls(&redis, &runner_id, 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis
        .command(&format!("XPENDING faasm:cluster:calls:{runner_id} run"))
        .starts_with("*4\r\n:10\r\n")
    {
        assert!(Instant::now() < deadline, "the calls were not taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.restart();
    // Every call gets its answer, read through the other host.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut answered = 0;
    for (i, id) in ids.iter().enumerate() {
        loop {
            let (status, body, _) =
                front.exchange("GET", &format!("/calls/{}", (1u64 << 32) + id), b"");
            if status == 200 {
                assert_eq!(body, format!("call-{i}").into_bytes());
                answered += 1;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "call {id}: {status} {}; runner's log:\n{}",
                String::from_utf8_lossy(&body),
                runner.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!(
        "Redis restarted with {} calls in flight: {answered} answered, 0 lost",
        ids.len()
    );
    let (status, kept) = front.request("GET", "/s/bob/kept", b"");
    assert_eq!((status, kept.as_slice()), (200, &b"acknowledged"[..]));
    // Both hosts still serve, and calls still cross between them.
    let (status, output, ran_on) = front.invoke("/f/bob/sleeper", b"after");
    assert_eq!((status, output.as_slice()), (200, &b"after"[..]));
    assert_eq!(ran_on, runner_id);
    let _ = std::fs::remove_dir_all(aof);
}

#[test]
fn pi_and_fanout_chained_by_table_index_over_three_hosts_give_the_answers_of_one() {
    let Some(redis) = redis_server::redis_or_skip("cluster pi") else {
        return;
    };
    let hosts: Vec<ClusterHost> = (1..=3)
        .map(|n| ClusterHost::start(&format!("pi-{n}"), &redis.url(), "3s"))
        .collect();
    assert_eq!(hosts[0].live_addresses().len(), 3);
    // The examples' answers on one host (functions/README.md), in both languages.
    let cases = [
        ("pi", "100", "pi ~= 3.141314"),
        ("pi", "8", "pi ~= 3.138460"),
        ("fanout", "100", "50005000"),
    ];
    for language in functions::LANGUAGES {
        let user = language.name();
        for name in ["pi", "fanout"] {
            let wasm = fs::read(functions::function(language, name)).expect("example");
            let (status, body) = hosts[0].request("PUT", &format!("/f/{user}/{name}"), &wasm);
            assert_eq!(
                status,
                200,
                "{user}/{name}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        for (name, input, answer) in cases {
            for host in &hosts {
                let path = format!("/f/{user}/{name}");
                let (status, output, _) = host.invoke(&path, input.as_bytes());
                assert_eq!(
                    (status, String::from_utf8_lossy(&output).as_ref()),
                    (200, answer),
                    "{user}/{name} {input} on {}",
                    host.address()
                );
            }
        }
        let elsewhere: Vec<u64> = hosts[1..]
            .iter()
            .map(|host| calls_counted(host, user, "pi") + calls_counted(host, user, "fanout"))
            .collect();
        println!(
            "{user}: pi and fanout over 3 hosts, calls run on hosts two and three: {elsewhere:?}"
        );
        // How calls spread depends on timing (each host's view of the others' loads); that
        // some left host one is what this checks (the fan-out test checks every host).
        assert!(elsewhere.iter().sum::<u64>() > 0, "{elsewhere:?}");
    }
}

/// Echoes its input (at most 64 bytes) after a busy loop of `iterations`: a call that holds its
/// worker long enough for the host to place the next message of a batch elsewhere.
fn slow_echo_wat(iterations: u32) -> String {
    format!(
        r#"(module {io}
            (memory (export "memory") 1)
            (func (export "_start")
              (local $n i32) (local $len i32)
              (local.set $len (call $read (i32.const 0) (i32.const 64)))
              (loop $spin
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br_if $spin (i32.lt_u (local.get $n) (i32.const {iterations}))))
              (call $write (i32.const 0) (local.get $len))))"#,
        io = chain_guests::IO
    )
}

#[test]
fn a_planner_batch_sent_to_one_host_runs_on_all_three_and_reports_every_answer() {
    use base64::Engine as _;
    let Some(redis) = redis_server::redis_or_skip("cluster batch") else {
        return;
    };
    let hosts: Vec<ClusterHost> = (1..=3)
        .map(|n| ClusterHost::start(&format!("batch-{n}"), &redis.url(), "3s"))
        .collect();
    assert_eq!(hosts[0].live_addresses().len(), 3);
    let wasm = wat::parse_str(slow_echo_wat(50_000_000)).expect("wat");
    let (status, body) = hosts[0].request("PUT", "/f/demo/slow", &wasm);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let inputs: Vec<String> = (0..12).map(|i| format!("message {i}")).collect();
    let messages: Vec<Value> = inputs
        .iter()
        .map(|input| {
            serde_json::json!({"user": "demo", "function": "slow",
                "inputData": base64::engine::general_purpose::STANDARD.encode(input)})
        })
        .collect();
    let planner = |kind: &str, payload: Value| -> Value {
        let message = serde_json::json!({"http_type": kind, "payload": payload.to_string()});
        let (status, body) = hosts[0].request("POST", "/", message.to_string().as_bytes());
        assert_eq!(status, 200, "{kind}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("JSON")
    };
    let accepted = planner(
        "EXECUTE_BATCH",
        serde_json::json!({"appId": 41, "messages": messages}),
    );
    assert_eq!(accepted["appId"], 41);
    let deadline = Instant::now() + Duration::from_secs(120);
    let results = loop {
        let status = planner("EXECUTE_BATCH_STATUS", serde_json::json!({"appId": 41}));
        if status["finished"] == true {
            break status["messageResults"]
                .as_array()
                .expect("results")
                .clone();
        }
        assert!(Instant::now() < deadline, "the batch never finished");
        std::thread::sleep(Duration::from_millis(50));
    };
    let outputs: Vec<&str> = results
        .iter()
        .map(|result| {
            assert_eq!(result["returnValue"], 0, "{result}");
            result["output_data"].as_str().expect("output")
        })
        .collect();
    assert_eq!(outputs, inputs);
    let ran: Vec<u64> = hosts
        .iter()
        .map(|host| calls_counted(host, "demo", "slow"))
        .collect();
    println!("a batch of 12 messages sent to host one: the hosts ran {ran:?}");
    assert_eq!(ran.iter().sum::<u64>(), 12, "{ran:?}");
    assert!(
        ran.iter().all(|&n| n > 0),
        "{ran:?}; host one's log:\n{}",
        hosts[0].log()
    );
}

/// The SGD experiment's data set for these tests (as `tests/experiments.rs` has it).
const SGD_DATA: &str = "examples=16000 features=2000 nnz=50 epochs=4";

/// Trains with `mode` and 4 workers through `host`; the loss.
fn sgd_loss(host: &ClusterHost, mode: &str) -> f64 {
    let (status, output, _) = host.invoke(
        "/f/demo/sgd",
        format!("train mode={mode} workers=4 {SGD_DATA}").as_bytes(),
    );
    let output = String::from_utf8_lossy(&output).into_owned();
    assert_eq!(status, 200, "{mode}: {output}");
    output
        .strip_prefix(&format!("mode={mode} workers=4 epochs=4 loss="))
        .and_then(|loss| loss.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {output:?}"))
}

/// Uploads the SGD experiment to `host` and writes its data set through it.
fn sgd_set_up(host: &ClusterHost) {
    let wasm = fs::read(functions::c_experiment("sgd")).expect("sgd.wasm");
    let (status, body) = host.request("PUT", "/f/demo/sgd", &wasm);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, output, _) = host.invoke("/f/demo/sgd", format!("setup {SGD_DATA}").as_bytes());
    assert_eq!(
        (status, String::from_utf8_lossy(&output).as_ref()),
        (200, "data set written")
    );
}

#[test]
fn sgd_with_workers_on_three_hosts_trains_as_on_one() {
    let Some(redis) = redis_server::redis_or_skip("cluster sgd") else {
        return;
    };
    let alone = ClusterHost::start_alone("sgd-alone");
    sgd_set_up(&alone);
    let (one_shared, one_copy) = (sgd_loss(&alone, "shared"), sgd_loss(&alone, "copy"));
    drop(alone);

    let hosts: Vec<ClusterHost> = (1..=3)
        .map(|n| ClusterHost::start(&format!("sgd-{n}"), &redis.url(), "3s"))
        .collect();
    assert_eq!(hosts[0].live_addresses().len(), 3);
    sgd_set_up(&hosts[0]);
    // Twice in shared mode: the second run must not train on the weights the first left on
    // the hosts.
    let shared: Vec<f64> = (0..2).map(|_| sgd_loss(&hosts[0], "shared")).collect();
    let copy = sgd_loss(&hosts[0], "copy");
    // Each train call chains 16 workers (4 per epoch); those counted on hosts two and three
    // ran there.
    let ran: Vec<u64> = hosts
        .iter()
        .map(|host| calls_counted(host, "demo", "sgd"))
        .collect();
    println!(
        "sgd, 4 workers x 4 epochs: one host shared {one_shared:.3e} copy {one_copy:.3e}; \
         three hosts shared {:.3e} then {:.3e} copy {copy:.3e}; calls per host {ran:?}",
        shared[0], shared[1]
    );
    assert!(ran[1] > 0 && ran[2] > 0, "{ran:?}");
    // HOGWILD! is not deterministic, and a small data set's loss is noisy near its floor. Shared
    // mode: within 2x of one host's (measured: one host 8.7e-6 to 1.3e-5, three 1.2e-5 to
    // 1.3e-5). Copy mode with 4 workers truly at once varies 20x from run to run on one host
    // alone (stale merges): only its bound. Workers that trained on stale weights, or whose
    // updates never reached the global weights, leave the loss near the untrained one (about
    // 1) or far above it (measured: 5.5 and 15).
    for (what, loss) in [("first", shared[0]), ("second", shared[1])] {
        assert!(
            loss < 2.0 * one_shared && one_shared < 2.0 * loss,
            "shared, {what} run: {loss:.3e} on three hosts, {one_shared:.3e} on one"
        );
    }
    for (what, loss) in [("one host", one_copy), ("three hosts", copy)] {
        assert!(loss < 1e-3, "copy on {what}: {loss:.3e}");
    }
}

/// A token drawn once, at import: the same in every call started from one Proto-Faaslet.
const PYTHON_TOKEN: &str = "import random\nTOKEN = random.getrandbits(64)\n\ndef faasm_main(data):\n    return f'{TOKEN} {data.decode()}'\n";

#[test]
fn a_python_function_uploaded_on_one_host_runs_on_another_from_its_proto_faaslet() {
    let Some(redis) = redis_server::redis_or_skip("cluster Python functions") else {
        return;
    };
    let python = python::runtime_dir();
    let python = python.to_str().expect("a UTF-8 path");
    let args = [
        "--cluster",
        &redis.url(),
        "--cluster-lease",
        "3s",
        "--python",
        python,
    ];
    let mut one = ClusterHost::start_with("py-1", &args);
    let two = ClusterHost::start_with("py-2", &args);
    let (status, body) = one.request("PUT", "/p/alice/token", PYTHON_TOKEN.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, on_one, ran_on) = one.invoke("/f/alice/token", b"x");
    assert_eq!((status, ran_on), (200, one.id()));
    one.stop();
    let (status, on_two, ran_on) = two.invoke("/f/alice/token", b"x");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&on_two));
    assert_eq!(ran_on, two.id());
    assert_eq!(
        on_two, on_one,
        "host two did not start from host one's Proto-Faaslet (its import ran again)"
    );
    let shipped = |log: &str| {
        log.contains("fetched alice/token version 1")
            && log.contains("restored from the shipped Proto-Faaslet")
    };
    let log = two.log_once(shipped);
    assert!(shipped(&log), "{log}");
}
