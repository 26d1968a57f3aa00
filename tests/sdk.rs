//! The guest SDKs (`sdk/c/faasm.h`, the `faasm-sdk` crate of `sdk/rust`) and the example
//! functions of `functions/`: every example is built in C and in Rust with the stock toolchains
//! (`support/functions.rs`), and its module is checked against `docs/abi.md`: every `env` import
//! is one of the ABI's, with the ABI's signature; `_start` and `memory` are exported; a function
//! that receives chained outputs exports `malloc`. Each SDK's `abi_check` and `abi_check_state`
//! modules, which call every import the SDK declares, must import exactly the ABI's non-state
//! and state imports. And `docs/abi.md` documents exactly the imports the host defines.
//!
//! These tests only build and inspect; `tests/invoke.rs` runs every example through
//! `faasm-run upload` and `faasm-run invoke`.
#![forbid(unsafe_code)]

#[path = "support/build.rs"]
mod build;
#[path = "support/functions.rs"]
mod functions;

use build::run_tool;
use functions::{AbiPart, EXAMPLES, LANGUAGES, Language, abi_check, function, sdk_dir};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use wasmparser::{ElementItems, ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// The `env` imports of `docs/abi.md`: name, parameters, results. Every pointer, length and
/// `int` is `i32`; `mmap`'s offset is the one `i64`.
const ABI: &[(&str, &[ValType], &[ValType])] = &[
    // Input / output.
    ("__faasm_read_input", &[I32, I32], &[I32]),
    ("__faasm_write_output", &[I32, I32], &[]),
    // Chaining.
    ("__faasm_chain_name", &[I32, I32, I32], &[I32]),
    ("__faasm_chain_ptr", &[I32, I32, I32], &[I32]),
    ("__faasm_await_call", &[I32], &[I32]),
    ("__faasm_await_call_output", &[I32, I32, I32], &[I32]),
    ("__faasm_chain_function", &[I32, I32, I32], &[I32]),
    ("__faasm_chain_this", &[I32, I32, I32], &[I32]),
    ("__faasm_get_idx", &[], &[I32]),
    // State.
    ("__faasm_read_state", &[I32, I32, I32], &[I32]),
    ("__faasm_read_state_ptr", &[I32, I32], &[I32]),
    ("__faasm_write_state", &[I32, I32, I32], &[]),
    (
        "__faasm_write_state_offset",
        &[I32, I32, I32, I32, I32],
        &[],
    ),
    ("__faasm_read_state_offset", &[I32, I32, I32, I32, I32], &[]),
    (
        "__faasm_read_state_offset_ptr",
        &[I32, I32, I32, I32],
        &[I32],
    ),
    ("__faasm_write_state_from_file", &[I32, I32], &[I32]),
    ("__faasm_flag_state_dirty", &[I32, I32], &[]),
    (
        "__faasm_flag_state_offset_dirty",
        &[I32, I32, I32, I32],
        &[],
    ),
    ("__faasm_push_state", &[I32], &[]),
    ("__faasm_push_state_partial", &[I32], &[]),
    ("__faasm_push_state_partial_mask", &[I32, I32], &[]),
    ("__faasm_pull_state", &[I32, I32], &[]),
    ("__faasm_append_state", &[I32, I32, I32], &[]),
    ("__faasm_read_appended_state", &[I32, I32, I32, I32], &[]),
    ("__faasm_clear_appended_state", &[I32], &[]),
    ("__faasm_lock_state_read", &[I32], &[]),
    ("__faasm_unlock_state_read", &[I32], &[]),
    ("__faasm_lock_state_write", &[I32], &[]),
    ("__faasm_unlock_state_write", &[I32], &[]),
    ("__faasm_lock_state_global_read", &[I32], &[]),
    ("__faasm_unlock_state_global_read", &[I32], &[]),
    ("__faasm_lock_state_global_write", &[I32], &[]),
    ("__faasm_unlock_state_global_write", &[I32], &[]),
    // Memory.
    ("__sbrk", &[I32], &[I32]),
    ("mmap", &[I32, I32, I32, I32, I32, I64], &[I32]),
    ("munmap", &[I32, I32], &[I32]),
    // Other.
    ("__faasm_conf_flag", &[I32], &[I32]),
];

/// The imports each example may have, and must have: what it does, and nothing else.
fn expected_imports(example: &str) -> &'static [&'static str] {
    match example {
        "echo" => &["__faasm_read_input", "__faasm_write_output"],
        "hello" => &["__faasm_write_output"],
        "chain" => &[
            "__faasm_read_input",
            "__faasm_write_output",
            "__faasm_chain_name",
            "__faasm_await_call_output",
        ],
        "chain_ptr" | "fanout" | "pi" => &[
            "__faasm_read_input",
            "__faasm_write_output",
            "__faasm_chain_ptr",
            "__faasm_await_call_output",
        ],
        other => panic!("no expected imports for the example {other}"),
    }
}

