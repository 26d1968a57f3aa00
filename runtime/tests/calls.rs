//! End to end through the compiler: calls, values, host functions, linking, instantiation,
//! memories, tables and globals.

use faasm_runtime::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn compile(engine: &Engine, wat: &str) -> Module {
    let wasm = wat::parse_str(wat).expect("valid wat");
    Module::new(engine, &wasm).expect("compiles")
}

fn instantiate(store: &mut Store, linker: &Linker, wat: &str) -> Instance {
    let module = compile(store.engine(), wat);
    linker.instantiate(store, &module).expect("instantiates")
}

fn call(
    store: &mut Store,
    instance: Instance,
    name: &str,
    params: &[Val],
) -> Result<Vec<Val>, Trap> {
    let func = instance.get_func(store, name).expect("exported function");
    func.call(store, params)
}

#[test]
fn returns_a_constant() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module (func (export "f") (result i32) i32.const 7))"#,
    );
    assert_eq!(call(&mut store, instance, "f", &[]), Ok(vec![Val::I32(7)]));
}

#[test]
fn every_value_type_round_trips() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (func (export "id") (param i32 i64 f32 f64 v128 funcref externref)
                                (result i32 i64 f32 f64 v128 funcref externref)
              local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 local.get 5 local.get 6)
            (func (export "other")))"#,
    );
    let other = instance.get_func(&store, "other").expect("other");
    let cases = [
        vec![
            Val::I32(-1),
            Val::I64(i64::MIN),
            Val::F32(0x7fc0_0001),
            Val::F64(0x7ff8_0000_0000_0001),
            Val::V128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            Val::FuncRef(Some(other)),
            Val::ExternRef(Some(41)),
        ],
        vec![
            Val::I32(0),
            Val::I64(0),
            Val::F32(0),
            Val::F64(0),
            Val::V128(0),
            Val::FuncRef(None),
            Val::ExternRef(None),
        ],
        vec![
            Val::I32(i32::MAX),
            Val::I64(-2),
            Val::F32(1.5f32.to_bits()),
            Val::F64((-0.0f64).to_bits()),
            Val::V128(u128::MAX),
            Val::FuncRef(None),
            Val::ExternRef(Some(u32::MAX)),
        ],
    ];
    for params in cases {
        assert_eq!(
            call(&mut store, instance, "id", &params),
            Ok(params.clone())
        );
    }
}

#[test]
fn arithmetic_on_parameters() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (func (export "mix") (param i32 i64 f64) (result f64)
              local.get 0 f64.convert_i32_s
              local.get 1 f64.convert_i64_s f64.add
              local.get 2 f64.mul))"#,
    );
    let result = call(
        &mut store,
        instance,
        "mix",
        &[Val::I32(3), Val::I64(4), Val::F64(2.5f64.to_bits())],
    );
    assert_eq!(result, Ok(vec![Val::F64(17.5f64.to_bits())]));
}

#[test]
fn bad_arguments_are_rejected() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module (func (export "f") (param i32) (result i32) local.get 0))"#,
    );
    assert!(matches!(
        call(&mut store, instance, "f", &[]),
        Err(Trap::BadArguments(_))
    ));
    assert!(matches!(
        call(&mut store, instance, "f", &[Val::I64(1)]),
        Err(Trap::BadArguments(_))
    ));
    assert!(matches!(
        call(&mut store, instance, "f", &[Val::I32(1), Val::I32(2)]),
        Err(Trap::BadArguments(_))
    ));
    let func = instance.get_func(&store, "f").expect("f");
    let mut other = Store::new(store.engine());
    assert!(matches!(
        func.call(&mut other, &[Val::I32(1)]),
        Err(Trap::BadArguments(_))
    ));
    assert_eq!(
        func.ty(&store),
        FuncType::new([ValType::I32], [ValType::I32])
    );
    assert!(instance.get_export(&other, "f").is_none());
}

fn host_add(store: &mut Store) -> Func {
    Func::new(
        store,
        FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
        |_, params, results| match (params[0], params[1]) {
            (Val::I32(a), Val::I32(b)) => {
                results[0] = Val::I32(a.wrapping_add(b));
                Ok(())
            }
            _ => Err(Trap::Host("bad params".to_string())),
        },
    )
}

/// A store with `wat` instantiated, its import `host.add` being [`host_add`] (also returned).
fn instantiate_with_host_add(wat: &str) -> (Store, Instance, Func) {
    let mut store = Store::new(&Engine::default());
    let add = host_add(&mut store);
    let mut linker = Linker::new();
    linker.define("host", "add", Extern::Func(add));
    let instance = instantiate(&mut store, &linker, wat);
    (store, instance, add)
}

#[test]
fn wasm_calls_a_host_function() {
    let (mut store, instance, add) = instantiate_with_host_add(
        r#"(module
            (import "host" "add" (func $add (param i32 i32) (result i32)))
            (func (export "f") (param i32) (result i32)
              local.get 0 i32.const 10 call $add i32.const 1 i32.add))"#,
    );
    assert_eq!(
        call(&mut store, instance, "f", &[Val::I32(5)]),
        Ok(vec![Val::I32(16)])
    );
    assert_eq!(
        add.call(&mut store, &[Val::I32(2), Val::I32(3)]),
        Ok(vec![Val::I32(5)])
    );
    assert!(matches!(
        add.call(&mut store, &[Val::I32(2)]),
        Err(Trap::BadArguments(_))
    ));
}

#[test]
fn typed_host_functions_take_and_return_native_values() {
    let mut store = Store::new(&Engine::default());
    let mix = Func::wrap(
        &mut store,
        |_: &mut Caller<'_>, a: i32, b: i64, c: f32, d: f64, e: u32| -> f64 {
            f64::from(a) + b as f64 + f64::from(c) + d + f64::from(e)
        },
    );
    assert_eq!(
        mix.ty(&store),
        FuncType::new(
            [
                ValType::I32,
                ValType::I64,
                ValType::F32,
                ValType::F64,
                ValType::I32
            ],
            [ValType::F64]
        )
    );
    let fails = Func::wrap(
        &mut store,
        |_: &mut Caller<'_>, x: u64| -> Result<u64, Trap> {
            if x == 0 {
                Err(Trap::Host("zero".to_string()))
            } else {
                Ok(x * 2)
            }
        },
    );
    let seen = Arc::new(AtomicU32::new(0));
    let seen_in_host = seen.clone();
    let record = Func::wrap(&mut store, move |caller: &mut Caller<'_>, x: i32| {
        let byte = caller.memory_mut().map_or(0, |memory| memory[3]);
        seen_in_host.store(x as u32 + u32::from(byte), Ordering::Relaxed);
    });
    let mut linker = Linker::new();
    linker
        .define("host", "mix", Extern::Func(mix))
        .define("host", "fails", Extern::Func(fails))
        .define("host", "record", Extern::Func(record));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "mix" (func $mix (param i32 i64 f32 f64 i32) (result f64)))
            (import "host" "fails" (func $fails (param i64) (result i64)))
            (import "host" "record" (func $record (param i32)))
            (memory 1) (data (i32.const 3) "\05")
            (func (export "mix") (result f64)
                (call $mix (i32.const -1) (i64.const 1000000000000) (f32.const 0.5)
                           (f64.const 0.25) (i32.const -1)))
            (func (export "fails") (param i64) (result i64) (call $fails (local.get 0)))
            (func (export "record") (call $record (i32.const 40))))"#,
    );
    assert_eq!(
        call(&mut store, instance, "mix", &[]),
        Ok(vec![Val::F64(
            (1e12 + 0.75 - 1.0 + 4294967295.0f64).to_bits()
        )])
    );
    assert_eq!(
        call(&mut store, instance, "fails", &[Val::I64(21)]),
        Ok(vec![Val::I64(42)])
    );
    assert_eq!(
        call(&mut store, instance, "fails", &[Val::I64(0)]),
        Err(Trap::Host("zero".to_string()))
    );
    call(&mut store, instance, "record", &[]).expect("record");
    assert_eq!(
        seen.load(Ordering::Relaxed),
        45,
        "40 + the byte the caller's memory holds"
    );
    assert_eq!(
        fails.call(&mut store, &[Val::I64(5)]),
        Ok(vec![Val::I64(10)]),
        "the host calls a typed function too"
    );
    assert!(matches!(
        fails.call(&mut store, &[Val::I32(5)]),
        Err(Trap::BadArguments(_))
    ));
}

