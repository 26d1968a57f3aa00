//! The worker pool: a queue of calls, `workers` permits to execute guest code, and threads
//! that take queued calls while a permit is free. A call that awaits gives its permit back
//! ([`Pool::release_permit`]), starting a temporary thread if queued calls would otherwise
//! have nobody to run them, and takes one again before it goes on ([`Pool::acquire_permit`]),
//! ahead of queued calls. A call blocked in a host call (a sleep, a read, a lock, the global
//! tier) does the same through its store's blocking hook ([`LendPermit`]).
//!
//! Worker threads run in Linux's batch scheduling policy
//! ([`faasm_runtime::mark_current_thread_as_guest_runner`]): queuing a call wakes a worker
//! without preempting the thread that queued it (a server's I/O thread goes on answering its
//! other connections), and the worker then takes the calls queued meanwhile in a row.

use super::{CallSlot, Inner, lock};
use faasm_runtime::{BlockingHook, Engine};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a temporary thread stays idle before it leaves.
const TEMPORARY_IDLE: Duration = Duration::from_millis(100);

/// How often [`Pool::wait_idle`] looks again.
const POLL: Duration = Duration::from_millis(2);

/// Host stack a worker keeps besides the Wasm stacks of its nested calls.
const HOST_STACK: usize = 2 << 20;

/// The stack of a worker thread: room for the Wasm stack of the call it runs and of every
/// callee its awaits may run inline, plus host frames between them.
pub(super) fn worker_stack_size(engine: &Engine, max_inline_depth: u32) -> usize {
    let per_call = engine.config().max_wasm_stack + (512 << 10);
    let calls = usize::try_from(max_inline_depth).unwrap_or(64).min(64) + 1;
    HOST_STACK + per_call * calls
}

pub(super) struct Pool {
    state: Mutex<PoolState>,
    /// Permits and the pool's end: what resuming calls and [`Pool::wait_idle`] wait for.
    changed: Condvar,
    /// A queued call: what idle threads wait for. Apart from `changed` so that a call wakes
    /// one idle thread, not every thread of the pool (each wake-up costs about as much as a
    /// no-op call).
    work: Condvar,
    workers: usize,
    max_threads: usize,
    stack_size: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Arc<CallSlot>>,
    /// Permits held: calls executing guest code.
    running: usize,
    /// Calls back from an await, waiting for a permit.
    resuming: usize,
    /// Calls blocked in an await or a host call, without a permit.
    awaiting: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Threads alive.
    threads: usize,
    /// Threads started and not yet looking for work.
    starting: usize,
    /// The most threads alive at once.
    peak_threads: usize,
    shutdown: bool,
}

impl Pool {
    pub(super) fn new(workers: usize, max_threads: usize, stack_size: usize) -> Pool {
        Pool {
            state: Mutex::default(),
            changed: Condvar::new(),
            work: Condvar::new(),
            workers,
            max_threads,
            stack_size,
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        lock(&self.state)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, PoolState>) -> MutexGuard<'a, PoolState> {
        self.changed
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a call; gives it back if the pool is shutting down. If a permit is free but no
    /// thread is idle to take the call (every thread waits in an await or a host call, holding
    /// no permit), starts a temporary thread for it: a call waiting for a sleep does not hold
    /// up a new one.
    pub(super) fn push(
        &self,
        inner: &Arc<Inner>,
        slot: Arc<CallSlot>,
    ) -> Result<(), Arc<CallSlot>> {
        let mut state = self.state();
        if state.shutdown {
            return Err(slot);
        }
        state.queue.push_back(slot);
        let wake = state.idle > 0 && state.running < self.workers;
        let spawn = state.idle == 0
            && state.running + state.resuming + state.starting < self.workers
            && state.threads < self.max_threads;
        if spawn {
            state.starting += 1;
            state.threads += 1;
            state.peak_threads = state.peak_threads.max(state.threads);
        }
        drop(state);
        if wake {
            self.work.notify_one();
        }
        if spawn && start_worker(inner, true).is_err() {
            // No thread: the call waits for a thread to come free instead.
            let mut state = self.state();
            state.threads -= 1;
            state.starting -= 1;
        }
        Ok(())
    }

    /// Calls running or waiting for a worker.
    pub(super) fn load(&self) -> usize {
        let state = self.state();
        state.running + state.resuming + state.queue.len()
    }

    pub(super) fn thread_count(&self) -> usize {
        self.state().threads
    }

    pub(super) fn peak_thread_count(&self) -> usize {
        self.state().peak_threads
    }

    /// Waits until no call is queued, running or awaiting, or `timeout` passes; whether the
    /// pool became idle.
    pub(super) fn wait_idle(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.state();
        loop {
            let idle = state.queue.is_empty()
                && state.running == 0
                && state.resuming == 0
                && state.awaiting == 0;
            if idle {
                return true;
            }
            let mut wait = POLL;
            if let Some(deadline) = deadline {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => wait = wait.min(left),
                    None => return false,
                }
            }
            // Finishing calls notify only when someone needs a permit: poll as well.
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops taking calls; returns those still queued.
    pub(super) fn shut_down(&self) -> Vec<Arc<CallSlot>> {
        let mut state = self.state();
        state.shutdown = true;
        let queued = state.queue.drain(..).collect();
        drop(state);
        self.changed.notify_all();
        self.work.notify_all();
        queued
    }

    /// Gives the calling thread's permit back while it awaits; starts a temporary thread if
    /// queued calls have no idle thread to take them.
    pub(super) fn release_permit(&self, inner: &Arc<Inner>) {
        let mut state = self.state();
        state.running = state.running.saturating_sub(1);
        state.awaiting += 1;
        let spawn = !state.shutdown
            && !state.queue.is_empty()
            && state.idle == 0
            && state.threads < self.max_threads;
        if spawn {
            state.starting += 1;
            state.threads += 1;
            state.peak_threads = state.peak_threads.max(state.threads);
        }
        // The permit goes to a resuming call first, else to an idle thread if a call is
        // queued; nobody else is woken (a wake-up costs about as much as a no-op call).
        let wake_resuming = state.resuming > 0;
        let wake_idle = !wake_resuming && state.idle > 0 && !state.queue.is_empty();
        drop(state);
        if wake_resuming {
            self.changed.notify_all();
        } else if wake_idle {
            self.work.notify_one();
        }
        if spawn && start_worker(inner, true).is_err() {
            // No thread: the queued calls wait for a permit to come back instead.
            let mut state = self.state();
            state.threads -= 1;
            state.starting -= 1;
        }
    }

    /// Takes a permit again after an await, ahead of queued calls.
    pub(super) fn acquire_permit(&self) {
        let mut state = self.state();
        state.awaiting -= 1;
        state.resuming += 1;
        while state.running >= self.workers && !state.shutdown {
            state = self.wait(state);
        }
        state.resuming -= 1;
        state.running += 1;
        // Threads that stood back for resuming calls may take queued calls again.
        let wake = state.resuming == 0
            && state.running < self.workers
            && state.idle > 0
            && !state.queue.is_empty();
        drop(state);
        if wake {
            self.work.notify_all();
        }
    }

    /// Gives a permit back after a call.
    fn finish_call<'a>(
        &'a self,
        mut state: MutexGuard<'a, PoolState>,
    ) -> MutexGuard<'a, PoolState> {
        state.running -= 1;
        if state.resuming > 0 {
            self.changed.notify_all();
        } else if state.idle > 0 && !state.queue.is_empty() {
            self.work.notify_one();
        }
        state
    }
}

