//! What both engines are compared on: values, the outcome of a call, trap kinds, and the
//! arguments a call plan passes.

use arbitrary::{Result, Unstructured};
use std::fmt;

/// A value type, as both engines see it.
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
    /// `v128`
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
    /// `v128` bits, lane 0 in the low bits (as `v128.const` and little-endian memory lay
    /// them out). Always compared bit for bit, whatever the lanes hold: see [`Value::same_as`].
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
    ///
    /// A `v128` is compared bit for bit in both modes. Its lane shape is not part of its type,
    /// so equating NaN lanes would also equate integer lanes that happen to hold NaN patterns;
    /// and it need not be done: the modules compared with [`NanMode::Canonical`] are generated
    /// with `canonicalize_nans`, which follows every `f32x4`/`f64x2` operation whose NaN
    /// payload the spec leaves open (add, sub, mul, div, sqrt, min, max, ceil, floor, trunc,
    /// nearest) with a `v128.bitselect` of the canonical NaN into its NaN lanes. The rest are
    /// exact in the spec (neg, abs, copysign, `pmin`/`pmax`, comparisons, integer conversions)
    /// or, for `f32x4.demote_f64x2_zero` and `f64x2.promote_low_f32x4`, the processor's own
    /// conversion in both engines on x86-64 (SSE `cvt*`: the NaN quietened, the payload's top
    /// bits kept), as for scalar `f32.demote_f64`, which wasm-smith does not canonicalise either.
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

/// Bytes, halfwords and 64-bit patterns for `v128` lanes: zero, one, all ones, the signed
/// extremes (where saturating, narrowing and `q15mulr` arithmetic turn).
const SPECIAL_I8: [u8; 6] = [0, 1, 0x7f, 0x80, 0xff, 0x81];
const SPECIAL_I16: [u16; 6] = [0, 1, 0x7fff, 0x8000, 0xffff, 0x8001];

/// An argument of type `ty`. Arguments come from the fuzz input, so both engines get the same
/// ones; when the input runs out the caller passes [`zero`].
pub fn arbitrary_argument(u: &mut Unstructured<'_>, ty: Type) -> Result<Value> {
    let special = u.ratio(1, 3)?;
    Ok(match ty {
        Type::I32 if special => Value::I32(*u.choose(&SPECIAL_I32)?),
        Type::I32 => Value::I32(u.arbitrary()?),
        Type::I64 if special => Value::I64(*u.choose(&SPECIAL_I64)?),
        Type::I64 => Value::I64(u.arbitrary()?),
        Type::F32 if special => Value::F32(*u.choose(&SPECIAL_F32)?),
        Type::F32 => Value::F32(u.arbitrary()?),
        Type::F64 if special => Value::F64(*u.choose(&SPECIAL_F64)?),
        Type::F64 => Value::F64(u.arbitrary()?),
        Type::V128 if special => Value::V128(special_v128(u)?),
        Type::V128 => Value::V128(u.arbitrary()?),
        Type::FuncRef => Value::FuncRef { null: true },
        Type::ExternRef if special => Value::ExternRef(None),
        Type::ExternRef => Value::ExternRef(Some(u.int_in_range(0..=1000)?)),
    })
}

/// A `v128` of one lane shape (`i8x16` to `f64x2`, chosen by `u`) whose every lane is one of
/// that shape's special patterns, chosen lane by lane.
fn special_v128(u: &mut Unstructured<'_>) -> Result<u128> {
    fn lanes<T: Copy + Into<u128>>(
        u: &mut Unstructured<'_>,
        choices: &[T],
        bits: u32,
    ) -> Result<u128> {
        let mut v = 0u128;
        for lane in 0..128 / bits {
            v |= (*u.choose(choices)?).into() << (lane * bits);
        }
        Ok(v)
    }
    // Signed integers as their two's complement bits, of the lane's width.
    let i32s = SPECIAL_I32.map(|v| v as u32);
    let i64s = SPECIAL_I64.map(|v| v as u64);
    match u.int_in_range(0..=5)? {
        0 => lanes(u, &SPECIAL_I8, 8),
        1 => lanes(u, &SPECIAL_I16, 16),
        2 => lanes(u, &i32s, 32),
        3 => lanes(u, &i64s, 64),
        4 => lanes(u, &SPECIAL_F32, 32),
        _ => lanes(u, &SPECIAL_F64, 64),
    }
}

/// The zero of `ty` (null for references).
pub fn zero(ty: Type) -> Value {
    match ty {
        Type::I32 => Value::I32(0),
        Type::I64 => Value::I64(0),
        Type::F32 => Value::F32(0),
        Type::F64 => Value::F64(0),
        Type::V128 => Value::V128(0),
        Type::FuncRef => Value::FuncRef { null: true },
        Type::ExternRef => Value::ExternRef(None),
    }
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

    #[test]
    fn v128_is_compared_bit_for_bit_in_both_modes() {
        // Two f32x4 NaN lanes with different payloads: as i32x4 lanes they are different numbers.
        let a = Value::V128(0x7fc0_0000);
        let b = Value::V128(0x7fc0_0001);
        assert!(!a.same_as(&b, NanMode::Canonical));
        assert!(!a.same_as(&b, NanMode::Exact));
        assert!(a.same_as(&a, NanMode::Canonical));
        assert!(!Value::V128(1 << 127).same_as(&Value::V128(1), NanMode::Canonical));
    }

    #[test]
    fn special_v128_arguments_fill_every_lane_from_one_shape() {
        fn all_lanes_in<T: Copy + Into<u128>>(v: u128, choices: &[T], bits: u32) -> bool {
            let mask = u128::MAX >> (128 - bits);
            (0..128 / bits).all(|lane| {
                let bits_of_lane = (v >> (lane * bits)) & mask;
                choices.iter().any(|&c| c.into() == bits_of_lane)
            })
        }
        let mut shapes_seen = [false; 6];
        for seed in 0..64u8 {
            let data: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(seed.wrapping_mul(101)))
                .collect();
            let v = special_v128(&mut Unstructured::new(&data)).expect("enough input");
            let shapes = [
                all_lanes_in(v, &SPECIAL_I8, 8),
                all_lanes_in(v, &SPECIAL_I16, 16),
                all_lanes_in(v, &SPECIAL_I32.map(|x| x as u32), 32),
                all_lanes_in(v, &SPECIAL_I64.map(|x| x as u64), 64),
                all_lanes_in(v, &SPECIAL_F32, 32),
                all_lanes_in(v, &SPECIAL_F64, 64),
            ];
            assert!(shapes.contains(&true), "{v:#x} is of no special shape");
            for (seen, is) in shapes_seen.iter_mut().zip(shapes) {
                *seen |= is;
            }
        }
        assert_eq!(shapes_seen, [true; 6], "shapes never generated");
    }
}
