//! `cargo run --release -p faasm-benches --bin http [--seconds N] [--rounds R]`: the `http`
//! group alone (see [`faasm_benches::http`]): `faasm-run serve` and a minimal axum server (the
//! floor) under wrk at 1, 16 and 64 keep-alive connections, and the cold invoke of a
//! just-uploaded function; prints the table with the targets and writes it to
//! `target/http-report.md`.
#![forbid(unsafe_code)]

use faasm_benches::http::{self, Settings};

fn main() {
    http::run_floor_if_requested();
    let settings = match parse_args(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("http: {message}");
            eprintln!(
                "usage: http [--seconds N] [--rounds R]   (defaults: 3 s per point, 3 rounds)"
            );
            std::process::exit(2);
        }
    };
    let results = http::measure(settings).unwrap_or_else(|message| {
        eprintln!("http: {message}");
        std::process::exit(1);
    });
    let report = http::markdown(&results);
    print!("{report}");
    let path = faasm_benches::target_dir().join("http-report.md");
    std::fs::write(&path, &report).expect("writing target/http-report.md");
    eprintln!("http: wrote {}", path.display());
}

/// `--seconds N` and `--rounds R`, both at least 1.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Settings, String> {
    let defaults = Settings::default();
    let (seconds, rounds) =
        faasm_benches::seconds_and_rounds(args, defaults.seconds, defaults.rounds)?;
    Ok(Settings { seconds, rounds })
}
