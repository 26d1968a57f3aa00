//! The `python` group (issue 18): Python functions on our CPython for wasm32-wasi
//! (`python/build.sh`, run now if `target/python` is missing or stale), next to the host's
//! native `python3.11`, in one run. Value rows, milliseconds:
//!
//! - a no-op Python function (`def faasm_main(): pass`) started from its Proto-Faaslet and
//!   called, in-process through the scheduler: on a fresh Faaslet each time (no idle Faaslet
//!   kept, so every call spawns one from the snapshot) and on a warm one; and through HTTP
//!   (`faasm-run serve --python`, the function uploaded with `PUT /p/...`, one `POST` at a time
//!   on a kept-alive connection). The native column of these rows is `python3.11 -c pass`, a
//!   whole process: what a start of Python costs without a Proto-Faaslet;
//! - five pure-Python benchmarks of `pyperformance` (PyPI, pinned; only their
//!   `run_benchmark.py` files are used, with a small stand-in for `pyperf` that runs the
//!   benchmark a fixed number of times and times it with `time.perf_counter`), in a Python
//!   function and in native `python3.11`, the same source and loops; then their geometric
//!   mean of ours over native;
//! - `functions/python/matmul.py` (64 x 64) with 1, 2 and 4 workers.
//!
//! Each figure is the median of [`ROUNDS`] measurements (no-op rows: of [`NOOP_CALLS`] calls).

use crate::Peer;
use crate::http::Client;
use crate::report::{Row, Unit};
use faasm_runtime::Engine;
use faasm_scheduler::functions::{self, StoreSource};
use faasm_scheduler::modules::Log;
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::{CallRequest, FunctionId, FunctionStore, Scheduler, SchedulerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pinned `pyperformance` release whose benchmarks run here.
const PYPERFORMANCE: &str = "pyperformance==1.14.0";
/// The benchmarks, and the loops each runs per measurement (about 0.1 to 0.5 s natively).
const BENCHMARKS: [(&str, u32); 5] = [
    ("nbody", 2),
    ("richards", 4),
    ("fannkuch", 1),
    ("spectral_norm", 2),
    ("float", 2),
];
/// Measurements per figure.
pub const ROUNDS: usize = 5;
/// Calls per no-op figure.
pub const NOOP_CALLS: usize = 100;
/// The user the functions are uploaded under.
const USER: &str = "bench";

/// The group's rows; a message on stderr and no rows if something cannot be set up.
pub fn value_rows() -> Vec<Row> {
    match measure() {
        Ok(rows) => rows,
        Err(message) => {
            eprintln!("report: python rows skipped: {message}");
            Vec::new()
        }
    }
}

fn measure() -> Result<Vec<Row>, String> {
    let dir = crate::http::bench_dir("python-bench");
    let runtime = Arc::new(runtime()?);
    let native = native_python()?;
    let mut rows = noop_rows(&dir, &runtime, &native)?;
    rows.extend(pyperformance_rows(&dir, &runtime, &native)?);
    rows.extend(matmul_rows(&dir, &runtime)?);
    Ok(rows)
}

/// `target/python`, built (or found up to date) by `python/build.sh`.
fn runtime() -> Result<PythonRuntime, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = crate::target_dir().join("python");
    eprintln!("python: bash python/build.sh (a no-op when target/python is up to date)");
    let status = Command::new("bash")
        .arg(root.join("python/build.sh"))
        .arg(&dir)
        .status()
        .map_err(|e| format!("cannot run python/build.sh: {e}"))?;
    if !status.success() {
        return Err(format!("python/build.sh failed: {status}"));
    }
    PythonRuntime::open(&dir).map_err(|e| e.to_string())
}

/// The host's `python3.11`.
fn native_python() -> Result<PathBuf, String> {
    let found = Command::new("python3.11")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map_err(|e| format!("no native python3.11: {e}"))?;
    Ok(PathBuf::from(
        String::from_utf8_lossy(&found.stdout).trim().to_string(),
    ))
}

/// A store and an in-process scheduler running its Python functions.
struct Host {
    engine: Engine,
    store: FunctionStore,
    runtime: Arc<PythonRuntime>,
    scheduler: Scheduler,
}

impl Host {
    fn new(
        dir: &Path,
        runtime: &Arc<PythonRuntime>,
        config: SchedulerConfig,
    ) -> Result<Host, String> {
        let engine = Engine::default();
        let store = FunctionStore::new(dir.join("store"));
        let _ = std::fs::remove_dir_all(store.dir());
        let scheduler = Scheduler::with_config(&engine, config).map_err(|e| e.to_string())?;
        let source = StoreSource::new(engine.clone(), store.clone(), Log::quiet())
            .with_python(Arc::clone(runtime));
        scheduler.set_source(Arc::new(source));
        Ok(Host {
            engine,
            store,
            runtime: Arc::clone(runtime),
            scheduler,
        })
    }

