//! The global tier of a host, and one value of it outside any call: a function's input data set
//! before a run, its results read after, exactly as the hosts' local tiers push and pull it.
//!
//! A host's global tier is Redis when a URL names one (`redis://HOST:PORT`: several hosts), and
//! otherwise the embedded tier in the function store's directory (`DIR/#state/`, a SQLite
//! database): persistent, and shared by every process on the machine that uses the same store
//! (a running `serve` and any number of `invoke`s), with nothing to install.

use crate::store::FunctionStore;
use faasm_hostcalls::faasm_state::{EmbeddedTier, GlobalTier, RedisTier, StateError, StateKey};
use std::path::PathBuf;
use std::sync::Arc;

/// The directory of a store's embedded tier, beside its functions (no user is named `#state`).
pub const EMBEDDED_DIR: &str = "#state";

/// Where a host's global tier lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalTierLocation {
    /// A Redis server: `redis://HOST:PORT`.
    Redis(String),
    /// The embedded tier in this directory.
    Embedded(PathBuf),
}

impl GlobalTierLocation {
    /// `url` if one is given (it must be `redis://…`), else the embedded tier of `store`.
    pub fn of(url: Option<&str>, store: &FunctionStore) -> GlobalTierLocation {
        match url {
            Some(url) => GlobalTierLocation::Redis(url.to_owned()),
            None => GlobalTierLocation::Embedded(store.dir().join(EMBEDDED_DIR)),
        }
    }

    /// Opens the tier; `max_bytes_per_user` bounds each user's bytes in the embedded tier
    /// (Redis is bounded by its own `maxmemory`).
    pub fn open(&self, max_bytes_per_user: usize) -> Result<Arc<dyn GlobalTier>, StateError> {
        Ok(match self {
            GlobalTierLocation::Redis(url) => Arc::new(RedisTier::new(url)?),
            GlobalTierLocation::Embedded(dir) => {
                Arc::new(EmbeddedTier::open(dir)?.with_max_bytes_per_user(max_bytes_per_user))
            }
        })
    }
}

/// Sets `key` (`USER/KEY`) to `data`, replacing it whole. An empty value is refused: the local
/// tiers could not read it.
pub fn put(tier: &dyn GlobalTier, key: &str, data: &[u8]) -> Result<(), StateError> {
    let key = StateKey::parse(key)?;
    if data.is_empty() {
        return Err(StateError::ZeroSize { key });
    }
    tier.set(&key, data)
}

/// The value of `key` (`USER/KEY`); an error if there is none.
pub fn get(tier: &dyn GlobalTier, key: &str) -> Result<Vec<u8>, StateError> {
    let key = StateKey::parse(key)?;
    tier.get(&key)?.ok_or(StateError::NotFound { key })
}

/// Deletes `key` (`USER/KEY`).
pub fn delete(tier: &dyn GlobalTier, key: &str) -> Result<(), StateError> {
    let key = StateKey::parse(key)?;
    tier.delete(&key)
}
