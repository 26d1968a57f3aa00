//! The in-process scheduler with WAT guests: entry points, results and failures, chaining by
//! name and by table index, the 100-call fan-out on two workers (each callee awaiting its own
//! callee), timeouts of calls and of awaits, reset between calls, and concurrent invokers.

use faasm_runtime::{Engine, Module, Trap, TrapCode};
use faasm_scheduler::{
    CallRequest, CallResult, ChainLimits, ChainPlacement, Failure, Function, FunctionSource,
    Scheduler, SchedulerConfig, SchedulerError, SendCall, StateLimits,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "demo";

#[path = "chain_guests/mod.rs"]
mod chain_guests;

use chain_guests::{CHAIN, IO, MALLOC, child_wat, fanout_wat, leaf_wat, parent_wat};

/// Entries in a table the module does not export (as clang and rustc leave it): 1 returns 7; 2 squares its integer input and outputs it with
/// `__faasm_get_idx`; 3 chains entry 2 of itself with input "12" and passes its output on.
fn table_wat() -> String {
    format!(
        r#"(module {IO}
            (import "env" "__faasm_chain_ptr" (func $chain_ptr (param i32 i32 i32) (result i32)))
            (import "env" "__faasm_await_call_output"
              (func $await_out (param i32 i32 i32) (result i32)))
            (import "env" "__faasm_get_idx" (func $idx (result i32)))
            (memory (export "memory") 2)
            (table 4 funcref)
            (elem (i32.const 1) $seven $square $parent)
            (data (i32.const 200) "12")
            {MALLOC}
            (func $seven (result i32) (i32.const 7))
            (func $square (param $x i32) (result i32)
              (i32.store (i32.const 0) (i32.mul (local.get $x) (local.get $x)))
              (i32.store (i32.const 4) (call $idx))
              (call $write (i32.const 0) (i32.const 8))
              (i32.const 0))
            (func $parent (result i32)
              (drop (call $await_out
                (call $chain_ptr (i32.const 2) (i32.const 200) (i32.const 2))
                (i32.const 8) (i32.const 12)))
              (call $write (i32.load (i32.const 8)) (i32.load (i32.const 12)))
              (i32.const 0)))"#
    )
}

const TRAPPER: &str = r#"(module (func (export "_start") unreachable))"#;
const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;
/// `sleeper`: sleeps 3 s in `poll_oneoff` (one relative monotonic clock subscription).
const SLEEPER: &str = r#"(module
    (import "wasi_snapshot_preview1" "poll_oneoff"
      (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "\01\00\00\00")
    (data (i32.const 24) "\00\5e\d0\b2\00\00\00\00")
    (func (export "_start")
      (if (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
        (then unreachable))))"#;
const EXIT3: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (func (export "_start") (call $exit (i32.const 3))))"#;

/// `hello`: prints "hello\n" on stdout and outputs argc (4 bytes).
const HELLO: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 64) "hello\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 6))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
      (drop (call $sizes (i32.const 32) (i32.const 36)))
      (call $write (i32.const 32) (i32.const 4))))"#;

/// `counter`: a global bumped by every call, output as 4 bytes (always 1: calls are reset).
const COUNTER: &str = r#"(module
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "_start")
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i32.store (i32.const 0) (global.get $n))
      (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
      (call $write (i32.const 0) (i32.const 8))))"#;

/// `bad_chain`: chains a function that does not exist.
fn bad_chain_wat() -> String {
    format!(
        r#"(module {CHAIN}
            (memory (export "memory") 1)
            (data (i32.const 0) "nope\00")
            (func (export "_start")
              (drop (call $chain (i32.const 0) (i32.const 0) (i32.const 0)))))"#
    )
}

fn config(workers: usize) -> SchedulerConfig {
    SchedulerConfig {
        workers,
        ..SchedulerConfig::default()
    }
}

fn function(engine: &Engine, wat: &str) -> Function {
    let module = Module::new(engine, &wat::parse_str(wat).unwrap()).unwrap();
    Function::prepare(&module).unwrap()
}

/// A scheduler with every test function registered for [`USER`].
fn scheduler(config: SchedulerConfig) -> Scheduler {
    let engine = Engine::default();
    let scheduler = Scheduler::with_config(&engine, config).unwrap();
    let functions = [
        ("leaf", leaf_wat()),
        ("child", child_wat()),
        ("fanout", fanout_wat(100)),
        ("parent", parent_wat()),
        ("table", table_wat()),
        ("trapper", TRAPPER.to_string()),
        ("spin", SPIN.to_string()),
        ("sleeper", SLEEPER.to_string()),
        ("exit3", EXIT3.to_string()),
        ("hello", HELLO.to_string()),
        ("counter", COUNTER.to_string()),
        ("bad_chain", bad_chain_wat()),
    ];
    for (name, wat) in functions {
        scheduler.register(USER, name, function(&engine, &wat));
    }
    scheduler
}

fn invoke(scheduler: &Scheduler, name: &str, request: CallRequest) -> CallResult {
    scheduler.invoke(USER, name, request).unwrap()
}

fn int_output(result: &CallResult) -> i32 {
    i32::from_le_bytes(result.output[..4].try_into().unwrap())
}

/// Waits until the results of finished invocations are dropped.
fn assert_no_results_left(scheduler: &Scheduler) {
    let start = Instant::now();
    while scheduler.tracked_calls() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} results kept",
            scheduler.tracked_calls()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fan_out_on_two_workers(config: SchedulerConfig) -> Scheduler {
    let scheduler = scheduler(config);
    let start = Instant::now();
    let result = invoke(&scheduler, "fanout", CallRequest::default());
    assert_eq!(result.failure, None, "{result:?}");
    assert_eq!(result.return_value, 0);
    // Σ 2 (i + 1) for i in 0..100.
    assert_eq!(int_output(&result), 10_100);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_no_results_left(&scheduler);
    scheduler
}

