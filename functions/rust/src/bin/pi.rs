//! pi: a Monte Carlo estimate of pi over chained workers. The input is N (4 when empty, 1 to
//! 100). The call chains N workers, this same module at `pi_worker` with seeds 1 ..= N; each
//! draws 100000 points in the unit square from a 64-bit LCG seeded with its seed and outputs
//! how many fall inside the quarter circle, in decimal. The caller sums the hits and outputs
//! "pi ~= D.DDDDDD" (4 * hits / samples, truncated to six decimals, in integer arithmetic: the
//! same text as the C version). A bad input outputs "bad input"; failed workers output
//! "K of N workers failed"; both fail.
use faasm_functions::{count_input, fail};
use std::process::ExitCode;

/// Points per worker.
const SAMPLES: u64 = 100_000;

/// The next value of the LCG (Knuth's MMIX constants).
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state
}

/// The chained entry: counts the hits of `SAMPLES` points drawn from `seed`.
extern "C" fn pi_worker(seed: i32) -> i32 {
    let mut state = u64::from(seed as u32);
    let mut hits: u32 = 0;
    for _ in 0..SAMPLES {
        // 31-bit coordinates: x*x + y*y < 2^62 means inside the quarter circle of radius 2^31.
        let x = next(&mut state) >> 33;
        let y = next(&mut state) >> 33;
        if x * x + y * y < 1 << 62 {
            hits += 1;
        }
    }
    faasm_sdk::set_output(hits.to_string().as_bytes());
    0
}

fn main() -> ExitCode {
    let Some(n) = count_input(4, 1, 100) else {
        return fail("bad input");
    };
    let ids: Vec<_> = (1..=n)
        .map(|seed| faasm_sdk::chain_fn(pi_worker, seed))
        .collect();
    let mut hits: u64 = 0;
    let mut failed = 0;
    for id in ids {
        match faasm_sdk::await_call_output(id) {
            Ok(output) => hits += String::from_utf8_lossy(&output).parse::<u64>().unwrap_or(0),
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        return fail(&format!("{failed} of {n} workers failed"));
    }
    let micro = hits * 4_000_000 / (n as u64 * SAMPLES);
    let text = format!("pi ~= {}.{:06}", micro / 1_000_000, micro % 1_000_000);
    faasm_sdk::set_output(text.as_bytes());
    ExitCode::SUCCESS
}
