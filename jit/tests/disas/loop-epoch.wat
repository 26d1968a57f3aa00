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
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v18 -> v2
;;                                     v3 = iconst.i32 0
;;                                     v4 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move v4+16
;;                                     v6 = atomic_load.i64 notrap aligned v5
;;                                     v7 = load.i64 notrap aligned readonly can_move v4+8
;;                                     v8 = icmp uge v6, v7
;;                                     trapnz v8, user10
;; @001b                               jump block2(v3)  ; v3 = 0
;;
;;                                 block2(v15: i32):
;; @001b                               v10 = load.i64 notrap aligned readonly can_move v0+8
;; @001b                               v11 = load.i64 notrap aligned readonly can_move v10+16
;; @001b                               v12 = atomic_load.i64 notrap aligned v11
;; @001b                               v13 = load.i64 notrap aligned readonly can_move v10+8
;; @001b                               v14 = icmp uge v12, v13
;; @001b                               trapnz v14, user10
;; @001f                               v16 = iconst.i32 1
;; @0021                               v17 = iadd v15, v16  ; v16 = 1
;; @0028                               v19 = icmp ult v17, v18
;; @0028                               v20 = uextend.i32 v19
;; @0029                               brif v20, block2(v17), block4
;;
;;                                 block4:
;; @002b                               jump block3
;;
;;                                 block3:
;; @002e                               jump block1(v17)
;;
;;                                 block1(v9: i32):
;; @002e                               return v9
;; }
