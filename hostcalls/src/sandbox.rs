//! Path resolution confined to preopened directories.
//!
//! Every guest path is resolved here, component by component, before any host file system call
//! sees it, starting from the directory its descriptor stands for:
//!
//! - an absolute path is refused (`EPERM`, as Wasmtime does): guests only name files relative
//!   to a directory descriptor;
//! - `..` may climb up to the preopened root the descriptor was opened under, never above it
//!   (`EPERM`);
//! - symbolic links are read and followed here, not by the kernel: always for intermediate
//!   components, and for the last one when the call asks to follow (`LOOKUP_SYMLINK_FOLLOW`, or a
//!   trailing `/`). A link whose target is absolute, or climbs above the root, is refused
//!   (`EPERM`); more than [`MAX_SYMLINK_HOPS`] links in one lookup is `ELOOP`;
//! - an intermediate component that is not a directory is `ENOTDIR`; a missing one `ENOENT`.
//!
//! The result is a host path made of the canonical root and plain names only (no `.`, `..` or
//! symbolic link the kernel would interpret), which the caller hands to `std::fs`. Opening a file
//! adds `O_NOFOLLOW` and then checks, through `/proc/self/fd`, that the kernel really opened a
//! file under the root.
//!
//! # Remaining race (TOCTOU)
//!
//! Resolving in user space and then using a path is not atomic. If something else (another
//! guest sharing the directory, or a host process) replaces a directory we walked through by a
//! symbolic link between our check and the kernel's use of the path, the kernel follows that
//! link. Opens are still safe: the post-open `/proc/self/fd` check refuses a file outside the
//! root. Calls that act on a path without opening it (`path_create_directory`, `path_unlink_file`,
//! `path_remove_directory`, `path_rename`, `path_link`, `path_symlink`, `path_filestat_get`) can
//! in that window act outside the root. Closing the gap needs `openat2(RESOLVE_BENEATH)` or
//! `*at` calls on held directory descriptors, which std does not offer without `unsafe`; it is
//! acceptable while only one guest at a time writes a given directory tree.
//!
//! Directory descriptors are paths too (root + names), not open host descriptors: renaming a
//! directory a guest holds open makes its descriptor name the new occupant of the old path.

use crate::errno::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most symbolic links one lookup follows (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// A directory a descriptor stands for: a preopened root and the names leading to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirHandle {
    /// The preopened directory, canonical (no symbolic links, absolute).
    pub(crate) root: Arc<PathBuf>,
    /// Names below the root, none of them `.`, `..` or a symbolic link when resolved.
    pub(crate) components: Vec<OsString>,
}

impl DirHandle {
    /// The root itself.
    pub(crate) fn root(root: PathBuf) -> DirHandle {
        DirHandle {
            root: Arc::new(root),
            components: Vec::new(),
        }
    }

    /// The host path of the directory.
    pub(crate) fn host_path(&self) -> PathBuf {
        join(&self.root, &self.components)
    }

    /// The host path of the directory's parent, the root's own for the root (a guest never sees
    /// above it).
    pub(crate) fn parent_host_path(&self) -> PathBuf {
        let up = self.components.len().saturating_sub(1);
        join(&self.root, &self.components[..up])
    }
}

/// Where a guest path leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The root the path stayed under.
    pub(crate) root: Arc<PathBuf>,
    /// Names from the root to the target (the last may not exist, or be an unfollowed link).
    pub(crate) components: Vec<OsString>,
    /// Whether the path ended with a name (not `.`, `..`, or nothing after the root): only
    /// then can the target be created, removed or renamed.
    pub(crate) named: bool,
    /// Whether the guest path ended with `/`: the target must be a directory.
    pub(crate) trailing_slash: bool,
}

impl Resolved {
    /// The host path of the target.
    pub(crate) fn host_path(&self) -> PathBuf {
        join(&self.root, &self.components)
    }

    /// The target's metadata, not following a final symbolic link.
    pub(crate) fn metadata(&self) -> io::Result<Metadata> {
        std::fs::symlink_metadata(self.host_path())
    }

    /// The host path, if the path ended with a name; `otherwise` if it did not.
    pub(crate) fn named_path(&self, otherwise: Errno) -> Result<PathBuf, Errno> {
        if self.named {
            Ok(self.host_path())
        } else {
            Err(otherwise)
        }
    }

    /// A descriptor for the target as a directory.
    pub(crate) fn into_dir(self) -> DirHandle {
        DirHandle {
            root: self.root,
            components: self.components,
        }
    }
}

fn join(root: &Path, components: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(components);
    path
}

