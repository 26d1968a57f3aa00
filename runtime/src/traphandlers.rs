//! Entering generated code and getting out of it when it traps.
//!
//! Every host→Wasm entry goes through `faasm_runtime_enter` (assembly below), which saves the
//! callee-saved registers and the stack pointer in the current [`Activation`]'s jump buffer
//! before calling the trampoline. A trap is a hardware fault (or `ud2`) at a PC that the module's
//! trap table names; the signal handler records the trap in the activation and rewrites the
//! interrupted context so that the kernel "returns" into `faasm_runtime_landing_pad`, which
//! restores the saved stack pointer and registers and makes `faasm_runtime_enter` return 1.
//! Only frames of generated code lie between the entry and the fault, so no Rust frame is ever
//! skipped. Faults that are not trap sites are forwarded to whoever handled them before us.
//!
//! Before landing, the handler walks the frame-pointer chain from the faulting context and
//! records the return addresses that lie in generated code into the activation's fixed buffer
//! (see [`crate::backtrace`]); [`enter`] turns them into a [`WasmBacktrace`] after landing.

use crate::backtrace::{RawBacktrace, WasmBacktrace};
use crate::interrupt;
use crate::registry;
use crate::store::Store;
use crate::sys;
use crate::values::Trap;
use faasm_jit::TrapCode;
use std::cell::{Cell, RefCell};
use std::io;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("faasm-runtime supports x86-64 Linux only: its trap handling is written for it");

// faasm_runtime_enter(trampoline, a0, a1, a2, a3, jmpbuf) -> u32
//   System V: rdi = trampoline, rsi..r8 = a0..a3, r9 = jmpbuf.
// faasm_runtime_landing_pad: entered from the signal handler with rdi = jmpbuf.
core::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl faasm_runtime_enter",
    ".hidden faasm_runtime_enter",
    ".type faasm_runtime_enter,@function",
    "faasm_runtime_enter:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // Keep rsp 16-byte aligned at the call below: entry (8 mod 16) + 6 pushes + 8.
    "sub rsp, 8",
    "mov [r9], rsp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "mov rcx, r8",
    "call rax",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    ".cfi_def_cfa rsp, 8",
    "xor eax, eax",
    "ret",
    ".cfi_endproc",
    ".size faasm_runtime_enter, . - faasm_runtime_enter",
    "",
    ".p2align 4",
    ".globl faasm_runtime_landing_pad",
    ".hidden faasm_runtime_landing_pad",
    ".type faasm_runtime_landing_pad,@function",
    "faasm_runtime_landing_pad:",
    "mov rsp, [rdi]",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "mov eax, 1",
    "ret",
    ".size faasm_runtime_landing_pad, . - faasm_runtime_landing_pad",
);

unsafe extern "C" {
    /// Saves the callee-saved registers and the stack pointer into `*jmpbuf`, then calls
    /// `trampoline(a0, a1, a2, a3)`. Returns 0 when it returns, 1 when a trap lands.
    fn faasm_runtime_enter(
        trampoline: usize,
        a0: usize,
        a1: usize,
        a2: usize,
        a3: usize,
        jmpbuf: *mut usize,
    ) -> u32;
    /// Not callable: only the signal handler jumps here, with `rdi` = the jump buffer.
    fn faasm_runtime_landing_pad();
}

/// One host→Wasm entry on this thread. Lives on the stack of [`enter`], linked from the
/// thread-local chain while generated code runs.
#[derive(Debug)]
pub(crate) struct Activation {
    /// Stack pointer saved by `faasm_runtime_enter`, restored by the landing pad.
    jmpbuf: Cell<usize>,
    /// The trap the signal handler recorded.
    wasm_trap: Cell<Option<TrapCode>>,
    /// The error a host function reported before making generated code trap with `HostError`.
    host_trap: RefCell<Option<Trap>>,
    /// The store whose function was entered; host functions get it back through this.
    store: *mut Store,
    /// The enclosing activation, if this entry is nested (Wasm → host → Wasm).
    prev: *const Activation,
    /// PCs of the Wasm frames at the trap, recorded by the signal handler.
    backtrace: RawBacktrace,
}

/// Why a call into generated code did not return: the trap, where it happened, and whether it
/// came out of a host function (whose own nested calls may have recorded frames already).
#[derive(Debug)]
pub(crate) struct Trapped {
    pub(crate) trap: Trap,
    pub(crate) backtrace: WasmBacktrace,
    pub(crate) from_host: bool,
}

thread_local! {
    /// Innermost activation of this thread. Const-initialised without destructor, so the signal
    /// handler can read it.
    static CURRENT: Cell<*const Activation> = const { Cell::new(ptr::null()) };
}

/// The innermost activation of this thread, null if no generated code is running.
#[inline]
pub(crate) fn current_activation() -> *const Activation {
    CURRENT.get()
}

impl Activation {
    /// The store of this activation.
    #[inline]
    pub(crate) fn store(&self) -> *mut Store {
        self.store
    }

    /// Records why a host function failed; the trap that follows reports this instead of
    /// `HostError`.
    pub(crate) fn set_host_trap(&self, trap: Trap) {
        *self.host_trap.borrow_mut() = Some(trap);
    }

    fn outcome(&self) -> Trapped {
        let host_trap = self.host_trap.borrow_mut().take();
        let (trap, from_host) = match (self.wasm_trap.get(), host_trap) {
            // A builtin stopped by the deadline reports it, then returns "out of bounds" to
            // make generated code trap: the deadline is the cause.
            (Some(code), Some(Trap::Wasm(TrapCode::Interrupt))) if code != TrapCode::HostError => {
                (Trap::Wasm(TrapCode::Interrupt), false)
            }
            (Some(TrapCode::HostError) | None, Some(trap)) => (trap, true),
            (Some(code), _) => (Trap::Wasm(code), false),
            (None, None) => (
                Trap::Host("generated code reported a trap without a cause".to_string()),
                false,
            ),
        };
        Trapped {
            trap,
            backtrace: self.backtrace.resolve(),
            from_host,
        }
    }
}

