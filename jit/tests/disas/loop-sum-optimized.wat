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
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v6 = load.i64 notrap aligned readonly can_move region1 v5+16
;;                                     v8 = load.i64 notrap aligned v6
;;                                     v7 = load.i64 notrap aligned readonly can_move region1 v5+8
;;                                     v9 = icmp uge v8, v7
;;                                     brif v9, block1, block2
;;
;;                                 block1 cold:
;;                                     v10 = atomic_load.i64 notrap aligned v6
;;                                     v11 = icmp uge v10, v7
;;                                     trapnz v11, user10
;;                                     jump block2
;;
;;                                 block2:
;;                                     v4 = iconst.i32 0
;; @0027                               v25 = load.i64 notrap aligned readonly can_move region1 v0+48
;; @002f                               v29 = iconst.i32 4
;; @0021                               jump block4(v4, v2)  ; v4 = 0
;;
;;                                 block4(v21: i32, v23: i32):
;; @0021                               v16 = load.i64 notrap aligned v6
;; @0021                               v17 = icmp uge v16, v7
;; @0021                               brif v17, block6, block7
;;
;;                                 block6 cold:
;; @0021                               v18 = atomic_load.i64 notrap aligned v6
;; @0021                               v19 = icmp uge v18, v7
;; @0021                               trapnz v19, user10
;; @0021                               jump block7
;;
;;                                 block7:
;; @0027                               v24 = uextend.i64 v23
;; @0027                               v26 = iadd.i64 v25, v24
;; @0027                               v27 = load.i32 little region0 v26
;;                                     v38 = iconst.i32 4
;;                                     v39 = iadd.i32 v23, v38  ; v38 = 4
;; @0038                               v33 = icmp ult v39, v3
;; @002a                               v28 = iadd.i32 v21, v27
;; @0039                               brif v33, block4(v28, v39), block8
;;
;;                                 block8:
;; @003b                               jump block5
;;
;;                                 block5:
;; @003e                               jump block3
;;
;;                                 block3:
;; @003e                               return v28
;; }
