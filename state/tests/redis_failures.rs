//! The Redis tier when Redis fails: killed in the middle of a call, down, restarted on the same
//! port, a connection cut in the middle of a large reply; and durability of pushed values with
//! the append-only file on.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::RedisServer;
use faasm_state::{ErrorKind, GlobalTier, LocalTier, RedisTier, StateKey};

fn key(text: &str) -> StateKey {
    StateKey::parse(text).unwrap()
}

fn tier(server: &RedisServer) -> Arc<RedisTier> {
    Arc::new(
        RedisTier::new(&server.url())
            .unwrap()
            .with_timeout(Duration::from_secs(3)),
    )
}

#[test]
fn redis_killed_mid_call_then_restarted() {
    let Some(mut server) = common::redis_or_skip("redis_killed_mid_call_then_restarted") else {
        return;
    };
    let global = tier(&server);
    let host = LocalTier::new(global.clone());
    let k = key("alice/model");
    host.write(&k, b"version-1").unwrap();
    host.push(&k).unwrap();
    host.write(&k, b"version-2").unwrap();

    // Pause every client, so our push blocks inside the server; kill the server meanwhile.
    assert_eq!(server.command("CLIENT PAUSE 20000 ALL"), "+OK");
    let started = Instant::now();
    let err = std::thread::scope(|s| {
        let push = s.spawn(|| host.push(&k));
        std::thread::sleep(Duration::from_millis(300));
        server.kill();
        push.join().unwrap().unwrap_err()
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the failure took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::GlobalTier, "{err}");
    let message = err.to_string();
    eprintln!("push while Redis was killed: {message}");
    assert!(
        message.contains("SET") && message.contains("alice/model"),
        "{message}"
    );
    assert!(message.contains(&server.url()), "{message}");

    // The local value is intact and still readable while Redis is down.
    let mut buf = [0u8; 9];
    assert_eq!(host.read(&k, &mut buf).unwrap(), 9);
    assert_eq!(&buf, b"version-2");

    // Calls fail clearly while it is down...
    let err = host.push(&k).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GlobalTier);
    assert!(err.to_string().contains("cannot connect"), "{err}");
    let err = host.read(&key("alice/other"), &mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GlobalTier);
    assert!(
        err.to_string().contains("STRLEN") && err.to_string().contains("alice/other"),
        "{err}"
    );

    // ...and succeed once it is back on the same port (no persistence: the old value is gone).
    server.restart();
    assert_eq!(global.size(&k).unwrap(), 0);
    host.push(&k).unwrap();
    assert_eq!(global.get(&k).unwrap().as_deref(), Some(&b"version-2"[..]));
    let other = LocalTier::new(tier(&server));
    let mut buf = [0u8; 9];
    other.read(&k, &mut buf).unwrap();
    assert_eq!(&buf, b"version-2");
}

#[test]
fn the_first_call_after_a_restart_succeeds_but_appends_are_never_resent() {
    let Some(mut server) = common::redis_or_skip("the_first_call_after_a_restart_succeeds") else {
        return;
    };
    let host = LocalTier::new(tier(&server));
    let (k, list) = (key("alice/k"), key("alice/list"));
    host.write(&k, b"abc").unwrap();
    host.push(&k).unwrap();
    host.append(&list, b"1").unwrap();
    // Both connections are open; the server dies and comes back between two calls.
    server.restart();
    host.write(&k, b"xyz").unwrap();
    // Idempotent commands are sent again on a new connection: the SET of a push (value
    // connection)...
    host.push(&k).unwrap();
    assert_eq!(host.global().get(&k).unwrap().as_deref(), Some(&b"xyz"[..]));
    server.restart();
    // ...the GET of a pull (value connection), STRLEN (the other one).
    let writer = LocalTier::new(tier(&server));
    writer.write(&k, b"new").unwrap();
    writer.push(&k).unwrap();
    host.pull(&k, 3).unwrap();
    let mut buf = [0u8; 3];
    host.read(&k, &mut buf).unwrap();
    assert_eq!(&buf, b"new");
    assert_eq!(host.global().size(&k).unwrap(), 3);
    // An append is not: its reply lost with the connection may mean it ran. It fails, clearly,
    // and the next one goes through.
    server.restart();
    let err = host.append(&list, b"2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GlobalTier, "{err}");
    assert!(err.to_string().contains("RPUSH"), "{err}");
    host.append(&list, b"2").unwrap();
    assert_eq!(host.read_appended(&list, 1).unwrap(), b"2");
}

#[test]
fn redis_down_from_the_start() {
    if common::redis_or_skip("redis_down_from_the_start").is_none() {
        return;
    }
    // Nothing listens on a port that was just free.
    let url = format!("redis://127.0.0.1:{}", common::free_port());
    let host = LocalTier::new(Arc::new(RedisTier::new(&url).unwrap()));
    let k = key("alice/k");
    let err = host.read(&k, &mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GlobalTier);
    assert!(
        err.to_string().contains("cannot connect") && err.to_string().contains(&url),
        "{err}"
    );
    let err = RedisTier::new("not a url").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err}");
}

