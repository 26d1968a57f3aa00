//! What a host function that may wait needs to know about the call it serves: the call's
//! deadline (the wall-clock instant its timeout ends, the same one generated code checks as an
//! epoch deadline), and the embedder's hook around a wait, through which a scheduler lends the
//! waiting call's worker to other calls. A host function that sleeps, reads a pipe, waits for a
//! lock or a network reply waits at most until the deadline, and then ends the call with
//! [`Trap::timeout`], the trap a runaway loop gets.

use crate::values::Trap;
use faasm_jit::TrapCode;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an embedder does around a host function's wait (see [`CallBounds::blocking`]).
/// Calls come in pairs on the waiting thread: `enter`, then `leave`.
pub trait BlockingHook: Send + Sync {
    /// The calling thread is about to wait.
    fn enter(&self);
    /// The wait is over: the call is about to go on.
    fn leave(&self);
}

/// The deadline and blocking hook of the call in progress, as a host function sees it
/// ([`crate::Caller::call_bounds`]). Cheap to clone; the default has no deadline and no hook.
#[derive(Clone, Default)]
pub struct CallBounds {
    deadline: Option<Instant>,
    hook: Option<Arc<dyn BlockingHook>>,
}

impl CallBounds {
    /// Bounds with `deadline` (`None`: none) and `hook` around waits.
    pub fn new(deadline: Option<Instant>, hook: Option<Arc<dyn BlockingHook>>) -> CallBounds {
        CallBounds { deadline, hook }
    }

    /// The instant the call's timeout ends, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left until the deadline (zero once it passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// The shorter of `timeout` and the time left (`None` if neither bounds the wait).
    pub fn cap(&self, timeout: Option<Duration>) -> Option<Duration> {
        match (timeout, self.remaining()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Runs `wait` between the hook's `enter` and `leave` (also if `wait` panics).
    pub fn blocking<R>(&self, wait: impl FnOnce() -> R) -> R {
        let _section = self.hook.as_deref().map(Section::enter);
        wait()
    }
}

/// Calls `leave` when dropped.
struct Section<'a>(&'a dyn BlockingHook);

impl Section<'_> {
    fn enter(hook: &dyn BlockingHook) -> Section<'_> {
        hook.enter();
        Section(hook)
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl fmt::Debug for CallBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallBounds")
            .field("deadline", &self.deadline)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Trap {
    /// The trap of a call whose timeout passed: what generated code traps with at its epoch
    /// deadline, and what a host function returns when its wait reaches the call's deadline.
    pub fn timeout() -> Trap {
        Trap::Wasm(TrapCode::Interrupt)
    }

    /// Whether this is [`Trap::timeout`].
    pub fn is_timeout(&self) -> bool {
        *self == Trap::timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    struct Counter(AtomicI32);

    impl BlockingHook for Counter {
        fn enter(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn leave(&self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_hook_brackets_the_wait() {
        let counter = Arc::new(Counter(AtomicI32::new(0)));
        let bounds = CallBounds::new(None, Some(counter.clone()));
        let inside = bounds.blocking(|| counter.0.load(Ordering::SeqCst));
        assert_eq!(inside, 1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn remaining_time_caps_timeouts() {
        let none = CallBounds::default();
        assert_eq!(none.cap(None), None);
        assert_eq!(
            none.cap(Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert!(!none.expired());
        let past = CallBounds::new(Some(Instant::now()), None);
        assert!(past.expired());
        assert_eq!(past.cap(Some(Duration::from_secs(1))), Some(Duration::ZERO));
        assert_eq!(past.cap(None), Some(Duration::ZERO));
        assert!(Trap::timeout().is_timeout());
    }
}
