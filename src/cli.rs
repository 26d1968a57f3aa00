//! The `faasm-run` command line, and the parsers of its option values (each error says what
//! was expected).

use clap::{Args, Parser, Subcommand, ValueEnum};
use faasm_jit::{MAX_WASM_PAGES, WASM_PAGE_SIZE};
use faasm_runtime::{Engine, MemoryStrategy};
use faasm_scheduler::modules::Log;
pub use faasm_scheduler::wasi::{DirMapping, EnvVar};
use faasm_scheduler::{ChainLimits, Error, FunctionId, StateLimits, instance};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Runs WebAssembly modules with faasm-rs's own Cranelift JIT.
///
/// `faasm-run [OPTIONS] FILE [ARGS]...` runs the module's `_start` (a WASI command) with
/// `FILE ARGS...` as its arguments, or with `--invoke` calls an export with typed ARGS and
/// prints its results. FILE is a `.wasm` or `.wat` module or an artifact from
/// `faasm-run compile`. Compiled code is cached (see `--cache-dir`): a second run of the same
/// module compiles nothing.
#[derive(Debug, Parser)]
#[command(
    name = "faasm-run",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status: the module's proc_exit code; 134 when it traps (like an abort); \
                  1 for other errors; 2 for a bad command line."
)]
pub struct Cli {
    /// Instead of running a module: compile it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of a run.
    #[command(flatten)]
    pub run: RunOptions,
}

/// Subcommands. Each one's options are defined only when it is the one given (`defer`): a
/// plain run (`faasm-run FILE`) otherwise built the options of all six, 34 of its page faults
/// (see the README's start-up section). The option structs of subcommands, and those they
/// flatten, carry plain comments, not doc comments: clap takes a struct's doc comment as help
/// text of the command it is added to, and a deferred subcommand's structs are added last,
/// replacing the variant's text below (`deferred_subcommands_keep_their_help_text`).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Compiles FILE to an artifact that `faasm-run` runs without compiling.
    Compile(CompileOptions),
    /// Initialises FILE (`__wasm_call_ctors` or `_initialize`, then `_faasm_zygote`) and writes
    /// its state as a snapshot that `faasm-run --snapshot` starts from.
    Snapshot(SnapshotOptions),
    /// Validates and compiles FILE, checks that it links against WASI and the Faasm `env`
    /// interface, prepares its Proto-Faaslet and stores all three as function USER/FUNC.
    Upload(UploadOptions),
    /// Calls function USER/FUNC of the store (and whatever it chains), prints its output and
    /// exits with its return value.
    Invoke(InvokeOptions),
    /// Reads, writes or deletes a state value of the global tier (the store's embedded tier, or
    /// `--state redis://...`): input data for functions, their results.
    State(StateOptions),
    /// Runs a host: the functions of the store behind an HTTP API (Faasm's upload and planner
    /// endpoints, a synchronous invoke, state, metrics) until SIGINT or SIGTERM.
    Serve(ServeOptions),
}

// `faasm-run serve [--listen ADDR] [--store DIR] [--workers N] [--state URL] ...`.
#[derive(Debug, Args)]
pub struct ServeOptions {
    /// The address to listen on (port 0: a free port; the address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The function store.
    #[command(flatten)]
    pub store: StoreOptions,
    /// Calls executing guest code at once.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// The global tier of state: `redis://HOST:PORT` [default: the store's embedded tier,
    /// persistent and shared by the processes using the store].
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// Wall-clock limit of every call, e.g. `500ms`, `10s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Wall-clock limit of a module's initialisation at upload.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub init_timeout: Duration,
    /// The largest request body (module, input, state value), e.g. `16MiB`.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_bytes)]
    pub max_body: u64,
    /// Calls admitted at once (queued or running); more are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// How log lines (one per request) are written on stderr.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Per-user limits of chaining and state.
    #[command(flatten)]
    pub limits: LimitOptions,
    /// Join the cluster of hosts on this Redis server (`redis://HOST:PORT`): register this
    /// host (`GET /cluster` lists the live ones), share its uploads, and fetch functions
    /// uploaded on other hosts at their first call here. `--state` defaults to it.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This host's lease in the cluster: renewed every third of it; a host that stops
    /// renewing it (killed, cut off) drops out when it lapses.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "3s",
          requires = "cluster")]
    pub cluster_lease: Duration,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line.
    Json,
}

