;;! strategy = guarded
;;! optimized = true
;; A loop summing memory, after Cranelift's optimisations: the memory base, the epoch pointer
;; and the deadline are vmctx loads marked `readonly can_move`, so they are hoisted out of the
;; loop; each iteration keeps only the (plain) epoch load and compare, with the deadline builtin
;; on a cold path, the guest load and the add.
(module
  (memory 1)
  (func (param i32 i32) (result i32)
    (local i32)
    (loop $l
      (local.set 2 (i32.add (local.get 2) (i32.load (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 4)))
      (br_if $l (i32.lt_u (local.get 0) (local.get 1))))
    (local.get 2)))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32, i32) -> i32 tail {
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64) -> i32 system_v
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v5 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v6 = load.i64 notrap aligned readonly can_move v5+16
;;                                     v7 = load.i64 notrap aligned v6
;;                                     v8 = load.i64 notrap aligned readonly can_move v5+8
;;                                     v9 = icmp uge v7, v8
;;                                     brif v9, block1, block2
;;
;;                                 block1 cold:
;;                                     v10 = load.i64 notrap aligned readonly can_move v0+16
;;                                     v11 = load.i64 notrap aligned readonly can_move v10+80
;;                                     v12 = call_indirect sig0, v11(v0)
;;                                     trapnz v12, user10
;;                                     jump block2
;;
;;                                 block2:
;;                                     v4 = iconst.i32 0
;;                                     v40 = load.i64 notrap aligned readonly can_move v0+16
;;                                     v41 = load.i64 notrap aligned readonly can_move v40+80
;; @0027                               v27 = load.i64 notrap aligned readonly can_move v0+48
;; @002f                               v31 = iconst.i32 4
;; @0021                               jump block4(v4, v2)  ; v4 = 0
;;
;;                                 block4(v23: i32, v25: i32):
;; @0021                               v16 = load.i64 notrap aligned v6
;; @0021                               v18 = icmp uge v16, v8
;; @0021                               brif v18, block6, block7
;;
;;                                 block6 cold:
;; @0021                               v21 = call_indirect.i64 sig0, v41(v0)
;; @0021                               trapnz v21, user10
;; @0021                               jump block7
;;
;;                                 block7:
;; @0027                               v26 = uextend.i64 v25
;; @0027                               v28 = iadd.i64 v27, v26
;; @0027                               v29 = load.i32 little v28
;;                                     v42 = iconst.i32 4
;;                                     v43 = iadd.i32 v25, v42  ; v42 = 4
;; @0038                               v35 = icmp ult v43, v3
;; @002a                               v30 = iadd.i32 v23, v29
;; @0039                               brif v35, block4(v30, v43), block8
;;
;;                                 block8:
;; @003b                               jump block5
;;
;;                                 block5:
;; @003e                               jump block3
;;
;;                                 block3:
;; @003e                               return v30
;; }
