//! The state table of the `env` interface (`docs/abi.md`), over the host's
//! [`faasm_state::LocalTier`].
//!
//! **Keys.** The guest passes a NUL-terminated key of at most [`MAX_KEY_BYTES`] bytes; the host
//! makes it `StateKey::new(user, key)` with the calling function's user from the call's
//! [`FaasmCtx`](super::FaasmCtx), so no function can name another user's key (a `/` in the
//! key text is refused as an invalid key, never read as a namespace).
//!
//! **Mapped values.** `__faasm_read_state_ptr` maps the whole value (its memfd,
//! [`faasm_state::StateValue::mapped_len`] bytes) `MAP_SHARED` into the caller's memory 0;
//! `__faasm_read_state_offset_ptr` maps only the host pages holding the chunk asked for and
//! returns the address of its first byte. A mapping takes fresh Wasm pages at the end of
//! memory (memory grows; the heap break moves past them and can never come back below, see
//! `heap.rs`), so `__sbrk`, `mmap` and the guest's own `memory.grow` never hand that range out.
//! The call's context remembers every mapping: the same key (or a chunk inside a range already
//! mapped) gives the same address for the rest of the call. A Faaslet's reset unmaps them and
//! its next call starts afresh; snapshots never contain them.
//!
//! **Errors.** The ABI's state calls have no error results, so every failure traps, with a
//! message naming the import and the key: a bad pointer or length, a key that is not
//! NUL-terminated within bounds or not a valid key, and *every* [`faasm_state::StateError`]
//! (size mismatches, ranges past the end of a value, zero sizes, values that exist in neither
//! tier, an unlock of a lock the call does not hold, a global lock not acquired in time, the
//! global tier failing, and the host's bounds, [`faasm_state::StateLimits`]: a size over
//! `max_value_bytes` — e.g. `__faasm_flag_state_dirty(key, 0xFFFFFFFF)` — and a value past
//! its user's `max_keys_per_user` or `max_bytes_per_user`, or past the host's
//! `max_resident_values`, when evicting unused values does not make room). Every size a guest
//! gives is checked against them before a value is created or a byte is sent. The one call that reports absence instead is `__faasm_read_state`
//! with `len == 0`, which returns 0 for a value that does not exist.
//!
//! **Locks.** Local locks are the host's read/write lock of the key; global locks are the
//! global tier's. A call may hold each lock of a key once (asking again while holding a local
//! lock of the key, or the global lock, would wait forever: it traps instead), may only release
//! locks it holds, and releases on its end whatever it still holds (the context's drop), so a
//! trapped call never leaves a key locked.

use super::heap::PAGE;
use super::linker::{ENV_MODULE, GuestHeapMemory};
use super::{FaasmHandle, StateAccess};
use crate::errno::Errno;
use crate::memory::{GuestError, GuestMemory};
use faasm_runtime::{CallBounds, Caller, Extern, Func, FuncType, Linker, Store, Trap, ValType};
use faasm_state::{GlobalLockMode, LocalTier, StateError, StateKey, StateValue};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

/// The longest key text a guest may pass, in bytes without the NUL (faasm-state's limit).
pub const MAX_KEY_BYTES: usize = faasm_state::MAX_KEY_LEN;

const I32: ValType = ValType::I32;

/// A state lock a call holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeldLock {
    /// The host-local shared lock.
    LocalRead,
    /// The host-local exclusive lock.
    LocalWrite,
    /// The global read lock.
    GlobalRead,
    /// The global write lock.
    GlobalWrite,
}

impl HeldLock {
    fn is_local(self) -> bool {
        matches!(self, HeldLock::LocalRead | HeldLock::LocalWrite)
    }

    fn name(self) -> &'static str {
        match self {
            HeldLock::LocalRead => "local read",
            HeldLock::LocalWrite => "local write",
            HeldLock::GlobalRead => "global read",
            HeldLock::GlobalWrite => "global write",
        }
    }
}

