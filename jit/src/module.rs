//! What a module declares, parsed once: types, imports, functions, tables, memories, globals,
//! exports, segments. The runtime instantiates from this; the translator reads it.

use crate::error::CompileError;
use crate::types::{FuncType, GlobalType, MemoryType, RefType, TableType, ValType};
use std::collections::BTreeMap;
use wasmparser::{KnownCustom, Name, Parser, Payload};

/// Everything about a module except its code.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The type section.
    pub types: Vec<FuncType>,
    /// Imports in declaration order.
    pub imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub functions: Vec<u32>,
    /// Every table, imported ones first.
    pub tables: Vec<TableType>,
    /// Every memory, imported ones first.
    pub memories: Vec<MemoryType>,
    /// Every global's type, imported ones first.
    pub globals: Vec<GlobalType>,
    /// Initialisers of the defined globals (index `i` is global `num_imported_globals + i`).
    pub global_inits: Vec<ConstExpr>,
    /// Exports in declaration order.
    pub exports: Vec<Export>,
    /// The start function.
    pub start: Option<u32>,
    /// Element segments.
    pub elements: Vec<ElementSegment>,
    /// Data segments.
    pub data: Vec<DataSegment>,
    /// Number of imported functions.
    pub num_imported_funcs: u32,
    /// Number of imported tables.
    pub num_imported_tables: u32,
    /// Number of imported memories.
    pub num_imported_memories: u32,
    /// Number of imported globals.
    pub num_imported_globals: u32,
    /// The module's name from the `name` custom section, if it gives one.
    pub name: Option<String>,
    /// Function names from the `name` custom section, by function index. Empty when the
    /// section is absent or malformed (a malformed name section is ignored, as engines do).
    pub function_names: BTreeMap<u32, String>,
}

/// One import.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// What is imported, with its type.
    pub kind: ImportKind,
}

/// What an import is.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportKind {
    /// A function of the given type index.
    Func(u32),
    /// A table.
    Table(TableType),
    /// A memory.
    Memory(MemoryType),
    /// A global.
    Global(GlobalType),
}

/// One export.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// The exported entity.
    pub index: EntityIndex,
}

/// An index into one of the module's index spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityIndex {
    /// Function index.
    Func(u32),
    /// Table index.
    Table(u32),
    /// Memory index.
    Memory(u32),
    /// Global index.
    Global(u32),
}

/// A constant expression, as a short sequence of stack operations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConstExpr {
    /// The operations, in order; evaluating them leaves exactly one value.
    pub ops: Vec<ConstOp>,
}

/// One operation of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConstOp {
    /// `i32.const`
    I32Const(i32),
    /// `i64.const`
    I64Const(i64),
    /// `f32.const`, as bits.
    F32Const(u32),
    /// `f64.const`, as bits.
    F64Const(u64),
    /// `v128.const`, as bits.
    V128Const(u128),
    /// `ref.null`
    RefNull(RefType),
    /// `ref.func`
    RefFunc(u32),
    /// `global.get` of an (imported, immutable) global.
    GlobalGet(u32),
    /// `i32.add` (extended constant expressions)
    I32Add,
    /// `i32.sub`
    I32Sub,
    /// `i32.mul`
    I32Mul,
    /// `i64.add`
    I64Add,
    /// `i64.sub`
    I64Sub,
    /// `i64.mul`
    I64Mul,
}

/// An element segment.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementSegment {
    /// When and where it is applied.
    pub kind: ElementKind,
    /// Type of its references.
    pub element_type: RefType,
    /// One constant expression per element.
    pub items: Vec<ConstExpr>,
}

/// How an element segment is used.
#[derive(Debug, Clone, PartialEq)]
pub enum ElementKind {
    /// Copied into `table` at `offset` during instantiation, then dropped.
    Active {
        /// Table index.
        table: u32,
        /// Offset expression (i32).
        offset: ConstExpr,
    },
    /// Used by `table.init`.
    Passive,
    /// Only declares functions for `ref.func`; dropped at instantiation.
    Declared,
}

/// A data segment.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSegment {
    /// When and where it is applied.
    pub kind: DataKind,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// How a data segment is used.
#[derive(Debug, Clone, PartialEq)]
pub enum DataKind {
    /// Copied into `memory` at `offset` during instantiation, then dropped.
    Active {
        /// Memory index.
        memory: u32,
        /// Offset expression (i32).
        offset: ConstExpr,
    },
    /// Used by `memory.init`.
    Passive,
}

/// The body of a defined function, located in the module's bytes.
#[derive(Debug, Clone)]
pub(crate) struct FunctionBody<'a> {
    /// The body as wasmparser reads it.
    pub body: wasmparser::FunctionBody<'a>,
}

impl ModuleInfo {
    /// Number of functions the module defines (not imports).
    pub fn num_defined_funcs(&self) -> u32 {
        self.functions.len() as u32 - self.num_imported_funcs
    }

    /// Number of tables the module defines.
    pub fn num_defined_tables(&self) -> u32 {
        self.tables.len() as u32 - self.num_imported_tables
    }

