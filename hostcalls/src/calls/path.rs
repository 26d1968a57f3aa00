//! Calls on paths relative to a directory descriptor. Every path goes through
//! [`sandbox::resolve`](crate::sandbox::resolve) first.

use super::WasiResult;
use super::fd::file_times;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fdtable::{Descriptor, FdEntry, OpenDir};
use crate::memory::GuestMemory;
use crate::sandbox::{self, DirHandle, Resolved, resolve};
use crate::types::{Filestat, fdflags, lookupflags, oflags, rights};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

/// The directory `fd` (with `rights`) and the guest path at `path`/`len`.
fn dir_and_path<'m>(
    ctx: &WasiCtx,
    mem: &'m GuestMemory,
    fd: u32,
    rights: u64,
    path: u32,
    len: u32,
) -> Result<(DirHandle, &'m str), Errno> {
    let path = mem.str(path, len)?;
    let dir = ctx.fds.dir_handle(fd, rights)?.clone();
    Ok((dir, path))
}

fn follows(lookup: u32) -> bool {
    lookup & lookupflags::SYMLINK_FOLLOW != 0
}

/// Opens an existing target to read or change its metadata, refusing a final symbolic link
/// and anything the kernel found outside the root.
fn open_existing(target: &Resolved) -> Result<File, Errno> {
    let open = |write: bool| {
        OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target.host_path())
    };
    // Setting times needs ownership or write access, not read access: retry for write-only
    // files.
    let file = match open(false) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open(true)?,
        other => other?,
    };
    sandbox::check_opened_inside(&target.root, &file)?;
    Ok(file)
}

pub(crate) fn path_create_directory(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_CREATE_DIRECTORY, path, len)?;
    let target = resolve(&dir, path, false)?;
    std::fs::create_dir(target.named_path(Errno::Exist)?)?;
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
    let target = resolve(&dir, path, follows(lookup))?;
    let stat = Filestat::from_metadata(&target.metadata()?);
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
    let times = file_times(atim, mtim, flags)?;
    let (dir, path) = dir_and_path(ctx, mem, fd, rights::PATH_FILESTAT_SET_TIMES, path, len)?;
    let target = resolve(&dir, path, follows(lookup))?;
    if target.metadata()?.file_type().is_symlink() {
        // Changing a link's own times needs utimensat(AT_SYMLINK_NOFOLLOW), which std lacks.
        return Err(Errno::NotSup);
    }
    open_existing(&target)?.set_times(times)?;
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
    let (new_dir, new_path) = dir_and_path(
        ctx,
        mem,
        new_fd,
        rights::PATH_LINK_TARGET,
        new_path,
        new_len,
    )?;
    let old = resolve(&old_dir, old_path, follows(old_lookup))?;
    let new = resolve(&new_dir, new_path, false)?;
    // Hard links to directories are not allowed.
    let source = old.named_path(Errno::Perm)?;
    std::fs::hard_link(source, new.named_path(Errno::Exist)?)?;
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
    // A descriptor gets at most what its directory lets descriptors opened through it inherit.
    let inheritable = ctx.fds.get(fd)?.rights_inheriting;
    let request = OpenRequest {
        oflags: open_flags,
        fdflags: fd_flags,
        rights_base: rights_base & inheritable,
        rights_inheriting: rights_inheriting & inheritable,
        follow: follows(lookup),
    };
    let entry = open_target(&dir, path, request)?;
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

fn open_target(dir: &DirHandle, path: &str, request: OpenRequest) -> Result<FdEntry, Errno> {
    if request.has(oflags::DIRECTORY) && (request.has(oflags::CREAT) || request.has(oflags::TRUNC))
    {
        return Err(Errno::Inval);
    }
    let target = resolve(dir, path, request.follow)?;
    let exclusive = request.has(oflags::CREAT) && request.has(oflags::EXCL);
    let exists = match target.metadata() {
        Ok(_) if exclusive => return Err(Errno::Exist),
        // A last component left unfollowed is a link: O_NOFOLLOW's error.
        Ok(meta) if meta.file_type().is_symlink() => return Err(Errno::Loop),
        Ok(meta) if meta.is_dir() => return open_dir(target, request),
        Ok(_) if request.has(oflags::DIRECTORY) => return Err(Errno::NotDir),
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    if !exists && !request.has(oflags::CREAT) {
        return Err(Errno::NoEnt);
    }
    if !exists && target.trailing_slash {
        return Err(Errno::IsDir);
    }
    open_file(&target, exists, request)
}

fn open_dir(target: Resolved, request: OpenRequest) -> Result<FdEntry, Errno> {
    if request.wants_write() || request.has(oflags::TRUNC) {
        return Err(Errno::IsDir);
    }
    Ok(FdEntry {
        descriptor: Descriptor::Dir(OpenDir {
            handle: target.into_dir(),
            preopen_name: None,
        }),
        rights_base: request.rights_base & rights::DIRECTORY_BASE,
        rights_inheriting: request.rights_inheriting & rights::DIRECTORY_INHERITING,
        flags: request.fdflags,
    })
}

fn open_file(target: &Resolved, exists: bool, request: OpenRequest) -> Result<FdEntry, Errno> {
    let write = request.wants_write();
    // std needs write access to create or truncate; the descriptor's rights still decide what
    // the guest may do with it.
    let host_write = write || request.has(oflags::TRUNC) || !exists;
    let mut options = OpenOptions::new();
    options
        .read(request.rights_base & rights::FD_READ != 0 || !host_write)
        .write(host_write)
        .custom_flags(libc::O_NOFOLLOW);
    if exists {
        options.truncate(request.has(oflags::TRUNC));
    } else {
        options.create_new(true);
    }
    let file = options.open(target.named_path(Errno::IsDir)?)?;
    sandbox::check_opened_inside(&target.root, &file)?;
    Ok(FdEntry {
        descriptor: Descriptor::File(file),
        rights_base: request.rights_base & rights::REGULAR_FILE_BASE,
        rights_inheriting: request.rights_inheriting,
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
    let target = resolve(&dir, path, false)?;
    let link = std::fs::read_link(target.named_path(Errno::Inval)?)?;
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
    let target = resolve(&dir, path, false)?;
    // `.`, `..` or the root itself.
    let host = target.named_path(Errno::Inval)?;
    if !target.metadata()?.is_dir() {
        return Err(Errno::NotDir);
    }
    std::fs::remove_dir(host)?;
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
    let (new_dir, new_path) = dir_and_path(
        ctx,
        mem,
        new_fd,
        rights::PATH_RENAME_TARGET,
        new_path,
        new_len,
    )?;
    let old = resolve(&old_dir, old_path, false)?;
    let new = resolve(&new_dir, new_path, false)?;
    let (from, to) = (old.named_path(Errno::Busy)?, new.named_path(Errno::Busy)?);
    std::fs::rename(from, to)?;
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
    if target.is_empty() {
        return Err(Errno::NoEnt);
    }
    if target.contains('\0') {
        return Err(Errno::Inval);
    }
    let link = resolve(&dir, path, false)?;
    let host = link.named_path(Errno::Exist)?;
    if !sandbox::symlink_target_stays_inside(&link, target) {
        return Err(Errno::Perm);
    }
    std::os::unix::fs::symlink(target, host)?;
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
    let target = resolve(&dir, path, false)?;
    let host = target.named_path(Errno::IsDir)?;
    if target.metadata()?.is_dir() {
        return Err(Errno::IsDir);
    }
    std::fs::remove_file(host)?;
    Ok(())
}
