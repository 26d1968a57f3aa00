//! What can go wrong when a host reads, compiles, prepares, stores or runs a function, phrased
//! for its user: one line each, naming the file, the byte offset, the import or the limit
//! concerned. A trap adds its Wasm backtrace below.

use crate::local::{Failure, SchedulerError};
use crate::store::{FunctionId, StoreError};
use faasm_runtime::{ArtifactError, CompileError, InstantiateError, Trap, WasmBacktrace};
use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failure of a run, an upload or an invocation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A `.wat` file is not well-formed text (`file:line:col: message`).
    #[error("{0}")]
    Syntax(String),
    /// The module is malformed, invalid or unsupported.
    #[error("{}: {source}", path.display())]
    Compile {
        /// The module's file.
        path: PathBuf,
        /// What the compiler said (with the byte offset).
        source: CompileError,
    },
    /// A `.cwasm` artifact was rejected.
    #[error("{}: {source}{}", path.display(), artifact_hint(source))]
    Artifact {
        /// The artifact's file.
        path: PathBuf,
        /// Why it was rejected.
        source: ArtifactError,
    },
    /// The engine could not be created with these settings.
    #[error("cannot create the engine: {0}")]
    Engine(CompileError),
    /// The module imports things nobody provides: all of them, `module.name (type)`.
    #[error("{} needs imports that faasm-run does not provide: {}", path.display(), missing.join(", "))]
    MissingImports {
        /// The module's file.
        path: PathBuf,
        /// Each missing import with its type.
        missing: Vec<String>,
    },
    /// Instantiation failed (an import of the wrong type, a memory over the limit, ...).
    #[error("cannot instantiate {}: {source}", path.display())]
    Instantiate {
        /// The module's file.
        path: PathBuf,
        /// Why.
        source: InstantiateError,
    },
    /// A snapshot could not be made (initialisation failed, for example).
    #[error("cannot snapshot {}: {source}{}", path.display(), crate::local::stderr_suffix(stderr))]
    Snapshot {
        /// The module's file.
        path: PathBuf,
        /// Why.
        source: faasm_snapshot::SnapshotError,
        /// What the initialisation wrote to stderr (empty if nothing, or not captured).
        stderr: String,
    },
    /// A snapshot was rejected, or a Faaslet could not be spawned from it or reset.
    #[error("{}: {source}", path.display())]
    Restore {
        /// The snapshot's (or module's) file.
        path: PathBuf,
        /// Why.
        source: faasm_snapshot::RestoreError,
    },
    /// WASI could not be set up (for example a `--dir` that does not exist).
    #[error("{0}")]
    Wasi(String),
    /// The export to call does not exist or is not a function.
    #[error("{0}")]
    Export(String),
    /// The arguments do not fit the function's parameters.
    #[error("{0}")]
    Arguments(String),
    /// A file name or argument that is not UTF-8.
    #[error("{0}")]
    Usage(String),
    /// The guest trapped: the trap and, on the next lines, its backtrace.
    #[error("{}", TrapReport { function, trap, backtrace })]
    Trap {
        /// What was running: `_start`, the invoked export, or the start function.
        function: String,
        /// The trap.
        trap: Trap,
        /// The Wasm frames, innermost first.
        backtrace: Option<WasmBacktrace>,
    },
    /// The function store could not be read or written, or has no such function.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// `faasm-run upload` failed: the function, and why (an error that names the file).
    #[error("cannot upload {function}: {source}")]
    Upload {
        /// The function being uploaded.
        function: FunctionId,
        /// Why.
        source: Box<Error>,
    },
    /// A stored function could not be loaded (a corrupt or foreign file of the store).
    #[error("cannot load function {function} from {}: {reason}", path.display())]
    Load {
        /// The function.
        function: FunctionId,
        /// The file of the store concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The scheduler could not start or take the call.
    #[error("{0}")]
    Scheduler(#[from] SchedulerError),
    /// The state's global tier could not be set up (a malformed `--state` URL, for example).
    #[error("state: {0}")]
    State(faasm_hostcalls::faasm_state::StateError),
    /// An invoked function failed: trapped (with its backtrace below), timed out or could not
    /// start.
    #[error("{}", InvocationReport { function, failure })]
    Invocation {
        /// The function invoked.
        function: FunctionId,
        /// How it failed.
        failure: Failure,
    },
}

fn artifact_hint(error: &ArtifactError) -> &'static str {
    match error {
        ArtifactError::Fingerprint(_) | ArtifactError::Version { .. } => {
            " (compile it again with this faasm-run and the same --memory-strategy)"
        }
        ArtifactError::Authentication => {
            " (only artifacts `faasm-run compile` wrote on this host, with the key in the cache \
             directory, are loaded; compile it again)"
        }
        _ => "",
    }
}

/// `` `f` trapped: wasm trap: unreachable `` and the backtrace below it.
struct TrapReport<'a> {
    function: &'a str,
    trap: &'a Trap,
    backtrace: &'a Option<WasmBacktrace>,
}

impl fmt::Display for TrapReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` trapped: {}", self.function, self.trap)?;
        match self.backtrace {
            Some(backtrace) if !backtrace.frames().is_empty() => {
                write!(f, "\nwasm backtrace:\n{backtrace}")
            }
            _ => Ok(()),
        }
    }
}

/// `` c/f trapped: wasm trap: unreachable `` and the backtrace below it, or `c/f timed out after
/// 200ms`, ...
struct InvocationReport<'a> {
    function: &'a FunctionId,
    failure: &'a Failure,
}

impl fmt::Display for InvocationReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.function, self.failure)?;
        match self.failure {
            Failure::Trap {
                backtrace: Some(backtrace),
                ..
            } if !backtrace.frames().is_empty() => {
                write!(f, "\nwasm backtrace:\n{backtrace}")
            }
            _ => Ok(()),
        }
    }
}
