//! Globals: 16-byte cells, the value in the low bytes.

use crate::store::{Store, StoreId, StoreInner};
use crate::values::{Trap, Val};
use crate::vm::{Definition, VMGlobalDefinition};
use faasm_jit::{GlobalType, ValType};

/// A global of a store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Global {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// A store's global: its type and its cell.
#[derive(Debug)]
pub(crate) struct GlobalData {
    ty: GlobalType,
    def: Definition<VMGlobalDefinition>,
}

impl GlobalData {
    pub(crate) fn new(ty: GlobalType, def: Definition<VMGlobalDefinition>) -> GlobalData {
        GlobalData { ty, def }
    }

    pub(crate) fn ty(&self) -> GlobalType {
        self.ty
    }

    /// The cell generated code reads (of this global, for importers).
    pub(crate) fn definition_ptr(&self) -> *mut VMGlobalDefinition {
        self.def.as_ptr()
    }

    /// The raw value.
    pub(crate) fn raw(&self) -> u128 {
        self.def.get().get()
    }

    /// Stores a raw value (of the global's type; mutability is the caller's business).
    pub(crate) fn set_raw(&mut self, raw: u128) {
        self.def.get_mut().set(raw);
    }
}

impl Global {
    /// A global of type `ty` holding `init`.
    pub fn new(store: &mut Store, ty: GlobalType, init: Val) -> Result<Global, Trap> {
        let inner = store.inner_mut();
        let raw = inner.typed_val_to_raw(&init, ty.content, &"global initial value")?;
        let mut def = Definition::boxed(VMGlobalDefinition::default());
        def.get_mut().set(raw);
        Ok(Global {
            store: inner.id,
            index: StoreInner::push(&mut inner.globals, GlobalData::new(ty, def)),
        })
    }

    /// The type (an immutable i32 if the handle belongs to another store).
    pub fn ty(&self, store: &Store) -> GlobalType {
        self.data(store).map_or(
            GlobalType {
                content: ValType::I32,
                mutable: false,
            },
            |g| g.ty,
        )
    }

    /// The value (`I32(0)` if the handle belongs to another store).
    pub fn get(&self, store: &Store) -> Val {
        match self.data(store) {
            Ok(global) => store.inner().raw_to_val(global.raw(), global.ty.content),
            Err(_) => Val::I32(0),
        }
    }

    /// Sets the value: it must have the global's type, and the global must be mutable.
    pub fn set(&self, store: &mut Store, value: Val) -> Result<(), Trap> {
        let ty = self.data(store)?.ty;
        if !ty.mutable {
            return Err(Trap::BadArguments(
                "cannot set an immutable global".to_string(),
            ));
        }
        let inner = store.inner_mut();
        let raw = inner.typed_val_to_raw(&value, ty.content, &"global value")?;
        inner.globals[self.index as usize].def.get_mut().set(raw);
        Ok(())
    }

    fn data<'a>(&self, store: &'a Store) -> Result<&'a GlobalData, Trap> {
        let inner = store.inner();
        inner.check(self.store, "global")?;
        inner
            .globals
            .get(self.index as usize)
            .ok_or_else(|| Trap::BadArguments("unknown global".to_string()))
    }
}
