//! Calls placed on another host: each host reads a Redis stream of its own through a consumer
//! group, and results come back through keys that callers block on.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `faasm:cluster:calls:{host}` | stream, group `run` | one entry per call sent to the host: `id`, `user`, `function`, `input`, `func_ptr` (the table index a chained call enters at, 0 for none), `origin`, `retry` (`0`: not to be run twice) |
//! | `faasm:cluster:results:{host}` | stream, capped near 100,000 entries | the ids of the calls host `host` sent whose results are stored, with the result itself when its output is at most 64 KiB: what its result watcher reads |
//! | `faasm:cluster:call-id` | integer | the last cluster call id given out |
//! | `faasm:cluster:call-streams` | set | the ids of the hosts that made a stream (to find those of hosts gone) |
//! | `faasm:cluster:result:{id}` | hash, `PX` expiry | `rv`, `output`, `failure` (empty if none), `timeout` (`1` if it timed out), `host` |
//! | `faasm:cluster:done:{id}` | list, `PX` expiry | one element once the result is stored: what waiters block on |
//!
//! A call is sent with one script ([`Cluster::forward`]): it takes an id and appends the entry,
//! unless the host's stream already holds [`MAX_QUEUED_CALLS`] calls. The host takes entries
//! with `XREADGROUP` (they stay pending, owned by it, until acknowledged) and ends each with
//! [`Cluster::complete`]: one script that stores the result, pushes the `done` element, and
//! acknowledges and deletes the entry, and does none of it if the host's lease has lapsed
//! or been given a new epoch since the host took the call (**fencing**: a host cut off from
//! Redis for longer than its lease never overwrites what another host answered meanwhile),
//! or if the call has an answer already. Waiters block on `done` with `BLMOVE` from the list
//! to itself, which leaves the element for every other waiter, then read the result: no
//! polling.
//!
//! **Calls of hosts that died** ([`Cluster::claim_orphans`]): live hosts look, every so often,
//! at every stream for calls pending under a consumer (a host) whose lease has lapsed, and
//! take them over with `XCLAIM` (only those idle for [`CLAIM_MIN_IDLE`], so two hosts
//! claiming at once do not both get a call); from the stream of a host that is gone they
//! also read the calls it never took. Such calls run again where they are claimed; the
//! first result stored is the call's answer. A stream of a host that is gone is deleted
//! once empty, and no call is sent to a host without a lease.
use crate::membership::{HostId, host_key};
use crate::{Cluster, ClusterError, Result};
use redis::Value;
use std::time::Duration;

/// The most calls a host's stream may hold (sent and not yet answered): a send past it fails
/// with [`ClusterError::Full`], so a host that stopped reading is not buried.
pub const MAX_QUEUED_CALLS: u64 = 10_000;

/// The most input bytes a call sent to another host may carry.
pub const MAX_FORWARDED_INPUT_BYTES: usize = 64 << 20;

/// How long results are kept by default (for status polls and late awaits).
pub const DEFAULT_RESULT_KEEP: Duration = Duration::from_secs(600);

/// The consumer group every host reads its own stream through.
const GROUP: &str = "run";

/// How long a call must have waited, pending under a host that is gone, before another host
/// claims it: each claim makes it new again, so hosts claiming at once do not both get it.
pub const CLAIM_MIN_IDLE: Duration = Duration::from_millis(250);

/// KEYS: the id counter, the stream, the host's lease hash. ARGV: the bound, then the entry's
/// fields after `id`. Returns the id, -1 if the stream is full, -2 if the host has no lease.
const FORWARD_SCRIPT: &str = "if redis.call('exists', KEYS[3]) == 0 then \
       return -2 \
     end \
     if redis.call('xlen', KEYS[2]) >= tonumber(ARGV[1]) then \
       return -1 \
     end \
     local id = redis.call('incr', KEYS[1]) \
     redis.call('xadd', KEYS[2], '*', 'id', id, 'user', ARGV[2], 'function', ARGV[3], \
       'input', ARGV[4], 'origin', ARGV[5], 'func_ptr', ARGV[6], 'retry', ARGV[7]) \
     return id";

