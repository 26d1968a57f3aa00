//! The shared, data-driven conformance suite of the state tiers: `conformance.txt` (operations
//! and their expected results) run against the in-process global tier, the embedded (SQLite)
//! tier in a fresh directory per case, and a real Redis that the test starts on a free port and
//! stops at the end.
//!
//! Format of `conformance.txt`: `case NAME` starts a case (fresh hosts, empty global tier);
//! then one operation per line, `[HOST:] OP ARGS... [-> EXPECTED]`, `#` starts a comment.
//! Hosts (`h1`, the default, `h2`, ...) are `LocalTier`s sharing the case's global tier. Keys are
//! `user/key`. Values are atoms joined by `+` without spaces: `"text"` (escapes `\n \\ \" \xHH`),
//! `fill(BYTE,N)` (N copies of BYTE, decimal or 0x..). EXPECTED is `ok` (the default), `error
//! KIND` (a `faasm_state::ErrorKind` name), a value, a number, `true`/`false`, or
//! `sent N received M` for `stats`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faasm_state::{
    EmbeddedTier, ErrorKind, GlobalTier, InProcessTier, LocalTier, RedisTier, StateError, StateKey,
};

const SUITE: &str = include_str!("conformance.txt");

/// One line of the suite.
#[derive(Debug)]
struct Step {
    line: usize,
    host: String,
    op: String,
    args: Vec<String>,
    expect: Vec<String>,
}

#[derive(Debug)]
struct Case {
    name: String,
    steps: Vec<Step>,
}

/// Splits on whitespace outside double quotes.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if quoted {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
            cur.push(c);
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    assert!(!quoted, "unterminated string in {text:?}");
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == '#' {
            return &line[..i];
        }
    }
    line
}

fn parse_suite(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("case ") {
            cases.push(Case {
                name: name.trim().to_owned(),
                steps: Vec::new(),
            });
            continue;
        }
        let case = cases
            .last_mut()
            .unwrap_or_else(|| panic!("conformance.txt:{}: operation before any `case`", i + 1));
        let mut words = tokens(line);
        let (mut host, mut first) = ("h1".to_owned(), words.remove(0));
        if let Some(h) = first.strip_suffix(':') {
            host = h.to_owned();
            first = words.remove(0);
        }
        let (args, expect) = match words.iter().position(|w| w == "->") {
            Some(p) => (words[..p].to_vec(), words[p + 1..].to_vec()),
            None => (words, vec!["ok".to_owned()]),
        };
        case.steps.push(Step {
            line: i + 1,
            host,
            op: first,
            args,
            expect,
        });
    }
    cases
}

fn number(text: &str) -> usize {
    match text.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|e| panic!("not a number: {text:?}: {e}"))
}

/// Parses a value expression (see the module docs).
fn value(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            i += 1;
            while bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                    match bytes[i] {
                        b'n' => out.push(b'\n'),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        b'x' => {
                            let hex = &text[i + 1..i + 3];
                            out.push(u8::from_str_radix(hex, 16).expect("\\xHH"));
                            i += 2;
                        }
                        other => panic!("unknown escape \\{} in {text:?}", other as char),
                    }
                } else {
                    out.push(bytes[i]);
                }
                i += 1;
            }
            i += 1;
        } else if text[i..].starts_with("fill(") {
            let close = text[i..].find(')').expect("fill( without )") + i;
            let (byte, n) = text[i + 5..close].split_once(',').expect("fill(BYTE,N)");
            let byte = u8::try_from(number(byte)).expect("fill byte");
            out.extend(std::iter::repeat_n(byte, number(n)));
            i = close + 1;
        } else {
            panic!("bad value {text:?} at byte {i}");
        }
        if i < bytes.len() {
            assert_eq!(bytes[i], b'+', "values are joined with `+` in {text:?}");
            i += 1;
        }
    }
    out
}

/// What an operation returned.
#[derive(Debug, PartialEq, Clone)]
enum Outcome {
    Ok,
    Bytes(Vec<u8>),
    Number(usize),
    Bool(bool),
    Stats(u64, u64),
}

