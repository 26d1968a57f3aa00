//! The `proto` group (issue 6): Proto-Faaslets against Wasmtime 48 with its pooling allocator
//! and copy-on-write memory images, for two C functions of `benches/kernels/` built at bench
//! time: `proto_noop` (does nothing) and `proto_heap16` (its constructor, run by the reactor's
//! `_initialize`, fills 16 MiB of heap), and `proto_write`, whose exports write 1, 4, 16 or 64
//! pages of its data (spawn + call + reset only: the reset's cost per page written).
//!
//! Timings ([`timing`]) are ordinary [`Benchmark`]s, also in the criterion suite: a cold start
//! without a snapshot (instantiate + initialise + call, the module already compiled; Wasmtime
//! with its default on-demand allocator), the same from our cached AOT artifact, and a
//! Proto-Faaslet's spawn + call + reset against Wasmtime's pooling, copy-on-write
//! instantiate + initialise + call (Wasmtime has no snapshot: every instance runs
//! `_initialize`). Every iteration has its own store, dropped at its end. The other figures
//! ([`value_rows`]) are not durations: memory per idle Faaslet (from `/proc/self/smaps_rollup`),
//! density (idle Faaslets one process holds, and what stops it) and churn (spawns + calls +
//! resets per second on all cores). Memory and density run in child processes (the report
//! binary started again with [`CHILD_ENV`] set), so that each starts from a clean address
//! space and exhausting it harms nothing.

use crate::report::{Row, Unit};
use crate::{Benchmark, Measure, Peer};
use faasm_runtime::{
    ArtifactKey, CompilerConfig, Config, Engine, Linker, MemoryStrategy, Module, Store,
};
use faasm_snapshot::Snapshot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The export the `noop` and `heap16` functions' calls run.
const CALL: &str = "noop";
/// How many 4 KiB pages the writing functions of `proto_write.c` write, one export each.
const WRITTEN_PAGES: [usize; 4] = [1, 4, 16, 64];
/// The reactor's initialisation export.
const INITIALIZE: &str = "_initialize";
/// The memory cap per function of the bounded strategy's density figure: 16 MiB in pages.
const BOUNDED_CAP_PAGES: u64 = 256;
/// Environment variable that turns the report binary into a child measuring one figure.
pub const CHILD_ENV: &str = "FAASM_PROTO_CHILD";
/// A density child stops at this resident size, so that a leak cannot take the machine down.
const DENSITY_RSS_CAP_KIB: u64 = 6 << 20;

/// One of the group's C functions, built for wasm32-wasi as a reactor.
#[derive(Debug, Clone)]
pub struct Function {
    /// `noop` or `heap16`, for row names.
    pub label: &'static str,
    /// Where the module was written (children load it from here).
    pub path: PathBuf,
    /// The module.
    pub wasm: Vec<u8>,
}

/// Builds `benches/kernels/proto_noop.c` and `proto_heap16.c` into `target/bench-kernels`.
pub fn build_functions() -> Vec<Function> {
    [("noop", "proto_noop"), ("heap16", "proto_heap16")]
        .into_iter()
        .map(|(label, file)| build(label, file))
        .collect()
}

fn build(label: &'static str, file: &str) -> Function {
    let out = crate::kernels::output_dir();
    std::fs::create_dir_all(&out).expect("creating target/bench-kernels");
    let path = out.join(format!("{file}.wasm"));
    let mut command = Command::new("clang");
    command
        .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Werror"])
        .arg("-mexec-model=reactor")
        .arg(crate::kernels::source_dir().join(format!("{file}.c")))
        .arg("-o")
        .arg(&path);
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (needs clang and wasi-libc)"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = std::fs::read(&path).expect("reading a built proto function");
    Function { label, path, wasm }
}

// ---------------------------------------------------------------------------------------------
// Ours.

/// Our engine with `strategy` and, if given, a memory limit in pages.
fn our_engine(strategy: MemoryStrategy, max_pages: Option<u64>) -> Engine {
    let defaults = Config::default();
    Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy: strategy,
            ..CompilerConfig::default()
        },
        max_memory_pages: max_pages.unwrap_or(defaults.max_memory_pages),
        ..defaults
    })
    .expect("creating our engine")
}

