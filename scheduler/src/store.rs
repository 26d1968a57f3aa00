//! The function store: what `faasm-run upload USER/FUNC FILE` keeps and `invoke` runs. One
//! directory per function, `DIR/USER/FUNC/`, holding the module as uploaded (`function.wasm`),
//! its compiled artifact (`function.cwasm`, for the engine settings it was uploaded with) and its
//! Proto-Faaslet (`function.snap`). Files are written atomically (see
//! [`cache::write_atomically`]) and the snapshot last, so a function whose snapshot exists is
//! complete; a reader never sees half an upload.
//!
//! The artifacts are authenticated (see [`crate::cache`]) with the key in `DIR/#artifact.key`
//! ([`FunctionStore::key`]; `#` is in no user name): a `function.cwasm` changed by anyone
//! without the key is refused at `invoke`. The shared files are in `DIR/#files/`
//! ([`crate::shared_files`]), the embedded state tier in `DIR/#state/`.
//!
//! Names are checked before they touch the file system: a user or function name is 1 to 64
//! characters of `[A-Za-z0-9_.-]`, not `.` or `..`, so no name escapes the store.

use crate::cache;
use crate::shared_files::SharedFiles;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The module as uploaded.
pub const WASM_FILE: &str = "function.wasm";
/// Its compiled artifact.
pub const ARTIFACT_FILE: &str = "function.cwasm";
/// Its Proto-Faaslet.
pub const SNAPSHOT_FILE: &str = "function.snap";
/// A Python function's source directory (holding [`crate::python::SOURCE_FILE`]), in place of
/// the module and its artifact.
pub const PYTHON_SOURCE_DIR: &str = "source";

/// The file of the store's artifact key; no user is named so.
const KEY_FILE: &str = "#artifact.key";

/// Longest user or function name.
const MAX_NAME_LEN: usize = 64;

/// A function's name: `USER/FUNC`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId {
    /// The user (the namespace of functions and state keys).
    pub user: String,
    /// The function.
    pub function: String,
}

/// Why a `USER/FUNC` name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad function name `{name}`: {reason}")]
pub struct BadFunctionId {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FunctionId {
    /// A checked id from a user and a function name.
    pub fn new(user: &str, function: &str) -> Result<FunctionId, BadFunctionId> {
        let name = format!("{user}/{function}");
        let bad = |reason| BadFunctionId {
            name: name.clone(),
            reason,
        };
        check_name(user).map_err(bad)?;
        check_name(function).map_err(bad)?;
        Ok(FunctionId {
            user: user.to_string(),
            function: function.to_string(),
        })
    }
}

impl FromStr for FunctionId {
    type Err = BadFunctionId;

    fn from_str(name: &str) -> Result<FunctionId, BadFunctionId> {
        match name.split_once('/') {
            Some((user, function)) => FunctionId::new(user, function),
            None => Err(BadFunctionId {
                name: name.to_string(),
                reason: "expected USER/FUNCTION",
            }),
        }
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.function)
    }
}

/// Checks one part of a function name.
fn check_name(part: &str) -> Result<(), &'static str> {
    if part.is_empty() {
        return Err("the user and the function must not be empty");
    }
    if part.len() > MAX_NAME_LEN {
        return Err("a user or function name has at most 64 characters");
    }
    if part == "." || part == ".." {
        return Err("`.` and `..` are not names");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !part.chars().all(allowed) {
        return Err("names are made of letters, digits, `_`, `.` and `-`");
    }
    Ok(())
}

/// A function as stored: the three files' contents.
#[derive(Debug, Clone)]
pub struct StoredFunction {
    /// The module as uploaded (binary format).
    pub wasm: Vec<u8>,
    /// Its compiled artifact.
    pub artifact: Vec<u8>,
    /// Its Proto-Faaslet.
    pub snapshot: Vec<u8>,
}

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No function of that name was uploaded.
    #[error("no function {id} in the store {} (upload it with `faasm-run upload {id} FILE`)", dir.display())]
    NotFound {
        /// The function.
        id: FunctionId,
        /// The store's directory.
        dir: PathBuf,
    },
    /// A file of the store could not be read or written.
    #[error("function store: {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A function store in a directory (created on the first upload).
