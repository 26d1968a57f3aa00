//! Calls on descriptors: read, write, seek, stat, sizes, times, sync, close, renumber.

use super::WasiResult;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fdtable::{Descriptor, NotAFile};
use crate::memory::{GuestMemory, IoVec};
use crate::types::{Filestat, fdflags, fstflags, rights, whence};
use crate::wait::CallWait;
use cap_fs_ext::{DirExt, SystemTimeSpec};
use rustix::event::PollFlags;
use std::fs::{File, FileTimes};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime};

/// Total length of `iovecs`; more than `u32::MAX` (overlapping buffers) is `EINVAL`, as POSIX
/// says for a total past `SSIZE_MAX`.
fn total_len(iovecs: &[IoVec]) -> Result<u32, Errno> {
    let total: u64 = iovecs.iter().map(|v| u64::from(v.len)).sum();
    u32::try_from(total).map_err(|_| Errno::Inval)
}

/// Reads into each buffer in turn with `read_one(buffer, bytes so far)`, stopping after a short
/// read (as `readv` does). Returns the bytes read.
fn scatter(
    mem: &mut GuestMemory,
    iovecs: &[IoVec],
    mut read_one: impl FnMut(&mut [u8], u64) -> Result<usize, Errno>,
) -> Result<u32, Errno> {
    let mut done = 0u64;
    for iovec in iovecs {
        let n = mem.fill(iovec.ptr, iovec.len, |buf| read_one(buf, done))?;
        done += n as u64;
        if n < iovec.len as usize {
            break;
        }
    }
    u32::try_from(done).map_err(|_| Errno::Inval)
}

/// Writes each buffer in turn with `write_one(buffer, bytes so far)`. Returns the bytes written.
fn gather(
    mem: &GuestMemory,
    iovecs: &[IoVec],
    mut write_one: impl FnMut(&[u8], u64) -> Result<(), Errno>,
) -> Result<u32, Errno> {
    let mut done = 0u64;
    for iovec in iovecs {
        write_one(&mem.bytes(iovec.ptr, iovec.len)?, done)?;
        done += u64::from(iovec.len);
    }
    u32::try_from(done).map_err(|_| Errno::Inval)
}

