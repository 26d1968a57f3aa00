//! The embedded global tier: a SQLite database in a directory (the function store's `state/`),
//! persistent, and shared by every process of the machine that opens the same directory
//! (concurrent `faasm-run invoke`s and a running `serve`), with no server to install.
//!
//! # Why SQLite
//!
//! The tier must survive restarts, be shared by several processes at once, hold global locks
//! across them, and never leave a torn value after a crash. SQLite (compiled into the binary by
//! `rusqlite`'s `bundled` feature, so there is no system library to match) gives all of that
//! from one well-kept, heavily tested library:
//!
//! - *several processes*: in WAL mode readers never wait for the writer and writers take turns
//!   through the database's file locks. Embedded stores such as `redb` or `sled` lock their
//!   file to one process, so a second `invoke` could not open the store while `serve` runs;
//! - *atomic, crash-safe writes*: every write is one transaction; after a `kill -9` at any
//!   point a value is the old one or the new one (the write-ahead log is replayed or ignored
//!   by whole transactions). With `synchronous = NORMAL` a commit does not wait for `fsync`:
//!   a process crash loses nothing committed, a power cut may lose the last commits but never
//!   tears one;
//! - *partial access*: incremental blob I/O reads and overwrites a range of a value in place
//!   (only the pages it touches), which is what the local tier's lazy pulls and partial pushes
//!   need;
//! - *global locks* are rows (owner token, expiry) changed in write transactions, so taking
//!   one is atomic across processes like Redis's scripts.
//!
//! Plain files with `flock` and `rename` could give whole-value atomicity, but partial pushes
//! would then rewrite whole files and lists and locks would need a format of their own.
//!
//! # Layout and bounds
//!
//! One file, `global.sqlite3` (with its `-wal` and `-shm` companions) in the directory, made
//! `0700` if it does not exist. Tables: `vals` (one row per value), `list_items` (one row per
//! append-list element, numbered from 0), `locks` (one row per holder: token, mode, expiry)
//! and `usage` (bytes per user, kept in the same transactions as the writes). A value or list
//! element holds at most [`MAX_EMBEDDED_VALUE_BYTES`] (512 MiB, as a Redis string);
//! [`EmbeddedTier::with_max_bytes_per_user`] bounds each user's bytes as the in-process tier
//! does (each value or element counting 256 bytes more for its row). The file does not shrink
//! when values are deleted: freed pages are reused by the next writes.
//!
//! # Waiting
//!
//! The one wait of the tier is for the database's write lock while another connection (of this
//! or another process) commits. It lasts the tier's timeout (5 s by default,
//! [`EmbeddedTier::with_timeout`]) or until the deadline of the call this thread runs
//! ([`crate::within_deadline`]), whichever comes first, and then fails with
//! [`StateError::LockTimeout`]. A global lock held by someone else is not waited for here:
//! `try_lock` answers at once (once it has the write lock, like any write), and the local tier
//! retries it until its lock timeout or the call's deadline.
//!
//! Lock leases expire on the machine's boot-time clock (`CLOCK_BOOTTIME`), which every process
//! shares and no one can set; a lease written before a reboot has expired (its boot id differs).
//!
//! The database must be on a local file system: SQLite's WAL mode shares memory between the
//! processes through the `-shm` file, which network file systems do not support.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};

use crate::global::{GlobalLockMode, GlobalTier, LockToken, entry_cost, quota_exceeded};
use crate::sys::{self, SharedMapping};
use crate::{Result, StateError, StateKey, current_deadline};

/// The largest value or list element the embedded tier holds: 512 MiB, as a Redis string.
pub const MAX_EMBEDDED_VALUE_BYTES: usize = 512 << 20;

/// The database's file name in the tier's directory.
pub const EMBEDDED_DATABASE_FILE: &str = "global.sqlite3";

/// How long a call may wait for the database's write lock by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many idle connections the tier keeps for the next calls (more are opened while more
/// threads call at once, and closed when they are done).
const KEPT_CONNECTIONS: usize = 8;

/// The schema's version, in the database's `user_version`: a database of a later version is
/// refused rather than misread.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vals (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (user, key)
);
CREATE TABLE IF NOT EXISTS list_items (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (user, key, seq)
);
CREATE TABLE IF NOT EXISTS locks (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    writer INTEGER NOT NULL,
    boot TEXT NOT NULL,
    expiry_ms INTEGER NOT NULL,
    PRIMARY KEY (user, key, token)
);
CREATE TABLE IF NOT EXISTS usage (
    user TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
);
";

/// Settings of every connection (not kept in the database file):
///
/// - commits that do not wait for `fsync` (see the module docs; checkpoints still do);
/// - statement journals in memory, not in temporary files;
/// - no cache spill: a transaction keeps the pages it changes in memory until it commits (a
///   value being written is in memory anyway) instead of writing pages of a large value to the
///   log twice, once when the cache overflows and again at the commit;
/// - a write-ahead log truncated back to 64 MiB after each checkpoint, so that large values
///   written once do not leave a large log behind.
const CONNECTION_SETTINGS: &str = "PRAGMA synchronous = NORMAL; \
                                   PRAGMA temp_store = MEMORY; \
                                   PRAGMA cache_spill = OFF; \
                                   PRAGMA journal_size_limit = 67108864;";