// `faasm-run state put|get|delete USER/KEY ... --state URL`.
#[derive(Debug, Args)]
pub struct StateOptions {
    /// What to do.
    #[command(subcommand)]
    pub action: StateAction,
    /// The global tier: `redis://HOST:PORT` [default: the store's embedded tier].
    #[arg(long, value_name = "URL", global = true, conflicts_with = "server")]
    pub state: Option<String>,
    /// The function store whose embedded tier is used without `--state` [default: as for
    /// `invoke`].
    #[arg(
        long = "store",
        value_name = "DIR",
        global = true,
        conflicts_with = "server"
    )]
    pub store: Option<PathBuf>,
    /// A running host (`faasm-run serve`) whose global tier to use, e.g.
    /// `http://127.0.0.1:8080`.
    #[arg(long, value_name = "URL", global = true)]
    pub server: Option<String>,
}

// A state operation on one value, named `USER/KEY` (functions of USER name it KEY).
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Sets the value to the bytes of FILE (`-`: standard input), replacing it whole.
    Put {
        /// The value.
        #[arg(value_name = "USER/KEY")]
        key: String,
        /// Where the bytes come from.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Writes the value to standard output (or `--output`); fails if there is none.
    Get {
        /// The value.
        #[arg(value_name = "USER/KEY")]
        key: String,
        /// Write it to this file instead.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Deletes the value (not its append list); deleting an absent value is not an error.
    Delete {
        /// The value.
        #[arg(value_name = "USER/KEY")]
        key: String,
    },
}

// `faasm-run upload USER/FUNC FILE [--store DIR]`.
#[derive(Debug, Args)]
pub struct UploadOptions {
    /// The function's name: its user (the namespace of its chained calls) and its name.
    #[arg(value_name = "USER/FUNC")]
    pub function: FunctionId,
    /// The module (`.wasm` or `.wat`), or a Python function's source (`.py`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The function store.
    #[command(flatten)]
    pub store: StoreOptions,
    /// Upload to this running host (`faasm-run serve`) instead, e.g. `http://127.0.0.1:8080`:
    /// it compiles, prepares and stores the module with its own settings.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Wall-clock limit of the module's initialisation (`_initialize` or
    /// `__wasm_call_ctors`, then `_faasm_zygote`), e.g. `500ms`, `10s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Limit every linear memory to this size, e.g. `64MiB`, `4GiB` (rounded down to 64 KiB
    /// pages).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size)]
    pub max_memory: Option<MemoryPages>,
    /// Compiler settings (`invoke` loads the stored code only under the same ones; otherwise
    /// it compiles the module again).
    #[command(flatten)]
    pub engine: EngineOptions,
}

// `faasm-run invoke USER/FUNC [--input TEXT | --input-file F] [--cmdline ARGS] ...`.
#[derive(Debug, Args)]
pub struct InvokeOptions {
    /// The function to call.
    #[arg(value_name = "USER/FUNC")]
    pub function: FunctionId,
    /// The call's input (what `__faasm_read_input` reads) [default: empty].
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "input_file",
        allow_hyphen_values = true
    )]
    pub input: Option<OsString>,
    /// Read the call's input from this file.
    #[arg(long, value_name = "F")]
    pub input_file: Option<PathBuf>,
    /// The guest's arguments after `argv[0]` (the function's name), split at whitespace.
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub cmdline: String,
    /// Enter at this function-table index instead of `_start` (0: `_start`).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub func_ptr: i32,
    /// Wall-clock limit of the call and of each call it chains, e.g. `500ms`, `10s`, `2m`
    /// [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Calls executing guest code at once.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// The function store.
    #[command(flatten)]
    pub store: StoreOptions,
    /// Call the function on this running host (`faasm-run serve`) instead, e.g.
    /// `http://127.0.0.1:8080`: only the input is sent (the host's settings apply), and
    /// `--timeout` bounds the wait for the answer.
    #[arg(long, value_name = "URL", conflicts_with_all = ["cmdline", "func_ptr", "state"])]
    pub server: Option<String>,
    /// The global tier of state: `redis://HOST:PORT` for a Redis server shared by hosts
    /// [default: the store's embedded tier, persistent and shared by the processes using the
    /// store].
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// Limit every linear memory to this size, e.g. `64MiB`, `4GiB` (rounded down to 64 KiB
    /// pages).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size)]
    pub max_memory: Option<MemoryPages>,
    /// Per-user limits of chaining and state.
    #[command(flatten)]
    pub limits: LimitOptions,
    /// Compiler settings (those of the upload, or the stored module is compiled again).
    #[command(flatten)]
    pub engine: EngineOptions,
}

