//! Wasmtime 48's runs of the real programs (`execute`'s SQLite and QuickJS) over the minimal
//! WASI of [`crate::wasi_shim`], not wasmtime-wasi.

use crate::wasi_shim::{self, WasiShim, errno};
use crate::{Measure, repeat};
use std::time::Duration;
use wasmtime::{Caller, Engine, Extern, ExternType, Linker, Module, Store, TypedFunc, Val};

type Shim<'a> = Caller<'a, WasiShim>;

/// Instantiates a program, runs `_initialize` and then `run`, and returns the measured time and
/// the checksum.
pub fn run_program(engine: &Engine, module: &Module) -> (Duration, u32) {
    let mut store = Store::new(engine, WasiShim::default());
    let linker = linker(engine, module);
    let instance = linker
        .instantiate(&mut store, module)
        .expect("Wasmtime instantiates the program");
    if let Ok(initialize) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        initialize.call(&mut store, ()).expect("`_initialize` runs");
    }
    let run: TypedFunc<(), u32> = instance
        .get_typed_func(&mut store, "run")
        .expect("an export `run: [] -> [i32]`");
    let checksum = run.call(&mut store, ()).expect("the program runs");
    (store.data().stopwatch.measured(), checksum)
}

/// `execute`: runs the precompiled program, timed between `bench.start` and `bench.end`.
pub fn execute(wasm: &[u8]) -> Measure {
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).expect("Wasmtime compiles the program");
    Box::new(move |iterations| repeat(iterations, || run_program(&engine, &module).0))
}

/// A linker with `bench.start`/`bench.end` and the shim's WASI, including the file-less stubs
/// of [`wasi_shim::NO_FILES`] with the types `module` imports them with.
fn linker(engine: &Engine, module: &Module) -> Linker<WasiShim> {
    let mut linker = Linker::new(engine);
    define(&mut linker).expect("defining the shim");
    for import in module.imports() {
        let (Some(errno), ExternType::Func(ty)) =
            (wasi_shim::no_files_errno(import.name()), import.ty())
        else {
            continue;
        };
        if import.module() == wasi_shim::MODULE {
            linker
                .func_new(import.module(), import.name(), ty, move |_, _, results| {
                    results[0] = Val::I32(errno);
                    Ok(())
                })
                .expect("defining a stub");
        }
    }
    linker
}

/// Defines the bench imports and the shim's functions.
fn define(linker: &mut Linker<WasiShim>) -> wasmtime::Result<()> {
    let m = wasi_shim::MODULE;
    linker.func_wrap("bench", "start", |c: Shim<'_>| c.data().stopwatch.start())?;
    linker.func_wrap("bench", "end", |c: Shim<'_>| c.data().stopwatch.end())?;
    linker.func_wrap(
        m,
        "fd_write",
        |mut c: Shim<'_>, fd: i32, iovs: i32, n: i32, out: i32| {
            with_memory(&mut c, |mem, shim| shim.fd_write(mem, fd, iovs, n, out))
        },
    )?;
    linker.func_wrap(
        m,
        "clock_time_get",
        |mut c: Shim<'_>, id: i32, _: i64, out: i32| {
            with_memory(&mut c, |mem, shim| shim.clock_time_get(mem, id, out))
        },
    )?;
    linker.func_wrap(m, "random_get", |mut c: Shim<'_>, buf: i32, len: i32| {
        with_memory(&mut c, |mem, shim| shim.random_get(mem, buf, len))
    })?;
    linker.func_wrap(m, "fd_fdstat_get", |mut c: Shim<'_>, fd: i32, out: i32| {
        with_memory(&mut c, |mem, _| wasi_shim::fd_fdstat_get(mem, fd, out))
    })?;
    for name in ["args_sizes_get", "environ_sizes_get"] {
        linker.func_wrap(m, name, |mut c: Shim<'_>, count: i32, size: i32| {
            with_memory(&mut c, |mem, _| wasi_shim::empty_sizes(mem, count, size))
        })?;
    }
    for name in ["args_get", "environ_get"] {
        linker.func_wrap(m, name, |mut c: Shim<'_>, pointers: i32, buffer: i32| {
            with_memory(&mut c, |mem, _| wasi_shim::empty_get(mem, pointers, buffer))
        })?;
    }
    linker.func_wrap(m, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("proc_exit({code})")))
    })?;
    Ok(())
}

/// Calls `f` with the caller's memory `memory` and the shim; `FAULT` without a memory.
fn with_memory(caller: &mut Shim<'_>, f: impl FnOnce(&mut [u8], &mut WasiShim) -> i32) -> i32 {
    match caller.get_export("memory").and_then(Extern::into_memory) {
        Some(memory) => {
            let (bytes, shim) = memory.data_and_store_mut(caller);
            f(bytes, shim)
        }
        None => errno::FAULT,
    }
}
