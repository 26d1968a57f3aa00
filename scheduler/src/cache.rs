//! The cache of compiled artifacts: one file per (module, engine) pair, named
//! `<SHA-256 of the module>-<first 16 hex digits of the SHA-256 of the engine fingerprint>.cwasm`,
//! so that a module compiled with other settings, by another faasm-rs build or on another CPU
//! never meets an artifact it cannot use. Entries are written atomically (a temporary file in
//! the same directory, then `rename`), so a reader sees a whole entry or none; a corrupt entry
//! is still caught by the artifact's own checks when it is loaded.
//!
//! Artifacts on disk (cache entries, `faasm-run compile` output, the function store's) carry
//! an HMAC-SHA256 tag under the host's artifact key ([`host_key`]), and only artifacts whose tag
//! checks are loaded: native code from a file that anyone else changed, or that was written
//! without the key, never runs. A checksum could not give that, since whoever changes the
//! file can recompute it.

use faasm_runtime::ArtifactKey;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

    /// The host's artifact key, in [`KEY_FILE`] of the directory (see [`host_key`]).
    pub fn key(&self) -> io::Result<ArtifactKey> {
        host_key(&self.dir.join(KEY_FILE))
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

/// Name of the file that holds the artifact key in the cache directory.
pub const KEY_FILE: &str = "artifact.key";

/// The artifact key kept in file `path`: 32 random bytes, readable and writable by its owner
/// only; made (with its directory) on first use. A key file that others may read or write, or
/// that does not hold exactly 32 bytes, is an error: a key others know authenticates nothing.
pub fn host_key(path: &Path) -> io::Result<ArtifactKey> {
    let key_error =
        |what: String| io::Error::other(format!("artifact key {}: {what}", path.display()));
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_key_file(path)?;
            fs::File::open(path)?
        }
        Err(e) => return Err(e),
    };
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(key_error(format!(
            "mode {:o} lets other users read or write it (make it 0600)",
            mode & 0o777
        )));
    }
    let mut key = [0u8; 32];
    let mut rest = Vec::new();
    file.read_exact(&mut key)
        .and_then(|()| file.read_to_end(&mut rest))
        .map_err(|e| key_error(format!("cannot read 32 bytes: {e}")))?;
    if !rest.is_empty() {
        return Err(key_error("longer than 32 bytes".to_string()));
    }
    Ok(ArtifactKey::from_bytes(key))
}

/// Writes a new random key to `path` (mode 0600) unless one appears there first: it is written
/// to a temporary file and hard-linked into place, so a concurrent reader never sees half a
/// key and two processes creating it agree on one.
fn create_key_file(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    fs::create_dir_all(dir)?;
    let mut key = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let temporary = temporary_beside(path)?;
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(&key)?;
            file.sync_all()
        });
    let linked = written.and_then(|()| match fs::hard_link(&temporary, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&temporary);
    linked
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that `path`
/// never holds a partial file; the temporary file is removed on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = temporary_beside(path)?;
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

/// A name for a temporary file beside `path`, unique to this process and this call (threads
/// of one process writing the same file at once each get their own).
fn temporary_beside(path: &Path) -> io::Result<PathBuf> {
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
    Ok(path.with_file_name(temporary_name))
}

/// Lower-case hexadecimal. Digit by digit from a table: formatting each byte made a string
/// per byte, a hundred allocations for every cache entry name a run looks up.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
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

    /// Threads of one process loading their first functions at once (a host's first calls)
    /// all get the key one of them wrote.
    #[test]
    fn threads_making_the_key_at_once_agree_on_one() {
        for round in 0..30 {
            let path = temp_dir(&format!("racing-key-{round}")).join(KEY_FILE);
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let makers: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            host_key(&path).map(drop)
                        })
                    })
                    .collect();
                for maker in makers {
                    maker.join().unwrap().unwrap();
                }
            });
            assert_eq!(fs::read(&path).unwrap().len(), 32);
            // No temporary file is left beside it.
            assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
            let _ = fs::remove_dir_all(path.parent().unwrap());
        }
    }

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
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
    fn the_host_key_is_made_once_private_and_checked() {
        let dir = temp_dir("key");
        let key_file = dir.join(KEY_FILE);
        let first = host_key(&key_file).expect("made");
        let mode = fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let bytes = fs::read(&key_file).unwrap();
        assert_eq!(bytes.len(), 32);
        let again = host_key(&key_file).expect("read");
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert_eq!(fs::read(&key_file).unwrap(), bytes, "kept, not replaced");
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
        let error = host_key(&key_file).unwrap_err().to_string();
        assert!(
            error.contains("mode 644") && error.contains(KEY_FILE),
            "{error}"
        );
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&key_file, [1; 31]).unwrap();
        assert!(
            host_key(&key_file)
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary files");
        fs::remove_dir_all(&dir).unwrap();
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
