//! Runs one `.wast` script against one engine: every directive in order, in a fresh store.

use crate::spectest::define_spectest;
use crate::values::{arg_value, check_results, describe};
use faasm_runtime::{
    CompileError, Engine, Instance, InstantiateError, Linker, Module, Store, Trap, TrapCode, Val,
};
use std::collections::HashMap;
use std::time::Duration;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::{Id, Span};
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// A deadline for every call, so that a miscompiled infinite loop fails its script instead of
/// hanging the suite.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What happened when a script ran under one engine.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Assertions that held.
    pub passed: usize,
    /// Directives that failed (assertions, but also modules, registrations and invocations).
    pub failed: usize,
    /// The first failure, `line:col: what`.
    pub first_failure: Option<String>,
}

impl Outcome {
    fn failure(&mut self, message: String) {
        self.failed += 1;
        self.first_failure.get_or_insert(message);
    }
}

/// Parses and runs `text`. A directive that fails is counted and the script goes on, so that
/// one failure does not hide the state of the rest.
pub fn run_script(text: &str, engine: &Engine) -> Outcome {
    let mut outcome = Outcome::default();
    let mut lexer = Lexer::new(text);
    // Some scripts (names.wast, comments.wast) deliberately contain bidirectional characters.
    lexer.allow_confusing_unicode(true);
    let parsed = ParseBuffer::new_with_lexer(lexer).and_then(|buffer| {
        let wast = parser::parse::<Wast<'_>>(&buffer)?;
        Ok(run_directives(text, engine, wast.directives))
    });
    match parsed {
        Ok(result) => outcome = result,
        Err(error) => outcome.failure(format!(
            "{}: parse error: {}",
            location(text, error.span()),
            error.message()
        )),
    }
    outcome
}

fn run_directives(text: &str, engine: &Engine, directives: Vec<WastDirective<'_>>) -> Outcome {
    let mut outcome = Outcome::default();
    let mut state = match ScriptState::new(engine) {
        Ok(state) => state,
        Err(message) => {
            outcome.failure(format!("setting up spectest: {message}"));
            return outcome;
        }
    };
    for directive in directives {
        let span = directive.span();
        let is_assertion = is_assertion(&directive);
        match state.run(directive) {
            Ok(()) if is_assertion => outcome.passed += 1,
            Ok(()) => {}
            Err(message) => outcome.failure(format!("{}: {message}", location(text, span))),
        }
    }
    outcome
}

fn is_assertion(directive: &WastDirective<'_>) -> bool {
    !matches!(
        directive,
        WastDirective::Module(_)
            | WastDirective::ModuleDefinition(_)
            | WastDirective::ModuleInstance { .. }
            | WastDirective::Register { .. }
            | WastDirective::Invoke(_)
    )
}

/// `line:col`, 1-based, of a span in the script.
fn location(text: &str, span: Span) -> String {
    let (line, col) = span.linecol_in(text);
    format!("{}:{}", line + 1, col + 1)
}

/// The store and names of one script's run.
struct ScriptState<'e> {
    engine: &'e Engine,
    store: Store,
    linker: Linker,
    /// The most recently instantiated module, the target of unnamed `invoke`s; `None` after a
    /// module failed, so that later assertions do not silently run against an older module.
    current: Option<Instance>,
    instances: HashMap<String, Instance>,
    definitions: HashMap<String, Module>,
    last_definition: Option<Module>,
}

impl<'e> ScriptState<'e> {
    fn new(engine: &'e Engine) -> Result<Self, String> {
        let mut store = Store::new(engine);
        store.set_timeout(Some(CALL_TIMEOUT));
        let mut linker = Linker::new();
        define_spectest(&mut store, &mut linker)?;
        Ok(ScriptState {
            engine,
            store,
            linker,
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
        })
    }

