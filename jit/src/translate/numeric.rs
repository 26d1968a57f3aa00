//! Numeric operators: constants, integer and float arithmetic, comparisons and conversions.

use super::FuncTranslator;
use crate::error::CompileError;
use crate::trap::TrapCode;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translates `op` if it is a numeric operator; returns whether it was.
pub(super) fn translate(
    t: &mut FuncTranslator,
    b: &mut FunctionBuilder,
    op: &Operator<'_>,
) -> Result<bool, CompileError> {
    let handled = constant(t, b, op)
        || compare(t, b, op)
        || int_unary(t, b, op)
        || int_binary(t, b, op)
        || float_unary(t, b, op)
        || float_binary(t, b, op)
        || convert(t, b, op);
    Ok(handled)
}

fn constant(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    let v = match *op {
        Operator::I32Const { value } => b.ins().iconst(types::I32, i64::from(value)),
        Operator::I64Const { value } => b.ins().iconst(types::I64, value),
        Operator::F32Const { value } => b.ins().f32const(f32::from_bits(value.bits())),
        Operator::F64Const { value } => b.ins().f64const(f64::from_bits(value.bits())),
        _ => return false,
    };
    t.stack.push(v);
    true
}

fn bool_to_i32(b: &mut FunctionBuilder, v: Value) -> Value {
    b.ins().uextend(types::I32, v)
}

fn compare(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    if matches!(op, I32Eqz | I64Eqz) {
        let x = t.pop();
        let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
        let v = bool_to_i32(b, c);
        t.stack.push(v);
        return true;
    }
    let int_cc = match op {
        I32Eq | I64Eq => Some(IntCC::Equal),
        I32Ne | I64Ne => Some(IntCC::NotEqual),
        I32LtS | I64LtS => Some(IntCC::SignedLessThan),
        I32LtU | I64LtU => Some(IntCC::UnsignedLessThan),
        I32GtS | I64GtS => Some(IntCC::SignedGreaterThan),
        I32GtU | I64GtU => Some(IntCC::UnsignedGreaterThan),
        I32LeS | I64LeS => Some(IntCC::SignedLessThanOrEqual),
        I32LeU | I64LeU => Some(IntCC::UnsignedLessThanOrEqual),
        I32GeS | I64GeS => Some(IntCC::SignedGreaterThanOrEqual),
        I32GeU | I64GeU => Some(IntCC::UnsignedGreaterThanOrEqual),
        _ => None,
    };
    if let Some(cc) = int_cc {
        let (x, y) = t.pop2();
        let c = b.ins().icmp(cc, x, y);
        let v = bool_to_i32(b, c);
        t.stack.push(v);
        return true;
    }
    let float_cc = match op {
        F32Eq | F64Eq => FloatCC::Equal,
        F32Ne | F64Ne => FloatCC::NotEqual,
        F32Lt | F64Lt => FloatCC::LessThan,
        F32Gt | F64Gt => FloatCC::GreaterThan,
        F32Le | F64Le => FloatCC::LessThanOrEqual,
        F32Ge | F64Ge => FloatCC::GreaterThanOrEqual,
        _ => return false,
    };
    let (x, y) = t.pop2();
    let c = b.ins().fcmp(float_cc, x, y);
    let v = bool_to_i32(b, c);
    t.stack.push(v);
    true
}

fn int_unary(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    let x = match op {
        I32Clz | I64Clz | I32Ctz | I64Ctz | I32Popcnt | I64Popcnt | I32Extend8S | I32Extend16S
        | I64Extend8S | I64Extend16S | I64Extend32S => t.pop(),
        _ => return false,
    };
    let v = match op {
        I32Clz | I64Clz => b.ins().clz(x),
        I32Ctz | I64Ctz => b.ins().ctz(x),
        I32Popcnt | I64Popcnt => b.ins().popcnt(x),
        I32Extend8S | I32Extend16S | I64Extend8S | I64Extend16S | I64Extend32S => {
            let ty = b.func.dfg.value_type(x);
            let narrow = match op {
                I32Extend8S | I64Extend8S => types::I8,
                I32Extend16S | I64Extend16S => types::I16,
                _ => types::I32,
            };
            let small = b.ins().ireduce(narrow, x);
            b.ins().sextend(ty, small)
        }
        _ => unreachable!("filtered above"),
    };
    t.stack.push(v);
    true
}

