//! The Faasm `env` interface end to end: WAT guests compiled by our JIT call the real host
//! functions, with a fake [`Chaining`] that records what was chained and answers awaits from
//! a table.

mod common;

use faasm_hostcalls::{
    CallId, ChainError, ChainResult, Chaining, ENV_MODULE, FaasmCtx, FaasmHandle,
    add_faasm_to_linker,
};
use faasm_runtime::{Engine, Instance, Linker, Module, Store, Trap, Val};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A chaining that records calls and answers awaits from `results`.
#[derive(Default)]
struct FakeChaining {
    chained: Mutex<Vec<(String, Vec<u8>)>>,
    awaited: Mutex<Vec<(CallId, Option<Duration>)>>,
    results: Mutex<HashMap<CallId, ChainResult>>,
}

impl FakeChaining {
    fn with_result(self, id: CallId, result: ChainResult) -> Self {
        self.results.lock().unwrap().insert(id, result);
        self
    }
}

impl Chaining for FakeChaining {
    fn chain(&self, name: &str, input: &[u8]) -> Result<CallId, ChainError> {
        if name == "missing" {
            return Err(ChainError::UnknownFunction("demo/missing".to_string()));
        }
        let mut chained = self.chained.lock().unwrap();
        chained.push((name.to_string(), input.to_vec()));
        Ok(100 + chained.len() as CallId)
    }

    fn chain_index(&self, func_idx: i32, input: &[u8]) -> Result<CallId, ChainError> {
        self.chain(&format!("#{func_idx}"), input)
    }

    fn chain_py(&self, entry: &str, input: &[u8]) -> Result<CallId, ChainError> {
        self.chain(&format!("py:{entry}"), input)
    }

    fn await_call(&self, id: CallId, timeout: Option<Duration>) -> ChainResult {
        self.awaited.lock().unwrap().push((id, timeout));
        self.results
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_else(|| ChainResult::failed(format!("no call {id}")))
    }
}

/// A guest that re-exports every `env` function as `call_NAME`, with a bump `malloc` from
/// address 32768, a 2-page memory and bytes at fixed addresses.
fn proxy_wat(with_malloc: bool) -> String {
    let (imports, wrappers) = common::proxies(|_| true);
    let malloc = if with_malloc {
        r#"(global $next (mut i32) (i32.const 32768))
           (func (export "malloc") (param i32) (result i32)
             (local $p i32)
             (local.set $p (global.get $next))
             (global.set $next (i32.add (global.get $next) (local.get 0)))
             (local.get $p))"#
    } else {
        ""
    };
    format!(
        r#"(module
            {imports}
            (memory (export "memory") 2)
            (data (i32.const 16) "worker\00")
            (data (i32.const 32) "payload")
            (data (i32.const 48) "missing\00")
            (data (i32.const 64) "FULL_ASYNC\00")
            {malloc}
            {wrappers})"#
    )
}

struct Guest {
    store: Store,
    instance: Instance,
    faasm: FaasmHandle,
}

impl Guest {
    fn new(ctx: FaasmCtx) -> Guest {
        Guest::from_wat(&proxy_wat(true), ctx)
    }

    fn from_wat(wat: &str, ctx: FaasmCtx) -> Guest {
        let engine = Engine::default();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let mut linker = Linker::new();
        let faasm = add_faasm_to_linker(&mut linker, &mut store, ctx);
        let instance = linker.instantiate(&mut store, &module).unwrap();
        Guest {
            store,
            instance,
            faasm,
        }
    }

    /// Calls the wrapper of `name` with i32 arguments (an i64 where the signature has one).
    fn call(&mut self, name: &str, args: &[i64]) -> Result<Option<i32>, Trap> {
        let func = self
            .instance
            .get_func(&self.store, &format!("call{name}"))
            .unwrap();
        let ty = func.ty(&self.store);
        let params: Vec<Val> = ty
            .params
            .iter()
            .zip(args)
            .map(|(ty, v)| match ty {
                faasm_runtime::ValType::I64 => Val::I64(*v),
                _ => Val::I32(*v as i32),
            })
            .collect();
        let results = func.call(&mut self.store, &params)?;
        Ok(match results.as_slice() {
            [Val::I32(v)] => Some(*v),
            _ => None,
        })
    }

