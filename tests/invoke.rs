//! `faasm-run upload` and `faasm-run invoke` through the built binary: every example of
//! `functions/` in C and in Rust (built with the stock toolchains by `support/functions.rs`),
//! uploaded as `c/NAME` or `rust/NAME` to a temporary store and invoked with the inputs of
//! `functions/README.md`; and small WAT functions for what the examples do not do: traps,
//! timeouts, bad guest pointers, return values, missing imports, stdio, command lines,
//! function-table entries, chained calls nobody awaits, stores made under other settings.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/forge.rs"]
mod forge;
#[path = "support/functions.rs"]
mod functions;
#[path = "../state/tests/common/mod.rs"]
mod redis_server;

use build::{CBuild, CTarget, build_c};
use functions::{LANGUAGES, Language, function, sdk_dir};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// This test binary's scratch directory.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-invoke");
    fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// An empty directory of its own for a test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a directory");
    dir
}

/// Runs `faasm-run` with `args`, with neither the user's cache nor the user's store.
fn faasm_run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    faasm_run_with(args, |_| {})
}

/// Runs `faasm-run` with `args`, after `setup` adjusts the command (its environment).
fn faasm_run_with<S: AsRef<OsStr>>(args: &[S], setup: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faasm-run"));
    command
        .args(args)
        .env("FAASM_CACHE_DIR", scratch().join("cache"))
        .env_remove("FAASM_STORE_DIR")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", scratch().join("home"));
    setup(&mut command);
    command.output().expect("running faasm-run")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `faasm-run upload ID FILE --store STORE`, which must succeed with its one line.
fn upload(store: &Path, id: &str, file: &Path) {
    let output = faasm_run(&["upload", id, path(file), "--store", path(store)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "uploading {id} ({}): status {:?}, stderr: {}",
        file.display(),
        output.status,
        stderr(&output)
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let expected = format!("uploaded {id} to {}", store.join(id).display());
    assert!(stdout.starts_with(&expected), "{stdout}");
    assert!(stdout.contains("snapshot"), "{stdout}");
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    for file in ["function.wasm", "function.cwasm", "function.snap"] {
        assert!(store.join(id).join(file).is_file(), "{id}: no {file}");
    }
}

/// `faasm-run invoke ID --store STORE [--input INPUT] EXTRA...`.
fn invoke(store: &Path, id: &str, input: Option<&[u8]>, extra: &[&str]) -> Output {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStrExt;
    let mut args: Vec<OsString> = ["invoke", id, "--store", path(store)]
        .iter()
        .map(OsString::from)
        .collect();
    if let Some(input) = input {
        args.push("--input".into());
        args.push(OsStr::from_bytes(input).to_os_string());
    }
    args.extend(extra.iter().map(OsString::from));
    faasm_run(&args)
}

/// The error of a failed command: its exit status is `status` and its stderr starts with one
/// `faasm-run: ` line (a trap adds its backtrace below), which is returned.
fn error_line(output: &Output, status: i32) -> String {
    let stderr = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(status),
        "expected exit status {status}; stderr: {stderr}"
    );
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("faasm-run: "), "stderr: {stderr}");
    first
}

/// The store holding every example of `language`, uploaded as `LANGUAGE/NAME` (once per test
/// process).
fn example_store(language: Language) -> &'static Path {
    static STORES: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    let index = LANGUAGES.iter().position(|l| *l == language).unwrap();
    STORES[index].get_or_init(|| {
        let store = fresh_dir(&format!("examples-{}", language.name()));
        for example in functions::EXAMPLES {
            let id = format!("{}/{example}", language.name());
            upload(&store, &id, &function(language, example));
        }
        store
    })
}

/// Invokes `example` in both languages with each `(input, output, exit status)`; an empty
/// input is also tried as no `--input` at all.
fn check_example(example: &str, cases: &[(&str, &str, i32)]) {
    for language in LANGUAGES {
        let store = example_store(language);
        let id = format!("{}/{example}", language.name());
        for &(input, expected, status) in cases {
            let mut runs = vec![invoke(store, &id, Some(input.as_bytes()), &[])];
            if input.is_empty() {
                runs.push(invoke(store, &id, None, &[]));
            }
            for output in runs {
                assert_eq!(
                    (
                        output.status.code(),
                        String::from_utf8_lossy(&output.stdout).as_ref()
                    ),
                    (Some(status), expected),
                    "{id} with input {input:?}; stderr: {}",
                    stderr(&output)
                );
                assert!(
                    output.stderr.is_empty(),
                    "{id} with input {input:?}: stderr: {}",
                    stderr(&output)
                );
            }
        }
    }
}