#[derive(Debug, Clone)]
pub struct FunctionStore {
    dir: PathBuf,
}

impl FunctionStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> FunctionStore {
        FunctionStore { dir: dir.into() }
    }

    /// The default directory: `$FAASM_STORE_DIR`, else `$XDG_DATA_HOME/faasm-rs/functions`, else
    /// `$HOME/.local/share/faasm-rs/functions`; `None` without any of them.
    pub fn default_dir() -> Option<PathBuf> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty("FAASM_STORE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let functions = |data: PathBuf| data.join("faasm-rs").join("functions");
        if let Some(dir) = non_empty("XDG_DATA_HOME") {
            return Some(functions(PathBuf::from(dir)));
        }
        non_empty("HOME").map(|home| functions(PathBuf::from(home).join(".local").join("share")))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key that authenticates the store's artifacts (made on first use).
    pub fn key(&self) -> io::Result<faasm_runtime::ArtifactKey> {
        cache::host_key(&self.dir.join(KEY_FILE))
    }

    /// The store's shared files (read by functions at `faasm://PATH`).
    pub fn shared_files(&self) -> SharedFiles {
        SharedFiles::new(&self.dir)
    }

    /// The directory of function `id` (it exists once the function is uploaded).
    pub fn function_dir(&self, id: &FunctionId) -> PathBuf {
        self.dir.join(&id.user).join(&id.function)
    }

    /// Stores (or replaces) function `id`. The snapshot is written last: it marks the function
    /// complete.
    pub fn put(&self, id: &FunctionId, function: &StoredFunction) -> Result<(), StoreError> {
        let dir = self.function_dir(id);
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        // A Python function of that name is replaced.
        let source_dir = dir.join(PYTHON_SOURCE_DIR);
        match fs::remove_dir_all(&source_dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(StoreError::Io {
                    path: source_dir,
                    source: e,
                });
            }
            _ => {}
        }
        for (file, bytes) in [
            (WASM_FILE, &function.wasm),
            (ARTIFACT_FILE, &function.artifact),
            (SNAPSHOT_FILE, &function.snapshot),
        ] {
            let path = dir.join(file);
            cache::write_atomically(&path, bytes)
                .map_err(|source| StoreError::Io { path, source })?;
        }
        Ok(())
    }

    /// Reads function `id`.
    pub fn get(&self, id: &FunctionId) -> Result<StoredFunction, StoreError> {
        let dir = self.function_dir(id);
        let read = |file: &str| {
            let path = dir.join(file);
            fs::read(&path).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => StoreError::NotFound {
                    id: id.clone(),
                    dir: self.dir.clone(),
                },
                _ => StoreError::Io { path, source },
            })
        };
        // The snapshot first: without it, the upload is incomplete.
        let snapshot = read(SNAPSHOT_FILE)?;
        Ok(StoredFunction {
            wasm: read(WASM_FILE)?,
            artifact: read(ARTIFACT_FILE)?,
            snapshot,
        })
    }

    /// Stores (or replaces) Python function `id`: its source directory is replaced by
    /// `source_dir` (moved; a directory of the same file system, under the function's
    /// directory), the Proto-Faaslet written last, and a module and artifact of an earlier
    /// upload of that name removed.
    pub fn put_python(
        &self,
        id: &FunctionId,
        source_dir: &Path,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let dir = self.function_dir(id);
        let io = |path: PathBuf| move |source| StoreError::Io { path, source };
        // Incomplete until the new snapshot is in place.
        remove_if_present(&dir.join(SNAPSHOT_FILE)).map_err(io(dir.join(SNAPSHOT_FILE)))?;
        for file in [WASM_FILE, ARTIFACT_FILE] {
            remove_if_present(&dir.join(file)).map_err(io(dir.join(file)))?;
        }
        let target = dir.join(PYTHON_SOURCE_DIR);
        match fs::remove_dir_all(&target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io(target)(e)),
            _ => {}
        }
        fs::rename(source_dir, &target).map_err(io(target.clone()))?;
        let path = dir.join(SNAPSHOT_FILE);
        cache::write_atomically(&path, snapshot).map_err(io(path.clone()))
    }

    /// A fresh directory for the source of Python function `id` while its upload is
    /// prepared (see [`FunctionStore::put_python`]).
    pub fn python_staging_dir(&self, id: &FunctionId) -> Result<PathBuf, StoreError> {
        let dir = self
            .function_dir(id)
            .join(format!("{PYTHON_SOURCE_DIR}.{}.new", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// The source directory of function `id`, if it is a Python function.
    pub fn python_source_dir(&self, id: &FunctionId) -> Option<PathBuf> {
        let dir = self.function_dir(id).join(PYTHON_SOURCE_DIR);
        dir.join(crate::python::SOURCE_FILE)
            .is_file()
            .then_some(dir)
    }

    /// The Proto-Faaslet of function `id` (the file that marks an upload complete).
    pub fn snapshot(&self, id: &FunctionId) -> Result<Vec<u8>, StoreError> {
        let path = self.function_dir(id).join(SNAPSHOT_FILE);
        fs::read(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound {
                id: id.clone(),
                dir: self.dir.clone(),
            },
            _ => StoreError::Io { path, source },
        })
    }

    /// Every complete function in the store, sorted.
    pub fn list(&self) -> Result<Vec<FunctionId>, StoreError> {
        let mut found = Vec::new();
        for user in sorted_entries(&self.dir)? {
            for function in sorted_entries(&self.dir.join(&user))? {
                let Ok(id) = FunctionId::new(&user, &function) else {
                    continue;
                };
                if self.function_dir(&id).join(SNAPSHOT_FILE).is_file() {
                    found.push(id);
                }
            }
        }
        Ok(found)
    }
}

/// Removes file `path` if it exists.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The names of the directories in `dir`, sorted; none if `dir` does not exist.
fn sorted_entries(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("faasm-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_are_checked_before_they_reach_the_file_system() {
        assert_eq!(
            "alice/echo".parse::<FunctionId>().map(|id| id.to_string()),
            Ok("alice/echo".to_string())
        );
        for bad in [
            "echo",
            "/echo",
            "alice/",
            "../echo",
            "alice/..",
            "alice/a/b",
            "al ice/echo",
            "alice/é",
        ] {
            assert!(bad.parse::<FunctionId>().is_err(), "{bad} was accepted");
        }
        let long = format!("alice/{}", "x".repeat(65));
        assert!(long.parse::<FunctionId>().is_err());
    }

    #[test]
    fn functions_round_trip_and_missing_ones_are_named() {
        let store = FunctionStore::new(temp_dir("round-trip"));
        let id: FunctionId = "alice/echo".parse().expect("id");
        assert!(matches!(store.get(&id), Err(StoreError::NotFound { .. })));
        assert_eq!(store.list().expect("list"), vec![]);
        let function = StoredFunction {
            wasm: b"wasm".to_vec(),
            artifact: b"artifact".to_vec(),
            snapshot: b"snapshot".to_vec(),
        };
        store.put(&id, &function).expect("put");
        let back = store.get(&id).expect("get");
        assert_eq!(
            (back.wasm, back.artifact, back.snapshot),
            (function.wasm, function.artifact, function.snapshot)
        );
        let other: FunctionId = "bob/echo".parse().expect("id");
        let error = store.get(&other).expect_err("bob has none").to_string();
        assert!(error.contains("no function bob/echo"), "{error}");
        assert_eq!(store.list().expect("list"), vec![id]);
        let _ = fs::remove_dir_all(store.dir());
    }

    #[test]
    fn an_upload_without_its_snapshot_is_not_a_function() {
        let store = FunctionStore::new(temp_dir("incomplete"));
        let id: FunctionId = "alice/half".parse().expect("id");
        let dir = store.function_dir(&id);
        fs::create_dir_all(&dir).expect("dir");
        fs::write(dir.join(WASM_FILE), b"wasm").expect("write");
        assert!(matches!(store.get(&id), Err(StoreError::NotFound { .. })));
        assert_eq!(store.list().expect("list"), vec![]);
        let _ = fs::remove_dir_all(store.dir());
    }
}
