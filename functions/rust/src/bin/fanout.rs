//! fanout: fan-out and fan-in. The input is N (4 when empty, 1 to 100). The call chains N
//! workers, this same module at `worker` with inputs 0 .. N-1; worker I outputs the sum of
//! I*100+1 ..= (I+1)*100 (that is 10000*I + 5050). The caller awaits every output and outputs
//! their sum in decimal: the sum of 1 ..= 100*N, e.g. "80200" for N = 4, "50005000" for 100.
//! A bad input outputs "bad input"; failed workers output "K of N workers failed"; both fail.
use faasm_functions::{count_input, fail};
use std::process::ExitCode;

/// The chained entry: sums its hundred numbers.
extern "C" fn worker(part: i32) -> i32 {
    let first = i64::from(part) * 100 + 1;
    let sum: i64 = (first..first + 100).sum();
    faasm_sdk::set_output(sum.to_string().as_bytes());
    0
}

fn main() -> ExitCode {
    let Some(n) = count_input(4, 1, 100) else {
        return fail("bad input");
    };
    let ids: Vec<_> = (0..n).map(|i| faasm_sdk::chain_fn(worker, i)).collect();
    let mut total: i64 = 0;
    let mut failed = 0;
    for id in ids {
        match faasm_sdk::await_call_output(id) {
            Ok(output) => {
                total += String::from_utf8_lossy(&output).parse::<i64>().unwrap_or(0);
            }
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        return fail(&format!("{failed} of {n} workers failed"));
    }
    faasm_sdk::set_output(total.to_string().as_bytes());
    ExitCode::SUCCESS
}
