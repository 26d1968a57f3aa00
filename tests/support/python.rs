//! Where the tests find the Python runtime that `python/build.sh` writes (`tests/run.sh` runs
//! it before the tests): `$FAASM_PYTHON_DIR`, else `target/python`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The runtime's directory; panics, naming the build script, if it holds no interpreter.
pub fn runtime_dir() -> PathBuf {
    let dir = std::env::var_os("FAASM_PYTHON_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python"));
    assert!(
        dir.join("python.wasm").is_file(),
        "no Python runtime in {} (tests/run.sh runs `bash python/build.sh` first)",
        dir.display()
    );
    dir
}
