//! Membership and function sharing against a real `redis-server` on a free loopback port
//! (started by the state crate's test helper, included from there).
#![forbid(unsafe_code)]

#[path = "../../state/tests/common/mod.rs"]
mod common;

use faasm_cluster::sharing::{self, Synced};
use faasm_cluster::{
    Cluster, ClusterError, ClusterNode, HostId, HostSpec, Invalidated, Registration,
};
use faasm_runtime::{CompilerConfig, Config, Engine, MemoryStrategy};
use faasm_scheduler::functions::{self, load_function};
use faasm_scheduler::modules::Log;
use faasm_scheduler::{CallRequest, FunctionId, FunctionSource, FunctionStore, Scheduler};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn spec(addr: &str) -> HostSpec {
    HostSpec {
        addr: addr.to_owned(),
        workers: 2,
        capacity: 16,
    }
}

fn join(cluster: &Cluster, addr: &str, lease: Duration) -> Result<Registration, ClusterError> {
    Registration::join(cluster, spec(addr), lease, None, Log::quiet())
}

fn cluster(redis: &common::RedisServer) -> Cluster {
    Cluster::new(&redis.url()).expect("cluster URL")
}

fn live_ids(cluster: &Cluster) -> Vec<HostId> {
    let hosts = cluster.live_hosts().expect("live hosts");
    hosts.into_iter().map(|h| h.id).collect()
}

/// Polls `done` every 50 ms for up to `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn registered_hosts_are_listed_with_what_they_published() {
    let Some(redis) = common::redis_or_skip("registered hosts") else {
        return;
    };
    let cluster = cluster(&redis);
    assert_eq!(cluster.live_hosts().expect("empty cluster"), vec![]);
    let lease = Duration::from_secs(5);
    let load: faasm_cluster::LoadProbe = std::sync::Arc::new(|| 7);
    let a = Registration::join(
        &cluster,
        spec("127.0.0.1:8001"),
        lease,
        Some(load),
        Log::quiet(),
    )
    .expect("join a");
    let b = join(&cluster, "127.0.0.1:8002", lease).expect("join b");
    assert_ne!(a.epoch(), b.epoch(), "each lease has its own epoch");
    b.set_warm(vec![
        "alice/echo".into(),
        "bob/pi".into(),
        "alice/echo".into(),
    ])
    .expect("warm");
    let hosts = cluster.live_hosts().expect("hosts");
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    let b_info = hosts.iter().find(|h| &h.id == b.id()).expect("b listed");
    assert_eq!(b_info.addr, "127.0.0.1:8002");
    assert_eq!((b_info.workers, b_info.capacity), (2, 16));
    assert_eq!(b_info.epoch, b.epoch());
    assert_eq!(b_info.warm, ["alice/echo", "bob/pi"]);
    assert!(b_info.lease_left <= lease && b_info.lease_left > Duration::ZERO);
    assert!(b_info.started_ms > 0);
    let a_info = hosts.iter().find(|h| &h.id == a.id()).expect("a listed");
    assert!(a_info.warm.is_empty());
    assert_eq!(
        (a_info.in_flight, b_info.in_flight),
        (7, 0),
        "the load probe's reading"
    );
    // Too many warm functions are refused before anything is written.
    let many = (0..=faasm_cluster::MAX_WARM_FUNCTIONS)
        .map(|i| format!("u/f{i}"))
        .collect();
    let error = a.set_warm(many).expect_err("too many");
    assert!(
        error.to_string().contains("more than the limit of 1024"),
        "{error}"
    );
}

