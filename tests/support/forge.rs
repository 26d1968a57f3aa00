//! Forges compiled artifacts the way someone who can write the file but does not hold the
//! host's key would: changes machine code and recomputes the SHA-256 checksum, keeping the
//! authentication tag (which only the key could renew). Such a file must never run.
#![allow(dead_code)]

use sha2::{Digest, Sha256};

/// A module whose function `f` (also `_start`) returns [`GENUINE`]; its code holds that
/// constant as an immediate.
pub const CONSTANT_WAT: &str = r#"(module (memory (export "memory") 1)
    (func (export "f") (result i32) i32.const 0x11223344)
    (func (export "_start") (result i32) i32.const 0x11223344))"#;

/// What [`CONSTANT_WAT`] returns.
pub const GENUINE: u32 = 0x1122_3344;
/// What the forged code returns.
pub const FORGED: u32 = 0x5566_7788;

/// `artifact` (checksum, then a 32-byte tag) with every [`GENUINE`] immediate changed to
/// [`FORGED`] and the checksum recomputed; the tag is left as it was.
pub fn forge(artifact: &[u8]) -> Vec<u8> {
    let (artifact, tag) = artifact.split_at(artifact.len() - 32);
    let mut body = artifact[..artifact.len() - 32].to_vec();
    let mut changed = 0;
    for at in 0..body.len().saturating_sub(3) {
        if body[at..at + 4] == GENUINE.to_le_bytes() {
            body[at..at + 4].copy_from_slice(&FORGED.to_le_bytes());
            changed += 1;
        }
    }
    assert!(changed > 0, "the constant is in the code");
    let checksum = Sha256::digest(&body);
    body.extend_from_slice(&checksum);
    body.extend_from_slice(tag);
    body
}
