//! A host-local read/write lock whose lock and unlock are separate calls (a guest locks in one
//! host call and unlocks in another, possibly on another thread), so it has no guards.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

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

    /// Takes a shared lock, waiting while a writer holds or waits for it.
    pub(crate) fn lock_read(&self) {
        let mut c = self.counts();
        while c.writer || c.waiting_writers > 0 {
            c = self.changed.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
        c.readers += 1;
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

    /// Takes the exclusive lock, waiting for readers and other writers to leave.
    pub(crate) fn lock_write(&self) {
        let mut c = self.counts();
        c.waiting_writers += 1;
        while c.writer || c.readers > 0 {
            c = self.changed.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
        c.waiting_writers -= 1;
        c.writer = true;
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

    #[test]
    fn lock_and_unlock_on_different_threads() {
        let lock = Arc::new(ExplicitRwLock::default());
        lock.lock_read();
        lock.lock_read();
        assert!(!lock.try_lock_write());
        let l2 = lock.clone();
        let writer = std::thread::spawn(move || {
            l2.lock_write();
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
}
