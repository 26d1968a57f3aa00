//! Standard streams: the process's own, in-memory pipes (a call's input, its captured output),
//! or nothing.

use crate::errno::Errno;
use crate::types::filetype;
use crate::wait::CallWait;
use rustix::event::{PollFd, PollFlags, Timespec};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning: a panicking host call is already reported as a trap, and
/// the data it protects (bytes, a context) stays consistent between operations.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-memory input stream the host fills and the guest reads: a call's standard input.
/// Clones share the same bytes.
#[derive(Clone, Debug, Default)]
pub struct ReadPipe {
    bytes: Arc<Mutex<VecDeque<u8>>>,
}

impl ReadPipe {
    /// A pipe holding `bytes`.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> ReadPipe {
        ReadPipe {
            bytes: Arc::new(Mutex::new(VecDeque::from(bytes.into()))),
        }
    }

    /// Appends `bytes` for the guest to read.
    pub fn push(&self, bytes: &[u8]) {
        lock(&self.bytes).extend(bytes);
    }

    /// How many bytes are left to read.
    pub fn available(&self) -> usize {
        lock(&self.bytes).len()
    }

    /// Moves up to `buf.len()` bytes into `buf`; 0 at the end.
    pub fn read_into(&self, buf: &mut [u8]) -> usize {
        let mut bytes = lock(&self.bytes);
        let n = buf.len().min(bytes.len());
        for (slot, byte) in buf.iter_mut().zip(bytes.drain(..n)) {
            *slot = byte;
        }
        n
    }
}

/// An in-memory output stream the guest writes and the host reads: a call's captured stdout or
/// stderr. Clones share the same bytes. A limit, if set, bounds what a guest can make the host
/// hold: writes past it fail with `ENOSPC`.
#[derive(Clone, Debug, Default)]
pub struct WritePipe {
    bytes: Arc<Mutex<Vec<u8>>>,
    limit: Option<usize>,
}

impl WritePipe {
    /// An empty pipe without a limit.
    pub fn new() -> WritePipe {
        WritePipe::default()
    }

    /// An empty pipe that holds at most `limit` bytes.
    pub fn with_limit(limit: usize) -> WritePipe {
        WritePipe {
            bytes: Arc::default(),
            limit: Some(limit),
        }
    }

    /// What was written so far.
    pub fn contents(&self) -> Vec<u8> {
        lock(&self.bytes).clone()
    }

    /// Takes what was written so far, leaving the pipe empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *lock(&self.bytes))
    }

    /// Appends `data`, all or nothing.
    fn append(&self, data: &[u8]) -> Result<(), Errno> {
        let mut bytes = lock(&self.bytes);
        if let Some(limit) = self.limit
            && bytes.len().saturating_add(data.len()) > limit
        {
            return Err(Errno::NoSpc);
        }
        bytes.extend_from_slice(data);
        Ok(())
    }
}

/// Where a guest's standard input comes from.
#[derive(Clone, Debug, Default)]
pub enum Input {
    /// Nothing: reads return end of file.
    #[default]
    Null,
    /// The host process's standard input.
    Inherit,
    /// An in-memory pipe.
    Pipe(ReadPipe),
}

/// Where a guest's standard output or error goes.
#[derive(Clone, Debug, Default)]
pub enum Output {
    /// Nowhere: writes succeed and are dropped.
    #[default]
    Null,
    /// The host process's matching stream.
    Inherit,
    /// An in-memory pipe.
    Pipe(WritePipe),
    /// An in-memory pipe and the host process's matching stream (a CLI that shows a call's
    /// output and also returns it).
    Tee(WritePipe),
}

/// Which of the process's output streams an [`Output`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StdStream {
    Stdout,
    Stderr,
}

/// A standard stream as the descriptor table holds it.
#[derive(Clone, Debug)]
pub(crate) enum Stream {
    In(Input),
    Out(Output, StdStream),
}

impl Stream {
    /// Reads into `buf`: one read, which may return fewer bytes than asked. The process's
    /// stdin is waited for until the call's deadline (`EAGAIN` at once if the guest set
    /// `NONBLOCK`), then read without `std`'s buffer, so that what `poll` sees is all there is.
    pub(crate) fn read(
        &self,
        buf: &mut [u8],
        wait: &mut CallWait,
        nonblock: bool,
    ) -> Result<usize, Errno> {
        match self {
            Stream::In(Input::Null) => Ok(0),
            Stream::In(Input::Inherit) => read_process_stdin(buf, wait, nonblock),
            Stream::In(Input::Pipe(pipe)) => Ok(pipe.read_into(buf)),
            Stream::Out(..) => Err(Errno::BadF),
        }
    }

    /// Writes all of `data`. The process's own streams are waited for until the call's
    /// deadline (a reader that stops reading must not hold the call past it).
    pub(crate) fn write(&self, data: &[u8], wait: &mut CallWait) -> Result<(), Errno> {
        match self {
            Stream::In(_) => Err(Errno::BadF),
            Stream::Out(Output::Null, _) => Ok(()),
            Stream::Out(Output::Inherit, which) => write_process_stream(*which, data, wait),
            Stream::Out(Output::Pipe(pipe), _) => pipe.append(data),
            Stream::Out(Output::Tee(pipe), which) => {
                pipe.append(data)?;
                write_process_stream(*which, data, wait)
            }
        }
    }

