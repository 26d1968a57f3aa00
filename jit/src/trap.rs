//! Why generated code stops: the trap codes that our code emits and the runtime reports.

use cranelift_codegen::ir;
use std::fmt;

/// A reason for a trap. Generated code records one per trapping instruction in the module's trap table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TrapCode {
    /// The Wasm stack limit was reached.
    StackOverflow = 1,
    /// A load, store or bulk-memory operation outside the memory.
    MemoryOutOfBounds = 2,
    /// A table access (including `call_indirect`'s index) outside the table.
    TableOutOfBounds = 3,
    /// `call_indirect` to a null table entry.
    IndirectCallToNull = 4,
    /// `call_indirect` to a function whose type differs from the expected one.
    BadSignature = 5,
    /// Integer overflow: `INT_MIN / -1`, or a trapping float-to-int conversion out of range.
    IntegerOverflow = 6,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero = 7,
    /// Float-to-int conversion of a NaN.
    BadConversionToInteger = 8,
    /// The `unreachable` instruction.
    UnreachableCodeReached = 9,
    /// The call's deadline passed (epoch interruption).
    Interrupt = 10,
    /// A host function failed; the runtime keeps the host's error.
    HostError = 11,
}

impl TrapCode {
    /// All trap codes, in order of their numbers.
    pub const ALL: [TrapCode; 11] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::UnreachableCodeReached,
        TrapCode::Interrupt,
        TrapCode::HostError,
    ];

    /// The number stored in a serialised trap table.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The inverse of [`TrapCode::as_u8`].
    pub fn from_u8(byte: u8) -> Option<TrapCode> {
        TrapCode::ALL
            .get(usize::from(byte).checked_sub(1)?)
            .copied()
    }

    /// The message the WebAssembly specification's test suite uses for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::UnreachableCodeReached => "unreachable",
            TrapCode::Interrupt => "interrupted: the call's deadline passed",
            TrapCode::HostError => "host function failed",
        }
    }

    /// The Cranelift trap code generated code uses for this trap.
    pub(crate) fn to_clif(self) -> ir::TrapCode {
        match self {
            TrapCode::StackOverflow => ir::TrapCode::STACK_OVERFLOW,
            TrapCode::MemoryOutOfBounds => ir::TrapCode::HEAP_OUT_OF_BOUNDS,
            TrapCode::IntegerOverflow => ir::TrapCode::INTEGER_OVERFLOW,
            TrapCode::IntegerDivisionByZero => ir::TrapCode::INTEGER_DIVISION_BY_ZERO,
            TrapCode::BadConversionToInteger => ir::TrapCode::BAD_CONVERSION_TO_INTEGER,
            other => ir::TrapCode::unwrap_user(other.as_u8()),
        }
    }

    /// The inverse of [`TrapCode::to_clif`].
    pub(crate) fn from_clif(code: ir::TrapCode) -> Option<TrapCode> {
        Some(match code {
            ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
            ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
            ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
            ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
            ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
            other => TrapCode::from_u8(other.as_raw().get())?,
        })
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_bytes_and_cranelift() {
        for code in TrapCode::ALL {
            assert_eq!(TrapCode::from_u8(code.as_u8()), Some(code));
            assert_eq!(TrapCode::from_clif(code.to_clif()), Some(code));
        }
        assert_eq!(TrapCode::from_u8(0), None);
        assert_eq!(TrapCode::from_u8(12), None);
    }
}
