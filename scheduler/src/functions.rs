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
use crate::shared_files;
use crate::store::{
    ARTIFACT_FILE, FunctionId, FunctionStore, SNAPSHOT_FILE, StoreError, StoredFunction, WASM_FILE,
};
use faasm_runtime::{ArtifactError, ArtifactKey, Engine, Module};
use faasm_snapshot::{RestoreError, Snapshot};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
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
    let snapshot = function
        .snapshot()
        .serialize()
        .map_err(|source| Error::Write {
            path: store.function_dir(id).join(SNAPSHOT_FILE),
            source,
        })?;
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

/// What `Function::prepare` reports, as errors about `file`.
fn prepare_error(file: &Path, error: SchedulerError) -> Error {
    match error {
        SchedulerError::MissingImports(missing) => Error::MissingImports {
            path: file.to_path_buf(),
            missing,
        },
        SchedulerError::Prepare(source) => Error::Snapshot {
            path: file.to_path_buf(),
            source,
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
    let function = load_stored(engine, store, id, log)?;
    Ok(with_shared_files(function, store, log))
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
    log: Log,
}

impl StoreSource {
    /// Loads functions of `store` for `engine`, saying what happens to `log`.
    pub fn new(engine: Engine, store: FunctionStore, log: Log) -> StoreSource {
        StoreSource { engine, store, log }
    }
}

impl FunctionSource for StoreSource {
    fn load(&self, user: &str, name: &str) -> Result<Option<Function>, String> {
        let id = FunctionId::new(user, name).map_err(|error| error.to_string())?;
        match load_function(&self.engine, &self.store, &id, self.log) {
            Ok(function) => Ok(Some(function)),
            Err(Error::Store(StoreError::NotFound { .. })) => Ok(None),
            // The scheduler names the function already.
            Err(Error::Load { path, reason, .. }) => Err(format!("{}: {reason}", path.display())),
            Err(error) => Err(error.to_string()),
        }
    }
}
