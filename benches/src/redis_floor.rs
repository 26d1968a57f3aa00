//! The floor under the `cluster` group's cross-host round trip: a bare round trip through
//! Redis streams between two connections, with none of our code in it. One thread appends an
//! entry to a stream and then blocks in `XREAD` on a second stream; another, blocked in
//! `XREADGROUP` on the first, answers each entry by appending to the second. That is the
//! least any design pays that carries a call to another process through a Redis stream and
//! its result back through a blocking read: two appends, two blocking reads woken, and the
//! wake-ups between the processes (on this machine, each system call and each switch between
//! threads is costly; see the report).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long each blocking read waits before it is sent again (only matters if a round trip
/// is lost, which would end the measurement with an error).
const BLOCK_MS: u64 = 2_000;

/// Round trips not measured, then measured.
const WARM_UP: usize = 200;

/// Times `count` round trips through the Redis server at `url`; µs, sorted.
pub fn round_trips(url: &str, count: usize) -> Result<Vec<f64>, String> {
    let client = redis::Client::open(url).map_err(|e| format!("redis {url}: {e}"))?;
    let connect = || {
        client
            .get_connection()
            .map_err(|e| format!("connecting to {url}: {e}"))
    };
    let (mut sender, mut waiter, mut answerer) = (connect()?, connect()?, connect()?);
    let mut answer_with = connect()?;
    let (calls, results) = ("faasm:bench:floor:calls", "faasm:bench:floor:results");
    query(&mut sender, redis::cmd("DEL").arg(calls).arg(results))?;
    query(
        &mut sender,
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(calls)
            .arg("run")
            .arg("$")
            .arg("MKSTREAM"),
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let answering = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || -> Result<(), String> {
            while !stop.load(Ordering::Acquire) {
                let taken = query(
                    &mut answerer,
                    redis::cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg("run")
                        .arg("answerer")
                        .arg("COUNT")
                        .arg(1)
                        .arg("BLOCK")
                        .arg(200)
                        .arg("STREAMS")
                        .arg(calls)
                        .arg(">"),
                )?;
                if taken != redis::Value::Nil {
                    query(
                        &mut answer_with,
                        redis::cmd("XADD")
                            .arg(results)
                            .arg("*")
                            .arg("output")
                            .arg("ping"),
                    )?;
                }
            }
            Ok(())
        }
    });
    // The stream was deleted above: its first entry is after `0`.
    let mut last = "0".to_owned();
    let mut times = Vec::with_capacity(count);
    let measured = (|| {
        for i in 0..WARM_UP + count {
            let started = Instant::now();
            query(
                &mut sender,
                redis::cmd("XADD")
                    .arg(calls)
                    .arg("*")
                    .arg("input")
                    .arg("ping"),
            )?;
            let reply = query(
                &mut waiter,
                redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(results)
                    .arg(&last),
            )?;
            last = last_entry_id(&reply)
                .ok_or_else(|| format!("no answer within {:?}", Duration::from_millis(BLOCK_MS)))?;
            if i >= WARM_UP {
                times.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        Ok::<(), String>(())
    })();
    stop.store(true, Ordering::Release);
    let answered = answering
        .join()
        .unwrap_or_else(|_| Err("the answering thread panicked".into()));
    measured?;
    answered?;
    query(&mut sender, redis::cmd("DEL").arg(calls).arg(results))?;
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn query(con: &mut redis::Connection, cmd: &redis::Cmd) -> Result<redis::Value, String> {
    cmd.query(con).map_err(|e| format!("redis: {e}"))
}

/// The id of the last entry of an `XREAD` reply of one stream (`None` for nil: no entry).
fn last_entry_id(reply: &redis::Value) -> Option<String> {
    let redis::Value::Array(streams) = reply else {
        return None;
    };
    let redis::Value::Array(stream) = streams.first()? else {
        return None;
    };
    let redis::Value::Array(entries) = stream.get(1)? else {
        return None;
    };
    let redis::Value::Array(entry) = entries.last()? else {
        return None;
    };
    match entry.first()? {
        redis::Value::BulkString(id) => Some(String::from_utf8_lossy(id).into_owned()),
        _ => None,
    }
}
