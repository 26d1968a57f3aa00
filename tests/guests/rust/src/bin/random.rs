//! Randomness through std: `RandomState`'s keys come from `random_get`, so the hash of a fixed
//! value differs from run to run. The test runs this guest twice and compares the lines.
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, RandomState};

fn main() {
    let hash = RandomState::new().hash_one(42_u64);
    println!("random hash: {hash:016x}");
}
