//! Keys namespaced by user.

use std::fmt;

use crate::{Result, StateError};

/// The longest user name accepted, in bytes.
pub const MAX_USER_LEN: usize = 64;
/// The longest key text accepted, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// A state key: the user (from the calling function, never from the guest) and the key text
/// (from the guest). Neither may contain `/`, so `user/key` names exactly one pair and no key
/// text can reach into another user's namespace.
///
/// Users are 1..=64 bytes of `[A-Za-z0-9_.-]`; keys 1..=256 bytes of `[A-Za-z0-9_.:-]`. Neither
/// may be `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    user: String,
    key: String,
}

impl StateKey {
    /// Validates `user` and `key`.
    pub fn new(user: &str, key: &str) -> Result<StateKey> {
        check(user, MAX_USER_LEN, "user", |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
        })?;
        check(key, MAX_KEY_LEN, "key", |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-')
        })?;
        Ok(StateKey {
            user: user.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Parses `user/key`.
    pub fn parse(text: &str) -> Result<StateKey> {
        let (user, key) = text.split_once('/').ok_or_else(|| StateError::InvalidKey {
            text: text.to_owned(),
            reason: "expected user/key",
        })?;
        StateKey::new(user, key)
    }

    /// The user who owns the key.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The key text within the user's namespace.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.key)
    }
}

/// Checks `text` (a user or key, per `what`) is non-empty, at most `max` bytes, not `.`/`..`,
/// and made only of bytes `ok` accepts.
fn check(text: &str, max: usize, what: &'static str, ok: impl Fn(u8) -> bool) -> Result<()> {
    let reason = if text.is_empty() {
        Some(if what == "user" {
            "empty user"
        } else {
            "empty key"
        })
    } else if text.len() > max {
        Some(if what == "user" {
            "user longer than 64 bytes"
        } else {
            "key longer than 256 bytes"
        })
    } else if text == "." || text == ".." {
        Some("`.` and `..` are not names")
    } else if !text.bytes().all(ok) {
        Some(if what == "user" {
            "users may only contain A-Z a-z 0-9 _ . -"
        } else {
            "keys may only contain A-Z a-z 0-9 _ . : -"
        })
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StateError::InvalidKey {
            text: text.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_keys() {
        let k = StateKey::new("alice", "weights:v1").unwrap();
        assert_eq!(k.to_string(), "alice/weights:v1");
        assert_eq!(StateKey::parse("alice/weights:v1").unwrap(), k);
        for (user, key) in [
            ("", "k"),
            ("alice", ""),
            ("alice", "../bob/k"),
            ("alice", "bob/k"),
            ("al/ice", "k"),
            ("alice", ".."),
            ("alice", "sp ace"),
            ("alice", "k\0"),
        ] {
            let err = StateKey::new(user, key).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidKey, "{user:?} {key:?}");
        }
        assert!(StateKey::new("alice", &"k".repeat(257)).is_err());
        assert!(StateKey::new("alice", &"k".repeat(256)).is_ok());
    }
}
