//! What a user of `faasm-run` sees when it fails: the host's errors ([`faasm_scheduler::Error`],
//! one line each, a trap with its backtrace below), the server's, and a remote host's answers;
//! and the exit status each one ends the process with.

use faasm_scheduler::Failure;

/// Exit status of a run that trapped, like a process that aborted (`128 + SIGABRT`), as
/// `wasmtime run` does.
pub const TRAP_EXIT_STATUS: u8 = 134;
/// Exit status of every other error.
pub const ERROR_EXIT_STATUS: u8 = 1;

/// A `faasm-run` failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// What the host (run, upload, invoke, state) reported.
    #[error(transparent)]
    Host(#[from] faasm_scheduler::Error),
    /// `faasm-run serve` could not start or serve.
    #[error(transparent)]
    Serve(#[from] faasm_server::ServerError),
    /// `faasm-run serve` could not start the thread that writes its log lines.
    #[error("cannot start the log thread: {0}")]
    LogThread(std::io::Error),
    /// A host reached with `--server` could not be reached, or refused the request.
    #[error("{url}: {message}")]
    Remote {
        /// The request's URL.
        url: String,
        /// The HTTP status, if there was an answer.
        status: Option<u16>,
        /// What went wrong: the answer's `error`, or why there was none.
        message: String,
    },
}

/// The process exit status `error` ends `faasm-run` with.
pub fn exit_status(error: &CliError) -> u8 {
    match error {
        CliError::Host(error) => host_exit_status(error),
        // A remote call that trapped ends as a local one does.
        CliError::Remote {
            status: Some(500),
            message,
            ..
        } if message.contains("trapped") => TRAP_EXIT_STATUS,
        CliError::Serve(_) | CliError::LogThread(_) | CliError::Remote { .. } => ERROR_EXIT_STATUS,
    }
}

fn host_exit_status(error: &faasm_scheduler::Error) -> u8 {
    use faasm_scheduler::Error;
    match error {
        Error::Trap { .. }
        | Error::Invocation {
            failure: Failure::Trap { .. },
            ..
        } => TRAP_EXIT_STATUS,
        Error::Upload { source, .. } => host_exit_status(source),
        _ => ERROR_EXIT_STATUS,
    }
}
