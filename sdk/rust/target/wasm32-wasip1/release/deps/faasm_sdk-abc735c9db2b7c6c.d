/work/main/sdk/rust/target/wasm32-wasip1/release/deps/faasm_sdk-abc735c9db2b7c6c.d: src/lib.rs Cargo.toml

/work/main/sdk/rust/target/wasm32-wasip1/release/deps/libfaasm_sdk-abc735c9db2b7c6c.rmeta: src/lib.rs Cargo.toml

src/lib.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