#[test]
fn host_errors_panics_and_exits_reach_the_caller() {
    let mut store = Store::new(&Engine::default());
    let unit = FuncType::new([], []);
    let fail = Func::new(&mut store, unit.clone(), |_, _, _| {
        Err(Trap::Host("no such file".to_string()))
    });
    let panic = Func::new(&mut store, unit.clone(), |_, _, _| panic!("host bug"));
    let typed_panic = Func::wrap(&mut store, |_: &mut Caller<'_>, x: i32| -> i32 {
        if x == 7 {
            panic!("typed host bug");
        }
        x + 1
    });
    let exit = Func::new(&mut store, unit.clone(), |_, _, _| Err(Trap::Exit(3)));
    let bad_result = Func::new(
        &mut store,
        FuncType::new([], [ValType::I32]),
        |_, _, results| {
            results[0] = Val::I64(1);
            Ok(())
        },
    );
    let mut linker = Linker::new();
    linker
        .define("host", "fail", Extern::Func(fail))
        .define("host", "panic", Extern::Func(panic))
        .define("host", "typed_panic", Extern::Func(typed_panic))
        .define("host", "exit", Extern::Func(exit))
        .define("host", "bad_result", Extern::Func(bad_result));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "fail" (func $fail))
            (import "host" "panic" (func $panic))
            (import "host" "typed_panic" (func $typed_panic (param i32) (result i32)))
            (import "host" "exit" (func $exit))
            (import "host" "bad_result" (func $bad_result (result i32)))
            (global $g (export "g") (mut i32) (i32.const 0))
            (func (export "fail") i32.const 1 global.set $g call $fail i32.const 2 global.set $g)
            (func (export "panic") call $panic)
            (func (export "typed_panic") (param i32) (result i32)
              (call $typed_panic (local.get 0)))
            (func (export "exit") call $exit unreachable)
            (func (export "bad_result") (result i32) call $bad_result))"#,
    );
    assert_eq!(
        call(&mut store, instance, "fail", &[]),
        Err(Trap::Host("no such file".to_string()))
    );
    let g = instance.get_global(&store, "g").expect("g");
    assert_eq!(
        g.get(&store),
        Val::I32(1),
        "the code after the failing call did not run"
    );
    match call(&mut store, instance, "panic", &[]) {
        Err(Trap::Host(message)) => assert!(message.contains("host bug"), "{message}"),
        other => panic!("expected a host trap, got {other:?}"),
    }
    match call(&mut store, instance, "typed_panic", &[Val::I32(7)]) {
        Err(Trap::Host(message)) => assert!(message.contains("typed host bug"), "{message}"),
        other => panic!("expected a host trap, got {other:?}"),
    }
    assert_eq!(
        call(&mut store, instance, "typed_panic", &[Val::I32(8)]),
        Ok(vec![Val::I32(9)]),
        "a typed host function answers normally after one of its calls panicked"
    );
    assert_eq!(call(&mut store, instance, "exit", &[]), Err(Trap::Exit(3)));
    assert!(matches!(
        call(&mut store, instance, "bad_result", &[]),
        Err(Trap::Host(_))
    ));
    // The store is still usable after all that.
    assert_eq!(
        call(&mut store, instance, "fail", &[]),
        Err(Trap::Host("no such file".to_string()))
    );
    match panic.call(&mut store, &[]) {
        Err(Trap::Host(message)) => assert!(message.contains("host bug")),
        other => panic!("expected a host trap, got {other:?}"),
    }
}

#[test]
fn nested_wasm_host_wasm_calls() {
    let mut store = Store::new(&Engine::default());
    let depth = Arc::new(AtomicU32::new(0));
    let seen = depth.clone();
    // The host function calls back into the instance's "double" export, and into "boom",
    // which traps: the inner trap comes back to the host function, not to the outer call.
    let callback = Func::new(
        &mut store,
        FuncType::new([ValType::I32], [ValType::I32]),
        move |caller, params, results| {
            seen.fetch_add(1, Ordering::SeqCst);
            let Some(Extern::Func(double)) = caller.get_export("double") else {
                return Err(Trap::Host("no double".to_string()));
            };
            let Some(Extern::Func(boom)) = caller.get_export("boom") else {
                return Err(Trap::Host("no boom".to_string()));
            };
            let inner = boom.call(caller.store_mut(), &[]);
            if inner != Err(Trap::Wasm(TrapCode::UnreachableCodeReached)) {
                return Err(Trap::Host(format!("inner call gave {inner:?}")));
            }
            let doubled = double.call(caller.store_mut(), &[params[0]])?;
            results[0] = doubled[0];
            Ok(())
        },
    );
    let mut linker = Linker::new();
    linker.define("host", "callback", Extern::Func(callback));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "callback" (func $callback (param i32) (result i32)))
            (func (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
            (func (export "boom") unreachable)
            (func (export "f") (param i32) (result i32)
              local.get 0 call $callback i32.const 1 i32.add))"#,
    );
    assert_eq!(
        call(&mut store, instance, "f", &[Val::I32(20)]),
        Ok(vec![Val::I32(41)])
    );
    assert_eq!(depth.load(Ordering::SeqCst), 1);
    // A trap after the nested calls still lands in the outer activation.
    assert_eq!(
        call(&mut store, instance, "boom", &[]),
        Err(Trap::Wasm(TrapCode::UnreachableCodeReached))
    );
}

