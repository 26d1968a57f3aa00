//! The deadline of the call this thread runs, for global-tier I/O: whoever runs a call sets it
//! around the call ([`within_deadline`]), and the Redis tier caps its socket timeouts by it, so
//! that a slow or silent server cannot hold a call past its timeout. Outside such a scope (a
//! command-line tool, the release of a finished call's locks) only the tier's own timeout
//! applies.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with global-tier I/O on this thread ending at `deadline` at the latest (`None`:
/// no deadline). Scopes nest: the inner deadline applies inside, the outer one again after.
pub fn within_deadline<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.set(self.0);
        }
    }
    let _restore = Restore(DEADLINE.replace(deadline));
    f()
}

/// The current scope's deadline, if any.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.get()
}

/// How long an I/O step may wait: `timeout`, or less if the scope's deadline is nearer.
/// `None` once the deadline has passed.
pub(crate) fn io_timeout(timeout: Duration) -> Option<Duration> {
    match DEADLINE.get() {
        None => Some(timeout),
        Some(deadline) => {
            let left = deadline.checked_duration_since(Instant::now())?;
            (!left.is_zero()).then(|| left.min(timeout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cap_io_and_nest() {
        let long = Duration::from_secs(60);
        assert_eq!(io_timeout(long), Some(long));
        let soon = Instant::now() + Duration::from_secs(1);
        within_deadline(Some(soon), || {
            assert!(io_timeout(long).unwrap() <= Duration::from_secs(1));
            within_deadline(Some(Instant::now()), || assert_eq!(io_timeout(long), None));
            assert_eq!(current_deadline(), Some(soon));
        });
        assert_eq!(current_deadline(), None);
    }
}