#[test]
fn a_host_whose_heartbeat_stops_disappears_after_its_lease() {
    let Some(redis) = common::redis_or_skip("lease lapses") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_millis(800);
    // What a host does on each heartbeat, once: then it "dies".
    let dead = HostId::generate();
    cluster
        .renew_lease(&dead, &spec("127.0.0.1:9001"), 1, 0, lease)
        .expect("lease");
    cluster
        .publish_warm(&dead, &["alice/echo".to_owned()])
        .expect("warm");
    // A host with a heartbeat outlives several of its leases.
    let alive = join(&cluster, "127.0.0.1:9002", lease).expect("join");
    assert_eq!(live_ids(&cluster).len(), 2);
    assert!(
        eventually(Duration::from_secs(10), || live_ids(&cluster)
            == [alive.id().clone()]),
        "the dead host is still listed: {:?}",
        cluster.live_hosts()
    );
    std::thread::sleep(lease * 3);
    assert_eq!(live_ids(&cluster), [alive.id().clone()]);
    assert_eq!(alive.last_error(), None);
    // Its warm set lapsed with it: publishing for a lapsed lease writes nothing.
    assert!(!cluster.publish_warm(&dead, &[]).expect("lapsed"));
    assert_eq!(
        redis.command(&format!("EXISTS faasm:cluster:warm:{dead}")),
        ":0"
    );
}

#[test]
fn a_host_that_leaves_or_is_dropped_is_gone_at_once() {
    let Some(redis) = common::redis_or_skip("leave") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_secs(30);
    let a = join(&cluster, "127.0.0.1:8001", lease).expect("join a");
    let b = join(&cluster, "127.0.0.1:8002", lease).expect("join b");
    a.set_warm(vec!["alice/echo".into()]).expect("warm");
    let b_id = b.id().clone();
    a.leave().expect("leave");
    assert_eq!(live_ids(&cluster), [b_id]);
    drop(b);
    assert_eq!(live_ids(&cluster), []);
    assert_eq!(
        redis.command("DBSIZE"),
        ":1",
        "only the epoch counter is left"
    );
}

#[test]
fn a_lapsed_lease_is_taken_again_with_a_new_epoch() {
    let Some(redis) = common::redis_or_skip("rejoin") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_millis(600);
    let host = join(&cluster, "127.0.0.1:8001", lease).expect("join");
    host.set_warm(vec!["alice/echo".into()]).expect("warm");
    let first = host.epoch();
    // As if the host had been cut off for longer than its lease.
    redis.command(&format!("DEL faasm:cluster:host:{}", host.id()));
    assert!(
        eventually(Duration::from_secs(10), || host.epoch() > first),
        "no new epoch"
    );
    let hosts = cluster.live_hosts().expect("hosts");
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].epoch, host.epoch());
    assert_eq!(hosts[0].warm, ["alice/echo"], "warm set published again");
}

#[test]
fn joining_a_cluster_that_is_down_names_the_server() {
    let port = common::free_port();
    let cluster = Cluster::new(&format!("redis://127.0.0.1:{port}"))
        .expect("url")
        .with_timeout(Duration::from_secs(2));
    let error = join(&cluster, "a:1", Duration::from_secs(3)).expect_err("nobody listens");
    let text = error.to_string();
    assert!(
        text.contains("renew lease") && text.contains(&port.to_string()),
        "{text}"
    );
    let error = Cluster::new("nonsense://x").expect_err("bad URL");
    assert!(matches!(error, ClusterError::InvalidUrl { .. }), "{error}");
}

/// The zygote draws 16 random bytes and counts its runs at offset 16; a call outputs both. A
/// host that ran the zygote itself draws other bytes than the uploading host.
const ZYGOTE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") (result i32)
    (drop (call $random (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (i32.const 0))
  (func (export "_start")
    (call $output (i32.const 0) (i32.const VERSION))))
"#;

/// Version `n` of the function: its output is `n + 19` bytes long.
fn module(version: u32) -> Vec<u8> {
    wat::parse_str(ZYGOTE.replace("VERSION", &(version + 19).to_string())).expect("wat")
}

fn store(tag: &str) -> FunctionStore {
    FunctionStore::new(common::temp_dir(tag))
}

fn guarded_engine() -> Engine {
    Engine::default()
}

fn bounded_engine() -> Engine {
    Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy: MemoryStrategy::Bounded,
            ..CompilerConfig::default()
        },
        ..Config::default()
    })
    .expect("bounded engine")
}

const INIT: Duration = Duration::from_secs(10);

fn upload(engine: &Engine, store: &FunctionStore, id: &FunctionId, version: u32) {
    functions::upload(
        engine,
        store,
        id,
        module(version),
        Path::new("zygote.wat"),
        INIT,
        Log::quiet(),
    )
    .expect("upload");
}

