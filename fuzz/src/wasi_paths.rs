//! The `wasi_paths` target: random sequences of WASI path calls (mkdir, symlink with random
//! targets, rename, link, unlink, rmdir, open, read, write, readdir, stat, set times, readlink,
//! close) on a fresh temporary root, run by the host code guests reach
//! ([`faasm_hostcalls::call_wasi`] over a plain byte buffer as guest memory).
//!
//! The root sits in a base directory beside a sentinel tree:
//!
//! ```text
//! base/root/            the preopen (fd 3): a/, a/b/, f, and host-made links
//!                       up -> .., out -> ../s, abs -> base/s (absolute), a/in -> ../f
//! base/s/               f, d/f, SENTINEL-NAME (files holding SENTINEL-CONTENT), l -> d
//! base/SENTINEL-NAME    the same content
//! ```
//!
//! Generated names include `s`, `root`, `up`, `out` and `..`, so escapes are easy to spell; the
//! sentinel's content and its hidden name are not. A finding is anything outside the root
//! - read: the sentinel content in data read from a descriptor, a link's text or a listing;
//! - named: the hidden name or the base directory's host path in an answer, or an outside
//!   inode in a `filestat`, a `dirent` or the `filestat` of a descriptor the guest opened;
//! - changed: the names, types, contents, link targets or modification times of the sentinel
//!   tree, or the names and modification time of the base directory.
//!
//! [`check_planted`] runs the same calls and oracle with an escape planted on purpose, so a
//! test can show that the oracle reports one.

use arbitrary::{Result as ArbitraryResult, Unstructured};
use faasm_hostcalls::types::{fstflags, lookupflags, oflags, rights};
use faasm_hostcalls::{Errno, GuestMemory, WasiCtx, call_wasi};
use faasm_runtime::Val;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most calls one input makes.
const MAX_CALLS: usize = 64;
/// Most descriptors the sequence keeps open (then it closes what it opens).
const MAX_FDS: usize = 24;
/// What every sentinel file holds; no generated call writes it.
const SECRET: &[u8] = b"SENTINEL-CONTENT-3c9e";
/// A name outside the root that no generated path can spell.
const HIDDEN: &str = "SENTINEL-NAME-7d1f";
/// The preopened root's descriptor.
const ROOT_FD: u32 = 3;
/// Names generated paths are made of.
const NAMES: &[&str] = &[
    "a", "b", "d", "f", "l", "x", "s", "root", "up", "out", "abs", "in", ".", "..", "",
];

/// Guest memory layout: two paths, a result word, iovecs, and a data buffer.
const PATH_1: u32 = 0;
const PATH_2: u32 = 2048;
const OUT: u32 = 4096;
const IOVEC: u32 = 4112;
const BUF: u32 = 8192;
const BUF_LEN: u32 = 4096;
const MEMORY: usize = 16384;
/// Longest generated path (fits its slot).
const MAX_PATH: usize = 2000;

/// The base directory of this process, built once; inputs run one at a time in it.
static BASE: Mutex<Option<Base>> = Mutex::new(None);

/// The base directory and what must stay as it is outside the root.
struct Base {
    path: PathBuf,
    /// Fingerprint of everything outside the root.
    fingerprint: Vec<String>,
    /// (device, inode) of everything outside the root.
    outside: BTreeSet<(u64, u64)>,
}

/// Runs the calls `data` describes; `Err` says what escaped.
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut guard = BASE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.is_none() {
        let name = format!("faasm-fuzz-wasi-paths-{}", std::process::id());
        *guard =
            Some(Base::create(&name).map_err(|e| format!("setting up the base directory: {e}"))?);
    }
    let base = guard.as_ref().expect("just set");
    let root = base.path.join("root");
    fresh_root(&root, &base.path).map_err(|e| format!("setting up the root: {e}"))?;
    run_and_compare(data, base, &root)
}

/// An escape planted on purpose, to show that [`check`]'s oracle notices one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// The base directory (the root's parent, beside the sentinel) pre-opened in the root's
    /// place, as a sandbox that let `..` out would.
    ParentPreopened,
    /// A hard link to the sentinel's `s/f` at `root/x`, made by the host: no sandbox can tell
    /// it from a file of the root, so only the oracle's content and inode checks see it.
    HardLinkInRoot,
}

