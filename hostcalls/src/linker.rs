//! Defines every `wasi_snapshot_preview1` import in a [`Linker`], with its exact witx signature
//! (pointers and sizes as `i32`, 64-bit values as `i64`, an `errno` result as `i32`).

use crate::WasiCtx;
use crate::calls::{WasiResult, dir, env, fd, path, poll};
use crate::ctx::WasiHandle;
use crate::memory::GuestMemory;
use crate::wait::CallWait;
use faasm_runtime::{Caller, Extern, Func, FuncType, Linker, Store, Trap, Val, ValType};

/// The import module name of WASI preview1.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// A call's parameters, already checked against its signature.
struct Args<'a>(&'a [Val]);

impl Args<'_> {
    /// Parameter `i`, an `i32` the witx types as unsigned (pointer, size, fd, flags).
    fn u32(&self, i: usize) -> u32 {
        match self.0.get(i) {
            Some(Val::I32(v)) => *v as u32,
            _ => 0,
        }
    }

    /// Parameter `i`, an `i64` the witx types as unsigned (offset, timestamp, rights).
    fn u64(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Val::I64(v)) => *v as u64,
            _ => 0,
        }
    }

    /// Parameter `i`, a signed `i64` (`fd_seek`'s filedelta).
    fn i64(&self, i: usize) -> i64 {
        self.u64(i) as i64
    }
}

type Call = fn(&mut WasiCtx, &mut GuestMemory<'_>, &Args<'_>) -> WasiResult;

/// One preview1 function that returns an `errno`.
struct WasiFunction {
    name: &'static str,
    params: &'static [ValType],
    call: Call,
    /// Whether it may wait (see [`crate::wait`]): it gets the call's bounds.
    waits: bool,
}

const fn f(name: &'static str, params: &'static [ValType], call: Call) -> WasiFunction {
    WasiFunction {
        name,
        params,
        call,
        waits: false,
    }
}

/// A function that may wait: for a pipe, a FIFO, the process's stdin, or a clock.
const fn waiting(function: WasiFunction) -> WasiFunction {
    WasiFunction {
        waits: true,
        ..function
    }
}