#[test]
fn host_functions_see_the_callers_memory() {
    let mut store = Store::new(&Engine::default());
    let write = Func::new(
        &mut store,
        FuncType::new([ValType::I32], []),
        |caller, params, _| {
            let Val::I32(ptr) = params[0] else {
                return Err(Trap::Host("bad param".to_string()));
            };
            let memory = caller
                .memory_mut()
                .ok_or_else(|| Trap::Host("no memory".to_string()))?;
            let start = ptr as usize;
            memory
                .get_mut(start..start + 5)
                .ok_or_else(|| Trap::Host("out of bounds".to_string()))?
                .copy_from_slice(b"hello");
            Ok(())
        },
    );
    assert!(
        write.call(&mut store, &[Val::I32(0)]).is_err(),
        "no caller memory from the host"
    );
    let mut linker = Linker::new();
    linker.define("host", "write", Extern::Func(write));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "write" (func $write (param i32)))
            (memory (export "memory") 1)
            (func (export "f") (result i32) i32.const 100 call $write i32.const 104 i32.load8_u))"#,
    );
    assert_eq!(
        call(&mut store, instance, "f", &[]),
        Ok(vec![Val::I32(i32::from(b'o'))])
    );
    let memory = instance.get_memory(&store, "memory").expect("memory");
    assert_eq!(&memory.data(&store)[100..105], b"hello");
}

#[test]
fn instances_import_each_others_exports() {
    let mut store = Store::new(&Engine::default());
    let provider = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (memory (export "memory") 1 4)
            (table (export "table") 2 funcref)
            (global (export "counter") (mut i32) (i32.const 5))
            (global (export "constant") i64 (i64.const 9))
            (func $seven (result i32) i32.const 7)
            (elem (i32.const 0) $seven)
            (func (export "bump") (result i32)
              global.get 0 i32.const 1 i32.add global.set 0 global.get 0))"#,
    );
    let mut linker = Linker::new();
    linker.define_instance(&store, "provider", provider);
    let consumer = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "provider" "memory" (memory 1))
            (import "provider" "table" (table 1 funcref))
            (import "provider" "counter" (global $counter (mut i32)))
            (import "provider" "constant" (global $constant i64))
            (import "provider" "bump" (func $bump (result i32)))
            (type $ret_i32 (func (result i32)))
            (data (i32.const 16) "\2a")
            (func (export "run") (result i32)
              call $bump drop
              global.get $counter
              i32.const 0 call_indirect (type $ret_i32) i32.add
              i32.const 16 i32.load8_u i32.add
              global.get $constant i32.wrap_i64 i32.add)
            (func (export "grow") (result i32) i32.const 1 memory.grow))"#,
    );
    // 6 (counter after bump) + 7 (table[0]) + 42 (data) + 9 (constant)
    assert_eq!(
        call(&mut store, consumer, "run", &[]),
        Ok(vec![Val::I32(64)])
    );
    let counter = provider.get_global(&store, "counter").expect("counter");
    assert_eq!(counter.get(&store), Val::I32(6));
    counter.set(&mut store, Val::I32(100)).expect("set");
    assert_eq!(
        call(&mut store, provider, "bump", &[]),
        Ok(vec![Val::I32(101)])
    );
    let memory = provider.get_memory(&store, "memory").expect("memory");
    assert_eq!(
        memory.data(&store)[16],
        42,
        "the consumer's data segment went into the shared memory"
    );
    assert_eq!(
        call(&mut store, consumer, "grow", &[]),
        Ok(vec![Val::I32(1)])
    );
    assert_eq!(
        memory.size_pages(&store),
        2,
        "growth through the import is visible to the exporter"
    );
    let bump = provider.get_func(&store, "bump").expect("bump");
    assert_eq!(
        consumer
            .get_export(&store, "run")
            .map(|e| matches!(e, Extern::Func(_))),
        Some(true)
    );
    assert_eq!(bump.ty(&store), FuncType::new([], [ValType::I32]));
}

#[test]
fn imports_are_checked() {
    let mut store = Store::new(&Engine::default());
    let add = host_add(&mut store);
    let memory = Memory::new(
        &mut store,
        MemoryType {
            minimum: 1,
            maximum: Some(2),
        },
    )
    .expect("memory");
    let global = Global::new(
        &mut store,
        GlobalType {
            content: ValType::I32,
            mutable: false,
        },
        Val::I32(1),
    )
    .expect("global");
    let mut linker = Linker::new();
    linker
        .define("m", "add", Extern::Func(add))
        .define("m", "memory", Extern::Memory(memory))
        .define("m", "global", Extern::Global(global));
    let engine = store.engine().clone();
    let try_instantiate =
        |store: &mut Store, wat: &str| linker.instantiate(store, &compile(&engine, wat));
    let unknown = try_instantiate(&mut store, r#"(module (import "m" "nope" (func)))"#);
    assert_eq!(
        unknown,
        Err(InstantiateError::UnknownImport {
            module: "m".into(),
            name: "nope".into()
        })
    );
    for wat in [
        r#"(module (import "m" "add" (func (param i32))))"#,
        r#"(module (import "m" "add" (memory 1)))"#,
        r#"(module (import "m" "memory" (memory 3)))"#,
        r#"(module (import "m" "memory" (memory 1 1)))"#,
        r#"(module (import "m" "global" (global (mut i32))))"#,
        r#"(module (import "m" "global" (global i64)))"#,
    ] {
        let result = try_instantiate(&mut store, wat);
        assert!(
            matches!(result, Err(InstantiateError::IncompatibleImport { .. })),
            "{wat}: {result:?}"
        );
    }
    for wat in [
        r#"(module (import "m" "add" (func (param i32 i32) (result i32))))"#,
        r#"(module (import "m" "memory" (memory 1 3)))"#,
        r#"(module (import "m" "memory" (memory 0)))"#,
        r#"(module (import "m" "global" (global i32)))"#,
    ] {
        assert!(try_instantiate(&mut store, wat).is_ok(), "{wat}");
    }
    let mut other = Store::new(&engine);
    let result = try_instantiate(
        &mut other,
        r#"(module (import "m" "add" (func (param i32 i32) (result i32))))"#,
    );
    assert!(
        matches!(result, Err(InstantiateError::IncompatibleImport { .. })),
        "another store's function"
    );
}

#[test]
fn segments_and_start_run_in_order() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (memory (export "memory") 1)
            (global $g (export "g") (mut i32) (i32.const 0))
            (data (i32.const 0) "abc")
            (data (i32.const 1) "XY")
            (func $start i32.const 0 i32.load8_u global.set $g)
            (start $start))"#,
    );
    let memory = instance.get_memory(&store, "memory").expect("memory");
    assert_eq!(&memory.data(&store)[..4], b"aXY\0");
    assert_eq!(
        instance.get_global(&store, "g").expect("g").get(&store),
        Val::I32(i32::from(b'a'))
    );
}

