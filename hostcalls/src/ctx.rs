//! A guest's WASI world: arguments, environment, descriptors (standard streams and preopened
//! directories), clocks and randomness; and the builder that makes it.

use crate::clocks::{OsRandom, RandomSource, SystemClocks, WasiClocks};
use crate::fdtable::{Descriptor, FdEntry, FdTable, OpenDir};
use crate::stdio::{Input, Output, StdStream, Stream, lock};
use crate::types::rights;
use cap_std::fs::Dir;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Descriptors a guest may hold at once unless the builder says otherwise.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

/// Why a [`WasiCtx`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WasiCtxError {
    /// A preopened directory could not be resolved on the host.
    #[error("cannot preopen {host:?} as {guest:?}: {source}")]
    Preopen {
        /// The host directory.
        host: PathBuf,
        /// The guest's name for it.
        guest: String,
        /// What the host said.
        source: io::Error,
    },
    /// A preopened path is not a directory.
    #[error("cannot preopen {host:?} as {guest:?}: not a directory")]
    PreopenNotADirectory {
        /// The host path.
        host: PathBuf,
        /// The guest's name for it.
        guest: String,
    },
    /// An argument or environment entry cannot be passed as a C string.
    #[error("{what} {value:?} {reason}")]
    BadString {
        /// `argument`, `environment variable`, or `preopen name`.
        what: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The state behind a guest's `wasi_snapshot_preview1` imports.
#[derive(Debug)]
pub struct WasiCtx {
    /// Arguments, each without its NUL.
    pub(crate) args: Vec<Vec<u8>>,
    /// `KEY=value` entries, each without its NUL.
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: FdTable,
    pub(crate) clocks: Box<dyn WasiClocks>,
    pub(crate) random: Box<dyn RandomSource>,
    /// The bounds of the call in progress, for the calls that may wait (set around them only).
    pub(crate) wait: crate::wait::CallWait,
}

impl WasiCtx {
    /// A builder with no arguments, environment or preopens, and null standard streams.
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::default()
    }

    /// The arguments the guest sees.
    pub fn args(&self) -> impl Iterator<Item = String> + '_ {
        self.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
    }
}

/// Builds a [`WasiCtx`]:
/// `WasiCtx::builder().args(["prog", "x"]).env("K", "v").preopen_dir(host, "/").inherit_stdio().build()`.
#[derive(Debug)]
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    preopens: Vec<Preopen>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    clocks: Box<dyn WasiClocks>,
    random: Box<dyn RandomSource>,
    max_open_files: usize,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdin: Input::Null,
            stdout: Output::Null,
            stderr: Output::Null,
            clocks: Box::new(SystemClocks),
            random: Box::new(OsRandom),
            max_open_files: DEFAULT_MAX_OPEN_FILES,
        }
    }
}

impl WasiCtxBuilder {
    /// Appends arguments (the first is the program's name by convention).
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Appends one argument.
    pub fn arg(self, arg: impl AsRef<str>) -> Self {
        self.args([arg])
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.env
            .push((key.as_ref().to_string(), value.as_ref().to_string()));
        self
    }

