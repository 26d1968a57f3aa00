//! `faasm-hostcalls` is the guest's view of the host: WASI preview 1 (`wasi_snapshot_preview1`,
//! every function of it) and the Faasm `env` interface ([`faasm`]: input/output, chaining,
//! state over `faasm-state`'s local tier, memory, configuration flags; see `docs/abi.md`). It
//! owns the guest-memory view every host call reads and writes
//! through ([`GuestMemory`]: checked ranges, `EFAULT` for a bad pointer), the per-guest state
//! ([`WasiCtx`]: arguments, environment, descriptors, standard streams, clocks, randomness),
//! and the sandbox that keeps every file a guest names beneath its preopened directories: each
//! directory descriptor is an open host directory, and the kernel resolves every path beneath
//! it ([`sandbox`] documents the rules).
//!
//! It must not contain `unsafe` code, nor know the runtime's internals: it uses only
//! `faasm-runtime`'s safe API (`Linker`, `Func::new`, `Caller::memory` with the raw copies and
//! private slices of `Memory`, see [`memory`]; `Trap`), and the host only through `std`
//! (`std::fs`, `std::os::unix`), the safe APIs of `cap-std`/`cap-fs-ext` (directory
//! descriptors), files Linux provides (`/proc`, `/dev/urandom`) and `rustix`'s safe `poll`,
//! `fcntl` and `read`, with which every wait ends at the call's deadline (the `wait`
//! module). `faasm-run` and tests use it:
//!
//! ```no_run
//! use faasm_hostcalls::{WasiCtx, add_to_linker};
//! use faasm_runtime::{Engine, Linker, Store};
//!
//! let mut store = Store::new(&Engine::default());
//! let mut linker = Linker::new();
//! let ctx = WasiCtx::builder()
//!     .args(["prog", "--flag"])
//!     .env("HOME", "/")
//!     .preopen_dir("/srv/user-files", "/")
//!     .inherit_stdio()
//!     .build()?;
//! let wasi = add_to_linker(&mut linker, &mut store, ctx);
//! # Ok::<(), faasm_hostcalls::WasiCtxError>(())
//! ```
#![forbid(unsafe_code)]

mod calls;
mod clocks;
mod ctx;
mod errno;
pub mod faasm;
mod fdtable;
mod linker;
pub mod memory;
pub mod sandbox;
mod stdio;
mod sys;
pub mod types;
mod wait;

/// The state crate the `env` state calls run on, re-exported so that embedders (the
/// scheduler) name the same [`faasm_state::LocalTier`] type without a dependency of their own.
pub use faasm_state;

pub use clocks::{ClockId, OsRandom, RandomSource, SeededRandom, SystemClocks, WasiClocks};
pub use ctx::{
    DEFAULT_MAX_OPEN_FILES, PreopenedDir, WasiCtx, WasiCtxBuilder, WasiCtxError, WasiHandle,
};
pub use errno::Errno;
pub use faasm::{
    CallId, ChainError, ChainResult, Chaining, ENV_MODULE, FaasmCtx, FaasmHandle,
    MAX_PY_ENTRY_BYTES, add_faasm_to_linker, check_py_entry, faasm_signatures,
};
pub use linker::{WASI_MODULE, add_to_linker, call_wasi, signatures};
pub use memory::{GuestError, GuestMemory};
pub use sandbox::MAX_SYMLINK_HOPS;
pub use stdio::{Input, Output, ReadPipe, WritePipe};
