/work/main/sdk/rust/target/wasm32-wasip1/release/examples/abi_check-a2cc2e1010bd77bf.d: examples/abi_check.rs Cargo.toml

/work/main/sdk/rust/target/wasm32-wasip1/release/examples/libabi_check-a2cc2e1010bd77bf.rmeta: examples/abi_check.rs Cargo.toml

examples/abi_check.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