    /// Bytes ready to read without blocking, for `poll_oneoff` (`None` for an output; the
    /// process's stdin is polled by `poll_oneoff` itself, see [`Stream::pollable`]).
    pub(crate) fn readable_bytes(&self) -> Option<u64> {
        match self {
            Stream::In(Input::Pipe(pipe)) => Some(pipe.available() as u64),
            Stream::In(_) => Some(0),
            Stream::Out(..) => None,
        }
    }

    /// Whether reading may block: the process's stdin, which `poll_oneoff` waits for.
    pub(crate) fn pollable(&self) -> bool {
        matches!(self, Stream::In(Input::Inherit))
    }

    /// The preview1 file type `fd_fdstat_get` reports: a character device for a terminal (so
    /// `isatty` works), unknown for pipes and files behind the process's streams.
    pub(crate) fn filetype(&self) -> u8 {
        let terminal = match self {
            Stream::In(Input::Inherit) => std::io::stdin().is_terminal(),
            Stream::Out(Output::Inherit | Output::Tee(_), StdStream::Stdout) => {
                std::io::stdout().is_terminal()
            }
            Stream::Out(Output::Inherit | Output::Tee(_), StdStream::Stderr) => {
                std::io::stderr().is_terminal()
            }
            _ => false,
        };
        if terminal {
            filetype::CHARACTER_DEVICE
        } else {
            filetype::UNKNOWN
        }
    }
}

fn read_process_stdin(buf: &mut [u8], wait: &mut CallWait, nonblock: bool) -> Result<usize, Errno> {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    if buf.is_empty() {
        return Ok(0);
    }
    loop {
        if nonblock {
            let mut probe = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
            if rustix::event::poll(&mut probe, Some(&Timespec::default()))? == 0 {
                return Err(Errno::Again);
            }
        } else {
            wait.ready(fd, PollFlags::IN)?;
        }
        match rustix::io::read(fd, &mut *buf) {
            // Someone else took the bytes, or the descriptor is non-blocking: wait again.
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
            result => return Ok(result?),
        }
    }
}

/// The most written to a process stream after one wait for it: a pipe that polls writable has
/// room for at least this much (Linux reports a pipe writable when one of its page buffers is
/// free), so the write does not block.
const STREAM_CHUNK: usize = 4096;

/// Writes `data` to the process's stdout or stderr a chunk at a time, each after the stream
/// polls writable, so that a reader that stops reading (a full pipe) holds the call only until
/// its deadline (`ETIMEDOUT`, and the call ends as timed out). The stream itself stays
/// blocking: it is the whole process's.
fn write_process_stream(which: StdStream, data: &[u8], wait: &mut CallWait) -> Result<(), Errno> {
    for chunk in data.chunks(STREAM_CHUNK) {
        // Flush at once so the guest's stdout and stderr interleave as it wrote them.
        match which {
            StdStream::Stdout => {
                let stdout = std::io::stdout();
                wait.ready(stdout.as_fd(), PollFlags::OUT)?;
                let mut out = stdout.lock();
                out.write_all(chunk)?;
                out.flush()?;
            }
            StdStream::Stderr => {
                let stderr = std::io::stderr();
                wait.ready(stderr.as_fd(), PollFlags::OUT)?;
                stderr.lock().write_all(chunk)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_pipe_drains_in_order() {
        let pipe = ReadPipe::from_bytes("abcdef");
        let stream = Stream::In(Input::Pipe(pipe.clone()));
        let mut buf = [0u8; 4];
        let wait = &mut CallWait::default();
        assert_eq!(stream.read(&mut buf, wait, false), Ok(4));
        assert_eq!(&buf, b"abcd");
        assert_eq!(stream.readable_bytes(), Some(2));
        pipe.push(b"g");
        assert_eq!(stream.read(&mut buf, wait, false), Ok(3));
        assert_eq!(&buf[..3], b"efg");
        assert_eq!(stream.read(&mut buf, wait, false), Ok(0));
    }

    #[test]
    fn write_pipe_captures_and_limits() {
        let pipe = WritePipe::with_limit(5);
        let stream = Stream::Out(Output::Pipe(pipe.clone()), StdStream::Stdout);
        let wait = &mut CallWait::default();
        assert_eq!(stream.write(b"abc", wait), Ok(()));
        assert_eq!(stream.write(b"def", wait), Err(Errno::NoSpc));
        assert_eq!(pipe.contents(), b"abc");
        assert_eq!(pipe.take(), b"abc");
        assert!(pipe.contents().is_empty());
        let wait = &mut CallWait::default();
        assert_eq!(stream.read(&mut [0u8; 1], wait, false), Err(Errno::BadF));
    }
}
