//! WASI guests built by stock toolchains at test time (Rust for `wasm32-wasip1`, C with Debian's
//! clang for `wasm32-wasi`; see `tests/guests/`), run through the `faasm-run` binary under both
//! memory strategies. Each guest prints what it checked; its stdout is compared with
//! `tests/guests/{rust,c}/expected/NAME.stdout`, and exit statuses, stderr and the files left
//! on the host are checked here. One guest (`rename_race`) runs as concurrent calls of one
//! function through the in-process scheduler instead.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/faasm.rs"]
mod faasm;

use build::{c_guest, fnv1a, rust_guest};
use faasm::{Outcome, Run, STRATEGIES, Strategy, fresh_dir};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `faasm-run --memory-strategy STRATEGY --cache-dir ... MODULE`: compiled code is cached in the
/// tests' own directory, never the user's.
fn run(strategy: Strategy, module: &Path) -> Run {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasi-guests-aot-cache");
    Run::new(strategy, module).option(&[Path::new("--cache-dir"), &cache])
}

fn expected(language: &str, name: &str) -> String {
    let path = build::guests_dir().join(format!("{language}/expected/{name}.stdout"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A fresh directory holding `input.txt`, for the `files` guests.
fn files_dir(name: &str) -> PathBuf {
    let dir = fresh_dir(name);
    fs::write(dir.join("input.txt"), "input from the host\n").expect("writing input.txt");
    dir
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What the `files` guests must leave behind: their `output.txt` beside the host's input.
fn check_files_left(dir: &Path, output: &str, outcome: &Outcome) {
    assert_eq!(
        listing(dir),
        ["input.txt", "output.txt"],
        "files left in the directory\n{}",
        outcome.describe()
    );
    let written = fs::read_to_string(dir.join("output.txt")).expect("reading output.txt");
    assert_eq!(written, output, "output.txt\n{}", outcome.describe());
}

#[test]
fn rust_files() {
    for strategy in STRATEGIES {
        // `--dir HOST`: the guest sees the directory under its host path.
        let dir = files_dir(&format!("rust-files-{}", strategy.name()));
        let outcome = run(strategy, &rust_guest("files"))
            .option(&[Path::new("--dir"), &dir])
            .args(&[&dir])
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("rust", "files"));
        check_files_left(&dir, "written by the guest\n", &outcome);
    }
}

#[test]
fn c_files() {
    for strategy in STRATEGIES {
        let dir = files_dir(&format!("c-files-{}", strategy.name()));
        let outcome = run(strategy, &c_guest("files"))
            .dir(&dir, "/data")
            .args(&["/data"])
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "files"));
        check_files_left(&dir, "written by the C guest\n", &outcome);
    }
}

/// Arguments that a command-line parser could take for its own (`-3`, `--verbose`), empty
/// ones and non-ASCII ones all reach the guest as given; so do the `--env` values.
fn args_env_run(strategy: Strategy, module: &Path) -> Outcome {
    run(strategy, module)
        .env("A", "1")
        .env("B", "x = y")
        .env("EMPTY", "")
        .env("UTF", "héllo ✓")
        .args(&["one", "two words", "", "-3", "--verbose", "ü"])
        .run()
}

#[test]
fn rust_args_env() {
    for strategy in STRATEGIES {
        let outcome = args_env_run(strategy, &rust_guest("args_env"));
        outcome
            .expect_code(0)
            .expect_stdout(&expected("rust", "args_env"));
    }
}

#[test]
fn c_args_env() {
    for strategy in STRATEGIES {
        let outcome = args_env_run(strategy, &c_guest("args_env"));
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "args_env"));
    }
}

/// The host's time, for the guests to compare their wall clock with.
fn host_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[test]
fn rust_clocks() {
    for strategy in STRATEGIES {
        let outcome = run(strategy, &rust_guest("clocks"))
            .env("HOST_NOW", &host_now())
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("rust", "clocks"));
    }
}

#[test]
fn c_clocks_random() {
    for strategy in STRATEGIES {
        let outcome = run(strategy, &c_guest("clocks_random"))
            .env("HOST_NOW", &host_now())
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "clocks_random"));
    }
}

