//! The global tier: the trait every host synchronises through, and the embedded in-process
//! implementation (one machine, nothing to set up).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::sys::{self, SharedMapping};
use crate::{Result, StateKey};

/// Which global lock a host asks for: read locks are shared (any number of holders, on any
/// hosts), a write lock excludes every other holder, readers included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GlobalLockMode {
    /// A lock for reading (`__faasm_lock_state_global_read`).
    Read,
    /// A lock for writing (`__faasm_lock_state_global_write`).
    Write,
}

/// The owner token of a global lock: unique per acquisition, so only the holder releases it
/// (compare-and-delete), and a lock that expired and was taken by someone else is not released
/// by the old holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockToken(String);

impl LockToken {
    /// A token of 128 random bits (32 hex digits) from the kernel's CSPRNG: unique across
    /// processes and hosts with overwhelming likelihood, and unguessable, so no one else (a
    /// guest on another host included) can make a token that releases this lock. A token made
    /// of a process id, a time and a counter could be guessed.
    pub fn unique() -> LockToken {
        let mut bits = [0u8; 16];
        sys::random_bytes(&mut bits)
            .expect("getrandom(2) fails only on kernels older than 3.17, which faasm-rs needs");
        LockToken(bits.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token's text, as stored in the global tier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What hosts share: values (byte strings), append lists and locks, per [`StateKey`]. Values and
/// lists of the same key are separate. Every call may fail (a remote tier may be down); errors
/// are [`crate::StateError::GlobalTier`] naming the operation and the key.
pub trait GlobalTier: Send + Sync + fmt::Debug {
    /// A short name for messages and test output (`in-process`, `redis`).
    fn name(&self) -> &'static str;

    /// The whole value, `None` if absent.
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>>;

    /// The bytes of `[offset, offset + len)` that exist (like Redis `GETRANGE`: shorter than
    /// `len`, possibly empty, when the value is shorter or absent).
    fn get_range(&self, key: &StateKey, offset: usize, len: usize) -> Result<Vec<u8>>;

    /// Writes the whole value into the first `len` bytes of `dst` (a host mapping of a value's
    /// memfd: the local tier's pull) if its length is `len`; returns the value's length, `None`
    /// if absent. `dst` is written only once the whole value is here: a transfer that fails
    /// leaves it as it was, and so does a length mismatch. A tier that can receive straight
    /// into `dst` does (the Redis tier), saving the copy through a buffer. Panics if `len` is
    /// more than `dst.len()`.
    fn get_into_mapping(
        &self,
        key: &StateKey,
        dst: &SharedMapping,
        len: usize,
    ) -> Result<Option<usize>> {
        let data = self.get(key)?;
        Ok(write_whole(data.as_deref(), dst, len))
    }

    /// Reads the bytes of `[offset, offset + buf.len())` that exist into the start of `buf`
    /// (like [`GlobalTier::get_range`], without the intermediate vector where the tier can);
    /// returns how many there were.
    fn get_range_into(&self, key: &StateKey, offset: usize, buf: &mut [u8]) -> Result<usize> {
        Ok(copy_prefix(&self.get_range(key, offset, buf.len())?, buf))
    }

    /// Hands the bytes of `[offset, offset + scratch.len())` that exist to `sink` in one slice
    /// and returns how many there were (as [`GlobalTier::get_range_into`]): the local tier's
    /// lazy pulls, whose sink writes them into the value's memfd. A tier that holds its values
    /// in this process lends its own bytes (one copy in all: the sink's); the default receives
    /// them into `scratch` first.
    fn get_range_with(
        &self,
        key: &StateKey,
        offset: usize,
        scratch: &mut [u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<usize> {
        let n = self.get_range_into(key, offset, scratch)?;
        sink(&scratch[..n.min(scratch.len())])?;
        Ok(n)
    }

    /// Replaces the whole value.
    fn set(&self, key: &StateKey, data: &[u8]) -> Result<()>;

    /// Replaces the whole value with the first `len` bytes of `src` (a host mapping of a
    /// value's memfd: the local tier's push). A tier that can send from `src` without copying it
    /// into a buffer first does (the Redis tier). What is stored is what `src` holds while it
    /// is read, as with any read of shared memory. Panics if `len` is more than `src.len()`.
    fn set_from_mapping(&self, key: &StateKey, src: &SharedMapping, len: usize) -> Result<()> {
        let mut data = vec![0; len];
        src.read(0, &mut data);
        self.set(key, &data)
    }

    /// Overwrites `[offset, offset + data.len())`, padding with zeros if the value was shorter
    /// (like Redis `SETRANGE`).
    fn set_range(&self, key: &StateKey, offset: usize, data: &[u8]) -> Result<()>;

    /// Overwrites several ranges of the value, as [`GlobalTier::set_range`] each (a remote tier
    /// sends them in one round trip).
    fn set_ranges(&self, key: &StateKey, ranges: &[(usize, Vec<u8>)]) -> Result<()> {
        for (offset, data) in ranges {
            self.set_range(key, *offset, data)?;
        }
        Ok(())
    }

    /// The value's size in bytes, 0 if absent.
    fn size(&self, key: &StateKey) -> Result<usize>;

    /// Deletes the value (not its append list). Deleting an absent value is not an error.
    fn delete(&self, key: &StateKey) -> Result<()>;

    /// Appends one element to the key's list; returns the list's new length.
    fn append(&self, key: &StateKey, data: &[u8]) -> Result<usize>;

    /// The first `n` elements of the key's list (fewer if it is shorter).
    fn list_range(&self, key: &StateKey, n: usize) -> Result<Vec<Vec<u8>>>;

    /// Deletes the key's list.
    fn clear_list(&self, key: &StateKey) -> Result<()>;

    /// Takes the key's global lock in `mode` for `token` if it can be had now: a read lock
    /// while no write lock is held, a write lock while no lock at all is (expired ones do not
    /// count). The lock expires after `ttl` unless released. Returns whether it was taken.
    /// (A stream of readers can keep a writer waiting: writers retry until their timeout.)
    fn try_lock(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool>;

    /// Releases the key's global lock (read or write) that `token` holds; returns whether it
    /// held one (not if it expired meanwhile).
    fn unlock(&self, key: &StateKey, token: &LockToken) -> Result<bool>;
}

/// [`GlobalTier::get_into_mapping`] on top of a whole value: writes `data` into `dst` if its
/// length is `len`; returns its length.
pub(crate) fn write_whole(data: Option<&[u8]>, dst: &SharedMapping, len: usize) -> Option<usize> {
    let data = data?;
    if data.len() == len {
        dst.write(0, data);
    }
    Some(data.len())
}

/// [`GlobalTier::get_range_into`] on top of [`GlobalTier::get_range`]: copies what fits of
/// `data` into the start of `buf`; returns the length of `data`.
pub(crate) fn copy_prefix(data: &[u8], buf: &mut [u8]) -> usize {
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    data.len()
}

/// The holders of one key's global lock in the in-process tier, each with its expiry.
#[derive(Debug, Default)]
struct LockHolders {
    writer: Option<(LockToken, Instant)>,
    readers: HashMap<LockToken, Instant>,
}

impl LockHolders {
    /// Forgets the holders whose lock expired by `now`.
    fn expire(&mut self, now: Instant) {
        if self
            .writer
            .as_ref()
            .is_some_and(|(_, expiry)| *expiry <= now)
        {
            self.writer = None;
        }
        self.readers.retain(|_, expiry| *expiry > now);
    }

    fn is_empty(&self) -> bool {
        self.writer.is_none() && self.readers.is_empty()
    }
}

/// The in-process tier's contents: values, append lists, and locks with their holders and
/// expiry.
#[derive(Debug, Default)]
struct Tables {
    values: HashMap<StateKey, Vec<u8>>,
    lists: HashMap<StateKey, Vec<Vec<u8>>>,
    locks: HashMap<StateKey, LockHolders>,
    /// Bytes held per user (see [`InProcessTier::with_max_bytes_per_user`]).
    usage: HashMap<String, usize>,
}

/// What the in-process and embedded tiers count for a value or a list element besides its
/// bytes: its bookkeeping (key, map entry or row), so that many tiny entries are bounded too.
pub(crate) const ENTRY_COST: usize = 256;

/// The cost of a value or list element of `len` bytes (none for no entry).
pub(crate) fn entry_cost(len: Option<usize>) -> usize {
    len.map_or(0, |len| len.saturating_add(ENTRY_COST))
}

/// The error of a write that would take `key`'s user past `max` bytes in the `tier` global
/// tier, which holds `held` bytes of the user and needed `more`.
pub(crate) fn quota_exceeded(
    key: &StateKey,
    max: usize,
    tier: &str,
    held: usize,
    more: usize,
) -> crate::StateError {
    crate::StateError::LimitExceeded {
        key: key.clone(),
        limit: "max_global_bytes_per_user",
        max,
        detail: format!(
            "the {tier} global tier holds {held} bytes of user {} and this needs {more} more",
            key.user()
        ),
    }
}

impl Tables {
    /// Replaces `key`'s cost of `old` with `new` in its user's usage, unless the user's
    /// usage would pass `max`.
    fn charge(&mut self, key: &StateKey, old: usize, new: usize, max: usize) -> Result<()> {
        let usage = self.usage.entry(key.user().to_owned()).or_default();
        let next = usage.saturating_sub(old).saturating_add(new);
        if new > old && next > max {
            return Err(quota_exceeded(key, max, "in-process", *usage, new - old));
        }
        *usage = next;
        if next == 0 {
            self.usage.remove(key.user());
        }
        Ok(())
    }

    fn value_len(&self, key: &StateKey) -> Option<usize> {
        self.values.get(key).map(Vec::len)
    }
}

/// The embedded global tier: a `Mutex<HashMap>` in this process. The default: one machine, no
/// set-up, every `LocalTier` of the process (each standing for a host) shares it through an
/// `Arc`. Its memory is the process's: [`InProcessTier::with_max_bytes_per_user`] bounds what
/// each user's values and lists hold.
#[derive(Debug)]
pub struct InProcessTier {
    tables: Mutex<Tables>,
    max_bytes_per_user: usize,
}

impl Default for InProcessTier {
    fn default() -> Self {
        InProcessTier {
            tables: Mutex::default(),
            max_bytes_per_user: usize::MAX,
        }
    }
}

impl InProcessTier {
    /// An empty tier, unbounded.
    pub fn new() -> InProcessTier {
        InProcessTier::default()
    }

    /// Bounds the bytes of one user's values and list elements (each counting 256 bytes more
    /// for its bookkeeping): a write past it fails with [`crate::StateError::LimitExceeded`]
    /// (`max_global_bytes_per_user`) and changes nothing.
    pub fn with_max_bytes_per_user(mut self, max: usize) -> InProcessTier {
        self.max_bytes_per_user = max;
        self
    }

    /// Bytes one user's values and list elements hold (with their bookkeeping).
    pub fn user_bytes(&self, user: &str) -> usize {
        self.tables().usage.get(user).copied().unwrap_or(0)
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // Every operation leaves the tables consistent, so a panic elsewhere does not poison them.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `data` as the value of `key`, if its user's bytes allow.
    fn store(&self, key: &StateKey, data: Vec<u8>) -> Result<()> {
        let mut tables = self.tables();
        let old = entry_cost(tables.value_len(key));
        tables.charge(
            key,
            old,
            entry_cost(Some(data.len())),
            self.max_bytes_per_user,
        )?;
        tables.values.insert(key.clone(), data);
        Ok(())
    }
}

impl GlobalTier for InProcessTier {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        Ok(self.tables().values.get(key).cloned())
    }

    fn get_range(&self, key: &StateKey, offset: usize, len: usize) -> Result<Vec<u8>> {
        let tables = self.tables();
        let Some(value) = tables.values.get(key) else {
            return Ok(Vec::new());
        };
        let start = offset.min(value.len());
        let end = offset.saturating_add(len).min(value.len());
        Ok(value[start..end].to_vec())
    }

    fn get_into_mapping(
        &self,
        key: &StateKey,
        dst: &SharedMapping,
        len: usize,
    ) -> Result<Option<usize>> {
        let tables = self.tables();
        Ok(write_whole(
            tables.values.get(key).map(Vec::as_slice),
            dst,
            len,
        ))
    }

    fn get_range_with(
        &self,
        key: &StateKey,
        offset: usize,
        scratch: &mut [u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<usize> {
        // The sink runs under the tier's lock: the bytes are lent, not copied out first.
        let tables = self.tables();
        let value = tables.values.get(key).map_or(&[][..], Vec::as_slice);
        let start = offset.min(value.len());
        let end = offset.saturating_add(scratch.len()).min(value.len());
        sink(&value[start..end])?;
        Ok(end - start)
    }

    fn set(&self, key: &StateKey, data: &[u8]) -> Result<()> {
        self.store(key, data.to_vec())
    }

    fn set_from_mapping(&self, key: &StateKey, src: &SharedMapping, len: usize) -> Result<()> {
        // Copied outside the lock, then moved in: one copy, not two.
        let mut data = vec![0; len];
        src.read(0, &mut data);
        self.store(key, data)
    }

    fn set_range(&self, key: &StateKey, offset: usize, data: &[u8]) -> Result<()> {
        let mut tables = self.tables();
        let end = offset + data.len();
        let old = tables.value_len(key);
        let new = old.unwrap_or(0).max(end);
        tables.charge(
            key,
            entry_cost(old),
            entry_cost(Some(new)),
            self.max_bytes_per_user,
        )?;
        let value = tables.values.entry(key.clone()).or_default();
        if value.len() < end {
            value.resize(end, 0);
        }
        value[offset..end].copy_from_slice(data);
        Ok(())
    }

    fn size(&self, key: &StateKey) -> Result<usize> {
        Ok(self.tables().values.get(key).map_or(0, Vec::len))
    }

    fn delete(&self, key: &StateKey) -> Result<()> {
        let mut tables = self.tables();
        if let Some(value) = tables.values.remove(key) {
            tables.charge(key, entry_cost(Some(value.len())), 0, usize::MAX)?;
        }
        Ok(())
    }

    fn append(&self, key: &StateKey, data: &[u8]) -> Result<usize> {
        let mut tables = self.tables();
        tables.charge(
            key,
            0,
            entry_cost(Some(data.len())),
            self.max_bytes_per_user,
        )?;
        let list = tables.lists.entry(key.clone()).or_default();
        list.push(data.to_vec());
        Ok(list.len())
    }

    fn list_range(&self, key: &StateKey, n: usize) -> Result<Vec<Vec<u8>>> {
        let tables = self.tables();
        Ok(tables
            .lists
            .get(key)
            .map(|l| l.iter().take(n).cloned().collect())
            .unwrap_or_default())
    }

    fn clear_list(&self, key: &StateKey) -> Result<()> {
        let mut tables = self.tables();
        if let Some(list) = tables.lists.remove(key) {
            let cost = list.iter().map(|e| entry_cost(Some(e.len()))).sum();
            tables.charge(key, cost, 0, usize::MAX)?;
        }
        Ok(())
    }

    fn try_lock(
        &self,
        key: &StateKey,
        mode: GlobalLockMode,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool> {
        let mut tables = self.tables();
        let now = Instant::now();
        let holders = tables.locks.entry(key.clone()).or_default();
        holders.expire(now);
        let free = match mode {
            GlobalLockMode::Read => holders.writer.is_none(),
            GlobalLockMode::Write => holders.is_empty(),
        };
        if free {
            match mode {
                GlobalLockMode::Read => {
                    holders.readers.insert(token.clone(), now + ttl);
                }
                GlobalLockMode::Write => holders.writer = Some((token.clone(), now + ttl)),
            }
        }
        Ok(free)
    }

    fn unlock(&self, key: &StateKey, token: &LockToken) -> Result<bool> {
        let mut tables = self.tables();
        let Some(holders) = tables.locks.get_mut(key) else {
            return Ok(false);
        };
        holders.expire(Instant::now());
        let released = if holders.writer.as_ref().is_some_and(|(t, _)| t == token) {
            holders.writer = None;
            true
        } else {
            holders.readers.remove(token).is_some()
        };
        if holders.is_empty() {
            tables.locks.remove(key);
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn each_users_bytes_are_bounded_in_the_in_process_tier() {
        let tier = InProcessTier::new().with_max_bytes_per_user(4 * ENTRY_COST);
        let key = |user: &str, k: &str| StateKey::new(user, k).unwrap();
        tier.set(&key("alice", "a"), &[1; 100]).unwrap();
        tier.append(&key("alice", "l"), &[2; 100]).unwrap();
        assert_eq!(tier.user_bytes("alice"), 200 + 2 * ENTRY_COST);
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
        assert!(tier.get(&key("alice", "b")).unwrap().is_none());
        let error = tier
            .set_range(&key("alice", "a"), 2 * ENTRY_COST, &[4])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LimitExceeded);
        assert_eq!(tier.size(&key("alice", "a")).unwrap(), 100);
        // Another user has bytes of its own.
        tier.set(&key("bob", "a"), &[5; 500]).unwrap();
        // Deleting and clearing give the bytes back; a smaller value costs less.
        tier.set(&key("alice", "a"), &[6; 10]).unwrap();
        assert_eq!(tier.user_bytes("alice"), 110 + 2 * ENTRY_COST);
        tier.delete(&key("alice", "a")).unwrap();
        tier.clear_list(&key("alice", "l")).unwrap();
        assert_eq!(tier.user_bytes("alice"), 0);
        tier.set(&key("alice", "b"), &[3; 2 * ENTRY_COST]).unwrap();
    }

    #[test]
    fn lock_tokens_are_128_random_bits() {
        let tokens: Vec<u128> = (0..256)
            .map(|_| {
                let token = LockToken::unique();
                let text = token.as_str();
                assert!(
                    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{text}"
                );
                u128::from_str_radix(text, 16).expect("hex")
            })
            .collect();
        // Every bit varies: nothing is a process id, a time or a counter (the chance that one
        // of 128 random bits is equal in 256 tokens is about 2^-248).
        let ones = tokens.iter().fold(0u128, |acc, t| acc | t);
        let zeros = tokens.iter().fold(0u128, |acc, t| acc | !t);
        assert_eq!(ones, u128::MAX);
        assert_eq!(zeros, u128::MAX);
    }
}