/// Every preview1 function but `proc_exit` (which returns nothing and never comes back).
static FUNCTIONS: &[WasiFunction] = &[
    f("args_get", &[I32, I32], |c, m, a| {
        env::args_get(c, m, a.u32(0), a.u32(1))
    }),
    f("args_sizes_get", &[I32, I32], |c, m, a| {
        env::args_sizes_get(c, m, a.u32(0), a.u32(1))
    }),
    f("environ_get", &[I32, I32], |c, m, a| {
        env::environ_get(c, m, a.u32(0), a.u32(1))
    }),
    f("environ_sizes_get", &[I32, I32], |c, m, a| {
        env::environ_sizes_get(c, m, a.u32(0), a.u32(1))
    }),
    f("clock_res_get", &[I32, I32], |c, m, a| {
        env::clock_res_get(c, m, a.u32(0), a.u32(1))
    }),
    f("clock_time_get", &[I32, I64, I32], |c, m, a| {
        env::clock_time_get(c, m, a.u32(0), a.u64(1), a.u32(2))
    }),
    f("random_get", &[I32, I32], |c, m, a| {
        env::random_get(c, m, a.u32(0), a.u32(1))
    }),
    f("sched_yield", &[], |c, m, _| env::sched_yield(c, m)),
    f("proc_raise", &[I32], |c, m, a| {
        env::proc_raise(c, m, a.u32(0))
    }),
    f("fd_advise", &[I32, I64, I64, I32], |c, m, a| {
        fd::fd_advise(c, m, a.u32(0), a.u64(1), a.u64(2), a.u32(3))
    }),
    f("fd_allocate", &[I32, I64, I64], |c, m, a| {
        fd::fd_allocate(c, m, a.u32(0), a.u64(1), a.u64(2))
    }),
    f("fd_close", &[I32], |c, m, a| fd::fd_close(c, m, a.u32(0))),
    f("fd_datasync", &[I32], |c, m, a| {
        fd::fd_datasync(c, m, a.u32(0))
    }),
    f("fd_fdstat_get", &[I32, I32], |c, m, a| {
        fd::fd_fdstat_get(c, m, a.u32(0), a.u32(1))
    }),
    f("fd_fdstat_set_flags", &[I32, I32], |c, m, a| {
        fd::fd_fdstat_set_flags(c, m, a.u32(0), a.u32(1))
    }),
    f("fd_fdstat_set_rights", &[I32, I64, I64], |c, m, a| {
        fd::fd_fdstat_set_rights(c, m, a.u32(0), a.u64(1), a.u64(2))
    }),
    f("fd_filestat_get", &[I32, I32], |c, m, a| {
        fd::fd_filestat_get(c, m, a.u32(0), a.u32(1))
    }),
    f("fd_filestat_set_size", &[I32, I64], |c, m, a| {
        fd::fd_filestat_set_size(c, m, a.u32(0), a.u64(1))
    }),
    f("fd_filestat_set_times", &[I32, I64, I64, I32], |c, m, a| {
        fd::fd_filestat_set_times(c, m, a.u32(0), a.u64(1), a.u64(2), a.u32(3))
    }),
    f("fd_pread", &[I32, I32, I32, I64, I32], |c, m, a| {
        fd::fd_pread(c, m, a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4))
    }),
    f("fd_prestat_get", &[I32, I32], |c, m, a| {
        dir::fd_prestat_get(c, m, a.u32(0), a.u32(1))
    }),
    f("fd_prestat_dir_name", &[I32, I32, I32], |c, m, a| {
        dir::fd_prestat_dir_name(c, m, a.u32(0), a.u32(1), a.u32(2))
    }),
    f("fd_pwrite", &[I32, I32, I32, I64, I32], |c, m, a| {
        fd::fd_pwrite(c, m, a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4))
    }),
    waiting(f("fd_read", &[I32, I32, I32, I32], |c, m, a| {
        fd::fd_read(c, m, a.u32(0), a.u32(1), a.u32(2), a.u32(3))
    })),
    f("fd_readdir", &[I32, I32, I32, I64, I32], |c, m, a| {
        dir::fd_readdir(c, m, a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4))
    }),
    f("fd_renumber", &[I32, I32], |c, m, a| {
        fd::fd_renumber(c, m, a.u32(0), a.u32(1))
    }),
    f("fd_seek", &[I32, I64, I32, I32], |c, m, a| {
        fd::fd_seek(c, m, a.u32(0), a.i64(1), a.u32(2), a.u32(3))
    }),
    f("fd_sync", &[I32], |c, m, a| fd::fd_sync(c, m, a.u32(0))),
    f("fd_tell", &[I32, I32], |c, m, a| {
        fd::fd_tell(c, m, a.u32(0), a.u32(1))
    }),
    waiting(f("fd_write", &[I32, I32, I32, I32], |c, m, a| {
        fd::fd_write(c, m, a.u32(0), a.u32(1), a.u32(2), a.u32(3))
    })),
    f("path_create_directory", &[I32, I32, I32], |c, m, a| {
        path::path_create_directory(c, m, a.u32(0), a.u32(1), a.u32(2))
    }),
    f(
        "path_filestat_get",
        &[I32, I32, I32, I32, I32],
        |c, m, a| path::path_filestat_get(c, m, a.u32(0), a.u32(1), a.u32(2), a.u32(3), a.u32(4)),
    ),
    f(
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        |c, m, a| {
            path::path_filestat_set_times(
                c,
                m,
                a.u32(0),
                a.u32(1),
                a.u32(2),
                a.u32(3),
                a.u64(4),
                a.u64(5),
                a.u32(6),
            )
        },
    ),
    f(
        "path_link",
        &[I32, I32, I32, I32, I32, I32, I32],
        |c, m, a| {
            path::path_link(
                c,
                m,
                a.u32(0),
                a.u32(1),
                a.u32(2),
                a.u32(3),
                a.u32(4),
                a.u32(5),
                a.u32(6),
            )
        },
    ),
    f(
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        |c, m, a| {
            path::path_open(
                c,
                m,
                a.u32(0),
                a.u32(1),
                a.u32(2),
                a.u32(3),
                a.u32(4),
                a.u64(5),
                a.u64(6),
                a.u32(7),
                a.u32(8),
            )
        },
    ),
    f(
        "path_readlink",
        &[I32, I32, I32, I32, I32, I32],
        |c, m, a| {
            path::path_readlink(
                c,
                m,
                a.u32(0),
                a.u32(1),
                a.u32(2),
                a.u32(3),
                a.u32(4),
                a.u32(5),
            )
        },
    ),
    f("path_remove_directory", &[I32, I32, I32], |c, m, a| {
        path::path_remove_directory(c, m, a.u32(0), a.u32(1), a.u32(2))
    }),
    f("path_rename", &[I32, I32, I32, I32, I32, I32], |c, m, a| {
        path::path_rename(
            c,
            m,
            a.u32(0),
            a.u32(1),
            a.u32(2),
            a.u32(3),
            a.u32(4),
            a.u32(5),
        )
    }),
    f("path_symlink", &[I32, I32, I32, I32, I32], |c, m, a| {
        path::path_symlink(c, m, a.u32(0), a.u32(1), a.u32(2), a.u32(3), a.u32(4))
    }),
    f("path_unlink_file", &[I32, I32, I32], |c, m, a| {
        path::path_unlink_file(c, m, a.u32(0), a.u32(1), a.u32(2))
    }),
    waiting(f("poll_oneoff", &[I32, I32, I32, I32], |c, m, a| {
        poll::poll_oneoff(c, m, a.u32(0), a.u32(1), a.u32(2), a.u32(3))
    })),
    f("sock_accept", &[I32, I32, I32], |c, _, a| {
        env::sock_unsupported(c, a.u32(0))
    }),
    f("sock_recv", &[I32, I32, I32, I32, I32, I32], |c, _, a| {
        env::sock_unsupported(c, a.u32(0))
    }),
    f("sock_send", &[I32, I32, I32, I32, I32], |c, _, a| {
        env::sock_unsupported(c, a.u32(0))
    }),
    f("sock_shutdown", &[I32, I32], |c, _, a| {
        env::sock_unsupported(c, a.u32(0))
    }),
];