/// The output of one call of `id` loaded from `store`.
fn call(engine: &Engine, store: &FunctionStore, id: &FunctionId) -> Vec<u8> {
    let function = load_function(engine, store, id, Log::quiet()).expect("load");
    let scheduler = Scheduler::new(engine, 1).expect("scheduler");
    scheduler.register(&id.user, &id.function, function);
    let result = scheduler
        .invoke(&id.user, &id.function, CallRequest::default())
        .expect("invoke");
    assert!(result.succeeded(), "{:?}", result.failure);
    result.output
}

#[test]
fn a_function_uploaded_on_one_host_runs_on_another_without_initialising_again() {
    let Some(redis) = common::redis_or_skip("share") else {
        return;
    };
    let cluster = cluster(&redis);
    let id: FunctionId = "alice/zygote".parse().expect("id");
    let (engine_a, engine_b) = (guarded_engine(), guarded_engine());
    let (store_a, store_b) = (store("host-a"), store("host-b"));
    assert_eq!(
        sharing::sync(&cluster, &engine_b, &store_b, None, &id, INIT, Log::quiet()).expect("sync"),
        Synced::NotShared
    );
    upload(&engine_a, &store_a, &id, 1);
    let shared = sharing::share(&cluster, &store_a, &id).expect("share");
    assert_eq!(shared.version, 1);
    let on_a = call(&engine_a, &store_a, &id);
    assert_eq!(on_a.len(), 20);
    assert_eq!(on_a[16..], 1u32.to_le_bytes(), "the zygote ran once");

    let Synced::Installed(installed) =
        sharing::sync(&cluster, &engine_b, &store_b, None, &id, INIT, Log::quiet()).expect("sync")
    else {
        panic!("B did not install the function");
    };
    assert!(installed.restored, "B initialised the function itself");
    assert_eq!(installed.version, shared);
    assert_eq!(
        call(&engine_b, &store_b, &id),
        on_a,
        "B's Faaslet did not start from A's Proto-Faaslet"
    );
    // Nothing changed: one small round trip, nothing fetched.
    assert_eq!(
        sharing::sync(&cluster, &engine_b, &store_b, None, &id, INIT, Log::quiet()).expect("sync"),
        Synced::UpToDate(shared.clone())
    );
    // A's own share counts as installed on A.
    assert_eq!(
        sharing::sync(&cluster, &engine_a, &store_a, None, &id, INIT, Log::quiet()).expect("sync"),
        Synced::UpToDate(shared)
    );
}

#[test]
fn a_new_upload_replaces_the_old_version_on_the_next_sync() {
    let Some(redis) = common::redis_or_skip("versions") else {
        return;
    };
    let cluster = cluster(&redis);
    let id: FunctionId = "alice/versions".parse().expect("id");
    let engine = guarded_engine();
    let (store_a, store_b) = (store("versions-a"), store("versions-b"));
    upload(&engine, &store_a, &id, 1);
    sharing::share(&cluster, &store_a, &id).expect("share 1");
    sharing::sync(&cluster, &engine, &store_b, None, &id, INIT, Log::quiet()).expect("sync 1");
    assert_eq!(call(&engine, &store_b, &id).len(), 20);

    upload(&engine, &store_a, &id, 2);
    let second = sharing::share(&cluster, &store_a, &id).expect("share 2");
    assert_eq!(second.version, 2);
    let Synced::Installed(installed) =
        sharing::sync(&cluster, &engine, &store_b, None, &id, INIT, Log::quiet()).expect("sync 2")
    else {
        panic!("B kept the old version");
    };
    assert_eq!(installed.version, second);
    assert_eq!(call(&engine, &store_b, &id).len(), 21, "B runs version 2");
    assert_eq!(
        sharing::local_version(&store_b, &id),
        Some(second),
        "B notes what it holds"
    );
}

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(line: &str) {
    LOGGED.lock().expect("log").push(line.to_owned());
}

