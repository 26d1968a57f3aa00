//! Arguments, environment, clocks, randomness, scheduling, signals and sockets.

use super::{WasiResult, guest_size};
use crate::clocks::ClockId;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::memory::GuestMemory;

pub(crate) fn args_sizes_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    count: u32,
    size: u32,
) -> WasiResult {
    write_table_sizes(mem, &ctx.args, count, size)
}

pub(crate) fn args_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    ptrs: u32,
    buf: u32,
) -> WasiResult {
    write_table(mem, &ctx.args, ptrs, buf)
}

pub(crate) fn environ_sizes_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    count: u32,
    size: u32,
) -> WasiResult {
    write_table_sizes(mem, &ctx.env, count, size)
}

pub(crate) fn environ_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    ptrs: u32,
    buf: u32,
) -> WasiResult {
    write_table(mem, &ctx.env, ptrs, buf)
}

/// Bytes the strings take as C strings.
fn table_bytes(strings: &[Vec<u8>]) -> usize {
    strings.iter().map(|s| s.len() + 1).sum()
}

fn write_table_sizes(
    mem: &mut GuestMemory,
    strings: &[Vec<u8>],
    count_ptr: u32,
    size_ptr: u32,
) -> WasiResult {
    let count = guest_size(strings.len())?;
    let size = guest_size(table_bytes(strings))?;
    mem.range(count_ptr, 4)?;
    mem.range(size_ptr, 4)?;
    mem.write_u32(count_ptr, count)?;
    mem.write_u32(size_ptr, size)?;
    Ok(())
}

/// Writes `strings` as NUL-terminated strings from `buf` on, and their addresses from `ptrs`
/// on, as C's `argv` / `environ` expect.
fn write_table(mem: &mut GuestMemory, strings: &[Vec<u8>], ptrs: u32, buf: u32) -> WasiResult {
    mem.range(ptrs, strings.len() as u64 * 4)?;
    let area = mem.range(buf, table_bytes(strings) as u64)?;
    let mut at = area.start;
    for (i, string) in strings.iter().enumerate() {
        let slot = u64::from(ptrs) + i as u64 * 4;
        let slot = u32::try_from(slot).map_err(|_| Errno::Fault)?;
        let addr = u32::try_from(at).map_err(|_| Errno::Fault)?;
        mem.write_u32(slot, addr)?;
        mem.write_bytes(addr, string)?;
        let nul = u32::try_from(at + string.len()).map_err(|_| Errno::Fault)?;
        mem.write_u8(nul, 0)?;
        at += string.len() + 1;
    }
    Ok(())
}

pub(crate) fn clock_res_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    id: u32,
    out: u32,
) -> WasiResult {
    let resolution = ctx.clocks.resolution(ClockId::from_raw(id)?)?;
    mem.write_u64(out, resolution)?;
    Ok(())
}

/// The `precision` hint is allowed to be ignored: the clocks are as precise as they are.
pub(crate) fn clock_time_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    id: u32,
    _precision: u64,
    out: u32,
) -> WasiResult {
    mem.range(out, 8)?;
    let now = ctx.clocks.now(ClockId::from_raw(id)?)?;
    mem.write_u64(out, now)?;
    Ok(())
}

pub(crate) fn random_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    buf: u32,
    len: u32,
) -> WasiResult {
    mem.fill(buf, len, |out| ctx.random.fill(out).map(|()| out.len()))?;
    Ok(())
}

pub(crate) fn sched_yield(_ctx: &mut WasiCtx, _mem: &mut GuestMemory) -> WasiResult {
    std::thread::yield_now();
    Ok(())
}

/// Signals do not exist in a Faaslet.
pub(crate) fn proc_raise(_ctx: &mut WasiCtx, _mem: &mut GuestMemory, _signal: u32) -> WasiResult {
    Err(Errno::NoSys)
}

/// No descriptor is a socket (preview1 cannot open one, and the host preopens none): `EBADF`
/// for a closed descriptor, `ENOTSOCK` for any open one, as Wasmtime answers.
pub(crate) fn sock_unsupported(ctx: &mut WasiCtx, fd: u32) -> WasiResult {
    ctx.fds.get(fd)?;
    Err(Errno::NotSock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WasiCtx {
        WasiCtx::builder()
            .args(["prog", "hi"])
            .env("A", "1")
            .build()
            .unwrap()
    }

    #[test]
    fn args_are_a_c_argv() {
        let mut ctx = ctx();
        let mut bytes = vec![0u8; 64];
        let mut mem = GuestMemory::new(&mut bytes);
        args_sizes_get(&mut ctx, &mut mem, 0, 4).unwrap();
        assert_eq!((mem.read_u32(0), mem.read_u32(4)), (Ok(2), Ok(8)));
        args_get(&mut ctx, &mut mem, 16, 32).unwrap();
        assert_eq!((mem.read_u32(16), mem.read_u32(20)), (Ok(32), Ok(37)));
        assert_eq!(&*mem.bytes(32, 8).unwrap(), b"prog\0hi\0");
        assert_eq!(args_get(&mut ctx, &mut mem, 16, 57), Err(Errno::Fault));
        assert_eq!(environ_get(&mut ctx, &mut mem, 61, 0), Err(Errno::Fault));
    }

    #[test]
    fn clocks_and_random() {
        let mut ctx = ctx();
        let mut bytes = vec![0u8; 32];
        let mut mem = GuestMemory::new(&mut bytes);
        clock_time_get(&mut ctx, &mut mem, 1, 0, 0).unwrap();
        assert!(mem.read_u64(0).unwrap() > 0);
        assert_eq!(
            clock_time_get(&mut ctx, &mut mem, 9, 0, 0),
            Err(Errno::Inval)
        );
        assert_eq!(
            clock_time_get(&mut ctx, &mut mem, 0, 0, 28),
            Err(Errno::Fault)
        );
        random_get(&mut ctx, &mut mem, 8, 24).unwrap();
        assert_ne!(*mem.bytes(8, 24).unwrap(), [0u8; 24]);
        assert_eq!(random_get(&mut ctx, &mut mem, 8, 25), Err(Errno::Fault));
    }
}