    /// Sets several environment variables.
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// Gives the guest the host process's environment (the UTF-8 entries of it).
    pub fn inherit_env(self) -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        self.envs(vars)
    }

    /// Preopens the host directory `host` under the guest name `guest` (`/`, `.`, `/data`...).
    /// Preopens get descriptors 3, 4, ... in the order given.
    pub fn preopen_dir(mut self, host: impl AsRef<Path>, guest: impl AsRef<str>) -> Self {
        self.preopens.push(Preopen::Path {
            host: host.as_ref().to_path_buf(),
            guest: guest.as_ref().to_string(),
            read_only: false,
        });
        self
    }

    /// Preopens `host` as `guest` for reading only: the guest may open, read, list and stat
    /// what is beneath it, and every call that would change it (a write, a create, a
    /// truncation, an unlink, a rename, a link, a symlink, new times) fails with
    /// `ENOTCAPABLE`, as do writes through the descriptors it opens. A descriptor taken from
    /// another preopen cannot reach into it either (paths never leave their descriptor).
    pub fn preopen_dir_read_only(mut self, host: impl AsRef<Path>, guest: impl AsRef<str>) -> Self {
        self.preopens.push(Preopen::Path {
            host: host.as_ref().to_path_buf(),
            guest: guest.as_ref().to_string(),
            read_only: true,
        });
        self
    }

    /// Preopens a directory opened before, under the guest name and with the rights it was
    /// opened with; in the order given, as the other preopens.
    pub fn preopened(mut self, dir: Arc<PreopenedDir>) -> Self {
        self.preopens.push(Preopen::Opened(dir));
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, input: Input) -> Self {
        self.stdin = input;
        self
    }

    /// Sets standard output.
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Sets standard error.
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Connects the guest's standard streams to the host process's.
    pub fn inherit_stdio(self) -> Self {
        self.stdin(Input::Inherit)
            .stdout(Output::Inherit)
            .stderr(Output::Inherit)
    }

    /// Replaces the clocks.
    pub fn clocks(mut self, clocks: impl WasiClocks + 'static) -> Self {
        self.clocks = Box::new(clocks);
        self
    }

    /// Replaces the source of `random_get`.
    pub fn random(mut self, random: impl RandomSource + 'static) -> Self {
        self.random = Box::new(random);
        self
    }

    /// Limits how many descriptors the guest may hold (`EMFILE` past it), standard streams and
    /// preopens included.
    pub fn max_open_files(mut self, max: usize) -> Self {
        self.max_open_files = max;
        self
    }

    /// The context: checks arguments, environment and preopens.
    pub fn build(self) -> Result<WasiCtx, WasiCtxError> {
        let args = self
            .args
            .iter()
            .map(|a| c_string("argument", a))
            .collect::<Result<_, _>>()?;
        let env = self
            .env
            .iter()
            .map(|(k, v)| env_entry(k, v))
            .collect::<Result<_, _>>()?;
        let max_open = self.max_open_files.max(3 + self.preopens.len());
        let mut fds = FdTable::new(max_open);
        insert_stdio(&mut fds, self.stdin, self.stdout, self.stderr);
        for preopen in self.preopens {
            insert_preopen(&mut fds, preopen)?;
        }
        Ok(WasiCtx {
            args,
            env,
            fds,
            clocks: self.clocks,
            random: self.random,
            wait: crate::wait::CallWait::default(),
        })
    }
}

fn c_string(what: &'static str, value: &str) -> Result<Vec<u8>, WasiCtxError> {
    if value.contains('\0') {
        return Err(WasiCtxError::BadString {
            what,
            value: value.to_string(),
            reason: "contains a NUL byte",
        });
    }
    Ok(value.as_bytes().to_vec())
}

fn env_entry(key: &str, value: &str) -> Result<Vec<u8>, WasiCtxError> {
    if key.is_empty() || key.contains('=') {
        return Err(WasiCtxError::BadString {
            what: "environment variable",
            value: key.to_string(),
            reason: "is not a valid name (empty, or holds '=')",
        });
    }
    c_string("environment variable", &format!("{key}={value}"))
}

fn insert_stdio(fds: &mut FdTable, stdin: Input, stdout: Output, stderr: Output) {
    let streams = [
        Stream::In(stdin),
        Stream::Out(stdout, StdStream::Stdout),
        Stream::Out(stderr, StdStream::Stderr),
    ];
    for stream in streams {
        let entry = FdEntry {
            descriptor: Descriptor::Stream(stream),
            rights_base: rights::STREAM_BASE,
            rights_inheriting: 0,
            flags: 0,
        };
        // The table is empty and its limit at least 3: these get 0, 1, 2.
        let _ = fds.insert(entry);
    }
}

/// A directory to preopen: a host path opened when the context is built, or a directory
/// opened before.
#[derive(Debug)]
enum Preopen {
    Path {
        host: PathBuf,
        guest: String,
        read_only: bool,
    },
    Opened(Arc<PreopenedDir>),
}

/// A host directory opened once, to be preopened in many contexts
/// ([`WasiCtxBuilder::preopened`]): every context shares its descriptor, with no lookup of
/// the host path and no system call (a context per call, on a busy host, would otherwise pay a `stat`
/// and an `open` of the path each time). It stays the directory it was when opened, wherever
/// it is moved afterwards.
#[derive(Debug)]
pub struct PreopenedDir {
    dir: Arc<Dir>,
    host: PathBuf,
    guest: String,
    read_only: bool,
}

