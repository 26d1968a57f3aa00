//! Running one call on a Faaslet: its WASI and `env` contexts, the entry point the ABI names
//! (`_start`, or a function-table entry), the outcome as a [`CallResult`], the reset after it;
//! and the [`Chaining`] its guest chains and awaits through.

use super::function::{FunctionEntry, Warm};
use super::{CallRequest, CallResult, Failure, Inner, Job, SchedulerError, Tree, limit_reached};
use faasm_hostcalls::faasm_state;
use faasm_hostcalls::{CallId, ChainError, ChainResult, Chaining, FaasmCtx, Output, WritePipe};
use faasm_runtime::{Func, Trap, TrapCode, Val, ValType};
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

thread_local! {
    /// Calls running on this thread: the one a worker took, and callees its awaits run inline.
    static ACTIVE_CALLS: Cell<u32> = const { Cell::new(0) };
}

/// How many callees run nested inside awaits on this thread now (0 when only one call runs).
pub(super) fn inline_depth() -> u32 {
    ACTIVE_CALLS.get().saturating_sub(1)
}

/// Counts a call as active on this thread while it lives.
struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE_CALLS.set(ACTIVE_CALLS.get() + 1);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE_CALLS.set(ACTIVE_CALLS.get().saturating_sub(1));
    }
}

/// Runs `job` as call `id` on a Faaslet of its function and returns what it did. `cap` (an
/// await's deadline, for a callee run inline) shortens the call's timeout.
pub(super) fn execute(
    inner: &Arc<Inner>,
    id: CallId,
    job: Job,
    cap: Option<Instant>,
) -> CallResult {
    let started = Instant::now();
    let Job {
        entry,
        request,
        tree,
        depth,
        _queued,
    } = job;
    // It has started: no longer queued.
    drop(_queued);
    let mut timeout = request.timeout.or(inner.config.default_timeout);
    if let Some(cap) = cap {
        let left = cap.saturating_duration_since(started);
        timeout = Some(timeout.map_or(left, |t| t.min(left)));
    }
    let mut warm = match entry.take() {
        Ok(warm) => warm,
        Err(reason) => return CallResult::not_started(id, reason),
    };

    let limit = inner.config.max_captured_stdio;
    let (stdout, stderr) = (WritePipe::with_limit(limit), WritePipe::with_limit(limit));
    let (out, err) = if inner.config.echo_stdio {
        (Output::Tee(stdout.clone()), Output::Tee(stderr.clone()))
    } else {
        (Output::Pipe(stdout.clone()), Output::Pipe(stderr.clone()))
    };
    let wasi = entry
        .function
        .wasi_builder()
        .arg(&entry.name)
        .args(request.cmdline.split_whitespace())
        .stdout(out)
        .stderr(err)
        .build();
    match wasi {
        Ok(ctx) => drop(warm.wasi.replace(ctx)),
        Err(error) => {
            entry.give_back(warm, inner.config.max_idle_faaslets);
            return CallResult::not_started(id, format!("cannot set up WASI: {error}"));
        }
    }
    // A timeout past what the clock can express is no deadline.
    let deadline = timeout.and_then(|t| started.checked_add(t));
    let chaining = CallChaining {
        scheduler: Arc::downgrade(inner),
        entry: Arc::clone(&entry),
        tree: Arc::clone(&tree),
        depth,
        chained: AtomicU32::new(0),
        deadline,
    };
    let func_ptr = request.func_ptr.max(0);
    warm.faasm.replace(
        FaasmCtx::new()
            .with_input(request.input)
            .with_func_index(func_ptr)
            .with_py_entry(request.py_entry)
            .with_conf_flags(Arc::clone(&inner.conf_flags))
            .with_chaining(Arc::new(chaining))
            .with_await_timeout(inner.config.await_timeout)
            .with_state(Arc::clone(&inner.state), entry.user.as_str())
            .with_files(warm.wasi.clone()),
    );
    warm.store.set_timeout(timeout);
    warm.store
        .set_blocking_hook(Some(Arc::new(super::pool::LendPermit::new(inner))));

    let outcome = {
        let _active = Active::enter();
        // Global-tier I/O of the call ends by its deadline too.
        faasm_state::within_deadline(deadline, || run_entry(&mut warm, func_ptr))
    };
    let (return_value, failure) = match outcome {
        Err(reason) => (1, Some(Failure::Setup(reason))),
        Ok(Ok(values)) => {
            let value = match values.first() {
                Some(Val::I32(value)) => *value,
                _ => 0,
            };
            (value, (value != 0).then_some(Failure::NonZero(value)))
        }
        Ok(Err(Trap::Exit(code))) => (code, (code != 0).then_some(Failure::Exit(code))),
        Ok(Err(Trap::Wasm(TrapCode::Interrupt))) => {
            (1, Some(Failure::Timeout(timeout.unwrap_or_default())))
        }
        Ok(Err(trap)) => {
            let backtrace = warm.store.last_backtrace().cloned();
            (1, Some(Failure::Trap { trap, backtrace }))
        }
    };
    // The call's context goes (and with it the chaining, which holds the invocation's tree).
    let output = warm.faasm.replace(FaasmCtx::new()).take_output();
    if warm.faaslet.reset(&mut warm.store).is_ok() {
        entry.give_back(warm, inner.config.max_idle_faaslets);
    }
    CallResult {
        id,
        return_value,
        output,
        stdout: stdout.take(),
        stderr: stderr.take(),
        failure,
        duration: started.elapsed(),
        limit: tree.limit.get().cloned(),
    }
}

