;;! strategy = guarded
;;! optimized = true
;; A loop summing memory, after Cranelift's optimisations: the memory base, the epoch pointer
;; and the deadline are vmctx loads marked `readonly can_move`, so they are hoisted out of the
;; loop; each iteration keeps only the atomic epoch load and compare, the guest load and the add.
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
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32, v3: i32):
;;                                     v5 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v6 = load.i64 notrap aligned readonly can_move v5+16
;;                                     v7 = atomic_load.i64 notrap aligned v6
;;                                     v8 = load.i64 notrap aligned readonly can_move v5+8
;;                                     v9 = icmp uge v7, v8
;;                                     trapnz v9, user10
;;                                     v4 = iconst.i32 0
;; @0027                               v19 = load.i64 notrap aligned readonly can_move v0+48
;; @002f                               v23 = iconst.i32 4
;; @0021                               jump block2(v4, v2)  ; v4 = 0
;;
;;                                 block2(v16: i32, v17: i32):
;; @0021                               v13 = atomic_load.i64 notrap aligned v6
;; @0021                               v15 = icmp uge v13, v8
;; @0021                               trapnz v15, user10
;; @0027                               v18 = uextend.i64 v17
;; @0027                               v20 = iadd.i64 v19, v18
;; @0027                               v21 = load.i32 little v20
;;                                     v28 = iconst.i32 4
;;                                     v29 = iadd v17, v28  ; v28 = 4
;; @0038                               v26 = icmp ult v29, v3
;; @002a                               v22 = iadd v16, v21
;; @0039                               brif v26, block2(v22, v29), block4
;;
;;                                 block4:
;; @003b                               jump block3
;;
;;                                 block3:
;; @003e                               jump block1
;;
;;                                 block1:
;; @003e                               return v22
;; }
