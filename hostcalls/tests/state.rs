//! The state table of the Faasm `env` interface end to end: WAT guests compiled by our JIT call
//! the real host functions over one in-process [`LocalTier`] (one host). Two Faaslets are two
//! stores sharing that tier.

mod common;

use faasm_hostcalls::faasm_state::{LocalTier, StateKey, StateLimits};
use faasm_hostcalls::{
    FaasmCtx, FaasmHandle, Input, Output, ReadPipe, WasiCtx, WasiHandle, WritePipe,
    add_faasm_to_linker, add_to_linker,
};
use faasm_runtime::{Engine, Instance, Linker, Module, Store, Trap, Val, host_page_size};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "alice";
const PAGE: usize = 65536;

/// Addresses of the NUL-terminated strings the guest holds.
const KEY: i64 = 16; // "k"
const MASK: i64 = 32; // "mask"
const OTHER: i64 = 48; // "other"
const FOREIGN: i64 = 64; // "bob/k"
const NO_NUL: i64 = 80; // 300 bytes of 'a' with no NUL
const FILE: i64 = 400; // "/data.bin"
const LIST: i64 = 432; // "list"
/// Scratch space for data the tests put in and read out.
const BUF: i64 = 4096;

/// A guest that re-exports every state import as `callNAME`, plus `grow(pages) -> old`,
/// `load(addr) -> i32` and `store(addr, value)`; one page of memory with the keys above.
fn guest_wat() -> String {
    let (imports, wrappers) = common::proxies(|name| name.contains("state") || name == "__sbrk");
    let (wasi_imports, wasi_wrappers) =
        common::wasi_proxies(|name| ["fd_read", "fd_write", "random_get"].contains(&name));
    let no_nul = "a".repeat(300);
    format!(
        r#"(module
            {imports}
            {wasi_imports}
            (memory (export "memory") 1)
            (data (i32.const 16) "k\00")
            (data (i32.const 32) "mask\00")
            (data (i32.const 48) "other\00")
            (data (i32.const 64) "bob/k\00")
            (data (i32.const 80) "{no_nul}")
            (data (i32.const 400) "/data.bin\00")
            (data (i32.const 432) "list\00")
            (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
            (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
            (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
            {wrappers}
            {wasi_wrappers})"#
    )
}

/// One Faaslet: a store with the guest instantiated, its `env` context.
struct Faaslet {
    store: Store,
    instance: Instance,
    faasm: FaasmHandle,
    wasi: WasiHandle,
}

impl Faaslet {
    fn new(tier: &Arc<LocalTier>, user: &str) -> Faaslet {
        let engine = Engine::default();
        let module = Module::new(&engine, &wat::parse_str(guest_wat()).unwrap()).unwrap();
        Faaslet::with_module(&module, tier, user, None)
    }

    fn with_module(
        module: &Module,
        tier: &Arc<LocalTier>,
        user: &str,
        image: Option<&faasm_runtime::InstanceImage>,
    ) -> Faaslet {
        let mut store = Store::new(module.engine());
        let mut linker = Linker::new();
        let wasi = add_to_linker(&mut linker, &mut store, WasiCtx::builder().build().unwrap());
        let faasm = add_faasm_to_linker(&mut linker, &mut store, FaasmCtx::new());
        let instance = match image {
            Some(image) => linker
                .instantiate_from_image(&mut store, module, image)
                .unwrap(),
            None => linker.instantiate(&mut store, module).unwrap(),
        };
        let faaslet = Faaslet {
            store,
            instance,
            faasm,
            wasi,
        };
        faaslet.new_call(tier, user);
        faaslet
    }

    /// Puts a fresh call context in place (as the scheduler does before each call).
    fn new_call(&self, tier: &Arc<LocalTier>, user: &str) {
        self.faasm.replace(
            FaasmCtx::new()
                .with_state(Arc::clone(tier), user)
                .with_files(self.wasi.clone()),
        );
    }

    fn call(&mut self, name: &str, args: &[i64]) -> Result<Option<i32>, Trap> {
        let func = self
            .instance
            .get_func(&self.store, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        let params: Vec<Val> = args.iter().map(|v| Val::I32(*v as i32)).collect();
        let results = func.call(&mut self.store, &params)?;
        Ok(match results.as_slice() {
            [Val::I32(v)] => Some(*v),
            _ => None,
        })
    }

    /// Calls the wrapper of import `name`.
    fn env(&mut self, name: &str, args: &[i64]) -> Result<Option<i32>, Trap> {
        self.call(&format!("call{name}"), args)
    }

    /// Calls the wrapper of import `name`, which must succeed.
    fn ok(&mut self, name: &str, args: &[i64]) -> Option<i32> {
        self.env(name, args)
            .unwrap_or_else(|trap| panic!("{name}{args:?}: {trap}"))
    }

    /// Memory 0 (a slice over it would alias the mapped state pages: tests copy, as the host
    /// interface does).
    fn memory(&self) -> faasm_runtime::Memory {
        self.instance.get_memory(&self.store, "memory").unwrap()
    }

    fn write(&mut self, addr: i64, bytes: &[u8]) {
        let memory = self.memory();
        memory.write(&mut self.store, addr as u64, bytes).unwrap();
    }

    fn read(&self, addr: i64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.memory()
            .read(&self.store, addr as u64, &mut bytes)
            .unwrap();
        bytes
    }

    fn pages(&self) -> u64 {
        self.instance
            .get_memory(&self.store, "memory")
            .unwrap()
            .size_pages(&self.store)
    }
}

fn key(text: &str) -> StateKey {
    StateKey::new(USER, text).unwrap()
}

/// The host message of a trap, asserting that it is a host trap naming `import`.
fn trap_of(result: Result<Option<i32>, Trap>, import: &str) -> String {
    match result {
        Err(Trap::Host(message)) => {
            assert!(message.contains(import), "{message}");
            message
        }
        other => panic!("expected a host trap from {import}, got {other:?}"),
    }
}

#[test]
fn read_write_offsets_and_sizes() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    // Absent: size 0.
    assert_eq!(f.ok("__faasm_read_state", &[KEY, 0, 0]), Some(0));
    f.write(BUF, b"0123456789");
    assert_eq!(f.ok("__faasm_write_state", &[KEY, BUF, 10]), None);
    assert_eq!(f.ok("__faasm_read_state", &[KEY, 0, 0]), Some(10));
    assert_eq!(f.ok("__faasm_read_state", &[KEY, BUF + 100, 10]), Some(10));
    assert_eq!(f.read(BUF + 100, 10), b"0123456789");
    // A chunk in, a chunk out.
    f.write(BUF, b"abc");
    f.ok("__faasm_write_state_offset", &[KEY, 10, 4, BUF, 3]);
    f.ok("__faasm_read_state_offset", &[KEY, 10, 3, BUF + 200, 5]);
    assert_eq!(f.read(BUF + 200, 5), b"3abc7");
    assert_eq!(tier.local_value(&key("k")).unwrap().size(), 10);
    // The guest's key is the user's: the tier holds alice/k.
    let mut out = [0u8; 10];
    tier.read(&key("k"), &mut out).unwrap();
    assert_eq!(&out, b"0123abc789");
}

#[test]
fn push_pull_dirty_and_masks_reach_the_global_tier() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    let global = tier.global().clone();
    f.write(BUF, &[7u8; 100]);
    f.ok("__faasm_write_state", &[KEY, BUF, 100]);
    assert_eq!(global.size(&key("k")).unwrap(), 0, "no push yet");
    f.ok("__faasm_push_state", &[KEY]);
    assert_eq!(global.get(&key("k")).unwrap().unwrap(), vec![7u8; 100]);

    // Another host changes the global value; pull replaces the local copy.
    global.set(&key("k"), &[9u8; 100]).unwrap();
    f.ok("__faasm_pull_state", &[KEY, 100]);
    assert_eq!(f.ok("__faasm_read_state", &[KEY, BUF, 100]), Some(100));
    assert_eq!(f.read(BUF, 100), vec![9u8; 100]);

    // A partial push sends the dirty range only (written through the mapping, then flagged).
    let addr = f.ok("__faasm_read_state_ptr", &[KEY, 100]).unwrap() as i64;
    f.write(addr + 10, &[1, 2, 3]);
    f.ok("__faasm_flag_state_offset_dirty", &[KEY, 100, 10, 3]);
    f.ok("__faasm_push_state_partial", &[KEY]);
    let global_value = global.get(&key("k")).unwrap().unwrap();
    assert_eq!(&global_value[9..14], &[9, 1, 2, 3, 9]);

    // flag_state_dirty + push sends the whole value.
    f.write(addr, &[5]);
    f.ok("__faasm_flag_state_dirty", &[KEY, 100]);
    f.ok("__faasm_push_state", &[KEY]);
    assert_eq!(global.get(&key("k")).unwrap().unwrap()[0], 5);

    // A mask value of the same size selects the bytes a partial push sends.
    let mut mask = vec![0u8; 100];
    mask[50] = 1;
    f.write(BUF, &mask);
    f.ok("__faasm_write_state", &[MASK, BUF, 100]);
    f.write(addr + 50, &[42]);
    f.write(addr + 60, &[43]);
    f.ok("__faasm_push_state_partial_mask", &[KEY, MASK]);
    let global_value = global.get(&key("k")).unwrap().unwrap();
    assert_eq!(global_value[50], 42);
    assert_ne!(global_value[60], 43, "outside the mask: not sent");
}

#[test]
fn append_lists() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    f.write(BUF, b"aaabbbccc");
    f.ok("__faasm_append_state", &[LIST, BUF, 3]);
    f.ok("__faasm_append_state", &[LIST, BUF + 3, 3]);
    f.ok("__faasm_append_state", &[LIST, BUF + 6, 3]);
    f.ok("__faasm_read_appended_state", &[LIST, BUF + 100, 6, 2]);
    assert_eq!(f.read(BUF + 100, 6), b"aaabbb");
    // More elements than the list has, or than the buffer holds: a clear trap.
    let message = trap_of(
        f.env("__faasm_read_appended_state", &[LIST, BUF + 100, 30, 4]),
        "__faasm_read_appended_state",
    );
    assert!(message.contains("alice/list"), "{message}");
    let message = trap_of(
        f.env("__faasm_read_appended_state", &[LIST, BUF + 100, 4, 3]),
        "__faasm_read_appended_state",
    );
    assert!(message.contains("buffer"), "{message}");
    f.ok("__faasm_clear_appended_state", &[LIST]);
    trap_of(
        f.env("__faasm_read_appended_state", &[LIST, BUF + 100, 3, 1]),
        "__faasm_read_appended_state",
    );
}

