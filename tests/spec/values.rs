//! Conversions between the script's constants and runtime values, and the comparison of results
//! with `assert_return` expectations (NaN patterns, references, vectors).

use faasm_runtime::Val;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};
use wast::{WastArg, WastRet};

/// The runtime value of an `invoke` argument.
pub fn arg_value(arg: &WastArg<'_>) -> Result<Val, String> {
    let WastArg::Core(arg) = arg else {
        return Err("component-model arguments are not supported".to_string());
    };
    Ok(match arg {
        WastArgCore::I32(n) => Val::I32(*n),
        WastArgCore::I64(n) => Val::I64(*n),
        WastArgCore::F32(f) => Val::F32(f.bits),
        WastArgCore::F64(f) => Val::F64(f.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => null_of(heap)?,
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(*n)),
        WastArgCore::RefHost(_) => return Err("ref.host arguments are not supported".to_string()),
    })
}

/// The null reference of a heap type.
fn null_of(heap: &HeapType<'_>) -> Result<Val, String> {
    match heap {
        HeapType::Abstract {
            ty: AbstractHeapType::Func,
            shared: false,
        } => Ok(Val::FuncRef(None)),
        HeapType::Abstract {
            ty: AbstractHeapType::Extern,
            shared: false,
        } => Ok(Val::ExternRef(None)),
        other => Err(format!("unsupported heap type {other:?}")),
    }
}

/// Checks a call's results against an `assert_return`'s expectations.
pub fn check_results(actual: &[Val], expected: &[WastRet<'_>]) -> Result<(), String> {
    let mismatch = || {
        let actual: Vec<String> = actual.iter().map(describe).collect();
        let expected: Vec<String> = expected.iter().map(describe_expected).collect();
        format!(
            "expected [{}], got [{}]",
            expected.join(", "),
            actual.join(", ")
        )
    };
    if actual.len() != expected.len() {
        return Err(mismatch());
    }
    for (value, want) in actual.iter().zip(expected) {
        let WastRet::Core(want) = want else {
            return Err("component-model results are not supported".to_string());
        };
        if !matches(value, want) {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// Whether `value` satisfies the expectation.
fn matches(value: &Val, expected: &WastRetCore<'_>) -> bool {
    match (value, expected) {
        (Val::I32(a), WastRetCore::I32(b)) => a == b,
        (Val::I64(a), WastRetCore::I64(b)) => a == b,
        (Val::F32(bits), WastRetCore::F32(pattern)) => f32_matches(*bits, pattern),
        (Val::F64(bits), WastRetCore::F64(pattern)) => f64_matches(*bits, pattern),
        (Val::V128(bits), WastRetCore::V128(pattern)) => v128_matches(*bits, pattern),
        (Val::FuncRef(None) | Val::ExternRef(None), WastRetCore::RefNull(None)) => true,
        (_, WastRetCore::RefNull(Some(heap))) => null_of(heap).is_ok_and(|null| null == *value),
        (Val::ExternRef(Some(a)), WastRetCore::RefExtern(b)) => b.is_none_or(|b| *a == b),
        // A function reference's identity is not observable from the script: any non-null one will do.
        (Val::FuncRef(Some(_)), WastRetCore::RefFunc(_)) => true,
        (_, WastRetCore::Either(options)) => options.iter().any(|option| matches(value, option)),
        _ => false,
    }
}

// Canonical NaN: only the quiet bit of the payload is set; arithmetic NaN: at least the quiet bit.
const F32_SIGN: u32 = 0x8000_0000;
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_SIGN: u64 = 0x8000_0000_0000_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

fn f32_matches(bits: u32, pattern: &NanPattern<F32>) -> bool {
    match pattern {
        NanPattern::CanonicalNan => bits & !F32_SIGN == F32_CANONICAL_NAN,
        NanPattern::ArithmeticNan => bits & F32_CANONICAL_NAN == F32_CANONICAL_NAN,
        NanPattern::Value(expected) => bits == expected.bits,
    }
}

fn f64_matches(bits: u64, pattern: &NanPattern<F64>) -> bool {
    match pattern {
        NanPattern::CanonicalNan => bits & !F64_SIGN == F64_CANONICAL_NAN,
        NanPattern::ArithmeticNan => bits & F64_CANONICAL_NAN == F64_CANONICAL_NAN,
        NanPattern::Value(expected) => bits == expected.bits,
    }
}

/// Compares lane by lane, little-endian lane order, so float lanes can use NaN patterns.
fn v128_matches(bits: u128, pattern: &V128Pattern) -> bool {
    let bytes = bits.to_le_bytes();
    let lanes = |width: usize| bytes.chunks_exact(width).map(lane_bits);
    match pattern {
        V128Pattern::I8x16(want) => lanes(1)
            .zip(want)
            .all(|(got, want)| got == u64::from(*want as u8)),
        V128Pattern::I16x8(want) => lanes(2)
            .zip(want)
            .all(|(got, want)| got == u64::from(*want as u16)),
        V128Pattern::I32x4(want) => lanes(4)
            .zip(want)
            .all(|(got, want)| got == u64::from(*want as u32)),
        V128Pattern::I64x2(want) => lanes(8).zip(want).all(|(got, want)| got == *want as u64),
        V128Pattern::F32x4(want) => lanes(4)
            .zip(want)
            .all(|(got, want)| f32_matches(got as u32, want)),
        V128Pattern::F64x2(want) => lanes(8).zip(want).all(|(got, want)| f64_matches(got, want)),
    }
}

/// A little-endian lane of up to 8 bytes as an unsigned number.
fn lane_bits(lane: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..lane.len()].copy_from_slice(lane);
    u64::from_le_bytes(buf)
}

/// A value as the script would write it, with the bits of floats (NaN payloads matter).
pub fn describe(value: &Val) -> String {
    match value {
        Val::I32(n) => format!("i32 {n}"),
        Val::I64(n) => format!("i64 {n}"),
        Val::F32(bits) => format!("f32 {} ({bits:#010x})", f32::from_bits(*bits)),
        Val::F64(bits) => format!("f64 {} ({bits:#018x})", f64::from_bits(*bits)),
        Val::V128(bits) => format!("v128 {bits:#034x}"),
        Val::FuncRef(None) => "ref.null func".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(None) => "ref.null extern".to_string(),
        Val::ExternRef(Some(n)) => format!("ref.extern {n}"),
    }
}

fn describe_expected(ret: &WastRet<'_>) -> String {
    match ret {
        WastRet::Core(WastRetCore::I32(n)) => describe(&Val::I32(*n)),
        WastRet::Core(WastRetCore::I64(n)) => describe(&Val::I64(*n)),
        WastRet::Core(WastRetCore::F32(NanPattern::Value(f))) => describe(&Val::F32(f.bits)),
        WastRet::Core(WastRetCore::F64(NanPattern::Value(f))) => describe(&Val::F64(f.bits)),
        WastRet::Core(WastRetCore::F32(pattern)) => format!("f32 {pattern:?}"),
        WastRet::Core(WastRetCore::F64(pattern)) => format!("f64 {pattern:?}"),
        other => format!("{other:?}"),
    }
}