// Per-user limits of `invoke` (every user gets the same): a call that passes one traps with
// a message naming it.
#[derive(Debug, Clone, Args)]
pub struct LimitOptions {
    /// Levels of chained calls below the invoked call.
    #[arg(long, value_name = "N", default_value_t = ChainLimits::default().max_chain_depth)]
    pub max_chain_depth: u32,
    /// Calls one call may chain.
    #[arg(long, value_name = "N",
          default_value_t = ChainLimits::default().max_chained_per_call)]
    pub max_chained_per_call: u32,
    /// Calls of the invocation in all (chained ones included).
    #[arg(long, value_name = "N",
          default_value_t = ChainLimits::default().max_calls_per_invocation)]
    pub max_calls_per_invocation: usize,
    /// Chained calls of one user waiting to start.
    #[arg(long, value_name = "N",
          default_value_t = ChainLimits::default().max_queued_per_user)]
    pub max_queued_per_user: usize,
    /// Bytes of the inputs of one user's chained calls waiting to start, e.g. `512MiB`.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_bytes)]
    pub max_queued_bytes: u64,
    /// The largest state value (and appended element), e.g. `64MiB`.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_state_value: u64,
    /// State values one user may hold on this host.
    #[arg(long, value_name = "N",
          default_value_t = StateLimits::default().max_keys_per_user)]
    pub max_state_keys: usize,
    /// Bytes of state one user may hold on this host (sizes rounded up to pages), and in the
    /// in-process global tier (without `--state`).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_bytes)]
    pub max_state_bytes: u64,
    /// State values on this host in all (each holds a file descriptor; unused ones are
    /// evicted, least recently used first, to make room).
    #[arg(long, value_name = "N",
          default_value_t = StateLimits::default().max_resident_values)]
    pub max_resident_values: usize,
}

