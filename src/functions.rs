//! `faasm-run upload USER/FUNC FILE` (read the module, upload it through the host, say what
//! was stored) and `faasm-run invoke USER/FUNC` (a [`Scheduler`] whose source is the store, so
//! the call's chained calls find the user's other functions; the output on stdout, the return
//! value as the exit status). With `--server URL` both go to a running host instead.

use crate::cli::{InvokeOptions, StoreOptions, UploadOptions};
use crate::client::Client;
use crate::error::CliError;
use faasm_scheduler::functions::{self, StoreSource};
use faasm_scheduler::global_state::GlobalTierLocation;
use faasm_scheduler::modules::{self, ModuleFile};
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::{CallRequest, Error, Failure, FunctionStore, Scheduler, SchedulerConfig};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a client waits for a host's answer to an upload.
const UPLOAD_WAIT: Duration = Duration::from_secs(600);

/// `faasm-run upload USER/FUNC FILE`: every error names the function (and its file).
pub(crate) fn upload(options: &UploadOptions) -> Result<(), CliError> {
    if let Some(server) = &options.server {
        if is_python_source(options) {
            let source = std::fs::read(&options.file).map_err(|source| {
                let error = Error::Read {
                    path: options.file.clone(),
                    source,
                };
                CliError::Host(upload_error(options, error))
            })?;
            Client::new(server, UPLOAD_WAIT).upload_python(&options.function, &source)?;
            println!("uploaded Python function {} to {server}", options.function);
            return Ok(());
        }
        let wasm = module_bytes(options).map_err(|error| upload_error(options, error))?;
        Client::new(server, UPLOAD_WAIT).upload(&options.function, &wasm)?;
        println!("uploaded {} to {server}", options.function);
        return Ok(());
    }
    upload_function(options).map_err(|error| CliError::Host(upload_error(options, error)))
}

fn upload_error(options: &UploadOptions, source: Error) -> Error {
    Error::Upload {
        function: options.function.clone(),
        source: Box::new(source),
    }
}

/// The module of `--file` as Wasm (text assembled); an artifact is refused.
fn module_bytes(options: &UploadOptions) -> Result<Vec<u8>, Error> {
    match modules::read_module_file(&options.file)? {
        ModuleFile::Wasm(wasm) => Ok(wasm),
        ModuleFile::Artifact(_) => Err(Error::Usage(format!(
            "{} is a compiled artifact; upload the module itself (.wasm or .wat)",
            options.file.display()
        ))),
    }
}

/// Whether FILE is a Python function's source.
fn is_python_source(options: &UploadOptions) -> bool {
    options.file.extension().is_some_and(|ext| ext == "py")
}

/// The Python runtime of `--python`, else of `$FAASM_PYTHON_DIR`, if any.
pub(crate) fn python_runtime(options: &StoreOptions) -> Result<Option<PythonRuntime>, Error> {
    match &options.python {
        Some(dir) => PythonRuntime::open(dir).map(Some),
        None => PythonRuntime::from_env(),
    }
}

fn upload_python_function(options: &UploadOptions) -> Result<(), Error> {
    let id = &options.function;
    let store = function_store(&options.store)?;
    let runtime = python_runtime(&options.store)?.ok_or_else(|| {
        Error::Usage(
            "a Python function needs a Python runtime: give --python DIR or set \
             FAASM_PYTHON_DIR (the output of python/build.sh)"
                .to_string(),
        )
    })?;
    let engine = options
        .engine
        .engine(options.max_memory.map(|pages| pages.0))?;
    let start = Instant::now();
    let source = std::fs::read(&options.file).map_err(|source| Error::Read {
        path: options.file.clone(),
        source,
    })?;
    let (_, uploaded) = functions::upload_python(
        &engine,
        &store,
        &runtime,
        id,
        source,
        &options.file,
        options.timeout,
        options.engine.log(),
    )?;
    println!(
        "uploaded Python function {id} to {} (source {}, snapshot {}) in {}",
        uploaded.dir.display(),
        size(uploaded.wasm_bytes),
        size(uploaded.snapshot_bytes),
        modules::millis(start.elapsed())
    );
    Ok(())
}

