//! The host's metrics in Prometheus's text format (`GET /metrics`): calls by function and
//! outcome, call latency, cold and warm starts, calls in flight and asynchronous calls running,
//! scheduler threads, Faaslets alive, resident state values, uploads.
//!
//! A *cold* start is the first call of a function on this host since it started (or since a
//! flush): the function is loaded from the store and its Proto-Faaslet mapped; a *warm* one
//! runs a function the host holds already.

use faasm_scheduler::FunctionId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned 0.
    Success,
    /// Returned (or exited with) another value.
    NonZero,
    /// Trapped.
    Trap,
    /// Ran past its timeout.
    Timeout,
    /// Could not start.
    Error,
}

impl CallOutcome {
    fn label(self) -> &'static str {
        match self {
            CallOutcome::Success => "success",
            CallOutcome::NonZero => "nonzero",
            CallOutcome::Trap => "trap",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    user: String,
    function: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabels {
    start: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UploadLabels {
    outcome: String,
}

/// What the gauges show, read when the metrics are asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readings {
    /// Calls admitted and not ended.
    pub in_flight: usize,
    /// Asynchronous calls not ended.
    pub asynchronous: usize,
    /// The scheduler's threads.
    pub threads: usize,
    /// Faaslets alive.
    pub faaslets: usize,
    /// State values resident in the local tier.
    pub state_values: usize,
}

/// The host's counters, histograms and gauges.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    latency: Histogram,
    starts: Family<StartLabels, Counter>,
    uploads: Family<UploadLabels, Counter>,
    in_flight: Gauge,
    asynchronous: Gauge,
    threads: Gauge,
    faaslets: Gauge,
    state_values: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("faasm");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Calls that ended, by function and outcome",
            calls.clone(),
        );
        // 100 µs to about 105 s.
        let latency = Histogram::new(exponential_buckets(0.0001, 4.0, 11));
        registry.register(
            "call_duration_seconds",
            "Time from admission to the end of a call",
            latency.clone(),
        );
        let starts = Family::<StartLabels, Counter>::default();
        registry.register(
            "starts",
            "Calls by start: cold (first call of the function on this host) or warm",
            starts.clone(),
        );
        let uploads = Family::<UploadLabels, Counter>::default();
        registry.register("uploads", "Uploads by outcome", uploads.clone());
        let in_flight = Gauge::default();
        registry.register(
            "calls_in_flight",
            "Calls admitted and not ended (queued or running)",
            in_flight.clone(),
        );
        let asynchronous = Gauge::default();
        registry.register(
            "async_calls_running",
            "Asynchronous calls not ended",
            asynchronous.clone(),
        );
        let threads = Gauge::default();
        registry.register(
            "scheduler_threads",
            "Threads of the scheduler's pool (each runs one Faaslet at a time)",
            threads.clone(),
        );
        let faaslets = Gauge::default();
        registry.register(
            "faaslets_alive",
            "Faaslets alive: running a call, or idle and kept for the next",
            faaslets.clone(),
        );
        let state_values = Gauge::default();
        registry.register(
            "state_values_resident",
            "State values held by the host's local tier",
            state_values.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            calls,
            latency,
            starts,
            uploads,
            in_flight,
            asynchronous,
            threads,
            faaslets,
            state_values,
        }
    }

    /// Counts a call of `id` that ended with `outcome` after `elapsed`.
    pub fn call(&self, id: &FunctionId, outcome: CallOutcome, cold: bool, elapsed: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                user: id.user.clone(),
                function: id.function.clone(),
                outcome: outcome.label().to_string(),
            })
            .inc();
        self.latency.observe(elapsed.as_secs_f64());
        let start = if cold { "cold" } else { "warm" };
        self.starts
            .get_or_create(&StartLabels {
                start: start.to_string(),
            })
            .inc();
    }

    /// Counts an upload.
    pub fn upload(&self, succeeded: bool) {
        let outcome = if succeeded { "success" } else { "error" };
        self.uploads
            .get_or_create(&UploadLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text format, with the gauges set to these readings.
    pub fn render(&self, readings: &Readings) -> String {
        self.in_flight.set(gauge_value(readings.in_flight));
        self.asynchronous.set(gauge_value(readings.asynchronous));
        self.threads.set(gauge_value(readings.threads));
        self.faaslets.set(gauge_value(readings.faaslets));
        self.state_values.set(gauge_value(readings.state_values));
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