/// Pages `[first_page, first_page + pages)` (host pages) of a value, mapped at guest `addr`.
#[derive(Clone, Debug)]
pub(crate) struct StateMapping {
    key: StateKey,
    first_page: u64,
    pages: u64,
    addr: u32,
    /// Keeps the value resident (the local tier does not evict it) while the call maps it.
    _value: Arc<StateValue>,
}

/// The state imports: name and type.
pub(crate) fn signatures() -> impl Iterator<Item = (&'static str, FuncType)> {
    let t = |params: usize, result: bool| {
        FuncType::new(vec![I32; params], if result { vec![I32] } else { vec![] })
    };
    [
        ("__faasm_read_state", t(3, true)),
        ("__faasm_read_state_ptr", t(2, true)),
        ("__faasm_write_state", t(3, false)),
        ("__faasm_write_state_offset", t(5, false)),
        ("__faasm_read_state_offset", t(5, false)),
        ("__faasm_read_state_offset_ptr", t(4, true)),
        ("__faasm_write_state_from_file", t(2, true)),
        ("__faasm_flag_state_dirty", t(2, false)),
        ("__faasm_flag_state_offset_dirty", t(4, false)),
        ("__faasm_push_state", t(1, false)),
        ("__faasm_push_state_partial", t(1, false)),
        ("__faasm_push_state_partial_mask", t(2, false)),
        ("__faasm_pull_state", t(2, false)),
        ("__faasm_append_state", t(3, false)),
        ("__faasm_read_appended_state", t(4, false)),
        ("__faasm_clear_appended_state", t(1, false)),
        ("__faasm_lock_state_read", t(1, false)),
        ("__faasm_unlock_state_read", t(1, false)),
        ("__faasm_lock_state_write", t(1, false)),
        ("__faasm_unlock_state_write", t(1, false)),
        ("__faasm_lock_state_global_read", t(1, false)),
        ("__faasm_unlock_state_global_read", t(1, false)),
        ("__faasm_lock_state_global_write", t(1, false)),
        ("__faasm_unlock_state_global_write", t(1, false)),
    ]
    .into_iter()
}

/// The trap of a state error in `call`: the timeout trap if the call's deadline passed
/// meanwhile (global-tier I/O ends at it, see [`faasm_state::within_deadline`]).
fn failed(call: &'static str) -> impl Fn(StateError) -> Trap {
    move |error| {
        if faasm_state::current_deadline().is_some_and(|deadline| Instant::now() >= deadline) {
            Trap::timeout()
        } else {
            Trap::Host(format!("{ENV_MODULE}::{call}: {error}"))
        }
    }
}

/// Runs `io` (an exchange with the global tier) in the call's blocking section: other calls
/// may run meanwhile.
fn global_io<T>(caller: &Caller<'_>, io: impl FnOnce() -> T) -> T {
    caller.call_bounds().blocking(io)
}

/// The trap of a bad guest pointer in `call` about `key`.
fn fault<'k>(call: &'static str, key: &'k StateKey) -> impl Fn(GuestError) -> Trap + 'k {
    move |error| Trap::Host(format!("{ENV_MODULE}::{call} (state key {key}): {error}"))
}

fn trap(call: &'static str, message: impl std::fmt::Display) -> Trap {
    Trap::Host(format!("{ENV_MODULE}::{call}: {message}"))
}

/// The call's state tier and user, or a trap if it has none.
fn access(handle: &FaasmHandle, call: &'static str) -> Result<StateAccess, Trap> {
    handle.lock().state_access().ok_or_else(|| {
        trap(
            call,
            "state is not available here: no state tier (a function's initialisation, \
             `_faasm_zygote` included, runs before any call and without state, so that its \
             snapshot holds no state mapping)",
        )
    })
}

/// The NUL-terminated key text at `ptr` (at most [`MAX_KEY_BYTES`] bytes) as a key of `user`.
fn guest_key(
    caller: &mut Caller<'_>,
    call: &'static str,
    user: &str,
    ptr: u32,
) -> Result<StateKey, Trap> {
    let text = GuestMemory::of_caller(caller)
        .c_str_within(ptr, MAX_KEY_BYTES)
        .map_err(|error| {
            trap(
                call,
                format!("state key: {error} (keys are at most {MAX_KEY_BYTES} bytes)"),
            )
        })?;
    StateKey::new(user, &text).map_err(failed(call))
}

