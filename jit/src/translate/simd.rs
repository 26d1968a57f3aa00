//! SIMD operators (`v128`, the 2.0 instruction set): constants, loads and stores (plain,
//! splat, zero-extending, lane and widening), splats and lane access, shuffles and swizzles,
//! bitwise and integer and float lane arithmetic, comparisons, narrowing and widening, and
//! conversions. The SIMD scripts of the spec suite pass under both memory strategies.
//!
//! A `v128` travels on the operand stack, in locals, globals and across calls as `I8X16`; each
//! operator bitcasts its operands to the lane type it works on (`I32X4`, `F64X2`, …) and its
//! result back, as Wasm's `v128` has no lane type of its own.

use super::{FuncTranslator, heap_flags, memory_index};
use crate::error::CompileError;
use crate::translate::env::FuncEnvironment;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

/// The type every `v128` has outside an operator.
const V128: ir::Type = types::I8X16;

/// Translates `op` if it is one of the SIMD operators translated so far; returns whether it was.
pub(super) fn translate(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    op: &Operator<'_>,
) -> Result<bool, CompileError> {
    let handled = memory(t, b, env, op)
        || lane_memory(t, b, env, op)
        || constant(t, b, op)
        || lanes(t, b, op)
        || shuffles(t, b, op)
        || bitwise(t, b, op)
        || int_arith(t, b, op)
        || int_more(t, b, op)
        || compare(t, b, op)
        || float(t, b, op)
        || convert(t, b, op);
    Ok(handled)
}

/// Bitcasts `v` to `ty` (lanes are little-endian, as in linear memory).
fn cast(b: &mut FunctionBuilder, ty: ir::Type, v: Value) -> Value {
    if b.func.dfg.value_type(v) == ty {
        return v;
    }
    let flags = MemFlagsData::new().with_endianness(ir::Endianness::Little);
    b.ins().bitcast(ty, flags, v)
}

fn pop_as(t: &mut FuncTranslator, b: &mut FunctionBuilder, ty: ir::Type) -> Value {
    let v = t.pop();
    cast(b, ty, v)
}

fn push_v128(t: &mut FuncTranslator, b: &mut FunctionBuilder, v: Value) {
    let v = cast(b, V128, v);
    t.stack.push(v);
}

fn memory(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    op: &Operator<'_>,
) -> bool {
    match *op {
        Operator::V128Load { memarg } => {
            let (addr, offset) = address(t, b, env, &memarg, 16);
            let v = b.ins().load(V128, heap_flags(), addr, offset);
            t.stack.push(v);
        }
        Operator::V128Store { memarg } => {
            let value = pop_as(t, b, V128);
            let (addr, offset) = address(t, b, env, &memarg, 16);
            b.ins().store(heap_flags(), value, addr, offset);
        }
        Operator::V128Load8Splat { memarg } => load_splat(t, b, env, &memarg, types::I8X16),
        Operator::V128Load16Splat { memarg } => load_splat(t, b, env, &memarg, types::I16X8),
        Operator::V128Load32Splat { memarg } => load_splat(t, b, env, &memarg, types::I32X4),
        Operator::V128Load64Splat { memarg } => load_splat(t, b, env, &memarg, types::I64X2),
        _ => return false,
    }
    true
}

/// Pops the index operand and bounds-checks an access of `size` bytes.
fn address(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    size: u32,
) -> (Value, i32) {
    let index = t.pop();
    env.heap_addr(b, memory_index(memarg), index, memarg.offset, size)
}

fn load_splat(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    vector: ir::Type,
) {
    let lane = vector.lane_type();
    let (addr, offset) = address(t, b, env, memarg, lane.bytes());
    let scalar = b.ins().load(lane, heap_flags(), addr, offset);
    let v = b.ins().splat(vector, scalar);
    push_v128(t, b, v);
}

fn constant(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    let Operator::V128Const { value } = op else {
        return false;
    };
    let bytes = b.func.dfg.constants.insert(value.bytes().to_vec().into());
    let v = b.ins().vconst(V128, bytes);
    t.stack.push(v);
    true
}

