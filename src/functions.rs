//! Functions in the function store: `faasm-run upload USER/FUNC FILE` (validate, compile, link
//! against the host interface, prepare the Proto-Faaslet, store all three) and `faasm-run
//! invoke USER/FUNC` (load from the store, run through a [`Scheduler`] whose
//! [`FunctionSource`] is the store, so the call's chained calls find the user's other
//! functions).
//!
//! A stored artifact is used only by an engine with the same fingerprint (compiler build and
//! settings, `--memory-strategy`, CPU features); otherwise `invoke` compiles `function.wasm`
//! again and prepares a new Proto-Faaslet in memory (the store is left as it is).

use crate::cli::{InvokeOptions, StoreOptions, UploadOptions};
use crate::error::Error;
use crate::modules::{self, Log, ModuleFile};
use crate::run;
use crate::scheduler::{
    CallRequest, Failure, Function, FunctionSource, Scheduler, SchedulerConfig, SchedulerError,
};
use crate::store::{
    ARTIFACT_FILE, FunctionId, FunctionStore, SNAPSHOT_FILE, StoreError, StoredFunction, WASM_FILE,
};
use faasm_hostcalls::faasm_state::RedisTier;
use faasm_runtime::{ArtifactError, ArtifactKey, Engine, Module};
use faasm_snapshot::{RestoreError, Snapshot};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// `faasm-run upload USER/FUNC FILE`: every error names the function (and its file).
pub(crate) fn upload(options: &UploadOptions) -> Result<(), Error> {
    upload_function(options).map_err(|source| Error::Upload {
        function: options.function.clone(),
        source: Box::new(source),
    })
}

fn upload_function(options: &UploadOptions) -> Result<(), Error> {
    let id = &options.function;
    let log = Log::new(options.engine.verbose);
    let store = function_store(&options.store)?;
    let engine = run::engine(&options.engine, options.max_memory.map(|pages| pages.0))?;
    let start = Instant::now();
    let wasm = match modules::read_module_file(&options.file)? {
        ModuleFile::Wasm(wasm) => wasm,
        ModuleFile::Artifact(_) => {
            return Err(Error::Usage(format!(
                "{} is a compiled artifact; upload the module itself (.wasm or .wat)",
                options.file.display()
            )));
        }
    };
    let module = modules::compile(&engine, &options.file, &wasm)?;
    log.say(format!("compiled in {}", modules::millis(start.elapsed())));
    let prepared = Instant::now();
    let function = Function::prepare_within(&module, options.timeout)
        .map_err(|error| prepare_error(&options.file, error))?;
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
    let key = store_key(&store)?;
    let stored = StoredFunction {
        wasm,
        artifact: module.serialize_authenticated(&key),
        snapshot,
    };
    store.put(id, &stored)?;
    println!(
        "uploaded {id} to {} (module {}, code {}, snapshot {}) in {}",
        store.function_dir(id).display(),
        size(stored.wasm.len()),
        size(stored.artifact.len()),
        size(stored.snapshot.len()),
        modules::millis(start.elapsed())
    );
    Ok(())
}

/// What `Function::prepare` reports, as the CLI's errors about `file`.
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

/// `faasm-run invoke USER/FUNC ...`: prints the call's output and returns the exit status
/// (the function's return value); failures other than a non-zero return are errors.
pub(crate) fn invoke(options: &InvokeOptions) -> Result<u8, Error> {
    let id = &options.function;
    let log = Log::new(options.engine.verbose);
    let store = function_store(&options.store)?;
    let engine = run::engine(&options.engine, options.max_memory.map(|pages| pages.0))?;
    let input = match (&options.input, &options.input_file) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?,
        (None, None) => Vec::new(),
    };
    let start = Instant::now();
    let function = load_function(&engine, &store, id, log)?;
    log.say(format!(
        "loaded {id} from {} in {}",
        store.function_dir(id).display(),
        modules::millis(start.elapsed())
    ));

    let defaults = SchedulerConfig::default();
    let mut config = SchedulerConfig {
        workers: usize::from(options.workers),
        default_timeout: options.timeout.or(defaults.default_timeout),
        // An await may last as long as the awaiting call (it is capped by that anyway).
        await_timeout: options.timeout.or(defaults.await_timeout),
        echo_stdio: true,
        chain_limits: options.limits.chain_limits(),
        state_limits: options.limits.state_limits(),
        ..defaults
    };
    if let Some(url) = &options.state {
        let redis = RedisTier::new(url).map_err(Error::State)?;
        config = config.with_global_tier(Arc::new(redis));
    }
    let scheduler = Scheduler::with_config(&engine, config)?;
    scheduler.register(&id.user, &id.function, function);
    scheduler.set_source(Arc::new(StoreSource {
        engine: engine.clone(),
        store,
        log,
    }));
    let request = CallRequest {
        input,
        cmdline: options.cmdline.clone(),
        func_ptr: options.func_ptr,
        timeout: options.timeout,
    };
    let result = scheduler.invoke(&id.user, &id.function, request)?;
    log.say(format!("{id} ran in {}", modules::millis(result.duration)));
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&result.output)
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Write {
            path: PathBuf::from("<stdout>"),
            source,
        })?;
    drop(stdout);
    if let Some(limit) = &result.limit {
        eprintln!("faasm-run: {id}: a call of the invocation ran into a limit: {limit}");
    }
    // Chained calls nobody awaited end too (each within its timeout).
    scheduler.wait_idle(None);
    match result.failure {
        None => Ok(0),
        Some(Failure::NonZero(value) | Failure::Exit(value)) => Ok(exit_status(value)),
        Some(failure) => Err(Error::Invocation {
            function: id.clone(),
            failure,
        }),
    }
}

/// The process status for a non-zero return value: its low 8 bits (as a native process's
/// `exit` status), but never 0 for a failed call.
fn exit_status(value: i32) -> u8 {
    match value as u8 {
        0 => 1,
        status => status,
    }
}

/// The store of `--store`, else the default one.
fn function_store(options: &StoreOptions) -> Result<FunctionStore, Error> {
    options
        .dir
        .clone()
        .or_else(FunctionStore::default_dir)
        .map(FunctionStore::new)
        .ok_or_else(|| {
            Error::Usage(
                "no function store: give --store DIR, or set FAASM_STORE_DIR or HOME".to_string(),
            )
        })
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

/// Function `id` of `store`, for `engine`: its stored artifact and Proto-Faaslet, or, if they
/// were made by an engine with another fingerprint, its module compiled and prepared again.
pub(crate) fn load_function(
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

/// The function store as the scheduler's source of the functions a call chains.
struct StoreSource {
    engine: Engine,
    store: FunctionStore,
    log: Log,
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

/// `812 B`, `12.3 KiB`, `4.5 MiB`.
fn size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let value = bytes as f64;
    if value < KIB {
        format!("{bytes} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{:.1} MiB", value / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_exit_statuses() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(12_595), "12.3 KiB");
        assert_eq!(size(4_718_592), "4.5 MiB");
        assert_eq!(exit_status(3), 3);
        assert_eq!(exit_status(-1), 255);
        assert_eq!(exit_status(256), 1);
    }
}
