//! What both engines are compared on: values, the outcome of a call, trap kinds, and the
//! arguments a call plan passes.

use arbitrary::{Result, Unstructured};
use std::fmt;

/// A value type, as both engines see it (SIMD is never generated for execution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`: never passed; a call that needs one is skipped.
    V128,
    /// `funcref`
    FuncRef,
    /// `externref`
    ExternRef,
}

/// A value. Floats are bits; a function reference is only null or not (function identities
/// cannot be matched across engines); an extern reference is the handle the host passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32` bits
    F32(u32),
    /// `f64` bits
    F64(u64),
    /// `v128` bits (results only: plans never pass one).
    V128(u128),
    /// `funcref`: whether it is null.
    FuncRef {
        /// Whether the reference is null.
        null: bool,
    },
    /// `externref`: the host handle, `None` for null.
    ExternRef(Option<u32>),
}

/// How float bits are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanMode {
    /// Any NaN equals any NaN: the spec leaves NaN payloads of arithmetic nondeterministic.
    Canonical,
    /// Bit for bit: for two runs of the same machine code.
    Exact,
}

impl Value {
    /// Whether `self` and `other` are the same value under `nan`.
    pub fn same_as(&self, other: &Value, nan: NanMode) -> bool {
        match (*self, *other, nan) {
            (Value::F32(a), Value::F32(b), NanMode::Canonical) => {
                a == b || (f32::from_bits(a).is_nan() && f32::from_bits(b).is_nan())
            }
            (Value::F64(a), Value::F64(b), NanMode::Canonical) => {
                a == b || (f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan())
            }
            (a, b, _) => a == b,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(v) => write!(f, "i32:{v}"),
            Value::I64(v) => write!(f, "i64:{v}"),
            Value::F32(bits) => write!(f, "f32:{}({bits:#x})", f32::from_bits(*bits)),
            Value::F64(bits) => write!(f, "f64:{}({bits:#x})", f64::from_bits(*bits)),
            Value::V128(bits) => write!(f, "v128:{bits:#x}"),
            Value::FuncRef { null: true } => f.write_str("funcref:null"),
            Value::FuncRef { null: false } => f.write_str("funcref:non-null"),
            Value::ExternRef(None) => f.write_str("externref:null"),
            Value::ExternRef(Some(h)) => write!(f, "externref:{h}"),
        }
    }
}

/// Whether all of `a` equal all of `b` under `nan`.
pub fn same_values(a: &[Value], b: &[Value], nan: NanMode) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y, nan))
}

/// Why a call (or instantiation) trapped, in terms both engines define.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// `unreachable`
    Unreachable,
    /// Out-of-bounds memory access.
    MemoryOutOfBounds,
    /// Out-of-bounds table access (including `call_indirect`'s index).
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    IndirectCallToNull,
    /// `call_indirect` type mismatch.
    BadSignature,
    /// Integer overflow (division or float-to-int conversion).
    IntegerOverflow,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Float-to-int conversion of a NaN.
    BadConversionToInteger,
    /// The engine's stack limit: implementation-defined, so it ends a comparison.
    StackOverflow,
    /// The engine's time or fuel budget ran out: ends a comparison.
    OutOfTime,
    /// Anything else, with the engine's words.
    Other(String),
}

impl TrapKind {
    /// Whether this trap depends on the engine's resources rather than the program: after it,
    /// the two engines may legitimately disagree, so a comparison stops there.
    pub fn is_resource_limit(&self) -> bool {
        matches!(self, TrapKind::StackOverflow | TrapKind::OutOfTime)
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It returned these values.
    Returned(Vec<Value>),
    /// It trapped.
    Trapped(TrapKind),
}

impl Outcome {
    /// Whether the call hit an engine resource limit (see [`TrapKind::is_resource_limit`]).
    pub fn is_resource_limit(&self) -> bool {
        matches!(self, Outcome::Trapped(kind) if kind.is_resource_limit())
    }

    /// Whether both outcomes agree under `nan`.
    pub fn same_as(&self, other: &Outcome, nan: NanMode) -> bool {
        match (self, other) {
            (Outcome::Returned(a), Outcome::Returned(b)) => same_values(a, b, nan),
            (Outcome::Trapped(a), Outcome::Trapped(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(values) => write!(f, "returned [{}]", join(values)),
            Outcome::Trapped(kind) => write!(f, "trapped: {kind:?}"),
        }
    }
}

/// `values` separated by commas.
pub fn join(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bit patterns that find bugs more often than uniform ones: zeros, ones, extremes, NaNs with
/// payloads, infinities, values next to conversion limits.
const SPECIAL_I32: [i32; 8] = [0, 1, -1, i32::MIN, i32::MAX, 0x7f, 0x8000, -0x8000];
const SPECIAL_I64: [i64; 7] = [0, 1, -1, i64::MIN, i64::MAX, 1 << 32, -(1 << 31)];
const SPECIAL_F32: [u32; 8] = [
    0,
    0x8000_0000,
    0x7fc0_0000,
    0xffc0_0001,
    0x7f80_0000,
    0x4f00_0000,
    0xcf00_0001,
    0x0000_0001,
];
const SPECIAL_F64: [u64; 8] = [
    0,
    0x8000_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0xfff0_0000_0000_0001,
    0x7ff0_0000_0000_0000,
    0x41e0_0000_0000_0000,
    0xc3e0_0000_0000_0001,
    1,
];

/// An argument of type `ty`, or `None` for `v128` (never generated for execution). Arguments
/// come from the fuzz input, so both engines get the same ones; when the input runs out they
/// are zeros.
pub fn arbitrary_argument(u: &mut Unstructured<'_>, ty: Type) -> Result<Option<Value>> {
    let special = u.ratio(1, 3)?;
    Ok(Some(match ty {
        Type::I32 if special => Value::I32(*u.choose(&SPECIAL_I32)?),
        Type::I32 => Value::I32(u.arbitrary()?),
        Type::I64 if special => Value::I64(*u.choose(&SPECIAL_I64)?),
        Type::I64 => Value::I64(u.arbitrary()?),
        Type::F32 if special => Value::F32(*u.choose(&SPECIAL_F32)?),
        Type::F32 => Value::F32(u.arbitrary()?),
        Type::F64 if special => Value::F64(*u.choose(&SPECIAL_F64)?),
        Type::F64 => Value::F64(u.arbitrary()?),
        Type::FuncRef => Value::FuncRef { null: true },
        Type::ExternRef if special => Value::ExternRef(None),
        Type::ExternRef => Value::ExternRef(Some(u.int_in_range(0..=1000)?)),
        Type::V128 => return Ok(None),
    }))
}

/// The zero of `ty` (null for references), or `None` for `v128`.
pub fn zero(ty: Type) -> Option<Value> {
    Some(match ty {
        Type::I32 => Value::I32(0),
        Type::I64 => Value::I64(0),
        Type::F32 => Value::F32(0),
        Type::F64 => Value::F64(0),
        Type::FuncRef => Value::FuncRef { null: true },
        Type::ExternRef => Value::ExternRef(None),
        Type::V128 => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_mode_equates_all_nans_and_nothing_else() {
        let quiet = Value::F32(0x7fc0_0000);
        let payload = Value::F32(0xffc0_1234);
        assert!(quiet.same_as(&payload, NanMode::Canonical));
        assert!(!quiet.same_as(&payload, NanMode::Exact));
        assert!(!Value::F32(0).same_as(&Value::F32(0x8000_0000), NanMode::Canonical));
        assert!(!Value::F64(1).same_as(&Value::I64(1), NanMode::Canonical));
    }
}
