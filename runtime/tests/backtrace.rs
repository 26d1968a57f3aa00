//! Wasm backtraces of traps (names from the `name` section), and modules loaded from their
//! serialised artifact.

use faasm_runtime::*;

fn instantiate(store: &mut Store, linker: &Linker, wat: &str) -> Instance {
    let wasm = wat::parse_str(wat).expect("valid wat");
    let module = Module::new(store.engine(), &wasm).expect("compiles");
    linker.instantiate(store, &module).expect("instantiates")
}

fn call(store: &mut Store, instance: Instance, name: &str) -> Result<Vec<Val>, Trap> {
    let func = instance.get_func(store, name).expect("exported function");
    func.call(store, &[])
}

/// The function names of the last backtrace, `?` for unnamed frames.
fn frame_names(store: &Store) -> Vec<String> {
    store
        .last_backtrace()
        .expect("a backtrace")
        .frames()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_else(|| "?".to_string()))
        .collect()
}

const THREE_DEEP: &str = r#"(module $deep
    (func $inner (result i32) unreachable)
    (func $middle (result i32) (i32.add (call $inner) (i32.const 1)))
    (func $outer (export "outer") (result i32) (i32.add (call $middle) (i32.const 2)))
    (func $ok (export "ok") (result i32) (i32.const 5)))"#;

#[test]
fn a_trap_three_calls_deep_has_three_named_frames() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(&mut store, &Linker::new(), THREE_DEEP);
    assert_eq!(
        call(&mut store, instance, "outer"),
        Err(Trap::Wasm(TrapCode::UnreachableCodeReached))
    );
    assert_eq!(frame_names(&store), ["inner", "middle", "outer"]);
    let backtrace = store.last_backtrace().expect("backtrace");
    let indices: Vec<u32> = backtrace.frames().iter().map(|f| f.func_index).collect();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(backtrace.frames()[0].module_name.as_deref(), Some("deep"));
    assert_eq!(backtrace.omitted_frames(), 0);
    assert_eq!(
        backtrace.to_string(),
        "    0: deep!inner (function 0)\n    1: deep!middle (function 1)\n    2: deep!outer (function 2)"
    );
    // A call that returns clears it.
    assert_eq!(call(&mut store, instance, "ok"), Ok(vec![Val::I32(5)]));
    assert!(store.last_backtrace().is_none());
}

#[test]
fn every_trap_kind_records_its_frames() {
    let wat = r#"(module
        (memory 1)
        (func $load (param i32) (result i32) (i32.load (local.get 0)))
        (func $div (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
        (func (export "oob") (result i32) (call $load (i32.const 65536)))
        (func (export "div") (result i32) (call $div (i32.const 0))))"#;
    for strategy in [MemoryStrategy::default(), MemoryStrategy::Bounded] {
        let engine = Engine::new(Config {
            compiler: CompilerConfig {
                memory_strategy: strategy,
                ..CompilerConfig::default()
            },
            ..Config::default()
        })
        .expect("engine");
        let mut store = Store::new(&engine);
        let instance = instantiate(&mut store, &Linker::new(), wat);
        assert!(call(&mut store, instance, "oob").is_err());
        assert_eq!(frame_names(&store), ["load", "?"], "{strategy:?}");
        assert!(call(&mut store, instance, "div").is_err());
        assert_eq!(frame_names(&store), ["div", "?"], "{strategy:?}");
    }
}

#[test]
fn a_failing_host_function_has_the_wasm_frames_that_called_it() {
    let mut store = Store::new(&Engine::default());
    let fail = Func::new(&mut store, FuncType::new([], []), |_, _, _| {
        Err(Trap::Host("no such file".to_string()))
    });
    let mut linker = Linker::new();
    linker.define("host", "fail", Extern::Func(fail));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "fail" (func $fail))
            (func $leaf (call $fail))
            (func $run (export "run") (call $leaf)))"#,
    );
    assert_eq!(
        call(&mut store, instance, "run"),
        Err(Trap::Host("no such file".to_string()))
    );
    assert_eq!(frame_names(&store), ["leaf", "run"]);
}

