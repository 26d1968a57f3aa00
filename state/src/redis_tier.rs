//! The Redis global tier: many hosts share one Redis server.
//!
//! Values are Redis strings under `faasm:v:{user}/{key}`, append lists Redis lists under
//! `faasm:a:{user}/{key}`; a global lock is the write holder's token, a string under
//! `faasm:l:{user}/{key}` (`PX` ttl), and the read holders' tokens, a sorted set under
//! `faasm:r:{user}/{key}` scored by expiry (server time, ms); Lua scripts (`EVAL`) take and
//! release them atomically.
//!
//! Two synchronous connections per tier, each behind a mutex, each made by the first call that
//! needs it and dropped after an error that may have broken it, so the next call connects again
//! and a restarted server is picked up without intervention:
//!
//! - the *value* connection, a plain [`TcpStream`] speaking RESP through the [`crate::resp`]
//!   codec, carries the value transfers (`GET`, `GETRANGE`, `SET`) so that a value crosses user
//!   memory once at most: a push is one `writev` of the command's head, the value's host mapping
//!   and the final CRLF (the kernel reads the memfd's pages), and a pull waits until the whole
//!   reply is queued on the socket, then has the kernel read it straight into the mapping
//!   ([`read_bulk_into_mapping`]); a partial pull reads into the caller's buffer. Through the
//!   `redis` crate each value was copied two or three times more (its parser buffers a bulk
//!   reply and returns a fresh `Vec`, its command packing copies arguments twice), which cost
//!   1 MiB pushes and pulls a third of their throughput next to `redis-benchmark`;
//! - the `redis` crate's connection carries everything else (lists, locks, `EVAL`, `STRLEN`,
//!   `SETRANGE`...), and the value transfers too when the server is not reached over plain TCP
//!   (a Unix socket, TLS).
//!
//! Each call waits for its reply before returning, so commands on the two connections are seen
//! by the server in the order the calls were made.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::global::{GlobalLockMode, GlobalTier, LockToken, copy_prefix, write_whole};
use crate::resp::{self, Header, RespError};
use crate::sys::{self, SharedMapping};
use crate::{Result, StateError, StateKey};

/// The server's clock in milliseconds, as Lua `now` (scripts that call `TIME` before writing
/// are replicated by their effects, Redis ≥ 5).
const NOW_MS: &str = "local t = redis.call('time') \
                      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";

/// A read lock (`KEYS[1]`: the writer's token; `KEYS[2]`: readers' tokens scored by expiry;
/// `ARGV`: token, ttl in ms): taken unless a writer holds the lock. Expired readers are dropped
/// first; the readers' set lives as long as its longest lease.
const READ_LOCK_SCRIPT: &str = "if redis.call('exists', KEYS[1]) == 1 then return 0 end \
     redis.call('zremrangebyscore', KEYS[2], '-inf', now) \
     redis.call('zadd', KEYS[2], now + tonumber(ARGV[2]), ARGV[1]) \
     if redis.call('pttl', KEYS[2]) < tonumber(ARGV[2]) then \
       redis.call('pexpire', KEYS[2], ARGV[2]) end \
     return 1";

/// A write lock (same keys and arguments): taken unless a writer or an unexpired reader holds
/// the lock.
const WRITE_LOCK_SCRIPT: &str = "redis.call('zremrangebyscore', KEYS[2], '-inf', now) \
     if redis.call('zcard', KEYS[2]) > 0 then return 0 end \
     if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end \
     return 0";

/// Releases the lock `ARGV[1]` holds, read or write; 1 if it held one.
const UNLOCK_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
       return redis.call('del', KEYS[1]) end \
     return redis.call('zrem', KEYS[2], ARGV[1])";

/// How long connecting, reading a reply or writing a command may take before the call fails.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest send buffer a tier keeps between calls (a larger command's buffer is freed after
/// the call).
const KEPT_BUFFER_MAX: usize = 4 << 20;

/// The read buffer of the value connection: a reply header and a payload of up to a little less
/// than this arrive in one `read` (and are copied from there: a 64 KiB value's reply, header and
/// CRLF included, fits whole); a larger payload is read past it.
const READ_BUFFER: usize = 128 << 10;

/// The largest pulled payload that is waited for whole in the socket's receive queue before it
/// is read into the value's mapping (see [`read_bulk_into_mapping`]); a larger one goes through
/// a buffer.
const QUEUED_MAX: usize = 8 << 20;