/// Splats, lane extraction and replacement.
fn lanes(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use types::{F32X4, F64X2, I8X16, I16X8, I32X4, I64X2};
    match *op {
        I8x16Splat | I16x8Splat | I32x4Splat | I64x2Splat | F32x4Splat | F64x2Splat => {
            let vector = match op {
                I8x16Splat => I8X16,
                I16x8Splat => I16X8,
                I32x4Splat => I32X4,
                I64x2Splat => I64X2,
                F32x4Splat => F32X4,
                _ => F64X2,
            };
            let mut x = t.pop();
            // i8 and i16 lanes come from an i32 operand: its low bits.
            if vector.lane_type().bits() < 32 {
                x = b.ins().ireduce(vector.lane_type(), x);
            }
            let v = b.ins().splat(vector, x);
            push_v128(t, b, v);
        }
        I8x16ExtractLaneS { lane } => extract(t, b, I8X16, lane, Some(true)),
        I8x16ExtractLaneU { lane } => extract(t, b, I8X16, lane, Some(false)),
        I16x8ExtractLaneS { lane } => extract(t, b, I16X8, lane, Some(true)),
        I16x8ExtractLaneU { lane } => extract(t, b, I16X8, lane, Some(false)),
        I32x4ExtractLane { lane } => extract(t, b, I32X4, lane, None),
        I64x2ExtractLane { lane } => extract(t, b, I64X2, lane, None),
        F32x4ExtractLane { lane } => extract(t, b, F32X4, lane, None),
        F64x2ExtractLane { lane } => extract(t, b, F64X2, lane, None),
        I8x16ReplaceLane { lane } => replace(t, b, I8X16, lane),
        I16x8ReplaceLane { lane } => replace(t, b, I16X8, lane),
        I32x4ReplaceLane { lane } => replace(t, b, I32X4, lane),
        I64x2ReplaceLane { lane } => replace(t, b, I64X2, lane),
        F32x4ReplaceLane { lane } => replace(t, b, F32X4, lane),
        F64x2ReplaceLane { lane } => replace(t, b, F64X2, lane),
        _ => return false,
    }
    true
}

/// Extracts lane `lane`; narrow lanes are extended to i32 (`signed`: sign-extended).
fn extract(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    vector: ir::Type,
    lane: u8,
    signed: Option<bool>,
) {
    let v = pop_as(t, b, vector);
    let x = b.ins().extractlane(v, lane);
    let x = match signed {
        Some(true) => b.ins().sextend(types::I32, x),
        Some(false) => b.ins().uextend(types::I32, x),
        None => x,
    };
    t.stack.push(x);
}

/// Replaces lane `lane` with the scalar operand (narrow lanes take its low bits).
fn replace(t: &mut FuncTranslator, b: &mut FunctionBuilder, vector: ir::Type, lane: u8) {
    let mut x = t.pop();
    let v = pop_as(t, b, vector);
    if vector.lane_type().bits() < 32 {
        x = b.ins().ireduce(vector.lane_type(), x);
    }
    let r = b.ins().insertlane(v, x, lane);
    push_v128(t, b, r);
}

fn bitwise(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    match op {
        V128Not => {
            let x = pop_as(t, b, V128);
            let v = b.ins().bnot(x);
            t.stack.push(v);
        }
        V128And | V128AndNot | V128Or | V128Xor => {
            let y = pop_as(t, b, V128);
            let x = pop_as(t, b, V128);
            let v = match op {
                V128And => b.ins().band(x, y),
                // x & !y
                V128AndNot => b.ins().band_not(x, y),
                V128Or => b.ins().bor(x, y),
                _ => b.ins().bxor(x, y),
            };
            t.stack.push(v);
        }
        V128Bitselect => {
            let c = pop_as(t, b, V128);
            let y = pop_as(t, b, V128);
            let x = pop_as(t, b, V128);
            let v = b.ins().bitselect(c, x, y);
            t.stack.push(v);
        }
        V128AnyTrue => {
            let x = pop_as(t, b, V128);
            let any = b.ins().vany_true(x);
            let v = b.ins().uextend(types::I32, any);
            t.stack.push(v);
        }
        _ => return false,
    }
    true
}

