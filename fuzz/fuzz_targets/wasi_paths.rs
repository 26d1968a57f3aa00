//! cargo-fuzz shim: see `faasm_fuzz::targets::wasi_paths`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = faasm_fuzz::targets::wasi_paths(data) {
        panic!("{finding}");
    }
});