/// Calls the entry the ABI names: `_start`, or table entry `func_ptr` with no argument or the
/// input as an integer. `Err` is a reason the call could not start.
fn run_entry(warm: &mut Warm, func_ptr: i32) -> Result<Result<Vec<Val>, Trap>, String> {
    let store = &mut warm.store;
    let instance = warm.faaslet.instance();
    if func_ptr == 0 {
        let start = instance
            .get_func(store, "_start")
            .ok_or_else(|| "the module exports no `_start`".to_string())?;
        return Ok(start.call(store, &[]));
    }
    // Table 0 is the function table of clang's and rustc's output, exported or not.
    let table = instance
        .table(store, 0)
        .ok_or_else(|| format!("function pointer {func_ptr}: the module has no function table"))?;
    let func: Func = match table.get(store, func_ptr as u64) {
        Some(Val::FuncRef(Some(func))) => func,
        Some(Val::FuncRef(None)) => return Err(format!("function pointer {func_ptr} is null")),
        Some(_) => return Err("table 0 does not hold functions".to_string()),
        None => {
            return Err(format!(
                "function pointer {func_ptr} is outside the table of {} entries",
                table.size(store)
            ));
        }
    };
    let ty = func.ty(store);
    let results_ok = matches!(ty.results.as_slice(), [] | [ValType::I32]);
    let params = match ty.params.as_slice() {
        [] if results_ok => Vec::new(),
        [ValType::I32] if results_ok => {
            let input = warm.faasm.lock().input().to_vec();
            vec![Val::I32(input_as_int(&input).ok_or_else(|| {
                format!(
                    "function pointer {func_ptr} takes an integer, and the input {:?} is not one",
                    String::from_utf8_lossy(&input)
                )
            })?)]
        }
        _ => {
            return Err(format!(
                "function pointer {func_ptr} has type {ty}; an entry takes no argument or one \
                 i32 and returns nothing or an i32"
            ));
        }
    };
    Ok(func.call(store, &params))
}

/// The input as an `i32` (empty input: 0).
fn input_as_int(input: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(input).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    text.parse().ok()
}

/// What one call chains through: calls of its user's functions, in its invocation tree.
struct CallChaining {
    scheduler: Weak<Inner>,
    entry: Arc<FunctionEntry>,
    tree: Arc<Tree>,
    /// The calling call's depth in its tree (0 for the top-level call).
    depth: u32,
    /// Calls this call has chained.
    chained: AtomicU32,
    /// When the calling call times out: awaits end by then.
    deadline: Option<Instant>,
}

impl CallChaining {
    fn scheduler(&self) -> Result<Arc<Inner>, ChainError> {
        self.scheduler
            .upgrade()
            .ok_or_else(|| ChainError::Rejected("the scheduler shut down".to_string()))
    }

    fn enqueue(
        &self,
        inner: &Arc<Inner>,
        entry: Arc<FunctionEntry>,
        request: CallRequest,
    ) -> Result<CallId, ChainError> {
        let queued = self.admit(inner, request.input.len())?;
        inner
            .enqueue(entry, request, &self.tree, self.depth + 1, Some(queued))
            .map(|slot| slot.id)
            .map_err(|error| ChainError::Rejected(error.to_string()))
    }

    /// Sends a chained call elsewhere, within the same limits as a local one (it is not
    /// queued here, so it does not count as queued for its user).
    fn send(
        &self,
        inner: &Arc<Inner>,
        sender: Box<dyn super::SendCall>,
        request: CallRequest,
    ) -> Result<CallId, ChainError> {
        drop(self.admit(inner, request.input.len())?);
        Ok(inner.send_elsewhere(sender, request, &self.tree).id)
    }

