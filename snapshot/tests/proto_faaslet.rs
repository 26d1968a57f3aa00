//! Proto-Faaslets end to end: isolation between calls, zygote effects, traps, both memory
//! strategies, serialised snapshots in a fresh engine, corrupt snapshots.

use faasm_runtime::{Config, Engine, Linker, MemoryStrategy, Module, Store, Val};
use faasm_snapshot::{Faaslet, RestoreError, Snapshot, SnapshotError};
use std::time::{Duration, Instant};

/// Initialisation writes memory and a global; the zygote writes more; `mutate` changes memory
/// (also above the snapshot's size, after growing), a mutable global and a table slot.
const FUNCTION: &str = r#"
(module
  (type $answer (func (result i32)))
  (memory (export "memory") 1 100)
  (global $counter (mut i32) (i32.const 0))
  (table 4 10 funcref)
  (elem (i32.const 0) $one $two)
  (data (i32.const 16) "hello")
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func (export "_initialize")
    (i32.store (i32.const 32) (i32.const 7))
    (global.set $counter (i32.const 10)))
  (func (export "_faasm_zygote") (result i32)
    (i32.store (i32.const 64) (i32.const 99))
    (i32.const 0))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "counter") (result i32) (global.get $counter))
  (func (export "call_slot") (param i32) (result i32)
    (call_indirect (type $answer) (local.get 0)))
  (func (export "table_size") (result i32) (table.size))
  (func (export "memory_size") (result i32) (memory.size))
  (func $mutate (export "mutate")
    (drop (memory.grow (i32.const 2)))
    (i32.store (i32.const 16) (i32.const -1))
    (i32.store (i32.const 64) (i32.const 0))
    (i32.store (i32.const 100000) (i32.const 5))
    (global.set $counter (i32.const 555))
    (table.set (i32.const 0) (ref.func $two))
    (drop (table.grow (ref.null func) (i32.const 3))))
  (func (export "mutate_then_trap") (call $mutate) (unreachable)))
"#;

fn engine(strategy: MemoryStrategy) -> Engine {
    let mut config = Config::default();
    config.compiler.memory_strategy = strategy;
    Engine::new(config).expect("engine")
}

fn strategies() -> [MemoryStrategy; 2] {
    [MemoryStrategy::default(), MemoryStrategy::Bounded]
}

fn compile(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, &wat::parse_str(wat).expect("wat")).expect("compile")
}

fn prepare(engine: &Engine) -> Snapshot {
    let module = compile(engine, FUNCTION);
    let mut store = Store::new(engine);
    Snapshot::prepare(&mut store, &Linker::new(), &module).expect("prepare")
}

fn call_i32(store: &mut Store, faaslet: &Faaslet, name: &str, params: &[Val]) -> i32 {
    match faaslet.call(store, name, params).expect(name).as_slice() {
        [Val::I32(value)] => *value,
        other => panic!("{name} returned {other:?}"),
    }
}

/// The state right after initialisation and the zygote.
fn assert_pristine(store: &mut Store, faaslet: &Faaslet) {
    let load = |store: &mut Store, at: i32| call_i32(store, faaslet, "load", &[Val::I32(at)]);
    assert_eq!(
        load(store, 16),
        i32::from_le_bytes(*b"hell"),
        "data segment"
    );
    assert_eq!(load(store, 32), 7, "written by _initialize");
    assert_eq!(load(store, 64), 99, "written by the zygote");
    assert_eq!(call_i32(store, faaslet, "counter", &[]), 10);
    assert_eq!(call_i32(store, faaslet, "call_slot", &[Val::I32(0)]), 1);
    assert_eq!(call_i32(store, faaslet, "table_size", &[]), 4);
    assert_eq!(call_i32(store, faaslet, "memory_size", &[]), 1);
}

fn assert_mutated(store: &mut Store, faaslet: &Faaslet) {
    assert_eq!(call_i32(store, faaslet, "load", &[Val::I32(16)]), -1);
    assert_eq!(call_i32(store, faaslet, "load", &[Val::I32(100_000)]), 5);
    assert_eq!(call_i32(store, faaslet, "counter", &[]), 555);
    assert_eq!(call_i32(store, faaslet, "call_slot", &[Val::I32(0)]), 2);
    assert_eq!(call_i32(store, faaslet, "memory_size", &[]), 3);
}

