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
use faasm_fuzz::wasi_paths::Plant;
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

/// The committed `wasi_paths` inputs and `count` pseudo-random ones (a fixed xorshift
/// sequence, 512 bytes each).
fn wasi_paths_inputs(count: usize) -> Vec<Vec<u8>> {
    let files = files_in(&fuzz_dir().join("corpus/wasi_paths"));
    assert!(files.len() >= 10, "the wasi_paths corpus is missing");
    let mut inputs: Vec<Vec<u8>> = files
        .iter()
        .map(|file| std::fs::read(file).expect("a readable fuzz input"))
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..count {
        let input = (0..512)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        inputs.push(input);
    }
    inputs
}

/// What the `wasi_paths` oracle reported with `plant` in place, counted by kind: the
/// sentinel read, named (its name, its inodes or the base's path in an answer), changed.
fn wasi_paths_findings_with(plant: Plant) -> [usize; 3] {
    let mut kinds = [0; 3];
    for input in wasi_paths_inputs(300) {
        let Err(finding) = faasm_fuzz::wasi_paths::check_planted(&input, plant) else {
            continue;
        };
        let kind = if finding.contains("the sentinel's content") {
            0
        } else if finding.contains("the sentinel's name")
            || finding.contains("inode outside the root")
            || finding.contains("the base directory's path")
        {
            1
        } else if finding.starts_with("outside the root changed") {
            2
        } else {
            panic!("a finding of no known kind: {finding}");
        };
        kinds[kind] += 1;
    }
    kinds
}

/// The `wasi_paths` oracle notices an escape: the same inputs that find nothing in the real
/// harness, with the root's parent pre-opened in its place (as a sandbox that let `..` out
/// would be), name the sentinel (its name or inodes in answers) and change what lies beside
/// the root, and the oracle reports both. (A file opened outside is reported by its inode
/// before anything is read from it.)
#[test]
fn wasi_paths_oracle_reports_the_parent_preopened_in_place_of_the_root() {
    for input in wasi_paths_inputs(300) {
        let checked = faasm_fuzz::wasi_paths::check(&input);
        assert_eq!(checked, Ok(()), "without a plant, input {input:?}");
    }
    let [read, named, changed] = wasi_paths_findings_with(Plant::ParentPreopened);
    println!("parent pre-opened, of 330 inputs: {read} read, {named} named, {changed} changed");
    assert!(
        named >= 100 && changed > 0,
        "{read} read, {named} named, {changed} changed"
    );
}

/// A hard link to a sentinel file placed in the root by the host (which no sandbox can refuse
/// to follow): the oracle reports its inode wherever an answer shows it.
#[test]
fn wasi_paths_oracle_reports_a_hard_link_to_the_sentinel_in_the_root() {
    let [read, named, changed] = wasi_paths_findings_with(Plant::HardLinkInRoot);
    println!("hard link in the root, of 330 inputs: {read} read, {named} named, {changed} changed");
    assert!(
        named >= 100,
        "{read} read, {named} named, {changed} changed"
    );
}
