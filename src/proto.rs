//! Proto-Faaslets on the command line: `faasm-run snapshot FILE` writes a snapshot of the
//! initialised module; `--snapshot SNAP` starts the run from one, and `--calls N` runs the call
//! N times from one Faaslet, resetting it to the snapshot after each.

use crate::cli::{RunOptions, SnapshotOptions};
use crate::values;
use faasm_runtime::{Linker, Module, Store};
use faasm_scheduler::Error;
use faasm_scheduler::instance::{self, Exit};
use faasm_scheduler::proto;
use faasm_snapshot::RestoreError;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `faasm-run snapshot FILE [-o OUT]`.
pub(crate) fn write_snapshot(options: &SnapshotOptions) -> Result<(), Error> {
    let engine = options.engine.engine(None)?;
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| options.file.with_extension("snap"));
    proto::write_snapshot(
        &engine,
        &options.file,
        &output,
        options.timeout,
        options.engine.log(),
    )
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
    let log = options.engine.log();
    let module_file = PathBuf::from(&options.file_and_args[0]);
    let snapshot = proto::obtain_snapshot(
        store,
        linker,
        module,
        &module_file,
        options.snapshot.as_deref(),
    )?;
    let start = Instant::now();
    let faaslet = snapshot
        .spawn(store, linker)
        .map_err(|source| restore_error(options, source))?;
    log.say(format!("spawned in {:?}", start.elapsed()));
    let name = options.invoke.as_deref().unwrap_or("_start");
    let func = proto::exported_func(store, &faaslet, name)?;
    let params = values::parse_params(&func.ty(store), name, args)?;
    for _ in 0..options.calls.unwrap_or(1) {
        let outcome = instance::call_function(store, name, func, &params);
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

/// A failure to spawn or reset, about `--snapshot`'s file (or the module's).
fn restore_error(options: &RunOptions, source: RestoreError) -> Error {
    let path = options
        .snapshot
        .clone()
        .unwrap_or_else(|| Path::new(&options.file_and_args[0]).to_path_buf());
    Error::Restore { path, source }
}