#[test]
fn fan_out_of_100_awaiting_calls_completes_on_two_workers() {
    let scheduler = fan_out_on_two_workers(config(2));
    assert!(scheduler.peak_thread_count() <= scheduler.config().max_threads);
}

#[test]
fn fan_out_completes_with_threads_standing_in_for_awaiting_calls() {
    // No inline runs: every await gives its permit back and the pool grows instead.
    let scheduler = fan_out_on_two_workers(SchedulerConfig {
        inline_awaits: false,
        max_threads: 400,
        ..config(2)
    });
    let peak = scheduler.peak_thread_count();
    assert!(peak > 2 && peak <= 400, "{peak} threads");
}

#[test]
fn fan_out_completes_on_two_threads_when_awaits_run_callees_inline() {
    // With inline runs, awaits whose callee has not started run it themselves: a pool that
    // may not grow at all still completes.
    let scheduler = fan_out_on_two_workers(SchedulerConfig {
        max_threads: 2,
        ..config(2)
    });
    assert_eq!(scheduler.peak_thread_count(), 2);
}

#[test]
fn start_returns_output_stdout_and_arguments() {
    let scheduler = scheduler(config(2));
    let result = invoke(
        &scheduler,
        "hello",
        CallRequest {
            cmdline: "a b  c".to_string(),
            ..CallRequest::default()
        },
    );
    assert!(result.succeeded(), "{result:?}");
    assert_eq!(result.stdout, b"hello\n");
    // argv: the function's name, then the command line.
    assert_eq!(int_output(&result), 4);

    let result = invoke(
        &scheduler,
        "leaf",
        CallRequest::with_input(41i32.to_le_bytes()),
    );
    assert!(result.succeeded());
    assert_eq!(int_output(&result), 42);
}

#[test]
fn every_call_starts_from_the_snapshot() {
    let scheduler = scheduler(config(2));
    for _ in 0..5 {
        let result = invoke(&scheduler, "counter", CallRequest::default());
        assert_eq!(result.output, [1, 0, 0, 0, 1, 0, 0, 0]);
    }
}

#[test]
fn traps_exits_and_non_zero_returns_are_failures_with_reasons() {
    let scheduler = scheduler(config(2));
    let trapped = invoke(&scheduler, "trapper", CallRequest::default());
    assert_eq!(trapped.return_value, 1);
    match &trapped.failure {
        Some(Failure::Trap { trap, .. }) => {
            assert_eq!(*trap, Trap::Wasm(TrapCode::UnreachableCodeReached));
        }
        other => panic!("{other:?}"),
    }
    assert!(trapped.failure.unwrap().to_string().contains("unreachable"));

    let exited = invoke(&scheduler, "exit3", CallRequest::default());
    assert_eq!(exited.return_value, 3);
    assert_eq!(exited.failure, Some(Failure::Exit(3)));

    let seven = invoke(
        &scheduler,
        "table",
        CallRequest {
            func_ptr: 1,
            ..CallRequest::default()
        },
    );
    assert_eq!(seven.return_value, 7);
    assert_eq!(seven.failure, Some(Failure::NonZero(7)));

    let bad_chain = invoke(&scheduler, "bad_chain", CallRequest::default());
    let reason = bad_chain.failure.unwrap().to_string();
    assert!(reason.contains("__faasm_chain_name"), "{reason}");
    assert!(reason.contains("no function `demo/nope`"), "{reason}");
}

#[test]
fn failures_reach_the_awaiting_caller() {
    let scheduler = scheduler(config(2));
    let result = invoke(&scheduler, "parent", CallRequest::with_input("trapper\0"));
    assert_eq!(result.return_value, 1);
    assert_eq!(result.failure, Some(Failure::NonZero(1)));
    let result = invoke(&scheduler, "parent", CallRequest::with_input("exit3\0"));
    assert_eq!(result.return_value, 3);
    let result = invoke(&scheduler, "parent", CallRequest::with_input("hello\0"));
    assert!(result.succeeded(), "{result:?}");
    assert_eq!(int_output(&result), 1);
}

#[test]
fn function_pointers_take_the_input_as_an_integer() {
    let scheduler = scheduler(config(2));
    let call = |func_ptr: i32, input: &str| {
        invoke(
            &scheduler,
            "table",
            CallRequest {
                func_ptr,
                input: input.as_bytes().to_vec(),
                ..CallRequest::default()
            },
        )
    };
    let squared = call(2, "9");
    assert!(squared.succeeded(), "{squared:?}");
    assert_eq!(squared.output, [81, 0, 0, 0, 2, 0, 0, 0]);
    // Entry 3 chains entry 2 of the same function (`__faasm_chain_ptr`).
    let chained = call(3, "");
    assert!(chained.succeeded(), "{chained:?}");
    assert_eq!(chained.output, [144, 0, 0, 0, 2, 0, 0, 0]);

    let reason = |result: CallResult| match result.failure {
        Some(Failure::Setup(reason)) => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason(call(2, "x")).contains("not one"));
    assert!(reason(call(9, "")).contains("outside the table"));
    assert!(reason(call(0, "")).contains("`_start`"));
}

