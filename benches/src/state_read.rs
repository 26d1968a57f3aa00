//! The `state` group's read of a large value from inside a function: 64 MiB through the pointer
//! `__faasm_read_state_ptr` returns (the host's one copy, mapped into linear memory: no copy)
//! against `__faasm_read_state` (copied into the function's memory), both followed by a pass
//! over every byte. Through the scheduler, on the in-process tier; each call is a Faaslet
//! spawned from its Proto-Faaslet and reset afterwards, so every read maps or copies again.

use crate::Peer;
use crate::report::{Row, Unit};
use faasm_runtime::{Engine, Module};
use faasm_scheduler::{CallRequest, Function, Scheduler, SchedulerConfig};
use faasm_state::{LocalTier, StateKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The value's size.
const VALUE_BYTES: usize = 64 << 20;
/// Calls per way of reading; the median is kept.
const ROUNDS: usize = 7;

/// Reads the state value `big` (64 MiB) by pointer (input `p`) or by copy (input `c`) and sums
/// it as little-endian i64 words; outputs the sum (8 bytes).
const READER: &str = r#"(module
    (import "env" "__faasm_read_input" (func $input (param i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $output (param i32 i32)))
    (import "env" "__faasm_read_state_ptr" (func $ptr (param i32 i32) (result i32)))
    (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "big\00")
    (func $sum (param $at i32) (param $end i32) (result i64)
        (local $total i64)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
            (local.set $total (i64.add (local.get $total) (i64.load (local.get $at))))
            (local.set $at (i32.add (local.get $at) (i32.const 8)))
            (br $next)))
        (local.get $total))
    (func (export "_start")
        (local $at i32)
        (drop (call $input (i32.const 0) (i32.const 1)))
        (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 112))
            (then (local.set $at (call $ptr (i32.const 16) (i32.const 67108864))))
            (else
                (local.set $at (i32.mul (memory.grow (i32.const 1024)) (i32.const 65536)))
                (drop (call $read (i32.const 16) (local.get $at) (i32.const 67108864)))))
        (i64.store (i32.const 8)
            (call $sum (local.get $at) (i32.add (local.get $at) (i32.const 67108864))))
        (call $output (i32.const 8) (i32.const 8))))"#;

/// The group's row: GB/s through the pointer (ours column) and by copy (the `wasmtime` column,
/// as the row's name says); the ratio is pointer / copy. Empty, with the reason on stderr, if
/// the measurement fails.
pub fn value_rows() -> Vec<Row> {
    match measure() {
        Ok(row) => vec![row],
        Err(message) => {
            eprintln!("report: state read skipped: {message}");
            Vec::new()
        }
    }
}

fn measure() -> Result<Row, String> {
    let engine = Engine::default();
    let wasm = wat::parse_str(READER).map_err(|e| e.to_string())?;
    let module = Module::new(&engine, &wasm).map_err(|e| e.to_string())?;
    let local = Arc::new(LocalTier::in_process());
    let key = StateKey::new("bench", "big").map_err(|e| e.to_string())?;
    let bytes: Vec<u8> = (0..VALUE_BYTES).map(|i| (i % 251) as u8).collect();
    local.write(&key, &bytes).map_err(|e| e.to_string())?;
    let expected: u64 = bytes
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
        .fold(0, u64::wrapping_add);
    let config = SchedulerConfig {
        workers: 1,
        ..SchedulerConfig::default()
    }
    .with_state(local);
    let scheduler = Scheduler::with_config(&engine, config).map_err(|e| e.to_string())?;
    let function = Function::prepare(&module).map_err(|e| e.to_string())?;
    scheduler.register("bench", "read", function);
    let mut pointer = Vec::new();
    let mut copy = Vec::new();
    for round in 0..=ROUNDS {
        let by_pointer = read(&scheduler, b'p', expected)?;
        let by_copy = read(&scheduler, b'c', expected)?;
        if round > 0 {
            pointer.push(gigabytes_per_second(by_pointer));
            copy.push(gigabytes_per_second(by_copy));
        }
    }
    Ok(Row {
        group: "state",
        name: "read 64 MiB in a function: through __faasm_read_state_ptr (ours column) vs \
               __faasm_read_state copy (wasmtime column), then a pass over every byte"
            .to_string(),
        medians: BTreeMap::from([
            (Peer::Ours, median(pointer)),
            (Peer::Wasmtime, median(copy)),
        ]),
        unit: Unit::Value("GB/s"),
    })
}

/// One call reading the value by `mode` (`p` or `c`): its duration, after checking the sum.
fn read(scheduler: &Scheduler, mode: u8, expected: u64) -> Result<Duration, String> {
    let start = Instant::now();
    let result = scheduler
        .invoke("bench", "read", CallRequest::with_input(vec![mode]))
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let sum = <[u8; 8]>::try_from(result.output.as_slice()).map(u64::from_le_bytes);
    match (result.succeeded(), sum) {
        (true, Ok(sum)) if sum == expected => Ok(elapsed),
        _ => Err(format!(
            "reading by {}: {:?}, sum {sum:?}, expected {expected}",
            char::from(mode),
            result.failure
        )),
    }
}

fn gigabytes_per_second(elapsed: Duration) -> f64 {
    VALUE_BYTES as f64 / elapsed.as_secs_f64() / 1e9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