/// The call's state access and the key at `key_ptr`.
fn start(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    call: &'static str,
    key_ptr: u32,
) -> Result<(StateAccess, StateKey), Trap> {
    let access = access(handle, call)?;
    let key = guest_key(caller, call, &access.user, key_ptr)?;
    Ok((access, key))
}

/// The guest's `len` bytes at `ptr`, for a call that reads them: borrowed where they are the
/// Faaslet's private pages, a copy where they overlap a state value mapped into memory (see
/// [`GuestMemory::bytes`]), so that a value written from its own mapping moves as with
/// `memmove`.
fn guest_input<'c>(
    caller: &'c mut Caller<'_>,
    call: &'static str,
    key: &StateKey,
    ptr: u32,
    len: u32,
) -> Result<Cow<'c, [u8]>, Trap> {
    GuestMemory::of_caller(caller)
        .into_bytes(ptr, len)
        .map_err(fault(call, key))
}

/// Runs `fill` on a buffer for the guest's `len` bytes at `ptr`, for a call that writes them
/// (see [`GuestMemory::fill`]); `fill` returns its result and how many bytes from the start it
/// wrote.
fn with_guest_output<T>(
    caller: &mut Caller<'_>,
    call: &'static str,
    key: &StateKey,
    ptr: u32,
    len: u32,
    fill: impl FnOnce(&mut [u8]) -> Result<(T, usize), Trap>,
) -> Result<T, Trap> {
    let mut mem = GuestMemory::of_caller(caller);
    mem.range(ptr, len.into()).map_err(fault(call, key))?;
    let mut result = None;
    mem.fill(ptr, len, |dst| {
        let (value, written) = fill(dst)?;
        result = Some(value);
        Ok::<_, Trap>(written)
    })?;
    result.ok_or_else(|| trap(call, "the guest buffer was not filled"))
}

/// A size as the guest's `i32` (values past 2 GiB cannot be a wasm32 guest's anyway).
fn guest_size(size: usize) -> i32 {
    i32::try_from(size).unwrap_or(i32::MAX)
}