/// What the checks need of a module.
#[derive(Debug, Default)]
struct ModuleInfo {
    /// `env` imports: name and type.
    env: BTreeMap<String, FuncType>,
    /// Every other import as `module.name`.
    other_imports: Vec<String>,
    /// Function exports and their types.
    func_exports: BTreeMap<String, FuncType>,
    /// Memory exports.
    memory_exports: Vec<String>,
    /// Function-table element entries (`__faasm_chain_ptr` needs its targets in the table).
    elements: u32,
}

fn parse(path: &Path) -> ModuleInfo {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let context = |e: wasmparser::BinaryReaderError| format!("{}: {e}", path.display());
    let mut types: Vec<FuncType> = Vec::new();
    // The type index of every function, imports first.
    let mut func_types: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut info = ModuleInfo::default();
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.map_err(context).unwrap() {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.map_err(context).unwrap());
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(context).unwrap();
                    let type_index = match import.ty {
                        TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                            func_types.push(index);
                            Some(index)
                        }
                        _ => None,
                    };
                    match (import.module, type_index) {
                        ("env", Some(index)) => {
                            info.env
                                .insert(import.name.to_string(), types[index as usize].clone());
                        }
                        _ => info
                            .other_imports
                            .push(format!("{}.{}", import.module, import.name)),
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for index in reader {
                    func_types.push(index.map_err(context).unwrap());
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(context).unwrap();
                    exports.push((export.name.to_string(), export.kind, export.index));
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader {
                    info.elements += match element.map_err(context).unwrap().items {
                        ElementItems::Functions(items) => items.count(),
                        ElementItems::Expressions(_, items) => items.count(),
                    };
                }
            }
            _ => {}
        }
    }
    for (name, kind, index) in exports {
        match kind {
            ExternalKind::Func | ExternalKind::FuncExact => {
                let ty = func_types[index as usize];
                info.func_exports.insert(name, types[ty as usize].clone());
            }
            ExternalKind::Memory => info.memory_exports.push(name),
            _ => {}
        }
    }
    info
}

/// The ABI's signature of `name`, if it is an import of the ABI.
fn abi_signature(name: &str) -> Option<(&'static [ValType], &'static [ValType])> {
    ABI.iter()
        .find(|(abi_name, _, _)| *abi_name == name)
        .map(|(_, params, results)| (*params, *results))
}

/// Checks that every `env` import of `info` is in the ABI with the ABI's signature, and that
/// nothing is imported from modules other than `env` and `wasi_snapshot_preview1`.
fn check_abi_imports(what: &str, info: &ModuleInfo) {
    for (name, ty) in &info.env {
        let (params, results) =
            abi_signature(name).unwrap_or_else(|| panic!("{what}: env.{name} is not in the ABI"));
        assert!(
            ty.params() == params && ty.results() == results,
            "{what}: env.{name} has type {ty}, the ABI says {params:?} -> {results:?}"
        );
    }
    for import in &info.other_imports {
        assert!(
            import.starts_with("wasi_snapshot_preview1."),
            "{what}: imports {import}, neither env nor WASI"
        );
    }
}

/// Checks one example function.
fn check_example(language: Language, example: &str) {
    let path = function(language, example);
    let what = format!("{} {example} ({})", language.name(), path.display());
    let info = parse(&path);
    check_abi_imports(&what, &info);

    let imports: BTreeSet<&str> = info.env.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = expected_imports(example).iter().copied().collect();
    assert_eq!(imports, expected, "{what}: its env imports");

    let start = info.func_exports.get("_start");
    assert!(
        start.is_some_and(|ty| ty.params().is_empty() && ty.results().is_empty()),
        "{what}: exports no `_start: [] -> []` (exports: {:?})",
        info.func_exports.keys().collect::<Vec<_>>()
    );
    assert_eq!(info.memory_exports, ["memory"], "{what}: its memory export");
    if imports.contains("__faasm_await_call_output") {
        let malloc = info.func_exports.get("malloc");
        assert!(
            malloc.is_some_and(|ty| ty.params() == [I32] && ty.results() == [I32]),
            "{what}: awaits outputs, so it must export `malloc: [i32] -> [i32]` (exports: {:?})",
            info.func_exports.keys().collect::<Vec<_>>()
        );
    }
    if imports.contains("__faasm_chain_ptr") {
        assert!(
            info.elements > 0,
            "{what}: chains by table index, but its function table is empty"
        );
    }
}

