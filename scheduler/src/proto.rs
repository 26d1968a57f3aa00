//! Proto-Faaslets of modules in files: a snapshot of the initialised module written to a file
//! (what `faasm-run snapshot FILE` does), read back for a module, or prepared on the spot, and
//! the exported function a Faaslet spawned from it calls.

use crate::cache::{self, ArtifactCache};
use crate::error::Error;
use crate::instance;
use crate::modules::{self, Log};
use crate::wasi::{self, WasiSetup};
use faasm_runtime::{Engine, Extern, Func, Linker, Module, Store};
use faasm_snapshot::{Faaslet, Snapshot};
use std::path::Path;
use std::time::{Duration, Instant};

/// Initialises the module in `file` (obtained through the default artifact cache) within
/// `timeout` and writes its snapshot to `output`.
pub fn write_snapshot(
    engine: &Engine,
    file: &Path,
    output: &Path,
    timeout: Duration,
    log: Log,
) -> Result<(), Error> {
    let key_dir = ArtifactCache::default_dir();
    let cache = key_dir.clone().map(ArtifactCache::new);
    let module = modules::obtain(engine, file, cache.as_ref(), key_dir.as_deref(), log)?;
    let mut store = Store::new(engine);
    let mut linker = Linker::new();
    let setup = WasiSetup {
        args: vec![file.display().to_string()],
        ..WasiSetup::default()
    };
    wasi::add_to_linker(&mut linker, &mut store, &setup)?;
    instance::check_imports(&linker, &module, file)?;
    let start = Instant::now();
    let snapshot =
        Snapshot::prepare_within(&mut store, &linker, &module, timeout).map_err(|source| {
            Error::Snapshot {
                path: file.to_path_buf(),
                source,
                stderr: String::new(),
            }
        })?;
    let write_error = |source| Error::Write {
        path: output.to_path_buf(),
        source,
    };
    let bytes = snapshot.serialize().map_err(write_error)?;
    cache::write_atomically(output, &bytes).map_err(write_error)?;
    log.say(format!(
        "initialised and captured {} KiB of memory in {}, wrote {}",
        snapshot.memory_bytes() / 1024,
        modules::millis(start.elapsed()),
        output.display()
    ));
    Ok(())
}

/// The snapshot of `module` (from `module_file`) in `snapshot_file`, or, without one, a
/// snapshot prepared now in `store` with `linker`.
pub fn obtain_snapshot(
    store: &mut Store,
    linker: &Linker,
    module: &Module,
    module_file: &Path,
    snapshot_file: Option<&Path>,
) -> Result<Snapshot, Error> {
    let Some(path) = snapshot_file else {
        return Snapshot::prepare(store, linker, module).map_err(|source| Error::Snapshot {
            path: module_file.to_path_buf(),
            source,
            stderr: String::new(),
        });
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Snapshot::deserialize(module, &bytes).map_err(|source| Error::Restore {
        path: path.to_path_buf(),
        source,
    })
}

/// The exported function `name` of the Faaslet's instance.
pub fn exported_func(store: &Store, faaslet: &Faaslet, name: &str) -> Result<Func, Error> {
    match faaslet.instance().get_export(store, name) {
        Some(Extern::Func(func)) => Ok(func),
        Some(_) => Err(Error::Export(format!("export `{name}` is not a function"))),
        None => Err(Error::Export(format!("no export named `{name}`"))),
    }
}