/// Defines every state import in `linker` over `handle`.
pub(crate) fn define(linker: &mut Linker, store: &mut Store, handle: &FaasmHandle) {
    let mut define = |name: &str, func: Func| {
        linker.define(ENV_MODULE, name, Extern::Func(func));
    };

    let h = handle.clone();
    define(
        "__faasm_read_state",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, buf: u32, len: u32| {
                const CALL: &str = "__faasm_read_state";
                let (access, key) = start(&h, caller, CALL, key)?;
                if len == 0 {
                    let size = access.tier.size(&key).map_err(failed(CALL))?;
                    return Ok(guest_size(size));
                }
                let size = with_guest_output(caller, CALL, &key, buf, len, |dst| {
                    let size = access.tier.read(&key, dst).map_err(failed(CALL))?;
                    Ok((size, size.min(dst.len())))
                })?;
                Ok::<i32, Trap>(guest_size(size))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_read_state_ptr",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32| {
                const CALL: &str = "__faasm_read_state_ptr";
                let (access, key) = start(&h, caller, CALL, key)?;
                map_value(&h, caller, CALL, &access.tier, key, total, None)
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_read_state_offset_ptr",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32, off: u32, len: u32| {
                const CALL: &str = "__faasm_read_state_offset_ptr";
                let (access, key) = start(&h, caller, CALL, key)?;
                map_value(&h, caller, CALL, &access.tier, key, total, Some((off, len)))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_write_state",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, data: u32, len: u32| {
                const CALL: &str = "__faasm_write_state";
                let (access, key) = start(&h, caller, CALL, key)?;
                let data = guest_input(caller, CALL, &key, data, len)?;
                access.tier.write(&key, &data).map_err(failed(CALL))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_write_state_offset",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32, off: u32, data: u32, len: u32| {
                const CALL: &str = "__faasm_write_state_offset";
                let (access, key) = start(&h, caller, CALL, key)?;
                let data = guest_input(caller, CALL, &key, data, len)?;
                access
                    .tier
                    .write_at(&key, total as usize, off as usize, &data)
                    .map_err(failed(CALL))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_read_state_offset",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32, off: u32, buf: u32, len: u32| {
                const CALL: &str = "__faasm_read_state_offset";
                let (access, key) = start(&h, caller, CALL, key)?;
                with_guest_output(caller, CALL, &key, buf, len, |dst| {
                    access
                        .tier
                        .read_at(&key, total as usize, off as usize, dst)
                        .map_err(failed(CALL))?;
                    Ok(((), dst.len()))
                })
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_write_state_from_file",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, path: u32| {
                const CALL: &str = "__faasm_write_state_from_file";
                let (access, key) = start(&h, caller, CALL, key)?;
                let path = {
                    let mem = GuestMemory::of_caller(caller);
                    mem.c_str(path).map_err(fault(CALL, &key))?
                };
                let files = h.lock().files().ok_or_else(|| {
                    trap(CALL, "no file system here (the call has no WASI context)")
                })?;
                let max = access.tier.limits().max_value_bytes;
                let data = files.lock().read_file(&path, max).map_err(|errno| {
                    let why = if errno == Errno::FBig {
                        format!("max_value_bytes limit ({max}) exceeded by the file")
                    } else {
                        errno.to_string()
                    };
                    trap(CALL, format!("cannot read {path:?}: {why}"))
                })?;
                access.tier.write(&key, &data).map_err(failed(CALL))?;
                Ok::<i32, Trap>(guest_size(data.len()))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_flag_state_dirty",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32| {
                const CALL: &str = "__faasm_flag_state_dirty";
                let (access, key) = start(&h, caller, CALL, key)?;
                access
                    .tier
                    .flag_dirty(&key, total as usize)
                    .map_err(failed(CALL))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_flag_state_offset_dirty",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, total: u32, off: u32, len: u32| {
                const CALL: &str = "__faasm_flag_state_offset_dirty";
                let (access, key) = start(&h, caller, CALL, key)?;
                access
                    .tier
                    .flag_dirty_range(&key, total as usize, off as usize, len as usize)
                    .map_err(failed(CALL))
            },
        ),
    );
    type KeyOp = fn(&LocalTier, &StateKey) -> Result<(), StateError>;
    let key_ops: [(&'static str, KeyOp); 3] = [
        ("__faasm_push_state", LocalTier::push),
        ("__faasm_push_state_partial", LocalTier::push_partial),
        ("__faasm_clear_appended_state", LocalTier::clear_appended),
    ];
    for (call, op) in key_ops {
        let h = handle.clone();
        define(
            call,
            Func::wrap(store, move |caller: &mut Caller<'_>, key: u32| {
                let (access, key) = start(&h, caller, call, key)?;
                global_io(caller, || op(&access.tier, &key)).map_err(failed(call))
            }),
        );
    }
    let h = handle.clone();
    define(
        "__faasm_push_state_partial_mask",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, mask: u32| {
                const CALL: &str = "__faasm_push_state_partial_mask";
                let (access, key) = start(&h, caller, CALL, key)?;
                let mask = guest_key(caller, CALL, &access.user, mask)?;
                global_io(caller, || access.tier.push_partial_mask(&key, &mask))
                    .map_err(failed(CALL))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_pull_state",
        Func::wrap(store, move |caller: &mut Caller<'_>, key: u32, len: u32| {
            const CALL: &str = "__faasm_pull_state";
            let (access, key) = start(&h, caller, CALL, key)?;
            global_io(caller, || access.tier.pull(&key, len as usize)).map_err(failed(CALL))
        }),
    );
    let h = handle.clone();
    define(
        "__faasm_append_state",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, data: u32, len: u32| {
                const CALL: &str = "__faasm_append_state";
                let (access, key) = start(&h, caller, CALL, key)?;
                let bounds = caller.call_bounds();
                let data = guest_input(caller, CALL, &key, data, len)?;
                bounds
                    .blocking(|| access.tier.append(&key, &data))
                    .map_err(failed(CALL))
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_read_appended_state",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, key: u32, buf: u32, buf_len: u32, n: u32| {
                const CALL: &str = "__faasm_read_appended_state";
                let (access, key) = start(&h, caller, CALL, key)?;
                // A bad buffer traps before anything is fetched.
                GuestMemory::of_caller(caller)
                    .range(buf, u64::from(buf_len))
                    .map_err(fault(CALL, &key))?;
                let bytes = global_io(caller, || access.tier.read_appended(&key, n as usize))
                    .map_err(failed(CALL))?;
                if bytes.len() > buf_len as usize {
                    return Err(trap(
                        CALL,
                        format!(
                            "the first {n} elements of the append list of {key} hold {} bytes, \
                             the buffer only {buf_len}",
                            bytes.len()
                        ),
                    ));
                }
                let mut mem = GuestMemory::of_caller(caller);
                mem.write_bytes(buf, &bytes).map_err(fault(CALL, &key))
            },
        ),
    );
    for (call, lock) in [
        ("__faasm_lock_state_read", HeldLock::LocalRead),
        ("__faasm_lock_state_write", HeldLock::LocalWrite),
        ("__faasm_lock_state_global_read", HeldLock::GlobalRead),
        ("__faasm_lock_state_global_write", HeldLock::GlobalWrite),
    ] {
        let h = handle.clone();
        define(
            call,
            Func::wrap(store, move |caller: &mut Caller<'_>, key: u32| {
                let (access, key) = start(&h, caller, call, key)?;
                take_lock(&h, call, &access.tier, key, lock, &caller.call_bounds())
            }),
        );
    }
    for (call, lock) in [
        ("__faasm_unlock_state_read", HeldLock::LocalRead),
        ("__faasm_unlock_state_write", HeldLock::LocalWrite),
        ("__faasm_unlock_state_global_read", HeldLock::GlobalRead),
        ("__faasm_unlock_state_global_write", HeldLock::GlobalWrite),
    ] {
        let h = handle.clone();
        define(
            call,
            Func::wrap(store, move |caller: &mut Caller<'_>, key: u32| {
                let (access, key) = start(&h, caller, call, key)?;
                let held = {
                    let mut ctx = h.lock();
                    let position = ctx
                        .held_locks
                        .iter()
                        .position(|(k, l)| *k == key && *l == lock);
                    position.map(|i| ctx.held_locks.remove(i))
                };
                if held.is_none() {
                    return Err(trap(
                        call,
                        format!("this call does not hold the {} lock of {key}", lock.name()),
                    ));
                }
                release(&access.tier, &key, lock).map_err(failed(call))
            }),
        );
    }
}