#[test]
fn a_runaway_call_times_out_and_the_worker_lives_on() {
    let scheduler = scheduler(config(1));
    let start = Instant::now();
    let result = invoke(
        &scheduler,
        "spin",
        CallRequest {
            timeout: Some(Duration::from_millis(100)),
            ..CallRequest::default()
        },
    );
    assert_eq!(
        result.failure,
        Some(Failure::Timeout(Duration::from_millis(100)))
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(result.failure.unwrap().to_string().contains("timed out"));
    // The default timeout applies when the request has none.
    let scheduler_default = self::scheduler(SchedulerConfig {
        default_timeout: Some(Duration::from_millis(50)),
        ..config(1)
    });
    let result = invoke(&scheduler_default, "spin", CallRequest::default());
    assert!(matches!(result.failure, Some(Failure::Timeout(_))));
    // The same single worker runs the next call.
    let result = invoke(
        &scheduler,
        "leaf",
        CallRequest::with_input(1i32.to_le_bytes()),
    );
    assert_eq!(int_output(&result), 2);
}

#[test]
fn calls_asleep_in_host_calls_leave_their_workers_to_other_calls() {
    let scheduler = scheduler(config(2));
    let start = Instant::now();
    let sleepers: Vec<_> = (0..3)
        .map(|_| {
            scheduler
                .submit(USER, "sleeper", CallRequest::default())
                .unwrap()
        })
        .collect();
    // Queued behind three 3 s sleeps on two workers, a no-op call still runs at once.
    let result = invoke(
        &scheduler,
        "leaf",
        CallRequest::with_input(1i32.to_le_bytes()),
    );
    let no_op_took = start.elapsed();
    assert_eq!(int_output(&result), 2);
    assert!(no_op_took < Duration::from_secs(2), "took {no_op_took:?}");
    for sleeper in sleepers {
        let result = sleeper.wait();
        assert!(result.succeeded(), "{:?}", result.failure);
    }
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert!(scheduler.wait_idle(Some(Duration::from_secs(10))));
}

#[test]
fn a_call_submitted_while_every_thread_sleeps_runs_at_once() {
    let scheduler = scheduler(config(1));
    let sleeper = scheduler
        .submit(USER, "sleeper", CallRequest::default())
        .unwrap();
    // Let the one worker reach the sleep (giving its permit back) before the next call comes:
    // no thread is then idle to take it, though a permit is free.
    std::thread::sleep(Duration::from_millis(500));
    let result = invoke(
        &scheduler,
        "leaf",
        CallRequest::with_input(1i32.to_le_bytes()),
    );
    assert_eq!(int_output(&result), 2);
    assert!(
        sleeper.wait_timeout(Duration::ZERO).is_none(),
        "the call ran only once the sleeping call had ended"
    );
    assert!(sleeper.wait().succeeded());
}

#[test]
fn a_call_asleep_in_a_host_call_times_out() {
    let scheduler = scheduler(config(1));
    let start = Instant::now();
    let result = invoke(
        &scheduler,
        "sleeper",
        CallRequest {
            timeout: Some(Duration::from_millis(300)),
            ..CallRequest::default()
        },
    );
    assert_eq!(
        result.failure,
        Some(Failure::Timeout(Duration::from_millis(300)))
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_timeout_past_the_clock_is_no_deadline() {
    let scheduler = scheduler(config(1));
    let huge = CallRequest {
        timeout: Some(Duration::MAX),
        ..CallRequest::with_input(1i32.to_le_bytes())
    };
    let result = invoke(&scheduler, "child", huge.clone());
    assert!(result.succeeded(), "{:?}", result.failure);
    assert_eq!(int_output(&result), 4);
    let handle = scheduler.submit(USER, "leaf", huge).unwrap();
    assert!(handle.wait_timeout(Duration::MAX).is_some());
    assert!(scheduler.wait_idle(Some(Duration::MAX)));
}

#[test]
fn an_await_has_its_own_timeout() {
    for inline_awaits in [true, false] {
        let scheduler = scheduler(SchedulerConfig {
            await_timeout: Some(Duration::from_millis(100)),
            default_timeout: Some(Duration::from_secs(1)),
            inline_awaits,
            ..config(2)
        });
        let start = Instant::now();
        let result = invoke(&scheduler, "parent", CallRequest::with_input("spin\0"));
        assert_eq!(result.return_value, 1, "inline {inline_awaits}: {result:?}");
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "inline {inline_awaits}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn an_await_ends_when_its_caller_times_out() {
    let scheduler = scheduler(SchedulerConfig {
        await_timeout: None,
        default_timeout: Some(Duration::from_secs(1)),
        inline_awaits: false,
        ..config(2)
    });
    let start = Instant::now();
    let result = invoke(
        &scheduler,
        "parent",
        CallRequest {
            input: b"spin\0".to_vec(),
            timeout: Some(Duration::from_millis(200)),
            ..CallRequest::default()
        },
    );
    assert!(result.failure.is_some(), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn concurrent_invokers_share_the_pool() {
    let scheduler = Arc::new(scheduler(config(2)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let scheduler = Arc::clone(&scheduler);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let x: i32 = t * 1000 + i;
                    let result = invoke(
                        &scheduler,
                        "child",
                        CallRequest::with_input(x.to_le_bytes()),
                    );
                    assert!(result.succeeded(), "{result:?}");
                    assert_eq!(int_output(&result), 2 * (x + 1));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_no_results_left(&scheduler);
}

#[test]
fn submitted_calls_can_be_waited_for_later() {
    let scheduler = scheduler(config(2));
    let handles: Vec<_> = (0..20)
        .map(|i: i32| {
            scheduler
                .submit(USER, "leaf", CallRequest::with_input(i.to_le_bytes()))
                .unwrap()
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let id = handle.id();
        let result = handle.wait();
        assert_eq!(result.id, id);
        assert_eq!(int_output(&result), i as i32 + 1);
    }
}

#[test]
fn results_reach_callbacks_without_a_waiting_thread() {
    let scheduler = scheduler(config(2));
    let (sender, receiver) = std::sync::mpsc::channel();
    for i in 0..20i32 {
        let handle = scheduler
            .submit(USER, "leaf", CallRequest::with_input(i.to_le_bytes()))
            .unwrap();
        let id = handle.id();
        let sender = sender.clone();
        handle.on_done(move |result| sender.send((i, id, result)).unwrap());
    }
    // A callback given after the call ended runs at once, on the caller's thread.
    let ended = scheduler
        .submit(USER, "leaf", CallRequest::with_input(100i32.to_le_bytes()))
        .unwrap();
    assert!(ended.wait_timeout(Duration::from_secs(10)).is_some());
    let caller = std::thread::current().id();
    let ran_on = Arc::new(Mutex::new(None));
    let ran_on_clone = Arc::clone(&ran_on);
    ended.on_done(move |result| {
        assert_eq!(int_output(&result), 101);
        *ran_on_clone.lock().unwrap() = Some(std::thread::current().id());
    });
    assert_eq!(*ran_on.lock().unwrap(), Some(caller));
    drop(sender);
    let mut seen: Vec<i32> = receiver
        .iter()
        .map(|(i, id, result)| {
            assert_eq!(result.id, id);
            assert_eq!(int_output(&result), i + 1);
            i
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert_no_results_left(&scheduler);
}

/// `stat`: outputs the errno of `path_filestat_get(3, "f.txt")`, fd 3 being its preopen.
const STAT: &str = r#"(module
    (import "wasi_snapshot_preview1" "path_filestat_get"
      (func $stat (param i32 i32 i32 i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "f.txt")
    (func (export "_start")
      (i32.store (i32.const 0)
        (call $stat (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 200)))
      (call $write (i32.const 0) (i32.const 4))))"#;

#[test]
fn a_preopen_missing_at_a_call_fails_it_and_is_opened_by_a_later_one() {
    let dir = std::env::temp_dir().join(format!("faasm-sched-preopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scheduler = Scheduler::new(&Engine::default(), 1).unwrap();
    let stat = function(scheduler.engine(), STAT).preopen_dir(&dir, "/data");
    scheduler.register(USER, "stat", stat);
    let result = invoke(&scheduler, "stat", CallRequest::default());
    let failure = result.failure.map(|f| f.to_string()).unwrap_or_default();
    assert!(failure.contains("cannot preopen"), "{failure}");
    // The failure was not kept: once the directory exists, calls open it (once) and see it.
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f.txt"), b"x").unwrap();
    for _ in 0..3 {
        let result = invoke(&scheduler, "stat", CallRequest::default());
        assert!(result.succeeded(), "{:?}", result.failure);
        assert_eq!(int_output(&result), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sends the chained calls of `user/leaf` and of `user/table` "elsewhere": a thread that
/// answers after 5 ms with what `answer` makes of the request, as another host would.
struct FakeCluster {
    sent: Mutex<Vec<(String, i32, Vec<u8>)>>,
    answer: fn(&CallRequest) -> CallResult,
}

struct FakeSend {
    function: String,
    cluster: Arc<FakeCluster>,
}

struct FakePlacement(Arc<FakeCluster>);

impl ChainPlacement for FakePlacement {
    fn elsewhere(&self, user: &str, function: &str) -> Option<Box<dyn SendCall>> {
        assert_eq!(user, USER);
        (function == "leaf" || function == "table").then(|| {
            Box::new(FakeSend {
                function: function.to_owned(),
                cluster: Arc::clone(&self.0),
            }) as Box<dyn SendCall>
        })
    }
}

impl SendCall for FakeSend {
    fn send(self: Box<Self>, request: CallRequest, done: Box<dyn FnOnce(CallResult) + Send>) {
        let entry = (
            self.function.clone(),
            request.func_ptr,
            request.input.clone(),
        );
        self.cluster.sent.lock().unwrap().push(entry);
        let result = (self.cluster.answer)(&request);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            done(result);
        });
    }
}

#[test]
fn chained_calls_sent_elsewhere_are_awaited_as_local_ones() {
    let scheduler = scheduler(config(2));
    let cluster = Arc::new(FakeCluster {
        sent: Mutex::default(),
        answer: |request| {
            let n = request
                .input
                .get(..4)
                .map_or(0, |b| i32::from_le_bytes(b.try_into().unwrap()));
            CallResult {
                // An id of another host's numbering: the scheduler gives its own.
                id: 999_999,
                output: (n + 100).to_le_bytes().to_vec(),
                ..CallResult::default()
            }
        },
    });
    scheduler.set_chain_placement(Arc::new(FakePlacement(Arc::clone(&cluster))));
    // `child` chains `leaf` by name and doubles its output: leaf answered elsewhere.
    let result = invoke(
        &scheduler,
        "child",
        CallRequest::with_input(1i32.to_le_bytes()),
    );
    assert!(result.succeeded(), "{:?}", result.failure);
    assert_eq!(int_output(&result), 2 * 101);
    // By table index: `table`'s `parent` chains entry 2 of its own table.
    let parent = CallRequest {
        func_ptr: 3,
        ..CallRequest::default()
    };
    let result = invoke(&scheduler, "table", parent);
    assert!(result.succeeded(), "{:?}", result.failure);
    let sent = cluster.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [
            ("leaf".to_owned(), 0, 1i32.to_le_bytes().to_vec()),
            ("table".to_owned(), 2, b"12".to_vec()),
        ]
    );
    assert_no_results_left(&scheduler);
}

#[test]
fn a_chained_call_that_failed_elsewhere_fails_its_await() {
    let scheduler = scheduler(config(1));
    let cluster = Arc::new(FakeCluster {
        sent: Mutex::default(),
        answer: |_| CallResult {
            return_value: 1,
            failure: Some(Failure::Remote {
                host: "h2".into(),
                message: "trapped: wasm trap: unreachable".into(),
                timed_out: false,
            }),
            ..CallResult::default()
        },
    });
    scheduler.set_chain_placement(Arc::new(FakePlacement(cluster)));
    // `child` traps when its callee's await fails.
    let result = invoke(
        &scheduler,
        "child",
        CallRequest::with_input(1i32.to_le_bytes()),
    );
    assert!(!result.succeeded());
    assert_no_results_left(&scheduler);
}

#[test]
fn unknown_functions_and_missing_imports_are_errors() {
    let scheduler = scheduler(config(1));
    let error = scheduler
        .invoke(USER, "nothing", CallRequest::default())
        .unwrap_err();
    assert!(matches!(error, SchedulerError::UnknownFunction { .. }));
    assert_eq!(error.to_string(), "no function demo/nothing");

    let module = Module::new(
        scheduler.engine(),
        &wat::parse_str(
            r#"(module
                (import "env" "__faasm_read_input" (func (param i32 i32) (result i32)))
                (import "env" "not_faasm" (func (param i32)))
                (import "other" "thing" (func)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(Function::missing_imports(&module).len(), 2);
    let error = Function::prepare(&module).unwrap_err();
    assert_eq!(
        error.to_string(),
        "missing imports: env.not_faasm (func (param i32)), other.thing (func)"
    );
}

#[test]
fn functions_come_from_the_source_when_not_registered() {
    struct Source(Engine);
    impl FunctionSource for Source {
        fn load(&self, user: &str, name: &str) -> Result<Option<Function>, String> {
            match (user, name) {
                ("other", "leaf") => Ok(Some(function(&self.0, &leaf_wat()))),
                ("other", "broken") => Err("corrupt snapshot".to_string()),
                _ => Ok(None),
            }
        }
    }
    let scheduler = scheduler(config(1));
    scheduler.set_source(Arc::new(Source(scheduler.engine().clone())));
    let result = scheduler
        .invoke("other", "leaf", CallRequest::with_input(5i32.to_le_bytes()))
        .unwrap();
    assert_eq!(int_output(&result), 6);
    let error = scheduler
        .invoke("other", "broken", CallRequest::default())
        .unwrap_err();
    assert!(error.to_string().contains("corrupt snapshot"));
    assert!(matches!(
        scheduler.invoke("other", "none", CallRequest::default()),
        Err(SchedulerError::UnknownFunction { .. })
    ));
}

#[test]
fn dropping_the_scheduler_stops_its_workers() {
    let scheduler = scheduler(config(2));
    let handle = scheduler
        .submit(
            USER,
            "spin",
            CallRequest {
                timeout: Some(Duration::from_millis(100)),
                ..CallRequest::default()
            },
        )
        .unwrap();
    drop(scheduler);
    // Either it ran (and timed out) or it was cancelled: it ended either way.
    assert!(handle.wait().failure.is_some());
}

/// `pingpong`: chains `leaf` and awaits it, `n` times (the chain + await round trip).
fn pingpong_wat(n: u32) -> String {
    format!(
        r#"(module {CHAIN}
            (memory (export "memory") 1)
            (data (i32.const 100) "leaf\00")
            (func (export "_start") (result i32) (local $i i32) (local $failed i32)
              (loop $again
                (local.set $failed (i32.add (local.get $failed)
                  (call $await (call $chain (i32.const 100) (i32.const 0) (i32.const 4)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $again (i32.lt_u (local.get $i) (i32.const {n}))))
              (local.get $failed)))"#
    )
}

#[test]
fn chain_and_await_round_trips() {
    const N: u32 = 2000;
    for inline_awaits in [true, false] {
        let scheduler = scheduler(SchedulerConfig {
            inline_awaits,
            ..config(2)
        });
        scheduler.register(
            USER,
            "pingpong",
            function(scheduler.engine(), &pingpong_wat(N)),
        );
        // Warm up the Faaslets.
        invoke(&scheduler, "pingpong", CallRequest::default());
        let start = Instant::now();
        let result = invoke(&scheduler, "pingpong", CallRequest::default());
        let per_round_trip = start.elapsed() / N;
        assert!(result.succeeded(), "{result:?}");
        eprintln!("chain + await round trip (inline {inline_awaits}): {per_round_trip:?}");
        assert_no_results_left(&scheduler);
    }
}

#[test]
fn invocations_per_second_of_a_no_op() {
    const N: usize = 20_000;
    let scheduler = scheduler(config(2));
    scheduler.register(
        USER,
        "noop",
        function(scheduler.engine(), r#"(module (func (export "_start")))"#),
    );
    invoke(&scheduler, "noop", CallRequest::default());
    let start = Instant::now();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            scheduler
                .submit(USER, "noop", CallRequest::default())
                .unwrap()
        })
        .collect();
    for handle in handles {
        assert!(handle.wait().succeeded());
    }
    let rate = N as f64 / start.elapsed().as_secs_f64();
    eprintln!("no-op invocations through the scheduler: {rate:.0}/s");
    assert_no_results_left(&scheduler);
}

/// `fire`: chains `leaf` `n` times and returns without awaiting.
const FIRE: &str = r#"(module
    (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "spin\00")
    (func (export "_start")
      (drop (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
      (drop (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))))"#;

#[test]
fn chained_calls_nobody_awaits_still_run_and_wait_idle_sees_them() {
    let scheduler = scheduler(SchedulerConfig {
        default_timeout: Some(Duration::from_secs(1)),
        ..config(2)
    });
    scheduler.register(USER, "fire", function(scheduler.engine(), FIRE));
    let start = Instant::now();
    let result = invoke(&scheduler, "fire", CallRequest::default());
    assert!(result.succeeded(), "{result:?}");
    // The two `spin` calls run on to their timeout.
    assert!(
        scheduler.tracked_calls() > 0,
        "{} calls tracked",
        scheduler.tracked_calls()
    );
    assert!(!scheduler.wait_idle(Some(Duration::from_millis(10))));
    assert!(scheduler.wait_idle(Some(Duration::from_secs(10))));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_no_results_left(&scheduler);
}

/// `countdown`: for input n > 0, chains itself with n - 1, awaits it and outputs its output
/// + 1; for 0, outputs 0.
fn countdown_wat() -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (memory (export "memory") 2)
            (data (i32.const 100) "countdown\00")
            {MALLOC}
            (func (export "_start") (result i32)
              (drop (call $read (i32.const 0) (i32.const 4)))
              (if (i32.eqz (i32.load (i32.const 0)))
                (then
                  (call $write (i32.const 0) (i32.const 4))
                  (return (i32.const 0))))
              (i32.store (i32.const 0) (i32.sub (i32.load (i32.const 0)) (i32.const 1)))
              (if (call $await_out (call $chain (i32.const 100) (i32.const 0) (i32.const 4))
                    (i32.const 8) (i32.const 12))
                (then (return (i32.const 1))))
              (i32.store (i32.const 16) (i32.add (i32.load (i32.load (i32.const 8))) (i32.const 1)))
              (call $write (i32.const 16) (i32.const 4))
              (i32.const 0)))"#
    )
}

#[test]
fn a_deep_chain_of_awaits_completes_on_two_workers() {
    for inline_awaits in [true, false] {
        let scheduler = scheduler(SchedulerConfig {
            inline_awaits,
            ..config(2)
        });
        scheduler.register(
            USER,
            "countdown",
            function(scheduler.engine(), &countdown_wat()),
        );
        let result = invoke(
            &scheduler,
            "countdown",
            CallRequest::with_input(60i32.to_le_bytes()),
        );
        assert!(result.succeeded(), "inline {inline_awaits}: {result:?}");
        assert_eq!(int_output(&result), 60);
        assert_no_results_left(&scheduler);
    }
}

/// `state_writer`: maps the 8-byte value `shared` and stores its 4-byte input at its start.
/// `state_reader`: maps it and outputs its first 4 bytes. Both of one user, neither pushes.
fn state_wat(write: bool) -> String {
    let body = if write {
        "(drop (call $read (i32.const 64) (i32.const 4)))
         (i32.store (local.get $p) (i32.load (i32.const 64)))"
    } else {
        "(call $write (local.get $p) (i32.const 4))"
    };
    format!(
        r#"(module {IO}
            (import "env" "__faasm_read_state_ptr" (func $ptr (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "shared\00")
            (func (export "_start") (local $p i32)
              (local.set $p (call $ptr (i32.const 16) (i32.const 8)))
              {body}))"#
    )
}

#[test]
fn functions_of_one_user_share_state_through_mapped_values() {
    use faasm_hostcalls::faasm_state::{LocalTier, StateKey};
    let tier = Arc::new(LocalTier::in_process());
    let engine = Engine::default();
    let scheduler =
        Scheduler::with_config(&engine, config(2).with_state(Arc::clone(&tier))).unwrap();
    assert!(Arc::ptr_eq(scheduler.state(), &tier));
    for user in [USER, "other"] {
        scheduler.register(user, "state_writer", function(&engine, &state_wat(true)));
        scheduler.register(user, "state_reader", function(&engine, &state_wat(false)));
    }
    let write = |user: &str, value: i32| {
        let request = CallRequest::with_input(value.to_le_bytes());
        let result = scheduler.invoke(user, "state_writer", request).unwrap();
        assert_eq!(result.failure, None, "{result:?}");
    };
    let read = |user: &str| {
        let result = scheduler
            .invoke(user, "state_reader", CallRequest::default())
            .unwrap();
        assert_eq!(result.failure, None, "{result:?}");
        int_output(&result)
    };
    write(USER, 41);
    assert_eq!(read(USER), 41);
    write(USER, 42);
    // After resets of both Faaslets, the host's one copy still holds the latest write.
    assert_eq!(read(USER), 42);
    assert_eq!(read(USER), 42);
    // Another user's functions name another value.
    assert_eq!(read("other"), 0);
    write("other", 7);
    assert_eq!(read(USER), 42);
    let mut bytes = [0u8; 8];
    tier.read(&StateKey::new(USER, "shared").unwrap(), &mut bytes)
        .unwrap();
    assert_eq!(&bytes[..4], &42i32.to_le_bytes());
}

#[test]
fn state_in_a_zygote_fails_the_set_up_and_says_why() {
    let wat = r#"(module
        (import "env" "__faasm_read_state_ptr" (func $ptr (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "shared\00")
        (func (export "_faasm_zygote") (result i32)
          (drop (call $ptr (i32.const 16) (i32.const 8)))
          (i32.const 0))
        (func (export "_start")))"#;
    let engine = Engine::default();
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let error = Function::prepare(&module).unwrap_err().to_string();
    assert!(
        error.contains("__faasm_read_state_ptr") && error.contains("_faasm_zygote"),
        "{error}"
    );
}

/// `snoop`: waits until its user's state value `target` exists, awaits the call whose id it
/// holds, and outputs what the await returned and the length of the output it got.
fn snoop_wat() -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (import "env" "__faasm_read_state" (func $read_state (param i32 i32 i32) (result i32)))
            (memory (export "memory") 2)
            (data (i32.const 100) "target\00")
            {MALLOC}
            (func (export "_start") (result i32)
              (loop $wait
                (br_if $wait
                  (i32.eqz (call $read_state (i32.const 100) (i32.const 0) (i32.const 0)))))
              (drop (call $read_state (i32.const 100) (i32.const 0) (i32.const 4)))
              (i32.store (i32.const 16)
                (call $await_out (i32.load (i32.const 0)) (i32.const 8) (i32.const 12)))
              (i32.store (i32.const 20) (i32.load (i32.const 12)))
              (call $write (i32.const 16) (i32.const 8))
              (i32.const 0)))"#
    )
}

/// `secret`: outputs "secret-A" and returns 7.
const SECRET: &str = r#"(module
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "secret-A")
    (func (export "_start") (result i32)
      (call $write (i32.const 0) (i32.const 8))
      (i32.const 7)))"#;

#[test]
fn a_call_cannot_await_or_run_calls_of_another_tree() {
    use faasm_hostcalls::faasm_state::StateKey;
    // Another user's call, and a call of the same user in another invocation.
    for owner in ["alice", "bob"] {
        let engine = Engine::default();
        // One worker: while `snoop` spins, the owner's call stays queued.
        let scheduler = Scheduler::with_config(&engine, config(1)).unwrap();
        scheduler.register("bob", "snoop", function(&engine, &snoop_wat()));
        scheduler.register(owner, "secret", function(&engine, SECRET));
        let snoop = scheduler
            .submit("bob", "snoop", CallRequest::default())
            .unwrap();
        let secret = scheduler
            .submit(owner, "secret", CallRequest::default())
            .unwrap();
        // The id reaches bob's function out of band.
        let target = StateKey::new("bob", "target").unwrap();
        scheduler
            .state()
            .write(&target, &secret.id().to_le_bytes())
            .unwrap();
        let snooped = snoop.wait();
        assert_eq!(snooped.failure, None, "{snooped:?}");
        // The answer of an unknown id (1, no output), not the call's 7 and 8 bytes: it was
        // neither read nor run inline by bob's call.
        assert_eq!(snooped.output, [1, 0, 0, 0, 0, 0, 0, 0], "owner {owner}");
        let result = secret.wait();
        assert_eq!(result.return_value, 7, "{result:?}");
        assert_eq!(result.output, b"secret-A");
        scheduler.state().delete(&target).unwrap();
    }
}

#[test]
fn call_ids_are_not_sequential() {
    let scheduler = scheduler(config(2));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            scheduler
                .submit(USER, "hello", CallRequest::default())
                .unwrap()
        })
        .collect();
    let ids: Vec<u32> = handles.iter().map(|h| h.id()).collect();
    assert!(
        ids.iter().all(|&id| id > 0 && id <= i32::MAX as u32),
        "{ids:?}"
    );
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // Consecutive submissions do not get neighbouring numbers.
    let neighbours = ids.windows(2).filter(|w| w[0].abs_diff(w[1]) <= 16).count();
    assert_eq!(neighbours, 0, "{ids:?}");
    for handle in handles {
        assert!(handle.wait().succeeded());
    }
}

/// `bomb`: chains itself twice and awaits both, for ever; returns whether either failed.
fn bomb_wat() -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (memory (export "memory") 2)
            (data (i32.const 100) "bomb\00")
            {MALLOC}
            (func (export "_start") (result i32) (local $a i32) (local $b i32)
              (local.set $a (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
              (local.set $b (call $chain (i32.const 100) (i32.const 0) (i32.const 0)))
              (i32.or (call $await (local.get $a)) (call $await (local.get $b)))))"#
    )
}

/// Runs `bomb` on `scheduler`: it must end (with the limit named) well within a minute, and
/// the host goes on serving other users.
fn run_bomb(scheduler: &Scheduler) -> CallResult {
    scheduler.register(USER, "bomb", function(scheduler.engine(), &bomb_wat()));
    scheduler.register("other", "hello", function(scheduler.engine(), HELLO));
    let handle = scheduler
        .submit(USER, "bomb", CallRequest::default())
        .unwrap();
    let result = handle
        .wait_timeout(Duration::from_secs(120))
        .expect("the fork bomb is still running after 2 minutes");
    assert!(!result.succeeded(), "{result:?}");
    assert!(scheduler.wait_idle(Some(Duration::from_secs(60))));
    let other = scheduler
        .invoke("other", "hello", CallRequest::default())
        .unwrap();
    assert_eq!(other.failure, None, "{other:?}");
    result
}

#[test]
fn a_fork_bomb_ends_at_the_calls_per_invocation_limit() {
    let result = run_bomb(&scheduler(config(2)));
    let limit = result.limit.unwrap_or_default();
    assert!(
        limit.contains("max_calls_per_invocation limit (10000) reached"),
        "{limit}"
    );
}

#[test]
fn a_fork_bomb_ends_at_the_depth_limit() {
    let scheduler = scheduler(SchedulerConfig {
        chain_limits: ChainLimits {
            max_chain_depth: 5,
            ..ChainLimits::default()
        },
        ..config(2)
    });
    let result = run_bomb(&scheduler);
    let limit = result.limit.unwrap_or_default();
    assert!(
        limit.contains("max_chain_depth limit (5) reached"),
        "{limit}"
    );
    assert!(limit.contains("demo/bomb is at depth 5"), "{limit}");
}

/// `spray`: chains `hello` with 1000 bytes of input without awaiting, for ever.
fn spray_wat() -> String {
    format!(
        r#"(module {CHAIN}
            (memory (export "memory") 1)
            (data (i32.const 100) "hello\00")
            (func (export "_start")
              (loop $more
                (drop (call $chain (i32.const 100) (i32.const 0) (i32.const 1000)))
                (br $more))))"#
    )
}

fn trap_message(result: &CallResult) -> String {
    match &result.failure {
        Some(Failure::Trap {
            trap: Trap::Host(message),
            ..
        }) => message.clone(),
        other => panic!("not a host trap: {other:?}"),
    }
}

#[test]
fn fan_out_and_queued_calls_are_bounded_per_user() {
    for (limits, expected) in [
        (
            ChainLimits {
                max_chained_per_call: 20,
                ..ChainLimits::default()
            },
            "max_chained_per_call limit (20) reached: demo/spray has chained 20 calls",
        ),
        (
            ChainLimits {
                max_queued_per_user: 7,
                ..ChainLimits::default()
            },
            "max_queued_per_user limit (7) reached: user demo has 7 chained calls waiting",
        ),
        (
            ChainLimits {
                max_queued_bytes_per_user: 2500,
                ..ChainLimits::default()
            },
            "max_queued_bytes_per_user limit (2500) reached: the inputs of user demo's chained \
             calls waiting to start hold 2000 bytes, and this one has 1000",
        ),
    ] {
        // One worker: the chained calls wait while `spray` runs.
        let scheduler = scheduler(SchedulerConfig {
            chain_limits: limits,
            ..config(1)
        });
        scheduler.register(USER, "spray", function(scheduler.engine(), &spray_wat()));
        let result = invoke(&scheduler, "spray", CallRequest::default());
        let message = trap_message(&result);
        assert!(message.contains("__faasm_chain_name"), "{message}");
        assert!(message.contains(expected), "{message}");
        assert_eq!(
            result.limit.as_deref(),
            Some(&message["env::__faasm_chain_name: ".len()..])
        );
        assert!(scheduler.wait_idle(Some(Duration::from_secs(30))));
        // The calls it queued ran, and the count of queued calls went back to 0.
        let again = invoke(&scheduler, "spray", CallRequest::default());
        assert_eq!(trap_message(&again), message);
        assert!(scheduler.wait_idle(Some(Duration::from_secs(30))));
    }
}

/// `keys`: input `n` and `push` (two i32s); writes 8 bytes under `n` different keys (and
/// pushes each if `push`).
const KEYS: &str = r#"(module
    (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
    (import "env" "__faasm_write_state" (func $write_state (param i32 i32 i32)))
    (import "env" "__faasm_push_state" (func $push (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (local $i i32) (local $j i32)
      (drop (call $read (i32.const 0) (i32.const 8)))
      (i32.store8 (i32.const 108) (i32.const 0))
      (loop $keys
        ;; The key: 8 letters a..p, one per 4 bits of i.
        (local.set $j (i32.const 0))
        (loop $letters
          (i32.store8 (i32.add (i32.const 100) (local.get $j))
            (i32.add (i32.const 97)
              (i32.and (i32.shr_u (local.get $i) (i32.shl (local.get $j) (i32.const 2)))
                (i32.const 15))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $letters (i32.lt_u (local.get $j) (i32.const 8))))
        (call $write_state (i32.const 100) (i32.const 0) (i32.const 8))
        (if (i32.load (i32.const 4)) (then (call $push (i32.const 100))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $keys (i32.lt_u (local.get $i) (i32.load (i32.const 0)))))))"#;

/// Open file descriptors and mappings of this process that are state values of `user` (the
/// memfds are named after their keys).
fn state_fds_and_mappings(user: &str) -> (usize, usize) {
    let name = format!("faasm-state:{user}/");
    let fds = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains(&name))
        .count();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|line| line.contains(&name))
        .count();
    (fds, maps)
}

#[test]
fn a_million_state_keys_fail_cleanly_at_the_keys_limit() {
    const LOOPER: &str = "keyloop";
    let scheduler = scheduler(config(1));
    let state = Arc::clone(scheduler.state());
    scheduler.register(LOOPER, "keys", function(scheduler.engine(), KEYS));
    let input = |n: u32, push: u32| {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend(push.to_le_bytes());
        CallRequest::with_input(bytes)
    };
    // Pushed values can be evicted: many more keys fit, the host keeps a bounded set.
    let result = scheduler.invoke(LOOPER, "keys", input(20_000, 1)).unwrap();
    assert_eq!(result.failure, None, "{result:?}");
    assert!(state.user_usage(LOOPER).0 <= 256);
    assert!(state.evictions() > 19_000, "{}", state.evictions());
    let (fds, maps) = state_fds_and_mappings(LOOPER);
    assert!(fds <= 256 && maps <= 256, "{fds} fds, {maps} mappings");
    // Written, never pushed: once the clean values are gone nothing may be evicted, so the
    // user's limit ends the loop.
    let result = scheduler
        .invoke(LOOPER, "keys", input(1_000_000, 0))
        .unwrap();
    let message = trap_message(&result);
    assert!(
        message.contains("__faasm_write_state")
            && message.contains("max_keys_per_user limit (256) exceeded"),
        "{message}"
    );
    assert_eq!(state.user_usage(LOOPER).0, 256);
    let (fds, maps) = state_fds_and_mappings(LOOPER);
    assert!(fds <= 256 && maps <= 256, "{fds} fds, {maps} mappings");
    // Another user is not held back by this one's values.
    scheduler.register("other", "keys", function(scheduler.engine(), KEYS));
    let other = scheduler.invoke("other", "keys", input(10, 0)).unwrap();
    assert_eq!(other.failure, None, "{other:?}");
}

#[test]
fn an_oversized_state_value_fails_before_anything_is_sent() {
    let wat = r#"(module
        (import "env" "__faasm_flag_state_dirty" (func $dirty (param i32 i32)))
        (import "env" "__faasm_push_state" (func $push (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "huge\00")
        (func (export "_start")
          (call $dirty (i32.const 16) (i32.const -1))
          (call $push (i32.const 16))))"#;
    let scheduler = scheduler(config(1));
    scheduler.register(USER, "huge", function(scheduler.engine(), wat));
    let result = invoke(&scheduler, "huge", CallRequest::default());
    let message = trap_message(&result);
    assert!(
        message.contains("__faasm_flag_state_dirty")
            && message.contains("max_value_bytes limit (268435456) exceeded")
            && message.contains("a value of 4294967295 bytes"),
        "{message}"
    );
    assert_eq!(scheduler.state().resident_values(), 0);
    assert_eq!(scheduler.state().stats().sent, 0);
}

#[test]
fn the_in_process_global_tier_holds_a_bounded_amount_per_user() {
    let scheduler = scheduler(SchedulerConfig {
        state_limits: StateLimits {
            max_bytes_per_user: 64 << 10,
            ..StateLimits::default()
        },
        ..config(1)
    });
    scheduler.register(USER, "keys", function(scheduler.engine(), KEYS));
    let mut input = 100_000u32.to_le_bytes().to_vec();
    input.extend(1u32.to_le_bytes());
    let result = invoke(&scheduler, "keys", CallRequest::with_input(input));
    let message = trap_message(&result);
    assert!(
        message.contains("__faasm_push_state")
            && message.contains("max_global_bytes_per_user limit (65536) exceeded"),
        "{message}"
    );
}

#[test]
fn faaslets_alive_counts_running_and_idle_faaslets() {
    let scheduler = scheduler(config(2));
    assert_eq!(scheduler.faaslets_alive(), 0, "none before a call");
    let result = invoke(&scheduler, "hello", CallRequest::default());
    assert!(result.succeeded(), "{:?}", result.failure);
    assert_eq!(scheduler.faaslets_alive(), 1, "kept idle after the call");
    invoke(&scheduler, "hello", CallRequest::default());
    assert_eq!(scheduler.faaslets_alive(), 1, "the idle one is reused");
    invoke(&scheduler, "exit3", CallRequest::default());
    assert_eq!(scheduler.faaslets_alive(), 2);
    assert!(scheduler.unregister(USER, "hello"));
    assert!(scheduler.unregister(USER, "exit3"));
    assert_eq!(
        scheduler.faaslets_alive(),
        0,
        "dropped with their functions"
    );
}