#[test]
fn echo_in_both_languages() {
    check_example(
        "echo",
        &[
            ("hello, faasm", "hello, faasm", 0),
            ("", "", 0),
            ("é ü\n", "é ü\n", 0),
        ],
    );
    // Any bytes, from a file.
    let bytes: Vec<u8> = (0..=255).collect();
    let file = scratch().join("all-bytes");
    fs::write(&file, &bytes).unwrap();
    for language in LANGUAGES {
        let id = format!("{}/echo", language.name());
        let output = invoke(
            example_store(language),
            &id,
            None,
            &["--input-file", path(&file)],
        );
        assert!(output.status.success(), "{id}: {}", stderr(&output));
        assert_eq!(output.stdout, bytes, "{id}");
    }
}

#[test]
fn hello_in_both_languages() {
    check_example(
        "hello",
        &[("ignored", "Hello, faasm!", 0), ("", "Hello, faasm!", 0)],
    );
}

#[test]
fn chain_by_name_in_both_languages() {
    check_example(
        "chain",
        &[("abc", "echo said: abc", 0), ("", "echo said: ping", 0)],
    );
}

#[test]
fn chain_by_table_index_in_both_languages() {
    check_example(
        "chain_ptr",
        &[
            ("12", "square(12) = 144", 0),
            ("", "square(7) = 49", 0),
            ("-46340", "square(-46340) = 2147395600", 0),
            ("abc", "bad input", 1),
        ],
    );
}

#[test]
fn fanout_in_both_languages() {
    check_example(
        "fanout",
        &[
            ("4", "80200", 0),
            ("", "80200", 0),
            ("12", "720600", 0),
            ("100", "50005000", 0),
            ("0", "bad input", 1),
        ],
    );
}

#[test]
fn pi_in_both_languages() {
    check_example(
        "pi",
        &[
            ("4", "pi ~= 3.137280", 0),
            ("", "pi ~= 3.137280", 0),
            ("1", "pi ~= 3.132800", 0),
            ("2", "pi ~= 3.137360", 0),
            ("8", "pi ~= 3.138460", 0),
            ("12", "pi ~= 3.138766", 0),
            ("100", "pi ~= 3.141314", 0),
            ("0", "bad input", 1),
        ],
    );
}

/// Chaining stays within the caller's user: `chain` of a user without `echo` fails, and names
/// the function it looked for.
#[test]
fn chained_functions_are_looked_up_for_the_same_user() {
    let store = fresh_dir("lonely");
    upload(&store, "lonely/chain", &function(Language::C, "chain"));
    let output = invoke(&store, "lonely/chain", Some(b"abc"), &[]);
    let line = error_line(&output, 134);
    assert!(line.contains("lonely/chain trapped"), "{line}");
    assert!(line.contains("no function `lonely/echo`"), "{line}");
}

/// The Faasm user's workflow: one C file written only against `faasm.h`, built with nothing but
/// Debian's stock clang and wasi-libc (`clang --target=wasm32-wasi -O2 -I sdk/c`), uploaded and
/// invoked; its printf output reaches the terminal. (Every C example of `functions/` is built
/// the same way, with warnings as errors.)
#[test]
fn a_c_function_written_only_against_faasm_h_runs() {
    let dir = fresh_dir("faasm-user");
    let source = dir.join("greet.c");
    fs::write(
        &source,
        r#"#include <faasm.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char *name = faasm_input_str();
    if (name == NULL || name[0] == 0)
        return 3;
    printf("greeting %s\n", name);
    char text[128];
    snprintf(text, sizeof text, "Hello, %s!", name);
    faasm_output_str(text);
    free(name);
    return 0;
}
"#,
    )
    .unwrap();
    let wasm = build_c(
        &CBuild {
            name: "greet".to_string(),
            sources: vec![source],
            includes: vec![sdk_dir().join("c")],
            flags: vec!["-O2".to_string()],
            libs: vec![],
        },
        CTarget::Wasi,
    );
    let store = dir.join("store");
    upload(&store, "alice/greet", &wasm);
    let output = invoke(&store, "alice/greet", Some(b"Faasm"), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "greeting Faasm\nHello, Faasm!"
    );
    // A non-zero return of `main` is the exit status.
    let output = invoke(&store, "alice/greet", None, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
}