    /// Number of memories the module defines.
    pub fn num_defined_memories(&self) -> u32 {
        self.memories.len() as u32 - self.num_imported_memories
    }

    /// Number of globals the module defines.
    pub fn num_defined_globals(&self) -> u32 {
        self.globals.len() as u32 - self.num_imported_globals
    }

    /// The type of function `func_index`.
    pub fn func_type(&self, func_index: u32) -> &FuncType {
        &self.types[self.functions[func_index as usize] as usize]
    }

    /// Whether `func_index` is imported.
    pub fn is_imported_func(&self, func_index: u32) -> bool {
        func_index < self.num_imported_funcs
    }

    /// The name the `name` section gives function `func_index`.
    pub fn func_name(&self, func_index: u32) -> Option<&str> {
        self.function_names.get(&func_index).map(String::as_str)
    }

    /// The export with this name.
    pub fn export(&self, name: &str) -> Option<EntityIndex> {
        self.exports
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.index)
    }

    /// Parses a module that has already been validated, returning its description and the bodies
    /// of its defined functions.
    pub(crate) fn parse(wasm: &[u8]) -> Result<(ModuleInfo, Vec<FunctionBody<'_>>), CompileError> {
        let mut info = ModuleInfo::default();
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            info.parse_payload(payload?, &mut bodies)?;
        }
        Ok((info, bodies))
    }

    fn parse_payload<'a>(
        &mut self,
        payload: Payload<'a>,
        bodies: &mut Vec<FunctionBody<'a>>,
    ) -> Result<(), CompileError> {
        match payload {
            Payload::TypeSection(reader) => {
                let offset = reader.range().start;
                for ty in reader.into_iter_err_on_gc_types() {
                    self.types.push(func_type(&ty?, offset)?);
                }
            }
            Payload::ImportSection(reader) => {
                for (offset, import) in reader
                    .into_imports_with_offsets()
                    .map(|r| r.map_err(CompileError::from))
                    .collect::<Result<Vec<_>, _>>()?
                {
                    self.add_import(import, offset)?;
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    self.functions.push(ty?);
                }
            }
            Payload::TableSection(reader) => {
                let offset = reader.range().start;
                for table in reader {
                    let table = table?;
                    self.tables.push(table_type(&table.ty, offset)?);
                }
            }
            Payload::MemorySection(reader) => {
                let offset = reader.range().start;
                for memory in reader {
                    self.memories.push(memory_type(&memory?, offset)?);
                }
            }
            Payload::GlobalSection(reader) => {
                let offset = reader.range().start;
                for global in reader {
                    let global = global?;
                    self.globals.push(global_type(&global.ty, offset)?);
                    self.global_inits.push(const_expr(&global.init_expr)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    let index = match export.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            EntityIndex::Func(export.index)
                        }
                        wasmparser::ExternalKind::Table => EntityIndex::Table(export.index),
                        wasmparser::ExternalKind::Memory => EntityIndex::Memory(export.index),
                        wasmparser::ExternalKind::Global => EntityIndex::Global(export.index),
                        wasmparser::ExternalKind::Tag => {
                            return Err(CompileError::unsupported(0, "exported tag"));
                        }
                    };
                    self.exports.push(Export {
                        name: export.name.to_string(),
                        index,
                    });
                }
            }
            Payload::StartSection { func, .. } => self.start = Some(func),
            Payload::ElementSection(reader) => {
                for element in reader {
                    self.elements.push(element_segment(element?)?);
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    let kind = match data.kind {
                        wasmparser::DataKind::Passive => DataKind::Passive,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => DataKind::Active {
                            memory: memory_index,
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    self.data.push(DataSegment {
                        kind,
                        bytes: data.data.to_vec(),
                    });
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(FunctionBody { body }),
            Payload::CustomSection(reader) => {
                if let KnownCustom::Name(names) = reader.as_known() {
                    self.read_names(names);
                }
            }
            Payload::TagSection(reader) => {
                return Err(CompileError::unsupported(
                    reader.range().start,
                    "exception tags",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Takes the module and function names of a `name` section; a malformed section
    /// contributes nothing at all.
    fn read_names(&mut self, reader: wasmparser::NameSectionReader<'_>) {
        let mut module_name = None;
        let mut function_names = BTreeMap::new();
        for subsection in reader {
            match subsection {
                Ok(Name::Module { name, .. }) => module_name = Some(name.to_string()),
                Ok(Name::Function(map)) => {
                    for naming in map {
                        let Ok(naming) = naming else { return };
                        function_names.insert(naming.index, naming.name.to_string());
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
        self.name = module_name;
        self.function_names = function_names;
    }

    fn add_import(
        &mut self,
        import: wasmparser::Import<'_>,
        offset: u64,
    ) -> Result<(), CompileError> {
        let kind = match import.ty {
            wasmparser::TypeRef::Func(ty) | wasmparser::TypeRef::FuncExact(ty) => {
                self.functions.push(ty);
                self.num_imported_funcs += 1;
                ImportKind::Func(ty)
            }
            wasmparser::TypeRef::Table(table) => {
                let table = table_type(&table, offset)?;
                self.tables.push(table);
                self.num_imported_tables += 1;
                ImportKind::Table(table)
            }
            wasmparser::TypeRef::Memory(memory) => {
                let memory = memory_type(&memory, offset)?;
                self.memories.push(memory);
                self.num_imported_memories += 1;
                ImportKind::Memory(memory)
            }
            wasmparser::TypeRef::Global(global) => {
                let global = global_type(&global, offset)?;
                self.globals.push(global);
                self.num_imported_globals += 1;
                ImportKind::Global(global)
            }
            wasmparser::TypeRef::Tag(_) => {
                return Err(CompileError::unsupported(offset, "imported tag"));
            }
        };
        self.imports.push(Import {
            module: import.module.to_string(),
            name: import.name.to_string(),
            kind,
        });
        Ok(())
    }
}

fn func_type(ty: &wasmparser::FuncType, offset: u64) -> Result<FuncType, CompileError> {
    let convert = |tys: &[wasmparser::ValType]| {
        tys.iter()
            .map(|t| ValType::from_wasmparser(*t, offset))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(FuncType {
        params: convert(ty.params())?,
        results: convert(ty.results())?,
    })
}

fn table_type(ty: &wasmparser::TableType, offset: u64) -> Result<TableType, CompileError> {
    if ty.table64 || ty.shared {
        return Err(CompileError::unsupported(offset, "64-bit or shared tables"));
    }
    Ok(TableType {
        element: RefType::from_wasmparser(ty.element_type, offset)?,
        minimum: ty.initial,
        maximum: ty.maximum,
    })
}

fn memory_type(ty: &wasmparser::MemoryType, offset: u64) -> Result<MemoryType, CompileError> {
    if ty.memory64 || ty.shared || ty.page_size_log2.is_some() {
        return Err(CompileError::unsupported(
            offset,
            "64-bit, shared or custom-page-size memories",
        ));
    }
    Ok(MemoryType {
        minimum: ty.initial,
        maximum: ty.maximum,
    })
}

fn global_type(ty: &wasmparser::GlobalType, offset: u64) -> Result<GlobalType, CompileError> {
    Ok(GlobalType {
        content: ValType::from_wasmparser(ty.content_type, offset)?,
        mutable: ty.mutable,
    })
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, CompileError> {
    let mut ops = Vec::new();
    let mut reader = expr.get_operators_reader();
    while !reader.eof() {
        let offset = reader.original_position();
        let op = match reader.read()? {
            wasmparser::Operator::I32Const { value } => ConstOp::I32Const(value),
            wasmparser::Operator::I64Const { value } => ConstOp::I64Const(value),
            wasmparser::Operator::F32Const { value } => ConstOp::F32Const(value.bits()),
            wasmparser::Operator::F64Const { value } => ConstOp::F64Const(value.bits()),
            wasmparser::Operator::V128Const { value } => {
                ConstOp::V128Const(u128::from_le_bytes(*value.bytes()))
            }
            wasmparser::Operator::RefNull { hty } => ConstOp::RefNull(RefType::from_wasmparser(
                wasmparser::RefType::new(true, hty)
                    .ok_or_else(|| CompileError::unsupported(offset, "heap type"))?,
                offset,
            )?),
            wasmparser::Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            wasmparser::Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            wasmparser::Operator::I32Add => ConstOp::I32Add,
            wasmparser::Operator::I32Sub => ConstOp::I32Sub,
            wasmparser::Operator::I32Mul => ConstOp::I32Mul,
            wasmparser::Operator::I64Add => ConstOp::I64Add,
            wasmparser::Operator::I64Sub => ConstOp::I64Sub,
            wasmparser::Operator::I64Mul => ConstOp::I64Mul,
            wasmparser::Operator::End => continue,
            other => {
                return Err(CompileError::unsupported(
                    offset,
                    format!("constant expression operator {other:?}"),
                ));
            }
        };
        ops.push(op);
    }
    Ok(ConstExpr { ops })
}

fn element_segment(element: wasmparser::Element<'_>) -> Result<ElementSegment, CompileError> {
    let kind = match element.kind {
        wasmparser::ElementKind::Passive => ElementKind::Passive,
        wasmparser::ElementKind::Declared => ElementKind::Declared,
        wasmparser::ElementKind::Active {
            table_index,
            offset_expr,
        } => ElementKind::Active {
            table: table_index.unwrap_or(0),
            offset: const_expr(&offset_expr)?,
        },
    };
    let offset = element.range.start;
    let (element_type, items) = match element.items {
        wasmparser::ElementItems::Functions(reader) => {
            let mut items = Vec::new();
            for func in reader {
                items.push(ConstExpr {
                    ops: vec![ConstOp::RefFunc(func?)],
                });
            }
            (RefType::FuncRef, items)
        }
        wasmparser::ElementItems::Expressions(ty, reader) => {
            let mut items = Vec::new();
            for expr in reader {
                items.push(const_expr(&expr?)?);
            }
            (RefType::from_wasmparser(ty, offset)?, items)
        }
    };
    Ok(ElementSegment {
        kind,
        element_type,
        items,
    })
}
