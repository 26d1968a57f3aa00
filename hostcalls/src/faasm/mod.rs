//! The Faasm `env` interface (`docs/abi.md`): a call's input and output, chaining
//! (`__faasm_chain_name`, `__faasm_chain_ptr`, `__faasm_await_call`,
//! `__faasm_await_call_output` and the paper-era aliases; for Python functions
//! `__faasm_chain_py`, which calls the same function at another Python entry, and
//! `__faasm_get_py_entry`, which names the call's), the state table (over the host's
//! [`faasm_state::LocalTier`]; see [`state`] for the mapping of values
//! into linear memory and which errors trap), the memory calls `__sbrk`, `mmap` and `munmap`,
//! and `__faasm_conf_flag`.
//!
//! The host functions know nothing of how calls are scheduled: whoever runs the Faaslet gives
//! each call a [`FaasmCtx`] (its input, the function-table index or Python entry it was
//! entered at, the configuration flags, the await timeout, the host's state tier and the
//! calling function's user) and a [`Chaining`] implementation that queues chained calls and
//! waits for them. A bad guest pointer or length traps with a message that names the call.
//!
//! ```no_run
//! use faasm_hostcalls::faasm::{FaasmCtx, add_faasm_to_linker};
//! use faasm_runtime::{Engine, Linker, Store};
//!
//! let mut store = Store::new(&Engine::default());
//! let mut linker = Linker::new();
//! let faasm = add_faasm_to_linker(&mut linker, &mut store, FaasmCtx::new());
//! // Before each call: the call's own context.
//! faasm.replace(FaasmCtx::new().with_input(b"hello".to_vec()));
//! // ... call the Faaslet ...
//! let output = faasm.lock().take_output();
//! ```

mod heap;
mod linker;
pub mod state;

pub use linker::{ENV_MODULE, add_faasm_to_linker, faasm_signatures};
pub use state::MAX_KEY_BYTES;

use crate::WasiHandle;
use crate::stdio::lock;
use faasm_state::{LocalTier, StateKey};
use heap::Heap;
use state::{HeldLock, StateMapping};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The id of a chained call, as the guest sees it (a positive `i32`). A scheduler should not
/// make ids guessable across invocations (the in-process one draws them at random).
pub type CallId = u32;

/// Why a call could not be chained. The host function that asked traps with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No function of that name is known for the calling user.
    #[error("no function `{0}`")]
    UnknownFunction(String),
    /// The context of this call has no [`Chaining`] (for example while a Proto-Faaslet is
    /// being initialised).
    #[error("chaining is not available here")]
    Unavailable,
    /// The scheduler refused the call (shutting down, a chaining limit reached: the message
    /// names the limit and its value, ...).
    #[error("{0}")]
    Rejected(String),
}

/// The outcome of a chained call, as an awaiting caller sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainResult {
    /// The callee's return value (its `i32` result or `proc_exit` code).
    pub return_value: i32,
    /// The callee's output (`__faasm_write_output`).
    pub output: Vec<u8>,
    /// Why the call failed (trap, timeout, non-zero return, unknown id...), if it did.
    pub failure: Option<String>,
}

impl ChainResult {
    /// A failed call with no output: `return_value` 1.
    pub fn failed(reason: impl Into<String>) -> ChainResult {
        ChainResult {
            return_value: 1,
            output: Vec::new(),
            failure: Some(reason.into()),
        }
    }

    /// What `__faasm_await_call` returns: the return value, or 1 for a failure that has no
    /// non-zero return value of its own (a trap, a timeout).
    pub fn guest_code(&self) -> i32 {
        match (&self.failure, self.return_value) {
            (Some(_), 0) => 1,
            (_, value) => value,
        }
    }
}

/// What the chaining imports ask of the scheduler. One value serves one call (it knows the
/// calling user and function); implementations must be usable from the thread running the
/// call, which blocks in [`Chaining::await_call`].
pub trait Chaining: Send + Sync {
    /// Queues a call of function `name` of the caller's user with `input`; returns its id.
    fn chain(&self, name: &str, input: &[u8]) -> Result<CallId, ChainError>;

    /// Queues a call of the calling function itself, entered at function-table index
    /// `func_idx`, with `input`; returns its id.
    fn chain_index(&self, func_idx: i32, input: &[u8]) -> Result<CallId, ChainError>;

    /// Queues a call of the calling (Python) function itself, entered at its Python function
    /// `entry` (checked by [`check_py_entry`]), with `input`; returns its id.
    fn chain_py(&self, entry: &str, input: &[u8]) -> Result<CallId, ChainError>;

    /// Blocks until call `id` ends, or `timeout` passes (a failure then). An unknown id is a
    /// failure too, and so is an id the calling call may not await (one of another
    /// invocation or user): answered exactly as an unknown id, so awaits reveal nothing of
    /// other tenants' calls.
    fn await_call(&self, id: CallId, timeout: Option<Duration>) -> ChainResult;
}