/// Takes `lock` of `key` for the call, unless taking it would wait on the call itself.
fn take_lock(
    handle: &FaasmHandle,
    call: &'static str,
    tier: &LocalTier,
    key: StateKey,
    lock: HeldLock,
    bounds: &CallBounds,
) -> Result<(), Trap> {
    let conflict = handle
        .lock()
        .held_locks
        .iter()
        .find(|(k, l)| *k == key && l.is_local() == lock.is_local())
        .map(|(_, l)| *l);
    if let Some(held) = conflict {
        return Err(trap(
            call,
            format!(
                "this call already holds the {} lock of {key}: taking the {} lock would wait \
                 forever",
                held.name(),
                lock.name()
            ),
        ));
    }
    // The context is not locked while this waits. A free local lock is taken without a
    // blocking section; any other wait gives way to other calls, until the lock timeout or the
    // call's deadline, whichever comes first (the call then ends as timed out).
    let taken_at_once = lock.is_local() && lock_by(tier, &key, lock, Some(Instant::now())).is_ok();
    if !taken_at_once {
        let taken = bounds.blocking(|| lock_by(tier, &key, lock, bounds.deadline()));
        if let Err(error) = taken {
            return Err(if bounds.expired() {
                Trap::timeout()
            } else {
                failed(call)(error)
            });
        }
    }
    handle.lock().held_locks.push((key, lock));
    Ok(())
}

