//! Replays the committed fuzz inputs through the same checks as the cargo-fuzz targets, on the
//! stable toolchain and without libFuzzer: `fuzz/corpus/<target>/*` and
//! `fuzz/regressions/<target>/*` through `faasm_fuzz::targets::<target>`, and the hand-minimised
//! modules `fuzz/regressions/*.wat` through `module_regression` (both memory strategies against
//! wasmi). The fuzz crate lives outside the workspace; its library is included here by path, so
//! wasmi is only a dev-dependency of the root package and never part of the runtime's tree.

#[path = "../fuzz/src/lib.rs"]
#[allow(
    dead_code,
    reason = "the fuzz library also serves the cargo-fuzz targets and the triage example"
)]
mod faasm_fuzz;

use faasm_fuzz::targets::{self, Check, Finding};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file of `files`; returns what each finding was.
fn replay(files: &[PathBuf], check: impl Fn(&[u8]) -> Result<(), Finding>) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            let data = std::fs::read(file).expect("a readable fuzz input");
            check(&data)
                .err()
                .map(|finding| format!("{}: {finding}", file.display()))
        })
        .collect()
}

/// Replays the corpus and the regressions of `target`.
fn replay_target(target: &str, check: Check) {
    let files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .flat_map(|kind| files_in(&fuzz_dir().join(kind).join(target)))
        .collect();
    let findings = replay(&files, check);
    println!("fuzz replay {target}: {} inputs", files.len());
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// The regression check of a text module.
fn wat_regression(text: &[u8]) -> Result<(), Finding> {
    let wasm = wat::parse_bytes(text).expect("a regression is a valid text module");
    targets::module_regression(&wasm)
}

#[test]
fn compile_corpus() {
    replay_target("compile", targets::compile);
}

#[test]
fn differential_corpus() {
    replay_target("differential", targets::differential);
}

#[test]
fn memory_strategies_corpus() {
    replay_target("memory_strategies", targets::memory_strategies);
}

#[test]
fn interrupt_corpus() {
    replay_target("interrupt", targets::interrupt);
}

#[test]
fn wasi_paths_corpus() {
    replay_target("wasi_paths", targets::wasi_paths);
}

#[test]
fn hand_minimised_regressions() {
    let dir = fuzz_dir().join("regressions");
    let modules: Vec<PathBuf> = files_in(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .collect();
    assert!(!modules.is_empty(), "no regressions in {}", dir.display());
    let findings = replay(&modules, wat_regression);
    println!("fuzz replay regressions: {} modules", modules.len());
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