/// KEYS: the host's lease hash, the result, `done`, the stream, the origin's results stream.
/// ARGV: the epoch the host holds, the entry id, `rv`, `output`, `failure`, `host`, the
/// expiry (ms), `timeout`, the call id. Returns 1 if the
/// result was stored, 0 if the host's lease is not that epoch's (nothing done), 2 if the call
/// had an answer already (the entry is acknowledged, the answer kept).
const COMPLETE_SCRIPT: &str = "if redis.call('hget', KEYS[1], 'epoch') ~= ARGV[1] then \
       return 0 \
     end \
     local answered = redis.call('exists', KEYS[2]) \
     if answered == 0 then \
       redis.call('hset', KEYS[2], 'rv', ARGV[3], 'output', ARGV[4], 'failure', ARGV[5], \
         'host', ARGV[6], 'timeout', ARGV[8]) \
       redis.call('pexpire', KEYS[2], ARGV[7]) \
       redis.call('del', KEYS[3]) \
       redis.call('rpush', KEYS[3], '1') \
       redis.call('pexpire', KEYS[3], ARGV[7]) \
       if string.len(ARGV[4]) <= 65536 then \
         redis.call('xadd', KEYS[5], 'MAXLEN', '~', '100000', '*', 'id', ARGV[9], \
           'rv', ARGV[3], 'output', ARGV[4], 'failure', ARGV[5], 'host', ARGV[6], \
           'timeout', ARGV[8]) \
       else \
         redis.call('xadd', KEYS[5], 'MAXLEN', '~', '100000', '*', 'id', ARGV[9]) \
       end \
       redis.call('pexpire', KEYS[5], ARGV[7]) \
     end \
     redis.call('xack', KEYS[4], 'run', ARGV[2]) \
     redis.call('xdel', KEYS[4], ARGV[2]) \
     if answered == 0 then return 1 end \
     return 2";

/// KEYS: a stream, the set of streams. ARGV: its host. Deletes an empty stream.
const DROP_EMPTY_SCRIPT: &str = "if redis.call('xlen', KEYS[1]) == 0 then \
       redis.call('del', KEYS[1]) \
       redis.call('srem', KEYS[2], ARGV[1]) \
     end \
     return 0";

/// A call to send to another host.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The function's user.
    pub user: &'a str,
    /// The function's name.
    pub function: &'a str,
    /// The call's input.
    pub input: &'a [u8],
    /// The function-table index it enters at (a call chained by index), 0 for its entry.
    pub func_ptr: i32,
    /// Whether, if the host running it is lost, another host may run it again; if not, its
    /// answer is a failure naming the lost host.
    pub retryable: bool,
}

/// A call another host sent to this one, as taken from this host's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedCall {
    /// The cluster-wide call id.
    pub id: u64,
    /// The stream entry's id (what acknowledges it).
    pub entry: String,
    /// The host whose stream holds it (the host it was sent to; another if it was claimed).
    pub queue: String,
    /// The function's user.
    pub user: String,
    /// The function's name.
    pub function: String,
    /// The call's input.
    pub input: Vec<u8>,
    /// The function-table index it enters at (a chained call by index), 0 for its entry.
    pub func_ptr: i32,
    /// The host that sent it.
    pub origin: String,
    /// Whether it may run again if the host that took it is lost (see [`Outgoing`]).
    pub retryable: bool,
    /// The host (gone) it was claimed from, if it was taken before (see
    /// [`Cluster::claim_orphans`]): it may have run there, in part.
    pub claimed_from: Option<String>,
}

/// The answer to a call that ran on some host of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteResult {
    /// The guest's return value (or exit code; 1 for a call that failed before it ran).
    pub return_value: i32,
    /// What the call wrote as its output.
    pub output: Vec<u8>,
    /// Why the call failed, if it did not answer (a trap, a timeout, a call that could not
    /// start; a non-zero return value is an answer).
    pub failure: Option<String>,
    /// Whether that failure is a timeout.
    pub timed_out: bool,
    /// The id of the host that ran it.
    pub host: String,
}

/// A call whose result was stored, as its sender's results stream announces it: its id, and
/// its result if it came along.
pub type Announced = (u64, Option<RemoteResult>);

