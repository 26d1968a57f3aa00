//! cargo-fuzz shim: see `faasm_fuzz::targets::memory_strategies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = faasm_fuzz::targets::memory_strategies(data) {
        panic!("{finding}");
    }
});
