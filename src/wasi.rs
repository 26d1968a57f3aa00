//! The one place where WASI meets `faasm-run`: what the guest gets (arguments, environment,
//! pre-opened directories, the inherited stdio) and how it is added to the linker.

use crate::cli::{DirMapping, EnvVar};
use crate::error::Error;
use faasm_hostcalls::WasiCtx;
use faasm_runtime::{Linker, Store};

/// What the guest gets through WASI.
#[derive(Debug, Clone, Default)]
pub(crate) struct WasiSetup {
    /// `argv`: the module's file name, then the guest's arguments.
    pub(crate) args: Vec<String>,
    /// The environment: only what `--env` gives.
    pub(crate) envs: Vec<EnvVar>,
    /// The pre-opened directories.
    pub(crate) dirs: Vec<DirMapping>,
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
pub(crate) fn add_to_linker(
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
