//! The host side of the sightglass convention: `bench.start` and `bench.end` record the time
//! between them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Records the time from the last `start` to the `end` after it. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Stopwatch {
    state: Arc<Mutex<StopwatchState>>,
}

#[derive(Debug, Default)]
struct StopwatchState {
    started: Option<Instant>,
    measured: Option<Duration>,
}

impl Stopwatch {
    /// `bench.start`.
    pub fn start(&self) {
        self.lock().started = Some(Instant::now());
    }

    /// `bench.end`.
    pub fn end(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(started) = state.started.take() {
            state.measured = Some(now - started);
        }
    }

    /// The measured time; panics if the guest did not call `start` and then `end`.
    pub fn measured(&self) -> Duration {
        self.lock()
            .measured
            .take()
            .expect("the kernel called bench.start and then bench.end")
    }

    fn lock(&self) -> MutexGuard<'_, StopwatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