impl PreopenedDir {
    /// Opens `host`, to be preopened as `guest` (for reading only if `read_only`, as
    /// [`WasiCtxBuilder::preopen_dir_read_only`] does).
    pub fn open(
        host: impl AsRef<Path>,
        guest: impl AsRef<str>,
        read_only: bool,
    ) -> Result<PreopenedDir, WasiCtxError> {
        let host = host.as_ref().to_path_buf();
        let guest = guest.as_ref().to_string();
        c_string("preopen name", &guest)?;
        let preopen_error = |source| WasiCtxError::Preopen {
            host: host.clone(),
            guest: guest.clone(),
            source,
        };
        if !std::fs::metadata(&host).map_err(preopen_error)?.is_dir() {
            return Err(WasiCtxError::PreopenNotADirectory { host, guest });
        }
        let dir = crate::sandbox::open_preopen(&host).map_err(preopen_error)?;
        Ok(PreopenedDir {
            dir: Arc::new(dir),
            host,
            guest,
            read_only,
        })
    }
}

fn insert_preopen(fds: &mut FdTable, preopen: Preopen) -> Result<(), WasiCtxError> {
    let opened = match preopen {
        Preopen::Path {
            host,
            guest,
            read_only,
        } => PreopenedDir::open(host, guest, read_only)?,
        Preopen::Opened(shared) => PreopenedDir {
            dir: Arc::clone(&shared.dir),
            host: shared.host.clone(),
            guest: shared.guest.clone(),
            read_only: shared.read_only,
        },
    };
    let (rights_base, rights_inheriting) = if opened.read_only {
        (
            rights::DIRECTORY_READ_ONLY,
            rights::DIRECTORY_READ_ONLY_INHERITING,
        )
    } else {
        (rights::DIRECTORY_BASE, rights::DIRECTORY_INHERITING)
    };
    let entry = FdEntry {
        descriptor: Descriptor::Dir(OpenDir {
            dir: opened.dir,
            preopen_name: Some(opened.guest),
        }),
        rights_base,
        rights_inheriting,
        flags: 0,
    };
    // `build` sized the table for every preopen.
    let _ = fds.insert(entry);
    Ok(())
}

impl WasiCtx {
    /// The whole of the file at the guest's absolute or relative `path`, read through the
    /// preopened directory whose guest name is the longest prefix of it (as wasi-libc picks
    /// one), resolved beneath that directory as every WASI path is ([`crate::sandbox`]).
    /// For host calls outside WASI that name files (`__faasm_write_state_from_file`).
    /// At most `max` bytes are read: a longer file is `EFBIG`, found without reading more than
    /// one byte past `max` (so a guest cannot make the host read a huge file into memory).
    pub(crate) fn read_file(&self, path: &str, max: usize) -> Result<Vec<u8>, crate::errno::Errno> {
        use crate::errno::Errno;
        use std::io::Read;
        let (relative, dir) = self
            .fds
            .preopens()
            .filter_map(|(name, dir)| Some((preopen_relative(name, path)?, dir)))
            .max_by_key(|(relative, _)| std::cmp::Reverse(relative.len()))
            .ok_or(Errno::NotCapable)?;
        let relative = if relative.is_empty() { "." } else { relative };
        let file = dir.open(crate::sandbox::guest_path(relative)?)?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(Errno::from)?;
        if bytes.len() > max {
            return Err(Errno::FBig);
        }
        Ok(bytes)
    }
}

/// `path` relative to the preopen called `name`, if `name` is a whole-component prefix of it
/// (`.` and `./` match every relative path).
fn preopen_relative<'p>(name: &str, path: &'p str) -> Option<&'p str> {
    if matches!(name, "." | "./") {
        return (!path.starts_with('/')).then_some(path);
    }
    let name = name.trim_end_matches('/');
    let rest = if name.is_empty() {
        path.strip_prefix('/')?
    } else {
        let rest = path.strip_prefix(name)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    Some(rest.trim_start_matches('/'))
}

/// A [`WasiCtx`] shared by the host functions of one store, and by the host that owns it (to
/// read captured output, or put a fresh context in place for the next call). Cheap to clone.
#[derive(Clone, Debug)]
pub struct WasiHandle {
    ctx: Arc<Mutex<WasiCtx>>,
}

