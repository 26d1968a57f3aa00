//! The groups of the report, as lists of [`Benchmark`]s.

use crate::kernels::Kernel;
use crate::{Benchmark, Measure, Peer, native, ours, peer_wasmi, peer_wasmtime};
use faasm_runtime::MemoryStrategy;
use std::path::{Path, PathBuf};

/// The group names, in report order.
pub const GROUPS: [&str; 10] = [
    "execute",
    "compile",
    "instantiate",
    "calls",
    "proto",
    "chain",
    "state",
    "http",
    "cluster",
    "python",
];

/// Every group's benchmarks, or those of the groups named in `only` if it is not empty.
pub fn all(kernels: &[Kernel], only: &[String]) -> Vec<Benchmark> {
    let wanted = |group: &str| only.is_empty() || only.iter().any(|name| name == group);
    let mut benchmarks = Vec::new();
    if wanted("execute") {
        benchmarks.extend(kernels.iter().map(execute));
        benchmarks.extend(kernels.iter().map(execute_with_epoch_checks));
        benchmarks.extend(kernels.iter().flat_map(execute_bounded));
        benchmarks.extend(crate::programs::benchmarks());
    }
    if wanted("compile") {
        benchmarks.extend(compile(kernels));
    }
    if wanted("instantiate") {
        benchmarks.extend(instantiate());
    }
    if wanted("calls") {
        benchmarks.extend(calls());
    }
    if wanted("proto") {
        benchmarks.extend(crate::proto::timing(&crate::proto::build_functions()));
    }
    if wanted("chain") {
        benchmarks.extend(crate::chain::timing());
    }
    benchmarks
}

/// `execute`: one kernel in every peer, after checking that all of them compute the same
/// checksum.
pub fn execute(kernel: &Kernel) -> Benchmark {
    check_checksums(kernel);
    Benchmark::execute(
        kernel.name,
        ours::execute(&kernel.wasm),
        peer_wasmtime::execute(&kernel.wasm),
        peer_wasmi::execute(&kernel.wasm),
        native::execute(kernel),
    )
}

/// `execute` of one kernel in ours with epoch checks in generated code instead of a signal at
/// the deadline: the two interruption modes side by side.
pub fn execute_with_epoch_checks(kernel: &Kernel) -> Benchmark {
    Benchmark {
        group: "execute",
        name: format!("{}{}", kernel.name, crate::report::EPOCH_CHECKS),
        measures: vec![(Peer::Ours, ours::execute_with_epoch_checks(&kernel.wasm))],
    }
}

/// `execute` of one kernel in ours under the bounded strategy, with the Spectre guard on its
/// bounds checks (the default) and without: the guard's cost, beside the guard-region row
/// above.
pub fn execute_bounded(kernel: &Kernel) -> Vec<Benchmark> {
    [("bounded", true), ("bounded, no Spectre guard", false)]
        .into_iter()
        .map(|(label, spectre_guard)| Benchmark {
            group: "execute",
            name: format!("{} ({label})", kernel.name),
            measures: vec![(
                Peer::Ours,
                ours::execute_bounded(&kernel.wasm, spectre_guard),
            )],
        })
        .collect()
}

/// Panics unless ours, Wasmtime and wasmi return the native checksum.
fn check_checksums(kernel: &Kernel) {
    let expected = native::run(&kernel.native, 1).1;
    let ours_engine = ours::default_engine();
    let ours = ours::run_kernel(
        &ours_engine,
        &ours::compile_module(&ours_engine, &kernel.wasm),
    )
    .1;
    let wasmtime_engine = peer_wasmtime::default_engine();
    let wasmtime_module = peer_wasmtime::compile_module(&wasmtime_engine, &kernel.wasm);
    let wasmtime = peer_wasmtime::run_kernel(&wasmtime_engine, &wasmtime_module).1;
    let (wasmi_engine, wasmi_module) = peer_wasmi::compile_module(&kernel.wasm);
    let wasmi = peer_wasmi::run_kernel(&wasmi_engine, &wasmi_module).1;
    assert!(
        [ours, wasmtime, wasmi] == [expected; 3],
        "{}: checksums differ: native {expected}, ours {ours}, wasmtime {wasmtime}, wasmi {wasmi}",
        kernel.name
    );
}

