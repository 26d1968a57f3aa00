//! Authentication of compiled artifacts: an HMAC-SHA256 tag under a per-host secret key.
//!
//! An artifact holds machine code that runs with the host's privileges, so loading one must be
//! as trusted as running a binary. The artifact's own SHA-256 checksum only catches accidents:
//! anyone who can change the file can recompute it. A tag under a key that only the host
//! knows cannot be recomputed without the key, so an authenticated artifact is known to have
//! been written by this host (by [`crate::Module::serialize_authenticated`]) and not changed
//! since. Where the key is kept is the caller's business (the `faasm-run` CLI keeps it in a
//! file readable only by its owner beside the artifacts).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Length of the key and of the tag, in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// A per-host secret that authenticates compiled artifacts. Make it from 32 random bytes and
/// keep it where only the host can read it.
#[derive(Clone)]
pub struct ArtifactKey([u8; TAG_LEN]);

impl ArtifactKey {
    /// The key made of `bytes` (which must be secret and random).
    pub fn from_bytes(bytes: [u8; TAG_LEN]) -> ArtifactKey {
        ArtifactKey(bytes)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// `bytes` followed by their tag.
    pub(crate) fn append_tag(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        bytes
    }

    /// The bytes before the tag if the tag is theirs under this key (compared in constant
    /// time), `None` otherwise.
    pub(crate) fn verify<'a>(&self, tagged: &'a [u8]) -> Option<&'a [u8]> {
        let split = tagged.len().checked_sub(TAG_LEN)?;
        let (bytes, tag) = tagged.split_at(split);
        let mut mac = self.mac();
        mac.update(bytes);
        mac.verify_slice(tag).ok().map(|()| bytes)
    }
}

impl fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArtifactKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_under_their_key_and_bytes() {
        let key = ArtifactKey::from_bytes([7; 32]);
        let tagged = key.append_tag(b"code".to_vec());
        assert_eq!(tagged.len(), 4 + TAG_LEN);
        assert_eq!(key.verify(&tagged), Some(&b"code"[..]));
        assert_eq!(ArtifactKey::from_bytes([8; 32]).verify(&tagged), None);
        let mut changed = tagged.clone();
        changed[0] ^= 1;
        assert_eq!(key.verify(&changed), None);
        assert_eq!(key.verify(&tagged[..TAG_LEN - 1]), None);
        assert_eq!(format!("{key:?}"), "ArtifactKey(<secret>)");
    }
}
