//! Tables: 8-byte elements (a `*const VMFuncRef` or an extern handle, 0 for null) in a vector
//! whose address may change on growth; the `VMTableDefinition` generated code reads is updated
//! every time.

use crate::store::{Store, StoreId, StoreInner};
use crate::values::{Trap, Val};
use crate::vm::{Definition, VMTableDefinition};
use faasm_jit::{TableType, TrapCode};

/// A table of a store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Table {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// A store's table: its elements and where generated code finds them.
#[derive(Debug)]
pub(crate) struct TableData {
    /// The declared type (`minimum` is the initial size).
    declared: TableType,
    /// Largest size allowed: the declared maximum and the engine's limit.
    max_elements: u64,
    elements: Vec<u64>,
    def: Definition<VMTableDefinition>,
}

impl TableData {
    /// A table of `ty.minimum` elements set to `init`, published through `def`.
    pub(crate) fn new(
        ty: TableType,
        init: u64,
        limit: u64,
        def: Definition<VMTableDefinition>,
    ) -> Result<TableData, String> {
        let max_elements = ty
            .maximum
            .unwrap_or(u64::MAX)
            .min(limit)
            .min(u64::from(u32::MAX));
        if ty.minimum > max_elements {
            return Err(format!(
                "table of {} elements exceeds the limit of {max_elements}",
                ty.minimum
            ));
        }
        let mut table = TableData {
            declared: ty,
            max_elements,
            elements: Vec::new(),
            def,
        };
        if !table.resize(ty.minimum, init) {
            return Err(format!(
                "cannot allocate a table of {} elements",
                ty.minimum
            ));
        }
        Ok(table)
    }

    /// The definition generated code reads (of this table, for importers).
    pub(crate) fn definition_ptr(&self) -> *mut VMTableDefinition {
        self.def.as_ptr()
    }

    /// The type with the current size as minimum.
    pub(crate) fn ty(&self) -> TableType {
        TableType {
            minimum: self.size(),
            ..self.declared
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.elements.len() as u64
    }

    pub(crate) fn get(&self, index: u64) -> Option<u64> {
        self.elements.get(usize::try_from(index).ok()?).copied()
    }

    pub(crate) fn set(&mut self, index: u64, raw: u64) -> bool {
        match usize::try_from(index)
            .ok()
            .and_then(|i| self.elements.get_mut(i))
        {
            Some(element) => {
                *element = raw;
                true
            }
            None => false,
        }
    }

    /// Grows by `delta` elements set to `init`; the old size, or `None` beyond the limits.
    pub(crate) fn grow(&mut self, delta: u64, init: u64) -> Option<u64> {
        let old = self.size();
        let new = old.checked_add(delta).filter(|n| *n <= self.max_elements)?;
        self.resize(new, init).then_some(old)
    }

    /// `table.fill`: false if `[dst, dst + len)` is out of bounds.
    pub(crate) fn fill(&mut self, dst: u32, value: u64, len: u32) -> bool {
        match self.range_mut(dst, len) {
            Some(range) => {
                range.fill(value);
                true
            }
            None => false,
        }
    }

    /// `table.init`: copies `items[src..src + len]` to `dst`; false if either range is out of
    /// bounds (nothing is written then).
    pub(crate) fn init(&mut self, dst: u32, items: &[u64], src: u32, len: u32) -> bool {
        let Some(source) = items.get(src as usize..src as usize + len as usize) else {
            return false;
        };
        match self.range_mut(dst, len) {
            Some(range) => {
                range.copy_from_slice(source);
                true
            }
            None => false,
        }
    }

    fn range_mut(&mut self, start: u32, len: u32) -> Option<&mut [u64]> {
        self.elements
            .get_mut(start as usize..start as usize + len as usize)
    }

    /// Makes the table exactly `items` (its size becomes `items.len()`); false if that exceeds
    /// the table's limits or cannot be allocated.
    pub(crate) fn replace_elements(&mut self, items: &[u64]) -> bool {
        if items.len() as u64 > self.max_elements {
            return false;
        }
        self.elements.truncate(items.len());
        if !self.resize(items.len() as u64, 0) {
            return false;
        }
        self.elements.copy_from_slice(items);
        true
    }

    fn resize(&mut self, len: u64, init: u64) -> bool {
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        if self
            .elements
            .try_reserve_exact(len.saturating_sub(self.elements.len()))
            .is_err()
        {
            return false;
        }
        self.elements.resize(len, init);
        let def = self.def.get_mut();
        def.base = self.elements.as_mut_ptr();
        def.current_elements = self.elements.len() as u64;
        true
    }
}

/// `table.copy` between tables `dst_table` and `src_table` of `tables` (possibly the same, the
/// ranges possibly overlapping); false if out of bounds.
pub(crate) fn copy(
    tables: &mut [TableData],
    dst_table: usize,
    src_table: usize,
    dst: u32,
    src: u32,
    len: u32,
) -> bool {
    let in_bounds = |table: Option<&TableData>, start: u32| {
        table.is_some_and(|t| u64::from(start) + u64::from(len) <= t.size())
    };
    if !in_bounds(tables.get(dst_table), dst) || !in_bounds(tables.get(src_table), src) {
        return false;
    }
    if dst_table == src_table {
        let elements = &mut tables[dst_table].elements;
        elements.copy_within(src as usize..src as usize + len as usize, dst as usize);
    } else {
        let source = tables[src_table].elements[src as usize..src as usize + len as usize].to_vec();
        tables[dst_table].elements[dst as usize..dst as usize + len as usize]
            .copy_from_slice(&source);
    }
    true
}

impl Table {
    /// A table of type `ty` filled with `init`.
    pub fn new(store: &mut Store, ty: TableType, init: Val) -> Result<Table, Trap> {
        let inner = store.inner_mut();
        let init = inner.typed_val_to_raw(&init, ty.element.into(), &"table initial value")? as u64;
        let def = Definition::boxed(VMTableDefinition {
            base: std::ptr::null_mut(),
            current_elements: 0,
        });
        let limit = inner.engine.config().max_table_elements;
        let table = TableData::new(ty, init, limit, def).map_err(Trap::BadArguments)?;
        Ok(Table {
            store: inner.id,
            index: StoreInner::push(&mut inner.tables, table),
        })
    }

