//! Trampolines between the host's array calling convention and Wasm functions.
//!
//! Values cross in an array of 16-byte slots, each value in the low bytes of its slot
//! (little-endian): parameters on the way in, results on the way out.

use crate::TrapCode;
use crate::translate::env::{HOST_CALL_CONV, POINTER, clif_type, trusted, wasm_signature};
use crate::types::FuncType;
use crate::vmctx::HOST_FUNC_ENTRY_OFFSET;
use cranelift_codegen::ir::{
    self, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

const SLOT: i32 = 16;

/// Flags for the value array: aligned to the slot, never trapping, little-endian.
fn slot_flags() -> MemFlagsData {
    trusted().with_endianness(ir::Endianness::Little)
}

/// Signature of `array_to_wasm`: `(callee_vmctx, caller_vmctx, callee_code, values)`.
pub(crate) fn array_to_wasm_signature() -> Signature {
    let mut sig = Signature::new(HOST_CALL_CONV);
    sig.params.extend([AbiParam::new(POINTER); 4]);
    sig
}

/// Builds the trampoline the host enters Wasm through, for functions of type `ty`.
pub(crate) fn build_array_to_wasm(
    ty: &FuncType,
    func: &mut ir::Function,
    fctx: &mut FunctionBuilderContext,
    frontend_config: TargetFrontendConfig,
) {
    func.signature = array_to_wasm_signature();
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let [callee_vmctx, caller_vmctx, code, values] =
        b.block_params(entry).try_into().expect("four params");
    let mut args = vec![callee_vmctx, caller_vmctx];
    for (i, param) in ty.params.iter().enumerate() {
        args.push(
            b.ins()
                .load(clif_type(*param), slot_flags(), values, i as i32 * SLOT),
        );
    }
    let sig = b.import_signature(wasm_signature(ty));
    let call = b.ins().call_indirect(sig, code, &args);
    let results = b.inst_results(call).to_vec();
    for (i, result) in results.into_iter().enumerate() {
        b.ins().store(slot_flags(), result, values, i as i32 * SLOT);
    }
    b.ins().return_(&[]);
    b.finalize(frontend_config);
}

/// Builds the Wasm-convention function that forwards a call to a host function's entry point.
pub(crate) fn build_wasm_to_host(
    ty: &FuncType,
    func: &mut ir::Function,
    fctx: &mut FunctionBuilderContext,
    frontend_config: TargetFrontendConfig,
) {
    func.signature = wasm_signature(ty);
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let (host_ctx, caller_vmctx) = (params[0], params[1]);
    let slots = ty.array_slots().max(1);
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        (slots as u32) * 16,
        4,
    ));
    let values = b.ins().stack_addr(POINTER, slot, 0);
    for (i, param) in params[2..].iter().enumerate() {
        b.ins().store(slot_flags(), *param, values, i as i32 * SLOT);
    }
    let mut entry_sig = Signature::new(HOST_CALL_CONV);
    entry_sig.params.extend([AbiParam::new(POINTER); 3]);
    entry_sig.params.push(AbiParam::new(types::I32));
    entry_sig.returns.push(AbiParam::new(types::I32));
    let entry_sig = b.import_signature(entry_sig);
    let entry_point = b
        .ins()
        .load(POINTER, trusted(), host_ctx, HOST_FUNC_ENTRY_OFFSET as i32);
    let count = b.ins().iconst(types::I32, slots as i64);
    let call = b.ins().call_indirect(
        entry_sig,
        entry_point,
        &[host_ctx, caller_vmctx, values, count],
    );
    let status = b.inst_results(call)[0];
    b.ins().trapnz(status, TrapCode::HostError.to_clif());
    let mut results = Vec::new();
    for (i, result) in ty.results.iter().enumerate() {
        results.push(
            b.ins()
                .load(clif_type(*result), slot_flags(), values, i as i32 * SLOT),
        );
    }
    b.ins().return_(&results);
    b.finalize(frontend_config);
}