/// Lane-wise integer `add`, `sub`, `mul` and `neg`.
fn int_arith(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use types::{I8X16, I16X8, I32X4, I64X2};
    #[derive(Clone, Copy)]
    enum Op {
        Add,
        Sub,
        Mul,
        Neg,
    }
    let (vector, kind) = match op {
        I8x16Add => (I8X16, Op::Add),
        I16x8Add => (I16X8, Op::Add),
        I32x4Add => (I32X4, Op::Add),
        I64x2Add => (I64X2, Op::Add),
        I8x16Sub => (I8X16, Op::Sub),
        I16x8Sub => (I16X8, Op::Sub),
        I32x4Sub => (I32X4, Op::Sub),
        I64x2Sub => (I64X2, Op::Sub),
        I16x8Mul => (I16X8, Op::Mul),
        I32x4Mul => (I32X4, Op::Mul),
        I64x2Mul => (I64X2, Op::Mul),
        I8x16Neg => (I8X16, Op::Neg),
        I16x8Neg => (I16X8, Op::Neg),
        I32x4Neg => (I32X4, Op::Neg),
        I64x2Neg => (I64X2, Op::Neg),
        _ => return false,
    };
    let v = if let Op::Neg = kind {
        let x = pop_as(t, b, vector);
        b.ins().ineg(x)
    } else {
        let y = pop_as(t, b, vector);
        let x = pop_as(t, b, vector);
        match kind {
            Op::Add => b.ins().iadd(x, y),
            Op::Sub => b.ins().isub(x, y),
            _ => b.ins().imul(x, y),
        }
    };
    push_v128(t, b, v);
    true
}

/// Loads and stores of one lane, loads that zero the other lanes, loads that extend.
fn lane_memory(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    op: &Operator<'_>,
) -> bool {
    use Operator::*;
    use types::{I8X16, I16X8, I32X4, I64X2};
    match *op {
        V128Load8Lane { memarg, lane } => load_lane(t, b, env, &memarg, I8X16, lane),
        V128Load16Lane { memarg, lane } => load_lane(t, b, env, &memarg, I16X8, lane),
        V128Load32Lane { memarg, lane } => load_lane(t, b, env, &memarg, I32X4, lane),
        V128Load64Lane { memarg, lane } => load_lane(t, b, env, &memarg, I64X2, lane),
        V128Store8Lane { memarg, lane } => store_lane(t, b, env, &memarg, I8X16, lane),
        V128Store16Lane { memarg, lane } => store_lane(t, b, env, &memarg, I16X8, lane),
        V128Store32Lane { memarg, lane } => store_lane(t, b, env, &memarg, I32X4, lane),
        V128Store64Lane { memarg, lane } => store_lane(t, b, env, &memarg, I64X2, lane),
        V128Load32Zero { memarg } | V128Load64Zero { memarg } => {
            let vector = if matches!(op, V128Load32Zero { .. }) {
                I32X4
            } else {
                I64X2
            };
            let lane = vector.lane_type();
            let (addr, offset) = address(t, b, env, &memarg, lane.bytes());
            let x = b.ins().load(lane, heap_flags(), addr, offset);
            let v = b.ins().scalar_to_vector(vector, x);
            push_v128(t, b, v);
        }
        V128Load8x8S { memarg }
        | V128Load8x8U { memarg }
        | V128Load16x4S { memarg }
        | V128Load16x4U { memarg }
        | V128Load32x2S { memarg }
        | V128Load32x2U { memarg } => {
            let (addr, offset) = address(t, b, env, &memarg, 8);
            let flags = heap_flags();
            let v = match op {
                V128Load8x8S { .. } => b.ins().sload8x8(flags, addr, offset),
                V128Load8x8U { .. } => b.ins().uload8x8(flags, addr, offset),
                V128Load16x4S { .. } => b.ins().sload16x4(flags, addr, offset),
                V128Load16x4U { .. } => b.ins().uload16x4(flags, addr, offset),
                V128Load32x2S { .. } => b.ins().sload32x2(flags, addr, offset),
                _ => b.ins().uload32x2(flags, addr, offset),
            };
            push_v128(t, b, v);
        }
        _ => return false,
    }
    true
}

fn load_lane(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    vector: ir::Type,
    lane: u8,
) {
    let v = pop_as(t, b, vector);
    let kind = vector.lane_type();
    let (addr, offset) = address(t, b, env, memarg, kind.bytes());
    let x = b.ins().load(kind, heap_flags(), addr, offset);
    let r = b.ins().insertlane(v, x, lane);
    push_v128(t, b, r);
}

fn store_lane(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    vector: ir::Type,
    lane: u8,
) {
    let v = pop_as(t, b, vector);
    let (addr, offset) = address(t, b, env, memarg, vector.lane_type().bytes());
    let x = b.ins().extractlane(v, lane);
    b.ins().store(heap_flags(), x, addr, offset);
}

