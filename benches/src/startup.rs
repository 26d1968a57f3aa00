//! Start-up of the command line, in the `proto` group of the report (issue 17): `faasm-run
//! hello.wasm` from a warm cache, the release binary started [`RUNS`] times one after the
//! other. `hello.wasm` is `benches/startup/hello.c` (`puts`, built with `clang
//! --target=wasm32-wasi -O2`); the binary is the one the `http` group measures (`$FAASM_RUN`,
//! or built now). Its cache is a fresh directory under `target/startup-bench`, filled by one
//! run before the measured ones, which then all load the compiled module from it.
//!
//! The starts are made by `benches/startup/runs.c`, built with `cc -O2`: a small parent, so
//! that each child's peak RSS (`ru_maxrss` from `wait4`) is its own (see that file for why a
//! large parent inflates it). Rows: median and 90th percentile wall time (fork to reaped exit)
//! and median peak RSS. Wasmtime's column holds `wasmtime run hello.wasm` (its own cache on)
//! when a `wasmtime` command is on `PATH`, and is empty otherwise.

use crate::Peer;
use crate::report::{Row, Unit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Measured starts of each command.
pub const RUNS: usize = 200;

/// What [`RUNS`] starts of one command took.
#[derive(Debug, Clone, Copy)]
struct Starts {
    median_ms: f64,
    p90_ms: f64,
    median_rss_mib: f64,
}

/// The group's start-up rows; a message on stderr and no rows if something cannot be built.
pub fn value_rows() -> Vec<Row> {
    match measure() {
        Ok((ours, wasmtime)) => rows(ours, wasmtime),
        Err(message) => {
            eprintln!("report: start-up rows skipped: {message}");
            Vec::new()
        }
    }
}

fn measure() -> Result<(Starts, Option<Starts>), String> {
    let dir = crate::target_dir().join("startup-bench");
    let cache = dir.join("cache");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("startup");
    let hello = dir.join("hello.wasm");
    build(
        "clang",
        &["--target=wasm32-wasi", "-O2", "-Wall", "-Werror"],
        &source.join("hello.c"),
        &hello,
    )?;
    let runs = dir.join("runs");
    build(
        "cc",
        &["-O2", "-Wall", "-Werror"],
        &source.join("runs.c"),
        &runs,
    )?;
    let faasm_run = crate::http::faasm_run()?;
    let ours = [faasm_run.as_os_str(), hello.as_os_str()];
    // The first run compiles and fills the cache; `runs` starts it 5 more times before it
    // measures anything.
    run_once(&ours, &cache)?;
    let ours = starts(&runs, &ours, &cache)?;
    let wasmtime = which("wasmtime").and_then(|wasmtime| {
        let command = [wasmtime.as_os_str(), "run".as_ref(), hello.as_os_str()];
        run_once(&command, &cache)
            .and_then(|()| starts(&runs, &command, &cache))
            .map_err(|e| eprintln!("report: wasmtime run skipped: {e}"))
            .ok()
    });
    Ok((ours, wasmtime))
}

/// Compiles one C file with `compiler` and `flags`.
fn build(compiler: &str, flags: &[&str], source: &Path, output: &Path) -> Result<(), String> {
    let result = Command::new(compiler)
        .args(flags)
        .arg(source)
        .arg("-o")
        .arg(output)
        .output()
        .map_err(|e| format!("cannot run {compiler}: {e}"))?;
    if result.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{compiler} {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&result.stderr)
        ))
    }
}

/// Runs `command` once with its cache in `cache` (output dropped).
fn run_once(command: &[&std::ffi::OsStr], cache: &Path) -> Result<(), String> {
    let output = Command::new(command[0])
        .args(&command[1..])
        .env("FAASM_CACHE_DIR", cache)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(command[0]).display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            Path::new(command[0]).display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// [`RUNS`] starts of `command` by `runs`.
fn starts(runs: &Path, command: &[&std::ffi::OsStr], cache: &Path) -> Result<Starts, String> {
    let output = Command::new(runs)
        .arg(RUNS.to_string())
        .args(command)
        .env("FAASM_CACHE_DIR", cache)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", runs.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// `runs`' line: median, p90 and minimum wall (ms), median and maximum peak RSS (KiB).
fn parse(line: &str) -> Result<Starts, String> {
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("runs printed {line:?}: {e}"))?;
    match numbers[..] {
        [median_ms, p90_ms, _, median_rss_kib, _] => Ok(Starts {
            median_ms,
            p90_ms,
            median_rss_mib: median_rss_kib / 1024.0,
        }),
        _ => Err(format!("runs printed {line:?}")),
    }
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn rows(ours: Starts, wasmtime: Option<Starts>) -> Vec<Row> {
    let row = |name: &str, unit: &'static str, figure: fn(&Starts) -> f64| {
        let mut medians = BTreeMap::new();
        medians.insert(Peer::Ours, figure(&ours));
        medians.extend(wasmtime.as_ref().map(|w| (Peer::Wasmtime, figure(w))));
        Row {
            group: "proto",
            name: format!("faasm-run hello.wasm, warm cache: {name} ({RUNS} starts)"),
            medians,
            unit: Unit::Value(unit),
        }
    };
    vec![
        row("median wall", "ms", |s| s.median_ms),
        row("p90 wall", "ms", |s| s.p90_ms),
        row("median peak RSS", "MiB", |s| s.median_rss_mib),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_lines_are_parsed() {
        let starts = parse("1.9000 2.2000 1.8000 6758 7040\n").expect("parsed");
        assert_eq!(starts.median_ms, 1.9);
        assert_eq!(starts.p90_ms, 2.2);
        assert_eq!(starts.median_rss_mib, 6758.0 / 1024.0);
        assert!(parse("1.9 2.2").is_err());
        assert!(parse("a b c d e").is_err());
    }
}
