//! The host of faasm-rs: everything between a module's bytes and a call's result, without a
//! user interface. It owns
//!
//! - [`modules`]: reading `.wat`/`.wasm`/`.cwasm` files and compiling or loading them, through
//!   the artifact cache ([`cache`]);
//! - [`instance`] and [`wasi`]: running a module directly (the engine for a memory strategy,
//!   WASI, the import check, instantiation and calls), with the sightglass [`bench`](mod@bench) timer;
//! - [`proto`]: Proto-Faaslets of modules in files (prepare, write, read back);
//! - [`python`]: Python functions, run by our CPython for wasm32-wasi with their source
//!   imported in their Proto-Faaslet;
//! - [`store`] and [`functions`]: the function store (module, artifact and Proto-Faaslet of
//!   each `USER/FUNC`), uploads into it and loads from it;
//! - [`shared_files`]: the store's shared files, which every call of its functions reads at
//!   `faasm://PATH` through a read-only preopen;
//! - [`local`], the in-process scheduler ([`Scheduler`]): a worker pool running calls on Faaslets spawned
//!   from Proto-Faaslets and reset after each, chaining and awaiting, timeouts, per-user
//!   limits, the host's state tier;
//! - [`global_state`]: values of a shared global tier outside any call;
//! - [`Error`]: what can go wrong, one line each, naming the file, offset or limit.
//!
//! It must not parse command lines, print (what it has to say goes to a caller's
//! [`modules::Log`]; only a call's guest output may be echoed, when its configuration asks),
//! speak HTTP or decide exit statuses: those belong to the command line (`faasm`) and the
//! server built on this crate. It must not contain `unsafe`.
#![forbid(unsafe_code)]

pub mod bench;
pub mod cache;
pub mod error;
pub mod functions;
pub mod global_state;
pub mod instance;
pub mod local;
pub mod modules;
pub mod proto;
pub mod python;
pub mod shared_files;
pub mod store;
pub mod wasi;

pub use error::Error;
pub use local::{
    CallHandle, CallRequest, CallResult, CallSetup, ChainLimits, ChainPlacement,
    DEFAULT_INIT_TIMEOUT, Failure, Function, FunctionSource, Scheduler, SchedulerConfig,
    SchedulerError, SendCall, StateLimits,
};
pub use store::{FunctionId, FunctionStore};