/// Uploads each `(name, wat)` as `t/NAME` to a fresh store named `store`.
fn wat_store(store: &str, functions: &[(&str, &str)]) -> PathBuf {
    let dir = fresh_dir(store);
    let store = dir.join("store");
    for (name, wat) in functions {
        let file = dir.join(format!("{name}.wat"));
        fs::write(&file, wat).unwrap();
        upload(&store, &format!("t/{name}"), &file);
    }
    store
}

#[test]
fn an_unknown_function_names_itself() {
    let store = fresh_dir("unknown");
    let output = invoke(&store, "c/nope", None, &[]);
    let line = error_line(&output, 1);
    assert_eq!(stderr(&output).lines().count(), 1);
    assert!(line.contains("no function c/nope"), "{line}");
    assert!(line.contains(path(&store)), "{line}");
    // A malformed name is a command-line error.
    let output = invoke(&store, "nope", None, &[]);
    assert!(error_line(&output, 2).contains("USER/FUNC"));
}

#[test]
fn an_upload_lists_every_missing_import() {
    let dir = fresh_dir("missing");
    let file = dir.join("needs.wat");
    fs::write(
        &file,
        r#"(module
            (import "env" "__faasm_nope" (func (param i32)))
            (import "env" "__faasm_read_input" (func (param i32 i32) (result i32)))
            (import "env" "shared" (memory 1))
            (import "wasi_snapshot_preview1" "fd_nope" (func (result i32)))
            (func (export "_start")))"#,
    )
    .unwrap();
    let store = dir.join("store");
    let output = faasm_run(&["upload", "t/needs", path(&file), "--store", path(&store)]);
    let line = error_line(&output, 1);
    assert_eq!(stderr(&output).lines().count(), 1);
    assert!(line.contains("cannot upload t/needs"), "{line}");
    assert!(line.contains(path(&file)), "{line}");
    for missing in [
        "env.__faasm_nope (func (param i32))",
        "env.shared (memory 1)",
        "wasi_snapshot_preview1.fd_nope (func (result i32))",
    ] {
        assert!(line.contains(missing), "{missing} not in: {line}");
    }
    assert!(!line.contains("__faasm_read_input"), "{line}");
    assert!(!store.join("t/needs").exists(), "nothing is stored");
}

#[test]
fn an_upload_of_a_malformed_module_names_it() {
    let dir = fresh_dir("malformed");
    let file = dir.join("bad.wasm");
    fs::write(&file, b"\0asm\x01\0\0\0\x01").unwrap();
    let output = faasm_run(&["upload", "t/bad", path(&file), "--store", path(&dir)]);
    let line = error_line(&output, 1);
    assert!(line.contains("cannot upload t/bad"), "{line}");
    assert!(line.contains("bad.wasm"), "{line}");
    assert!(line.contains("offset"), "{line}");
}

#[test]
fn a_trap_exits_134_with_its_message() {
    let store = wat_store(
        "trap",
        &[(
            "trap",
            r#"(module (memory (export "memory") 1)
                (func $inner unreachable)
                (func (export "_start") call $inner))"#,
        )],
    );
    let output = invoke(&store, "t/trap", None, &[]);
    let line = error_line(&output, 134);
    assert_eq!(line, "faasm-run: t/trap trapped: wasm trap: unreachable");
    assert!(stderr(&output).contains("0: inner"), "{}", stderr(&output));
}

