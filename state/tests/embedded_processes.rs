//! The embedded global tier shared by several processes: values and append lists written by one
//! are read by another, a global lock held by one process blocks the others (until their call's
//! deadline at the latest) until it is released or its lease expires (also when its holder was
//! killed), and a process killed with SIGKILL in the middle of pushes leaves each value whole,
//! the old one or the new one.
//!
//! The other processes are this test binary run again with its ignored test `child_process`
//! and a role in `FAASM_EMBEDDED_CHILD_ROLE` (see [`Child::start`]); they report on stdout, in
//! lines with `child: `.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use faasm_state::{
    EmbeddedTier, ErrorKind, GlobalLockMode, GlobalTier, InProcessTier, LocalTier, LockToken,
    StateKey, within_deadline,
};

const ROLE: &str = "FAASM_EMBEDDED_CHILD_ROLE";
const DIR: &str = "FAASM_EMBEDDED_CHILD_DIR";

/// The size of the values the crash test pushes: many pages, so that a write torn by the kill
/// would show.
const BIG: usize = 4 << 20;

/// Chunks of a partial push in the crash test (each a separate range of one `set_ranges`).
const RANGES: usize = 64;

fn key(text: &str) -> StateKey {
    StateKey::parse(text).unwrap()
}

/// A tier directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        Dir(common::temp_dir(tag))
    }

    fn tier(&self) -> EmbeddedTier {
        EmbeddedTier::open(&self.0).expect("open the embedded tier")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Another process on the same tier directory, with its report lines.
struct Child {
    process: std::process::Child,
    lines: Receiver<String>,
}

impl Child {
    /// Runs this test binary's `child_process` in `role` on `dir`.
    fn start(role: &str, dir: &Path) -> Child {
        let mut process = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE, role)
            .env(DIR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child process");
        let stdout = process.stdout.take().expect("piped stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness may print `test child_process ... ` on the same line.
                if let Some((_, report)) = line.split_once("child: ")
                    && send.send(report.to_owned()).is_err()
                {
                    break;
                }
            }
        });
        Child { process, lines }
    }

    /// The next report, waiting up to 30 s.
    fn next(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a report from the child process within 30 s")
    }

    /// Waits for the child to end; panics unless it succeeded. Returns its remaining reports.
    fn finish(mut self) -> Vec<String> {
        let status = self.process.wait().expect("wait for the child");
        assert!(status.success(), "the child process failed: {status}");
        self.lines.try_iter().collect()
    }

    /// Kills the child with SIGKILL and reaps it; returns the reports it made before.
    fn kill(mut self) -> Vec<String> {
        self.process.kill().expect("SIGKILL the child");
        self.process.wait().expect("reap the child");
        let mut reports = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(5)) {
                Ok(line) => reports.push(line),
                Err(RecvTimeoutError::Disconnected) => return reports,
                Err(RecvTimeoutError::Timeout) => panic!("the child's stdout stays open"),
            }
        }
    }
}

