//! Waiting inside a host call without outliving the call: every wait (a sleep, a read of a pipe
//! or of the process's stdin, a write to a full pipe) ends at the call's deadline at the latest,
//! runs inside the embedder's blocking section (a scheduler lends the call's worker to others
//! meanwhile), and a wait that reaches the deadline marks the call so that its host function
//! ends it with [`faasm_runtime::Trap::timeout`], the trap of a runaway loop.

use crate::errno::Errno;
use faasm_runtime::CallBounds;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// The bounds of the WASI call in progress, and whether one of its waits reached the deadline.
#[derive(Debug, Default)]
pub(crate) struct CallWait {
    bounds: CallBounds,
    deadline_passed: bool,
}

/// Why a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitEnd {
    /// A descriptor has an event.
    Ready,
    /// The wait's own end (`until`) came, before the call's deadline.
    Until,
}

impl CallWait {
    /// Waits within `bounds`.
    pub(crate) fn new(bounds: CallBounds) -> CallWait {
        CallWait {
            bounds,
            deadline_passed: false,
        }
    }

    /// Whether a wait reached the call's deadline (the call must then end as timed out).
    pub(crate) fn deadline_passed(&self) -> bool {
        self.deadline_passed
    }

    /// Waits until one of `fds` has an event, `until` comes, or the call's deadline passes
    /// (`Errno::TimedOut`, and the call is marked to end). `until = None` and no deadline wait
    /// for the descriptors alone; no descriptors is a sleep.
    pub(crate) fn poll(
        &mut self,
        fds: &mut [PollFd<'_>],
        until: Option<Instant>,
    ) -> Result<WaitEnd, Errno> {
        let deadline = self.bounds.deadline();
        let (end, is_deadline) = match (until, deadline) {
            (Some(until), Some(deadline)) if deadline < until => (Some(deadline), true),
            (Some(until), _) => (Some(until), false),
            (None, Some(deadline)) => (Some(deadline), true),
            (None, None) => (None, false),
        };
        let bounds = self.bounds.clone();
        loop {
            let left = end.map(|end| end.saturating_duration_since(Instant::now()));
            let due = left == Some(Duration::ZERO);
            let polled = if due {
                // Only look.
                poll(fds, Some(&Timespec::default()))
            } else {
                let timeout = left.map(timespec);
                bounds.blocking(|| poll(fds, timeout.as_ref()))
            };
            match polled {
                Ok(0) | Err(rustix::io::Errno::INTR) => {}
                Ok(_) => return Ok(WaitEnd::Ready),
                Err(errno) => return Err(errno.into()),
            }
            if due {
                if is_deadline {
                    self.deadline_passed = true;
                    return Err(Errno::TimedOut);
                }
                return Ok(WaitEnd::Until);
            }
        }
    }

    /// Waits until `fd` has one of `events` (or an error or hang-up, which the next read or
    /// write reports), or the call's deadline passes.
    pub(crate) fn ready(&mut self, fd: BorrowedFd<'_>, events: PollFlags) -> Result<(), Errno> {
        self.poll(&mut [PollFd::from_borrowed_fd(fd, events)], None)
            .map(drop)
    }

    /// Runs `op` on a non-blocking descriptor until it does not say `EAGAIN`, waiting for
    /// `events` on `fd` in between.
    pub(crate) fn retry<T>(
        &mut self,
        fd: BorrowedFd<'_>,
        events: PollFlags,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Result<T, Errno> {
        loop {
            match op() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.ready(fd, events)?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return Ok(result?),
            }
        }
    }
}

fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(duration.subsec_nanos()),
    }
}

/// Sets `O_NONBLOCK` on an open file that is no regular file or directory (a FIFO, a socket,
/// a character device), so that reading and writing it never block the host: waits go through
/// [`CallWait`] instead. Regular files are left alone (the flag means nothing for them).
pub(crate) fn make_nonblocking(file: &std::fs::File) -> io::Result<()> {
    let kind = file.metadata()?.file_type();
    if kind.is_file() || kind.is_dir() {
        return Ok(());
    }
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Whether `file` may block (is no regular file or directory).
pub(crate) fn may_block(file: &std::fs::File) -> bool {
    file.metadata()
        .map(|meta| !meta.file_type().is_file() && !meta.is_dir())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_wait_ends_at_the_deadline_and_marks_the_call() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut wait = CallWait::new(CallBounds::new(Some(deadline), None));
        let started = Instant::now();
        assert_eq!(
            wait.ready(reader.as_fd(), PollFlags::IN),
            Err(Errno::TimedOut)
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(wait.deadline_passed());
    }

    #[test]
    fn an_earlier_end_or_a_ready_fd_is_no_timeout() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut wait = CallWait::new(CallBounds::new(Some(deadline), None));
        let soon = Instant::now() + Duration::from_millis(10);
        assert_eq!(wait.poll(&mut [], Some(soon)), Ok(WaitEnd::Until));
        std::io::Write::write_all(&mut writer, b"x").unwrap();
        assert_eq!(wait.ready(reader.as_fd(), PollFlags::IN), Ok(()));
        assert!(!wait.deadline_passed());
    }
}