/// A module with `kib` KiB of data (bytes `i % 251`) at 70000, a second segment over part of
/// it, a passive segment, and functions to write memory and to `memory.init` the first one.
fn large_data_module(kib: usize, memory_pages: u32) -> String {
    let bytes: String = (0..kib << 10)
        .map(|i| format!("\\{:02x}", i % 251))
        .collect();
    format!(
        r#"(module
            (memory (export "memory") {memory_pages})
            (data (i32.const 70000) "{bytes}")
            (data (i32.const 70001) "XY")
            (data "passive")
            (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store8)
            (func (export "init_first") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))
            (func (export "init_passive") (memory.init 2 (i32.const 0) (i32.const 0) (i32.const 7))))"#
    )
}

/// Whether `addr` lies in a mapping of a memory image (a memfd), from `/proc/self/maps`.
fn mapped_from_memfd(addr: *const u8) -> bool {
    let addr = addr as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines().any(|line| {
        let Some((start, end)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        else {
            return false;
        };
        let parse = |hex| usize::from_str_radix(hex, 16).unwrap_or(0);
        (parse(start)..parse(end)).contains(&addr) && line.contains("memfd:faasm-memory-image")
    })
}

#[test]
fn large_data_segments_come_from_a_copy_on_write_image() {
    for strategy in [MemoryStrategy::default(), MemoryStrategy::Bounded] {
        let mut config = Config::default();
        config.compiler.memory_strategy = strategy;
        let engine = Engine::new(config).expect("engine");
        // The image ends in the third page; the memory has five.
        let module = compile(&engine, &large_data_module(64, 5));
        let mut expected = vec![0u8; 5 << 16];
        for i in 0..64 << 10 {
            expected[70000 + i] = (i % 251) as u8;
        }
        expected[70001..70003].copy_from_slice(b"XY");
        for round in 0..3 {
            let mut store = Store::new(&engine);
            let instance = Linker::new()
                .instantiate(&mut store, &module)
                .expect("instantiates");
            let memory = instance.get_memory(&store, "memory").expect("memory");
            assert!(
                memory.data(&store) == &expected[..],
                "round {round}: the segments, in order, over zeros"
            );
            assert!(
                mapped_from_memfd(memory.data(&store).as_ptr()),
                "the memory maps the module's image"
            );
            call(
                &mut store,
                instance,
                "store",
                &[Val::I32(70000), Val::I32(7)],
            )
            .expect("store");
            call(&mut store, instance, "store", &[Val::I32(10), Val::I32(7)]).expect("store");
            assert_eq!(
                call(&mut store, instance, "init_first", &[]),
                Err(Trap::Wasm(TrapCode::MemoryOutOfBounds)),
                "active segments are dropped"
            );
            call(&mut store, instance, "init_passive", &[]).expect("passive stays");
            assert_eq!(&memory.data(&store)[..7], b"passive");
            assert_eq!(memory.grow(&mut store, 1), Ok(5));
        }
    }
}

#[test]
fn large_data_segments_out_of_bounds_still_trap() {
    let engine = Engine::default();
    let module = compile(&engine, &large_data_module(64, 2));
    let result = Linker::new().instantiate(&mut Store::new(&engine), &module);
    assert_eq!(
        result,
        Err(InstantiateError::Trap(Trap::Wasm(
            TrapCode::MemoryOutOfBounds
        )))
    );
}

#[test]
fn out_of_bounds_segments_trap_and_keep_earlier_writes() {
    let mut store = Store::new(&Engine::default());
    let memory = Memory::new(
        &mut store,
        MemoryType {
            minimum: 1,
            maximum: None,
        },
    )
    .expect("memory");
    let table = Table::new(
        &mut store,
        TableType {
            element: RefType::FuncRef,
            minimum: 2,
            maximum: None,
        },
        Val::FuncRef(None),
    )
    .expect("table");
    let mut linker = Linker::new();
    linker
        .define("m", "memory", Extern::Memory(memory))
        .define("m", "table", Extern::Table(table));
    let engine = store.engine().clone();
    let data_oob = compile(
        &engine,
        r#"(module (import "m" "memory" (memory 1))
            (data (i32.const 0) "ok") (data (i32.const 65535) "no"))"#,
    );
    let result = linker.instantiate(&mut store, &data_oob);
    assert_eq!(
        result,
        Err(InstantiateError::Trap(Trap::Wasm(
            TrapCode::MemoryOutOfBounds
        )))
    );
    assert_eq!(
        &memory.data(&store)[..2],
        b"ok",
        "the first segment stays written"
    );
    assert_eq!(
        memory.data(&store)[65535],
        0,
        "the failing segment wrote nothing"
    );
    let elem_oob = compile(
        &engine,
        r#"(module (import "m" "table" (table 1 funcref)) (import "m" "memory" (memory 1))
            (func $f) (elem (i32.const 0) $f) (elem (i32.const 1) $f $f)
            (data (i32.const 10) "never"))"#,
    );
    let result = linker.instantiate(&mut store, &elem_oob);
    assert_eq!(
        result,
        Err(InstantiateError::Trap(Trap::Wasm(
            TrapCode::TableOutOfBounds
        )))
    );
    assert!(
        matches!(table.get(&store, 0), Some(Val::FuncRef(Some(_)))),
        "the first segment stays written"
    );
    assert_eq!(table.get(&store, 1), Some(Val::FuncRef(None)));
    assert_eq!(
        &memory.data(&store)[10..15],
        &[0; 5],
        "data segments come after element segments"
    );
    let start_traps = compile(&engine, r#"(module (func $s unreachable) (start $s))"#);
    let result = Linker::new().instantiate(&mut store, &start_traps);
    assert_eq!(
        result,
        Err(InstantiateError::Trap(Trap::Wasm(
            TrapCode::UnreachableCodeReached
        )))
    );
}

#[test]
fn memory_grow_from_wasm_and_host() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (memory (export "memory") 1 3)
            (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
            (func (export "size") (result i32) memory.size)
            (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u)
            (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store8))"#,
    );
    let memory = instance.get_memory(&store, "memory").expect("memory");
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(65536)]),
        Err(Trap::Wasm(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(
        call(&mut store, instance, "grow", &[Val::I32(1)]),
        Ok(vec![Val::I32(1)])
    );
    assert_eq!(
        call(&mut store, instance, "size", &[]),
        Ok(vec![Val::I32(2)])
    );
    assert_eq!(
        call(
            &mut store,
            instance,
            "store",
            &[Val::I32(65536), Val::I32(9)]
        ),
        Ok(vec![])
    );
    assert_eq!(memory.data(&store)[65536], 9);
    assert_eq!(
        call(&mut store, instance, "grow", &[Val::I32(2)]),
        Ok(vec![Val::I32(-1)]),
        "beyond the maximum"
    );
    assert_eq!(memory.grow(&mut store, 1), Ok(2));
    assert!(memory.grow(&mut store, 1).is_err());
    assert_eq!(
        call(&mut store, instance, "size", &[]),
        Ok(vec![Val::I32(3)])
    );
    assert_eq!(
        memory.ty(&store),
        MemoryType {
            minimum: 3,
            maximum: Some(3)
        }
    );
    memory.data_mut(&mut store)[3 * 65536 - 1] = 5;
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(3 * 65536 - 1)]),
        Ok(vec![Val::I32(5)])
    );
}