/// `i8x16.shuffle` and `i8x16.swizzle`.
fn shuffles(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    match op {
        Operator::I8x16Shuffle { lanes } => {
            let y = pop_as(t, b, V128);
            let x = pop_as(t, b, V128);
            let mask = b.func.dfg.immediates.push(lanes.to_vec().into());
            let v = b.ins().shuffle(x, y, mask);
            t.stack.push(v);
        }
        Operator::I8x16Swizzle => {
            let y = pop_as(t, b, V128);
            let x = pop_as(t, b, V128);
            // Indices of 16 and up select 0, as in Wasm.
            let v = b.ins().swizzle(x, y);
            t.stack.push(v);
        }
        _ => return false,
    }
    true
}

/// Shifts, min/max, abs, saturating arithmetic, rounding average, popcnt, all_true, bitmask,
/// narrowing and widening, extended multiplication and pairwise addition, dot product, Q15
/// multiplication.
fn int_more(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use types::{I8X16, I16X8, I32X4, I64X2};
    let shape = |op: &Operator<'_>| match op {
        I8x16Shl | I8x16ShrS | I8x16ShrU | I8x16MinS | I8x16MinU | I8x16MaxS | I8x16MaxU
        | I8x16Abs | I8x16AddSatS | I8x16AddSatU | I8x16SubSatS | I8x16SubSatU | I8x16AvgrU
        | I8x16Popcnt | I8x16AllTrue | I8x16Bitmask => Some(I8X16),
        I16x8Shl | I16x8ShrS | I16x8ShrU | I16x8MinS | I16x8MinU | I16x8MaxS | I16x8MaxU
        | I16x8Abs | I16x8AddSatS | I16x8AddSatU | I16x8SubSatS | I16x8SubSatU | I16x8AvgrU
        | I16x8AllTrue | I16x8Bitmask | I16x8Q15MulrSatS => Some(I16X8),
        I32x4Shl | I32x4ShrS | I32x4ShrU | I32x4MinS | I32x4MinU | I32x4MaxS | I32x4MaxU
        | I32x4Abs | I32x4AllTrue | I32x4Bitmask => Some(I32X4),
        I64x2Shl | I64x2ShrS | I64x2ShrU | I64x2Abs | I64x2AllTrue | I64x2Bitmask => Some(I64X2),
        _ => None,
    };
    if let Some(vector) = shape(op) {
        match op {
            I8x16Shl | I16x8Shl | I32x4Shl | I64x2Shl | I8x16ShrS | I16x8ShrS | I32x4ShrS
            | I64x2ShrS | I8x16ShrU | I16x8ShrU | I32x4ShrU | I64x2ShrU => {
                let amount = t.pop();
                let x = pop_as(t, b, vector);
                // The shift count is taken modulo the lane's width.
                let bits = i64::from(vector.lane_bits());
                let amount = b.ins().band_imm_u(amount, bits - 1);
                let v = match op {
                    I8x16Shl | I16x8Shl | I32x4Shl | I64x2Shl => b.ins().ishl(x, amount),
                    I8x16ShrS | I16x8ShrS | I32x4ShrS | I64x2ShrS => b.ins().sshr(x, amount),
                    _ => b.ins().ushr(x, amount),
                };
                push_v128(t, b, v);
            }
            I8x16Abs | I16x8Abs | I32x4Abs | I64x2Abs | I8x16Popcnt => {
                let x = pop_as(t, b, vector);
                let v = if matches!(op, I8x16Popcnt) {
                    b.ins().popcnt(x)
                } else {
                    b.ins().iabs(x)
                };
                push_v128(t, b, v);
            }
            I8x16AllTrue | I16x8AllTrue | I32x4AllTrue | I64x2AllTrue => {
                let x = pop_as(t, b, vector);
                let all = b.ins().vall_true(x);
                let v = b.ins().uextend(types::I32, all);
                t.stack.push(v);
            }
            I8x16Bitmask | I16x8Bitmask | I32x4Bitmask | I64x2Bitmask => {
                let x = pop_as(t, b, vector);
                let v = b.ins().vhigh_bits(types::I32, x);
                t.stack.push(v);
            }
            _ => {
                let y = pop_as(t, b, vector);
                let x = pop_as(t, b, vector);
                let v = match op {
                    I8x16MinS | I16x8MinS | I32x4MinS => b.ins().smin(x, y),
                    I8x16MinU | I16x8MinU | I32x4MinU => b.ins().umin(x, y),
                    I8x16MaxS | I16x8MaxS | I32x4MaxS => b.ins().smax(x, y),
                    I8x16MaxU | I16x8MaxU | I32x4MaxU => b.ins().umax(x, y),
                    I8x16AddSatS | I16x8AddSatS => b.ins().sadd_sat(x, y),
                    I8x16AddSatU | I16x8AddSatU => b.ins().uadd_sat(x, y),
                    I8x16SubSatS | I16x8SubSatS => b.ins().ssub_sat(x, y),
                    I8x16SubSatU | I16x8SubSatU => b.ins().usub_sat(x, y),
                    I8x16AvgrU | I16x8AvgrU => b.ins().avg_round(x, y),
                    _ => b.ins().sqmul_round_sat(x, y),
                };
                push_v128(t, b, v);
            }
        }
        return true;
    }
    widen_narrow(t, b, op)
}

