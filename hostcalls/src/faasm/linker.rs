//! Defines the `env` imports of the Faasm interface in a [`Linker`], as typed host functions
//! ([`Func::wrap`]) over a shared [`FaasmHandle`].
//!
//! Host functions copy what they need out of the context and release its lock before anything
//! that can run guest code (the guest's `malloc`) or block (awaiting a chained call).

use super::heap::{FAILED, GrowMemory, PAGE};
use super::{CallId, ChainError, Chaining, FaasmHandle};
use crate::memory::{GuestError, GuestMemory};
use faasm_runtime::{Caller, Extern, Func, FuncType, Linker, Memory, Store, Trap, Val, ValType};
use std::borrow::Cow;
use std::sync::Arc;

/// The import module of the Faasm interface.
pub const ENV_MODULE: &str = "env";

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// `MAP_ANONYMOUS` in wasi-libc's (musl's) `<sys/mman.h>`.
const MAP_ANONYMOUS: u32 = 0x20;

/// The name and type of every `env` function [`add_faasm_to_linker`] defines.
pub fn faasm_signatures() -> impl Iterator<Item = (&'static str, FuncType)> {
    let chain = || FuncType::new([I32, I32, I32], [I32]);
    [
        ("__faasm_read_input", FuncType::new([I32, I32], [I32])),
        ("__faasm_write_output", FuncType::new([I32, I32], [])),
        ("__faasm_chain_name", chain()),
        ("__faasm_chain_function", chain()),
        ("__faasm_chain_ptr", chain()),
        ("__faasm_chain_this", chain()),
        ("__faasm_await_call", FuncType::new([I32], [I32])),
        (
            "__faasm_await_call_output",
            FuncType::new([I32, I32, I32], [I32]),
        ),
        ("__faasm_get_idx", FuncType::new([], [I32])),
        ("__faasm_chain_py", chain()),
        ("__faasm_get_py_entry", FuncType::new([I32, I32], [])),
        ("__faasm_conf_flag", FuncType::new([I32], [I32])),
        ("__sbrk", FuncType::new([I32], [I32])),
        ("mmap", FuncType::new([I32, I32, I32, I32, I32, I64], [I32])),
        ("munmap", FuncType::new([I32, I32], [I32])),
    ]
    .into_iter()
    .chain(super::state::signatures())
}