#[test]
fn bulk_memory_and_table_operations() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (memory (export "memory") 1)
            (table (export "table") 4 funcref)
            (data $d "hello")
            (elem $e func $a $b)
            (func $a (result i32) i32.const 1)
            (func $b (result i32) i32.const 2)
            (func (export "fill") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
            (func (export "copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)
            (func (export "init") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.init $d)
            (func (export "drop") data.drop $d)
            (func (export "table_init") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 table.init $e)
            (func (export "table_copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 table.copy)
            (func (export "table_grow") (param i32) (result i32) ref.null func local.get 0 table.grow)
            (func (export "table_fill") (param i32 i32) local.get 0 ref.null func local.get 1 table.fill)
            (func (export "elem_drop") elem.drop $e)
            (func (export "call") (param i32) (result i32) local.get 0 call_indirect (result i32)))"#,
    );
    let i = Val::I32;
    let memory = instance.get_memory(&store, "memory").expect("memory");
    assert_eq!(
        call(&mut store, instance, "init", &[i(10), i(1), i(4)]),
        Ok(vec![])
    );
    assert_eq!(&memory.data(&store)[10..14], b"ello");
    assert_eq!(
        call(&mut store, instance, "init", &[i(0), i(2), i(4)]),
        Err(Trap::Wasm(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(
        call(&mut store, instance, "copy", &[i(11), i(10), i(4)]),
        Ok(vec![])
    );
    assert_eq!(&memory.data(&store)[10..15], b"eello");
    assert_eq!(
        call(&mut store, instance, "fill", &[i(65530), i(7), i(6)]),
        Ok(vec![])
    );
    assert_eq!(
        call(&mut store, instance, "fill", &[i(65530), i(7), i(7)]),
        Err(Trap::Wasm(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(memory.data(&store)[65535], 7);
    assert_eq!(call(&mut store, instance, "drop", &[]), Ok(vec![]));
    assert_eq!(
        call(&mut store, instance, "init", &[i(0), i(0), i(0)]),
        Ok(vec![]),
        "empty init of a dropped segment"
    );
    assert_eq!(
        call(&mut store, instance, "init", &[i(0), i(0), i(1)]),
        Err(Trap::Wasm(TrapCode::MemoryOutOfBounds))
    );

    assert_eq!(
        call(&mut store, instance, "call", &[i(0)]),
        Err(Trap::Wasm(TrapCode::IndirectCallToNull))
    );
    assert_eq!(
        call(&mut store, instance, "table_init", &[i(1), i(0), i(2)]),
        Ok(vec![])
    );
    assert_eq!(call(&mut store, instance, "call", &[i(2)]), Ok(vec![i(2)]));
    assert_eq!(
        call(&mut store, instance, "table_copy", &[i(2), i(1), i(2)]),
        Ok(vec![])
    );
    assert_eq!(call(&mut store, instance, "call", &[i(3)]), Ok(vec![i(2)]));
    assert_eq!(
        call(&mut store, instance, "table_grow", &[i(2)]),
        Ok(vec![i(4)])
    );
    assert_eq!(
        call(&mut store, instance, "call", &[i(5)]),
        Err(Trap::Wasm(TrapCode::IndirectCallToNull))
    );
    assert_eq!(
        call(&mut store, instance, "call", &[i(6)]),
        Err(Trap::Wasm(TrapCode::TableOutOfBounds))
    );
    assert_eq!(
        call(&mut store, instance, "table_fill", &[i(1), i(3)]),
        Ok(vec![])
    );
    assert_eq!(
        call(&mut store, instance, "table_fill", &[i(5), i(2)]),
        Err(Trap::Wasm(TrapCode::TableOutOfBounds))
    );
    assert_eq!(
        call(&mut store, instance, "call", &[i(1)]),
        Err(Trap::Wasm(TrapCode::IndirectCallToNull))
    );
    assert_eq!(call(&mut store, instance, "elem_drop", &[]), Ok(vec![]));
    assert_eq!(
        call(&mut store, instance, "table_init", &[i(0), i(0), i(1)]),
        Err(Trap::Wasm(TrapCode::TableOutOfBounds))
    );
    let table = instance.get_table(&store, "table").expect("table");
    assert_eq!(table.size(&store), 6);
}

#[test]
fn tables_hold_funcrefs_and_externrefs_from_the_host() {
    let mut store = Store::new(&Engine::default());
    let add = host_add(&mut store);
    let unimported = host_add(&mut store);
    let mut linker = Linker::new();
    linker.define("host", "add", Extern::Func(add));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "add" (func $add (param i32 i32) (result i32)))
            (table (export "funcs") 3 funcref)
            (table (export "externs") 2 externref)
            (func $sub (export "sub") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub)
            (elem (table 0) (i32.const 0) func $add $sub)
            (func (export "apply") (param i32 i32 i32) (result i32)
              local.get 1 local.get 2 local.get 0 call_indirect (param i32 i32) (result i32))
            (func (export "get_extern") (param i32) (result externref) local.get 0 table.get 1))"#,
    );
    let funcs = instance.get_table(&store, "funcs").expect("funcs");
    let sub = instance.get_func(&store, "sub").expect("sub");
    assert_eq!(
        funcs.get(&store, 0),
        Some(Val::FuncRef(Some(add))),
        "an imported host function maps back to itself"
    );
    assert_eq!(funcs.get(&store, 1), Some(Val::FuncRef(Some(sub))));
    assert_eq!(funcs.get(&store, 3), None);
    funcs
        .set(&mut store, 2, Val::FuncRef(Some(add)))
        .expect("set");
    let apply = |store: &mut Store, index: i32| {
        call(
            store,
            instance,
            "apply",
            &[Val::I32(index), Val::I32(8), Val::I32(3)],
        )
    };
    assert_eq!(apply(&mut store, 2), Ok(vec![Val::I32(11)]));
    assert_eq!(apply(&mut store, 1), Ok(vec![Val::I32(5)]));
    assert!(matches!(
        funcs.set(&mut store, 2, Val::FuncRef(Some(unimported))),
        Err(Trap::BadArguments(_))
    ));
    assert!(matches!(
        funcs.set(&mut store, 2, Val::ExternRef(None)),
        Err(Trap::BadArguments(_))
    ));
    assert_eq!(
        funcs.set(&mut store, 3, Val::FuncRef(None)),
        Err(Trap::Wasm(TrapCode::TableOutOfBounds))
    );
    let externs = instance.get_table(&store, "externs").expect("externs");
    externs
        .set(&mut store, 1, Val::ExternRef(Some(77)))
        .expect("set");
    assert_eq!(
        call(&mut store, instance, "get_extern", &[Val::I32(1)]),
        Ok(vec![Val::ExternRef(Some(77))])
    );
    assert_eq!(
        call(&mut store, instance, "get_extern", &[Val::I32(0)]),
        Ok(vec![Val::ExternRef(None)])
    );
    assert_eq!(externs.grow(&mut store, 2, Val::ExternRef(Some(5))), Ok(2));
    assert_eq!(externs.get(&store, 3), Some(Val::ExternRef(Some(5))));
    assert_eq!(externs.ty(&store).minimum, 4);
}

#[test]
fn host_created_globals_tables_and_memories() {
    let mut store = Store::new(&Engine::default());
    let mutable = GlobalType {
        content: ValType::F64,
        mutable: true,
    };
    let g = Global::new(&mut store, mutable, Val::F64(1.0f64.to_bits())).expect("global");
    assert!(Global::new(&mut store, mutable, Val::I32(1)).is_err());
    assert!(matches!(
        g.set(&mut store, Val::I32(0)),
        Err(Trap::BadArguments(_))
    ));
    g.set(&mut store, Val::F64(2.0f64.to_bits())).expect("set");
    let constant = Global::new(
        &mut store,
        GlobalType {
            content: ValType::I32,
            mutable: false,
        },
        Val::I32(4),
    )
    .expect("global");
    assert!(constant.set(&mut store, Val::I32(5)).is_err());
    let t = Table::new(
        &mut store,
        TableType {
            element: RefType::ExternRef,
            minimum: 1,
            maximum: Some(2),
        },
        Val::ExternRef(Some(3)),
    )
    .expect("table");
    assert_eq!(t.grow(&mut store, 1, Val::ExternRef(None)), Ok(1));
    assert!(t.grow(&mut store, 1, Val::ExternRef(None)).is_err());
    let m = Memory::new(
        &mut store,
        MemoryType {
            minimum: 0,
            maximum: None,
        },
    )
    .expect("memory");
    assert_eq!(m.data(&store).len(), 0);
    assert!(
        Memory::new(
            &mut store,
            MemoryType {
                minimum: 2,
                maximum: Some(1)
            }
        )
        .is_err()
    );
    let mut linker = Linker::new();
    linker
        .define("h", "g", Extern::Global(g))
        .define("h", "t", Extern::Table(t))
        .define("h", "m", Extern::Memory(m));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "h" "g" (global $g (mut f64)))
            (import "h" "t" (table $t 2 externref))
            (import "h" "m" (memory 0))
            (func (export "run") (result f64 externref i32)
              global.get $g f64.const 0.5 f64.add global.set $g
              global.get $g
              i32.const 0 table.get $t
              i32.const 1 memory.grow))"#,
    );
    let results = call(&mut store, instance, "run", &[]);
    assert_eq!(
        results,
        Ok(vec![
            Val::F64(2.5f64.to_bits()),
            Val::ExternRef(Some(3)),
            Val::I32(0)
        ])
    );
    assert_eq!(g.get(&store), Val::F64(2.5f64.to_bits()));
    assert_eq!(m.size_pages(&store), 1);
    let mut other = Store::new(store.engine());
    assert_eq!(
        m.data(&other).len(),
        0,
        "another store's handle reads nothing"
    );
    assert!(m.grow(&mut other, 1).is_err());
    assert!(g.set(&mut other, Val::F64(0)).is_err());
    assert_eq!(t.get(&other, 0), None);
}

#[test]
fn globals_initialise_from_imports_and_functions() {
    let mut store = Store::new(&Engine::default());
    let base = Global::new(
        &mut store,
        GlobalType {
            content: ValType::I32,
            mutable: false,
        },
        Val::I32(40),
    )
    .expect("global");
    let mut linker = Linker::new();
    linker.define("h", "base", Extern::Global(base));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "h" "base" (global $base i32))
            (global (export "copy") i32 (global.get $base))
            (global (export "f") funcref (ref.func $f))
            (global (export "big") i64 (i64.const 0x300000000))
            (func $f (export "fn")))"#,
    );
    assert_eq!(
        instance
            .get_global(&store, "copy")
            .expect("copy")
            .get(&store),
        Val::I32(40)
    );
    let f = instance.get_func(&store, "fn").expect("fn");
    assert_eq!(
        instance.get_global(&store, "f").expect("f").get(&store),
        Val::FuncRef(Some(f))
    );
    assert_eq!(
        instance.get_global(&store, "big").expect("big").get(&store),
        Val::I64(3 << 32)
    );
    let names: Vec<String> = instance
        .exports(&store)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["copy", "f", "big", "fn"]);
}

