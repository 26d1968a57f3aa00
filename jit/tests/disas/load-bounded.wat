;;! strategy = bounded
;; The same load under the bounded strategy: an explicit check of index + offset + size against
;; the memory's current length, trapping when out of bounds.
(module
  (memory 1)
  (func (param i32) (result i32)
    (i32.load offset=16 (local.get 0))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v11 -> v2
;;                                     v3 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v3+16
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v3+8
;;                                     v6 = load.i64 notrap aligned v4
;;                                     v7 = icmp uge v6, v5
;;                                     brif v7, block1, block2
;;
;;                                 block1 cold:
;;                                     v8 = atomic_load.i64 notrap aligned v4
;;                                     v9 = icmp uge v8, v5
;;                                     trapnz v9, user10
;;                                     jump block2
;;
;;                                 block2:
;; @0020                               v12 = uextend.i64 v2
;; @0020                               v13 = load.i64 notrap aligned region1 v0+56
;; @0020                               v14 = iconst.i64 20
;; @0020                               v15 = iadd v12, v14  ; v14 = 20
;; @0020                               v16 = icmp ugt v15, v13
;; @0020                               trapnz v16, heap_oob
;; @0020                               v17 = load.i64 notrap aligned readonly can_move region1 v0+48
;; @0020                               v18 = iadd v17, v12
;; @0020                               v19 = iconst.i64 16
;; @0020                               v20 = iadd v18, v19  ; v19 = 16
;; @0020                               v21 = iconst.i64 0
;; @0020                               v22 = select_spectre_guard v16, v21, v20  ; v21 = 0
;; @0020                               v23 = load.i32 little region0 v22
;; @0023                               jump block3(v23)
;;
;;                                 block3(v10: i32):
;; @0023                               return v10
;; }
