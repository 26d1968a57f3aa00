//! Triage of fuzz inputs on the stable toolchain:
//!
//! ```sh
//! cargo run --release --example triage -- TARGET [--print] [--out DIR] INPUT...
//! ```
//!
//! For each input (a fuzz input of `TARGET`, or a `.wat`/`.wasm` module for `regression`) it
//! runs the target's checks and prints the finding, if any. `--print` prints the generated
//! module as text; `--out DIR` writes it to `DIR/<input name>.wasm`.

use faasm_fuzz::targets;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((target, rest)) = args.split_first() else {
        eprintln!("usage: triage TARGET [--print] [--out DIR] INPUT...");
        return ExitCode::from(2);
    };
    let options = Options::parse(rest);
    let mut findings = 0;
    for input in &options.inputs {
        findings += usize::from(!triage(target, input, &options));
    }
    println!("{findings} finding(s) in {} input(s)", options.inputs.len());
    ExitCode::from(u8::from(findings > 0))
}

struct Options {
    print: bool,
    out: Option<PathBuf>,
    inputs: Vec<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut options = Options {
            print: false,
            out: None,
            inputs: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--print" => options.print = true,
                "--out" => options.out = args.next().map(PathBuf::from),
                _ => options.inputs.push(PathBuf::from(arg)),
            }
        }
        options
    }
}

/// Runs one input; whether it passed.
fn triage(target: &str, input: &Path, options: &Options) -> bool {
    let data = match std::fs::read(input) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            return false;
        }
    };
    let module = if target == "regression" {
        wat::parse_bytes(&data).map(|m| m.into_owned()).ok()
    } else {
        targets::generated_module(target, &data)
    };
    if let Some(wasm) = &module {
        show_module(input, wasm, options);
    }
    let result = match (target, &module) {
        ("regression", Some(wasm)) => targets::module_regression(wasm),
        ("compile", _) => targets::compile(&data),
        ("differential", _) => targets::differential(&data),
        ("memory_strategies", _) => targets::memory_strategies(&data),
        ("interrupt", _) => targets::interrupt(&data),
        _ => {
            eprintln!("unknown target `{target}` or unreadable module");
            return false;
        }
    };
    match result {
        Ok(()) => {
            println!("{}: ok", input.display());
            true
        }
        Err(finding) => {
            println!("{}: {finding}", input.display());
            false
        }
    }
}

fn show_module(input: &Path, wasm: &[u8], options: &Options) {
    if options.print {
        match wasmprinter::print_bytes(wasm) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("cannot print the module: {e}"),
        }
    }
    if let Some(dir) = &options.out {
        let name = input.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!("{name}.wasm"));
        if let Err(e) = std::fs::write(&path, wasm) {
            eprintln!("{}: {e}", path.display());
        }
    }
}
