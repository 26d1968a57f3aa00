//! The sightglass benchmark convention: a module imports `bench.start` and `bench.end`, both
//! `() -> ()`, and calls them around the code to measure. [`report`] says the time
//! between the two calls.

use faasm_runtime::{Extern, Func, FuncType, ImportKind, Linker, Module, Store};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The times the module's `bench.start` and `bench.end` calls recorded.
#[derive(Debug, Default)]
pub struct BenchTimer {
    state: Mutex<TimerState>,
}

#[derive(Debug, Default)]
struct TimerState {
    started: Option<Instant>,
    measured: Option<Duration>,
}

impl BenchTimer {
    /// The time between the last `bench.start` and the `bench.end` after it.
    pub fn measured(&self) -> Option<Duration> {
        self.lock().measured
    }

    fn start(&self) {
        self.lock().started = Some(Instant::now());
    }

    fn end(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(started) = state.started.take() {
            state.measured = Some(now - started);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Defines `bench.start` and `bench.end` in `linker` if `module` imports either; returns their
/// timer.
pub fn define_if_imported(
    linker: &mut Linker,
    store: &mut Store,
    module: &Module,
) -> Option<Arc<BenchTimer>> {
    let imports_bench = module.info().imports.iter().any(|import| {
        import.module == "bench"
            && matches!(import.name.as_str(), "start" | "end")
            && matches!(import.kind, ImportKind::Func(_))
    });
    if !imports_bench {
        return None;
    }
    let timer = Arc::new(BenchTimer::default());
    let unit = FuncType::new([], []);
    let on_start = timer.clone();
    let start = Func::new(store, unit.clone(), move |_, _, _| {
        on_start.start();
        Ok(())
    });
    let on_end = timer.clone();
    let end = Func::new(store, unit, move |_, _, _| {
        on_end.end();
        Ok(())
    });
    linker.define("bench", "start", Extern::Func(start));
    linker.define("bench", "end", Extern::Func(end));
    Some(timer)
}

/// The `--bench-report` line.
pub fn report(timer: Option<&BenchTimer>) -> String {
    match timer.and_then(BenchTimer::measured) {
        Some(elapsed) => format!("bench: {} ns", elapsed.as_nanos()),
        None if timer.is_none() => {
            "bench: no measurement (the module does not import bench.start/bench.end)".to_string()
        }
        None => {
            "bench: no measurement (bench.start and then bench.end were not called)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_from_start_to_end() {
        let timer = BenchTimer::default();
        assert_eq!(timer.measured(), None);
        timer.end();
        assert_eq!(
            timer.measured(),
            None,
            "an end without a start measures nothing"
        );
        timer.start();
        std::thread::sleep(Duration::from_millis(2));
        timer.end();
        assert!(timer.measured().expect("measured") >= Duration::from_millis(2));
        assert!(report(Some(&timer)).starts_with("bench: "));
        assert!(report(None).contains("does not import"));
    }
}