#[test]
fn pushed_values_survive_a_restart_with_aof() {
    let Some(probe) = common::redis_or_skip("pushed_values_survive_a_restart_with_aof") else {
        return;
    };
    drop(probe);
    let dir = common::temp_dir("aof");
    let mut server = RedisServer::start(common::free_port(), Some(&dir));
    let host = LocalTier::new(tier(&server));
    let pushed = key("alice/pushed");
    let partial = key("alice/partial");
    let local_only = key("alice/local-only");
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    host.write(&pushed, &data).unwrap();
    host.push(&pushed).unwrap();
    host.write(&partial, &[1u8; 8192]).unwrap();
    host.push(&partial).unwrap();
    host.write_at(&partial, 8192, 5000, b"changed").unwrap();
    host.push_partial(&partial).unwrap();
    host.append(&pushed, b"element").unwrap();
    host.write(&local_only, b"never pushed").unwrap();

    // SIGKILL: only what the append-only file holds (fsync always) survives.
    server.kill();
    server.restart();

    let after = LocalTier::new(tier(&server));
    let mut buf = vec![0u8; data.len()];
    after.read(&pushed, &mut buf).unwrap();
    assert_eq!(buf, data);
    let mut buf = [0u8; 7];
    after.read_at(&partial, 8192, 5000, &mut buf).unwrap();
    assert_eq!(&buf, b"changed");
    assert_eq!(after.read_appended(&pushed, 1).unwrap(), b"element");
    let err = after.read(&local_only, &mut [0u8; 12]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1 MiB: a value far larger than a socket's buffers and the tier's read buffer.
const LARGE: usize = 1 << 20;

/// A `LARGE`-byte value whose bytes depend on `seed` and on their position.
fn large_value(seed: u8) -> Vec<u8> {
    (0..LARGE)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(31))
        .collect()
}

/// Checks that `err` is the tier's failure of `operation` on `key` against `url`.
fn assert_global_failure(err: &faasm_state::StateError, operation: &str, key: &str, url: &str) {
    assert_eq!(err.kind(), ErrorKind::GlobalTier, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(operation) && message.contains(key) && message.contains(url),
        "{message}"
    );
}

#[test]
fn redis_killed_during_large_pull_and_push() {
    let Some(mut server) = common::redis_or_skip("redis_killed_during_large_pull_and_push") else {
        return;
    };
    let k = key("alice/large");
    let writer = LocalTier::new(tier(&server));
    writer.write(&k, &large_value(1)).unwrap();
    writer.push(&k).unwrap();
    let host = LocalTier::new(tier(&server));
    host.pull(&k, LARGE).unwrap();
    host.write_at(&k, LARGE, 0, b"not pushed").unwrap();
    let mut expected = large_value(1);
    expected[..10].copy_from_slice(b"not pushed");

    // The pull waits for a paused server, which is killed meanwhile.
    assert_eq!(server.command("CLIENT PAUSE 20000 ALL"), "+OK");
    let started = Instant::now();
    let err = std::thread::scope(|s| {
        let pull = s.spawn(|| host.pull(&k, LARGE));
        std::thread::sleep(Duration::from_millis(300));
        server.kill();
        pull.join().unwrap().unwrap_err()
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    eprintln!("large pull while Redis was killed: {err}");
    assert_global_failure(&err, "GET", "alice/large", &server.url());
    let mut buf = vec![0u8; LARGE];
    host.read(&k, &mut buf).unwrap();
    assert!(buf == expected, "the local value changed");

    // The same for a push (the local value stays dirty, so a later push sends it).
    server.restart();
    assert_eq!(server.command("CLIENT PAUSE 20000 ALL"), "+OK");
    let err = std::thread::scope(|s| {
        let push = s.spawn(|| host.push(&k));
        std::thread::sleep(Duration::from_millis(300));
        server.kill();
        push.join().unwrap().unwrap_err()
    });
    eprintln!("large push while Redis was killed: {err}");
    assert_global_failure(&err, "SET", "alice/large", &server.url());
    host.read(&k, &mut buf).unwrap();
    assert!(buf == expected, "the local value changed");

    // Back on the same port (empty: no persistence), the push succeeds: the host's value
    // connection died with the server, and the tier connects again.
    server.restart();
    host.push(&k).unwrap();
    let reader = LocalTier::new(tier(&server));
    reader.read(&k, &mut buf).unwrap();
    assert!(buf == expected, "the pushed value differs");
}

/// A TCP proxy in front of a server that can cut a connection after a given number of bytes
/// of replies: Redis dying half-way through sending a large value.
struct CuttingProxy {
    port: u16,
    plan: Arc<CutPlan>,
}

/// When the proxy cuts connections.
#[derive(Default)]
struct CutPlan {
    /// Reply bytes still let through before the next cut; negative: no cut planned.
    budget: AtomicI64,
    /// The reply bytes each planned cut lets through (counted from the previous cut).
    bytes: AtomicI64,
    /// Cuts still to make after the next one.
    more: AtomicI64,
}

impl CuttingProxy {
    fn start(server_port: u16) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let plan = Arc::new(CutPlan::default());
        plan.budget.store(-1, Ordering::SeqCst);
        let shared = plan.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
                let plan = shared.clone();
                std::thread::spawn(move || pump_replies(server, client, &plan));
            }
        });
        CuttingProxy { port, plan }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Cuts the connection that carries the next `bytes + 1`-th reply byte, after `bytes`, and
    /// so `times` times in all (a command resent after a cut is cut too while cuts remain).
    fn cut_after(&self, bytes: i64, times: i64) {
        self.plan.bytes.store(bytes, Ordering::SeqCst);
        self.plan.more.store(times - 1, Ordering::SeqCst);
        self.plan.budget.store(bytes, Ordering::SeqCst);
    }
}