/// std's `RandomState` seeds from `random_get`: four runs, four different hashes.
#[test]
fn rust_random_differs_between_runs() {
    let mut lines = Vec::new();
    for strategy in STRATEGIES {
        for _ in 0..2 {
            let outcome = run(strategy, &rust_guest("random")).run();
            outcome.expect_code(0);
            let line = outcome.stdout.trim_end().to_string();
            assert!(
                line.starts_with("random hash: ") && line.len() == "random hash: ".len() + 16,
                "unexpected output\n{}",
                outcome.describe()
            );
            lines.push(line);
        }
    }
    let mut distinct = lines.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        lines.len(),
        "random_get repeated itself: {lines:?}"
    );
}

/// 200,000-odd bytes of text: more than one `fd_read` of any buffer size a libc uses.
fn stdin_text() -> String {
    let mut text = String::from("hello stdin\n");
    for i in 0..8000 {
        text.push_str(&format!("line {i} of the input, with some padding\n"));
    }
    text
}

#[test]
fn rust_stdio_and_exit_codes() {
    let input = stdin_text();
    let summary = format!(
        "stdin: {} bytes, {} lines, fnv1a {:016x}\nfirst line: HELLO STDIN\n",
        input.len(),
        input.lines().count(),
        fnv1a(input.as_bytes())
    );
    let stderr = format!("to stderr: {} bytes read", input.len());
    for strategy in STRATEGIES {
        for (arg, code) in [
            (None, 0),
            (Some("7"), 7),
            (Some("0"), 0),
            (Some("255"), 255),
        ] {
            let args: Vec<&str> = arg.into_iter().collect();
            let outcome = run(strategy, &rust_guest("stdio"))
                .args(&args)
                .stdin(input.clone())
                .run();
            outcome
                .expect_code(code)
                .expect_stdout(&summary)
                .expect_stderr_contains(&stderr);
        }
        let outcome = run(strategy, &rust_guest("stdio"))
            .args(&["panic"])
            .stdin("x\n")
            .run();
        expect_trap(&outcome).expect_stderr_contains("the guest panics on purpose");
    }
}

#[test]
fn c_stdio_and_exit_codes() {
    let input = stdin_text();
    let summary = format!(
        "stdin: {} bytes, {} newlines, fnv1a {:016x}\n",
        input.len(),
        input.matches('\n').count(),
        fnv1a(input.as_bytes())
    );
    for strategy in STRATEGIES {
        for (arg, code) in [("", 0), ("42", 42), ("return", 5), ("1", 1)] {
            let outcome = run(strategy, &c_guest("stdio_exit"))
                .args(&[arg])
                .stdin(input.clone())
                .run();
            outcome
                .expect_code(code)
                .expect_stdout(&summary)
                .expect_stderr_contains("to stderr: ");
        }
        for how in ["abort", "trap"] {
            let outcome = run(strategy, &c_guest("stdio_exit"))
                .args(&[how])
                .stdin("")
                .run();
            expect_trap(&outcome)
                .expect_stdout("stdin: 0 bytes, 0 newlines, fnv1a cbf29ce484222325\n");
        }
    }
}

/// A guest that executed `unreachable`: `faasm-run` says so on stderr and exits with 134.
fn expect_trap(outcome: &Outcome) -> &Outcome {
    outcome.expect_code(134);
    assert!(
        outcome.stderr.to_lowercase().contains("unreachable"),
        "the trap's kind is not on stderr\n{}",
        outcome.describe()
    );
    outcome
}

/// `sandbox/` (to pre-open) and `outside/secret.txt` beside it, with the links the escape
/// guests try (see `tests/guests/*/escape.*`). Returns (sandbox, outside).
fn escape_layout(name: &str) -> (PathBuf, PathBuf) {
    let root = fresh_dir(name);
    let (sandbox, outside) = (root.join("sandbox"), root.join("outside"));
    fs::create_dir_all(sandbox.join("sub")).expect("creating sandbox/sub");
    fs::create_dir_all(&outside).expect("creating outside");
    fs::write(sandbox.join("sub/ok.txt"), "inside\n").expect("writing ok.txt");
    fs::write(outside.join("secret.txt"), "secret\n").expect("writing secret.txt");
    let links: [(&Path, &str); 5] = [
        (Path::new("sub"), "link_in"),
        (Path::new("../outside"), "link_out"),
        (&outside, "link_abs"),
        (Path::new("../outside/secret.txt"), "link_file_out"),
        (Path::new(".."), "link_up"),
    ];
    for (target, link) in links {
        std::os::unix::fs::symlink(target, sandbox.join(link)).expect("creating a symlink");
    }
    (sandbox, outside)
}

