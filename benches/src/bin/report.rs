//! `cargo run --release -p faasm-benches --bin report [GROUP...]`: a short run of the groups
//! (all, or those named), printed as a Markdown table and written to `target/bench-report.md`,
//! with a bar chart of the ratios in `target/bench-report.svg`; a progress bar on stderr meanwhile.
#![forbid(unsafe_code)]

use faasm_benches::chart;
use faasm_benches::progress::Progress;
use faasm_benches::report::{self, Row, Settings};
use faasm_benches::{groups, kernels};

/// The allocator `faasm-run` uses, so that allocation costs what it costs a host; both peers
/// run in this process and share it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    faasm_benches::proto::run_child_if_requested();
    faasm_benches::http::run_floor_if_requested();
    let only: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = only.iter().find(|group| !groups::is_group(group)) {
        eprintln!(
            "report: unknown group `{unknown}` (groups: {:?})",
            groups::GROUPS
        );
        std::process::exit(2);
    }
    eprintln!("report: building the kernels and compiling every module");
    let kernels = kernels::build_all();
    let mut benchmarks = groups::all(&kernels, &only);
    let mut progress = Progress::new(benchmarks.len());
    let mut rows: Vec<Row> = benchmarks
        .iter_mut()
        .map(|benchmark| {
            progress.start(&format!("{}/{}", benchmark.group, benchmark.name));
            let row = report::measure(benchmark, Settings::default());
            progress.finish_one();
            row
        })
        .collect();
    progress.finish();
    if only.is_empty() || only.iter().any(|group| group == "proto") {
        eprintln!("report: proto memory, density and churn (memory and density in children)");
        let functions = faasm_benches::proto::build_functions();
        rows.extend(faasm_benches::proto::value_rows(&functions));
        eprintln!("report: proto start-up, faasm-run hello.wasm from a warm cache");
        rows.extend(faasm_benches::startup::value_rows());
    }
    if only.is_empty() || only.iter().any(|group| group == "chain") {
        eprintln!("report: chain, no-op invocations per second through the scheduler");
        rows.extend(faasm_benches::chain::value_rows());
    }
    if only.is_empty() || only.iter().any(|group| group == "state") {
        eprintln!("report: state, push and pull on Redis next to redis-benchmark");
        rows.extend(faasm_benches::state::value_rows());
        rows.extend(faasm_benches::state_read::value_rows());
    }
    if only.is_empty() || only.iter().any(|group| group == "http") {
        eprintln!("report: http, faasm-run serve under wrk next to a minimal HTTP server");
        match faasm_benches::http::measure(faasm_benches::http::Settings::default()) {
            Ok(results) => rows.extend(faasm_benches::http::value_rows(&results)),
            Err(message) => eprintln!("report: http skipped: {message}"),
        }
    }
    if only.is_empty() || only.iter().any(|group| group == "cluster") {
        eprintln!("report: cluster, faasm-run serve --cluster hosts over one Redis");
        match faasm_benches::cluster::measure(faasm_benches::cluster::Settings::default()) {
            Ok(results) => rows.extend(faasm_benches::cluster::value_rows(&results)),
            Err(message) => eprintln!("report: cluster skipped: {message}"),
        }
    }
    if only.is_empty() || only.iter().any(|group| group == "python") {
        eprintln!("report: python, Python functions next to native python3.11");
        rows.extend(faasm_benches::python::value_rows());
    }
    // Value rows come after every timed row: put each group's rows together, in report order.
    rows.sort_by_key(|row| groups::GROUPS.iter().position(|group| *group == row.group));
    let table = report::markdown(&rows);
    print!("{table}");
    let path = faasm_benches::target_dir().join("bench-report.md");
    std::fs::write(&path, &table).expect("writing target/bench-report.md");
    eprintln!("report: wrote {}", path.display());
    let chart = faasm_benches::target_dir().join("bench-report.svg");
    std::fs::write(&chart, chart::svg(&rows)).expect("writing target/bench-report.svg");
    eprintln!("report: wrote {}", chart.display());
}
