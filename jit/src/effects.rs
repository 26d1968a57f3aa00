//! Which functions may write linear memory: a conservative, whole-module analysis the runtime
//! uses to skip resetting memories after a call that cannot have changed them (a Proto-Faaslet
//! whose call wrote nothing is reset without a system call).
//!
//! A defined function may write memory if its body has a store, `memory.grow`, `memory.fill`,
//! `memory.copy` or `memory.init`, or an indirect call (`call_indirect`, `call_ref` and their
//! tail-call forms: the callee is not known here), or calls an imported function (a host
//! function may write the caller's memory), or calls a defined function that may. Proposals with
//! other writing operators (threads' atomics) fail validation before this runs; adding one to
//! [`crate::Proposals`] means adding its operators below.
//!
//! "May not write" is a promise the runtime relies on for isolation (a reset skipped wrongly
//! leaks one call's data into the next), so every doubt answers "may write".

use crate::error::CompileError;
use crate::module::{FunctionBody, ModuleInfo};
use wasmparser::Operator;

/// For each defined function (by defined-function index), whether a call to it may write any
/// linear memory, directly or through its callees.
pub(crate) fn memory_writers(
    info: &ModuleInfo,
    bodies: &[FunctionBody<'_>],
) -> Result<Vec<bool>, CompileError> {
    let imported = info.num_imported_funcs;
    let mut writes = Vec::with_capacity(bodies.len());
    // callers[callee] = the defined functions that call defined function `callee` directly.
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); bodies.len()];
    for (caller, body) in bodies.iter().enumerate() {
        let direct = scan_body(body, |callee| {
            match callee.checked_sub(imported) {
                // An import: a host function may write the caller's memory.
                None => true,
                Some(defined) => {
                    if let Some(list) = callers.get_mut(defined as usize) {
                        list.push(caller as u32);
                    }
                    false
                }
            }
        })?;
        writes.push(direct);
    }
    propagate_to_callers(&mut writes, &callers);
    Ok(writes)
}

/// Whether `body` writes memory by itself (or calls something that surely does: `on_call`
/// returns true for a callee known to write); direct calls are reported to `on_call`.
fn scan_body(
    body: &FunctionBody<'_>,
    mut on_call: impl FnMut(u32) -> bool,
) -> Result<bool, CompileError> {
    let mut reader = body.body.get_operators_reader()?;
    let mut writes = false;
    while !reader.eof() {
        let operator = reader.read()?;
        writes |= match operator {
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                on_call(function_index)
            }
            operator => writes_directly(&operator),
        };
    }
    Ok(writes)
}

/// Operators that change memory contents or size themselves, or call an unknown function.
fn writes_directly(operator: &Operator<'_>) -> bool {
    matches!(
        operator,
        Operator::I32Store { .. }
            | Operator::I64Store { .. }
            | Operator::F32Store { .. }
            | Operator::F64Store { .. }
            | Operator::I32Store8 { .. }
            | Operator::I32Store16 { .. }
            | Operator::I64Store8 { .. }
            | Operator::I64Store16 { .. }
            | Operator::I64Store32 { .. }
            | Operator::V128Store { .. }
            | Operator::V128Store8Lane { .. }
            | Operator::V128Store16Lane { .. }
            | Operator::V128Store32Lane { .. }
            | Operator::V128Store64Lane { .. }
            | Operator::MemoryGrow { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
    )
}

/// Marks every (transitive) caller of a writing function as writing.
fn propagate_to_callers(writes: &mut [bool], callers: &[Vec<u32>]) {
    let mut pending: Vec<u32> = (0..writes.len() as u32)
        .filter(|f| writes[*f as usize])
        .collect();
    while let Some(callee) = pending.pop() {
        for &caller in &callers[callee as usize] {
            if !writes[caller as usize] {
                writes[caller as usize] = true;
                pending.push(caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writers(wat: &str) -> Vec<bool> {
        let wasm = wat::parse_str(wat).expect("valid text");
        let (info, bodies) = ModuleInfo::parse(&wasm).expect("parses");
        memory_writers(&info, &bodies).expect("analyses")
    }

    #[test]
    fn stores_and_bulk_operations_write_loads_do_not() {
        let found = writers(
            r#"(module (memory 1) (data "x")
                (func (drop (i32.load (i32.const 0))))
                (func (i32.store8 (i32.const 0) (i32.const 1)))
                (func (drop (memory.grow (i32.const 0))))
                (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)))
                (func (memory.copy (i32.const 0) (i32.const 0) (i32.const 0)))
                (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0)))
                (func (data.drop 0) (drop (memory.size))))"#,
        );
        assert_eq!(found, [false, true, true, true, true, true, false]);
    }

    #[test]
    fn writing_flows_to_every_caller_through_cycles() {
        let found = writers(
            r#"(module (memory 1)
                (func $leaf (i64.store (i32.const 0) (i64.const 1)))
                (func $a (call $b))
                (func $b (call $a) (call $leaf))
                (func $pure (call $pure2))
                (func $pure2 (drop (i32.load (i32.const 8)))))"#,
        );
        assert_eq!(found, [true, true, true, false, false]);
    }

    #[test]
    fn imports_and_indirect_calls_are_assumed_to_write() {
        let found = writers(
            r#"(module (import "env" "f" (func $host)) (memory 1)
                (type $t (func)) (table 1 funcref)
                (func (call $host))
                (func (call_indirect (type $t) (i32.const 0)))
                (func (return_call $host))
                (func (nop)))"#,
        );
        assert_eq!(found, [true, true, true, false]);
    }
}
