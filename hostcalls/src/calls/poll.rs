//! `poll_oneoff`: wait for clock deadlines and descriptor readiness.
//!
//! Regular files are always ready (as `poll(2)` says), and so are in-memory standard streams (a
//! pipe can be read at once, possibly at its end, and written at once). The process's stdin and
//! files that may block (FIFOs, devices) are polled by the kernel. The wait runs in the call's
//! blocking section and ends at the call's deadline at the latest: then the call ends as timed
//! out (see [`crate::wait`]).

use super::{WasiResult, guest_size};
use crate::clocks::ClockId;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fdtable::Descriptor;
use crate::memory::GuestMemory;
use crate::types::{Event, eventtype, rights, size, subclockflags};
use crate::wait;
use rustix::event::{PollFd, PollFlags};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// One subscription, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subscription {
    Clock {
        userdata: u64,
        clock: u32,
        timeout: u64,
        absolute: bool,
    },
    Fd {
        userdata: u64,
        kind: u8,
        fd: u32,
    },
}

/// Decodes subscription `index` of the array at `base`: userdata@0, tag@8, and from 16 either
/// the clock (id@16, timeout@24, precision@32, flags@40) or the fd (fd@16).
fn read_subscription(mem: &GuestMemory, base: u32, index: u32) -> Result<Subscription, Errno> {
    let at = u64::from(base) + u64::from(index) * u64::from(size::SUBSCRIPTION);
    let at = u32::try_from(at).map_err(|_| Errno::Fault)?;
    let userdata = mem.read_u64(at)?;
    match mem.read_u8(at + 8)? {
        eventtype::CLOCK => Ok(Subscription::Clock {
            userdata,
            clock: mem.read_u32(at + 16)?,
            timeout: mem.read_u64(at + 24)?,
            absolute: mem.read_u16(at + 40)? & subclockflags::ABSTIME != 0,
        }),
        kind @ (eventtype::FD_READ | eventtype::FD_WRITE) => Ok(Subscription::Fd {
            userdata,
            kind,
            fd: mem.read_u32(at + 16)?,
        }),
        _ => Err(Errno::Inval),
    }
}

/// A clock subscription turned into a host deadline.
#[derive(Clone, Copy, Debug)]
struct Timer {
    userdata: u64,
    deadline: Instant,
}

/// What one subscription is now: an event already, or a timer to wait for.
enum Status {
    Ready(Event),
    Waiting(Timer),
}

fn clock_status(
    ctx: &WasiCtx,
    userdata: u64,
    clock: u32,
    timeout: u64,
    absolute: bool,
    start: Instant,
) -> Status {
    let clock_event = |error: Errno| Event {
        userdata,
        error: error.raw(),
        kind: eventtype::CLOCK,
        ..Event::default()
    };
    let clock = match ClockId::from_raw(clock) {
        Ok(clock @ (ClockId::Realtime | ClockId::Monotonic)) => clock,
        // No timer runs on CPU time here.
        Ok(_) => return Status::Ready(clock_event(Errno::NotSup)),
        Err(errno) => return Status::Ready(clock_event(errno)),
    };
    let wait = if absolute {
        match ctx.clocks.now(clock) {
            Ok(now) => timeout.saturating_sub(now),
            Err(errno) => return Status::Ready(clock_event(errno)),
        }
    } else {
        timeout
    };
    match start.checked_add(Duration::from_nanos(wait)) {
        Some(deadline) => Status::Waiting(Timer { userdata, deadline }),
        // Further than the host can count: never, for all practical purposes.
        None => Status::Waiting(Timer {
            userdata,
            deadline: start
                .checked_add(Duration::from_secs(u32::MAX.into()))
                .unwrap_or(start),
        }),
    }
}

/// An fd subscription the kernel is asked about.
#[derive(Clone, Copy, Debug)]
struct FdWait {
    userdata: u64,
    kind: u8,
    fd: u32,
}