#[test]
fn a_host_with_another_engine_prepares_its_own_proto_faaslet_and_says_so() {
    let Some(redis) = common::redis_or_skip("other engine") else {
        return;
    };
    let cluster = cluster(&redis);
    let id: FunctionId = "alice/engines".parse().expect("id");
    let (engine_a, engine_b) = (guarded_engine(), bounded_engine());
    let (store_a, store_b) = (store("engines-a"), store("engines-b"));
    upload(&engine_a, &store_a, &id, 1);
    sharing::share(&cluster, &store_a, &id).expect("share");
    let on_a = call(&engine_a, &store_a, &id);
    let Synced::Installed(installed) = sharing::sync(
        &cluster,
        &engine_b,
        &store_b,
        None,
        &id,
        INIT,
        Log::to(remember),
    )
    .expect("sync") else {
        panic!("B did not install the function");
    };
    assert!(!installed.restored);
    let on_b = call(&engine_b, &store_b, &id);
    assert_eq!(on_b[16..], 1u32.to_le_bytes(), "B's zygote ran once");
    assert_ne!(on_b[..16], on_a[..16], "B drew its own random bytes");
    let logged = LOGGED.lock().expect("log").join("\n");
    assert!(
        logged.contains("alice/engines") && logged.contains("preparing this host's own"),
        "{logged}"
    );
}

#[test]
fn functions_past_the_size_limit_are_refused_by_name_and_size() {
    let Some(redis) = common::redis_or_skip("size limit") else {
        return;
    };
    let id: FunctionId = "alice/large".parse().expect("id");
    let engine = guarded_engine();
    let store_a = store("large-a");
    upload(&engine, &store_a, &id, 1);
    let stored = store_a.get(&id).expect("stored");
    let bytes = (stored.wasm.len() + stored.snapshot.len()) as u64;
    let small = cluster(&redis).with_max_function_bytes(bytes - 1);
    let error = sharing::share(&small, &store_a, &id).expect_err("too large");
    let text = error.to_string();
    assert!(
        text.contains("alice/large")
            && text.contains(&format!("{bytes} bytes"))
            && text.contains(&format!("limit of {} bytes", bytes - 1)),
        "{text}"
    );
    // Shared under a larger limit, it is refused to a host with the smaller one before the
    // server sends it.
    sharing::share(&cluster(&redis), &store_a, &id).expect("share");
    let error = sharing::fetch(&small, &id).expect_err("too large to fetch");
    assert!(
        matches!(error, ClusterError::TooLarge { bytes: b, .. } if b == bytes),
        "{error}"
    );
}

#[test]
fn a_module_that_does_not_match_its_hash_is_refused() {
    let Some(redis) = common::redis_or_skip("corrupt") else {
        return;
    };
    let cluster = cluster(&redis);
    let id: FunctionId = "alice/corrupt".parse().expect("id");
    let engine = guarded_engine();
    let store_a = store("corrupt-a");
    upload(&engine, &store_a, &id, 1);
    sharing::share(&cluster, &store_a, &id).expect("share");
    redis.command("HSET faasm:cluster:fn:alice/corrupt wasm garbage");
    let error = sharing::fetch(&cluster, &id).expect_err("corrupt");
    assert!(
        error.to_string().contains("SHA-256") && error.to_string().contains("alice/corrupt"),
        "{error}"
    );
}

fn node(redis: &common::RedisServer, store: &FunctionStore, addr: &str) -> ClusterNode {
    let node = ClusterNode::new(
        cluster(redis),
        guarded_engine(),
        store.clone(),
        INIT,
        Log::quiet(),
    );
    node.join(spec(addr), Duration::from_secs(5), None)
        .expect("join");
    node
}