#[test]
fn write_state_from_file_reads_through_the_preopens() {
    let dir = std::env::temp_dir().join(format!("faasm-state-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.bin"), b"from a file").unwrap();
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    f.wasi
        .replace(WasiCtx::builder().preopen_dir(&dir, "/").build().unwrap());
    assert_eq!(
        f.ok("__faasm_write_state_from_file", &[KEY, FILE]),
        Some(11)
    );
    let mut out = [0u8; 11];
    tier.read(&key("k"), &mut out).unwrap();
    assert_eq!(&out, b"from a file");
    // A file outside the preopens cannot be named.
    f.write(BUF, b"/../../etc/passwd\0");
    trap_of(
        f.env("__faasm_write_state_from_file", &[OTHER, BUF]),
        "__faasm_write_state_from_file",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file larger than the state value limit is refused after reading one byte past the limit
/// (before, the whole file was read into host memory and only then offered to the tier).
#[test]
fn write_state_from_file_stops_at_the_value_limit() {
    let dir = std::env::temp_dir().join(format!("faasm-state-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.bin"), [7u8; 5000]).unwrap();
    let limits = StateLimits {
        max_value_bytes: 4096,
        ..StateLimits::default()
    };
    let tier = Arc::new(LocalTier::in_process().with_limits(limits));
    let mut f = Faaslet::new(&tier, USER);
    f.wasi
        .replace(WasiCtx::builder().preopen_dir(&dir, "/").build().unwrap());
    let message = trap_of(
        f.env("__faasm_write_state_from_file", &[KEY, FILE]),
        "__faasm_write_state_from_file",
    );
    assert!(
        message.contains("max_value_bytes limit (4096) exceeded by the file"),
        "{message}"
    );
    assert_eq!(tier.size(&key("k")).unwrap(), 0, "nothing was written");
    std::fs::write(dir.join("data.bin"), [7u8; 4096]).unwrap();
    assert_eq!(
        f.ok("__faasm_write_state_from_file", &[KEY, FILE]),
        Some(4096)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// WASI calls whose buffers lie in a mapped state value read and write the host's one copy
/// (through the runtime's raw copies, never a slice over pages other threads write), and a
/// short read changes only the bytes it read.
#[test]
fn wasi_calls_use_buffers_in_mapped_state_pages() {
    let tier = Arc::new(LocalTier::in_process());
    let mut a = Faaslet::new(&tier, USER);
    let mut b = Faaslet::new(&tier, USER);
    let stdout = WritePipe::new();
    a.wasi.replace(
        WasiCtx::builder()
            .stdin(Input::Pipe(ReadPipe::from_bytes(b"abc".to_vec())))
            .stdout(Output::Pipe(stdout.clone()))
            .build()
            .unwrap(),
    );
    let size = host_page_size();
    let pa = a.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    let pb = b.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    a.write(BUF + 100, &[0xAA; 200]);
    a.ok(
        "__faasm_write_state_offset",
        &[KEY, size as i64, 0, BUF + 100, 200],
    );
    // fd_read of stdin into 100 bytes of the value: 3 bytes come, the other 97 stay.
    let iovec = |f: &mut Faaslet, ptr: i64, len: u32| {
        let mut entry = (ptr as u32).to_le_bytes().to_vec();
        entry.extend_from_slice(&len.to_le_bytes());
        f.write(BUF, &entry);
    };
    iovec(&mut a, pa + 10, 100);
    assert_eq!(
        a.call("wasifd_read", &[0, BUF, 1, BUF + 8]).unwrap(),
        Some(0)
    );
    assert_eq!(a.read(BUF + 8, 4), 3u32.to_le_bytes());
    let mut value = vec![0u8; 200];
    tier.read_at(&key("k"), size, 0, &mut value).unwrap();
    assert_eq!(&value[..10], &[0xAA; 10]);
    assert_eq!(&value[10..13], b"abc");
    assert!(value[13..].iter().all(|&byte| byte == 0xAA), "{value:?}");
    // B sees A's read at once, in its own mapping.
    assert_eq!(
        b.call("load", &[pb + 10]).unwrap(),
        Some(i32::from_le_bytes([b'a', b'b', b'c', 0xAA]))
    );
    // fd_write from the value, and random_get into it.
    iovec(&mut a, pa + 10, 3);
    assert_eq!(
        a.call("wasifd_write", &[1, BUF, 1, BUF + 8]).unwrap(),
        Some(0)
    );
    assert_eq!(stdout.contents(), b"abc");
    assert_eq!(a.call("wasirandom_get", &[pa + 1000, 64]).unwrap(), Some(0));
    let mut random = vec![0u8; 64];
    tier.read_at(&key("k"), size, 1000, &mut random).unwrap();
    assert!(
        random.iter().any(|&byte| byte != 0),
        "random bytes reached the value"
    );
    // Out of bounds still faults, with nothing written.
    let end = a.memory().byte_len(&a.store) as i64;
    iovec(&mut a, end - 2, 8);
    assert_eq!(
        a.call("wasifd_read", &[0, BUF, 1, BUF + 8]).unwrap(),
        Some(21)
    );
}

#[test]
fn two_faaslets_share_one_mapped_copy() {
    let tier = Arc::new(LocalTier::in_process());
    let mut a = Faaslet::new(&tier, USER);
    let mut b = Faaslet::new(&tier, USER);
    let size = 3 * host_page_size() + 100;
    let pa = a.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    let pb = b.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    assert_eq!(pa as usize % host_page_size(), 0);
    assert!(pa as usize >= PAGE, "above the memory the module had");
    // A writes with a plain store; B loads it, with no copy and no push.
    a.call("store", &[pa + 8, 0x1234_5678]).unwrap();
    assert_eq!(b.call("load", &[pb + 8]).unwrap(), Some(0x1234_5678));
    // And back, at the end of the value.
    let last = size as i64 - 4;
    b.call("store", &[pb + last, -7]).unwrap();
    assert_eq!(a.call("load", &[pa + last]).unwrap(), Some(-7));
    // The host's one copy sees both.
    let mut out = vec![0u8; size];
    tier.read(&key("k"), &mut out).unwrap();
    assert_eq!(&out[8..12], &0x1234_5678u32.to_le_bytes());
    assert_eq!(&out[size - 4..], &(-7i32).to_le_bytes());
    // read_state copies the same bytes.
    assert_eq!(
        a.ok("__faasm_read_state", &[KEY, BUF, size as i64]),
        Some(size as i32)
    );
    assert_eq!(a.read(BUF + 8, 4), 0x1234_5678u32.to_le_bytes());
}

/// A value copied onto itself through its own mapping (guest memory that is `MAP_SHARED` with
/// the host's copy): written with an offset from the mapped bytes, and read with an offset into
/// them. Both must move the bytes as `memmove` would, although source and target are different
/// addresses of the same pages (which no address-based overlap check can see).
#[test]
fn copies_between_a_mapping_and_its_own_value_move_as_memmove() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    let size = 64 * host_page_size();
    let pattern: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let p = f.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    let mut expected = pattern.clone();
    let n = size - 1;
    // write_state_offset(k, off = 1, data = the mapping's first size - 1 bytes)
    tier.write(&key("k"), &pattern).unwrap();
    f.ok(
        "__faasm_write_state_offset",
        &[KEY, size as i64, 1, p, n as i64],
    );
    expected.copy_within(0..n, 1);
    let mut value = vec![0u8; size];
    tier.read(&key("k"), &mut value).unwrap();
    assert!(value == expected, "write from the own mapping");
    // read_state_offset(k, off = 1, buf = the mapping itself, size - 1 bytes)
    tier.write(&key("k"), &pattern).unwrap();
    f.ok(
        "__faasm_read_state_offset",
        &[KEY, size as i64, 1, p, n as i64],
    );
    let mut expected = pattern.clone();
    expected.copy_within(1.., 0);
    tier.read(&key("k"), &mut value).unwrap();
    assert!(value == expected, "read into the own mapping");
    // And a plain write_state of the whole value from its mapping changes nothing.
    tier.write(&key("k"), &pattern).unwrap();
    f.ok("__faasm_write_state", &[KEY, p, size as i64]);
    tier.read(&key("k"), &mut value).unwrap();
    assert!(value == pattern, "whole value from its own mapping");
}

#[test]
fn repeated_mappings_return_the_same_address_and_the_heap_stays_clear() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    let size = 2 * PAGE + 10;
    let p = f.ok("__faasm_read_state_ptr", &[KEY, size as i64]).unwrap() as i64;
    assert_eq!(p, PAGE as i64);
    assert_eq!(f.pages(), 4, "grew by the value's pages");
    assert_eq!(
        f.ok("__faasm_read_state_ptr", &[KEY, size as i64]),
        Some(p as i32)
    );
    // A chunk of a mapped value is inside its mapping.
    assert_eq!(
        f.ok(
            "__faasm_read_state_offset_ptr",
            &[KEY, size as i64, 70000, 16]
        ),
        Some((p + 70000) as i32)
    );
    // The heap hands out memory above the mapping only.
    let brk = f.ok("__sbrk", &[0]).unwrap() as i64;
    assert!(
        brk >= p + size as i64,
        "break {brk} inside the mapping at {p}"
    );
    assert_eq!(f.ok("__sbrk", &[-16]), Some(-1));
    // Another key: another range, after the first.
    let q = f.ok("__faasm_read_state_ptr", &[OTHER, 10]).unwrap() as i64;
    assert!(q >= p + size as i64);
    // A different size for the same key fails clearly.
    let message = trap_of(
        f.env("__faasm_read_state_ptr", &[KEY, 99]),
        "__faasm_read_state_ptr",
    );
    assert!(message.contains("alice/k"), "{message}");
}

#[test]
fn offset_pointers_map_only_the_chunk() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    let page = host_page_size() as i64;
    let size = 5 * PAGE as i64;
    let off = 3 * PAGE as i64 + 100;
    let p = f
        .ok("__faasm_read_state_offset_ptr", &[KEY, size, off, 8])
        .unwrap() as i64;
    // Only the pages of the chunk: memory grew by one Wasm page, not five.
    assert_eq!(f.pages(), 2);
    assert_eq!(p % page, off % page);
    f.call("store", &[p, 0x0a0b_0c0d]).unwrap();
    let mut out = [0u8; 4];
    tier.read_at(&key("k"), size as usize, off as usize, &mut out)
        .unwrap();
    assert_eq!(out, 0x0a0b_0c0du32.to_le_bytes());
    // The same chunk again: the same address; a chunk elsewhere: a new mapping.
    assert_eq!(
        f.ok("__faasm_read_state_offset_ptr", &[KEY, size, off, 8]),
        Some(p as i32)
    );
    let q = f
        .ok("__faasm_read_state_offset_ptr", &[KEY, size, 10, 4])
        .unwrap() as i64;
    assert_ne!(q, p);
    assert_eq!(f.pages(), 3);
    // Past the end of the value: a clear failure.
    let message = trap_of(
        f.env("__faasm_read_state_offset_ptr", &[KEY, size, size - 2, 4]),
        "__faasm_read_state_offset_ptr",
    );
    assert!(message.contains("past its end"), "{message}");
}

#[test]
fn a_reset_unmaps_and_the_value_keeps_its_data() {
    let tier = Arc::new(LocalTier::in_process());
    let engine = Engine::default();
    let module = Module::new(&engine, &wat::parse_str(guest_wat()).unwrap()).unwrap();
    // The Proto-Faaslet: captured with its one page.
    let image = {
        let proto = Faaslet::with_module(&module, &tier, USER, None);
        proto.instance.capture(&proto.store).unwrap()
    };
    let mut f = Faaslet::with_module(&module, &tier, USER, Some(&image));
    let p = f.ok("__faasm_read_state_ptr", &[KEY, 64]).unwrap() as i64;
    f.call("store", &[p, 77]).unwrap();
    assert_eq!(f.pages(), 2);

    // The call ends: reset to the snapshot, a new context.
    f.instance.reset(&mut f.store, &image).unwrap();
    f.new_call(&tier, USER);
    assert_eq!(f.pages(), 1);
    // The next call grows memory itself and sees the snapshot's bytes (zeros) at that address.
    assert_eq!(f.call("grow", &[1]).unwrap(), Some(1));
    assert_eq!(f.call("load", &[p]).unwrap(), Some(0));
    f.call("store", &[p, 5]).unwrap();
    // The value kept its data (and the store above did not reach it).
    let mut out = [0u8; 4];
    tier.read_at(&key("k"), 64, 0, &mut out).unwrap();
    assert_eq!(i32::from_le_bytes(out), 77);
    // Mapping it again in this call: a new address above, with the value's data.
    let q = f.ok("__faasm_read_state_ptr", &[KEY, 64]).unwrap() as i64;
    assert_eq!(q, 2 * PAGE as i64);
    assert_eq!(f.call("load", &[q]).unwrap(), Some(77));
    // A capture leaves mapped pages out.
    let captured = f.instance.capture(&f.store).unwrap();
    let g = Faaslet::with_module(&module, &tier, USER, Some(&captured));
    assert_eq!(g.read(q, 4), [0, 0, 0, 0]);
}

#[test]
fn size_mismatches_ranges_and_bad_pointers_fail_clearly() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    f.ok("__faasm_write_state", &[KEY, BUF, 10]);
    let cases: [(&str, Vec<i64>, &str); 9] = [
        ("__faasm_read_state", vec![KEY, BUF, 5], "has size 10"),
        ("__faasm_read_state_ptr", vec![KEY, 11], "has size 10"),
        ("__faasm_write_state", vec![KEY, BUF, 11], "has size 10"),
        (
            "__faasm_write_state_offset",
            vec![KEY, 10, 8, BUF, 3],
            "past its end",
        ),
        (
            "__faasm_read_state_offset",
            vec![KEY, 10, 11, BUF, 0],
            "past its end",
        ),
        (
            "__faasm_flag_state_offset_dirty",
            vec![KEY, 10, 5, 6],
            "past its end",
        ),
        (
            "__faasm_read_state",
            vec![KEY, PAGE as i64 - 4, 10],
            "outside",
        ),
        ("__faasm_write_state", vec![KEY, -1, 10], "outside"),
        ("__faasm_read_state", vec![OTHER, BUF, 4], "not found"),
    ];
    for (import, args, expected) in cases {
        let message = trap_of(f.env(import, &args), import);
        assert!(message.contains(expected), "{import}: {message}");
        assert!(
            message.contains("alice/"),
            "{import}: names the key: {message}"
        );
    }
    // Keys: outside memory, without a NUL within bounds, empty, of zero size.
    trap_of(
        f.env("__faasm_read_state", &[PAGE as i64 + 5, 0, 0]),
        "__faasm_read_state",
    );
    let message = trap_of(f.env("__faasm_push_state", &[NO_NUL]), "__faasm_push_state");
    assert!(message.contains("no terminating NUL"), "{message}");
    f.write(BUF + 500, b"\0");
    trap_of(
        f.env("__faasm_write_state", &[BUF + 500, BUF, 4]),
        "__faasm_write_state",
    );
    let message = trap_of(
        f.env("__faasm_write_state", &[OTHER, BUF, 0]),
        "__faasm_write_state",
    );
    assert!(message.contains("size 0"), "{message}");
    // The value is intact after all that.
    let mut out = [0u8; 10];
    tier.read(&key("k"), &mut out).unwrap();
}