fn int_binary(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    let is_binary = matches!(
        op,
        I32Add
            | I64Add
            | I32Sub
            | I64Sub
            | I32Mul
            | I64Mul
            | I32DivS
            | I64DivS
            | I32DivU
            | I64DivU
            | I32RemS
            | I64RemS
            | I32RemU
            | I64RemU
            | I32And
            | I64And
            | I32Or
            | I64Or
            | I32Xor
            | I64Xor
            | I32Shl
            | I64Shl
            | I32ShrS
            | I64ShrS
            | I32ShrU
            | I64ShrU
            | I32Rotl
            | I64Rotl
            | I32Rotr
            | I64Rotr
    );
    if !is_binary {
        return false;
    }
    let (x, y) = t.pop2();
    let v = match op {
        I32Add | I64Add => b.ins().iadd(x, y),
        I32Sub | I64Sub => b.ins().isub(x, y),
        I32Mul | I64Mul => b.ins().imul(x, y),
        I32DivS | I64DivS => {
            trap_if_zero(b, y);
            trap_if_signed_overflow(b, x, y);
            b.ins().sdiv(x, y)
        }
        I32DivU | I64DivU => {
            trap_if_zero(b, y);
            b.ins().udiv(x, y)
        }
        I32RemS | I64RemS => {
            trap_if_zero(b, y);
            b.ins().srem(x, y)
        }
        I32RemU | I64RemU => {
            trap_if_zero(b, y);
            b.ins().urem(x, y)
        }
        I32And | I64And => b.ins().band(x, y),
        I32Or | I64Or => b.ins().bor(x, y),
        I32Xor | I64Xor => b.ins().bxor(x, y),
        I32Shl | I64Shl => b.ins().ishl(x, y),
        I32ShrS | I64ShrS => b.ins().sshr(x, y),
        I32ShrU | I64ShrU => b.ins().ushr(x, y),
        I32Rotl | I64Rotl => b.ins().rotl(x, y),
        I32Rotr | I64Rotr => b.ins().rotr(x, y),
        _ => unreachable!("filtered above"),
    };
    t.stack.push(v);
    true
}

fn trap_if_zero(b: &mut FunctionBuilder, y: Value) {
    b.ins().trapz(y, TrapCode::IntegerDivisionByZero.to_clif());
}

/// `INT_MIN / -1` overflows.
fn trap_if_signed_overflow(b: &mut FunctionBuilder, x: Value, y: Value) {
    let ty = b.func.dfg.value_type(x);
    let min = if ty == types::I32 {
        i64::from(i32::MIN)
    } else {
        i64::MIN
    };
    let is_min = b.ins().icmp_imm_s(IntCC::Equal, x, min);
    let is_minus_one = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
    let both = b.ins().band(is_min, is_minus_one);
    b.ins().trapnz(both, TrapCode::IntegerOverflow.to_clif());
}

fn float_unary(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    let is_unary = matches!(
        op,
        F32Abs
            | F64Abs
            | F32Neg
            | F64Neg
            | F32Ceil
            | F64Ceil
            | F32Floor
            | F64Floor
            | F32Trunc
            | F64Trunc
            | F32Nearest
            | F64Nearest
            | F32Sqrt
            | F64Sqrt
    );
    if !is_unary {
        return false;
    }
    let x = t.pop();
    let v = match op {
        F32Abs | F64Abs => b.ins().fabs(x),
        F32Neg | F64Neg => b.ins().fneg(x),
        F32Ceil | F64Ceil => b.ins().ceil(x),
        F32Floor | F64Floor => b.ins().floor(x),
        F32Trunc | F64Trunc => b.ins().trunc(x),
        F32Nearest | F64Nearest => b.ins().nearest(x),
        F32Sqrt | F64Sqrt => b.ins().sqrt(x),
        _ => unreachable!("filtered above"),
    };
    t.stack.push(v);
    true
}

