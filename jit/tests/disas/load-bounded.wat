;;! strategy = bounded
;; The same load under the bounded strategy: an explicit check of index + offset + size against
;; the memory's current length, trapping when out of bounds.
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
;; @0020                               v14 = load.i64 notrap aligned v0+56
;; @0020                               v15 = iconst.i64 20
;; @0020                               v16 = iadd v13, v15  ; v15 = 20
;; @0020                               v17 = icmp ugt v16, v14
;; @0020                               trapnz v17, heap_oob
;; @0020                               v18 = load.i64 notrap aligned readonly can_move v0+48
;; @0020                               v19 = iadd v18, v13
;; @0020                               v20 = load.i32 little v19+16
;; @0023                               jump block3(v20)
;;
;;                                 block3(v11: i32):
;; @0023                               return v11
;; }
