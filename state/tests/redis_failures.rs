//! The Redis tier when Redis fails: killed in the middle of a call, down, restarted on the same
//! port; and durability of pushed values with the append-only file on.

mod common;

use std::sync::Arc;
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
fn stale_connection_reconnects() {
    let Some(mut server) = common::redis_or_skip("stale_connection_reconnects") else {
        return;
    };
    let host = LocalTier::new(tier(&server));
    let k = key("alice/k");
    host.write(&k, b"abc").unwrap();
    host.push(&k).unwrap();
    // The connection is open; the server dies and comes back between two calls.
    server.restart();
    host.write(&k, b"xyz").unwrap();
    // The first call may see the dead connection (then fails clearly), a later one reconnects.
    let first = host.push(&k);
    if let Err(e) = &first {
        assert_eq!(e.kind(), ErrorKind::GlobalTier, "{e}");
        host.push(&k).unwrap();
    }
    assert_eq!(host.global().get(&k).unwrap().as_deref(), Some(&b"xyz"[..]));
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
