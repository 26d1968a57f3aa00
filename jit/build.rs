//! Build script of `faasm-jit`: records what identifies the code this build generates, for the
//! engine fingerprint that compiled artifacts carry (see `src/artifact.rs`):
//!
//! - `FAASM_JIT_SOURCE_HASH`: SHA-256 of the crate's manifest and every file under `src/`, so
//!   that any change to the translator or the VMContext layout makes older artifacts stale even
//!   while the crate's version number stays the same;
//! - `FAASM_CRANELIFT_VERSION`: the `cranelift-codegen` version `Cargo.lock` resolved, or
//!   `unknown` when built outside this workspace (the workspace pins an exact version).

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let lock = manifest_dir.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!(
        "cargo:rustc-env=FAASM_JIT_SOURCE_HASH={}",
        source_hash(&manifest_dir)
    );
    println!(
        "cargo:rustc-env=FAASM_CRANELIFT_VERSION={}",
        cranelift_version(&lock).unwrap_or_else(|| "unknown".to_string())
    );
}

/// SHA-256 over the relative path and contents of `Cargo.toml` and every file under `src/`,
/// in sorted order; the first 16 hex digits.
fn source_hash(manifest_dir: &Path) -> String {
    let mut files = vec![manifest_dir.join("Cargo.toml")];
    collect_files(&manifest_dir.join("src"), &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let relative = file.strip_prefix(manifest_dir).unwrap_or(file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        let contents = fs::read(file).expect("reading a source file of faasm-jit");
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).expect("reading faasm-jit's src directory");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The version of `cranelift-codegen` in the lock file.
fn cranelift_version(lock: &Path) -> Option<String> {
    let text = fs::read_to_string(lock).ok()?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"cranelift-codegen\"" {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}