    fn upload(&self, name: &str, source: &str) -> Result<(), String> {
        let id = FunctionId::new(USER, name).map_err(|e| e.to_string())?;
        functions::upload_python(
            &self.engine,
            &self.store,
            &self.runtime,
            &id,
            source.as_bytes().to_vec(),
            Path::new(name),
            Duration::from_secs(120),
            Log::quiet(),
        )
        .map(drop)
        .map_err(|e| format!("uploading {name}: {e}"))
    }

    /// One call; its output, or why it failed.
    fn invoke(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let result = self
            .scheduler
            .invoke(USER, name, CallRequest::with_input(input))
            .map_err(|e| e.to_string())?;
        match result.failure {
            None => Ok(result.output),
            Some(failure) => Err(format!(
                "{name} failed: {failure}: {}",
                String::from_utf8_lossy(&result.output)
            )),
        }
    }
}

const NOOP: &str = "def faasm_main():\n    pass\n";

fn noop_rows(dir: &Path, runtime: &Arc<PythonRuntime>, native: &Path) -> Result<Vec<Row>, String> {
    eprintln!("python: no-op starts (fresh Faaslets, warm Faaslets, HTTP, python3.11 -c pass)");
    let fresh = Host::new(
        dir,
        runtime,
        SchedulerConfig {
            max_idle_faaslets: 0,
            ..SchedulerConfig::default()
        },
    )?;
    fresh.upload("noop", NOOP)?;
    let fresh_ms = median_ms(NOOP_CALLS, || fresh.invoke("noop", b"").map(drop))?;
    drop(fresh);
    let warm = Host::new(dir, runtime, SchedulerConfig::default())?;
    warm.upload("noop", NOOP)?;
    let warm_ms = median_ms(NOOP_CALLS, || warm.invoke("noop", b"").map(drop))?;
    drop(warm);
    let http_ms = http_noop_ms(dir, runtime)?;
    let native_ms = median_ms(20, || {
        let status = Command::new(native)
            .args(["-c", "pass"])
            .status()
            .map_err(|e| e.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or("python3.11 -c pass failed".to_string())
    })?;
    let row = |name: &str, ours: f64| value_row(name, ours, Some(native_ms), "ms");
    Ok(vec![
        row(
            "no-op, fresh Faaslet from its Proto-Faaslet (in-process)",
            fresh_ms,
        ),
        row("no-op, warm Faaslet (in-process)", warm_ms),
        row("no-op over HTTP (serve, one request at a time)", http_ms),
    ])
}

/// The median of `NOOP_CALLS` no-op calls through `faasm-run serve --python`.
fn http_noop_ms(dir: &Path, runtime: &PythonRuntime) -> Result<f64, String> {
    let faasm_run = crate::http::faasm_run()?;
    let options = ["--python".as_ref(), runtime.dir().as_os_str()];
    let server = crate::http::start_ours(&faasm_run, dir, &options)?;
    let client = Client::new(&server.base);
    client.send("PUT", &format!("/p/{USER}/noop"), NOOP.as_bytes())?;
    client.send("POST", &format!("/f/{USER}/noop"), b"")?;
    median_ms(NOOP_CALLS, || {
        client.send("POST", &format!("/f/{USER}/noop"), b"")
    })
}

/// A Python function (and a native script: the same file) running benchmark `source` of
/// pyperformance for the loops its input names, answering the seconds they took.
fn driver(name: &str, source: &str) -> String {
    format!(
        r#"import argparse, sys, time, types

BENCHMARK = {source:?}
LOOPS = 1
TIMES = []


class Runner:
    """What the benchmarks use of pyperf's Runner: run LOOPS times, time it."""

    def __init__(self, *args, **kwargs):
        self.metadata = {{}}
        self.argparser = argparse.ArgumentParser()

    def parse_args(self, args=None):
        return self.argparser.parse_args([])

    def bench_func(self, name, func, *args, **kwargs):
        start = time.perf_counter()
        for _ in range(LOOPS):
            func(*args)
        TIMES.append(time.perf_counter() - start)

    def bench_time_func(self, name, func, *args, **kwargs):
        TIMES.append(func(LOOPS, *args))


pyperf = types.ModuleType("pyperf")
pyperf.Runner = Runner
pyperf.perf_counter = time.perf_counter
sys.modules["pyperf"] = pyperf
CODE = compile(BENCHMARK, "bm_{name}", "exec")


def faasm_main(data):
    global LOOPS
    LOOPS = int(data)
    exec(CODE, {{"__name__": "__main__"}})
    return repr(TIMES.pop())


if __name__ == "__main__":
    print(faasm_main(sys.argv[1].encode()))
"#
    )
}

/// The benchmarks' `run_benchmark.py` files from the pinned pyperformance wheel (downloaded
/// once into `target/python-bench/pyperformance`).
fn pyperformance_sources(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let unpacked = dir.join("pyperformance");
    let benchmarks = unpacked.join("pyperformance/data-files/benchmarks");
    if !benchmarks.is_dir() {
        let download = dir.join("pyperformance-download");
        let _ = std::fs::remove_dir_all(&download);
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--only-binary=:all:", "--dest"])
            .arg(&download)
            .arg(PYPERFORMANCE))?;
        let wheel = std::fs::read_dir(&download)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
            .ok_or("pip downloaded no wheel of pyperformance")?;
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked))?;
    }
    BENCHMARKS
        .iter()
        .map(|(name, _)| {
            let path = benchmarks.join(format!("bm_{name}/run_benchmark.py"));
            std::fs::read_to_string(&path)
                .map(|source| (name.to_string(), source))
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn pyperformance_rows(
    dir: &Path,
    runtime: &Arc<PythonRuntime>,
    native: &Path,
) -> Result<Vec<Row>, String> {
    let sources = pyperformance_sources(dir)?;
    let host = Host::new(dir, runtime, SchedulerConfig::default())?;
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for ((name, source), (_, loops)) in sources.iter().zip(BENCHMARKS) {
        eprintln!("python: pyperformance {name} ({loops} loops), ours and native");
        let script = driver(name, source);
        host.upload(name, &script)?;
        let script_path = dir.join(format!("bm_{name}.py"));
        std::fs::write(&script_path, &script).map_err(|e| e.to_string())?;
        let input = loops.to_string();
        let ours = median_of(ROUNDS, || {
            host.invoke(name, input.as_bytes())
                .and_then(|out| seconds(&out))
        })?;
        let theirs = median_of(ROUNDS, || {
            let output = Command::new(native)
                .arg(&script_path)
                .arg(&input)
                .output()
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(String::from_utf8_lossy(&output.stderr).into_owned());
            }
            seconds(&output.stdout)
        })?;
        ratios.push(ours / theirs);
        rows.push(value_row(
            &format!("pyperformance {name}, {loops} loops"),
            ours * 1e3,
            Some(theirs * 1e3),
            "ms",
        ));
    }
    let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    rows.push(value_row(
        "pyperformance geomean, ours over native python3.11",
        geomean,
        None,
        "×",
    ));
    Ok(rows)
}

fn matmul_rows(dir: &Path, runtime: &Arc<PythonRuntime>) -> Result<Vec<Row>, String> {
    eprintln!("python: functions/python/matmul.py, 64 x 64, 1, 2 and 4 workers");
    let config = SchedulerConfig {
        workers: 4,
        ..SchedulerConfig::default()
    };
    let host = Host::new(dir, runtime, config)?;
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/python/matmul.py"),
    )
    .map_err(|e| format!("functions/python/matmul.py: {e}"))?;
    host.upload("matmul", &source)?;
    let mut rows = Vec::new();
    let mut answers = Vec::new();
    for workers in [1, 2, 4] {
        let input = format!("64 {workers}");
        let mut answer = Vec::new();
        let ms = median_ms(ROUNDS, || {
            answer = host.invoke("matmul", input.as_bytes())?;
            Ok(())
        })?;
        answers.push(answer);
        rows.push(value_row(
            &format!("matmul.py 64 x 64, {workers} worker(s)"),
            ms,
            None,
            "ms",
        ));
    }
    if answers.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err("matmul.py answered differently for 1, 2 and 4 workers".to_string());
    }
    Ok(rows)
}

/// Seconds as a guest printed them.
fn seconds(output: &[u8]) -> Result<f64, String> {
    let text = String::from_utf8_lossy(output);
    text.trim()
        .parse()
        .map_err(|e| format!("expected seconds, got {text:?}: {e}"))
}

/// The median of `rounds` values of `measure`.
fn median_of(
    rounds: usize,
    mut measure: impl FnMut() -> Result<f64, String>,
) -> Result<f64, String> {
    let mut values = (0..rounds)
        .map(|_| measure())
        .collect::<Result<Vec<_>, _>>()?;
    values.sort_by(f64::total_cmp);
    Ok(values[values.len() / 2])
}

/// The median time of `rounds` runs of `run`, in milliseconds.
fn median_ms(rounds: usize, mut run: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    median_of(rounds, || {
        let start = Instant::now();
        run()?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    })
}

fn value_row(name: &str, ours: f64, native: Option<f64>, unit: &'static str) -> Row {
    let mut medians = BTreeMap::new();
    medians.insert(Peer::Ours, ours);
    if let Some(native) = native {
        medians.insert(Peer::Native, native);
    }
    Row {
        group: "python",
        name: name.to_string(),
        medians,
        unit: Unit::Value(unit),
    }
}