/// The event of an fd subscription that is ready now (every descriptor that exists and cannot
/// block; its error says otherwise), or `None` for one to poll.
fn fd_event(ctx: &mut WasiCtx, userdata: u64, kind: u8, fd: u32) -> Option<Event> {
    let ready = |nbytes: u64| Event {
        userdata,
        kind,
        nbytes,
        ..Event::default()
    };
    let failed = |errno: Errno| Event {
        userdata,
        kind,
        error: errno.raw(),
        ..Event::default()
    };
    let entry = match ctx.fds.get_mut(fd) {
        Ok(entry) => entry,
        Err(errno) => return Some(failed(errno)),
    };
    if entry.require(rights::POLL_FD_READWRITE).is_err() {
        return Some(failed(Errno::NotCapable));
    }
    Some(match (&mut entry.descriptor, kind) {
        (Descriptor::File(file), _) if wait::may_block(file) => return None,
        (Descriptor::File(file), eventtype::FD_READ) => {
            super::fd::readable_bytes(file).map_or_else(failed, ready)
        }
        (Descriptor::File(_), _) => ready(0),
        (Descriptor::Stream(stream), eventtype::FD_READ) if stream.pollable() => return None,
        (Descriptor::Stream(stream), eventtype::FD_READ) => stream
            .readable_bytes()
            .map_or_else(|| failed(Errno::BadF), ready),
        (Descriptor::Stream(_), _) => ready(0),
        (Descriptor::Dir(_), _) => failed(Errno::BadF),
    })
}

/// The host descriptor behind a subscription to poll (see [`fd_event`]).
fn poll_target(ctx: &WasiCtx, fd: u32) -> Result<BorrowedFd<'_>, Errno> {
    match &ctx.fds.get(fd)?.descriptor {
        Descriptor::File(file) => Ok(file.as_fd()),
        Descriptor::Stream(_) => Ok(rustix::stdio::stdin()),
        Descriptor::Dir(_) => Err(Errno::BadF),
    }
}

/// Polls `waiting` until one is ready or `until` comes (at the call's deadline at the latest),
/// and returns the events of those that are ready.
fn poll_fds(
    ctx: &mut WasiCtx,
    waiting: &[FdWait],
    until: Option<Instant>,
) -> Result<Vec<Event>, Errno> {
    let mut call_wait = std::mem::take(&mut ctx.wait);
    let polled = poll_fds_with(ctx, &mut call_wait, waiting, until);
    ctx.wait = call_wait;
    polled
}

fn poll_fds_with(
    ctx: &WasiCtx,
    call_wait: &mut wait::CallWait,
    waiting: &[FdWait],
    until: Option<Instant>,
) -> Result<Vec<Event>, Errno> {
    let mut fds = waiting
        .iter()
        .map(|w| {
            let events = match w.kind {
                eventtype::FD_READ => PollFlags::IN,
                _ => PollFlags::OUT,
            };
            Ok(PollFd::from_borrowed_fd(poll_target(ctx, w.fd)?, events))
        })
        .collect::<Result<Vec<_>, Errno>>()?;
    call_wait.poll(&mut fds, until)?;
    Ok(waiting
        .iter()
        .zip(&fds)
        .filter(|(_, fd)| !fd.revents().is_empty())
        .map(|(w, fd)| {
            let revents = fd.revents();
            let nbytes = match w.kind {
                eventtype::FD_READ => rustix::io::ioctl_fionread(fd).unwrap_or(0),
                _ => 0,
            };
            Event {
                userdata: w.userdata,
                kind: w.kind,
                nbytes,
                flags: u16::from(revents.contains(PollFlags::HUP)),
                ..Event::default()
            }
        })
        .collect())
}

