//! The `chain` group (issue 7): the in-process scheduler of the root package
//! ([`faasm::scheduler`]) with two WAT guests on the Faasm `env` interface. `noop` does
//! nothing; `chainer` reads a count `n` (4 bytes, little-endian) with `__faasm_read_input`
//! and then, `n` times, chains `noop` by name (`__faasm_chain_name`) and awaits it
//! (`__faasm_await_call`), trapping if the await does not return 0.
//!
//! Timings ([`timing`]) are [`Benchmark`]s (also in the criterion suite): a chain + await round
//! trip, per round trip (the chainer runs up to [`TRIPS_PER_INVOCATION`] of them per
//! invocation, so the invocation's own cost is spread over them), under both settings of
//! [`SchedulerConfig::inline_awaits`]:
//!
//! - *inline awaits* (`true`, the default): the awaiting thread takes the callee off the queue
//!   and runs it itself, nested in the await, unless another worker took it first. On a
//!   one-worker pool nobody else can, so every callee runs inline; on two workers the idle
//!   worker, woken by the chain, sometimes wins the race and the await waits for it.
//! - *no inline awaits* (`false`): the awaiting call gives its permit back and sleeps until the
//!   other worker has run the callee (a hand-off between threads each way).
//!
//! And the latency of one no-op invocation from outside (`invoke`: submit and wait).
//!
//! [`value_rows`] has the throughput: no-op invocations per second on a two-worker pool, the
//! caller submitting [`THROUGHPUT_CALLS`] calls and then waiting for all of them.
//!
//! Wasmtime has no scheduler, so these rows have no peer, no ratio, and take no part in any
//! geometric mean.

use crate::report::{Row, Unit};
use crate::{Benchmark, Measure, Peer};
use faasm_runtime::{Engine, Module};
use faasm_scheduler::{CallHandle, CallRequest, Function, Scheduler, SchedulerConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The user both functions are registered under (chaining stays within a user).
const USER: &str = "bench";
/// The chained function's name.
const NOOP: &str = "noop";
/// The chaining function's name.
const CHAINER: &str = "chainer";
/// Round trips one invocation of the chainer makes at most: the results of a whole
/// invocation's calls are kept until it ends, so a sample is split into invocations this long.
pub const TRIPS_PER_INVOCATION: u64 = 1_000;
/// Calls submitted before waiting for them, in the throughput figure.
pub const THROUGHPUT_CALLS: usize = 100_000;
/// Measured rounds of the throughput figure (after one warm-up round); the median is kept.
pub const THROUGHPUT_ROUNDS: usize = 5;

/// A `_start` that does nothing, with a one-page memory (as every Faasm function has one).
const NOOP_WAT: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

/// Reads the count `n` and makes `n` chain + await round trips of `noop`.
const CHAINER_WAT: &str = r#"
(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_await_call" (func $await (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "noop\00")
  (func (export "_start") (local $n i32)
    (if (i32.ne (call $read (i32.const 0) (i32.const 4)) (i32.const 4)) (then unreachable))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (if (call $await (call $chain (i32.const 16) (i32.const 0) (i32.const 0)))
          (then unreachable))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))))
"#;

/// The two functions, compiled and prepared (Proto-Faaslets) once.
struct Functions {
    engine: Engine,
    noop: Function,
    chainer: Function,
}

impl Functions {
    fn new() -> Functions {
        let engine = Engine::default();
        let prepare = |text: &str| {
            let wasm = wat::parse_str(text).expect("a valid module");
            let module = Module::new(&engine, &wasm).expect("our engine compiles it");
            Function::prepare(&module).expect("the host interface links it")
        };
        let noop = prepare(NOOP_WAT);
        let chainer = prepare(CHAINER_WAT);
        Functions {
            engine,
            noop,
            chainer,
        }
    }

    /// A scheduler with `workers` workers and `inline_awaits`, both functions registered.
    fn scheduler(&self, workers: usize, inline_awaits: bool) -> Scheduler {
        let config = SchedulerConfig {
            workers,
            inline_awaits,
            ..SchedulerConfig::default()
        };
        let scheduler = Scheduler::with_config(&self.engine, config).expect("starts its workers");
        scheduler.register(USER, NOOP, self.noop.clone());
        scheduler.register(USER, CHAINER, self.chainer.clone());
        scheduler
    }
}