/// How many bytes of a value go through memory at once when one is copied from a host mapping.
const COPY_CHUNK: usize = 256 << 10;

/// A failure inside a database exchange: SQLite's, or one of the tier's own checks.
enum Failure {
    Sql(rusqlite::Error),
    State(StateError),
    /// Something outside SQLite that the exchange needed (the clock).
    Other(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Sql(e)
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        Failure::State(e)
    }
}

type Exchange<T> = std::result::Result<T, Failure>;

/// A [`GlobalTier`] in a SQLite database of a directory, shared by the processes of one
/// machine (see the module docs).
pub struct EmbeddedTier {
    dir: PathBuf,
    database: PathBuf,
    timeout: Duration,
    max_bytes_per_user: usize,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for EmbeddedTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedTier")
            .field("database", &self.database)
            .field("timeout", &self.timeout)
            .field("max_bytes_per_user", &self.max_bytes_per_user)
            .finish_non_exhaustive()
    }
}

impl EmbeddedTier {
    /// Opens the tier in `dir` (made, mode `0700`, if missing), creating its database the first
    /// time. Waits for other processes setting it up at the same moment as any write does.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedTier> {
        let dir = dir.as_ref().to_path_buf();
        let fail = |message: String| StateError::Open {
            path: dir.clone(),
            message,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| fail(format!("cannot create the directory: {e}")))?;
        let tier = EmbeddedTier {
            database: dir.join(EMBEDDED_DATABASE_FILE),
            dir: dir.clone(),
            timeout: DEFAULT_TIMEOUT,
            max_bytes_per_user: usize::MAX,
            idle: Mutex::default(),
        };
        let mut connection = tier.connect().map_err(|e| fail(e.to_string()))?;
        set_up(&mut connection).map_err(fail)?;
        tier.put_back(connection);
        Ok(tier)
    }

    /// Sets how long a call may wait for the database's write lock (default 5 s); a call's
    /// deadline nearer than that ends the wait sooner.
    pub fn with_timeout(mut self, timeout: Duration) -> EmbeddedTier {
        self.timeout = timeout;
        self
    }

    /// Bounds the bytes of one user's values and list elements (each counting 256 bytes more
    /// for its row), counted over every process sharing the directory: a write past it fails
    /// with [`StateError::LimitExceeded`] (`max_global_bytes_per_user`) and changes nothing.
    pub fn with_max_bytes_per_user(mut self, max: usize) -> EmbeddedTier {
        self.max_bytes_per_user = max;
        self
    }

    /// The tier's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes one user's values and list elements hold (with their rows' bookkeeping).
    pub fn user_bytes(&self, user: &str) -> Result<usize> {
        let key = StateKey::new(user, "usage")?;
        self.exchange("user_bytes", &key, |c| Ok(usage_of(c, user)?))
    }

    /// A new connection to the database, set up for this tier's calls. Its first statement
    /// may meet another process making the database WAL or recovering its log, so it waits
    /// (as a write does) instead of answering "database is locked" at once.
    fn connect(&self) -> rusqlite::Result<Connection> {
        let mut connection = Connection::open(&self.database)?;
        connection.busy_handler(Some(wait_for_writer(self.timeout)))?;
        connection.execute_batch(CONNECTION_SETTINGS)?;
        Ok(connection)
    }

    fn put_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEPT_CONNECTIONS {
            idle.push(connection);
        }
    }

    /// Runs `f` on a connection (an idle one, or a new one) whose waits for the write lock
    /// end at the tier's timeout or this thread's deadline; errors name `operation` and `key`.
    fn exchange<T>(
        &self,
        operation: &'static str,
        key: &StateKey,
        f: impl FnOnce(&mut Connection) -> Exchange<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut connection = match idle {
            Some(c) => c,
            None => self
                .connect()
                .map_err(|e| self.fail(Failure::Sql(e), operation, key, started))?,
        };
        let result = connection
            .busy_handler(Some(wait_for_writer(self.timeout)))
            .map_err(Failure::Sql)
            .and_then(|()| f(&mut connection));
        // A failed exchange rolled back its transaction (dropping it does): the connection is
        // as good as before, unless even the rollback failed and left a transaction open.
        if connection.is_autocommit() {
            self.put_back(connection);
        }
        result.map_err(|e| self.fail(e, operation, key, started))
    }

    /// The crate's error for a failed exchange: [`StateError::LockTimeout`] if the database
    /// stayed locked by a writer, [`StateError::GlobalTier`] for anything else of SQLite's.
    fn fail(
        &self,
        failure: Failure,
        operation: &'static str,
        key: &StateKey,
        started: Instant,
    ) -> StateError {
        let e = match failure {
            Failure::State(e) => return e,
            Failure::Other(message) => {
                return StateError::GlobalTier {
                    key: key.clone(),
                    operation,
                    message,
                };
            }
            Failure::Sql(e) => e,
        };
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::LockTimeout {
                key: key.clone(),
                lock: "embedded tier database write",
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            _ => StateError::GlobalTier {
                key: key.clone(),
                operation,
                message: format!("{e} (database {})", self.database.display()),
            },
        }
    }

    /// Runs `f` in a write transaction (waiting for the write lock first, see
    /// [`EmbeddedTier::exchange`]) and commits what it did if it succeeds.
    fn write<T>(
        &self,
        operation: &'static str,
        key: &StateKey,
        f: impl FnOnce(&Transaction<'_>) -> Exchange<T>,
    ) -> Result<T> {
        self.exchange(operation, key, |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Runs `f` in a read transaction: one snapshot of the database throughout.
    fn read<T>(
        &self,
        operation: &'static str,
        key: &StateKey,
        f: impl FnOnce(&Transaction<'_>) -> Exchange<T>,
    ) -> Result<T> {
        self.exchange(operation, key, |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            f(&tx)
        })
    }

    /// Replaces `key`'s cost of `old` bytes with `new` in its user's usage, unless that would
    /// pass the tier's bound.
    fn charge(&self, c: &Connection, key: &StateKey, old: usize, new: usize) -> Exchange<()> {
        if old == new {
            return Ok(());
        }
        let held = usage_of(c, key.user())?;
        let next = held.saturating_sub(old).saturating_add(new);
        if new > old && next > self.max_bytes_per_user {
            return Err(
                quota_exceeded(key, self.max_bytes_per_user, "embedded", held, new - old).into(),
            );
        }
        if next == 0 {
            c.prepare_cached("DELETE FROM usage WHERE user = ?1")?
                .execute([key.user()])?;
        } else {
            c.prepare_cached(
                "INSERT INTO usage (user, bytes) VALUES (?1, ?2) \
                 ON CONFLICT (user) DO UPDATE SET bytes = excluded.bytes",
            )?
            .execute(rusqlite::params![key.user(), next])?;
        }
        Ok(())
    }

    /// Stores a value of `len` bytes, which `put` writes as `key`'s row, if the size and the
    /// user's bytes allow.
    fn store(
        &self,
        operation: &'static str,
        key: &StateKey,
        len: usize,
        put: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<()> {
        check_size(key, len)?;
        self.write(operation, key, |tx| {
            let old = value_row(tx, key)?.map(|(_, len)| len);
            self.charge(tx, key, entry_cost(old), entry_cost(Some(len)))?;
            put(tx)?;
            Ok(())
        })
    }

    /// Overwrites `ranges` of `key`'s value in one transaction, growing it (zeros) first if one
    /// reaches past its end.
    fn write_ranges(
        &self,
        operation: &'static str,
        key: &StateKey,
        ranges: &[(usize, &[u8])],
    ) -> Result<()> {
        let Some(end) = ranges
            .iter()
            .map(|(offset, data)| offset.checked_add(data.len()))
            .try_fold(0, |end: usize, e| e.map(|e| end.max(e)))
        else {
            return Err(too_large(key, usize::MAX));
        };
        check_size(key, end)?;
        self.write(operation, key, |tx| {
            let id = match value_row(tx, key)? {
                Some((id, len)) if len >= end => id,
                Some((_, len)) => {
                    self.charge(tx, key, entry_cost(Some(len)), entry_cost(Some(end)))?;
                    grow(tx, key, end)?
                }
                None => {
                    self.charge(tx, key, 0, entry_cost(Some(end)))?;
                    upsert_zeros(tx, key, end)?
                }
            };
            let mut blob = tx.blob_open(rusqlite::MAIN_DB, "vals", "data", id, false)?;
            for (offset, data) in ranges {
                if !data.is_empty() {
                    blob.write_at(data, *offset)?;
                }
            }
            Ok(())
        })
    }
}

/// Makes the database usable: WAL mode (kept in the file), the tables, the schema's version.
///
/// Processes opening a new directory together each read the database and then want it alone
/// (to make it WAL); SQLite answers one of them "busy" at once rather than let both wait for
/// each other, skipping the busy handler. Such answers are retried here until the timeout.
fn set_up(c: &mut Connection) -> std::result::Result<(), String> {
    let began = Instant::now();
    loop {
        match set_up_sql(c) {
            Ok(()) => return Ok(()),
            Err(SetUp::Sql(e)) if is_busy(&e) && began.elapsed() < DEFAULT_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(SetUp::Sql(e)) => return Err(e.to_string()),
            Err(SetUp::Refused(message)) => return Err(message),
        }
    }
}

/// Whether SQLite refused `e`'s statement because another connection held a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Why [`set_up`] failed.
enum SetUp {
    Sql(rusqlite::Error),
    Refused(String),
}

impl From<rusqlite::Error> for SetUp {
    fn from(e: rusqlite::Error) -> SetUp {
        SetUp::Sql(e)
    }
}

fn set_up_sql(c: &mut Connection) -> std::result::Result<(), SetUp> {
    c.busy_handler(Some(wait_for_writer(DEFAULT_TIMEOUT)))?;
    let mode: String = c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SetUp::Refused(format!(
            "the database stays in journal mode {mode:?}, not WAL (a file system without \
             shared memory?)"
        )));
    }
    // A database set up already (every open but the first) is only read: opening the tier
    // does not queue for the write lock behind a running `serve`.
    if schema_version(c)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    schema_version(&tx)?;
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(tx.commit()?)
}

/// The database's schema version (0 for a new one); an error if a newer faasm-rs made it.
fn schema_version(c: &Connection) -> std::result::Result<i64, SetUp> {
    let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(SetUp::Refused(format!(
            "the database has schema version {version}, this build knows {SCHEMA_VERSION} (made \
             by a newer faasm-rs?)"
        )));
    }
    Ok(version)
}

