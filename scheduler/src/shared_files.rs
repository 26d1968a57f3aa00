//! Shared files, as Faasm has them: files uploaded to the host (`PUT /file` with a `FilePath`
//! header) that every function reads at `faasm://PATH`. They live in the function store, under
//! `DIR/#files/PATH` (`#` is in no user name, so no function's directory can be there), and
//! each call gets that directory as a read-only WASI preopen named [`GUEST_NAME`].
//!
//! Why `faasm:`: wasi-libc resolves a path through the preopen whose name is its longest
//! prefix ending at a `/` (leading `/` and `./` of names and paths aside), so
//! `fopen("faasm://data/x.txt")` matches the preopen `faasm:` and opens `data/x.txt` beneath
//! it (the `//` after the name is dropped as any run of `/`), with the stock toolchain and no
//! change to the guest.
//!
//! A path is checked before it touches the file system ([`SharedFilePath`]): relative, no `.`
//! or `..` component, no empty component, no NUL, at most [`MAX_PATH_BYTES`] bytes. Files are
//! written atomically (a temporary file in `DIR/#files-partial/`, outside what guests see,
//! then a rename): a guest reads the old bytes or the new ones, never half of them.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The directory of the shared files in the store.
pub const FILES_DIR: &str = "#files";
/// Where uploads are written before they are renamed into [`FILES_DIR`].
const PARTIAL_DIR: &str = "#files-partial";
/// The guest's name for the shared files' preopen: `faasm://PATH` resolves beneath it.
pub const GUEST_NAME: &str = "faasm:";
/// The prefix a guest (and, optionally, a `FilePath` header) puts before a shared file's path.
pub const URL_PREFIX: &str = "faasm://";
/// The longest path of a shared file, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// The longest component of a path, in bytes (the file systems' usual `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// A checked path of a shared file, relative to the shared files' directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFilePath(String);

/// Why a shared file could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SharedFileError {
    /// The path is not one a shared file may have.
    #[error("bad shared file path {path:?}: {reason}")]
    BadPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No shared file has this path.
    #[error("no shared file {0}")]
    NotFound(SharedFilePath),
    /// The path runs into what is there: a part of it is a file, or it is a directory.
    #[error("shared file {path}: {reason}")]
    Conflict {
        /// The path.
        path: SharedFilePath,
        /// What is in the way.
        reason: &'static str,
    },
    /// The file system failed.
    #[error("shared file {path}: {}: {source}", file.display())]
    Io {
        /// The path.
        path: SharedFilePath,
        /// The host file or directory.
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl SharedFilePath {
    /// Checks `path` (an optional `faasm://` before it is dropped).
    pub fn parse(path: &str) -> Result<SharedFilePath, SharedFileError> {
        let bad = |reason| SharedFileError::BadPath {
            path: path.chars().take(MAX_PATH_BYTES).collect(),
            reason,
        };
        let relative = path.strip_prefix(URL_PREFIX).unwrap_or(path);
        if relative.is_empty() {
            return Err(bad("the path is empty"));
        }
        if relative.len() > MAX_PATH_BYTES {
            return Err(bad("a shared file's path has at most 1024 bytes"));
        }
        if relative.contains('\0') {
            return Err(bad("the path contains a NUL byte"));
        }
        if relative.starts_with('/') {
            return Err(bad("the path must be relative (no leading `/`)"));
        }
        for component in relative.split('/') {
            match component {
                "" => {
                    return Err(bad(
                        "the path has an empty component (`//` or a trailing `/`)",
                    ));
                }
                "." | ".." => return Err(bad("`.` and `..` are not allowed in the path")),
                _ if component.len() > MAX_COMPONENT_BYTES => {
                    return Err(bad("a component of the path has at most 255 bytes"));
                }
                _ => {}
            }
        }
        Ok(SharedFilePath(relative.to_string()))
    }

    /// The path, relative.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SharedFilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{URL_PREFIX}{}", self.0)
    }
}

/// The shared files of a store in `store_dir`.
#[derive(Debug, Clone)]
pub struct SharedFiles {
    dir: PathBuf,
    partial: PathBuf,
}

impl SharedFiles {
    /// The shared files of the store in `store_dir`.
    pub fn new(store_dir: &Path) -> SharedFiles {
        SharedFiles {
            dir: store_dir.join(FILES_DIR),
            partial: store_dir.join(PARTIAL_DIR),
        }
    }

