//! One value of a shared global tier, outside any call: a function's input data set before a
//! run, its results read after, exactly as the hosts' local tiers push and pull it. Only a
//! shared tier (Redis) makes sense here: a tier in this process would end with it.

use faasm_hostcalls::faasm_state::{GlobalTier, RedisTier, StateError, StateKey};

/// The global tier at `url` (`redis://HOST:PORT`).
pub fn connect(url: &str) -> Result<RedisTier, StateError> {
    RedisTier::new(url)
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
