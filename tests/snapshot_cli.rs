//! `faasm-run snapshot` and runs from a snapshot in another process: `--snapshot`, `--calls`,
//! and rejected snapshot files.
#![forbid(unsafe_code)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

/// `_initialize` stores 40 at address 0, the zygote adds 2; `bump(n)` adds `n` to it and counts
/// its calls in a global, returning both.
const COUNTER: &str = r#"
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "_initialize") (i32.store (i32.const 0) (i32.const 40)))
  (func (export "_faasm_zygote") (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 2)))
    (i32.const 0))
  (func (export "bump") (param i32) (result i32 i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get 0)))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.load (i32.const 0))
    (global.get $calls)))
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-snapshot");
    fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(name)
}

fn faasm_run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(args)
        .env("FAASM_CACHE_DIR", scratch("cache"))
        .output()
        .expect("running faasm-run")
}

fn success(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn module_and_snapshot(name: &str, strategy: &str) -> (String, String) {
    let module = scratch(&format!("{name}.wat"));
    fs::write(&module, COUNTER).expect("module");
    let snap = scratch(&format!("{name}.snap"));
    let (module, snap) = (
        module.to_str().expect("UTF-8").to_string(),
        snap.to_str().expect("UTF-8").to_string(),
    );
    let args = [
        "snapshot",
        "--memory-strategy",
        strategy,
        &module,
        "-o",
        &snap,
    ];
    success(&faasm_run(&args));
    (module, snap)
}

#[test]
fn every_call_from_a_snapshot_file_sees_the_initialised_state() {
    for strategy in ["guard", "bounded"] {
        let (module, snap) = module_and_snapshot(&format!("counter-{strategy}"), strategy);
        let args = [
            "--memory-strategy",
            strategy,
            "--snapshot",
            &snap,
            "--calls",
            "3",
            "--invoke",
            "bump",
            &module,
            "1",
        ];
        assert_eq!(success(&faasm_run(&args)), "43\n1\n".repeat(3));
    }
}

#[test]
fn calls_without_a_snapshot_file_snapshot_in_process() {
    let (module, _) = module_and_snapshot("counter-inprocess", "guard");
    let args = ["--calls", "2", "--invoke", "bump", &module, "5"];
    assert_eq!(success(&faasm_run(&args)), "47\n1\n".repeat(2));
}

#[test]
fn corrupt_or_foreign_snapshots_are_rejected() {
    let (module, snap) = module_and_snapshot("counter-corrupt", "guard");
    let bytes = fs::read(&snap).expect("snapshot");
    let damaged = scratch("counter-damaged.snap");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    for (contents, why) in [
        (&bytes[..bytes.len() - 1], "checksum"),
        (&flipped[..], "checksum"),
        (&bytes[..6], "truncated"),
    ] {
        fs::write(&damaged, contents).expect("damaged snapshot");
        let path = damaged.to_str().expect("UTF-8");
        let output = faasm_run(&["--snapshot", path, "--invoke", "bump", &module, "1"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
    let args = ["--memory-strategy", "bounded", "--snapshot", &snap, &module];
    let output = faasm_run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another engine"), "{stderr}");
}