/// Compiles `wasm` and prepares its Proto-Faaslet (initialisation run once, then captured).
fn our_snapshot(engine: &Engine, wasm: &[u8]) -> Snapshot {
    let module = Module::new(engine, wasm).expect("our engine compiles the function");
    let mut store = Store::new(engine);
    Snapshot::prepare(&mut store, &Linker::new(), &module).expect("preparing the Proto-Faaslet")
}

/// One Proto-Faaslet's life: a store, spawn, the call of `export`, reset, drop.
fn our_spawn_call_reset(engine: &Engine, snapshot: &Snapshot, linker: &Linker, export: &str) {
    let mut store = Store::new(engine);
    let faaslet = snapshot.spawn(&mut store, linker).expect("spawns");
    faaslet
        .call_and_reset(&mut store, export, &[])
        .expect("resets")
        .expect("the call returns");
}

/// A warm Faaslet's call and reset, as the host runs calls: one store and Faaslet for all
/// iterations, reset after each call.
fn our_warm_measure(wasm: &[u8], strategy: MemoryStrategy, export: &'static str) -> Measure {
    let engine = our_engine(strategy, None);
    let snapshot = our_snapshot(&engine, wasm);
    let mut store = Store::new(&engine);
    let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawns");
    Box::new(move |iterations| {
        timed(iterations, || {
            faaslet
                .call_and_reset(&mut store, export, &[])
                .expect("resets")
                .expect("the call returns");
        })
    })
}

/// Cold start without a snapshot: a store, instantiation, `_initialize`, the call, drop.
fn our_cold_start(module: &Module, linker: &Linker) {
    let mut store = Store::new(module.engine());
    let instance = linker
        .instantiate(&mut store, module)
        .expect("instantiates");
    for name in [INITIALIZE, CALL] {
        let func = instance.get_func(&store, name).expect("the export exists");
        func.call(&mut store, &[]).expect("the call returns");
    }
}

/// Times `once` `iterations` times.
fn timed(iterations: u64, mut once: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        once();
    }
    started.elapsed()
}

fn our_cold_measure(wasm: &[u8]) -> Measure {
    let engine = our_engine(MemoryStrategy::default(), None);
    let module = Module::new(&engine, wasm).expect("our engine compiles the function");
    let linker = Linker::new();
    Box::new(move |iterations| timed(iterations, || our_cold_start(&module, &linker)))
}

/// Cold start from the AOT artifact: [`Module::deserialize_authenticated`] (HMAC tag,
/// checksum, fingerprint, code published) and then [`our_cold_start`]. Ours only: Wasmtime's
/// `Module::deserialize` is an `unsafe fn`, which this crate forbids.
fn our_cached_cold_measure(wasm: &[u8]) -> Measure {
    let engine = our_engine(MemoryStrategy::default(), None);
    let key = ArtifactKey::from_bytes([0x5a; 32]);
    let artifact = Module::new(&engine, wasm)
        .expect("our engine compiles the function")
        .serialize_authenticated(&key);
    let linker = Linker::new();
    Box::new(move |iterations| {
        timed(iterations, || {
            let module = Module::deserialize_authenticated(&engine, &artifact, &key)
                .expect("loads the artifact");
            our_cold_start(&module, &linker);
        })
    })
}