#[test]
fn every_call_starts_from_the_snapshot() {
    for strategy in strategies() {
        let engine = engine(strategy);
        let snapshot = prepare(&engine);
        let mut store = Store::new(&engine);
        let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
        assert_pristine(&mut store, &faaslet);
        for _ in 0..3 {
            faaslet.call(&mut store, "mutate", &[]).expect("mutate");
            assert_mutated(&mut store, &faaslet);
            faaslet.reset(&mut store).expect("reset");
            assert_pristine(&mut store, &faaslet);
        }
    }
}

#[test]
fn memory_above_the_snapshot_reads_zero_after_a_reset() {
    let engine = engine(MemoryStrategy::default());
    let snapshot = prepare(&engine);
    let mut store = Store::new(&engine);
    let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
    faaslet.call(&mut store, "mutate", &[]).expect("mutate");
    faaslet.reset(&mut store).expect("reset");
    let memory = faaslet
        .instance()
        .get_memory(&store, "memory")
        .expect("memory");
    assert_eq!(memory.data(&store).len(), 65536);
    memory.grow(&mut store, 2).expect("grow");
    assert_eq!(memory.data(&store)[100_000], 0);
}

#[test]
fn zygote_effects_are_visible_to_every_faaslet() {
    for strategy in strategies() {
        let engine = engine(strategy);
        let snapshot = prepare(&engine);
        let mut store = Store::new(&engine);
        let faaslets: Vec<Faaslet> = (0..3)
            .map(|_| snapshot.spawn(&mut store, &Linker::new()).expect("spawn"))
            .collect();
        faaslets[0].call(&mut store, "mutate", &[]).expect("mutate");
        for faaslet in &faaslets[1..] {
            assert_pristine(&mut store, faaslet);
        }
    }
}

#[test]
fn a_trapped_call_still_resets() {
    for strategy in strategies() {
        let engine = engine(strategy);
        let snapshot = prepare(&engine);
        let mut store = Store::new(&engine);
        let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
        let outcome = faaslet
            .call_and_reset(&mut store, "mutate_then_trap", &[])
            .expect("reset");
        assert!(outcome.is_err(), "the call traps");
        assert_pristine(&mut store, &faaslet);
    }
}

#[test]
fn a_failing_zygote_is_a_typed_error() {
    let engine = engine(MemoryStrategy::default());
    let failing = "(module (func (export \"_faasm_zygote\") (result i32) (i32.const 3)))";
    let module = compile(&engine, failing);
    let mut store = Store::new(&engine);
    let error = Snapshot::prepare(&mut store, &Linker::new(), &module).unwrap_err();
    assert_eq!(error, SnapshotError::ZygoteFailed(3));
    let trapping = "(module (func (export \"_initialize\") (unreachable)))";
    let module = compile(&engine, trapping);
    let error = Snapshot::prepare(&mut store, &Linker::new(), &module).unwrap_err();
    assert!(
        matches!(error, SnapshotError::Initialisation { function, .. } if function == "_initialize")
    );
}

