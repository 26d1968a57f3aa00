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
;;     sig0 = (i64 vmctx, i64, i32) -> i32 tail
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v4 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move v4+16
;;                                     v6 = atomic_load.i64 notrap aligned v5
;;                                     v7 = load.i64 notrap aligned readonly can_move v4+8
;;                                     v8 = icmp uge v6, v7
;;                                     trapnz v8, user10
;; @0029                               v10 = load.i64 notrap aligned v0+56
;; @0029                               v11 = uextend.i64 v3
;; @0029                               v12 = icmp uge v11, v10
;; @0029                               trapnz v12, user3
;; @0029                               v13 = load.i64 notrap aligned v0+48
;; @0029                               v14 = iconst.i64 3
;; @0029                               v15 = ishl v11, v14  ; v14 = 3
;; @0029                               v16 = iadd v13, v15
;; @0029                               v17 = load.i64 notrap aligned v16
;; @0029                               trapz v17, user4
;; @0029                               v18 = load.i32 notrap aligned v17+16
;; @0029                               v19 = load.i32 notrap aligned readonly can_move v0+32
;; @0029                               v20 = icmp ne v18, v19
;; @0029                               trapnz v20, user5
;; @0029                               v21 = load.i64 notrap aligned v17
;; @0029                               v22 = load.i64 notrap aligned v17+8
;; @0029                               v23 = call_indirect sig0, v21(v22, v0, v2)
;; @002c                               jump block1(v23)
;;
;;                                 block1(v9: i32):
;; @002c                               return v9
;; }
