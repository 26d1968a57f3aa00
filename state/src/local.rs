//! The local tier: one copy of each value per host, in a memfd region, with per-chunk pulled and
//! dirty tracking, host-local locks and the host's side of global locks.
//!
//! **Bounds.** A host holds a bounded set of values ([`StateLimits`]): per user, at most
//! `max_keys_per_user` values and `max_bytes_per_user` bytes (page-rounded sizes), no value
//! over `max_value_bytes`, and at most `max_resident_values` values in all. Each resident value
//! costs one file descriptor (its memfd) and up to one mapping of the process. When a new value
//! would pass a bound, the tier first evicts *unused* values, least recently used first, and
//! fails with [`StateError::LimitExceeded`] (naming the limit and its value) only if that does
//! not make room. A value is unused when:
//! - nothing outside the tier holds it: no call has it mapped into its memory (a call's
//!   mappings hold it until the call ends) and no operation on it is under way;
//! - it has no dirty chunk (nothing waits to be pushed);
//! - it has not been mapped into a Faaslet since it was last pushed or pulled whole (writes
//!   through a mapping are only known once flagged dirty, so such a value may hold unflagged
//!   writes: it stays until a push or pull);
//! - nobody holds or waits for its host-local lock, and this host holds none of its global
//!   locks.
//!
//! An evicted value is only this host's cached copy of what the global tier holds (or zeros of
//! a value never pushed and never written): its next use makes a new copy and pulls lazily.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::global::{GlobalLockMode, GlobalTier, InProcessTier, LockToken};
use crate::lock::ExplicitRwLock;
use crate::{Result, StateError, StateKey, sys};

/// How long a global lock lives unless released (a host that dies does not block others forever).
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(30);
/// How long taking a global lock waits before failing with [`StateError::LockTimeout`].
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest receive buffer a local tier keeps between pulls (a larger pull gets one of its
/// own, freed afterwards).
const KEPT_SCRATCH_MAX: usize = 4 << 20;

/// The bounds of a host's local tier: per user (every user gets the same), and for the host.
/// See the module docs for how they are enforced and what eviction keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// The largest value, in bytes (also the largest element appended to a list). Default
    /// 256 MiB.
    pub max_value_bytes: usize,
    /// Values one user may have on this host at once. Default 256.
    pub max_keys_per_user: usize,
    /// Bytes (sizes rounded up to pages) of one user's values on this host. Default 1 GiB.
    pub max_bytes_per_user: usize,
    /// Values on this host in all (each holds a file descriptor). Default 1024.
    pub max_resident_values: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_value_bytes: 256 << 20,
            max_keys_per_user: 256,
            max_bytes_per_user: 1 << 30,
            max_resident_values: 1024,
        }
    }
}

/// One user's values on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    keys: usize,
    bytes: usize,
}

/// The values on this host and what each user holds.
#[derive(Default)]
struct Resident {
    values: HashMap<StateKey, Arc<StateValue>>,
    usage: HashMap<String, Usage>,
}

impl Resident {
    fn insert(&mut self, value: Arc<StateValue>) {
        let usage = self.usage.entry(value.key.user().to_owned()).or_default();
        usage.keys += 1;
        usage.bytes += value.mapped_len;
        self.values.insert(value.key.clone(), value);
    }

    fn remove(&mut self, key: &StateKey) -> Option<Arc<StateValue>> {
        let value = self.values.remove(key)?;
        if let Some(usage) = self.usage.get_mut(key.user()) {
            usage.keys -= 1;
            usage.bytes -= value.mapped_len;
            if usage.keys == 0 {
                self.usage.remove(key.user());
            }
        }
        Some(value)
    }

    fn usage(&self, user: &str) -> Usage {
        self.usage.get(user).copied().unwrap_or_default()
    }
}

/// Bytes moved between this host and the global tier since the tier was made (or since
/// [`LocalTier::reset_stats`]): payload bytes only (values, ranges, list elements), not protocol
/// overhead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Bytes sent to the global tier (push, partial push, append).
    pub sent: u64,
    /// Bytes received from the global tier (pull, lazy pulls, refreshes, read of append lists).
    pub received: u64,
}

/// A fixed-length set of bits, one per chunk.
#[derive(Debug, Clone)]
struct Bitmap {
    words: Vec<u64>,
    len: usize,
}

impl Bitmap {
    fn new(len: usize, value: bool) -> Bitmap {
        let mut map = Bitmap {
            words: vec![0; len.div_ceil(64)],
            len,
        };
        map.set_range(0, len, value);
        map
    }

    fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    fn set_range(&mut self, start: usize, end: usize, value: bool) {
        for i in start..end.min(self.len) {
            if value {
                self.words[i / 64] |= 1 << (i % 64);
            } else {
                self.words[i / 64] &= !(1 << (i % 64));
            }
        }
    }

    fn any(&self) -> bool {
        self.words.iter().any(|&w| w != 0)
    }

    /// The maximal runs `[s, e)` within `[start, end)` whose bits equal `value`.
    fn runs(&self, start: usize, end: usize, value: bool) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut i = start;
        let end = end.min(self.len);
        while i < end {
            if self.get(i) != value {
                i += 1;
                continue;
            }
            let s = i;
            while i < end && self.get(i) == value {
                i += 1;
            }
            runs.push((s, i));
        }
        runs
    }
}

/// Per-chunk tracking of a value. Invariant: every dirty chunk is pulled (a chunk is pulled
/// before a partial write to it or before flagging it dirty), so pushing never sends bytes that
/// were never fetched.
#[derive(Debug)]
struct Chunks {
    pulled: Bitmap,
    dirty: Bitmap,
    /// Whether the global tier is known to hold the value (pulled from it, or pushed to it).
    in_global: bool,
    /// Whether a Faaslet may have mapped the value since its last whole push or pull (so it
    /// may hold writes nobody flagged dirty): such a value is not evicted.
    mapped: bool,
}

