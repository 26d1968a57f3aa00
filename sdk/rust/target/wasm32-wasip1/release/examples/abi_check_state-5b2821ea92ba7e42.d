/work/main/sdk/rust/target/wasm32-wasip1/release/examples/abi_check_state-5b2821ea92ba7e42.d: examples/abi_check_state.rs Cargo.toml

/work/main/sdk/rust/target/wasm32-wasip1/release/examples/libabi_check_state-5b2821ea92ba7e42.rmeta: examples/abi_check_state.rs Cargo.toml

examples/abi_check_state.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