/// Which half of a vector's lanes a widening takes.
#[derive(Clone, Copy, PartialEq)]
enum Half {
    Low,
    High,
}

/// A widening operator's source lanes, half and signedness, and whether it then multiplies
/// (`extmul`) rather than only extends.
fn widening(op: &Operator<'_>) -> Option<(ir::Type, Half, bool, bool)> {
    use Operator::*;
    use types::{I8X16, I16X8, I32X4};
    Some(match op {
        I16x8ExtendLowI8x16S => (I8X16, Half::Low, true, false),
        I16x8ExtendHighI8x16S => (I8X16, Half::High, true, false),
        I16x8ExtendLowI8x16U => (I8X16, Half::Low, false, false),
        I16x8ExtendHighI8x16U => (I8X16, Half::High, false, false),
        I32x4ExtendLowI16x8S => (I16X8, Half::Low, true, false),
        I32x4ExtendHighI16x8S => (I16X8, Half::High, true, false),
        I32x4ExtendLowI16x8U => (I16X8, Half::Low, false, false),
        I32x4ExtendHighI16x8U => (I16X8, Half::High, false, false),
        I64x2ExtendLowI32x4S => (I32X4, Half::Low, true, false),
        I64x2ExtendHighI32x4S => (I32X4, Half::High, true, false),
        I64x2ExtendLowI32x4U => (I32X4, Half::Low, false, false),
        I64x2ExtendHighI32x4U => (I32X4, Half::High, false, false),
        I16x8ExtMulLowI8x16S => (I8X16, Half::Low, true, true),
        I16x8ExtMulHighI8x16S => (I8X16, Half::High, true, true),
        I16x8ExtMulLowI8x16U => (I8X16, Half::Low, false, true),
        I16x8ExtMulHighI8x16U => (I8X16, Half::High, false, true),
        I32x4ExtMulLowI16x8S => (I16X8, Half::Low, true, true),
        I32x4ExtMulHighI16x8S => (I16X8, Half::High, true, true),
        I32x4ExtMulLowI16x8U => (I16X8, Half::Low, false, true),
        I32x4ExtMulHighI16x8U => (I16X8, Half::High, false, true),
        I64x2ExtMulLowI32x4S => (I32X4, Half::Low, true, true),
        I64x2ExtMulHighI32x4S => (I32X4, Half::High, true, true),
        I64x2ExtMulLowI32x4U => (I32X4, Half::Low, false, true),
        I64x2ExtMulHighI32x4U => (I32X4, Half::High, false, true),
        _ => return None,
    })
}

/// Widens the `half` of `x`'s lanes to twice their width.
fn widen(b: &mut FunctionBuilder, x: Value, half: Half, signed: bool) -> Value {
    match (half, signed) {
        (Half::Low, true) => b.ins().swiden_low(x),
        (Half::High, true) => b.ins().swiden_high(x),
        (Half::Low, false) => b.ins().uwiden_low(x),
        (Half::High, false) => b.ins().uwiden_high(x),
    }
}