/// `read` until `buf` is full or the file ends. A FIFO or device (non-blocking, see
/// [`crate::wait::make_nonblocking`]) returns what it has; with nothing yet, it is waited for until the
/// call's deadline, unless the guest asked for `NONBLOCK` (`EAGAIN` then).
fn read_full(
    file: &File,
    buf: &mut [u8],
    wait: &mut CallWait,
    nonblock: bool,
) -> Result<usize, Errno> {
    let mut reader = file;
    let mut done = 0;
    while done < buf.len() {
        match reader.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                if done > 0 {
                    break;
                }
                if nonblock {
                    return Err(Errno::Again);
                }
                wait.ready(file.as_fd(), PollFlags::IN)?;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(done)
}

/// `write_all`, waiting (until the call's deadline) while a FIFO or device is full, unless the
/// guest asked for `NONBLOCK` (`EAGAIN` then).
fn write_all(
    file: &File,
    mut data: &[u8],
    wait: &mut CallWait,
    nonblock: bool,
) -> Result<(), Errno> {
    let mut writer = file;
    while !data.is_empty() {
        let n = if nonblock {
            writer.write(data)?
        } else {
            wait.retry(file.as_fd(), PollFlags::OUT, || writer.write(data))?
        };
        if n == 0 {
            return Err(Errno::Io);
        }
        data = &data[n..];
    }
    Ok(())
}

/// `read_at` until `buf` is full or the file ends.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let at = offset.checked_add(done as u64).ok_or(Errno::Inval)?;
        match file.read_at(&mut buf[done..], at)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

pub(crate) fn fd_read(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nread: u32,
) -> WasiResult {
    let iovecs = mem.iovecs(iovs, iovs_len)?;
    total_len(&iovecs)?;
    mem.range(nread, 4)?;
    let entry = ctx.fds.get_mut(fd)?;
    if matches!(entry.descriptor, Descriptor::Dir(_)) {
        return Err(Errno::IsDir);
    }
    entry.require(rights::FD_READ)?;
    let nonblock = entry.flags & fdflags::NONBLOCK != 0;
    let wait = &mut ctx.wait;
    let n = match &mut entry.descriptor {
        Descriptor::File(file) => {
            scatter(mem, &iovecs, |buf, _| read_full(file, buf, wait, nonblock))?
        }
        Descriptor::Stream(stream) => {
            scatter(mem, &iovecs, |buf, _| stream.read(buf, wait, nonblock))?
        }
        Descriptor::Dir(_) => return Err(Errno::IsDir),
    };
    mem.write_u32(nread, n)?;
    Ok(())
}

pub(crate) fn fd_pread(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nread: u32,
) -> WasiResult {
    let iovecs = mem.iovecs(iovs, iovs_len)?;
    total_len(&iovecs)?;
    mem.range(nread, 4)?;
    let (file, _) = ctx
        .fds
        .file(fd, rights::FD_READ | rights::FD_SEEK, NotAFile::READ_AT)?;
    let n = scatter(mem, &iovecs, |buf, done| {
        read_full_at(file, buf, offset.saturating_add(done))
    })?;
    mem.write_u32(nread, n)?;
    Ok(())
}

pub(crate) fn fd_write(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nwritten: u32,
) -> WasiResult {
    let iovecs = mem.iovecs(iovs, iovs_len)?;
    total_len(&iovecs)?;
    mem.range(nwritten, 4)?;
    let entry = ctx.fds.get_mut(fd)?;
    if matches!(entry.descriptor, Descriptor::Dir(_)) {
        return Err(Errno::BadF);
    }
    entry.require(rights::FD_WRITE)?;
    let flags = entry.flags;
    let n = match &mut entry.descriptor {
        Descriptor::File(file) => {
            // Append is emulated (the file is never opened O_APPEND) so that
            // `fd_fdstat_set_flags` can turn it on and off.
            if flags & fdflags::APPEND != 0 {
                file.seek(SeekFrom::End(0))?;
            }
            let wait = &mut ctx.wait;
            let nonblock = flags & fdflags::NONBLOCK != 0;
            let n = gather(mem, &iovecs, |buf, _| write_all(file, buf, wait, nonblock))?;
            sync_after_write(file, flags)?;
            n
        }
        Descriptor::Stream(stream) => {
            let wait = &mut ctx.wait;
            gather(mem, &iovecs, |buf, _| stream.write(buf, wait))?
        }
        Descriptor::Dir(_) => return Err(Errno::BadF),
    };
    mem.write_u32(nwritten, n)?;
    Ok(())
}

/// Honours `DSYNC` / `SYNC` descriptor flags after a write.
fn sync_after_write(file: &File, flags: u16) -> WasiResult {
    if flags & fdflags::SYNC != 0 {
        file.sync_all()?;
    } else if flags & fdflags::DSYNC != 0 {
        file.sync_data()?;
    }
    Ok(())
}

pub(crate) fn fd_pwrite(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nwritten: u32,
) -> WasiResult {
    let iovecs = mem.iovecs(iovs, iovs_len)?;
    let total = total_len(&iovecs)?;
    mem.range(nwritten, 4)?;
    if offset
        .checked_add(u64::from(total))
        .is_none_or(|end| end > i64::MAX as u64)
    {
        return Err(Errno::FBig);
    }
    let (file, flags) = ctx
        .fds
        .file(fd, rights::FD_WRITE | rights::FD_SEEK, NotAFile::READ_AT)?;
    let n = gather(mem, &iovecs, |buf, done| {
        Ok(file.write_all_at(buf, offset + done)?)
    })?;
    sync_after_write(file, flags)?;
    mem.write_u32(nwritten, n)?;
    Ok(())
}

pub(crate) fn fd_seek(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    offset: i64,
    how: u32,
    new_offset: u32,
) -> WasiResult {
    let from = match u8::try_from(how).map_err(|_| Errno::Inval)? {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::Inval)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::Inval),
    };
    // Asking for the position is all `fd_tell` needs.
    let needed = if matches!(from, SeekFrom::Current(0)) {
        rights::FD_TELL
    } else {
        rights::FD_SEEK
    };
    mem.range(new_offset, 8)?;
    let (file, _) = ctx.fds.file(fd, needed, NotAFile::SEEKABLE)?;
    let position = file.seek(from)?;
    mem.write_u64(new_offset, position)?;
    Ok(())
}