/// Nothing outside the sandbox changed, and what the guest may touch inside is intact.
fn check_nothing_escaped(sandbox: &Path, outside: &Path, outcome: &Outcome) {
    assert_eq!(
        listing(outside),
        ["secret.txt"],
        "files outside the sandbox\n{}",
        outcome.describe()
    );
    assert_eq!(
        fs::read_to_string(outside.join("secret.txt")).expect("secret.txt"),
        "secret\n"
    );
    assert_eq!(
        fs::read_to_string(sandbox.join("sub/ok.txt")).expect("ok.txt"),
        "inside\n"
    );
    assert!(
        !outcome.stdout.contains("secret\n"),
        "the secret was read\n{}",
        outcome.describe()
    );
}

#[test]
fn rust_escape_attempts_fail() {
    for strategy in STRATEGIES {
        let (sandbox, outside) = escape_layout(&format!("rust-escape-{}", strategy.name()));
        let outcome = run(strategy, &rust_guest("escape"))
            .dir(&sandbox, "/sandbox")
            .args(&["/sandbox"])
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("rust", "escape"));
        check_nothing_escaped(&sandbox, &outside, &outcome);
    }
}

#[test]
fn c_escape_attempts_fail() {
    for strategy in STRATEGIES {
        let (sandbox, outside) = escape_layout(&format!("c-escape-{}", strategy.name()));
        let outcome = run(strategy, &c_guest("escape"))
            .dir(&sandbox, "/sandbox")
            .args(&["/sandbox"])
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "escape"));
        check_nothing_escaped(&sandbox, &outside, &outcome);
    }
}

/// `ROOT/sb` (to pre-open as `/sb`) beside `ROOT/x/secret.txt`, as in the reproduction.
/// Returns (root, sandbox).
fn stale_dir_layout(name: &str) -> (PathBuf, PathBuf) {
    let root = fresh_dir(name);
    let sandbox = root.join("sb");
    fs::create_dir_all(&sandbox).expect("creating sb");
    fs::create_dir_all(root.join("x")).expect("creating x");
    fs::write(root.join("x/secret.txt"), "secret\n").expect("writing secret.txt");
    (root, sandbox)
}

/// A directory descriptor held across a rename, and a link moved to where it points out of the
/// sandbox (`tests/guests/c/stale_dir.c`): through the descriptor the guest sees the directory
/// it opened, through the link nothing; nothing outside the sandbox is read, named or changed.
#[test]
fn c_a_stale_directory_descriptor_stays_inside() {
    for strategy in STRATEGIES {
        let (root, sandbox) = stale_dir_layout(&format!("c-stale-dir-{}", strategy.name()));
        let outcome = run(strategy, &c_guest("stale_dir"))
            .dir(&sandbox, "/sb")
            .args(&["/sb"])
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "stale_dir"));
        assert_eq!(listing(&root), ["sb", "x"], "{}", outcome.describe());
        assert_eq!(
            listing(&root.join("x")),
            ["secret.txt"],
            "{}",
            outcome.describe()
        );
        assert_eq!(
            fs::read_to_string(root.join("x/secret.txt")).expect("secret.txt"),
            "secret\n"
        );
        // What the guest made landed inside: in the directory its old descriptor stands for.
        assert!(sandbox.join("d2/made2").is_dir(), "{}", outcome.describe());
        assert!(!outcome.stdout.contains("LEAKED") && !outcome.stdout.contains("SECRET-SEEN"));
    }
}

/// What lies beside the sandbox of the rename race: `secret.txt` and `x/secret.txt`.
const RACE_SECRET: &str = "TOP-SECRET-41c7\n";

/// The names, contents and link counts of everything directly in `root` and in `root/x`
/// (the sandbox `root/sb` left out).
fn outside_of_race(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for dir in [root.to_path_buf(), root.join("x")] {
        for name in listing(&dir) {
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).expect("stat beside the sandbox");
            let content = if meta.is_file() {
                fs::read_to_string(&path).expect("reading beside the sandbox")
            } else {
                String::new()
            };
            lines.push(format!(
                "{} nlink {} {content:?}",
                path.display(),
                meta.nlink()
            ));
        }
    }
    lines
}