/// Defines every `env` function of the Faasm interface (the state calls included) in
/// `linker`, as host functions of `store` over `ctx`. Returns the shared context: the host puts each call's
/// [`FaasmCtx`](super::FaasmCtx) in place through it and takes the call's output from it.
pub fn add_faasm_to_linker(
    linker: &mut Linker,
    store: &mut Store,
    ctx: impl Into<FaasmHandle>,
) -> FaasmHandle {
    let handle: FaasmHandle = ctx.into();
    let mut define = |name: &str, func: Func| {
        linker.define(ENV_MODULE, name, Extern::Func(func));
    };

    let h = handle.clone();
    define(
        "__faasm_read_input",
        Func::wrap(store, move |caller: &mut Caller<'_>, buf: u32, len: u32| {
            read_input(&h, caller, buf, len)
        }),
    );
    let h = handle.clone();
    define(
        "__faasm_write_output",
        Func::wrap(store, move |caller: &mut Caller<'_>, ptr: u32, len: u32| {
            const CALL: &str = "__faasm_write_output";
            let max = h.lock().max_output_bytes();
            if len as usize > max {
                return Err(Trap::Host(format!(
                    "{ENV_MODULE}::{CALL}: an output of {len} bytes exceeds the \
                     max_output_bytes limit ({max})"
                )));
            }
            let mem = GuestMemory::of_caller(caller);
            let data = mem.bytes(ptr, len).map_err(fault(CALL))?;
            h.lock().set_output(&data);
            Ok::<(), Trap>(())
        }),
    );
    for name in ["__faasm_chain_name", "__faasm_chain_function"] {
        let h = handle.clone();
        define(
            name,
            Func::wrap(
                store,
                move |caller: &mut Caller<'_>, name_ptr: u32, input: u32, len: u32| {
                    chain_name(&h, caller, name, name_ptr, input, len)
                },
            ),
        );
    }
    for name in ["__faasm_chain_ptr", "__faasm_chain_this"] {
        let h = handle.clone();
        define(
            name,
            Func::wrap(
                store,
                move |caller: &mut Caller<'_>, idx: i32, input: u32, len: u32| {
                    let data = guest_bytes(caller, name, input, len)?;
                    let chaining = chaining(&h, name)?;
                    to_guest_id(name, chaining.chain_index(idx, &data))
                },
            ),
        );
    }
    let h = handle.clone();
    define(
        "__faasm_chain_py",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, entry_ptr: u32, input: u32, len: u32| {
                chain_py(&h, caller, entry_ptr, input, len)
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_get_py_entry",
        Func::wrap(store, move |caller: &mut Caller<'_>, buf: u32, len: u32| {
            let entry = h.lock().py_entry().to_string();
            write_c_str(caller, "__faasm_get_py_entry", buf, len, &entry)
        }),
    );
    let h = handle.clone();
    define(
        "__faasm_await_call",
        Func::wrap(store, move |_: &mut Caller<'_>, id: u32| {
            let chaining = chaining(&h, "__faasm_await_call")?;
            let timeout = h.lock().await_timeout();
            Ok::<i32, Trap>(chaining.await_call(id as CallId, timeout).guest_code())
        }),
    );
    let h = handle.clone();
    define(
        "__faasm_await_call_output",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, id: u32, ptr_ptr: u32, len_ptr: u32| {
                await_call_output(&h, caller, id, ptr_ptr, len_ptr)
            },
        ),
    );
    let h = handle.clone();
    define(
        "__faasm_get_idx",
        Func::wrap(store, move |_: &mut Caller<'_>| h.lock().func_index()),
    );
    let h = handle.clone();
    define(
        "__faasm_conf_flag",
        Func::wrap(store, move |caller: &mut Caller<'_>, key: u32| {
            let mem = GuestMemory::of_caller(caller);
            let key = mem.c_str(key).map_err(fault("__faasm_conf_flag"))?;
            Ok::<i32, Trap>(h.lock().conf_flag(&key))
        }),
    );
    let h = handle.clone();
    define(
        "__sbrk",
        Func::wrap(store, move |caller: &mut Caller<'_>, increment: i32| {
            let mut memory = GuestHeapMemory::of(caller, "__sbrk")?;
            Ok::<i32, Trap>(h.lock().heap.sbrk(&mut memory, increment))
        }),
    );
    let h = handle.clone();
    define(
        "mmap",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>,
                  _addr: u32,
                  len: u32,
                  _prot: u32,
                  flags: u32,
                  fd: i32,
                  _offset: i64| {
                if flags & MAP_ANONYMOUS == 0 && fd != -1 {
                    // File mappings are not supported: MAP_FAILED, as for an unmappable file.
                    return Ok(FAILED);
                }
                let mut memory = GuestHeapMemory::of(caller, "mmap")?;
                Ok::<i32, Trap>(h.lock().heap.mmap(&mut memory, len))
            },
        ),
    );
    let h = handle.clone();
    define(
        "munmap",
        Func::wrap(
            store,
            move |caller: &mut Caller<'_>, addr: u32, len: u32| {
                GuestMemory::of_caller(caller)
                    .range(addr, u64::from(len))
                    .map_err(fault("munmap"))?;
                let mut memory = GuestHeapMemory::of(caller, "munmap")?;
                Ok::<i32, Trap>(h.lock().heap.munmap(&mut memory, addr, len))
            },
        ),
    );
    super::state::define(linker, store, &handle);
    handle
}

