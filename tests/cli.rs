//! Runs the `faasm-run` binary on small modules written to a temporary directory and checks its
//! output, errors, exit status, artifact cache and `compile` subcommand.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/forge.rs"]
mod forge;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FAC_WAT: &str = include_str!("../examples/fac.wat");

/// This test binary's scratch directory.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-cli");
    fs::create_dir_all(&dir).expect("creating the temporary directory");
    dir
}

/// Writes `contents` to a file of the scratch directory.
fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = scratch().join(name);
    fs::write(&path, contents).expect("writing a test module");
    path
}

/// An empty directory of its own for a test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a directory");
    dir
}

/// Runs `faasm-run` with `args`; the cache goes to the scratch directory, never the user's.
fn faasm_run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(args)
        .env("FAASM_CACHE_DIR", scratch().join("cache"))
        .output()
        .expect("running faasm-run")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The error line, after checking that the run failed with `status` and exactly one
/// `faasm-run:` line.
fn single_error_line(output: &Output, status: i32) -> String {
    let stderr = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(status),
        "expected exit status {status}; stderr: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line on stderr, got: {stderr}"
    );
    assert!(stderr.starts_with("faasm-run: "), "stderr: {stderr}");
    stderr
}

/// Checks a successful run and returns its stdout.
fn success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        stderr(output)
    );
    stdout(output)
}

fn assemble(wat: &str) -> Vec<u8> {
    wast::parser::ParseBuffer::new(wat)
        .and_then(|buffer| wast::parser::parse::<wast::Wat<'_>>(&buffer)?.encode())
        .expect("assembling a test module")
}

#[test]
fn invokes_fac_and_prints_the_result() {
    let file = temp_file("fac.wat", FAC_WAT);
    assert_eq!(
        success(&faasm_run(&["--invoke", "fac", path(&file), "5"])),
        "120\n"
    );
}

#[test]
fn bounded_memory_strategy_gives_the_same_result() {
    let file = temp_file("fac-bounded.wat", FAC_WAT);
    let output = faasm_run(&[
        "--memory-strategy",
        "bounded",
        "--invoke",
        "fac",
        path(&file),
        "20",
    ]);
    assert_eq!(success(&output), "2432902008176640000\n");
}

#[test]
fn runs_a_binary_module() {
    let file = temp_file("fac.wasm", assemble(FAC_WAT));
    assert_eq!(
        success(&faasm_run(&["--invoke", "fac", path(&file), "6"])),
        "720\n"
    );
}

#[test]
fn prints_every_result_and_parses_floats_and_unsigned_integers() {
    let file = temp_file(
        "multi.wat",
        r#"(module (func (export "f") (param i32 f32 f64) (result i32 f32 f64)
             (local.get 0) (local.get 1) (f64.add (local.get 2) (f64.const 0.25))))"#,
    );
    let output = faasm_run(&["--invoke", "f", path(&file), "4294967295", "1.5", "-2"]);
    assert_eq!(success(&output), "-1\n1.5\n-1.75\n");
}

#[test]
fn a_module_without_start_just_instantiates() {
    let file = temp_file("nostart.wat", r#"(module (func (export "f")))"#);
    assert_eq!(success(&faasm_run(&[path(&file)])), "");
}

const DEEP_TRAP_WAT: &str = r#"(module
    (func $inner (param i32) (result i32) (i32.div_s (local.get 0) (i32.const 0)))
    (func $middle (param i32) (result i32) (call $inner (local.get 0)))
    (func $outer (export "_start") (drop (call $middle (i32.const 3)))))"#;

#[test]
fn a_trap_prints_its_kind_and_the_wasm_backtrace_and_exits_134() {
    let file = temp_file("deep-trap.wat", DEEP_TRAP_WAT);
    let output = faasm_run(&[path(&file)]);
    assert_eq!(output.status.code(), Some(134), "{output:?}");
    assert_eq!(
        stderr(&output),
        "faasm-run: `_start` trapped: wasm trap: integer divide by zero\n\
         wasm backtrace:\n    \
         0: inner (function 0)\n    \
         1: middle (function 1)\n    \
         2: outer (function 2)\n"
    );
}

