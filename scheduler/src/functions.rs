//! Functions in the function store: an upload validates and compiles a module, checks that it
//! links against the host interface, prepares its Proto-Faaslet and stores all three; a load
//! reads them back as a [`Function`] a [`Scheduler`](crate::Scheduler) runs, and
//! [`StoreSource`] lets the scheduler load the functions a call chains.
//!
//! A stored artifact is used only by an engine with the same fingerprint (compiler build and
//! settings, memory strategy, CPU features); otherwise the load compiles `function.wasm` again
//! and prepares a new Proto-Faaslet in memory (the store is left as it is).
//!
//! Every function from the store reads the store's shared files at `faasm://PATH` (a read-only
//! preopen; see [`crate::shared_files`]).

use crate::error::Error;
use crate::local::{Function, FunctionSource, SchedulerError};
use crate::modules::{self, Log};
use crate::python::{self, PythonRuntime};
use crate::shared_files;
use crate::store::{
    ARTIFACT_FILE, FunctionId, FunctionStore, PYTHON_SOURCE_DIR, SNAPSHOT_FILE, StoreError,
    StoredFunction, WASM_FILE,
};
use faasm_runtime::{ArtifactError, ArtifactKey, Engine, Module};
use faasm_snapshot::{RestoreError, Snapshot};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The function's directory in the store.
    pub dir: PathBuf,
    /// Bytes of the module.
    pub wasm_bytes: usize,
    /// Bytes of the compiled code.
    pub artifact_bytes: usize,
    /// Bytes of the Proto-Faaslet.
    pub snapshot_bytes: usize,
    /// How long compiling, preparing and storing took.
    pub duration: Duration,
}

/// Compiles `wasm` (named `origin` in errors: its file, or where it came from), prepares its
/// Proto-Faaslet within `init_timeout` and stores all three as function `id`. Returns the
/// function, ready to register, and what was stored.
pub fn upload(
    engine: &Engine,
    store: &FunctionStore,
    id: &FunctionId,
    wasm: Vec<u8>,
    origin: &Path,
    init_timeout: Duration,
    log: Log,
) -> Result<(Function, Uploaded), Error> {
    let start = Instant::now();
    let module = modules::compile(engine, origin, &wasm)?;
    log.say(format!("compiled in {}", modules::millis(start.elapsed())));
    let prepared = Instant::now();
    let function = Function::prepare_within(&module, init_timeout)
        .map_err(|error| prepare_error(origin, error))?;
    let function = with_shared_files(function, store, log);
    log.say(format!(
        "prepared the Proto-Faaslet in {}",
        modules::millis(prepared.elapsed())
    ));
    let snapshot = serialized_snapshot(store, id, &function)?;
    let key = store_key(store)?;
    let stored = StoredFunction {
        wasm,
        artifact: module.serialize_authenticated(&key),
        snapshot,
    };
    store.put(id, &stored)?;
    let uploaded = Uploaded {
        dir: store.function_dir(id),
        wasm_bytes: stored.wasm.len(),
        artifact_bytes: stored.artifact.len(),
        snapshot_bytes: stored.snapshot.len(),
        duration: start.elapsed(),
    };
    Ok((function, uploaded))
}

/// Largest source of a Python function.
pub const MAX_PYTHON_SOURCE_BYTES: usize = 16 << 20;

