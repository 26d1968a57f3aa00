//! Compiling real modules end to end (no execution: that is the runtime's business).

use faasm_jit::{CompileError, Compiler, CompilerConfig, TrapCode};

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
