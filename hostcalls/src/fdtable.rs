//! The descriptor table: what each guest `fd` stands for and what it may do (its rights).

use crate::errno::Errno;
use crate::stdio::Stream;
use crate::types::{Fdstat, filetype};
use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

/// What a descriptor stands for.
#[derive(Debug)]
pub(crate) enum Descriptor {
    /// stdin, stdout or stderr.
    Stream(Stream),
    /// An open host file (regular file, or a device under a preopen).
    File(File),
    /// A directory under a preopen.
    Dir(OpenDir),
}

/// A directory descriptor: an open host directory every path of it is resolved beneath
/// ([`crate::sandbox`]).
#[derive(Debug)]
pub(crate) struct OpenDir {
    /// Shared by the contexts a [`crate::PreopenedDir`] is preopened in: a `dup` of it would
    /// share the open file description (position, status flags) all the same, and cost two
    /// system calls per context (the `dup` and its `close`).
    pub(crate) dir: Arc<Dir>,
    /// The guest's name for it if it was preopened (`fd_prestat_*`).
    pub(crate) preopen_name: Option<String>,
}

/// One descriptor with its rights and flags.
#[derive(Debug)]
pub(crate) struct FdEntry {
    pub(crate) descriptor: Descriptor,
    pub(crate) rights_base: u64,
    pub(crate) rights_inheriting: u64,
    /// `fdflags` bits.
    pub(crate) flags: u16,
}

impl FdEntry {
    /// Fails with `ENOTCAPABLE` unless the descriptor has all of `rights`.
    pub(crate) fn require(&self, rights: u64) -> Result<(), Errno> {
        if self.rights_base & rights == rights {
            Ok(())
        } else {
            Err(Errno::NotCapable)
        }
    }

    /// What `fd_fdstat_get` reports.
    pub(crate) fn fdstat(&self) -> Fdstat {
        let filetype = match &self.descriptor {
            Descriptor::Stream(stream) => stream.filetype(),
            Descriptor::File(file) => file.metadata().map_or(filetype::UNKNOWN, |meta| {
                crate::types::filetype_of(meta.file_type())
            }),
            Descriptor::Dir(_) => filetype::DIRECTORY,
        };
        Fdstat {
            filetype,
            flags: self.flags,
            rights_base: self.rights_base,
            rights_inheriting: self.rights_inheriting,
        }
    }
}

/// The errors a file-only call gives for the other kinds of descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotAFile {
    /// For a directory.
    pub(crate) dir: Errno,
    /// For a standard stream.
    pub(crate) stream: Errno,
}

impl NotAFile {
    /// Seek-like calls: a directory is `EBADF`, a stream `ESPIPE`.
    pub(crate) const SEEKABLE: NotAFile = NotAFile {
        dir: Errno::BadF,
        stream: Errno::SPipe,
    };
    /// Calls reading data at an offset: `EISDIR`, `ESPIPE`.
    pub(crate) const READ_AT: NotAFile = NotAFile {
        dir: Errno::IsDir,
        stream: Errno::SPipe,
    };
    /// Calls changing a file's size: `EISDIR`, `EINVAL`.
    pub(crate) const RESIZE: NotAFile = NotAFile {
        dir: Errno::IsDir,
        stream: Errno::Inval,
    };
}

/// Descriptors by number.
#[derive(Debug)]
pub(crate) struct FdTable {
    entries: BTreeMap<u32, FdEntry>,
    /// Most descriptors a guest may hold, so it cannot exhaust the host's.
    max_open: usize,
}

impl FdTable {
    pub(crate) fn new(max_open: usize) -> FdTable {
        FdTable {
            entries: BTreeMap::new(),
            max_open,
        }
    }

    /// Adds `entry` at the lowest free number, as POSIX `open` does.
    pub(crate) fn insert(&mut self, entry: FdEntry) -> Result<u32, Errno> {
        if self.entries.len() >= self.max_open {
            return Err(Errno::MFile);
        }
        if let Descriptor::File(file) = &entry.descriptor {
            crate::wait::make_nonblocking(file)?;
        }
        let mut fd = 0u32;
        for &used in self.entries.keys() {
            if used != fd {
                break;
            }
            fd = fd.checked_add(1).ok_or(Errno::MFile)?;
        }
        self.entries.insert(fd, entry);
        Ok(fd)
    }

