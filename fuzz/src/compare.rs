//! Lockstep comparison of two sandboxes running the same module: instantiation, then the same
//! calls with the same arguments, comparing each outcome and the exported state (globals,
//! memories byte for byte, tables) after every call.

use super::value::{NanMode, Outcome, TrapKind, Type, Value, arbitrary_argument, join, zero};
use arbitrary::Unstructured;

/// Calls beyond "every export once" that a plan may add while the input lasts.
const MAX_EXTRA_CALLS: usize = 20;

/// What kind of item an export is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// A function of this type.
    Func {
        /// Parameter types.
        params: Vec<Type>,
        /// Result types.
        results: Vec<Type>,
    },
    /// A global.
    Global,
    /// A linear memory.
    Memory,
    /// A table.
    Table,
}

/// One export of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: ExportKind,
}

/// An instantiated module in one engine, driven through the same interface for all engines.
pub trait Sandbox {
    /// Which engine (and configuration) this is, for messages.
    fn label(&self) -> String;
    /// The instance's exports, in declaration order.
    fn exports(&self) -> Vec<Export>;
    /// Calls the exported function `name`.
    fn call(&mut self, name: &str, args: &[Value]) -> Outcome;
    /// The value of the exported global `name`.
    fn global(&self, name: &str) -> Option<Value>;
    /// The bytes of the exported memory `name`.
    fn memory(&self, name: &str) -> Option<&[u8]>;
    /// The elements of the exported table `name`.
    fn table(&self, name: &str) -> Option<Vec<Value>>;
}

/// The result of instantiating a module in one engine.
#[derive(Debug)]
pub enum Instantiation<S> {
    /// Instantiated (and its start function, if any, returned).
    Ready(S),
    /// A segment was out of bounds or the start function trapped.
    Trapped(TrapKind),
    /// The engine rejected the module or could not provide its resources.
    Failed(String),
}

/// One call of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The exported function.
    pub export: String,
    /// Its arguments.
    pub args: Vec<Value>,
}

/// How a lockstep run ended when the two sandboxes agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every call ran and agreed.
    Agreed,
    /// A call hit an engine resource limit (stack, time): agreement up to there, no comparison after.
    StoppedAtResourceLimit,
}

/// The calls to make: every exported function once, in declaration order, then up to
/// [`MAX_EXTRA_CALLS`] more chosen by the input. Arguments come from `u` (zeros once it is empty).
pub fn plan_calls(u: &mut Unstructured<'_>, exports: &[Export]) -> Vec<Call> {
    let funcs: Vec<(&str, &[Type])> = exports
        .iter()
        .filter_map(|e| match &e.kind {
            ExportKind::Func { params, .. } => Some((e.name.as_str(), params.as_slice())),
            _ => None,
        })
        .collect();
    let mut calls: Vec<Call> = funcs
        .iter()
        .map(|(name, params)| plan_call(u, name, params))
        .collect();
    for _ in 0..MAX_EXTRA_CALLS {
        if funcs.is_empty() || u.is_empty() {
            break;
        }
        let Ok((name, params)) = u.choose(&funcs) else {
            break;
        };
        calls.push(plan_call(u, name, params));
    }
    calls
}

/// A call of `name` with arguments from `u`.
fn plan_call(u: &mut Unstructured<'_>, name: &str, params: &[Type]) -> Call {
    let args = params
        .iter()
        .map(|&ty| arbitrary_argument(u, ty).unwrap_or_else(|_| zero(ty)))
        .collect();
    Call {
        export: name.to_string(),
        args,
    }
}

/// Compares how two engines instantiated the same module. `Ok(Some(..))` when both are ready
/// to run; `Ok(None)` when both stopped the same way (nothing more to compare).
pub fn compare_instantiation<A: Sandbox, B: Sandbox>(
    a: Instantiation<A>,
    b: Instantiation<B>,
) -> Result<Option<(A, B)>, String> {
    match (a, b) {
        (Instantiation::Ready(a), Instantiation::Ready(b)) => Ok(Some((a, b))),
        (Instantiation::Trapped(x), Instantiation::Trapped(y)) if x == y => Ok(None),
        (Instantiation::Trapped(x), _) | (_, Instantiation::Trapped(x))
            if x.is_resource_limit() =>
        {
            Ok(None)
        }
        (a, b) => Err(format!(
            "instantiation differs: {} vs {}",
            describe_instantiation(&a),
            describe_instantiation(&b)
        )),
    }
}

fn describe_instantiation<S: Sandbox>(result: &Instantiation<S>) -> String {
    match result {
        Instantiation::Ready(s) => format!("{} instantiated", s.label()),
        Instantiation::Trapped(kind) => format!("trapped ({kind:?})"),
        Instantiation::Failed(why) => format!("failed ({why})"),
    }
}