/// [`check`] with `plant` in place, in a base directory of its own (made for this input and
/// removed after it, so that what the input changes outside the root stays its own).
pub fn check_planted(data: &[u8], plant: Plant) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "faasm-fuzz-wasi-paths-planted-{}-{number}",
        std::process::id()
    );
    let setup = |e: std::io::Error| format!("setting up the planted base directory: {e}");
    let mut base = Base::create(&name).map_err(setup)?;
    let root = base.path.join("root");
    fresh_root(&root, &base.path).map_err(setup)?;
    let preopen = match plant {
        Plant::ParentPreopened => base.path.clone(),
        Plant::HardLinkInRoot => {
            std::fs::hard_link(base.path.join("s/f"), root.join("x")).map_err(setup)?;
            // The link count of s/f is part of the fingerprint: take it again.
            base.fingerprint = fingerprint(&base.path).map_err(setup)?;
            root
        }
    };
    let result = run_and_compare(data, &base, &preopen);
    let _ = std::fs::remove_dir_all(&base.path);
    result
}

/// Runs the calls `data` describes with `preopen` as fd 3, then compares the outside of the
/// root with `base`'s fingerprint.
fn run_and_compare(data: &[u8], base: &Base, preopen: &Path) -> Result<(), String> {
    let ctx = WasiCtx::builder()
        .preopen_dir(preopen, "/")
        .build()
        .map_err(|e| format!("building the context: {e}"))?;
    let mut run = Run {
        ctx,
        memory: vec![0; MEMORY],
        fds: vec![ROOT_FD],
        base,
    };
    let result = run.calls(&mut Unstructured::new(data));
    drop(run);
    let after = fingerprint(&base.path).map_err(|e| format!("fingerprinting: {e}"))?;
    if after != base.fingerprint {
        return Err(format!(
            "outside the root changed: before {:?}, after {:?}",
            base.fingerprint, after
        ));
    }
    result
}

impl Base {
    /// The base directory `name` in the temporary directory, made afresh.
    fn create(name: &str) -> std::io::Result<Base> {
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        let sentinel = path.join("s");
        std::fs::create_dir_all(sentinel.join("d"))?;
        for file in ["f", "d/f", HIDDEN] {
            std::fs::write(sentinel.join(file), SECRET)?;
        }
        std::fs::write(path.join(HIDDEN), SECRET)?;
        std::os::unix::fs::symlink("d", sentinel.join("l"))?;
        std::fs::create_dir(path.join("root"))?;
        let mut outside = BTreeSet::new();
        for entry in walk_outside(&path)? {
            let meta = std::fs::symlink_metadata(&entry)?;
            outside.insert((meta.dev(), meta.ino()));
        }
        Ok(Base {
            fingerprint: fingerprint(&path)?,
            outside,
            path,
        })
    }
}

/// Empties `root` (keeping the directory itself, so that the base directory does not change)
/// and lays out its starting tree.
fn fresh_root(root: &Path, base: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        // Neither call follows a link.
        if std::fs::symlink_metadata(&path)?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::create_dir_all(root.join("a/b"))?;
    std::fs::write(root.join("f"), b"inside")?;
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
    link(Path::new(".."), "up")?;
    link(Path::new("../s"), "out")?;
    link(&base.join("s"), "abs")?;
    link(Path::new("../f"), "a/in")
}

/// The base directory and everything in it but the root's subtree.
fn walk_outside(base: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = vec![base.to_path_buf()];
    let mut pending = vec![base.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if path == base.join("root") {
                continue;
            }
            if std::fs::symlink_metadata(&path)?.is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    Ok(found)
}

/// Names, kinds, contents, link targets and modification times of everything outside the root.
fn fingerprint(base: &Path) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for path in walk_outside(base)? {
        let meta = std::fs::symlink_metadata(&path)?;
        let what = if meta.file_type().is_symlink() {
            format!("link -> {:?}", std::fs::read_link(&path)?)
        } else if meta.is_file() {
            format!("file {:?}", String::from_utf8_lossy(&std::fs::read(&path)?))
        } else {
            "dir".to_string()
        };
        lines.push(format!(
            "{} {what} mtime {}.{} mode {:o} nlink {}",
            path.display(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.mode(),
            meta.nlink()
        ));
    }
    Ok(lines)
}

/// One input's calls.
struct Run<'b> {
    ctx: WasiCtx,
    memory: Vec<u8>,
    /// Descriptors the sequence holds (directories and files); the root first.
    fds: Vec<u32>,
    base: &'b Base,
}

