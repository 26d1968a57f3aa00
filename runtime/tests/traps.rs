//! Process-global behaviour: signal handlers turning faults of generated code into traps, stack
//! overflow, epoch interruption, and faults that are not ours killing the process.

use faasm_runtime::*;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

fn instantiate(store: &mut Store, wat: &str) -> Instance {
    let wasm = wat::parse_str(wat).expect("valid wat");
    let module = Module::new(store.engine(), &wasm).expect("compiles");
    Linker::new()
        .instantiate(store, &module)
        .expect("instantiates")
}

fn call(
    store: &mut Store,
    instance: Instance,
    name: &str,
    params: &[Val],
) -> Result<Vec<Val>, Trap> {
    instance
        .get_func(store, name)
        .expect("exported function")
        .call(store, params)
}

const TRAPS: &str = r#"(module
    (memory 1)
    (table 2 funcref)
    (type $unary (func (param i32) (result i32)))
    (func $id (param i32) (result i32) local.get 0)
    (elem (i32.const 0) $id)
    (func (export "unreachable") unreachable)
    (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
    (func (export "rem") (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_u)
    (func (export "trunc") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
    (func (export "load") (param i32) (result i32) local.get 0 i32.load)
    (func (export "load_far") (param i32) (result i32) local.get 0 i32.load offset=0x7fffffff)
    (func (export "store") (param i32) local.get 0 i64.const 1 i64.store)
    (func (export "indirect") (param i32) (result i32) i32.const 5 local.get 0 call_indirect (type $unary))
    (func (export "indirect_wrong_type") (param i32) local.get 0 call_indirect))"#;

fn expect_trap(store: &mut Store, instance: Instance, name: &str, params: &[Val], code: TrapCode) {
    let result = call(store, instance, name, params);
    assert_eq!(result, Err(Trap::Wasm(code)), "{name}({params:?})");
}

fn check_all_traps(engine: &Engine) {
    let mut store = Store::new(engine);
    let instance = instantiate(&mut store, TRAPS);
    let (i32v, i64v, f64v) = (Val::I32, Val::I64, |f: f64| Val::F64(f.to_bits()));
    expect_trap(
        &mut store,
        instance,
        "unreachable",
        &[],
        TrapCode::UnreachableCodeReached,
    );
    expect_trap(
        &mut store,
        instance,
        "div",
        &[i32v(1), i32v(0)],
        TrapCode::IntegerDivisionByZero,
    );
    expect_trap(
        &mut store,
        instance,
        "div",
        &[i32v(i32::MIN), i32v(-1)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut store,
        instance,
        "rem",
        &[i64v(1), i64v(0)],
        TrapCode::IntegerDivisionByZero,
    );
    expect_trap(
        &mut store,
        instance,
        "trunc",
        &[f64v(f64::NAN)],
        TrapCode::BadConversionToInteger,
    );
    expect_trap(
        &mut store,
        instance,
        "trunc",
        &[f64v(3e9)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut store,
        instance,
        "load",
        &[i32v(65533)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut store,
        instance,
        "load",
        &[i32v(-1)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut store,
        instance,
        "load_far",
        &[i32v(0)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut store,
        instance,
        "store",
        &[i32v(65529)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut store,
        instance,
        "indirect",
        &[i32v(1)],
        TrapCode::IndirectCallToNull,
    );
    expect_trap(
        &mut store,
        instance,
        "indirect",
        &[i32v(2)],
        TrapCode::TableOutOfBounds,
    );
    expect_trap(
        &mut store,
        instance,
        "indirect_wrong_type",
        &[i32v(0)],
        TrapCode::BadSignature,
    );
    assert_eq!(
        call(&mut store, instance, "indirect", &[i32v(0)]),
        Ok(vec![i32v(5)])
    );
    assert_eq!(
        call(&mut store, instance, "div", &[i32v(7), i32v(2)]),
        Ok(vec![i32v(3)])
    );
    assert_eq!(
        call(&mut store, instance, "load", &[i32v(65532)]),
        Ok(vec![i32v(0)])
    );
}

#[test]
fn every_trap_is_reported_and_the_process_lives() {
    check_all_traps(&Engine::default());
}

#[test]
fn every_trap_is_reported_with_bounded_memories() {
    let mut config = Config::default();
    config.compiler.memory_strategy = MemoryStrategy::Bounded;
    check_all_traps(&Engine::new(config).expect("engine"));
}

#[test]
fn traps_on_many_threads_at_once() {
    let engine = Engine::default();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    check_all_traps(&engine);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
}

const RECURSION: &str = r#"(module
    (func $down (export "down") (param i64) (result i64)
      local.get 0 i64.eqz
      if (result i64) i64.const 0
      else local.get 0 i64.const 1 i64.sub call $down i64.const 1 i64.add end)
    (func $forever (export "forever") (param i64) (result i64)
      local.get 0 i64.const 1 i64.add call $forever))"#;

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(&mut store, RECURSION);
    for _ in 0..5 {
        expect_trap(
            &mut store,
            instance,
            "forever",
            &[Val::I64(0)],
            TrapCode::StackOverflow,
        );
    }
    assert_eq!(
        call(&mut store, instance, "down", &[Val::I64(1000)]),
        Ok(vec![Val::I64(1000)])
    );
}

#[test]
fn the_wasm_stack_limit_is_configurable() {
    let small = Engine::new(Config {
        max_wasm_stack: 64 << 10,
        ..Config::default()
    })
    .expect("engine");
    let mut store = Store::new(&small);
    let instance = instantiate(&mut store, RECURSION);
    expect_trap(
        &mut store,
        instance,
        "down",
        &[Val::I64(100_000)],
        TrapCode::StackOverflow,
    );
    let large = Engine::new(Config {
        max_wasm_stack: 4 << 20,
        ..Config::default()
    })
    .expect("engine");
    let mut store = Store::new(&large);
    let instance = instantiate(&mut store, RECURSION);
    // Run on a thread with room for it: 100k frames of a small function fit in 4 MiB.
    let result = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || call(&mut store, instance, "down", &[Val::I64(20_000)]))
        .expect("thread")
        .join()
        .expect("join");
    assert_eq!(result, Ok(vec![Val::I64(20_000)]));
}

#[test]
fn recursion_on_a_small_thread_stack_stays_a_trap() {
    // The configured Wasm stack (1 MiB) exceeds this thread's whole stack: the limit is
    // clamped to the thread's stack, so the overflow is still a trap and not a crash.
    let engine = Engine::default();
    let result = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            let mut store = Store::new(&engine);
            let instance = instantiate(&mut store, RECURSION);
            call(&mut store, instance, "forever", &[Val::I64(0)])
        })
        .expect("thread")
        .join()
        .expect("join");
    assert_eq!(result, Err(Trap::Wasm(TrapCode::StackOverflow)));
}

#[test]
fn stack_overflow_in_a_nested_call() {
    let mut store = Store::new(&Engine::default());
    let reenter = Func::new(
        &mut store,
        FuncType::new([], [ValType::I32]),
        |caller, _, results| {
            let Some(Extern::Func(forever)) = caller.get_export("forever") else {
                return Err(Trap::Host("no forever".to_string()));
            };
            let inner = forever.call(caller.store_mut(), &[Val::I64(0)]);
            results[0] = Val::I32(i32::from(inner == Err(Trap::Wasm(TrapCode::StackOverflow))));
            Ok(())
        },
    );
    let mut linker = Linker::new();
    linker.define("host", "reenter", Extern::Func(reenter));
    let wasm = wat::parse_str(
        r#"(module
            (import "host" "reenter" (func $reenter (result i32)))
            (func $forever (export "forever") (param i64) (result i64)
              local.get 0 i64.const 1 i64.add call $forever)
            (func (export "outer") (result i32) call $reenter))"#,
    )
    .expect("wat");
    let module = Module::new(store.engine(), &wasm).expect("compile");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    assert_eq!(
        call(&mut store, instance, "outer", &[]),
        Ok(vec![Val::I32(1)])
    );
}

const LOOPS: &str = r#"(module
    (func (export "spin") (loop $l br $l))
    (func $nop)
    (func (export "spin_calling") (loop $l call $nop br $l))
    (func $callee (loop $l call $nop br $l))
    (func (export "spin_in_callee") call $callee)
    (func $tail_forever return_call $tail_forever)
    (export "tail_forever" (func $tail_forever))
    (func (export "quick") (result i32) i32.const 1))"#;

/// Runs `f` on its own thread and fails if it takes longer than `limit`: a call that is never
/// interrupted must fail the test, not hang the suite. (The thread keeps running until the
/// test process exits.)
fn with_watchdog<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} was not interrupted within {limit:?}"))
}