#[test]
fn an_initialisation_that_never_returns_ends_at_its_timeout() {
    let engine = engine(MemoryStrategy::default());
    let spinning =
        "(module (func (export \"_faasm_zygote\") (result i32) (loop (br 0)) (i32.const 0)))";
    let module = compile(&engine, spinning);
    let mut store = Store::new(&engine);
    let own = Some(Duration::from_secs(7));
    store.set_timeout(own);
    let started = Instant::now();
    let error = Snapshot::prepare_within(
        &mut store,
        &Linker::new(),
        &module,
        Duration::from_millis(200),
    )
    .unwrap_err();
    assert_eq!(
        error,
        SnapshotError::InitialisationTimeout {
            function: "_faasm_zygote".to_string(),
            timeout: Duration::from_millis(200),
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(store.timeout(), own, "the store's own timeout is back");
    // A module that initialises in time is prepared as without a limit.
    let quick = compile(&engine, FUNCTION);
    assert!(Snapshot::prepare_within(&mut store, &Linker::new(), &quick, Duration::MAX).is_ok());
}

#[test]
fn a_released_slot_is_reused_with_its_image() {
    let engine = engine(MemoryStrategy::default());
    let snapshot = prepare(&engine);
    let base = |store: &Store, faaslet: &Faaslet| {
        let memory = faaslet
            .instance()
            .get_memory(store, "memory")
            .expect("memory");
        memory.data(store).as_ptr() as usize
    };
    let mut store = Store::new(&engine);
    let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
    faaslet.call(&mut store, "mutate", &[]).expect("mutate");
    let first = base(&store, &faaslet);
    drop(store);
    let mut store = Store::new(&engine);
    let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
    assert_eq!(
        base(&store, &faaslet),
        first,
        "same slot, image already mapped"
    );
    assert_pristine(&mut store, &faaslet);
}

#[test]
fn a_serialised_snapshot_behaves_identically_in_a_fresh_engine() {
    for strategy in strategies() {
        let bytes = prepare(&engine(strategy)).serialize().expect("serialise");
        let fresh = engine(strategy);
        let module = compile(&fresh, FUNCTION);
        let snapshot = Snapshot::deserialize(&module, &bytes).expect("load");
        let mut store = Store::new(&fresh);
        let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
        assert_pristine(&mut store, &faaslet);
        faaslet.call(&mut store, "mutate", &[]).expect("mutate");
        assert_mutated(&mut store, &faaslet);
        faaslet.reset(&mut store).expect("reset");
        assert_pristine(&mut store, &faaslet);
    }
}

/// No memory, so that every byte can be flipped quickly; globals, a table and a data segment.
const SMALL: &str = r#"
(module
  (global $g (mut i64) (i64.const 42))
  (global $f (mut funcref) (ref.func $f))
  (table 3 funcref)
  (elem (i32.const 1) $f)
  (func $f (export "f") (result i64) (global.get $g)))
"#;

#[test]
fn every_truncation_and_byte_flip_is_rejected() {
    let engine = engine(MemoryStrategy::default());
    let module = compile(&engine, SMALL);
    let mut store = Store::new(&engine);
    let snapshot = Snapshot::prepare(&mut store, &Linker::new(), &module).expect("prepare");
    let bytes = snapshot.serialize().expect("serialise");
    let loaded = Snapshot::deserialize(&module, &bytes).expect("intact");
    assert_eq!(loaded.image().globals, snapshot.image().globals);
    assert_eq!(loaded.image().tables, snapshot.image().tables);
    for len in 0..bytes.len() {
        assert!(
            Snapshot::deserialize(&module, &bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for index in 0..bytes.len() {
        for bit in 0..8 {
            let mut corrupt = bytes.clone();
            corrupt[index] ^= 1 << bit;
            assert!(
                Snapshot::deserialize(&module, &corrupt).is_err(),
                "bit {bit} of byte {index} flipped"
            );
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Snapshot::deserialize(&module, &longer).is_err());
}

#[test]
fn snapshots_of_another_module_or_engine_are_rejected() {
    let engine_a = engine(MemoryStrategy::default());
    let bytes = prepare(&engine_a).serialize().expect("serialise");
    let other_module = compile(&engine_a, SMALL);
    assert_eq!(
        Snapshot::deserialize(&other_module, &bytes).unwrap_err(),
        RestoreError::ModuleMismatch
    );
    let bounded = compile(&engine(MemoryStrategy::Bounded), FUNCTION);
    assert!(matches!(
        Snapshot::deserialize(&bounded, &bytes).unwrap_err(),
        RestoreError::EngineMismatch(_)
    ));
}

#[test]
fn snapshots_are_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<(Snapshot, Faaslet, SnapshotError, RestoreError)>();
    let engine = engine(MemoryStrategy::default());
    let snapshot = prepare(&engine);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut store = Store::new(&engine);
                let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
                faaslet.call(&mut store, "mutate", &[]).expect("mutate");
                faaslet.reset(&mut store).expect("reset");
                assert_pristine(&mut store, &faaslet);
            });
        }
    });
}

