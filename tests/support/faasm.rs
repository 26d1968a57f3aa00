//! Runs the built `faasm-run` binary on a module, under a memory strategy, with options,
//! arguments and stdin, and checks what it did. Every failure message shows the command line,
//! the exit status and the tail of stderr.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `--memory-strategy` values: every guest runs under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Guard,
    Bounded,
}

pub const STRATEGIES: [Strategy; 2] = [Strategy::Guard, Strategy::Bounded];

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Guard => "guard",
            Strategy::Bounded => "bounded",
        }
    }
}

/// One `faasm-run` invocation, built up and then [`Run::run`].
#[derive(Debug, Clone)]
pub struct Run {
    strategy: Strategy,
    options: Vec<OsString>,
    module: PathBuf,
    args: Vec<OsString>,
    stdin: Vec<u8>,
    limit: Duration,
}

impl Run {
    /// `faasm-run --memory-strategy STRATEGY MODULE`, with an empty stdin (a pipe) and a
    /// two-minute limit on the whole process.
    pub fn new(strategy: Strategy, module: &Path) -> Run {
        Run {
            strategy,
            options: Vec::new(),
            module: module.to_path_buf(),
            args: Vec::new(),
            stdin: Vec::new(),
            limit: Duration::from_secs(120),
        }
    }

    /// An option before the module, e.g. `["--env", "A=1"]`.
    pub fn option(mut self, parts: &[impl AsRef<std::ffi::OsStr>]) -> Run {
        self.options
            .extend(parts.iter().map(|part| part.as_ref().to_os_string()));
        self
    }

    /// `--dir HOST::GUEST`.
    pub fn dir(self, host: &Path, guest: &str) -> Run {
        let mut mapping = host.as_os_str().to_os_string();
        mapping.push("::");
        mapping.push(guest);
        self.option(&[OsString::from("--dir"), mapping])
    }

    /// `--env NAME=VALUE`.
    pub fn env(self, name: &str, value: &str) -> Run {
        self.option(&["--env".to_string(), format!("{name}={value}")])
    }

    /// Arguments of the guest, after the module.
    pub fn args(mut self, args: &[impl AsRef<std::ffi::OsStr>]) -> Run {
        self.args
            .extend(args.iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = bytes.into();
        self
    }

    /// How long the process may take before the test kills it and fails.
    pub fn limit(mut self, limit: Duration) -> Run {
        self.limit = limit;
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut line = vec!["faasm-run".to_string()];
        line.extend(
            self.all_args()
                .iter()
                .map(|arg| quote(&arg.to_string_lossy())),
        );
        line.join(" ")
    }

    fn all_args(&self) -> Vec<OsString> {
        let mut all: Vec<OsString> = vec!["--memory-strategy".into(), self.strategy.name().into()];
        all.extend(self.options.iter().cloned());
        all.push(self.module.clone().into_os_string());
        all.extend(self.args.iter().cloned());
        all
    }

    /// Runs the process to its end (or kills it at the limit).
    pub fn run(&self) -> Outcome {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_faasm-run"))
            .args(self.all_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.command_line()));
        let stdin = child.stdin.take().expect("piped stdin");
        let input = self.stdin.clone();
        // A closed pipe only means the guest did not read it all.
        let writer = thread::spawn(move || drop(write_all(stdin, &input)));
        let stdout = reader(child.stdout.take().expect("piped stdout"));
        let stderr = reader(child.stderr.take().expect("piped stderr"));
        let status = wait(&mut child, self.limit);
        let _ = writer.join();
        Outcome {
            command: self.command_line(),
            status,
            stdout: String::from_utf8_lossy(&stdout.join().expect("stdout reader")).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned(),
            elapsed: start.elapsed(),
        }
    }
}

fn write_all(mut stdin: std::process::ChildStdin, bytes: &[u8]) -> std::io::Result<()> {
    stdin.write_all(bytes)
}

fn reader(mut stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// The exit status, or `None` if the limit passed first (the process is then killed).
fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for faasm-run") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A shell-like rendering of one argument.
fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// What one run did.
#[derive(Debug)]
pub struct Outcome {
    pub command: String,
    /// `None`: killed at the limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// The command, status and ends of both streams: the context of every failure message.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n--- stdout (tail):\n{}\n--- stderr (tail):\n{}",
            self.command,
            self.status_text(),
            super::build::tail(&self.stdout, 30),
            super::build::tail(&self.stderr, 30)
        )
    }

    pub fn status_text(&self) -> String {
        match self.status {
            None => format!(
                "killed after {:.1} s (the test's limit)",
                self.elapsed.as_secs_f64()
            ),
            Some(status) => status.to_string(),
        }
    }

    /// The exit code; panics if the process was killed (by a signal or the limit).
    pub fn code(&self) -> i32 {
        match self.status.and_then(|status| status.code()) {
            Some(code) => code,
            None => panic!("faasm-run did not exit normally\n{}", self.describe()),
        }
    }

    /// Panics unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Outcome {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit status\n{}",
            self.describe()
        );
        self
    }

    /// Panics unless stdout is exactly `expected`, naming the first line that differs.
    pub fn expect_stdout(&self, expected: &str) -> &Outcome {
        if let Some(difference) = first_difference(&self.stdout, expected) {
            panic!(
                "stdout differs from the expected text: {difference}\n{}",
                self.describe()
            );
        }
        self
    }

    /// Panics unless stderr contains `needle`.
    pub fn expect_stderr_contains(&self, needle: &str) -> &Outcome {
        assert!(
            self.stderr.contains(needle),
            "stderr does not contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// The `faasm-run: ...` lines `--verbose` printed about compiling or loading the module.
    pub fn compile_report(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|line| {
                line.starts_with("faasm-run: compiled") || line.starts_with("faasm-run: loaded")
            })
            .map(|line| line.trim_start_matches("faasm-run: "))
            .collect();
        lines.join("; ")
    }
}

/// Where `actual` first departs from `expected`, or `None` if they are equal.
pub fn first_difference(actual: &str, expected: &str) -> Option<String> {
    if actual == expected {
        return None;
    }
    let (actual_lines, expected_lines): (Vec<&str>, Vec<&str>) =
        (actual.split('\n').collect(), expected.split('\n').collect());
    let line = actual_lines
        .iter()
        .zip(&expected_lines)
        .position(|(a, e)| a != e)
        .unwrap_or(actual_lines.len().min(expected_lines.len()));
    Some(format!(
        "line {}:\n  expected: {:?}\n  actual:   {:?}\n(expected {} lines, got {})",
        line + 1,
        expected_lines.get(line).unwrap_or(&"<end of text>"),
        actual_lines.get(line).unwrap_or(&"<end of text>"),
        expected_lines.len(),
        actual_lines.len()
    ))
}

/// A fresh, empty directory under the tests' `CARGO_TARGET_TMPDIR`.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}