/// Narrowing, widening, extended multiplication, pairwise addition and the dot product.
fn widen_narrow(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use types::{I8X16, I16X8, I32X4};
    if let Some((source, half, signed, multiply)) = widening(op) {
        let v = if multiply {
            let y = pop_as(t, b, source);
            let x = pop_as(t, b, source);
            let (x, y) = (widen(b, x, half, signed), widen(b, y, half, signed));
            b.ins().imul(x, y)
        } else {
            let x = pop_as(t, b, source);
            widen(b, x, half, signed)
        };
        push_v128(t, b, v);
        return true;
    }
    match *op {
        I8x16NarrowI16x8S | I8x16NarrowI16x8U | I16x8NarrowI32x4S | I16x8NarrowI32x4U => {
            let source = if matches!(op, I8x16NarrowI16x8S | I8x16NarrowI16x8U) {
                I16X8
            } else {
                I32X4
            };
            let y = pop_as(t, b, source);
            let x = pop_as(t, b, source);
            let v = if matches!(op, I8x16NarrowI16x8S | I16x8NarrowI32x4S) {
                b.ins().snarrow(x, y)
            } else {
                b.ins().unarrow(x, y)
            };
            push_v128(t, b, v);
        }
        I16x8ExtAddPairwiseI8x16S
        | I16x8ExtAddPairwiseI8x16U
        | I32x4ExtAddPairwiseI16x8S
        | I32x4ExtAddPairwiseI16x8U => {
            let source = if matches!(op, I16x8ExtAddPairwiseI8x16S | I16x8ExtAddPairwiseI8x16U) {
                I8X16
            } else {
                I16X8
            };
            let signed = matches!(op, I16x8ExtAddPairwiseI8x16S | I32x4ExtAddPairwiseI16x8S);
            let x = pop_as(t, b, source);
            let (low, high) = (
                widen(b, x, Half::Low, signed),
                widen(b, x, Half::High, signed),
            );
            let v = b.ins().iadd_pairwise(low, high);
            push_v128(t, b, v);
        }
        I32x4DotI16x8S => {
            let y = pop_as(t, b, I16X8);
            let x = pop_as(t, b, I16X8);
            let (xl, yl) = (widen(b, x, Half::Low, true), widen(b, y, Half::Low, true));
            let (xh, yh) = (widen(b, x, Half::High, true), widen(b, y, Half::High, true));
            let (low, high) = (b.ins().imul(xl, yl), b.ins().imul(xh, yh));
            let v = b.ins().iadd_pairwise(low, high);
            push_v128(t, b, v);
        }
        _ => return false,
    }
    true
}