pub(crate) fn fd_tell(ctx: &mut WasiCtx, mem: &mut GuestMemory, fd: u32, out: u32) -> WasiResult {
    mem.range(out, 8)?;
    let (file, _) = ctx.fds.file(fd, rights::FD_TELL, NotAFile::SEEKABLE)?;
    let position = file.stream_position()?;
    mem.write_u64(out, position)?;
    Ok(())
}

pub(crate) fn fd_close(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    ctx.fds.remove(fd).map(drop)
}

pub(crate) fn fd_renumber(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    from: u32,
    to: u32,
) -> WasiResult {
    if from == to {
        return ctx.fds.get(from).map(drop);
    }
    ctx.fds.renumber(from, to)
}

pub(crate) fn fd_fdstat_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    out: u32,
) -> WasiResult {
    let stat = ctx.fds.get(fd)?.fdstat();
    mem.write_bytes(out, &stat.encode())?;
    Ok(())
}

pub(crate) fn fd_fdstat_set_flags(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    flags: u32,
) -> WasiResult {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    if flags & !fdflags::ALL != 0 {
        return Err(Errno::Inval);
    }
    let entry = ctx.fds.get_mut(fd)?;
    entry.require(rights::FD_FDSTAT_SET_FLAGS)?;
    entry.flags = flags;
    Ok(())
}

/// Rights can only be dropped, never gained.
pub(crate) fn fd_fdstat_set_rights(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> WasiResult {
    let entry = ctx.fds.get_mut(fd)?;
    if base & !entry.rights_base != 0 || inheriting & !entry.rights_inheriting != 0 {
        return Err(Errno::NotCapable);
    }
    entry.rights_base = base;
    entry.rights_inheriting = inheriting;
    Ok(())
}

pub(crate) fn fd_filestat_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    out: u32,
) -> WasiResult {
    mem.range(out, crate::types::size::FILESTAT as u64)?;
    let entry = ctx.fds.get(fd)?;
    entry.require(rights::FD_FILESTAT_GET)?;
    let stat = match &entry.descriptor {
        Descriptor::File(file) => Filestat::from_metadata(&file.metadata()?),
        Descriptor::Dir(open) => Filestat::from_cap_metadata(&open.dir.dir_metadata()?),
        Descriptor::Stream(stream) => Filestat {
            filetype: stream.filetype(),
            ..Filestat::default()
        },
    };
    mem.write_bytes(out, &stat.encode())?;
    Ok(())
}

pub(crate) fn fd_filestat_set_size(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    size: u64,
) -> WasiResult {
    if size > i64::MAX as u64 {
        return Err(Errno::Inval);
    }
    let (file, _) = ctx
        .fds
        .file(fd, rights::FD_FILESTAT_SET_SIZE, NotAFile::RESIZE)?;
    file.set_len(size)?;
    Ok(())
}

/// Grows the file to at least `offset + len` bytes (what `posix_fallocate` guarantees; space is
/// not reserved ahead).
pub(crate) fn fd_allocate(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    offset: u64,
    len: u64,
) -> WasiResult {
    let end = offset
        .checked_add(len)
        .filter(|&end| end <= i64::MAX as u64)
        .ok_or(Errno::FBig)?;
    let (file, _) = ctx.fds.file(fd, rights::FD_ALLOCATE, NotAFile::RESIZE)?;
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}

/// Advice is only a hint: checked, then ignored.
pub(crate) fn fd_advise(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    _offset: u64,
    _len: u64,
    advice: u32,
) -> WasiResult {
    if advice > u32::from(crate::types::ADVICE_MAX) {
        return Err(Errno::Inval);
    }
    ctx.fds
        .file(fd, rights::FD_ADVISE, NotAFile::SEEKABLE)
        .map(drop)
}