/// Concurrent calls of one C function through the scheduler, sharing one pre-opened
/// directory (`tests/guests/c/rename_race.c`): one call renames directories under the others'
/// held descriptors and moves links to where they point out of the sandbox (`../x`, `..`,
/// `../../x` made in `deep/a/` and moved up) and back, 1000 times, while two calls open, read,
/// stat, list, link, unlink and truncate through held descriptors and through paths that
/// cross the moving links. Afterwards nothing beside the sandbox changed (names, contents,
/// link counts), no answer named or held the secret, and the sandbox is as the calls left it.
#[test]
fn c_calls_renaming_while_others_open_stay_inside() {
    use faasm_scheduler::{CallRequest, Function, Scheduler, SchedulerConfig};
    const OPENERS: usize = 2;
    const ROUNDS: usize = 1000;
    let root = fresh_dir("c-rename-race");
    let sandbox = root.join("sb");
    fs::create_dir_all(sandbox.join("d")).expect("creating sb/d");
    fs::create_dir_all(sandbox.join("a")).expect("creating sb/a");
    fs::create_dir_all(sandbox.join("deep")).expect("creating sb/deep");
    fs::write(sandbox.join("d/inside.txt"), "inside\n").expect("writing inside.txt");
    fs::create_dir_all(root.join("x")).expect("creating x");
    fs::write(root.join("x/secret.txt"), RACE_SECRET).expect("writing x/secret.txt");
    fs::write(root.join("secret.txt"), RACE_SECRET).expect("writing secret.txt");
    let before = outside_of_race(&root);

    let engine = faasm_runtime::Engine::default();
    let wasm = fs::read(c_guest("rename_race")).expect("reading rename_race.wasm");
    let module = faasm_runtime::Module::new(&engine, &wasm).expect("compiling rename_race");
    let function = Function::prepare(&module)
        .expect("preparing rename_race")
        .preopen_dir(&sandbox, "/sb");
    let config = SchedulerConfig {
        workers: OPENERS + 1,
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::with_config(&engine, config).expect("a scheduler");
    scheduler.register("race", "rename_race", function);
    let call = |cmdline: String| {
        let request = CallRequest {
            cmdline,
            timeout: Some(Duration::from_secs(120)),
            ..CallRequest::default()
        };
        scheduler
            .submit("race", "rename_race", request)
            .expect("submitting a call")
    };
    let openers: Vec<_> = (0..OPENERS)
        .map(|id| call(format!("opener /sb {id}")))
        .collect();
    let mover = call(format!("mover /sb {ROUNDS} {OPENERS}"));
    let mut results = vec![mover.wait()];
    results.extend(openers.into_iter().map(|opener| opener.wait()));

    let describe = |result: &faasm_scheduler::CallResult| {
        format!(
            "{:?}\nstdout:\n{}\nstderr:\n{}",
            result.failure,
            String::from_utf8_lossy(&result.stdout),
            build::tail(&String::from_utf8_lossy(&result.stderr), 20)
        )
    };
    let all = results
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join("\n---\n");
    for result in &results {
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert!(result.succeeded(), "a call failed\n{all}");
        assert!(
            !stdout.contains("LEAK")
                && !stdout.contains("TOP-SECRET")
                && !stdout.contains("secret"),
            "an answer reached outside the sandbox\n{all}"
        );
    }
    assert!(
        String::from_utf8_lossy(&results[0].stdout)
            .contains(&format!("mover: {ROUNDS} rounds, 0 errors")),
        "{all}"
    );
    for result in &results[1..] {
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert!(
            stdout.contains(" 0 leaks, the mover finished"),
            "an opener stopped early\n{all}"
        );
    }
    assert_eq!(outside_of_race(&root), before, "{all}");
    assert_eq!(
        listing(&sandbox),
        ["a", "d", "deep", "done", "ready-0", "ready-1"],
        "{all}"
    );
    // An opener's `planted` may stay behind when d moved between its mkdir and its rmdir.
    let mut left_in_d = listing(&sandbox.join("d"));
    left_in_d.retain(|name| name != "planted");
    assert_eq!(left_in_d, ["inside.txt"], "{all}");
    assert_eq!(
        fs::read_to_string(sandbox.join("d/inside.txt")).expect("inside.txt"),
        "inside\n"
    );
    println!("{all}");
}

/// The errnos each `bad_args` case may answer with (it may also trap), from `bad_args.c`.
fn allowed_errnos(case: &str) -> &'static [&'static str] {
    match case {
        "iovec_count_wraps" => &["EFAULT", "EINVAL", "ENOMEM", "EOVERFLOW"],
        "path_not_utf8" => &["EILSEQ", "EINVAL", "ENOENT"],
        "bad_clock" | "bad_whence" => &["EINVAL"],
        "bad_fd" => &["EBADF"],
        _ => &["EFAULT"],
    }
}