impl WasiHandle {
    /// Locks the context.
    pub fn lock(&self) -> MutexGuard<'_, WasiCtx> {
        lock(&self.ctx)
    }

    /// Puts `ctx` in place of the current context and returns the old one.
    pub fn replace(&self, ctx: WasiCtx) -> WasiCtx {
        std::mem::replace(&mut *self.lock(), ctx)
    }
}

impl From<WasiCtx> for WasiHandle {
    fn from(ctx: WasiCtx) -> WasiHandle {
        WasiHandle {
            ctx: Arc::new(Mutex::new(ctx)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::tests::TempDir;

    #[test]
    fn guest_paths_pick_the_preopen_they_start_with() {
        assert_eq!(preopen_relative("/", "/a/b"), Some("a/b"));
        assert_eq!(preopen_relative("/data", "/data/x"), Some("x"));
        assert_eq!(preopen_relative("/data/", "/data/x"), Some("x"));
        assert_eq!(preopen_relative("/data", "/data"), Some(""));
        assert_eq!(preopen_relative("/data", "/database/x"), None);
        assert_eq!(preopen_relative(".", "x/y"), Some("x/y"));
        assert_eq!(preopen_relative(".", "/x"), None);
        assert_eq!(preopen_relative("/data", "x"), None);
    }

    #[test]
    fn build_checks_its_inputs() {
        assert!(WasiCtx::builder().arg("a\0b").build().is_err());
        assert!(WasiCtx::builder().env("A=B", "c").build().is_err());
        assert!(WasiCtx::builder().env("", "c").build().is_err());
        let missing = WasiCtx::builder()
            .preopen_dir("/definitely/not/here", "/")
            .build();
        assert!(matches!(missing, Err(WasiCtxError::Preopen { .. })));
        let file = WasiCtx::builder()
            .preopen_dir("/proc/self/stat", "/")
            .build();
        assert!(matches!(
            file,
            Err(WasiCtxError::PreopenNotADirectory { .. })
        ));
    }

    #[test]
    fn a_directory_opened_once_is_preopened_in_every_context_with_its_rights() {
        let root = TempDir::new();
        let held = root.0.join("held");
        std::fs::create_dir(&held).unwrap();
        std::fs::write(held.join("f.txt"), b"kept").unwrap();
        let shared = Arc::new(PreopenedDir::open(&held, "/data", true).unwrap());
        // Moved on the host after it was opened: contexts still get the directory itself.
        std::fs::rename(&held, root.0.join("moved")).unwrap();
        for _ in 0..3 {
            let ctx = WasiCtx::builder()
                .preopened(Arc::clone(&shared))
                .build()
                .unwrap();
            assert_eq!(ctx.read_file("/data/f.txt", 64).unwrap(), b"kept");
            let entry = ctx.fds.get(3).unwrap();
            assert_eq!(entry.rights_base, rights::DIRECTORY_READ_ONLY);
            assert!(matches!(
                &entry.descriptor,
                Descriptor::Dir(dir) if dir.preopen_name.as_deref() == Some("/data")
            ));
        }
        assert!(matches!(
            PreopenedDir::open(root.0.join("gone"), "/", false),
            Err(WasiCtxError::Preopen { .. })
        ));
        assert!(matches!(
            PreopenedDir::open("/proc/self/stat", "/", false),
            Err(WasiCtxError::PreopenNotADirectory { .. })
        ));
        assert!(PreopenedDir::open(&root.0, "a\0b", false).is_err());
    }

    #[test]
    fn stdio_then_preopens_in_order() {
        let (a, b) = (TempDir::new(), TempDir::new());
        let ctx = WasiCtx::builder()
            .args(["prog", "x"])
            .env("K", "v")
            .preopen_dir(&a.0, "/a")
            .preopen_dir(&b.0, "/b")
            .build()
            .unwrap();
        assert_eq!(ctx.args().collect::<Vec<_>>(), ["prog", "x"]);
        assert_eq!(ctx.env, [b"K=v".to_vec()]);
        for fd in 0..3 {
            assert!(matches!(
                ctx.fds.get(fd).unwrap().descriptor,
                Descriptor::Stream(_)
            ));
        }
        let name = |fd| match &ctx.fds.get(fd).unwrap().descriptor {
            Descriptor::Dir(dir) => dir.preopen_name.clone(),
            _ => None,
        };
        assert_eq!(name(3).as_deref(), Some("/a"));
        assert_eq!(name(4).as_deref(), Some("/b"));
    }
}