    /// The type, with the current size as minimum.
    pub fn ty(&self, store: &Store) -> TableType {
        match self.data(store) {
            Ok(table) => table.ty(),
            Err(_) => TableType {
                element: faasm_jit::RefType::FuncRef,
                minimum: 0,
                maximum: Some(0),
            },
        }
    }

    /// The number of elements.
    pub fn size(&self, store: &Store) -> u64 {
        self.data(store).map_or(0, TableData::size)
    }

    /// Element `index`, `None` if out of bounds.
    pub fn get(&self, store: &Store, index: u64) -> Option<Val> {
        let table = self.data(store).ok()?;
        let raw = table.get(index)?;
        Some(
            store
                .inner()
                .raw_to_val(u128::from(raw), table.declared.element.into()),
        )
    }

    /// Sets element `index` (`Trap::Wasm(TableOutOfBounds)` if out of bounds).
    pub fn set(&self, store: &mut Store, index: u64, value: Val) -> Result<(), Trap> {
        let raw = self.encode(store, &value)?;
        let table = &mut store.inner_mut().tables[self.index as usize];
        if table.set(index, raw) {
            Ok(())
        } else {
            Err(Trap::Wasm(TrapCode::TableOutOfBounds))
        }
    }

    /// Grows by `delta` elements set to `init`; returns the old size. Growing beyond the
    /// maximum (declared or the engine's limit) is `Trap::BadArguments`.
    pub fn grow(&self, store: &mut Store, delta: u64, init: Val) -> Result<u64, Trap> {
        let raw = self.encode(store, &init)?;
        let table = &mut store.inner_mut().tables[self.index as usize];
        table.grow(delta, raw).ok_or_else(|| {
            Trap::BadArguments(format!(
                "cannot grow a table of {} elements by {delta}",
                table.size()
            ))
        })
    }

    fn data<'a>(&self, store: &'a Store) -> Result<&'a TableData, Trap> {
        let inner = store.inner();
        inner.check(self.store, "table")?;
        inner
            .tables
            .get(self.index as usize)
            .ok_or_else(|| Trap::BadArguments("unknown table".to_string()))
    }

    /// Checks `value` against the element type and encodes it.
    fn encode(&self, store: &Store, value: &Val) -> Result<u64, Trap> {
        let element = self.data(store)?.declared.element;
        Ok(store
            .inner()
            .typed_val_to_raw(value, element.into(), &"table element")? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_jit::RefType;

    fn table(minimum: u64, maximum: Option<u64>) -> TableData {
        let ty = TableType {
            element: RefType::ExternRef,
            minimum,
            maximum,
        };
        let def = Definition::boxed(VMTableDefinition {
            base: std::ptr::null_mut(),
            current_elements: 0,
        });
        TableData::new(ty, 7, 100, def).expect("table")
    }

    #[test]
    fn growth_updates_the_definition_and_respects_limits() {
        let mut t = table(2, Some(4));
        assert_eq!(t.def.get().current_elements, 2);
        assert_eq!(t.grow(2, 9), Some(2));
        assert_eq!(t.def.get().current_elements, 4);
        assert_eq!(t.def.get().base, t.elements.as_mut_ptr());
        assert_eq!(t.get(3), Some(9));
        assert_eq!(t.grow(1, 0), None);
        let mut unbounded = table(0, None);
        assert_eq!(unbounded.grow(101, 0), None, "engine limit");
        assert_eq!(unbounded.grow(100, 0), Some(0));
    }

    #[test]
    fn bulk_operations_check_bounds_first() {
        let mut t = table(4, None);
        assert!(t.fill(1, 5, 3));
        assert!(!t.fill(2, 6, 3));
        assert_eq!(t.elements, [7, 5, 5, 5]);
        assert!(t.init(0, &[1, 2, 3], 1, 2));
        assert!(!t.init(3, &[1, 2, 3], 1, 2));
        assert!(!t.init(0, &[1, 2, 3], 2, 2));
        assert!(t.init(4, &[], 0, 0), "empty at the end is fine");
        assert_eq!(t.elements, [2, 3, 5, 5]);
        let mut tables = vec![t, table(2, None)];
        assert!(copy(&mut tables, 0, 0, 1, 0, 3));
        assert_eq!(tables[0].elements, [2, 2, 3, 5]);
        assert!(copy(&mut tables, 1, 0, 0, 2, 2));
        assert_eq!(tables[1].elements, [3, 5]);
        assert!(!copy(&mut tables, 1, 0, 1, 0, 2));
    }

    #[test]
    fn limits_apply_at_creation() {
        let ty = TableType {
            element: RefType::FuncRef,
            minimum: 101,
            maximum: None,
        };
        let def = Definition::boxed(VMTableDefinition {
            base: std::ptr::null_mut(),
            current_elements: 0,
        });
        assert!(TableData::new(ty, 0, 100, def).is_err());
    }
}
