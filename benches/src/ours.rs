//! faasm-rs's side of every group, through its public runtime API.

use crate::stopwatch::Stopwatch;
use crate::{Measure, repeat};
use faasm_runtime::{
    Caller, CompilerConfig, Config, Engine, Extern, Func, FuncType, Interruption, Linker,
    MemoryStrategy, Module, Store, Val,
};
use std::time::{Duration, Instant};

/// An engine with the default settings but `strategy` and `threads` compile threads (0: all
/// cores).
pub fn engine(strategy: MemoryStrategy, threads: usize) -> Engine {
    Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy: strategy,
            threads,
            ..CompilerConfig::default()
        },
        ..Config::default()
    })
    .expect("creating our engine")
}

/// The default engine (guard regions, all cores).
pub fn default_engine() -> Engine {
    engine(MemoryStrategy::default(), 0)
}

/// Compiles `wasm`, panicking on errors.
pub fn compile_module(engine: &Engine, wasm: &[u8]) -> Module {
    Module::new(engine, wasm).expect("our engine compiles the module")
}

/// The timeout every measured call of ours runs with, as a Faaslet's call does: what stops a
/// runaway call is part of what is measured (a signal at the deadline by default, epoch
/// checks in the rows that say so).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Instantiates a kernel with `bench.start`/`bench.end`, calls `run` (with [`CALL_TIMEOUT`]),
/// and returns the measured time and the checksum.
pub fn run_kernel(engine: &Engine, module: &Module) -> (Duration, u32) {
    let mut store = Store::new(engine);
    store.set_timeout(Some(CALL_TIMEOUT));
    let mut linker = Linker::new();
    let stopwatch = Stopwatch::default();
    define_bench_imports(&mut linker, &mut store, &stopwatch);
    let instance = linker
        .instantiate(&mut store, module)
        .expect("our engine instantiates the kernel");
    let run = instance.get_func(&store, "run").expect("an export `run`");
    let results = run.call(&mut store, &[]).expect("the kernel runs");
    match results.as_slice() {
        [Val::I32(checksum)] => (stopwatch.measured(), *checksum as u32),
        other => panic!("`run` returned {other:?}"),
    }
}

/// Defines `bench.start` and `bench.end` over `stopwatch`.
pub fn define_bench_imports(linker: &mut Linker, store: &mut Store, stopwatch: &Stopwatch) {
    let on_start = stopwatch.clone();
    let start = Func::new(store, FuncType::new([], []), move |_, _, _| {
        on_start.start();
        Ok(())
    });
    let on_end = stopwatch.clone();
    let end = Func::new(store, FuncType::new([], []), move |_, _, _| {
        on_end.end();
        Ok(())
    });
    linker.define("bench", "start", Extern::Func(start));
    linker.define("bench", "end", Extern::Func(end));
}

/// `execute`: runs the precompiled kernel, timed between `bench.start` and `bench.end`.
pub fn execute(wasm: &[u8]) -> Measure {
    let engine = default_engine();
    let module = compile_module(&engine, wasm);
    Box::new(move |iterations| repeat(iterations, || run_kernel(&engine, &module).0))
}

/// `execute` with the deadline enforced by epoch checks in generated code instead of a
/// signal: what the checks cost.
pub fn execute_with_epoch_checks(wasm: &[u8]) -> Measure {
    let engine = Engine::new(Config {
        interruption: Interruption::Epoch,
        ..Config::default()
    })
    .expect("creating our engine");
    let module = compile_module(&engine, wasm);
    Box::new(move |iterations| repeat(iterations, || run_kernel(&engine, &module).0))
}

/// `execute` under the bounded strategy, with or without the Spectre guard on its bounds
/// checks: what the guard costs.
pub fn execute_bounded(wasm: &[u8], spectre_guard: bool) -> Measure {
    let engine = Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy: MemoryStrategy::Bounded,
            spectre_guard,
            ..CompilerConfig::default()
        },
        ..Config::default()
    })
    .expect("creating our engine");
    let module = compile_module(&engine, wasm);
    Box::new(move |iterations| repeat(iterations, || run_kernel(&engine, &module).0))
}

/// `compile`: compiles `wasm` on `threads` threads (0: all cores).
pub fn compile(wasm: &[u8], threads: usize) -> Measure {
    let engine = engine(MemoryStrategy::default(), threads);
    let wasm = wasm.to_vec();
    Box::new(move |iterations| {
        repeat(iterations, || {
            let started = Instant::now();
            drop(compile_module(&engine, &wasm));
            started.elapsed()
        })
    })
}

/// `instantiate`: a new store, instantiation, a call of the export `empty`, and the drop.
pub fn instantiate(wasm: &[u8], strategy: MemoryStrategy) -> Measure {
    let engine = engine(strategy, 0);
    let module = compile_module(&engine, wasm);
    let linker = Linker::new();
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            let mut store = Store::new(&engine);
            let instance = linker
                .instantiate(&mut store, &module)
                .expect("instantiates");
            let empty = instance
                .get_func(&store, "empty")
                .expect("an export `empty`");
            empty.call(&mut store, &[]).expect("`empty` returns");
        }
        started.elapsed()
    })
}

/// A store with `host.noop` defined and the calls module instantiated in it.
fn calls_instance(wasm: &[u8]) -> (Store, faasm_runtime::Instance) {
    let engine = default_engine();
    let module = compile_module(&engine, wasm);
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let noop = Func::wrap(&mut store, |_: &mut Caller<'_>| {});
    linker.define("host", "noop", Extern::Func(noop));
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, instance)
}

/// `calls`, Wasm→host: the export `call_host(n)` calls the no-op import `n` times.
pub fn wasm_to_host(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let call_host = instance.get_func(&store, "call_host").expect("`call_host`");
    Box::new(move |iterations| {
        let count = Val::I32(i32::try_from(iterations).unwrap_or(i32::MAX));
        let started = Instant::now();
        call_host
            .call(&mut store, &[count])
            .expect("`call_host` returns");
        started.elapsed()
    })
}

/// `calls`, host→Wasm: calls the no-op export `empty`.
pub fn host_to_wasm(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let empty = instance.get_func(&store, "empty").expect("`empty`");
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            empty.call(&mut store, &[]).expect("`empty` returns");
        }
        started.elapsed()
    })
}

/// `calls`, trap round trip: calls `oob`, whose out-of-bounds load traps, and gets the error.
pub fn trap_round_trip(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let oob = instance.get_func(&store, "oob").expect("`oob`");
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            assert!(oob.call(&mut store, &[]).is_err(), "`oob` traps");
        }
        started.elapsed()
    })
}
