//! Compiling real modules end to end (no execution: that is the runtime's business).

use faasm_jit::{CompileError, Compiler, CompilerConfig, Proposals, TrapCode};

fn compile(wat: &str) -> Result<faasm_jit::CompiledModule, CompileError> {
    let wasm = wat::parse_str(wat).expect("test module parses");
    Compiler::new(CompilerConfig {
        verifier: true,
        ..CompilerConfig::default()
    })?
    .compile(&wasm)
}

#[test]
fn compiles_control_flow_calls_and_memory() {
    let module = compile(
        r#"(module
            (memory 1)
            (table 2 funcref)
            (global $g (mut i32) (i32.const 0))
            (type $t (func (param i32) (result i32)))
            (func $fac (export "fac") (type $t)
                (if (result i32) (i32.eqz (local.get 0))
                    (then (i32.const 1))
                    (else (i32.mul (local.get 0) (call $fac (i32.sub (local.get 0) (i32.const 1)))))))
            (func (param i32 i32) (result i32 i32)
                (block $b (result i32 i32)
                    (br_table $b $b (local.get 0) (local.get 1) (i32.const 0)))
                (loop $l (br_if $l (i32.const 0))))
            (func (result i32) (i32.load offset=8 (i32.const 0)) (global.set $g (i32.const 1))
                (call_indirect (type $t) (i32.const 3) (i32.const 1))
                (i32.add))
        )"#,
    )
    .unwrap();
    assert_eq!(module.functions.len(), 3);
    assert!(
        module
            .traps
            .iter()
            .any(|(_, code)| *code == TrapCode::BadSignature)
    );
    assert!(
        module
            .traps
            .iter()
            .any(|(_, code)| *code == TrapCode::MemoryOutOfBounds)
    );
    assert!(
        module
            .traps
            .iter()
            .any(|(_, code)| *code == TrapCode::StackOverflow)
    );
}

#[test]
fn invalid_module_names_the_offset() {
    let err = Compiler::new(CompilerConfig::default())
        .unwrap()
        .compile(b"\0asm\x01\0\0\0\x01")
        .unwrap_err();
    match err {
        CompileError::Invalid { offset, .. } => assert_eq!(offset, 9),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_name_section_names_functions_and_the_module() {
    let module = compile(
        r#"(module $m
            (import "env" "host" (func $host))
            (func $first)
            (func)
            (func $third))"#,
    )
    .unwrap();
    assert_eq!(module.info.name.as_deref(), Some("m"));
    assert_eq!(module.info.func_name(0), Some("host"));
    assert_eq!(module.info.func_name(1), Some("first"));
    assert_eq!(module.info.func_name(2), None);
    assert_eq!(module.info.func_name(3), Some("third"));
    assert_eq!(module.function_at(module.functions[2].offset), Some(3));
    let trampoline = module.array_to_wasm[0].offset;
    assert_eq!(module.function_at(trampoline), None);
}

#[test]
fn a_malformed_name_section_is_ignored() {
    let mut wasm = wat::parse_str(r#"(module (func) (func))"#).unwrap();
    // A `name` custom section: a valid module-name subsection ("x"), then a function-name
    // subsection that claims more bytes than it has. The whole section is ignored.
    let contents = [&[4u8][..], b"name", &[0, 2, 1, b'x'], &[1, 10, 2, 0, 1]].concat();
    wasm.push(0);
    wasm.push(contents.len() as u8);
    wasm.extend_from_slice(&contents);
    let module = Compiler::new(CompilerConfig::default())
        .unwrap()
        .compile(&wasm)
        .expect("a malformed name section does not make the module invalid");
    assert!(module.info.function_names.is_empty());
    assert_eq!(module.info.name, None);
}

#[test]
fn supported_proposals_compile_and_others_fail_validation_by_name() {
    let extended = r#"(module
        (import "env" "base" (global $base i32))
        (memory 1)
        (global (export "g") i64 (i64.mul (i64.const 6) (i64.add (i64.const 3) (i64.const 4))))
        (data (offset (i32.add (global.get $base) (i32.sub (i32.const 8) (i32.const 2)))) "x"))"#;
    // What the validator says when the proposal is off (for extended constants, that the
    // operator is not constant).
    let supported = [
        (extended, "non-constant operator: i64.add"),
        ("(module (func (return_call 0)))", "tail call"),
        ("(module (memory 1) (memory 1))", "multiple memories"),
    ];
    let exactly_2_0 = CompilerConfig {
        proposals: Proposals::NONE,
        ..CompilerConfig::default()
    };
    for (wat, name) in supported {
        compile(wat).unwrap_or_else(|e| panic!("{name} is supported: {e}"));
        expect_invalid(exactly_2_0.clone(), wat, name);
    }
    let unsupported = [
        ("(module (memory i64 1))", "memory64"),
        ("(module (memory 1 1 shared))", "threads"),
        (
            "(module (func (drop (i8x16.relaxed_swizzle (v128.const i64x2 0 0) (v128.const i64x2 0 0)))))",
            "relaxed SIMD",
        ),
    ];
    for (wat, name) in unsupported {
        expect_invalid(CompilerConfig::default(), wat, name);
    }
}

/// `wat` fails validation under `config`, with an error that contains `name`.
fn expect_invalid(config: CompilerConfig, wat: &str, name: &str) {
    let wasm = wat::parse_str(wat).unwrap();
    let err = Compiler::new(config).unwrap().compile(&wasm).unwrap_err();
    assert!(
        matches!(err, CompileError::Invalid { .. }),
        "{name}: not a validation error: {err:?}"
    );
    assert!(err.to_string().contains(name), "{name}: {err}");
}
