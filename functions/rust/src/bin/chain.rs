//! chain: chains the function `echo` of the same user by name with this call's input (or
//! "ping" when it is empty), awaits it and outputs "echo said: " and echo's output. When echo
//! fails the output is "echo failed: N" (its result) and the call fails.
use faasm_functions::fail;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = faasm_sdk::input();
    if input.is_empty() {
        input = b"ping".to_vec();
    }
    let id = faasm_sdk::chain("echo", &input);
    match faasm_sdk::await_call_output(id) {
        Ok(output) => {
            let mut text = b"echo said: ".to_vec();
            text.extend_from_slice(&output);
            faasm_sdk::set_output(&text);
            ExitCode::SUCCESS
        }
        Err(failed) => fail(&format!("echo failed: {}", failed.code)),
    }
}