/// Copies replies from `server` to `client` until either closes or the plan's budget runs out.
fn pump_replies(mut server: TcpStream, mut client: TcpStream, plan: &CutPlan) {
    let budget = &plan.budget;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let left = budget.load(Ordering::SeqCst);
        if left >= 0 && n as i64 > left {
            let _ = client.write_all(&buf[..left as usize]);
            let more = plan.more.fetch_sub(1, Ordering::SeqCst);
            let next = if more > 0 {
                plan.bytes.load(Ordering::SeqCst)
            } else {
                -1
            };
            budget.store(next, Ordering::SeqCst);
            break;
        }
        if left >= 0 {
            budget.fetch_sub(n as i64, Ordering::SeqCst);
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

#[test]
fn connection_cut_in_the_middle_of_a_large_value() {
    let Some(server) = common::redis_or_skip("connection_cut_in_the_middle_of_a_large_value")
    else {
        return;
    };
    let proxy = CuttingProxy::start(server.port());
    let through_proxy = || {
        Arc::new(
            RedisTier::new(&proxy.url())
                .unwrap()
                .with_timeout(Duration::from_secs(3)),
        )
    };
    let k = key("alice/cut");
    let writer = LocalTier::new(tier(&server));
    writer.write(&k, &large_value(1)).unwrap();
    writer.push(&k).unwrap();
    let host = LocalTier::new(through_proxy());
    host.pull(&k, LARGE).unwrap();
    writer.write(&k, &large_value(2)).unwrap();
    writer.push(&k).unwrap();

    // Half of the new value arrives, then the connection closes, and so again for the GET sent
    // again on a new connection: the pull fails and the local copy is still the old value, not
    // a mix of the two.
    host.reset_stats();
    proxy.cut_after(LARGE as i64 / 2, 2);
    let err = host.pull(&k, LARGE).unwrap_err();
    eprintln!("pull cut half-way: {err}");
    assert_global_failure(&err, "GET", "alice/cut", &proxy.url());
    assert_eq!(host.stats().received, 0);
    let mut buf = vec![0u8; LARGE];
    host.read(&k, &mut buf).unwrap();
    assert!(
        buf == large_value(1),
        "a failed pull changed the local value"
    );

    // One cut of a connection that carried a command before: the GET is sent again on a new
    // connection and the pull succeeds. (A new connection that fails is not retried: the
    // server is taken to be down.)
    assert_eq!(host.global().get_range(&k, 0, 1).unwrap().len(), 1);
    proxy.cut_after(LARGE as i64 / 2, 1);
    host.pull(&k, LARGE).unwrap();
    host.read(&k, &mut buf).unwrap();
    assert!(
        buf == large_value(2),
        "the pull after the cut got a wrong value"
    );
    assert_eq!(host.stats().received, LARGE as u64);

    // A push whose acknowledgement is lost fails, and the value stays dirty: pushing again
    // sends it.
    host.write(&k, &large_value(3)).unwrap();
    proxy.cut_after(0, 2);
    let err = host.push(&k).unwrap_err();
    assert_global_failure(&err, "SET", "alice/cut", &proxy.url());
    host.push(&k).unwrap();
    writer.pull(&k, LARGE).unwrap();
    writer.read(&k, &mut buf).unwrap();
    assert!(buf == large_value(3), "the pushed value differs");
}

#[test]
fn a_paused_server_ends_a_request_at_the_call_deadline() {
    let Some(server) = common::redis_or_skip("a_paused_server_ends_a_request_at_the_call_deadline")
    else {
        return;
    };
    // The tier would wait 30 s; the call this thread runs ends in 300 ms.
    let global = Arc::new(
        RedisTier::new(&server.url())
            .unwrap()
            .with_timeout(Duration::from_secs(30)),
    );
    let host = LocalTier::new(global.clone());
    let k = key("alice/slow");
    host.write(&k, b"value").unwrap();
    host.push(&k).unwrap();
    assert_eq!(server.command("CLIENT PAUSE 3000 ALL"), "+OK");
    let paused = Instant::now();
    let deadline = || Instant::now().checked_add(Duration::from_millis(300));
    // The value connection (a pull) and the command connection (an append).
    let pull = faasm_state::within_deadline(deadline(), || host.pull(&k, 5));
    let append = faasm_state::within_deadline(deadline(), || global.append(&k, b"x"));
    assert!(pull.is_err() && append.is_err(), "{pull:?} {append:?}");
    assert!(
        paused.elapsed() < Duration::from_millis(2500),
        "{:?}",
        paused.elapsed()
    );
    // Past the deadline, nothing is sent at all.
    let late = faasm_state::within_deadline(Some(Instant::now()), || host.pull(&k, 5));
    assert!(late.unwrap_err().to_string().contains("deadline"));
    // Outside a call's scope the tier's own timeout applies again.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(paused.elapsed()));
    host.pull(&k, 5).unwrap();
    assert!(global.append(&k, b"y").is_ok());
}
