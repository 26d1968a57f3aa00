//! The `spectest` module every spec script may import from, built from host objects.

use faasm_runtime::{
    Extern, Func, FuncType, Global, GlobalType, Linker, Memory, MemoryType, RefType, Store, Table,
    TableType, Val, ValType,
};

/// Defines `spectest` in `linker`, its objects living in `store`.
pub fn define_spectest(store: &mut Store, linker: &mut Linker) -> Result<(), String> {
    define_print_functions(store, linker);
    define_globals(store, linker)?;
    let table_type = TableType {
        element: RefType::FuncRef,
        minimum: 10,
        maximum: Some(20),
    };
    let table = Table::new(store, table_type, Val::FuncRef(None))
        .map_err(|e| format!("spectest table: {e}"))?;
    linker.define("spectest", "table", Extern::Table(table));
    let memory_type = MemoryType {
        minimum: 1,
        maximum: Some(2),
    };
    let memory = Memory::new(store, memory_type).map_err(|e| format!("spectest memory: {e}"))?;
    linker.define("spectest", "memory", Extern::Memory(memory));
    Ok(())
}

/// The `print*` functions: the reference interpreter prints their arguments; we keep the output
/// quiet because only their types matter to the scripts.
fn define_print_functions(store: &mut Store, linker: &mut Linker) {
    use ValType::{F32, F64, I32, I64};
    let functions: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[I32]),
        ("print_i64", &[I64]),
        ("print_f32", &[F32]),
        ("print_f64", &[F64]),
        ("print_i32_f32", &[I32, F32]),
        ("print_f64_f64", &[F64, F64]),
    ];
    for (name, params) in functions {
        let func = Func::new(store, FuncType::new(params, []), |_, _, _| Ok(()));
        linker.define("spectest", name, Extern::Func(func));
    }
}

fn define_globals(store: &mut Store, linker: &mut Linker) -> Result<(), String> {
    let globals = [
        ("global_i32", Val::I32(666)),
        ("global_i64", Val::I64(666)),
        ("global_f32", Val::F32(666.6f32.to_bits())),
        ("global_f64", Val::F64(666.6f64.to_bits())),
    ];
    for (name, value) in globals {
        let ty = GlobalType {
            content: value.ty(),
            mutable: false,
        };
        let global = Global::new(store, ty, value).map_err(|e| format!("spectest {name}: {e}"))?;
        linker.define("spectest", name, Extern::Global(global));
    }
    Ok(())
}
