//! Functions and their Proto-Faaslets shared between hosts (see the crate's documentation for
//! the keys): [`share`] puts a function of this host's store into the cluster as a new
//! version, [`sync`] brings this host's copy of a function up to the cluster's version, and
//! [`install`] puts a fetched function into the store, keeping the shipped Proto-Faaslet when
//! this host's engine can restore it.

use crate::{Cluster, ClusterError, PREFIX, Result};
use faasm_runtime::{Engine, Module};
use faasm_scheduler::cache::{hex, write_atomically};
use faasm_scheduler::modules::{self, Log};
use faasm_scheduler::python::{self, PythonRuntime};
use faasm_scheduler::store::{SNAPSHOT_FILE, StoredFunction};
use faasm_scheduler::{Error, Function, FunctionId, FunctionStore};
use faasm_snapshot::{RestoreError, Snapshot};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most bytes (module and Proto-Faaslet together) a function takes in the cluster by
/// default: Redis strings hold 512 MiB, and a fetch holds the whole function in memory.
pub const DEFAULT_MAX_FUNCTION_BYTES: u64 = 256 << 20;

/// The file beside a function in a host's store that names the cluster version it holds:
/// `VERSION SHA256\n`, written by [`share`] and [`install`].
pub const VERSION_FILE: &str = "cluster.version";

/// The channel each share publishes `user/function version` on.
pub const UPDATES_CHANNEL: &str = "faasm:cluster:fn-updates";

/// Stores a new version (`KEYS[1]`: the function's hash; `ARGV`: the name, sha256, wasm (or a
/// Python function's source), snapshot, kind) and publishes it; returns the version.
const SHARE_SCRIPT: &str = "local v = redis.call('hincrby', KEYS[1], 'version', 1) \
     redis.call('hset', KEYS[1], 'sha256', ARGV[2], 'wasm', ARGV[3], 'snapshot', ARGV[4], \
       'kind', ARGV[5]) \
     redis.call('publish', KEYS[2], ARGV[1] .. ' ' .. v) \
     return v";

/// A function's version and hash (`KEYS[1]`), the hash cut to 64 characters: `{}` if it is not
/// shared.
const VERSION_SCRIPT: &str = "local v = redis.call('hget', KEYS[1], 'version') \
     if not v then return {} end \
     return {v, string.sub(redis.call('hget', KEYS[1], 'sha256') or '', 1, 64)}";

/// The whole function (`KEYS[1]`) if its module and snapshot take at most `ARGV[1]` bytes:
/// `{}` if it is not shared, `{0, bytes}` if it is too large, else
/// `{1, version, sha256, wasm, snapshot, kind}` (a function shared before kinds existed is
/// `wasm`).
const FETCH_SCRIPT: &str = "local v = redis.call('hget', KEYS[1], 'version') \
     if not v then return {} end \
     local bytes = redis.call('hstrlen', KEYS[1], 'wasm') \
       + redis.call('hstrlen', KEYS[1], 'snapshot') \
     if bytes > tonumber(ARGV[1]) then return {0, bytes} end \
     return {1, v, string.sub(redis.call('hget', KEYS[1], 'sha256') or '', 1, 64), \
       redis.call('hget', KEYS[1], 'wasm') or '', redis.call('hget', KEYS[1], 'snapshot') or '', \
       redis.call('hget', KEYS[1], 'kind') or 'wasm'}";

/// A version of a function in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedVersion {
    /// Incremented by every share of the function.
    pub version: u64,
    /// The SHA-256 of its module, lower-case hex.
    pub sha256: String,
}

/// What a shared function is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedKind {
    /// A Wasm module.
    Wasm,
    /// A Python function: its source, run by each host's Python runtime.
    Python,
}

impl SharedKind {
    fn as_str(self) -> &'static str {
        match self {
            SharedKind::Wasm => "wasm",
            SharedKind::Python => "python",
        }
    }
}

/// A function as fetched from the cluster.
#[derive(Debug, Clone)]
pub struct SharedFunction {
    /// Its version.
    pub version: SharedVersion,
    /// What it is.
    pub kind: SharedKind,
    /// The module as uploaded, or a Python function's source (what the version's hash is of).
    pub wasm: Vec<u8>,
    /// Its serialised Proto-Faaslet, as the uploading host's engine made it.
    pub snapshot: Vec<u8>,
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The version installed.
    pub version: SharedVersion,
    /// Whether the shipped Proto-Faaslet was kept (`false`: this host's engine differs, and it
    /// initialised the function itself).
    pub restored: bool,
    /// How long compiling (and preparing, if it had to) and storing took.
    pub duration: Duration,
}

