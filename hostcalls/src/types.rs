//! Constants and struct layouts of `wasi_snapshot_preview1`, exactly as its witx defines them.
//! Structs are encoded by hand into little-endian byte arrays of their witx size, so no layout
//! depends on Rust's.

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// `filetype` values.
pub mod filetype {
    /// `unknown`
    pub const UNKNOWN: u8 = 0;
    /// `block_device`
    pub const BLOCK_DEVICE: u8 = 1;
    /// `character_device`
    pub const CHARACTER_DEVICE: u8 = 2;
    /// `directory`
    pub const DIRECTORY: u8 = 3;
    /// `regular_file`
    pub const REGULAR_FILE: u8 = 4;
    /// `socket_dgram`
    pub const SOCKET_DGRAM: u8 = 5;
    /// `socket_stream`
    pub const SOCKET_STREAM: u8 = 6;
    /// `symbolic_link`
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `rights` bits.
pub mod rights {
    /// `fd_datasync`
    pub const FD_DATASYNC: u64 = 1 << 0;
    /// `fd_read`
    pub const FD_READ: u64 = 1 << 1;
    /// `fd_seek`
    pub const FD_SEEK: u64 = 1 << 2;
    /// `fd_fdstat_set_flags`
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    /// `fd_sync`
    pub const FD_SYNC: u64 = 1 << 4;
    /// `fd_tell`
    pub const FD_TELL: u64 = 1 << 5;
    /// `fd_write`
    pub const FD_WRITE: u64 = 1 << 6;
    /// `fd_advise`
    pub const FD_ADVISE: u64 = 1 << 7;
    /// `fd_allocate`
    pub const FD_ALLOCATE: u64 = 1 << 8;
    /// `path_create_directory`
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    /// `path_create_file`
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    /// `path_link_source`
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    /// `path_link_target`
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    /// `path_open`
    pub const PATH_OPEN: u64 = 1 << 13;
    /// `fd_readdir`
    pub const FD_READDIR: u64 = 1 << 14;
    /// `path_readlink`
    pub const PATH_READLINK: u64 = 1 << 15;
    /// `path_rename_source`
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    /// `path_rename_target`
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    /// `path_filestat_get`
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    /// `path_filestat_set_size`
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    /// `path_filestat_set_times`
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    /// `fd_filestat_get`
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    /// `fd_filestat_set_size`
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    /// `fd_filestat_set_times`
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    /// `path_symlink`
    pub const PATH_SYMLINK: u64 = 1 << 24;
    /// `path_remove_directory`
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    /// `path_unlink_file`
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    /// `poll_fd_readwrite`
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    /// `sock_shutdown`
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    /// `sock_accept`
    pub const SOCK_ACCEPT: u64 = 1 << 29;
    /// Every right preview1 defines.
    pub const ALL: u64 = (1 << 30) - 1;

