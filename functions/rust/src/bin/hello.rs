//! hello: the output is "Hello, faasm!", whatever the input.
fn main() {
    faasm_sdk::set_output(b"Hello, faasm!");
}
