//! Calls on paths relative to a directory descriptor. Each one hands the guest's path to the
//! descriptor's open directory, beneath which cap-std resolves it in the kernel
//! ([`crate::sandbox`]); nothing here judges where a path leads.

use super::WasiResult;
use super::fd::{Time, requested_times};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fdtable::{Descriptor, FdEntry, OpenDir};
use crate::memory::GuestMemory;
use crate::sandbox::{guest_path, requires_dir};
use crate::types::{Filestat, fdflags, lookupflags, oflags, rights};
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

/// The open directory of `fd` (with `rights`) and the guest path at `path`/`len`.
fn dir_and_path<'c, 'm>(
    ctx: &'c WasiCtx,
    mem: &'m GuestMemory,
    fd: u32,
    rights: u64,
    path: u32,
    len: u32,
) -> Result<(&'c Dir, Cow<'m, Path>), Errno> {
    let path = match mem.str(path, len)? {
        Cow::Borrowed(text) => Cow::Borrowed(guest_path(text)?),
        Cow::Owned(text) => Cow::Owned(guest_path(&text)?.to_path_buf()),
    };
    let dir = ctx.fds.dir_handle(fd, rights)?;
    Ok((dir, path))
}

fn follows(lookup: u32) -> bool {
    lookup & lookupflags::SYMLINK_FOLLOW != 0
}

/// For a path whose form names a directory (`x/`, `x/.`): fails with `ENOTDIR` unless it leads
/// to one (following links), as the kernel would.
fn check_names_a_dir(dir: &Dir, path: &Path) -> WasiResult {
    if requires_dir(path) && !dir.metadata(path)?.is_dir() {
        return Err(Errno::NotDir);
    }
    Ok(())
}

/// Refuses a path ending in `/` where a call creates something that is not a directory (a
/// link): POSIX resolves such a path as a directory, which a new link cannot be. `EEXIST` if
/// something is there already, as Linux says, `ENOENT` otherwise.
fn refuse_trailing_slash(dir: &Dir, path: &Path) -> WasiResult {
    if !path.as_os_str().as_bytes().ends_with(b"/") {
        return Ok(());
    }
    match dir.symlink_metadata(path) {
        Ok(_) => Err(Errno::Exist),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Errno::NoEnt),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn path_create_directory(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_CREATE_DIRECTORY, path, len)?;
    let path: &Path = &path;
    dir.create_dir(path)?;
    Ok(())
}

pub(crate) fn path_filestat_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    lookup: u32,
    path: u32,
    len: u32,
    out: u32,
) -> WasiResult {
    mem.range(out, crate::types::size::FILESTAT as u64)?;
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_FILESTAT_GET, path, len)?;
    let path: &Path = &path;
    // A path naming a directory by its form is resolved as one, its final link followed.
    let meta = if follows(lookup) || requires_dir(path) {
        dir.metadata(path)?
    } else {
        dir.symlink_metadata(path)?
    };
    if requires_dir(path) && !meta.is_dir() {
        return Err(Errno::NotDir);
    }
    let stat = Filestat::from_cap_metadata(&meta);
    mem.write_bytes(out, &stat.encode())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)] // The witx signature.