/// What [`sync`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The cluster does not hold the function.
    NotShared,
    /// This host already holds the cluster's version.
    UpToDate(SharedVersion),
    /// This host fetched and installed the cluster's version.
    Installed(Installed),
}

fn function_key(id: &FunctionId) -> String {
    format!("{PREFIX}fn:{id}")
}

fn host_error(id: &FunctionId, source: Error) -> ClusterError {
    ClusterError::Host {
        function: id.clone(),
        source: Box::new(source),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Puts function `id` of `store` (its module, or a Python function's source, and its
/// Proto-Faaslet) into the cluster as its next version, and notes that version beside it in
/// `store`. Returns the version.
pub fn share(cluster: &Cluster, store: &FunctionStore, id: &FunctionId) -> Result<SharedVersion> {
    let (kind, code, snapshot) = match store.python_source_dir(id) {
        Some(dir) => {
            let path = dir.join(python::SOURCE_FILE);
            let source = std::fs::read(&path)
                .map_err(|source| host_error(id, Error::Read { path, source }))?;
            let snapshot = store
                .snapshot(id)
                .map_err(|e| host_error(id, Error::Store(e)))?;
            (SharedKind::Python, source, snapshot)
        }
        None => {
            let stored = store.get(id).map_err(|e| host_error(id, Error::Store(e)))?;
            (SharedKind::Wasm, stored.wasm, stored.snapshot)
        }
    };
    let bytes = (code.len() + snapshot.len()) as u64;
    if bytes > cluster.max_function_bytes() {
        return Err(ClusterError::TooLarge {
            function: id.clone(),
            bytes,
            limit: cluster.max_function_bytes(),
        });
    }
    let sha256 = sha256_hex(&code);
    let key = function_key(id);
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SHARE_SCRIPT)
        .arg(2)
        .arg(&key)
        .arg(UPDATES_CHANNEL)
        .arg(id.to_string())
        .arg(&sha256)
        .arg(&code)
        .arg(&snapshot)
        .arg(kind.as_str());
    let version: u64 = cluster.run_once("share", &key, &cmd)?;
    let shared = SharedVersion { version, sha256 };
    write_version(store, id, &shared)?;
    Ok(shared)
}

/// The cluster's version of function `id`, if it holds one.
pub fn shared_version(cluster: &Cluster, id: &FunctionId) -> Result<Option<SharedVersion>> {
    let key = function_key(id);
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(VERSION_SCRIPT).arg(1).arg(&key);
    let reply: Vec<String> = cluster.run("read version", &key, &cmd)?;
    match reply.as_slice() {
        [] => Ok(None),
        [version, sha256] => Ok(Some(SharedVersion {
            version: parse_version(version, &key, "read version")?,
            sha256: sha256.clone(),
        })),
        other => Err(ClusterError::Reply {
            operation: "read version",
            key,
            message: format!("{} parts, not 2", other.len()),
        }),
    }
}

fn parse_version(text: &str, key: &str, operation: &'static str) -> Result<u64> {
    text.parse().map_err(|_| ClusterError::Reply {
        operation,
        key: key.to_owned(),
        message: format!("version `{text}` is not a number"),
    })
}

/// Fetches function `id` from the cluster (`None` if it holds none), refusing one larger than
/// the cluster handle's limit before it is sent, and checking the module against its hash.
pub fn fetch(cluster: &Cluster, id: &FunctionId) -> Result<Option<SharedFunction>> {
    let key = function_key(id);
    let limit = cluster.max_function_bytes();
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(FETCH_SCRIPT).arg(1).arg(&key).arg(limit);
    let reply: Vec<redis::Value> = cluster.run("fetch", &key, &cmd)?;
    let bad = |message: String| ClusterError::Reply {
        operation: "fetch",
        key: key.clone(),
        message,
    };
    let bytes = |value: redis::Value| -> Result<Vec<u8>> {
        redis::from_redis_value(value).map_err(|e| bad(e.to_string()))
    };
    let mut parts = reply.into_iter();
    let Some(status) = parts.next() else {
        return Ok(None);
    };
    let status: i64 = redis::from_redis_value(status).map_err(|e| bad(e.to_string()))?;
    if status == 0 {
        let size: u64 = match parts.next() {
            Some(size) => redis::from_redis_value(size).map_err(|e| bad(e.to_string()))?,
            None => return Err(bad("a refusal without the size".to_owned())),
        };
        return Err(ClusterError::TooLarge {
            function: id.clone(),
            bytes: size,
            limit,
        });
    }
    let [version, sha256, wasm, snapshot, kind] =
        <[redis::Value; 5]>::try_from(parts.collect::<Vec<_>>())
            .map_err(|rest| bad(format!("{} parts after the status, not 5", rest.len())))?;
    let version = String::from_utf8(bytes(version)?).map_err(|e| bad(e.to_string()))?;
    let sha256 = String::from_utf8(bytes(sha256)?).map_err(|e| bad(e.to_string()))?;
    let kind = match bytes(kind)?.as_slice() {
        b"wasm" => SharedKind::Wasm,
        b"python" => SharedKind::Python,
        other => {
            return Err(bad(format!(
                "unknown kind `{}`",
                String::from_utf8_lossy(other)
            )));
        }
    };
    let shared = SharedFunction {
        version: SharedVersion {
            version: parse_version(&version, &key, "fetch")?,
            sha256,
        },
        kind,
        wasm: bytes(wasm)?,
        snapshot: bytes(snapshot)?,
    };
    let actual = sha256_hex(&shared.wasm);
    if actual != shared.version.sha256 {
        return Err(ClusterError::Corrupt {
            function: id.clone(),
            reason: format!(
                "its module's SHA-256 is {actual}, not the {} stored with it",
                shared.version.sha256
            ),
        });
    }
    Ok(Some(shared))
}

/// Brings this host's copy of function `id` in `store` up to the cluster's version: nothing to
/// do if it holds that version already, else [`fetch`] and [`install`].
pub fn sync(
    cluster: &Cluster,
    engine: &Engine,
    store: &FunctionStore,
    python: Option<&PythonRuntime>,
    id: &FunctionId,
    init_timeout: Duration,
    log: Log,
) -> Result<Synced> {
    let Some(current) = shared_version(cluster, id)? else {
        return Ok(Synced::NotShared);
    };
    let complete = store.function_dir(id).join(SNAPSHOT_FILE).is_file();
    if complete && local_version(store, id).as_ref() == Some(&current) {
        return Ok(Synced::UpToDate(current));
    }
    let Some(shared) = fetch(cluster, id)? else {
        return Ok(Synced::NotShared);
    };
    match shared.kind {
        SharedKind::Wasm => install(engine, store, id, &shared, init_timeout, log),
        SharedKind::Python => install_python(engine, store, python, id, &shared, init_timeout, log),
    }
    .map(Synced::Installed)
}

/// Stores Python function `shared` as `id` in `store`: its source, and its Proto-Faaslet as
/// shipped if `python`'s interpreter on `engine` can restore it (the same build, the same
/// engine settings), else one this host prepares within `init_timeout` (said in `log`).
pub fn install_python(
    engine: &Engine,
    store: &FunctionStore,
    python: Option<&PythonRuntime>,
    id: &FunctionId,
    shared: &SharedFunction,
    init_timeout: Duration,
    log: Log,
) -> Result<Installed> {
    let start = Instant::now();
    let runtime = python.ok_or_else(|| {
        host_error(
            id,
            Error::Usage(format!(
                "{id} is a Python function, and this host has no Python runtime (--python DIR)"
            )),
        )
    })?;
    let staging = store
        .python_staging_dir(id)
        .map_err(|e| host_error(id, Error::Store(e)))?;
    let installed = install_python_from(
        engine,
        store,
        runtime,
        id,
        shared,
        &staging,
        init_timeout,
        log,
    );
    if installed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let restored = installed?;
    write_version(store, id, &shared.version)?;
    Ok(Installed {
        version: shared.version.clone(),
        restored,
        duration: start.elapsed(),
    })
}

/// [`install_python`] with its source written into `staging`; whether the shipped
/// Proto-Faaslet was kept.
#[allow(
    clippy::too_many_arguments,
    reason = "install_python's inputs, and where to stage"
)]
fn install_python_from(
    engine: &Engine,
    store: &FunctionStore,
    runtime: &PythonRuntime,
    id: &FunctionId,
    shared: &SharedFunction,
    staging: &Path,
    init_timeout: Duration,
    log: Log,
) -> Result<bool> {
    let path = staging.join(python::SOURCE_FILE);
    std::fs::write(&path, &shared.wasm)
        .map_err(|source| host_error(id, Error::Write { path, source }))?;
    let module = runtime.module(engine, log).map_err(|e| host_error(id, e))?;
    let (snapshot, restored) = match Snapshot::deserialize(&module, &shared.snapshot) {
        Ok(_) => (shared.snapshot.clone(), true),
        Err(why @ (RestoreError::EngineMismatch(_) | RestoreError::ModuleMismatch)) => {
            log.say(format!(
                "{id}: the cluster's Proto-Faaslet (version {}) does not fit this host's \
                 interpreter ({why}); preparing this host's own",
                shared.version.version
            ));
            let function = runtime
                .prepare(engine, staging, init_timeout, log)
                .map_err(|e| host_error(id, e))?;
            (serialize(store, id, &function)?, false)
        }
        Err(e) => {
            return Err(ClusterError::Corrupt {
                function: id.clone(),
                reason: format!("its Proto-Faaslet is rejected: {e}"),
            });
        }
    };
    store
        .put_python(id, staging, &snapshot)
        .map_err(|e| host_error(id, Error::Store(e)))?;
    Ok(restored)
}

