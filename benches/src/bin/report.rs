//! `cargo run --release -p faasm-benches --bin report [GROUP...]`: a short run of the groups
//! (all, or those named), printed as a Markdown table and written to `target/bench-report.md`.
#![forbid(unsafe_code)]

use faasm_benches::report::{self, Row, Settings};
use faasm_benches::{groups, kernels};

fn main() {
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
    let total = benchmarks.len();
    let rows: Vec<Row> = benchmarks
        .iter_mut()
        .enumerate()
        .map(|(index, benchmark)| {
            eprintln!(
                "report: [{}/{total}] {}/{}",
                index + 1,
                benchmark.group,
                benchmark.name
            );
            report::measure(benchmark, Settings::default())
        })
        .collect();
    let table = report::markdown(&rows);
    print!("{table}");
    let path = faasm_benches::target_dir().join("bench-report.md");
    std::fs::write(&path, &table).expect("writing target/bench-report.md");
    eprintln!("report: wrote {}", path.display());
}
