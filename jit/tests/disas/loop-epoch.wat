;;! strategy = guarded
;; A counting loop: the epoch check at function entry and again at the loop header.
(module
  (func (param i32) (result i32)
    (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32) -> i32 tail {
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64) -> i32 system_v
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v26 -> v2
;;                                     v30 -> v2
;;                                     v25 -> v26
;;                                     v3 = iconst.i32 0
;;                                     v29 -> v3
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
;; @001b                               jump block4(v3)  ; v3 = 0
;;
;;                                 block4(v22: i32):
;;                                     v21 -> v22
;; @001b                               v13 = load.i64 notrap aligned readonly can_move v0+8
;; @001b                               v14 = load.i64 notrap aligned readonly can_move v13+16
;; @001b                               v15 = load.i64 notrap aligned v14
;; @001b                               v16 = load.i64 notrap aligned readonly can_move v13+8
;; @001b                               v17 = icmp uge v15, v16
;; @001b                               brif v17, block6, block7
;;
;;                                 block6 cold:
;; @001b                               v18 = load.i64 notrap aligned readonly can_move v0+16
;; @001b                               v19 = load.i64 notrap aligned readonly can_move v18+80
;; @001b                               v20 = call_indirect sig0, v19(v0)
;; @001b                               trapnz v20, user10
;; @001b                               jump block7
;;
;;                                 block7:
;; @001f                               v23 = iconst.i32 1
;; @0021                               v24 = iadd.i32 v22, v23  ; v23 = 1
;; @0028                               v27 = icmp ult v24, v26
;; @0028                               v28 = uextend.i32 v27
;; @0029                               brif v28, block4(v24), block8
;;
;;                                 block8:
;; @002b                               jump block5
;;
;;                                 block5:
;; @002e                               jump block3(v24)
;;
;;                                 block3(v12: i32):
;; @002e                               return v12
;; }
