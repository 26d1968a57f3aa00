//! `cargo run --release -p faasm-benches --bin cluster [--seconds N] [--rounds R]`: the
//! `cluster` group alone (see [`faasm_benches::cluster`]): throughput over 1, 2 and 3
//! `faasm-run serve --cluster` hosts on this machine, chain and await round trips local and
//! across hosts, and the time from an upload on one host to the first call on another; prints
//! the table with the targets and writes it to `target/cluster-report.md`.
#![forbid(unsafe_code)]

use faasm_benches::cluster::{self, Settings};

fn main() {
    let settings = match parse_args(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("cluster: {message}");
            eprintln!(
                "usage: cluster [--seconds N] [--rounds R]   (defaults: 3 s per point, 3 rounds)"
            );
            std::process::exit(2);
        }
    };
    let results = cluster::measure(settings).unwrap_or_else(|message| {
        eprintln!("cluster: {message}");
        std::process::exit(1);
    });
    let report = cluster::markdown(&results);
    print!("{report}");
    let path = faasm_benches::target_dir().join("cluster-report.md");
    std::fs::write(&path, &report).expect("writing target/cluster-report.md");
    eprintln!("cluster: wrote {}", path.display());
}

/// `--seconds N` and `--rounds R`, both at least 1.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Settings, String> {
    let defaults = Settings::default();
    let (seconds, rounds) =
        faasm_benches::seconds_and_rounds(args, defaults.seconds, defaults.rounds)?;
    Ok(Settings { seconds, rounds })
}