/// A timeout too long for the clock (1e19 s is past `Instant`'s range) means no deadline, for
/// `invoke` and a plain run: never an overflow panic.
#[test]
fn a_huge_timeout_means_no_deadline() {
    let store = wat_store("huge-timeout", &[("constant", forge::CONSTANT_WAT)]);
    let module = scratch().join("huge-timeout").join("constant.wat");
    for timeout in ["100000000000000h", "10000000000000000000s"] {
        let output = invoke(&store, "t/constant", None, &["--timeout", timeout]);
        assert_eq!(output.status.code(), Some(0x44), "{}", stderr(&output));
        let output = faasm_run(&["--timeout", timeout, "--invoke", "f", path(&module)]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(
            output.stdout,
            format!("{}\n", forge::GENUINE as i32).as_bytes()
        );
    }
    // Beyond what a duration holds: a usage error, not a panic.
    let output = invoke(&store, "t/constant", None, &["--timeout", "1e30s"]);
    let line = error_line(&output, 2);
    assert!(line.contains("--timeout"), "{line}");
}

#[test]
fn a_timeout_says_so() {
    let store = wat_store(
        "timeout",
        &[(
            "spin",
            r#"(module (memory (export "memory") 1)
                (func (export "_start") (loop $l (br $l))))"#,
        )],
    );
    let start = Instant::now();
    let output = invoke(&store, "t/spin", None, &["--timeout", "200ms"]);
    let line = error_line(&output, 1);
    assert_eq!(line, "faasm-run: t/spin timed out after 200ms");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_timeout_ends_a_call_asleep_in_a_host_call() {
    // `sleep(5)` spends its time in `poll_oneoff`, where no epoch check runs.
    let dir = fresh_dir("sleep");
    let store = dir.join("store");
    upload(&store, "t/sleep", &build::c_guest("sleep"));
    let start = Instant::now();
    let output = invoke(&store, "t/sleep", None, &["--timeout", "500ms"]);
    let elapsed = start.elapsed();
    let line = error_line(&output, 1);
    assert_eq!(line, "faasm-run: t/sleep timed out after 500ms");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("woke"));
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn an_upload_whose_zygote_never_returns_fails_after_its_timeout() {
    let dir = fresh_dir("zygote-spin");
    let file = dir.join("spin.wat");
    fs::write(
        &file,
        r#"(module (memory (export "memory") 1)
            (func (export "_faasm_zygote") (result i32) (loop (br 0)) (i32.const 0))
            (func (export "_start")))"#,
    )
    .unwrap();
    let store = dir.join("store");
    let start = Instant::now();
    let output = faasm_run(&[
        "upload",
        "t/spin",
        path(&file),
        "--store",
        path(&store),
        "--timeout",
        "300ms",
    ]);
    let line = error_line(&output, 1);
    assert!(
        line.contains("`_faasm_zygote` did not return within the initialisation timeout of 300ms"),
        "{line}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(!store.join("t/spin").join("function.snap").exists());
}

#[test]
fn a_bad_guest_pointer_traps_naming_the_call() {
    let store = wat_store(
        "bad-pointer",
        &[(
            "badptr",
            r#"(module
                (import "env" "__faasm_write_output" (func $write (param i32 i32)))
                (memory (export "memory") 1)
                (func (export "_start") (call $write (i32.const 65530) (i32.const 100))))"#,
        )],
    );
    let output = invoke(&store, "t/badptr", None, &[]);
    let line = error_line(&output, 134);
    assert!(line.contains("t/badptr trapped"), "{line}");
    assert!(line.contains("__faasm_write_output"), "{line}");
    assert!(line.contains("outside"), "{line}");
}

#[test]
fn a_non_zero_return_is_the_exit_status() {
    let store = wat_store(
        "return",
        &[
            (
                "ret42",
                r#"(module (memory (export "memory") 1)
                    (func (export "_start") (result i32) (i32.const 42)))"#,
            ),
            (
                "exit3",
                r#"(module
                    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                    (memory (export "memory") 1)
                    (func (export "_start") (call $exit (i32.const 3))))"#,
            ),
            (
                "ret256",
                r#"(module (memory (export "memory") 1)
                    (func (export "_start") (result i32) (i32.const 256)))"#,
            ),
        ],
    );
    for (id, status) in [("t/ret42", 42), ("t/exit3", 3), ("t/ret256", 1)] {
        let output = invoke(&store, id, None, &[]);
        assert_eq!(
            output.status.code(),
            Some(status),
            "{id}: {}",
            stderr(&output)
        );
        assert!(output.stderr.is_empty(), "{id}: {}", stderr(&output));
    }
}

