//! `cargo run --release -p faasm-benches --bin sgd [--quick] [--epochs N] [--runs R]` (5 epochs
//! and 3 runs of each configuration by default):
//! the Faasm paper's SGD experiment, small (`functions/experiments/sgd.c`). The function is built
//! with stock clang against `sdk/c/faasm.h`, set up once per global tier (the data set is written
//! to state and pushed), then trained in both modes (`shared`: state mapped into every worker;
//! `copy`: each worker pulls and copies) with N = 1, 2, 4 and 8 chained workers, on the
//! in-process tier and on a Redis server this command starts. Every training run is a new host:
//! a new scheduler with a cold local tier over the same global tier, so the bytes it moves to and
//! from the global tier are its own. Prints a Markdown table (also written to
//! `target/sgd-report.md`): the median time of the runs, bytes sent and received (the same in
//! every run), the mean final loss, and for N = 8 the ratios shared/copy.
#![forbid(unsafe_code)]

use faasm_benches::state::RedisServer;
use faasm_runtime::{Engine, Module};
use faasm_scheduler::{CallRequest, Function, Scheduler, SchedulerConfig};
use faasm_state::{GlobalTier, InProcessTier, LocalTier, RedisTier};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One training run's figures.
struct Run {
    tier: &'static str,
    mode: &'static str,
    workers: usize,
    time: Duration,
    sent: u64,
    received: u64,
    loss: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let number = |flag: &str, default: u32| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("{flag} N: a positive number"))
            })
            .max(1)
    };
    let epochs = number("--epochs", 5);
    let repeats = number("--runs", 3);
    let size = if quick {
        "examples=16000 features=2000 nnz=50"
    } else {
        "examples=100000 features=10000 nnz=100"
    };
    let data = format!("{size} epochs={epochs}");
    let data = data.as_str();
    let wasm = build();
    let engine = Engine::default();
    let module = Module::new(&engine, &wasm).expect("sgd.wasm compiles");
    let mut runs = Vec::new();
    let in_process: Arc<dyn GlobalTier> = Arc::new(InProcessTier::new());
    runs.extend(experiment(
        &engine,
        &module,
        "in-process",
        in_process,
        data,
        repeats,
    ));
    match RedisServer::start() {
        Ok(server) => {
            let redis = RedisTier::new(&server.url()).expect("a Redis URL");
            runs.extend(experiment(
                &engine,
                &module,
                "redis",
                Arc::new(redis),
                data,
                repeats,
            ));
        }
        Err(e) => eprintln!("sgd: skipping the Redis tier: {e}"),
    }
    let table = markdown(&runs, data, repeats);
    print!("{table}");
    let path = faasm_benches::target_dir().join("sgd-report.md");
    std::fs::write(&path, &table).expect("writing target/sgd-report.md");
    eprintln!("sgd: wrote {}", path.display());
}

/// `functions/experiments/sgd.c` built for wasm32-wasi with stock clang.
fn build() -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = faasm_benches::target_dir().join("sgd.wasm");
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-I"])
        .arg(root.join("sdk/c"))
        .arg(root.join("functions/experiments/sgd.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("running clang (apt-get install clang lld wasi-libc)");
    assert!(status.success(), "clang failed on sgd.c");
    std::fs::read(&out).expect("reading sgd.wasm")
}

/// Sets the data set up on `global`, then trains in both modes with 1, 2, 4 and 8 workers,
/// `repeats` times each.
fn experiment(
    engine: &Engine,
    module: &Module,
    tier: &'static str,
    global: Arc<dyn GlobalTier>,
    data: &str,
    repeats: u32,
) -> Vec<Run> {
    eprintln!("sgd: {tier}: writing the data set");
    let (output, _) = invoke(engine, module, &global, &format!("setup {data}"));
    assert_eq!(output, "data set written");
    let mut runs = Vec::new();
    for mode in ["shared", "copy"] {
        for workers in [1, 2, 4, 8] {
            eprintln!("sgd: {tier}: {mode}, {workers} workers");
            let input = format!("train mode={mode} workers={workers} {data}");
            let mut times = Vec::new();
            let mut losses = Vec::new();
            let mut traffic = (0, 0);
            for _ in 0..repeats {
                let start = Instant::now();
                let (output, local) = invoke(engine, module, &global, &input);
                times.push(start.elapsed());
                losses.push(parse_loss(&output));
                let stats = local.stats();
                traffic = (stats.sent, stats.received);
            }
            times.sort();
            runs.push(Run {
                tier,
                mode,
                workers,
                time: times[times.len() / 2],
                sent: traffic.0,
                received: traffic.1,
                loss: losses.iter().sum::<f64>() / losses.len() as f64,
            });
        }
    }
    runs
}

/// The `loss=` figure of a training run's output.
fn parse_loss(output: &str) -> f64 {
    output
        .rsplit("loss=")
        .next()
        .and_then(|loss| loss.parse().ok())
        .unwrap_or_else(|| panic!("no loss in {output:?}"))
}

/// Runs `input` on a new host (scheduler and cold local tier) over `global`: the output and the
/// host's local tier.
fn invoke(
    engine: &Engine,
    module: &Module,
    global: &Arc<dyn GlobalTier>,
    input: &str,
) -> (String, Arc<LocalTier>) {
    let local = Arc::new(LocalTier::new(global.clone()));
    let config = SchedulerConfig {
        workers: 2,
        default_timeout: Some(Duration::from_secs(600)),
        await_timeout: Some(Duration::from_secs(600)),
        ..SchedulerConfig::default()
    }
    .with_state(local.clone());
    let scheduler = Scheduler::with_config(engine, config).expect("a scheduler");
    let function = Function::prepare(module).expect("sgd links and initialises");
    scheduler.register("bench", "sgd", function);
    let result = scheduler
        .invoke(
            "bench",
            "sgd",
            CallRequest::with_input(input.as_bytes().to_vec()),
        )
        .expect("the call runs");
    let output = String::from_utf8_lossy(&result.output).into_owned();
    assert!(
        result.succeeded(),
        "sgd `{input}` failed: {:?} {output}",
        result.failure
    );
    (output, local)
}

/// The table of every run, and the N = 8 ratios per tier.
fn markdown(runs: &[Run], data: &str, repeats: u32) -> String {
    let mut table = format!(
        "SGD ({data}, 2 worker threads; median time and mean loss of {repeats} runs)\n\n\
         | tier | mode | N | time | sent to global tier | received from it | moved | loss |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for run in runs {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {:.1} ms | {:.2} MB | {:.2} MB | {:.2} MB | {:.4e} |",
            run.tier,
            run.mode,
            run.workers,
            run.time.as_secs_f64() * 1e3,
            run.sent as f64 / 1e6,
            run.received as f64 / 1e6,
            (run.sent + run.received) as f64 / 1e6,
            run.loss
        );
    }
    for tier in ["in-process", "redis"] {
        let find = |mode: &str| {
            runs.iter()
                .find(|run| run.tier == tier && run.mode == mode && run.workers == 8)
        };
        if let (Some(shared), Some(copy)) = (find("shared"), find("copy")) {
            let moved = |run: &Run| (run.sent + run.received) as f64;
            let _ = writeln!(
                table,
                "\n{tier}, N = 8: time shared/copy {:.2}, bytes moved {:.0}% fewer, loss \
                 shared/copy {:.3}",
                shared.time.as_secs_f64() / copy.time.as_secs_f64(),
                100.0 * (1.0 - moved(shared) / moved(copy)),
                shared.loss / copy.loss
            );
        }
    }
    table
}