    /// What a regular file's descriptor can do.
    pub const REGULAR_FILE_BASE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// What a directory's descriptor can do.
    pub const DIRECTORY_BASE: u64 = FD_DATASYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | POLL_FD_READWRITE;
    /// What descriptors opened through a directory may get.
    pub const DIRECTORY_INHERITING: u64 = DIRECTORY_BASE | REGULAR_FILE_BASE;
    /// What a regular file opened through a read-only directory can do: read, seek, sync and
    /// stat; no write, resize, allocation or change of times.
    pub const REGULAR_FILE_READ_ONLY: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_ADVISE
        | FD_FILESTAT_GET
        | POLL_FD_READWRITE;
    /// What a read-only directory's descriptor can do: open, list, stat and read links; nothing
    /// that creates, removes, renames, links, truncates or changes times (a hard link of one
    /// of its files into a writable directory would let the file be written there).
    pub const DIRECTORY_READ_ONLY: u64 = FD_DATASYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_FILESTAT_GET
        | FD_FILESTAT_GET
        | POLL_FD_READWRITE;
    /// What descriptors opened through a read-only directory may get: read-only again.
    pub const DIRECTORY_READ_ONLY_INHERITING: u64 = DIRECTORY_READ_ONLY | REGULAR_FILE_READ_ONLY;
    /// What a standard stream can do: no seek or tell, so `isatty`-style checks see a stream.
    pub const STREAM_BASE: u64 =
        FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE;
}

/// `fdflags` bits.
pub mod fdflags {
    /// `append`
    pub const APPEND: u16 = 1 << 0;
    /// `dsync`
    pub const DSYNC: u16 = 1 << 1;
    /// `nonblock`
    pub const NONBLOCK: u16 = 1 << 2;
    /// `rsync`
    pub const RSYNC: u16 = 1 << 3;
    /// `sync`
    pub const SYNC: u16 = 1 << 4;
    /// Every flag preview1 defines.
    pub const ALL: u16 = (1 << 5) - 1;
}

/// `oflags` bits of `path_open`.
pub mod oflags {
    /// `creat`
    pub const CREAT: u16 = 1 << 0;
    /// `directory`
    pub const DIRECTORY: u16 = 1 << 1;
    /// `excl`
    pub const EXCL: u16 = 1 << 2;
    /// `trunc`
    pub const TRUNC: u16 = 1 << 3;
    /// Every flag preview1 defines.
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `lookupflags` bits.
pub mod lookupflags {
    /// `symlink_follow`
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

/// `fstflags` bits of the `*_set_times` calls.
pub mod fstflags {
    /// `atim`: set the access time to the given value.
    pub const ATIM: u16 = 1 << 0;
    /// `atim_now`: set the access time to now.
    pub const ATIM_NOW: u16 = 1 << 1;
    /// `mtim`: set the modification time to the given value.
    pub const MTIM: u16 = 1 << 2;
    /// `mtim_now`: set the modification time to now.
    pub const MTIM_NOW: u16 = 1 << 3;
    /// Every flag preview1 defines.
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `whence` values of `fd_seek`.
pub mod whence {
    /// `set`
    pub const SET: u8 = 0;
    /// `cur`
    pub const CUR: u8 = 1;
    /// `end`
    pub const END: u8 = 2;
}

/// `clockid` values.
pub mod clockid {
    /// `realtime`
    pub const REALTIME: u32 = 0;
    /// `monotonic`
    pub const MONOTONIC: u32 = 1;
    /// `process_cputime_id`
    pub const PROCESS_CPUTIME: u32 = 2;
    /// `thread_cputime_id`
    pub const THREAD_CPUTIME: u32 = 3;
}

/// `eventtype` values.
pub mod eventtype {
    /// `clock`
    pub const CLOCK: u8 = 0;
    /// `fd_read`
    pub const FD_READ: u8 = 1;
    /// `fd_write`
    pub const FD_WRITE: u8 = 2;
}

/// `subclockflags` bits.
pub mod subclockflags {
    /// `subscription_clock_abstime`
    pub const ABSTIME: u16 = 1 << 0;
}

/// `advice` values: `normal` (0) to `noreuse` (5).
pub const ADVICE_MAX: u8 = 5;

/// `preopentype` `dir`.
pub const PREOPENTYPE_DIR: u8 = 0;

/// Sizes of the witx structs, in bytes.
pub mod size {
    /// `iovec` / `ciovec`: `buf: u32, buf_len: u32`.
    pub const IOVEC: u32 = 8;
    /// `filestat`.
    pub const FILESTAT: usize = 64;
    /// `fdstat`.
    pub const FDSTAT: usize = 24;
    /// `prestat`.
    pub const PRESTAT: usize = 8;
    /// `dirent`, without the name that follows it.
    pub const DIRENT: usize = 24;
    /// `event`.
    pub const EVENT: u32 = 32;
    /// `subscription`.
    pub const SUBSCRIPTION: u32 = 48;
}

/// `filestat`: what `fd_filestat_get` and `path_filestat_get` return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filestat {
    /// Device id.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// A [`filetype`] value.
    pub filetype: u8,
    /// Number of hard links.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last access, ns since the epoch.
    pub atim: u64,
    /// Last modification, ns since the epoch.
    pub mtim: u64,
    /// Last status change, ns since the epoch.
    pub ctim: u64,
}

impl Filestat {
    /// The filestat of a host file's metadata.
    pub fn from_metadata(meta: &Metadata) -> Filestat {
        Filestat {
            dev: meta.dev(),
            ino: meta.ino(),
            filetype: filetype_of(meta.file_type()),
            nlink: meta.nlink(),
            size: meta.size(),
            atim: timestamp(meta.atime(), meta.atime_nsec()),
            mtim: timestamp(meta.mtime(), meta.mtime_nsec()),
            ctim: timestamp(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The filestat of metadata cap-std read beneath a directory descriptor.
    pub(crate) fn from_cap_metadata(meta: &cap_std::fs::Metadata) -> Filestat {
        use cap_std::fs::MetadataExt;
        Filestat {
            dev: meta.dev(),
            ino: meta.ino(),
            filetype: cap_filetype_of(meta.file_type()),
            nlink: meta.nlink(),
            size: meta.size(),
            atim: timestamp(meta.atime(), meta.atime_nsec()),
            mtim: timestamp(meta.mtime(), meta.mtime_nsec()),
            ctim: timestamp(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The witx encoding: dev@0, ino@8, filetype@16, nlink@24, size@32, atim@40, mtim@48,
    /// ctim@56.
    pub fn encode(&self) -> [u8; size::FILESTAT] {
        let mut out = [0u8; size::FILESTAT];
        put_u64(&mut out, 0, self.dev);
        put_u64(&mut out, 8, self.ino);
        out[16] = self.filetype;
        put_u64(&mut out, 24, self.nlink);
        put_u64(&mut out, 32, self.size);
        put_u64(&mut out, 40, self.atim);
        put_u64(&mut out, 48, self.mtim);
        put_u64(&mut out, 56, self.ctim);
        out
    }
}

/// `fdstat`: what `fd_fdstat_get` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fdstat {
    /// A [`filetype`] value.
    pub filetype: u8,
    /// [`fdflags`] bits.
    pub flags: u16,
    /// [`rights`] of the descriptor.
    pub rights_base: u64,
    /// [`rights`] descriptors opened through it may get.
    pub rights_inheriting: u64,
}

impl Fdstat {
    /// The witx encoding: filetype@0, flags@2, rights_base@8, rights_inheriting@16.
    pub fn encode(&self) -> [u8; size::FDSTAT] {
        let mut out = [0u8; size::FDSTAT];
        out[0] = self.filetype;
        out[2..4].copy_from_slice(&self.flags.to_le_bytes());
        put_u64(&mut out, 8, self.rights_base);
        put_u64(&mut out, 16, self.rights_inheriting);
        out
    }
}

/// The witx encoding of `prestat` for a directory whose guest name is `name_len` bytes long:
/// tag@0, pr_name_len@4.
pub fn encode_prestat_dir(name_len: u32) -> [u8; size::PRESTAT] {
    let mut out = [0u8; size::PRESTAT];
    out[0] = PREOPENTYPE_DIR;
    out[4..8].copy_from_slice(&name_len.to_le_bytes());
    out
}

/// The witx encoding of a `dirent` header (the name follows it): d_next@0, d_ino@8,
/// d_namlen@16, d_type@20.
pub fn encode_dirent(
    next_cookie: u64,
    ino: u64,
    name_len: u32,
    filetype: u8,
) -> [u8; size::DIRENT] {
    let mut out = [0u8; size::DIRENT];
    put_u64(&mut out, 0, next_cookie);
    put_u64(&mut out, 8, ino);
    out[16..20].copy_from_slice(&name_len.to_le_bytes());
    out[20] = filetype;
    out
}

/// An `event` of `poll_oneoff`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The subscription's user data.
    pub userdata: u64,
    /// An [`Errno`](crate::Errno) value.
    pub error: u16,
    /// An [`eventtype`] value.
    pub kind: u8,
    /// For fd events: bytes available to read (or room to write).
    pub nbytes: u64,
    /// For fd events: `eventrwflags` (1 = hangup).
    pub flags: u16,
}

impl Event {
    /// The witx encoding: userdata@0, error@8, type@10, fd_readwrite.nbytes@16,
    /// fd_readwrite.flags@24.
    pub fn encode(&self) -> [u8; size::EVENT as usize] {
        let mut out = [0u8; size::EVENT as usize];
        put_u64(&mut out, 0, self.userdata);
        out[8..10].copy_from_slice(&self.error.to_le_bytes());
        out[10] = self.kind;
        put_u64(&mut out, 16, self.nbytes);
        out[24..26].copy_from_slice(&self.flags.to_le_bytes());
        out
    }
}

/// The preview1 file type of a file type cap-std read (as [`filetype_of`] does for std's).
pub(crate) fn cap_filetype_of(ty: cap_std::fs::FileType) -> u8 {
    use cap_std::fs::FileTypeExt;
    preview1_filetype([
        ty.is_file(),
        ty.is_dir(),
        ty.is_symlink(),
        ty.is_char_device(),
        ty.is_block_device(),
        ty.is_socket(),
    ])
}

/// The preview1 file type of a host file type.
pub fn filetype_of(ty: FileType) -> u8 {
    preview1_filetype([
        ty.is_file(),
        ty.is_dir(),
        ty.is_symlink(),
        ty.is_char_device(),
        ty.is_block_device(),
        ty.is_socket(),
    ])
}

/// The preview1 type of a file that is (in this order) a regular file, a directory, a
/// symbolic link, a character device, a block device or a socket; FIFOs have no preview1 type.
fn preview1_filetype(is: [bool; 6]) -> u8 {
    const TYPES: [u8; 6] = [
        filetype::REGULAR_FILE,
        filetype::DIRECTORY,
        filetype::SYMBOLIC_LINK,
        filetype::CHARACTER_DEVICE,
        filetype::BLOCK_DEVICE,
        filetype::SOCKET_STREAM,
    ];
    is.iter()
        .position(|&yes| yes)
        .map_or(filetype::UNKNOWN, |i| TYPES[i])
}

/// Nanoseconds since the epoch of a `(seconds, nanoseconds)` time, clamped to `u64` (times
/// before 1970 read as 0).
fn timestamp(secs: i64, nsecs: i64) -> u64 {
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
    u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
}

fn put_u64(out: &mut [u8], at: usize, value: u64) {
    out[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filestat_fields_sit_at_witx_offsets() {
        let stat = Filestat {
            dev: 1,
            ino: 2,
            filetype: filetype::REGULAR_FILE,
            nlink: 3,
            size: 4,
            atim: 5,
            mtim: 6,
            ctim: 7,
        };
        let bytes = stat.encode();
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!((u64_at(0), u64_at(8), bytes[16]), (1, 2, 4));
        assert_eq!((u64_at(24), u64_at(32)), (3, 4));
        assert_eq!((u64_at(40), u64_at(48), u64_at(56)), (5, 6, 7));
    }

    #[test]
    fn fdstat_prestat_dirent_event_layouts() {
        let fdstat = Fdstat {
            filetype: 3,
            flags: 0x11,
            rights_base: 0xaa,
            rights_inheriting: 0xbb,
        }
        .encode();
        assert_eq!(
            (fdstat[0], fdstat[2], fdstat[8], fdstat[16]),
            (3, 0x11, 0xaa, 0xbb)
        );
        assert_eq!(encode_prestat_dir(9), [0, 0, 0, 0, 9, 0, 0, 0]);
        let dirent = encode_dirent(5, 6, 7, 4);
        assert_eq!((dirent[0], dirent[8], dirent[16], dirent[20]), (5, 6, 7, 4));
        let event = Event {
            userdata: 9,
            error: 21,
            kind: 1,
            nbytes: 100,
            flags: 1,
        }
        .encode();
        assert_eq!(
            (event[0], event[8], event[10], event[16], event[24]),
            (9, 21, 1, 100, 1)
        );
    }

    #[test]
    fn rights_sets_are_within_all() {
        assert_eq!(
            rights::ALL & rights::DIRECTORY_INHERITING,
            rights::DIRECTORY_INHERITING
        );
        assert_eq!(rights::SOCK_ACCEPT, 1 << 29);
        assert_eq!(timestamp(-5, 0), 0);
        assert_eq!(timestamp(1, 2), 1_000_000_002);
    }
}