/// `(import "wasi_snapshot_preview1" "fd_write" ...)` and a `$print` of `len` bytes at `ptr` to
/// `fd` (the iovec at 0).
const PRINT: &str = r#"
    (import "wasi_snapshot_preview1" "fd_write"
      (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (func $print (param $fd i32) (param $ptr i32) (param $len i32)
      (i32.store (i32.const 0) (local.get $ptr))
      (i32.store (i32.const 4) (local.get $len))
      (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))"#;

const WRITE_OUTPUT: &str = r#"(import "env" "__faasm_write_output" (func $write (param i32 i32)))"#;

#[test]
fn stdout_and_stderr_pass_through_and_the_output_follows() {
    let store = wat_store(
        "stdio",
        &[(
            "stdio",
            &format!(
                r#"(module {WRITE_OUTPUT} {PRINT}
                    (memory (export "memory") 1)
                    (data (i32.const 100) "to stdout\n")
                    (data (i32.const 200) "to stderr\n")
                    (data (i32.const 300) "out")
                    (func (export "_start")
                      (call $print (i32.const 1) (i32.const 100) (i32.const 10))
                      (call $print (i32.const 2) (i32.const 200) (i32.const 10))
                      (call $write (i32.const 300) (i32.const 3))))"#
            ),
        )],
    );
    let output = invoke(&store, "t/stdio", None, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "to stdout\nout");
    assert_eq!(stderr(&output), "to stderr\n");
}

#[test]
fn the_command_line_reaches_the_guest() {
    let store = wat_store(
        "cmdline",
        &[(
            "args",
            &format!(
                r#"(module {WRITE_OUTPUT}
                    (import "wasi_snapshot_preview1" "args_sizes_get"
                      (func $sizes (param i32 i32) (result i32)))
                    (import "wasi_snapshot_preview1" "args_get"
                      (func $get (param i32 i32) (result i32)))
                    (memory (export "memory") 1)
                    (func (export "_start")
                      (drop (call $sizes (i32.const 0) (i32.const 4)))
                      (drop (call $get (i32.const 16) (i32.const 1024)))
                      (call $write (i32.const 1024) (i32.load (i32.const 4)))))"#
            ),
        )],
    );
    let output = invoke(&store, "t/args", None, &["--cmdline", "-x  y"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout, b"args\0-x\0y\0");
    let output = invoke(&store, "t/args", None, &[]);
    assert_eq!(output.stdout, b"args\0");
}

#[test]
fn func_ptr_enters_at_a_table_entry() {
    let store = wat_store(
        "func-ptr",
        &[(
            "entries",
            &format!(
                r#"(module {WRITE_OUTPUT}
                    (memory (export "memory") 1)
                    (table 3 funcref)
                    (elem (i32.const 1) $one $twice)
                    (data (i32.const 100) "start")
                    (data (i32.const 200) "one")
                    (func (export "_start") (call $write (i32.const 100) (i32.const 5)))
                    (func $one (call $write (i32.const 200) (i32.const 3)))
                    (func $twice (param $n i32) (result i32)
                      (i32.add (local.get $n) (local.get $n))))"#
            ),
        )],
    );
    let output = invoke(&store, "t/entries", None, &[]);
    assert_eq!(output.stdout, b"start", "{}", stderr(&output));
    let output = invoke(&store, "t/entries", None, &["--func-ptr", "1"]);
    assert_eq!(output.stdout, b"one", "{}", stderr(&output));
    assert!(output.status.success());
    // The input as the entry's integer argument; its result is the exit status.
    let output = invoke(&store, "t/entries", Some(b"21"), &["--func-ptr", "2"]);
    assert_eq!(output.status.code(), Some(42), "{}", stderr(&output));
    let output = invoke(&store, "t/entries", None, &["--func-ptr", "9"]);
    let line = error_line(&output, 1);
    assert!(line.contains("t/entries could not start"), "{line}");
    assert!(line.contains("function pointer 9"), "{line}");
}