impl LimitOptions {
    /// The chaining limits.
    pub fn chain_limits(&self) -> ChainLimits {
        ChainLimits {
            max_chain_depth: self.max_chain_depth,
            max_chained_per_call: self.max_chained_per_call,
            max_calls_per_invocation: self.max_calls_per_invocation,
            max_queued_per_user: self.max_queued_per_user,
            max_queued_bytes_per_user: usize::try_from(self.max_queued_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The state tier's limits.
    pub fn state_limits(&self) -> StateLimits {
        let bytes = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        StateLimits {
            max_value_bytes: bytes(self.max_state_value),
            max_keys_per_user: self.max_state_keys,
            max_bytes_per_user: bytes(self.max_state_bytes),
            max_resident_values: self.max_resident_values,
        }
    }
}

// Where the function store is.
#[derive(Debug, Clone, Args)]
pub struct StoreOptions {
    /// The function store's directory [default: $FAASM_STORE_DIR, else
    /// $XDG_DATA_HOME/faasm-rs/functions, else ~/.local/share/faasm-rs/functions].
    #[arg(long = "store", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The Python runtime that runs Python functions: the directory `python/build.sh` writes
    /// [default: $FAASM_PYTHON_DIR; without either, Python functions cannot run].
    #[arg(long = "python", value_name = "DIR")]
    pub python: Option<PathBuf>,
}

// `faasm-run snapshot FILE [-o OUT]`.
#[derive(Debug, Args)]
pub struct SnapshotOptions {
    /// The module: `.wasm` or `.wat`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the snapshot [default: FILE with the extension `.snap`].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Wall-clock limit of the module's initialisation (`_initialize` or
    /// `__wasm_call_ctors`, then `_faasm_zygote`), e.g. `500ms`, `10s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Compiler settings (a snapshot only restores under the same ones).
    #[command(flatten)]
    pub engine: EngineOptions,
}

// `faasm-run compile FILE [-o OUT]`.
#[derive(Debug, Args)]
pub struct CompileOptions {
    /// The module: `.wasm` or `.wat`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the artifact [default: FILE with the extension `.cwasm`].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Compiler settings.
    #[command(flatten)]
    pub engine: EngineOptions,
}

// Settings that decide the compiled code (part of the cache key).
#[derive(Debug, Clone, Args)]
pub struct EngineOptions {
    /// How linear memories are protected: `guard` regions (no bounds checks) or explicit
    /// `bounded` checks.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = Strategy::Guard)]
    pub memory_strategy: Strategy,
    /// Say on stderr how the module was obtained (compiled, or loaded from the cache) and how
    /// long it took.
    #[arg(short, long)]
    pub verbose: bool,
}

impl EngineOptions {
    /// The engine for these settings (and `--max-memory`, in pages, if given).
    pub fn engine(&self, max_memory_pages: Option<u64>) -> Result<Engine, Error> {
        let memory_strategy = match self.memory_strategy {
            Strategy::Guard => MemoryStrategy::default(),
            Strategy::Bounded => MemoryStrategy::Bounded,
        };
        instance::engine(memory_strategy, max_memory_pages)
    }

    /// Where the host's account of what it did goes: stderr under `--verbose`, else nowhere.
    pub fn log(&self) -> Log {
        if self.verbose {
            Log::to(say_on_stderr)
        } else {
            Log::quiet()
        }
    }
}

/// `faasm-run: <line>` on stderr.
fn say_on_stderr(line: &str) {
    eprintln!("faasm-run: {line}");
}

/// `--memory-strategy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// 4 GiB reservation plus guard regions: accesses need no bounds checks.
    Guard,
    /// Reservation of the declared maximum; every access checked.
    Bounded,
}

/// `faasm-run [OPTIONS] FILE [ARGS]...`.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Pre-open host directory HOST for the guest, as GUEST (default: HOST).
    #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = parse_dir)]
    pub dirs: Vec<DirMapping>,
    /// Set an environment variable for the guest; `NAME` alone passes the host's value.
    #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = parse_env)]
    pub envs: Vec<EnvVar>,
    /// Call this export with ARGS parsed by its parameter types and print its results.
    #[arg(long, value_name = "NAME")]
    pub invoke: Option<String>,
    /// Stop the call after this long, e.g. `500ms`, `10s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Limit every linear memory to this size, e.g. `64MiB`, `4GiB` (rounded down to 64 KiB
    /// pages).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size)]
    pub max_memory: Option<MemoryPages>,
    /// Cache directory [default: $FAASM_CACHE_DIR, else $XDG_CACHE_HOME/faasm-rs, else
    /// ~/.cache/faasm-rs].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the cache: always compile.
    #[arg(long)]
    pub no_cache: bool,
    /// Print the nanoseconds between the module's `bench.start` and `bench.end` calls on
    /// stderr.
    #[arg(long)]
    pub bench_report: bool,
    /// Start from this snapshot of FILE (from `faasm-run snapshot`) instead of instantiating
    /// and initialising it.
    #[arg(long, value_name = "SNAP")]
    pub snapshot: Option<PathBuf>,
    /// Run the call N times from one Proto-Faaslet, resetting it to the snapshot after each
    /// (without `--snapshot`, the snapshot is made in this process first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub calls: Option<u32>,
    /// Compiler settings.
    #[command(flatten)]
    pub engine: EngineOptions,
    /// The module, then the arguments of the guest (or of `--invoke`'s function).
    #[arg(value_name = "FILE [ARGS]", required = true, trailing_var_arg = true)]
    pub file_and_args: Vec<OsString>,
}

/// A `--max-memory` value in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPages(pub u64);

/// `HOST[::GUEST]`.
pub fn parse_dir(text: &str) -> Result<DirMapping, String> {
    let (host, guest) = match text.split_once("::") {
        Some((host, guest)) => (host, guest),
        None => (text, text),
    };
    if host.is_empty() || guest.is_empty() {
        return Err("expected HOST or HOST::GUEST, with neither empty".to_string());
    }
    Ok(DirMapping {
        host: PathBuf::from(host),
        guest: guest.to_string(),
    })
}

/// `NAME=VALUE` or `NAME`.
pub fn parse_env(text: &str) -> Result<EnvVar, String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (text, None),
    };
    if name.is_empty() {
        return Err("expected NAME=VALUE or NAME, with a non-empty NAME".to_string());
    }
    Ok(EnvVar {
        name: name.to_string(),
        value,
    })
}