/// What [`Cluster::complete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The result is stored; waiters are woken.
    Stored,
    /// The host's lease lapsed or has another epoch: nothing was written, and the call is
    /// left to whichever host claims it.
    Fenced,
    /// The call had an answer already (it ran elsewhere too); that answer is kept.
    AlreadyAnswered,
}

const STREAM_PREFIX: &str = "faasm:cluster:calls:";

fn stream_key(host: &HostId) -> String {
    format!("{STREAM_PREFIX}{host}")
}

fn results_key(origin: &str) -> String {
    format!("faasm:cluster:results:{origin}")
}

fn result_key(id: u64) -> String {
    format!("faasm:cluster:result:{id}")
}

fn done_key(id: u64) -> String {
    format!("faasm:cluster:done:{id}")
}

const CALL_ID_KEY: &str = "faasm:cluster:call-id";
const STREAMS_KEY: &str = "faasm:cluster:call-streams";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Cluster {
    /// Makes host `host`'s stream and its consumer group, if missing (every join does).
    pub fn create_call_stream(&self, host: &HostId) -> Result<()> {
        let stream = stream_key(host);
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(&stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.run::<()>("create call stream", &stream, &cmd) {
            Err(ClusterError::Redis { message, .. }) if message.contains("BUSYGROUP") => {}
            other => other?,
        }
        let mut add = redis::cmd("SADD");
        add.arg(STREAMS_KEY).arg(host.as_str());
        self.run::<i64>("create call stream", STREAMS_KEY, &add)?;
        Ok(())
    }

    /// Sends a call of `user/function` with `input` to host `to`; returns its cluster-wide id.
    /// Fails with [`ClusterError::Full`] if `to` holds [`MAX_QUEUED_CALLS`] calls already.
    pub fn forward(
        &self,
        to: &HostId,
        origin: &HostId,
        user: &str,
        function: &str,
        input: &[u8],
    ) -> Result<u64> {
        let call = Outgoing {
            user,
            function,
            input,
            func_ptr: 0,
            retryable: true,
        };
        self.forward_call(to, origin, &call)
    }

    /// [`Cluster::forward`] of any call (entering at a function-table index, not to be run
    /// twice).
    pub fn forward_call(&self, to: &HostId, origin: &HostId, call: &Outgoing<'_>) -> Result<u64> {
        let Outgoing {
            user,
            function,
            input,
            func_ptr,
            retryable,
        } = *call;
        if input.len() > MAX_FORWARDED_INPUT_BYTES {
            return Err(ClusterError::Invalid(format!(
                "a call's input of {} bytes is over the {MAX_FORWARDED_INPUT_BYTES} bytes a \
                 call sent to another host may carry",
                input.len()
            )));
        }
        let stream = stream_key(to);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(FORWARD_SCRIPT)
            .arg(3)
            .arg(CALL_ID_KEY)
            .arg(&stream)
            .arg(host_key(to))
            .arg(MAX_QUEUED_CALLS)
            .arg(user)
            .arg(function)
            .arg(input)
            .arg(origin.as_str())
            .arg(func_ptr)
            .arg(u8::from(retryable));
        match self.run_once::<i64>("send call", &stream, &cmd)? {
            -1 => Err(ClusterError::Full {
                host: to.to_string(),
                queued: MAX_QUEUED_CALLS,
            }),
            -2 => Err(ClusterError::Invalid(format!(
                "host {to} has left the cluster: no call is sent to it"
            ))),
            id => u64::try_from(id).map_err(|_| ClusterError::Reply {
                operation: "send call",
                key: stream.clone(),
                message: format!("script answered {id}"),
            }),
        }
    }

    /// Ends a call this host (`host`, holding lease `epoch`) took: stores `result`, kept for
    /// `keep`, wakes its waiters and acknowledges the entry, fenced by the lease (see the
    /// module's documentation).
    pub fn complete(
        &self,
        host: &HostId,
        epoch: u64,
        call: &ForwardedCall,
        result: &RemoteResult,
        keep: Duration,
    ) -> Result<Completion> {
        let stream = format!("{STREAM_PREFIX}{}", call.queue);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COMPLETE_SCRIPT)
            .arg(5)
            .arg(host_key(host))
            .arg(result_key(call.id))
            .arg(done_key(call.id))
            .arg(&stream)
            .arg(results_key(&call.origin))
            .arg(epoch)
            .arg(&call.entry)
            .arg(result.return_value)
            .arg(&result.output[..])
            .arg(result.failure.as_deref().unwrap_or(""))
            .arg(&result.host)
            .arg(millis(keep))
            .arg(u8::from(result.timed_out))
            .arg(call.id);
        // Sent again after a lost reply, it finds the answer stored and changes nothing.
        let reply: i64 = self.run("store call result", &result_key(call.id), &cmd)?;
        match reply {
            1 => Ok(Completion::Stored),
            2 => Ok(Completion::AlreadyAnswered),
            0 => Ok(Completion::Fenced),
            other => Err(ClusterError::Reply {
                operation: "store call result",
                key: result_key(call.id),
                message: format!("script answered {other}"),
            }),
        }
    }

    /// The result of call `id`, if it has one (and it has not expired).
    pub fn call_result(&self, id: u64) -> Result<Option<RemoteResult>> {
        let key = result_key(id);
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&key);
        let fields: Vec<(String, Vec<u8>)> = self.run("read call result", &key, &cmd)?;
        parse_result(&key, fields)
    }

    /// The last call id given out (0 before any): an id above it names no call.
    pub fn last_call_id(&self) -> Result<u64> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(CALL_ID_KEY);
        let last: Option<u64> = self.run("read the last call id", CALL_ID_KEY, &cmd)?;
        Ok(last.unwrap_or(0))
    }

    /// Waits at most `timeout` for call `id` to have a result, on a connection of its own
    /// (blocked in `BLMOVE`, no polling); `None` if it has none by then.
    pub fn await_call(&self, id: u64, timeout: Duration) -> Result<Option<RemoteResult>> {
        let done = done_key(id);
        let mut con = self.blocking_connection("await call", &done, timeout)?;
        let mut cmd = redis::cmd("BLMOVE");
        cmd.arg(&done)
            .arg(&done)
            .arg("RIGHT")
            .arg("LEFT")
            .arg(timeout.as_secs_f64().max(0.001));
        let moved: Option<Vec<u8>> = cmd
            .query(&mut con)
            .map_err(|e| self.failure("await call", &done, e))?;
        if moved.is_none() {
            return Ok(None);
        }
        self.call_result(id)
    }

    /// Takes at most `count` calls sent to `host`, waiting at most `wait` for the first; the
    /// calls stay pending (owned by `host`) until [`Cluster::complete`]. `con` is a connection
    /// of the reader's own ([`Cluster::call_reader`]).
    pub fn take_calls(
        &self,
        con: &mut redis::Connection,
        host: &HostId,
        count: usize,
        wait: Duration,
    ) -> Result<Vec<ForwardedCall>> {
        let stream = stream_key(host);
        let reply: Value = read_group(host, &stream, count, Some(wait))
            .query(con)
            .map_err(|e| self.failure("take calls", &stream, e))?;
        parse_entries(&stream, host.as_str(), reply)
    }

    /// Takes over for `me`, at most `count` of them, the calls of hosts that are not in
    /// `live`: those they took and did not answer, and those sent to them that they never
    /// took (see the module's documentation). Each is answered with [`Cluster::complete`].
    pub fn claim_orphans(
        &self,
        me: &HostId,
        live: &[HostId],
        count: usize,
    ) -> Result<Vec<ForwardedCall>> {
        let is_live = |id: &str| id == me.as_str() || live.iter().any(|h| h.as_str() == id);
        let mut members = redis::cmd("SMEMBERS");
        members.arg(STREAMS_KEY);
        let queues: Vec<String> = self.run("find call streams", STREAMS_KEY, &members)?;
        let mut claimed = Vec::new();
        for queue in queues {
            if claimed.len() >= count {
                break;
            }
            let pending = self.claim_pending(me, &queue, &is_live, count - claimed.len())?;
            let found_pending = !pending.is_empty();
            claimed.extend(pending);
            if !is_live(&queue) && claimed.len() < count {
                let unread = self.read_unread(me, &queue, count - claimed.len())?;
                if unread.is_empty() && !found_pending {
                    self.drop_if_empty(&queue)?;
                }
                claimed.extend(unread);
            }
        }
        Ok(claimed)
    }

    /// The calls of `queue`'s stream pending under consumers that are not live, claimed.
    fn claim_pending(
        &self,
        me: &HostId,
        queue: &str,
        is_live: &dyn Fn(&str) -> bool,
        count: usize,
    ) -> Result<Vec<ForwardedCall>> {
        let stream = format!("{STREAM_PREFIX}{queue}");
        let mut summary = redis::cmd("XPENDING");
        summary.arg(&stream).arg(GROUP);
        let reply: Value = self.run("list pending calls", &stream, &summary)?;
        let mut claimed = Vec::new();
        for consumer in pending_consumers(reply) {
            if is_live(&consumer) || claimed.len() >= count {
                continue;
            }
            let mut pending = redis::cmd("XPENDING");
            pending
                .arg(&stream)
                .arg(GROUP)
                .arg("IDLE")
                .arg(millis(CLAIM_MIN_IDLE))
                .arg("-")
                .arg("+")
                .arg(count - claimed.len())
                .arg(&consumer);
            let reply: Value = self.run("list pending calls", &stream, &pending)?;
            let entries = pending_entry_ids(reply);
            if entries.is_empty() {
                continue;
            }
            let mut claim = redis::cmd("XCLAIM");
            claim
                .arg(&stream)
                .arg(GROUP)
                .arg(me.as_str())
                .arg(millis(CLAIM_MIN_IDLE))
                .arg(&entries);
            let reply: Value = self.run_once("claim calls", &stream, &claim)?;
            // Entries deleted meanwhile come back as nil: skipped.
            let Value::Array(entries) = reply else {
                continue;
            };
            let entries = entries
                .into_iter()
                .filter(|e| matches!(e, Value::Array(_)))
                .collect();
            let as_read = Value::Array(vec![Value::Array(vec![
                Value::BulkString(stream.clone().into_bytes()),
                Value::Array(entries),
            ])]);
            let mut calls = parse_entries(&stream, queue, as_read)?;
            for call in &mut calls {
                call.claimed_from = Some(consumer.clone());
            }
            claimed.extend(calls);
        }
        Ok(claimed)
    }

    /// Calls sent to `queue` (a host that is gone) that it never took, taken by `me`.
    fn read_unread(&self, me: &HostId, queue: &str, count: usize) -> Result<Vec<ForwardedCall>> {
        let stream = format!("{STREAM_PREFIX}{queue}");
        let cmd = read_group(me, &stream, count, None);
        let reply: Value = self.run_once("claim calls", &stream, &cmd)?;
        parse_entries(&stream, queue, reply)
    }

    /// Deletes the stream of `queue` (a host that is gone) if it holds no call.
    fn drop_if_empty(&self, queue: &str) -> Result<()> {
        let stream = format!("{STREAM_PREFIX}{queue}");
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DROP_EMPTY_SCRIPT)
            .arg(2)
            .arg(&stream)
            .arg(STREAMS_KEY)
            .arg(queue);
        self.run::<i64>("drop call stream", &stream, &cmd)?;
        Ok(())
    }

    /// The ids of the calls `origin` sent whose results were stored after stream entry
    /// `after` (`$` for from now on), each with its result if it came along (an output of
    /// at most 64 KiB; else [`Cluster::call_result`] reads it), waiting at most `wait` for the
    /// first; with the id of the last entry read (to read on from). `con` is a connection of
    /// the watcher's own ([`Cluster::call_reader`]).
    pub fn watch_results(
        &self,
        con: &mut redis::Connection,
        origin: &HostId,
        after: &str,
        wait: Duration,
    ) -> Result<(Vec<Announced>, String)> {
        let stream = results_key(origin.as_str());
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(millis(wait))
            .arg("STREAMS")
            .arg(&stream)
            .arg(after);
        let reply: Value = cmd
            .query(con)
            .map_err(|e| self.failure("watch results", &stream, e))?;
        let mut last = after.to_owned();
        let mut ids = Vec::new();
        for (entry, fields) in stream_entries(reply) {
            last = entry;
            let mut id = None;
            let mut named = Vec::new();
            let mut fields = fields.into_iter();
            while let (Some(Value::BulkString(name)), Some(Value::BulkString(value))) =
                (fields.next(), fields.next())
            {
                let name = String::from_utf8_lossy(&name).into_owned();
                if name == "id" {
                    id = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|v| v.parse().ok());
                } else {
                    named.push((name, value));
                }
            }
            let Some(id) = id else {
                continue;
            };
            let inline = named.iter().any(|(name, _)| name == "rv");
            let result = if inline {
                parse_result(&stream, named)?
            } else {
                None
            };
            ids.push((id, result));
        }
        Ok((ids, last))
    }

    /// A connection for [`Cluster::take_calls`] waiting at most `wait` each time.
    pub fn call_reader(&self, host: &HostId, wait: Duration) -> Result<redis::Connection> {
        self.blocking_connection("take calls", &stream_key(host), wait)
    }
}

