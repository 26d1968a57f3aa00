//! Running a module directly (without a scheduler): the engine for a memory strategy, the check
//! that every import is provided, instantiation and calls, with the guest's `proc_exit` told
//! apart from a trap.

use crate::error::Error;
use faasm_runtime::{
    CompilerConfig, Config, Engine, Func, ImportKind, Instance, InstantiateError, Linker,
    MemoryStrategy, Module, Store, Trap, Val,
};
use std::path::Path;

/// The engine for `memory_strategy` (and a memory limit, in pages, if given).
pub fn engine(
    memory_strategy: MemoryStrategy,
    max_memory_pages: Option<u64>,
) -> Result<Engine, Error> {
    let defaults = Config::default();
    Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy,
            ..CompilerConfig::default()
        },
        max_memory_pages: max_memory_pages.unwrap_or(defaults.max_memory_pages),
        ..defaults
    })
    .map_err(Error::Engine)
}

/// The guest called `proc_exit` with this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub u8);

/// Instantiates `module` (from `file`, for errors) after checking that every import is
/// provided (all missing ones are reported at once). A trap of the start function is a trap of
/// the run, and its `proc_exit` the end of the run.
pub fn instantiate(
    linker: &Linker,
    store: &mut Store,
    module: &Module,
    file: &Path,
) -> Result<Result<Instance, Exit>, Error> {
    check_imports(linker, module, file)?;
    match linker.instantiate(store, module) {
        Ok(instance) => Ok(Ok(instance)),
        Err(InstantiateError::Trap(Trap::Exit(status))) => Ok(Err(Exit(exit_status(status)))),
        Err(InstantiateError::Trap(trap)) => Err(trap_error(store, "start function", trap)),
        Err(source) => Err(Error::Instantiate {
            path: file.to_path_buf(),
            source,
        }),
    }
}

/// Fails with every import `linker` does not provide, each with its type.
pub fn check_imports(linker: &Linker, module: &Module, file: &Path) -> Result<(), Error> {
    let missing = linker.unresolved_imports(module);
    if !missing.is_empty() {
        return Err(Error::MissingImports {
            path: file.to_path_buf(),
            missing: missing
                .iter()
                .map(|import| {
                    format!(
                        "{}.{} {}",
                        import.module,
                        import.name,
                        import_type(module, &import.kind)
                    )
                })
                .collect(),
        });
    }
    Ok(())
}

/// An import's type as the text format writes it.
fn import_type(module: &Module, kind: &ImportKind) -> String {
    match kind {
        ImportKind::Func(type_index) => module
            .info()
            .types
            .get(*type_index as usize)
            .map_or_else(|| "(func)".to_string(), ToString::to_string),
        ImportKind::Table(ty) => ty.to_string(),
        ImportKind::Memory(ty) => ty.to_string(),
        ImportKind::Global(ty) => ty.to_string(),
    }
}

/// Calls `func` (named `name`, for errors): its results, the guest's exit, or the trap as an
/// error.
pub fn call_function(
    store: &mut Store,
    name: &str,
    func: Func,
    params: &[Val],
) -> Result<Result<Vec<Val>, Exit>, Error> {
    match func.call(store, params) {
        Ok(results) => Ok(Ok(results)),
        Err(Trap::Exit(status)) => Ok(Err(Exit(exit_status(status)))),
        Err(Trap::BadArguments(why)) => Err(Error::Arguments(format!("`{name}`: {why}"))),
        Err(trap) => Err(trap_error(store, name, trap)),
    }
}

/// The process status for the guest's `proc_exit(status)`: its low 8 bits, as a native
/// process's `exit` status is.
fn exit_status(status: i32) -> u8 {
    status as u8
}

fn trap_error(store: &Store, function: &str, trap: Trap) -> Error {
    match trap {
        Trap::BadArguments(why) => Error::Arguments(format!("`{function}`: {why}")),
        trap => Error::Trap {
            function: function.to_string(),
            trap,
            backtrace: store.last_backtrace().cloned(),
        },
    }
}
