//! Directory descriptors: `fd_readdir` and the preopen queries.

use super::{WasiResult, guest_size};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fdtable::Descriptor;
use crate::memory::GuestMemory;
use crate::types::{cap_filetype_of, encode_dirent, encode_prestat_dir, filetype, rights};
use cap_std::fs::{Dir, MetadataExt};
use rustix::fs::DirEntryExt;
use std::os::unix::ffi::OsStrExt;

/// One entry `fd_readdir` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) ino: u64,
    pub(crate) filetype: u8,
}

/// The entries of `dir`: `.` and `..` first, then the rest sorted by name, so that a cookie
/// (an index into this list) means the same entry from one call to the next while the
/// directory does not change. `..` describes the directory itself: nothing above a descriptor
/// is visible through it (the kernel lists the directory the descriptor holds, wherever it has
/// been moved to since).
pub(crate) fn list(dir: &Dir) -> Result<Vec<DirEntry>, Errno> {
    let ino = dir.dir_metadata()?.ino();
    let dot = |name: &[u8]| DirEntry {
        name: name.to_vec(),
        ino,
        filetype: filetype::DIRECTORY,
    };
    let mut entries = vec![dot(b"."), dot(b"..")];
    let mut rest = Vec::new();
    for entry in dir.entries()? {
        let entry = entry?;
        rest.push(DirEntry {
            name: entry.file_name().as_bytes().to_vec(),
            ino: entry.ino(),
            filetype: entry.file_type().map_or(filetype::UNKNOWN, cap_filetype_of),
        });
    }
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    entries.extend(rest);
    Ok(entries)
}

/// Encodes `entries` from index `cookie` on into `buf`, each as a 24-byte `dirent` (whose
/// `d_next` is the cookie of the entry after it) followed by its name. The last entry is cut
/// where the buffer ends, as the spec says: a guest that gets a full buffer reads again from
/// the last whole entry's cookie. Returns the bytes used.
pub(crate) fn encode_entries(entries: &[DirEntry], cookie: u64, buf: &mut [u8]) -> usize {
    let start = usize::try_from(cookie).unwrap_or(usize::MAX);
    let mut used = 0;
    for (index, entry) in entries.iter().enumerate().skip(start) {
        // Names are at most a few hundred bytes (NAME_MAX), so the length fits.
        let name_len = entry.name.len() as u32;
        let header = encode_dirent(index as u64 + 1, entry.ino, name_len, entry.filetype);
        for part in [&header[..], &entry.name[..]] {
            let n = part.len().min(buf.len() - used);
            buf[used..used + n].copy_from_slice(&part[..n]);
            used += n;
        }
        if used == buf.len() {
            break;
        }
    }
    used
}

pub(crate) fn fd_readdir(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    bufused: u32,
) -> WasiResult {
    mem.range(bufused, 4)?;
    mem.range(buf, u64::from(buf_len))?;
    let entry = ctx.fds.get(fd)?;
    let Descriptor::Dir(dir) = &entry.descriptor else {
        return Err(Errno::NotDir);
    };
    entry.require(rights::FD_READDIR)?;
    let entries = list(&dir.dir)?;
    let used = mem.fill(buf, buf_len, |out| {
        Ok::<_, Errno>(encode_entries(&entries, cookie, out))
    })?;
    mem.write_u32(bufused, guest_size(used)?)?;
    Ok(())
}

/// The guest name of preopen `fd`; `EBADF` for any other descriptor (wasi-libc scans up from
/// fd 3 until it gets `EBADF`).
fn preopen_name(ctx: &WasiCtx, fd: u32) -> Result<&str, Errno> {
    match &ctx.fds.get(fd)?.descriptor {
        Descriptor::Dir(dir) => dir.preopen_name.as_deref().ok_or(Errno::BadF),
        _ => Err(Errno::BadF),
    }
}

pub(crate) fn fd_prestat_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    out: u32,
) -> WasiResult {
    let len = guest_size(preopen_name(ctx, fd)?.len())?;
    mem.write_bytes(out, &encode_prestat_dir(len))?;
    Ok(())
}

/// Writes the name without a NUL; a buffer shorter than the name is `ENAMETOOLONG`.
pub(crate) fn fd_prestat_dir_name(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    path_len: u32,
) -> WasiResult {
    let name = preopen_name(ctx, fd)?;
    if (path_len as usize) < name.len() {
        return Err(Errno::NameTooLong);
    }
    mem.write_bytes(path, name.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, ino: u64) -> DirEntry {
        DirEntry {
            name: name.as_bytes().to_vec(),
            ino,
            filetype: filetype::REGULAR_FILE,
        }
    }

    #[test]
    fn entries_carry_next_cookies_and_names() {
        let entries = [entry("ab", 10), entry("cde", 11)];
        let mut buf = [0u8; 100];
        let used = encode_entries(&entries, 0, &mut buf);
        assert_eq!(used, 24 + 2 + 24 + 3);
        assert_eq!(buf[0], 1); // d_next of the first entry
        assert_eq!(buf[8], 10); // d_ino
        assert_eq!(buf[16], 2); // d_namlen
        assert_eq!(buf[20], filetype::REGULAR_FILE);
        assert_eq!(&buf[24..26], b"ab");
        assert_eq!(buf[26], 2);
        assert_eq!(&buf[50..53], b"cde");
        // From cookie 1: only the second entry.
        assert_eq!(encode_entries(&entries, 1, &mut buf), 27);
        assert_eq!(encode_entries(&entries, 2, &mut buf), 0);
        assert_eq!(encode_entries(&entries, u64::MAX, &mut buf), 0);
    }

    #[test]
    fn the_last_entry_is_truncated_to_fill_the_buffer() {
        let entries = [entry("ab", 10), entry("cde", 11)];
        let mut buf = [0u8; 30];
        assert_eq!(encode_entries(&entries, 0, &mut buf), 30);
        assert_eq!(&buf[24..26], b"ab");
        // Four bytes of the second header, whose d_next is 2.
        assert_eq!(&buf[26..30], &[2, 0, 0, 0]);
        let mut tiny = [0u8; 10];
        assert_eq!(encode_entries(&entries, 0, &mut tiny), 10);
    }
}
