//! Publishing machine code: copy it into a fresh read-write mapping, then flip the mapping to
//! read-execute (W^X: never writable and executable at once), and register its trap table for
//! the signal handler while it is mapped.

use crate::registry::{self, Registration, TrapTable};
use crate::sys::{self, Protection};
use std::io;
use std::sync::Arc;

/// Executable code, registered with the trap registry; unregistered and unmapped when dropped.
#[derive(Debug)]
pub(crate) struct CodeMemory {
    // Declared first: dropped (unregistered) before the code is unmapped.
    registration: Option<Registration>,
    base: *mut u8,
    mapped_len: usize,
    code_len: usize,
}

// SAFETY: the mapping is immutable (read-execute) once published; the pointers are only read.
unsafe impl Send for CodeMemory {}
// SAFETY: as above: shared access only ever reads.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    /// Maps `code` read-execute and registers `traps` (offsets relative to its first byte).
    pub(crate) fn publish(code: &[u8], traps: Arc<dyn TrapTable>) -> io::Result<CodeMemory> {
        let mapped_len = sys::round_up_to_page(code.len().max(1))
            .ok_or_else(|| io::Error::other("code too large"))?;
        let base = sys::map_anonymous(mapped_len, Protection::ReadWrite)?;
        let mut memory = CodeMemory {
            registration: None,
            base,
            mapped_len,
            code_len: code.len(),
        };
        // SAFETY: the fresh mapping is `mapped_len >= code.len()` writable bytes, disjoint from
        // `code`.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), base, code.len()) };
        // SAFETY: the mapping is ours; no Rust reference to it exists.
        unsafe { sys::protect(base, mapped_len, Protection::ReadExec)? };
        memory.registration = Some(registry::register(base as usize, code.len(), traps));
        Ok(memory)
    }

    /// Address of the first byte of code.
    pub(crate) fn base(&self) -> *const u8 {
        self.base
    }

    /// Length of the code in bytes.
    pub(crate) fn len(&self) -> usize {
        self.code_len
    }

    /// The published code.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the first `code_len` bytes of the mapping hold the code; the mapping is
        // readable (read-execute), never written again, and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base, self.code_len) }
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        drop(self.registration.take());
        // SAFETY: the mapping is ours; whoever could run it (instances hold the module) is gone.
        let _ = unsafe { sys::unmap(self.base, self.mapped_len) };
    }
}