#[test]
fn a_share_or_a_flush_elsewhere_invalidates_functions_here() {
    let Some(redis) = common::redis_or_skip("invalidation") else {
        return;
    };
    let id: FunctionId = "alice/stale".parse().expect("id");
    let (store_a, store_b) = (store("stale-a"), store("stale-b"));
    let (a, b) = (node(&redis, &store_a, "a:1"), node(&redis, &store_b, "b:1"));
    let engine = guarded_engine();
    upload(&engine, &store_a, &id, 1);
    a.share(&id).expect("share 1");
    let loaded = b.load("alice", "stale").expect("load on b");
    assert!(loaded.is_some(), "b did not fetch the function");
    assert_eq!(
        sharing::local_version(&store_b, &id).map(|v| v.version),
        Some(1)
    );

    upload(&engine, &store_a, &id, 2);
    a.share(&id).expect("share 2");
    let mut stale = Invalidated::default();
    assert!(
        eventually(Duration::from_secs(10), || {
            stale.functions.extend(b.take_invalidated().functions);
            stale.functions.contains(&id)
        }),
        "b was not told of version 2"
    );
    // And fetches it at the next load.
    b.load("alice", "stale").expect("load again");
    assert_eq!(
        sharing::local_version(&store_b, &id).map(|v| v.version),
        Some(2)
    );

    // A flush reaches the others, not its sender: by the time `a` hears of b's later share,
    // it has handled its own flush.
    a.publish_flush().expect("flush");
    let other: FunctionId = "bob/other".parse().expect("id");
    upload(&engine, &store_b, &other, 1);
    b.share(&other).expect("share on b");
    let mut heard = Invalidated::default();
    assert!(
        eventually(Duration::from_secs(10), || {
            let taken = b.take_invalidated();
            heard.all |= taken.all;
            heard.all
        }),
        "b missed the flush"
    );
    let mut on_a = Invalidated::default();
    assert!(
        eventually(Duration::from_secs(10), || {
            let taken = a.take_invalidated();
            on_a.all |= taken.all;
            on_a.functions.extend(taken.functions);
            on_a.functions.contains(&other)
        }),
        "a missed b's share"
    );
    assert!(!on_a.all, "a flushed itself on its own flush message");
    a.leave().expect("leave a");
    b.leave().expect("leave b");
    assert_eq!(cluster(&redis).live_hosts().expect("hosts"), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Calls sent to other hosts.

use faasm_cluster::calls::{Completion, RemoteResult};

fn answer(host: &HostId, output: &[u8]) -> RemoteResult {
    RemoteResult {
        return_value: 0,
        output: output.to_vec(),
        failure: None,
        timed_out: false,
        host: host.to_string(),
    }
}

#[test]
fn a_call_sent_to_a_host_is_taken_answered_and_awaited_without_polling() {
    let Some(redis) = common::redis_or_skip("calls") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_secs(5);
    let (a, b) = (
        join(&cluster, "a:1", lease).unwrap(),
        join(&cluster, "b:1", lease).unwrap(),
    );
    cluster.create_call_stream(b.id()).unwrap();
    // Twice: a second join finds the group made.
    cluster.create_call_stream(b.id()).unwrap();
    let input = [0u8, 1, 255];
    let id = cluster
        .forward_call(
            b.id(),
            a.id(),
            &faasm_cluster::calls::Outgoing {
                user: "demo",
                function: "echo",
                input: &input,
                func_ptr: 3,
                retryable: false,
            },
        )
        .unwrap();
    assert_eq!(cluster.call_result(id).unwrap(), None);

    // A waiter blocks until the result is stored, then every later waiter gets it at once.
    let waiter = std::thread::spawn({
        let cluster = Cluster::new(&redis.url()).unwrap();
        move || cluster.await_call(id, Duration::from_secs(20))
    });
    let mut reader = cluster.call_reader(b.id(), Duration::from_secs(1)).unwrap();
    let taken = cluster
        .take_calls(&mut reader, b.id(), 16, Duration::from_secs(1))
        .unwrap();
    assert_eq!(taken.len(), 1);
    let call = &taken[0];
    assert_eq!(
        (call.id, call.user.as_str(), call.function.as_str()),
        (id, "demo", "echo")
    );
    assert_eq!(
        (call.input.as_slice(), call.origin.as_str()),
        (&input[..], a.id().as_str())
    );
    assert_eq!(
        (call.func_ptr, call.retryable, &call.claimed_from),
        (3, false, &None)
    );
    // Taken once: the next read waits and finds nothing.
    let again = cluster.take_calls(&mut reader, b.id(), 16, Duration::from_millis(100));
    assert!(again.unwrap().is_empty());

    let result = answer(b.id(), b"out");
    let stored = cluster.complete(b.id(), b.epoch(), call, &result, Duration::from_secs(60));
    assert_eq!(stored.unwrap(), Completion::Stored);
    let awaited = waiter.join().unwrap().unwrap();
    assert_eq!(awaited.as_ref(), Some(&result));
    // The sending host's watcher hears of it on its results stream, once.
    let mut watcher = cluster.call_reader(a.id(), Duration::from_secs(1)).unwrap();
    let wait = Duration::from_millis(100);
    let (ids, last) = cluster
        .watch_results(&mut watcher, a.id(), "0", wait)
        .unwrap();
    assert_eq!(ids, [(id, Some(result.clone()))]);
    let (ids, _) = cluster
        .watch_results(&mut watcher, a.id(), &last, wait)
        .unwrap();
    assert!(ids.is_empty());
    let late = cluster.await_call(id, Duration::from_secs(5)).unwrap();
    assert_eq!(late.as_ref(), Some(&result));
    // A second answer (a rerun elsewhere) keeps the first.
    let rerun = answer(b.id(), b"other");
    let second = cluster.complete(b.id(), b.epoch(), call, &rerun, Duration::from_secs(60));
    assert_eq!(second.unwrap(), Completion::AlreadyAnswered);
    assert_eq!(cluster.call_result(id).unwrap(), Some(result));
    // Nothing stays pending or queued once answered.
    assert_eq!(pending(&redis, b.id()), 0);
    let unknown = cluster
        .await_call(id + 1000, Duration::from_millis(200))
        .unwrap();
    assert_eq!(unknown, None);
}

/// Entries of `host`'s stream taken and not acknowledged.
fn pending(redis: &common::RedisServer, host: &HostId) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(format!("faasm:cluster:calls:{host}"))
        .arg("run")
        .query(&mut con)
        .unwrap();
    match reply {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("XPENDING count: {other:?}"),
        },
        other => panic!("XPENDING: {other:?}"),
    }
}