/// Runs `calls` in both sandboxes in lockstep, comparing each outcome and then the exported
/// state. Stops without a verdict of disagreement at the first resource limit on either side.
pub fn run_lockstep(
    a: &mut dyn Sandbox,
    b: &mut dyn Sandbox,
    calls: &[Call],
    nan: NanMode,
) -> Result<Verdict, String> {
    let exports = same_exports(a, b)?;
    compare_state(a, b, &exports, nan).map_err(|e| format!("after instantiation: {e}"))?;
    for (step, call) in calls.iter().enumerate() {
        let from_a = a.call(&call.export, &call.args);
        let from_b = b.call(&call.export, &call.args);
        let context = || format!("call #{step} {}({})", call.export, join(&call.args));
        if from_a.is_resource_limit() || from_b.is_resource_limit() {
            return Ok(Verdict::StoppedAtResourceLimit);
        }
        if !from_a.same_as(&from_b, nan) {
            return Err(format!(
                "{}: {} {from_a}, but {} {from_b}",
                context(),
                a.label(),
                b.label()
            ));
        }
        compare_state(a, b, &exports, nan).map_err(|e| format!("after {}: {e}", context()))?;
    }
    Ok(Verdict::Agreed)
}

/// The exports of `a`, after checking that `b` has exactly the same.
fn same_exports(a: &dyn Sandbox, b: &dyn Sandbox) -> Result<Vec<Export>, String> {
    // Engines list exports in different orders (wasmi sorts them by name); order means nothing.
    let (mut ours, mut theirs) = (a.exports(), b.exports());
    ours.sort_by(|x, y| x.name.cmp(&y.name));
    theirs.sort_by(|x, y| x.name.cmp(&y.name));
    if ours != theirs {
        return Err(format!(
            "exports differ: {} has {ours:?}, {} has {theirs:?}",
            a.label(),
            b.label()
        ));
    }
    Ok(ours)
}

/// Compares every exported global, memory and table of `a` and `b`.
pub fn compare_state(
    a: &dyn Sandbox,
    b: &dyn Sandbox,
    exports: &[Export],
    nan: NanMode,
) -> Result<(), String> {
    for export in exports {
        let name = export.name.as_str();
        match export.kind {
            ExportKind::Func { .. } => {}
            ExportKind::Global => compare_global(name, a.global(name), b.global(name), nan)?,
            ExportKind::Memory => compare_memory(name, a.memory(name), b.memory(name))?,
            ExportKind::Table => compare_table(name, a.table(name), b.table(name), nan)?,
        }
    }
    Ok(())
}

fn compare_global(
    name: &str,
    a: Option<Value>,
    b: Option<Value>,
    nan: NanMode,
) -> Result<(), String> {
    match (a, b) {
        (Some(x), Some(y)) if x.same_as(&y, nan) => Ok(()),
        _ => Err(format!("global `{name}` differs: {a:?} vs {b:?}")),
    }
}

fn compare_memory(name: &str, a: Option<&[u8]>, b: Option<&[u8]>) -> Result<(), String> {
    let (Some(a), Some(b)) = (a, b) else {
        return Err(format!("memory `{name}` missing on one side"));
    };
    if a.len() != b.len() {
        return Err(format!(
            "memory `{name}` sizes differ: {} vs {} bytes",
            a.len(),
            b.len()
        ));
    }
    // Slice equality is one `memcmp`: fast, and not slowed by coverage instrumentation.
    if a == b {
        return Ok(());
    }
    match a.iter().zip(b).position(|(x, y)| x != y) {
        None => Ok(()),
        Some(offset) => {
            let end = (offset + 16).min(a.len());
            Err(format!(
                "memory `{name}` differs from byte {offset:#x}: {:02x?} vs {:02x?} (hashes {:#018x} vs {:#018x})",
                &a[offset..end],
                &b[offset..end],
                hash(a),
                hash(b)
            ))
        }
    }
}

fn compare_table(
    name: &str,
    a: Option<Vec<Value>>,
    b: Option<Vec<Value>>,
    nan: NanMode,
) -> Result<(), String> {
    let (Some(a), Some(b)) = (a, b) else {
        return Err(format!("table `{name}` missing on one side"));
    };
    if a.len() != b.len() {
        return Err(format!(
            "table `{name}` sizes differ: {} vs {}",
            a.len(),
            b.len()
        ));
    }
    match a.iter().zip(&b).position(|(x, y)| !x.same_as(y, nan)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "table `{name}` element {i} differs: {} vs {}",
            a[i], b[i]
        )),
    }
}

/// FNV-1a of `bytes`: a short name for a memory's contents in messages.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
