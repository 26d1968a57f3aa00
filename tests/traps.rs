//! Traps and limits, end to end through our compiler and runtime, under both memory strategies:
//! every access width at the edges of memory, integer division, unreachable, call_indirect
//! failures, stack exhaustion, timeouts, and malformed modules.

use faasm_runtime::{
    CompileError, CompilerConfig, Config, Engine, Instance, Linker, MemoryStrategy, Module, Store,
    Trap, TrapCode, Val,
};
use std::time::Duration;

const STRATEGIES: [MemoryStrategy; 2] = [
    MemoryStrategy::Guarded {
        guard_bytes: 32 << 20,
    },
    MemoryStrategy::Bounded,
];

fn engine(strategy: MemoryStrategy) -> Engine {
    let compiler = CompilerConfig {
        memory_strategy: strategy,
        verifier: true,
        ..CompilerConfig::default()
    };
    Engine::new(Config {
        compiler,
        ..Config::default()
    })
    .expect("engine")
}

fn instantiate(engine: &Engine, wat: &str) -> (Store, Instance) {
    let wasm = wat::parse_str(wat).expect("test module parses");
    let module = Module::new(engine, &wasm).expect("test module compiles");
    let mut store = Store::new(engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("test module instantiates");
    (store, instance)
}

fn call(store: &mut Store, instance: Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, Trap> {
    let func = instance
        .get_func(store, name)
        .unwrap_or_else(|| panic!("export {name}"));
    func.call(store, args)
}

fn trap_code(result: Result<Vec<Val>, Trap>) -> Option<TrapCode> {
    result.err().and_then(|trap| trap.code())
}

/// (instruction, access width in bytes, whether it stores, value type of a stored value)
const ACCESSES: &[(&str, u64, bool, &str)] = &[
    ("i32.load", 4, false, "i32"),
    ("i64.load", 8, false, "i64"),
    ("f32.load", 4, false, "f32"),
    ("f64.load", 8, false, "f64"),
    ("i32.load8_s", 1, false, "i32"),
    ("i32.load8_u", 1, false, "i32"),
    ("i32.load16_s", 2, false, "i32"),
    ("i32.load16_u", 2, false, "i32"),
    ("i64.load8_s", 1, false, "i64"),
    ("i64.load8_u", 1, false, "i64"),
    ("i64.load16_s", 2, false, "i64"),
    ("i64.load16_u", 2, false, "i64"),
    ("i64.load32_s", 4, false, "i64"),
    ("i64.load32_u", 4, false, "i64"),
    ("i32.store", 4, true, "i32"),
    ("i64.store", 8, true, "i64"),
    ("f32.store", 4, true, "f32"),
    ("f64.store", 8, true, "f64"),
    ("i32.store8", 1, true, "i32"),
    ("i32.store16", 2, true, "i32"),
    ("i64.store8", 1, true, "i64"),
    ("i64.store16", 2, true, "i64"),
    ("i64.store32", 4, true, "i64"),
];

/// Static offsets around every interesting edge: zero, inside the page, the page size, the guard
/// region's size (32 MiB) and the largest 32-bit offset.
const OFFSETS: &[u64] = &[
    0,
    1,
    7,
    4096,
    65535,
    65536,
    (32 << 20) - 8,
    32 << 20,
    (32 << 20) + 1,
    0x7fff_ffff,
    0xffff_ffff,
];

const MEMORY_BYTES: u64 = 65536;

fn access_module() -> String {
    let mut funcs = String::new();
    for (i, (instr, _, stores, ty)) in ACCESSES.iter().enumerate() {
        for (j, offset) in OFFSETS.iter().enumerate() {
            let body = if *stores {
                format!("({instr} offset={offset} (local.get 0) ({ty}.const 0))")
            } else {
                format!("(drop ({instr} offset={offset} (local.get 0)))")
            };
            funcs.push_str(&format!(
                "(func (export \"a{i}_{j}\") (param i32) {body})\n"
            ));
        }
    }
    format!("(module (memory 1 1)\n{funcs})")
}

#[test]
fn every_access_width_traps_exactly_past_the_last_byte() {
    let module = access_module();
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let (mut store, instance) = instantiate(&engine, &module);
        for (i, (instr, width, _, _)) in ACCESSES.iter().enumerate() {
            for (j, offset) in OFFSETS.iter().enumerate() {
                let name = format!("a{i}_{j}");
                let last_valid = MEMORY_BYTES - width;
                let context = format!("{instr} offset={offset} under {strategy:?}");
                if *offset <= last_valid {
                    let index = (last_valid - offset) as i32;
                    let ok = call(&mut store, instance, &name, &[Val::I32(index)]);
                    assert!(
                        ok.is_ok(),
                        "{context}: last valid index {index} trapped: {ok:?}"
                    );
                    let first_invalid = index.wrapping_add(1);
                    let trapped = trap_code(call(
                        &mut store,
                        instance,
                        &name,
                        &[Val::I32(first_invalid)],
                    ));
                    assert_eq!(
                        trapped,
                        Some(TrapCode::MemoryOutOfBounds),
                        "{context}: index {first_invalid}"
                    );
                } else {
                    let trapped = trap_code(call(&mut store, instance, &name, &[Val::I32(0)]));
                    assert_eq!(
                        trapped,
                        Some(TrapCode::MemoryOutOfBounds),
                        "{context}: index 0"
                    );
                }
                let trapped = trap_code(call(&mut store, instance, &name, &[Val::I32(-1)]));
                assert_eq!(
                    trapped,
                    Some(TrapCode::MemoryOutOfBounds),
                    "{context}: index 0xffffffff"
                );
            }
        }
    }
}

#[test]
fn accesses_follow_memory_grow() {
    let module = r#"(module (memory 1 3)
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
        (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#;
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let (mut store, instance) = instantiate(&engine, module);
        let past_first_page = Val::I32(65536);
        assert_eq!(
            trap_code(call(&mut store, instance, "load", &[past_first_page])),
            Some(TrapCode::MemoryOutOfBounds)
        );
        assert_eq!(
            call(&mut store, instance, "grow", &[Val::I32(1)]),
            Ok(vec![Val::I32(1)])
        );
        assert_eq!(
            call(&mut store, instance, "load", &[past_first_page]),
            Ok(vec![Val::I32(0)])
        );
        assert_eq!(
            call(&mut store, instance, "grow", &[Val::I32(2)]),
            Ok(vec![Val::I32(-1)]),
            "beyond the maximum"
        );
        let last_word = Val::I32(2 * 65536 - 4);
        assert_eq!(
            call(&mut store, instance, "load", &[last_word]),
            Ok(vec![Val::I32(0)])
        );
        let next_word = Val::I32(2 * 65536 - 3);
        assert_eq!(
            trap_code(call(&mut store, instance, "load", &[next_word])),
            Some(TrapCode::MemoryOutOfBounds)
        );
    }
}

#[test]
fn integer_division_traps() {
    let module = r#"(module
        (func (export "i32.div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
        (func (export "i32.div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
        (func (export "i32.rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
        (func (export "i32.rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
        (func (export "i64.div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
        (func (export "i64.div_u") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
        (func (export "i64.rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
        (func (export "i64.rem_u") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1))))"#;
    let engine = engine(MemoryStrategy::default());
    let (mut store, instance) = instantiate(&engine, module);
    let by_zero = Some(TrapCode::IntegerDivisionByZero);
    for op in ["div_s", "div_u", "rem_s", "rem_u"] {
        let i32_result = call(
            &mut store,
            instance,
            &format!("i32.{op}"),
            &[Val::I32(7), Val::I32(0)],
        );
        assert_eq!(trap_code(i32_result), by_zero, "i32.{op}");
        let i64_result = call(
            &mut store,
            instance,
            &format!("i64.{op}"),
            &[Val::I64(7), Val::I64(0)],
        );
        assert_eq!(trap_code(i64_result), by_zero, "i64.{op}");
    }
    let overflow = call(
        &mut store,
        instance,
        "i32.div_s",
        &[Val::I32(i32::MIN), Val::I32(-1)],
    );
    assert_eq!(trap_code(overflow), Some(TrapCode::IntegerOverflow));
    let overflow = call(
        &mut store,
        instance,
        "i64.div_s",
        &[Val::I64(i64::MIN), Val::I64(-1)],
    );
    assert_eq!(trap_code(overflow), Some(TrapCode::IntegerOverflow));
    let rem = call(
        &mut store,
        instance,
        "i32.rem_s",
        &[Val::I32(i32::MIN), Val::I32(-1)],
    );
    assert_eq!(rem, Ok(vec![Val::I32(0)]));
    let rem = call(
        &mut store,
        instance,
        "i64.rem_s",
        &[Val::I64(i64::MIN), Val::I64(-1)],
    );
    assert_eq!(rem, Ok(vec![Val::I64(0)]));
    let quotient = call(
        &mut store,
        instance,
        "i32.div_s",
        &[Val::I32(-7), Val::I32(2)],
    );
    assert_eq!(quotient, Ok(vec![Val::I32(-3)]));
}

#[test]
fn unreachable_and_call_indirect_failures() {
    let module = r#"(module
        (type $unary (func (param i32) (result i32)))
        (type $nullary (func (result i32)))
        (table 3 funcref)
        (elem (i32.const 0) $id $seven)
        (func $id (type $unary) (local.get 0))
        (func $seven (type $nullary) (i32.const 7))
        (func (export "unreachable") (unreachable))
        (func (export "call") (param i32) (result i32) (call_indirect (type $nullary) (local.get 0))))"#;
    let engine = engine(MemoryStrategy::default());
    let (mut store, instance) = instantiate(&engine, module);
    assert_eq!(
        trap_code(call(&mut store, instance, "unreachable", &[])),
        Some(TrapCode::UnreachableCodeReached)
    );
    assert_eq!(
        call(&mut store, instance, "call", &[Val::I32(1)]),
        Ok(vec![Val::I32(7)])
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "call", &[Val::I32(0)])),
        Some(TrapCode::BadSignature)
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "call", &[Val::I32(2)])),
        Some(TrapCode::IndirectCallToNull)
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "call", &[Val::I32(3)])),
        Some(TrapCode::TableOutOfBounds)
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "call", &[Val::I32(-1)])),
        Some(TrapCode::TableOutOfBounds)
    );
}

#[test]
fn deep_recursion_is_a_trap_and_the_instance_lives_on() {
    let module = r#"(module
        (func $down (export "down") (param i64) (result i64)
            (i64.add (i64.const 1) (call $down (i64.add (local.get 0) (i64.const 1)))))
        (func (export "ok") (result i32) (i32.const 1)))"#;
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let (mut store, instance) = instantiate(&engine, module);
        for _ in 0..3 {
            let result = call(&mut store, instance, "down", &[Val::I64(0)]);
            assert_eq!(trap_code(result), Some(TrapCode::StackOverflow));
            assert_eq!(call(&mut store, instance, "ok", &[]), Ok(vec![Val::I32(1)]));
        }
    }
}

