//! A host-local read/write lock whose lock and unlock are separate calls (a guest locks in one
//! host call and unlocks in another, possibly on another thread), so it has no guards.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Counts {
    readers: usize,
    writer: bool,
    waiting_writers: usize,
}

/// A read/write lock with explicit `unlock_*` calls. Writers are preferred: once a writer waits,
/// new readers wait behind it, so a stream of readers cannot starve it.
#[derive(Debug, Default)]
pub(crate) struct ExplicitRwLock {
    counts: Mutex<Counts>,
    changed: Condvar,
}

impl ExplicitRwLock {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counters stay consistent even if a holder panicked: every update is one step.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `changed` until `blocked` is false or `timeout` passes (a timeout past what the
    /// clock can express waits as long as it takes); whether it is free.
    fn wait_until<'a>(
        &'a self,
        mut c: MutexGuard<'a, Counts>,
        timeout: Duration,
        blocked: impl Fn(&Counts) -> bool,
    ) -> (MutexGuard<'a, Counts>, bool) {
        let deadline = Instant::now().checked_add(timeout);
        while blocked(&c) {
            let Some(deadline) = deadline else {
                c = self.changed.wait(c).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (c, false);
            }
            c = self
                .changed
                .wait_timeout(c, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        (c, true)
    }

    /// Takes a shared lock, waiting while a writer holds or waits for it, at most `timeout`;
    /// whether it was taken.
    pub(crate) fn lock_read(&self, timeout: Duration) -> bool {
        let (mut c, free) = self.wait_until(self.counts(), timeout, |c| {
            c.writer || c.waiting_writers > 0
        });
        if free {
            c.readers += 1;
        }
        free
    }

    /// Releases a shared lock; `false` if no shared lock was held.
    pub(crate) fn unlock_read(&self) -> bool {
        let mut c = self.counts();
        if c.readers == 0 {
            return false;
        }
        c.readers -= 1;
        if c.readers == 0 {
            self.changed.notify_all();
        }
        true
    }

    /// Takes the exclusive lock, waiting for readers and other writers to leave, at most
    /// `timeout`; whether it was taken.
    pub(crate) fn lock_write(&self, timeout: Duration) -> bool {
        let mut c = self.counts();
        c.waiting_writers += 1;
        let (mut c, free) = self.wait_until(c, timeout, |c| c.writer || c.readers > 0);
        c.waiting_writers -= 1;
        if free {
            c.writer = true;
        } else if c.waiting_writers == 0 {
            // Readers held back for this writer may go now.
            self.changed.notify_all();
        }
        free
    }

    /// Takes the exclusive lock if it is free right now.
    pub(crate) fn try_lock_write(&self) -> bool {
        let mut c = self.counts();
        if c.writer || c.readers > 0 {
            return false;
        }
        c.writer = true;
        true
    }

    /// Releases the exclusive lock; `false` if it was not held.
    pub(crate) fn unlock_write(&self) -> bool {
        let mut c = self.counts();
        if !c.writer {
            return false;
        }
        c.writer = false;
        self.changed.notify_all();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn lock_and_unlock_on_different_threads() {
        let lock = Arc::new(ExplicitRwLock::default());
        assert!(lock.lock_read(LONG));
        assert!(lock.lock_read(LONG));
        assert!(!lock.try_lock_write());
        let l2 = lock.clone();
        let writer = std::thread::spawn(move || {
            assert!(l2.lock_write(LONG));
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(lock.unlock_read());
        assert!(lock.unlock_read());
        assert!(!lock.unlock_read());
        writer.join().unwrap();
        // Locked by the writer thread, unlocked here.
        assert!(lock.unlock_write());
        assert!(!lock.unlock_write());
        assert!(lock.try_lock_write());
        assert!(lock.unlock_write());
    }

    #[test]
    fn waits_end_at_the_timeout_and_leave_the_lock_usable() {
        let lock = ExplicitRwLock::default();
        assert!(lock.lock_write(LONG));
        let started = Instant::now();
        assert!(!lock.lock_read(Duration::from_millis(30)));
        assert!(!lock.lock_write(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert!(lock.unlock_write());
        // The writer that gave up no longer holds readers back.
        assert!(lock.lock_read(Duration::ZERO));
        assert!(!lock.lock_write(Duration::from_millis(10)));
        assert!(
            lock.lock_read(Duration::ZERO),
            "a timed-out writer blocks readers"
        );
        assert!(lock.unlock_read());
        assert!(lock.unlock_read());
        assert!(lock.lock_write(Duration::ZERO));
    }

    #[test]
    fn a_timeout_past_the_clock_waits_without_overflowing() {
        let lock = Arc::new(ExplicitRwLock::default());
        assert!(lock.lock_write(Duration::MAX));
        let l2 = lock.clone();
        let reader = std::thread::spawn(move || l2.lock_read(Duration::MAX));
        std::thread::sleep(Duration::from_millis(20));
        assert!(lock.unlock_write());
        assert!(reader.join().unwrap());
        assert!(lock.unlock_read());
    }

    #[test]
    fn readers_held_back_by_a_writer_that_gives_up_go_on() {
        let lock = Arc::new(ExplicitRwLock::default());
        assert!(lock.lock_read(LONG));
        let l2 = lock.clone();
        // A writer waits (and holds new readers back), then gives up.
        let writer = std::thread::spawn(move || l2.lock_write(Duration::from_millis(100)));
        std::thread::sleep(Duration::from_millis(20));
        let l3 = lock.clone();
        let reader = std::thread::spawn(move || l3.lock_read(LONG));
        assert!(!writer.join().unwrap());
        assert!(reader.join().unwrap(), "the held-back reader was woken");
        assert!(lock.unlock_read());
        assert!(lock.unlock_read());
    }
}