/// Panics with the call's failure unless it succeeded.
fn check(result: &faasm_scheduler::CallResult, what: &str) {
    assert!(
        result.succeeded(),
        "{what} failed: {:?} (stderr: {})",
        result.failure,
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `iterations` chain + await round trips, [`TRIPS_PER_INVOCATION`] per invocation of the
/// chainer at most; the time of all of them.
fn round_trips(scheduler: &Scheduler, iterations: u64) -> Duration {
    let started = Instant::now();
    let mut left = iterations;
    while left > 0 {
        let trips = left.min(TRIPS_PER_INVOCATION);
        let input = u32::try_from(trips).expect("a small count").to_le_bytes();
        let result = scheduler
            .invoke(USER, CHAINER, CallRequest::with_input(input))
            .expect("the chainer is registered");
        check(&result, "the chainer");
        left -= trips;
    }
    started.elapsed()
}

fn round_trip_measure(functions: &Functions, workers: usize, inline_awaits: bool) -> Measure {
    let scheduler = functions.scheduler(workers, inline_awaits);
    Box::new(move |iterations| round_trips(&scheduler, iterations))
}

fn invoke_measure(functions: &Functions) -> Measure {
    let scheduler = functions.scheduler(2, true);
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            let result = scheduler
                .invoke(USER, NOOP, CallRequest::default())
                .expect("noop is registered");
            check(&result, "noop");
        }
        started.elapsed()
    })
}

/// The timed benchmarks of the group (ours only): the chain + await round trip with inline
/// awaits on one and on two workers, without inline awaits on two, and one no-op `invoke`.
pub fn timing() -> Vec<Benchmark> {
    let functions = Functions::new();
    let cases = [
        (
            "chain + await round trip, inline awaits, 1 worker (callee always runs in the await)",
            1,
            true,
        ),
        (
            "chain + await round trip, inline awaits, 2 workers (callee in the await unless the idle worker takes it first)",
            2,
            true,
        ),
        (
            "chain + await round trip, no inline awaits, 2 workers (callee on the other worker)",
            2,
            false,
        ),
    ];
    let mut benchmarks: Vec<Benchmark> = cases
        .into_iter()
        .map(|(name, workers, inline_awaits)| Benchmark {
            group: "chain",
            name: name.to_string(),
            measures: vec![(
                Peer::Ours,
                round_trip_measure(&functions, workers, inline_awaits),
            )],
        })
        .collect();
    benchmarks.push(Benchmark {
        group: "chain",
        name: "invoke a no-op function (submit + wait, one at a time), 2 workers".to_string(),
        measures: vec![(Peer::Ours, invoke_measure(&functions))],
    });
    benchmarks
}

/// Submits `calls` no-op calls, then waits for all of them; calls per second.
fn throughput_round(scheduler: &Scheduler, calls: usize) -> f64 {
    let started = Instant::now();
    let handles: Vec<CallHandle> = (0..calls)
        .map(|_| {
            scheduler
                .submit(USER, NOOP, CallRequest::default())
                .expect("noop is registered")
        })
        .collect();
    for handle in handles {
        check(&handle.wait(), "noop");
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// The group's rows that are not durations: no-op invocations per second through a two-worker
/// scheduler (inline awaits, the default), [`THROUGHPUT_CALLS`] submitted and then awaited, the
/// median of [`THROUGHPUT_ROUNDS`] rounds after a warm-up round.
pub fn value_rows() -> Vec<Row> {
    let functions = Functions::new();
    let scheduler = functions.scheduler(2, true);
    throughput_round(&scheduler, THROUGHPUT_CALLS / 10);
    let mut rates: Vec<f64> = (0..THROUGHPUT_ROUNDS)
        .map(|_| throughput_round(&scheduler, THROUGHPUT_CALLS))
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    vec![Row {
        group: "chain",
        name: format!(
            "no-op invocations per second, 2 workers ({} submitted, then all awaited; median of {THROUGHPUT_ROUNDS})",
            crate::proto::thousands(THROUGHPUT_CALLS as f64)
        ),
        medians: BTreeMap::from([(Peer::Ours, median)]),
        unit: Unit::Value("calls/s"),
    }]
}
