;;! strategy = bounded
;;! optimized = true
;; Three accesses to a bounded memory, two of them stores, after Cranelift's optimisations: guest
;; memory and the VM's data are separate alias regions, so the memory's length and base (vmctx
;; region) are loaded once and reused across the stores (heap region); the mutable global is
;; loaded once too.
(module
  (memory 1 10)
  (global $g (mut i32) (i32.const 7))
  (func (param i32) (result i32)
    (i32.store (local.get 0) (global.get $g))
    (i32.store offset=4 (local.get 0) (global.get $g))
    (i32.load offset=8 (local.get 0))))

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
;;                                     v3 = load.i64 notrap aligned readonly can_move region1 v0+8
;;                                     v4 = load.i64 notrap aligned readonly can_move region1 v3+16
;;                                     v6 = load.i64 notrap aligned v4
;;                                     v5 = load.i64 notrap aligned readonly can_move region1 v3+8
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
;; @0029                               v12 = load.i32 notrap aligned region1 v0+64
;; @002b                               v14 = load.i64 notrap aligned region1 v0+56
;; @002b                               v13 = uextend.i64 v2
;; @002b                               v15 = iconst.i64 4
;; @002b                               v16 = iadd v13, v15  ; v15 = 4
;; @002b                               v17 = icmp ugt v16, v14
;; @002b                               trapnz v17, heap_oob
;; @002b                               v20 = iconst.i64 0
;; @002b                               v18 = load.i64 notrap aligned readonly can_move region1 v0+48
;; @002b                               v19 = iadd v18, v13
;; @002b                               v21 = select_spectre_guard v17, v20, v19  ; v20 = 0
;; @002b                               store little region0 v12, v21
;; @0032                               v25 = iconst.i64 8
;; @0032                               v26 = iadd v13, v25  ; v25 = 8
;; @0032                               v27 = icmp ugt v26, v14
;; @0032                               trapnz v27, heap_oob
;; @0032                               v31 = iadd v19, v15  ; v15 = 4
;; @0032                               v33 = select_spectre_guard v27, v20, v31  ; v20 = 0
;; @0032                               store little region0 v12, v33
;; @0037                               v36 = iconst.i64 12
;; @0037                               v37 = iadd v13, v36  ; v36 = 12
;; @0037                               v38 = icmp ugt v37, v14
;; @0037                               trapnz v38, heap_oob
;; @0037                               v42 = iadd v19, v25  ; v25 = 8
;; @0037                               v44 = select_spectre_guard v38, v20, v42  ; v20 = 0
;; @0037                               v45 = load.i32 little region0 v44
;; @003a                               jump block3
;;
;;                                 block3:
;; @003a                               return v45
;; }