#[test]
fn an_infinite_loop_times_out() {
    let module = r#"(module
        (func (export "spin") (loop $l (br $l)))
        (func $f (export "recurse_forever_shallowly") (loop $l (call $g) (br $l)))
        (func $g)
        (func (export "ok") (result i32) (i32.const 1)))"#;
    let engine = engine(MemoryStrategy::default());
    let (mut store, instance) = instantiate(&engine, module);
    store.set_timeout(Some(Duration::from_millis(50)));
    assert_eq!(
        trap_code(call(&mut store, instance, "spin", &[])),
        Some(TrapCode::Interrupt)
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "recurse_forever_shallowly", &[])),
        Some(TrapCode::Interrupt)
    );
    assert_eq!(
        call(&mut store, instance, "ok", &[]),
        Ok(vec![Val::I32(1)]),
        "the next call gets a fresh deadline"
    );
}

#[test]
fn float_to_int_conversions_trap_on_nan_and_overflow() {
    let module = r#"(module
        (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
        (func (export "trunc_sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0))))"#;
    let engine = engine(MemoryStrategy::default());
    let (mut store, instance) = instantiate(&engine, module);
    let nan = Val::F64(f64::NAN.to_bits());
    let huge = Val::F64(1e10f64.to_bits());
    assert_eq!(
        trap_code(call(&mut store, instance, "trunc", &[nan])),
        Some(TrapCode::BadConversionToInteger)
    );
    assert_eq!(
        trap_code(call(&mut store, instance, "trunc", &[huge])),
        Some(TrapCode::IntegerOverflow)
    );
    assert_eq!(
        call(&mut store, instance, "trunc_sat", &[huge]),
        Ok(vec![Val::I32(i32::MAX)])
    );
    assert_eq!(
        call(&mut store, instance, "trunc_sat", &[nan]),
        Ok(vec![Val::I32(0)])
    );
}

#[test]
fn malformed_and_invalid_modules_give_typed_errors_with_offsets() {
    let engine = engine(MemoryStrategy::default());
    let valid = wat::parse_str(
        r#"(module (memory 1) (global (mut i32) (i32.const 3))
            (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (global.get 0))))"#,
    )
    .unwrap();
    assert!(Module::new(&engine, &valid).is_ok());
    // A truncation is malformed unless it happens to end between sections: each must be either a
    // module or an error naming an offset inside the truncated bytes, never a panic.
    let mut errors = 0;
    for len in 0..valid.len() {
        match Module::new(&engine, &valid[..len]) {
            Err(CompileError::Invalid { offset, message }) => {
                assert!(
                    offset <= len as u64,
                    "offset {offset} beyond truncation at {len}: {message}"
                );
                assert!(!message.is_empty());
                errors += 1;
            }
            Err(other) => panic!("truncation at {len}: unexpected error kind {other:?}"),
            Ok(_) => {}
        }
    }
    assert!(
        errors >= valid.len() * 9 / 10,
        "only {errors} of {} truncations failed",
        valid.len()
    );
    // Flipping each byte in turn must never panic (most flips give an error, some are still valid).
    for at in 0..valid.len() {
        let mut mutated = valid.clone();
        mutated[at] ^= 0xff;
        let _ = Module::new(&engine, &mutated);
    }
    let invalid = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).unwrap();
    match Module::new(&engine, &invalid) {
        Err(CompileError::Invalid { message, .. }) => {
            assert!(message.contains("type mismatch"), "{message}")
        }
        other => panic!("expected a type mismatch, got {other:?}"),
    }
}
