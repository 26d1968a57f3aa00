//! Escape attempts from a pre-opened directory (the first argument), which must all be refused,
//! beside the legitimate uses of `..` and symbolic links that stay inside, which must work.
//!
//! The test lays out, beside the pre-opened `sandbox/`, an `outside/secret.txt`; inside it,
//! `sub/ok.txt` and the links `link_in -> sub`, `link_out -> ../outside`, `link_abs -> /…/outside`
//! (absolute), `link_file_out -> ../outside/secret.txt` and `link_up -> ..`.
#![forbid(unsafe_code)]

use faasm_test_guests::{dir_argument, expect_refused, expect_unreachable, report};
use std::fs;

fn main() {
    let dir = dir_argument();
    inside(&dir);
    reads(&dir);
    writes(&dir);
    println!("escape: done");
}

/// `..` and links that stay inside the directory work.
fn inside(d: &str) {
    for path in [
        "sub/ok.txt",
        "sub/../sub/ok.txt",
        "link_in/ok.txt",
        "./sub/./ok.txt",
    ] {
        let text = fs::read_to_string(format!("{d}/{path}"));
        report(
            format!("read {path}"),
            text.map(|text| assert_eq!(text, "inside\n")),
        );
    }
    let meta = fs::symlink_metadata(format!("{d}/link_out")).expect("lstat of link_out");
    println!(
        "lstat link_out: is_symlink {}",
        meta.file_type().is_symlink()
    );
    let target = fs::read_link(format!("{d}/link_out")).expect("readlink of link_out");
    println!("readlink link_out: {}", target.display());
}

fn reads(d: &str) {
    expect_refused(
        "read ../outside/secret.txt",
        fs::read(format!("{d}/../outside/secret.txt")),
    );
    expect_refused(
        "read sub/../../outside/secret.txt",
        fs::read(format!("{d}/sub/../../outside/secret.txt")),
    );
    expect_unreachable("read /etc/passwd", fs::read("/etc/passwd"));
    expect_refused(
        "read link_out/secret.txt",
        fs::read(format!("{d}/link_out/secret.txt")),
    );
    expect_refused(
        "read link_abs/secret.txt",
        fs::read(format!("{d}/link_abs/secret.txt")),
    );
    expect_refused("read link_file_out", fs::read(format!("{d}/link_file_out")));
    expect_refused(
        "stat link_out/secret.txt",
        fs::metadata(format!("{d}/link_out/secret.txt")),
    );
    expect_refused(
        "stat link_file_out",
        fs::metadata(format!("{d}/link_file_out")),
    );
    expect_refused("readdir ..", fs::read_dir(format!("{d}/..")));
    expect_refused("readdir link_up", fs::read_dir(format!("{d}/link_up")));
    expect_refused("readdir link_abs", fs::read_dir(format!("{d}/link_abs")));
}

fn writes(d: &str) {
    expect_refused(
        "write ../outside/new.txt",
        fs::write(format!("{d}/../outside/new.txt"), "x"),
    );
    expect_refused(
        "write link_out/new.txt",
        fs::write(format!("{d}/link_out/new.txt"), "x"),
    );
    expect_refused(
        "write link_file_out",
        fs::write(format!("{d}/link_file_out"), "x"),
    );
    expect_refused(
        "mkdir ../outside/newdir",
        fs::create_dir(format!("{d}/../outside/newdir")),
    );
    expect_refused(
        "unlink link_out/secret.txt",
        fs::remove_file(format!("{d}/link_out/secret.txt")),
    );
    expect_refused(
        "rename sub/ok.txt to ../outside/stolen.txt",
        fs::rename(
            format!("{d}/sub/ok.txt"),
            format!("{d}/../outside/stolen.txt"),
        ),
    );
    expect_refused(
        "rename ../outside/secret.txt to sub/got.txt",
        fs::rename(
            format!("{d}/../outside/secret.txt"),
            format!("{d}/sub/got.txt"),
        ),
    );
    let still_there = fs::read_to_string(format!("{d}/sub/ok.txt")).is_ok();
    println!("sub/ok.txt still inside: {still_there}");
}