fn interrupted_after(name: &'static str, timeout: Duration) -> Duration {
    with_watchdog(name, Duration::from_secs(10), move || {
        let mut store = Store::new(&Engine::default());
        let instance = instantiate(&mut store, LOOPS);
        store.set_timeout(Some(timeout));
        let start = Instant::now();
        expect_trap(&mut store, instance, name, &[], TrapCode::Interrupt);
        let elapsed = start.elapsed();
        assert_eq!(
            call(&mut store, instance, "quick", &[]),
            Ok(vec![Val::I32(1)])
        );
        store.set_timeout(None);
        assert_eq!(
            call(&mut store, instance, "quick", &[]),
            Ok(vec![Val::I32(1)])
        );
        elapsed
    })
}

#[test]
fn a_loop_with_calls_is_interrupted_by_the_timeout() {
    for name in ["spin_calling", "spin_in_callee", "tail_forever"] {
        let elapsed = interrupted_after(name, Duration::from_millis(20));
        assert!(
            elapsed >= Duration::from_millis(15),
            "{name} stopped after {elapsed:?}"
        );
    }
}

#[test]
fn a_loop_without_calls_or_stores_is_interrupted_by_the_timeout() {
    let elapsed = interrupted_after("spin", Duration::from_millis(20));
    assert!(
        elapsed >= Duration::from_millis(15),
        "stopped after {elapsed:?}"
    );
}

