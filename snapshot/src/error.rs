//! The crate's typed errors.

use faasm_runtime::{CaptureError, InstantiateError, Trap};
use std::time::Duration;

/// Why a snapshot could not be prepared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    /// The module could not be instantiated.
    #[error("cannot instantiate the module: {0}")]
    Instantiate(#[from] InstantiateError),
    /// A constructor or the zygote trapped.
    #[error("`{function}` failed: {trap}")]
    Initialisation {
        /// The export that failed.
        function: String,
        /// How.
        trap: Trap,
    },
    /// The initialisation did not end within its timeout (see [`crate::Snapshot::prepare_within`]).
    #[error("`{function}` did not return within the initialisation timeout of {timeout:?}")]
    InitialisationTimeout {
        /// The export that was running.
        function: String,
        /// The timeout of the whole initialisation.
        timeout: Duration,
    },
    /// `_faasm_zygote` returned a non-zero status.
    #[error("`_faasm_zygote` returned {0}")]
    ZygoteFailed(i32),
    /// `_faasm_zygote` does not return a single `i32` (or nothing).
    #[error("`_faasm_zygote` must have type () -> i32")]
    ZygoteSignature,
    /// The instance's state could not be captured.
    #[error("cannot capture the instance: {0}")]
    Capture(#[from] CaptureError),
}

/// Why a snapshot could not be loaded, spawned or reset to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    /// Instantiating from the snapshot failed.
    #[error("cannot spawn from the snapshot: {0}")]
    Instantiate(InstantiateError),
    /// Resetting a Faaslet failed.
    #[error("cannot reset to the snapshot: {0}")]
    Reset(Trap),
    /// The bytes do not start with the snapshot magic.
    #[error("not a faasm snapshot")]
    BadMagic,
    /// The format version is not the one this build reads.
    #[error("snapshot format version {found}, expected {expected}")]
    UnsupportedVersion {
        /// In the file.
        found: u32,
        /// What this build reads.
        expected: u32,
    },
    /// The bytes end early.
    #[error("snapshot truncated")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("snapshot checksum mismatch (corrupt file)")]
    Checksum,
    /// Made by an engine with other settings or another build.
    #[error(
        "snapshot made by another engine or with other settings (make it again with these, \
         e.g. the same --memory-strategy)"
    )]
    EngineMismatch(String),
    /// Made from another module.
    #[error("snapshot of another module")]
    ModuleMismatch,
    /// Structurally invalid, or inconsistent with the module.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
}