fn float_binary(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    let is_binary = matches!(
        op,
        F32Add
            | F64Add
            | F32Sub
            | F64Sub
            | F32Mul
            | F64Mul
            | F32Div
            | F64Div
            | F32Min
            | F64Min
            | F32Max
            | F64Max
            | F32Copysign
            | F64Copysign
    );
    if !is_binary {
        return false;
    }
    let (x, y) = t.pop2();
    let v = match op {
        F32Add | F64Add => b.ins().fadd(x, y),
        F32Sub | F64Sub => b.ins().fsub(x, y),
        F32Mul | F64Mul => b.ins().fmul(x, y),
        F32Div | F64Div => b.ins().fdiv(x, y),
        F32Min | F64Min => b.ins().fmin(x, y),
        F32Max | F64Max => b.ins().fmax(x, y),
        F32Copysign | F64Copysign => b.ins().fcopysign(x, y),
        _ => unreachable!("filtered above"),
    };
    t.stack.push(v);
    true
}

fn convert(t: &mut FuncTranslator, b: &mut FunctionBuilder, op: &Operator<'_>) -> bool {
    use Operator::*;
    const I32: types::Type = types::I32;
    const I64: types::Type = types::I64;
    const F32: types::Type = types::F32;
    const F64: types::Type = types::F64;
    enum Conv {
        Wrap,
        ExtendS,
        ExtendU,
        TruncS,
        TruncU,
        TruncSatS,
        TruncSatU,
        FromS,
        FromU,
        Demote,
        Promote,
        Bitcast,
    }
    let (conv, to) = match op {
        I32WrapI64 => (Conv::Wrap, I32),
        I64ExtendI32S => (Conv::ExtendS, I64),
        I64ExtendI32U => (Conv::ExtendU, I64),
        I32TruncF32S | I32TruncF64S => (Conv::TruncS, I32),
        I32TruncF32U | I32TruncF64U => (Conv::TruncU, I32),
        I64TruncF32S | I64TruncF64S => (Conv::TruncS, I64),
        I64TruncF32U | I64TruncF64U => (Conv::TruncU, I64),
        I32TruncSatF32S | I32TruncSatF64S => (Conv::TruncSatS, I32),
        I32TruncSatF32U | I32TruncSatF64U => (Conv::TruncSatU, I32),
        I64TruncSatF32S | I64TruncSatF64S => (Conv::TruncSatS, I64),
        I64TruncSatF32U | I64TruncSatF64U => (Conv::TruncSatU, I64),
        F32ConvertI32S | F32ConvertI64S => (Conv::FromS, F32),
        F32ConvertI32U | F32ConvertI64U => (Conv::FromU, F32),
        F64ConvertI32S | F64ConvertI64S => (Conv::FromS, F64),
        F64ConvertI32U | F64ConvertI64U => (Conv::FromU, F64),
        F32DemoteF64 => (Conv::Demote, F32),
        F64PromoteF32 => (Conv::Promote, F64),
        I32ReinterpretF32 => (Conv::Bitcast, I32),
        I64ReinterpretF64 => (Conv::Bitcast, I64),
        F32ReinterpretI32 => (Conv::Bitcast, F32),
        F64ReinterpretI64 => (Conv::Bitcast, F64),
        _ => return false,
    };
    let x = t.pop();
    let v = match conv {
        Conv::Wrap => b.ins().ireduce(to, x),
        Conv::ExtendS => b.ins().sextend(to, x),
        Conv::ExtendU => b.ins().uextend(to, x),
        Conv::TruncS => b.ins().fcvt_to_sint(to, x),
        Conv::TruncU => b.ins().fcvt_to_uint(to, x),
        Conv::TruncSatS => b.ins().fcvt_to_sint_sat(to, x),
        Conv::TruncSatU => b.ins().fcvt_to_uint_sat(to, x),
        Conv::FromS => b.ins().fcvt_from_sint(to, x),
        Conv::FromU => b.ins().fcvt_from_uint(to, x),
        Conv::Demote => b.ins().fdemote(to, x),
        Conv::Promote => b.ins().fpromote(to, x),
        Conv::Bitcast => b.ins().bitcast(to, MemFlagsData::new(), x),
    };
    t.stack.push(v);
    true
}
