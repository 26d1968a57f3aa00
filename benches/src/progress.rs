//! The report command's progress bar on stderr, e.g.
//! `[=====>              ] 12/60 execute/sha256 ~3m left`: redrawn in place (`\r`) when stderr
//! is a terminal, one line per benchmark otherwise (a log, CI). The estimate is the mean time of
//! the benchmarks done so far times those left.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The bar's width inside the brackets.
const BAR_WIDTH: usize = 20;
/// The longest line drawn in place, so that it does not wrap on an 80-column terminal.
const MAX_LINE: usize = 79;

/// Progress through `total` benchmarks.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: usize,
    started: Instant,
    terminal: bool,
    drawn: usize,
}

impl Progress {
    /// A bar for `total` benchmarks, starting now.
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            drawn: 0,
        }
    }

    /// Shows that the benchmark `label` (e.g. `execute/sha256`) starts.
    pub fn start(&mut self, label: &str) {
        let line = self.line(label);
        if self.terminal {
            let line: String = line.chars().take(MAX_LINE).collect();
            let width = line.chars().count();
            let padding = self.drawn.saturating_sub(width);
            eprint!("\r{line}{:padding$}", "");
            let _ = std::io::stderr().flush();
            self.drawn = width;
        } else {
            eprintln!("report: {line}");
        }
    }

    /// Counts the benchmark started last as done.
    pub fn finish_one(&mut self) {
        self.done = (self.done + 1).min(self.total);
    }

    /// Ends the bar (on a terminal: a full bar and a newline).
    pub fn finish(&mut self) {
        if self.terminal {
            let elapsed = format_duration(self.started.elapsed());
            self.start(&format!("done in {elapsed}"));
            eprintln!();
        }
    }

    /// `[===>   ] N/TOTAL LABEL ~ETA left`, where `N` counts the benchmark starting.
    fn line(&self, label: &str) -> String {
        let current = (self.done + 1).min(self.total);
        let mut line = format!(
            "{} {current}/{} {label}",
            bar(self.done, self.total),
            self.total
        );
        if let Some(left) = self.estimate() {
            line.push_str(&format!(" ~{} left", format_duration(left)));
        }
        line
    }

    /// The time left, from the mean time of the benchmarks done (none before the first).
    fn estimate(&self) -> Option<Duration> {
        if self.done == 0 || self.done >= self.total {
            return None;
        }
        let per_benchmark = self.started.elapsed() / u32::try_from(self.done).ok()?;
        Some(per_benchmark * u32::try_from(self.total - self.done).ok()?)
    }
}

/// `[=====>     ]`: `done` of `total`, [`BAR_WIDTH`] wide.
fn bar(done: usize, total: usize) -> String {
    let filled = (done * BAR_WIDTH).checked_div(total).unwrap_or(BAR_WIDTH);
    let mut bar = String::from("[");
    bar.push_str(&"=".repeat(filled));
    if filled < BAR_WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    bar.push(']');
    bar
}

/// `45s`, `3m`, `1h05m`: a coarse duration for the estimate.
fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", (seconds + 30) / 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}