/// How long a pull waits for more of a reply to arrive before it stops waiting for the whole of
/// it in the receive queue and reads it through a buffer instead (the receive buffer could not
/// hold it, or the server is slow).
const QUEUE_STALL: Duration = Duration::from_millis(20);

/// Whether a command may be sent again after the connection it went out on is found dead.
///
/// A connection left open across a server restart (or an idle timeout of a proxy) fails the
/// next command sent on it, although the server is up again: a command is then sent once more
/// on a new connection, so the first call after a restart succeeds. Only if resending cannot do
/// harm: a reply lost with the connection may mean the command ran, and sending an append or a
/// lock again would append twice or find the lock taken by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Idempotent: sent again once, on a new connection, if the one it used was dead (closed,
    /// reset; not on a timeout: a slow server is not a dead one). Only a connection made
    /// before the call is suspected: a new one that fails means the server is down.
    OnLostConnection,
    /// Never sent twice.
    Never,
}

/// Where the value connection goes, from the URL: a TCP address and the `AUTH` and `SELECT` to
/// send first. (No `Debug`: it holds the password.)
struct ValueTarget {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

/// The value connection and the buffer `SET` commands of a caller's slice are framed in.
#[derive(Default)]
struct ValueChannel {
    stream: Option<BufReader<TcpStream>>,
    /// Where `SET` commands are framed. Its length only grows (up to [`KEPT_BUFFER_MAX`]): bytes
    /// past the current command are stale, and not zeroing them again saves a `memset` of the
    /// payload per push.
    send: Vec<u8>,
}

/// A [`GlobalTier`] on a Redis server (`redis://HOST:PORT`).
pub struct RedisTier {
    url: String,
    client: redis::Client,
    timeout: Duration,
    connection: Mutex<Option<redis::Connection>>,
    /// `None` when the server is not reached over plain TCP: values then go through `client`.
    value_target: Option<ValueTarget>,
    values: Mutex<ValueChannel>,
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTier")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// A tier on the server at `url` (e.g. `redis://127.0.0.1:6379`). Only parses the URL: the
    /// connection is made by the first call (and again after a failure), so a server that is
    /// down now is not an error here.
    pub fn new(url: &str) -> Result<RedisTier> {
        // TCP_NODELAY, as redis-benchmark (hiredis) sets it: every command is one write, whose
        // last partial segment need not wait for an ACK.
        let shown = mask_password(url);
        let invalid = |e: redis::RedisError| StateError::InvalidUrl {
            url: shown.clone(),
            message: e.to_string(),
        };
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
        let value_target = value_target(&info);
        let client = redis::Client::open(
            info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)),
        )
        .map_err(invalid)?;
        Ok(RedisTier {
            url: shown,
            client,
            timeout: DEFAULT_TIMEOUT,
            connection: Mutex::new(None),
            value_target,
            values: Mutex::default(),
        })
    }

    /// Sets how long connecting and each command may take (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> RedisTier {
        self.timeout = timeout;
        self
    }

    /// The server's URL, any password in it masked (`redis://user:***@host:port`): the form
    /// errors and `Debug` show.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn connection(&self) -> MutexGuard<'_, Option<redis::Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `cmd` (for `key`, named `operation` in errors) on the connection, connecting first
    /// if there is none and dropping the connection after an error that may have broken it.
    /// `cmd` must be idempotent: it is sent again once on a new connection if the one it went
    /// out on was found dead (see [`Resend`]).
    fn run<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &StateKey,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        self.with_connection(operation, key, Resend::OnLostConnection, |con| {
            cmd.query(con)
        })
    }

    /// Runs `cmd` as [`RedisTier::run`] does, but never sends it twice (appends, locks).
    fn run_once<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &StateKey,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        self.with_connection(operation, key, Resend::Never, |con| cmd.query(con))
    }

    /// Runs `pipe` (idempotent commands) as [`RedisTier::run`] runs one, ignoring the replies.
    fn run_pipeline(
        &self,
        operation: &'static str,
        key: &StateKey,
        pipe: &redis::Pipeline,
    ) -> Result<()> {
        self.with_connection(operation, key, Resend::OnLostConnection, |con| {
            pipe.query::<()>(con)
        })
    }

    /// Calls `f` with the connection, as [`RedisTier::run`].
    fn with_connection<T>(
        &self,
        operation: &'static str,
        key: &StateKey,
        resend: Resend,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let fail = |message: String| StateError::GlobalTier {
            key: key.clone(),
            operation,
            message,
        };
        let mut slot = self.connection();
        let mut may_resend = resend == Resend::OnLostConnection && slot.is_some();
        loop {
            let timeout = self.io_timeout().map_err(fail)?;
            if slot.is_none() {
                let con = self
                    .client
                    .get_connection_with_timeout(timeout)
                    .map_err(|e| fail(format!("cannot connect to {}: {e}", self.url)))?;
                con.set_read_timeout(Some(self.timeout))
                    .and_then(|()| con.set_write_timeout(Some(self.timeout)))
                    .map_err(|e| fail(format!("cannot set timeouts on {}: {e}", self.url)))?;
                *slot = Some(con);
            }
            let Some(con) = slot.as_mut() else {
                unreachable!("connected above")
            };
            // A call's deadline nearer than the tier's timeout bounds this exchange.
            let capped = timeout < self.timeout;
            let set = |con: &redis::Connection, t: Duration| {
                con.set_read_timeout(Some(t))
                    .and_then(|()| con.set_write_timeout(Some(t)))
            };
            let result = if capped {
                set(con, timeout).and_then(|()| f(con))
            } else {
                f(con)
            };
            if capped && set(con, self.timeout).is_err() {
                *slot = None;
            }
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if leaves_connection_unusable(&e) {
                *slot = None;
            }
            if may_resend && e.is_connection_dropped() && !e.is_timeout() {
                may_resend = false;
                continue;
            }
            return Err(fail(format!("{e} (server {})", self.url)));
        }
    }

    /// Calls `f` with the value connection (connecting first if there is none) and the send
    /// buffer; errors name `operation`, `key` and the server. The connection is dropped after
    /// any failure but an error reply, so the next call connects again. Every value command is
    /// idempotent: `f` runs again once on a new connection if the one it used was found dead
    /// (see [`Resend`]).
    fn with_values<T>(
        &self,
        target: &ValueTarget,
        operation: &'static str,
        key: &StateKey,
        mut f: impl FnMut(&mut BufReader<TcpStream>, &mut Vec<u8>) -> Result<T, RespError>,
    ) -> Result<T> {
        let fail = |message: String| StateError::GlobalTier {
            key: key.clone(),
            operation,
            message,
        };
        let mut channel = self.values.lock().unwrap_or_else(|poisoned| {
            // A call panicked half-way through an exchange: the stream may be out of step.
            let mut channel = poisoned.into_inner();
            channel.stream = None;
            channel
        });
        let ValueChannel { stream, send } = &mut *channel;
        let mut may_resend = stream.is_some();
        loop {
            let timeout = self.io_timeout().map_err(fail)?;
            if stream.is_none() {
                let connected = connect(target, timeout)
                    .map_err(|e| fail(format!("cannot connect to {}: {e}", self.url)))?;
                *stream = Some(connected);
            }
            let Some(connection) = stream.as_mut() else {
                unreachable!("connected above")
            };
            // A call's deadline nearer than the tier's timeout bounds this exchange.
            let set = |connection: &BufReader<TcpStream>, t: Duration| {
                let socket = connection.get_ref();
                socket
                    .set_read_timeout(Some(t))
                    .and_then(|()| socket.set_write_timeout(Some(t)))
            };
            let capped = timeout < self.timeout;
            let result = if capped {
                set(connection, timeout)
                    .map_err(RespError::Io)
                    .and_then(|()| f(connection, send))
            } else {
                f(connection, send)
            };
            if capped && set(connection, self.timeout).is_err() {
                *stream = None;
            }
            if send.len() > KEPT_BUFFER_MAX {
                *send = Vec::new();
            }
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !e.connection_usable() {
                *stream = None;
            }
            if may_resend && e.connection_lost() {
                may_resend = false;
                continue;
            }
            return Err(fail(format!("{e} (server {})", self.url)));
        }
    }

    /// How long the next exchange may take: the tier's timeout, or less if the call this
    /// thread runs ends sooner ([`crate::within_deadline`]); an error once that call's deadline
    /// has passed.
    fn io_timeout(&self) -> Result<Duration, String> {
        crate::deadline::io_timeout(self.timeout).ok_or_else(|| {
            format!(
                "the calling call's deadline passed before the request to {} was sent",
                self.url
            )
        })
    }

    /// Sends the command `args` on the value connection.
    fn send_command(
        connection: &mut BufReader<TcpStream>,
        args: &[&[u8]],
    ) -> Result<(), RespError> {
        let mut command = Vec::with_capacity(64);
        resp::encode_command(&mut command, args);
        connection.get_mut().write_all(&command)?;
        Ok(())
    }

    /// `GET` on the value connection, the reply read with `read`.
    fn value_get<T>(
        &self,
        target: &ValueTarget,
        key: &StateKey,
        mut read: impl FnMut(&mut BufReader<TcpStream>) -> Result<T, RespError>,
    ) -> Result<T> {
        let name = value_key(key);
        self.with_values(target, "GET", key, |connection, _| {
            Self::send_command(connection, &[b"GET", name.as_bytes()])?;
            read(connection)
        })
    }

    /// `GETRANGE` of `len > 0` bytes from `offset` on the value connection, the reply read
    /// with `read`.
    fn value_get_range<T>(
        &self,
        target: &ValueTarget,
        key: &StateKey,
        (offset, len): (usize, usize),
        mut read: impl FnMut(&mut BufReader<TcpStream>) -> Result<T, RespError>,
    ) -> Result<T> {
        let name = value_key(key);
        let (from, to) = (offset.to_string(), (offset + len - 1).to_string());
        self.with_values(target, "GETRANGE", key, |connection, _| {
            let args: [&[u8]; 4] = [b"GETRANGE", name.as_bytes(), from.as_bytes(), to.as_bytes()];
            Self::send_command(connection, &args)?;
            read(connection)
        })
    }

    /// `SET` of `data` on the value connection, framed in the send buffer and sent with one
    /// write.
    fn value_set(&self, target: &ValueTarget, key: &StateKey, data: &[u8]) -> Result<()> {
        let name = value_key(key);
        self.with_values(target, "SET", key, |connection, send| {
            let mut head = Vec::with_capacity(64);
            resp::encode_command_head(&mut head, &[b"SET", name.as_bytes()], data.len());
            let (start, end) = (head.len(), head.len() + data.len());
            if send.len() < end + 2 {
                send.resize(end + 2, 0);
            }
            send[..start].copy_from_slice(&head);
            send[start..end].copy_from_slice(data);
            send[end..end + 2].copy_from_slice(b"\r\n");
            connection.get_mut().write_all(&send[..end + 2])?;
            resp::read_ok(connection)
        })
    }

    /// `SET` of the first `len` bytes of `src` on the value connection: the command's head, the
    /// payload read by the kernel from the mapping, and the final CRLF, in one `writev`.
    fn value_set_mapping(
        &self,
        target: &ValueTarget,
        key: &StateKey,
        src: &SharedMapping,
        len: usize,
    ) -> Result<()> {
        let name = value_key(key);
        self.with_values(target, "SET", key, |connection, _| {
            let mut head = Vec::with_capacity(64);
            resp::encode_command_head(&mut head, &[b"SET", name.as_bytes()], len);
            let socket = connection.get_ref().as_fd();
            src.write_framed(socket, &head, (0, len), b"\r\n")?;
            resp::read_ok(connection)
        })
    }
}