/// The name and type of every `wasi_snapshot_preview1` function this crate defines.
pub fn signatures() -> impl Iterator<Item = (&'static str, FuncType)> {
    let errno_functions = FUNCTIONS
        .iter()
        .map(|func| (func.name, FuncType::new(func.params, [I32])));
    errno_functions.chain(std::iter::once(("proc_exit", FuncType::new([I32], []))))
}

/// Runs the preview1 function `name` over `ctx` and `mem` as a guest's call of it would, and
/// returns its errno ([`Errno::Success`] when it succeeded). For hosts that drive WASI calls
/// without a guest module, such as the `wasi_paths` fuzz target: the very code a guest reaches.
/// `None` if `name` is not a preview1 function that returns an errno (`proc_exit` is not), or
/// `params` do not match its signature.
pub fn call_wasi(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    name: &str,
    params: &[Val],
) -> Option<crate::Errno> {
    let func = FUNCTIONS.iter().find(|func| func.name == name)?;
    check_params(func, params).ok()?;
    Some(match (func.call)(ctx, mem, &Args(params)) {
        Ok(()) => crate::Errno::Success,
        Err(errno) => errno,
    })
}

/// Defines every `wasi_snapshot_preview1` function in `linker`, as host functions of `store`
/// over `ctx`. Returns the shared context, through which the host reads and replaces it.
pub fn add_to_linker(
    linker: &mut Linker,
    store: &mut Store,
    ctx: impl Into<WasiHandle>,
) -> WasiHandle {
    let handle = ctx.into();
    for func in FUNCTIONS {
        let host = errno_function(store, &handle, func);
        linker.define(WASI_MODULE, func.name, Extern::Func(host));
    }
    let exit = Func::new(store, FuncType::new([I32], []), |_, params, _| {
        // The witx `exitcode` is a u32; the runtime carries it as the bits of an i32.
        let code = match params.first() {
            Some(Val::I32(code)) => *code,
            _ => 1,
        };
        Err(Trap::Exit(code))
    });
    linker.define(WASI_MODULE, "proc_exit", Extern::Func(exit));
    handle
}