    pub(crate) fn get(&self, fd: u32) -> Result<&FdEntry, Errno> {
        self.entries.get(&fd).ok_or(Errno::BadF)
    }

    pub(crate) fn get_mut(&mut self, fd: u32) -> Result<&mut FdEntry, Errno> {
        self.entries.get_mut(&fd).ok_or(Errno::BadF)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> Result<FdEntry, Errno> {
        self.entries.remove(&fd).ok_or(Errno::BadF)
    }

    /// Moves `from` to `to`, closing what `to` was. Both must be open.
    pub(crate) fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(to)?;
        let entry = self.remove(from)?;
        self.entries.insert(to, entry);
        Ok(())
    }

    /// The open file `fd` with `rights`; other kinds fail as `not_file` says.
    pub(crate) fn file(
        &mut self,
        fd: u32,
        rights: u64,
        not_file: NotAFile,
    ) -> Result<(&mut File, u16), Errno> {
        let entry = self.get_mut(fd)?;
        match &mut entry.descriptor {
            Descriptor::File(file) => {
                if entry.rights_base & rights != rights {
                    return Err(Errno::NotCapable);
                }
                Ok((file, entry.flags))
            }
            Descriptor::Dir(_) => Err(not_file.dir),
            Descriptor::Stream(_) => Err(not_file.stream),
        }
    }

    /// The directory `fd` with `rights` (`ENOTDIR` for other kinds).
    pub(crate) fn dir(&self, fd: u32, rights: u64) -> Result<&FdEntry, Errno> {
        let entry = self.get(fd)?;
        if !matches!(entry.descriptor, Descriptor::Dir(_)) {
            return Err(Errno::NotDir);
        }
        entry.require(rights)?;
        Ok(entry)
    }

    /// The preopened directories: guest name and directory, in descriptor order.
    pub(crate) fn preopens(&self) -> impl Iterator<Item = (&str, &Dir)> {
        self.entries
            .values()
            .filter_map(|entry| match &entry.descriptor {
                Descriptor::Dir(OpenDir {
                    dir,
                    preopen_name: Some(name),
                }) => Some((name.as_str(), &**dir)),
                _ => None,
            })
    }

    /// The open directory of `fd`, which must be a directory with `rights`.
    pub(crate) fn dir_handle(&self, fd: u32, rights: u64) -> Result<&Dir, Errno> {
        match &self.dir(fd, rights)?.descriptor {
            Descriptor::Dir(dir) => Ok(&dir.dir),
            _ => Err(Errno::NotDir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::Input;

    fn stream_entry() -> FdEntry {
        FdEntry {
            descriptor: Descriptor::Stream(Stream::In(Input::Null)),
            rights_base: 0,
            rights_inheriting: 0,
            flags: 0,
        }
    }

    #[test]
    fn numbers_are_lowest_free_and_limited() {
        let mut table = FdTable::new(3);
        assert_eq!(table.insert(stream_entry()), Ok(0));
        assert_eq!(table.insert(stream_entry()), Ok(1));
        assert!(table.remove(0).is_ok());
        assert_eq!(table.insert(stream_entry()), Ok(0));
        assert_eq!(table.insert(stream_entry()), Ok(2));
        assert_eq!(table.insert(stream_entry()).err(), Some(Errno::MFile));
        assert_eq!(table.remove(7).err(), Some(Errno::BadF));
    }

    #[test]
    fn renumber_needs_both_open() {
        let mut table = FdTable::new(10);
        table.insert(stream_entry()).unwrap();
        table.insert(stream_entry()).unwrap();
        assert_eq!(table.renumber(0, 5), Err(Errno::BadF));
        assert_eq!(table.renumber(0, 1), Ok(()));
        assert!(table.get(0).is_err());
        assert!(table.get(1).is_ok());
        assert_eq!(
            table.file(1, 0, NotAFile::SEEKABLE).err(),
            Some(Errno::SPipe)
        );
        assert_eq!(table.dir(1, 0).err(), Some(Errno::NotDir));
    }
}