/// What the child processes do, by role.
#[test]
#[ignore = "the child process of the cross-process tests, which run it with FAASM_EMBEDDED_CHILD_ROLE set"]
fn child_process() {
    let role = std::env::var(ROLE).expect("run by the cross-process tests, with a role");
    let dir = PathBuf::from(std::env::var(DIR).expect("and a directory"));
    let tier = Arc::new(EmbeddedTier::open(&dir).expect("open the embedded tier"));
    let host = |lock_timeout: Duration| {
        LocalTier::new(tier.clone()).with_lock_times(Duration::from_secs(1), lock_timeout)
    };
    let report = |line: &str| println!("child: {line}");
    match role.as_str() {
        "read-then-write" => {
            let seen = tier.get(&key("alice/from-parent")).unwrap().unwrap();
            report(&String::from_utf8_lossy(&seen));
            let h = host(Duration::from_secs(1));
            h.write(&key("alice/from-child"), b"written by the child")
                .unwrap();
            h.push(&key("alice/from-child")).unwrap();
        }
        "append" => {
            for i in 0..100 {
                tier.append(
                    &key("alice/list"),
                    format!("{}:{i}", std::process::id()).as_bytes(),
                )
                .unwrap();
            }
        }
        "try-write-lock" => {
            let h = host(Duration::from_millis(300));
            match h.lock_global_write(&key("alice/locked")) {
                Ok(()) => {
                    report("locked");
                    h.unlock_global_write(&key("alice/locked")).unwrap();
                }
                Err(e) if e.kind() == ErrorKind::LockTimeout => report("timeout"),
                Err(e) => panic!("{e}"),
            }
        }
        "wait-for-write-lock-until-deadline" => {
            // A lock timeout of 30 s, but the call's deadline in 300 ms ends the wait.
            let h = host(Duration::from_secs(30));
            let start = Instant::now();
            let deadline = Some(start + Duration::from_millis(300));
            let got = within_deadline(deadline, || {
                h.lock_global_by(&key("alice/locked"), GlobalLockMode::Write, deadline)
            });
            match got {
                Err(e) if e.kind() == ErrorKind::LockTimeout => {
                    report(&format!("timeout after {} ms", start.elapsed().as_millis()));
                }
                other => panic!("{other:?}"),
            }
        }
        "try-read-lock" => {
            let h = host(Duration::from_millis(300));
            match h.lock_global_read(&key("alice/locked")) {
                Ok(()) => report("locked"),
                Err(e) if e.kind() == ErrorKind::LockTimeout => report("timeout"),
                Err(e) => panic!("{e}"),
            }
        }
        "hold-write-lock" => {
            let token = LockToken::unique();
            let taken = tier
                .try_lock(
                    &key("alice/locked"),
                    GlobalLockMode::Write,
                    &token,
                    Duration::from_millis(1500),
                )
                .unwrap();
            report(if taken { "locked" } else { "busy" });
            std::thread::sleep(Duration::from_secs(60));
        }
        "push-generations" => push_generations(&tier),
        other => panic!("unknown child role {other:?}"),
    }
}

/// Pushes generation after generation of `alice/big` (every byte the generation's number, mod
/// 256), alternately whole (from a host mapping, as the local tier's push does) and as
/// [`RANGES`] ranges in one `set_ranges` (a partial push), reporting each once it returned.
fn push_generations(tier: &Arc<EmbeddedTier>) {
    let h = LocalTier::new(tier.clone());
    let big = key("alice/big");
    for generation in 1u64.. {
        let byte = generation as u8;
        if generation % 2 == 1 {
            h.write(&big, &vec![byte; BIG]).unwrap();
            h.push(&big).unwrap();
        } else {
            let chunk = BIG / RANGES;
            let ranges: Vec<(usize, Vec<u8>)> = (0..RANGES)
                .map(|i| (i * chunk, vec![byte; chunk]))
                .collect();
            tier.set_ranges(&big, &ranges).unwrap();
        }
        println!("child: pushed {generation}");
    }
}

#[test]
fn two_processes_write_and_read_one_value() {
    let dir = Dir::new("two-processes");
    let tier = dir.tier();
    tier.set(&key("alice/from-parent"), b"written by the parent")
        .unwrap();
    let child = Child::start("read-then-write", &dir.0);
    assert_eq!(child.next(), "written by the parent");
    child.finish();
    assert_eq!(
        tier.get(&key("alice/from-child")).unwrap().unwrap(),
        b"written by the child"
    );
    // And through a host of this process, as a function would read it.
    let h = LocalTier::new(Arc::new(tier));
    let mut buf = [0; 20];
    h.read(&key("alice/from-child"), &mut buf).unwrap();
    assert_eq!(&buf, b"written by the child");
}