/// Lane-wise comparisons: all-ones lanes where true.
fn compare(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
    use types::{F32X4, F64X2, I8X16, I16X8, I32X4, I64X2};
    let int = match op {
        I8x16Eq => Some((I8X16, IntCC::Equal)),
        I8x16Ne => Some((I8X16, IntCC::NotEqual)),
        I8x16LtS => Some((I8X16, IntCC::SignedLessThan)),
        I8x16LtU => Some((I8X16, IntCC::UnsignedLessThan)),
        I8x16GtS => Some((I8X16, IntCC::SignedGreaterThan)),
        I8x16GtU => Some((I8X16, IntCC::UnsignedGreaterThan)),
        I8x16LeS => Some((I8X16, IntCC::SignedLessThanOrEqual)),
        I8x16LeU => Some((I8X16, IntCC::UnsignedLessThanOrEqual)),
        I8x16GeS => Some((I8X16, IntCC::SignedGreaterThanOrEqual)),
        I8x16GeU => Some((I8X16, IntCC::UnsignedGreaterThanOrEqual)),
        I16x8Eq => Some((I16X8, IntCC::Equal)),
        I16x8Ne => Some((I16X8, IntCC::NotEqual)),
        I16x8LtS => Some((I16X8, IntCC::SignedLessThan)),
        I16x8LtU => Some((I16X8, IntCC::UnsignedLessThan)),
        I16x8GtS => Some((I16X8, IntCC::SignedGreaterThan)),
        I16x8GtU => Some((I16X8, IntCC::UnsignedGreaterThan)),
        I16x8LeS => Some((I16X8, IntCC::SignedLessThanOrEqual)),
        I16x8LeU => Some((I16X8, IntCC::UnsignedLessThanOrEqual)),
        I16x8GeS => Some((I16X8, IntCC::SignedGreaterThanOrEqual)),
        I16x8GeU => Some((I16X8, IntCC::UnsignedGreaterThanOrEqual)),
        I32x4Eq => Some((I32X4, IntCC::Equal)),
        I32x4Ne => Some((I32X4, IntCC::NotEqual)),
        I32x4LtS => Some((I32X4, IntCC::SignedLessThan)),
        I32x4LtU => Some((I32X4, IntCC::UnsignedLessThan)),
        I32x4GtS => Some((I32X4, IntCC::SignedGreaterThan)),
        I32x4GtU => Some((I32X4, IntCC::UnsignedGreaterThan)),
        I32x4LeS => Some((I32X4, IntCC::SignedLessThanOrEqual)),
        I32x4LeU => Some((I32X4, IntCC::UnsignedLessThanOrEqual)),
        I32x4GeS => Some((I32X4, IntCC::SignedGreaterThanOrEqual)),
        I32x4GeU => Some((I32X4, IntCC::UnsignedGreaterThanOrEqual)),
        I64x2Eq => Some((I64X2, IntCC::Equal)),
        I64x2Ne => Some((I64X2, IntCC::NotEqual)),
        I64x2LtS => Some((I64X2, IntCC::SignedLessThan)),
        I64x2GtS => Some((I64X2, IntCC::SignedGreaterThan)),
        I64x2LeS => Some((I64X2, IntCC::SignedLessThanOrEqual)),
        I64x2GeS => Some((I64X2, IntCC::SignedGreaterThanOrEqual)),
        _ => None,
    };
    if let Some((vector, cc)) = int {
        let y = pop_as(t, b, vector);
        let x = pop_as(t, b, vector);
        let v = b.ins().icmp(cc, x, y);
        push_v128(t, b, v);
        return true;
    }
    let float = match op {
        F32x4Eq => Some((F32X4, FloatCC::Equal)),
        F32x4Ne => Some((F32X4, FloatCC::NotEqual)),
        F32x4Lt => Some((F32X4, FloatCC::LessThan)),
        F32x4Gt => Some((F32X4, FloatCC::GreaterThan)),
        F32x4Le => Some((F32X4, FloatCC::LessThanOrEqual)),
        F32x4Ge => Some((F32X4, FloatCC::GreaterThanOrEqual)),
        F64x2Eq => Some((F64X2, FloatCC::Equal)),
        F64x2Ne => Some((F64X2, FloatCC::NotEqual)),
        F64x2Lt => Some((F64X2, FloatCC::LessThan)),
        F64x2Gt => Some((F64X2, FloatCC::GreaterThan)),
        F64x2Le => Some((F64X2, FloatCC::LessThanOrEqual)),
        F64x2Ge => Some((F64X2, FloatCC::GreaterThanOrEqual)),
        _ => None,
    };
    let Some((vector, cc)) = float else {
        return false;
    };
    let y = pop_as(t, b, vector);
    let x = pop_as(t, b, vector);
    let v = b.ins().fcmp(cc, x, y);
    push_v128(t, b, v);
    true
}

