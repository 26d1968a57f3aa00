//! Directories a guest holds, and the rule that keeps every path beneath them.
//!
//! Every preopened directory, and every directory a guest opens, is held as an open host
//! directory descriptor (a [`cap_std::fs::Dir`]), never as a path. Every path call (open, stat,
//! set times, mkdir, rmdir, unlink, rename, link, symlink, readlink, readdir) hands the guest's
//! path to that descriptor, and cap-std resolves it *beneath* the directory in the kernel:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` on Linux 5.6 and later, or, where
//! `openat2` is missing, cap-primitives' own walk that opens one component at a time with
//! `O_NOFOLLOW` relative to descriptors it holds. Either way:
//!
//! - an absolute path, or a `..` that would climb above the descriptor's directory, fails with
//!   `EPERM` (the errno Wasmtime gives); a subdirectory descriptor cannot climb to its preopen
//!   either — each descriptor is a sandbox of its own;
//! - symbolic links are followed only where, at the moment of use, they resolve beneath the
//!   directory; how, when and where a link was made does not matter, and a link to an absolute
//!   path is never followed (`EPERM`);
//! - renaming directories under an open descriptor, or swapping a directory for a link, cannot
//!   move the descriptor or a lookup out: the kernel walks from the held descriptor each time,
//!   so there is no window between a check and a use (no time-of-check/time-of-use race).
//!
//! What remains true, and is the host's business rather than the guest's: a hard link or a
//! bind mount that the *host* puts inside a preopen reaches whatever it reaches (a guest cannot
//! create either pointing outside: `path_link` resolves its source beneath a descriptor too),
//! and `/proc`-style magic links are refused, not followed.
//!
//! The checks this module still makes on path text only shape errnos before the kernel sees a
//! path (an empty path is `ENOENT`, a NUL byte `EINVAL`, a leading `/` `EPERM`); none of them is
//! what keeps a guest inside.

use crate::errno::Errno;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::io;
use std::path::Path;

/// Most symbolic links one lookup follows: the kernel's limit (`MAXSYMLINKS`), past which a
/// lookup fails with `ELOOP`.
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// Opens the host directory `host` as a preopen. The host's own path (ambient authority) is
/// used only here, when the embedder configures the guest.
pub(crate) fn open_preopen(host: &Path) -> io::Result<Dir> {
    Dir::open_ambient_dir(host, ambient_authority())
}

/// The directory `dir` holds, opened again for reading: cap-std may hold a directory as an
/// `O_PATH` descriptor, on which `fsync` is `EBADF`.
pub(crate) fn reopen_readable(dir: &Dir) -> io::Result<std::fs::File> {
    use cap_fs_ext::OpenOptionsMaybeDirExt;
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true).maybe_dir(true);
    Ok(dir.open_with(".", &options)?.into_std())
}

/// Whether `path` names a directory by its form (ends in `/` or `/.`): POSIX then resolves its
/// last component as a directory, following a final link. cap-std drops such endings in some
/// calls, so the calls check this themselves.
pub(crate) fn requires_dir(path: &Path) -> bool {
    let bytes = path.as_os_str().as_encoded_bytes();
    bytes.ends_with(b"/") || bytes.ends_with(b"/.")
}

/// The guest's path as a host path to resolve beneath a descriptor, or the errno a lookup of
/// it would give: empty is `ENOENT`, a NUL byte `EINVAL`, an absolute path `EPERM`.
pub(crate) fn guest_path(path: &str) -> Result<&Path, Errno> {
    if path.is_empty() {
        Err(Errno::NoEnt)
    } else if path.as_bytes().contains(&0) {
        Err(Errno::Inval)
    } else if path.starts_with('/') {
        Err(Errno::Perm)
    } else {
        Ok(Path::new(path))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system's temporary directory, removed on drop.
    #[derive(Debug)]
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new() -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "faasm-hostcalls-unit-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path.canonicalize().unwrap())
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn path_text_only_shapes_errnos() {
        assert_eq!(guest_path(""), Err(Errno::NoEnt));
        assert_eq!(guest_path("a\0b"), Err(Errno::Inval));
        assert_eq!(guest_path("/etc"), Err(Errno::Perm));
        assert_eq!(guest_path("a/../b"), Ok(Path::new("a/../b")));
        assert!(requires_dir(Path::new("a/")) && requires_dir(Path::new("a/.")));
        assert!(!requires_dir(Path::new("a")) && !requires_dir(Path::new("a/..")));
    }

    /// The reproduction at the level of one held descriptor: a directory renamed away
    /// and replaced by a link out of the root does not take the descriptor with it.
    #[test]
    fn a_held_directory_does_not_follow_a_rename() {
        let tmp = TempDir::new();
        let (root, outside) = (tmp.0.join("root"), tmp.0.join("x"));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        let preopen = open_preopen(&root).unwrap();
        let held = preopen.open_dir("d").unwrap();
        preopen.rename("d", &preopen, "d2").unwrap();
        std::os::unix::fs::symlink("../x", root.join("d")).unwrap();
        assert!(held.entries().unwrap().next().is_none());
        assert!(held.open("secret.txt").is_err());
        let through_link = preopen.open("d/secret.txt").unwrap_err();
        assert_eq!(Errno::from(through_link), Errno::Perm);
    }
}