/// Takes `lock` of `key`, waiting at most the lock timeout and until `deadline`.
fn lock_by(
    tier: &LocalTier,
    key: &StateKey,
    lock: HeldLock,
    deadline: Option<Instant>,
) -> Result<(), StateError> {
    match lock {
        HeldLock::LocalRead => tier.lock_read_by(key, deadline),
        HeldLock::LocalWrite => tier.lock_write_by(key, deadline),
        HeldLock::GlobalRead => tier.lock_global_by(key, GlobalLockMode::Read, deadline),
        HeldLock::GlobalWrite => tier.lock_global_by(key, GlobalLockMode::Write, deadline),
    }
}

fn release(tier: &LocalTier, key: &StateKey, lock: HeldLock) -> Result<(), StateError> {
    match lock {
        HeldLock::LocalRead => tier.unlock_read(key),
        HeldLock::LocalWrite => tier.unlock_write(key),
        HeldLock::GlobalRead => tier.unlock_global_read(key),
        HeldLock::GlobalWrite => tier.unlock_global_write(key),
    }
}

/// Releases every lock of `held` (a call's, at its end); errors are dropped (a global lock that
/// expired meanwhile is not ours to release any more).
pub(crate) fn release_all(tier: &LocalTier, held: Vec<(StateKey, HeldLock)>) {
    for (key, lock) in held.into_iter().rev() {
        let _ = release(tier, &key, lock);
    }
}

/// Maps the value of `key` (size `total`) into the caller's memory 0: the whole of it, or the
/// pages holding `[off, off + len)` for `Some((off, len))`. Returns the guest address of byte
/// 0 (or of `off`). A range this call mapped already is not mapped again.
fn map_value(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    call: &'static str,
    tier: &LocalTier,
    key: StateKey,
    total: u32,
    chunk: Option<(u32, u32)>,
) -> Result<i32, Trap> {
    let total = total as usize;
    let (off, len) = chunk.unwrap_or((0, 0));
    let (off, len) = (off as usize, len as usize);
    let value = match chunk {
        None => tier.value_for_mapping(&key, total),
        Some(_) => tier.value_for_mapping_range(&key, total, off, len),
    }
    .map_err(failed(call))?;
    let page = faasm_runtime::host_page_size() as u64;
    if page == 0 || !PAGE.is_multiple_of(page) {
        return Err(trap(
            call,
            format!("host pages of {page} bytes do not divide Wasm pages: state cannot be mapped"),
        ));
    }
    let n_pages = value.mapped_len() as u64 / page;
    let (first, end) = match chunk {
        None => (0, n_pages),
        Some(_) => {
            let first = off as u64 / page;
            let end = (off as u64 + len as u64).div_ceil(page).max(first + 1);
            (first, end.min(n_pages))
        }
    };
    if first >= end {
        return Err(trap(
            call,
            format!("state value {key}: nothing to map at offset {off} (its end)"),
        ));
    }
    let address = |m: &StateMapping| {
        let at = u64::from(m.addr) + off as u64 - m.first_page * page;
        at as u32 as i32
    };
    let known = handle
        .lock()
        .mappings
        .iter()
        .find(|m| m.key == key && m.first_page <= first && m.first_page + m.pages >= end)
        .map(address);
    if let Some(addr) = known {
        return Ok(addr);
    }
    let bytes = (end - first) * page;
    let start = {
        let mut memory = GuestHeapMemory::of(caller, call)?;
        handle.lock().heap.reserve(&mut memory, bytes)
    }
    .ok_or_else(|| {
        trap(
            call,
            format!("cannot grow memory by {bytes} bytes to map state value {key}"),
        )
    })?;
    let memory = caller
        .memory()
        .ok_or_else(|| trap(call, "the module has no memory"))?;
    memory
        .map_shared(caller.store_mut(), start, bytes, value.file(), first * page)
        .map_err(|e| trap(call, format!("cannot map state value {key}: {e}")))?;
    let addr = u32::try_from(start)
        .map_err(|_| trap(call, format!("state value {key} mapped past 4 GiB")))?;
    let mapping = StateMapping {
        key,
        first_page: first,
        pages: end - first,
        addr,
        _value: value,
    };
    let result = address(&mapping);
    handle.lock().mappings.push(mapping);
    Ok(result)
}
