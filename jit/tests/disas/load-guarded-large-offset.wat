;;! strategy = guarded
;; An offset beyond the 32 MiB guard region needs an explicit check even under the guard strategy.
(module
  (memory 1)
  (func (param i32) (result i32)
    (i32.load offset=0x4000000 (local.get 0))))

;; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----
;; function u0:0(i64 vmctx, i64, i32) -> i32 tail {
;;     gv0 = vmctx
;;     gv1 = load.i64 notrap aligned readonly can_move gv0+8
;;     gv2 = load.i64 notrap aligned gv1
;;     stack_limit = gv2
;;
;;                                 block0(v0: i64, v1: i64, v2: i32):
;;                                     v3 = load.i64 notrap aligned readonly can_move v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move v3+16
;;                                     v5 = atomic_load.i64 notrap aligned v4
;;                                     v6 = load.i64 notrap aligned readonly can_move v3+8
;;                                     v7 = icmp uge v5, v6
;;                                     trapnz v7, user10
;; @0020                               v9 = uextend.i64 v2
;; @0020                               v10 = load.i64 notrap aligned v0+56
;; @0020                               v11 = iconst.i64 0x0400_0004
;; @0020                               v12 = iadd v9, v11  ; v11 = 0x0400_0004
;; @0020                               v13 = icmp ugt v12, v10
;; @0020                               trapnz v13, heap_oob
;; @0020                               v14 = load.i64 notrap aligned readonly can_move v0+48
;; @0020                               v15 = iadd v14, v9
;; @0020                               v16 = load.i32 little v15+0x0400_0000
;; @0026                               jump block1(v16)
;;
;;                                 block1(v8: i32):
;; @0026                               return v8
;; }