/// Reads a bulk reply into the first `len` bytes of `dst` if its length is `len`, writing `dst`
/// only once the whole payload is here: so a pull that fails half-way (the server dies, the
/// connection times out) leaves the value as it was. Returns the payload's length, `None` for
/// nil.
///
/// A payload already in the read buffer is copied from there. A larger one is waited for in the
/// socket's receive queue (`SO_RCVLOWAT` and `poll`, see [`wait_queued`]), then read from the
/// socket straight into `dst`: one copy, where reading it into a buffer and copying that into
/// the memfd cost 1 MiB pulls a quarter of their throughput (the second pass over the data
/// evicts the first from the cache). If it cannot be queued whole, it is read into a buffer of
/// its own, then copied.
fn read_bulk_into_mapping(
    r: &mut BufReader<TcpStream>,
    dst: &SharedMapping,
    len: usize,
    timeout: Duration,
) -> Result<Option<usize>, RespError> {
    let n = match resp::read_header(r)? {
        Header::Bulk(Some(n)) => n,
        Header::Bulk(None) => return Ok(None),
        other => {
            return Err(RespError::Protocol(format!(
                "expected a bulk string, got {other:?}"
            )));
        }
    };
    if n != len {
        resp::discard(r, n)?;
        resp::read_crlf(r)?;
        return Ok(Some(n));
    }
    let buffered = r.buffer().len();
    if buffered >= n + 2 {
        let crlf = r.buffer()[n..n + 2] == *b"\r\n";
        if !crlf {
            return Err(RespError::Protocol(
                "bulk payload not followed by CRLF".into(),
            ));
        }
        dst.write(0, &r.buffer()[..n]);
        r.consume(n + 2);
        return Ok(Some(n));
    }
    let rest = n + 2 - buffered;
    if buffered < n && rest <= QUEUED_MAX && wait_queued(r.get_ref(), rest, timeout)? {
        dst.write(0, r.buffer());
        r.consume(buffered);
        let mut at = buffered;
        while at < n {
            match dst.read_from(r.get_ref().as_fd(), at, n - at)? {
                0 => return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                got => at += got,
            }
        }
    } else {
        let mut data = vec![0; n];
        r.read_exact(&mut data)?;
        dst.write(0, &data);
    }
    resp::read_crlf(r)?;
    Ok(Some(n))
}

