//! The preview1 functions, each as a plain Rust function over the context and the caller's
//! memory: `Ok(())` is `ESUCCESS`, an [`Errno`](crate::Errno) is what the guest gets back.
//! Results are written to guest memory only once the call has succeeded, and output
//! pointers are checked before any side effect where the call can do so.

pub(crate) mod dir;
pub(crate) mod env;
pub(crate) mod fd;
pub(crate) mod path;
pub(crate) mod poll;

use crate::errno::Errno;

/// What every call returns.
pub(crate) type WasiResult = Result<(), Errno>;

/// Converts a host size to the guest's `u32`, `EOVERFLOW` if it does not fit.
pub(crate) fn guest_size(n: usize) -> Result<u32, Errno> {
    u32::try_from(n).map_err(|_| Errno::Overflow)
}