fn our_spawn_measure(wasm: &[u8], strategy: MemoryStrategy, export: &'static str) -> Measure {
    let engine = our_engine(strategy, None);
    let snapshot = our_snapshot(&engine, wasm);
    let linker = Linker::new();
    Box::new(move |iterations| {
        timed(iterations, || {
            our_spawn_call_reset(&engine, &snapshot, &linker, export)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Wasmtime.

/// A Wasmtime engine: pooling allocator for `instances` instances (memories, tables) with
/// copy-on-write images, or (`None`) its default on-demand allocator.
fn wasmtime_engine(instances: Option<u32>) -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config.memory_init_cow(true);
    if let Some(total) = instances {
        let mut pooling = wasmtime::PoolingAllocationConfig::default();
        pooling
            .total_memories(total)
            .total_core_instances(total)
            .total_tables(total);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
    }
    wasmtime::Engine::new(&config).expect("creating a Wasmtime engine")
}

/// A function ready to instantiate in Wasmtime: imports resolved (none), result arity known.
struct WasmtimeFunction {
    engine: wasmtime::Engine,
    pre: wasmtime::InstancePre<()>,
    export: &'static str,
    results: usize,
}

impl WasmtimeFunction {
    /// The module `wasm`, whose calls run `export`.
    fn new(engine: wasmtime::Engine, wasm: &[u8], export: &'static str) -> WasmtimeFunction {
        let module = wasmtime::Module::new(&engine, wasm).expect("Wasmtime compiles it");
        let results = match module.get_export(export) {
            Some(wasmtime::ExternType::Func(ty)) => ty.results().len(),
            _ => panic!("the function exports `{export}`"),
        };
        let pre = wasmtime::Linker::new(&engine)
            .instantiate_pre(&module)
            .expect("resolving imports");
        WasmtimeFunction {
            engine,
            pre,
            export,
            results,
        }
    }

    /// As [`WasmtimeFunction::ready`], but an instantiation failure is an error.
    fn try_ready(&self) -> Result<(wasmtime::Store<()>, wasmtime::Instance), String> {
        let mut store = wasmtime::Store::new(&self.engine, ());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("{e:#}"))?;
        self.call(&mut store, instance, INITIALIZE, 0);
        Ok((store, instance))
    }

    /// A store with an instance, initialised (`_initialize` run): ready to call.
    fn ready(&self) -> (wasmtime::Store<()>, wasmtime::Instance) {
        self.try_ready().expect("instantiates")
    }

    fn call(
        &self,
        store: &mut wasmtime::Store<()>,
        instance: wasmtime::Instance,
        name: &str,
        n: usize,
    ) {
        let func = instance
            .get_func(&mut *store, name)
            .expect("the export exists");
        let mut results = vec![wasmtime::Val::I32(0); n];
        func.call(&mut *store, &[], &mut results)
            .expect("the call returns");
    }

    /// Instantiate, initialise, call, drop.
    fn instantiate_call(&self) {
        let (mut store, instance) = self.ready();
        self.call(&mut store, instance, self.export, self.results);
    }
}

fn wasmtime_measure(wasm: &[u8], pooling: bool, export: &'static str) -> Measure {
    let function = WasmtimeFunction::new(wasmtime_engine(pooling.then_some(64)), wasm, export);
    Box::new(move |iterations| timed(iterations, || function.instantiate_call()))
}

// ---------------------------------------------------------------------------------------------
// The timed benchmarks.

/// The timed benchmarks of the group, for each function: cold start + call (ours and Wasmtime
/// on-demand, no snapshot), the same from our cached artifact, and Proto-Faaslet spawn + call +
/// reset (guard and bounded) against Wasmtime's pooling, copy-on-write instantiate +
/// `_initialize` + call.
pub fn timing(functions: &[Function]) -> Vec<Benchmark> {
    let mut benchmarks = Vec::new();
    for function in functions {
        let wasm = &function.wasm;
        benchmarks.push(Benchmark {
            group: "proto",
            name: format!("cold start + call, {} (no snapshot)", function.label),
            measures: vec![
                (Peer::Ours, our_cold_measure(wasm)),
                (Peer::Wasmtime, wasmtime_measure(wasm, false, CALL)),
            ],
        });
        benchmarks.push(Benchmark {
            group: "proto",
            name: format!(
                "cold start from the cached artifact + call, {} (deserialise; ours only)",
                function.label
            ),
            measures: vec![(Peer::Ours, our_cached_cold_measure(wasm))],
        });
        benchmarks.extend(reset_timing(wasm, function.label, CALL));
    }
    benchmarks.extend(writer_timing(&build("write", "proto_write")));
    benchmarks
}

/// Spawn + call + reset of a function writing 1, 4, 16 and 64 pages of its data: what a reset
/// costs in proportion to the pages written.
fn writer_timing(function: &Function) -> Vec<Benchmark> {
    let mut benchmarks = Vec::new();
    for pages in WRITTEN_PAGES {
        let export: &'static str = match pages {
            1 => "write1",
            4 => "write4",
            16 => "write16",
            _ => "write64",
        };
        let what = format!("writes {pages} pages");
        benchmarks.extend(reset_timing(&function.wasm, &what, export));
    }
    benchmarks
}

/// Under both strategies, spawn + call + reset (a new store each time) and call + reset of a
/// warm Faaslet, calling `export` of `wasm` (`what` in the row names), each against Wasmtime's
/// pooling, copy-on-write instantiate + `_initialize` + call.
fn reset_timing(wasm: &[u8], what: &str, export: &'static str) -> Vec<Benchmark> {
    let mut benchmarks = Vec::new();
    for (label, strategy) in [
        ("guard", MemoryStrategy::default()),
        ("bounded", MemoryStrategy::Bounded),
    ] {
        let rows: [(&str, Measure); 2] = [
            (
                "spawn + call + reset",
                our_spawn_measure(wasm, strategy, export),
            ),
            (
                "call + reset of a warm Faaslet",
                our_warm_measure(wasm, strategy, export),
            ),
        ];
        for (kind, ours) in rows {
            benchmarks.push(Benchmark {
                group: "proto",
                name: format!("{kind}, {what} ({label}) vs pooling instantiate + call"),
                measures: vec![
                    (Peer::Ours, ours),
                    (Peer::Wasmtime, wasmtime_measure(wasm, true, export)),
                ],
            });
        }
    }
    benchmarks
}

// ---------------------------------------------------------------------------------------------
// Churn: spawn + call + reset per second on all cores.

/// Runs `once` on one thread per core for `duration`; completed operations per second.
fn per_second_on_all_cores(duration: Duration, once: &(dyn Fn() + Sync)) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut count = 0;
                while !stop.load(Ordering::Relaxed) {
                    once();
                    count += 1;
                }
                done.fetch_add(count, Ordering::Relaxed);
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Five one-second runs of `once` on all cores, in operations per second, sorted: the median
/// is the figure, the first and last the spread.
fn churn(once: &(dyn Fn() + Sync)) -> [f64; 5] {
    let mut runs = [0.0; 5];
    for run in &mut runs {
        *run = per_second_on_all_cores(Duration::from_secs(1), once);
    }
    runs.sort_by(f64::total_cmp);
    runs
}

/// `min–max` of sorted runs.
fn spread(runs: &[f64; 5]) -> String {
    format!("{}–{}", thousands(runs[0]), thousands(runs[4]))
}

/// Churn rows: ours (spawn + call + reset, guard) against Wasmtime (pooling instantiate +
/// `_initialize` + call), each thread with its own stores.
fn churn_rows(function: &Function) -> Row {
    let engine = our_engine(MemoryStrategy::default(), None);
    let snapshot = our_snapshot(&engine, &function.wasm);
    let linker = Linker::new();
    let ours = churn(&|| our_spawn_call_reset(&engine, &snapshot, &linker, CALL));
    let wasmtime = WasmtimeFunction::new(wasmtime_engine(Some(64)), &function.wasm, CALL);
    let peer = churn(&|| wasmtime.instantiate_call());
    value_row(
        format!(
            "churn, {}: spawn + call + reset per second, all cores (median of 5 one-second \
             runs; spread ours {}, Wasmtime {})",
            function.label,
            spread(&ours),
            spread(&peer)
        ),
        Unit::Value("calls/s"),
        Some(ours[2]),
        Some(peer[2]),
    )
}

fn value_row(name: String, unit: Unit, ours: Option<f64>, wasmtime: Option<f64>) -> Row {
    let mut medians = BTreeMap::new();
    medians.extend(ours.map(|v| (Peer::Ours, v)));
    medians.extend(wasmtime.map(|v| (Peer::Wasmtime, v)));
    Row {
        group: "proto",
        name,
        medians,
        unit,
    }
}

// ---------------------------------------------------------------------------------------------
// Children: memory and density.

/// If this process was started as a child ([`CHILD_ENV`] set), measures what it names, prints
/// the result on one line and exits. Call first thing in `main`.
pub fn run_child_if_requested() {
    let Ok(task) = std::env::var(CHILD_ENV) else {
        return;
    };
    let words: Vec<&str> = task.split('\t').collect();
    let line = match words.as_slice() {
        ["memory", peer, path, n] => memory_child(peer, Path::new(path), parse(n)),
        ["density", peer, strategy, path, cap] => {
            density_child(peer, strategy, Path::new(path), parse(cap))
        }
        _ => panic!("{CHILD_ENV}: unknown task `{task}`"),
    };
    println!("{line}");
    std::process::exit(0);
}

fn parse(number: &str) -> usize {
    number.parse().expect("a count")
}

/// Runs the report binary again as a child measuring `task`; its output line, or `None` (with
/// a message) if it failed.
fn run_child(task: &[String]) -> Option<String> {
    let exe = std::env::current_exe().expect("the report binary's path");
    let output = Command::new(exe)
        .env(CHILD_ENV, task.join("\t"))
        .output()
        .expect("starting a child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(line) if output.status.success() => Some(line.to_string()),
        _ => {
            eprintln!(
                "report: child {task:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
    }
}

/// `Rss` and `Pss` of the whole process in KiB, from `/proc/self/smaps_rollup`.
fn rss_pss_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

/// Keeps `n` idle, ready-to-call instances of the function at `path` alive in `peer` (ours:
/// spawned Faaslets, guard strategy; Wasmtime: pooling instances after `_initialize`) and
/// prints the RSS and PSS they added, per instance, in KiB.
fn memory_child(peer: &str, path: &Path, n: usize) -> String {
    let wasm = std::fs::read(path).expect("reading the function");
    let (rss, pss) = match peer {
        "ours" => {
            let engine = our_engine(MemoryStrategy::default(), None);
            let snapshot = our_snapshot(&engine, &wasm);
            let linker = Linker::new();
            idle_delta(n, || {
                let mut store = Store::new(&engine);
                let faaslet = snapshot.spawn(&mut store, &linker).expect("spawns");
                (store, faaslet)
            })
        }
        _ => {
            let total = u32::try_from(n + 1).expect("a pool size");
            let function = WasmtimeFunction::new(wasmtime_engine(Some(total)), &wasm, CALL);
            idle_delta(n, || function.ready())
        }
    };
    format!("{rss}\t{pss}")
}

/// RSS and PSS added by `n` results of `make` kept alive, per result, in KiB.
fn idle_delta<T>(n: usize, mut make: impl FnMut() -> T) -> (f64, f64) {
    let mut alive = Vec::with_capacity(n);
    let (rss_before, pss_before) = rss_pss_kib();
    alive.extend((0..n).map(|_| make()));
    let (rss_after, pss_after) = rss_pss_kib();
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 / n as f64;
    let delta = (per(rss_after, rss_before), per(pss_after, pss_before));
    drop(alive);
    delta
}

/// Keeps idle, ready-to-call no-op instances (one store each) alive in `peer` under
/// `strategy` until creating one fails or `cap` are alive; prints the count, the process's
/// mappings, `vm.max_map_count`, its virtual size in KiB and what stopped it. `guard` is ours'
/// default and Wasmtime's on-demand default (4 GiB + 32 MiB guard per memory); `bounded` is
/// ours with a 16 MiB cap, and Wasmtime with a 16 MiB reservation that may not move, 64 KiB
/// guards.
fn density_child(peer: &str, strategy: &str, path: &Path, cap: usize) -> String {
    // Reserved before the address space fills up, to read `/proc/self/maps` into afterwards.
    let mut maps = Vec::with_capacity(256 << 20);
    let before = rss_pss_kib();
    let wasm = std::fs::read(path).expect("reading the function");
    let bounded = strategy == "bounded";
    match peer {
        "ours" => {
            let engine = match bounded {
                false => our_engine(MemoryStrategy::default(), None),
                true => our_engine(MemoryStrategy::Bounded, Some(BOUNDED_CAP_PAGES)),
            };
            let snapshot = our_snapshot(&engine, &wasm);
            let linker = Linker::new();
            let (alive, stopped) = fill_until_failure(cap, || {
                let mut store = Store::new(&engine);
                let faaslet = snapshot
                    .spawn(&mut store, &linker)
                    .map_err(|e| e.to_string())?;
                Ok((store, faaslet))
            });
            density_line(&alive, &stopped, before, &mut maps)
        }
        _ => {
            let function = WasmtimeFunction::new(wasmtime_density_engine(bounded), &wasm, CALL);
            let (alive, stopped) = fill_until_failure(cap, || function.try_ready());
            density_line(&alive, &stopped, before, &mut maps)
        }
    }
}

/// The density child's line, taken while `alive` still is: count, mappings (read into
/// `buffer`, reserved beforehand), `vm.max_map_count`, virtual size in KiB, RSS and PSS added
/// per instance in KiB (from `before`), what stopped it.
fn density_line<T>(
    alive: &[T],
    stopped: &str,
    (rss_before, pss_before): (u64, u64),
    buffer: &mut Vec<u8>,
) -> String {
    let mappings = std::fs::File::open("/proc/self/maps")
        .and_then(|mut file| std::io::Read::read_to_end(&mut file, buffer))
        .map_or(0, |_| {
            buffer
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        });
    let max_maps = read_number("/proc/sys/vm/max_map_count", "");
    let vm_size_kib = read_number("/proc/self/status", "VmSize:");
    let count = alive.len();
    let (rss, pss) = rss_pss_kib();
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 / count.max(1) as f64;
    let (rss, pss) = (per(rss, rss_before), per(pss, pss_before));
    format!("{count}\t{mappings}\t{max_maps}\t{vm_size_kib}\t{rss}\t{pss}\t{stopped}")
}

/// Wasmtime's on-demand allocator: its defaults, or (`bounded`) a 16 MiB reservation that
/// may not move (growth beyond it fails) with 64 KiB guards.
fn wasmtime_density_engine(bounded: bool) -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config.memory_init_cow(true);
    if bounded {
        config
            .memory_reservation(BOUNDED_CAP_PAGES << 16)
            .memory_reservation_for_growth(0)
            .memory_guard_size(64 << 10)
            .memory_may_move(false);
    }
    wasmtime::Engine::new(&config).expect("creating a Wasmtime engine")
}

/// Keeps the results of `make` alive until it fails, `cap` are alive, or the process's RSS
/// passes [`DENSITY_RSS_CAP_KIB`]; them (still alive), and what stopped it.
fn fill_until_failure<T>(
    cap: usize,
    mut make: impl FnMut() -> Result<T, String>,
) -> (Vec<T>, String) {
    let mut alive = Vec::new();
    while alive.len() < cap {
        match make() {
            Ok(item) => alive.push(item),
            Err(error) => return (alive, error),
        }
        if alive.len().is_multiple_of(1000)
            && read_number("/proc/self/status", "VmRSS:") > DENSITY_RSS_CAP_KIB
        {
            let stopped = format!("the benchmark's RSS cap of {DENSITY_RSS_CAP_KIB} KiB");
            return (alive, stopped);
        }
    }
    (
        alive,
        format!("the benchmark's cap of {}", thousands(cap as f64)),
    )
}

/// The number after `prefix` on the first line of `file` that starts with it (0 if none).
fn read_number(file: &str, prefix: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Memory rows: RSS and PSS per idle instance with 1,000 and 10,000 alive. Wasmtime's `heap16`
/// instances each dirty 16 MiB (its initialisation runs in every instance), so only 100 of them
/// are measured, beside 100 of ours.
fn memory_rows(function: &Function) -> Vec<Row> {
    let path = function.path.display().to_string();
    let cases: &[(usize, bool)] = match function.label {
        "noop" => &[(1_000, true), (10_000, true)],
        _ => &[(100, true), (1_000, false), (10_000, false)],
    };
    let mut rows = Vec::new();
    for &(n, with_wasmtime) in cases {
        let child = |peer: &str| {
            run_child(&["memory".into(), peer.into(), path.clone(), n.to_string()])
                .map(|line| parse_pair(&line))
        };
        let ours = child("ours");
        let wasmtime = if with_wasmtime {
            child("wasmtime")
        } else {
            None
        };
        for (metric, pick) in [("PSS", pss_of as fn((f64, f64)) -> f64), ("RSS", rss_of)] {
            rows.push(value_row(
                format!(
                    "{metric} per idle Faaslet, {} ({} alive)",
                    function.label,
                    thousands(n as f64)
                ),
                Unit::Value("KiB"),
                ours.map(pick),
                wasmtime.map(pick),
            ));
        }
    }
    rows
}

fn rss_of((rss, _): (f64, f64)) -> f64 {
    rss
}

fn pss_of((_, pss): (f64, f64)) -> f64 {
    pss
}

fn parse_pair(line: &str) -> (f64, f64) {
    let mut values = line.split('\t').map(|v| v.parse().unwrap_or(f64::NAN));
    (
        values.next().unwrap_or(f64::NAN),
        values.next().unwrap_or(f64::NAN),
    )
}

/// Idle Faaslets the bounded density row aims for.
const DENSITY_TARGET: usize = 1_000_000;

/// Density rows for the no-op function under both strategies; the row names say what stopped
/// ours (the error goes to stderr). The bounded row aims for [`DENSITY_TARGET`] Faaslets, which
/// needs two mappings each: `vm.max_map_count` is raised for it (see [`MapCountRaised`]). It
/// also gives the PSS and RSS per idle Faaslet with that many alive.
fn density_rows(noop: &Function) -> Vec<Row> {
    let path = noop.path.display().to_string();
    let mut rows = Vec::new();
    for (strategy, cap) in [("guard", 60_000), ("bounded", DENSITY_TARGET)] {
        let _raised = (strategy == "bounded").then(|| MapCountRaised::to(3 * cap as u64));
        let child = |peer: &str| {
            let task = [
                "density".into(),
                peer.into(),
                strategy.into(),
                path.clone(),
                cap.to_string(),
            ];
            let line = run_child(&task)?;
            let density = Density::parse(&line);
            eprintln!("report: density, {peer}, {strategy}: {line}");
            density
        };
        let ours = child("ours");
        let wasmtime = child("wasmtime");
        let limit = ours
            .as_ref()
            .map_or_else(|| "the child failed".to_string(), Density::limit);
        let label = if strategy == "guard" {
            "guard"
        } else {
            "bounded, 16 MiB cap"
        };
        rows.push(value_row(
            format!("idle Faaslets in one process ({label}); ours stopped by {limit}"),
            Unit::Value("Faaslets"),
            ours.as_ref().map(|d| d.count as f64),
            wasmtime.as_ref().map(|d| d.count as f64),
        ));
        if strategy == "bounded" {
            let alive = ours.as_ref().map_or(0, |d| d.count);
            for (metric, pick) in [
                ("PSS", Density::pss_kib as fn(&Density) -> f64),
                ("RSS", Density::rss_kib),
            ] {
                rows.push(value_row(
                    format!(
                        "{metric} per idle Faaslet, noop, {label} ({} alive)",
                        thousands(alive as f64)
                    ),
                    Unit::Value("KiB"),
                    ours.as_ref().map(pick),
                    wasmtime.as_ref().map(pick),
                ));
            }
        }
    }
    rows
}

/// `vm.max_map_count` raised for as long as this lives, then put back. A process holding a
/// million idle Faaslets has two mappings per Faaslet (the accessible image; the inaccessible
/// rest of its slot, merged with its neighbours' guard regions), more than the kernel's default
/// of 65,530 allows. Raising it needs root: without, the row shows where the default stops.
struct MapCountRaised {
    previous: Option<u64>,
}

impl MapCountRaised {
    const PATH: &str = "/proc/sys/vm/max_map_count";

    fn to(wanted: u64) -> MapCountRaised {
        let current = read_number(Self::PATH, "");
        if current >= wanted {
            return MapCountRaised { previous: None };
        }
        match std::fs::write(Self::PATH, wanted.to_string()) {
            Ok(()) => {
                eprintln!(
                    "report: vm.max_map_count raised from {current} to {wanted} for the density rows"
                );
                MapCountRaised {
                    previous: Some(current),
                }
            }
            Err(error) => {
                eprintln!(
                    "report: cannot raise vm.max_map_count to {wanted} ({error}); as root, `sysctl -w vm.max_map_count={wanted}`"
                );
                MapCountRaised { previous: None }
            }
        }
    }
}

impl Drop for MapCountRaised {
    fn drop(&mut self) {
        if let Some(previous) = self.previous
            && std::fs::write(Self::PATH, previous.to_string()).is_ok()
        {
            eprintln!("report: vm.max_map_count put back to {previous}");
        }
    }
}

/// What a density child printed.
#[derive(Debug, Clone)]
struct Density {
    count: usize,
    mappings: u64,
    max_mappings: u64,
    vm_size_kib: u64,
    rss_per_instance_kib: f64,
    pss_per_instance_kib: f64,
    error: String,
}

impl Density {
    fn parse(line: &str) -> Option<Density> {
        let mut fields = line.splitn(7, '\t');
        let mut number = || fields.next()?.parse::<u64>().ok();
        let (count, mappings, max_mappings, vm_size_kib) =
            (number()?, number()?, number()?, number()?);
        let mut real = || fields.next()?.parse::<f64>().ok();
        let (rss_per_instance_kib, pss_per_instance_kib) = (real()?, real()?);
        Some(Density {
            count: usize::try_from(count).ok()?,
            mappings,
            max_mappings,
            vm_size_kib,
            rss_per_instance_kib,
            pss_per_instance_kib,
            error: fields.next().unwrap_or("").to_string(),
        })
    }

    /// The limit that was hit: the 47-bit address space (128 TiB; the last few GiB are
    /// fragmented below the size of one guarded slot), `vm.max_map_count` (within 16 mappings),
    /// or else the error itself.
    fn rss_kib(&self) -> f64 {
        self.rss_per_instance_kib
    }

    fn pss_kib(&self) -> f64 {
        self.pss_per_instance_kib
    }

    fn limit(&self) -> String {
        const NEARLY_ALL_USER_SPACE_KIB: u64 = (128 << 30) - (512 << 20);
        let tib = self.vm_size_kib as f64 / (1u64 << 30) as f64;
        let facts = format!(
            "{} of {} mappings, {tib:.1} TiB mapped",
            thousands(self.mappings as f64),
            thousands(self.max_mappings as f64)
        );
        if self.vm_size_kib > NEARLY_ALL_USER_SPACE_KIB {
            format!("the 128 TiB address space ({facts})")
        } else if self.mappings + 16 >= self.max_mappings {
            format!("vm.max_map_count ({facts})")
        } else {
            format!("{} ({facts})", self.error)
        }
    }
}

/// `12345.0` → `12,345`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.round());
    let (sign, digits) = digits.split_at(usize::from(digits.starts_with('-')));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    format!("{sign}{out}")
}

/// The group's rows that are not durations: memory, density and churn.
pub fn value_rows(functions: &[Function]) -> Vec<Row> {
    let mut rows = Vec::new();
    for function in functions {
        rows.extend(memory_rows(function));
    }
    if let Some(noop) = functions.iter().find(|f| f.label == "noop") {
        rows.extend(density_rows(noop));
    }
    rows.extend(functions.iter().map(churn_rows));
    rows
}