/// The trap of a bad guest pointer in `call`.
fn fault(call: &'static str) -> impl Fn(GuestError) -> Trap {
    move |error| Trap::Host(format!("{ENV_MODULE}::{call}: {error}"))
}

/// A copy of the `len` guest bytes at `ptr`, for `call`.
fn guest_bytes(
    caller: &mut Caller<'_>,
    call: &'static str,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, Trap> {
    let mem = GuestMemory::of_caller(caller);
    mem.bytes(ptr, len)
        .map(Cow::into_owned)
        .map_err(fault(call))
}

/// The context's chaining, or a trap naming `call`.
fn chaining(handle: &FaasmHandle, call: &'static str) -> Result<Arc<dyn Chaining>, Trap> {
    handle
        .lock()
        .chaining()
        .ok_or_else(|| Trap::Host(format!("{ENV_MODULE}::{call}: {}", ChainError::Unavailable)))
}

/// A chained call's id as the guest's `i32`, or the trap of a refused call.
fn to_guest_id(call: &'static str, id: Result<CallId, ChainError>) -> Result<i32, Trap> {
    match id {
        Ok(id) => i32::try_from(id)
            .map_err(|_| Trap::Host(format!("{ENV_MODULE}::{call}: call id {id} overflows"))),
        Err(error) => Err(Trap::Host(format!("{ENV_MODULE}::{call}: {error}"))),
    }
}

fn read_input(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    buf: u32,
    len: u32,
) -> Result<i32, Trap> {
    let ctx = handle.lock();
    let input = ctx.input();
    let size = i32::try_from(input.len()).unwrap_or(i32::MAX);
    if len == 0 {
        return Ok(size);
    }
    let n = input.len().min(len as usize);
    let mut mem = GuestMemory::of_caller(caller);
    // The whole buffer the guest named must be valid, not only the part written.
    mem.range(buf, u64::from(len))
        .map_err(fault("__faasm_read_input"))?;
    mem.write_bytes(buf, &input[..n])
        .map_err(fault("__faasm_read_input"))?;
    Ok(n as i32)
}

fn chain_name(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    call: &'static str,
    name_ptr: u32,
    input: u32,
    len: u32,
) -> Result<i32, Trap> {
    let (name, data) = {
        let mem = GuestMemory::of_caller(caller);
        let name = mem.c_str(name_ptr).map_err(fault(call))?;
        let data = mem.bytes(input, len).map_err(fault(call))?.into_owned();
        (name, data)
    };
    let chaining = chaining(handle, call)?;
    to_guest_id(call, chaining.chain(&name, &data))
}

fn chain_py(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    entry_ptr: u32,
    input: u32,
    len: u32,
) -> Result<i32, Trap> {
    const CALL: &str = "__faasm_chain_py";
    let (entry, data) = {
        let mem = GuestMemory::of_caller(caller);
        let entry = mem.c_str(entry_ptr).map_err(fault(CALL))?;
        let data = mem.bytes(input, len).map_err(fault(CALL))?.into_owned();
        (entry, data)
    };
    super::check_py_entry(&entry)
        .map_err(|why| Trap::Host(format!("{ENV_MODULE}::{CALL}: {why}")))?;
    let chaining = chaining(handle, CALL)?;
    to_guest_id(CALL, chaining.chain_py(&entry, &data))
}

/// Writes `text` and a NUL into the guest's buffer of `len` bytes at `buf`; a buffer too small
/// for both traps (a truncated name would name something else).
fn write_c_str(
    caller: &mut Caller<'_>,
    call: &'static str,
    buf: u32,
    len: u32,
    text: &str,
) -> Result<(), Trap> {
    let mut mem = GuestMemory::of_caller(caller);
    mem.range(buf, u64::from(len)).map_err(fault(call))?;
    if text.len() >= len as usize {
        return Err(Trap::Host(format!(
            "{ENV_MODULE}::{call}: a buffer of {len} bytes cannot hold `{text}` and its NUL"
        )));
    }
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    mem.write_bytes(buf, &bytes).map_err(fault(call))
}