#[test]
fn many_stores_reuse_memory_slots() {
    let engine = Engine::default();
    let module = compile(
        &engine,
        r#"(module (memory (export "m") 1) (func (export "f") (result i32) i32.const 0 i32.load))"#,
    );
    for i in 0..300 {
        let mut store = Store::new(&engine);
        let instance = Linker::new()
            .instantiate(&mut store, &module)
            .expect("instantiate");
        let memory = instance.get_memory(&store, "m").expect("m");
        assert_eq!(
            memory.data(&store)[0],
            0,
            "a reused slot starts zeroed (iteration {i})"
        );
        memory.data_mut(&mut store)[0] = 1;
        assert_eq!(call(&mut store, instance, "f", &[]), Ok(vec![Val::I32(1)]));
    }
}

#[test]
fn stores_move_between_threads() {
    let engine = Engine::default();
    let module = compile(
        &engine,
        r#"(module (global (export "g") (mut i32) (i32.const 0))
        (func (export "inc") (result i32) global.get 0 i32.const 1 i32.add global.set 0 global.get 0))"#,
    );
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    assert_eq!(
        call(&mut store, instance, "inc", &[]),
        Ok(vec![Val::I32(1)])
    );
    let mut store = std::thread::spawn(move || {
        assert_eq!(
            call(&mut store, instance, "inc", &[]),
            Ok(vec![Val::I32(2)])
        );
        store
    })
    .join()
    .expect("thread");
    assert_eq!(
        call(&mut store, instance, "inc", &[]),
        Ok(vec![Val::I32(3)])
    );
}

