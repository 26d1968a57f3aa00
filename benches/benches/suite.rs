//! The criterion suite: `cargo bench -p faasm-benches [FILTER]`. Every benchmark of every group,
//! one criterion id per peer (`GROUP/PEER/NAME`), timed with `iter_custom` so that only the
//! measured region counts.
#![forbid(unsafe_code)]

use criterion::{BenchmarkId, Criterion};
use faasm_benches::{groups, kernels};
use std::time::Duration;

fn main() {
    let kernels = kernels::build_all();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for mut benchmark in groups::all(&kernels, &[]) {
        let mut group = criterion.benchmark_group(benchmark.group);
        for (peer, measure) in &mut benchmark.measures {
            let id = BenchmarkId::new(peer.name(), &benchmark.name);
            group.bench_function(id, |bencher| bencher.iter_custom(&mut *measure));
        }
        group.finish();
    }
    criterion.final_summary();
}