/// Stores `shared` as function `id` in `store`: its module compiled by `engine` (the artifact
/// authenticated with the store's key), and its Proto-Faaslet as shipped if `engine` can
/// restore it (same fingerprint), else one this host prepares within `init_timeout` (said in
/// `log`).
pub fn install(
    engine: &Engine,
    store: &FunctionStore,
    id: &FunctionId,
    shared: &SharedFunction,
    init_timeout: Duration,
    log: Log,
) -> Result<Installed> {
    let start = Instant::now();
    let origin = PathBuf::from(format!("cluster:{id}"));
    let module = modules::compile(engine, &origin, &shared.wasm).map_err(|e| host_error(id, e))?;
    let (snapshot, restored) = match Snapshot::deserialize(&module, &shared.snapshot) {
        Ok(_) => (shared.snapshot.clone(), true),
        Err(RestoreError::EngineMismatch(theirs)) => {
            log.say(format!(
                "{id}: the cluster's Proto-Faaslet (version {}) was made by another engine \
                 ({theirs}); preparing this host's own",
                shared.version.version
            ));
            (prepare_own(store, id, &module, init_timeout)?, false)
        }
        Err(e) => {
            return Err(ClusterError::Corrupt {
                function: id.clone(),
                reason: format!("its Proto-Faaslet is rejected: {e}"),
            });
        }
    };
    let key = store
        .key()
        .map_err(|source| host_error(id, store_io(store.dir(), source)))?;
    let stored = StoredFunction {
        wasm: shared.wasm.clone(),
        artifact: module.serialize_authenticated(&key),
        snapshot,
    };
    store
        .put(id, &stored)
        .map_err(|e| host_error(id, Error::Store(e)))?;
    write_version(store, id, &shared.version)?;
    Ok(Installed {
        version: shared.version.clone(),
        restored,
        duration: start.elapsed(),
    })
}

