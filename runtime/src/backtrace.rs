//! Wasm backtraces: the chain of Wasm functions active when a call trapped.
//!
//! The signal handler cannot allocate or take locks that may block, so it only records raw
//! program counters into a fixed buffer of the activation ([`RawBacktrace`]), walking the frame
//! pointer chain that Cranelift keeps (the jit sets `preserve_frame_pointers`). After the landing
//! pad, outside the handler, [`RawBacktrace::resolve`] maps each PC to its module and function
//! through the code registry.

use crate::registry;
use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;

/// How many frames a backtrace records; deeper ones are counted, not kept.
pub(crate) const MAX_FRAMES: usize = 128;

/// One Wasm function of a backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// The module's name from its `name` section, if it has one.
    pub module_name: Option<String>,
    /// Index of the function in its module's function index space.
    pub func_index: u32,
    /// The function's name from the `name` section, if it has one.
    pub func_name: Option<String>,
}

impl fmt::Display for FrameInfo {
    /// `module!name`, or `function N` for a function without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(module) = &self.module_name {
            write!(f, "{module}!")?;
        }
        match &self.func_name {
            Some(name) => f.write_str(name),
            None => write!(f, "function {}", self.func_index),
        }
    }
}

/// The Wasm functions that were active when a call trapped, innermost first. When a trap
/// propagates out of a host function that had itself called Wasm, the frames of that nested
/// call come first, then those of the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
    omitted: usize,
}

impl WasmBacktrace {
    /// The frames, innermost (where the trap happened) first.
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }

    /// Frames beyond the recorded ones (the walk stops recording after a fixed number, as in a
    /// stack overflow); they are outermost.
    pub fn omitted_frames(&self) -> usize {
        self.omitted
    }

    /// Appends the frames of an enclosing activation.
    pub(crate) fn extend(&mut self, outer: WasmBacktrace) {
        self.frames.extend(outer.frames);
        self.omitted += outer.omitted;
    }
}

impl fmt::Display for WasmBacktrace {
    /// One line per frame: `  N: name (function I)`; a last line counts omitted frames.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {i:>3}: {frame}")?;
            if frame.func_name.is_some() {
                write!(f, " (function {})", frame.func_index)?;
            }
        }
        if self.omitted > 0 {
            write!(f, "\n  ... {} more frames", self.omitted)?;
        }
        Ok(())
    }
}

/// Program counters the signal handler recorded: the faulting PC first, then return
/// addresses. Async-signal-safe to fill: fixed storage, cells only. The storage starts
/// uninitialised because every entry into Wasm creates one: only the first `recorded` slots are
/// ever written or read, so no call pays for clearing the buffer.
#[derive(Debug)]
pub(crate) struct RawBacktrace {
    pcs: Cell<[MaybeUninit<usize>; MAX_FRAMES]>,
    recorded: Cell<usize>,
    seen: Cell<usize>,
}

impl RawBacktrace {
    pub(crate) fn new() -> RawBacktrace {
        RawBacktrace {
            pcs: Cell::new([const { MaybeUninit::uninit() }; MAX_FRAMES]),
            recorded: Cell::new(0),
            seen: Cell::new(0),
        }
    }

    /// Records one more PC (or only counts it once the buffer is full).
    pub(crate) fn push(&self, pc: usize) {
        let recorded = self.recorded.get();
        let slots: &Cell<[MaybeUninit<usize>]> = &self.pcs;
        if let Some(slot) = slots.as_slice_of_cells().get(recorded) {
            slot.set(MaybeUninit::new(pc));
            self.recorded.set(recorded + 1);
        }
        self.seen.set(self.seen.get() + 1);
    }

    /// Maps the recorded PCs to Wasm functions, leaving out trampolines. Return addresses point
    /// after their call instruction, so they are looked up one byte earlier. Must not run in a
    /// signal handler (it allocates).
    pub(crate) fn resolve(&self) -> WasmBacktrace {
        let pcs = self.pcs.get();
        let recorded = self.recorded.get();
        let frames = pcs[..recorded]
            .iter()
            // SAFETY: `push` wrote every slot below `recorded` before counting it.
            .map(|pc| unsafe { pc.assume_init() })
            .enumerate()
            .filter_map(|(i, pc)| {
                registry::frame_at(if i == 0 { pc } else { pc.saturating_sub(1) })
            })
            .collect();
        WasmBacktrace {
            frames,
            omitted: self.seen.get() - recorded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: Option<&str>, index: u32) -> FrameInfo {
        FrameInfo {
            module_name: None,
            func_index: index,
            func_name: name.map(str::to_string),
        }
    }

    #[test]
    fn displays_names_or_indices() {
        let backtrace = WasmBacktrace {
            frames: vec![frame(Some("inner"), 3), frame(None, 1)],
            omitted: 2,
        };
        assert_eq!(
            backtrace.to_string(),
            "    0: inner (function 3)\n    1: function 1\n  ... 2 more frames"
        );
        let named_module = FrameInfo {
            module_name: Some("m".to_string()),
            ..frame(Some("f"), 0)
        };
        assert_eq!(named_module.to_string(), "m!f");
    }

    #[test]
    fn the_raw_buffer_counts_what_it_cannot_keep() {
        let raw = RawBacktrace::new();
        for pc in 0..MAX_FRAMES + 5 {
            raw.push(pc + 1);
        }
        assert_eq!(raw.recorded.get(), MAX_FRAMES);
        assert_eq!(raw.seen.get(), MAX_FRAMES + 5);
        // None of these PCs is registered code: nothing resolves, the overflow is still counted.
        let resolved = raw.resolve();
        assert!(resolved.frames().is_empty());
        assert_eq!(resolved.omitted_frames(), 5);
    }
}
