//! The one place where WASI meets a direct run of a module: what the guest gets (arguments,
//! environment, pre-opened directories, the inherited stdio) and how it is added to the linker.

use crate::error::Error;
use faasm_hostcalls::WasiCtx;
use faasm_runtime::{Linker, Store};

/// A host directory the guest sees at a path of its own (`--dir HOST::GUEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMapping {
    /// The directory on the host.
    pub host: std::path::PathBuf,
    /// Where the guest sees it.
    pub guest: String,
}

/// An environment variable for the guest: `NAME=VALUE`, or `NAME` to pass the host's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// The name.
    pub name: String,
    /// The value; `None` takes the host's.
    pub value: Option<String>,
}

/// What the guest gets through WASI.
#[derive(Debug, Clone, Default)]
pub struct WasiSetup {
    /// `argv`: the module's file name, then the guest's arguments.
    pub args: Vec<String>,
    /// The environment: only what `--env` gives.
    pub envs: Vec<EnvVar>,
    /// The pre-opened directories.
    pub dirs: Vec<DirMapping>,
}

impl WasiSetup {
    /// `(name, value)` pairs, taking the host's value for `--env NAME` (skipped when the host
    /// has none, as `wasmtime run` does).
    fn resolved_envs(&self) -> Vec<(String, String)> {
        self.envs
            .iter()
            .filter_map(|var| match &var.value {
                Some(value) => Some((var.name.clone(), value.clone())),
                None => std::env::var(&var.name)
                    .ok()
                    .map(|value| (var.name.clone(), value)),
            })
            .collect()
    }
}

/// Defines the `wasi_snapshot_preview1` functions in `linker` for `setup`, with the host's
/// standard streams.
pub fn add_to_linker(
    linker: &mut Linker,
    store: &mut Store,
    setup: &WasiSetup,
) -> Result<(), Error> {
    let mut builder = WasiCtx::builder()
        .args(&setup.args)
        .envs(setup.resolved_envs())
        .inherit_stdio();
    for dir in &setup.dirs {
        builder = builder.preopen_dir(&dir.host, &dir.guest);
    }
    let ctx = builder
        .build()
        .map_err(|e| Error::Wasi(format!("cannot set up WASI: {e}")))?;
    faasm_hostcalls::add_to_linker(linker, store, ctx);
    Ok(())
}