    fn memory(&self) -> &[u8] {
        self.instance
            .get_memory(&self.store, "memory")
            .unwrap()
            .data(&self.store)
    }

    fn pages(&self) -> u64 {
        self.instance
            .get_memory(&self.store, "memory")
            .unwrap()
            .size_pages(&self.store)
    }

    fn u32_at(&self, addr: usize) -> u32 {
        u32::from_le_bytes(self.memory()[addr..addr + 4].try_into().unwrap())
    }
}

/// The host message of a trap, asserting that it is a host trap.
fn host_message(result: Result<Option<i32>, Trap>) -> String {
    match result {
        Err(Trap::Host(message)) => message,
        other => panic!("expected a host trap, got {other:?}"),
    }
}

#[test]
fn read_input_reports_the_size_and_copies_at_most_len() {
    let mut guest = Guest::new(FaasmCtx::new().with_input(b"hello world".to_vec()));
    assert_eq!(guest.call("__faasm_read_input", &[0, 0]), Ok(Some(11)));
    assert_eq!(guest.call("__faasm_read_input", &[1000, 5]), Ok(Some(5)));
    assert_eq!(&guest.memory()[1000..1006], b"hello\0");
    assert_eq!(guest.call("__faasm_read_input", &[2000, 64]), Ok(Some(11)));
    assert_eq!(&guest.memory()[2000..2011], b"hello world");

    let mut empty = Guest::new(FaasmCtx::new());
    assert_eq!(empty.call("__faasm_read_input", &[0, 0]), Ok(Some(0)));
    assert_eq!(empty.call("__faasm_read_input", &[1000, 8]), Ok(Some(0)));
}

#[test]
fn bad_pointers_trap_naming_the_call() {
    let end = 2 * 65536;
    let mut guest = Guest::new(FaasmCtx::new().with_input(b"x".to_vec()));
    let message = host_message(guest.call("__faasm_read_input", &[end - 2, 4]));
    assert!(message.contains("__faasm_read_input"), "{message}");
    assert!(message.contains("outside"), "{message}");
    let message = host_message(guest.call("__faasm_write_output", &[end, 1]));
    assert!(message.contains("__faasm_write_output"), "{message}");
    let message = host_message(guest.call("__faasm_write_output", &[-1, -1]));
    assert!(message.contains("__faasm_write_output"), "{message}");
    let message = host_message(guest.call("__faasm_conf_flag", &[end + 5]));
    assert!(message.contains("__faasm_conf_flag"), "{message}");
    let message = host_message(guest.call("munmap", &[end - 4, 8]));
    assert!(message.contains("munmap"), "{message}");
    // A name that starts at the end of memory has no terminating NUL inside it.
    let message = host_message(guest.call("__faasm_chain_name", &[end, 32, 7]));
    assert!(message.contains("__faasm_chain_name"), "{message}");
    let message = host_message(guest.call("__faasm_chain_ptr", &[1, end - 1, 2]));
    assert!(message.contains("__faasm_chain_ptr"), "{message}");
    // The guest is still usable after a trap.
    assert_eq!(guest.call("__faasm_read_input", &[0, 0]), Ok(Some(1)));
}

#[test]
fn write_output_replaces_the_output() {
    let mut guest = Guest::new(FaasmCtx::new());
    assert_eq!(guest.call("__faasm_write_output", &[32, 3]), Ok(None));
    assert_eq!(guest.faasm.lock().output(), b"pay");
    assert_eq!(guest.call("__faasm_write_output", &[32, 7]), Ok(None));
    assert_eq!(guest.faasm.lock().take_output(), b"payload");
    assert_eq!(guest.call("__faasm_write_output", &[0, 0]), Ok(None));
    assert_eq!(guest.faasm.lock().output(), b"");
}

