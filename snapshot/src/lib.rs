//! `faasm-snapshot` owns Proto-Faaslets: a function's instance is initialised once
//! ([`Snapshot::prepare`] runs `__wasm_call_ctors` or `_initialize`, then `_faasm_zygote`), its
//! state captured (memories up to their size, globals, tables, dropped data segments), and every
//! [`Faaslet`] spawned from it maps the memories copy-on-write and copies globals and tables in.
//! After a call, [`Faaslet::reset`] returns it to the snapshot, so nothing leaks between calls.
//! Snapshots serialise to a versioned, checksummed format ([`Snapshot::serialize`],
//! [`Snapshot::deserialize`]) that is bound to the engine's fingerprint and the module's hash.
//!
//! The mechanics (memfd images, `MAP_PRIVATE` mapping, resets that copy written pages back or
//! discard them) live in
//! `faasm-runtime`; this crate has no `unsafe` and knows nothing of WASI or state. The CLI and
//! the server use it.

#![forbid(unsafe_code)]

mod error;
mod format;

pub use error::{RestoreError, SnapshotError};

use faasm_runtime::{Instance, InstanceImage, Linker, Module, Store, Trap, Val};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exports run once, in this order, before the state is captured (the first present of the
/// constructors, then the zygote).
const CONSTRUCTORS: [&str; 2] = ["__wasm_call_ctors", "_initialize"];
/// Faasm's zygote hook: `() -> i32`, non-zero means initialisation failed.
const ZYGOTE: &str = "_faasm_zygote";

/// An initialised function's state: the Proto-Faaslet. Cheap to clone and shareable between
/// threads; Faaslets spawned from it share its memory images.
#[derive(Debug, Clone)]
pub struct Snapshot {
    module: Module,
    image: Arc<InstanceImage>,
}

impl Snapshot {
    /// Instantiates `module` in `store` with `linker`'s imports, runs its initialisation
    /// (`__wasm_call_ctors` or `_initialize`, then `_faasm_zygote` if exported) and captures
    /// the result. The instance stays in `store`; it is not used afterwards.
    pub fn prepare(
        store: &mut Store,
        linker: &Linker,
        module: &Module,
    ) -> Result<Snapshot, SnapshotError> {
        let instance = linker.instantiate(store, module)?;
        run_constructors(store, instance)?;
        run_zygote(store, instance)?;
        let image = instance.capture(store)?;
        Ok(Snapshot {
            module: module.clone(),
            image: Arc::new(image),
        })
    }

    /// [`Snapshot::prepare`] with a wall-clock limit on the whole initialisation (constructors
    /// and zygote together, host calls included): past it, the running export ends and this
    /// fails with [`SnapshotError::InitialisationTimeout`]. The store's own timeout is put back
    /// afterwards.
    pub fn prepare_within(
        store: &mut Store,
        linker: &Linker,
        module: &Module,
        timeout: Duration,
    ) -> Result<Snapshot, SnapshotError> {
        let previous = store.timeout();
        let deadline = Instant::now().checked_add(timeout);
        // Each step (a start function, the constructors, the zygote) gets what is left.
        let limit = |store: &mut Store| {
            store.set_timeout(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        };
        limit(store);
        let instance = linker.instantiate(store, module);
        let prepared = instance.map_err(SnapshotError::from).and_then(|instance| {
            limit(store);
            run_constructors(store, instance)?;
            limit(store);
            run_zygote(store, instance)?;
            Ok(instance.capture(store)?)
        });
        store.set_timeout(previous);
        let image = prepared.map_err(|error| match error {
            SnapshotError::Initialisation { function, trap } if trap.is_timeout() => {
                SnapshotError::InitialisationTimeout { function, timeout }
            }
            other => other,
        })?;
        Ok(Snapshot {
            module: module.clone(),
            image: Arc::new(image),
        })
    }

    /// A new Faaslet in `store`, in the snapshot's state: its memories are copy-on-write
    /// mappings of the snapshot's images (in a slot that last held the same image when one is
    /// free), globals and tables are copied in. Nothing of the module's initialisation runs.
    pub fn spawn(&self, store: &mut Store, linker: &Linker) -> Result<Faaslet, RestoreError> {
        let instance = linker
            .instantiate_from_image(store, &self.module, &self.image)
            .map_err(RestoreError::Instantiate)?;
        Ok(Faaslet {
            instance,
            image: Arc::clone(&self.image),
        })
    }

    /// The module the snapshot is an instance of.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The captured state.
    pub fn image(&self) -> &InstanceImage {
        &self.image
    }

    /// Total bytes of the captured memories.
    pub fn memory_bytes(&self) -> usize {
        self.image.memories.iter().map(|m| m.len()).sum()
    }
}

/// An instance running from a snapshot.
#[derive(Debug, Clone)]
pub struct Faaslet {
    instance: Instance,
    image: Arc<InstanceImage>,
}

impl Faaslet {
    /// The instance, for looking up exports.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// Calls the exported function `name` with `params`.
    pub fn call(&self, store: &mut Store, name: &str, params: &[Val]) -> Result<Vec<Val>, Trap> {
        let func = self
            .instance
            .get_func(store, name)
            .ok_or_else(|| Trap::BadArguments(format!("no exported function `{name}`")))?;
        func.call(store, params)
    }

    /// Calls `name` and resets afterwards, whatever the call's outcome; a failed reset wins
    /// over the call's result.
    pub fn call_and_reset(
        &self,
        store: &mut Store,
        name: &str,
        params: &[Val],
    ) -> Result<Result<Vec<Val>, Trap>, RestoreError> {
        let outcome = self.call(store, name, params);
        self.reset(store)?;
        Ok(outcome)
    }

    /// Returns the Faaslet to its snapshot. Memories: nothing if no call since the last reset
    /// could write them; otherwise the pages written are found (one `ioctl`) and the image's
    /// bytes copied back into them, or, beyond 64 pages, after growth or with state mapped in
    /// (or where the kernel cannot track writes), one `madvise(MADV_DONTNEED)` over the
    /// accessible range and one `mprotect` if the call grew memory: time in proportion to the
    /// pages written, not to the memory's size. Mutable globals and tables are copied
    /// (proportional to their number and size).
    pub fn reset(&self, store: &mut Store) -> Result<(), RestoreError> {
        self.instance
            .reset(store, &self.image)
            .map_err(RestoreError::Reset)
    }
}

fn run_constructors(store: &mut Store, instance: Instance) -> Result<(), SnapshotError> {
    let Some((name, func)) = CONSTRUCTORS
        .iter()
        .find_map(|name| Some((*name, instance.get_func(store, name)?)))
    else {
        return Ok(());
    };
    func.call(store, &[])
        .map(drop)
        .map_err(|trap| SnapshotError::Initialisation {
            function: name.to_string(),
            trap,
        })
}

fn run_zygote(store: &mut Store, instance: Instance) -> Result<(), SnapshotError> {
    let Some(func) = instance.get_func(store, ZYGOTE) else {
        return Ok(());
    };
    let results = func
        .call(store, &[])
        .map_err(|trap| SnapshotError::Initialisation {
            function: ZYGOTE.to_string(),
            trap,
        })?;
    match results.as_slice() {
        [] | [Val::I32(0)] => Ok(()),
        [Val::I32(code)] => Err(SnapshotError::ZygoteFailed(*code)),
        _ => Err(SnapshotError::ZygoteSignature),
    }
}