/// A table slot holding an imported host function survives capture, serialisation and a
/// fresh store with a fresh linker.
const IMPORTING: &str = r#"
(module
  (type $answer (func (result i32)))
  (import "env" "host" (func $host (result i32)))
  (table 2 funcref)
  (func $own (result i32) (i32.const 7))
  (elem (i32.const 0) $own)
  (elem declare func $host)
  (func (export "_initialize") (table.set (i32.const 1) (ref.func $host)))
  (func (export "call_slot") (param i32) (result i32)
    (call_indirect (type $answer) (local.get 0))))
"#;

fn host_linker(store: &mut Store, answer: i32) -> Linker {
    let ty = faasm_runtime::FuncType::new([], [faasm_runtime::ValType::I32]);
    let host = faasm_runtime::Func::new(store, ty, move |_, _, results| {
        results[0] = Val::I32(answer);
        Ok(())
    });
    let mut linker = Linker::new();
    linker.define("env", "host", faasm_runtime::Extern::Func(host));
    linker
}

#[test]
fn imported_functions_in_tables_are_restored_by_index() {
    let engine = engine(MemoryStrategy::default());
    let module = compile(&engine, IMPORTING);
    let mut store = Store::new(&engine);
    let linker = host_linker(&mut store, 42);
    let snapshot = Snapshot::prepare(&mut store, &linker, &module).expect("prepare");
    let bytes = snapshot.serialize().expect("serialise");
    let snapshot = Snapshot::deserialize(&module, &bytes).expect("load");
    let mut store = Store::new(&engine);
    let linker = host_linker(&mut store, 43);
    let faaslet = snapshot.spawn(&mut store, &linker).expect("spawn");
    let call = |store: &mut Store, slot| call_i32(store, &faaslet, "call_slot", &[Val::I32(slot)]);
    assert_eq!(call(&mut store, 0), 7);
    assert_eq!(call(&mut store, 1), 43, "the new store's host function");
    faaslet.reset(&mut store).expect("reset");
    assert_eq!(call(&mut store, 1), 43);
}

/// Three memories (multi-memory): initialisation writes each, `mutate` grows and writes each.
const THREE_MEMORIES: &str = r#"
(module
  (memory $a (export "a") 1 10)
  (memory $b (export "b") 2 10)
  (memory $c (export "c") 0 10)
  (data (memory $b) (i32.const 70000) "bee")
  (func (export "_initialize")
    (i32.store $a (i32.const 8) (i32.const 11))
    (drop (memory.grow $c (i32.const 1)))
    (i32.store $c (i32.const 8) (i32.const 33)))
  (func (export "load") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.load $a (local.get 1)))
      (else (if (result i32) (i32.eq (local.get 0) (i32.const 1))
        (then (i32.load $b (local.get 1)))
        (else (i32.load $c (local.get 1)))))))
  (func (export "sizes") (result i32)
    (i32.add (i32.mul (memory.size $a) (i32.const 100))
      (i32.add (i32.mul (memory.size $b) (i32.const 10)) (memory.size $c))))
  (func (export "mutate")
    (drop (memory.grow $a (i32.const 1)))
    (drop (memory.grow $b (i32.const 1)))
    (drop (memory.grow $c (i32.const 1)))
    (i32.store $a (i32.const 8) (i32.const -1))
    (memory.copy $c $b (i32.const 8) (i32.const 70000) (i32.const 4))
    (memory.fill $b (i32.const 70000) (i32.const 0) (i32.const 3))
    (i32.store $c (i32.const 70000) (i32.const 5))))
"#;

