//! Benchmarks of faasm-rs side by side with its peers, Wasmtime (the bar: the same code
//! generator) and wasmi (an interpreter), plus native code as the physical limit. Every figure
//! is measured in the same run, because only ratios measured together mean anything on a
//! shared machine.
//!
//! The groups (`execute`, `compile`, `instantiate`, `calls`, `proto`, `chain`) are lists of
//! [`Benchmark`]s, each a set of [`Measure`] closures, one per [`Peer`]. The criterion suite
//! (`benches/suite.rs`) and the report command (`src/bin/report.rs`) run the same closures;
//! `proto`'s memory, density and churn figures, `chain`'s invocations per second, the `state`
//! group (push and pull on Redis next to `redis-benchmark`) and the `http` group (`faasm-run
//! serve` under wrk next to a minimal HTTP server; also alone: `--bin http`), which are not
//! durations, only run in the report (see [`proto`], [`chain`], [`state`] and [`http`]), as do
//! the start-up rows of `proto` (`faasm-run hello.wasm` started again and again, [`startup`]).
//! Nothing depends on this crate, and no test target builds it: `cargo test --workspace` never
//! compiles the peers.
#![forbid(unsafe_code)]

pub mod chain;
pub mod chart;
pub mod cluster;
pub mod groups;
pub mod http;
pub mod kernels;
pub mod native;
pub mod ours;
pub mod ours_wasi;
pub mod peer_wasmi;
pub mod peer_wasmi_wasi;
pub mod peer_wasmtime;
pub mod peer_wasmtime_wasi;
pub mod programs;
pub mod progress;
pub mod proto;
pub mod python;
pub mod redis_floor;
pub mod report;
pub mod startup;
pub mod state;
pub mod state_read;
pub mod stopwatch;
pub mod wasi_shim;

use std::fmt;
use std::time::Duration;

/// Runs a benchmark `iterations` times and returns the time measured in total (criterion's
/// `iter_custom` contract): only the measured region counts, not the set-up around it.
pub type Measure = Box<dyn FnMut(u64) -> Duration>;

/// Who runs a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// faasm-rs.
    Ours,
    /// Wasmtime 48 (the same Cranelift as ours).
    Wasmtime,
    /// wasmi, an interpreter.
    Wasmi,
    /// The C source compiled for the host with `cc -O2`.
    Native,
}

impl Peer {
    /// Every peer, in the report's column order.
    pub const ALL: [Peer; 4] = [Peer::Ours, Peer::Wasmtime, Peer::Wasmi, Peer::Native];

    /// The peer's name in benchmark ids and table headers.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::Wasmtime => "wasmtime",
            Peer::Wasmi => "wasmi",
            Peer::Native => "native",
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One benchmark of a group, with a measure for each peer that can run it.
pub struct Benchmark {
    /// `execute`, `compile`, `instantiate` or `calls`.
    pub group: &'static str,
    /// What is measured, e.g. `sha256` or `empty module (guard)`.
    pub name: String,
    /// The peers' measures.
    pub measures: Vec<(Peer, Measure)>,
}

impl Benchmark {
    /// An `execute` benchmark of module `name`: ours, Wasmtime, wasmi (built with its `simd`
    /// feature, so SIMD modules too) and native code.
    pub fn execute(
        name: &str,
        ours: Measure,
        wasmtime: Measure,
        wasmi: Measure,
        native: Measure,
    ) -> Benchmark {
        Benchmark {
            group: "execute",
            name: name.to_string(),
            measures: vec![
                (Peer::Ours, ours),
                (Peer::Wasmtime, wasmtime),
                (Peer::Wasmi, wasmi),
                (Peer::Native, native),
            ],
        }
    }
}

impl fmt::Debug for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers: Vec<Peer> = self.measures.iter().map(|(peer, _)| *peer).collect();
        f.debug_struct("Benchmark")
            .field("group", &self.group)
            .field("name", &self.name)
            .field("peers", &peers)
            .finish()
    }
}

/// Calls `once` `iterations` times and sums the durations it returns.
pub fn repeat(iterations: u64, mut once: impl FnMut() -> Duration) -> Duration {
    (0..iterations).map(|_| once()).sum()
}

/// The workspace's `target` directory, where kernels are built and the report is written.
pub fn target_dir() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("target")
}

/// `--seconds N` and `--rounds R` (both at least 1) of the `http` and `cluster` binaries, over
/// `seconds` and `rounds` when absent.
pub fn seconds_and_rounds(
    mut args: impl Iterator<Item = String>,
    mut seconds: u32,
    mut rounds: usize,
) -> Result<(u32, usize), String> {
    while let Some(flag) = args.next() {
        let mut value = || -> Result<u32, String> {
            args.next()
                .and_then(|text| text.parse().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("{flag} takes a whole number of at least 1"))
        };
        match flag.as_str() {
            "--seconds" => seconds = value()?,
            "--rounds" => rounds = value()? as usize,
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    Ok((seconds, rounds))
}
