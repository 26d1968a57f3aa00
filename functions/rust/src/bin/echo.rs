//! echo: the output is the input, byte for byte.
fn main() {
    faasm_sdk::set_output(&faasm_sdk::input());
}