#[test]
fn concurrent_appends_of_several_processes_are_all_kept_in_order() {
    let dir = Dir::new("appends");
    let tier = dir.tier();
    let children: Vec<Child> = (0..3).map(|_| Child::start("append", &dir.0)).collect();
    let pids: Vec<u32> = children.iter().map(|c| c.process.id()).collect();
    for child in children {
        child.finish();
    }
    let list = tier.list_range(&key("alice/list"), 1000).unwrap();
    assert_eq!(list.len(), 300);
    for pid in pids {
        let mine: Vec<String> = list
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .filter(|e| e.starts_with(&format!("{pid}:")))
            .collect();
        let want: Vec<String> = (0..100).map(|i| format!("{pid}:{i}")).collect();
        assert_eq!(mine, want);
    }
}

#[test]
fn a_global_lock_held_by_one_process_blocks_the_others() {
    let dir = Dir::new("locks");
    let h = LocalTier::new(Arc::new(dir.tier()))
        .with_lock_times(Duration::from_secs(30), Duration::from_secs(1));
    let k = key("alice/locked");
    h.lock_global_write(&k).unwrap();
    let child = Child::start("try-write-lock", &dir.0);
    assert_eq!(child.next(), "timeout", "the write lock of this process");
    child.finish();
    let child = Child::start("try-read-lock", &dir.0);
    assert_eq!(child.next(), "timeout", "the write lock excludes readers");
    child.finish();
    // A waiter in another process gives up at its call's deadline.
    let child = Child::start("wait-for-write-lock-until-deadline", &dir.0);
    let waited: u64 = child
        .next()
        .strip_prefix("timeout after ")
        .and_then(|r| r.strip_suffix(" ms"))
        .expect("a lock timeout")
        .parse()
        .unwrap();
    assert!((250..10_000).contains(&waited), "{waited} ms");
    child.finish();
    h.unlock_global_write(&k).unwrap();
    let child = Child::start("try-write-lock", &dir.0);
    assert_eq!(child.next(), "locked", "released");
    child.finish();
    // Read locks are shared across processes, and exclude writers.
    h.lock_global_read(&k).unwrap();
    let child = Child::start("try-read-lock", &dir.0);
    assert_eq!(child.next(), "locked");
    child.finish();
    let child = Child::start("try-write-lock", &dir.0);
    assert_eq!(child.next(), "timeout");
    child.finish();
}

#[test]
fn the_lease_of_a_killed_process_expires() {
    let dir = Dir::new("lease");
    let tier = Arc::new(dir.tier());
    let child = Child::start("hold-write-lock", &dir.0);
    assert_eq!(child.next(), "locked");
    child.kill();
    let k = key("alice/locked");
    // The dead holder's lock still holds...
    assert!(
        !tier
            .try_lock(
                &k,
                GlobalLockMode::Write,
                &LockToken::unique(),
                Duration::from_secs(1)
            )
            .unwrap()
    );
    // ... until its 1.5 s lease ends.
    let h = LocalTier::new(tier).with_lock_times(Duration::from_secs(30), Duration::from_secs(20));
    let start = Instant::now();
    h.lock_global_write(&k).unwrap();
    assert!(start.elapsed() < Duration::from_secs(20));
    h.unlock_global_write(&k).unwrap();
}

/// The generation every byte of `value` holds; panics with the first differing byte if they
/// are not all equal (a torn value).
fn generation_of(value: &[u8]) -> u8 {
    let first = value[0];
    if let Some(at) = value.iter().position(|b| *b != first) {
        panic!(
            "torn value: byte 0 is {first}, byte {at} is {} ({} bytes)",
            value[at],
            value.len()
        );
    }
    first
}