#[test]
fn the_epoch_can_be_advanced_by_hand() {
    let engine = Engine::new(Config {
        epoch_tick: Duration::from_secs(3600),
        interruption: Interruption::Epoch,
        ..Config::default()
    })
    .expect("engine");
    let spinner = engine.clone();
    let bumper = std::thread::spawn(move || {
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(10));
            spinner.increment_epoch();
        }
    });
    with_watchdog("spin_calling", Duration::from_secs(10), move || {
        let mut store = Store::new(&engine);
        let instance = instantiate(&mut store, LOOPS);
        store.set_timeout(Some(Duration::from_secs(1)));
        expect_trap(
            &mut store,
            instance,
            "spin_calling",
            &[],
            TrapCode::Interrupt,
        );
    });
    bumper.join().expect("bumper");
}

/// Loops of every shape that never end on their own: without calls, with calls, recursion,
/// tail calls, `memory.fill` of 4 GiB over and over, a host call that waits as long as the
/// call's deadline lets it.
const FOREVER: &str = r#"(module
    (import "host" "wait" (func $wait))
    (memory 65536)
    (func $nop)
    (func (export "spin") (loop $l br $l))
    (func (export "spin_calling") (loop $l call $nop br $l))
    (func $deep (param i32)
      (if (local.get 0) (then (call $deep (i32.sub (local.get 0) (i32.const 1))))))
    (func (export "recurse") (loop $l (call $deep (i32.const 1000)) br $l))
    (func $tail (return_call $tail))
    (export "tail" (func $tail))
    (func (export "fill_4_gib") (loop $l
      (memory.fill (i32.const 0) (i32.const 0) (i32.const -1)) br $l))
    (func (export "host_wait") (loop $l call $wait br $l))
    (func (export "quick") (result i32) i32.const 1))"#;