/// A chained call nobody awaits still runs to its end before `invoke` exits.
#[test]
fn chained_calls_nobody_awaits_end_before_the_exit() {
    let store = wat_store(
        "unawaited",
        &[
            (
                "late",
                &format!(
                    r#"(module {PRINT}
                        (memory (export "memory") 1)
                        (data (i32.const 100) "late call done\n")
                        (func (export "_start") (local $i i32)
                          (loop $spin
                            (local.set $i (i32.add (local.get $i) (i32.const 1)))
                            (br_if $spin (i32.lt_u (local.get $i) (i32.const 20000000))))
                          (call $print (i32.const 1) (i32.const 100) (i32.const 15))))"#
                ),
            ),
            (
                "fire",
                &format!(
                    r#"(module {WRITE_OUTPUT}
                        (import "env" "__faasm_chain_name"
                          (func $chain (param i32 i32 i32) (result i32)))
                        (memory (export "memory") 1)
                        (data (i32.const 100) "late\00")
                        (data (i32.const 200) "fired")
                        (func (export "_start")
                          (drop (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
                          (call $write (i32.const 200) (i32.const 5))))"#
                ),
            ),
        ],
    );
    let output = invoke(&store, "t/fire", None, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The output is printed when the call ends; the late call's stdout when it writes it.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout == "firedlate call done\n" || stdout == "late call done\nfired",
        "{stdout:?}"
    );
}

/// `--store` defaults to `$FAASM_STORE_DIR`.
#[test]
fn the_store_defaults_to_faasm_store_dir() {
    let dir = fresh_dir("default-store");
    let file = dir.join("hello.wasm");
    fs::copy(function(Language::C, "hello"), &file).unwrap();
    let store = dir.join("store");
    let with_store = |command: &mut Command| {
        command.env("FAASM_STORE_DIR", &store);
    };
    let output = faasm_run_with(&["upload", "u/hello", path(&file)], with_store);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(store.join("u/hello/function.snap").is_file());
    let output = faasm_run_with(&["invoke", "u/hello"], with_store);
    assert_eq!(output.stdout, b"Hello, faasm!", "{}", stderr(&output));
}