fn upload_function(options: &UploadOptions) -> Result<(), Error> {
    if is_python_source(options) {
        return upload_python_function(options);
    }
    let id = &options.function;
    let store = function_store(&options.store)?;
    let engine = options
        .engine
        .engine(options.max_memory.map(|pages| pages.0))?;
    let start = Instant::now();
    let wasm = module_bytes(options)?;
    let (_, uploaded) = functions::upload(
        &engine,
        &store,
        id,
        wasm,
        &options.file,
        options.timeout,
        options.engine.log(),
    )?;
    println!(
        "uploaded {id} to {} (module {}, code {}, snapshot {}) in {}",
        uploaded.dir.display(),
        size(uploaded.wasm_bytes),
        size(uploaded.artifact_bytes),
        size(uploaded.snapshot_bytes),
        modules::millis(start.elapsed())
    );
    Ok(())
}

/// `faasm-run invoke USER/FUNC ...`: prints the call's output and returns the exit status
/// (the function's return value); failures other than a non-zero return are errors.
pub(crate) fn invoke(options: &InvokeOptions) -> Result<u8, CliError> {
    let input = input(options)?;
    if let Some(server) = &options.server {
        let wait = options.timeout.unwrap_or(Duration::from_secs(60)) + Duration::from_secs(30);
        let answer = Client::new(server, wait).invoke(&options.function, &input)?;
        write_stdout(&answer.output)?;
        return Ok(match answer.return_value {
            0 => 0,
            value => exit_status(value),
        });
    }
    Ok(invoke_here(options, input)?)
}

/// The call's input: `--input`, the bytes of `--input-file`, or nothing.
fn input(options: &InvokeOptions) -> Result<Vec<u8>, Error> {
    match (&options.input, &options.input_file) {
        (Some(text), _) => Ok(text.as_bytes().to_vec()),
        (None, Some(path)) => std::fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        }),
        (None, None) => Ok(Vec::new()),
    }
}

/// Writes a call's output to stdout.
fn write_stdout(output: &[u8]) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output)
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Write {
            path: PathBuf::from("<stdout>"),
            source,
        })
}

/// The invocation in this process, over the local store.
fn invoke_here(options: &InvokeOptions, input: Vec<u8>) -> Result<u8, Error> {
    let id = &options.function;
    let log = options.engine.log();
    let store = function_store(&options.store)?;
    let engine = options
        .engine
        .engine(options.max_memory.map(|pages| pages.0))?;
    let start = Instant::now();
    let python = python_runtime(&options.store)?.map(Arc::new);
    let function = functions::load_any_function(&engine, &store, python.as_deref(), id, log)?;
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
    let global = GlobalTierLocation::of(options.state.as_deref(), &store)
        .open(config.state_limits.max_bytes_per_user)
        .map_err(Error::State)?;
    config = config.with_global_tier(global);
    let scheduler = Scheduler::with_config(&engine, config)?;
    scheduler.register(&id.user, &id.function, function);
    let mut source = StoreSource::new(engine.clone(), store, log);
    if let Some(python) = python {
        source = source.with_python(python);
    }
    scheduler.set_source(Arc::new(source));
    let request = CallRequest {
        input,
        cmdline: options.cmdline.clone(),
        func_ptr: options.func_ptr,
        timeout: options.timeout,
        py_entry: String::new(),
    };
    let result = scheduler.invoke(&id.user, &id.function, request)?;
    log.say(format!("{id} ran in {}", modules::millis(result.duration)));
    write_stdout(&result.output)?;
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
pub(crate) fn function_store(options: &StoreOptions) -> Result<FunctionStore, Error> {
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
