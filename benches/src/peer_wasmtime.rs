//! Wasmtime 48's side of every group: its default configuration (pooling allocator with
//! copy-on-write images for `instantiate`).

use crate::stopwatch::Stopwatch;
use crate::{Measure, repeat};
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store,
    TypedFunc,
};

/// The default engine.
pub fn default_engine() -> Engine {
    Engine::default()
}

/// An engine that compiles on one thread, or on all cores.
pub fn compile_engine(parallel: bool) -> Engine {
    let mut config = Config::new();
    config.parallel_compilation(parallel);
    Engine::new(&config).expect("creating a Wasmtime engine")
}

/// An engine with the pooling allocator and copy-on-write memory images.
pub fn pooling_engine() -> Engine {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_memories(64)
        .total_core_instances(64)
        .total_tables(64);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
        .memory_init_cow(true);
    Engine::new(&config).expect("creating a pooling Wasmtime engine")
}

/// Compiles `wasm`, panicking on errors.
pub fn compile_module(engine: &Engine, wasm: &[u8]) -> Module {
    Module::new(engine, wasm).expect("Wasmtime compiles the module")
}

/// Instantiates a kernel, calls `run`, and returns the measured time and the checksum.
pub fn run_kernel(engine: &Engine, module: &Module) -> (Duration, u32) {
    let mut store = Store::new(engine, Stopwatch::default());
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            "bench",
            "start",
            |caller: wasmtime::Caller<'_, Stopwatch>| caller.data().start(),
        )
        .and_then(|linker| {
            linker.func_wrap("bench", "end", |caller: wasmtime::Caller<'_, Stopwatch>| {
                caller.data().end()
            })
        })
        .expect("defining bench.start and bench.end");
    let instance = linker
        .instantiate(&mut store, module)
        .expect("Wasmtime instantiates the kernel");
    let run: TypedFunc<(), u32> = instance
        .get_typed_func(&mut store, "run")
        .expect("an export `run: [] -> [i32]`");
    let checksum = run.call(&mut store, ()).expect("the kernel runs");
    (store.data().measured(), checksum)
}

/// `execute`: runs the precompiled kernel, timed between `bench.start` and `bench.end`.
pub fn execute(wasm: &[u8]) -> Measure {
    let engine = default_engine();
    let module = compile_module(&engine, wasm);
    Box::new(move |iterations| repeat(iterations, || run_kernel(&engine, &module).0))
}

/// `compile`: compiles `wasm` on one thread or on all cores.
pub fn compile(wasm: &[u8], parallel: bool) -> Measure {
    let engine = compile_engine(parallel);
    let wasm = wasm.to_vec();
    Box::new(move |iterations| {
        repeat(iterations, || {
            let started = Instant::now();
            drop(compile_module(&engine, &wasm));
            started.elapsed()
        })
    })
}

/// `instantiate`: a new store, instantiation (pooling, copy-on-write), a call of `empty`, and
/// the drop.
pub fn instantiate(wasm: &[u8]) -> Measure {
    let engine = pooling_engine();
    let module = compile_module(&engine, wasm);
    let linker: Linker<()> = Linker::new(&engine);
    let pre = linker.instantiate_pre(&module).expect("resolving imports");
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            let mut store = Store::new(&engine, ());
            let instance = pre.instantiate(&mut store).expect("instantiates");
            let empty: TypedFunc<(), ()> = instance
                .get_typed_func(&mut store, "empty")
                .expect("`empty`");
            empty.call(&mut store, ()).expect("`empty` returns");
        }
        started.elapsed()
    })
}

/// A store with `host.noop` defined and the calls module instantiated in it.
fn calls_instance(wasm: &[u8]) -> (Store<()>, wasmtime::Instance) {
    let engine = default_engine();
    let module = compile_module(&engine, wasm);
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "noop", || {})
        .expect("defining host.noop");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, instance)
}

/// `calls`, Wasm→host: the export `call_host(n)` calls the no-op import `n` times.
pub fn wasm_to_host(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let call_host: TypedFunc<i32, ()> = instance
        .get_typed_func(&mut store, "call_host")
        .expect("`call_host`");
    Box::new(move |iterations| {
        let count = i32::try_from(iterations).unwrap_or(i32::MAX);
        let started = Instant::now();
        call_host
            .call(&mut store, count)
            .expect("`call_host` returns");
        started.elapsed()
    })
}

/// `calls`, host→Wasm: calls the no-op export `empty` (untyped, as ours is).
pub fn host_to_wasm(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let empty = instance.get_func(&mut store, "empty").expect("`empty`");
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            empty
                .call(&mut store, &[], &mut [])
                .expect("`empty` returns");
        }
        started.elapsed()
    })
}

/// `calls`, trap round trip: calls `oob`, whose out-of-bounds load traps, and gets the error.
pub fn trap_round_trip(wasm: &[u8]) -> Measure {
    let (mut store, instance) = calls_instance(wasm);
    let oob = instance.get_func(&mut store, "oob").expect("`oob`");
    Box::new(move |iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            assert!(oob.call(&mut store, &[], &mut []).is_err(), "`oob` traps");
        }
        started.elapsed()
    })
}