/// Outputs are kept in the host until taken, so their size is bounded: a larger one traps
/// naming the limit and leaves the earlier output in place.
#[test]
fn an_output_over_the_limit_traps_naming_it() {
    let mut guest = Guest::new(FaasmCtx::new().with_max_output_bytes(4));
    assert_eq!(guest.call("__faasm_write_output", &[32, 4]), Ok(None));
    let message = host_message(guest.call("__faasm_write_output", &[32, 5]));
    assert!(message.contains("max_output_bytes limit (4)"), "{message}");
    assert_eq!(guest.faasm.lock().output(), b"payl");
    // The default limit admits any output a guest's memory can hold only up to 64 MiB.
    assert_eq!(FaasmCtx::new().max_output_bytes(), 64 << 20);
}

#[test]
fn chaining_by_name_and_by_index_goes_to_the_chaining() {
    let fake = Arc::new(FakeChaining::default());
    let mut guest = Guest::new(
        FaasmCtx::new()
            .with_chaining(fake.clone())
            .with_func_index(4),
    );
    assert_eq!(
        guest.call("__faasm_chain_name", &[16, 32, 7]),
        Ok(Some(101))
    );
    assert_eq!(
        guest.call("__faasm_chain_function", &[16, 32, 3]),
        Ok(Some(102))
    );
    assert_eq!(guest.call("__faasm_chain_ptr", &[2, 32, 1]), Ok(Some(103)));
    assert_eq!(guest.call("__faasm_chain_this", &[5, 0, 0]), Ok(Some(104)));
    assert_eq!(guest.call("__faasm_get_idx", &[]), Ok(Some(4)));
    let chained = fake.chained.lock().unwrap().clone();
    assert_eq!(
        chained,
        [
            ("worker".to_string(), b"payload".to_vec()),
            ("worker".to_string(), b"pay".to_vec()),
            ("#2".to_string(), b"p".to_vec()),
            ("#5".to_string(), Vec::new()),
        ]
    );
    let message = host_message(guest.call("__faasm_chain_name", &[48, 0, 0]));
    assert!(message.contains("no function `demo/missing`"), "{message}");
}

#[test]
fn python_entries_are_checked_chained_and_read_back() {
    let fake = Arc::new(FakeChaining::default());
    let mut guest = Guest::new(
        FaasmCtx::new()
            .with_chaining(fake.clone())
            .with_py_entry("square"),
    );
    // "worker" at 16 is an entry name too.
    assert_eq!(guest.call("__faasm_chain_py", &[16, 32, 7]), Ok(Some(101)));
    assert_eq!(
        fake.chained.lock().unwrap().clone(),
        [("py:worker".to_string(), b"payload".to_vec())]
    );
    // A name that is no identifier is refused before anything is chained.
    let mut bad = Guest::from_wat(
        &proxy_wat(true).replace(
            r#"(data (i32.const 48) "missing\00")"#,
            r#"(data (i32.const 48) "no-entry\00")"#,
        ),
        FaasmCtx::new().with_chaining(fake.clone()),
    );
    let message = host_message(bad.call("__faasm_chain_py", &[48, 32, 7]));
    assert!(
        message.contains("`no-entry` is not a Python entry"),
        "{message}"
    );

    assert_eq!(guest.call("__faasm_get_py_entry", &[1024, 7]), Ok(None));
    assert_eq!(&guest.memory()[1024..1031], b"square\0");
    let message = host_message(guest.call("__faasm_get_py_entry", &[1024, 6]));
    assert!(
        message.contains("a buffer of 6 bytes cannot hold `square`"),
        "{message}"
    );
    let message = host_message(guest.call("__faasm_get_py_entry", &[131_070, 7]));
    assert!(message.contains("__faasm_get_py_entry"), "{message}");
}

