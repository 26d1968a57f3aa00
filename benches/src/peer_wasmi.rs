//! wasmi's side of the `execute` group (an interpreter: the lower bar).

use crate::stopwatch::Stopwatch;
use crate::{Measure, repeat};
use std::time::Duration;
use wasmi::{Engine, Linker, Module, Store, TypedFunc};

/// Instantiates a kernel, calls `run`, and returns the measured time and the checksum.
pub fn run_kernel(engine: &Engine, module: &Module) -> (Duration, u32) {
    let mut store = Store::new(engine, Stopwatch::default());
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("bench", "start", |caller: wasmi::Caller<'_, Stopwatch>| {
            caller.data().start()
        })
        .and_then(|linker| {
            linker.func_wrap("bench", "end", |caller: wasmi::Caller<'_, Stopwatch>| {
                caller.data().end()
            })
        })
        .expect("defining bench.start and bench.end");
    let instance = linker
        .instantiate_and_start(&mut store, module)
        .expect("wasmi instantiates the kernel");
    let run: TypedFunc<(), u32> = instance
        .get_typed_func(&store, "run")
        .expect("an export `run: [] -> [i32]`");
    let checksum = run.call(&mut store, ()).expect("the kernel runs");
    (store.data().measured(), checksum)
}

/// Compiles `wasm` with the default engine.
pub fn compile_module(wasm: &[u8]) -> (Engine, Module) {
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).expect("wasmi compiles the module");
    (engine, module)
}

/// `execute`: runs the precompiled kernel, timed between `bench.start` and `bench.end`.
pub fn execute(wasm: &[u8]) -> Measure {
    let (engine, module) = compile_module(wasm);
    Box::new(move |iterations| repeat(iterations, || run_kernel(&engine, &module).0))
}