pub(crate) fn path_filestat_set_times(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    lookup: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> WasiResult {
    let times = requested_times(atim, mtim, flags)?;
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_FILESTAT_SET_TIMES, path, len)?;
    let path: &Path = &path;
    check_names_a_dir(dir, path)?;
    let (atime, mtime) = (times.atime.map(Time::spec), times.mtime.map(Time::spec));
    if follows(lookup) || requires_dir(path) {
        dir.set_times(path, atime, mtime)?;
    } else {
        // A final symbolic link gets its own times changed (`AT_SYMLINK_NOFOLLOW`).
        dir.set_symlink_times(path, atime, mtime)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // The witx signature.
pub(crate) fn path_link(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    old_fd: u32,
    old_lookup: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    let (old_dir, old_path) = dir_and_path(
        ctx,
        mem,
        old_fd,
        rights::PATH_LINK_SOURCE,
        old_path,
        old_len,
    )?;
    let old_path: &Path = &old_path;
    let (new_dir, new_path) = dir_and_path(
        ctx,
        mem,
        new_fd,
        rights::PATH_LINK_TARGET,
        new_path,
        new_len,
    )?;
    let new_path: &Path = &new_path;
    refuse_trailing_slash(new_dir, new_path)?;
    if follows(old_lookup) {
        // `linkat(AT_SYMLINK_FOLLOW)`: link what the source's links lead to, found beneath the
        // source's directory. If the tree changes before the link is made, the link is still
        // made beneath it (both steps resolve beneath their descriptors).
        let source = old_dir.canonicalize(old_path)?;
        old_dir.hard_link(source, new_dir, new_path)?;
    } else {
        old_dir.hard_link(old_path, new_dir, new_path)?;
    }
    Ok(())
}

/// What `path_open` was asked for, after checks.
#[derive(Clone, Copy, Debug)]
struct OpenRequest {
    oflags: u16,
    fdflags: u16,
    rights_base: u64,
    rights_inheriting: u64,
    follow: bool,
}

impl OpenRequest {
    fn has(&self, flag: u16) -> bool {
        self.oflags & flag != 0
    }

    fn wants_write(&self) -> bool {
        self.rights_base & rights::FD_WRITE != 0 || self.fdflags & fdflags::APPEND != 0
    }
}

#[allow(clippy::too_many_arguments)] // The witx signature.
pub(crate) fn path_open(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    lookup: u32,
    path: u32,
    len: u32,
    open_flags: u32,
    rights_base: u64,
    rights_inheriting: u64,
    fd_flags: u32,
    fd_out: u32,
) -> WasiResult {
    mem.range(fd_out, 4)?;
    let open_flags = flags16(open_flags, oflags::ALL)?;
    let fd_flags = flags16(fd_flags, fdflags::ALL)?;
    let mut needed = rights::PATH_OPEN;
    if open_flags & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if open_flags & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let (dir, path) = dir_and_path(ctx, mem, fd, needed, path, len)?;
    let path: &Path = &path;
    // A descriptor gets at most what its directory lets descriptors opened through it inherit.
    let inheritable = ctx.fds.get(fd)?.rights_inheriting;
    // Appending is writing: refused where no descriptor may write (a read-only preopen),
    // rather than opening the host file for writing with rights that forbid it.
    if fd_flags & fdflags::APPEND != 0 && inheritable & rights::FD_WRITE == 0 {
        return Err(Errno::NotCapable);
    }
    let request = OpenRequest {
        oflags: open_flags,
        fdflags: fd_flags,
        rights_base: rights_base & inheritable,
        rights_inheriting: rights_inheriting & inheritable,
        follow: follows(lookup),
    };
    let entry = open_target(dir, path, request)?;
    let new_fd = ctx.fds.insert(entry)?;
    mem.write_u32(fd_out, new_fd)?;
    Ok(())
}

/// `flags` if it fits in 16 bits and uses only bits of `all`, else `EINVAL`.
fn flags16(flags: u32, all: u16) -> Result<u16, Errno> {
    u16::try_from(flags)
        .ok()
        .filter(|f| f & !all == 0)
        .ok_or(Errno::Inval)
}

/// Opens `path` beneath `dir` as `request` says; what the kernel opened (a directory or a
/// file) decides the kind of descriptor.
fn open_target(dir: &Dir, path: &Path, request: OpenRequest) -> Result<FdEntry, Errno> {
    if request.has(oflags::DIRECTORY) {
        if request.has(oflags::CREAT) || request.has(oflags::TRUNC) {
            return Err(Errno::Inval);
        }
        let opened = if request.follow {
            dir.open_dir(path)?
        } else {
            dir.open_dir_nofollow(path)?
        };
        return dir_entry(opened, request);
    }
    let file = dir.open_with(path, &open_options(request))?;
    if file.metadata()?.is_dir() {
        return dir_entry(Dir::from_std_file(file.into_std()), request);
    }
    Ok(FdEntry {
        descriptor: Descriptor::File(file.into_std()),
        rights_base: request.rights_base & rights::REGULAR_FILE_BASE,
        rights_inheriting: request.rights_inheriting,
        flags: request.fdflags,
    })
}

/// The host open of a `path_open` that may find a file or a directory.
fn open_options(request: OpenRequest) -> OpenOptions {
    // The host needs write access to create or truncate; the descriptor's rights still decide
    // what the guest may do with it (a directory asked for with write access is `EISDIR`).
    let write = request.wants_write() || request.has(oflags::CREAT) || request.has(oflags::TRUNC);
    let mut options = OpenOptions::new();
    options
        .read(request.rights_base & rights::FD_READ != 0 || !write)
        .write(write)
        .truncate(request.has(oflags::TRUNC));
    if request.has(oflags::CREAT) && request.has(oflags::EXCL) {
        options.create_new(true);
    } else if request.has(oflags::CREAT) {
        options.create(true);
    }
    // Never wait in the open itself: a FIFO without a writer would block `open(2)` for ever,
    // past the call's deadline. With `O_NONBLOCK` a read-only open returns at once (the reads
    // then wait, at most until the deadline) and a write-only open without a reader is `ENXIO`.
    // Regular files and directories ignore the flag.
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    options.maybe_dir(!write).follow(if request.follow {
        FollowSymlinks::Yes
    } else {
        // A final link is refused (`O_NOFOLLOW`: `ELOOP`).
        FollowSymlinks::No
    });
    options
}

/// The descriptor of an opened directory; one asked for with write access is `EISDIR`.
fn dir_entry(dir: Dir, request: OpenRequest) -> Result<FdEntry, Errno> {
    if request.wants_write() {
        return Err(Errno::IsDir);
    }
    Ok(FdEntry {
        descriptor: Descriptor::Dir(OpenDir {
            dir: Arc::new(dir),
            preopen_name: None,
        }),
        rights_base: request.rights_base & rights::DIRECTORY_BASE,
        rights_inheriting: request.rights_inheriting & rights::DIRECTORY_INHERITING,
        flags: request.fdflags,
    })
}

#[allow(clippy::too_many_arguments)] // The witx signature.
pub(crate) fn path_readlink(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> WasiResult {
    mem.range(bufused, 4)?;
    mem.range(buf, u64::from(buf_len))?;
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_READLINK, path, len)?;
    let path: &Path = &path;
    // A link naming an absolute path (only the host can make one) is `EPERM`, as Wasmtime
    // answers: its text would name a host path outside the sandbox.
    if requires_dir(path) {
        // What `x/` leads to is a directory (or an error), never a link.
        check_names_a_dir(dir, path)?;
        return Err(Errno::Inval);
    }
    let link = dir.read_link(path)?;
    // Longer contents are truncated, as POSIX readlink does.
    let bytes = link.as_os_str().as_bytes();
    let n = bytes.len().min(buf_len as usize);
    mem.write_bytes(buf, &bytes[..n])?;
    mem.write_u32(bufused, n as u32)?;
    Ok(())
}

pub(crate) fn path_remove_directory(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_REMOVE_DIRECTORY, path, len)?;
    let path: &Path = &path;
    dir.remove_dir(path)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)] // The witx signature.
