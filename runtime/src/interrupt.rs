//! Deadlines enforced by a signal instead of checks in generated code ([`Interruption::Signal`]).
//!
//! Every thread that runs a call with a deadline has a slot holding the earliest deadline of
//! the calls it is in (nested calls on one thread: a host function that calls into Wasm, a
//! scheduler that runs an awaited call inline). One timer thread per process sleeps until the
//! earliest deadline of all slots; when a deadline passes it marks the slot **fired** and sends
//! the thread [`SIGNAL`]. The handler (in `traphandlers`) finds where the thread is: in
//! generated code, it lands in the innermost activation with an `Interrupt` trap; anywhere else
//! (a host function, a runtime builtin, the runtime itself) it returns, and the fired slot is
//! seen where that code returns to Wasm ([`fired`]): host functions' results become the trap,
//! and long builtins check it between chunks. Until the thread leaves the call, the timer sends
//! the signal again every [`RESIGNAL`], so a signal that arrived while the thread was in host
//! code (which then returned into a loop without checks) is not the last one.
//!
//! **Why abandoning generated code at any instruction is sound here.** Generated code holds no
//! lock and owns no host resource: everything it changes is linear memory, globals and tables
//! of its store, which a timed-out Faaslet never keeps (the scheduler resets it to its
//! snapshot before any reuse; an embedder that keeps instances after a trap must use
//! [`Interruption::Epoch`], whose checks only stop code at function entries and loop headers).
//! Host-side effects of the call (locks, state pushes, chained calls, open files) are made by
//! host functions, which are never interrupted in the middle: they see the deadline when they
//! wait, and the trap happens when they return. Shared state mapped into linear memory may be
//! left half-written, exactly as a guest that traps between two stores leaves it.
//!
//! Arming costs a compare-and-swap on the thread's own slot and a load; the timer thread only
//! wakes at deadlines (and when a deadline earlier than its next wake is armed), never on a
//! tick.
//!
//! [`Interruption::Signal`]: crate::Interruption::Signal
//! [`Interruption::Epoch`]: crate::Interruption::Epoch

use crate::sys;
use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The signal that interrupts a thread: ignored by default, so one arriving after its call
/// ended (or sent by someone else, whose handler then gets it) does no harm.
pub(crate) const SIGNAL: libc::c_int = libc::SIGURG;

/// How often a thread whose deadline fired is signalled again until it leaves the call.
pub(crate) const RESIGNAL: Duration = Duration::from_millis(1);

/// A slot's value when no call with a deadline is running on its thread.
const NONE: u64 = u64::MAX;
/// A slot's value once its deadline passed (deadlines are at least 1).
const FIRED: u64 = 0;

/// One thread's deadline: nanoseconds since [`base`], [`NONE`] or [`FIRED`].
#[derive(Debug)]
pub(crate) struct ThreadSlot {
    armed: AtomicU64,
    tid: libc::pid_t,
}

impl ThreadSlot {
    /// Whether the deadline of the call running on this slot's thread passed.
    #[inline]
    pub(crate) fn is_fired(&self) -> bool {
        self.armed.load(Ordering::Acquire) == FIRED
    }
}

thread_local! {
    /// This thread's slot, for the signal handler (const-initialised, no destructor).
    static SLOT: Cell<*const ThreadSlot> = const { Cell::new(std::ptr::null()) };
    /// Keeps the slot registered with the timer while the thread lives.
    static OWNER: RefCell<Option<SlotOwner>> = const { RefCell::new(None) };
}

/// This thread's slot, null if the thread never armed a deadline. Async-signal-safe.
pub(crate) fn current_slot() -> *const ThreadSlot {
    SLOT.get()
}

/// Whether the deadline of the call running on this thread passed.
#[inline]
pub(crate) fn fired() -> bool {
    let slot = SLOT.get();
    // SAFETY: a non-null SLOT points into the `Arc` that `OWNER` keeps alive until the thread
    // clears SLOT in its destructor.
    !slot.is_null() && unsafe { (*slot).is_fired() }
}