/// Lane-wise float arithmetic (`add`, `sub`, `mul`, `div`, `sqrt`, `neg`, `abs`), min/max
/// (Wasm's, NaN-propagating), pseudo-min/max and rounding. NaN results of the arithmetic are
/// as the hardware makes them, which the spec allows (any NaN, or an arithmetic one).
fn float(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use cranelift_codegen::ir::condcodes::FloatCC;
    use types::{F32X4, F64X2};
    let vector =
        match op {
            F32x4Add | F32x4Sub | F32x4Mul | F32x4Div | F32x4Sqrt | F32x4Neg | F32x4Abs
            | F32x4Min | F32x4Max | F32x4PMin | F32x4PMax | F32x4Ceil | F32x4Floor | F32x4Trunc
            | F32x4Nearest => F32X4,
            F64x2Add | F64x2Sub | F64x2Mul | F64x2Div | F64x2Sqrt | F64x2Neg | F64x2Abs
            | F64x2Min | F64x2Max | F64x2PMin | F64x2PMax | F64x2Ceil | F64x2Floor | F64x2Trunc
            | F64x2Nearest => F64X2,
            _ => return false,
        };
    let unary = matches!(
        op,
        F32x4Sqrt
            | F64x2Sqrt
            | F32x4Neg
            | F64x2Neg
            | F32x4Abs
            | F64x2Abs
            | F32x4Ceil
            | F64x2Ceil
            | F32x4Floor
            | F64x2Floor
            | F32x4Trunc
            | F64x2Trunc
            | F32x4Nearest
            | F64x2Nearest
    );
    let v = if unary {
        let x = pop_as(t, b, vector);
        match op {
            F32x4Sqrt | F64x2Sqrt => b.ins().sqrt(x),
            F32x4Neg | F64x2Neg => b.ins().fneg(x),
            F32x4Abs | F64x2Abs => b.ins().fabs(x),
            F32x4Ceil | F64x2Ceil => b.ins().ceil(x),
            F32x4Floor | F64x2Floor => b.ins().floor(x),
            F32x4Trunc | F64x2Trunc => b.ins().trunc(x),
            _ => b.ins().nearest(x),
        }
    } else {
        let y = pop_as(t, b, vector);
        let x = pop_as(t, b, vector);
        match op {
            F32x4Add | F64x2Add => b.ins().fadd(x, y),
            F32x4Sub | F64x2Sub => b.ins().fsub(x, y),
            F32x4Mul | F64x2Mul => b.ins().fmul(x, y),
            F32x4Div | F64x2Div => b.ins().fdiv(x, y),
            F32x4Min | F64x2Min => b.ins().fmin(x, y),
            F32x4Max | F64x2Max => b.ins().fmax(x, y),
            // pmin: y < x ? y : x; pmax: x < y ? y : x (no NaN propagation).
            F32x4PMin | F64x2PMin => {
                let take_y = b.ins().fcmp(FloatCC::LessThan, y, x);
                let take_y = cast(b, vector, take_y);
                b.ins().bitselect(take_y, y, x)
            }
            _ => {
                let take_y = b.ins().fcmp(FloatCC::LessThan, x, y);
                let take_y = cast(b, vector, take_y);
                b.ins().bitselect(take_y, y, x)
            }
        }
    };
    push_v128(t, b, v);
    true
}

/// Conversions between integer and float lanes, and between float widths.
fn convert(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    use types::{F32X4, F64X2, I32X4, I64X2};
    let signed = matches!(
        op,
        F32x4ConvertI32x4S | F64x2ConvertLowI32x4S | I32x4TruncSatF32x4S | I32x4TruncSatF64x2SZero
    );
    let v = match op {
        F32x4ConvertI32x4S | F32x4ConvertI32x4U => {
            let x = pop_as(t, b, I32X4);
            float_from_int(b, signed, F32X4, x)
        }
        F64x2ConvertLowI32x4S | F64x2ConvertLowI32x4U => {
            let x = pop_as(t, b, I32X4);
            let wide = if signed {
                b.ins().swiden_low(x)
            } else {
                b.ins().uwiden_low(x)
            };
            float_from_int(b, signed, F64X2, wide)
        }
        I32x4TruncSatF32x4S | I32x4TruncSatF32x4U => {
            let x = pop_as(t, b, F32X4);
            int_from_float_sat(b, signed, I32X4, x)
        }
        I32x4TruncSatF64x2SZero | I32x4TruncSatF64x2UZero => {
            let x = pop_as(t, b, F64X2);
            let zeros = b.func.dfg.constants.insert(vec![0u8; 16].into());
            let zeros = b.ins().vconst(I64X2, zeros);
            let wide = int_from_float_sat(b, signed, I64X2, x);
            if signed {
                b.ins().snarrow(wide, zeros)
            } else {
                b.ins().uunarrow(wide, zeros)
            }
        }
        F32x4DemoteF64x2Zero => {
            let x = pop_as(t, b, F64X2);
            b.ins().fvdemote(x)
        }
        F64x2PromoteLowF32x4 => {
            let x = pop_as(t, b, F32X4);
            b.ins().fvpromote_low(x)
        }
        _ => return false,
    };
    push_v128(t, b, v);
    true
}

/// Integer lanes converted to float lanes of type `ty`, read as signed or unsigned.
fn float_from_int(b: &mut FunctionBuilder, signed: bool, ty: ir::Type, x: Value) -> Value {
    if signed {
        b.ins().fcvt_from_sint(ty, x)
    } else {
        b.ins().fcvt_from_uint(ty, x)
    }
}

/// Float lanes converted, saturating, to signed or unsigned integer lanes of type `ty`.
fn int_from_float_sat(b: &mut FunctionBuilder, signed: bool, ty: ir::Type, x: Value) -> Value {
    if signed {
        b.ins().fcvt_to_sint_sat(ty, x)
    } else {
        b.ins().fcvt_to_uint_sat(ty, x)
    }
}
