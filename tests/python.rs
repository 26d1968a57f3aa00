//! Python functions on our CPython for wasm32-wasi (`python/build.sh`, which `tests/run.sh`
//! runs first; the tests fail, naming the script, if its output is missing): uploads into a
//! function store, Proto-Faaslets with the source imported, and calls through the in-process
//! scheduler (and one through `faasm-run`), covering input and output, the standard library,
//! chaining Python entries and functions of other languages, awaiting outputs, state and a
//! shared state view, tracebacks, timeouts and the memory limit.
#![forbid(unsafe_code)]

#[path = "chain_guests/mod.rs"]
mod chain_guests;
#[path = "support/python.rs"]
mod python;

use chain_guests::{leaf_wat, parent_wat};
use faasm_runtime::{Config, Engine, Module};
use faasm_scheduler::functions::{self, StoreSource};
use faasm_scheduler::modules::Log;
use faasm_scheduler::python::PythonRuntime;
use faasm_scheduler::{
    CallRequest, CallResult, Error, Failure, Function, FunctionId, FunctionStore, Scheduler,
    SchedulerConfig,
};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const USER: &str = "py";

/// The runtime `python/build.sh` wrote.
fn runtime() -> Arc<PythonRuntime> {
    static RUNTIME: OnceLock<Arc<PythonRuntime>> = OnceLock::new();
    Arc::clone(RUNTIME.get_or_init(|| {
        let runtime =
            PythonRuntime::open(python::runtime_dir()).unwrap_or_else(|error| panic!("{error}"));
        Arc::new(runtime)
    }))
}