/// The blocking hook the scheduler gives every call's store: while a host call waits, the call
/// gives its permit back (so other calls run meanwhile), and takes one again before it goes on.
pub(super) struct LendPermit {
    scheduler: Weak<Inner>,
}

impl LendPermit {
    pub(super) fn new(inner: &Arc<Inner>) -> LendPermit {
        LendPermit {
            scheduler: Arc::downgrade(inner),
        }
    }
}

impl BlockingHook for LendPermit {
    fn enter(&self) {
        if let Some(inner) = self.scheduler.upgrade() {
            inner.pool.release_permit(&inner);
        }
    }

    fn leave(&self) {
        if let Some(inner) = self.scheduler.upgrade() {
            inner.pool.acquire_permit();
        }
    }
}

/// Starts a worker thread (a temporary one leaves when idle and the pool has more threads
/// than workers).
pub(super) fn start_worker(inner: &Arc<Inner>, temporary: bool) -> io::Result<JoinHandle<()>> {
    let inner = Arc::clone(inner);
    if !temporary {
        let mut state = inner.pool.state();
        state.threads += 1;
        state.starting += 1;
        state.peak_threads = state.peak_threads.max(state.threads);
    }
    let name = if temporary {
        "faasm-worker-extra"
    } else {
        "faasm-worker"
    };
    let started = std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(inner.pool.stack_size)
        .spawn({
            let inner = Arc::clone(&inner);
            move || {
                // Best effort: a thread left in the default policy runs calls all the same.
                let _ = faasm_runtime::mark_current_thread_as_guest_runner();
                worker_loop(&inner, temporary)
            }
        });
    if started.is_err() && !temporary {
        let mut state = inner.pool.state();
        state.threads -= 1;
        state.starting -= 1;
    }
    started
}

fn worker_loop(inner: &Arc<Inner>, temporary: bool) {
    let pool = &inner.pool;
    let mut state = pool.state();
    state.starting -= 1;
    loop {
        if state.shutdown {
            break;
        }
        if state.resuming == 0
            && state.running < pool.workers
            && let Some(slot) = state.queue.pop_front()
        {
            state.running += 1;
            drop(state);
            inner.run_slot(&slot, None);
            drop(slot);
            state = pool.finish_call(pool.state());
            continue;
        }
        let extra = state.threads > pool.workers;
        state.idle += 1;
        if temporary || extra {
            let (next, timeout) = pool
                .work
                .wait_timeout(state, TEMPORARY_IDLE)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            let nothing_to_do = state.queue.is_empty() || state.running >= pool.workers;
            if timeout.timed_out() && nothing_to_do && state.threads > pool.workers {
                break;
            }
        } else {
            state = pool
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }
    state.threads -= 1;
    drop(state);
    pool.changed.notify_all();
}