pub(crate) fn poll_oneoff(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    subs: u32,
    events: u32,
    count: u32,
    nevents: u32,
) -> WasiResult {
    if count == 0 {
        // Waiting for nothing would block forever.
        return Err(Errno::Inval);
    }
    mem.range(subs, u64::from(count) * u64::from(size::SUBSCRIPTION))?;
    mem.range(events, u64::from(count) * u64::from(size::EVENT))?;
    mem.range(nevents, 4)?;
    // Read them all first: the output array may overlap the input.
    let subscriptions = (0..count)
        .map(|i| read_subscription(mem, subs, i))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut ready = Vec::new();
    let mut timers = Vec::new();
    let mut waiting = Vec::new();
    for subscription in subscriptions {
        match subscription {
            Subscription::Clock {
                userdata,
                clock,
                timeout,
                absolute,
            } => match clock_status(ctx, userdata, clock, timeout, absolute, start) {
                Status::Ready(event) => ready.push(event),
                Status::Waiting(timer) => timers.push(timer),
            },
            Subscription::Fd { userdata, kind, fd } => match fd_event(ctx, userdata, kind, fd) {
                Some(event) => ready.push(event),
                None => waiting.push(FdWait { userdata, kind, fd }),
            },
        }
    }
    // With an event already, only look (wait until now); else wait for the first timer.
    let until = if ready.is_empty() {
        timers.iter().map(|t| t.deadline).min()
    } else {
        Some(start)
    };
    if !waiting.is_empty() || ready.is_empty() {
        ready.extend(poll_fds(ctx, &waiting, until)?);
    }
    let now = Instant::now();
    ready.extend(timers.iter().filter(|t| t.deadline <= now).map(|t| Event {
        userdata: t.userdata,
        kind: eventtype::CLOCK,
        ..Event::default()
    }));
    write_events(mem, events, &ready)?;
    mem.write_u32(nevents, guest_size(ready.len())?)?;
    Ok(())
}

fn write_events(mem: &mut GuestMemory, base: u32, events: &[Event]) -> WasiResult {
    for (i, event) in events.iter().enumerate() {
        let at = u64::from(base) + i as u64 * u64::from(size::EVENT);
        let at = u32::try_from(at).map_err(|_| Errno::Fault)?;
        mem.write_bytes(at, &event.encode())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_sub(bytes: &mut [u8], at: usize, userdata: u64, timeout_ns: u64) {
        bytes[at..at + 8].copy_from_slice(&userdata.to_le_bytes());
        bytes[at + 8] = eventtype::CLOCK;
        bytes[at + 16..at + 20].copy_from_slice(&1u32.to_le_bytes());
        bytes[at + 24..at + 32].copy_from_slice(&timeout_ns.to_le_bytes());
    }

    #[test]
    fn a_relative_clock_sleeps_and_fires() {
        let mut ctx = WasiCtx::builder().build().unwrap();
        let mut bytes = vec![0u8; 256];
        clock_sub(&mut bytes, 0, 77, 20_000_000);
        let mut mem = GuestMemory::new(&mut bytes);
        let started = Instant::now();
        poll_oneoff(&mut ctx, &mut mem, 0, 64, 1, 200).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(mem.read_u32(200), Ok(1));
        assert_eq!(mem.read_u64(64), Ok(77));
        assert_eq!(mem.read_u16(72), Ok(0));
        assert_eq!(mem.read_u8(74), Ok(eventtype::CLOCK));
    }

    #[test]
    fn a_ready_fd_returns_without_waiting_for_clocks() {
        let mut ctx = WasiCtx::builder().build().unwrap();
        let mut bytes = vec![0u8; 512];
        clock_sub(&mut bytes, 0, 1, 60_000_000_000);
        bytes[48] = 9; // userdata
        bytes[56] = eventtype::FD_WRITE;
        bytes[64] = 1; // stdout
        let mut mem = GuestMemory::new(&mut bytes);
        let started = Instant::now();
        poll_oneoff(&mut ctx, &mut mem, 0, 128, 2, 400).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(mem.read_u32(400), Ok(1));
        assert_eq!(mem.read_u64(128), Ok(9));
        assert_eq!(mem.read_u8(138), Ok(eventtype::FD_WRITE));
    }

    #[test]
    fn bad_input_is_refused() {
        let mut ctx = WasiCtx::builder().build().unwrap();
        let mut bytes = vec![0u8; 128];
        bytes[8] = 7; // unknown tag
        let mut mem = GuestMemory::new(&mut bytes);
        assert_eq!(
            poll_oneoff(&mut ctx, &mut mem, 0, 64, 0, 0),
            Err(Errno::Inval)
        );
        assert_eq!(
            poll_oneoff(&mut ctx, &mut mem, 0, 64, 1, 0),
            Err(Errno::Inval)
        );
        assert_eq!(
            poll_oneoff(&mut ctx, &mut mem, 100, 0, 1, 0),
            Err(Errno::Fault)
        );
        assert_eq!(
            poll_oneoff(&mut ctx, &mut mem, 0, 100, 1, 0),
            Err(Errno::Fault)
        );
    }
}