#[test]
fn a_host_whose_lease_lapsed_cannot_answer_the_calls_it_took() {
    let Some(redis) = common::redis_or_skip("fenced results") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_secs(5);
    let (a, b) = (
        join(&cluster, "a:2", lease).unwrap(),
        join(&cluster, "b:2", lease).unwrap(),
    );
    cluster.create_call_stream(b.id()).unwrap();
    let id = cluster
        .forward(b.id(), a.id(), "demo", "echo", b"x")
        .unwrap();
    let mut reader = cluster.call_reader(b.id(), Duration::from_secs(1)).unwrap();
    let taken = cluster
        .take_calls(&mut reader, b.id(), 1, Duration::from_secs(1))
        .unwrap();
    // An answer under another epoch (the host was cut off and joined again) is refused.
    let stale = cluster.complete(
        b.id(),
        b.epoch() + 1,
        &taken[0],
        &answer(b.id(), b"stale"),
        Duration::from_secs(60),
    );
    assert_eq!(stale.unwrap(), Completion::Fenced);
    assert_eq!(cluster.call_result(id).unwrap(), None);
    assert_eq!(
        pending(&redis, b.id()),
        1,
        "the call is left for another host"
    );
    // So is one after the host left (its lease is gone).
    let (b_id, epoch) = (b.id().clone(), b.epoch());
    b.leave().unwrap();
    let gone = cluster.complete(
        &b_id,
        epoch,
        &taken[0],
        &answer(a.id(), b"gone"),
        Duration::from_secs(60),
    );
    assert_eq!(gone.unwrap(), Completion::Fenced);
    assert_eq!(cluster.call_result(id).unwrap(), None);
}

#[test]
fn a_host_with_a_full_stream_is_sent_no_more_calls() {
    let Some(redis) = common::redis_or_skip("full streams") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_secs(5);
    let (a, b) = (
        join(&cluster, "a:3", lease).unwrap(),
        join(&cluster, "b:3", lease).unwrap(),
    );
    cluster.create_call_stream(b.id()).unwrap();
    // Filled directly (10,000 sends one by one would take seconds).
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let stream = format!("faasm:cluster:calls:{}", b.id());
    let mut pipe = redis::pipe();
    for i in 0..faasm_cluster::calls::MAX_QUEUED_CALLS {
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("id")
            .arg(i + 1)
            .ignore();
    }
    let () = pipe.query(&mut con).unwrap();
    let error = cluster
        .forward(b.id(), a.id(), "demo", "echo", b"")
        .unwrap_err();
    assert!(matches!(error, ClusterError::Full { .. }), "{error}");
    assert!(error.to_string().contains("10000 calls waiting"), "{error}");
    let huge = vec![0u8; faasm_cluster::calls::MAX_FORWARDED_INPUT_BYTES + 1];
    let error = cluster
        .forward(a.id(), b.id(), "demo", "echo", &huge)
        .unwrap_err();
    assert!(error.to_string().contains("input of"), "{error}");
}

