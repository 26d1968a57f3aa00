//! The real programs of the `execute` group: SQLite (also built with `-msimd128`, which lets
//! clang autovectorise it: a real program with SIMD) and QuickJS-ng, with the drivers of
//! `benches/programs/` (kernel.h's contract: `run` returns a checksum, the workload is between
//! `bench.start` and `bench.end`, no file is touched). Their C sources are not ours and are never
//! committed: they come from the registry packages the tests fetch (crates.io's
//! `libsqlite3-sys` and `rquickjs-sys`), found through `paths.txt` of the tests' cache
//! (`tests/guests/fetch-packages.sh`). When it is absent, the programs are skipped with a message.
//! Builds are kept in `target/bench-programs` and reused while their inputs and flags are
//! unchanged (SQLite's amalgamation takes a while).

use crate::kernels::{self, Kernel};
use crate::{Benchmark, native, ours, ours_wasi, peer_wasmi_wasi, peer_wasmtime_wasi};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// How one program is built.
#[derive(Debug)]
struct Program {
    /// The benchmark's name.
    name: &'static str,
    /// The driver (`benches/programs/DRIVER.c`).
    driver: &'static str,
    /// Whether the Wasm build has SIMD (`-msimd128`).
    simd: bool,
    /// Its key in `paths.txt`: the directory of the package's C sources.
    package: &'static str,
    /// The package's files compiled with the driver.
    sources: &'static [&'static str],
    /// Flags for both targets.
    flags: &'static [&'static str],
    /// Link flags for wasm32-wasi.
    wasm_libs: &'static [&'static str],
    /// Link flags for the host.
    native_libs: &'static [&'static str],
}

/// SQLite, built as it is.
const SQLITE: Program = Program {
    name: "sqlite",
    driver: "sqlite",
    simd: false,
    package: "sqlite",
    sources: &["sqlite3.c"],
    flags: &[
        "-O2",
        "-DSQLITE_THREADSAFE=0",
        "-DSQLITE_OMIT_LOAD_EXTENSION",
        "-DSQLITE_TEMP_STORE=3",
    ],
    wasm_libs: &[],
    native_libs: &["-lm"],
};

const PROGRAMS: [Program; 3] = [
    SQLITE,
    Program {
        name: "sqlite-simd",
        simd: true,
        ..SQLITE
    },
    Program {
        name: "quickjs",
        driver: "quickjs",
        simd: false,
        package: "quickjs",
        sources: &["quickjs.c", "libregexp.c", "libunicode.c", "dtoa.c"],
        flags: &["-O2", "-D_GNU_SOURCE"],
        // WASI builds of QuickJS have no stack limit: a large shadow stack, placed first.
        wasm_libs: &["-Wl,-z,stack-size=1048576", "-Wl,--stack-first"],
        native_libs: &["-lm", "-lpthread"],
    },
];

/// `benches/programs`.
fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

