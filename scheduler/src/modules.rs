//! Getting a runnable [`Module`] from a file: a `.wat` text module (assembled), a `.wasm`
//! binary (compiled, or loaded from the artifact cache) or an artifact from `faasm-run compile`
//! (loaded), with what happened said to a [`Log`].

use crate::cache::{self, ArtifactCache};
use crate::error::Error;
use faasm_runtime::{ArtifactKey, Engine, Module, is_artifact};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the lines saying what happened (compiled in, loaded from cache, ...) go: to the
/// caller's sink, one line each, or nowhere. This crate prints nothing itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    sink: Option<fn(&str)>,
}

impl Log {
    /// A log that drops every line.
    pub fn quiet() -> Log {
        Log { sink: None }
    }

    /// A log that hands every line to `sink`.
    pub fn to(sink: fn(&str)) -> Log {
        Log { sink: Some(sink) }
    }

    /// Hands `line` to the sink, if there is one.
    pub fn say(&self, line: impl AsRef<str>) {
        if let Some(sink) = self.sink {
            sink(line.as_ref());
        }
    }
}

/// The contents of a module file.
#[derive(Debug)]
pub enum ModuleFile {
    /// WebAssembly binary (assembled already if the file was text).
    Wasm(Vec<u8>),
    /// A compiled artifact.
    Artifact(Vec<u8>),
}

/// Reads `path`: an artifact if it starts with the artifact magic number; text to assemble if
/// its extension is `.wat` (or, for another extension, if it does not start with the Wasm magic
/// number); otherwise a binary module.
pub fn read_module_file(path: &Path) -> Result<ModuleFile, Error> {
    let bytes = fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if is_artifact(&bytes) {
        return Ok(ModuleFile::Artifact(bytes));
    }
    let is_text = match path.extension().and_then(|ext| ext.to_str()) {
        Some("wat") => true,
        Some("wasm") => false,
        _ => !bytes.starts_with(b"\0asm"),
    };
    if is_text {
        assemble(path, &bytes).map(ModuleFile::Wasm)
    } else {
        Ok(ModuleFile::Wasm(bytes))
    }
}

/// The text format to binary. `wast` (the parser behind the `wat` crate) is used directly so a
/// syntax error becomes one `file:line:col: message` line.
fn assemble(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::Syntax(format!("{}: not UTF-8 text", path.display())))?;
    let syntax_error = |error: wast::Error| {
        let (line, col) = error.span().linecol_in(text);
        Error::Syntax(format!(
            "{}:{}:{}: {}",
            path.display(),
            line + 1,
            col + 1,
            error.message().replace('\n', " ")
        ))
    };
    let buffer = wast::parser::ParseBuffer::new(text).map_err(syntax_error)?;
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buffer).map_err(syntax_error)?;
    wat.encode().map_err(syntax_error)
}

/// Compiles `wasm` (from `path`, for errors).
pub fn compile(engine: &Engine, path: &Path, wasm: &[u8]) -> Result<Module, Error> {
    Module::new(engine, wasm).map_err(|source| Error::Compile {
        path: path.to_path_buf(),
        source,
    })
}

/// The host's artifact key, kept in `key_dir` (the cache directory, see [`cache::host_key`]).
pub fn artifact_key(key_dir: Option<&Path>) -> Result<ArtifactKey, Error> {
    let dir = key_dir.ok_or_else(|| {
        Error::Usage(
            "no directory for the artifact key: give --cache-dir DIR, or set FAASM_CACHE_DIR, \
             XDG_CACHE_HOME or HOME"
                .to_string(),
        )
    })?;
    cache::host_key(&dir.join(cache::KEY_FILE)).map_err(|source| Error::Read {
        path: dir.join(cache::KEY_FILE),
        source,
    })
}

/// The module in `path`: compiled (through `cache` if given) or loaded, if it is an artifact,
/// after checking its tag under the artifact key in `key_dir`.
pub fn obtain(
    engine: &Engine,
    path: &Path,
    cache: Option<&ArtifactCache>,
    key_dir: Option<&Path>,
    log: Log,
) -> Result<Module, Error> {
    match read_module_file(path)? {
        ModuleFile::Artifact(bytes) => {
            let start = Instant::now();
            let key = artifact_key(key_dir)?;
            let module =
                Module::deserialize_authenticated(engine, &bytes, &key).map_err(|source| {
                    Error::Artifact {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
            log.say(format!(
                "loaded {} in {}",
                path.display(),
                millis(start.elapsed())
            ));
            Ok(module)
        }
        ModuleFile::Wasm(wasm) => match cache {
            Some(cache) => compile_through_cache(engine, path, &wasm, cache, log),
            None => {
                let start = Instant::now();
                let module = compile(engine, path, &wasm)?;
                log.say(format!("compiled in {}", millis(start.elapsed())));
                Ok(module)
            }
        },
    }
}

/// Loads the cached artifact of `wasm` if there is a usable one; otherwise compiles it and
/// (re)writes the entry. A cache that cannot be read or written only costs time.
fn compile_through_cache(
    engine: &Engine,
    path: &Path,
    wasm: &[u8],
    cache: &ArtifactCache,
    log: Log,
) -> Result<Module, Error> {
    let key = match cache.key() {
        Ok(key) => key,
        Err(e) => {
            log.say(format!("cache not used: {e}"));
            return compile(engine, path, wasm);
        }
    };
    let wasm_sha256: [u8; 32] = Sha256::digest(wasm).into();
    let entry = cache.entry_path(&wasm_sha256, engine.fingerprint());
    let start = Instant::now();
    match load_cache_entry(engine, cache, &key, &entry, &wasm_sha256) {
        Ok(Some(module)) => {
            log.say(format!(
                "loaded from cache {} in {}",
                entry.display(),
                millis(start.elapsed())
            ));
            return Ok(module);
        }
        Ok(None) => {}
        Err(why) => log.say(format!(
            "unusable cache entry {}: {why}; compiling again",
            entry.display()
        )),
    }
    let start = Instant::now();
    let module = compile(engine, path, wasm)?;
    let compile_time = millis(start.elapsed());
    match cache.write(&entry, &module.serialize_authenticated(&key)) {
        Ok(()) => log.say(format!(
            "compiled in {compile_time} (cached as {})",
            entry.display()
        )),
        Err(e) => log.say(format!(
            "compiled in {compile_time} (not cached: cannot write {}: {e})",
            entry.display()
        )),
    }
    Ok(module)
}

/// The module in cache entry `entry`, `None` if there is no entry, or why it is unusable.
fn load_cache_entry(
    engine: &Engine,
    cache: &ArtifactCache,
    key: &ArtifactKey,
    entry: &Path,
    wasm_sha256: &[u8; 32],
) -> Result<Option<Module>, String> {
    let Some(bytes) = cache
        .read(entry)
        .map_err(|e| format!("cannot read it: {e}"))?
    else {
        return Ok(None);
    };
    let module =
        Module::deserialize_authenticated(engine, &bytes, key).map_err(|e| e.to_string())?;
    if module.wasm_sha256() != *wasm_sha256 {
        return Err("it holds the code of another module".to_string());
    }
    Ok(Some(module))
}

/// `12.34 ms`.
pub fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