    fn run(&mut self, directive: WastDirective<'_>) -> Result<(), String> {
        match directive {
            WastDirective::Module(module) => self.module(module),
            WastDirective::ModuleDefinition(module) => self.module_definition(module),
            WastDirective::ModuleInstance {
                instance, module, ..
            } => self.module_instance(instance, module),
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module)?;
                self.linker.define_instance(&self.store, name, instance);
                Ok(())
            }
            WastDirective::Invoke(invoke) => self
                .invoke(&invoke)?
                .map(drop)
                .map_err(|trap| format!("invoke: {trap}")),
            WastDirective::AssertReturn { exec, results, .. } => {
                let values = self.execute(exec)?;
                check_results(&values, &results).map_err(|e| format!("assert_return: {e}"))
            }
            WastDirective::AssertTrap { exec, message, .. } => self.assert_trap(exec, message),
            WastDirective::AssertExhaustion { call, message, .. } => {
                let result = self.invoke(&call)?;
                expect_trap(result, message).map_err(|e| format!("assert_exhaustion: {e}"))
            }
            WastDirective::AssertInvalid {
                module, message, ..
            } => self.assert_rejected(module, "invalid", message),
            WastDirective::AssertMalformed {
                module, message, ..
            } => self.assert_rejected(module, "malformed", message),
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => self.assert_unlinkable(module, message),
            other => Err(format!("unsupported directive {}", directive_name(&other))),
        }
    }

    fn module(&mut self, mut module: QuoteWat<'_>) -> Result<(), String> {
        self.current = None;
        let name = module.name().map(|id| id.name().to_string());
        let compiled = self.compile(&mut module)?;
        let instance = self
            .linker
            .instantiate(&mut self.store, &compiled)
            .map_err(|e| format!("module: {e}"))?;
        self.current = Some(instance);
        if let Some(name) = name {
            self.instances.insert(name, instance);
        }
        Ok(())
    }

    fn module_definition(&mut self, mut module: QuoteWat<'_>) -> Result<(), String> {
        self.last_definition = None;
        let compiled = self.compile(&mut module)?;
        if let Some(id) = module.name() {
            self.definitions
                .insert(id.name().to_string(), compiled.clone());
        }
        self.last_definition = Some(compiled);
        Ok(())
    }

    fn module_instance(
        &mut self,
        instance: Option<Id<'_>>,
        module: Option<Id<'_>>,
    ) -> Result<(), String> {
        self.current = None;
        let definition = match module {
            Some(id) => self.definitions.get(id.name()),
            None => self.last_definition.as_ref(),
        }
        .ok_or("module instance: no such module definition")?;
        let created = self
            .linker
            .instantiate(&mut self.store, definition)
            .map_err(|e| format!("module instance: {e}"))?;
        self.current = Some(created);
        if let Some(id) = instance {
            self.instances.insert(id.name().to_string(), created);
        }
        Ok(())
    }

    /// Encodes a module of the script and compiles it.
    fn compile(&self, module: &mut QuoteWat<'_>) -> Result<Module, String> {
        let bytes = encode(module).map_err(|e| format!("module text does not encode: {e}"))?;
        Module::new(self.engine, &bytes).map_err(|e| format!("module does not compile: {e}"))
    }

    /// The named instance, or the current one.
    fn instance(&self, name: Option<Id<'_>>) -> Result<Instance, String> {
        match name {
            Some(id) => self
                .instances
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no module named ${}", id.name())),
            None => self.current.ok_or_else(|| {
                "no current module (the last one failed, or none was defined)".to_string()
            }),
        }
    }

    /// Calls an export. The outer error is a script problem, the inner one the call's trap.
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Trap>, String> {
        let instance = self.instance(invoke.module)?;
        let func = instance
            .get_func(&self.store, invoke.name)
            .ok_or_else(|| format!("no exported function \"{}\"", invoke.name))?;
        let args = invoke
            .args
            .iter()
            .map(arg_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(func.call(&mut self.store, &args))
    }

    /// Runs the action of an `assert_return`: its results must follow.
    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Vec<Val>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self
                .invoke(&invoke)?
                .map_err(|trap| format!("trapped: {trap}")),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module)?;
                let global = instance
                    .get_global(&self.store, global)
                    .ok_or_else(|| format!("no exported global \"{global}\""))?;
                Ok(vec![global.get(&self.store)])
            }
            WastExecute::Wat(module) => self.module(QuoteWat::Wat(module)).map(|()| Vec::new()),
        }
    }

    fn assert_trap(&mut self, exec: WastExecute<'_>, message: &str) -> Result<(), String> {
        match exec {
            WastExecute::Invoke(invoke) => {
                let result = self.invoke(&invoke)?;
                expect_trap(result, message).map_err(|e| format!("assert_trap: {e}"))
            }
            WastExecute::Wat(module) => self.assert_instantiation_traps(module, message),
            WastExecute::Get { .. } => Err("assert_trap on a `get` cannot trap".to_string()),
        }
    }

    /// `assert_trap` of a module (`assert_uninstantiable` in older scripts): it compiles, but
    /// instantiation (a segment out of bounds, or the start function) traps.
    fn assert_instantiation_traps(&mut self, module: Wat<'_>, message: &str) -> Result<(), String> {
        let compiled = self.compile(&mut QuoteWat::Wat(module))?;
        match self.linker.instantiate(&mut self.store, &compiled) {
            Err(InstantiateError::Trap(trap)) => expect_trap(Err(trap), message),
            Err(other) => Err(format!(
                "expected instantiation to trap with \"{message}\", got: {other}"
            )),
            Ok(_) => Err(format!(
                "expected instantiation to trap with \"{message}\", it succeeded"
            )),
        }
        .map_err(|e| format!("assert_trap: {e}"))
    }

    /// `assert_invalid` / `assert_malformed`: the validator must reject the module
    /// (`CompileError::Invalid`); for text modules an error of the text format passes too (it is
    /// the text that is malformed). `Unsupported` does not pass: a module we merely cannot
    /// compile yet is no evidence that we reject invalid ones.
    fn assert_rejected(
        &self,
        mut module: QuoteWat<'_>,
        kind: &str,
        message: &str,
    ) -> Result<(), String> {
        let Ok(bytes) = encode(&mut module) else {
            return Ok(());
        };
        match Module::new(self.engine, &bytes) {
            Err(CompileError::Invalid { .. }) => Ok(()),
            Err(other) => Err(format!(
                "assert_{kind}: expected a {kind} module (\"{message}\"), got {other}"
            )),
            Ok(_) => Err(format!(
                "assert_{kind}: expected a {kind} module (\"{message}\"), it compiled"
            )),
        }
    }

    /// `assert_unlinkable`: the module compiles but its imports cannot be satisfied.
    fn assert_unlinkable(&mut self, module: Wat<'_>, message: &str) -> Result<(), String> {
        let compiled = self.compile(&mut QuoteWat::Wat(module))?;
        match self.linker.instantiate(&mut self.store, &compiled) {
            Err(
                error @ (InstantiateError::UnknownImport { .. }
                | InstantiateError::IncompatibleImport { .. }),
            ) if error.to_string().starts_with(message) => Ok(()),
            Err(other) => Err(format!(
                "assert_unlinkable: expected \"{message}\", got: {other}"
            )),
            Ok(_) => Err(format!(
                "assert_unlinkable: expected \"{message}\", it linked"
            )),
        }
    }
}