/// A result from its hash's fields; `None` for no fields (no result).
fn parse_result(key: &str, fields: Vec<(String, Vec<u8>)>) -> Result<Option<RemoteResult>> {
    if fields.is_empty() {
        return Ok(None);
    }
    let bad = |message: String| ClusterError::Reply {
        operation: "read call result",
        key: key.to_owned(),
        message,
    };
    let mut result = RemoteResult::default();
    for (name, value) in fields {
        match name.as_str() {
            "rv" => {
                result.return_value = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("`rv` is not an integer".to_owned()))?;
            }
            "output" => result.output = value,
            "failure" if value.is_empty() => result.failure = None,
            "failure" => result.failure = Some(String::from_utf8_lossy(&value).into_owned()),
            "host" => result.host = String::from_utf8_lossy(&value).into_owned(),
            "timeout" => result.timed_out = value == b"1",
            _ => {}
        }
    }
    Ok(Some(result))
}

/// `XREADGROUP` of at most `count` new entries of `stream` for consumer `me`, waiting at most
/// `wait` for the first (not at all without).
fn read_group(me: &HostId, stream: &str, count: usize, wait: Option<Duration>) -> redis::Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(GROUP)
        .arg(me.as_str())
        .arg("COUNT")
        .arg(count.max(1));
    if let Some(wait) = wait {
        cmd.arg("BLOCK").arg(millis(wait));
    }
    cmd.arg("STREAMS").arg(stream).arg(">");
    cmd
}