#[test]
fn python_entry_names_are_identifiers_of_at_most_255_bytes() {
    use faasm_hostcalls::{MAX_PY_ENTRY_BYTES, check_py_entry};
    for good in [
        "faasm_main",
        "_private",
        "x9",
        &"a".repeat(MAX_PY_ENTRY_BYTES),
    ] {
        assert_eq!(check_py_entry(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "9lives",
        "a-b",
        "a.b",
        "é",
        "a b",
        &"a".repeat(MAX_PY_ENTRY_BYTES + 1),
    ] {
        assert!(check_py_entry(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn without_chaining_the_chaining_calls_trap() {
    let mut guest = Guest::new(FaasmCtx::new());
    for (name, args) in [
        ("__faasm_chain_name", vec![16, 32, 7]),
        ("__faasm_chain_ptr", vec![1, 32, 7]),
        ("__faasm_await_call", vec![1]),
        ("__faasm_await_call_output", vec![1, 0, 4]),
    ] {
        let message = host_message(guest.call(name, &args));
        assert!(message.contains(name), "{message}");
        assert!(message.contains("not available"), "{message}");
    }
}

#[test]
fn await_returns_the_value_or_one_on_failure() {
    let fake = Arc::new(
        FakeChaining::default()
            .with_result(
                7,
                ChainResult {
                    return_value: 0,
                    output: b"seven".to_vec(),
                    failure: None,
                },
            )
            .with_result(
                8,
                ChainResult {
                    return_value: 3,
                    output: Vec::new(),
                    failure: Some("returned 3".to_string()),
                },
            )
            .with_result(9, ChainResult::failed("trapped")),
    );
    let timeout = Some(Duration::from_millis(250));
    let mut guest = Guest::new(
        FaasmCtx::new()
            .with_chaining(fake.clone())
            .with_await_timeout(timeout),
    );
    assert_eq!(guest.call("__faasm_await_call", &[7]), Ok(Some(0)));
    assert_eq!(guest.call("__faasm_await_call", &[8]), Ok(Some(3)));
    assert_eq!(guest.call("__faasm_await_call", &[9]), Ok(Some(1)));
    assert_eq!(guest.call("__faasm_await_call", &[12345]), Ok(Some(1)));
    let awaited = fake.awaited.lock().unwrap().clone();
    assert_eq!(
        awaited,
        [(7, timeout), (8, timeout), (9, timeout), (12345, timeout)]
    );
}

#[test]
fn await_call_output_copies_into_guest_malloc_memory() {
    let fake = Arc::new(FakeChaining::default().with_result(
        7,
        ChainResult {
            return_value: 0,
            output: b"seven".to_vec(),
            failure: None,
        },
    ));
    let mut guest = Guest::new(FaasmCtx::new().with_chaining(fake.clone()));
    assert_eq!(
        guest.call("__faasm_await_call_output", &[7, 4000, 4004]),
        Ok(Some(0))
    );
    assert_eq!(guest.u32_at(4000), 32768);
    assert_eq!(guest.u32_at(4004), 5);
    assert_eq!(&guest.memory()[32768..32773], b"seven");
    // A second copy gets fresh memory from malloc.
    assert_eq!(
        guest.call("__faasm_await_call_output", &[7, 4000, 4004]),
        Ok(Some(0))
    );
    assert_eq!(guest.u32_at(4000), 32773);
    // A failed call with no output: NULL and 0, and 1.
    assert_eq!(
        guest.call("__faasm_await_call_output", &[99, 4000, 4004]),
        Ok(Some(1))
    );
    assert_eq!((guest.u32_at(4000), guest.u32_at(4004)), (0, 0));
    // A bad out-pointer traps before anything is awaited.
    let before = fake.awaited.lock().unwrap().len();
    let message = host_message(guest.call("__faasm_await_call_output", &[7, 4000, 2 * 65536 - 2]));
    assert!(message.contains("__faasm_await_call_output"), "{message}");
    assert_eq!(fake.awaited.lock().unwrap().len(), before);
}

#[test]
fn await_call_output_needs_an_exported_malloc() {
    let fake = Arc::new(FakeChaining::default().with_result(
        7,
        ChainResult {
            return_value: 0,
            output: b"seven".to_vec(),
            failure: None,
        },
    ));
    let mut guest = Guest::from_wat(
        &proxy_wat(false),
        FaasmCtx::new().with_chaining(fake.clone()),
    );
    let message = host_message(guest.call("__faasm_await_call_output", &[7, 4000, 4004]));
    assert!(message.contains("malloc"), "{message}");
}

#[test]
fn conf_flags_read_as_set_or_zero() {
    let flags = Arc::new(HashMap::from([("FULL_ASYNC".to_string(), 1)]));
    let mut guest = Guest::new(FaasmCtx::new().with_conf_flags(flags));
    assert_eq!(guest.call("__faasm_conf_flag", &[64]), Ok(Some(1)));
    assert_eq!(guest.call("__faasm_conf_flag", &[16]), Ok(Some(0)));
}

#[test]
fn sbrk_mmap_and_munmap_grow_the_memory() {
    let mut guest = Guest::new(FaasmCtx::new());
    assert_eq!(guest.call("__sbrk", &[0]), Ok(Some(2 * 65536)));
    assert_eq!(guest.call("__sbrk", &[10]), Ok(Some(2 * 65536)));
    assert_eq!(guest.pages(), 3);
    assert_eq!(guest.call("__sbrk", &[0]), Ok(Some(2 * 65536 + 10)));
    // mmap rounds the break up to a page and the length up to whole pages.
    let anonymous = 0x22; // MAP_PRIVATE | MAP_ANONYMOUS
    let addr = guest
        .call("mmap", &[0, 70000, 3, anonymous, -1, 0])
        .unwrap();
    assert_eq!(addr, Some(3 * 65536));
    assert_eq!(guest.pages(), 5);
    // munmap at the top gives the pages back to the next mmap, zeroed.
    assert_eq!(guest.call("munmap", &[3 * 65536, 70000]), Ok(Some(0)));
    let again = guest.call("mmap", &[0, 100, 3, anonymous, -1, 0]).unwrap();
    assert_eq!(again, Some(3 * 65536));
    assert_eq!(guest.pages(), 5);
    // File mappings are refused; so is growth past the memory's limit.
    assert_eq!(guest.call("mmap", &[0, 100, 1, 0x2, 3, 0]), Ok(Some(-1)));
    assert_eq!(
        guest.call("mmap", &[0, -65536, 3, anonymous, -1, 0]),
        Ok(Some(-1))
    );
}

#[test]
fn a_memory_the_module_does_not_export_grows_too() {
    let wat = r#"(module
        (import "env" "__sbrk" (func $sbrk (param i32) (result i32)))
        (memory 1)
        (func (export "call__sbrk") (param i32) (result i32) local.get 0 call $sbrk))"#;
    let mut guest = Guest::from_wat(wat, FaasmCtx::new());
    let before = guest
        .call("__sbrk", &[0])
        .expect("sbrk(0)")
        .expect("a break");
    assert_eq!(guest.call("__sbrk", &[65536]), Ok(Some(before)));
    assert_eq!(guest.call("__sbrk", &[0]), Ok(Some(before + 65536)));
}

#[test]
fn a_fresh_context_per_call() {
    let mut guest = Guest::new(FaasmCtx::new().with_input(b"first".to_vec()));
    assert_eq!(guest.call("__faasm_read_input", &[0, 0]), Ok(Some(5)));
    guest.call("__faasm_write_output", &[32, 7]).unwrap();
    let old = guest
        .faasm
        .replace(FaasmCtx::new().with_input(b"second call".to_vec()));
    assert_eq!(old.output(), b"payload");
    assert_eq!(guest.call("__faasm_read_input", &[0, 0]), Ok(Some(11)));
    assert_eq!(guest.faasm.lock().output(), b"");
    assert_eq!(ENV_MODULE, "env");
}