/// Resolves `path` relative to `dir`, following a final symbolic link if `follow_final`.
pub(crate) fn resolve(dir: &DirHandle, path: &str, follow_final: bool) -> Result<Resolved, Errno> {
    check_guest_path(path)?;
    let trailing_slash = path.ends_with('/');
    let mut walk = Walk {
        root: &dir.root,
        stack: dir.components.clone(),
        pending: VecDeque::new(),
        named: false,
        hops: 0,
    };
    walk.prepend(path.as_bytes());
    walk.run(follow_final || trailing_slash)?;
    let resolved = Resolved {
        root: Arc::clone(&dir.root),
        components: walk.stack,
        named: walk.named,
        trailing_slash,
    };
    if trailing_slash
        && let Ok(meta) = resolved.metadata()
        && !meta.is_dir()
    {
        return Err(Errno::NotDir);
    }
    Ok(resolved)
}

/// Refuses paths no lookup may start with: empty, absolute, or holding a NUL.
fn check_guest_path(path: &str) -> Result<(), Errno> {
    if path.is_empty() {
        Err(Errno::NoEnt)
    } else if path.as_bytes().contains(&0) {
        Err(Errno::Inval)
    } else if path.starts_with('/') {
        Err(Errno::Perm)
    } else {
        Ok(())
    }
}

/// The state of one lookup.
struct Walk<'a> {
    root: &'a Path,
    /// Names resolved so far, below the root.
    stack: Vec<OsString>,
    /// Names still to resolve, including those symbolic links expanded to.
    pending: VecDeque<OsString>,
    /// Whether the last component handled was a name.
    named: bool,
    hops: u32,
}

impl Walk<'_> {
    /// Puts the components of `path` in front of what is pending (empty ones, from `//`, are
    /// skipped).
    fn prepend(&mut self, path: &[u8]) {
        for component in path.split(|&b| b == b'/').rev().filter(|c| !c.is_empty()) {
            self.pending
                .push_front(OsStr::from_bytes(component).to_os_string());
        }
    }

    fn run(&mut self, follow_final: bool) -> Result<(), Errno> {
        while let Some(component) = self.pending.pop_front() {
            let last = self.pending.is_empty();
            match component.as_bytes() {
                b"." => self.named = false,
                b".." => {
                    // The root has no parent a guest may see.
                    self.stack.pop().ok_or(Errno::Perm)?;
                    self.named = false;
                }
                _ => self.step(component, last, follow_final)?,
            }
        }
        Ok(())
    }

    /// Resolves one name in the current directory.
    fn step(&mut self, name: OsString, last: bool, follow_final: bool) -> Result<(), Errno> {
        let candidate = join(self.root, &self.stack).join(&name);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(meta) => meta,
            // A missing last component is what creating calls name.
            Err(e) if last && e.kind() == io::ErrorKind::NotFound => {
                self.push(name);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if meta.file_type().is_symlink() && (!last || follow_final) {
            return self.follow(&candidate);
        }
        if !last && !meta.is_dir() {
            return Err(Errno::NotDir);
        }
        self.push(name);
        Ok(())
    }

    fn push(&mut self, name: OsString) {
        self.stack.push(name);
        self.named = true;
    }

    /// Expands the symbolic link at `link`: its target is resolved from the link's directory,
    /// which is where the walk stands.
    fn follow(&mut self, link: &Path) -> Result<(), Errno> {
        self.hops += 1;
        if self.hops > MAX_SYMLINK_HOPS {
            return Err(Errno::Loop);
        }
        let target = std::fs::read_link(link)?;
        let target = target.as_os_str().as_bytes();
        if target.is_empty() {
            return Err(Errno::NoEnt);
        }
        if target.starts_with(b"/") {
            return Err(Errno::Perm);
        }
        self.prepend(target);
        Ok(())
    }
}