fn run_step(host: &LocalTier, step: &Step) -> Result<Outcome, StateError> {
    let a = &step.args;
    let key = || StateKey::parse(&a[0]);
    let n = |i: usize| number(&a[i]);
    Ok(match step.op.as_str() {
        "write" => host.write(&key()?, &value(&a[1])).map(|()| Outcome::Ok)?,
        "write_at" => host
            .write_at(&key()?, n(1), n(2), &value(&a[3]))
            .map(|()| Outcome::Ok)?,
        "read" => {
            let mut buf = vec![0; n(1)];
            let size = host.read(&key()?, &mut buf)?;
            if buf.is_empty() {
                Outcome::Number(size)
            } else {
                Outcome::Bytes(buf)
            }
        }
        "read_at" => {
            let mut buf = vec![0; n(3)];
            host.read_at(&key()?, n(1), n(2), &mut buf)?;
            Outcome::Bytes(buf)
        }
        "size" => Outcome::Number(host.size(&key()?)?),
        "flag_dirty" => host.flag_dirty(&key()?, n(1)).map(|()| Outcome::Ok)?,
        "flag_dirty_range" => host
            .flag_dirty_range(&key()?, n(1), n(2), n(3))
            .map(|()| Outcome::Ok)?,
        "push" => host.push(&key()?).map(|()| Outcome::Ok)?,
        "push_partial" => host.push_partial(&key()?).map(|()| Outcome::Ok)?,
        "push_partial_mask" => host
            .push_partial_mask(&key()?, &StateKey::parse(&a[1])?)
            .map(|()| Outcome::Ok)?,
        "pull" => host.pull(&key()?, n(1)).map(|()| Outcome::Ok)?,
        "map" => Outcome::Number(host.value_for_mapping(&key()?, n(1))?.mapped_len()),
        "map_range" => {
            let v = host.value_for_mapping_range(&key()?, n(1), n(2), n(3))?;
            Outcome::Number(v.mapped_len())
        }
        "delete" => host.delete(&key()?).map(|()| Outcome::Ok)?,
        "append" => host.append(&key()?, &value(&a[1])).map(|()| Outcome::Ok)?,
        "read_appended" => Outcome::Bytes(host.read_appended(&key()?, n(1))?),
        "clear_appended" => host.clear_appended(&key()?).map(|()| Outcome::Ok)?,
        "lock_read" => host.lock_read(&key()?).map(|()| Outcome::Ok)?,
        "unlock_read" => host.unlock_read(&key()?).map(|()| Outcome::Ok)?,
        "lock_write" => host.lock_write(&key()?).map(|()| Outcome::Ok)?,
        "try_lock_write" => Outcome::Bool(host.try_lock_write(&key()?)),
        "unlock_write" => host.unlock_write(&key()?).map(|()| Outcome::Ok)?,
        "lock_global_read" => host.lock_global_read(&key()?).map(|()| Outcome::Ok)?,
        "unlock_global_read" => host.unlock_global_read(&key()?).map(|()| Outcome::Ok)?,
        "lock_global_write" => host.lock_global_write(&key()?).map(|()| Outcome::Ok)?,
        "try_lock_global_write" => Outcome::Bool(host.try_lock_global_write(&key()?)?),
        "unlock_global_write" => host.unlock_global_write(&key()?).map(|()| Outcome::Ok)?,
        "global_size" => Outcome::Number(host.global().size(&key()?)?),
        "global_get" => match host.global().get(&key()?)? {
            Some(v) => Outcome::Bytes(v),
            None => return Err(StateError::NotFound { key: key()? }),
        },
        "stats" => {
            let s = host.stats();
            Outcome::Stats(s.sent, s.received)
        }
        "reset_stats" => {
            host.reset_stats();
            Outcome::Ok
        }
        other => panic!("conformance.txt:{}: unknown operation {other:?}", step.line),
    })
}

fn expected(step: &Step) -> Result<Outcome, ErrorKind> {
    let e = &step.expect;
    match e[0].as_str() {
        "ok" => Ok(Outcome::Ok),
        "error" => Err(ErrorKind::from_name(&e[1]).unwrap_or_else(|| {
            panic!("conformance.txt:{}: unknown error kind {}", step.line, e[1])
        })),
        "true" => Ok(Outcome::Bool(true)),
        "false" => Ok(Outcome::Bool(false)),
        "sent" => Ok(Outcome::Stats(number(&e[1]) as u64, number(&e[3]) as u64)),
        t if t.starts_with('"') || t.starts_with("fill(") => Ok(Outcome::Bytes(value(t))),
        t => Ok(Outcome::Number(number(t))),
    }
}