/// A number (decimals allowed) and a unit: `ns`, `us`, `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a positive number with a unit: ns, us, ms, s, m or h \
                            (e.g. 500ms, 10s, 2m)";
    let (number, unit) = split_number(text);
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(EXPECTED.to_string()),
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * seconds_per_unit).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| EXPECTED.to_string())
}

/// A whole number of bytes with an optional binary unit (`B`, `KiB`, `MiB`, `GiB`; `K`, `M`,
/// `G` alike), as 64 KiB pages: at least one, at most 4 GiB worth.
pub fn parse_memory_size(text: &str) -> Result<MemoryPages, String> {
    const EXPECTED: &str = "expected a size such as 64MiB or 4GiB (units B, KiB, MiB, GiB)";
    let bytes = parse_bytes(text).map_err(|_| EXPECTED.to_string())?;
    let pages = bytes / WASM_PAGE_SIZE;
    if pages == 0 {
        return Err("must be at least one 64 KiB page".to_string());
    }
    if pages > MAX_WASM_PAGES {
        return Err("must be at most 4GiB, the most a 32-bit memory can address".to_string());
    }
    Ok(MemoryPages(pages))
}

/// A number of bytes with an optional unit: `4096`, `64KiB`, `256MiB`, `1GiB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "expected a size such as 4096, 64KiB, 256MiB or 1GiB";
    let (number, unit) = split_number(text);
    let unit_bytes: u64 = match unit {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(EXPECTED.to_string()),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_bytes))
        .ok_or_else(|| EXPECTED.to_string())
}

