//! Exports wasi-libc's `malloc` from every function: the host allocates the outputs that
//! `faasm_sdk::await_call_output` receives with it (see the faasm-sdk crate documentation).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-bins=--export=malloc");
    }
}