fn await_call_output(
    handle: &FaasmHandle,
    caller: &mut Caller<'_>,
    id: u32,
    ptr_ptr: u32,
    len_ptr: u32,
) -> Result<i32, Trap> {
    const CALL: &str = "__faasm_await_call_output";
    // Bad out-pointers trap before the call blocks.
    {
        let mem = GuestMemory::of_caller(caller);
        mem.range(ptr_ptr, 4).map_err(fault(CALL))?;
        mem.range(len_ptr, 4).map_err(fault(CALL))?;
    }
    let chaining = chaining(handle, CALL)?;
    let timeout = handle.lock().await_timeout();
    let result = chaining.await_call(id as CallId, timeout);
    let len = u32::try_from(result.output.len())
        .map_err(|_| Trap::Host(format!("{ENV_MODULE}::{CALL}: output too large")))?;
    let ptr = if len == 0 {
        0
    } else {
        guest_malloc(caller, CALL, len)?
    };
    let mut mem = GuestMemory::of_caller(caller);
    mem.write_bytes(ptr, &result.output).map_err(fault(CALL))?;
    mem.write_u32(ptr_ptr, ptr).map_err(fault(CALL))?;
    mem.write_u32(len_ptr, len).map_err(fault(CALL))?;
    Ok(result.guest_code())
}

/// Calls the guest's exported `malloc(len)`; a missing export or a null result traps.
fn guest_malloc(caller: &mut Caller<'_>, call: &'static str, len: u32) -> Result<u32, Trap> {
    let Some(Extern::Func(malloc)) = caller.get_export("malloc") else {
        return Err(Trap::Host(format!(
            "{ENV_MODULE}::{call}: the module exports no `malloc` function"
        )));
    };
    match malloc
        .call(caller.store_mut(), &[Val::I32(len as i32)])?
        .as_slice()
    {
        [Val::I32(0)] => Err(Trap::Host(format!(
            "{ENV_MODULE}::{call}: malloc({len}) returned NULL"
        ))),
        [Val::I32(ptr)] => Ok(*ptr as u32),
        _ => Err(Trap::Host(format!(
            "{ENV_MODULE}::{call}: `malloc` is not (i32) -> i32"
        ))),
    }
}

/// The caller's memory 0 as the heap grows it (exported or not).
pub(super) struct GuestHeapMemory<'a, 'b> {
    caller: &'a mut Caller<'b>,
    memory: Memory,
}

impl<'a, 'b> GuestHeapMemory<'a, 'b> {
    pub(super) fn of(caller: &'a mut Caller<'b>, call: &'static str) -> Result<Self, Trap> {
        let memory = caller
            .memory()
            .ok_or_else(|| Trap::Host(format!("{ENV_MODULE}::{call}: the module has no memory")))?;
        Ok(GuestHeapMemory { caller, memory })
    }
}

impl GrowMemory for GuestHeapMemory<'_, '_> {
    fn size(&mut self) -> u64 {
        self.memory.size_pages(self.caller.store()) * PAGE
    }

    fn grow(&mut self, pages: u64) -> bool {
        self.memory.grow(self.caller.store_mut(), pages).is_ok()
    }

    fn zero(&mut self, start: u64, end: u64) {
        // Out of bounds (which the heap never asks for) zeroes nothing.
        let len = end.saturating_sub(start);
        let _ = self.memory.fill(self.caller.store_mut(), start, len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_env_function_is_defined_once_with_its_type() {
        let names: Vec<&str> = faasm_signatures().map(|(name, _)| name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        let mut store = Store::new(&faasm_runtime::Engine::default());
        let mut linker = Linker::new();
        add_faasm_to_linker(&mut linker, &mut store, super::super::FaasmCtx::new());
        for (name, ty) in faasm_signatures() {
            match linker.get(ENV_MODULE, name) {
                Some(Extern::Func(func)) => assert_eq!(func.ty(&store), ty, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
