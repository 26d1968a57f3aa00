;;! optimized = true
;; SIMD: a v128 is i8x16 between operators; narrow bitcasts it to i16x8 lanes, and shuffle and
;; bitmask map to one Cranelift instruction each.
(module
  (func (export "f") (param v128 v128) (result i32)
    (i8x16.bitmask
      (i8x16.narrow_i16x8_s
        (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 (local.get 0) (local.get 1))
        (local.get 1)))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i8x16, i8x16) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i8x16, v3: i8x16):
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v4+16
;;                                     v7 = load.i64 notrap aligned v5
;;                                     v6 = load.i64 notrap aligned readonly can_move region1 v4+8
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
;; @003d                               jump block3
;;
;;                                 block3:
;; @0025                               v14 = shuffle v2, v3, 0x1f0e1d0c1b0a19081706150413021100
;; @0039                               v16 = bitcast.i16x8 little v14
;; @0039                               v15 = bitcast.i16x8 little v3
;; @0039                               v17 = snarrow v16, v15
;; @003b                               v18 = vhigh_bits.i32 v17
;; @003d                               return v18
;; }