#[test]
fn a_process_killed_mid_push_leaves_the_old_or_the_new_value() {
    let dir = Dir::new("crash");
    let big = key("alice/big");
    let mut kills_mid_push = 0;
    for round in 0..6u64 {
        let child = Child::start("push-generations", &dir.0);
        // Let it push a few generations, then kill it at a moment that varies by round.
        for _ in 0..3 {
            assert!(child.next().starts_with("pushed "));
        }
        std::thread::sleep(Duration::from_millis(round * 7 % 23));
        let reports = child.kill();
        let last: u64 = reports
            .last()
            .and_then(|r| r.strip_prefix("pushed "))
            .map_or(3, |n| n.parse().unwrap());
        // The value on disk is whole, and is the last generation reported or the one after it
        // (committed, but killed before it said so).
        let tier = dir.tier();
        let value = tier.get(&big).unwrap().expect("a value");
        assert_eq!(value.len(), BIG);
        let found = generation_of(&value);
        assert!(
            found == last as u8 || found == (last + 1) as u8,
            "round {round}: generation {found} after the child reported {last}"
        );
        if found == (last + 1) as u8 {
            kills_mid_push += 1;
        }
        // The next round's child starts again from generation 1 over this value.
        drop(tier);
    }
    eprintln!("{kills_mid_push} of 6 kills came after a commit the child had not reported");
}

/// Timing of the embedded tier next to the in-process one (no assertions: figures for the
/// report). Run with `cargo test --release -p faasm-state --test embedded_processes --
/// --ignored --nocapture throughput`. Every write changes the bytes it writes (two contents in
/// turn): SQLite skips pages whose content a write leaves as it was.
#[test]
#[ignore = "a measurement, not a check: run it by name with --ignored --nocapture"]
fn throughput() {
    let dir = Dir::new("throughput");
    let tiers: [(&str, Arc<dyn GlobalTier>); 2] = [
        ("in-process", Arc::new(InProcessTier::new())),
        ("embedded", Arc::new(dir.tier())),
    ];
    let page = 4096;
    for (size, rounds) in [(4 << 10, 5000), (1 << 20, 200)] {
        let values = [vec![7u8; size], vec![8u8; size]];
        // The local tier's whole pushes and pulls go from and into a value's memfd mapping.
        let mappings = values.clone().map(|value| {
            let memfd = faasm_state::sys::memfd("bench", size).unwrap();
            let mapping = faasm_state::sys::SharedMapping::new(&memfd, 0, size).unwrap();
            mapping.write(0, &value);
            mapping
        });
        let ranges = values.clone().map(|value| {
            (0..size / page)
                .step_by(4)
                .map(|i| (i * page, value[..page].to_vec()))
                .collect::<Vec<_>>()
        });
        let k = key("alice/bench");
        for (name, tier) in &tiers {
            tier.set(&k, &values[0]).unwrap();
            // `moved`: the bytes one operation reads or writes; `f` gets the round's number.
            let time = |op: &str, moved: usize, f: &mut dyn FnMut(usize)| {
                let start = Instant::now();
                for round in 0..rounds {
                    f(round);
                }
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "{name:>10} {:>5} KiB value {op:<26}: {:>9.0} ops/s {:>7.1} us/op {:>8.1} MB/s",
                    size >> 10,
                    rounds as f64 / secs,
                    secs * 1e6 / rounds as f64,
                    (rounds * moved) as f64 / secs / 1e6
                );
            };
            time("get", size, &mut |_| {
                tier.get(&k).unwrap();
            });
            time("set", size, &mut |r| tier.set(&k, &values[r % 2]).unwrap());
            time("set_from_mapping", size, &mut |r| {
                tier.set_from_mapping(&k, &mappings[r % 2], size).unwrap()
            });
            time("get_into_mapping", size, &mut |r| {
                tier.get_into_mapping(&k, &mappings[r % 2], size).unwrap();
            });
            time("set_range (1 page)", page, &mut |r| {
                tier.set_range(&k, size - page, &values[r % 2][..page])
                    .unwrap()
            });
            time(
                &format!("set_ranges ({} pages)", ranges[0].len()),
                ranges[0].len() * page,
                &mut |r| tier.set_ranges(&k, &ranges[r % 2]).unwrap(),
            );
            let mut buf = vec![0; page];
            time("get_range_into (1 page)", page, &mut |_| {
                tier.get_range_into(&k, size - page, &mut buf).unwrap();
            });
        }
    }
}
