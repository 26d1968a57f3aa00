//! Arguments and environment: prints every argument and every variable it was given, so the test
//! sees exactly what `faasm-run`'s command line and `--env` options passed through.
#![forbid(unsafe_code)]

use std::env;
use std::path::Path;

fn main() {
    let args: Vec<String> = env::args().collect();
    println!("argc: {}", args.len());
    // The program name is the module's path as the runtime chose to pass it: only its file name is
    // checked.
    let name = Path::new(&args[0]).file_name().unwrap_or_default();
    println!("arg 0 file name: {name:?}");
    for (i, arg) in args.iter().enumerate().skip(1) {
        println!("arg {i}: {arg:?}");
    }
    let mut vars: Vec<(String, String)> = env::vars().collect();
    vars.sort();
    println!("env count: {}", vars.len());
    for (name, value) in &vars {
        println!("env {name}={value:?}");
    }
    println!("env MISSING: {:?}", env::var("FAASM_TEST_MISSING").ok());
}