#[test]
fn the_calls_of_a_host_that_is_gone_are_claimed_once_by_the_live_ones() {
    let Some(redis) = common::redis_or_skip("claims") else {
        return;
    };
    let cluster = cluster(&redis);
    let lease = Duration::from_secs(5);
    let a = join(&cluster, "a:4", lease).unwrap();
    let b = join(&cluster, "b:4", lease).unwrap();
    let c = join(&cluster, "c:4", lease).unwrap();
    for host in [&a, &b, &c] {
        cluster.create_call_stream(host.id()).unwrap();
    }
    let sent: Vec<u64> = (0..6)
        .map(|i| {
            let input = format!("call {i}");
            cluster
                .forward(b.id(), a.id(), "demo", "echo", input.as_bytes())
                .unwrap()
        })
        .collect();
    // Host b takes four and dies (its lease is gone) before it answers them.
    let mut reader = cluster.call_reader(b.id(), Duration::from_secs(1)).unwrap();
    let taken = cluster
        .take_calls(&mut reader, b.id(), 4, Duration::from_secs(1))
        .unwrap();
    assert_eq!(taken.len(), 4);
    let b_id = b.id().clone();
    b.leave().unwrap();
    let error = cluster
        .forward(&b_id, a.id(), "demo", "echo", b"")
        .unwrap_err();
    assert!(
        error.to_string().contains("has left the cluster"),
        "{error}"
    );
    std::thread::sleep(faasm_cluster::calls::CLAIM_MIN_IDLE * 2);

    // Hosts a and c claim at once: between them they get every call, none twice.
    let live = vec![a.id().clone(), c.id().clone()];
    let (by_a, by_c) = std::thread::scope(|s| {
        let claim = |me: HostId| {
            let live = live.clone();
            let cluster = Cluster::new(&redis.url()).unwrap();
            move || cluster.claim_orphans(&me, &live, 100).unwrap()
        };
        let by_a = s.spawn(claim(a.id().clone()));
        let by_c = s.spawn(claim(c.id().clone()));
        (by_a.join().unwrap(), by_c.join().unwrap())
    });
    let mut claimed: Vec<u64> = by_a.iter().chain(&by_c).map(|call| call.id).collect();
    claimed.sort_unstable();
    assert_eq!(claimed, sent, "a claimed {by_a:?}, c claimed {by_c:?}");
    assert!(
        by_a.iter()
            .chain(&by_c)
            .all(|call| call.queue == b_id.as_str())
    );
    // The four it had taken were claimed from it; the two it never took, not.
    let from_b = by_a
        .iter()
        .chain(&by_c)
        .filter(|call| call.claimed_from.as_deref() == Some(b_id.as_str()))
        .count();
    assert_eq!(from_b, 4);
    for (host, calls) in [(&a, &by_a), (&c, &by_c)] {
        for call in calls {
            let result = answer(host.id(), &call.input);
            let stored = cluster.complete(host.id(), host.epoch(), call, &result, lease);
            assert_eq!(stored.unwrap(), Completion::Stored);
        }
    }
    for (i, id) in sent.iter().enumerate() {
        let result = cluster
            .await_call(*id, Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(result.output, format!("call {i}").into_bytes());
    }
    // Nothing left: the gone host's stream is deleted by the next look.
    assert!(
        cluster
            .claim_orphans(a.id(), &live, 100)
            .unwrap()
            .is_empty()
    );
    let stream = format!("faasm:cluster:calls:{b_id}");
    assert_eq!(redis.command(&format!("EXISTS {stream}")), ":0");
    assert_eq!(
        redis.command(&format!("SISMEMBER faasm:cluster:call-streams {b_id}")),
        ":0"
    );
}
