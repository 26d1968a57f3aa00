//! Functions of the runtime that generated code calls: the operators too large to inline.
//!
//! The VMContext's `builtins` field points to an array of `Builtin::COUNT` function pointers in the
//! order of this enum. All use the platform's C calling convention and take the caller's `vmctx`
//! first. Those returning a status return 0 on success and 1 to trap with the code that
//! [`Builtin::trap_code`] names; generated code performs the trap, so the runtime never unwinds.

use crate::TrapCode;
use cranelift_codegen::ir::{AbiParam, Signature, types};
use cranelift_codegen::isa::CallConv;

/// A runtime function callable from generated code. Index memories, tables and segments in the
/// module's own index spaces (imports included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Builtin {
    /// `(vmctx, memory: u32, delta_pages: u32) -> u32`: the old size in pages, or `u32::MAX`.
    MemoryGrow = 0,
    /// `(vmctx, memory: u32, dst: u32, byte: u32, len: u32) -> status`
    MemoryFill,
    /// `(vmctx, dst_memory: u32, dst: u32, src_memory: u32, src: u32, len: u32) -> status`
    MemoryCopy,
    /// `(vmctx, memory: u32, data: u32, dst: u32, src: u32, len: u32) -> status`
    MemoryInit,
    /// `(vmctx, data: u32)`
    DataDrop,
    /// `(vmctx, table: u32, delta: u32, init: u64) -> u32`: the old size, or `u32::MAX`.
    TableGrow,
    /// `(vmctx, table: u32, dst: u32, value: u64, len: u32) -> status`
    TableFill,
    /// `(vmctx, dst_table: u32, src_table: u32, dst: u32, src: u32, len: u32) -> status`
    TableCopy,
    /// `(vmctx, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> status`
    TableInit,
    /// `(vmctx, elem: u32)`
    ElemDrop,
}

impl Builtin {
    /// Number of builtins: the length of the array the VMContext points to.
    pub const COUNT: usize = 10;

    /// All builtins, in array order.
    pub const ALL: [Builtin; Builtin::COUNT] = [
        Builtin::MemoryGrow,
        Builtin::MemoryFill,
        Builtin::MemoryCopy,
        Builtin::MemoryInit,
        Builtin::DataDrop,
        Builtin::TableGrow,
        Builtin::TableFill,
        Builtin::TableCopy,
        Builtin::TableInit,
        Builtin::ElemDrop,
    ];

    /// Position in the builtins array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The trap a non-zero status of this builtin means, if it returns a status.
    pub fn trap_code(self) -> Option<TrapCode> {
        match self {
            Builtin::MemoryFill | Builtin::MemoryCopy | Builtin::MemoryInit => {
                Some(TrapCode::MemoryOutOfBounds)
            }
            Builtin::TableFill | Builtin::TableCopy | Builtin::TableInit => {
                Some(TrapCode::TableOutOfBounds)
            }
            Builtin::MemoryGrow | Builtin::DataDrop | Builtin::TableGrow | Builtin::ElemDrop => {
                None
            }
        }
    }

    /// Parameters after `vmctx`, and results.
    fn shape(self) -> (&'static [types::Type], &'static [types::Type]) {
        use types::{I32, I64};
        match self {
            Builtin::MemoryGrow => (&[I32, I32], &[I32]),
            Builtin::MemoryFill => (&[I32, I32, I32, I32], &[I32]),
            Builtin::MemoryCopy | Builtin::MemoryInit | Builtin::TableCopy | Builtin::TableInit => {
                (&[I32, I32, I32, I32, I32], &[I32])
            }
            Builtin::DataDrop | Builtin::ElemDrop => (&[I32], &[]),
            Builtin::TableGrow => (&[I32, I32, I64], &[I32]),
            Builtin::TableFill => (&[I32, I32, I64, I32], &[I32]),
        }
    }

    /// The Cranelift signature of the call.
    pub(crate) fn signature(self, call_conv: CallConv, pointer: types::Type) -> Signature {
        let (params, results) = self.shape();
        let mut sig = Signature::new(call_conv);
        sig.params.push(AbiParam::new(pointer));
        sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
        sig.returns
            .extend(results.iter().map(|t| AbiParam::new(*t)));
        sig
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order() {
        for (i, builtin) in Builtin::ALL.iter().enumerate() {
            assert_eq!(builtin.index(), i);
        }
    }

    #[test]
    fn status_builtins_return_one_i32() {
        for builtin in Builtin::ALL {
            let sig = builtin.signature(CallConv::SystemV, types::I64);
            if builtin.trap_code().is_some() {
                assert_eq!(sig.returns.len(), 1);
            }
        }
    }
}
