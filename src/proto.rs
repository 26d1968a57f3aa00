//! Proto-Faaslets on the command line: `faasm-run snapshot FILE` writes a snapshot of the
//! initialised module; `--snapshot SNAP` starts the run from one, and `--calls N` runs the call
//! N times from one Faaslet, resetting it to the snapshot after each.

use crate::cache::{self, ArtifactCache};
use crate::cli::{RunOptions, SnapshotOptions};
use crate::error::Error;
use crate::modules::{self, Log};
use crate::run::{self, Exit};
use crate::values;
use crate::wasi::{self, WasiSetup};
use faasm_runtime::{Extern, Func, Linker, Module, Store};
use faasm_snapshot::{Faaslet, RestoreError, Snapshot};
use std::path::Path;
use std::time::Instant;

/// `faasm-run snapshot FILE [-o OUT]`.
pub(crate) fn write_snapshot(options: &SnapshotOptions) -> Result<(), Error> {
    let log = Log::new(options.engine.verbose);
    let engine = run::engine(&options.engine, None)?;
    let key_dir = ArtifactCache::default_dir();
    let cache = key_dir.clone().map(ArtifactCache::new);
    let module = modules::obtain(
        &engine,
        &options.file,
        cache.as_ref(),
        key_dir.as_deref(),
        log,
    )?;
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let setup = WasiSetup {
        args: vec![options.file.display().to_string()],
        ..WasiSetup::default()
    };
    wasi::add_to_linker(&mut linker, &mut store, &setup)?;
    run::check_imports(&linker, &module, &options.file)?;
    let start = Instant::now();
    let snapshot = Snapshot::prepare_within(&mut store, &linker, &module, options.timeout)
        .map_err(|source| Error::Snapshot {
            path: options.file.clone(),
            source,
        })?;
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| options.file.with_extension("snap"));
    let write_error = |source| Error::Write {
        path: output.clone(),
        source,
    };
    let bytes = snapshot.serialize().map_err(write_error)?;
    cache::write_atomically(&output, &bytes).map_err(write_error)?;
    log.say(format!(
        "initialised and captured {} KiB of memory in {}, wrote {}",
        snapshot.memory_bytes() / 1024,
        modules::millis(start.elapsed()),
        output.display()
    ));
    Ok(())
}

/// Runs `--invoke`'s export (or `_start`) `--calls` times from one Faaslet spawned from
/// `--snapshot` (or from a snapshot made here), printing each call's results.
pub(crate) fn run_from_snapshot(
    options: &RunOptions,
    store: &mut Store,
    linker: &Linker,
    module: &Module,
    args: &[String],
) -> Result<u8, Error> {
    let log = Log::new(options.engine.verbose);
    let snapshot = obtain_snapshot(options, store, linker, module)?;
    let start = Instant::now();
    let faaslet = snapshot
        .spawn(store, linker)
        .map_err(|source| restore_error(options, source))?;
    log.say(format!("spawned in {:?}", start.elapsed()));
    let name = options.invoke.as_deref().unwrap_or("_start");
    let func = exported_func(store, &faaslet, name)?;
    let params = values::parse_params(&func.ty(store), name, args)?;
    for _ in 0..options.calls.unwrap_or(1) {
        let outcome = run::call_function(store, name, func, &params);
        let start = Instant::now();
        faaslet
            .reset(store)
            .map_err(|source| restore_error(options, source))?;
        log.say(format!("reset in {:?}", start.elapsed()));
        match outcome? {
            Ok(results) if options.invoke.is_some() => {
                results
                    .iter()
                    .for_each(|value| println!("{}", values::format_value(value)));
            }
            Ok(_) | Err(Exit(0)) => {}
            Err(Exit(status)) => return Ok(status),
        }
    }
    Ok(0)
}

fn obtain_snapshot(
    options: &RunOptions,
    store: &mut Store,
    linker: &Linker,
    module: &Module,
) -> Result<Snapshot, Error> {
    let Some(path) = &options.snapshot else {
        return Snapshot::prepare(store, linker, module).map_err(|source| Error::Snapshot {
            path: options.file_and_args[0].clone().into(),
            source,
        });
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    Snapshot::deserialize(module, &bytes).map_err(|source| restore_error(options, source))
}

fn exported_func(store: &Store, faaslet: &Faaslet, name: &str) -> Result<Func, Error> {
    match faaslet.instance().get_export(store, name) {
        Some(Extern::Func(func)) => Ok(func),
        Some(_) => Err(Error::Export(format!("export `{name}` is not a function"))),
        None => Err(Error::Export(format!("no export named `{name}`"))),
    }
}

fn restore_error(options: &RunOptions, source: RestoreError) -> Error {
    let path = options
        .snapshot
        .clone()
        .unwrap_or_else(|| Path::new(&options.file_and_args[0]).to_path_buf());
    Error::Restore { path, source }
}