    /// Counts one more chained call of this call, if the limits allow it (see
    /// [`Self::check_limits`]); the rejection names the limit otherwise.
    fn admit(
        &self,
        inner: &Arc<Inner>,
        input_bytes: usize,
    ) -> Result<super::QueuedCall, ChainError> {
        let queued = self.check_limits(inner, input_bytes).map_err(|message| {
            // The invocation's result names the first limit any of its calls ran into.
            let _ = self.tree.limit.set(message.clone());
            ChainError::Rejected(message)
        })?;
        self.chained.fetch_add(1, Ordering::Relaxed);
        Ok(queued)
    }

    /// Whether this call may chain one more call (see [`super::ChainLimits`]); the chained
    /// call counted as queued if so, the message of the limit it would pass if not.
    fn check_limits(
        &self,
        inner: &Arc<Inner>,
        input_bytes: usize,
    ) -> Result<super::QueuedCall, String> {
        let limits = &inner.config.chain_limits;
        let user = &self.entry.user;
        if self.depth >= limits.max_chain_depth {
            return Err(limit_reached(
                "max_chain_depth",
                limits.max_chain_depth,
                format!(
                    "{user}/{} is at depth {} of its invocation",
                    self.entry.name, self.depth
                ),
            ));
        }
        let chained = self.chained.load(Ordering::Relaxed);
        if chained >= limits.max_chained_per_call {
            return Err(limit_reached(
                "max_chained_per_call",
                limits.max_chained_per_call,
                format!("{user}/{} has chained {chained} calls", self.entry.name),
            ));
        }
        let queued = inner.reserve_queued(user, input_bytes)?;
        // Counted here, exactly (calls of one tree chain from many threads at once).
        let max = limits.max_calls_per_invocation;
        let counted = self
            .tree
            .calls
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            });
        if let Err(calls) = counted {
            return Err(limit_reached(
                "max_calls_per_invocation",
                max,
                format!(
                    "the invocation of {user}/{} has made {calls} calls",
                    self.entry.name
                ),
            ));
        }
        Ok(queued)
    }
}

impl Chaining for CallChaining {
    fn chain(&self, name: &str, input: &[u8]) -> Result<CallId, ChainError> {
        let inner = self.scheduler()?;
        if let Some(sender) = inner.elsewhere(&self.entry.user, name) {
            return self.send(&inner, sender, CallRequest::with_input(input));
        }
        let entry = inner
            .function(&self.entry.user, name)
            .map_err(|error| match error {
                SchedulerError::UnknownFunction { user, function } => {
                    ChainError::UnknownFunction(format!("{user}/{function}"))
                }
                other => ChainError::Rejected(other.to_string()),
            })?;
        self.enqueue(&inner, entry, CallRequest::with_input(input))
    }

    fn chain_index(&self, func_idx: i32, input: &[u8]) -> Result<CallId, ChainError> {
        let inner = self.scheduler()?;
        let request = CallRequest {
            func_ptr: func_idx,
            ..CallRequest::with_input(input)
        };
        if let Some(sender) = inner.elsewhere(&self.entry.user, &self.entry.name) {
            return self.send(&inner, sender, request);
        }
        self.enqueue(&inner, Arc::clone(&self.entry), request)
    }

    fn chain_py(&self, entry: &str, input: &[u8]) -> Result<CallId, ChainError> {
        let inner = self.scheduler()?;
        // Always on this host, which runs the function now: the calls between hosts carry a
        // table index, not yet a Python entry.
        let request = CallRequest {
            py_entry: entry.to_string(),
            ..CallRequest::with_input(input)
        };
        self.enqueue(&inner, Arc::clone(&self.entry), request)
    }

    fn await_call(&self, id: CallId, timeout: Option<Duration>) -> ChainResult {
        let Ok(inner) = self.scheduler() else {
            return ChainResult::failed("the scheduler shut down");
        };
        let left = self
            .deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let timeout = match (timeout, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let result = inner.await_call(self.tree.id, id, timeout);
        ChainResult {
            return_value: result.return_value,
            output: result.output.clone(),
            failure: result.failure.as_ref().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_as_integers() {
        assert_eq!(input_as_int(b""), Some(0));
        assert_eq!(input_as_int(b" 42\n"), Some(42));
        assert_eq!(input_as_int(b"-7"), Some(-7));
        assert_eq!(input_as_int(b"x"), None);
        assert_eq!(input_as_int(&[0xff]), None);
    }

    #[test]
    fn nested_calls_count_on_their_thread() {
        assert_eq!(inline_depth(), 0);
        let outer = Active::enter();
        assert_eq!(inline_depth(), 0);
        {
            let _inner = Active::enter();
            assert_eq!(inline_depth(), 1);
        }
        assert_eq!(inline_depth(), 0);
        drop(outer);
        assert_eq!(ACTIVE_CALLS.get(), 0);
    }
}