/// The engine's memory limit bounds all memories of an instance together (multi-memory), at
/// instantiation, on `memory.grow` and on growth from the host; another instance has its own.
#[test]
fn the_memory_limit_covers_all_memories_of_an_instance() {
    for strategy in [MemoryStrategy::default(), MemoryStrategy::Bounded] {
        let mut config = Config {
            max_memory_pages: 10,
            ..Config::default()
        };
        config.compiler.memory_strategy = strategy;
        let engine = Engine::new(config).expect("engine");
        let mut store = Store::new(&engine);
        let too_big = compile(&engine, "(module (memory 4) (memory 4) (memory 4))");
        match Linker::new().instantiate(&mut store, &too_big) {
            Err(InstantiateError::Resource(message)) => assert!(
                message.contains("limit of 10 pages in all"),
                "unexpected message: {message}"
            ),
            other => panic!("12 pages in all were accepted: {other:?}"),
        }
        let wat = r#"(module
            (memory $a (export "a") 3) (memory $b 3) (memory $c 3)
            (func (export "grow_a") (param i32) (result i32) (memory.grow $a (local.get 0)))
            (func (export "grow_c") (param i32) (result i32) (memory.grow $c (local.get 0))))"#;
        let instance = instantiate(&mut store, &Linker::new(), wat);
        let other = instantiate(&mut store, &Linker::new(), wat);
        let grow = |store: &mut Store, instance: Instance, name: &str, pages: i32| {
            call(store, instance, name, &[Val::I32(pages)])
        };
        assert_eq!(
            grow(&mut store, instance, "grow_c", 2),
            Ok(vec![Val::I32(-1)])
        );
        assert_eq!(
            grow(&mut store, instance, "grow_c", 1),
            Ok(vec![Val::I32(3)])
        );
        assert_eq!(
            grow(&mut store, instance, "grow_a", 1),
            Ok(vec![Val::I32(-1)])
        );
        let a = instance.get_memory(&store, "a").expect("memory a");
        assert!(matches!(a.grow(&mut store, 1), Err(Trap::BadArguments(_))));
        assert_eq!(grow(&mut store, other, "grow_a", 1), Ok(vec![Val::I32(3)]));
    }
}

#[test]
fn bounded_memories_work_too() {
    let mut config = Config::default();
    config.compiler.memory_strategy = MemoryStrategy::Bounded;
    let engine = Engine::new(config).expect("engine");
    let mut store = Store::new(&engine);
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (memory 1 2)
            (func (export "load") (param i32) (result i32) local.get 0 i32.load)
            (func (export "grow") (result i32) i32.const 1 memory.grow))"#,
    );
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(65532)]),
        Ok(vec![Val::I32(0)])
    );
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(65533)]),
        Err(Trap::Wasm(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(
        call(&mut store, instance, "grow", &[]),
        Ok(vec![Val::I32(1)])
    );
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(65533)]),
        Ok(vec![Val::I32(0)])
    );
    assert_eq!(
        call(&mut store, instance, "grow", &[]),
        Ok(vec![Val::I32(-1)])
    );
}

/// Regression (found by the differential fuzzer, `fuzz/regressions/many-results.wat`): a function
/// type with more results than fit in return registers did not compile at all.
#[test]
fn more_results_than_return_registers() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module
            (type $t (func (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
            (table 1 funcref)
            (elem (i32.const 0) $twelve)
            (func $twelve (export "twelve") (type $t)
                i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5 i32.const 6
                i32.const 7 i32.const 8 i32.const 9 i32.const 10 i32.const 11 i32.const 12)
            (func $last (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
                local.get 11)
            (func (export "direct") (result i32) (call $last (call $twelve)))
            (func (export "indirect") (result i32)
                (call $last (call_indirect (type $t) (i32.const 0))))
            (func (export "floats") (result f64 f64 f64 f64 f64 f64 f64 f64 f64)
                f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
                f64.const 6 f64.const 7 f64.const 8 f64.const 9))"#,
    );
    let twelve: Vec<Val> = (1..=12).map(Val::I32).collect();
    assert_eq!(call(&mut store, instance, "twelve", &[]), Ok(twelve));
    assert_eq!(
        call(&mut store, instance, "direct", &[]),
        Ok(vec![Val::I32(12)])
    );
    assert_eq!(
        call(&mut store, instance, "indirect", &[]),
        Ok(vec![Val::I32(12)])
    );
    let floats: Vec<Val> = (1..=9).map(|i| Val::F64(f64::from(i).to_bits())).collect();
    assert_eq!(call(&mut store, instance, "floats", &[]), Ok(floats));
}

/// `return_call` and `return_call_indirect` to Wasm and to host functions; with more arguments
/// than registers (the callee pops them), and deep enough that ordinary calls would overflow the
/// 1 MiB Wasm stack.
#[test]
fn tail_calls_reach_host_functions_and_run_in_constant_stack() {
    let (mut store, instance, _) = instantiate_with_host_add(
        r#"(module
            (import "host" "add" (func $add (param i32 i32) (result i32)))
            (type $binary (func (param i32 i32) (result i32)))
            (type $many (func (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
            (table 2 funcref)
            (elem (i32.const 0) $add $count)
            (func (export "direct_to_host") (param i32) (result i32)
                (return_call $add (local.get 0) (i32.const 10)))
            (func (export "indirect_to_host") (param i32) (result i32)
                (return_call_indirect (type $binary) (local.get 0) (i32.const 20) (i32.const 0)))
            ;; Counts $n down to zero, moving the ten other arguments round by one each time.
            (func $count (type $many)
                (if (result i64) (i64.eqz (local.get 0))
                    (then (i64.add (local.get 1) (i64.mul (local.get 10) (i64.const 1000))))
                    (else (return_call_indirect (type $many)
                        (i64.sub (local.get 0) (i64.const 1))
                        (local.get 10) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                        (local.get 5) (local.get 6) (local.get 7) (local.get 8) (local.get 9)
                        (i32.const 1)))))
            (func $even (param i64) (result i32)
                (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 1))
                    (else (return_call $odd (i64.sub (local.get 0) (i64.const 1))))))
            (func $odd (param i64) (result i32)
                (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 0))
                    (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))
            (func (export "count") (param i64) (result i64)
                (return_call $count (local.get 0)
                    (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5)
                    (i64.const 6) (i64.const 7) (i64.const 8) (i64.const 9) (i64.const 10)))
            (export "even" (func $even)))"#,
    );
    assert_eq!(
        call(&mut store, instance, "direct_to_host", &[Val::I32(5)]),
        Ok(vec![Val::I32(15)])
    );
    assert_eq!(
        call(&mut store, instance, "indirect_to_host", &[Val::I32(5)]),
        Ok(vec![Val::I32(25)])
    );
    // A million calls of eleven arguments, each rotating the ten after the counter: after
    // 1,000,000 rotations (a multiple of 10) they are back in place.
    assert_eq!(
        call(&mut store, instance, "count", &[Val::I64(1_000_000)]),
        Ok(vec![Val::I64(1 + 10 * 1000)])
    );
    // After 1,000,003 rotations they have moved by 3: argument 1 holds what started in 8.
    assert_eq!(
        call(&mut store, instance, "count", &[Val::I64(1_000_003)]),
        Ok(vec![Val::I64(8 + 7 * 1000)])
    );
    assert_eq!(
        call(&mut store, instance, "even", &[Val::I64(10_000_001)]),
        Ok(vec![Val::I32(0)])
    );
}

/// A file of `len` zero bytes, already unlinked: like a state value's memfd.
fn shared_file(len: u64) -> std::fs::File {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "faasm-shared-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("a temporary file");
    std::fs::remove_file(&path).expect("unlink");
    file.set_len(len).expect("size");
    file
}