#[test]
fn no_function_reaches_another_users_keys() {
    let tier = Arc::new(LocalTier::in_process());
    let mut alice = Faaslet::new(&tier, "alice");
    let mut bob = Faaslet::new(&tier, "bob");
    alice.write(BUF, b"secret");
    alice.ok("__faasm_write_state", &[KEY, BUF, 6]);
    alice.ok("__faasm_push_state", &[KEY]);
    // bob's "k" is bob/k: absent.
    assert_eq!(bob.ok("__faasm_read_state", &[KEY, 0, 0]), Some(0));
    // Naming alice's key with a path is an invalid key, not a way in.
    alice.write(BUF + 100, b"alice/k\0");
    bob.write(BUF + 100, b"alice/k\0");
    let message = trap_of(
        bob.env("__faasm_read_state", &[BUF + 100, 0, 0]),
        "__faasm_read_state",
    );
    assert!(message.contains("invalid state key"), "{message}");
    trap_of(
        bob.env("__faasm_read_state_ptr", &[BUF + 100, 6]),
        "__faasm_read_state_ptr",
    );
    trap_of(
        alice.env("__faasm_read_state", &[FOREIGN, 0, 0]),
        "__faasm_read_state",
    );
    // bob's own k is another value entirely.
    let pb = bob.ok("__faasm_read_state_ptr", &[KEY, 6]).unwrap() as i64;
    assert_eq!(bob.read(pb, 6), [0; 6]);
    assert_eq!(
        tier.local_value(&StateKey::new("bob", "k").unwrap())
            .unwrap()
            .size(),
        6
    );
}