/// The longest Python entry name a call may carry, in bytes.
pub const MAX_PY_ENTRY_BYTES: usize = 255;

/// Checks a Python entry's name: 1 to [`MAX_PY_ENTRY_BYTES`] ASCII letters, digits and `_`,
/// not starting with a digit (an identifier the guest looks up in its module).
pub fn check_py_entry(entry: &str) -> Result<(), String> {
    let mut chars = entry.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if entry.len() > MAX_PY_ENTRY_BYTES {
        return Err(format!(
            "a Python entry has at most {MAX_PY_ENTRY_BYTES} bytes, got {}",
            entry.len()
        ));
    }
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{}` is not a Python entry (ASCII letters, digits and `_`, not first a digit)",
            entry.escape_debug()
        ));
    }
    Ok(())
}

/// The largest output of one call by default: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;

/// The state behind one call's `env` imports.
pub struct FaasmCtx {
    input: Vec<u8>,
    output: Vec<u8>,
    func_index: i32,
    py_entry: String,
    conf_flags: Arc<HashMap<String, i32>>,
    chaining: Option<Arc<dyn Chaining>>,
    await_timeout: Option<Duration>,
    state: Option<StateAccess>,
    files: Option<WasiHandle>,
    max_output_bytes: usize,
    pub(crate) heap: Heap,
    /// The state values this call mapped into memory 0 (same key, same address).
    pub(crate) mappings: Vec<StateMapping>,
    /// The state locks this call holds (released when the context is dropped).
    pub(crate) held_locks: Vec<(StateKey, HeldLock)>,
}

/// The host's state tier and the user whose keys a call may name.
#[derive(Clone)]
pub(crate) struct StateAccess {
    pub(crate) tier: Arc<LocalTier>,
    pub(crate) user: String,
}

impl Default for FaasmCtx {
    fn default() -> Self {
        FaasmCtx::new()
    }
}

impl FaasmCtx {
    /// A context with empty input, function index 0, no flags, no chaining, no await timeout.
    pub fn new() -> FaasmCtx {
        FaasmCtx {
            input: Vec::new(),
            output: Vec::new(),
            func_index: 0,
            py_entry: String::new(),
            conf_flags: Arc::default(),
            chaining: None,
            await_timeout: None,
            state: None,
            files: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            heap: Heap::default(),
            mappings: Vec::new(),
            held_locks: Vec::new(),
        }
    }

    /// Sets the call's input (`__faasm_read_input`).
    pub fn with_input(mut self, input: impl Into<Vec<u8>>) -> FaasmCtx {
        self.input = input.into();
        self
    }

    /// Sets the function-table index the call was entered at (`__faasm_get_idx`; 0 for `_start`).
    pub fn with_func_index(mut self, func_index: i32) -> FaasmCtx {
        self.func_index = func_index;
        self
    }

    /// Sets the Python entry the call runs (`__faasm_get_py_entry`; empty for the function's
    /// main entry).
    pub fn with_py_entry(mut self, entry: impl Into<String>) -> FaasmCtx {
        self.py_entry = entry.into();
        self
    }

    /// Sets the flags `__faasm_conf_flag` reads (unknown flags read as 0).
    pub fn with_conf_flags(mut self, flags: Arc<HashMap<String, i32>>) -> FaasmCtx {
        self.conf_flags = flags;
        self
    }

    /// Sets what chained calls go to; without one, chaining traps.
    pub fn with_chaining(mut self, chaining: Arc<dyn Chaining>) -> FaasmCtx {
        self.chaining = Some(chaining);
        self
    }

    /// Sets how long `__faasm_await_call` waits (`None`: as long as the callee runs).
    pub fn with_await_timeout(mut self, timeout: Option<Duration>) -> FaasmCtx {
        self.await_timeout = timeout;
        self
    }

    /// Gives the call the host's state tier (one per host, shared by all its Faaslets) and the
    /// calling function's `user`: every key the guest names is `StateKey::new(user, key)`, so
    /// no function reaches another user's values. Without a tier, the state calls trap.
    pub fn with_state(mut self, tier: Arc<LocalTier>, user: impl Into<String>) -> FaasmCtx {
        self.state = Some(StateAccess {
            tier,
            user: user.into(),
        });
        self
    }

    /// Gives the call the WASI context whose preopened directories
    /// `__faasm_write_state_from_file` reads files through (with WASI's sandbox rules).
    /// Without one, that call traps.
    pub fn with_files(mut self, wasi: WasiHandle) -> FaasmCtx {
        self.files = Some(wasi);
        self
    }

    /// Sets the largest output `__faasm_write_output` accepts (a larger one traps, naming
    /// the limit): outputs are kept in the host until the caller or client takes them.
    pub fn with_max_output_bytes(mut self, max: usize) -> FaasmCtx {
        self.max_output_bytes = max;
        self
    }

    /// The largest output the call may set.
    pub fn max_output_bytes(&self) -> usize {
        self.max_output_bytes
    }

    /// The state tier, if the call has one.
    pub fn state_tier(&self) -> Option<&Arc<LocalTier>> {
        self.state.as_ref().map(|s| &s.tier)
    }

    /// The user whose state keys the call names, if it has a state tier.
    pub fn state_user(&self) -> Option<&str> {
        self.state.as_ref().map(|s| s.user.as_str())
    }

    /// The call's input.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// The output the call has set so far.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Takes the call's output, leaving it empty.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The function-table index of the call.
    pub fn func_index(&self) -> i32 {
        self.func_index
    }

    /// The Python entry of the call (empty: the main entry).
    pub fn py_entry(&self) -> &str {
        &self.py_entry
    }

    /// The value of configuration flag `key` (0 if unset).
    pub fn conf_flag(&self, key: &str) -> i32 {
        self.conf_flags.get(key).copied().unwrap_or(0)
    }

    /// The await timeout.
    pub fn await_timeout(&self) -> Option<Duration> {
        self.await_timeout
    }

    pub(crate) fn chaining(&self) -> Option<Arc<dyn Chaining>> {
        self.chaining.clone()
    }

    pub(crate) fn state_access(&self) -> Option<StateAccess> {
        self.state.clone()
    }

    pub(crate) fn files(&self) -> Option<WasiHandle> {
        self.files.clone()
    }

    pub(crate) fn set_output(&mut self, output: &[u8]) {
        self.output.clear();
        self.output.extend_from_slice(output);
    }
}

impl fmt::Debug for FaasmCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaasmCtx")
            .field("input_len", &self.input.len())
            .field("output_len", &self.output.len())
            .field("func_index", &self.func_index)
            .field("conf_flags", &self.conf_flags)
            .field("chaining", &self.chaining.is_some())
            .field("await_timeout", &self.await_timeout)
            .field("state_user", &self.state_user())
            .field("mappings", &self.mappings.len())
            .field("held_locks", &self.held_locks.len())
            .finish_non_exhaustive()
    }
}

impl Drop for FaasmCtx {
    /// Releases the state locks the call still holds (it ended, trapped or forgot to unlock):
    /// a lock never outlives the call that took it.
    fn drop(&mut self) {
        if let Some(access) = &self.state {
            state::release_all(&access.tier, std::mem::take(&mut self.held_locks));
        }
    }
}

/// A [`FaasmCtx`] shared by the `env` host functions of one store and by the host that runs
/// calls in it (to put each call's context in place and take its output). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FaasmHandle {
    ctx: Arc<Mutex<FaasmCtx>>,
}

impl FaasmHandle {
    /// Locks the context. Host functions never hold this lock while the guest runs.
    pub fn lock(&self) -> MutexGuard<'_, FaasmCtx> {
        lock(&self.ctx)
    }

    /// Puts `ctx` in place of the current context and returns the old one.
    pub fn replace(&self, ctx: FaasmCtx) -> FaasmCtx {
        std::mem::replace(&mut *self.lock(), ctx)
    }
}

impl From<FaasmCtx> for FaasmHandle {
    fn from(ctx: FaasmCtx) -> FaasmHandle {
        FaasmHandle {
            ctx: Arc::new(Mutex::new(ctx)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_codes_of_results() {
        let ok = ChainResult {
            return_value: 0,
            ..ChainResult::default()
        };
        assert_eq!(ok.guest_code(), 0);
        assert_eq!(ChainResult::failed("trap").guest_code(), 1);
        let trapped = ChainResult {
            return_value: 0,
            output: Vec::new(),
            failure: Some("trap".into()),
        };
        assert_eq!(trapped.guest_code(), 1);
        let nonzero = ChainResult {
            return_value: 7,
            output: Vec::new(),
            failure: Some("returned 7".into()),
        };
        assert_eq!(nonzero.guest_code(), 7);
    }

    #[test]
    fn context_builders_and_flags() {
        let flags = Arc::new(HashMap::from([("FULL_ASYNC".to_string(), 1)]));
        let mut ctx = FaasmCtx::new()
            .with_input(b"in".to_vec())
            .with_func_index(3)
            .with_conf_flags(flags)
            .with_await_timeout(Some(Duration::from_secs(1)));
        assert_eq!(ctx.input(), b"in");
        assert_eq!(ctx.func_index(), 3);
        assert_eq!(ctx.conf_flag("FULL_ASYNC"), 1);
        assert_eq!(ctx.conf_flag("NOPE"), 0);
        ctx.set_output(b"abc");
        ctx.set_output(b"xy");
        assert_eq!(ctx.take_output(), b"xy");
        assert!(ctx.output().is_empty());
        assert!(format!("{ctx:?}").contains("func_index: 3"));
    }
}
