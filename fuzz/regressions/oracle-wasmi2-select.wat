;; Oracle guard, not a faasm-rs bug: wasmi 2.0.0 returns 0 here (and then traps with "integer
;; divide by zero" in the generated module this came from), the spec and faasm-rs return 1.
;; `select` returns its first operand when the condition is non-zero; value and condition both
;; read local 0 after a block. wasmi 1.1.0 and 0.51 are right, so the oracle is pinned to 1.1.
;; Found by `differential` (smoke seed 0).
(module
  (global $g (mut i32) (i32.const 1))
  (func (export "select_after_if") (result i32)
    (local i32)
    global.get $g
    if
    end
    i32.const 1
    local.get 0
    local.get 0
    i32.eqz
    select)
  (func (export "guarded_div") (result i32)
    (local i32)
    global.get $g
    if
    end
    i32.const 0
    i32.const 1
    local.get 0
    local.get 0
    i32.eqz
    select
    i32.div_s))