/// Encodes a script module (text, binary or quoted text) to the binary format.
fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    if matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    ) {
        return Err("components are not supported".to_string());
    }
    module.encode().map_err(|e| e.message())
}

/// Checks that a call trapped with the expected message.
fn expect_trap(result: Result<Vec<Val>, Trap>, expected: &str) -> Result<(), String> {
    match result {
        Ok(values) => {
            let values: Vec<String> = values.iter().map(describe).collect();
            Err(format!(
                "expected trap \"{expected}\", got [{}]",
                values.join(", ")
            ))
        }
        Err(trap) if trap_matches(&trap, expected) => Ok(()),
        Err(trap) => Err(format!("expected trap \"{expected}\", got \"{trap}\"")),
    }
}

/// Whether our trap is the one the script expects. The suite's messages can carry more detail
/// than ours ("uninitialized element 2"), so they only need to start with our message; and
/// `call_indirect` past the end of the table is "undefined element" in the suite.
fn trap_matches(trap: &Trap, expected: &str) -> bool {
    let Some(code) = trap.code() else {
        return expected.starts_with(&trap.to_string());
    };
    expected.starts_with(code.message())
        || (code == TrapCode::TableOutOfBounds && expected.starts_with("undefined element"))
}

fn directive_name(directive: &WastDirective<'_>) -> &'static str {
    match directive {
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
        _ => "(other)",
    }
}