/// Bad pointers, lengths and values given to raw WASI calls: each gives an errno or a trap,
/// and never a crash of `faasm-run` or bytes from outside the guest's memory.
#[test]
fn c_bad_arguments_give_errors_or_traps() {
    let module = c_guest("bad_args");
    let list = run(Strategy::Guard, &module).args(&["list"]).run();
    let cases: Vec<String> = list
        .expect_code(0)
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert!(cases.len() > 10, "too few cases\n{}", list.describe());
    let mut failures = Vec::new();
    for strategy in STRATEGIES {
        let dir = files_dir(&format!("c-bad-args-{}", strategy.name()));
        for case in &cases {
            let outcome = run(strategy, &module)
                .dir(&dir, "/data")
                .args(&[case])
                .stdin("abc")
                .run();
            if let Err(why) = check_bad_args_case(case, &outcome) {
                failures.push(format!(
                    "{case} under {}: {why}\n{}",
                    strategy.name(),
                    outcome.describe()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn check_bad_args_case(case: &str, outcome: &Outcome) -> Result<(), String> {
    if outcome.stdout.contains("must not be written") {
        return Err("bytes from a bad buffer reached stdout".into());
    }
    let allowed = allowed_errnos(case);
    match outcome.status.and_then(|status| status.code()) {
        Some(0) => {
            let answer = outcome
                .stdout
                .trim_end()
                .strip_prefix(&format!("{case}: "))
                .unwrap_or("");
            match allowed.contains(&answer) {
                true => Ok(()),
                false => Err(format!(
                    "answered {answer:?}, expected one of {allowed:?} or a trap"
                )),
            }
        }
        Some(134) if case != "bad_fd" => Ok(()),
        _ => Err(format!("ended with {}", outcome.status_text())),
    }
}

/// The rarer file-system calls (`tests/guests/c/fs_more.c`); the guest cleans up after itself.
#[test]
fn c_file_system_corners() {
    for strategy in STRATEGIES {
        let dir = fresh_dir(&format!("c-fs-more-{}", strategy.name()));
        let outcome = run(strategy, &c_guest("fs_more"))
            .dir(&dir, "/data")
            .args(&["/data"])
            .stdin("data\n")
            .run();
        outcome
            .expect_code(0)
            .expect_stdout(&expected("c", "fs_more"));
        assert!(
            listing(&dir).is_empty(),
            "files left behind\n{}",
            outcome.describe()
        );
    }
}

/// Memory grows through malloc and `memory.grow` up to 4 GiB, or to `--max-memory`.
#[test]
fn c_memory_grows_to_its_limit() {
    for strategy in STRATEGIES {
        let outcome = run(strategy, &c_guest("memory")).args(&["grow"]).run();
        outcome.expect_code(0).expect_stdout(
            "malloc 64 MiB: filled, 0 bad pages\n\
             memory.grow until it failed: 65536 pages, last byte written 7\n",
        );
        let limited = run(strategy, &c_guest("memory"))
            .option(&["--max-memory", "32MiB"])
            .args(&["grow"])
            .run();
        limited.expect_code(0).expect_stdout(
            "malloc 64 MiB: NULL\n\
             memory.grow until it failed: 512 pages, last byte written 7\n",
        );
    }
}

/// Traps in C code: `faasm-run` names the trap on stderr and exits with 134.
#[test]
fn c_traps_end_the_run() {
    let cases = [
        (
            "oob",
            "loading past the end\n",
            "out of bounds memory access",
        ),
        ("edge", "last byte: 0\n", "out of bounds memory access"),
        ("divide", "dividing\n", "integer divide by zero"),
        ("recurse", "recursing\n", "call stack exhausted"),
    ];
    for strategy in STRATEGIES {
        for (mode, stdout, trap) in cases {
            let outcome = run(strategy, &c_guest("memory")).args(&[mode]).run();
            outcome
                .expect_code(134)
                .expect_stdout(stdout)
                .expect_stderr_contains(trap);
        }
    }
}

/// A C guest built with `-msimd128` (loops clang vectorises, and `wasm_simd128.h` intrinsics)
/// checks its vector results against scalar ones, under both memory strategies.
#[test]
fn c_simd() {
    let mut simd = build::CBuild::guest("simd");
    simd.flags.push("-msimd128".into());
    let module = build::build_c(&simd, build::CTarget::Wasi);
    for strategy in STRATEGIES {
        run(strategy, &module)
            .run()
            .expect_code(0)
            .expect_stdout(&expected("c", "simd"));
    }
}