#[test]
fn a_trap_of_an_invoked_function_is_reported() {
    let file = temp_file(
        "div.wat",
        r#"(module (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"#,
    );
    let output = faasm_run(&["--invoke", "div", path(&file), "1", "0"]);
    assert_eq!(output.status.code(), Some(134));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("faasm-run: `div` trapped: wasm trap: integer divide by zero\n"),
        "{stderr}"
    );
    assert!(stderr.contains("0: function 0"), "{stderr}");
}

#[test]
fn timeout_stops_a_runaway_call() {
    let file = temp_file(
        "spin.wat",
        r#"(module (func (export "spin") (loop (br 0))))"#,
    );
    let output = faasm_run(&["--timeout", "200ms", "--invoke", "spin", path(&file)]);
    assert_eq!(output.status.code(), Some(134));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("`spin` trapped") && stderr.contains("deadline"),
        "{stderr}"
    );
}

/// `faasm-run --timeout 500ms GUEST` (after a first run that fills the artifact cache):
/// its output, and how long it took.
fn run_with_timeout(guest: &Path) -> (Output, Duration) {
    faasm_run(&["--timeout", "100ms", path(guest)]);
    let start = Instant::now();
    let output = faasm_run(&["--timeout", "500ms", path(guest)]);
    (output, start.elapsed())
}

