//! Builds the example functions of `functions/` (C against `sdk/c/faasm.h`, Rust over the
//! `faasm-sdk` crate of `sdk/rust`) and the SDKs' ABI checks with the stock toolchains, into
//! the tests' cache (see `build.rs`: `$FAASM_TEST_CACHE`, else `target/guest-cache`), and
//! returns the paths of the `.wasm` files. Nothing built is committed.
//!
//! A test binary that uses it also includes `support/build.rs` as `mod build`.
#![allow(dead_code)]

use crate::build::{CBuild, CTarget, build_c, cache_dir, run_tool, workspace};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The example functions, each in both languages: `functions/c/NAME.c` and the binary `NAME`
/// of `functions/rust`.
pub const EXAMPLES: [&str; 6] = ["echo", "hello", "chain", "chain_ptr", "fanout", "pi"];

/// The language of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `clang --target=wasm32-wasi` with wasi-libc, against `sdk/c/faasm.h`.
    C,
    /// `cargo build --target wasm32-wasip1`, over `sdk/rust` (`faasm-sdk`).
    Rust,
}

/// Both languages.
pub const LANGUAGES: [Language; 2] = [Language::C, Language::Rust];

impl Language {
    /// `c` or `rust`.
    pub fn name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Rust => "rust",
        }
    }
}

/// `sdk/` of the workspace.
pub fn sdk_dir() -> PathBuf {
    workspace().join("sdk")
}

/// `functions/` of the workspace.
pub fn functions_dir() -> PathBuf {
    workspace().join("functions")
}

/// The example `name` in `language`, built (or found in the cache).
pub fn function(language: Language, name: &str) -> PathBuf {
    match language {
        Language::C => c_function(name),
        Language::Rust => rust_function(name),
    }
}

/// The SDK part whose imports an [`abi_check`] module calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code, reason = "each test binary uses some of the parts")]
pub enum AbiPart {
    /// Everything but the state table: `sdk/c/abi_check.c`, `sdk/rust/examples/abi_check.rs`.
    Calls,
    /// The state table: `sdk/c/abi_check_state.c`, `sdk/rust/examples/abi_check_state.rs`.
    State,
}

/// The module that calls every import of `part` the SDK of `language` declares, built.
pub fn abi_check(language: Language, part: AbiPart) -> PathBuf {
    let name = match part {
        AbiPart::Calls => "abi_check",
        AbiPart::State => "abi_check_state",
    };
    match language {
        Language::C => build_c(
            &sdk_c_build(name, sdk_dir().join(format!("c/{name}.c"))),
            CTarget::Wasi,
        ),
        Language::Rust => {
            static BUILT: OnceLock<PathBuf> = OnceLock::new();
            let dir = BUILT
                .get_or_init(|| cargo_wasm(&sdk_dir().join("rust/Cargo.toml"), &["--examples"]));
            existing(dir.join(format!("examples/{name}.wasm")))
        }
    }
}

/// `functions/c/NAME.c`, built for wasm32-wasi with `-I sdk/c` (cached by a hash of the
/// compiler, flags, source and `faasm.h`).
pub fn c_function(name: &str) -> PathBuf {
    let source = functions_dir().join(format!("c/{name}.c"));
    build_c(&sdk_c_build(name, source), CTarget::Wasi)
}

/// The experiment `functions/experiments/NAME.c` (C only), built as a user would build it.
pub fn c_experiment(name: &str) -> PathBuf {
    let source = functions_dir().join(format!("experiments/{name}.c"));
    build_c(&sdk_c_build(name, source), CTarget::Wasi)
}

/// The binary `name` of `functions/rust`, after building that crate once per test process.
pub fn rust_function(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| cargo_wasm(&functions_dir().join("rust/Cargo.toml"), &[]));
    existing(dir.join(format!("{name}.wasm")))
}

/// A C build of one file against `sdk/c/faasm.h`, as a Faasm user would build a function.
fn sdk_c_build(name: &str, source: PathBuf) -> CBuild {
    CBuild {
        name: name.to_string(),
        sources: vec![source],
        includes: vec![sdk_dir().join("c")],
        flags: ["-O2", "-Wall", "-Wextra", "-Werror"]
            .map(String::from)
            .to_vec(),
        libs: vec![],
    }
}

const RUST_HINT: &str =
    "the Rust functions need `rustup target add wasm32-wasip1` (.ci/run does it)";

/// `cargo build --release --target wasm32-wasip1` of `manifest` with `extra` arguments, into
/// the cache's `sdk-target`; returns the directory of the release outputs.
fn cargo_wasm(manifest: &Path, extra: &[&str]) -> PathBuf {
    let target = cache_dir().join("sdk-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip1"])
        .args(extra)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        // The host's flags are not the guest's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    run_tool(&mut command, RUST_HINT);
    target.join("wasm32-wasip1/release")
}

/// `path`, after checking that the build left it there.
fn existing(path: PathBuf) -> PathBuf {
    assert!(path.is_file(), "the build left no {}", path.display());
    path
}