/// The host function of `func`: checks the parameters, locks the context, runs the call over
/// the caller's memory and returns its errno.
fn errno_function(store: &mut Store, handle: &WasiHandle, func: &'static WasiFunction) -> Func {
    let handle = handle.clone();
    let ty = FuncType::new(func.params, [I32]);
    Func::new(
        store,
        ty,
        move |caller: &mut Caller<'_>, params, results| {
            check_params(func, params)?;
            let wait = func.waits.then(|| CallWait::new(caller.call_bounds()));
            // A caller without a memory gets an empty one: every pointer it passes is EFAULT.
            let mut mem = GuestMemory::of_caller(caller);
            let mut ctx = handle.lock();
            if let Some(wait) = wait {
                ctx.wait = wait;
            }
            let result = (func.call)(&mut ctx, &mut mem, &Args(params));
            if func.waits && std::mem::take(&mut ctx.wait).deadline_passed() {
                return Err(Trap::timeout());
            }
            let errno = match result {
                Ok(()) => 0,
                Err(errno) => errno.raw(),
            };
            if let Some(result) = results.first_mut() {
                *result = Val::I32(i32::from(errno));
            }
            Ok(())
        },
    )
}

/// The runtime checks types at link time; this keeps a mismatch (a runtime bug) a clear trap
/// rather than a silently zeroed argument.
fn check_params(func: &WasiFunction, params: &[Val]) -> Result<(), Trap> {
    let matches = params.len() == func.params.len()
        && params.iter().zip(func.params).all(|(v, ty)| v.ty() == *ty);
    if matches {
        Ok(())
    } else {
        Err(Trap::Host(format!(
            "{WASI_MODULE}::{} called with {params:?}",
            func.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preview1_function_is_defined_once() {
        let names: Vec<&str> = signatures().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 46);
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn direct_calls_check_names_and_signatures() {
        let mut ctx = WasiCtx::builder().build().unwrap();
        let mut bytes = [0u8; 16];
        let mut mem = GuestMemory::new(&mut bytes);
        let sizes = [Val::I32(0), Val::I32(4)];
        let call = |ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, name, params: &[Val]| {
            call_wasi(ctx, mem, name, params)
        };
        assert_eq!(
            call(&mut ctx, &mut mem, "args_sizes_get", &sizes),
            Some(crate::Errno::Success)
        );
        let bad_fd = [Val::I32(9), Val::I32(0)];
        assert_eq!(
            call(&mut ctx, &mut mem, "fd_prestat_get", &bad_fd),
            Some(crate::Errno::BadF)
        );
        assert_eq!(call(&mut ctx, &mut mem, "proc_exit", &[Val::I32(0)]), None);
        assert_eq!(call(&mut ctx, &mut mem, "args_sizes_get", &[]), None);
    }

    #[test]
    fn signatures_match_the_witx() {
        let ty = |name: &str| signatures().find(|(n, _)| *n == name).map(|(_, t)| t);
        assert_eq!(
            ty("path_open"),
            Some(FuncType::new(
                [I32, I32, I32, I32, I32, I64, I64, I32, I32],
                [I32]
            ))
        );
        assert_eq!(
            ty("fd_seek"),
            Some(FuncType::new([I32, I64, I32, I32], [I32]))
        );
        assert_eq!(ty("proc_exit"), Some(FuncType::new([I32], [])));
        assert_eq!(
            ty("clock_time_get"),
            Some(FuncType::new([I32, I64, I32], [I32]))
        );
    }
}
