//! The root package of faasm-rs: the `faasm-run` command line as a library, so that its
//! binary only parses the command line and reports the outcome. It compiles a module with the
//! faasm-rs JIT (or loads its AOT artifact from the cache or a `.cwasm` file), links WASI and
//! the sightglass `bench` functions, and runs `_start` or an exported function, directly or from a
//! snapshot of the initialised module (a Proto-Faaslet, reset after every call).
//!
//! - [`cli`]: the command line (clap) and the parsers of its values;
//! - [`run`]: what `faasm-run FILE` and `faasm-run compile FILE` do;
//! - `proto`: Proto-Faaslets: `faasm-run snapshot FILE`, `--snapshot SNAP`, `--calls N`;
//! - [`modules`]: reading `.wat`/`.wasm`/`.cwasm` files and compiling or loading them;
//! - [`cache`]: the artifact cache directory;
//! - [`error`]: the errors a user sees, one line each (a trap adds its backtrace);
//! - [`store`]: the function store (`upload`, `invoke`): module, artifact and Proto-Faaslet
//!   of each `USER/FUNC`;
//! - `functions`: `faasm-run upload USER/FUNC FILE` and `faasm-run invoke USER/FUNC`, over the
//!   store and the scheduler;
//! - [`scheduler`]: the in-process scheduler: worker pool, Faaslets from Proto-Faaslets,
//!   chaining and awaiting, timeouts.
//!
//! It must not contain `unsafe`; later it also hosts the HTTP server.
#![forbid(unsafe_code)]

mod bench;
pub mod cache;
pub mod cli;
pub mod error;
mod functions;
pub mod modules;
mod proto;
pub mod run;
pub mod scheduler;
mod state;
pub mod store;
mod values;
mod wasi;

pub use error::Error;