#[test]
fn timeout_ends_a_guest_asleep_in_a_host_call() {
    // `sleep(5)`: five seconds in `poll_oneoff`, where no epoch check runs.
    let (output, elapsed) = run_with_timeout(&build::c_guest("sleep"));
    assert_eq!(output.status.code(), Some(134), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(stderr.contains("deadline"), "{stderr}");
    assert!(!stdout(&output).contains("woke"));
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn timeout_ends_a_guest_blocked_reading_a_silent_pipe() {
    let guest = build::c_guest("read_stdin");
    faasm_run(&["--timeout", "100ms", path(&guest)]);
    let start = Instant::now();
    // Stdin is a pipe whose writer (this test) stays open and never writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(["--timeout", "500ms", path(&guest)])
        .env("FAASM_CACHE_DIR", scratch().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running faasm-run");
    let _writer = child.stdin.take();
    let elapsed = ends_with_timeout(child, start, "the read");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

/// Waits for `child` (a `faasm-run --timeout 500ms` started at `start`, blocked in `what`) to
/// end as timed out; kills it and fails the test if it still runs after 10 s. Returns how
/// long it ran.
fn ends_with_timeout(mut child: std::process::Child, start: Instant, what: &str) -> Duration {
    while child.try_wait().expect("waiting for faasm-run").is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().expect("killing faasm-run");
            panic!("{what} outlived the timeout by seconds");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    let output = child
        .wait_with_output()
        .expect("collecting faasm-run's output");
    assert_eq!(output.status.code(), Some(134), "{}", stderr(&output));
    assert!(stderr(&output).contains("deadline"), "{}", stderr(&output));
    elapsed
}

/// A guest writing to the process's stdout, a pipe nobody reads: once the pipe is full, the
/// write waits only until the call's deadline (it blocked for ever before).
#[test]
fn timeout_ends_a_guest_blocked_writing_to_a_full_stdout() {
    let guest = temp_file(
        "flood.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write"
                (func $write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 2)
            (data (i32.const 0) "\00\00\01\00\00\00\01\00")
            (func (export "_start")
                (loop (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
                      (br 0))))"#,
    );
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args(["--timeout", "500ms", path(&guest)])
        .env("FAASM_CACHE_DIR", scratch().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running faasm-run");
    // Stdout is never read while the guest runs.
    let elapsed = ends_with_timeout(child, start, "the write");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn snapshot_initialisation_has_a_timeout() {
    let file = temp_file(
        "zygote-spin.wat",
        r#"(module (memory (export "memory") 1)
            (func (export "_faasm_zygote") (result i32) (loop (br 0)) (i32.const 0)))"#,
    );
    let start = Instant::now();
    let output = faasm_run(&["snapshot", "--timeout", "300ms", path(&file)]);
    let line = single_error_line(&output, 1);
    assert!(
        line.contains("`_faasm_zygote` did not return within the initialisation timeout of 300ms"),
        "{line}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn max_memory_limits_memories() {
    let file = temp_file(
        "grow.wat",
        r#"(module (memory 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
    );
    let limited = |pages: &str| {
        stdout(&faasm_run(&[
            "--max-memory",
            "128KiB",
            "--invoke",
            "grow",
            path(&file),
            pages,
        ]))
    };
    assert_eq!(limited("1"), "1\n");
    assert_eq!(limited("2"), "-1\n");
    let big = temp_file("big-memory.wat", r#"(module (memory 3))"#);
    let error = single_error_line(&faasm_run(&["--max-memory", "128KiB", path(&big)]), 1);
    assert!(
        error.contains("cannot instantiate") && error.contains("exceeds the limit of 2 pages"),
        "{error}"
    );
}

#[test]
fn a_malformed_binary_names_the_byte_offset() {
    // A valid header, then a type section that claims more bytes than there are.
    let file = temp_file("malformed.wasm", b"\0asm\x01\0\0\0\x01\x05\x01");
    let error = single_error_line(&faasm_run(&[path(&file)]), 1);
    assert!(
        error.contains("malformed.wasm") && error.contains("byte offset"),
        "{error}"
    );
}

#[test]
fn a_text_syntax_error_names_line_and_column() {
    let file = temp_file(
        "syntax.wat",
        "(module\n  (func (export \"f\") (result i32)\n    i32.const))\n",
    );
    let error = single_error_line(&faasm_run(&[path(&file)]), 1);
    assert!(error.contains("syntax.wat:3:"), "{error}");
}

#[test]
fn bad_arguments_are_explained() {
    let file = temp_file("fac-args.wat", FAC_WAT);
    let error = single_error_line(&faasm_run(&["--invoke", "fac", path(&file), "five"]), 1);
    assert!(error.contains("`five` is not a valid i64"), "{error}");
    let error = single_error_line(&faasm_run(&["--invoke", "fac", path(&file)]), 1);
    assert!(
        error.contains("`fac` takes 1 argument(s) (i64), got 0"),
        "{error}"
    );
}

#[test]
fn a_missing_export_is_named() {
    let file = temp_file("fac-missing.wat", FAC_WAT);
    let error = single_error_line(&faasm_run(&["--invoke", "nope", path(&file)]), 1);
    assert!(error.contains("no export named `nope`"), "{error}");
}

#[test]
fn every_missing_import_is_listed_in_one_message() {
    let file = temp_file(
        "imports.wat",
        r#"(module
            (import "env" "f" (func (param i32) (result i64)))
            (import "env" "mem" (memory 1 2))
            (import "env" "g" (global (mut i32)))
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (import "env" "t" (table 1 funcref)))"#,
    );
    let error = single_error_line(&faasm_run(&[path(&file)]), 1);
    assert!(
        error.ends_with(
            "imports.wat needs imports that faasm-run does not provide: \
             env.f (func (param i32) (result i64)), env.mem (memory 1 2), \
             env.g (global (mut i32)), env.t (table 1 funcref)\n"
        ),
        "{error}"
    );
}

#[test]
fn bad_command_lines_are_one_line_with_status_2() {
    let cases: [(&[&str], &str); 6] = [
        (&[], "required arguments were not provided"),
        (&["--frobnicate"], "unexpected argument '--frobnicate'"),
        (
            &["--timeout", "soon", "x.wasm"],
            "for '--timeout <DURATION>'",
        ),
        (&["--max-memory", "lots", "x.wasm"], "64MiB"),
        (
            &["--memory-strategy", "fast", "x.wasm"],
            "possible values: guard, bounded",
        ),
        (&["--dir", "::data", "x.wasm"], "HOST::GUEST"),
    ];
    for (args, expected) in cases {
        let error = single_error_line(&faasm_run(args), 2);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    let help = success(&faasm_run(&["--help"]));
    assert!(help.contains("Usage: faasm-run [OPTIONS]"), "{help}");
}

#[test]
fn a_missing_file_is_reported() {
    let missing = scratch().join("no-such-module.wasm");
    let error = single_error_line(&faasm_run(&[path(&missing)]), 1);
    assert!(
        error.contains("cannot read") && error.contains("no-such-module.wasm"),
        "{error}"
    );
}

/// The `--verbose` lines of a run with its own cache directory.
fn verbose_run(cache: &Path, file: &Path) -> String {
    let output = faasm_run(&[
        "--verbose",
        "--cache-dir",
        path(cache),
        "--invoke",
        "fac",
        path(file),
        "5",
    ]);
    assert_eq!(success(&output), "120\n");
    stderr(&output)
}

/// The one cache entry in `cache` (beside the artifact key).
fn only_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = fs::read_dir(cache)
        .expect("cache directory")
        .map(|e| e.expect("entry").path())
        .filter(|path| !path.ends_with("artifact.key"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().expect("one entry")
}

#[test]
fn the_second_run_loads_from_the_cache() {
    let cache = fresh_dir("cache-hit");
    let file = temp_file("fac-cache.wat", FAC_WAT);
    let first = verbose_run(&cache, &file);
    let entry = only_entry(&cache);
    assert!(
        first.starts_with("faasm-run: compiled in ")
            && first.contains(&format!("(cached as {})", entry.display())),
        "{first}"
    );
    let second = verbose_run(&cache, &file);
    assert!(
        second.starts_with(&format!(
            "faasm-run: loaded from cache {} in ",
            entry.display()
        )),
        "{second}"
    );
    assert_eq!(only_entry(&cache), entry);
    // Another memory strategy is another engine: another entry.
    let output = faasm_run(&[
        "--cache-dir",
        path(&cache),
        "--memory-strategy",
        "bounded",
        "--invoke",
        "fac",
        path(&file),
        "3",
    ]);
    assert_eq!(success(&output), "6\n");
    assert_eq!(
        fs::read_dir(&cache).expect("cache").count(),
        3,
        "two entries and the key"
    );
}

#[test]
fn a_corrupt_cache_entry_is_recompiled_and_rewritten() {
    let cache = fresh_dir("cache-corrupt");
    let file = temp_file("fac-corrupt.wat", FAC_WAT);
    verbose_run(&cache, &file);
    let entry = only_entry(&cache);
    let good = fs::read(&entry).expect("entry");
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    // The authentication tag is checked before anything else.
    let damages: [(&[u8], &str); 3] = [
        (&flipped, "not authenticated"),
        (&good[..good.len() - 1], "not authenticated"),
        (&good[..10], "not authenticated"),
    ];
    for (damaged, why) in damages {
        fs::write(&entry, damaged).expect("damaging the entry");
        let log = verbose_run(&cache, &file);
        assert!(
            log.contains(&format!("unusable cache entry {}", entry.display()))
                && log.contains(why)
                && log.contains("compiling again")
                && log.contains("compiled in "),
            "{log}"
        );
        assert_eq!(fs::read(&entry).expect("entry"), good, "rewritten");
        let log = verbose_run(&cache, &file);
        assert!(log.contains("loaded from cache"), "{log}");
    }
}

#[test]
fn no_cache_compiles_every_time_and_writes_nothing() {
    let cache = fresh_dir("cache-none");
    let file = temp_file("fac-nocache.wat", FAC_WAT);
    let conflicting = ["--no-cache", "--cache-dir", path(&cache), path(&file)];
    let error = single_error_line(&faasm_run(&conflicting), 2);
    assert!(error.contains("cannot be used with"), "{error}");
    let output = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
        .args([
            "--verbose",
            "--no-cache",
            "--invoke",
            "fac",
            path(&file),
            "4",
        ])
        .env("FAASM_CACHE_DIR", &cache)
        .output()
        .expect("running faasm-run");
    assert_eq!(success(&output), "24\n");
    assert_eq!(stderr(&output).lines().count(), 1);
    assert!(stderr(&output).starts_with("faasm-run: compiled in "));
    assert!(!stderr(&output).contains("cache"));
    assert_eq!(fs::read_dir(&cache).expect("cache").count(), 0);
}

#[test]
fn compile_writes_an_artifact_that_runs_without_compiling() {
    let dir = fresh_dir("compile");
    let file = dir.join("deep.wat");
    fs::write(&file, DEEP_TRAP_WAT).expect("module");
    let output = faasm_run(&["compile", path(&file)]);
    assert_eq!(success(&output), "");
    let artifact = dir.join("deep.cwasm");
    let output = faasm_run(&["--verbose", path(&artifact)]);
    assert_eq!(output.status.code(), Some(134));
    let log = stderr(&output);
    assert!(
        log.starts_with(&format!("faasm-run: loaded {} in ", artifact.display()))
            && log.contains("0: inner (function 0)"),
        "names survive the artifact: {log}"
    );
    let named = dir.join("fac.bin");
    fs::write(dir.join("fac.wat"), FAC_WAT).expect("module");
    let output = faasm_run(&[
        "compile",
        "--memory-strategy",
        "bounded",
        path(&dir.join("fac.wat")),
        "-o",
        path(&named),
    ]);
    success(&output);
    let run_bounded = faasm_run(&[
        "--memory-strategy",
        "bounded",
        "--invoke",
        "fac",
        path(&named),
        "7",
    ]);
    assert_eq!(success(&run_bounded), "5040\n");
    let error = single_error_line(&faasm_run(&["--invoke", "fac", path(&named), "7"]), 1);
    assert!(
        error.contains("compiled module is for another engine")
            && error.contains("memory=Bounded")
            && error.contains("--memory-strategy"),
        "{error}"
    );
    let mut tampered = fs::read(&named).expect("artifact");
    let last = tampered.len() - 40;
    tampered[last] ^= 1;
    fs::write(&named, tampered).expect("tampering");
    let error = single_error_line(
        &faasm_run(&["--memory-strategy", "bounded", path(&named)]),
        1,
    );
    assert!(error.contains("not authenticated"), "{error}");
}

/// Machine code changed and the checksum recomputed (what anyone who can write the file can
/// do): a compiled artifact is refused, and a cache entry is compiled again, never run.
#[test]
fn artifacts_with_forged_code_and_a_recomputed_checksum_do_not_run() {
    let dir = fresh_dir("forged");
    let file = dir.join("constant.wat");
    fs::write(&file, forge::CONSTANT_WAT).expect("module");
    success(&faasm_run(&["compile", path(&file)]));
    let artifact = dir.join("constant.cwasm");
    let genuine = format!("{}\n", forge::GENUINE as i32);
    let run = |file: &Path| faasm_run(&["--verbose", "--invoke", "f", path(file)]);
    assert_eq!(success(&run(&artifact)), genuine);
    let forged = forge::forge(&fs::read(&artifact).expect("artifact"));
    fs::write(&artifact, forged).expect("forging");
    let error = single_error_line(&run(&artifact), 1);
    assert!(
        error.contains("not authenticated by this host's key") && error.contains("constant.cwasm"),
        "{error}"
    );

    let cache = fresh_dir("forged-cache");
    let run_cached = || {
        Command::new(env!("CARGO_BIN_EXE_faasm-run"))
            .args(["--verbose", "--invoke", "f", path(&file)])
            .env("FAASM_CACHE_DIR", &cache)
            .output()
            .expect("running faasm-run")
    };
    assert_eq!(success(&run_cached()), genuine);
    let entry = only_entry(&cache);
    fs::write(&entry, forge::forge(&fs::read(&entry).expect("entry"))).expect("forging");
    let output = run_cached();
    assert_eq!(success(&output), genuine, "the forged entry is not run");
    assert!(
        stderr(&output).contains("unusable cache entry")
            && stderr(&output).contains("not authenticated"),
        "{}",
        stderr(&output)
    );
}

const WASI_HELLO_WAT: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hello from wasm\n")
    (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 16))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $proc_exit (i32.const 7))
        unreachable))"#;

#[test]
fn a_wasi_command_writes_to_stdout_and_exits_with_its_code() {
    let file = temp_file("hello.wat", WASI_HELLO_WAT);
    for strategy in ["guard", "bounded"] {
        let output = faasm_run(&["--memory-strategy", strategy, path(&file)]);
        assert_eq!(output.status.code(), Some(7), "{output:?}");
        assert_eq!(stdout(&output), "hello from wasm\n");
        assert_eq!(stderr(&output), "");
    }
}

/// Exits with `args_sizes_get`'s argc, `environ_sizes_get`'s count times 16, plus 100 if
/// descriptor 3 is a pre-opened directory.
const WASI_COUNTS_WAT: &str = r#"(module
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (local $code i32)
        (drop (call $args (i32.const 0) (i32.const 4)))
        (drop (call $env (i32.const 8) (i32.const 12)))
        (local.set $code (i32.add (i32.load (i32.const 0)) (i32.mul (i32.load (i32.const 8)) (i32.const 16))))
        (if (i32.eqz (call $prestat (i32.const 3) (i32.const 16)))
            (then (local.set $code (i32.add (local.get $code) (i32.const 100)))))
        (call $exit (local.get $code))))"#;

#[test]
fn args_env_and_dirs_reach_the_guest() {
    let file = temp_file("counts.wat", WASI_COUNTS_WAT);
    let dir = fresh_dir("preopen");
    let status = |args: &[&str]| faasm_run(args).status.code();
    assert_eq!(status(&[path(&file)]), Some(1), "argv = [FILE]");
    assert_eq!(status(&[path(&file), "a", "-b", "--c"]), Some(4));
    assert_eq!(
        status(&["--env", "A=1", "--env", "B=2", path(&file)]),
        Some(1 + 32)
    );
    let mapping = format!("{}::/data", path(&dir));
    assert_eq!(
        status(&["--dir", &mapping, path(&file), "x"]),
        Some(2 + 100)
    );
    let error = single_error_line(&faasm_run(&["--dir", "/no/such/dir", path(&file)]), 1);
    assert!(error.contains("/no/such/dir"), "{error}");
}

#[test]
fn bench_report_prints_the_nanoseconds_between_start_and_end() {
    let file = temp_file(
        "bench.wat",
        r#"(module
            (import "bench" "start" (func $start))
            (import "bench" "end" (func $end))
            (func (export "_start") (local i32)
                (call $start)
                (loop $l
                    (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get 0) (i32.const 100000))))
                (call $end)))"#,
    );
    let output = faasm_run(&["--bench-report", path(&file)]);
    success(&output);
    let report = stderr(&output);
    let nanos: u64 = report
        .strip_prefix("faasm-run: bench: ")
        .and_then(|rest| rest.strip_suffix(" ns\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report {report:?}"));
    assert!(nanos > 0);
    // Without the flag the functions are still provided, and nothing is printed.
    let output = faasm_run(&[path(&file)]);
    assert_eq!(success(&output), "");
    assert_eq!(stderr(&output), "");
}
