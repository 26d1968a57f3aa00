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
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64) -> i32 system_v
;;     sig1 = (i64 vmctx, i64, i32) -> i32 tail
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v13 -> v2
;;                                     v14 -> v3
;;                                     v4 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move v4+16
;;                                     v6 = load.i64 notrap aligned v5
;;                                     v7 = load.i64 notrap aligned readonly can_move v4+8
;;                                     v8 = icmp uge v6, v7
;;                                     brif v8, block1, block2
;;
;;                                 block1 cold:
;;                                     v9 = load.i64 notrap aligned readonly can_move v0+16
;;                                     v10 = load.i64 notrap aligned readonly can_move v9+80
;;                                     v11 = call_indirect sig0, v10(v0)
;;                                     trapnz v11, user10
;;                                     jump block2
;;
;;                                 block2:
;; @0029                               v15 = load.i64 notrap aligned v0+56
;; @0029                               v16 = uextend.i64 v3
;; @0029                               v17 = icmp uge v16, v15
;; @0029                               trapnz v17, user3
;; @0029                               v18 = load.i64 notrap aligned v0+48
;; @0029                               v19 = iconst.i64 3
;; @0029                               v20 = ishl v16, v19  ; v19 = 3
;; @0029                               v21 = iadd v18, v20
;; @0029                               v22 = load.i64 notrap aligned v21
;; @0029                               trapz v22, user4
;; @0029                               v23 = load.i32 notrap aligned v22+16
;; @0029                               v24 = load.i32 notrap aligned readonly can_move v0+32
;; @0029                               v25 = icmp ne v23, v24
;; @0029                               trapnz v25, user5
;; @0029                               v26 = load.i64 notrap aligned v22
;; @0029                               v27 = load.i64 notrap aligned v22+8
;; @0029                               v28 = call_indirect sig1, v26(v27, v0, v2)
;; @002c                               jump block3(v28)
;;
;;                                 block3(v12: i32):
;; @002c                               return v12
;; }