/// Splits `12.5ms` into `12.5` and `ms`.
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Subcommands are deferred: once built (as for `faasm-run SUBCOMMAND --help`), each one's
    /// help text is still its variant's, not that of its options struct.
    #[test]
    fn deferred_subcommands_keep_their_help_text() {
        let mut command = Cli::command();
        command.build();
        let about = |name: &str| {
            command
                .find_subcommand(name)
                .and_then(|sub| sub.get_about())
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        assert!(about("compile").starts_with("Compiles FILE to an artifact"));
        assert!(about("snapshot").starts_with("Initialises FILE"));
        assert!(about("upload").starts_with("Validates and compiles FILE"));
        assert!(about("invoke").starts_with("Calls function USER/FUNC"));
        assert!(about("state").starts_with("Reads, writes or deletes a state value"));
        assert!(about("serve").starts_with("Runs a host"));
        let invoke = command.find_subcommand("invoke").expect("invoke");
        assert!(invoke.get_arguments().any(|arg| arg.get_id() == "input"));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "10", "soon", "0s", "-1s", "1.2.3s", "5 s", "3d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_sizes_become_pages() {
        assert_eq!(parse_memory_size("64MiB"), Ok(MemoryPages(1024)));
        assert_eq!(parse_memory_size("4GiB"), Ok(MemoryPages(65536)));
        assert_eq!(parse_memory_size("65536"), Ok(MemoryPages(1)));
        assert_eq!(parse_memory_size("100K"), Ok(MemoryPages(1)));
        for bad in ["", "1KiB", "5GiB", "64 MiB", "64mb", "-1MiB", "1.5GiB"] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dirs_and_envs() {
        assert_eq!(
            parse_dir("/tmp/x::/data"),
            Ok(DirMapping {
                host: "/tmp/x".into(),
                guest: "/data".into()
            })
        );
        assert_eq!(parse_dir(".").map(|d| d.guest), Ok(".".to_string()));
        assert!(parse_dir("::/data").is_err());
        assert_eq!(
            parse_env("A=b=c"),
            Ok(EnvVar {
                name: "A".into(),
                value: Some("b=c".into())
            })
        );
        assert_eq!(parse_env("HOME").map(|e| e.value), Ok(None));
        assert!(parse_env("=x").is_err());
    }

    #[test]
    fn everything_after_the_file_belongs_to_the_guest() {
        let cli = Cli::try_parse_from(["faasm-run", "--invoke", "f", "m.wat", "-5", "--verbose"])
            .expect("parses");
        assert_eq!(cli.run.file_and_args, ["m.wat", "-5", "--verbose"]);
        assert!(!cli.run.engine.verbose);
        let cli = Cli::try_parse_from(["faasm-run", "compile", "m.wat", "-o", "out.cwasm"])
            .expect("parses");
        assert!(matches!(cli.command, Some(Command::Compile(c)) if c.output.is_some()));
        let cli = Cli::try_parse_from(["faasm-run", "snapshot", "m.wat"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Snapshot(s)) if s.output.is_none()));
        assert!(Cli::try_parse_from(["faasm-run", "--calls", "0", "m.wat"]).is_err());
    }

    #[test]
    fn invoke_takes_limits_with_the_libraries_defaults() {
        let parse = |extra: &[&str]| {
            let args = ["faasm-run", "invoke", "a/b"].iter().chain(extra);
            match Cli::try_parse_from(args).expect("parses").command {
                Some(Command::Invoke(invoke)) => invoke.limits,
                other => panic!("not an invoke: {other:?}"),
            }
        };
        let defaults = parse(&[]);
        assert_eq!(defaults.chain_limits(), ChainLimits::default());
        assert_eq!(defaults.state_limits(), StateLimits::default());
        let limits = parse(&[
            "--max-chain-depth",
            "3",
            "--max-chained-per-call",
            "4",
            "--max-calls-per-invocation",
            "5",
            "--max-queued-per-user",
            "6",
            "--max-queued-bytes",
            "7KiB",
            "--max-state-value",
            "1KiB",
            "--max-state-keys",
            "8",
            "--max-state-bytes",
            "2MiB",
            "--max-resident-values",
            "9",
        ]);
        assert_eq!(
            limits.chain_limits(),
            ChainLimits {
                max_chain_depth: 3,
                max_chained_per_call: 4,
                max_calls_per_invocation: 5,
                max_queued_per_user: 6,
                max_queued_bytes_per_user: 7 << 10,
            }
        );
        assert_eq!(
            limits.state_limits(),
            StateLimits {
                max_value_bytes: 1 << 10,
                max_keys_per_user: 8,
                max_bytes_per_user: 2 << 20,
                max_resident_values: 9,
            }
        );
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("1TiB").is_err());
        assert!(parse_bytes("99999999999GiB").is_err());
    }

    #[test]
    fn upload_and_invoke_name_a_function() {
        let cli = Cli::try_parse_from(["faasm-run", "upload", "alice/echo", "echo.wasm"])
            .expect("parses");
        let Some(Command::Upload(upload)) = cli.command else {
            panic!("not an upload: {cli:?}");
        };
        assert_eq!(upload.function.to_string(), "alice/echo");
        assert_eq!(upload.store.dir, None);
        let cli = Cli::try_parse_from([
            "faasm-run",
            "invoke",
            "alice/echo",
            "--input",
            "-5",
            "--cmdline",
            "-v x",
            "--func-ptr",
            "3",
            "--timeout",
            "2s",
            "--store",
            "/tmp/s",
            "--workers",
            "4",
        ])
        .expect("parses");
        let Some(Command::Invoke(invoke)) = cli.command else {
            panic!("not an invoke: {cli:?}");
        };
        assert_eq!(invoke.input.as_deref(), Some(std::ffi::OsStr::new("-5")));
        assert_eq!(invoke.cmdline, "-v x");
        assert_eq!(invoke.func_ptr, 3);
        assert_eq!(invoke.timeout, Some(Duration::from_secs(2)));
        assert_eq!(invoke.store.dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(invoke.workers, 4);
        for bad in [
            &["faasm-run", "invoke", "echo"][..],
            &["faasm-run", "invoke", "a/../b"],
            &[
                "faasm-run",
                "invoke",
                "a/b",
                "--input",
                "x",
                "--input-file",
                "f",
            ],
            &["faasm-run", "invoke", "a/b", "--func-ptr", "-1"],
            &["faasm-run", "invoke", "a/b", "--workers", "0"],
            &["faasm-run", "upload", "a/b"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