/// `paths.txt` of the tests' cache: `$FAASM_TEST_CACHE`, else `target/guest-cache`.
fn paths_file() -> PathBuf {
    let cache = std::env::var_os("FAASM_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::target_dir().join("guest-cache"));
    cache.join("packages/paths.txt")
}

/// The directory `paths.txt` names for `package`, if it exists.
fn package_dir(package: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(paths_file()).ok()?;
    let dir = text.lines().find_map(|line| {
        let (key, path) = line.split_once('=')?;
        (key == package).then(|| PathBuf::from(path))
    })?;
    dir.is_dir().then_some(dir)
}

/// Every program whose sources are present, built for both targets; a line on stderr for each
/// one skipped.
pub fn build_all() -> Vec<Kernel> {
    PROGRAMS
        .iter()
        .filter_map(|program| match package_dir(program.package) {
            Some(dir) => Some(build(program, &dir)),
            None => {
                eprintln!(
                    "report: skipping execute/{}: no `{}` sources in {} (run \
                     tests/guests/fetch-packages.sh, or `cargo test --release --test programs`)",
                    program.name,
                    program.package,
                    paths_file().display()
                );
                None
            }
        })
        .collect()
}

/// Builds `program` with its package's sources in `dir`, for wasm32-wasi (a reactor exporting
/// `run`) and natively (with the kernels' `native.c`), both at once.
fn build(program: &Program, dir: &Path) -> Kernel {
    let out = crate::target_dir().join("bench-programs");
    fs::create_dir_all(&out).expect("creating target/bench-programs");
    let mut inputs = vec![driver_dir().join(format!("{}.c", program.driver))];
    inputs.extend(program.sources.iter().map(|file| dir.join(file)));
    let includes = [kernels::source_dir(), dir.to_path_buf()];
    let wasm_path = out.join(format!("{}.wasm", program.name));
    let native_path = out.join(program.name);
    let mut wasm = Command::new("clang");
    wasm.args(["--target=wasm32-wasi", "-mexec-model=reactor"]);
    if program.simd {
        wasm.arg("-msimd128");
    }
    let host = Command::new("cc");
    let native_inputs = [&inputs[..], &[kernels::source_dir().join("native.c")]].concat();
    let builds = [
        (wasm, &inputs, program.wasm_libs, &wasm_path),
        (host, &native_inputs, program.native_libs, &native_path),
    ];
    let children: Vec<(Child, String, PathBuf)> = builds
        .into_iter()
        .filter_map(|(mut command, inputs, libs, output)| {
            command.args(program.flags);
            for include in &includes {
                command.arg("-I").arg(include);
            }
            command.args(inputs).arg("-o").arg(output).args(libs);
            // The drivers include kernel.h: a change to it rebuilds them too.
            let watched = [&inputs[..], &[kernels::source_dir().join("kernel.h")]].concat();
            start_unless_fresh(command, &watched, output)
        })
        .collect();
    if !children.is_empty() {
        eprintln!(
            "report: building execute/{} (cached afterwards)",
            program.name
        );
    }
    for (child, line, output) in children {
        finish(child, &line, &output);
    }
    Kernel {
        name: program.name,
        wasm: fs::read(&wasm_path).expect("reading the built program"),
        native: native_path,
    }
}

/// Starts `command` unless `output` is newer than every input and was built by the same
/// command line (kept next to it, in `OUTPUT.cmd`).
fn start_unless_fresh(
    mut command: Command,
    inputs: &[PathBuf],
    output: &Path,
) -> Option<(Child, String, PathBuf)> {
    let line = format!("{command:?}");
    let stamp = stamp_path(output);
    let built = fs::metadata(output).and_then(|meta| meta.modified()).ok();
    let fresh = built.is_some_and(|built| {
        fs::read_to_string(&stamp).is_ok_and(|previous| previous == line)
            && inputs.iter().all(|input| {
                fs::metadata(input)
                    .and_then(|meta| meta.modified())
                    .is_ok_and(|modified| modified <= built)
            })
    });
    if fresh {
        return None;
    }
    let _ = fs::remove_file(&stamp);
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
    Some((child, line, output.to_path_buf()))
}

/// `OUTPUT.cmd`: the command line that built `output`.
fn stamp_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".cmd");
    PathBuf::from(name)
}

/// Waits for a compiler, panics with its output if it failed, and records its command line.
fn finish(child: Child, line: &str, output: &Path) {
    let result = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {line}: {e}"));
    assert!(
        result.status.success(),
        "{line} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    fs::write(stamp_path(output), line).expect("writing a build stamp");
}

/// `execute`: a program in every peer, after checking that all of them compute the native
/// checksum.
pub fn execute(program: &Kernel) -> Benchmark {
    check_checksums(program);
    Benchmark::execute(
        program.name,
        ours_wasi::execute(&program.wasm),
        peer_wasmtime_wasi::execute(&program.wasm),
        peer_wasmi_wasi::execute(&program.wasm),
        native::execute(program),
    )
}

/// Every program's `execute` benchmark (none if their sources are absent).
pub fn benchmarks() -> Vec<Benchmark> {
    build_all().iter().map(execute).collect()
}

/// Panics unless ours, Wasmtime and wasmi return the native checksum (0 means the driver saw
/// an error).
fn check_checksums(program: &Kernel) {
    let expected = native::run(&program.native, 1).1;
    assert_ne!(expected, 0, "{}: the native run failed", program.name);
    let ours_engine = ours::default_engine();
    let ours_module = ours::compile_module(&ours_engine, &program.wasm);
    let ours = ours_wasi::run_program(&ours_engine, &ours_module).1;
    let wasmtime_engine = wasmtime::Engine::default();
    let wasmtime_module = wasmtime::Module::new(&wasmtime_engine, &program.wasm)
        .expect("Wasmtime compiles the program");
    let wasmtime = peer_wasmtime_wasi::run_program(&wasmtime_engine, &wasmtime_module).1;
    let wasmi_engine = wasmi::Engine::default();
    let wasmi_module =
        wasmi::Module::new(&wasmi_engine, &program.wasm).expect("wasmi compiles the program");
    let wasmi = peer_wasmi_wasi::run_program(&wasmi_engine, &wasmi_module).1;
    assert!(
        [ours, wasmtime, wasmi] == [expected; 3],
        "{}: checksums differ: native {expected}, ours {ours}, wasmtime {wasmtime}, wasmi {wasmi}",
        program.name
    );
}
