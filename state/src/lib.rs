//! Two-tier state for faasm-rs, after the Faasm paper: one copy of each state value per host (the
//! **local tier**, [`LocalTier`]) kept in a memfd region that the runtime maps straight into the
//! linear memory of every Faaslet using it, and a **global tier** ([`GlobalTier`]) that hosts
//! synchronise through with explicit push and pull: in the process's memory ([`InProcessTier`]:
//! gone with the process), embedded in a directory ([`EmbeddedTier`]: a SQLite database that
//! survives restarts and is shared by every process of the machine, global locks included), or
//! on Redis ([`RedisTier`]: many hosts).
//!
//! Keys are namespaced by user ([`StateKey`]): the user comes from the calling function, the key
//! text from the guest, and the text cannot name another user's key. A value's size is fixed by
//! the first call that gives one. The local tier tracks, per chunk (one OS page), whether it has
//! been pulled from the global tier (reads pull lazily) and whether it is dirty (what a partial
//! push sends). Host-local read/write locks and global locks (owner token, expiry) give strong
//! consistency where a function asks for it. A host keeps a bounded set of values
//! ([`StateLimits`]: value size, values and bytes per user, resident values), evicting unused
//! ones least recently used first; the in-process and embedded tiers bound each user's bytes
//! too.
//!
//! This crate must not depend on the runtime: it hands out the memfd, its length and the page
//! size of a value, and the runtime does the `mmap(MAP_SHARED | MAP_FIXED)` into a slot. The
//! host interface (`faasm-hostcalls`) and the root binary use it. Its only `unsafe` code is in
//! the [`sys`] module (memfd creation, shared mappings, the socket calls the Redis tier uses to
//! move values between a socket and a value's mapping without an intermediate buffer, and the
//! boot-time clock of the embedded tier's lock leases); SQLite's own is inside `rusqlite`.

mod deadline;
mod embedded;
mod error;
mod global;
mod key;
mod local;
mod lock;
mod redis_tier;
mod resp;
pub mod sys;

pub use deadline::{current_deadline, within_deadline};
pub use embedded::{EMBEDDED_DATABASE_FILE, EmbeddedTier, MAX_EMBEDDED_VALUE_BYTES};
pub use error::{ErrorKind, StateError};
pub use global::{GlobalLockMode, GlobalTier, InProcessTier, LockToken};
pub use key::{MAX_KEY_LEN, MAX_USER_LEN, StateKey};
pub use local::{LocalTier, StateLimits, StateValue, TransferStats};
pub use redis_tier::{RedisTier, leaves_connection_unusable, mask_password};

/// The result type of this crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