/// Waits until at least `bytes` are queued on `socket` (true), or until that is not going to
/// happen soon (false): the stream ended or failed, nothing more arrived for [`QUEUE_STALL`],
/// `timeout` passed, or the kernel refused the low-water mark. The caller then reads normally,
/// which reports any failure.
fn wait_queued(socket: &TcpStream, bytes: usize, timeout: Duration) -> std::io::Result<bool> {
    let fd = socket.as_fd();
    if sys::bytes_queued(fd)? >= bytes {
        return Ok(true);
    }
    if sys::set_receive_low_water(fd, bytes).is_err() {
        return Ok(false);
    }
    let deadline = Instant::now() + timeout;
    let waited = (|| {
        let mut queued = sys::bytes_queued(fd)?;
        while queued < bytes {
            let readable = sys::wait_readable(fd, QUEUE_STALL)?;
            let now = sys::bytes_queued(fd)?;
            if now < bytes && (readable || now == queued || Instant::now() > deadline) {
                return Ok(false);
            }
            queued = now;
        }
        Ok(true)
    })();
    sys::set_receive_low_water(fd, 1)?;
    waited
}

/// Whether a connection that gave `error` must be dropped: a server-side error reply (e.g.
/// `WRONGTYPE`) leaves it usable; anything else (I/O, a timeout, a dropped connection, a reply
/// that does not parse) may not, and the next command connects again. Shared by every sync
/// `redis` client of the project.
pub fn leaves_connection_unusable(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

/// `url` with the password of its user information replaced by `***`, so that error messages
/// and logs do not carry it.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|i| scheme_end + i)
    else {
        return url.to_owned();
    };
    let user_info = &url[scheme_end..at];
    let masked = match user_info.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{masked}{}", &url[..scheme_end], &url[at..])
}

