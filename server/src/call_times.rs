//! How long calls run on this host, as a moving average: what placement uses to tell a queue
//! that drains in microseconds from one that drains in seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The weight of a new sample in the average: 1/8.
const NEW_SAMPLE_SHIFT: u32 = 3;

/// The moving average of the run time of the calls that ended here (all functions: the queue
/// they wait in is one).
#[derive(Debug, Default)]
pub(crate) struct CallTimes {
    /// Nanoseconds; 0 until the first call ends.
    average_nanos: AtomicU64,
}

impl CallTimes {
    /// Counts a call that ran for `ran`. Two calls ending at once may each miss the other's
    /// sample: an average of many calls loses nothing it needs.
    pub(crate) fn record(&self, ran: Duration) {
        let sample = u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX).max(1);
        let average = self.average_nanos.load(Ordering::Relaxed);
        let next = if average == 0 {
            sample
        } else {
            average - (average >> NEW_SAMPLE_SHIFT) + (sample >> NEW_SAMPLE_SHIFT)
        };
        self.average_nanos.store(next.max(1), Ordering::Relaxed);
    }

    /// The average run time, once a call has ended.
    pub(crate) fn typical(&self) -> Option<Duration> {
        match self.average_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// How long a call queued now behind `load` calls waits for one of `workers` (`None` until
    /// a call has ended here).
    pub(crate) fn expected_wait(&self, load: usize, workers: usize) -> Option<Duration> {
        let typical = self.typical()?;
        let ahead = load.saturating_add(1).saturating_sub(workers);
        let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
        let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        Some(typical.saturating_mul(ahead) / workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_starts_at_the_first_call_and_moves_an_eighth_per_call() {
        let times = CallTimes::default();
        assert_eq!(times.typical(), None);
        times.record(Duration::from_micros(800));
        assert_eq!(times.typical(), Some(Duration::from_micros(800)));
        times.record(Duration::from_micros(0));
        assert_eq!(times.typical(), Some(Duration::from_micros(700)));
        for _ in 0..200 {
            times.record(Duration::from_micros(16));
        }
        let settled = times.typical().unwrap();
        assert!(
            settled >= Duration::from_micros(15) && settled <= Duration::from_micros(17),
            "{settled:?}"
        );
    }

    #[test]
    fn the_wait_counts_the_calls_ahead_shared_by_the_workers() {
        let times = CallTimes::default();
        assert_eq!(times.expected_wait(10, 2), None);
        times.record(Duration::from_millis(4));
        // A worker free: no wait.
        assert_eq!(times.expected_wait(1, 2), Some(Duration::ZERO));
        // Both busy: one call must end first, on either worker.
        assert_eq!(times.expected_wait(2, 2), Some(Duration::from_millis(2)));
        // Nine ahead of it beyond the two running.
        assert_eq!(times.expected_wait(11, 2), Some(Duration::from_millis(20)));
        // Absurd loads saturate rather than wrap.
        assert!(times.expected_wait(usize::MAX, 0).unwrap() > Duration::from_secs(1_000_000));
    }
}