#[test]
fn a_trap_through_a_host_function_keeps_the_nested_frames_first() {
    let mut store = Store::new(&Engine::default());
    let callback = Func::new(&mut store, FuncType::new([], []), |caller, _, _| {
        let Some(Extern::Func(inner)) = caller.get_export("inner") else {
            return Err(Trap::Host("no export".to_string()));
        };
        inner.call(caller.store_mut(), &[]).map(drop)
    });
    let mut linker = Linker::new();
    linker.define("host", "callback", Extern::Func(callback));
    let instance = instantiate(
        &mut store,
        &linker,
        r#"(module
            (import "host" "callback" (func $callback))
            (func $inner (export "inner") unreachable)
            (func $outer (export "outer") (call $callback)))"#,
    );
    assert_eq!(
        call(&mut store, instance, "outer"),
        Err(Trap::Wasm(TrapCode::UnreachableCodeReached))
    );
    assert_eq!(frame_names(&store), ["inner", "outer"]);
}

#[test]
fn a_stack_overflow_keeps_the_innermost_frames_and_counts_the_rest() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module (func $recurse (export "recurse") (call $recurse)))"#,
    );
    assert_eq!(
        call(&mut store, instance, "recurse"),
        Err(Trap::Wasm(TrapCode::StackOverflow))
    );
    let backtrace = store.last_backtrace().expect("backtrace");
    assert!(
        backtrace.frames().len() >= 100,
        "{}",
        backtrace.frames().len()
    );
    assert!(
        backtrace.omitted_frames() > 1000,
        "{}",
        backtrace.omitted_frames()
    );
    assert!(
        backtrace
            .frames()
            .iter()
            .all(|f| f.func_name.as_deref() == Some("recurse"))
    );
}

#[test]
fn a_module_without_names_gives_function_indices() {
    let mut store = Store::new(&Engine::default());
    let instance = instantiate(
        &mut store,
        &Linker::new(),
        r#"(module (func unreachable) (func (export "f") (call 0)))"#,
    );
    assert!(call(&mut store, instance, "f").is_err());
    let backtrace = store.last_backtrace().expect("backtrace");
    assert_eq!(
        backtrace.to_string(),
        "    0: function 0\n    1: function 1"
    );
}

#[test]
fn a_deserialized_module_runs_and_keeps_its_names() {
    let engine = Engine::default();
    let wasm = wat::parse_str(THREE_DEEP).expect("wat");
    let artifact = Module::new(&engine, &wasm).expect("compile").serialize();
    // SAFETY: the artifact was just serialised from a module this engine compiled.
    let module = unsafe { Module::deserialize(&engine, &artifact) }.expect("loads");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiates");
    assert_eq!(call(&mut store, instance, "ok"), Ok(vec![Val::I32(5)]));
    assert!(call(&mut store, instance, "outer").is_err());
    assert_eq!(frame_names(&store), ["inner", "middle", "outer"]);
}

#[test]
fn an_artifact_of_another_memory_strategy_is_refused() {
    let wasm = wat::parse_str(THREE_DEEP).expect("wat");
    let artifact = Module::new(&Engine::default(), &wasm)
        .expect("compile")
        .serialize();
    let bounded = Engine::new(Config {
        compiler: CompilerConfig {
            memory_strategy: MemoryStrategy::Bounded,
            ..CompilerConfig::default()
        },
        ..Config::default()
    })
    .expect("engine");
    assert!(matches!(
        // SAFETY: a genuine artifact; the engine refuses it before publishing any code.
        unsafe { Module::deserialize(&bounded, &artifact) },
        Err(ArtifactError::Fingerprint(_))
    ));
}

#[test]
fn unresolved_imports_are_listed_together() {
    let engine = Engine::default();
    let wasm = wat::parse_str(
        r#"(module
            (import "env" "a" (func (param i32)))
            (import "env" "b" (memory 1))
            (import "env" "c" (global (mut i64))))"#,
    )
    .expect("wat");
    let module = Module::new(&engine, &wasm).expect("compile");
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let memory = Memory::new(
        &mut store,
        MemoryType {
            minimum: 1,
            maximum: None,
        },
    );
    if let Ok(memory) = memory {
        linker.define("env", "b", Extern::Memory(memory));
    }
    let missing: Vec<String> = linker
        .unresolved_imports(&module)
        .iter()
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    assert_eq!(missing, ["env.a", "env.c"]);
}