/// Calls `trampoline(args...)` in generated code with `store` reachable by host functions.
/// Returns the trap and its Wasm backtrace if one happened.
///
/// # Safety
/// `trampoline` must be the address of published code following the `array_to_wasm`
/// convention, `args` must be what it expects, and `store` must stay valid (and not be
/// otherwise used) until this returns.
pub(crate) unsafe fn enter(
    store: *mut Store,
    trampoline: usize,
    args: [usize; 4],
) -> Result<(), Trapped> {
    let untraced = |trap: Trap| Trapped {
        trap,
        backtrace: WasmBacktrace::default(),
        from_host: false,
    };
    init_handlers()
        .map_err(|e| untraced(Trap::Host(format!("cannot install signal handlers: {e}"))))?;
    ensure_alt_stack()
        .map_err(|e| untraced(Trap::Host(format!("cannot install a signal stack: {e}"))))?;
    let activation = Activation {
        jmpbuf: Cell::new(0),
        wasm_trap: Cell::new(None),
        host_trap: RefCell::new(None),
        store,
        prev: CURRENT.get(),
        backtrace: RawBacktrace::new(),
    };
    CURRENT.set(&activation);
    let [a0, a1, a2, a3] = args;
    // SAFETY: the caller guarantees the trampoline and its arguments; the jump buffer lives in
    // `activation`, which outlives the call, and the handler only lands while it is current.
    let status =
        unsafe { faasm_runtime_enter(trampoline, a0, a1, a2, a3, activation.jmpbuf.as_ptr()) };
    CURRENT.set(activation.prev);
    if status == 0 {
        Ok(())
    } else {
        Err(activation.outcome())
    }
}

/// The lowest stack address generated code entered now may use: `max_wasm_stack` below the
/// current stack pointer, but never within `HOST_STACK_RESERVE` of the thread's stack end, so
/// host functions called from deep recursion and Rust code after a trap still have room.
pub(crate) fn stack_limit(max_wasm_stack: usize) -> usize {
    const HOST_STACK_RESERVE: usize = 128 << 10;
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let limit = sp.saturating_sub(max_wasm_stack);
    match thread_stack_low() {
        Some(low) => limit.max(low.saturating_add(HOST_STACK_RESERVE)),
        None => limit,
    }
}

fn thread_stack_low() -> Option<usize> {
    thread_local! {
        static LOW: Cell<Option<Option<usize>>> = const { Cell::new(None) };
    }
    LOW.with(|low| {
        if low.get().is_none() {
            low.set(Some(sys::current_thread_stack_low()));
        }
        low.get().flatten()
    })
}

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The actions installed before ours, in `SIGNALS` order; set before our handlers go in.
static PREVIOUS: OnceLock<[libc::sigaction; 4]> = OnceLock::new();

/// Per signal (in `SIGNALS` order): the previous action had `SA_RESETHAND` and has run once, so
/// it is now the default action, as the kernel would have made it.
static PREVIOUS_SPENT: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

/// Installs the signal handlers, once per process.
pub(crate) fn init_handlers() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| install_handlers().map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)
}

fn install_handlers() -> io::Result<()> {
    let mut previous = Vec::with_capacity(SIGNALS.len());
    for signum in SIGNALS {
        previous.push(sys::current_action(signum)?);
    }
    let previous: [libc::sigaction; 4] = previous
        .try_into()
        .map_err(|_| io::Error::other("signal count"))?;
    let _ = PREVIOUS.set(previous);
    for signum in SIGNALS {
        // SAFETY: `handle_fault` only touches async-signal-safe state and forwards every fault
        // that is not a trap site of generated code running in an activation.
        unsafe { sys::install_handler(signum, handle_fault)? };
    }
    Ok(())
}

/// The handler of SIGSEGV, SIGBUS, SIGILL and SIGFPE: a trap of generated code resumes at the
/// landing pad; a memory fault in generated code outside the store's guard regions aborts the
/// process with a report; anything else, and every signal a process sent (`kill`, `tgkill`,
/// `sigqueue`: `si_code <= 0`), goes to the previous handler.
///
/// # Safety
/// Installed with `SA_SIGINFO`; only the kernel calls it, with its own arguments.
unsafe extern "C" fn handle_fault(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let sent_by_a_process = unsafe { (*info).si_code } <= 0;
    // SAFETY: the kernel passes a valid siginfo_t and ucontext_t for SA_SIGINFO handlers.
    if !sent_by_a_process && unsafe { resume_at_landing_pad(signum, info, context.cast()) } {
        return;
    }
    // SAFETY: forwarding the kernel's own arguments unchanged.
    unsafe { forward_to_previous(signum, info, context, sent_by_a_process) }
}

/// If the fault is a trap of generated code in this thread's innermost activation, records the
/// trap and rewrites `context` so that the signal returns into the landing pad. A memory fault
/// (SIGSEGV, SIGBUS) is a trap only at an out-of-bounds trap site and only if the faulting
/// address lies in the inaccessible part of a memory slot of the activation's store: anything
/// else is a bug of the compiler or the runtime, and the process aborts with a report rather
/// than call it a guest's error.
///
/// # Safety
/// `info` and `context` must be the `siginfo_t` and `ucontext_t` the kernel passed to the
/// handler of `signum`.
unsafe fn resume_at_landing_pad(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::ucontext_t,
) -> bool {
    let activation = CURRENT.get();
    if activation.is_null() {
        return false;
    }
    // SAFETY: the kernel's ucontext is valid and exclusively ours during the handler.
    let gregs = unsafe { &mut (*context).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let Some(code) = registry::trap_code_at(pc) else {
        return false;
    };
    // SAFETY: CURRENT only holds activations that live on this thread's stack below `enter`,
    // which is still running (we interrupted code it called).
    let activation = unsafe { &*activation };
    if signum == libc::SIGSEGV || signum == libc::SIGBUS {
        // SAFETY: for SIGSEGV and SIGBUS the kernel fills in the faulting address.
        let address = unsafe { (*info).si_addr() } as usize;
        // SAFETY: the activation's store is valid while its code runs (`enter`'s contract);
        // generated code was interrupted, so no Rust code is changing its memories.
        let in_guard = unsafe { is_guard_address(activation.store, address) };
        if code != TrapCode::MemoryOutOfBounds || !in_guard {
            abort_with_report(signum, pc, address);
        }
    }
    // SAFETY: `gregs` are the registers of generated code interrupted in `activation`.
    unsafe { land(activation, gregs, code) };
    true
}

/// Records `code` in `activation` with the backtrace of the interrupted generated code, and
/// rewrites its registers so that the signal returns into the landing pad.
///
/// # Safety
/// `gregs` must be the saved registers of generated code that `activation` (the innermost
/// activation of this thread) entered, interrupted by the signal being handled.
unsafe fn land(activation: &Activation, gregs: &mut [libc::greg_t], code: TrapCode) {
    activation.wasm_trap.set(Some(code));
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let frame_pointer = gregs[libc::REG_RBP as usize] as usize;
    let stack_pointer = gregs[libc::REG_RSP as usize] as usize;
    // SAFETY: the registers are those of generated code interrupted inside this activation.
    unsafe { record_backtrace(activation, pc, frame_pointer, stack_pointer) };
    gregs[libc::REG_RIP as usize] = faasm_runtime_landing_pad as *const () as i64;
    gregs[libc::REG_RDI as usize] = activation.jmpbuf.as_ptr() as i64;
    gregs[libc::REG_RSP as usize] = activation.jmpbuf.get() as i64;
}

/// The action installed for [`interrupt::SIGNAL`] before ours.
static PREVIOUS_INTERRUPT: OnceLock<libc::sigaction> = OnceLock::new();

/// Installs the handler of [`interrupt::SIGNAL`], once per process (on the first deadline
/// armed under `Interruption::Signal`).
pub(crate) fn init_interrupt_handler() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let previous = sys::current_action(interrupt::SIGNAL).map_err(|e| e.to_string())?;
            let _ = PREVIOUS_INTERRUPT.set(previous);
            // SAFETY: `handle_interrupt` only touches async-signal-safe state and hands every
            // signal that is not a fired deadline of this thread to the previous action.
            unsafe { sys::install_interrupt_handler(interrupt::SIGNAL, handle_interrupt) }
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(io::Error::other)
}