/// The busy handler of a connection: while another connection holds the write lock, waits
/// (short sleeps, growing to 2 ms) until `timeout` after the wait began or until the calling
/// thread's deadline, whichever is first; then SQLite answers `SQLITE_BUSY`.
fn wait_for_writer(timeout: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut began = Instant::now();
    move |attempt| {
        let now = Instant::now();
        if attempt == 0 {
            began = now;
        }
        let mut end = began + timeout;
        if let Some(deadline) = current_deadline() {
            end = end.min(deadline);
        }
        let Some(left) = end.checked_duration_since(now).filter(|l| !l.is_zero()) else {
            return false;
        };
        let pause = Duration::from_micros(50 << attempt.clamp(0, 6)).min(Duration::from_millis(2));
        std::thread::sleep(pause.min(left));
        true
    }
}

/// The bytes the `usage` table holds for `user`.
fn usage_of(c: &Connection, user: &str) -> rusqlite::Result<usize> {
    Ok(c.prepare_cached("SELECT bytes FROM usage WHERE user = ?1")?
        .query_row([user], |r| r.get::<_, usize>(0))
        .optional()?
        .unwrap_or(0))
}

/// The row id and length of `key`'s value, if any.
fn value_row(c: &Connection, key: &StateKey) -> rusqlite::Result<Option<(i64, usize)>> {
    c.prepare_cached("SELECT id, length(data) FROM vals WHERE user = ?1 AND key = ?2")?
        .query_row([key.user(), key.key()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Makes `key`'s value `len` zero bytes (keeping its row); returns the row id.
fn upsert_zeros(c: &Connection, key: &StateKey, len: usize) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO vals (user, key, data) VALUES (?1, ?2, zeroblob(?3)) \
         ON CONFLICT (user, key) DO UPDATE SET data = excluded.data RETURNING id",
    )?
    .query_row(rusqlite::params![key.user(), key.key(), len], |r| r.get(0))
}

/// Pads `key`'s value with zeros to `len` bytes; returns the row id. (Blob handles cannot
/// change a value's length: the value is read and written whole, which only happens when a
/// range reaches past its end.)
fn grow(c: &Connection, key: &StateKey, len: usize) -> rusqlite::Result<i64> {
    let mut data: Vec<u8> = c
        .prepare_cached("SELECT data FROM vals WHERE user = ?1 AND key = ?2")?
        .query_row([key.user(), key.key()], |r| r.get(0))?;
    data.resize(len, 0);
    c.prepare_cached("UPDATE vals SET data = ?3 WHERE user = ?1 AND key = ?2 RETURNING id")?
        .query_row(rusqlite::params![key.user(), key.key(), data], |r| r.get(0))
}

/// Refuses values and list elements over [`MAX_EMBEDDED_VALUE_BYTES`].
fn check_size(key: &StateKey, len: usize) -> Result<()> {
    if len > MAX_EMBEDDED_VALUE_BYTES {
        return Err(too_large(key, len));
    }
    Ok(())
}

fn too_large(key: &StateKey, len: usize) -> StateError {
    StateError::LimitExceeded {
        key: key.clone(),
        limit: "max_global_value_bytes",
        max: MAX_EMBEDDED_VALUE_BYTES,
        detail: if len == usize::MAX {
            "a range ending past the address space".to_owned()
        } else {
            format!("the embedded global tier would hold a value of {len} bytes")
        },
    }
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`): lock leases of an earlier boot have
/// expired whatever their expiry says, since the boot-time clock started again.
fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|id| id.trim().to_owned())
            .unwrap_or_default()
    })
}

/// Milliseconds on the boot-time clock, the lease clock of every process of the machine.
fn lease_clock_ms() -> Exchange<i64> {
    let now = sys::boot_time()
        .map_err(|e| Failure::Other(format!("clock_gettime(CLOCK_BOOTTIME) failed: {e}")))?;
    Ok(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
}

impl GlobalTier for EmbeddedTier {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.exchange("get", key, |c| {
            Ok(
                c.prepare_cached("SELECT data FROM vals WHERE user = ?1 AND key = ?2")?
                    .query_row([key.user(), key.key()], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn get_range(&self, key: &StateKey, offset: usize, len: usize) -> Result<Vec<u8>> {
        self.read("get_range", key, |tx| {
            let Some((id, size)) = value_row(tx, key)? else {
                return Ok(Vec::new());
            };
            let mut out = vec![0; size.saturating_sub(offset).min(len)];
            if !out.is_empty() {
                tx.blob_open(rusqlite::MAIN_DB, "vals", "data", id, true)?
                    .read_at_exact(&mut out, offset)?;
            }
            Ok(out)
        })
    }

    fn get_range_into(&self, key: &StateKey, offset: usize, buf: &mut [u8]) -> Result<usize> {
        self.read("get_range_into", key, |tx| {
            let Some((id, size)) = value_row(tx, key)? else {
                return Ok(0);
            };
            let n = size.saturating_sub(offset).min(buf.len());
            if n > 0 {
                tx.blob_open(rusqlite::MAIN_DB, "vals", "data", id, true)?
                    .read_at_exact(&mut buf[..n], offset)?;
            }
            Ok(n)
        })
    }

    fn get_into_mapping(
        &self,
        key: &StateKey,
        dst: &SharedMapping,
        len: usize,
    ) -> Result<Option<usize>> {
        assert!(
            len <= dst.len(),
            "{len} bytes into a mapping of {}",
            dst.len()
        );
        let data = self.read("get_into_mapping", key, |tx| {
            let Some((id, size)) = value_row(tx, key)? else {
                return Ok(None);
            };
            if size != len {
                return Ok(Some(Err(size)));
            }
            // Read whole before `dst` is touched: a failure leaves it as it was.
            let data: Vec<u8> = tx
                .prepare_cached("SELECT data FROM vals WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            Ok(Some(Ok(data)))
        })?;
        Ok(data.map(|data| match data {
            Ok(data) => {
                dst.write(0, &data);
                data.len()
            }
            Err(size) => size,
        }))
    }

    fn set(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        self.store("set", key, data.len(), |c| {
            c.prepare_cached(
                "INSERT INTO vals (user, key, data) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user, key) DO UPDATE SET data = excluded.data",
            )?
            .execute(rusqlite::params![key.user(), key.key(), data])
            .map(drop)
        })
    }

    fn set_from_mapping(&self, key: &StateKey, src: &SharedMapping, len: usize) -> Result<()> {
        assert!(
            len <= src.len(),
            "{len} bytes from a mapping of {}",
            src.len()
        );
        // Zeros first, then the mapping's bytes through a bounded buffer straight into the
        // row: no copy of the whole value in this process's memory.
        self.store("set_from_mapping", key, len, |c| {
            let id = upsert_zeros(c, key, len)?;
            if len == 0 {
                return Ok(());
            }
            let mut blob = c.blob_open(rusqlite::MAIN_DB, "vals", "data", id, false)?;
            let mut chunk = vec![0; len.min(COPY_CHUNK)];
            let mut at = 0;
            while at < len {
                let n = (len - at).min(chunk.len());
                src.read(at, &mut chunk[..n]);
                blob.write_at(&chunk[..n], at)?;
                at += n;
            }
            Ok(())
        })
    }

    fn set_range(&self, key: &StateKey, offset: usize, data: &[u8]) -> Result<()> {
        self.write_ranges("set_range", key, &[(offset, data)])
    }

    fn set_ranges(&self, key: &StateKey, ranges: &[(usize, Vec<u8>)]) -> Result<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        let ranges: Vec<(usize, &[u8])> = ranges.iter().map(|(o, d)| (*o, d.as_slice())).collect();
        self.write_ranges("set_ranges", key, &ranges)
    }

    fn size(&self, key: &StateKey) -> Result<usize> {
        self.exchange("size", key, |c| {
            Ok(value_row(c, key)?.map_or(0, |(_, len)| len))
        })
    }

    fn delete(&self, key: &StateKey) -> Result<()> {
        self.write("delete", key, |tx| {
            if let Some((id, len)) = value_row(tx, key)? {
                self.charge(tx, key, entry_cost(Some(len)), 0)?;
                tx.prepare_cached("DELETE FROM vals WHERE id = ?1")?
                    .execute([id])?;
            }
            Ok(())
        })
    }

    fn append(&self, key: &StateKey, data: &[u8]) -> Result<usize> {
        check_size(key, data.len())?;
        self.write("append", key, |tx| {
            self.charge(tx, key, 0, entry_cost(Some(data.len())))?;
            let seq: i64 = tx
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM list_items WHERE user = ?1 AND key = ?2",
                )?
                .query_row([key.user(), key.key()], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO list_items (user, key, seq, data) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(rusqlite::params![key.user(), key.key(), seq, data])?;
            Ok(usize::try_from(seq + 1).unwrap_or(usize::MAX))
        })
    }

    fn list_range(&self, key: &StateKey, n: usize) -> Result<Vec<Vec<u8>>> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.exchange("list_range", key, |c| {
            let mut statement = c.prepare_cached(
                "SELECT data FROM list_items WHERE user = ?1 AND key = ?2 AND seq < ?3 \
                 ORDER BY seq",
            )?;
            let rows =
                statement.query_map(rusqlite::params![key.user(), key.key(), n], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<Vec<u8>>>>()?)
        })
    }

    fn clear_list(&self, key: &StateKey) -> Result<()> {
        self.write("clear_list", key, |tx| {
            let (bytes, count): (usize, usize) = tx
                .prepare_cached(
                    "SELECT COALESCE(SUM(length(data)), 0), COUNT(*) FROM list_items \
                     WHERE user = ?1 AND key = ?2",
                )?
                .query_row([key.user(), key.key()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if count > 0 {
                let cost = bytes.saturating_add(count.saturating_mul(entry_cost(Some(0))));
                self.charge(tx, key, cost, 0)?;
                tx.prepare_cached("DELETE FROM list_items WHERE user = ?1 AND key = ?2")?
                    .execute([key.user(), key.key()])?;
            }
            Ok(())
        })
    }

    fn try_lock(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        self.write("try_lock", key, |tx| {
            let now = lease_clock_ms()?;
            tx.prepare_cached("DELETE FROM locks WHERE boot <> ?1 OR expiry_ms <= ?2")?
                .execute(rusqlite::params![boot_id(), now])?;
            let (writers, holders): (i64, i64) = tx
                .prepare_cached(
                    "SELECT COALESCE(SUM(writer), 0), COUNT(*) FROM locks \
                     WHERE user = ?1 AND key = ?2",
                )?
                .query_row([key.user(), key.key()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let free = match mode {
                GlobalLockMode::Read => writers == 0,
                GlobalLockMode::Write => holders == 0,
            };
            if free {
                tx.prepare_cached(
                    "INSERT INTO locks (user, key, token, writer, boot, expiry_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(rusqlite::params![
                    key.user(),
                    key.key(),
                    token.as_str(),
                    mode == GlobalLockMode::Write,
                    boot_id(),
                    now.saturating_add(ttl_ms),
                ])?;
            }
            Ok(free)
        })
    }

    fn unlock(&self, key: &StateKey, token: &LockToken) -> Result<bool> {
        self.write("unlock", key, |tx| {
            let now = lease_clock_ms()?;
            let released = tx
                .prepare_cached(
                    "DELETE FROM locks WHERE user = ?1 AND key = ?2 AND token = ?3 \
                     AND boot = ?4 AND expiry_ms > ?5",
                )?
                .execute(rusqlite::params![
                    key.user(),
                    key.key(),
                    token.as_str(),
                    boot_id(),
                    now
                ])?;
            Ok(released > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::ENTRY_COST;
    use crate::{ErrorKind, within_deadline};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "faasm-embedded-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key(user: &str, k: &str) -> StateKey {
        StateKey::new(user, k).unwrap()
    }

    #[test]
    fn values_lists_and_usage_survive_reopening() {
        let dir = TempDir::new("reopen");
        {
            let tier = EmbeddedTier::open(&dir.0).unwrap();
            tier.set(&key("alice", "v"), b"hello").unwrap();
            tier.set_range(&key("alice", "v"), 7, b"!").unwrap();
            tier.append(&key("alice", "l"), b"one").unwrap();
            assert_eq!(tier.append(&key("alice", "l"), b"two").unwrap(), 2);
        }
        let tier = EmbeddedTier::open(&dir.0).unwrap();
        assert_eq!(
            tier.get(&key("alice", "v")).unwrap().unwrap(),
            b"hello\0\0!"
        );
        assert_eq!(
            tier.list_range(&key("alice", "l"), 5).unwrap(),
            [b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(tier.user_bytes("alice").unwrap(), 8 + 6 + 3 * ENTRY_COST);
        // The directory is private to the user running faasm-rs.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir.0).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn each_users_bytes_are_bounded_in_the_embedded_tier() {
        let dir = TempDir::new("quota");
        let tier = EmbeddedTier::open(&dir.0)
            .unwrap()
            .with_max_bytes_per_user(4 * ENTRY_COST);
        tier.set(&key("alice", "a"), &[1; 100]).unwrap();
        tier.append(&key("alice", "l"), &[2; 100]).unwrap();
        assert_eq!(tier.user_bytes("alice").unwrap(), 200 + 2 * ENTRY_COST);
        // Past the bound: refused, nothing changes.
        let error = tier
            .set(&key("alice", "b"), &[3; 2 * ENTRY_COST])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LimitExceeded);
        assert!(
            error
                .to_string()
                .contains("max_global_bytes_per_user limit (1024)"),
            "{error}"
        );
        assert!(
            error.to_string().contains("embedded global tier"),
            "{error}"
        );
        assert!(tier.get(&key("alice", "b")).unwrap().is_none());
        for error in [
            tier.set_range(&key("alice", "a"), 2 * ENTRY_COST, &[4])
                .unwrap_err(),
            tier.set_ranges(&key("alice", "c"), &[(0, vec![5; 2 * ENTRY_COST])])
                .unwrap_err(),
            tier.append(&key("alice", "l"), &[6; 2 * ENTRY_COST])
                .unwrap_err(),
        ] {
            assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
        }
        assert_eq!(tier.size(&key("alice", "a")).unwrap(), 100);
        assert_eq!(tier.size(&key("alice", "c")).unwrap(), 0);
        assert_eq!(tier.list_range(&key("alice", "l"), 5).unwrap().len(), 1);
        // Another user has bytes of its own.
        tier.set(&key("bob", "a"), &[5; 500]).unwrap();
        // Deleting and clearing give the bytes back; a smaller value costs less.
        tier.set(&key("alice", "a"), &[6; 10]).unwrap();
        assert_eq!(tier.user_bytes("alice").unwrap(), 110 + 2 * ENTRY_COST);
        tier.delete(&key("alice", "a")).unwrap();
        tier.clear_list(&key("alice", "l")).unwrap();
        assert_eq!(tier.user_bytes("alice").unwrap(), 0);
        tier.set(&key("alice", "b"), &[3; 2 * ENTRY_COST]).unwrap();
        // The bound counts what every process (every tier on the directory) stored.
        let other = EmbeddedTier::open(&dir.0)
            .unwrap()
            .with_max_bytes_per_user(4 * ENTRY_COST);
        let error = other
            .set(&key("alice", "c"), &[7; 2 * ENTRY_COST])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
    }

    #[test]
    fn values_past_512_mib_are_refused_before_anything_is_written() {
        let dir = TempDir::new("max-value");
        let tier = EmbeddedTier::open(&dir.0).unwrap();
        let k = key("alice", "big");
        for error in [
            tier.set_range(&k, MAX_EMBEDDED_VALUE_BYTES, b"x")
                .unwrap_err(),
            tier.set_range(&k, usize::MAX, b"x").unwrap_err(),
            tier.set_ranges(
                &k,
                &[(0, vec![1]), (MAX_EMBEDDED_VALUE_BYTES - 1, vec![1, 2])],
            )
            .unwrap_err(),
        ] {
            assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
            assert!(
                error.to_string().contains("max_global_value_bytes"),
                "{error}"
            );
        }
        assert_eq!(tier.size(&k).unwrap(), 0);
        assert!(tier.get(&k).unwrap().is_none());
    }

    /// Many processes opening one new directory at once (`faasm-run invoke` calls started
    /// together): one makes the database WAL and its tables while the others wait, and none
    /// answers "database is locked".
    #[test]
    fn opens_racing_on_a_new_directory_all_succeed() {
        for round in 0..20 {
            let dir = TempDir::new(&format!("racing-opens-{round}"));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let openers: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let tier = EmbeddedTier::open(&dir.0)?;
                            tier.set(&key("alice", "k"), b"v")
                        })
                    })
                    .collect();
                for opener in openers {
                    opener.join().unwrap().unwrap();
                }
            });
        }
    }

    /// Holds the database's write lock from another connection (as another process's commit
    /// would) until dropped.
    fn hold_write_lock(dir: &Path) -> Connection {
        let c = Connection::open(dir.join(EMBEDDED_DATABASE_FILE)).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        c
    }

    #[test]
    fn waits_for_a_busy_database_end_at_the_deadline_or_the_timeout() {
        let dir = TempDir::new("busy");
        let tier = EmbeddedTier::open(&dir.0)
            .unwrap()
            .with_timeout(Duration::from_secs(60));
        let k = key("alice", "k");
        tier.set(&k, b"old").unwrap();
        let holder = hold_write_lock(&dir.0);
        // Readers do not wait for the writer (WAL), nor does opening the tier again (another
        // `invoke` while `serve` commits).
        assert_eq!(tier.get(&k).unwrap().unwrap(), b"old");
        let start = Instant::now();
        within_deadline(Some(start + Duration::from_millis(100)), || {
            EmbeddedTier::open(&dir.0)
        })
        .unwrap();
        // A call's deadline ends the wait for the write lock, long before the tier's timeout.
        let start = Instant::now();
        let deadline = start + Duration::from_millis(200);
        let error = within_deadline(Some(deadline), || tier.set(&k, b"new")).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(error.kind(), ErrorKind::LockTimeout, "{error}");
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(10),
            "{waited:?}"
        );
        assert!(
            error.to_string().contains("embedded tier database write"),
            "{error}"
        );
        // A deadline already passed: no wait at all.
        let error = within_deadline(Some(Instant::now()), || tier.delete(&k)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LockTimeout, "{error}");
        // Without a deadline the tier's timeout ends it.
        let tier = tier.with_timeout(Duration::from_millis(200));
        let start = Instant::now();
        let error = tier
            .try_lock(
                &k,
                GlobalLockMode::Write,
                &LockToken::unique(),
                Duration::from_secs(1),
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LockTimeout, "{error}");
        assert!(start.elapsed() < Duration::from_secs(10));
        // Once the other writer is done, writes go through, and nothing half-done is left.
        drop(holder);
        assert_eq!(tier.get(&k).unwrap().unwrap(), b"old");
        tier.set(&k, b"new").unwrap();
        assert_eq!(tier.get(&k).unwrap().unwrap(), b"new");
    }

    #[test]
    fn a_write_waits_for_another_writer_that_finishes_in_time() {
        let dir = TempDir::new("busy-then-free");
        let tier = EmbeddedTier::open(&dir.0).unwrap();
        let holder = hold_write_lock(&dir.0);
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            holder.execute_batch("COMMIT").unwrap();
        });
        tier.set(&key("alice", "k"), b"v").unwrap();
        release.join().unwrap();
        assert_eq!(tier.get(&key("alice", "k")).unwrap().unwrap(), b"v");
    }

    #[test]
    fn threads_of_one_process_share_the_tier_through_its_connections() {
        let dir = TempDir::new("threads");
        let tier = EmbeddedTier::open(&dir.0).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let tier = &tier;
                s.spawn(move || {
                    for i in 0..50 {
                        tier.append(&key("alice", "l"), format!("{t}:{i}").as_bytes())
                            .unwrap();
                        tier.set(&key("alice", &format!("v{t}")), &[t as u8; 5000])
                            .unwrap();
                        tier.set_range(&key("alice", "shared"), t * 10, &[i as u8; 10])
                            .unwrap();
                    }
                });
            }
        });
        let list = tier.list_range(&key("alice", "l"), 1000).unwrap();
        assert_eq!(list.len(), 200);
        for t in 0..4 {
            let mine: Vec<_> = list
                .iter()
                .filter(|e| e.starts_with(format!("{t}:").as_bytes()))
                .collect();
            assert_eq!(mine.len(), 50);
            assert_eq!(mine[49], format!("{t}:49").as_bytes());
            assert_eq!(
                tier.get(&key("alice", &format!("v{t}"))).unwrap().unwrap(),
                vec![t as u8; 5000]
            );
        }
        assert_eq!(
            tier.get(&key("alice", "shared")).unwrap().unwrap(),
            vec![49; 40]
        );
        assert!(tier.idle.lock().unwrap().len() <= KEPT_CONNECTIONS);
    }

    #[test]
    fn directories_that_cannot_hold_the_tier_are_open_errors() {
        let dir = TempDir::new("open-errors");
        std::fs::create_dir_all(&dir.0).unwrap();
        // A file where the directory should be.
        let file = dir.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = EmbeddedTier::open(&file).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Open, "{error}");
        assert!(error.to_string().contains("file"), "{error}");
        // A database file that is not a database.
        let garbage = dir.0.join("garbage");
        std::fs::create_dir_all(&garbage).unwrap();
        std::fs::write(garbage.join(EMBEDDED_DATABASE_FILE), vec![0x5a; 8192]).unwrap();
        let error = EmbeddedTier::open(&garbage).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Open, "{error}");
        // A database of a newer schema.
        let newer = dir.0.join("newer");
        drop(EmbeddedTier::open(&newer).unwrap());
        Connection::open(newer.join(EMBEDDED_DATABASE_FILE))
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = EmbeddedTier::open(&newer).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Open, "{error}");
        assert!(error.to_string().contains("schema version"), "{error}");
    }

    #[test]
    fn pulls_into_a_mapping_only_write_a_value_of_the_expected_length() {
        let dir = TempDir::new("mapping");
        let tier = EmbeddedTier::open(&dir.0).unwrap();
        let file = sys::memfd("test", 8192).unwrap();
        let mapping = SharedMapping::new(&file, 0, 8192).unwrap();
        mapping.write(0, &[9; 8192]);
        let k = key("alice", "m");
        assert_eq!(tier.get_into_mapping(&k, &mapping, 5000).unwrap(), None);
        tier.set(&k, &[1; 6000]).unwrap();
        assert_eq!(
            tier.get_into_mapping(&k, &mapping, 5000).unwrap(),
            Some(6000)
        );
        let mut seen = vec![0; 8192];
        mapping.read(0, &mut seen);
        assert!(seen.iter().all(|b| *b == 9), "a mismatch wrote nothing");
        assert_eq!(
            tier.get_into_mapping(&k, &mapping, 6000).unwrap(),
            Some(6000)
        );
        mapping.read(0, &mut seen);
        assert!(seen[..6000].iter().all(|b| *b == 1) && seen[6000..].iter().all(|b| *b == 9));
        // And a push from a mapping stores exactly its first `len` bytes.
        mapping.write(100, &[2; 4000]);
        tier.set_from_mapping(&k, &mapping, 7000).unwrap();
        let mut want = vec![0; 8192];
        mapping.read(0, &mut want);
        assert_eq!(tier.get(&k).unwrap().unwrap(), want[..7000]);
    }
}
