//! WAT guests that chain and await, shared by the scheduler's tests, the cluster's and the
//! Python functions': `leaf`, `child` (chains `leaf`), `fanout` (chains `n` children and sums
//! their outputs), `parent` (chains the function its input names).
#![allow(dead_code)]

/// A bump `malloc` from 64 KiB up (memory of at least 2 pages); globals are reset after every
/// call, so each call starts from an empty heap.
pub const MALLOC: &str = r#"
    (global $heap (mut i32) (i32.const 65536))
    (func $malloc (export "malloc") (param i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get 0)))
      (local.get $p))"#;

pub const IO: &str = r#"
    (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
    (import "env" "__faasm_write_output" (func $write (param i32 i32)))"#;

pub const CHAIN: &str = r#"
    (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
    (import "env" "__faasm_await_call" (func $await (param i32) (result i32)))
    (import "env" "__faasm_await_call_output" (func $await_out (param i32 i32 i32) (result i32)))"#;

/// `parent`: chains the function named by its (NUL-terminated) input, awaits it, copies its
/// output, and returns what the await returned.
pub fn parent_wat() -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (memory (export "memory") 2)
            {MALLOC}
            (func (export "_start") (result i32) (local $code i32)
              (drop (call $read (i32.const 256) (i32.const 200)))
              (local.set $code
                (call $await_out (call $chain (i32.const 256) (i32.const 0) (i32.const 0))
                  (i32.const 8) (i32.const 12)))
              (call $write (i32.load (i32.const 8)) (i32.load (i32.const 12)))
              (local.get $code)))"#
    )
}

/// `leaf`: output = the 4-byte input + 1.
pub fn leaf_wat() -> String {
    format!(
        r#"(module {IO}
            (memory (export "memory") 1)
            (func (export "_start")
              (drop (call $read (i32.const 0) (i32.const 4)))
              (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
              (call $write (i32.const 0) (i32.const 4))))"#
    )
}

/// `child`: chains `leaf` with its input, awaits its output, outputs twice that.
pub fn child_wat() -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (memory (export "memory") 2)
            (data (i32.const 100) "leaf\00")
            {MALLOC}
            (func (export "_start") (local $id i32)
              (drop (call $read (i32.const 0) (i32.const 4)))
              (local.set $id (call $chain (i32.const 100) (i32.const 0) (i32.const 4)))
              (if (call $await_out (local.get $id) (i32.const 8) (i32.const 12))
                (then unreachable))
              (if (i32.ne (i32.load (i32.const 12)) (i32.const 4)) (then unreachable))
              (i32.store (i32.const 16)
                (i32.mul (i32.load (i32.load (i32.const 8))) (i32.const 2)))
              (call $write (i32.const 16) (i32.const 4))))"#
    )
}

/// `fanout`: chains `n` children with inputs 0..n, then awaits each and outputs the sum of
/// their outputs; returns the number of failed children.
pub fn fanout_wat(n: u32) -> String {
    format!(
        r#"(module {IO} {CHAIN}
            (memory (export "memory") 2)
            (data (i32.const 100) "child\00")
            {MALLOC}
            (func (export "_start") (result i32)
              (local $i i32) (local $sum i32) (local $failed i32)
              (loop $chain_all
                (i32.store (i32.const 0) (local.get $i))
                (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))
                  (call $chain (i32.const 100) (i32.const 0) (i32.const 4)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $chain_all (i32.lt_u (local.get $i) (i32.const {n}))))
              (local.set $i (i32.const 0))
              (loop $await_all
                (if (call $await_out
                      (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))))
                      (i32.const 8) (i32.const 12))
                  (then (local.set $failed (i32.add (local.get $failed) (i32.const 1))))
                  (else (local.set $sum
                          (i32.add (local.get $sum) (i32.load (i32.load (i32.const 8)))))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $await_all (i32.lt_u (local.get $i) (i32.const {n}))))
              (i32.store (i32.const 16) (local.get $sum))
              (call $write (i32.const 16) (i32.const 4))
              (local.get $failed)))"#
    )
}
