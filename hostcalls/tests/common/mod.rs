//! What the `env` interface's test binaries share.

use faasm_hostcalls::{faasm_signatures, signatures};
use faasm_runtime::FuncType;

/// For each `env` function whose name `wanted` keeps: its WAT import, and a wrapper export
/// `callNAME` with the same signature that forwards to it. Returned as (imports, wrappers).
pub fn proxies(wanted: impl Fn(&str) -> bool) -> (String, String) {
    proxies_of("env", "call", faasm_signatures(), wanted)
}

/// As [`proxies`], for the `wasi_snapshot_preview1` functions; the wrappers are `wasiNAME`.
#[allow(dead_code)] // Not every test binary calls WASI functions.
pub fn wasi_proxies(wanted: impl Fn(&str) -> bool) -> (String, String) {
    proxies_of("wasi_snapshot_preview1", "wasi", signatures(), wanted)
}

fn proxies_of(
    module: &str,
    prefix: &str,
    functions: impl Iterator<Item = (&'static str, FuncType)>,
    wanted: impl Fn(&str) -> bool,
) -> (String, String) {
    let mut imports = String::new();
    let mut wrappers = String::new();
    for (name, ty) in functions.filter(|(name, _)| wanted(name)) {
        let params: Vec<String> = ty.params.iter().map(ToString::to_string).collect();
        let params = params.join(" ");
        let result = if ty.results.is_empty() {
            ""
        } else {
            "(result i32)"
        };
        let gets: String = (0..ty.params.len())
            .map(|i| format!("local.get {i} "))
            .collect();
        imports +=
            &format!("(import \"{module}\" \"{name}\" (func ${name} (param {params}) {result}))\n");
        wrappers += &format!(
            "(func (export \"{prefix}{name}\") (param {params}) {result} {gets} call ${name})\n"
        );
    }
    (imports, wrappers)
}