pub(crate) fn fd_sync(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    sync(ctx, fd, rights::FD_SYNC, File::sync_all)
}

pub(crate) fn fd_datasync(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    sync(ctx, fd, rights::FD_DATASYNC, File::sync_data)
}

fn sync(
    ctx: &mut WasiCtx,
    fd: u32,
    right: u64,
    how: fn(&File) -> std::io::Result<()>,
) -> WasiResult {
    let entry = ctx.fds.get(fd)?;
    if matches!(entry.descriptor, Descriptor::Stream(_)) {
        // fsync of a pipe or terminal.
        return Err(Errno::Inval);
    }
    entry.require(right)?;
    match &entry.descriptor {
        Descriptor::File(file) => how(file)?,
        Descriptor::Dir(open) => how(&crate::sandbox::reopen_readable(&open.dir)?)?,
        Descriptor::Stream(_) => {}
    }
    Ok(())
}

/// The times a `*_set_times` call asks for, `None` for "leave it".
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestedTimes {
    pub(crate) atime: Option<Time>,
    pub(crate) mtime: Option<Time>,
}

/// One requested time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Time {
    /// The time of the change (`*_NOW`).
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

impl Time {
    fn system_time(self) -> SystemTime {
        match self {
            Time::Now => SystemTime::now(),
            Time::At(ns) => SystemTime::UNIX_EPOCH + Duration::from_nanos(ns),
        }
    }

    /// As cap-std sets times of a path (`UTIME_NOW` for "now").
    pub(crate) fn spec(self) -> SystemTimeSpec {
        match self {
            Time::Now => SystemTimeSpec::SymbolicNow,
            Time::At(_) => {
                SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(self.system_time()))
            }
        }
    }
}

impl RequestedTimes {
    /// As std sets times of an open file.
    fn file_times(self) -> FileTimes {
        let mut times = FileTimes::new();
        if let Some(atime) = self.atime {
            times = times.set_accessed(atime.system_time());
        }
        if let Some(mtime) = self.mtime {
            times = times.set_modified(mtime.system_time());
        }
        times
    }
}

/// Checks a `*_set_times` call's flags and reads the times it asks for.
pub(crate) fn requested_times(atim: u64, mtim: u64, flags: u32) -> Result<RequestedTimes, Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    let both = |given, now| flags & given != 0 && flags & now != 0;
    if flags & !fstflags::ALL != 0
        || both(fstflags::ATIM, fstflags::ATIM_NOW)
        || both(fstflags::MTIM, fstflags::MTIM_NOW)
    {
        return Err(Errno::Inval);
    }
    let pick = |ns, given, now| {
        if flags & given != 0 {
            Some(Time::At(ns))
        } else if flags & now != 0 {
            Some(Time::Now)
        } else {
            None
        }
    };
    Ok(RequestedTimes {
        atime: pick(atim, fstflags::ATIM, fstflags::ATIM_NOW),
        mtime: pick(mtim, fstflags::MTIM, fstflags::MTIM_NOW),
    })
}

pub(crate) fn fd_filestat_set_times(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> WasiResult {
    let times = requested_times(atim, mtim, flags)?;
    let entry = ctx.fds.get(fd)?;
    entry.require(rights::FD_FILESTAT_SET_TIMES)?;
    match &entry.descriptor {
        Descriptor::File(file) => file.set_times(times.file_times())?,
        Descriptor::Dir(open) => open.dir.set_times(
            ".",
            times.atime.map(Time::spec),
            times.mtime.map(Time::spec),
        )?,
        Descriptor::Stream(_) => return Err(Errno::BadF),
    }
    Ok(())
}

/// Bytes between the position of `file` and its end: what `poll_oneoff` reports readable.
pub(crate) fn readable_bytes(file: &mut File) -> Result<u64, Errno> {
    let len = file.metadata()?.len();
    let position = file.stream_position()?;
    Ok(len.saturating_sub(position))
}
