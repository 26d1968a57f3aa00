//! The root package of faasm-rs: the `faasm-run` command line as a library, so that its
//! binary only parses the command line and reports the outcome. Each subcommand is a thin
//! driver over the host crate `faasm_scheduler` (modules, the artifact cache, Proto-Faaslets,
//! the function store and the scheduler): it turns options into the host's settings, calls it
//! and prints what it returns.
//!
//! - [`cli`]: the command line (clap) and the parsers of its values;
//! - [`run`]: `faasm-run FILE` and `faasm-run compile FILE`, and [`run::execute`], which hands
//!   every other subcommand to its driver;
//! - `proto`: `faasm-run snapshot FILE`, `--snapshot SNAP`, `--calls N`;
//! - `functions`: `faasm-run upload USER/FUNC FILE` and `faasm-run invoke USER/FUNC`;
//! - `state`: `faasm-run state put|get|delete USER/KEY`;
//! - `serve`: `faasm-run serve`, the HTTP host of `faasm_server`;
//! - `client`: `upload`, `invoke` and `state` through a running host (`--server URL`);
//! - `values`: command-line text to Wasm values and back;
//! - [`error`]: the errors a user sees and the exit status of each;
//! - [`sys`]: the global allocator of `faasm-run` (glibc's `malloc`, mimalloc once `serve`
//!   starts a host).
//!
//! Modules call only downwards, never back into their caller: `run` calls the drivers
//! (`proto`, `functions`, `state`, `serve`; `serve` uses `functions` for the store's place),
//! the drivers call `client`, `cli`, `values` and `error`, and all of them the crates
//! `faasm_scheduler` and `faasm_server`. Its only `unsafe` code is the allocator in `sys`.
#![deny(unsafe_code)]

pub mod cli;
mod client;
pub mod error;
mod functions;
mod proto;
pub mod run;
mod serve;
mod state;
#[allow(unsafe_code)]
pub mod sys;
mod values;

pub use error::CliError;
pub use faasm_scheduler::Error;
