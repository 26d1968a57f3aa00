//! Clocks and randomness a guest sees: the host's by default, replaceable for tests and for
//! deterministic replays.

use crate::errno::Errno;
use crate::sys;
use crate::types::clockid;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The clocks of `clock_time_get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockId {
    /// Wall-clock time, ns since 1970.
    Realtime,
    /// A clock that never goes back, ns since an arbitrary origin.
    Monotonic,
    /// CPU time of the process.
    ProcessCputime,
    /// CPU time of the calling thread.
    ThreadCputime,
}

impl ClockId {
    /// The clock of a preview1 `clockid`, `EINVAL` for an unknown one.
    pub fn from_raw(raw: u32) -> Result<ClockId, Errno> {
        match raw {
            clockid::REALTIME => Ok(ClockId::Realtime),
            clockid::MONOTONIC => Ok(ClockId::Monotonic),
            clockid::PROCESS_CPUTIME => Ok(ClockId::ProcessCputime),
            clockid::THREAD_CPUTIME => Ok(ClockId::ThreadCputime),
            _ => Err(Errno::Inval),
        }
    }
}

/// A source of the four preview1 clocks.
pub trait WasiClocks: Send + fmt::Debug {
    /// The time of `clock`, in ns.
    fn now(&self, clock: ClockId) -> Result<u64, Errno>;
    /// The resolution of `clock`, in ns.
    fn resolution(&self, clock: ClockId) -> Result<u64, Errno>;
}

/// The host's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClocks;

/// The origin of the monotonic clock: the first time any guest asks, for the whole process, so
/// every context agrees on it.
fn monotonic_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl WasiClocks for SystemClocks {
    fn now(&self, clock: ClockId) -> Result<u64, Errno> {
        match clock {
            ClockId::Realtime => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(nanos)
                .map_err(|_| Errno::Overflow),
            // Offset by one second so a guest never sees a zero time it might treat as unset.
            ClockId::Monotonic => Ok(nanos(monotonic_origin().elapsed()) + 1_000_000_000),
            ClockId::ProcessCputime => Ok(sys::process_cputime_ns()?),
            ClockId::ThreadCputime => Ok(sys::thread_cputime_ns()?),
        }
    }

    fn resolution(&self, clock: ClockId) -> Result<u64, Errno> {
        Ok(match clock {
            ClockId::Realtime | ClockId::Monotonic => 1,
            ClockId::ProcessCputime | ClockId::ThreadCputime => sys::CPUTIME_RESOLUTION_NS,
        })
    }
}

/// A source of `random_get` bytes.
pub trait RandomSource: Send + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Errno>;
}

/// The kernel's CSPRNG (`/dev/urandom`): the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        Ok(sys::fill_random(buf)?)
    }
}

/// A deterministic generator (SplitMix64) for tests and reproducible runs. Not for secrets.
#[derive(Clone, Copy, Debug)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl RandomSource for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clocks_tick() {
        let clocks = SystemClocks;
        let a = clocks.now(ClockId::Monotonic).unwrap();
        let b = clocks.now(ClockId::Monotonic).unwrap();
        assert!(a > 0 && b >= a);
        assert!(clocks.now(ClockId::Realtime).unwrap() > 1_600_000_000 * 1_000_000_000);
        assert!(clocks.now(ClockId::ThreadCputime).is_ok());
        assert_eq!(clocks.resolution(ClockId::Monotonic), Ok(1));
        assert_eq!(ClockId::from_raw(4), Err(Errno::Inval));
    }

    #[test]
    fn seeded_random_is_reproducible() {
        let (mut a, mut b) = (SeededRandom::new(7), SeededRandom::new(7));
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, [0u8; 13]);
    }
}