#[test]
fn every_memory_of_a_multi_memory_module_is_snapshotted_and_reset() {
    for strategy in strategies() {
        let engine = engine(strategy);
        let module = compile(&engine, THREE_MEMORIES);
        let mut store = Store::new(&engine);
        let prepared = Snapshot::prepare(&mut store, &Linker::new(), &module).expect("prepare");
        assert_eq!(prepared.memory_bytes(), (1 + 2 + 1) * 65536);
        let bytes = prepared.serialize().expect("serialise");
        let snapshot = Snapshot::deserialize(&module, &bytes).expect("load");
        let mut store = Store::new(&engine);
        let faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
        let load = |store: &mut Store, memory: i32, at: i32| {
            call_i32(store, &faaslet, "load", &[Val::I32(memory), Val::I32(at)])
        };
        let bee = i32::from_le_bytes(*b"bee\0");
        for round in 0..3 {
            assert_eq!(
                call_i32(&mut store, &faaslet, "sizes", &[]),
                121,
                "round {round}"
            );
            assert_eq!(load(&mut store, 0, 8), 11, "memory a, round {round}");
            assert_eq!(load(&mut store, 1, 70000), bee, "memory b, round {round}");
            assert_eq!(load(&mut store, 2, 8), 33, "memory c, round {round}");
            faaslet.call(&mut store, "mutate", &[]).expect("mutate");
            assert_eq!(call_i32(&mut store, &faaslet, "sizes", &[]), 232);
            assert_eq!(load(&mut store, 0, 8), -1);
            assert_eq!(load(&mut store, 1, 70000), 0);
            assert_eq!(load(&mut store, 2, 8), bee);
            assert_eq!(load(&mut store, 2, 70000), 5);
            faaslet.reset(&mut store).expect("reset");
        }
        // Above each memory's snapshot size, a grown page reads zero again.
        faaslet.call(&mut store, "mutate", &[]).expect("mutate");
        faaslet.reset(&mut store).expect("reset");
        let c = faaslet
            .instance()
            .get_memory(&store, "c")
            .expect("memory c");
        c.grow(&mut store, 1).expect("grow");
        assert_eq!(load(&mut store, 2, 70000), 0, "memory c above its snapshot");
    }
}

/// Initialisation fills all 8 pages (512 KiB) with bytes that depend on their offset, so any
/// byte a reset fails to restore shows.
const PATTERNED: &str = r#"
(module
  (memory (export "memory") 8 16)
  (func (export "_initialize")
    (local $i i32)
    (loop $fill
      (i32.store8 (local.get $i)
        (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.shr_u (local.get $i) (i32.const 12))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 524288)))))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
"#;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn resets_restore_every_byte_whatever_was_written() {
    let page = faasm_runtime::host_page_size();
    let limit = faasm_runtime::RESET_COPY_LIMIT_PAGES;
    // Page counts on both sides of the copy limit, and random ones.
    let counts = [0, 1, 4, limit - 1, limit, limit + 1, 2 * limit, 16];
    for strategy in strategies() {
        let engine = engine(strategy);
        let module = compile(&engine, PATTERNED);
        let snapshot =
            Snapshot::prepare(&mut Store::new(&engine), &Linker::new(), &module).expect("prepare");
        let expected = snapshot.image().memories[0].to_vec().expect("image bytes");
        let host_pages = expected.len() / page;
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut store = Store::new(&engine);
        let mut faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
        for round in 0..60 {
            let count = match round % 10 {
                8 | 9 => random.below(host_pages),
                i => counts[i],
            };
            let poke = |store: &mut Store, address: usize, value: usize| {
                let params = [Val::I32(address as i32), Val::I32(value as i32)];
                faaslet.call(store, "poke", &params).expect("poke");
            };
            for _ in 0..count {
                let address = random.below(host_pages) * page + random.below(page);
                poke(&mut store, address, random.below(256));
            }
            let memory = faaslet
                .instance()
                .get_memory(&store, "memory")
                .expect("memory");
            if random.below(4) == 0 {
                let address = random.below(expected.len() - 8) as u64;
                memory
                    .write(&mut store, address, b"by host!")
                    .expect("host write");
            }
            if random.below(4) == 0 {
                faaslet
                    .call(&mut store, "grow", &[Val::I32(1 + random.below(3) as i32)])
                    .expect("grow");
                poke(&mut store, expected.len() + random.below(page), 1);
            }
            faaslet.reset(&mut store).expect("reset");
            let context = format!("{strategy:?}, round {round}, {count} pages written");
            assert_eq!(memory.byte_len(&store), expected.len() as u64, "{context}");
            assert!(memory.data(&store) == expected, "{context}: bytes differ");
            if random.below(5) == 0 {
                // A new store: the slot goes back to the pool (clean) and is reused.
                store = Store::new(&engine);
                faaslet = snapshot.spawn(&mut store, &Linker::new()).expect("spawn");
                let memory = faaslet.instance().get_memory(&store, "memory");
                let bytes = memory.map(|m| m.data(&store).to_vec()).expect("memory");
                assert!(bytes == expected, "{context}: a respawned Faaslet differs");
            }
        }
    }
}
