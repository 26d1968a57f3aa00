//! How the Redis tier's own value connection (a raw RESP connection for `GET`, `GETRANGE` and
//! `SET`) follows the URL and the server: the database number, a password or ACL user, error
//! replies, and agreement with the `redis` crate's connection that carries the other commands.

mod common;

use std::sync::Arc;

use faasm_state::{ErrorKind, GlobalTier, LocalTier, RedisTier, StateKey};

fn key(text: &str) -> StateKey {
    StateKey::parse(text).unwrap()
}

#[test]
fn database_number_in_the_url_is_selected() {
    let Some(server) = common::redis_or_skip("database_number_in_the_url_is_selected") else {
        return;
    };
    let k = key("alice/db");
    let db3 = Arc::new(RedisTier::new(&format!("{}/3", server.url())).unwrap());
    let db0 = Arc::new(RedisTier::new(&server.url()).unwrap());
    let data = vec![7u8; 70_000];
    db3.set(&k, &data).unwrap();
    // Seen by both connections of the tier on db 3 (GET: ours, STRLEN: the crate's)...
    assert_eq!(db3.get(&k).unwrap().as_deref(), Some(&data[..]));
    assert_eq!(db3.size(&k).unwrap(), data.len());
    // ...and by neither on db 0.
    assert_eq!(db0.get(&k).unwrap(), None);
    assert_eq!(db0.size(&k).unwrap(), 0);
    let host = LocalTier::new(db3);
    let mut buf = vec![0u8; data.len()];
    host.read(&k, &mut buf).unwrap();
    assert_eq!(buf, data);
}

#[test]
fn password_and_acl_user_in_the_url() {
    let Some(server) = common::redis_or_skip("password_and_acl_user_in_the_url") else {
        return;
    };
    assert_eq!(
        server.command("ACL SETUSER faasm on >s3cret ~* +@all"),
        "+OK"
    );
    let as_user = format!("redis://faasm:s3cret@127.0.0.1:{}", server.port());
    let wrong = format!("redis://faasm:nope@127.0.0.1:{}", server.port());
    let k = key("alice/auth");
    let tier = RedisTier::new(&as_user).unwrap();
    tier.set(&k, b"secret value").unwrap();
    assert_eq!(tier.get(&k).unwrap().as_deref(), Some(&b"secret value"[..]));

    let err = RedisTier::new(&wrong).unwrap().get(&k).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GlobalTier, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("cannot connect") && message.contains("WRONGPASS"),
        "{message}"
    );

    // The default user with a password (AUTH with one argument).
    assert_eq!(server.command("CONFIG SET requirepass pw0"), "+OK");
    let with_password = format!("redis://:pw0@127.0.0.1:{}", server.port());
    let tier = RedisTier::new(&with_password).unwrap();
    assert_eq!(tier.get(&k).unwrap().as_deref(), Some(&b"secret value"[..]));
    let err = RedisTier::new(&server.url()).unwrap().get(&k).unwrap_err();
    assert!(err.to_string().contains("NOAUTH"), "{err}");
}

#[test]
fn error_replies_name_the_operation_and_keep_the_connection() {
    let Some(server) = common::redis_or_skip("error_replies_name_the_operation") else {
        return;
    };
    let tier = RedisTier::new(&server.url()).unwrap();
    let (list, good) = (key("alice/list"), key("alice/good"));
    tier.set(&good, b"fine").unwrap();
    // The value's Redis key holds a list: GET and GETRANGE get WRONGTYPE.
    assert_eq!(server.command("RPUSH faasm:v:alice/list x"), ":1");
    for err in [
        tier.get(&list).unwrap_err(),
        tier.get_range(&list, 0, 10).unwrap_err(),
        tier.get_range_into(&list, 0, &mut [0u8; 4]).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::GlobalTier, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("WRONGTYPE") && message.contains("alice/list"),
            "{message}"
        );
    }
    let err = tier.get(&list).unwrap_err();
    assert!(err.to_string().contains("GET on alice/list"), "{err}");
    // The connection is still in step after the error replies.
    assert_eq!(tier.get(&good).unwrap().as_deref(), Some(&b"fine"[..]));
    let mut buf = [0u8; 4];
    assert_eq!(tier.get_range_into(&good, 2, &mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"ne");
    assert_eq!(tier.get(&key("alice/absent")).unwrap(), None);
    assert_eq!(
        tier.get_range_into(&key("alice/absent"), 0, &mut buf)
            .unwrap(),
        0
    );
}