pub(crate) fn path_rename(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    let (old_dir, old_path) =
        dir_and_path(ctx, mem, fd, rights::PATH_RENAME_SOURCE, old_path, old_len)?;
    let old_path: &Path = &old_path;
    let (new_dir, new_path) = dir_and_path(
        ctx,
        mem,
        new_fd,
        rights::PATH_RENAME_TARGET,
        new_path,
        new_len,
    )?;
    let new_path: &Path = &new_path;
    old_dir.rename(old_path, new_dir, new_path)?;
    Ok(())
}

pub(crate) fn path_symlink(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    target: u32,
    target_len: u32,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let target = mem.str(target, target_len)?;
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_SYMLINK, path, len)?;
    let path: &Path = &path;
    if target.is_empty() {
        return Err(Errno::NoEnt);
    }
    if target.contains('\0') {
        return Err(Errno::Inval);
    }
    refuse_trailing_slash(dir, path)?;
    // Any relative target may be written (whether it leads somewhere beneath a descriptor is
    // decided each time the link is used); an absolute one never could, and is `EPERM`, as
    // Wasmtime answers.
    if target.starts_with('/') {
        return Err(Errno::Perm);
    }
    dir.symlink_contents(&*target, path)?;
    Ok(())
}

pub(crate) fn path_unlink_file(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_UNLINK_FILE, path, len)?;
    let path: &Path = &path;
    if requires_dir(path) {
        // `x/` is a directory (`EISDIR`) or not one (`ENOTDIR`): never a file to unlink.
        check_names_a_dir(dir, path)?;
        return Err(Errno::IsDir);
    }
    dir.remove_file_or_symlink(path)?;
    Ok(())
}
