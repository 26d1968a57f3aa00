//! The cache of compiled artifacts: one file per (module, engine) pair, named
//! `<SHA-256 of the module>-<first 16 hex digits of the SHA-256 of the engine fingerprint>.cwasm`,
//! so that a module compiled with other settings, by another faasm-rs build or on another CPU
//! never meets an artifact it cannot use. Entries are written atomically (a temporary file in
//! the same directory, then `rename`), so a reader sees a whole entry or none; a corrupt entry
//! is still caught by the artifact's own checks when it is loaded.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A cache directory (created when the first entry is written).
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ArtifactCache {
        ArtifactCache { dir: dir.into() }
    }

    /// The default directory: `$FAASM_CACHE_DIR`, else `$XDG_CACHE_HOME/faasm-rs`, else
    /// `$HOME/.cache/faasm-rs`; `None` without any of them.
    pub fn default_dir() -> Option<PathBuf> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty("FAASM_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = non_empty("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("faasm-rs"));
        }
        non_empty("HOME").map(|home| PathBuf::from(home).join(".cache").join("faasm-rs"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact of the module with hash `wasm_sha256`, compiled by an engine with
    /// `fingerprint`, lives.
    pub fn entry_path(&self, wasm_sha256: &[u8; 32], fingerprint: &str) -> PathBuf {
        let engine = Sha256::digest(fingerprint.as_bytes());
        self.dir.join(format!(
            "{}-{}.cwasm",
            hex(wasm_sha256),
            &hex(&engine)[..16]
        ))
    }

    /// Reads an entry; `Ok(None)` if there is none.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes an entry atomically, creating the directory if needed.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        write_atomically(path, bytes)
    }
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that `path`
/// never holds a partial file; the temporary file is removed on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut temporary_name = file_name.to_os_string();
    temporary_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = path.with_file_name(temporary_name);
    let written = fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = written.and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faasm-cache-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_are_keyed_by_module_and_engine() {
        let cache = ArtifactCache::new("/c");
        let a = cache.entry_path(&[1; 32], "engine a");
        let b = cache.entry_path(&[1; 32], "engine b");
        let c = cache.entry_path(&[2; 32], "engine a");
        assert_ne!(a, b);
        assert_ne!(a, c);
        let name = a.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with(&"01".repeat(32)), "{name}");
        assert!(
            name.ends_with(".cwasm") && name.len() == 64 + 1 + 16 + 6,
            "{name}"
        );
    }

    #[test]
    fn writes_are_whole_and_leave_no_temporary_files() {
        let dir = temp_dir("write");
        let cache = ArtifactCache::new(&dir);
        let path = cache.entry_path(&[3; 32], "e");
        assert_eq!(cache.read(&path).unwrap(), None);
        cache.write(&path, b"first").unwrap();
        cache.write(&path, b"second").unwrap();
        assert_eq!(cache.read(&path).unwrap().as_deref(), Some(&b"second"[..]));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
