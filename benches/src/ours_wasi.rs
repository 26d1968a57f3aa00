//! faasm-rs's runs of the real programs (`execute`'s SQLite and QuickJS), with our own WASI
//! (`faasm-hostcalls`): no arguments, no environment, no preopened directory, standard output
//! and error dropped, deterministic `random_get`.

use crate::stopwatch::Stopwatch;
use crate::{Measure, ours, repeat};
use faasm_hostcalls::{SeededRandom, WasiCtx, add_to_linker};
use faasm_runtime::{Engine, Linker, Module, Store, Val};
use std::time::Duration;

/// Instantiates a program with WASI and `bench.start`/`bench.end`, runs `_initialize` and then
/// `run` (with [`ours::CALL_TIMEOUT`]), and returns the measured time and the checksum.
pub fn run_program(engine: &Engine, module: &Module) -> (Duration, u32) {
    let mut store = Store::new(engine);
    store.set_timeout(Some(ours::CALL_TIMEOUT));
    let mut linker = Linker::new();
    let stopwatch = Stopwatch::default();
    ours::define_bench_imports(&mut linker, &mut store, &stopwatch);
    let ctx = WasiCtx::builder()
        .random(SeededRandom::new(0))
        .build()
        .expect("a WASI context");
    add_to_linker(&mut linker, &mut store, ctx);
    let instance = linker
        .instantiate(&mut store, module)
        .expect("our engine instantiates the program");
    if let Some(initialize) = instance.get_func(&store, "_initialize") {
        initialize
            .call(&mut store, &[])
            .expect("`_initialize` runs");
    }
    let run = instance.get_func(&store, "run").expect("an export `run`");
    let results = run.call(&mut store, &[]).expect("the program runs");
    match results.as_slice() {
        [Val::I32(checksum)] => (stopwatch.measured(), *checksum as u32),
        other => panic!("`run` returned {other:?}"),
    }
}

/// `execute`: runs the precompiled program, timed between `bench.start` and `bench.end`.
pub fn execute(wasm: &[u8]) -> Measure {
    let engine = ours::default_engine();
    let module = ours::compile_module(&engine, wasm);
    Box::new(move |iterations| repeat(iterations, || run_program(&engine, &module).0))
}
