//! Rough spawn and reset times (not a benchmark: `cargo test --release -p faasm-snapshot --test
//! timing -- --ignored --nocapture`). The criterion benchmarks belong to `faasm-benches`.

use faasm_runtime::{Engine, Linker, Module, Store};
use faasm_snapshot::Snapshot;
use std::time::Instant;

/// Initialisation fills `pages` of memory; `touch` writes one byte in each of `n` pages.
fn module(pages: u32) -> String {
    format!(
        r#"(module
  (memory (export "memory") {pages})
  (func (export "_initialize") (local $i i32)
    (loop $fill
      (i32.store8 (local.get $i) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 4096)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const {bytes})))))
  (func (export "noop"))
  (func (export "touch") (param $n i32) (local $i i32)
    (loop $write
      (i32.store8 (i32.mul (local.get $i) (i32.const 4096)) (i32.const 2))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $write (i32.lt_u (local.get $i) (local.get $n))))))"#,
        bytes = pages * 65536
    )
}

#[test]
#[ignore = "timing report, run by hand"]
fn spawn_and_reset_times() {
    let engine = Engine::default();
    let linker = Linker::new();
    for pages in [1, 256] {
        let wasm = wat::parse_str(module(pages)).expect("wat");
        let module = Module::new(&engine, &wasm).expect("compile");
        let snapshot =
            Snapshot::prepare(&mut Store::new(&engine), &linker, &module).expect("prepare");
        let rounds = 2000u32;
        let mut store = Store::new(&engine);
        let start = Instant::now();
        for _ in 0..rounds {
            let mut store = Store::new(&engine);
            let faaslet = snapshot.spawn(&mut store, &linker).expect("spawn");
            faaslet.call(&mut store, "noop", &[]).expect("noop");
        }
        let spawn = start.elapsed() / rounds;
        let faaslet = snapshot.spawn(&mut store, &linker).expect("spawn");
        for touched in [0, 16] {
            let start = Instant::now();
            for _ in 0..rounds {
                faaslet
                    .call(&mut store, "touch", &[faasm_runtime::Val::I32(touched)])
                    .expect("touch");
                faaslet.reset(&mut store).expect("reset");
            }
            let reset = start.elapsed() / rounds;
            println!(
                "{pages} pages ({} KiB): store + spawn + no-op call + drop {spawn:?}; \
                 call touching {touched} pages + reset {reset:?}",
                pages * 64
            );
        }
    }
}