#[test]
fn without_a_state_tier_the_calls_trap() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    f.faasm.replace(FaasmCtx::new());
    let message = trap_of(
        f.env("__faasm_read_state", &[KEY, 0, 0]),
        "__faasm_read_state",
    );
    assert!(message.contains("not available"), "{message}");
}

#[test]
fn locks_are_the_calls_and_released_at_its_end() {
    let tier = Arc::new(LocalTier::in_process());
    let mut f = Faaslet::new(&tier, USER);
    let k = key("k");
    f.ok("__faasm_lock_state_read", &[KEY]);
    assert!(!tier.try_lock_write(&k), "a reader holds it");
    f.ok("__faasm_unlock_state_read", &[KEY]);
    f.ok("__faasm_lock_state_write", &[KEY]);
    assert!(!tier.try_lock_write(&k));
    // Locking again in the same call would wait forever: a trap instead.
    let message = trap_of(
        f.env("__faasm_lock_state_read", &[KEY]),
        "__faasm_lock_state_read",
    );
    assert!(message.contains("already holds"), "{message}");
    f.ok("__faasm_unlock_state_write", &[KEY]);
    assert!(tier.try_lock_write(&k));
    tier.unlock_write(&k).unwrap();
    // Unlocking what the call does not hold.
    let message = trap_of(
        f.env("__faasm_unlock_state_write", &[KEY]),
        "__faasm_unlock_state_write",
    );
    assert!(message.contains("does not hold"), "{message}");

    // Global locks.
    f.ok("__faasm_lock_state_global_write", &[KEY]);
    assert!(!tier.try_lock_global_write(&k).unwrap());
    f.ok("__faasm_unlock_state_global_write", &[KEY]);
    f.ok("__faasm_lock_state_global_read", &[KEY]);
    f.ok("__faasm_unlock_state_global_read", &[KEY]);
    assert!(tier.try_lock_global_write(&k).unwrap());
    tier.unlock_global_write(&k).unwrap();

    // A call that ends holding locks gives them back.
    f.ok("__faasm_lock_state_write", &[KEY]);
    f.ok("__faasm_lock_state_global_write", &[OTHER]);
    f.new_call(&tier, USER);
    assert!(tier.try_lock_write(&k));
    assert!(tier.try_lock_global_write(&key("other")).unwrap());
}