fn check_examples(language: Language) {
    for example in EXAMPLES {
        check_example(language, example);
    }
}

#[test]
fn c_examples_import_only_the_abi() {
    check_examples(Language::C);
}

#[test]
fn rust_examples_import_only_the_abi() {
    check_examples(Language::Rust);
}

/// The ABI's imports of the state table (`part == State`) or all the others.
fn abi_imports(part: AbiPart) -> BTreeSet<&'static str> {
    ABI.iter()
        .map(|(name, _, _)| *name)
        .filter(|name| name.contains("_state") == (part == AbiPart::State))
        .collect()
}

/// The module of `abi_check` for `part`, which calls every import of that part the SDK
/// declares: exactly the ABI's imports of that part, each with the ABI's signature.
fn check_sdk_declarations(language: Language, part: AbiPart) {
    let path = abi_check(language, part);
    let what = format!("{} SDK, {part:?} ({})", language.name(), path.display());
    let info = parse(&path);
    check_abi_imports(&what, &info);
    let imports: BTreeSet<&str> = info.env.keys().map(String::as_str).collect();
    assert_eq!(imports, abi_imports(part), "{what}: its env imports");
}

#[test]
fn c_sdk_declares_the_abi() {
    check_sdk_declarations(Language::C, AbiPart::Calls);
    check_sdk_declarations(Language::C, AbiPart::State);
}

#[test]
fn rust_sdk_declares_the_abi() {
    check_sdk_declarations(Language::Rust, AbiPart::Calls);
    check_sdk_declarations(Language::Rust, AbiPart::State);
}

/// A fresh directory under the tests' temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sdk")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// `clang --target=wasm32-wasi -I sdk/c -Wall -Wextra -Werror ARGS`.
fn clang(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let mut command = Command::new("clang");
    command
        .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(sdk_dir().join("c"));
    for arg in args {
        command.arg(arg);
    }
    run_tool(
        &mut command,
        "the C SDK needs Debian's clang, lld and wasi-libc (.ci/run installs them)",
    );
}

/// faasm.h is a C++ header too (`extern "C"`), and agrees with wasi-libc's own declarations of
/// `mmap` and `munmap` (<sys/mman.h> with `_WASI_EMULATED_MMAN`) included before or after it.
#[test]
fn faasm_h_compiles_as_cxx_and_beside_wasi_mman() {
    let dir = scratch("headers");
    let cxx = dir.join("function.cc");
    fs::write(
        &cxx,
        "#include <faasm.h>\n\
         static int entry(int x) { return x; }\n\
         int main() {\n\
             unsigned int id = faasm_chain_ptr_int((int (*)())entry, 3);\n\
             size_t len = 0;\n\
             unsigned char *out = faasm_await_output(id, &len, nullptr);\n\
             free(out);\n\
             return faasm_await_all(&id, 1);\n\
         }\n",
    )
    .unwrap();
    clang(&[&"-x", &"c++", &"-fsyntax-only", &cxx]);

    for (name, first, second) in [
        ("mman_first.c", "<sys/mman.h>", "<faasm.h>"),
        ("faasm_first.c", "<faasm.h>", "<sys/mman.h>"),
    ] {
        let source = dir.join(name);
        fs::write(
            &source,
            format!(
                "#define _WASI_EMULATED_MMAN\n#include {first}\n#include {second}\n\
                 int main(void) {{\n\
                     void *p = mmap(NULL, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n\
                     return munmap(p, 65536);\n\
                 }}\n"
            ),
        )
        .unwrap();
        let wasm = dir.join(name.replace(".c", ".wasm"));
        clang(&[&source, &"-o", &wasm]);
        // Without `-lwasi-emulated-mman`, they are the ABI's imports.
        let info = parse(&wasm);
        check_abi_imports(name, &info);
        assert_eq!(
            info.env.keys().map(String::as_str).collect::<Vec<_>>(),
            ["mmap", "munmap"],
            "{name}: its env imports"
        );
    }
}

