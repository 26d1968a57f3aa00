//! The C compute kernels of `benches/kernels/`, built at bench time: for wasm32-wasi with
//! Debian's clang (`-O2`, a reactor exporting `run`, importing only `bench.start`/`bench.end`;
//! the SIMD kernels with `-msimd128`) and for the host with `cc -O2` and the driver `native.c`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernels, by file name (`benches/kernels/NAME.c`).
pub const KERNELS: &[&str] = &[
    "fib",
    "nqueens",
    "sieve",
    "quicksort",
    "hashmap",
    "matmul",
    "sha256",
    "crc32",
    "base64",
    "chacha20",
    "strscan",
    "interp",
    "memmove",
    "fannkuch",
    "nbody",
    "spectralnorm",
    "mandelbrot",
];

/// The SIMD kernels (`benches/kernels/simd_*.c`): built with `-msimd128` for Wasm; natively,
/// those written with `wasm_simd128.h` intrinsics take their scalar path, with the same result.
pub const SIMD_KERNELS: &[&str] = &["simd_bytes", "simd_matmul", "simd_hash", "simd_scan"];

/// A kernel built for both targets.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The kernel's name.
    pub name: &'static str,
    /// The wasm32-wasi module.
    pub wasm: Vec<u8>,
    /// The native executable (`EXE ITERATIONS` prints `NANOSECONDS CHECKSUM`).
    pub native: PathBuf,
}

/// `benches/kernels`.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

/// Where the builds go: `target/bench-kernels`.
pub fn output_dir() -> PathBuf {
    crate::target_dir().join("bench-kernels")
}

/// Builds every kernel for both targets.
pub fn build_all() -> Vec<Kernel> {
    KERNELS
        .iter()
        .chain(SIMD_KERNELS)
        .map(|name| build(name))
        .collect()
}

/// Builds kernel `name` for both targets.
pub fn build(name: &'static str) -> Kernel {
    let out = output_dir();
    fs::create_dir_all(&out).expect("creating target/bench-kernels");
    let source = source_dir().join(format!("{name}.c"));
    let wasm_path = out.join(format!("{name}.wasm"));
    let native = out.join(name);
    let simd = SIMD_KERNELS.contains(&name);
    compile(
        Command::new("clang")
            .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Werror"])
            .args(simd.then_some("-msimd128"))
            .args(["-nostartfiles", "-Wl,--no-entry"])
            .arg(&source)
            .arg("-o")
            .arg(&wasm_path),
    );
    compile(
        Command::new("cc")
            .args(["-O2", "-Wall", "-Werror"])
            .arg(&source)
            .arg(source_dir().join("native.c"))
            .arg("-o")
            .arg(&native)
            .arg("-lm"),
    );
    let wasm = fs::read(&wasm_path).expect("reading the built kernel");
    Kernel { name, wasm, native }
}

/// Runs a compiler, panicking with its output if it fails.
fn compile(command: &mut Command) {
    let line = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {line}: {e} (the kernels need Debian's clang, lld and wasi-libc)")
    });
    assert!(
        output.status.success(),
        "{line} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
