//! Values crossing the host boundary, and the errors of calls and instantiation.

use crate::func::Func;
use faasm_jit::{TrapCode, ValType};

/// A WebAssembly value. Floats are kept as their bits so NaN payloads survive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// `funcref`, `None` for null.
    FuncRef(Option<Func>),
    /// `externref`: an opaque host handle, `None` for null.
    ExternRef(Option<u32>),
}

impl Val {
    /// The type of the value.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero value (or null reference) of `ty`.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }
}

/// Raw encoding of an externref: handle `n` is `n + 1`, null is 0.
pub(crate) fn extern_ref_to_raw(handle: Option<u32>) -> u64 {
    handle.map_or(0, |n| u64::from(n) + 1)
}

/// Inverse of [`extern_ref_to_raw`]; values that no handle encodes read as null.
pub(crate) fn extern_ref_from_raw(raw: u64) -> Option<u32> {
    raw.checked_sub(1).and_then(|n| u32::try_from(n).ok())
}

/// Why a call did not return normally.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Trap {
    /// Generated code trapped.
    #[error("wasm trap: {0}")]
    Wasm(TrapCode),
    /// A host function failed (returned an error or panicked).
    #[error("host function failed: {0}")]
    Host(String),
    /// The guest asked to exit with this code.
    #[error("exited with code {0}")]
    Exit(i32),
    /// The host's arguments were wrong: count, types, a handle of another store, ...
    #[error("bad arguments: {0}")]
    BadArguments(String),
}

impl Trap {
    /// The Wasm trap code, if generated code trapped.
    pub fn code(&self) -> Option<TrapCode> {
        match self {
            Trap::Wasm(code) => Some(*code),
            _ => None,
        }
    }
}

/// Why a module could not be instantiated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InstantiateError {
    /// The linker has nothing under this name.
    #[error("unknown import {module}::{name}")]
    UnknownImport {
        /// Module name of the import.
        module: String,
        /// Field name of the import.
        name: String,
    },
    /// The linker's item does not match the import's type.
    #[error("incompatible import type for {module}::{name}: {reason}")]
    IncompatibleImport {
        /// Module name of the import.
        module: String,
        /// Field name of the import.
        name: String,
        /// What differs.
        reason: String,
    },
    /// A segment was out of bounds, or the start function trapped.
    #[error("instantiation trapped: {0}")]
    Trap(Trap),
    /// Reservation or limit failures.
    #[error("instantiation failed: {0}")]
    Resource(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_their_type() {
        for ty in [
            ValType::I32,
            ValType::I64,
            ValType::F32,
            ValType::F64,
            ValType::V128,
            ValType::FuncRef,
            ValType::ExternRef,
        ] {
            assert_eq!(Val::default_for(ty).ty(), ty);
        }
    }

    #[test]
    fn extern_refs_encode_as_handle_plus_one() {
        assert_eq!(extern_ref_to_raw(None), 0);
        assert_eq!(extern_ref_to_raw(Some(0)), 1);
        assert_eq!(extern_ref_to_raw(Some(u32::MAX)), 1 << 32);
        for handle in [None, Some(0), Some(7), Some(u32::MAX)] {
            assert_eq!(extern_ref_from_raw(extern_ref_to_raw(handle)), handle);
        }
    }

    #[test]
    fn traps_display_the_spec_message() {
        assert_eq!(
            Trap::Wasm(TrapCode::UnreachableCodeReached).to_string(),
            "wasm trap: unreachable"
        );
        assert_eq!(
            Trap::Wasm(TrapCode::StackOverflow).code(),
            Some(TrapCode::StackOverflow)
        );
        assert_eq!(Trap::Exit(3).code(), None);
    }
}
