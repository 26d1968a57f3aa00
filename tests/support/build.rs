//! Builds test guests at test time with stock toolchains, caching the outputs: the Rust guest
//! crate with `cargo build --target wasm32-wasip1`, C files with Debian's clang for
//! `wasm32-wasi`, and native builds with the system `cc` (for expected output).
//!
//! Outputs live in the cache directory: `$FAASM_TEST_CACHE`, else `target/guest-cache`. A C
//! build goes in a folder named by a hash of its compiler, flags and sources, so an unchanged
//! build is reused and a changed one rebuilt.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The root of the faasm-rs workspace.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/guests/...` of the workspace.
pub fn guests_dir() -> PathBuf {
    workspace().join("tests/guests")
}

/// Cargo's target directory (the parent of the tests' `CARGO_TARGET_TMPDIR`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Where built guests and fetched packages are kept between runs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FAASM_TEST_CACHE")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("guest-cache"))
}

/// Runs `command`, panicking with the command line, status and stderr if it fails.
pub fn run_tool(command: &mut Command, hint: &str) {
    let line = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {line}: {e}\n{hint}"));
    if !output.status.success() {
        panic!(
            "{line} failed ({}):\n{}\n{}\n{hint}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout), 40),
            tail(&String::from_utf8_lossy(&output.stderr), 40)
        );
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skipped = all.len().saturating_sub(lines);
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!("[... {skipped} lines before]\n"));
    }
    out.push_str(&all[skipped..].join("\n"));
    out
}

const RUST_HINT: &str = "the Rust guests need `rustup target add wasm32-wasip1` (.ci/run does it)";
const CLANG_HINT: &str = "the C guests need Debian's clang, lld, wasi-libc and \
                          libclang-rt-dev-wasm32 (.ci/run installs them)";

/// The Rust guest `name` (a binary of `tests/guests/rust`), after building the crate once per
/// test process.
pub fn rust_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(build_rust_guests);
    let wasm = dir.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "no Rust guest {}", wasm.display());
    wasm
}

fn build_rust_guests() -> PathBuf {
    let target = cache_dir().join("rust-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip1"])
        .arg("--manifest-path")
        .arg(guests_dir().join("rust/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // The host's flags are not the guest's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    run_tool(&mut command, RUST_HINT);
    target.join("wasm32-wasip1/release")
}

/// What a C build is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CTarget {
    /// `clang --target=wasm32-wasi`.
    Wasi,
    /// The system `cc`, for the host.
    Native,
}

/// One C program: its sources, include directories and flags.
#[derive(Debug, Clone)]
pub struct CBuild {
    /// The output's base name.
    pub name: String,
    /// `.c` files.
    pub sources: Vec<PathBuf>,
    /// Directories for `-I`; their `.h` files are part of the cache key.
    pub includes: Vec<PathBuf>,
    /// Compiler flags (before the sources) and linker flags (after them).
    pub flags: Vec<String>,
    pub libs: Vec<String>,
}

impl CBuild {
    /// A guest of `tests/guests/c/NAME.c`, with `guest.h` beside it.
    pub fn guest(name: &str) -> CBuild {
        let dir = guests_dir().join("c");
        CBuild {
            name: name.to_string(),
            sources: vec![dir.join(format!("{name}.c"))],
            includes: vec![dir],
            flags: vec!["-O2".into(), "-Wall".into(), "-Werror".into()],
            libs: vec![],
        }
    }
}

/// The C guest `tests/guests/c/NAME.c`, built for wasm32-wasi.
pub fn c_guest(name: &str) -> PathBuf {
    build_c(&CBuild::guest(name), CTarget::Wasi)
}

/// Builds `build` for `target` unless the cache holds the same build; returns the output.
pub fn build_c(build: &CBuild, target: CTarget) -> PathBuf {
    let (compiler, target_flags, extension) = match target {
        CTarget::Wasi => ("clang", &["--target=wasm32-wasi"][..], ".wasm"),
        CTarget::Native => ("cc", &[][..], ""),
    };
    let key = build_key(build, compiler, target_flags);
    // `KIND/HASH/NAME`: the program keeps its own name (a guest's `argv[0]`).
    let dir = cache_dir()
        .join(match target {
            CTarget::Wasi => "c-wasi",
            CTarget::Native => "c-native",
        })
        .join(format!("{key:016x}"));
    let output = dir.join(format!("{}{extension}", build.name));
    if output.is_file() {
        return output;
    }
    fs::create_dir_all(&dir).expect("creating the C build cache");
    // Tests of one binary may build the same program at once: each writes its own file and
    // renames it into place.
    let partial = dir.join(format!(
        "{}.{}-{:?}.partial",
        build.name,
        std::process::id(),
        std::thread::current().id()
    ));
    let mut command = Command::new(compiler);
    command.args(target_flags).args(&build.flags);
    for include in &build.includes {
        command.arg("-I").arg(include);
    }
    command
        .args(&build.sources)
        .arg("-o")
        .arg(&partial)
        .args(&build.libs);
    run_tool(&mut command, CLANG_HINT);
    fs::rename(&partial, &output).expect("moving the build into the cache");
    output
}

/// A hash of everything that decides a build's output: the compiler's version, the flags, the
/// sources and the headers of the include directories.
fn build_key(build: &CBuild, compiler: &str, target_flags: &[&str]) -> u64 {
    let version = Command::new(compiler)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}\n{CLANG_HINT}"));
    let mut parts: Vec<Vec<u8>> = vec![version.stdout];
    parts.extend(target_flags.iter().map(|flag| flag.as_bytes().to_vec()));
    parts.extend(
        build
            .flags
            .iter()
            .chain(&build.libs)
            .map(|flag| flag.clone().into_bytes()),
    );
    let mut files = build.sources.clone();
    for include in &build.includes {
        files.extend(headers(include));
    }
    for file in files {
        parts.push(file.to_string_lossy().into_owned().into_bytes());
        parts.push(fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display())));
    }
    // Each part's length goes in too, so `ab`+`c` and `a`+`bc` differ.
    let mut bytes = Vec::new();
    for part in parts {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&part);
    }
    fnv1a(&bytes)
}

/// The `.h` files of `dir`, sorted.
fn headers(dir: &Path) -> Vec<PathBuf> {
    let mut headers: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "h"))
        .collect();
    headers.sort();
    headers
}

/// FNV-1a, 64 bits: the cache key, and the checksum the guests print.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