/// One value on this host: a memfd of the value's size (rounded up to a page), shared by every
/// Faaslet on the host that maps it. Obtained from [`LocalTier::value_for_mapping`] or
/// [`LocalTier::value_for_mapping_range`].
pub struct StateValue {
    key: StateKey,
    size: usize,
    mapped_len: usize,
    file: File,
    chunks: Mutex<Chunks>,
    /// A mapping of the memfd in this process, made by the first whole push or pull: the
    /// global tier sends pushed values from it and receives pulled ones straight into it (see
    /// [`GlobalTier::set_from_mapping`] and [`GlobalTier::get_into_mapping`]). Address space
    /// only: its pages are the memfd's.
    host_mapping: OnceLock<sys::SharedMapping>,
    /// The tier's clock at the value's last use (least recently used values go first).
    last_used: AtomicU64,
}

impl fmt::Debug for StateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateValue")
            .field("key", &self.key)
            .field("size", &self.size)
            .field("mapped_len", &self.mapped_len)
            .finish_non_exhaustive()
    }
}

impl StateValue {
    /// The value's key.
    pub fn key(&self) -> &StateKey {
        &self.key
    }

    /// The value's size in bytes (fixed at creation).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The memfd's length: the size rounded up to whole pages. Map this many bytes (or fewer
    /// pages) with `MAP_SHARED`; bytes past [`StateValue::size`] are zero and never pushed.
    pub fn mapped_len(&self) -> usize {
        self.mapped_len
    }

    /// The page size: mapping offsets are multiples of it, and it is the chunk size of the
    /// pulled/dirty tracking.
    pub fn page_size(&self) -> usize {
        sys::page_size()
    }

    /// The memfd holding the value, for `mmap(MAP_SHARED | MAP_FIXED)` by the runtime.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The memfd as a file (e.g. for [`sys::SharedMapping::new`]).
    pub fn file(&self) -> &File {
        &self.file
    }

    fn chunks(&self) -> MutexGuard<'_, Chunks> {
        // Bitmaps are updated after the data they describe, one step at a time: a panic leaves
        // them describing a state at least as conservative as the truth.
        self.chunks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io(&self, operation: &'static str) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            key: self.key.clone(),
            operation,
            source,
        }
    }

    /// The value's mapping in this process, made on first use (see the field of the same name).
    fn host_mapping(&self) -> Result<&sys::SharedMapping> {
        if let Some(mapping) = self.host_mapping.get() {
            return Ok(mapping);
        }
        let mapping = sys::SharedMapping::new(&self.file, 0, self.mapped_len)
            .map_err(self.io("host mapping"))?;
        // Another thread may have made one meanwhile: the first one in is kept.
        Ok(self.host_mapping.get_or_init(|| mapping))
    }

    fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact_at(buf, offset as u64)
            .map_err(self.io("read"))
    }

    fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.file
            .write_all_at(data, offset as u64)
            .map_err(self.io("write"))
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(StateError::OutOfBounds {
                key: self.key.clone(),
                offset,
                len,
                size: self.size,
            }),
        }
    }

    fn check_size(&self, expected: usize, context: &'static str) -> Result<()> {
        if expected == self.size {
            Ok(())
        } else {
            Err(StateError::SizeMismatch {
                key: self.key.clone(),
                expected,
                actual: self.size,
                context,
            })
        }
    }

    /// The chunks covering `[offset, offset + len)`.
    fn chunk_span(&self, offset: usize, len: usize) -> (usize, usize) {
        let page = sys::page_size();
        if len == 0 {
            return (offset / page, offset / page);
        }
        (offset / page, (offset + len).div_ceil(page))
    }

    /// The byte range of chunks `[start, end)`, clipped to the value.
    fn chunk_bytes(&self, start: usize, end: usize) -> (usize, usize) {
        let page = sys::page_size();
        let from = start * page;
        let to = (end * page).min(self.size);
        (from, to - from)
    }
}

/// How [`LocalTier::value`] treats a key that neither tier holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Fail with [`StateError::NotFound`].
    Fail,
    /// Create a zero value of the given size (nothing to pull).
    Create,
}

/// The local tier of one host: every state value used on the host, once, in a memfd; the host's
/// global locks; the byte counters of its traffic with the global tier. All methods take `&self`
/// and may be called from any thread (one `LocalTier` per host, shared by its Faaslets).
pub struct LocalTier {
    global: Arc<dyn GlobalTier>,
    values: Mutex<Resident>,
    limits: StateLimits,
    /// Counts uses of values, for least-recently-used eviction.
    clock: AtomicU64,
    evictions: AtomicU64,
    local_locks: Mutex<HashMap<StateKey, Arc<ExplicitRwLock>>>,
    /// The global locks this host's calls hold, per key: several read locks (one per call that
    /// took one), or one write lock.
    global_locks: Mutex<HashMap<StateKey, Vec<(GlobalLockMode, LockToken)>>>,
    sent: AtomicU64,
    received: AtomicU64,
    lock_ttl: Duration,
    lock_timeout: Duration,
    /// Where lazy pulls receive chunks before writing them into the memfd (see
    /// [`LocalTier::with_scratch`]). Its length only grows, up to [`KEPT_SCRATCH_MAX`].
    scratch: Mutex<Vec<u8>>,
}