/// A Proto-Faaslet of `module` prepared on this host, serialised.
fn prepare_own(
    store: &FunctionStore,
    id: &FunctionId,
    module: &Module,
    init_timeout: Duration,
) -> Result<Vec<u8>> {
    let function = Function::prepare_within(module, init_timeout)
        .map_err(|e| host_error(id, Error::Scheduler(e)))?;
    serialize(store, id, &function)
}

/// The Proto-Faaslet of `function` (`id` of `store`), serialised.
fn serialize(store: &FunctionStore, id: &FunctionId, function: &Function) -> Result<Vec<u8>> {
    function.snapshot().serialize().map_err(|source| {
        host_error(
            id,
            Error::Write {
                path: store.function_dir(id).join(SNAPSHOT_FILE),
                source,
            },
        )
    })
}

fn store_io(path: &Path, source: std::io::Error) -> Error {
    Error::Store(faasm_scheduler::store::StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The cluster version this host's copy of `id` was installed or shared as, if noted.
pub fn local_version(store: &FunctionStore, id: &FunctionId) -> Option<SharedVersion> {
    let text = std::fs::read_to_string(store.function_dir(id).join(VERSION_FILE)).ok()?;
    let (version, sha256) = text.trim_end().split_once(' ')?;
    Some(SharedVersion {
        version: version.parse().ok()?,
        sha256: sha256.to_owned(),
    })
}

fn write_version(store: &FunctionStore, id: &FunctionId, version: &SharedVersion) -> Result<()> {
    let path = store.function_dir(id).join(VERSION_FILE);
    let text = format!("{} {}\n", version.version, version.sha256);
    write_atomically(&path, text.as_bytes()).map_err(|source| {
        host_error(
            id,
            Error::Write {
                path: path.clone(),
                source,
            },
        )
    })
}