/// A function uploaded under other compiler settings is compiled and prepared again (and says
/// so under `--verbose`); a corrupt snapshot is an error naming the function and the file.
#[test]
fn stored_code_of_another_engine_is_compiled_again_and_corruption_is_named() {
    let dir = fresh_dir("other-engine");
    let file = dir.join("echo.wasm");
    fs::copy(function(Language::C, "echo"), &file).unwrap();
    let store = dir.join("store");
    let output = faasm_run(&[
        "upload",
        "b/echo",
        path(&file),
        "--store",
        path(&store),
        "--memory-strategy",
        "bounded",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = invoke(&store, "b/echo", Some(b"again"), &["--verbose"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout, b"again");
    assert!(
        stderr(&output).contains("compiling function.wasm again"),
        "{}",
        stderr(&output)
    );
    let output = invoke(
        &store,
        "b/echo",
        Some(b"same"),
        &["--memory-strategy", "bounded", "--verbose"],
    );
    assert_eq!(output.stdout, b"same");
    assert!(!stderr(&output).contains("again"), "{}", stderr(&output));

    let snapshot = store.join("b/echo/function.snap");
    let mut bytes = fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&snapshot, bytes).unwrap();
    let output = invoke(&store, "b/echo", None, &["--memory-strategy", "bounded"]);
    let line = error_line(&output, 1);
    assert!(line.contains("cannot load function b/echo"), "{line}");
    assert!(line.contains("function.snap"), "{line}");
    assert!(line.contains("checksum"), "{line}");
}

/// A stored artifact whose machine code was changed and its checksum recomputed is refused (the
/// store's key authenticates it), naming the file; it never runs.
#[test]
fn a_stored_artifact_with_forged_code_is_refused() {
    let store = wat_store("forged", &[("constant", forge::CONSTANT_WAT)]);
    let output = invoke(&store, "t/constant", None, &[]);
    assert_eq!(output.status.code(), Some(0x44), "{}", stderr(&output));
    let artifact = store.join("t/constant/function.cwasm");
    fs::write(&artifact, forge::forge(&fs::read(&artifact).unwrap())).unwrap();
    let output = invoke(&store, "t/constant", None, &[]);
    let line = error_line(&output, 1);
    assert!(line.contains("cannot load function t/constant"), "{line}");
    assert!(line.contains("function.cwasm"), "{line}");
    assert!(line.contains("not authenticated"), "{line}");
}

/// Writes "hello" to the state value `greeting` and pushes it to the global tier.
const PUSH_STATE: &str = r#"(module
    (import "env" "__faasm_write_state" (func $write (param i32 i32 i32)))
    (import "env" "__faasm_push_state" (func $push (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "greeting\00")
    (data (i32.const 32) "hello")
    (func (export "_start")
        (call $write (i32.const 16) (i32.const 32) (i32.const 5))
        (call $push (i32.const 16))))"#;

#[test]
fn state_goes_to_the_redis_global_tier_given_with_state() {
    let store = wat_store("state-redis", &[("push", PUSH_STATE)]);
    let Some(redis) = redis_server::redis_or_skip("state_goes_to_the_redis_global_tier") else {
        return;
    };
    let output = invoke(&store, "t/push", None, &["--state", &redis.url()]);
    assert!(output.status.success(), "{}", stderr(&output));
    // `KEYS` answers with a RESP array: one `$len` line and one name line per key.
    let keys = redis.command("KEYS *greeting*");
    let name = keys.lines().find(|line| line.contains("greeting"));
    assert!(
        name.is_some_and(|name| name.contains("t/greeting")),
        "the key, namespaced by user: {keys}"
    );
    let value = redis.command(&format!("GET {}", name.unwrap_or_default()));
    assert_eq!(value.lines().last(), Some("hello"), "{value}");
    // A malformed URL is refused before anything runs.
    let output = invoke(&store, "t/push", None, &["--state", "not-a-url"]);
    let line = error_line(&output, 1);
    assert!(
        line.contains("state") && line.contains("not-a-url"),
        "{line}"
    );
}

/// Outputs the whole state value `input` (whatever its size, up to 60 KiB).
const OUTPUT_STATE: &str = r#"(module
    (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $output (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "input\00")
    (func (export "_start") (local $size i32)
        (local.set $size (call $read (i32.const 16) (i32.const 0) (i32.const 0)))
        (drop (call $read (i32.const 16) (i32.const 4096) (local.get $size)))
        (call $output (i32.const 4096) (local.get $size))))"#;

#[test]
fn state_values_put_and_got_from_the_command_line() {
    let store = wat_store(
        "state-cli",
        &[("push", PUSH_STATE), ("output", OUTPUT_STATE)],
    );
    let Some(redis) = redis_server::redis_or_skip("state_values_put_and_got") else {
        return;
    };
    let url = redis.url();
    let state = |args: &[&str]| {
        let mut all = vec!["state"];
        all.extend_from_slice(args);
        all.extend(["--state", &url]);
        faasm_run(&all)
    };
    // Input data for a function, from a file.
    let input = scratch().join("state-input.bin");
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&input, &data).unwrap();
    let put = state(&["put", "t/input", path(&input)]);
    assert!(put.status.success(), "{}", stderr(&put));
    let output = invoke(&store, "t/output", None, &["--state", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout == data, "the function read another value");
    // A function's result, to standard output and to a file.
    let output = invoke(&store, "t/push", None, &["--state", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    let got = state(&["get", "t/greeting"]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(got.stdout, b"hello");
    let file = scratch().join("state-greeting.out");
    let got = state(&["get", "t/greeting", "--output", path(&file)]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(fs::read(&file).unwrap(), b"hello");
    // Users are namespaces; deleted values are gone; the errors say what is wrong.
    let line = error_line(&state(&["get", "u/greeting"]), 1);
    assert!(
        line.contains("u/greeting") && line.contains("not found"),
        "{line}"
    );
    assert!(state(&["delete", "t/greeting"]).status.success());
    let line = error_line(&state(&["get", "t/greeting"]), 1);
    assert!(line.contains("not found"), "{line}");
    let line = error_line(&state(&["get", "greeting"]), 1);
    assert!(line.contains("invalid state key"), "{line}");
    // Without `--state`, the value is looked for in the store's embedded tier.
    let line = error_line(&faasm_run(&["state", "get", "t/input"]), 1);
    assert!(
        line.contains("t/input") && line.contains("not found"),
        "{line}"
    );
}

/// Reads state value `greeting` (5 bytes) and outputs it.
const READ_GREETING: &str = r#"(module
    (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $output (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "greeting\00")
    (func (export "_start")
        (drop (call $read (i32.const 16) (i32.const 64) (i32.const 5)))
        (call $output (i32.const 64) (i32.const 5))))"#;

/// Without `--state`, state lives in the store's embedded tier: a value one `invoke` pushes is
/// there for the next one and for `faasm-run state`, and concurrent processes share it.
#[test]
fn state_persists_in_the_store_between_processes() {
    let store = wat_store(
        "state-embedded",
        &[("push", PUSH_STATE), ("read", READ_GREETING)],
    );
    let output = invoke(&store, "t/read", None, &[]);
    let line = error_line(&output, 134);
    assert!(
        line.contains("t/greeting") && line.contains("not found"),
        "{line}"
    );
    let output = invoke(&store, "t/push", None, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = invoke(&store, "t/read", None, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout, b"hello");
    let state = |args: &[&str]| {
        let mut all = vec!["state"];
        all.extend_from_slice(args);
        all.extend(["--store", path(&store)]);
        faasm_run(&all)
    };
    let got = state(&["get", "t/greeting"]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(got.stdout, b"hello");
    let input = scratch().join("state-embedded-input.bin");
    fs::write(&input, b"world").unwrap();
    assert!(state(&["put", "t/greeting", path(&input)]).status.success());
    // Four processes read the value at once.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || invoke(&store, "t/read", None, &[]))
        })
        .collect();
    for reader in readers {
        let output = reader.join().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(output.stdout, b"world");
    }
    assert!(store.join("#state").is_dir(), "the tier lives in the store");
}

/// `t/bomb`: chains itself twice and awaits both, for ever.
const BOMB: &str = r#"(module
    (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_await_call" (func $await (param i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "bomb\00")
    (func (export "_start") (result i32) (local $a i32) (local $b i32)
      (local.set $a (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
      (local.set $b (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
      (i32.or (call $await (local.get $a)) (call $await (local.get $b)))))"#;

/// `faasm-run invoke` of `id` with `extra`, killed (and the test failed) if it has not
/// returned after `limit`.
fn invoke_within(store: &Path, id: &str, extra: &[&str], limit: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faasm-run"));
    command
        .args(["invoke", id, "--store", path(store)])
        .args(extra)
        .env("FAASM_CACHE_DIR", scratch().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("running faasm-run");
    let start = Instant::now();
    while child.try_wait().expect("waiting for faasm-run").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faasm-run invoke {id} {extra:?} still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
        .wait_with_output()
        .expect("reading faasm-run's output")
}

#[test]
fn a_fork_bomb_ends_at_a_limit_and_invoke_returns() {
    let store = wat_store("bomb", &[("bomb", BOMB)]);
    for (extra, expected) in [
        (&[][..], "max_calls_per_invocation limit (10000) reached"),
        (
            &["--max-chain-depth", "4"][..],
            "max_chain_depth limit (4) reached",
        ),
        (
            &["--max-calls-per-invocation", "100"][..],
            "max_calls_per_invocation limit (100) reached",
        ),
    ] {
        let output = invoke_within(&store, "t/bomb", extra, Duration::from_secs(120));
        let line = error_line(&output, 1);
        assert!(
            line.contains("t/bomb: a call of the invocation ran into a limit"),
            "{line}"
        );
        assert!(line.contains(expected), "{extra:?}: {line}");
    }
}

#[test]
fn state_limits_come_from_the_command_line() {
    let store = wat_store(
        "state_limits",
        &[(
            "big",
            r#"(module
                (import "env" "__faasm_flag_state_dirty" (func $dirty (param i32 i32)))
                (import "env" "__faasm_push_state" (func $push (param i32)))
                (memory (export "memory") 1)
                (data (i32.const 16) "big\00")
                (func (export "_start")
                  (call $dirty (i32.const 16) (i32.const 2048))
                  (call $push (i32.const 16))))"#,
        )],
    );
    let output = invoke(&store, "t/big", None, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = invoke(&store, "t/big", None, &["--max-state-value", "1KiB"]);
    let line = error_line(&output, 134);
    assert!(
        line.contains("__faasm_flag_state_dirty")
            && line.contains("max_value_bytes limit (1024) exceeded: a value of 2048 bytes"),
        "{line}"
    );
    let output = invoke(&store, "t/big", None, &["--max-state-value", "1x"]);
    assert!(error_line(&output, 2).contains("256MiB"));
}
