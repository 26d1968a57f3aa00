//! `faasm-run`: compiles one WebAssembly module with faasm-rs's JIT, instantiates it and calls
//! one of its exported functions.
//!
//! ```text
//! faasm-run [--invoke NAME] [--bounded] [--timeout SECS] FILE [ARGS...]
//! ```
//!
//! `FILE` is a text (`.wat`) or binary (`.wasm`) module. Without `--invoke` the module's `_start`
//! is called if it exports one. `ARGS` are parsed by the function's parameter types (decimal
//! integers and floats) and each result is printed on its own line. `--bounded` selects the
//! bounds-checked memory strategy instead of guard regions; `--timeout` ends a runaway call.
//! Any error is one line `faasm-run: <what>` on stderr and exit status 1; a guest's `exit(n)`
//! exits with `n`.
#![forbid(unsafe_code)]

use anyhow::{Context, Result, anyhow, bail};
use faasm_runtime::{
    CompilerConfig, Config, Engine, Extern, Func, FuncType, Instance, Linker, MemoryStrategy,
    Module, Store, Trap, Val, ValType,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use std::{env, fs};

const USAGE: &str = "usage: faasm-run [--invoke NAME] [--bounded] [--timeout SECS] FILE [ARGS...]";

/// What the command line asks for.
#[derive(Debug, Default)]
struct Options {
    invoke: Option<String>,
    bounded: bool,
    timeout: Option<Duration>,
    file: PathBuf,
    args: Vec<String>,
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|options| match options {
        Some(options) => run(&options),
        None => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
    });
    result.unwrap_or_else(|error| {
        // `{:#}` joins the context chain on one line; wasmparser messages may still hold newlines.
        eprintln!("faasm-run: {}", format!("{error:#}").replace('\n', " "));
        ExitCode::FAILURE
    })
}

/// Parses the command line; `None` asks for the usage text. Options come before `FILE`, and
/// everything after it is an argument of the function (so `-5` needs no escaping).
fn parse_args() -> Result<Option<Options>> {
    let args = env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| anyhow!("argument {arg:?} is not UTF-8"))
        })
        .collect::<Result<Vec<String>>>()?;
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value_of = |flag: &str| {
            args.next()
                .ok_or_else(|| anyhow!("{flag} needs a value ({USAGE})"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--invoke" => options.invoke = Some(value_of("--invoke")?),
            "--bounded" => options.bounded = true,
            "--timeout" => options.timeout = Some(parse_timeout(&value_of("--timeout")?)?),
            "--" => {
                options.file = value_of("--")?.into();
                break;
            }
            flag if flag.starts_with('-') && flag.len() > 1 => {
                bail!("unknown option {flag} ({USAGE})")
            }
            _ => {
                options.file = arg.into();
                break;
            }
        }
    }
    if options.file.as_os_str().is_empty() {
        bail!("no FILE given ({USAGE})");
    }
    options.args = args.collect();
    Ok(Some(options))
}

fn parse_timeout(text: &str) -> Result<Duration> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| anyhow!("--timeout needs a positive number of seconds, got `{text}`"))
}

/// Compiles, instantiates, calls and prints the results.
fn run(options: &Options) -> Result<ExitCode> {
    let file = options.file.display();
    let wasm = read_module(&options.file)?;
    let engine = Engine::new(config(options.bounded)).context("cannot create the engine")?;
    let module = Module::new(&engine, &wasm).with_context(|| format!("{file}"))?;
    let mut store = Store::new(&engine);
    store.set_timeout(options.timeout);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .with_context(|| format!("cannot instantiate {file}"))?;
    let Some((name, func)) = function_to_call(&store, instance, options.invoke.as_deref())? else {
        return Ok(ExitCode::SUCCESS);
    };
    let params = parse_params(&func.ty(&store), name, &options.args)?;
    match func.call(&mut store, &params) {
        Ok(results) => {
            results
                .iter()
                .for_each(|value| println!("{}", format_value(value)));
            Ok(ExitCode::SUCCESS)
        }
        // The guest asked to exit: its status is ours (clamped to what a process can return).
        Err(Trap::Exit(status)) => Ok(ExitCode::from(u8::try_from(status).unwrap_or(1))),
        Err(trap) => bail!("`{name}` trapped: {trap}"),
    }
}

