;;! strategy = guarded
;; call_indirect: table bounds check, null check, signature check against the canonical type id,
;; then an indirect call passing the callee's vmctx and ours.
(module
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (func (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 0) (local.get 1))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32, i32) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64 vmctx, i64, i32) -> i32 tail
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v12 -> v2
;;                                     v13 -> v3
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v4+16
;;                                     v6 = load.i64 notrap aligned readonly can_move region1 v4+8
;;                                     v7 = load.i64 notrap aligned v5
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
;; @0029                               v14 = load.i64 notrap aligned region1 v0+56
;; @0029                               v15 = uextend.i64 v3
;; @0029                               v16 = icmp uge v15, v14
;; @0029                               trapnz v16, user3
;; @0029                               v17 = load.i64 notrap aligned region1 v0+48
;; @0029                               v18 = iconst.i64 3
;; @0029                               v19 = ishl v15, v18  ; v18 = 3
;; @0029                               v20 = iadd v17, v19
;; @0029                               v21 = load.i64 notrap aligned region2 v20
;; @0029                               trapz v21, user4
;; @0029                               v22 = load.i32 notrap aligned region1 v21+16
;; @0029                               v23 = load.i32 notrap aligned readonly can_move region1 v0+32
;; @0029                               v24 = icmp ne v22, v23
;; @0029                               trapnz v24, user5
;; @0029                               v25 = load.i64 notrap aligned region1 v21
;; @0029                               v26 = load.i64 notrap aligned region1 v21+8
;; @0029                               v27 = call_indirect sig0, v25(v26, v0, v2)
;; @002c                               jump block3(v27)
;;
;;                                 block3(v11: i32):
;; @002c                               return v11
;; }
