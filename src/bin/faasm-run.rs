//! `faasm-run`: runs a WebAssembly module with faasm-rs's JIT, or compiles it to an artifact.
//! See `faasm-run --help`; the work is done in the `faasm` library ([`faasm::run`]).
//!
//! Every error is reported as `faasm-run: <what>` on stderr (one line; a trap adds its Wasm
//! backtrace). Exit status: the guest's `proc_exit` code; 134 after a trap (like an abort, as
//! `wasmtime run` does); 1 for other errors; 2 for a bad command line.
#![forbid(unsafe_code)]

use clap::Parser;
use clap::error::ErrorKind;
use faasm::cli::Cli;
use std::process::ExitCode;

/// glibc's `malloc` for a run, which is over in milliseconds; mimalloc once `serve` starts a
/// host, whose threads free each other's blocks (see `faasm::sys`).
#[global_allocator]
static ALLOCATOR: faasm::sys::HostAllocator = faasm::sys::HostAllocator;

/// Exit status of a bad command line, as clap and most tools use it.
const USAGE_EXIT_STATUS: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return command_line_error(&error),
    };
    match faasm::run::execute(cli) {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            let error = anyhow::Error::from(error);
            eprintln!("faasm-run: {error}");
            let status = error
                .downcast_ref::<faasm::CliError>()
                .map_or(1, faasm::error::exit_status);
            ExitCode::from(status)
        }
    }
}

/// Help and version go to stdout as clap prints them; a usage error becomes one line,
/// `faasm-run: <clap's message> (see --help)`.
fn command_line_error(error: &clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    // clap's message is its first paragraph (which may span lines); usage and tips follow.
    let rendered = error.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("faasm-run: {message} (see --help)");
    ExitCode::from(USAGE_EXIT_STATUS)
}
