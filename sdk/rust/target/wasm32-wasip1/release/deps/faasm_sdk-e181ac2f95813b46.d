/work/main/sdk/rust/target/wasm32-wasip1/release/deps/faasm_sdk-e181ac2f95813b46.d: src/lib.rs Cargo.toml

/work/main/sdk/rust/target/wasm32-wasip1/release/deps/libfaasm_sdk-e181ac2f95813b46.rmeta: src/lib.rs Cargo.toml

src/lib.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