#[test]
fn a_lock_held_elsewhere_fails_the_call_after_the_lock_timeout() {
    let tier = Arc::new(
        LocalTier::in_process().with_lock_times(Duration::from_secs(30), Duration::from_millis(50)),
    );
    let mut f = Faaslet::new(&tier, USER);
    let k = key("k");
    // Another call holds the write lock and does not end (or waits for a lock of this one).
    tier.lock_write(&k).unwrap();
    for import in ["__faasm_lock_state_read", "__faasm_lock_state_write"] {
        f.new_call(&tier, USER);
        let message = trap_of(f.env(import, &[KEY]), import);
        assert!(
            message.contains("lock not acquired within") && message.contains("alice/k"),
            "{message}"
        );
    }
    tier.unlock_write(&k).unwrap();
    // The lock works on, and the failed attempt left nothing held.
    f.new_call(&tier, USER);
    f.ok("__faasm_lock_state_write", &[KEY]);
    f.ok("__faasm_unlock_state_write", &[KEY]);
    assert!(tier.try_lock_write(&k));
}

#[test]
fn a_lock_held_elsewhere_ends_the_call_at_its_deadline_before_the_lock_timeout() {
    let tier = Arc::new(
        LocalTier::in_process().with_lock_times(Duration::from_secs(30), Duration::from_secs(30)),
    );
    let mut f = Faaslet::new(&tier, USER);
    f.store.set_timeout(Some(Duration::from_millis(200)));
    let k = key("k");
    // Another call holds the write locks, local and global, and does not end.
    tier.lock_write(&k).unwrap();
    assert!(tier.try_lock_global_write(&k).unwrap());
    for import in [
        "__faasm_lock_state_read",
        "__faasm_lock_state_write",
        "__faasm_lock_state_global_read",
        "__faasm_lock_state_global_write",
    ] {
        f.new_call(&tier, USER);
        let start = Instant::now();
        assert_eq!(f.env(import, &[KEY]), Err(Trap::timeout()), "{import}");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "{import} waited {waited:?}"
        );
    }
    tier.unlock_write(&k).unwrap();
    tier.unlock_global_write(&k).unwrap();
    f.new_call(&tier, USER);
    f.ok("__faasm_lock_state_write", &[KEY]);
}
