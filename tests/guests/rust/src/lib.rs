//! Helpers shared by the Rust WASI test guests (`src/bin/*.rs`): each guest prints one line per
//! thing it checked, and the test compares that text with what it expects.
#![forbid(unsafe_code)]

use std::fmt::Display;
use std::io;

/// The WASI name of an `errno` value (the numbering of `wasi_snapshot_preview1`).
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        2 => "EACCES",
        8 => "EBADF",
        20 => "EEXIST",
        21 => "EFAULT",
        28 => "EINVAL",
        31 => "EISDIR",
        32 => "ELOOP",
        44 => "ENOENT",
        52 => "ENOSYS",
        54 => "ENOTDIR",
        55 => "ENOTEMPTY",
        58 => "ENOTSUP",
        63 => "EPERM",
        70 => "ESPIPE",
        75 => "EXDEV",
        76 => "ENOTCAPABLE",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// An I/O error as the guest saw it: its errno's name, or its kind when it has no errno.
pub fn describe(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => errno_name(errno),
        None => format!("{:?}", error.kind()),
    }
}

/// Prints `label: ok` or `label: error NAME`.
pub fn report<T>(label: impl Display, result: io::Result<T>) -> Option<T> {
    match result {
        Ok(value) => {
            println!("{label}: ok");
            Some(value)
        }
        Err(error) => {
            println!("{label}: error {}", describe(&error));
            None
        }
    }
}

/// Whether an errno is how a sandbox says no to a path that leaves it: `EPERM` (what Wasmtime
/// answers), `ENOTCAPABLE` (WASI's own), `EACCES`, or `EXDEV` (Linux's `openat2(RESOLVE_BENEATH)`).
pub fn is_refusal(errno: i32) -> bool {
    matches!(errno, 2 | 63 | 75 | 76)
}

/// For an operation that must not escape the sandbox: prints `label: refused` when it failed
/// with a refusal, `label: LEAKED` when it succeeded, and `label: failed with NAME` otherwise.
/// The errno always goes to stderr too, for whoever reads a failure.
pub fn expect_refused<T>(label: &str, result: io::Result<T>) {
    match result {
        Ok(_) => println!("{label}: LEAKED"),
        Err(error) => {
            eprintln!("{label}: {error}");
            match error.raw_os_error() {
                Some(errno) if is_refusal(errno) => println!("{label}: refused"),
                _ => println!("{label}: failed with {}", describe(&error)),
            }
        }
    }
}

/// For an absolute path outside every pre-opened directory, which libc turns away before the host
/// sees it (`ENOENT` or `ENOTCAPABLE`, depending on the wasi-libc version): like
/// [`expect_refused`], with `ENOENT` also taken as a refusal.
pub fn expect_unreachable<T>(label: &str, result: io::Result<T>) {
    match result {
        Err(error) if error.raw_os_error() == Some(44) => println!("{label}: refused"),
        other => expect_refused(label, other),
    }
}

/// Prints `label: fails` when the operation failed (whatever the errno, which goes to stderr),
/// and `label: SUCCEEDED` otherwise: for misuses where POSIX systems differ in the errno.
pub fn expect_failure<T>(label: &str, result: io::Result<T>) {
    match result {
        Ok(_) => println!("{label}: SUCCEEDED"),
        Err(error) => {
            eprintln!("{label}: {error}");
            println!("{label}: fails");
        }
    }
}

/// FNV-1a, 64 bits: a checksum both the guest and the test can compute.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The directory the guest works in: its first argument.
pub fn dir_argument() -> String {
    std::env::args()
        .nth(1)
        .expect("usage: GUEST DIR (a pre-opened directory)")
}