/// The value connection's target, if the server is reached over plain TCP.
fn value_target(info: &redis::ConnectionInfo) -> Option<ValueTarget> {
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return None;
    };
    let settings = info.redis_settings();
    Some(ValueTarget {
        host: host.clone(),
        port: *port,
        username: settings.username().map(str::to_owned),
        password: settings.password().map(str::to_owned),
        db: settings.db(),
    })
}

/// A new value connection to `target`: TCP_NODELAY (as redis-benchmark sets it: a command's
/// last partial segment need not wait for an ACK), read and write timeouts of `timeout`, then
/// `AUTH` and `SELECT` if the URL asks for them.
fn connect(target: &ValueTarget, timeout: Duration) -> Result<BufReader<TcpStream>, RespError> {
    let mut last = None;
    let mut stream = None;
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(RespError::Io(e)),
        (None, None) => {
            return Err(RespError::Protocol(format!(
                "{} resolves to no address",
                target.host
            )));
        }
    };
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut connection = BufReader::with_capacity(READ_BUFFER, stream);
    if let Some(password) = &target.password {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        args.extend(target.username.as_deref().map(str::as_bytes));
        args.push(password.as_bytes());
        handshake(&mut connection, &args)?;
    }
    if target.db != 0 {
        handshake(
            &mut connection,
            &[b"SELECT", target.db.to_string().as_bytes()],
        )?;
    }
    Ok(connection)
}

