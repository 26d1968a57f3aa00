//! chain_ptr: chaining by function-table index. The input is an integer N (7 when empty, at
//! most 46340 in magnitude); the call chains this same module at `square`, whose entry receives
//! N parsed from its input and outputs N*N in decimal. The caller awaits it and outputs
//! "square(N) = N*N", e.g. "square(12) = 144". A bad input outputs "bad input" and fails.
use faasm_functions::{count_input, fail};
use std::process::ExitCode;

/// The chained entry: the host passes the call's input parsed as an integer.
extern "C" fn square(x: i32) -> i32 {
    faasm_sdk::set_output((x * x).to_string().as_bytes());
    0
}

fn main() -> ExitCode {
    let Some(n) = count_input(7, -46340, 46340) else {
        return fail("bad input");
    };
    let id = faasm_sdk::chain_fn(square, n);
    match faasm_sdk::await_call_output(id) {
        Ok(output) => {
            let text = format!("square({n}) = {}", String::from_utf8_lossy(&output));
            faasm_sdk::set_output(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(failed) => fail(&format!("square failed: {}", failed.code)),
    }
}
