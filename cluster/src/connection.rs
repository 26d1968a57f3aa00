//! [`Cluster`]: a host's handle on the cluster's Redis server, one synchronous connection
//! behind a mutex, made by the first call that needs it and dropped after an error that may
//! have broken it, so the next call connects again (a restarted server is picked up).

use crate::sharing::DEFAULT_MAX_FUNCTION_BYTES;
use crate::{ClusterError, Result};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long connecting, or sending a command and reading its reply, may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The cluster a host belongs to: a Redis server (`redis://HOST:PORT`).
pub struct Cluster {
    url: String,
    client: redis::Client,
    timeout: Duration,
    max_function_bytes: u64,
    connection: Mutex<Option<redis::Connection>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("max_function_bytes", &self.max_function_bytes)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The cluster on the Redis server at `url`. Only parses the URL: the connection is made by
    /// the first call.
    pub fn new(url: &str) -> Result<Cluster> {
        let shown = faasm_state::mask_password(url);
        let client = redis::Client::open(url).map_err(|e| ClusterError::InvalidUrl {
            url: shown.clone(),
            message: e.to_string(),
        })?;
        Ok(Cluster {
            url: shown,
            client,
            timeout: DEFAULT_TIMEOUT,
            max_function_bytes: DEFAULT_MAX_FUNCTION_BYTES,
            connection: Mutex::new(None),
        })
    }

    /// Sets how long connecting and each command may take (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Cluster {
        self.timeout = timeout;
        self
    }

    /// Sets the most bytes (module and Proto-Faaslet together) a function shared through this
    /// handle, or fetched through it, may take (default
    /// [`DEFAULT_MAX_FUNCTION_BYTES`](crate::sharing::DEFAULT_MAX_FUNCTION_BYTES)).
    pub fn with_max_function_bytes(mut self, limit: u64) -> Cluster {
        self.max_function_bytes = limit;
        self
    }

    /// The server's URL, any password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The most bytes a shared function may take.
    pub fn max_function_bytes(&self) -> u64 {
        self.max_function_bytes
    }

    /// Another handle on the same server with its own connection (so that a heartbeat does not
    /// wait behind a large transfer).
    pub(crate) fn another(&self) -> Cluster {
        Cluster {
            url: self.url.clone(),
            client: self.client.clone(),
            timeout: self.timeout,
            max_function_bytes: self.max_function_bytes,
            connection: Mutex::new(None),
        }
    }

    /// A connection of its own for a subscriber, whose reads wait at most `poll` (so that the
    /// subscriber can check whether to stop).
    pub(crate) fn subscriber_connection(&self, poll: Duration) -> Result<redis::Connection> {
        self.connection_reading_within("subscribe", crate::sharing::UPDATES_CHANNEL, poll)
    }

    /// A connection of its own for commands that block up to `wait` on the server (`BLMOVE`,
    /// `XREADGROUP ... BLOCK`): its reads wait that long and the usual timeout more.
    pub(crate) fn blocking_connection(
        &self,
        operation: &'static str,
        key: &str,
        wait: Duration,
    ) -> Result<redis::Connection> {
        self.connection_reading_within(operation, key, wait.saturating_add(self.timeout))
    }

    fn connection_reading_within(
        &self,
        operation: &'static str,
        key: &str,
        read: Duration,
    ) -> Result<redis::Connection> {
        let fail = |message: String| ClusterError::Redis {
            operation,
            key: key.to_owned(),
            url: self.url.clone(),
            message,
        };
        let con = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| fail(format!("cannot connect: {e}")))?;
        con.set_read_timeout(Some(read))
            .and_then(|()| con.set_write_timeout(Some(self.timeout)))
            .map_err(|e| fail(format!("cannot set timeouts: {e}")))?;
        Ok(con)
    }

    /// The crate's error for `e`, a failure of `operation` on `key`.
    pub(crate) fn failure(
        &self,
        operation: &'static str,
        key: &str,
        e: redis::RedisError,
    ) -> ClusterError {
        ClusterError::Redis {
            operation,
            key: key.to_owned(),
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Sends `cmd` (named `operation`, about `key` in errors) and reads its reply. `cmd` must
    /// be idempotent: if the connection it went out on was found closed (a server restart), it
    /// is sent once more on a new one.
    pub(crate) fn run<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        self.with_connection(operation, key, true, |con| cmd.query(con))
    }

    /// Sends `cmd` as [`Cluster::run`] does, but never twice (a share: sent again, it would
    /// count a version twice).
    pub(crate) fn run_once<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        self.with_connection(operation, key, false, |con| cmd.query(con))
    }

    /// Runs the commands of `pipe` (idempotent or not: sent once only) and returns their replies.
    pub(crate) fn run_pipeline<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        key: &str,
        pipe: &redis::Pipeline,
    ) -> Result<T> {
        self.with_connection(operation, key, false, |con| pipe.query(con))
    }

    fn with_connection<T>(
        &self,
        operation: &'static str,
        key: &str,
        idempotent: bool,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let fail = |message: String| ClusterError::Redis {
            operation,
            key: key.to_owned(),
            url: self.url.clone(),
            message,
        };
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut may_resend = idempotent && slot.is_some();
        loop {
            if slot.is_none() {
                let con = self
                    .client
                    .get_connection_with_timeout(self.timeout)
                    .map_err(|e| fail(format!("cannot connect: {e}")))?;
                con.set_read_timeout(Some(self.timeout))
                    .and_then(|()| con.set_write_timeout(Some(self.timeout)))
                    .map_err(|e| fail(format!("cannot set timeouts: {e}")))?;
                *slot = Some(con);
            }
            let Some(con) = slot.as_mut() else {
                unreachable!("connected above")
            };
            let e = match f(con) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if faasm_state::leaves_connection_unusable(&e) {
                *slot = None;
            }
            if may_resend && e.is_connection_dropped() && !e.is_timeout() {
                may_resend = false;
                continue;
            }
            return Err(fail(e.to_string()));
        }
    }
}
