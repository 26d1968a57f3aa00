//! Python functions: a function's source run by our CPython for wasm32-wasi (built from
//! Debian's source package by `python/build.sh`; never committed), with a Proto-Faaslet of the
//! interpreter that has imported that source in its zygote, so that a call runs only its entry.
//!
//! A [`PythonRuntime`] is the directory the build writes: `python.wasm` and
//! `lib/python3.11/` (the standard library with its `.pyc`, and `pyfaasm`). Every Python
//! function uses the same interpreter, compiled once per engine (through an artifact cache in
//! the runtime's directory when it is writable). A Python function's calls, and its zygote,
//! see:
//!
//! - the standard library, read-only, at `/usr/local/lib/python3.11` (`PYTHONHOME=/usr/local`);
//! - the function's source directory, read-only, at `/function`: the source is
//!   `/function/function.py`, which `FAASM_PYTHON_FUNCTION` names (python/faasm_main.c reads
//!   it), and tracebacks quote its lines from there.

use crate::cache::ArtifactCache;
use crate::error::Error;
use crate::local::{CallSetup, Function, SchedulerError};
use crate::modules::{self, Log};
use faasm_runtime::{Engine, Module};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The file name of a Python function's source, in its source directory.
pub const SOURCE_FILE: &str = "function.py";

/// The interpreter, in a runtime directory.
const INTERPRETER: &str = "python.wasm";
/// The standard library, in a runtime directory.
const STDLIB: &str = "lib/python3.11";
/// Where calls see the standard library, and the `PYTHONHOME` that finds it there.
const STDLIB_GUEST: &str = "/usr/local/lib/python3.11";
const HOME_GUEST: &str = "/usr/local";
/// Where calls see their function's source directory.
const SOURCE_GUEST: &str = "/function";
/// The artifact cache of the interpreter, in a runtime directory.
const CODE_CACHE: &str = "code-cache";

/// A CPython built by `python/build.sh`, and its compiled code per engine.
#[derive(Debug)]
pub struct PythonRuntime {
    dir: PathBuf,
    /// The interpreter compiled for each engine fingerprint so far.
    modules: Mutex<HashMap<String, Module>>,
}

impl PythonRuntime {
    /// The runtime in `dir`, after checking that it holds an interpreter and a standard
    /// library.
    pub fn open(dir: impl Into<PathBuf>) -> Result<PythonRuntime, Error> {
        let dir = dir.into();
        let missing = |what: &str| {
            Error::Usage(format!(
                "{} is not a Python runtime: it has no {what} (build one with python/build.sh)",
                dir.display()
            ))
        };
        if !dir.join(INTERPRETER).is_file() {
            return Err(missing(INTERPRETER));
        }
        if !dir.join(STDLIB).join("os.py").is_file() {
            return Err(missing(&format!("{STDLIB}/os.py")));
        }
        Ok(PythonRuntime {
            dir,
            modules: Mutex::default(),
        })
    }

    /// The runtime named by `$FAASM_PYTHON_DIR`, if it is set (and not empty).
    pub fn from_env() -> Result<Option<PythonRuntime>, Error> {
        match std::env::var_os("FAASM_PYTHON_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => PythonRuntime::open(dir).map(Some),
            None => Ok(None),
        }
    }

    /// The runtime's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The interpreter compiled for `engine`: from this process's earlier calls, the runtime's
    /// artifact cache, or the compiler.
    pub fn module(&self, engine: &Engine, log: Log) -> Result<Module, Error> {
        let fingerprint = engine.fingerprint().to_string();
        if let Some(module) = self.lock().get(&fingerprint) {
            return Ok(module.clone());
        }
        let cache = ArtifactCache::new(self.dir.join(CODE_CACHE));
        let module = modules::obtain(engine, &self.dir.join(INTERPRETER), Some(&cache), None, log)?;
        self.lock().insert(fingerprint, module.clone());
        Ok(module)
    }

    /// What the calls (and the zygote) of the Python function whose source directory is
    /// `source_dir` see.
    pub fn call_setup(&self, source_dir: &Path) -> CallSetup {
        CallSetup::default()
            .preopen_dir_read_only(self.dir.join(STDLIB), STDLIB_GUEST)
            .preopen_dir_read_only(source_dir, SOURCE_GUEST)
            .env("PYTHONHOME", HOME_GUEST)
            .env(
                "FAASM_PYTHON_FUNCTION",
                format!("{SOURCE_GUEST}/{SOURCE_FILE}"),
            )
            .env("PYTHONDONTWRITEBYTECODE", "1")
    }

    /// The Python function whose source is `source_dir/function.py`: the interpreter
    /// initialised with that source imported, within `timeout`. An exception while importing
    /// it fails here, with the traceback.
    pub fn prepare(
        &self,
        engine: &Engine,
        source_dir: &Path,
        timeout: Duration,
        log: Log,
    ) -> Result<Function, Error> {
        let module = self.module(engine, log)?;
        let source = source_dir.join(SOURCE_FILE);
        Function::prepare_seeing(&module, timeout, self.call_setup(source_dir)).map_err(|error| {
            match error {
                SchedulerError::Prepare {
                    source: source_error,
                    stderr,
                } => Error::Snapshot {
                    path: source,
                    source: source_error,
                    stderr,
                },
                other => Error::Scheduler(other),
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Module>> {
        self.modules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