/// How late, past a 20 ms deadline, `name` of [`FOREVER`] ended (the least of 3 tries: the
/// machine may be busy with other tests); fails if it ran 10 s.
fn lateness(engine: &Engine, name: &'static str) -> Duration {
    const TIMEOUT: Duration = Duration::from_millis(20);
    let engine = engine.clone();
    with_watchdog(name, Duration::from_secs(10), move || {
        let mut store = Store::new(&engine);
        let wait = Func::new(&mut store, FuncType::new([], []), |caller, _, _| {
            let bounds = caller.call_bounds();
            std::thread::sleep(
                bounds
                    .cap(Some(Duration::from_secs(60)))
                    .unwrap_or_default(),
            );
            Ok(())
        });
        let mut linker = Linker::new();
        linker.define("host", "wait", Extern::Func(wait));
        let module = Module::new(&engine, &wat::parse_str(FOREVER).expect("wat")).expect("compile");
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiate");
        store.set_timeout(Some(TIMEOUT));
        let mut least = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            expect_trap(&mut store, instance, name, &[], TrapCode::Interrupt);
            least = least.min(start.elapsed().saturating_sub(TIMEOUT));
            assert!(
                start.elapsed() >= TIMEOUT,
                "{name} stopped before its deadline"
            );
        }
        assert_eq!(
            call(&mut store, instance, "quick", &[]),
            Ok(vec![Val::I32(1)]),
            "the instance still runs after {name} timed out"
        );
        least
    })
}

#[test]
fn loops_of_every_shape_end_within_10_ms_of_the_deadline() {
    let strategies = [
        ("guarded", MemoryStrategy::default()),
        ("bounded", MemoryStrategy::Bounded),
    ];
    let modes = [
        ("signal", Interruption::Signal),
        ("epoch", Interruption::Epoch),
    ];
    let shapes = [
        "spin",
        "spin_calling",
        "recurse",
        "tail",
        "fill_4_gib",
        "host_wait",
    ];
    let mut late = Vec::new();
    for (strategy_name, strategy) in strategies {
        for (mode_name, interruption) in modes {
            let mut config = Config {
                interruption,
                ..Config::default()
            };
            config.compiler.memory_strategy = strategy;
            let engine = Engine::new(config).expect("engine");
            for shape in shapes {
                let lateness = lateness(&engine, shape);
                if lateness > Duration::from_millis(10) {
                    late.push(format!(
                        "{shape} ({strategy_name}, {mode_name}): {lateness:?}"
                    ));
                }
            }
        }
    }
    assert!(
        late.is_empty(),
        "ended more than 10 ms after the deadline: {late:?}"
    );
}

#[test]
fn only_the_epoch_mode_compiles_epoch_checks() {
    let compiles_checks = |interruption| {
        let mut config = Config {
            interruption,
            ..Config::default()
        };
        // Whatever the compiler settings say, the interruption mode decides.
        config.compiler.epoch_interruption = interruption == Interruption::Signal;
        let engine = Engine::new(config).expect("engine");
        engine.config().compiler.epoch_interruption
    };
    assert!(!compiles_checks(Interruption::Signal));
    assert!(compiles_checks(Interruption::Epoch));
}

/// Env var telling a re-executed test binary which fault to commit.
const CHILD_ENV: &str = "FAASM_RUNTIME_TRAPS_CHILD";

/// In a child process (see `run_child`): commits the fault named by `CHILD_ENV`, which must
/// kill the process. Without the variable, a no-op.
#[test]
fn fault_child() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::new(&Engine::default());
    let crash = Func::new(&mut store, FuncType::new([], []), |_, _, _| {
        // SAFETY: deliberately faults in Rust code called from Wasm: the process must die.
        unsafe { std::ptr::read_volatile(std::ptr::null::<u64>()) };
        Ok(())
    });
    let mut linker = Linker::new();
    linker.define("host", "crash", Extern::Func(crash));
    let wasm = wat::parse_str(
        r#"(module (import "host" "crash" (func $crash)) (func (export "f") call $crash))"#,
    )
    .expect("wat");
    let module = Module::new(store.engine(), &wasm).expect("compile");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    match kind.as_str() {
        "host-segfault" => {
            let _ = call(&mut store, instance, "f", &[]);
        }
        other => panic!("unknown fault {other}"),
    }
    std::process::exit(0);
}

fn run_child(kind: &str) -> std::process::ExitStatus {
    let exe = std::env::current_exe().expect("test binary");
    std::process::Command::new(exe)
        .args(["--exact", "fault_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, kind)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("child")
}

#[test]
fn a_fault_in_a_host_function_is_not_swallowed() {
    assert_eq!(run_child("host-segfault").signal(), Some(libc::SIGSEGV));
}