/// `compile`: every kernel, and the real programs the tests have built or fetched, on one
/// thread and on all cores, in ours and Wasmtime.
pub fn compile(kernels: &[Kernel]) -> Vec<Benchmark> {
    let mut modules: Vec<(String, Vec<u8>)> = kernels
        .iter()
        .map(|kernel| (kernel.name.to_string(), kernel.wasm.clone()))
        .collect();
    modules.extend(real_programs());
    let mut benchmarks = Vec::new();
    for (name, wasm) in &modules {
        for (threads, label) in [(1, "1 thread"), (0, "all cores")] {
            benchmarks.push(Benchmark {
                group: "compile",
                name: format!("{name}, {label}"),
                measures: vec![
                    (Peer::Ours, ours::compile(wasm, threads)),
                    (Peer::Wasmtime, peer_wasmtime::compile(wasm, threads != 1)),
                ],
            });
        }
    }
    benchmarks
}

/// SQLite, QuickJS and CPython, where `cargo test` left them in `target/guest-cache`.
fn real_programs() -> Vec<(String, Vec<u8>)> {
    let cache = crate::target_dir().join("guest-cache");
    let mut found = Vec::new();
    for (name, file) in [
        ("SQLite", "sqlite-driver.wasm"),
        ("QuickJS", "quickjs-driver.wasm"),
        ("CPython", "python-3.12.0.wasm"),
    ] {
        if let Some(path) = find_file(&cache, file, 2) {
            found.push((
                name.to_string(),
                std::fs::read(path).expect("reading a program"),
            ));
        }
    }
    found
}

/// The first file named `name` in `dir` or its subdirectories, `depth` levels down.
fn find_file(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            subdirs.push(path);
        } else if entry.file_name() == name {
            return Some(path);
        }
    }
    subdirs.sort();
    let deeper = depth.checked_sub(1)?;
    subdirs
        .iter()
        .find_map(|subdir| find_file(subdir, name, deeper))
}

const EMPTY_MODULE: &str = r#"(module (func (export "empty")))"#;
const ONE_PAGE_MODULE: &str = r#"(module (memory 1) (func (export "empty")))"#;

/// A module with 1 MiB of data segments.
fn data_module() -> String {
    let bytes: String = (0..1 << 20)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    format!(r#"(module (memory 17) (data (i32.const 0) "{bytes}") (func (export "empty")))"#)
}

/// `instantiate`: instantiate, call an empty export, drop; ours under both memory strategies
/// against Wasmtime's pooling allocator with copy-on-write images.
pub fn instantiate() -> Vec<Benchmark> {
    let modules = [
        ("empty module", EMPTY_MODULE.to_string()),
        ("1-page memory", ONE_PAGE_MODULE.to_string()),
        ("1 MiB data", data_module()),
    ];
    let strategies = [
        ("guard", MemoryStrategy::default()),
        ("bounded", MemoryStrategy::Bounded),
    ];
    let mut benchmarks = Vec::new();
    for (name, text) in &modules {
        let wasm = wat::parse_str(text).expect("a valid module");
        for (label, strategy) in strategies {
            benchmarks.push(Benchmark {
                group: "instantiate",
                name: format!("{name} ({label})"),
                measures: vec![
                    (Peer::Ours, ours::instantiate(&wasm, strategy)),
                    (Peer::Wasmtime, peer_wasmtime::instantiate(&wasm)),
                ],
            });
        }
    }
    benchmarks
}

const CALLS_MODULE: &str = r#"
(module
  (import "host" "noop" (func $noop))
  (memory 1)
  (func (export "empty"))
  (func (export "call_host") (param $n i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (call $noop)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again))))
  (func (export "oob") (drop (i32.load (i32.const -4)))))
"#;

/// `calls`: Wasm→host and host→Wasm no-op calls, and a trap's round trip.
pub fn calls() -> Vec<Benchmark> {
    let wasm = wat::parse_str(CALLS_MODULE).expect("a valid module");
    type Pair = (fn(&[u8]) -> Measure, fn(&[u8]) -> Measure);
    let kinds: [(&str, Pair); 3] = [
        (
            "wasm→host",
            (ours::wasm_to_host, peer_wasmtime::wasm_to_host),
        ),
        (
            "host→wasm",
            (ours::host_to_wasm, peer_wasmtime::host_to_wasm),
        ),
        (
            "trap round trip",
            (ours::trap_round_trip, peer_wasmtime::trap_round_trip),
        ),
    ];
    kinds
        .into_iter()
        .map(|(name, (ours, wasmtime))| Benchmark {
            group: "calls",
            name: name.to_string(),
            measures: vec![(Peer::Ours, ours(&wasm)), (Peer::Wasmtime, wasmtime(&wasm))],
        })
        .collect()
}

/// Whether `group` is one of [`GROUPS`].
pub fn is_group(group: &str) -> bool {
    GROUPS.contains(&group)
}
