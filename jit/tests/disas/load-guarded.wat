;;! strategy = guarded
;; A 32-bit load with a small static offset under the guard strategy: no bounds check, only
;; base + zero-extended index; an out-of-bounds access faults in the guard region.
(module
  (memory 1)
  (func (param i32) (result i32)
    (i32.load offset=16 (local.get 0))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32) -> i32 tail {
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64) -> i32 system_v
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v12 -> v2
;;                                     v3 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move v3+16
;;                                     v5 = load.i64 notrap aligned v4
;;                                     v6 = load.i64 notrap aligned readonly can_move v3+8
;;                                     v7 = icmp uge v5, v6
;;                                     brif v7, block1, block2
;;
;;                                 block1 cold:
;;                                     v8 = load.i64 notrap aligned readonly can_move v0+16
;;                                     v9 = load.i64 notrap aligned readonly can_move v8+80
;;                                     v10 = call_indirect sig0, v9(v0)
;;                                     trapnz v10, user10
;;                                     jump block2
;;
;;                                 block2:
;; @0020                               v13 = uextend.i64 v2
;; @0020                               v14 = load.i64 notrap aligned readonly can_move v0+48
;; @0020                               v15 = iadd v14, v13
;; @0020                               v16 = load.i32 little v15+16
;; @0023                               jump block3(v16)
;;
;;                                 block3(v11: i32):
;; @0023                               return v11
;; }
