//! What `faasm-run` does: run a module (`_start`, or `--invoke`) or compile it to an artifact;
//! the subcommands `snapshot`, `upload`, `invoke`, `state` and `serve` are carried out by
//! `proto`, `functions`, `state` and `serve`.

use crate::cli::{Cli, Command, CompileOptions, RunOptions};
use crate::error::CliError;
use crate::functions;
use crate::proto;
use crate::serve;
use crate::state;
use crate::values;
use faasm_runtime::{Extern, Instance, Linker, Module, Store};
use faasm_scheduler::Error;
use faasm_scheduler::bench;
use faasm_scheduler::cache::{self, ArtifactCache};
use faasm_scheduler::instance::{self, Exit};
use faasm_scheduler::modules::{self, ModuleFile};
use faasm_scheduler::wasi::{self, WasiSetup};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Carries out the command line; returns the exit status (the guest's `proc_exit` code, or 0).
pub fn execute(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Some(Command::Compile(options)) => Ok(compile_to_file(&options).map(|()| 0)?),
        Some(Command::Snapshot(options)) => Ok(proto::write_snapshot(&options).map(|()| 0)?),
        Some(Command::Upload(options)) => functions::upload(&options).map(|()| 0),
        Some(Command::Invoke(options)) => functions::invoke(&options),
        Some(Command::State(options)) => state::execute(&options).map(|()| 0),
        Some(Command::Serve(options)) => serve::serve(&options).map(|()| 0),
        None => Ok(run(&cli.run)?),
    }
}

/// `faasm-run compile FILE [-o OUT]`.
fn compile_to_file(options: &CompileOptions) -> Result<(), Error> {
    let log = options.engine.log();
    let engine = options.engine.engine(None)?;
    let wasm = match modules::read_module_file(&options.file)? {
        ModuleFile::Wasm(wasm) => wasm,
        ModuleFile::Artifact(_) => {
            return Err(Error::Usage(format!(
                "{} is compiled already",
                options.file.display()
            )));
        }
    };
    let start = Instant::now();
    let module = modules::compile(&engine, &options.file, &wasm)?;
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| options.file.with_extension("cwasm"));
    let key = modules::artifact_key(ArtifactCache::default_dir().as_deref())?;
    let artifact = module.serialize_authenticated(&key);
    cache::write_atomically(&output, &artifact).map_err(|source| Error::Write {
        path: output.clone(),
        source,
    })?;
    log.say(format!(
        "compiled in {}, wrote {}",
        modules::millis(start.elapsed()),
        output.display()
    ));
    Ok(())
}

/// `faasm-run [OPTIONS] FILE [ARGS]...`.
fn run(options: &RunOptions) -> Result<u8, Error> {
    let (file, args) = file_and_args(&options.file_and_args)?;
    let log = options.engine.log();
    let engine = options
        .engine
        .engine(options.max_memory.map(|pages| pages.0))?;
    let cache = artifact_cache(options);
    let key_dir = options
        .cache_dir
        .clone()
        .or_else(ArtifactCache::default_dir);
    let module = modules::obtain(&engine, &file, cache.as_ref(), key_dir.as_deref(), log)?;
    let mut store = Store::new(&engine);
    store.set_timeout(options.timeout);
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &mut store, &wasi_setup(options, &file, &args))?;
    let bench_timer = bench::define_if_imported(&mut linker, &mut store, &module);
    let outcome = if options.snapshot.is_some() || options.calls.is_some() {
        instance::check_imports(&linker, &module, &file)
            .and_then(|()| proto::run_from_snapshot(options, &mut store, &linker, &module, &args))
    } else {
        run_instance(&linker, &mut store, &module, &file, options, &args)
    };
    if options.bench_report {
        eprintln!("faasm-run: {}", bench::report(bench_timer.as_deref()));
    }
    outcome
}

/// Instantiates the module and runs `_start` or `--invoke`'s export.
fn run_instance(
    linker: &Linker,
    store: &mut Store,
    module: &Module,
    file: &Path,
    options: &RunOptions,
    args: &[String],
) -> Result<u8, Error> {
    match instance::instantiate(linker, store, module, file) {
        Ok(Ok(instance)) => call(store, instance, options.invoke.as_deref(), args),
        Ok(Err(Exit(status))) => Ok(status),
        Err(error) => Err(error),
    }
}

/// WASI for this run: `argv` is the file name as given, then the guest's arguments.
fn wasi_setup(options: &RunOptions, file: &Path, args: &[String]) -> WasiSetup {
    WasiSetup {
        args: std::iter::once(file.display().to_string())
            .chain(args.iter().cloned())
            .collect(),
        envs: options.envs.clone(),
        dirs: options.dirs.clone(),
    }
}

/// Splits the positional arguments into the module's path and the guest's arguments.
fn file_and_args(positional: &[OsString]) -> Result<(PathBuf, Vec<String>), Error> {
    let (file, args) = positional
        .split_first()
        .ok_or_else(|| Error::Usage("no FILE given".to_string()))?;
    let args = args
        .iter()
        .map(|arg| {
            arg.clone()
                .into_string()
                .map_err(|arg| Error::Usage(format!("argument {arg:?} is not UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    Ok((PathBuf::from(file), args))
}

/// The cache this run uses: none under `--no-cache` or without a home directory.
fn artifact_cache(options: &RunOptions) -> Option<ArtifactCache> {
    if options.no_cache {
        return None;
    }
    options
        .cache_dir
        .clone()
        .or_else(ArtifactCache::default_dir)
        .map(ArtifactCache::new)
}

/// Calls `--invoke`'s export (after `_initialize`, for WASI reactors) and prints its results,
/// or `_start` if the module has one. Returns the exit status.
fn call(
    store: &mut Store,
    instance: Instance,
    invoke: Option<&str>,
    args: &[String],
) -> Result<u8, Error> {
    let Some(name) = invoke else {
        let Some(start) = instance.get_func(store, "_start") else {
            return Ok(0);
        };
        return match instance::call_function(store, "_start", start, &[])? {
            Ok(_) => Ok(0),
            Err(Exit(status)) => Ok(status),
        };
    };
    let func = match instance.get_export(store, name) {
        Some(Extern::Func(func)) => func,
        Some(_) => return Err(Error::Export(format!("export `{name}` is not a function"))),
        None => return Err(Error::Export(format!("no export named `{name}`"))),
    };
    let params = values::parse_params(&func.ty(store), name, args)?;
    let initialize = instance.get_func(store, "_initialize");
    if let Some(initialize) = initialize
        && let Err(Exit(status)) = instance::call_function(store, "_initialize", initialize, &[])?
    {
        return Ok(status);
    }
    match instance::call_function(store, name, func, &params)? {
        Ok(results) => {
            for value in &results {
                println!("{}", values::format_value(value));
            }
            Ok(0)
        }
        Err(Exit(status)) => Ok(status),
    }
}
