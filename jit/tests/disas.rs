//! Golden translator tests: each `tests/disas/*.wat` file holds a module and, in `;;` comments
//! after it, the Cranelift IR our translator produces for its functions. Leading
//! `;;! strategy = bounded|guarded` and `;;! optimized = true` lines pick the memory strategy and
//! whether to show the IR after Cranelift's mid-end optimisations (what lowering sees). Run with
//! `FAASM_TEST_BLESS=1` to rewrite the expectations after an intended change.

use faasm_jit::{Compiler, CompilerConfig, MemoryStrategy};
use std::path::Path;

const EXPECTED_MARKER: &str = ";; ---- expected Cranelift IR (FAASM_TEST_BLESS=1 regenerates) ----";

#[test]
fn golden_translations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/disas");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/disas exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wat"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden tests in {}", dir.display());
    let bless = std::env::var_os("FAASM_TEST_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        if let Err(message) = check(path, bless) {
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "golden tests differ (FAASM_TEST_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}

fn check(path: &Path, bless: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (source, expected) = match text.find(EXPECTED_MARKER) {
        Some(at) => (&text[..at], &text[at + EXPECTED_MARKER.len()..]),
        None => (text.as_str(), ""),
    };
    let source = source.trim_end();
    let actual = render(source)?;
    let expected: String = expected
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.strip_prefix(";; ")
                .or_else(|| line.strip_prefix(";;"))
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n");
    if actual.trim_end() == expected.trim_end() {
        return Ok(());
    }
    if bless {
        let commented: String = actual
            .lines()
            .map(|line| format!(";; {line}\n").replace(";; \n", ";;\n"))
            .collect();
        let blessed = format!("{source}\n\n{EXPECTED_MARKER}\n{commented}");
        return std::fs::write(path, blessed).map_err(|e| e.to_string());
    }
    Err(format!("expected:\n{expected}\nactual:\n{actual}"))
}

fn render(source: &str) -> Result<String, String> {
    let settings = Settings::parse(source)?;
    let wasm = wat::parse_str(source).map_err(|e| e.to_string())?;
    let config = CompilerConfig {
        memory_strategy: settings.strategy,
        ..CompilerConfig::default()
    };
    let compiler = Compiler::new(config).map_err(|e| e.to_string())?;
    let functions = compiler
        .clif(&wasm, settings.optimized)
        .map_err(|e| e.to_string())?;
    Ok(functions.join("\n"))
}

/// The `;;! key = value` lines at the top of a golden test.
struct Settings {
    strategy: MemoryStrategy,
    optimized: bool,
}

impl Settings {
    fn parse(source: &str) -> Result<Settings, String> {
        let mut settings = Settings {
            strategy: MemoryStrategy::default(),
            optimized: false,
        };
        let directives = source
            .lines()
            .map_while(|line| line.trim().strip_prefix(";;!"));
        for directive in directives {
            match directive.split('=').map(str::trim).collect::<Vec<_>>()[..] {
                ["strategy", "guarded"] => settings.strategy = MemoryStrategy::default(),
                ["strategy", "bounded"] => settings.strategy = MemoryStrategy::Bounded,
                ["optimized", "true"] => settings.optimized = true,
                ["optimized", "false"] => settings.optimized = false,
                _ => return Err(format!("unknown directive `;;!{directive}`")),
            }
        }
        Ok(settings)
    }
}