/// Sends one set-up command and expects `+OK`.
fn handshake(connection: &mut BufReader<TcpStream>, args: &[&[u8]]) -> Result<(), RespError> {
    RedisTier::send_command(connection, args)?;
    resp::read_ok(connection)
}

fn value_key(key: &StateKey) -> String {
    format!("faasm:v:{key}")
}

fn list_key(key: &StateKey) -> String {
    format!("faasm:a:{key}")
}

fn lock_key(key: &StateKey) -> String {
    format!("faasm:l:{key}")
}

fn readers_key(key: &StateKey) -> String {
    format!("faasm:r:{key}")
}

impl GlobalTier for RedisTier {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        if let Some(target) = &self.value_target {
            return self.value_get(target, key, resp::read_bulk);
        }
        let mut cmd = redis::cmd("GET");
        cmd.arg(value_key(key));
        self.run("GET", key, &cmd)
    }

    fn get_into_mapping(
        &self,
        key: &StateKey,
        dst: &SharedMapping,
        len: usize,
    ) -> Result<Option<usize>> {
        match &self.value_target {
            Some(target) => self.value_get(target, key, |r| {
                let timeout = crate::deadline::io_timeout(self.timeout).unwrap_or_default();
                read_bulk_into_mapping(r, dst, len, timeout)
            }),
            None => Ok(write_whole(self.get(key)?.as_deref(), dst, len)),
        }
    }

    fn get_range(&self, key: &StateKey, offset: usize, len: usize) -> Result<Vec<u8>> {
        if len == 0 {
            // GETRANGE k o o-1 would mean "to the end" for o = 0.
            return Ok(Vec::new());
        }
        if let Some(target) = &self.value_target {
            let read = |r: &mut _| resp::read_bulk(r).map(Option::unwrap_or_default);
            return self.value_get_range(target, key, (offset, len), read);
        }
        let mut cmd = redis::cmd("GETRANGE");
        cmd.arg(value_key(key)).arg(offset).arg(offset + len - 1);
        self.run("GETRANGE", key, &cmd)
    }

    fn get_range_into(&self, key: &StateKey, offset: usize, buf: &mut [u8]) -> Result<usize> {
        let Some(target) = &self.value_target else {
            return Ok(copy_prefix(&self.get_range(key, offset, buf.len())?, buf));
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len();
        self.value_get_range(
            target,
            key,
            (offset, len),
            |r| match resp::read_bulk_into(r, buf)? {
                Some(n) if n > len => Err(RespError::Protocol(format!(
                    "GETRANGE of {len} bytes answered with {n}"
                ))),
                n => Ok(n.unwrap_or(0)),
            },
        )
    }

    fn set(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        if let Some(target) = &self.value_target {
            return self.value_set(target, key, data);
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(value_key(key)).arg(data);
        self.run("SET", key, &cmd)
    }

    fn set_from_mapping(&self, key: &StateKey, src: &SharedMapping, len: usize) -> Result<()> {
        if let Some(target) = &self.value_target {
            return self.value_set_mapping(target, key, src, len);
        }
        let mut data = vec![0; len];
        src.read(0, &mut data);
        self.set(key, &data)
    }

    fn set_range(&self, key: &StateKey, offset: usize, data: &[u8]) -> Result<()> {
        let mut cmd = redis::cmd("SETRANGE");
        cmd.arg(value_key(key)).arg(offset).arg(data);
        self.run::<usize>("SETRANGE", key, &cmd).map(drop)
    }

    fn set_ranges(&self, key: &StateKey, ranges: &[(usize, Vec<u8>)]) -> Result<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        let name = value_key(key);
        let mut pipe = redis::pipe();
        for (offset, data) in ranges {
            pipe.cmd("SETRANGE")
                .arg(&name)
                .arg(*offset)
                .arg(data.as_slice())
                .ignore();
        }
        self.run_pipeline("SETRANGE (pipelined)", key, &pipe)
    }

    fn size(&self, key: &StateKey) -> Result<usize> {
        let mut cmd = redis::cmd("STRLEN");
        cmd.arg(value_key(key));
        self.run("STRLEN", key, &cmd)
    }

    fn delete(&self, key: &StateKey) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(value_key(key));
        self.run::<usize>("DEL", key, &cmd).map(drop)
    }

    fn append(&self, key: &StateKey, data: &[u8]) -> Result<usize> {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(list_key(key)).arg(data);
        self.run_once("RPUSH", key, &cmd)
    }

    fn list_range(&self, key: &StateKey, n: usize) -> Result<Vec<Vec<u8>>> {
        if n == 0 {
            // LRANGE k 0 -1 would mean "everything".
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(list_key(key)).arg(0).arg(n - 1);
        self.run("LRANGE", key, &cmd)
    }

    fn clear_list(&self, key: &StateKey) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(list_key(key));
        self.run::<usize>("DEL", key, &cmd).map(drop)
    }

    fn try_lock(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let (operation, script) = match mode {
            GlobalLockMode::Read => ("EVAL (read lock)", READ_LOCK_SCRIPT),
            GlobalLockMode::Write => ("EVAL (write lock)", WRITE_LOCK_SCRIPT),
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{NOW_MS}{script}"))
            .arg(2)
            .arg(lock_key(key))
            .arg(readers_key(key))
            .arg(token.as_str())
            .arg(ttl_ms);
        let taken: i64 = self.run_once(operation, key, &cmd)?;
        Ok(taken == 1)
    }

    fn unlock(&self, key: &StateKey, token: &LockToken) -> Result<bool> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK_SCRIPT)
            .arg(2)
            .arg(lock_key(key))
            .arg(readers_key(key))
            .arg(token.as_str());
        let released: i64 = self.run_once("EVAL (unlock)", key, &cmd)?;
        Ok(released == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_the_url_shown() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:secret@host:6379/2", "redis://:***@host:6379/2"),
            ("redis://alice:s3:cr@t@host", "redis://alice:***@host"),
            ("redis://token@host", "redis://***@host"),
            ("redis://host/0?x=a@b", "redis://host/0?x=a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(mask_password(url), shown, "{url}");
        }
        let tier = RedisTier::new("redis://alice:secret@127.0.0.1:1").unwrap();
        assert!(!format!("{tier:?}").contains("secret"));
        let err = tier.size(&StateKey::parse("alice/k").unwrap()).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("alice:***@127.0.0.1:1"), "{err}");
    }

    /// Reads one command (an array of bulk strings) from a client; `None` at the end.
    fn read_command(r: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
        let number = |r: &mut dyn BufRead| {
            let mut line = String::new();
            r.read_line(&mut line).ok().filter(|n| *n > 0)?;
            line[1..].trim_end().parse::<usize>().ok()
        };
        let count = number(r)?;
        (0..count)
            .map(|_| {
                let len = number(r)?;
                let mut arg = vec![0; len + 2];
                r.read_exact(&mut arg).ok()?;
                arg.truncate(len);
                Some(arg)
            })
            .collect()
    }

    /// A fake server on 127.0.0.1 that answers `+OK` to everything but value and list reads,
    /// which get a reply announcing 2^40 bytes or elements (and nothing after it).
    fn lying_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let url = format!("redis://{}", listener.local_addr().expect("address"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("stream");
                    let mut reader = BufReader::new(stream);
                    while let Some(command) = read_command(&mut reader) {
                        let reply: &[u8] = match command[0].to_ascii_uppercase().as_slice() {
                            b"GET" | b"GETRANGE" => b"$1099511627776\r\n",
                            b"LRANGE" => b"*1099511627776\r\n",
                            b"STRLEN" => b":1099511627776\r\n",
                            _ => b"+OK\r\n",
                        };
                        if writer.write_all(reply).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        url
    }

    #[test]
    fn replies_announcing_huge_lengths_are_errors_not_allocations() {
        let tier = RedisTier::new(&lying_server())
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        let key = StateKey::parse("alice/huge").unwrap();
        let error = tier.get(&key).unwrap_err().to_string();
        assert!(
            error.contains("bulk reply of 1099511627776 bytes"),
            "{error}"
        );
        let error = tier.get_range(&key, 0, 10).unwrap_err().to_string();
        assert!(
            error.contains("bulk reply of 1099511627776 bytes"),
            "{error}"
        );
        assert!(tier.list_range(&key, 10).is_err());
    }
}