/// The process's timer: every thread slot, and when the timer thread wakes next.
struct Timer {
    slots: Mutex<Vec<Arc<ThreadSlot>>>,
    wake: Condvar,
    /// The timer's next wake (ns since [`base`]); [`NONE`] while it scans, so that a deadline
    /// armed meanwhile wakes it again.
    next_wake: AtomicU64,
}

fn timer() -> io::Result<&'static Timer> {
    static TIMER: OnceLock<Result<Timer, String>> = OnceLock::new();
    TIMER
        .get_or_init(start_timer)
        .as_ref()
        .map_err(|message| io::Error::other(message.clone()))
}

fn start_timer() -> Result<Timer, String> {
    base();
    std::thread::Builder::new()
        .name("faasm-deadlines".to_string())
        .spawn(run_timer)
        .map_err(|e| format!("cannot start the deadline timer thread: {e}"))?;
    Ok(Timer {
        slots: Mutex::new(Vec::new()),
        wake: Condvar::new(),
        next_wake: AtomicU64::new(NONE),
    })
}

/// The instant deadlines are counted from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn nanos_since_base(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(base()).as_nanos();
    u64::try_from(nanos).unwrap_or(NONE - 1).clamp(1, NONE - 1)
}

fn lock(timer: &Timer) -> MutexGuard<'_, Vec<Arc<ThreadSlot>>> {
    timer.slots.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The timer thread: fires the slots whose deadline passed, signals the fired ones (again
/// every [`RESIGNAL`] until their thread leaves the call), sleeps until the next deadline.
fn run_timer() {
    // The thread that started this one is initialising `timer()`: this waits for it.
    let Ok(timer) = timer() else {
        return;
    };
    let pid = sys::process_id();
    let mut slots = lock(timer);
    loop {
        timer.next_wake.store(NONE, Ordering::SeqCst);
        let now = nanos_since_base(Instant::now());
        let mut next = NONE;
        for slot in slots.iter() {
            let armed = slot.armed.load(Ordering::Acquire);
            let fire = armed != NONE
                && (armed == FIRED
                    || (armed <= now
                        && slot
                            .armed
                            .compare_exchange(armed, FIRED, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()));
            if fire {
                sys::signal_thread(pid, slot.tid, SIGNAL);
                next = next.min(now.saturating_add(RESIGNAL.as_nanos() as u64));
            } else if armed != NONE && armed != FIRED {
                // Not due yet, or changed under us (then look again soon).
                next = next.min(armed.max(now));
            }
        }
        timer.next_wake.store(next, Ordering::SeqCst);
        slots = if next == NONE {
            timer
                .wake
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner)
        } else {
            let wait = Duration::from_nanos(next.saturating_sub(now));
            timer
                .wake
                .wait_timeout(slots, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        };
    }
}

/// Removes the thread's slot from the timer when the thread exits.
struct SlotOwner {
    slot: Arc<ThreadSlot>,
}

impl Drop for SlotOwner {
    fn drop(&mut self) {
        SLOT.set(std::ptr::null());
        if let Ok(timer) = timer() {
            // Under the timer's lock: once removed, the timer never signals this thread id
            // (which the kernel may give to another thread after this one exits).
            lock(timer).retain(|slot| !Arc::ptr_eq(slot, &self.slot));
        }
    }
}

/// This thread's slot, registered with the timer on first use.
fn this_thread_slot() -> io::Result<*const ThreadSlot> {
    let slot = SLOT.get();
    if !slot.is_null() {
        return Ok(slot);
    }
    let timer = timer()?;
    let slot = Arc::new(ThreadSlot {
        armed: AtomicU64::new(NONE),
        tid: sys::current_thread_id(),
    });
    lock(timer).push(Arc::clone(&slot));
    // A thread that blocked the signal (some runtimes block everything in their threads)
    // would never see its deadline.
    sys::unblock_signal(SIGNAL);
    let pointer = Arc::as_ptr(&slot);
    OWNER.with(|owner| *owner.borrow_mut() = Some(SlotOwner { slot }));
    SLOT.set(pointer);
    Ok(pointer)
}

/// A deadline armed on this thread; dropping it restores the deadline of the enclosing call.
#[derive(Debug)]
pub(crate) struct Armed {
    slot: *const ThreadSlot,
    previous: u64,
}

/// Arms `deadline` for the call about to run on this thread (nothing for `None`).
pub(crate) fn arm(deadline: Option<Instant>) -> io::Result<Option<Armed>> {
    let Some(deadline) = deadline else {
        return Ok(None);
    };
    let slot = this_thread_slot()?;
    // SAFETY: the slot is this thread's, alive while the thread is.
    let armed = unsafe { &(*slot).armed };
    let deadline = nanos_since_base(deadline);
    let mut previous = armed.load(Ordering::Acquire);
    loop {
        // A fired enclosing call stays fired; else the earlier deadline rules.
        let new = if previous == FIRED {
            FIRED
        } else {
            previous.min(deadline)
        };
        match armed.compare_exchange_weak(previous, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => previous = now,
        }
    }
    let timer = timer()?;
    if deadline < timer.next_wake.load(Ordering::SeqCst) {
        // Taking the lock waits until the timer sleeps (or is about to scan), so it cannot
        // miss the notification.
        let _slots = lock(timer);
        timer.wake.notify_one();
    }
    Ok(Some(Armed { slot, previous }))
}

impl Drop for Armed {
    fn drop(&mut self) {
        // SAFETY: armed on this thread, whose slot lives while the thread does.
        let armed = unsafe { &(*self.slot).armed };
        let was = armed.swap(self.previous, Ordering::AcqRel);
        let previous_passed = self.previous != NONE
            && self.previous != FIRED
            && self.previous <= nanos_since_base(Instant::now());
        if was == FIRED && previous_passed {
            // The enclosing call's deadline passed too; the timer may not wake for it (it
            // last saw this slot fired), so fire it here and let the timer signal it again.
            armed.store(FIRED, Ordering::Release);
            if let Ok(timer) = timer() {
                let _slots = lock(timer);
                timer.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_fires_and_the_enclosing_one_comes_back() {
        let outer = arm(Some(Instant::now() + Duration::from_secs(3600)))
            .expect("arm")
            .expect("a deadline");
        assert!(!fired());
        {
            let _inner = arm(Some(Instant::now() + Duration::from_millis(5))).expect("arm");
            let started = Instant::now();
            while !fired() && started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(fired(), "the inner deadline did not fire within 10 s");
        }
        assert!(!fired(), "the outer deadline is an hour away");
        drop(outer);
        // SAFETY: this thread armed a deadline above, so its slot exists.
        let armed = unsafe { (*current_slot()).armed.load(Ordering::Acquire) };
        assert_eq!(armed, NONE);
    }

    #[test]
    fn a_thread_that_blocked_the_signal_gets_it_again() {
        std::thread::spawn(|| {
            // SAFETY: sigset_t is plain data; sigemptyset initialises it.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a valid sigset_t.
            unsafe { libc::sigemptyset(&mut set) };
            sys::add_to_set(&mut set, SIGNAL);
            sys::block_signals(&set).expect("block");
            let _armed = arm(Some(Instant::now() + Duration::from_secs(3600))).expect("arm");
            let now = sys::block_signals(&set).expect("query");
            // SAFETY: `now` is a valid sigset_t.
            let blocked = unsafe { libc::sigismember(&now, SIGNAL) };
            assert_eq!(blocked, 0, "the deadline signal is still blocked");
        })
        .join()
        .expect("the thread");
    }

    #[test]
    fn no_deadline_arms_nothing() {
        assert!(arm(None).expect("arm").is_none());
    }

    #[test]
    fn an_enclosing_deadline_that_passed_during_a_nested_call_fires_when_it_ends() {
        let soon = Instant::now() + Duration::from_millis(2);
        let _outer = arm(Some(soon)).expect("arm");
        {
            let _inner = arm(Some(Instant::now() + Duration::from_secs(3600))).expect("arm");
            std::thread::sleep(Duration::from_millis(20));
            // The outer deadline ruled while nested (the earlier one), so it fired already.
            assert!(fired());
        }
        assert!(
            fired(),
            "leaving the nested call must not clear a passed deadline"
        );
    }
}