/// The handler of [`interrupt::SIGNAL`]: if this thread's deadline fired and it is running
/// generated code, the call lands with an `Interrupt` trap in the innermost activation (see
/// [`crate::interrupt`] for why that is sound); in host code it returns, and the host code
/// sees the fired deadline when it returns to Wasm. A signal that is not a fired deadline
/// (one that arrived after its call ended, or that someone else sent) goes to the previous
/// action: nothing for the default action (ignore) or `SIG_IGN`.
///
/// # Safety
/// Installed with `SA_SIGINFO`; only the kernel calls it, with its own arguments.
unsafe extern "C" fn handle_interrupt(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let slot = interrupt::current_slot();
    // SAFETY: a non-null slot of this thread lives while the thread does.
    let fired = !slot.is_null() && unsafe { (*slot).is_fired() };
    if !fired {
        if let Some(previous) = PREVIOUS_INTERRUPT.get() {
            let handler = previous.sa_sigaction;
            if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
                // SAFETY: the kernel's arguments, handed on unchanged.
                unsafe { run_previous(previous, signum, info, context) };
            }
        }
        return;
    }
    let activation = CURRENT.get();
    if activation.is_null() {
        return;
    }
    let context: *mut libc::ucontext_t = context.cast();
    // SAFETY: the kernel's ucontext is valid and exclusively ours during the handler.
    let gregs = unsafe { &mut (*context).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    if !registry::is_code(pc) {
        return;
    }
    // SAFETY: CURRENT only holds activations that live on this thread's stack below `enter`;
    // the PC is in generated code, which only runs inside the innermost activation.
    let activation = unsafe { &*activation };
    // SAFETY: the registers are those of that generated code, interrupted by this signal.
    unsafe { land(activation, gregs, TrapCode::Interrupt) };
}

/// Whether `address` lies in the inaccessible part (guard regions, reservation above the
/// accessible size) of a memory of `store`. No allocation, no locks: it runs in the signal
/// handler.
///
/// # Safety
/// `store` must be null or a live store that nothing is changing during the call.
unsafe fn is_guard_address(store: *const Store, address: usize) -> bool {
    // SAFETY: the caller guarantees the store is live and unchanged; we only read it.
    let Some(store) = (unsafe { store.as_ref() }) else {
        return false;
    };
    store
        .inner()
        .memories
        .iter()
        .any(|memory| memory.is_guard_address(address))
}

/// Writes what faulted where to stderr and aborts: a memory fault in generated code that is
/// not a guest's out-of-bounds access. Async-signal-safe: formats into a stack buffer and
/// writes with `write(2)`.
fn abort_with_report(signum: libc::c_int, pc: usize, address: usize) -> ! {
    let mut line = SignalSafeLine::default();
    line.push(b"faasm-runtime: fatal: ");
    line.push(if signum == libc::SIGBUS {
        b"SIGBUS"
    } else {
        b"SIGSEGV"
    });
    line.push(b" in generated code at pc ");
    line.push_hex(pc);
    line.push(b" accessing ");
    line.push_hex(address);
    line.push(
        b", which is not in a guard region of the running store's memories: a bug of the \
          compiler or the runtime, not of the guest; aborting\n",
    );
    sys::write_stderr(line.as_bytes());
    sys::abort()
}

/// A fixed-size line built without allocating (for the signal handler).
struct SignalSafeLine {
    bytes: [u8; 320],
    len: usize,
}

impl Default for SignalSafeLine {
    fn default() -> SignalSafeLine {
        SignalSafeLine {
            bytes: [0; 320],
            len: 0,
        }
    }
}