fn describe(o: &Result<Outcome, StateError>) -> String {
    match o {
        Ok(Outcome::Bytes(b)) if b.len() > 64 => {
            format!(
                "{} bytes, starting {:?}",
                b.len(),
                String::from_utf8_lossy(&b[..64])
            )
        }
        Ok(Outcome::Bytes(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error {} ({e})", e.kind().name()),
    }
}

/// Runs every case with fresh hosts over `new_tier()`; returns the failures.
fn run_suite(tier_name: &str, new_tier: &mut dyn FnMut() -> Arc<dyn GlobalTier>) -> Vec<String> {
    let cases = parse_suite(SUITE);
    assert!(
        cases.len() >= 10,
        "the suite has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let global = new_tier();
        let mut hosts: HashMap<String, LocalTier> = HashMap::new();
        for step in &case.steps {
            let host = hosts.entry(step.host.clone()).or_insert_with(|| {
                LocalTier::new(global.clone())
                    .with_lock_times(Duration::from_secs(30), Duration::from_millis(200))
            });
            let got = run_step(host, step);
            let want = expected(step);
            let good = match (&got, &want) {
                (Ok(g), Ok(w)) => g == w,
                (Err(g), Err(w)) => g.kind() == *w,
                _ => false,
            };
            if !good {
                let want = match &want {
                    Ok(w) => describe(&Ok(w.clone())),
                    Err(k) => format!("error {}", k.name()),
                };
                failures.push(format!(
                    "[{tier_name}] case `{}`, conformance.txt:{}: {} {} {:?}: expected {want}, got {}",
                    case.name,
                    step.line,
                    step.host,
                    step.op,
                    step.args,
                    describe(&got)
                ));
                break;
            }
        }
    }
    eprintln!("[{tier_name}] {} cases run", cases.len());
    failures
}

#[test]
fn conformance_in_process() {
    let failures = run_suite("in-process", &mut || Arc::new(InProcessTier::new()));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conformance_embedded() {
    let dir = common::temp_dir("conformance-embedded");
    let mut case = 0;
    let failures = run_suite("embedded", &mut || {
        case += 1;
        Arc::new(EmbeddedTier::open(dir.join(format!("case-{case}"))).expect("open the tier"))
    });
    std::fs::remove_dir_all(&dir).expect("remove the tier's directories");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The suite on a redis-server of this test (emptied before each case), reached at the URL
/// `url_of` gives for it.
fn conformance_on_redis(test: &str, name: &str, url_of: fn(&common::RedisServer) -> String) {
    let Some(server) = common::redis_or_skip(test) else {
        return;
    };
    let url = url_of(&server);
    let failures = run_suite(name, &mut || {
        assert_eq!(server.command("FLUSHALL"), "+OK");
        Arc::new(RedisTier::new(&url).expect("redis url"))
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conformance_redis() {
    conformance_on_redis("conformance_redis", "redis", common::RedisServer::url);
}

/// The suite over Redis's Unix socket: the value transfers then go through the `redis` crate's
/// connection (the tier's own RESP connection is TCP only), so this covers that fallback.
#[test]
fn conformance_redis_unix_socket() {
    conformance_on_redis(
        "conformance_redis_unix_socket",
        "redis over a Unix socket",
        common::RedisServer::unix_url,
    );
}

#[test]
fn value_syntax() {
    assert_eq!(value(r#""a\x00b"+fill(0x61,3)"#), b"a\0baaa");
    assert_eq!(tokens(r#"write alice/k "a b" -> ok"#).len(), 5);
}

/// Global locks are leases: a holder that never releases (a host that died) stops blocking
/// others after the lock's time to live, read and write locks alike. Not in the data file: it
/// waits for real time to pass.
fn leases_expire(global: Arc<dyn GlobalTier>) {
    let ttl = Duration::from_millis(100);
    let times = |t: LocalTier| t.with_lock_times(ttl, Duration::from_secs(5));
    let (h1, h2) = (
        times(LocalTier::new(global.clone())),
        times(LocalTier::new(global)),
    );
    let k = StateKey::parse("alice/lease").unwrap();
    h1.lock_global_read(&k).unwrap();
    assert!(
        !h2.try_lock_global_write(&k).unwrap(),
        "the reader holds it"
    );
    let start = Instant::now();
    h2.lock_global_write(&k).unwrap();
    assert!(
        start.elapsed() >= ttl / 2,
        "taken after {:?}",
        start.elapsed()
    );
    // h1's lease ended: its release is refused. h2's write lease ends the same way.
    assert_eq!(
        h1.unlock_global_read(&k).unwrap_err().kind(),
        ErrorKind::NotLocked
    );
    h1.lock_global_read(&k).unwrap();
    h1.unlock_global_read(&k).unwrap();
    assert_eq!(
        h2.unlock_global_write(&k).unwrap_err().kind(),
        ErrorKind::NotLocked
    );
}

#[test]
fn lock_leases_expire_in_process() {
    leases_expire(Arc::new(InProcessTier::new()));
}

#[test]
fn lock_leases_expire_embedded() {
    let dir = common::temp_dir("leases-embedded");
    leases_expire(Arc::new(EmbeddedTier::open(&dir).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lock_leases_expire_on_redis() {
    let Some(server) = common::redis_or_skip("lock_leases_expire_on_redis") else {
        return;
    };
    leases_expire(Arc::new(RedisTier::new(&server.url()).unwrap()));
}