    /// Their directory (it may not exist yet; see [`SharedFiles::create_dir`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates their directory if it is missing, and returns it.
    pub fn create_dir(&self) -> io::Result<&Path> {
        fs::create_dir_all(&self.dir)?;
        Ok(&self.dir)
    }

    /// Stores `bytes` as `path`, replacing what was there, atomically.
    pub fn put(&self, path: &SharedFilePath, bytes: &[u8]) -> Result<(), SharedFileError> {
        let target = self.dir.join(path.as_str());
        let io_error = |file: &Path, source| SharedFileError::Io {
            path: path.clone(),
            file: file.to_path_buf(),
            source,
        };
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|source| match source.kind() {
                io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
                    SharedFileError::Conflict {
                        path: path.clone(),
                        reason: "a part of its path is a file",
                    }
                }
                _ => io_error(parent, source),
            })?;
        }
        if target.is_dir() {
            return Err(SharedFileError::Conflict {
                path: path.clone(),
                reason: "it is a directory",
            });
        }
        fs::create_dir_all(&self.partial).map_err(|source| io_error(&self.partial, source))?;
        let temporary = self.partial.join(temporary_name());
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| fs::rename(&temporary, &target));
        if let Err(source) = renamed {
            let _ = fs::remove_file(&temporary);
            return Err(match source.kind() {
                io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => {
                    SharedFileError::Conflict {
                        path: path.clone(),
                        reason: "it is a directory",
                    }
                }
                _ => io_error(&target, source),
            });
        }
        Ok(())
    }

    /// The bytes of `path`.
    pub fn get(&self, path: &SharedFilePath) -> Result<Vec<u8>, SharedFileError> {
        let file = self.dir.join(path.as_str());
        match fs::read(&file) {
            Ok(bytes) => Ok(bytes),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::IsADirectory
                ) =>
            {
                Err(SharedFileError::NotFound(path.clone()))
            }
            Err(source) => Err(SharedFileError::Io {
                path: path.clone(),
                file,
                source,
            }),
        }
    }
}

/// A name no other upload uses at the same time: this process and a counter.
fn temporary_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "upload-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faasm-shared-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn paths_are_checked_before_they_reach_the_file_system() {
        for good in [
            "x",
            "data/x.txt",
            "a/b/c.d",
            "faasm://data/x.txt",
            ".hidden/x",
        ] {
            assert!(SharedFilePath::parse(good).is_ok(), "{good} was refused");
        }
        assert_eq!(
            SharedFilePath::parse("faasm://data/x.txt")
                .unwrap()
                .as_str(),
            "data/x.txt"
        );
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        let long_component = format!("a/{}", "y".repeat(MAX_COMPONENT_BYTES + 1));
        for bad in [
            "",
            "faasm://",
            "/etc/passwd",
            "faasm:///etc/passwd",
            "..",
            "../x",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/",
            "a\0b",
            long.as_str(),
            long_component.as_str(),
        ] {
            assert!(
                matches!(
                    SharedFilePath::parse(bad),
                    Err(SharedFileError::BadPath { .. })
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn files_round_trip_replace_and_conflict() {
        let store = temp_store("round-trip");
        let files = SharedFiles::new(&store);
        let path = SharedFilePath::parse("data/x.txt").unwrap();
        assert!(matches!(
            files.get(&path),
            Err(SharedFileError::NotFound(_))
        ));
        files.put(&path, b"one").unwrap();
        assert_eq!(files.get(&path).unwrap(), b"one");
        files.put(&path, b"two").unwrap();
        assert_eq!(fs::read(store.join("#files/data/x.txt")).unwrap(), b"two");
        // No temporary file is left, and none is ever where guests look.
        assert_eq!(fs::read_dir(store.join(PARTIAL_DIR)).unwrap().count(), 0);
        let under_a_file = SharedFilePath::parse("data/x.txt/y").unwrap();
        assert!(matches!(
            files.put(&under_a_file, b"y"),
            Err(SharedFileError::Conflict { .. })
        ));
        let a_directory = SharedFilePath::parse("data").unwrap();
        assert!(matches!(
            files.put(&a_directory, b"d"),
            Err(SharedFileError::Conflict { .. })
        ));
        assert!(matches!(
            files.get(&a_directory),
            Err(SharedFileError::NotFound(_))
        ));
        let _ = fs::remove_dir_all(&store);
    }
}