impl SignalSafeLine {
    fn push(&mut self, text: &[u8]) {
        let room = self.bytes.len() - self.len;
        let n = text.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&text[..n]);
        self.len += n;
    }

    fn push_hex(&mut self, value: usize) {
        let mut digits = [0u8; 18];
        digits[..2].copy_from_slice(b"0x");
        for (i, digit) in digits[2..].iter_mut().enumerate() {
            let nibble = (value >> (60 - 4 * i)) & 0xf;
            *digit = b"0123456789abcdef"[nibble];
        }
        self.push(&digits);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Records the faulting `pc`, then walks the frame-pointer chain from `frame_pointer`: each
/// frame of generated code holds the caller's frame pointer at `[fp]` and its return address at
/// `[fp + 8]`. The walk stops at the first return address outside registered code (the return
/// into `faasm_runtime_enter`) or at any frame pointer that is not an aligned address strictly
/// above the previous frame and below the activation's entry stack pointer. No allocation, no
/// blocking: it runs in the signal handler.
///
/// # Safety
/// `pc`, `frame_pointer` and `stack_pointer` must be the registers of generated code that
/// `activation` entered and that is interrupted on this thread.
unsafe fn record_backtrace(
    activation: &Activation,
    pc: usize,
    mut frame_pointer: usize,
    stack_pointer: usize,
) {
    let stack_top = activation.jmpbuf.get();
    let mut lowest = stack_pointer;
    activation.backtrace.push(pc);
    while frame_pointer.is_multiple_of(8)
        && frame_pointer >= lowest
        && frame_pointer.saturating_add(16) <= stack_top
    {
        let frame = frame_pointer as *const usize;
        // SAFETY: `[frame_pointer, frame_pointer + 16)` lies between the interrupted stack
        // pointer and the entry's saved stack pointer: the live, mapped part of this thread's
        // stack that generated code uses. It is aligned.
        let (caller_frame, return_address) = unsafe { (frame.read(), frame.add(1).read()) };
        if !registry::is_code(return_address) {
            break;
        }
        activation.backtrace.push(return_address);
        lowest = frame_pointer + 16;
        frame_pointer = caller_frame;
    }
}

/// Hands a signal that is not ours to the action installed before us, as the kernel would have
/// run it: a handler with its own `sa_mask` (and the signal itself unless `SA_NODEFER`) blocked,
/// with one or three arguments as `SA_SIGINFO` says, once only under `SA_RESETHAND`. The
/// default action: a hardware fault returns and, executed again, ends the process; a signal a
/// process sent is raised again. An ignored signal a process sent stays ignored; an ignored
/// hardware fault would repeat forever, so it gets the default action.
///
/// # Safety
/// The arguments must be the kernel's arguments to the signal handler; `sent_by_a_process`
/// whether its `si_code` says a process sent it.
unsafe fn forward_to_previous(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
    sent_by_a_process: bool,
) {
    let index = SIGNALS.iter().position(|s| *s == signum);
    let previous = index.and_then(|i| {
        let spent = PREVIOUS_SPENT[i].load(Ordering::Acquire);
        PREVIOUS.get().map(|p| p[i]).filter(|_| !spent)
    });
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    let Some(previous) = previous.filter(|_| handler != libc::SIG_DFL && handler != libc::SIG_IGN)
    else {
        if handler == libc::SIG_IGN && sent_by_a_process {
            return;
        }
        sys::reset_to_default(signum);
        if sent_by_a_process {
            sys::raise(signum);
        }
        return;
    };
    if previous.sa_flags & libc::SA_RESETHAND != 0
        && let Some(i) = index
    {
        PREVIOUS_SPENT[i].store(true, Ordering::Release);
    }
    // SAFETY: forwarded from the caller.
    unsafe { run_previous(&previous, signum, info, context) };
}

/// Runs the handler of `previous` (not `SIG_DFL` or `SIG_IGN`) as the kernel would have: its
/// `sa_mask` (and the signal itself unless `SA_NODEFER`) blocked, with one or three arguments
/// as `SA_SIGINFO` says.
///
/// # Safety
/// The arguments must be the kernel's arguments to the signal handler of `signum`, and
/// `previous` an action with a handler.
unsafe fn run_previous(
    previous: &libc::sigaction,
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let handler = previous.sa_sigaction;
    let mut blocked = previous.sa_mask;
    if previous.sa_flags & libc::SA_NODEFER == 0 {
        sys::add_to_set(&mut blocked, signum);
    }
    let saved = sys::block_signals(&blocked);
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO, sa_sigaction holds a three-argument handler.
        let handler: sys::SigInfoHandler =
            unsafe { std::mem::transmute::<usize, sys::SigInfoHandler>(handler) };
        // SAFETY: calling the previous handler with the kernel's arguments, as the kernel would.
        unsafe { handler(signum, info, context) }
    } else {
        // SAFETY: without SA_SIGINFO, sa_sigaction holds a one-argument handler.
        let handler = unsafe { std::mem::transmute::<usize, extern "C" fn(libc::c_int)>(handler) };
        handler(signum);
    }
    if let Some(saved) = saved {
        sys::set_signal_mask(&saved);
    }
}

/// Size of the alternate signal stack each thread running generated code gets.
const ALT_STACK_SIZE: usize = 256 << 10;

/// An alternate signal stack this crate mapped for the current thread (with a guard page
/// below it); disabled and unmapped when the thread exits.
#[derive(Debug)]
struct AltStack {
    mapping: *mut u8,
    mapping_len: usize,
    stack: *mut u8,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Ok(current) = sys::current_alt_stack()
            && current.ss_sp.cast::<u8>() == self.stack
        {
            sys::disable_alt_stack();
        }
        // SAFETY: the mapping is ours and no longer the signal stack of this thread.
        let _ = unsafe { sys::unmap(self.mapping, self.mapping_len) };
    }
}

/// Makes sure this thread's alternate signal stack is at least `ALT_STACK_SIZE`.
fn ensure_alt_stack() -> io::Result<()> {
    thread_local! {
        static READY: Cell<bool> = const { Cell::new(false) };
        static OWNED: RefCell<Option<AltStack>> = const { RefCell::new(None) };
    }
    if READY.get() {
        return Ok(());
    }
    let current = sys::current_alt_stack()?;
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_SIZE {
        READY.set(true);
        return Ok(());
    }
    let stack = map_alt_stack()?;
    // SAFETY: the stack stays mapped until `AltStack::drop`, which disables it first.
    unsafe { sys::set_alt_stack(stack.stack, ALT_STACK_SIZE)? };
    OWNED.with(|owned| *owned.borrow_mut() = Some(stack));
    READY.set(true);
    Ok(())
}

