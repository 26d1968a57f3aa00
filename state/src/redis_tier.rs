//! The Redis global tier: many hosts share one Redis server.
//!
//! Values are Redis strings under `faasm:v:{user}/{key}`, append lists Redis lists under
//! `faasm:a:{user}/{key}`, locks strings under `faasm:l:{user}/{key}` taken with
//! `SET lock token NX PX ttl` and released by a Lua compare-and-delete (`EVAL`). One synchronous
//! connection per tier, behind a mutex; after an I/O error it is dropped and the next call
//! connects again, so a restarted server is picked up without intervention.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::global::{GlobalLockMode, GlobalTier, LockToken};
use crate::{Result, StateError, StateKey};

/// Releases a lock only if the caller's token still holds it.
const UNLOCK_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// How long connecting, reading a reply or writing a command may take before the call fails.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// From this size on, [`GlobalTier::set`] packs the command itself, in a buffer kept by the
/// tier, and sends it with one write: the `redis` crate's `Cmd` copies an argument twice, into
/// the command and into its packed form, each time into a freshly allocated buffer, which for
/// 1 MiB values cost more than the round trip itself.
const PACKED_SET_MIN: usize = 64 << 10;

/// The largest send buffer a tier keeps between calls (a larger value's command is packed in a
/// buffer of its own, freed after the call).
const KEPT_BUFFER_MAX: usize = 4 << 20;

/// A [`GlobalTier`] on a Redis server (`redis://HOST:PORT`).
pub struct RedisTier {
    url: String,
    client: redis::Client,
    timeout: Duration,
    connection: Mutex<Option<redis::Connection>>,
    /// Where large `SET` commands are packed (see [`PACKED_SET_MIN`]).
    send_buffer: Mutex<Vec<u8>>,
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
        let client = redis::IntoConnectionInfo::into_connection_info(url)
            .map(|info| {
                info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
            })
            .and_then(redis::Client::open)
            .map_err(|e| StateError::InvalidUrl {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        Ok(RedisTier {
            url: url.to_owned(),
            client,
            timeout: DEFAULT_TIMEOUT,
            connection: Mutex::new(None),
            send_buffer: Mutex::new(Vec::new()),
        })
    }

    /// Sets how long connecting and each command may take (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> RedisTier {
        self.timeout = timeout;
        self
    }

    /// The server's URL.
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
    fn run<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &StateKey,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        self.with_connection(operation, key, |con| cmd.query(con))
    }

    /// Runs `pipe` as [`RedisTier::run`] runs one command, ignoring the replies.
    fn run_pipeline(
        &self,
        operation: &'static str,
        key: &StateKey,
        pipe: &redis::Pipeline,
    ) -> Result<()> {
        self.with_connection(operation, key, |con| pipe.query::<()>(con))
    }

    /// Calls `f` with the connection, as [`RedisTier::run`].
    fn with_connection<T>(
        &self,
        operation: &'static str,
        key: &StateKey,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let fail = |message: String| StateError::GlobalTier {
            key: key.clone(),
            operation,
            message,
        };
        let mut slot = self.connection();
        if slot.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(|e| fail(format!("cannot connect to {}: {e}", self.url)))?;
            con.set_read_timeout(Some(self.timeout))
                .and_then(|()| con.set_write_timeout(Some(self.timeout)))
                .map_err(|e| fail(format!("cannot set timeouts on {}: {e}", self.url)))?;
            *slot = Some(con);
        }
        let Some(con) = slot.as_mut() else {
            unreachable!("connected above")
        };
        match f(con) {
            Ok(v) => Ok(v),
            Err(e) => {
                // A server-side error reply (e.g. WRONGTYPE) leaves the connection usable;
                // anything else (I/O, timeout, dropped, parse) may not: reconnect next time.
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error()
                {
                    *slot = None;
                }
                Err(fail(format!("{e} (server {})", self.url)))
            }
        }
    }
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

impl GlobalTier for RedisTier {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(value_key(key));
        self.run("GET", key, &cmd)
    }

    fn get_range(&self, key: &StateKey, offset: usize, len: usize) -> Result<Vec<u8>> {
        if len == 0 {
            // GETRANGE k o o-1 would mean "to the end" for o = 0.
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("GETRANGE");
        cmd.arg(value_key(key)).arg(offset).arg(offset + len - 1);
        self.run("GETRANGE", key, &cmd)
    }

    fn set(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        let name = value_key(key);
        if data.len() < PACKED_SET_MIN {
            let mut cmd = redis::cmd("SET");
            cmd.arg(name).arg(data);
            return self.run("SET", key, &cmd);
        }
        // `SET name data` in RESP, packed here with one copy of `data` (see PACKED_SET_MIN).
        let mut kept = self
            .send_buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut own = Vec::new();
        let buffer = if data.len() <= KEPT_BUFFER_MAX {
            &mut *kept
        } else {
            &mut own
        };
        buffer.clear();
        buffer.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n", name.len()).as_bytes());
        buffer.extend_from_slice(name.as_bytes());
        buffer.extend_from_slice(format!("\r\n${}\r\n", data.len()).as_bytes());
        buffer.extend_from_slice(data);
        buffer.extend_from_slice(b"\r\n");
        self.with_connection("SET", key, |con| {
            let reply = redis::ConnectionLike::req_packed_command(con, buffer)?.extract_error()?;
            Ok(redis::from_redis_value::<()>(reply)?)
        })
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
        self.run("RPUSH", key, &cmd)
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
        _mode: GlobalLockMode,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(lock_key(key))
            .arg(token.as_str())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let reply: Option<String> = self.run("SET NX PX", key, &cmd)?;
        Ok(reply.is_some())
    }

    fn unlock(&self, key: &StateKey, token: &LockToken) -> Result<bool> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK_SCRIPT)
            .arg(1)
            .arg(lock_key(key))
            .arg(token.as_str());
        let deleted: i64 = self.run("EVAL (unlock)", key, &cmd)?;
        Ok(deleted == 1)
    }
}
