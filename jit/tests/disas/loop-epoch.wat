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
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v24 -> v2
;;                                     v28 -> v2
;;                                     v23 -> v24
;;                                     v3 = iconst.i32 0
;;                                     v27 -> v3
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
;; @001b                               jump block4(v3)  ; v3 = 0
;;
;;                                 block4(v20: i32):
;;                                     v19 -> v20
;; @001b                               v12 = load.i64 notrap aligned readonly can_move region1 v0+8
;; @001b                               v13 = load.i64 notrap aligned readonly can_move region1 v12+16
;; @001b                               v14 = load.i64 notrap aligned readonly can_move region1 v12+8
;; @001b                               v15 = load.i64 notrap aligned v13
;; @001b                               v16 = icmp uge v15, v14
;; @001b                               brif v16, block6, block7
;;
;;                                 block6 cold:
;; @001b                               v17 = atomic_load.i64 notrap aligned v13
;; @001b                               v18 = icmp uge v17, v14
;; @001b                               trapnz v18, user10
;; @001b                               jump block7
;;
;;                                 block7:
;; @001f                               v21 = iconst.i32 1
;; @0021                               v22 = iadd.i32 v20, v21  ; v21 = 1
;; @0028                               v25 = icmp ult v22, v24
;; @0028                               v26 = uextend.i32 v25
;; @0029                               brif v26, block4(v22), block8
;;
;;                                 block8:
;; @002b                               jump block5
;;
;;                                 block5:
;; @002e                               jump block3(v22)
;;
;;                                 block3(v11: i32):
;; @002e                               return v11
;; }
