//! The short run of the report command: a median per peer for every benchmark, and a
//! Markdown table with the ratio ours/wasmtime and a geometric mean per group.

use crate::{Benchmark, Measure, Peer};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// How long each peer's measurement of one benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Samples per measurement; the median is reported.
    pub samples: usize,
    /// The time one sample should take (iterations are chosen to fill it).
    pub sample_time: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            samples: 7,
            sample_time: Duration::from_millis(40),
        }
    }
}

/// The medians of one benchmark, per iteration.
#[derive(Debug, Clone)]
pub struct Row {
    /// The benchmark's group.
    pub group: &'static str,
    /// The benchmark's name.
    pub name: String,
    /// The median time of one iteration in seconds, per peer (finer than a [`Duration`]), or
    /// a value in `unit`.
    pub medians: BTreeMap<Peer, f64>,
    /// What the figures are: durations, or values with a unit.
    pub unit: Unit,
}

/// What a row's figures are. Only durations enter a group's geometric mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Seconds per iteration.
    #[default]
    Seconds,
    /// A count or a rate, printed with this unit (`KiB`, `Faaslets`, `calls/s`).
    Value(&'static str),
}

impl Unit {
    /// `value` in this unit: two decimals below 10, one below 1,000, then whole with thousands
    /// separated.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Seconds => format_seconds(value),
            Unit::Value(unit) if value.abs() >= 1000.0 => {
                format!("{} {unit}", crate::proto::thousands(value))
            }
            Unit::Value(unit) => {
                let decimals = if value.abs() < 10.0 { 2 } else { 1 };
                format!("{value:.decimals$} {unit}")
            }
        }
    }
}

impl Row {
    /// ours / wasmtime, when both ran.
    pub fn ratio(&self) -> Option<f64> {
        let ours = self.medians.get(&Peer::Ours)?;
        let wasmtime = self.medians.get(&Peer::Wasmtime)?;
        Some(ours / wasmtime)
    }
}

/// Measures every peer of `benchmark`. After one warm-up iteration each (which also sets the
/// iterations per sample), the peers' samples alternate, so that a burst of load on the shared
/// machine hits all of them rather than one; the median time per iteration is kept. Slow
/// benchmarks (over a second per iteration) get at most 3 samples.
pub fn measure(benchmark: &mut Benchmark, settings: Settings) -> Row {
    let mut plans: Vec<SamplePlan> = benchmark
        .measures
        .iter_mut()
        .map(|(peer, measure)| SamplePlan::calibrate(*peer, measure, settings))
        .collect();
    let samples = plans.iter().map(|plan| plan.samples).max().unwrap_or(0);
    for _ in 0..samples {
        for (plan, (_, measure)) in plans.iter_mut().zip(&mut benchmark.measures) {
            plan.sample(measure);
        }
    }
    Row {
        group: benchmark.group,
        name: benchmark.name.clone(),
        medians: plans
            .iter()
            .map(|plan| (plan.peer, plan.median()))
            .collect(),
        unit: Unit::Seconds,
    }
}

/// One peer's samples of a benchmark.
#[derive(Debug)]
struct SamplePlan {
    peer: Peer,
    iterations: u64,
    samples: usize,
    per_iteration: Vec<f64>,
}

impl SamplePlan {
    /// Runs one warm-up iteration and plans the samples from its time.
    fn calibrate(peer: Peer, measure: &mut Measure, settings: Settings) -> SamplePlan {
        let once = measure(1).max(Duration::from_nanos(1));
        let iterations = (settings.sample_time.as_nanos() / once.as_nanos()).clamp(1, 1_000_000);
        let samples = if once > Duration::from_secs(1) {
            settings.samples.min(3)
        } else {
            settings.samples
        };
        SamplePlan {
            peer,
            iterations: iterations as u64,
            samples: samples.max(1),
            per_iteration: Vec::new(),
        }
    }

    /// Takes one more sample unless all were taken.
    fn sample(&mut self, measure: &mut Measure) {
        if self.per_iteration.len() < self.samples {
            let total = measure(self.iterations);
            self.per_iteration
                .push(total.as_secs_f64() / self.iterations as f64);
        }
    }

    /// The median time per iteration, in seconds.
    fn median(&self) -> f64 {
        let mut sorted = self.per_iteration.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }
}

/// The geometric mean of `values` (`None` if empty).
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let log_sum: f64 = values.iter().map(|value| value.ln()).sum();
    Some((log_sum / values.len() as f64).exp())
}

/// A duration in seconds, with three significant digits and a fitting unit.
pub fn format_seconds(seconds: f64) -> String {
    let nanos = seconds * 1e9;
    let (value, unit) = match nanos {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {unit}")
}

/// The Markdown table: a row per benchmark, then a geomean row per group.
pub fn markdown(rows: &[Row]) -> String {
    let mut table = String::from(
        "| benchmark | ours | wasmtime | wasmi | native | ours/wasmtime |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let mut groups: Vec<&str> = rows.iter().map(|row| row.group).collect();
    groups.dedup();
    for group in groups {
        let in_group: Vec<&Row> = rows.iter().filter(|row| row.group == group).collect();
        for row in &in_group {
            table.push_str(&table_row(row));
        }
        let ratios: Vec<f64> = in_group
            .iter()
            .filter(|row| row.unit == Unit::Seconds)
            .filter_map(|row| row.ratio())
            .collect();
        if let Some(mean) = geomean(&ratios) {
            let _ = writeln!(table, "| **{group} geomean** | | | | | **{mean:.2}** |");
        }
        if let Some(mean) = geomean(&epoch_check_ratios(&in_group)) {
            let _ = writeln!(
                table,
                "| **{group} geomean, ours with epoch checks** | | | | | **{mean:.2}** |"
            );
        }
    }
    table
}

/// Suffix of the rows that run ours with epoch checks instead of a signal at the deadline.
pub const EPOCH_CHECKS: &str = " (epoch checks)";

/// For every row `X (epoch checks)` of a group: its time over Wasmtime's time in row `X`.
fn epoch_check_ratios(in_group: &[&Row]) -> Vec<f64> {
    in_group
        .iter()
        .filter_map(|row| {
            let plain = row.name.strip_suffix(EPOCH_CHECKS)?;
            let ours = row.medians.get(&Peer::Ours)?;
            let peer = in_group.iter().find(|other| other.name == plain)?;
            Some(ours / peer.medians.get(&Peer::Wasmtime)?)
        })
        .collect()
}

fn table_row(row: &Row) -> String {
    let mut line = format!("| {}/{} |", row.group, row.name);
    for peer in Peer::ALL {
        let cell = row.medians.get(&peer).map(|value| row.unit.format(*value));
        let _ = write!(line, " {} |", cell.unwrap_or_else(|| "–".into()));
    }
    let ratio = row.ratio().map(format_ratio);
    let _ = writeln!(line, " {} |", ratio.unwrap_or_else(|| "–".into()));
    line
}

/// A ratio with two decimals, or two significant digits below 0.01 (`0.0016`), so that a
/// thousandfold difference does not print as `0.00`.
fn format_ratio(ratio: f64) -> String {
    let decimals = if ratio > 0.0 && ratio < 0.01 {
        (1.0 - ratio.log10().floor()).min(12.0) as usize
    } else {
        2
    };
    format!("{ratio:.decimals$}")
}