impl Run<'_> {
    fn calls(&mut self, u: &mut Unstructured<'_>) -> Result<(), String> {
        for _ in 0..MAX_CALLS {
            if u.is_empty() {
                break;
            }
            match self.one_call(u) {
                Ok(result) => result?,
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// One generated call: `Err` when the input ran out, `Ok(Err)` on a finding.
    fn one_call(&mut self, u: &mut Unstructured<'_>) -> ArbitraryResult<Result<(), String>> {
        let fd = self.pick_fd(u)?;
        Ok(match u.int_in_range(0..=12u8)? {
            0 => {
                let path = self.path(u, PATH_1)?;
                self.call("path_create_directory", &[i(fd), path[0], path[1]])
                    .map(drop)
            }
            1 => {
                let target = self.symlink_target(u)?;
                let target = self.put(PATH_2, &target);
                let path = self.path(u, PATH_1)?;
                let args = [target[0], target[1], i(fd), path[0], path[1]];
                self.call("path_symlink", &args).map(drop)
            }
            2 => {
                let (old, to_fd, new) = (
                    self.path(u, PATH_1)?,
                    self.pick_fd(u)?,
                    self.path(u, PATH_2)?,
                );
                let args = [i(fd), old[0], old[1], i(to_fd), new[0], new[1]];
                self.call("path_rename", &args).map(drop)
            }
            3 => {
                let lookup = self.lookup(u)?;
                let (old, to_fd, new) = (
                    self.path(u, PATH_1)?,
                    self.pick_fd(u)?,
                    self.path(u, PATH_2)?,
                );
                let args = [i(fd), i(lookup), old[0], old[1], i(to_fd), new[0], new[1]];
                self.call("path_link", &args).map(drop)
            }
            4 => {
                let path = self.path(u, PATH_1)?;
                self.call("path_unlink_file", &[i(fd), path[0], path[1]])
                    .map(drop)
            }
            5 => {
                let path = self.path(u, PATH_1)?;
                self.call("path_remove_directory", &[i(fd), path[0], path[1]])
                    .map(drop)
            }
            6 => self.open(u, fd)?,
            7 => self.readdir(fd, u.int_in_range(0..=4u64)?),
            8 => {
                let lookup = self.lookup(u)?;
                let path = self.path(u, PATH_1)?;
                self.stat(fd, lookup, path)
            }
            9 => {
                let lookup = self.lookup(u)?;
                let path = self.path(u, PATH_1)?;
                let now = u32::from(fstflags::ATIM_NOW | fstflags::MTIM_NOW);
                let args = [i(fd), i(lookup), path[0], path[1], l(0), l(0), i(now)];
                self.call("path_filestat_set_times", &args).map(drop)
            }
            10 => {
                let path = self.path(u, PATH_1)?;
                let args = [i(fd), path[0], path[1], i(BUF), i(BUF_LEN), i(OUT)];
                match self.call("path_readlink", &args) {
                    Ok(Errno::Success) => {
                        let used = self.u32_at(OUT).min(BUF_LEN);
                        self.check_answer("path_readlink", BUF, used)
                    }
                    other => other.map(drop),
                }
            }
            11 => self.read_write(fd, u.arbitrary()?),
            // The root stays open: without it nothing else could be reached.
            _ if fd == ROOT_FD => Ok(()),
            _ => {
                self.fds.retain(|&held| held != fd);
                self.call("fd_close", &[i(fd)]).map(drop)
            }
        })
    }

    fn pick_fd(&self, u: &mut Unstructured<'_>) -> ArbitraryResult<u32> {
        Ok(*u.choose(&self.fds)?)
    }

    fn lookup(&self, u: &mut Unstructured<'_>) -> ArbitraryResult<u32> {
        Ok(if u.arbitrary()? {
            lookupflags::SYMLINK_FOLLOW
        } else {
            0
        })
    }

    /// A generated path, written at `at`: `[ptr, len]`.
    fn path(&mut self, u: &mut Unstructured<'_>, at: u32) -> ArbitraryResult<[Val; 2]> {
        let text = generated_path(u)?;
        Ok(self.put(at, &text))
    }

    /// A symbolic link's target: a generated path, or an absolute host path of the base, the
    /// sentinel or the root (a guest that knows the host's layout).
    fn symlink_target(&self, u: &mut Unstructured<'_>) -> ArbitraryResult<String> {
        let base = self.base.path.display();
        Ok(match u.int_in_range(0..=9u8)? {
            0 => format!("{base}/s"),
            1 => format!("{base}/root"),
            _ => generated_path(u)?,
        })
    }

    fn put(&mut self, at: u32, text: &str) -> [Val; 2] {
        let start = at as usize;
        self.memory[start..start + text.len()].copy_from_slice(text.as_bytes());
        // Not part of the path: it ends the text `FAASM_FUZZ_TRACE` prints.
        self.memory[start + text.len()] = 0;
        [i(at), i(text.len() as u32)]
    }

    fn u32_at(&self, at: u32) -> u32 {
        let at = at as usize;
        u32::from_le_bytes(self.memory[at..at + 4].try_into().expect("4 bytes"))
    }

    fn u64_at(&self, at: u32) -> u64 {
        let at = at as usize;
        u64::from_le_bytes(self.memory[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Calls `name`; `Err` if the call does not exist with these parameters (a harness bug).
    /// `FAASM_FUZZ_TRACE=1` prints each call, its paths and its errno on stderr (for triage).
    fn call(&mut self, name: &str, params: &[Val]) -> Result<Errno, String> {
        let mut mem = GuestMemory::new(&mut self.memory);
        let errno = call_wasi(&mut self.ctx, &mut mem, name, params)
            .ok_or_else(|| format!("{name} is not a WASI call taking {params:?}"))?;
        if std::env::var_os("FAASM_FUZZ_TRACE").is_some() {
            let text = |at: u32| {
                let bytes = &self.memory[at as usize..at as usize + 64];
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(64);
                String::from_utf8_lossy(&bytes[..end]).into_owned()
            };
            eprintln!("{name}: {errno:?} [{} | {}]", text(PATH_1), text(PATH_2));
        }
        Ok(errno)
    }

    fn open(&mut self, u: &mut Unstructured<'_>, fd: u32) -> ArbitraryResult<Result<(), String>> {
        let lookup = self.lookup(u)?;
        let path = self.path(u, PATH_1)?;
        let open_flags = u.int_in_range(0..=oflags::ALL)?;
        let write: bool = u.arbitrary()?;
        let base = if write {
            rights::FD_READ | rights::FD_WRITE
        } else {
            rights::FD_READ
        } | rights::FD_READDIR
            | rights::FD_FILESTAT_GET
            | rights::PATH_OPEN
            | rights::DIRECTORY_BASE;
        let args = [
            i(fd),
            i(lookup),
            path[0],
            path[1],
            i(u32::from(open_flags)),
            l(base),
            l(rights::ALL),
            i(0),
            i(OUT),
        ];
        Ok(match self.call("path_open", &args) {
            Ok(Errno::Success) => self.opened(self.u32_at(OUT)),
            other => other.map(drop),
        })
    }

    /// Checks what a fresh descriptor stands for, and keeps it (or closes it past `MAX_FDS`).
    fn opened(&mut self, fd: u32) -> Result<(), String> {
        self.check_fd_filestat(fd)?;
        if self.fds.len() < MAX_FDS {
            self.fds.push(fd);
            Ok(())
        } else {
            self.call("fd_close", &[i(fd)]).map(drop)
        }
    }

    fn check_fd_filestat(&mut self, fd: u32) -> Result<(), String> {
        if self.call("fd_filestat_get", &[i(fd), i(BUF)])? == Errno::Success {
            self.check_inode("fd_filestat_get", self.u64_at(BUF), self.u64_at(BUF + 8))?;
        }
        Ok(())
    }

    /// Reads up to a buffer from `fd` (or writes a few bytes to it).
    fn read_write(&mut self, fd: u32, write: bool) -> Result<(), String> {
        if write {
            self.put(BUF, "written by the guest");
            self.put_iovec(20);
            return self
                .call("fd_write", &[i(fd), i(IOVEC), i(1), i(OUT)])
                .map(drop);
        }
        self.put_iovec(BUF_LEN);
        if self.call("fd_read", &[i(fd), i(IOVEC), i(1), i(OUT)])? == Errno::Success {
            let read = self.u32_at(OUT).min(BUF_LEN);
            self.check_answer("fd_read", BUF, read)?;
        }
        self.check_fd_filestat(fd)
    }

    fn put_iovec(&mut self, len: u32) {
        let at = IOVEC as usize;
        self.memory[at..at + 4].copy_from_slice(&BUF.to_le_bytes());
        self.memory[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
    }

    fn readdir(&mut self, fd: u32, cookie: u64) -> Result<(), String> {
        let args = [i(fd), i(BUF), i(BUF_LEN), l(cookie), i(OUT)];
        if self.call("fd_readdir", &args)? != Errno::Success {
            return Ok(());
        }
        let used = self.u32_at(OUT).min(BUF_LEN);
        self.check_answer("fd_readdir", BUF, used)?;
        // Whole entries: 24-byte header (d_next, d_ino, d_namlen, d_type), then the name.
        let mut at = 0;
        while at + 24 <= used {
            let ino = self.u64_at(BUF + at + 8);
            self.check_inode_any_device("fd_readdir", ino)?;
            at += 24 + self.u32_at(BUF + at + 16);
        }
        Ok(())
    }

    fn stat(&mut self, fd: u32, lookup: u32, path: [Val; 2]) -> Result<(), String> {
        let args = [i(fd), i(lookup), path[0], path[1], i(BUF)];
        if self.call("path_filestat_get", &args)? == Errno::Success {
            self.check_inode("path_filestat_get", self.u64_at(BUF), self.u64_at(BUF + 8))?;
        }
        Ok(())
    }

    /// An answer of `len` bytes at `at` must not hold the sentinel's content or hidden name,
    /// nor the base directory's host path.
    fn check_answer(&self, call: &str, at: u32, len: u32) -> Result<(), String> {
        let bytes = &self.memory[at as usize..(at + len) as usize];
        let base = self.base.path.as_os_str().as_encoded_bytes();
        for (what, needle) in [
            ("the sentinel's content", SECRET),
            ("the sentinel's name", HIDDEN.as_bytes()),
            ("the base directory's path", base),
        ] {
            if contains(bytes, needle) {
                return Err(format!(
                    "{call} answered with {what}: {:?}",
                    String::from_utf8_lossy(bytes)
                ));
            }
        }
        Ok(())
    }

    fn check_inode(&self, call: &str, dev: u64, ino: u64) -> Result<(), String> {
        if self.base.outside.contains(&(dev, ino)) {
            return Err(format!(
                "{call} described an inode outside the root ({dev}, {ino})"
            ));
        }
        Ok(())
    }

    /// A `dirent` has no device: any outside inode of the base's device.
    fn check_inode_any_device(&self, call: &str, ino: u64) -> Result<(), String> {
        if self.base.outside.iter().any(|&(_, outside)| outside == ino) {
            return Err(format!("{call} listed an inode outside the root ({ino})"));
        }
        Ok(())
    }
}

/// A path of generated names: a few, or a long chain of one short piece; sometimes absolute,
/// sometimes with a trailing `/`.
fn generated_path(u: &mut Unstructured<'_>) -> ArbitraryResult<String> {
    let mut text = String::new();
    if u.ratio(1, 10)? {
        text.push('/');
    }
    if u.ratio(1, 8)? {
        let piece = [*u.choose(NAMES)?, *u.choose(NAMES)?].join("/");
        let times = u.int_in_range(2..=200usize)?;
        for _ in 0..times {
            if text.len() + piece.len() + 1 > MAX_PATH {
                break;
            }
            text.push_str(&piece);
            text.push('/');
        }
    }
    let count = u.int_in_range(1..=6usize)?;
    let names: Vec<&str> = (0..count)
        .map(|_| u.choose(NAMES).copied())
        .collect::<ArbitraryResult<_>>()?;
    text.push_str(&names.join("/"));
    if u.ratio(1, 8)? {
        text.push('/');
    }
    text.truncate(MAX_PATH);
    Ok(text)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn i(value: u32) -> Val {
    Val::I32(value as i32)
}

fn l(value: u64) -> Val {
    Val::I64(value as i64)
}
