//! The typed error of the crate: what was wrong and with which key.

use crate::StateKey;

/// What went wrong, without the details: for tests, for mapping errors to guest-visible codes,
/// and for the conformance suite's `-> error Kind` expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`StateError::InvalidKey`].
    InvalidKey,
    /// See [`StateError::NotFound`].
    NotFound,
    /// See [`StateError::ZeroSize`].
    ZeroSize,
    /// See [`StateError::SizeMismatch`].
    SizeMismatch,
    /// See [`StateError::OutOfBounds`].
    OutOfBounds,
    /// See [`StateError::NotLocked`].
    NotLocked,
    /// See [`StateError::LockTimeout`].
    LockTimeout,
    /// See [`StateError::NotEnoughElements`].
    NotEnoughElements,
    /// See [`StateError::GlobalTier`].
    GlobalTier,
    /// See [`StateError::Io`].
    Io,
    /// See [`StateError::InvalidUrl`].
    InvalidUrl,
    /// See [`StateError::LimitExceeded`].
    LimitExceeded,
    /// See [`StateError::Open`].
    Open,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::InvalidKey,
        ErrorKind::NotFound,
        ErrorKind::ZeroSize,
        ErrorKind::SizeMismatch,
        ErrorKind::OutOfBounds,
        ErrorKind::NotLocked,
        ErrorKind::LockTimeout,
        ErrorKind::NotEnoughElements,
        ErrorKind::GlobalTier,
        ErrorKind::Io,
        ErrorKind::InvalidUrl,
        ErrorKind::LimitExceeded,
        ErrorKind::Open,
    ];

    /// The kind's name, as written in the conformance suite (`NotFound`, `SizeMismatch`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "InvalidKey",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::ZeroSize => "ZeroSize",
            ErrorKind::SizeMismatch => "SizeMismatch",
            ErrorKind::OutOfBounds => "OutOfBounds",
            ErrorKind::NotLocked => "NotLocked",
            ErrorKind::LockTimeout => "LockTimeout",
            ErrorKind::NotEnoughElements => "NotEnoughElements",
            ErrorKind::GlobalTier => "GlobalTier",
            ErrorKind::Io => "Io",
            ErrorKind::InvalidUrl => "InvalidUrl",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::Open => "Open",
        }
    }

    /// The kind called `name`, if any.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// An error of the state tiers. Every variant names the key it concerns (as `user/key`, or the
/// raw text when the key itself was invalid), except [`StateError::InvalidUrl`] and
/// [`StateError::Open`], which name the global tier's address or directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The user or key text is not a valid name.
    #[error("invalid state key {text:?}: {reason}")]
    InvalidKey {
        /// The offending text.
        text: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The value exists in neither tier.
    #[error("state value {key} not found (neither on this host nor in the global tier)")]
    NotFound {
        /// The key.
        key: StateKey,
    },
    /// A value was given size zero: sizes are fixed at creation and must be positive.
    #[error("state value {key}: size 0 is not a valid size")]
    ZeroSize {
        /// The key.
        key: StateKey,
    },
    /// A call gave a size different from the value's fixed size.
    #[error("state value {key} has size {actual}, but {expected} was given ({context})")]
    SizeMismatch {
        /// The key.
        key: StateKey,
        /// The size the call gave (or expected).
        expected: usize,
        /// The size the value has (locally, or in the global tier).
        actual: usize,
        /// Where the mismatch was seen (e.g. "local value", "global tier", "mask value").
        context: &'static str,
    },
    /// A range reaches past the end of the value.
    #[error("state value {key}: range [{offset}, {offset}+{len}) is past its end ({size} bytes)")]
    OutOfBounds {
        /// The key.
        key: StateKey,
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
        /// The value's size.
        size: usize,
    },
    /// An unlock of a lock that is not held (host-local: by anyone; global: by this host).
    #[error("state value {key}: {lock} lock is not held")]
    NotLocked {
        /// The key.
        key: StateKey,
        /// Which lock: "local read", "local write", "global read", "global write".
        lock: &'static str,
    },
    /// A lock could not be taken in time (a host-local lock held by a call that does not end,
    /// or a deadlock between calls, ends here rather than blocking a worker forever).
    #[error("state value {key}: {lock} lock not acquired within {waited_ms} ms")]
    LockTimeout {
        /// The key.
        key: StateKey,
        /// Which lock: "local read", "local write", "global read", "global write".
        lock: &'static str,
        /// How long we waited.
        waited_ms: u64,
    },
    /// `read_appended(n)` asked for more elements than the list holds.
    #[error("append list of {key} has {available} elements, {requested} were asked for")]
    NotEnoughElements {
        /// The key.
        key: StateKey,
        /// Elements asked for.
        requested: usize,
        /// Elements present.
        available: usize,
    },
    /// The global tier failed (Redis down, connection lost, protocol error...).
    #[error("global tier: {operation} on {key} failed: {message}")]
    GlobalTier {
        /// The key.
        key: StateKey,
        /// The operation (the Redis command, e.g. `SETRANGE`, or the trait method).
        operation: &'static str,
        /// The underlying error.
        message: String,
    },
    /// An OS call on the local tier failed (memfd creation, read, write).
    #[error("local tier: {operation} of {key} failed: {source}")]
    Io {
        /// The key.
        key: StateKey,
        /// What we were doing.
        operation: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A value would pass one of the host's bounds (see [`crate::StateLimits`]): the value is
    /// not created (or the bytes not sent), and nothing else changes.
    #[error("state value {key}: {limit} limit ({max}) exceeded: {detail}")]
    LimitExceeded {
        /// The key.
        key: StateKey,
        /// Which limit, by its [`crate::StateLimits`] field name.
        limit: &'static str,
        /// The limit's value.
        max: usize,
        /// What the call needed (e.g. "a value of 4294967295 bytes").
        detail: String,
    },
    /// The global tier's address is not valid (the one error that names no key).
    #[error("invalid global tier URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The embedded global tier could not be opened in its directory (not writable, not a
    /// database, made by a newer version, busy past the timeout while it was set up).
    #[error("cannot open the embedded global tier in {}: {message}", path.display())]
    Open {
        /// The tier's directory.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
}

impl StateError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::InvalidKey { .. } => ErrorKind::InvalidKey,
            StateError::NotFound { .. } => ErrorKind::NotFound,
            StateError::ZeroSize { .. } => ErrorKind::ZeroSize,
            StateError::SizeMismatch { .. } => ErrorKind::SizeMismatch,
            StateError::OutOfBounds { .. } => ErrorKind::OutOfBounds,
            StateError::NotLocked { .. } => ErrorKind::NotLocked,
            StateError::LockTimeout { .. } => ErrorKind::LockTimeout,
            StateError::NotEnoughElements { .. } => ErrorKind::NotEnoughElements,
            StateError::GlobalTier { .. } => ErrorKind::GlobalTier,
            StateError::Io { .. } => ErrorKind::Io,
            StateError::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            StateError::Open { .. } => ErrorKind::Open,
            StateError::LimitExceeded { .. } => ErrorKind::LimitExceeded,
        }
    }
}
