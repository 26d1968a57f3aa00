//! Standard streams and exit codes: reads all of stdin, prints its size, line count, checksum and
//! first line in capitals to stdout, a line to stderr, then exits with the status given as the
//! first argument (`panic` panics instead, which ends in a trap).
#![forbid(unsafe_code)]

use faasm_test_guests::fnv1a;
use std::io::{self, Read, Write};
use std::{env, process};

fn main() {
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).expect("reading stdin");
    let text = String::from_utf8_lossy(&input);
    println!(
        "stdin: {} bytes, {} lines, fnv1a {:016x}",
        input.len(),
        text.lines().count(),
        fnv1a(&input)
    );
    println!(
        "first line: {}",
        text.lines().next().unwrap_or("").to_uppercase()
    );
    io::stdout().flush().expect("flushing stdout");
    eprintln!("to stderr: {} bytes read", input.len());
    match env::args().nth(1).as_deref() {
        Some("panic") => panic!("the guest panics on purpose"),
        Some(status) => process::exit(status.parse().expect("an exit status")),
        None => {}
    }
}
