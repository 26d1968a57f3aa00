;;! strategy = bounded
;;! optimized = true
;; SIMD: a lane load under the bounded strategy, bounds-checked for the lane's 4 bytes only, then
;; inserted into the vector operand.
(module
  (memory 1)
  (func (export "f") (param i32 v128) (result v128)
    (v128.load32_lane offset=8 2 (local.get 0) (local.get 1))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32, i8x16) -> i8x16 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i8x16):
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v4+16
;;                                     v7 = load.i64 notrap aligned v5
;;                                     v6 = load.i64 notrap aligned readonly can_move region1 v4+8
;;                                     v8 = icmp uge v7, v6
;;                                     brif v8, block1, block2
;;
;;                                 block1 cold:
;;                                     v9 = atomic_load.i64 notrap aligned v5
;;                                     v10 = icmp uge v9, v6
;;                                     trapnz v10, user10
;;                                     jump block2
;;
;;                                 block2:
;; @002a                               v16 = load.i64 notrap aligned region1 v0+56
;; @002a                               v15 = uextend.i64 v2
;; @002a                               v17 = iconst.i64 12
;; @002a                               v18 = iadd v15, v17  ; v17 = 12
;; @002a                               v19 = icmp ugt v18, v16
;; @002a                               trapnz v19, heap_oob
;; @002a                               v24 = iconst.i64 0
;; @002a                               v20 = load.i64 notrap aligned readonly can_move region1 v0+48
;; @002a                               v21 = iadd v20, v15
;; @002a                               v22 = iconst.i64 8
;; @002a                               v23 = iadd v21, v22  ; v22 = 8
;; @002a                               v25 = select_spectre_guard v19, v24, v23  ; v24 = 0
;; @002a                               v26 = load.i32 little region0 v25
;; @002f                               jump block3
;;
;;                                 block3:
;; @002a                               v14 = bitcast.i32x4 little v3
;; @002a                               v27 = insertlane v14, v26, 2
;; @002a                               v28 = bitcast.i8x16 little v27
;; @002f                               return v28
;; }