/// However many files of a function include faasm.h, the module exports one `malloc`.
#[test]
fn faasm_h_exports_malloc_once() {
    let dir = scratch("malloc");
    let main = dir.join("main.c");
    let other = dir.join("other.c");
    fs::write(
        &main,
        "#include <faasm.h>\nint other(void);\nint main(void) { return other(); }\n",
    )
    .unwrap();
    fs::write(
        &other,
        "#include <faasm.h>\nint other(void) { return 0; }\n",
    )
    .unwrap();
    let wasm = dir.join("two.wasm");
    clang(&[&main, &other, &"-o", &wasm]);
    let info = parse(&wasm);
    let malloc = info.func_exports.get("malloc");
    assert!(
        malloc.is_some_and(|ty| ty.params() == [I32] && ty.results() == [I32]),
        "no `malloc: [i32] -> [i32]` export: {:?}",
        info.func_exports
    );
    let bytes = fs::read(&wasm).unwrap();
    let exports = Parser::new(0)
        .parse_all(&bytes)
        .filter_map(|payload| match payload.unwrap() {
            Payload::ExportSection(reader) => Some(
                reader
                    .into_iter()
                    .filter(|export| export.as_ref().unwrap().name == "malloc")
                    .count(),
            ),
            _ => None,
        })
        .sum::<usize>();
    assert_eq!(exports, 1, "exports named malloc");
}

/// Every example exists in both languages, and nothing else is in `functions/c`.
#[test]
fn every_example_in_both_languages() {
    let mut c: Vec<String> = fs::read_dir(functions::functions_dir().join("c"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    c.sort();
    let mut expected: Vec<String> = EXAMPLES.iter().map(|name| format!("{name}.c")).collect();
    expected.sort();
    assert_eq!(c, expected, "functions/c");
    for language in LANGUAGES {
        for example in EXAMPLES {
            let source = match language {
                Language::C => format!("c/{example}.c"),
                Language::Rust => format!("rust/src/bin/{example}.rs"),
            };
            assert!(
                functions::functions_dir().join(&source).is_file(),
                "no functions/{source}"
            );
        }
    }
}

/// The rows of the tables of `docs/abi.md` whose header's first cell is `import` (the `env`
/// calls) or `function` (WASI): the names in backquotes of the first cell, and the second cell.
fn abi_document_rows() -> Vec<(Vec<String>, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/abi.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if matches!(cells.get(1), Some(&"import" | &"function")) {
            in_table = true;
            continue;
        }
        if !in_table || cells.len() < 3 || cells[1].starts_with("---") {
            continue;
        }
        let names = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        rows.push((names, cells[2].to_string()));
    }
    rows
}

/// `(params, results)` of a signature cell such as `` `(key, buf, len) -> i32` ``.
fn documented_arity(cell: &str) -> Option<(usize, usize)> {
    let cell = cell.trim_matches('`');
    let (params, results) = cell.split_once("->")?;
    let params = params.trim().strip_prefix('(')?.strip_suffix(')')?;
    let n_params = if params.trim().is_empty() {
        0
    } else {
        params.split(',').count()
    };
    let n_results = usize::from(results.trim() != "()");
    Some((n_params, n_results))
}

/// `docs/abi.md` documents exactly the imports the host defines: every `env` function with its
/// number of parameters and results, and every WASI preview 1 function in the status table.
#[test]
fn the_abi_document_lists_every_import_the_host_defines() {
    let rows = abi_document_rows();
    // An alias's row says "same": it has the signature of the row above.
    let mut arity_of = BTreeMap::new();
    let mut previous = None;
    for (names, cell) in &rows {
        let arity = if cell == "same" {
            previous
        } else {
            documented_arity(cell)
        };
        previous = arity;
        for name in names {
            arity_of.insert(name.clone(), arity);
        }
    }
    let mut defined = BTreeSet::new();
    for (name, ty) in faasm_hostcalls::faasm_signatures() {
        let documented = arity_of
            .get(name)
            .unwrap_or_else(|| panic!("docs/abi.md has no row for env.{name}"));
        assert_eq!(
            *documented,
            Some((ty.params.len(), ty.results.len())),
            "docs/abi.md: the signature of env.{name}, the host's is {ty}"
        );
        defined.insert(name.to_string());
    }
    for (name, _) in faasm_hostcalls::signatures() {
        assert!(
            arity_of.contains_key(name),
            "docs/abi.md's WASI table has no row for {name}"
        );
        defined.insert(name.to_string());
    }
    let documented: BTreeSet<String> = arity_of.into_keys().collect();
    let unknown: Vec<&String> = documented.difference(&defined).collect();
    assert!(
        unknown.is_empty(),
        "docs/abi.md documents imports the host does not define: {unknown:?}"
    );
}
