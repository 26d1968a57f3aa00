//! Runs the `faasm-run` binary on small modules written to a temporary directory and checks its
//! output, errors and exit status.
#![forbid(unsafe_code)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

const FAC_WAT: &str = include_str!("../examples/fac.wat");

/// Writes `contents` to a file of the test's own temporary directory.
fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faasm-run-cli");
    fs::create_dir_all(&dir).expect("creating the temporary directory");
    let path = dir.join(name);
    fs::write(&path, contents).expect("writing a test module");
    path
}

fn faasm_run(args: &[&str], file: Option<&PathBuf>, trailing: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faasm-run"));
    command.args(args);
    if let Some(file) = file {
        command.arg(file);
    }
    command.args(trailing).output().expect("running faasm-run")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The error line, after checking that the run failed with exactly one `faasm-run:` line.
fn single_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected exit status 1; stderr: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line on stderr, got: {stderr}"
    );
    assert!(stderr.starts_with("faasm-run: "), "stderr: {stderr}");
    stderr
}

#[test]
fn invokes_fac_and_prints_the_result() {
    let file = temp_file("fac.wat", FAC_WAT);
    let output = faasm_run(&["--invoke", "fac"], Some(&file), &["5"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "120\n");
}

#[test]
fn bounded_memory_strategy_gives_the_same_result() {
    let file = temp_file("fac-bounded.wat", FAC_WAT);
    let output = faasm_run(&["--bounded", "--invoke", "fac"], Some(&file), &["20"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "2432902008176640000\n");
}

#[test]
fn runs_a_binary_module() {
    let wasm = wast::parser::ParseBuffer::new(FAC_WAT)
        .and_then(|buffer| wast::parser::parse::<wast::Wat<'_>>(&buffer)?.encode())
        .expect("assembling fac.wat");
    let file = temp_file("fac.wasm", wasm);
    let output = faasm_run(&["--invoke", "fac"], Some(&file), &["6"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "720\n");
}

#[test]
fn prints_every_result_and_parses_floats_and_unsigned_integers() {
    let file = temp_file(
        "multi.wat",
        r#"(module (func (export "f") (param i32 f32 f64) (result i32 f32 f64)
             (local.get 0) (local.get 1) (f64.add (local.get 2) (f64.const 0.25))))"#,
    );
    let output = faasm_run(
        &["--invoke", "f"],
        Some(&file),
        &["4294967295", "1.5", "-2"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "-1\n1.5\n-1.75\n");
}

#[test]
fn calls_start_without_invoke() {
    // `_start` traps, which proves it was called.
    let file = temp_file(
        "start.wat",
        r#"(module (func (export "_start") unreachable))"#,
    );
    let error = single_error_line(&faasm_run(&[], Some(&file), &[]));
    assert!(
        error.contains("`_start` trapped") && error.contains("unreachable"),
        "{error}"
    );
}

#[test]
fn a_module_without_start_just_instantiates() {
    let file = temp_file("nostart.wat", r#"(module (func (export "f")))"#);
    let output = faasm_run(&[], Some(&file), &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "");
}

#[test]
fn a_trap_is_reported_with_its_message() {
    let file = temp_file(
        "div.wat",
        r#"(module (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"#,
    );
    let error = single_error_line(&faasm_run(&["--invoke", "div"], Some(&file), &["1", "0"]));
    assert!(error.contains("integer divide by zero"), "{error}");
}

#[test]
fn timeout_stops_a_runaway_call() {
    let file = temp_file(
        "spin.wat",
        r#"(module (func (export "spin") (loop (br 0))))"#,
    );
    let error = single_error_line(&faasm_run(
        &["--timeout", "0.2", "--invoke", "spin"],
        Some(&file),
        &[],
    ));
    assert!(
        error.contains("`spin` trapped") && error.contains("deadline"),
        "{error}"
    );
}

#[test]
fn a_malformed_binary_names_the_byte_offset() {
    // A valid header, then a type section that claims more bytes than there are.
    let file = temp_file("malformed.wasm", b"\0asm\x01\0\0\0\x01\x05\x01");
    let error = single_error_line(&faasm_run(&[], Some(&file), &[]));
    assert!(error.contains("byte offset"), "{error}");
}

#[test]
fn a_text_syntax_error_names_line_and_column() {
    let file = temp_file(
        "syntax.wat",
        "(module\n  (func (export \"f\") (result i32)\n    i32.const))\n",
    );
    let error = single_error_line(&faasm_run(&[], Some(&file), &[]));
    assert!(error.contains("syntax.wat:3:"), "{error}");
}

#[test]
fn bad_arguments_are_explained() {
    let file = temp_file("fac-args.wat", FAC_WAT);
    let error = single_error_line(&faasm_run(&["--invoke", "fac"], Some(&file), &["five"]));
    assert!(error.contains("`five` is not a valid i64"), "{error}");
    let error = single_error_line(&faasm_run(&["--invoke", "fac"], Some(&file), &[]));
    assert!(
        error.contains("`fac` takes 1 argument(s) (i64), got 0"),
        "{error}"
    );
}

#[test]
fn a_missing_export_is_named() {
    let file = temp_file("fac-missing.wat", FAC_WAT);
    let error = single_error_line(&faasm_run(&["--invoke", "nope"], Some(&file), &[]));
    assert!(error.contains("no export named `nope`"), "{error}");
}

#[test]
fn usage_errors_show_the_usage() {
    let error = single_error_line(&faasm_run(&[], None, &[]));
    assert!(
        error.contains("no FILE given") && error.contains("usage:"),
        "{error}"
    );
    let error = single_error_line(&faasm_run(&["--frobnicate"], None, &[]));
    assert!(error.contains("unknown option --frobnicate"), "{error}");
    let error = single_error_line(&faasm_run(&["--timeout", "soon"], None, &[]));
    assert!(
        error.contains("--timeout needs a positive number"),
        "{error}"
    );
    let output = faasm_run(&["--help"], None, &[]);
    assert!(
        output.status.success() && stdout(&output).starts_with("usage:"),
        "{output:?}"
    );
}

#[test]
fn a_missing_file_is_reported() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-module.wasm");
    let error = single_error_line(&faasm_run(&[], Some(&missing), &[]));
    assert!(
        error.contains("cannot read") && error.contains("no-such-module.wasm"),
        "{error}"
    );
}
