//! The errors a user of `faasm-run` sees are the host's ([`faasm_scheduler::Error`], one line
//! each, a trap with its backtrace below); what the command line adds is the exit status each
//! one ends the process with.

use faasm_scheduler::{Error, Failure};

/// Exit status of a run that trapped, like a process that aborted (`128 + SIGABRT`), as
/// `wasmtime run` does.
pub const TRAP_EXIT_STATUS: u8 = 134;
/// Exit status of every other error.
pub const ERROR_EXIT_STATUS: u8 = 1;

/// The process exit status `error` ends `faasm-run` with.
pub fn exit_status(error: &Error) -> u8 {
    match error {
        Error::Trap { .. }
        | Error::Invocation {
            failure: Failure::Trap { .. },
            ..
        } => TRAP_EXIT_STATUS,
        Error::Upload { source, .. } => exit_status(source),
        _ => ERROR_EXIT_STATUS,
    }
}