/// Prepares the Proto-Faaslet of a Python function whose source is `source` (named `origin` in
/// errors) with `runtime`'s interpreter, within `init_timeout` (its top-level code runs
/// there), and stores the source and the Proto-Faaslet as function `id`. Returns the function,
/// ready to register, and what was stored (`wasm_bytes` counts the source; `artifact_bytes`
/// is 0: every Python function shares the interpreter's code).
#[allow(clippy::too_many_arguments, reason = "each is one input of an upload")]
pub fn upload_python(
    engine: &Engine,
    store: &FunctionStore,
    runtime: &PythonRuntime,
    id: &FunctionId,
    source: Vec<u8>,
    origin: &Path,
    init_timeout: Duration,
    log: Log,
) -> Result<(Function, Uploaded), Error> {
    let start = Instant::now();
    if source.len() > MAX_PYTHON_SOURCE_BYTES {
        return Err(Error::Usage(format!(
            "{}: a Python function's source has at most {MAX_PYTHON_SOURCE_BYTES} bytes, this \
             one {}",
            origin.display(),
            source.len()
        )));
    }
    if std::str::from_utf8(&source).is_err() {
        return Err(Error::Usage(format!(
            "{}: a Python function's source is UTF-8",
            origin.display()
        )));
    }
    let staging = store.python_staging_dir(id)?;
    let prepared = write_source(&staging, &source)
        .and_then(|()| runtime.prepare(engine, &staging, init_timeout, log))
        .and_then(|function| {
            let snapshot = serialized_snapshot(store, id, &function)?;
            Ok((function, snapshot))
        });
    let (function, snapshot) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    log.say(format!(
        "prepared the Proto-Faaslet in {}",
        modules::millis(start.elapsed())
    ));
    store.put_python(id, &staging, &snapshot)?;
    // Its calls read the source where the store keeps it now.
    let source_dir = store.function_dir(id).join(PYTHON_SOURCE_DIR);
    let function =
        Function::with_setup(function.snapshot().clone(), runtime.call_setup(&source_dir));
    let function = with_shared_files(function, store, log);
    let uploaded = Uploaded {
        dir: store.function_dir(id),
        wasm_bytes: source.len(),
        artifact_bytes: 0,
        snapshot_bytes: snapshot.len(),
        duration: start.elapsed(),
    };
    Ok((function, uploaded))
}

/// The Proto-Faaslet of `function`, to be stored as `id`'s, serialised.
fn serialized_snapshot(
    store: &FunctionStore,
    id: &FunctionId,
    function: &Function,
) -> Result<Vec<u8>, Error> {
    function
        .snapshot()
        .serialize()
        .map_err(|source| Error::Write {
            path: store.function_dir(id).join(SNAPSHOT_FILE),
            source,
        })
}

/// Writes a Python function's source into `dir`.
fn write_source(dir: &Path, source: &[u8]) -> Result<(), Error> {
    let path = dir.join(python::SOURCE_FILE);
    std::fs::write(&path, source).map_err(|source| Error::Write { path, source })
}

/// What `Function::prepare` reports, as errors about `file`.
fn prepare_error(file: &Path, error: SchedulerError) -> Error {
    match error {
        SchedulerError::MissingImports(missing) => Error::MissingImports {
            path: file.to_path_buf(),
            missing,
        },
        SchedulerError::Prepare { source, stderr } => Error::Snapshot {
            path: file.to_path_buf(),
            source,
            stderr,
        },
        other => Error::Scheduler(other),
    }
}

/// The key of the store's artifacts.
fn store_key(store: &FunctionStore) -> Result<ArtifactKey, Error> {
    store.key().map_err(|source| {
        Error::Store(StoreError::Io {
            path: store.dir().to_path_buf(),
            source,
        })
    })
}

/// `function` with the store's shared files preopened read-only as `faasm:` (so its calls
/// read them at `faasm://PATH`); their directory is made if missing. A store where it cannot
/// be made (read-only) gives the function no shared files, and says so to `log`.
fn with_shared_files(function: Function, store: &FunctionStore, log: Log) -> Function {
    let files = store.shared_files();
    match files.create_dir() {
        Ok(dir) => function.preopen_dir_read_only(dir, shared_files::GUEST_NAME),
        Err(error) => {
            log.say(format!(
                "no shared files (faasm://) for this function: cannot create {}: {error}",
                files.dir().display()
            ));
            function
        }
    }
}

/// Function `id` of `store`, for `engine`: its stored artifact and Proto-Faaslet, or, if they
/// were made by an engine with another fingerprint, its module compiled and prepared again.
/// Its calls read the store's shared files at `faasm://PATH`.
pub fn load_function(
    engine: &Engine,
    store: &FunctionStore,
    id: &FunctionId,
    log: Log,
) -> Result<Function, Error> {
    load_any_function(engine, store, None, id, log)
}

/// [`load_function`] for a store that may hold Python functions, which `python` runs (a
/// Python function without a runtime is an error that says so).
pub fn load_any_function(
    engine: &Engine,
    store: &FunctionStore,
    python: Option<&PythonRuntime>,
    id: &FunctionId,
    log: Log,
) -> Result<Function, Error> {
    let function = match store.python_source_dir(id) {
        Some(source_dir) => load_python(engine, store, python, id, &source_dir, log)?,
        None => load_stored(engine, store, id, log)?,
    };
    Ok(with_shared_files(function, store, log))
}