/// An empty function store of its own for `test`.
fn fresh_store(test: &str) -> FunctionStore {
    let dir = std::env::temp_dir().join(format!("faasm-python-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    FunctionStore::new(dir)
}

/// A store, and a scheduler over it whose source runs its Python functions.
struct Host {
    engine: Engine,
    store: FunctionStore,
    scheduler: Scheduler,
}

impl Host {
    fn new(test: &str, config: SchedulerConfig) -> Host {
        Host::with_engine(test, Engine::default(), config)
    }

    fn with_engine(test: &str, engine: Engine, config: SchedulerConfig) -> Host {
        let store = fresh_store(test);
        let scheduler = Scheduler::with_config(&engine, config).expect("a scheduler");
        let source =
            StoreSource::new(engine.clone(), store.clone(), Log::quiet()).with_python(runtime());
        scheduler.set_source(Arc::new(source));
        Host {
            engine,
            store,
            scheduler,
        }
    }

    /// Uploads Python function `name` with `source`.
    fn upload(&self, name: &str, source: &str) -> Result<Function, Error> {
        let id = FunctionId::new(USER, name).expect("a valid name");
        functions::upload_python(
            &self.engine,
            &self.store,
            &runtime(),
            &id,
            source.as_bytes().to_vec(),
            Path::new(&format!("{name}.py")),
            Duration::from_secs(120),
            Log::quiet(),
        )
        .map(|(function, _)| function)
    }

    /// Registers the WAT function `name`.
    fn register_wat(&self, name: &str, wat: &str) {
        let module = Module::new(&self.engine, &wat::parse_str(wat).expect("valid WAT"))
            .expect("it compiles");
        let function = Function::prepare(&module).expect("it prepares");
        self.scheduler.register(USER, name, function);
    }

    fn invoke(&self, name: &str, input: &[u8]) -> CallResult {
        self.invoke_request(name, CallRequest::with_input(input))
    }

    fn invoke_request(&self, name: &str, request: CallRequest) -> CallResult {
        self.scheduler
            .invoke(USER, name, request)
            .expect("the scheduler takes the call")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.store.dir());
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Panics with everything the call left if it failed.
fn expect_success(result: &CallResult) {
    assert!(
        result.succeeded(),
        "the call failed: {:?}\noutput: {}\nstderr: {}",
        result.failure,
        text(&result.output),
        text(&result.stderr)
    );
}

const ECHO: &str = r#"
import collections, json, math, re
from pyfaasm.core import get_input, set_output

print("imported once")
WORDS = re.compile(r"[a-z]+")

def faasm_main():
    text = get_input().decode()
    counts = collections.Counter(WORDS.findall(text))
    print("called")
    set_output(json.dumps({"words": counts.most_common(2), "pi": round(math.pi, 3)}).encode())
"#;

#[test]
fn a_python_function_reads_its_input_and_sets_its_output_from_its_snapshot() {
    let host = Host::new("echo", SchedulerConfig::default());
    host.upload("echo", ECHO).expect("echo uploads");
    for _ in 0..3 {
        let result = host.invoke("echo", b"b a b c b a");
        expect_success(&result);
        assert_eq!(
            text(&result.output),
            r#"{"words": [["b", 3], ["a", 2]], "pi": 3.142}"#
        );
        // The module's top-level code ran in the zygote, never in a call.
        assert_eq!(text(&result.stdout), "called\n");
    }
}

const FAN_OUT: &str = r#"
from pyfaasm.core import await_call, await_call_output, chain, chain_this_with_input, get_input

def square(data):
    return str(int(data) ** 2)

def checked(data):
    return 0 if data == b"ok" else 3

def faasm_main():
    ids = [chain(square, str(i).encode()) for i in range(6)]
    squares = [await_call_output(i).decode() for i in ids]
    status = [await_call(chain_this_with_input(checked, word)) for word in (b"ok", b"no")]
    wat = await_call_output(chain("wat_leaf", (41).to_bytes(4, "little")))
    return ",".join(squares) + f" {status} {int.from_bytes(wat, 'little')}"
"#;

#[test]
fn python_entries_fan_out_and_python_and_wasm_functions_chain_each_other() {
    let host = Host::new("fan-out", SchedulerConfig::default());
    host.upload("fan_out", FAN_OUT).expect("fan_out uploads");
    host.upload("echo", ECHO).expect("echo uploads");
    host.register_wat("wat_leaf", &leaf_wat());
    host.register_wat("wat_parent", &parent_wat());

    let result = host.invoke("fan_out", b"");
    expect_success(&result);
    assert_eq!(text(&result.output), "0,1,4,9,16,25 [0, 3] 42");

    // Wasm chains Python by name (the input names the callee, NUL-terminated).
    let result = host.invoke("wat_parent", b"echo\0");
    expect_success(&result);
    assert!(
        text(&result.output).starts_with(r#"{"words": []"#),
        "{}",
        text(&result.output)
    );
}

#[test]
fn a_call_names_its_python_entry_and_bad_entries_are_refused() {
    let host = Host::new("entries", SchedulerConfig::default());
    host.upload("fan_out", FAN_OUT).expect("fan_out uploads");
    let request = CallRequest {
        py_entry: "square".to_string(),
        ..CallRequest::with_input("12")
    };
    let result = host.invoke_request("fan_out", request);
    expect_success(&result);
    assert_eq!(text(&result.output), "144");

    let missing = CallRequest {
        py_entry: "nowhere".to_string(),
        ..CallRequest::default()
    };
    let result = host.invoke_request("fan_out", missing);
    assert_eq!(result.failure, Some(Failure::Exit(1)));
    assert!(
        text(&result.output).contains("LookupError: the function defines no nowhere()"),
        "{}",
        text(&result.output)
    );

    // A guest that chains an entry that is no identifier traps with the reason.
    host.upload(
        "bad_entry",
        "import faasm\ndef faasm_main():\n    faasm.chain_this('not-a-name')\n",
    )
    .expect("bad_entry uploads");
    let result = host.invoke("bad_entry", b"");
    match &result.failure {
        Some(Failure::Trap { trap, .. }) => {
            assert!(trap.to_string().contains("is not a Python entry"), "{trap}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

const SHARED_STATE: &str = r#"
import faasm

def reader():
    view = faasm.state_view("shared", 16)
    return bytes(view[:4])

def faasm_main():
    faasm.set_state("plain", b"0123456789")
    faasm.append_state("log", b"ab")
    faasm.append_state("log", b"cd")
    view = faasm.state_view("shared", 16)
    view[0:4] = b"seen"
    # A second call runs while this one waits: it maps the same value.
    from_reader = faasm.await_call_output(faasm.chain_this("reader"))
    return b"|".join([
        faasm.get_state("plain", 10),
        faasm.get_state_offset("plain", 10, 2, 3),
        faasm.read_appended_state("log", 4, 2),
        from_reader,
    ])
"#;

#[test]
fn state_values_appends_and_a_shared_view_seen_by_a_concurrent_call() {
    let config = SchedulerConfig {
        workers: 2,
        ..SchedulerConfig::default()
    };
    let host = Host::new("state", config);
    host.upload("state", SHARED_STATE).expect("state uploads");
    let result = host.invoke("state", b"");
    expect_success(&result);
    assert_eq!(text(&result.output), "0123456789|234|abcd|seen");

    // Bad arguments are Python exceptions, raised before the host is asked.
    host.upload(
        "bad_state",
        "import faasm\ndef faasm_main():\n    faasm.get_state_offset('plain', 10, 8, 5)\n",
    )
    .expect("bad_state uploads");
    let result = host.invoke("bad_state", b"");
    assert_eq!(result.failure, Some(Failure::Exit(1)));
    assert!(
        text(&result.output).contains("ValueError: chunk [8, 8 + 5) is outside"),
        "{}",
        text(&result.output)
    );
}

#[test]
fn an_exception_fails_the_call_with_its_traceback() {
    let host = Host::new("traceback", SchedulerConfig::default());
    let source = "def helper(x):\n    raise ValueError(f'bad input {x!r}')\n\ndef faasm_main(data):\n    helper(data)\n";
    host.upload("fails", source).expect("fails uploads");
    let result = host.invoke("fails", b"xyz");
    assert_eq!(result.failure, Some(Failure::Exit(1)));
    let traceback = text(&result.output);
    for line in [
        "Traceback (most recent call last):",
        "File \"/function/function.py\", line 5, in faasm_main",
        "File \"/function/function.py\", line 2, in helper",
        "ValueError: bad input b'xyz'",
    ] {
        assert!(traceback.contains(line), "no `{line}` in\n{traceback}");
    }
    assert!(!traceback.contains("bootstrap"), "{traceback}");
    assert_eq!(text(&result.stderr), traceback);
    // The Faaslet was reset: the next call is fine.
    host.upload("echo", ECHO).expect("echo uploads");
    expect_success(&host.invoke("echo", b"a"));
}

#[test]
fn an_exception_at_import_fails_the_upload_with_its_traceback() {
    let host = Host::new("import-error", SchedulerConfig::default());
    let error = host
        .upload("broken", "import json\nCONFIG = json.loads('{oops')\n")
        .expect_err("the import fails");
    let message = error.to_string();
    assert!(
        message.contains("json.decoder.JSONDecodeError") && message.contains("function.py"),
        "{message}"
    );
    assert!(
        host.store
            .python_source_dir(&FunctionId::new(USER, "broken").expect("id"))
            .is_none(),
        "a failed upload stores nothing"
    );
}

#[test]
fn an_infinite_loop_ends_at_the_deadline() {
    let host = Host::new("loop", SchedulerConfig::default());
    host.upload("spin", "def faasm_main():\n    while True:\n        pass\n")
        .expect("spin uploads");
    let request = CallRequest {
        timeout: Some(Duration::from_millis(300)),
        ..CallRequest::default()
    };
    let result = host.invoke_request("spin", request);
    assert!(
        matches!(result.failure, Some(Failure::Timeout(_))),
        "{:?}",
        result.failure
    );
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let engine = Engine::new(Config {
        max_memory_pages: 4096,
        ..Config::default()
    })
    .expect("an engine with 256 MiB memories");
    let host = Host::with_engine("bomb", engine, SchedulerConfig::default());
    let bomb = "def faasm_main():\n    chunks = []\n    while True:\n        chunks.append(bytearray(8 << 20))\n";
    host.upload("bomb", bomb).expect("bomb uploads");
    let result = host.invoke("bomb", b"");
    assert_eq!(result.failure, Some(Failure::Exit(1)));
    assert!(
        text(&result.output).contains("MemoryError"),
        "{}",
        text(&result.output)
    );
    host.upload("echo", ECHO).expect("echo uploads");
    expect_success(&host.invoke("echo", b"still fine"));
}

#[test]
fn a_python_function_without_a_runtime_is_refused_by_name() {
    let host = Host::new("no-runtime", SchedulerConfig::default());
    host.upload("echo", ECHO).expect("echo uploads");
    let id = FunctionId::new(USER, "echo").expect("id");
    let error = functions::load_function(&host.engine, &host.store, &id, Log::quiet())
        .expect_err("no runtime");
    assert!(
        error.to_string().contains("it is a Python function"),
        "{error}"
    );
}

#[test]
fn faasm_run_uploads_and_invokes_a_python_file() {
    let store = fresh_store("cli");
    let source = store.dir().with_extension("py");
    std::fs::create_dir_all(store.dir()).expect("store dir");
    std::fs::write(&source, ECHO).expect("source");
    let faasm_run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_faasm-run"))
            .args(args)
            .arg("--store")
            .arg(store.dir())
            .arg("--python")
            .arg(runtime().dir())
            .output()
            .expect("faasm-run runs")
    };
    let upload = faasm_run(&["upload", "py/echo", source.to_str().expect("UTF-8 path")]);
    assert!(upload.status.success(), "{upload:?}");
    assert!(text(&upload.stdout).contains("uploaded Python function py/echo"));
    let invoke = faasm_run(&["invoke", "py/echo", "--input", "x y y"]);
    assert!(invoke.status.success(), "{invoke:?}");
    // The guest's own stdout is passed through, then the output.
    assert_eq!(
        text(&invoke.stdout),
        "called\n{\"words\": [[\"y\", 2], [\"x\", 1]], \"pi\": 3.142}"
    );
    let _ = std::fs::remove_dir_all(store.dir());
    let _ = std::fs::remove_file(&source);
}

/// The summary `functions/python/matmul.py` answers for SIZE, computed here.
fn matmul_summary(size: usize) -> String {
    let a = |i: usize, j: usize| ((i * 7 + j * 3) % 11) as f64 - 5.0;
    let b = |i: usize, j: usize| (((i * 5 + j) % 13) as f64 - 6.0) / 4.0;
    let c = |i: usize, j: usize| (0..size).map(|k| a(i, k) * b(k, j)).sum::<f64>();
    let total: f64 = (0..size)
        .flat_map(|i| (0..size).map(move |j| (i, j)))
        .map(|(i, j)| c(i, j))
        .sum();
    let trace: f64 = (0..size).map(|i| c(i, i)).sum();
    format!(
        "{size}x{size}: sum {total:.2}, trace {trace:.2}, c[0][{}] {:.2}",
        size - 1,
        c(0, size - 1)
    )
}

#[test]
fn the_matrix_example_gives_the_same_answer_for_1_2_and_4_workers() {
    let config = SchedulerConfig {
        workers: 2,
        ..SchedulerConfig::default()
    };
    let host = Host::new("matmul", config);
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/python/matmul.py"),
    )
    .expect("functions/python/matmul.py");
    host.upload("matmul", &source).expect("matmul uploads");
    let expected = matmul_summary(24);
    for workers in [1, 2, 4] {
        let result = host.invoke("matmul", format!("24 {workers}").as_bytes());
        expect_success(&result);
        assert_eq!(text(&result.output), expected, "{workers} workers");
    }
    let result = host.invoke("matmul", b"24 0");
    assert_eq!(result.failure, Some(Failure::Exit(1)));
    assert!(
        text(&result.output).contains("ValueError"),
        "{}",
        text(&result.output)
    );
}

#[test]
fn a_python_function_reads_the_stores_shared_files() {
    let host = Host::new("shared-files", SchedulerConfig::default());
    let files = host.store.shared_files();
    let dir = files.create_dir().expect("the shared files' directory");
    std::fs::create_dir_all(dir.join("data")).expect("data/");
    std::fs::write(dir.join("data/x.txt"), "shared bytes").expect("data/x.txt");
    host.upload(
        "reader",
        "def faasm_main():\n    with open('faasm://data/x.txt') as f:\n        return f.read()\n",
    )
    .expect("reader uploads");
    let result = host.invoke("reader", b"");
    expect_success(&result);
    assert_eq!(text(&result.output), "shared bytes");
}