/// The consumers an `XPENDING` summary names (`[count, first, last, [[name, n], ...]]`).
fn pending_consumers(reply: Value) -> Vec<String> {
    let Value::Array(mut parts) = reply else {
        return Vec::new();
    };
    let Some(Value::Array(consumers)) = parts.pop() else {
        return Vec::new();
    };
    consumers
        .into_iter()
        .filter_map(|consumer| match consumer {
            Value::Array(mut pair) if pair.len() == 2 => text(pair.swap_remove(0)),
            _ => None,
        })
        .collect()
}

/// The entry ids of an extended `XPENDING` reply (`[[id, consumer, idle, deliveries], ...]`).
fn pending_entry_ids(reply: Value) -> Vec<String> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| match entry {
            Value::Array(mut fields) if !fields.is_empty() => text(fields.swap_remove(0)),
            _ => None,
        })
        .collect()
}

/// The `(id, fields)` of every entry of an `XREAD` reply (nil: none).
fn stream_entries(reply: Value) -> Vec<(String, Vec<Value>)> {
    let streams: Vec<Value> = match reply {
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(name, entries)| Value::Array(vec![name, entries]))
            .collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(mut parts) = stream else {
            continue;
        };
        let Some(Value::Array(entries)) = parts.pop() else {
            continue;
        };
        for entry in entries {
            if let Value::Array(mut parts) = entry
                && let (Some(Value::Array(fields)), Some(id)) = (parts.pop(), parts.pop())
                && let Some(id) = text(id)
            {
                out.push((id, fields));
            }
        }
    }
    out
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// The entries of an `XREADGROUP` reply (`nil` after a wait with nothing: none), in the
/// stream of host `queue`.
fn parse_entries(stream: &str, queue: &str, reply: Value) -> Result<Vec<ForwardedCall>> {
    let bad = |message: &str| ClusterError::Reply {
        operation: "take calls",
        key: stream.to_owned(),
        message: message.to_owned(),
    };
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(name, entries)| Value::Array(vec![name, entries]))
            .collect(),
        _ => return Err(bad("not a list of streams")),
    };
    let mut calls = Vec::new();
    for stream_reply in streams {
        let Value::Array(mut parts) = stream_reply else {
            return Err(bad("a stream is not a [name, entries] pair"));
        };
        let Some(Value::Array(entries)) = parts.pop() else {
            return Err(bad("a stream has no entries list"));
        };
        for entry in entries {
            let mut call = parse_entry(entry).map_err(bad)?;
            call.queue = queue.to_owned();
            calls.push(call);
        }
    }
    Ok(calls)
}