impl fmt::Debug for LocalTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTier")
            .field("global", &self.global)
            .field("values", &lock(&self.values).values.len())
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn local_lock_timeout(key: &StateKey, lock: &'static str, started: Instant) -> StateError {
    StateError::LockTimeout {
        key: key.clone(),
        lock,
        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps are only ever changed by single inserts and removes: never half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LocalTier {
    /// A host's local tier over `global` (shared with the other hosts).
    pub fn new(global: Arc<dyn GlobalTier>) -> LocalTier {
        LocalTier {
            global,
            values: Mutex::default(),
            limits: StateLimits::default(),
            clock: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            local_locks: Mutex::default(),
            global_locks: Mutex::default(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            lock_ttl: DEFAULT_LOCK_TTL,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            scratch: Mutex::default(),
        }
    }

    /// A local tier over a fresh [`InProcessTier`] of its own: one host, nothing to set up.
    pub fn in_process() -> LocalTier {
        LocalTier::new(Arc::new(InProcessTier::new()))
    }

    /// Sets how long a global lock lives unless released (default 30 s) and how long taking one
    /// waits before failing (default 10 s).
    pub fn with_lock_times(mut self, ttl: Duration, timeout: Duration) -> LocalTier {
        self.lock_ttl = ttl;
        self.lock_timeout = timeout;
        self
    }

    /// Sets the host's bounds (default [`StateLimits::default`]).
    pub fn with_limits(mut self, limits: StateLimits) -> LocalTier {
        self.limits = limits;
        self
    }

    /// The host's bounds.
    pub fn limits(&self) -> &StateLimits {
        &self.limits
    }

    /// Values on this host now.
    pub fn resident_values(&self) -> usize {
        lock(&self.values).values.len()
    }

    /// Values of `user` on this host now, and their bytes (sizes rounded up to pages).
    pub fn user_usage(&self, user: &str) -> (usize, usize) {
        let usage = lock(&self.values).usage(user);
        (usage.keys, usage.bytes)
    }

    /// Values evicted so far to make room for others.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// The global tier this host synchronises through.
    pub fn global(&self) -> &Arc<dyn GlobalTier> {
        &self.global
    }

    /// Bytes sent to and received from the global tier so far.
    pub fn stats(&self) -> TransferStats {
        TransferStats {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }

    /// Sets both byte counters back to zero.
    pub fn reset_stats(&self) {
        self.sent.store(0, Ordering::Relaxed);
        self.received.store(0, Ordering::Relaxed);
    }

    fn count_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn count_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Calls `f` with a buffer of `len` bytes (contents unspecified) to receive into: the kept
    /// scratch buffer if it is free and small enough to keep, else a new one. A lazy (chunk)
    /// pull receives its range whole before touching the memfd, so a transfer that fails
    /// half-way leaves the local copy as it was; reusing the buffer saves a `memset` (and, past
    /// the allocator's mmap threshold, page faults) per pull.
    fn with_scratch<T>(&self, len: usize, f: impl FnOnce(&mut [u8]) -> Result<T>) -> Result<T> {
        if len <= KEPT_SCRATCH_MAX
            && let Ok(mut kept) = self.scratch.try_lock()
        {
            if kept.len() < len {
                kept.resize(len, 0);
            }
            return f(&mut kept[..len]);
        }
        f(&mut vec![0; len])
    }

    /// The value of `key` on this host, if it has one.
    pub fn local_value(&self, key: &StateKey) -> Option<Arc<StateValue>> {
        let value = lock(&self.values).values.get(key).cloned()?;
        self.touch(&value);
        Some(value)
    }

    /// Marks `value` as used now.
    fn touch(&self, value: &StateValue) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        value.last_used.store(now, Ordering::Relaxed);
    }

    fn local_or_not_found(&self, key: &StateKey) -> Result<Arc<StateValue>> {
        self.local_value(key)
            .ok_or_else(|| StateError::NotFound { key: key.clone() })
    }

    /// The value of `key` with size `size`: this host's copy, or a new one (nothing pulled yet)
    /// if the global tier has the value, or per `missing`. Sizes must agree everywhere.
    fn value(&self, key: &StateKey, size: usize, missing: Missing) -> Result<Arc<StateValue>> {
        if size == 0 {
            return Err(StateError::ZeroSize { key: key.clone() });
        }
        if let Some(value) = self.local_value(key) {
            value.check_size(size, "local value")?;
            return Ok(value);
        }
        // Ask the global tier without holding the map: other keys must not wait on the network.
        let global_size = self.global.size(key)?;
        let in_global = global_size > 0;
        if in_global && global_size != size {
            return Err(StateError::SizeMismatch {
                key: key.clone(),
                expected: size,
                actual: global_size,
                context: "global tier",
            });
        }
        if !in_global && missing == Missing::Fail {
            return Err(StateError::NotFound { key: key.clone() });
        }
        if size > self.limits.max_value_bytes {
            return Err(StateError::LimitExceeded {
                key: key.clone(),
                limit: "max_value_bytes",
                max: self.limits.max_value_bytes,
                detail: format!("a value of {size} bytes"),
            });
        }
        let mapped_len = sys::round_up_to_page(size).ok_or(StateError::OutOfBounds {
            key: key.clone(),
            offset: 0,
            len: size,
            size: usize::MAX,
        })?;
        let file = sys::memfd(&format!("faasm-state:{key}"), mapped_len).map_err(|source| {
            StateError::Io {
                key: key.clone(),
                operation: "memfd creation",
                source,
            }
        })?;
        let n_chunks = mapped_len / sys::page_size();
        let value = Arc::new(StateValue {
            key: key.clone(),
            size,
            mapped_len,
            file,
            host_mapping: OnceLock::new(),
            chunks: Mutex::new(Chunks {
                // Nothing to fetch for a value the global tier does not have.
                pulled: Bitmap::new(n_chunks, !in_global),
                dirty: Bitmap::new(n_chunks, false),
                in_global,
                mapped: false,
            }),
            last_used: AtomicU64::new(0),
        });
        self.touch(&value);
        let mut resident = lock(&self.values);
        // Another thread may have made it meanwhile: the first one in wins.
        if let Some(existing) = resident.values.get(key).cloned() {
            drop(resident);
            existing.check_size(size, "local value")?;
            return Ok(existing);
        }
        self.make_room(&mut resident, key, mapped_len)?;
        resident.insert(Arc::clone(&value));
        Ok(value)
    }

    /// Evicts unused values until a new value of `key` with `bytes` (page-rounded) fits every
    /// bound, or fails naming the bound it would pass.
    fn make_room(&self, resident: &mut Resident, key: &StateKey, bytes: usize) -> Result<()> {
        let limits = &self.limits;
        let user = key.user();
        let user_fits = |r: &Resident| {
            let usage = r.usage(user);
            usage.keys < limits.max_keys_per_user
                && usage.bytes.saturating_add(bytes) <= limits.max_bytes_per_user
        };
        if !user_fits(resident) {
            self.evict_unused(resident, Some(user), |r| user_fits(r));
        }
        let usage = resident.usage(user);
        let exceeded = |limit, max, detail: String| StateError::LimitExceeded {
            key: key.clone(),
            limit,
            max,
            detail,
        };
        if usage.keys >= limits.max_keys_per_user {
            return Err(exceeded(
                "max_keys_per_user",
                limits.max_keys_per_user,
                format!(
                    "user {user} holds {} values on this host, none of them unused",
                    usage.keys
                ),
            ));
        }
        if usage.bytes.saturating_add(bytes) > limits.max_bytes_per_user {
            return Err(exceeded(
                "max_bytes_per_user",
                limits.max_bytes_per_user,
                format!(
                    "user {user} holds {} bytes on this host and the value needs {bytes} more",
                    usage.bytes
                ),
            ));
        }
        let host_fits = |r: &Resident| r.values.len() < limits.max_resident_values;
        if !host_fits(resident) {
            self.evict_unused(resident, None, host_fits);
        }
        if !host_fits(resident) {
            return Err(exceeded(
                "max_resident_values",
                limits.max_resident_values,
                format!(
                    "this host holds {} values, none of them unused",
                    resident.values.len()
                ),
            ));
        }
        Ok(())
    }

    /// Evicts unused values (of `user`, or of anyone), least recently used first, until `fits`
    /// holds, and then a few more (an eighth of those considered), so that a stream of new
    /// values does not scan the map at every step.
    fn evict_unused(
        &self,
        resident: &mut Resident,
        user: Option<&str>,
        fits: impl Fn(&Resident) -> bool,
    ) {
        let mut considered = 0;
        let mut unused: Vec<(u64, StateKey)> = Vec::new();
        for (key, value) in &resident.values {
            if user.is_some_and(|user| key.user() != user) {
                continue;
            }
            considered += 1;
            if self.is_unused(value) {
                unused.push((value.last_used.load(Ordering::Relaxed), key.clone()));
            }
        }
        unused.sort_unstable();
        let extra = considered / 8;
        let mut evicted = 0;
        for (_, key) in unused {
            if fits(resident) && evicted >= extra {
                break;
            }
            resident.remove(&key);
            self.forget_local_lock(&key);
            evicted += 1;
        }
        self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    }

    /// Whether `value` (in the map, which the caller holds) may be evicted: see the module docs.
    fn is_unused(&self, value: &Arc<StateValue>) -> bool {
        // Only the map holds it: nobody can take another reference while the map is held.
        if Arc::strong_count(value) != 1 {
            return false;
        }
        let chunks = value.chunks();
        if chunks.dirty.any() || chunks.mapped {
            return false;
        }
        drop(chunks);
        let key = &value.key;
        if lock(&self.global_locks).contains_key(key) {
            return false;
        }
        let local = lock(&self.local_locks).get(key).cloned();
        match local {
            None => true,
            // Free only if it can be taken now (and it is given back at once).
            Some(lock) => lock.try_lock_write() && lock.unlock_write(),
        }
    }

    /// Drops the host-local lock of an evicted key if nobody holds or uses it.
    fn forget_local_lock(&self, key: &StateKey) {
        let mut locks = lock(&self.local_locks);
        if let Some(local) = locks.get(key)
            && Arc::strong_count(local) == 1
            && local.try_lock_write()
            && local.unlock_write()
        {
            locks.remove(key);
        }
    }

    /// Fetches the chunks of `[offset, offset + len)` that are not pulled yet. The caller holds
    /// `chunks`.
    fn pull_chunks(
        &self,
        value: &StateValue,
        chunks: &mut Chunks,
        offset: usize,
        len: usize,
    ) -> Result<()> {
        let (start, end) = value.chunk_span(offset, len);
        for (s, e) in chunks.pulled.runs(start, end, false) {
            let (from, n) = value.chunk_bytes(s, e);
            self.with_scratch(n, |buf| {
                // Written only when whole: a short range (the value shrank) changes nothing.
                let mut write_whole = |bytes: &[u8]| {
                    if bytes.len() == n {
                        value.write_bytes(from, bytes)
                    } else {
                        Ok(())
                    }
                };
                let got = self
                    .global
                    .get_range_with(&value.key, from, buf, &mut write_whole)?
                    .min(n);
                self.count_received(got);
                if got != n {
                    let actual = self.global.size(&value.key).unwrap_or(from + got);
                    return Err(StateError::SizeMismatch {
                        key: value.key.clone(),
                        expected: value.size,
                        actual,
                        context: "global tier (value changed size or vanished since first use)",
                    });
                }
                Ok(())
            })?;
            chunks.pulled.set_range(s, e, true);
        }
        Ok(())
    }

    /// The value's size: this host's copy, else the global tier's (0 if absent). The
    /// `__faasm_read_state` call with `len == 0`.
    pub fn size(&self, key: &StateKey) -> Result<usize> {
        match self.local_value(key) {
            Some(value) => Ok(value.size),
            None => self.global.size(key),
        }
    }

    /// Copies the whole value into `buf` (whose length must be the value's size), pulling the
    /// chunks not pulled yet; returns the size. An empty `buf` only returns the size (0 if the
    /// value is absent), as `__faasm_read_state` with `len == 0`.
    pub fn read(&self, key: &StateKey, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return self.size(key);
        }
        let value = self.value(key, buf.len(), Missing::Fail)?;
        let mut chunks = value.chunks();
        self.pull_chunks(&value, &mut chunks, 0, value.size)?;
        value.read_bytes(0, buf)?;
        Ok(value.size)
    }

    /// Copies `buf.len()` bytes from `offset` of the value (of size `total_len`), pulling only
    /// the chunks of that range that are not pulled yet.
    pub fn read_at(
        &self,
        key: &StateKey,
        total_len: usize,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<()> {
        let value = self.value(key, total_len, Missing::Fail)?;
        value.check_range(offset, buf.len())?;
        let mut chunks = value.chunks();
        self.pull_chunks(&value, &mut chunks, offset, buf.len())?;
        value.read_bytes(offset, buf)
    }

    /// Overwrites the whole value with `data` (creating it with size `data.len()` if no tier has
    /// it) and marks it dirty. No push.
    pub fn write(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        let value = self.value(key, data.len(), Missing::Create)?;
        let mut chunks = value.chunks();
        value.write_bytes(0, data)?;
        let n = chunks.pulled.len;
        chunks.pulled.set_range(0, n, true);
        chunks.dirty.set_range(0, n, true);
        Ok(())
    }

    /// Writes `data` at `offset` of the value (of size `total_len`, created if no tier has it)
    /// and marks that range dirty. Chunks only partly written are pulled first.
    pub fn write_at(
        &self,
        key: &StateKey,
        total_len: usize,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let value = self.value(key, total_len, Missing::Create)?;
        value.check_range(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let page = sys::page_size();
        let end = offset + data.len();
        let mut chunks = value.chunks();
        // Only the first and last chunk can be partly covered.
        if !offset.is_multiple_of(page) {
            self.pull_chunks(&value, &mut chunks, offset, 1)?;
        }
        if !end.is_multiple_of(page) && end != value.size {
            self.pull_chunks(&value, &mut chunks, end - 1, 1)?;
        }
        value.write_bytes(offset, data)?;
        let (s, e) = value.chunk_span(offset, data.len());
        chunks.pulled.set_range(s, e, true);
        chunks.dirty.set_range(s, e, true);
        Ok(())
    }

    /// Marks the whole value dirty (after writes through a mapping), pulling what is not pulled.
    pub fn flag_dirty(&self, key: &StateKey, total_len: usize) -> Result<()> {
        self.flag_dirty_range(key, total_len, 0, total_len)
    }

    /// Marks `[offset, offset + len)` dirty, pulling the chunks of it not pulled yet.
    pub fn flag_dirty_range(
        &self,
        key: &StateKey,
        total_len: usize,
        offset: usize,
        len: usize,
    ) -> Result<()> {
        let value = self.value(key, total_len, Missing::Create)?;
        value.check_range(offset, len)?;
        let mut chunks = value.chunks();
        self.pull_chunks(&value, &mut chunks, offset, len)?;
        let (s, e) = value.chunk_span(offset, len);
        chunks.dirty.set_range(s, e, true);
        Ok(())
    }

    /// If the value is dirty, sends the whole of it to the global tier (pulling first any chunk
    /// never pulled, so the push cannot overwrite another host's data with zeros).
    pub fn push(&self, key: &StateKey) -> Result<()> {
        let value = self.local_or_not_found(key)?;
        let mut chunks = value.chunks();
        if !chunks.dirty.any() {
            return Ok(());
        }
        self.pull_chunks(&value, &mut chunks, 0, value.size)?;
        self.send_whole(&value)?;
        let n = chunks.dirty.len;
        chunks.dirty.set_range(0, n, false);
        chunks.in_global = true;
        // The whole memfd went out: the global tier has every write, flagged or not.
        chunks.mapped = false;
        Ok(())
    }

    /// Sends only the dirty chunks, then refreshes the whole local copy from the global tier
    /// (picking up other hosts' pushes). Nothing happens if nothing is dirty. If the global tier
    /// does not have the value yet, the whole value is sent instead.
    pub fn push_partial(&self, key: &StateKey) -> Result<()> {
        let value = self.local_or_not_found(key)?;
        let mut chunks = value.chunks();
        if !chunks.dirty.any() {
            return Ok(());
        }
        let ranges: Vec<(usize, usize)> = chunks
            .dirty
            .runs(0, chunks.dirty.len, true)
            .into_iter()
            .map(|(s, e)| value.chunk_bytes(s, e))
            .collect();
        self.send_ranges_and_refresh(&value, &mut chunks, &ranges)
    }

    /// As [`LocalTier::push_partial`], but the bytes sent are those where the value of
    /// `mask_key` (same size, same host) is non-zero, whatever the dirty flags say.
    pub fn push_partial_mask(&self, key: &StateKey, mask_key: &StateKey) -> Result<()> {
        let value = self.local_or_not_found(key)?;
        let mask = self.value(mask_key, value.size, Missing::Fail)?;
        let mut mask_bytes = vec![0; mask.size];
        {
            let mut mask_chunks = mask.chunks();
            self.pull_chunks(&mask, &mut mask_chunks, 0, mask.size)?;
            mask.read_bytes(0, &mut mask_bytes)?;
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < mask_bytes.len() {
            if mask_bytes[i] == 0 {
                i += 1;
                continue;
            }
            let s = i;
            while i < mask_bytes.len() && mask_bytes[i] != 0 {
                i += 1;
            }
            ranges.push((s, i - s));
        }
        let mut chunks = value.chunks();
        for &(off, len) in &ranges {
            self.pull_chunks(&value, &mut chunks, off, len)?;
        }
        self.send_ranges_and_refresh(&value, &mut chunks, &ranges)
    }

    /// Sends `ranges` (offset, length) of the value, then replaces the local copy with the
    /// global one. The caller holds `chunks`; the ranges' chunks are pulled.
    fn send_ranges_and_refresh(
        &self,
        value: &StateValue,
        chunks: &mut Chunks,
        ranges: &[(usize, usize)],
    ) -> Result<()> {
        let key = &value.key;
        if !chunks.in_global && self.global.size(key)? == 0 {
            // A partial first push would leave a short (zero-padded at best) global value.
            self.pull_chunks(value, chunks, 0, value.size)?;
            self.send_whole(value)?;
        } else {
            let mut parts = Vec::with_capacity(ranges.len());
            for &(off, len) in ranges {
                let mut data = vec![0; len];
                value.read_bytes(off, &mut data)?;
                parts.push((off, data));
            }
            self.global.set_ranges(key, &parts)?;
            self.count_sent(parts.iter().map(|(_, d)| d.len()).sum());
        }
        chunks.in_global = true;
        let n = chunks.dirty.len;
        chunks.dirty.set_range(0, n, false);
        self.refresh(value, chunks)
    }

    /// Sends the whole value (every chunk pulled) to the global tier from the value's host
    /// mapping (the Redis tier has the kernel read it from there: no intermediate buffer).
    fn send_whole(&self, value: &StateValue) -> Result<()> {
        self.global
            .set_from_mapping(&value.key, value.host_mapping()?, value.size)?;
        self.count_sent(value.size);
        Ok(())
    }

    /// Replaces the whole local copy with the global value, received straight into the
    /// value's host mapping. The caller holds `chunks`. On failure the local copy is unchanged
    /// (the tier writes the mapping only once it has the whole value).
    fn refresh(&self, value: &StateValue, chunks: &mut Chunks) -> Result<()> {
        let key = &value.key;
        let n = self
            .global
            .get_into_mapping(key, value.host_mapping()?, value.size)?
            .ok_or_else(|| StateError::NotFound { key: key.clone() })?;
        self.count_received(n);
        if n != value.size {
            return Err(StateError::SizeMismatch {
                key: key.clone(),
                expected: value.size,
                actual: n,
                context: "global tier",
            });
        }
        let n = chunks.pulled.len;
        chunks.pulled.set_range(0, n, true);
        chunks.dirty.set_range(0, n, false);
        chunks.in_global = true;
        // The local copy is the global one now.
        chunks.mapped = false;
        Ok(())
    }

    /// Fetches the whole value (of size `total_len`) from the global tier, replacing this host's
    /// copy (local changes not pushed are lost; the value is clean afterwards).
    pub fn pull(&self, key: &StateKey, total_len: usize) -> Result<()> {
        let value = self.value(key, total_len, Missing::Fail)?;
        let mut chunks = value.chunks();
        self.refresh(&value, &mut chunks)
    }

    /// The value of `key` (size `total_len`, created if no tier has it) with every chunk pulled,
    /// ready to be mapped whole (`__faasm_read_state_ptr`). Every call returns the same value
    /// (the same memfd) for the same key on this host.
    pub fn value_for_mapping(&self, key: &StateKey, total_len: usize) -> Result<Arc<StateValue>> {
        self.value_for_mapping_range(key, total_len, 0, total_len)
    }

    /// The value of `key` (size `total_len`, created if no tier has it) with the chunks (pages)
    /// of `[offset, offset + len)` pulled, ready for the runtime to map those pages
    /// (`__faasm_read_state_offset_ptr`).
    pub fn value_for_mapping_range(
        &self,
        key: &StateKey,
        total_len: usize,
        offset: usize,
        len: usize,
    ) -> Result<Arc<StateValue>> {
        let value = self.value(key, total_len, Missing::Create)?;
        value.check_range(offset, len)?;
        {
            let mut chunks = value.chunks();
            self.pull_chunks(&value, &mut chunks, offset, len)?;
            chunks.mapped = true;
        }
        Ok(value)
    }

    /// Deletes the value on this host and in the global tier (its append list stays).
    pub fn delete(&self, key: &StateKey) -> Result<()> {
        self.global.delete(key)?;
        lock(&self.values).remove(key);
        self.forget_local_lock(key);
        Ok(())
    }

    /// Appends `data` as one element of the key's list in the global tier.
    pub fn append(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        if data.len() > self.limits.max_value_bytes {
            return Err(StateError::LimitExceeded {
                key: key.clone(),
                limit: "max_value_bytes",
                max: self.limits.max_value_bytes,
                detail: format!("an append of {} bytes", data.len()),
            });
        }
        self.global.append(key, data)?;
        self.count_sent(data.len());
        Ok(())
    }

    /// The first `n` elements of the key's list, concatenated; fails if it has fewer.
    pub fn read_appended(&self, key: &StateKey, n: usize) -> Result<Vec<u8>> {
        let elements = self.global.list_range(key, n)?;
        let bytes: Vec<u8> = elements.concat();
        self.count_received(bytes.len());
        if elements.len() < n {
            return Err(StateError::NotEnoughElements {
                key: key.clone(),
                requested: n,
                available: elements.len(),
            });
        }
        Ok(bytes)
    }

    /// Deletes the key's list.
    pub fn clear_appended(&self, key: &StateKey) -> Result<()> {
        self.global.clear_list(key)
    }

    fn local_lock(&self, key: &StateKey) -> Arc<ExplicitRwLock> {
        lock(&self.local_locks)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Takes the key's host-local shared lock, waiting while a writer holds or waits for it,
    /// as long as the lock timeout (then [`StateError::LockTimeout`]). Released by
    /// [`LocalTier::unlock_read`], from any thread.
    pub fn lock_read(&self, key: &StateKey) -> Result<()> {
        self.lock_read_by(key, None)
    }

    /// [`LocalTier::lock_read`], giving up at `deadline` (a call's) if that comes first.
    pub fn lock_read_by(&self, key: &StateKey, deadline: Option<Instant>) -> Result<()> {
        let started = Instant::now();
        if self.local_lock(key).lock_read(self.lock_wait(deadline)) {
            Ok(())
        } else {
            Err(local_lock_timeout(key, "local read", started))
        }
    }

    /// Releases one host-local shared lock of the key.
    pub fn unlock_read(&self, key: &StateKey) -> Result<()> {
        if self.local_lock(key).unlock_read() {
            Ok(())
        } else {
            Err(StateError::NotLocked {
                key: key.clone(),
                lock: "local read",
            })
        }
    }

    /// Takes the key's host-local exclusive lock, waiting for readers and writers to leave, as
    /// long as the lock timeout (then [`StateError::LockTimeout`]). Released by
    /// [`LocalTier::unlock_write`], from any thread.
    pub fn lock_write(&self, key: &StateKey) -> Result<()> {
        self.lock_write_by(key, None)
    }

    /// [`LocalTier::lock_write`], giving up at `deadline` (a call's) if that comes first.
    pub fn lock_write_by(&self, key: &StateKey, deadline: Option<Instant>) -> Result<()> {
        let started = Instant::now();
        if self.local_lock(key).lock_write(self.lock_wait(deadline)) {
            Ok(())
        } else {
            Err(local_lock_timeout(key, "local write", started))
        }
    }

    /// How long a lock may be waited for now: the lock timeout, or less until `deadline`.
    fn lock_wait(&self, deadline: Option<Instant>) -> Duration {
        deadline.map_or(self.lock_timeout, |deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .min(self.lock_timeout)
        })
    }

    /// Takes the key's host-local exclusive lock if it is free now; returns whether it did.
    pub fn try_lock_write(&self, key: &StateKey) -> bool {
        self.local_lock(key).try_lock_write()
    }

    /// Releases the key's host-local exclusive lock.
    pub fn unlock_write(&self, key: &StateKey) -> Result<()> {
        if self.local_lock(key).unlock_write() {
            Ok(())
        } else {
            Err(StateError::NotLocked {
                key: key.clone(),
                lock: "local write",
            })
        }
    }

    /// Takes one of the key's global read locks (shared with other readers, on any host, while
    /// no write lock is held), retrying until the lock timeout.
    pub fn lock_global_read(&self, key: &StateKey) -> Result<()> {
        self.lock_global(key, GlobalLockMode::Read, None)
    }

    /// Takes the key's global write lock (no other holder, read or write, on any host),
    /// retrying until the lock timeout.
    pub fn lock_global_write(&self, key: &StateKey) -> Result<()> {
        self.lock_global(key, GlobalLockMode::Write, None)
    }

    /// [`LocalTier::lock_global_read`] or [`LocalTier::lock_global_write`] (by `mode`), giving
    /// up at `deadline` (a call's) if that comes first.
    pub fn lock_global_by(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        deadline: Option<Instant>,
    ) -> Result<()> {
        self.lock_global(key, mode, deadline)
    }

    /// Tries once to take the key's global write lock; returns whether it did.
    pub fn try_lock_global_write(&self, key: &StateKey) -> Result<bool> {
        self.try_lock_global(key, GlobalLockMode::Write)
    }

    fn try_lock_global(&self, key: &StateKey, mode: GlobalLockMode) -> Result<bool> {
        let token = LockToken::unique();
        if self.global.try_lock(key, mode, &token, self.lock_ttl)? {
            lock(&self.global_locks)
                .entry(key.clone())
                .or_default()
                .push((mode, token));
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn lock_global(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let start = Instant::now();
        let wait = self.lock_wait(deadline);
        let mut backoff = Duration::from_millis(1);
        loop {
            if self.try_lock_global(key, mode)? {
                return Ok(());
            }
            if start.elapsed() >= wait {
                return Err(StateError::LockTimeout {
                    key: key.clone(),
                    lock: global_lock_name(mode),
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            std::thread::sleep(backoff.min(wait.saturating_sub(start.elapsed())));
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    /// Releases one of the key's global read locks held by this host.
    pub fn unlock_global_read(&self, key: &StateKey) -> Result<()> {
        self.unlock_global(key, GlobalLockMode::Read)
    }

    /// Releases the key's global write lock held by this host.
    pub fn unlock_global_write(&self, key: &StateKey) -> Result<()> {
        self.unlock_global(key, GlobalLockMode::Write)
    }

    fn unlock_global(&self, key: &StateKey, mode: GlobalLockMode) -> Result<()> {
        let not_locked = || StateError::NotLocked {
            key: key.clone(),
            lock: global_lock_name(mode),
        };
        let token = self.take_global_token(key, mode).ok_or_else(not_locked)?;
        match self.global.unlock(key, &token) {
            Ok(true) => Ok(()),
            // Expired and perhaps taken by someone else: not ours to release any more.
            Ok(false) => Err(not_locked()),
            Err(e) => {
                // Keep the token so the release can be retried once the tier is back.
                lock(&self.global_locks)
                    .entry(key.clone())
                    .or_default()
                    .push((mode, token));
                Err(e)
            }
        }
    }

    /// Removes a token of `mode` for `key` from the locks this host holds.
    fn take_global_token(&self, key: &StateKey, mode: GlobalLockMode) -> Option<LockToken> {
        let mut held = lock(&self.global_locks);
        let tokens = held.get_mut(key)?;
        let at = tokens.iter().position(|(m, _)| *m == mode)?;
        let (_, token) = tokens.swap_remove(at);
        if tokens.is_empty() {
            held.remove(key);
        }
        Some(token)
    }
}

/// The name of a global lock of `mode` in errors.
fn global_lock_name(mode: GlobalLockMode) -> &'static str {
    match mode {
        GlobalLockMode::Read => "global read",
        GlobalLockMode::Write => "global write",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_runs() {
        let mut b = Bitmap::new(130, false);
        b.set_range(3, 5, true);
        b.set_range(64, 70, true);
        b.set_range(129, 130, true);
        assert_eq!(b.runs(0, 130, true), vec![(3, 5), (64, 70), (129, 130)]);
        assert_eq!(b.runs(4, 66, true), vec![(4, 5), (64, 66)]);
        assert_eq!(b.runs(0, 10, false), vec![(0, 3), (5, 10)]);
        assert!(b.any());
        b.set_range(0, 130, false);
        assert!(!b.any());
    }

    #[test]
    fn expired_global_locks_pass_to_another_host() {
        let global: Arc<dyn GlobalTier> = Arc::new(InProcessTier::new());
        let times =
            |t: LocalTier| t.with_lock_times(Duration::from_millis(50), Duration::from_secs(2));
        let h1 = times(LocalTier::new(global.clone()));
        let h2 = times(LocalTier::new(global));
        let k = StateKey::new("alice", "k").unwrap();
        h1.lock_global_write(&k).unwrap();
        // h2 waits until h1's lock expires, then holds it.
        let start = Instant::now();
        h2.lock_global_write(&k).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(40));
        // h1's token no longer holds the lock: its release is refused, h2's is not.
        let err = h1.unlock_global_write(&k).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotLocked);
        h2.unlock_global_write(&k).unwrap();
    }

    fn key(user: &str, i: usize) -> StateKey {
        StateKey::new(user, &format!("k{i}")).unwrap()
    }

    fn bounded(limits: StateLimits) -> LocalTier {
        LocalTier::in_process().with_limits(limits)
    }

    /// Written and pushed: clean, in the global tier.
    fn put_clean(host: &LocalTier, key: &StateKey, data: &[u8]) {
        host.write(key, data).unwrap();
        host.push(key).unwrap();
    }

    fn limit_of(error: StateError) -> &'static str {
        match error {
            StateError::LimitExceeded { limit, .. } => limit,
            other => panic!("not a limit: {other}"),
        }
    }

    #[test]
    fn unused_values_are_evicted_least_recently_used_first() {
        let host = bounded(StateLimits {
            max_resident_values: 4,
            ..StateLimits::default()
        });
        for i in 0..4 {
            put_clean(&host, &key("alice", i), &[i as u8; 10]);
        }
        // k0 is used again: k1 is now the least recently used.
        assert!(host.local_value(&key("alice", 0)).is_some());
        put_clean(&host, &key("alice", 4), &[4; 10]);
        assert_eq!(host.resident_values(), 4);
        assert_eq!(host.evictions(), 1);
        let resident: Vec<bool> = (0..5)
            .map(|i| lock(&host.values).values.contains_key(&key("alice", i)))
            .collect();
        assert_eq!(resident, [true, false, true, true, true]);
        // Its next use pulls it again, whole.
        let mut buf = [0; 10];
        host.read(&key("alice", 1), &mut buf).unwrap();
        assert_eq!(buf, [1; 10]);
        assert_eq!(host.user_usage("alice").0, 4);
    }

    #[test]
    fn dirty_mapped_held_and_locked_values_stay() {
        let host = bounded(StateLimits {
            max_resident_values: 4,
            ..StateLimits::default()
        });
        // Dirty: written, never pushed.
        host.write(&key("alice", 0), b"unpushed").unwrap();
        // Mapped into a Faaslet since its last push (may hold unflagged writes).
        drop(host.value_for_mapping(&key("alice", 1), 8).unwrap());
        // Held: a call maps it now.
        put_clean(&host, &key("alice", 2), b"held");
        let held = host.value_for_mapping(&key("alice", 2), 4).unwrap();
        // Locked on this host.
        put_clean(&host, &key("alice", 3), b"lock");
        host.lock_read(&key("alice", 3)).unwrap();
        let error = host.write(&key("alice", 4), b"new").unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::LimitExceeded);
        assert!(
            error.to_string().contains("max_resident_values limit (4)"),
            "{error}"
        );
        assert_eq!(host.evictions(), 0);
        // Nothing was lost or made.
        assert_eq!(host.resident_values(), 4);
        let mut buf = [0; 8];
        host.read(&key("alice", 0), &mut buf).unwrap();
        assert_eq!(&buf, b"unpushed");
        assert!(host.global().get(&key("alice", 4)).unwrap().is_none());
        // Once pushed, unmapped, unlocked, each can go.
        host.push(&key("alice", 0)).unwrap();
        host.write(&key("alice", 4), b"new").unwrap();
        assert!(host.local_value(&key("alice", 0)).is_none());
        drop(held);
        // A mapped value may hold unflagged writes until a whole pull (or push) syncs it.
        host.pull(&key("alice", 2), 4).unwrap();
        host.unlock_read(&key("alice", 3)).unwrap();
        put_clean(&host, &key("alice", 5), b"next");
        put_clean(&host, &key("alice", 6), b"next");
        assert!(host.local_value(&key("alice", 2)).is_none());
        assert!(host.local_value(&key("alice", 3)).is_none());
        assert!(host.local_value(&key("alice", 1)).is_some());
    }

    #[test]
    fn sizes_past_the_value_limit_fail_before_anything_is_made_or_sent() {
        let host = bounded(StateLimits {
            max_value_bytes: 1 << 20,
            ..StateLimits::default()
        });
        let k = key("alice", 0);
        for size in [u32::MAX as usize, (1 << 20) + 1] {
            let error = host.flag_dirty(&k, size).unwrap_err();
            assert_eq!(limit_of(error), "max_value_bytes");
            let error = host.value_for_mapping(&k, size).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("a value of {size} bytes")),
                "{error}"
            );
        }
        assert_eq!(host.resident_values(), 0);
        assert_eq!(
            host.push(&k).unwrap_err().kind(),
            crate::ErrorKind::NotFound
        );
        let error = host.append(&k, &vec![0; (1 << 20) + 1]).unwrap_err();
        assert_eq!(limit_of(error), "max_value_bytes");
        assert_eq!(host.stats(), TransferStats::default());
        // The limit itself is allowed.
        host.flag_dirty(&k, 1 << 20).unwrap();
    }

    #[test]
    fn each_user_has_its_own_keys_and_bytes() {
        let page = sys::page_size();
        let host = bounded(StateLimits {
            max_keys_per_user: 3,
            max_bytes_per_user: 4 * page,
            ..StateLimits::default()
        });
        for i in 0..3 {
            host.write(&key("alice", i), b"dirty").unwrap();
        }
        let error = host.write(&key("alice", 3), b"dirty").unwrap_err();
        assert_eq!(limit_of(error), "max_keys_per_user");
        // Another user is not held back by alice.
        host.write(&key("bob", 0), &vec![1; 3 * page]).unwrap();
        let error = host.write(&key("bob", 1), &vec![1; page + 1]).unwrap_err();
        assert!(error.to_string().contains("max_bytes_per_user"), "{error}");
        assert_eq!(host.user_usage("bob"), (1, 3 * page));
        host.write(&key("bob", 1), &vec![1; page]).unwrap();
        // Clean values of the user make room for the user's new ones.
        for i in 0..3 {
            host.push(&key("alice", i)).unwrap();
        }
        host.write(&key("alice", 3), b"fits").unwrap();
        assert_eq!(host.user_usage("alice").0, 3);
        assert_eq!(host.user_usage("bob").0, 2);
        // Deleting gives the room back.
        host.delete(&key("bob", 0)).unwrap();
        assert_eq!(host.user_usage("bob"), (1, page));
    }

    /// Open file descriptors of this process.
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn many_keys_keep_fds_and_mappings_bounded() {
        let host = bounded(StateLimits {
            max_resident_values: 64,
            max_keys_per_user: 64,
            ..StateLimits::default()
        });
        let before = open_fds();
        for i in 0..20_000 {
            put_clean(&host, &key("alice", i), &i.to_le_bytes());
        }
        assert!(host.resident_values() <= 64);
        // Other tests of this binary open and close fds meanwhile: a generous margin.
        assert!(open_fds() < before + 64 + 32, "{} fds", open_fds());
        let mut buf = [0; 8];
        host.read(&key("alice", 7), &mut buf).unwrap();
        assert_eq!(buf, 7usize.to_le_bytes());
        // Dirty values are never dropped: the user's limit ends the stream.
        let made = (20_000..1_000_000)
            .map(|i| host.write(&key("alice", i), b"dirty"))
            .position(|result| result.is_err())
            .unwrap();
        assert_eq!(made, 64);
        assert!(open_fds() < before + 64 + 32);
    }

    #[test]
    fn concurrent_first_use_makes_one_value() {
        let host = Arc::new(LocalTier::in_process());
        let k = StateKey::new("alice", "k").unwrap();
        let values: Vec<Arc<StateValue>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| host.value_for_mapping(&k, 100).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
    }
}
