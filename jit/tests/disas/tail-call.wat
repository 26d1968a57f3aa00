;; `return_call` to a defined function and to an import, and `return_call_indirect`: each ends
;; its block with a tail call that passes both vmctx values, the indirect one after the same
;; bounds, null and signature checks as `call_indirect`.
(module
  (import "host" "f" (func $host (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (func $direct (param i32) (result i32)
    (return_call $direct (local.get 0)))
  (func $to_host (param i32) (result i32)
    (return_call $host (local.get 0)))
  (func $indirect (param i32) (result i32)
    (return_call_indirect (type $t) (local.get 0) (local.get 0))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:1(i64 vmctx, i64, i32) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64 vmctx, i64, i32) -> i32 tail
;;     fn0 = colocated u0:1 sig0
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v11 -> v2
;;                                     v3 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v3+16
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v3+8
;;                                     v6 = load.i64 notrap aligned v4
;;                                     v7 = icmp uge v6, v5
;;                                     brif v7, block1, block2
;;
;;                                 block1 cold:
;;                                     v8 = atomic_load.i64 notrap aligned v4
;;                                     v9 = icmp uge v8, v5
;;                                     trapnz v9, user10
;;                                     jump block2
;;
;;                                 block2:
;; @002f                               return_call fn0(v0, v0, v2)
;;
;;                                 block3(v10: i32):
;; @0031                               trap user9
;; }
;;
;; function u0:2(i64 vmctx, i64, i32) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64 vmctx, i64, i32) -> i32 tail
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v11 -> v2
;;                                     v3 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v3+16
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v3+8
;;                                     v6 = load.i64 notrap aligned v4
;;                                     v7 = icmp uge v6, v5
;;                                     brif v7, block1, block2
;;
;;                                 block1 cold:
;;                                     v8 = atomic_load.i64 notrap aligned v4
;;                                     v9 = icmp uge v8, v5
;;                                     trapnz v9, user10
;;                                     jump block2
;;
;;                                 block2:
;; @0036                               v12 = load.i64 notrap aligned readonly can_move region1 v0+48
;; @0036                               v13 = load.i64 notrap aligned readonly can_move region1 v0+56
;; @0036                               return_call_indirect sig0, v12(v13, v0, v2)
;;
;;                                 block3(v10: i32):
;; @0038                               trap user9
;; }
;;
;; function u0:3(i64 vmctx, i64, i32) -> i32 tail {
;;     region0 = 0 "heap"
;;     region1 = 1 "vmctx"
;;     region2 = 2 "table"
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move region1 gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     sig0 = (i64 vmctx, i64, i32) -> i32 tail
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v11 -> v2
;;                                     v3 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v3+16
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v3+8
;;                                     v6 = load.i64 notrap aligned v4
;;                                     v7 = icmp uge v6, v5
;;                                     brif v7, block1, block2
;;
;;                                 block1 cold:
;;                                     v8 = atomic_load.i64 notrap aligned v4
;;                                     v9 = icmp uge v8, v5
;;                                     trapnz v9, user10
;;                                     jump block2
;;
;;                                 block2:
;; @003f                               v12 = load.i64 notrap aligned region1 v0+72
;; @003f                               v13 = uextend.i64 v11
;; @003f                               v14 = icmp uge v13, v12
;; @003f                               trapnz v14, user3
;; @003f                               v15 = load.i64 notrap aligned region1 v0+64
;; @003f                               v16 = iconst.i64 3
;; @003f                               v17 = ishl v13, v16  ; v16 = 3
;; @003f                               v18 = iadd v15, v17
;; @003f                               v19 = load.i64 notrap aligned region2 v18
;; @003f                               trapz v19, user4
;; @003f                               v20 = load.i32 notrap aligned region1 v19+16
;; @003f                               v21 = load.i32 notrap aligned readonly can_move region1 v0+32
;; @003f                               v22 = icmp ne v20, v21
;; @003f                               trapnz v22, user5
;; @003f                               v23 = load.i64 notrap aligned region1 v19
;; @003f                               v24 = load.i64 notrap aligned region1 v19+8
;; @003f                               return_call_indirect sig0, v23(v24, v0, v2)
;;
;;                                 block3(v10: i32):
;; @0042                               trap user9
;; }