/// Whether a symbolic link at `link` (resolved, below its root) with `target` would point
/// inside the root, judging the target's `..` lexically. `path_symlink` refuses links that
/// would not, so the tree never holds an obvious way out, whatever later follows it.
pub(crate) fn symlink_target_stays_inside(link: &Resolved, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = link.components.len().saturating_sub(1);
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Checks that `file`, just opened through a resolved path, really is under `root`: a
/// directory swapped for a symbolic link after resolution would have led elsewhere.
pub(crate) fn check_opened_inside(root: &Path, file: &File) -> Result<(), Errno> {
    match crate::sys::real_path(file) {
        Ok(real) if real.starts_with(root) => Ok(()),
        // Outside, or unknowable: refuse rather than hand the guest a descriptor we cannot vouch
        // for.
        _ => Err(Errno::Perm),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
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

    /// root/{a/b/file, top, link_up -> .., link_dir -> a, escape -> ../.., abs -> /etc,
    /// loop1 <-> loop2, chain -> a/hop, a/hop -> ../../..}
    fn tree() -> (TempDir, DirHandle) {
        let tmp = TempDir::new();
        let root = &tmp.0;
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/file"), b"x").unwrap();
        std::fs::write(root.join("top"), b"y").unwrap();
        symlink("..", root.join("a/link_up")).unwrap();
        symlink("a", root.join("link_dir")).unwrap();
        symlink("../..", root.join("escape")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        symlink("a/hop", root.join("chain")).unwrap();
        symlink("../../..", root.join("a/hop")).unwrap();
        let dir = DirHandle::root(root.clone());
        (tmp, dir)
    }

    fn names(resolved: &Resolved) -> Vec<&str> {
        resolved
            .components
            .iter()
            .map(|c| c.to_str().unwrap())
            .collect()
    }

    #[test]
    fn plain_paths_resolve_to_names() {
        let (_tmp, dir) = tree();
        let r = resolve(&dir, "a/./b//file", false).unwrap();
        assert_eq!(names(&r), ["a", "b", "file"]);
        assert!(r.named);
        let r = resolve(&dir, "a/b/..", false).unwrap();
        assert_eq!(names(&r), ["a"]);
        assert!(!r.named);
        let r = resolve(&dir, "new", false).unwrap();
        assert_eq!(names(&r), ["new"]);
        assert_eq!(resolve(&dir, ".", false).unwrap().components.len(), 0);
    }

    #[test]
    fn symlinks_are_followed_inside_the_root() {
        let (_tmp, dir) = tree();
        let r = resolve(&dir, "link_dir/b/file", false).unwrap();
        assert_eq!(names(&r), ["a", "b", "file"]);
        let r = resolve(&dir, "a/link_up/top", false).unwrap();
        assert_eq!(names(&r), ["top"]);
        // Unfollowed last link: the link itself.
        let r = resolve(&dir, "link_dir", false).unwrap();
        assert_eq!(names(&r), ["link_dir"]);
        let r = resolve(&dir, "link_dir", true).unwrap();
        assert_eq!(names(&r), ["a"]);
        let r = resolve(&dir, "link_dir/", false).unwrap();
        assert_eq!(names(&r), ["a"]);
    }

    #[test]
    fn escapes_are_refused() {
        let (_tmp, dir) = tree();
        for path in [
            "..",
            "../x",
            "a/../..",
            "/etc/passwd",
            "/",
            "a/b/../../../top",
        ] {
            assert_eq!(resolve(&dir, path, true), Err(Errno::Perm), "{path}");
        }
        for path in ["escape/x", "abs/passwd", "chain/x", "a/hop/x"] {
            assert_eq!(resolve(&dir, path, false), Err(Errno::Perm), "{path}");
        }
        assert_eq!(resolve(&dir, "escape", true), Err(Errno::Perm));
        // Not followed, the link itself is harmless.
        assert!(resolve(&dir, "escape", false).is_ok());
    }

    #[test]
    fn dot_dot_stops_at_the_root_not_the_descriptor() {
        let (_tmp, root) = tree();
        let sub = resolve(&root, "a/b", false).unwrap().into_dir();
        let r = resolve(&sub, "../../top", false).unwrap();
        assert_eq!(names(&r), ["top"]);
        assert_eq!(resolve(&sub, "../../..", false), Err(Errno::Perm));
    }

    #[test]
    fn lookup_errors_follow_posix() {
        let (_tmp, dir) = tree();
        assert_eq!(resolve(&dir, "loop1", true), Err(Errno::Loop));
        assert_eq!(resolve(&dir, "loop1/x", false), Err(Errno::Loop));
        assert_eq!(resolve(&dir, "top/x", false), Err(Errno::NotDir));
        assert_eq!(resolve(&dir, "top/", false), Err(Errno::NotDir));
        assert_eq!(resolve(&dir, "missing/x", false), Err(Errno::NoEnt));
        assert_eq!(resolve(&dir, "", false), Err(Errno::NoEnt));
        assert_eq!(resolve(&dir, "a\0b", false), Err(Errno::Inval));
    }

    #[test]
    fn symlink_targets_are_judged_from_the_link() {
        let (_tmp, dir) = tree();
        let at_top = resolve(&dir, "newlink", false).unwrap();
        let in_a = resolve(&dir, "a/newlink", false).unwrap();
        assert!(symlink_target_stays_inside(&at_top, "a/b"));
        assert!(!symlink_target_stays_inside(&at_top, ".."));
        assert!(symlink_target_stays_inside(&in_a, "../top"));
        assert!(!symlink_target_stays_inside(&in_a, "../../top"));
        assert!(!symlink_target_stays_inside(&in_a, "/etc"));
    }

    #[test]
    fn opened_files_are_checked_against_the_root() {
        let (tmp, _dir) = tree();
        let inside = File::open(tmp.0.join("top")).unwrap();
        assert_eq!(check_opened_inside(&tmp.0, &inside), Ok(()));
        let outside = File::open("/proc/self/stat").unwrap();
        assert_eq!(check_opened_inside(&tmp.0, &outside), Err(Errno::Perm));
    }
}