fn parse_entry(entry: Value) -> std::result::Result<ForwardedCall, &'static str> {
    let Value::Array(mut parts) = entry else {
        return Err("an entry is not an [id, fields] pair");
    };
    let fields = match parts.pop() {
        Some(Value::Array(fields)) => fields,
        _ => return Err("an entry has no fields"),
    };
    let entry = match parts.pop() {
        Some(Value::BulkString(id)) => {
            String::from_utf8(id).map_err(|_| "an entry id is not text")?
        }
        Some(Value::SimpleString(id)) => id,
        _ => return Err("an entry has no id"),
    };
    let mut call = ForwardedCall {
        id: 0,
        entry,
        queue: String::new(),
        user: String::new(),
        function: String::new(),
        input: Vec::new(),
        func_ptr: 0,
        origin: String::new(),
        retryable: true,
        claimed_from: None,
    };
    let mut fields = fields.into_iter();
    while let (Some(Value::BulkString(name)), Some(Value::BulkString(value))) =
        (fields.next(), fields.next())
    {
        let text = || String::from_utf8_lossy(&value).into_owned();
        match &name[..] {
            b"id" => {
                call.id = text()
                    .parse()
                    .map_err(|_| "an entry's `id` is not a number")?;
            }
            b"user" => call.user = text(),
            b"function" => call.function = text(),
            b"origin" => call.origin = text(),
            b"retry" => call.retryable = value != b"0",
            b"func_ptr" => {
                call.func_ptr = text()
                    .parse()
                    .map_err(|_| "an entry's `func_ptr` is not a number")?;
            }
            b"input" => call.input = value,
            _ => {}
        }
    }
    if call.id == 0 || call.user.is_empty() || call.function.is_empty() {
        return Err("an entry lacks its `id`, `user` or `function`");
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn entries_are_read_from_a_stream_reply() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![
                bulk("id"),
                bulk("7"),
                bulk("user"),
                bulk("demo"),
                bulk("function"),
                bulk("echo"),
                bulk("input"),
                Value::BulkString(vec![0, 255]),
                bulk("origin"),
                bulk("h1"),
            ]),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("faasm:cluster:calls:h2"),
            Value::Array(vec![entry]),
        ])]);
        let calls = parse_entries("s", "h2", reply).unwrap();
        assert_eq!(
            calls,
            [ForwardedCall {
                id: 7,
                entry: "1-0".into(),
                queue: "h2".into(),
                user: "demo".into(),
                function: "echo".into(),
                input: vec![0, 255],
                func_ptr: 0,
                origin: "h1".into(),
                retryable: true,
                claimed_from: None,
            }]
        );
        assert!(parse_entries("s", "h2", Value::Nil).unwrap().is_empty());
        assert!(parse_entries("s", "h2", Value::Int(3)).is_err());
        let no_id = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("user"), bulk("demo")]),
            ])]),
        ])]);
        assert!(parse_entries("s", "h2", no_id).is_err());
    }

    #[test]
    fn results_are_read_from_their_fields() {
        let fields = vec![
            ("rv".to_owned(), b"3".to_vec()),
            ("output".to_owned(), b"out".to_vec()),
            ("failure".to_owned(), b"returned 3".to_vec()),
            ("host".to_owned(), b"h2".to_vec()),
            ("timeout".to_owned(), b"1".to_vec()),
        ];
        let result = parse_result("k", fields).unwrap().unwrap();
        assert_eq!(result.return_value, 3);
        assert_eq!(result.failure.as_deref(), Some("returned 3"));
        assert!(result.timed_out);
        assert!(parse_result("k", Vec::new()).unwrap().is_none());
        let bad = vec![("rv".to_owned(), b"x".to_vec())];
        assert!(parse_result("k", bad).is_err());
    }
}