const SHARED_WAT: &str = r#"(module
    (memory (export "memory") 2)
    (data (i32.const 65544) "\07")
    (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#;

fn load(store: &mut Store, instance: Instance, addr: i32) -> i32 {
    match call(store, instance, "load", &[Val::I32(addr)]).as_deref() {
        Ok([Val::I32(value)]) => *value,
        other => panic!("load({addr}): {other:?}"),
    }
}

#[test]
fn a_file_mapped_shared_is_one_copy_for_every_memory_and_goes_on_reset() {
    use std::os::unix::fs::FileExt;
    let page = host_page_size() as u64;
    for strategy in [MemoryStrategy::default(), MemoryStrategy::Bounded] {
        let mut config = Config::default();
        config.compiler.memory_strategy = strategy;
        let engine = Engine::new(config).expect("engine");
        let module = compile(&engine, SHARED_WAT);
        let file = shared_file(2 * page);
        let (mut store_a, mut store_b) = (Store::new(&engine), Store::new(&engine));
        let a = Linker::new().instantiate(&mut store_a, &module).expect("a");
        let b = Linker::new().instantiate(&mut store_b, &module).expect("b");
        let image = a.capture(&store_a).expect("capture before mapping");
        let memory_a = a.get_memory(&store_a, "memory").expect("memory");
        let memory_b = b.get_memory(&store_b, "memory").expect("memory");
        // A maps the file over its data segment (inside the image), B one page higher.
        memory_a
            .map_shared(&mut store_a, 65536, page, &file, 0)
            .expect("map a");
        memory_b
            .map_shared(&mut store_b, 65536 + page, page, &file, 0)
            .expect("map b");
        assert_eq!(load(&mut store_a, a, 65544), 0, "the file's bytes show");
        call(&mut store_a, a, "store", &[Val::I32(65544), Val::I32(42)]).expect("store");
        let in_b = 65536 + page as i32 + 8;
        assert_eq!(load(&mut store_b, b, in_b), 42, "B sees A's write, no copy");
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, 8).expect("read");
        assert_eq!(byte, [42], "the write is in the file");
        let captured = a.capture(&store_a).expect("capture");
        assert_eq!(
            captured.memories[0].to_vec().expect("bytes")[65544],
            0,
            "a capture leaves shared pages out"
        );
        a.reset(&mut store_a, &image).expect("reset");
        assert_eq!(load(&mut store_a, a, 65544), 7, "the image's byte is back");
        assert_eq!(load(&mut store_b, b, in_b), 42, "the file keeps the value");
        // Now A's memory is the image's copy-on-write mapping: a shared mapping over it and a
        // reset put the image's page back in place.
        memory_a
            .map_shared(&mut store_a, 65536, page, &file, 0)
            .expect("map over the image");
        assert_eq!(load(&mut store_a, a, 65544), 42);
        a.reset(&mut store_a, &image).expect("reset");
        assert_eq!(
            load(&mut store_a, a, 65544),
            7,
            "the image's byte is back again"
        );
        assert_eq!(load(&mut store_a, a, 65536 + page as i32 + 8), 0);
        drop(store_b);
        let mut store_c = Store::new(&engine);
        let c = Linker::new().instantiate(&mut store_c, &module).expect("c");
        assert_eq!(
            load(&mut store_c, c, in_b),
            0,
            "a reused slot has no mapping"
        );
        for (offset, len, file_offset, what) in [
            (65536 + 1, page, 0, "unaligned offset"),
            (65536, page + 1, 0, "unaligned length"),
            (2 * 65536, page, 0, "beyond the memory"),
            (65536, page, 2 * page, "beyond the file"),
            (65536, 0, 0, "empty"),
        ] {
            assert!(
                matches!(
                    memory_a.map_shared(&mut store_a, offset, len, &file, file_offset),
                    Err(Trap::BadArguments(_))
                ),
                "{what}"
            );
        }
    }
}

/// A memory with a shared mapping is reached by raw copies and by slices of its private pages
/// only: a slice over the whole memory would alias bytes other threads write, so `data` and
/// `data_mut` refuse (panic) until a reset removes the mapping.
#[test]
fn a_memory_with_shared_pages_is_reached_by_copies_not_whole_slices() {
    use std::os::unix::fs::FileExt;
    let page = host_page_size() as u64;
    let engine = Engine::default();
    let module = compile(&engine, SHARED_WAT);
    let file = shared_file(page);
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instance");
    let image = instance.capture(&store).expect("capture");
    let memory = instance.get_memory(&store, "memory").expect("memory");
    memory
        .map_shared(&mut store, 65536, page, &file, 0)
        .expect("map");
    assert!(memory.private_slice(&store, 65536 + 8, 4).is_none());
    assert!(
        memory.private_slice(&store, 65536 - 4, 8).is_none(),
        "straddles"
    );
    assert_eq!(
        memory.private_slice(&store, 65536 - 4, 4),
        Some(&[0u8; 4][..])
    );
    memory.write(&mut store, 65536 + 8, b"abcd").expect("write");
    memory.fill(&mut store, 65536 + 12, 4, b'z').expect("fill");
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, 8).expect("read the file");
    assert_eq!(&bytes, b"abcdzzzz");
    memory.read(&store, 65536 + 8, &mut bytes).expect("read");
    assert_eq!(&bytes, b"abcdzzzz");
    assert!(
        memory.fill(&mut store, 2 * 65536 - 2, 4, 0).is_err(),
        "out of bounds"
    );
    let whole =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| memory.data(&store).len()));
    assert!(whole.is_err(), "data() over shared pages panics");
    let whole_mut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        memory.data_mut(&mut store).len()
    }));
    assert!(whole_mut.is_err(), "data_mut() over shared pages panics");
    instance.reset(&mut store, &image).expect("reset");
    assert_eq!(
        memory.data(&store)[65544],
        7,
        "a private memory is a slice again"
    );
}

#[test]
fn overlapping_copies_larger_than_a_chunk_move_like_memmove() {
    // Bulk copies run in 1 MiB chunks (to look at the deadline between them): overlapping
    // copies of several chunks, both ways, must still read every byte before overwriting it.
    const LEN: usize = 3 << 20;
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module (memory (export "memory") 80)
            (func (export "copy") (param i32 i32 i32)
              (memory.copy (local.get 0) (local.get 1) (local.get 2))))"#,
    );
    let memory = instance.get_memory(&store, "memory").expect("memory");
    let pattern: Vec<u8> = (0..LEN + 4096).map(|i| (i * 7 + i / 251) as u8).collect();
    for (dst, src) in [(4099_usize, 0_usize), (0, 4099), (1, 0), (0, 1)] {
        memory.write(&mut store, 0, &pattern).expect("write");
        let mut expected = pattern.clone();
        expected.copy_within(src..src + LEN - 8192, dst);
        let args = [dst, src, LEN - 8192].map(|v| Val::I32(v as i32));
        call(&mut store, instance, "copy", &args).expect("copy");
        let mut got = vec![0; pattern.len()];
        memory.read(&store, 0, &mut got).expect("read");
        assert!(
            got == expected,
            "memory.copy to {dst} from {src} differs from memmove"
        );
    }
}