/// Python function `id`: its stored Proto-Faaslet, or, if the interpreter changed since, its
/// source prepared again (in memory; the store is left as it is).
fn load_python(
    engine: &Engine,
    store: &FunctionStore,
    python: Option<&PythonRuntime>,
    id: &FunctionId,
    source_dir: &Path,
    log: Log,
) -> Result<Function, Error> {
    let runtime = python.ok_or_else(|| Error::Load {
        function: id.clone(),
        path: source_dir.join(python::SOURCE_FILE),
        reason: "it is a Python function, and this host has no Python runtime (give --python \
                 DIR or set FAASM_PYTHON_DIR to the output of python/build.sh)"
            .to_string(),
    })?;
    let bytes = store.snapshot(id)?;
    let module = runtime.module(engine, log)?;
    match Snapshot::deserialize(&module, &bytes) {
        Ok(snapshot) => Ok(Function::with_setup(
            snapshot,
            runtime.call_setup(source_dir),
        )),
        Err(why) => {
            log.say(format!(
                "{id}: its Proto-Faaslet does not fit this interpreter ({why}); preparing it again"
            ));
            runtime.prepare(engine, source_dir, crate::DEFAULT_INIT_TIMEOUT, log)
        }
    }
}

/// [`load_function`] without the shared files.
fn load_stored(
    engine: &Engine,
    store: &FunctionStore,
    id: &FunctionId,
    log: Log,
) -> Result<Function, Error> {
    let stored = store.get(id)?;
    let dir = store.function_dir(id);
    let load_error = |file: &str, reason: String| Error::Load {
        function: id.clone(),
        path: dir.join(file),
        reason,
    };
    let key = store_key(store)?;
    let (module, recompiled) =
        match Module::deserialize_authenticated(engine, &stored.artifact, &key) {
            Ok(module) => {
                let wasm_sha256: [u8; 32] = Sha256::digest(&stored.wasm).into();
                if module.wasm_sha256() != wasm_sha256 {
                    return Err(load_error(
                        ARTIFACT_FILE,
                        format!("it holds the code of another module than {WASM_FILE}"),
                    ));
                }
                (module, false)
            }
            Err(why @ (ArtifactError::Fingerprint(_) | ArtifactError::Version { .. })) => {
                log.say(format!(
                    "{id}: the stored code does not fit this engine ({why}); compiling {WASM_FILE} \
                 again"
                ));
                let start = Instant::now();
                let module = Module::new(engine, &stored.wasm)
                    .map_err(|error| load_error(WASM_FILE, error.to_string()))?;
                log.say(format!(
                    "{id}: compiled in {}",
                    modules::millis(start.elapsed())
                ));
                (module, true)
            }
            Err(error) => return Err(load_error(ARTIFACT_FILE, error.to_string())),
        };
    match Snapshot::deserialize(&module, &stored.snapshot) {
        Ok(snapshot) => Ok(Function::new(snapshot)),
        Err(RestoreError::EngineMismatch(_)) if recompiled => {
            log.say(format!("{id}: preparing its Proto-Faaslet again"));
            Function::prepare(&module).map_err(|error| load_error(WASM_FILE, error.to_string()))
        }
        Err(error) => Err(load_error(SNAPSHOT_FILE, error.to_string())),
    }
}

/// The function store as a scheduler's source of the functions a call chains (and, for a
/// host, of every function it is asked to run).
#[derive(Debug)]
pub struct StoreSource {
    engine: Engine,
    store: FunctionStore,
    python: Option<Arc<PythonRuntime>>,
    log: Log,
}

impl StoreSource {
    /// Loads functions of `store` for `engine`, saying what happens to `log`.
    pub fn new(engine: Engine, store: FunctionStore, log: Log) -> StoreSource {
        StoreSource {
            engine,
            store,
            python: None,
            log,
        }
    }

    /// Runs the store's Python functions with `runtime`.
    pub fn with_python(mut self, runtime: Arc<PythonRuntime>) -> StoreSource {
        self.python = Some(runtime);
        self
    }
}

impl FunctionSource for StoreSource {
    fn load(&self, user: &str, name: &str) -> Result<Option<Function>, String> {
        let id = FunctionId::new(user, name).map_err(|error| error.to_string())?;
        let python = self.python.as_deref();
        match load_any_function(&self.engine, &self.store, python, &id, self.log) {
            Ok(function) => Ok(Some(function)),
            Err(Error::Store(StoreError::NotFound { .. })) => Ok(None),
            // The scheduler names the function already.
            Err(Error::Load { path, reason, .. }) => Err(format!("{}: {reason}", path.display())),
            Err(error) => Err(error.to_string()),
        }
    }
}