fn config(bounded: bool) -> Config {
    let memory_strategy = if bounded {
        MemoryStrategy::Bounded
    } else {
        MemoryStrategy::default()
    };
    Config {
        compiler: CompilerConfig {
            memory_strategy,
            ..CompilerConfig::default()
        },
        ..Config::default()
    }
}

/// Reads `path` as a binary module, or as text to be assembled: by extension, or for another
/// extension by whether it starts with the binary magic number.
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_text = match path.extension().and_then(|ext| ext.to_str()) {
        Some("wat") => true,
        Some("wasm") => false,
        _ => !bytes.starts_with(b"\0asm"),
    };
    if is_text {
        assemble(path, &bytes)
    } else {
        Ok(bytes)
    }
}

/// The text format to binary. `wast` (the parser behind the `wat` crate) is used directly so a
/// syntax error becomes one `file:line:col: message` line.
fn assemble(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    let syntax_error = |error: wast::Error| {
        let (line, col) = error.span().linecol_in(text);
        anyhow!(
            "{}:{}:{}: {}",
            path.display(),
            line + 1,
            col + 1,
            error.message()
        )
    };
    let buffer = wast::parser::ParseBuffer::new(text).map_err(syntax_error)?;
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buffer).map_err(syntax_error)?;
    wat.encode().map_err(syntax_error)
}

/// The export to call: `--invoke`'s, or `_start` if there is one. `None`: nothing to call.
fn function_to_call<'n>(
    store: &Store,
    instance: Instance,
    invoke: Option<&'n str>,
) -> Result<Option<(&'n str, Func)>> {
    let Some(name) = invoke else {
        return Ok(instance
            .get_func(store, "_start")
            .map(|func| ("_start", func)));
    };
    match instance.get_export(store, name) {
        Some(Extern::Func(func)) => Ok(Some((name, func))),
        Some(_) => bail!("export `{name}` is not a function"),
        None => bail!("no export named `{name}`"),
    }
}

/// Parses the command-line arguments by the function's parameter types.
fn parse_params(ty: &FuncType, name: &str, args: &[String]) -> Result<Vec<Val>> {
    if args.len() != ty.params.len() {
        let types: Vec<String> = ty.params.iter().map(ValType::to_string).collect();
        bail!(
            "`{name}` takes {} argument(s) ({}), got {}",
            ty.params.len(),
            types.join(" "),
            args.len()
        );
    }
    ty.params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (&ty, arg))| {
            parse_value(ty, arg).with_context(|| format!("argument {} of `{name}`", i + 1))
        })
        .collect()
}

/// One argument. Integers may also be given unsigned (`4294967295` is the i32 `-1`), as Wasm
/// integers have no sign of their own.
fn parse_value(ty: ValType, text: &str) -> Result<Val> {
    let value = match ty {
        ValType::I32 => (text.parse::<i32>().ok())
            .or_else(|| text.parse::<u32>().ok().map(|n| n as i32))
            .map(Val::I32),
        ValType::I64 => (text.parse::<i64>().ok())
            .or_else(|| text.parse::<u64>().ok().map(|n| n as i64))
            .map(Val::I64),
        ValType::F32 => text.parse::<f32>().ok().map(|f| Val::F32(f.to_bits())),
        ValType::F64 => text.parse::<f64>().ok().map(|f| Val::F64(f.to_bits())),
        other => bail!("a {other} parameter cannot be given on the command line"),
    };
    value.ok_or_else(|| anyhow!("`{text}` is not a valid {ty}"))
}

/// One result: integers in decimal, floats as Rust prints them.
fn format_value(value: &Val) -> String {
    match value {
        Val::I32(n) => n.to_string(),
        Val::I64(n) => n.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(bits) => format!("{bits:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".to_string(),
        Val::FuncRef(Some(_)) => "funcref".to_string(),
        Val::ExternRef(Some(handle)) => format!("externref {handle}"),
    }
}
