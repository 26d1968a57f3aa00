//! The module-level types of WebAssembly 2.0, independent of `wasmparser`'s representation.

use crate::error::CompileError;
use std::fmt;

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 128-bit vector.
    V128,
    /// A reference to a function (a pointer to a `VMFuncRef`, or null).
    FuncRef,
    /// An opaque host reference (a non-zero handle, or null = 0).
    ExternRef,
}

impl ValType {
    pub(crate) fn from_wasmparser(
        ty: wasmparser::ValType,
        offset: u64,
    ) -> Result<ValType, CompileError> {
        Ok(match ty {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(r) => RefType::from_wasmparser(r, offset)?.into(),
        })
    }

    /// Whether this is a reference type.
    pub fn is_ref(self) -> bool {
        matches!(self, ValType::FuncRef | ValType::ExternRef)
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A reference type (nullable, as all references in WebAssembly 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefType {
    /// `funcref`
    FuncRef,
    /// `externref`
    ExternRef,
}

impl RefType {
    pub(crate) fn from_wasmparser(
        ty: wasmparser::RefType,
        offset: u64,
    ) -> Result<RefType, CompileError> {
        if ty == wasmparser::RefType::FUNCREF {
            Ok(RefType::FuncRef)
        } else if ty == wasmparser::RefType::EXTERNREF {
            Ok(RefType::ExternRef)
        } else {
            Err(CompileError::unsupported(
                offset,
                format!("reference type {ty}"),
            ))
        }
    }
}

impl From<RefType> for ValType {
    fn from(r: RefType) -> ValType {
        match r {
            RefType::FuncRef => ValType::FuncRef,
            RefType::ExternRef => ValType::ExternRef,
        }
    }
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ValType::from(*self).fmt(f)
    }
}

/// A function type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncType {
    /// A function type from its parameters and results.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> FuncType {
        FuncType {
            params: params.into(),
            results: results.into(),
        }
    }

    /// Number of 16-byte slots the array calling convention needs: the larger of the parameter
    /// and result counts.
    #[inline]
    pub fn array_slots(&self) -> usize {
        self.params.len().max(self.results.len())
    }
}

impl fmt::Display for FuncType {
    /// As the text format writes it, without empty clauses: `(func (param i32) (result i64))`,
    /// `(func)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(func")?;
        for (clause, tys) in [("param", &self.params), ("result", &self.results)] {
            if !tys.is_empty() {
                write!(f, " ({clause}")?;
                for ty in tys {
                    write!(f, " {ty}")?;
                }
                f.write_str(")")?;
            }
        }
        f.write_str(")")
    }
}

/// A table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    /// Type of the elements.
    pub element: RefType,
    /// Initial number of elements.
    pub minimum: u64,
    /// Maximum number of elements, if declared.
    pub maximum: Option<u64>,
}

/// A linear memory type (32-bit, 64 KiB pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    /// Initial size in pages.
    pub minimum: u64,
    /// Maximum size in pages, if declared.
    pub maximum: Option<u64>,
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    /// Type of the value.
    pub content: ValType,
    /// Whether `global.set` may change it.
    pub mutable: bool,
}

/// `min` or `min max`, as the text format writes limits.
fn write_limits(f: &mut fmt::Formatter<'_>, minimum: u64, maximum: Option<u64>) -> fmt::Result {
    write!(f, "{minimum}")?;
    match maximum {
        Some(maximum) => write!(f, " {maximum}"),
        None => Ok(()),
    }
}

impl fmt::Display for TableType {
    /// As the text format writes it: `(table 1 10 funcref)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(table ")?;
        write_limits(f, self.minimum, self.maximum)?;
        write!(f, " {})", self.element)
    }
}

impl fmt::Display for MemoryType {
    /// As the text format writes it: `(memory 1 16)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(memory ")?;
        write_limits(f, self.minimum, self.maximum)?;
        f.write_str(")")
    }
}

impl fmt::Display for GlobalType {
    /// As the text format writes it: `(global i32)`, `(global (mut i64))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mutable {
            write!(f, "(global (mut {}))", self.content)
        } else {
            write!(f, "(global {})", self.content)
        }
    }
}
