//! Native runs of a kernel: its executable runs `run()` the given number of times and prints
//! the nanoseconds measured between `bench_start` and `bench_end`, then the checksum.

use crate::Measure;
use crate::kernels::Kernel;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs `executable` for `iterations` and returns the measured time and the checksum.
pub fn run(executable: &Path, iterations: u64) -> (Duration, u32) {
    let output = Command::new(executable)
        .arg(iterations.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", executable.display()));
    assert!(output.status.success(), "{} failed", executable.display());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace().map(|field| field.parse::<u64>());
    match (fields.next(), fields.next()) {
        (Some(Ok(nanos)), Some(Ok(checksum))) => (Duration::from_nanos(nanos), checksum as u32),
        _ => panic!("{}: unexpected output {text:?}", executable.display()),
    }
}

/// The native measure of `kernel`.
pub fn execute(kernel: &Kernel) -> Measure {
    let executable: PathBuf = kernel.native.clone();
    Box::new(move |iterations| run(&executable, iterations).0)
}