fn map_alt_stack() -> io::Result<AltStack> {
    let guard = sys::page_size();
    let mapping_len = guard + ALT_STACK_SIZE;
    let mapping = sys::map_anonymous(mapping_len, sys::Protection::None)?;
    // SAFETY: `guard` is within the fresh mapping.
    let stack = unsafe { mapping.add(guard) };
    // SAFETY: the stack part of our fresh mapping becomes writable; nothing references it yet.
    if let Err(e) = unsafe { sys::protect(stack, ALT_STACK_SIZE, sys::Protection::ReadWrite) } {
        // SAFETY: the mapping is ours and unused.
        let _ = unsafe { sys::unmap(mapping, mapping_len) };
        return Err(e);
    }
    Ok(AltStack {
        mapping,
        mapping_len,
        stack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::CodeMemory;
    use std::os::unix::process::ExitStatusExt;
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicUsize};

    /// Publishes `code` with `traps` and enters it with `args` (no store).
    fn run(code: &[u8], traps: Vec<(u32, TrapCode)>, args: [usize; 4]) -> Result<(), Trap> {
        run_in(ptr::null_mut(), code, traps, args)
    }

    /// As [`run`], with `store` as the activation's store (whose memories' guard regions
    /// decide which memory faults are traps).
    fn run_in(
        store: *mut Store,
        code: &[u8],
        traps: Vec<(u32, TrapCode)>,
        args: [usize; 4],
    ) -> Result<(), Trap> {
        let memory = CodeMemory::publish(code, Arc::new(traps)).expect("publish");
        // SAFETY: the code is one of the small, self-contained routines below; none of them
        // uses the store, which is null or outlives the call.
        unsafe { enter(store, memory.base() as usize, args) }.map_err(|t| t.trap)
    }

    /// A store with one memory of one page (guard regions around it); its base address.
    fn store_with_memory() -> (Store, usize) {
        let mut store = Store::new(&crate::Engine::default());
        let ty = faasm_jit::MemoryType {
            minimum: 1,
            maximum: Some(1),
        };
        let memory = crate::Memory::new(&mut store, ty).expect("memory");
        let base = memory.data(&store).as_ptr() as usize;
        (store, base)
    }

    const RET: &[u8] = &[0xc3];
    const UD2: &[u8] = &[0x0f, 0x0b];
    /// `mov rax, [0]`
    const LOAD_NULL: &[u8] = &[0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0];
    /// `xor ecx, ecx; div ecx`: the `div` at offset 2 faults.
    const DIV_ZERO: &[u8] = &[0x31, 0xc9, 0xf7, 0xf1];
    /// `mov al, [rdi]; ret`
    const LOAD_ARG: &[u8] = &[0x8a, 0x07, 0xc3];

    #[test]
    fn code_that_returns_returns() {
        assert_eq!(run(RET, vec![], [0; 4]), Ok(()));
    }

    #[test]
    fn ud2_at_a_trap_site_is_a_trap() {
        let result = run(UD2, vec![(0, TrapCode::UnreachableCodeReached)], [0; 4]);
        assert_eq!(result, Err(Trap::Wasm(TrapCode::UnreachableCodeReached)));
    }

    #[test]
    fn division_fault_at_a_trap_site_is_a_trap() {
        let result = run(DIV_ZERO, vec![(2, TrapCode::IntegerDivisionByZero)], [0; 4]);
        assert_eq!(result, Err(Trap::Wasm(TrapCode::IntegerDivisionByZero)));
    }

    #[test]
    fn callee_saved_registers_survive_a_trap() {
        // xor rbx,rbx; xor r12,r12; xor r13,r13; xor r14,r14; xor r15,r15; xor rbp,rbp; ud2
        let code = [
            0x48, 0x31, 0xdb, 0x4d, 0x31, 0xe4, 0x4d, 0x31, 0xed, 0x4d, 0x31, 0xf6, 0x4d, 0x31,
            0xff, 0x48, 0x31, 0xed, 0x0f, 0x0b,
        ];
        let memory = CodeMemory::publish(
            &code,
            Arc::new(vec![(18u32, TrapCode::UnreachableCodeReached)]),
        )
        .expect("publish");
        let values: Vec<u64> = (0..64).map(|i| i * 3).collect();
        for _ in 0..100 {
            // SAFETY: the code only clobbers registers and traps at a registered site.
            let result = unsafe { enter(ptr::null_mut(), memory.base() as usize, [0; 4]) };
            assert_eq!(
                result.map_err(|t| t.trap),
                Err(Trap::Wasm(TrapCode::UnreachableCodeReached))
            );
        }
        assert_eq!(
            values.iter().sum::<u64>(),
            3 * 63 * 64 / 2,
            "locals intact after many landings"
        );
    }

    #[test]
    fn guard_region_faults_become_traps() {
        let (mut store, base) = store_with_memory();
        let traps = || vec![(0, TrapCode::MemoryOutOfBounds)];
        let mut load = |address: usize| run_in(&mut store, LOAD_ARG, traps(), [address, 0, 0, 0]);
        assert_eq!(load(base + 100), Ok(()));
        for address in [base + (64 << 10), base + (1 << 30), base - 1] {
            assert_eq!(
                load(address),
                Err(Trap::Wasm(TrapCode::MemoryOutOfBounds)),
                "{address:#x}"
            );
        }
    }

    #[test]
    fn traps_work_on_other_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..50)
                        .map(|_| run(UD2, vec![(0, TrapCode::UnreachableCodeReached)], [0; 4]))
                        .all(|r| r == Err(Trap::Wasm(TrapCode::UnreachableCodeReached)))
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().expect("thread"));
        }
    }

    #[test]
    fn the_stack_limit_leaves_room_below() {
        let limit = stack_limit(1 << 20);
        let marker = 0u8;
        let sp = &marker as *const u8 as usize;
        assert!(limit < sp);
        assert!(
            sp - limit <= (1 << 20) + 4096,
            "about 1 MiB below this frame"
        );
        let low = thread_stack_low().expect("stack bounds");
        assert!(limit >= low + (128 << 10));
    }

    /// Env var telling a re-executed test binary which fault to commit.
    const CHILD_ENV: &str = "FAASM_RUNTIME_FAULT_CHILD";

    /// In a child process (see `run_child`): commits the fault named by `CHILD_ENV`, which must
    /// kill the process. Without the variable, a no-op.
    #[test]
    fn fault_child() {
        let Ok(kind) = std::env::var(CHILD_ENV) else {
            return;
        };
        let _ = match kind.as_str() {
            "segv-not-a-trap-site" => {
                run(LOAD_NULL, vec![(4, TrapCode::MemoryOutOfBounds)], [0; 4])
            }
            "ud2-not-a-trap-site" => run(UD2, vec![], [0; 4]),
            "segv-outside-activation" => {
                init_handlers().expect("handlers");
                let memory = CodeMemory::publish(
                    LOAD_NULL,
                    Arc::new(vec![(0u32, TrapCode::MemoryOutOfBounds)]),
                )
                .expect("publish");
                // SAFETY: deliberately faults, with no activation: the process must die.
                let f = unsafe { std::mem::transmute::<*const u8, extern "C" fn()>(memory.base()) };
                f();
                Ok(())
            }
            "segv-in-rust" => {
                init_handlers().expect("handlers");
                // SAFETY: deliberately faults outside generated code: the process must die.
                unsafe { std::ptr::read_volatile(std::ptr::null::<u64>()) };
                Ok(())
            }
            "segv-trap-site-outside-guards" => {
                let (mut store, _) = store_with_memory();
                run_in(
                    &mut store,
                    LOAD_NULL,
                    vec![(0, TrapCode::MemoryOutOfBounds)],
                    [0; 4],
                )
            }
            "segv-guard-at-another-trap-code" => {
                let (mut store, base) = store_with_memory();
                let traps = vec![(0, TrapCode::TableOutOfBounds)];
                run_in(&mut store, LOAD_ARG, traps, [base - 1, 0, 0, 0])
            }
            "user-sent-segv-at-trap-site" => {
                install_previous(
                    libc::SA_SIGINFO,
                    exit_42_with_info as *const () as usize,
                    &[],
                );
                let spinning = std::thread::spawn(|| {
                    run(SPIN, vec![(0, TrapCode::MemoryOutOfBounds)], [0; 4])
                });
                std::thread::sleep(std::time::Duration::from_millis(200));
                // SAFETY: the thread is alive (spinning in generated code).
                unsafe { libc::pthread_kill(spinning.as_pthread_t(), libc::SIGSEGV) };
                let result = spinning.join();
                println!("the signal became {result:?}");
                Ok(())
            }
            "previous-mask" => {
                install_previous(
                    0,
                    exit_with_mask_check as *const () as usize,
                    &[libc::SIGUSR2],
                );
                init_handlers().expect("handlers");
                sys::raise(libc::SIGSEGV);
                Ok(())
            }
            "previous-resethand" => {
                install_previous(
                    libc::SA_SIGINFO | libc::SA_RESETHAND,
                    count_with_info as *const () as usize,
                    &[],
                );
                init_handlers().expect("handlers");
                sys::raise(libc::SIGSEGV);
                println!(
                    "previous handler ran {} time(s)",
                    COUNT.load(Ordering::SeqCst)
                );
                sys::raise(libc::SIGSEGV);
                println!("still alive");
                Ok(())
            }
            "user-sent-default" => {
                // The test harness's own SIGBUS handler (Rust's stack overflow detection) out
                // of the way: the default action is the previous one.
                install_previous_for(libc::SIGBUS, 0, libc::SIG_DFL, &[]);
                init_handlers().expect("handlers");
                sys::raise(libc::SIGBUS);
                Ok(())
            }
            "user-sent-outside-generated-code" => {
                user_sent_outside_generated_code();
                Ok(())
            }
            "user-sent-ignored" => {
                for signum in [libc::SIGSEGV, libc::SIGBUS] {
                    install_previous_for(signum, 0, libc::SIG_IGN, &[]);
                }
                init_handlers().expect("handlers");
                // Each is delivered to this thread before the call returns (Linux picks the
                // sending thread for a signal to its own process when it does not block it).
                sys::raise(libc::SIGSEGV);
                // SAFETY: kill and sigqueue only take numbers; the value is not a pointer
                // anyone reads.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGBUS);
                    libc::sigqueue(libc::getpid(), libc::SIGSEGV, sigval(7));
                }
                println!("still alive");
                Ok(())
            }
            "fault-with-previous-ignored" => {
                install_previous(0, libc::SIG_IGN, &[]);
                init_handlers().expect("handlers");
                // SAFETY: deliberately faults outside generated code: the process must die.
                unsafe { std::ptr::read_volatile(std::ptr::null::<u64>()) };
                Ok(())
            }
            "previous-siginfo-flags" => {
                // SIGBUS: three arguments, SA_NODEFER, SIGUSR1 in its mask.
                install_previous_for(
                    libc::SIGBUS,
                    libc::SA_SIGINFO | libc::SA_NODEFER,
                    record_with_info as *const () as usize,
                    &[libc::SIGUSR1],
                );
                // SIGSEGV: three arguments, deferred, SIGUSR2 in its mask.
                install_previous(
                    libc::SA_SIGINFO,
                    record_with_info as *const () as usize,
                    &[libc::SIGUSR2],
                );
                init_handlers().expect("handlers");
                for (signum, count) in [(libc::SIGBUS, 1), (libc::SIGSEGV, 2)] {
                    sys::raise(signum);
                    wait_for_count(count);
                    println!("{}; after it {}", seen(), blocked_now());
                }
                Ok(())
            }
            other => panic!("unknown fault {other}"),
        };
        std::process::exit(0);
    }

    fn run_child(kind: &str) -> std::process::ExitStatus {
        run_child_output(kind).status
    }

    fn run_child_output(kind: &str) -> std::process::Output {
        let exe = std::env::current_exe().expect("test binary");
        std::process::Command::new(exe)
            .args([
                "--exact",
                "traphandlers::tests::fault_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, kind)
            .output()
            .expect("child")
    }

    /// `jmp $`: spins until a signal ends it.
    const SPIN: &[u8] = &[0xeb, 0xfe];

    static COUNT: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn exit_42_with_info(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(42) }
    }

    /// Exits 43 if SIGUSR2 (the handler's `sa_mask`) and SIGSEGV (no `SA_NODEFER`) are
    /// blocked while it runs, 44 otherwise.
    extern "C" fn exit_with_mask_check(_: libc::c_int) {
        // SAFETY: sigset_t is plain data; pthread_sigmask with a null new set only queries.
        let blocked = unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut mask);
            libc::sigismember(&mask, libc::SIGUSR2) == 1
                && libc::sigismember(&mask, libc::SIGSEGV) == 1
        };
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(if blocked { 43 } else { 44 }) }
    }

    extern "C" fn count_with_info(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        COUNT.fetch_add(1, Ordering::SeqCst);
    }

    /// What [`record_with_info`] saw last: the signal, `si_code`, `si_pid`, `si_value`, the
    /// thread's id, and the signals blocked while it ran (a bit per signal number).
    static SEEN: [AtomicI64; 6] = [const { AtomicI64::new(0) }; 6];

    /// A previous handler that records what it was called with (see [`SEEN`]) and counts.
    extern "C" fn record_with_info(
        signum: libc::c_int,
        info: *mut libc::siginfo_t,
        _: *mut libc::c_void,
    ) {
        // SAFETY: `info` is the kernel's siginfo_t, passed on unchanged; a signal a process
        // sent (all the tests send) carries si_pid and si_value.
        let (code, pid, value) = unsafe {
            (
                (*info).si_code,
                (*info).si_pid(),
                (*info).si_value().sival_ptr as i64,
            )
        };
        // SAFETY: gettid only returns the caller's thread id (a system call, signal-safe).
        let tid = unsafe { libc::gettid() };
        let values = [
            i64::from(signum),
            i64::from(code),
            i64::from(pid),
            value,
            i64::from(tid),
            blocked_bits(),
        ];
        for (slot, value) in SEEN.iter().zip(values) {
            slot.store(value, Ordering::SeqCst);
        }
        COUNT.fetch_add(1, Ordering::SeqCst);
    }

    /// SIGUSR1, SIGUSR2, SIGSEGV and SIGBUS in the calling thread's signal mask, as bits
    /// `1 << signum`. Signal-safe.
    fn blocked_bits() -> i64 {
        // SAFETY: sigset_t is plain data; pthread_sigmask with a null new set only queries.
        let mask = unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut mask);
            mask
        };
        [libc::SIGUSR1, libc::SIGUSR2, libc::SIGSEGV, libc::SIGBUS]
            .into_iter()
            // SAFETY: `mask` is an initialised sigset_t.
            .filter(|&signum| unsafe { libc::sigismember(&mask, signum) } == 1)
            .fold(0, |bits, signum| bits | 1 << signum)
    }

    /// The names of the signals of [`blocked_bits`] that `bits` holds.
    fn signal_names(bits: i64) -> String {
        let names: Vec<&str> = [
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGUSR2, "SIGUSR2"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGBUS, "SIGBUS"),
        ]
        .into_iter()
        .filter(|(signum, _)| bits & 1 << signum != 0)
        .map(|(_, name)| name)
        .collect();
        format!("blocked [{}]", names.join(" "))
    }

    fn blocked_now() -> String {
        signal_names(blocked_bits())
    }

    /// The last call [`record_with_info`] recorded, in words (the thread's id left out).
    fn seen() -> String {
        let [signum, code, pid, value, _, blocked] =
            SEEN.each_ref().map(|v| v.load(Ordering::SeqCst));
        // SAFETY: getpid only returns the process id.
        let from = if pid == i64::from(unsafe { libc::getpid() }) {
            "this process"
        } else {
            "elsewhere"
        };
        format!(
            "signal {signum} code {code} from {from} value {value} {}",
            signal_names(blocked)
        )
    }

    /// Waits (at most 10 s, then exits 3) until [`COUNT`] reaches `count`.
    fn wait_for_count(count: usize) {
        let start = std::time::Instant::now();
        while COUNT.load(Ordering::SeqCst) < count {
            if start.elapsed() > std::time::Duration::from_secs(10) {
                println!(
                    "the previous handler ran {} time(s)",
                    COUNT.load(Ordering::SeqCst)
                );
                std::process::exit(3);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn sigval(value: usize) -> libc::sigval {
        libc::sigval {
            sival_ptr: value as *mut libc::c_void,
        }
    }

    /// SIGSEGV and SIGBUS sent by this process (`pthread_kill`, `kill`, `sigqueue`) to threads
    /// that are not running generated code, one of them inside a host call of an activation:
    /// each goes to the previous handler (recording it) with the kernel's siginfo, and the
    /// call goes on. Prints a line per signal.
    fn user_sent_outside_generated_code() {
        for signum in [libc::SIGSEGV, libc::SIGBUS] {
            install_previous_for(
                signum,
                libc::SA_SIGINFO,
                record_with_info as *const () as usize,
                &[],
            );
        }
        init_handlers().expect("handlers");
        let on_thread = |tid: libc::pid_t| {
            if SEEN[4].load(Ordering::SeqCst) == i64::from(tid) {
                "on that thread"
            } else {
                "on another thread"
            }
        };
        // A thread waiting in Rust code (on a channel).
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (tid_sender, tid) = std::sync::mpsc::channel();
        let waiting = std::thread::spawn(move || {
            // SAFETY: gettid only returns the caller's thread id.
            tid_sender.send(unsafe { libc::gettid() }).expect("send");
            wait.recv().expect("released");
        });
        let waiting_tid = tid.recv().expect("a thread id");
        // SAFETY: the thread is alive (waiting to be released).
        unsafe { libc::pthread_kill(waiting.as_pthread_t(), libc::SIGSEGV) };
        wait_for_count(1);
        println!("pthread_kill: {} {}", seen(), on_thread(waiting_tid));
        release.send(()).expect("release");
        waiting.join().expect("the waiting thread");
        // SAFETY: kill and sigqueue only take numbers; the value is not a pointer anyone reads.
        unsafe { libc::kill(libc::getpid(), libc::SIGBUS) };
        wait_for_count(2);
        println!("kill: {}", seen());
        // SAFETY: as above.
        unsafe { libc::sigqueue(libc::getpid(), libc::SIGSEGV, sigval(77)) };
        wait_for_count(3);
        println!("sigqueue: {}", seen());
        let (result, caller_tid) = signal_during_a_host_call();
        println!(
            "in a host call: {} {}; the call returned {result:?}",
            seen(),
            on_thread(caller_tid)
        );
    }

    /// Calls a Wasm function on a thread of its own whose host import waits until this thread
    /// has sent it a SIGSEGV and the previous handler has run. Returns the call's result and
    /// the thread's id.
    fn signal_during_a_host_call() -> (Result<Vec<crate::Val>, Trap>, libc::pid_t) {
        static IN_HOST: AtomicBool = AtomicBool::new(false);
        let caller = std::thread::spawn(|| {
            let mut store = Store::new(&crate::Engine::default());
            let wat = r#"(module
                (import "host" "wait" (func $wait (result i32)))
                (func (export "run") (result i32) (i32.add (call $wait) (i32.const 1))))"#;
            let wasm = wat::parse_str(wat).expect("valid wat");
            let module = crate::Module::new(store.engine(), &wasm).expect("compiles");
            let wait = crate::Func::wrap(&mut store, |_: &mut crate::Caller<'_>| -> i32 {
                IN_HOST.store(true, Ordering::SeqCst);
                wait_for_count(4);
                41
            });
            let mut linker = crate::Linker::new();
            linker.define("host", "wait", crate::Extern::Func(wait));
            let instance = linker
                .instantiate(&mut store, &module)
                .expect("instantiates");
            let run = instance.get_func(&store, "run").expect("run");
            // SAFETY: gettid only returns the caller's thread id.
            (run.call(&mut store, &[]), unsafe { libc::gettid() })
        });
        while !IN_HOST.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: the thread is alive (in the host call, waiting for the handler to run).
        unsafe { libc::pthread_kill(caller.as_pthread_t(), libc::SIGSEGV) };
        caller.join().expect("the calling thread")
    }

    /// Installs `handler` for SIGSEGV with `flags` and `mask`, as a program would before the
    /// runtime installs its own.
    fn install_previous(flags: libc::c_int, handler: usize, mask: &[libc::c_int]) {
        install_previous_for(libc::SIGSEGV, flags, handler, mask);
    }

    /// As [`install_previous`], for `signum`.
    fn install_previous_for(
        signum: libc::c_int,
        flags: libc::c_int,
        handler: usize,
        mask: &[libc::c_int],
    ) {
        // SAFETY: sigaction is plain data; it is filled in below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler;
        action.sa_flags = flags;
        // SAFETY: `action.sa_mask` is a valid sigset_t.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        for signum in mask {
            sys::add_to_set(&mut action.sa_mask, *signum);
        }
        // SAFETY: the handler is one of the async-signal-safe functions above.
        let rc = unsafe { libc::sigaction(signum, &action, ptr::null_mut()) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn memory_faults_of_generated_code_outside_guard_regions_abort_with_a_report() {
        for kind in [
            "segv-trap-site-outside-guards",
            "segv-guard-at-another-trap-code",
        ] {
            let output = run_child_output(kind);
            assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{kind}");
            let report = String::from_utf8_lossy(&output.stderr);
            assert!(
                report.contains("faasm-runtime: fatal: SIGSEGV in generated code at pc 0x")
                    && report.contains("not in a guard region"),
                "{kind}: {report}"
            );
        }
        let report =
            String::from_utf8_lossy(&run_child_output("segv-trap-site-outside-guards").stderr)
                .into_owned();
        assert!(report.contains("accessing 0x0000000000000000"), "{report}");
    }

    #[test]
    fn signals_sent_by_a_process_go_to_the_previous_handler_even_at_trap_sites() {
        let output = run_child_output("user-sent-segv-at-trap-site");
        assert_eq!(
            output.status.code(),
            Some(42),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        // With no previous handler, the default action: the process dies of the signal.
        assert_eq!(run_child("user-sent-default").signal(), Some(libc::SIGBUS));
    }

    #[test]
    fn the_previous_handlers_mask_and_flags_are_honoured() {
        assert_eq!(run_child("previous-mask").code(), Some(43));
        let output = run_child_output("previous-resethand");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.signal(), Some(libc::SIGSEGV), "{stdout}");
        assert!(
            stdout.contains("previous handler ran 1 time(s)"),
            "{stdout}"
        );
        assert!(!stdout.contains("still alive"), "{stdout}");
    }

    #[test]
    fn faults_that_are_not_trap_sites_kill_the_process() {
        assert_eq!(
            run_child("segv-not-a-trap-site").signal(),
            Some(libc::SIGSEGV)
        );
        assert_eq!(
            run_child("ud2-not-a-trap-site").signal(),
            Some(libc::SIGILL)
        );
        assert_eq!(
            run_child("segv-outside-activation").signal(),
            Some(libc::SIGSEGV)
        );
        assert_eq!(run_child("segv-in-rust").signal(), Some(libc::SIGSEGV));
    }

    /// Runs the child `kind` for at most `limit` (killed after it: `None`).
    fn run_child_within(kind: &str, limit: std::time::Duration) -> Option<std::process::Output> {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "traphandlers::tests::fault_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, kind)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("child");
        let start = std::time::Instant::now();
        while child.try_wait().expect("waiting for the child").is_none() {
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Some(child.wait_with_output().expect("the child's output"))
    }

    /// The lines of a child's stdout holding `needle`, without the test harness's
    /// `test NAME ... ` before the first thing the child printed.
    fn reported_lines<'a>(stdout: &'a str, needle: &str) -> Vec<&'a str> {
        stdout
            .lines()
            .map(|line| line.rsplit(" ... ").next().unwrap_or(line))
            .filter(|line| line.contains(needle))
            .collect()
    }

    #[test]
    fn signals_sent_to_threads_outside_generated_code_go_to_the_previous_handler() {
        let output = run_child_output("user-sent-outside-generated-code");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let (segv, bus) = (libc::SIGSEGV, libc::SIGBUS);
        let (tkill, user, queue) = (libc::SI_TKILL, libc::SI_USER, libc::SI_QUEUE);
        let lines = reported_lines(&stdout, ": signal ");
        // Each handled on the thread it was sent to, with SIGSEGV or SIGBUS blocked while it
        // ran (the previous action has no SA_NODEFER).
        assert_eq!(
            lines,
            [
                format!(
                    "pthread_kill: signal {segv} code {tkill} from this process value 0 \
                     blocked [SIGSEGV] on that thread"
                ),
                format!(
                    "kill: signal {bus} code {user} from this process value 0 blocked [SIGBUS]"
                ),
                format!(
                    "sigqueue: signal {segv} code {queue} from this process value 77 \
                     blocked [SIGSEGV]"
                ),
                format!(
                    "in a host call: signal {segv} code {tkill} from this process value 0 \
                     blocked [SIGSEGV] on that thread; the call returned Ok([I32(42)])"
                ),
            ],
            "{stdout}"
        );
    }

    #[test]
    fn signals_sent_by_a_process_stay_ignored_when_the_previous_action_ignored_them() {
        let output = run_child_output("user-sent-ignored");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{:?}: {stdout}",
            output.status
        );
        assert!(stdout.contains("still alive"), "{stdout}");
    }

    #[test]
    fn a_fault_with_the_previous_action_ignoring_it_kills_the_process() {
        // An ignored hardware fault would come back for ever: the default action ends it.
        let output = run_child_within(
            "fault-with-previous-ignored",
            std::time::Duration::from_secs(30),
        )
        .expect("the fault repeated for 30 s instead of killing the process");
        assert_eq!(output.status.signal(), Some(libc::SIGSEGV));
    }

    #[test]
    fn the_previous_three_argument_handlers_mask_and_nodefer_are_honoured() {
        let output = run_child_output("previous-siginfo-flags");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let (segv, bus, tkill) = (libc::SIGSEGV, libc::SIGBUS, libc::SI_TKILL);
        let lines = reported_lines(&stdout, "signal ");
        assert_eq!(
            lines,
            [
                // SA_NODEFER: SIGBUS itself not blocked; its sa_mask (SIGUSR1) is.
                format!(
                    "signal {bus} code {tkill} from this process value 0 blocked [SIGUSR1]; \
                     after it blocked []"
                ),
                // Without SA_NODEFER: SIGSEGV blocked too.
                format!(
                    "signal {segv} code {tkill} from this process value 0 blocked [SIGUSR2 \
                     SIGSEGV]; after it blocked []"
                ),
            ],
            "{stdout}"
        );
    }
}
