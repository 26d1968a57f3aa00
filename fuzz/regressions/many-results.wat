;; Functions (and even unused function types) with more results than fit in return registers
;; (more than 8 integers, or more than 8 floats) did not compile: Cranelift said "Too many
;; return values to fit in registers" (CompileError::Codegen; for a trampoline with function
;; index 4294967295). Found by `differential`.
(module
  (type $twelve (func (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $unused (func (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)))
  (table 1 funcref)
  (elem (i32.const 0) $twelve)
  (func $twelve (export "twelve") (type $twelve)
    i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5 i32.const 6
    i32.const 7 i32.const 8 i32.const 9 i32.const 10 i32.const 11 i32.const 12)
  (func (export "nine_floats") (result f64 f64 f64 f64 f64 f64 f64 f64 f64)
    f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
    f64.const 6 f64.const 7 f64.const 8 f64.const 9)
  (func (export "mixed") (result i64 f32 i32 f64 i64 f32 i32 f64 i64 f32 i32 f64 i64 f32 i32 f64 i64 f32)
    i64.const -1 f32.const 1.5 i32.const 2 f64.const 2.5 i64.const 3 f32.const 3.5
    i32.const 4 f64.const 4.5 i64.const 5 f32.const 5.5 i32.const 6 f64.const 6.5
    i64.const 7 f32.const 7.5 i32.const 8 f64.const 8.5 i64.const 9 f32.const 9.5)
  ;; 12 results through a direct call and call_indirect, folded into a weighted sum.
  (func $weigh (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get 0 local.get 1 i32.const 2 i32.mul i32.add
    local.get 2 i32.const 3 i32.mul i32.add local.get 3 i32.const 4 i32.mul i32.add
    local.get 4 i32.const 5 i32.mul i32.add local.get 5 i32.const 6 i32.mul i32.add
    local.get 6 i32.const 7 i32.mul i32.add local.get 7 i32.const 8 i32.mul i32.add
    local.get 8 i32.const 9 i32.mul i32.add local.get 9 i32.const 10 i32.mul i32.add
    local.get 10 i32.const 11 i32.mul i32.add local.get 11 i32.const 12 i32.mul i32.add)
  (func (export "direct") (result i32)
    call $twelve
    call $weigh)
  (func (export "indirect") (result i32)
    i32.const 0
    call_indirect (type $twelve)
    call $weigh))
