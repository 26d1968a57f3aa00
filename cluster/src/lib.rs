//! Several faasm-rs hosts as one Faasm, through one Redis server (the one the state tier's
//! global tier already uses: no protocol between hosts of our own). This crate owns what hosts
//! tell each other through Redis; it runs no calls and speaks no HTTP.
//!
//! # Membership ([`membership`])
//!
//! A host joins with [`Registration::join`]: it writes a **lease** (its address, workers,
//! capacity, start time, and its calls in flight at each heartbeat) that lapses after a few seconds unless renewed, and a heartbeat thread
//! renews it every third of the lease. Lease times are the Redis server's clock (`TIME` inside
//! the scripts), so hosts' clocks may disagree. Each time a host's lease is created (first join,
//! or after it lapsed) it gets a new **epoch** from a cluster-wide counter: what later fencing
//! compares, so a host that was cut off and comes back is told it rejoined. A host publishes
//! the functions it holds warm ([`Registration::set_warm`]); they lapse with its lease. A clean
//! stop ([`Registration::leave`], or dropping the registration) stops the heartbeat and removes
//! the host at once; a host that dies disappears from [`Cluster::live_hosts`] when its lease
//! lapses.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `faasm:cluster:hosts` | sorted set | host ids, scored by lease expiry (server ms) |
//! | `faasm:cluster:host:{id}` | hash, `PX` lease | `addr`, `workers`, `capacity`, `started_ms`, `lease_ms`, `epoch`, `in_flight` (at the last heartbeat) |
//! | `faasm:cluster:warm:{id}` | set, `PX` lease | `user/function` of each warm function |
//! | `faasm:cluster:epoch` | integer | the last epoch given out |
//!
//! # Functions and Proto-Faaslets ([`sharing`])
//!
//! An upload on any host is shared with [`sharing::share`]: the module as uploaded and its
//! serialised Proto-Faaslet go into one hash, with the SHA-256 of the module and a version
//! that every share of the function increments (in one `MULTI`), and the new version is
//! published on a channel. The compiled artifact is not shared: it is authenticated with a key
//! only its host knows. A host without the function, or with an older version, calls
//! [`sharing::sync`]: it fetches module and snapshot, compiles the module into its own store
//! ([`faasm_scheduler::FunctionStore`]), and keeps the shipped Proto-Faaslet if it was made by
//! an engine with this host's fingerprint, so the function is never initialised again there;
//! otherwise it prepares its own and says so in its log. The version it installed is kept
//! beside the function in its store, so a later `sync` costs one small round trip when nothing
//! changed and refetches after a new upload anywhere. A Python function travels the same way,
//! its source in place of the module (`kind` `python`): a host installs the source and keeps
//! the shipped Proto-Faaslet if its own Python runtime, on its engine, can restore it (the same
//! interpreter build), else prepares its own; a host without a Python runtime refuses it by
//! name.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `faasm:cluster:fn:{user}/{function}` | hash | `version`, `sha256` (hex, of `wasm`), `wasm` (the module, or a Python function's source), `snapshot`, `kind` (`wasm` or `python`) |
//! | `faasm:cluster:fn-updates` (channel) | pub/sub | `user/function version` after each share, `flush HOST` after a flush |
//!
//! # Bounds
//!
//! Every reply is bounded before it is sent: a listing holds at most [`MAX_LISTED_HOSTS`]
//! hosts, each with at most [`MAX_WARM_FUNCTIONS`] warm functions and fields cut at
//! [`MAX_FIELD_BYTES`]; a shared function (module and snapshot together) is at most
//! [`sharing::DEFAULT_MAX_FUNCTION_BYTES`] (a clear error past it, on sharing and, checked by
//! the server before it answers, on fetching). Keys built from ids are only ever used on one
//! Redis server (not Redis Cluster: the scripts touch keys they compute).
//!
//! # A host's node ([`ClusterNode`])
//!
//! A host process holds one [`ClusterNode`]: it joins once the host knows its address, shares
//! each upload, publishes the functions loaded on the host as warm, and is the scheduler's
//! source of functions it is not running yet, so a call for a function uploaded on another
//! host fetches it first. A host that cannot reach Redis runs what its own store holds. Its
//! watcher follows the update channel: a share of a version this host does not hold, or a
//! flush on another host (`flush HOST`), marks functions stale, and the host drops them before
//! its next call, so the next call of each fetches the new version.
//!
//! # Calls sent to other hosts ([`calls`])
//!
//! Each host reads a stream of its own (`faasm:cluster:calls:{id}`) through a consumer group,
//! made when it joins. A host that places a call elsewhere appends it to that host's stream
//! with a cluster-wide id; the host that takes it runs it and stores the result with one
//! script that is fenced by its lease epoch, wakes the waiters and acknowledges the entry.
//! Waiters block on the result (`BLMOVE`), never poll. Where calls go is the server's
//! decision (this crate only carries them).
//!
//! A call's result is also announced on its sender's results stream, which the sender's
//! watcher reads to end a chained call's await. Live hosts claim the calls of hosts whose
//! leases lapsed ([`Cluster::claim_orphans`]).
#![forbid(unsafe_code)]

pub mod calls;
mod connection;
mod error;
pub mod membership;
pub mod node;
pub mod sharing;

pub use connection::Cluster;
pub use error::ClusterError;
pub use membership::{HostId, HostInfo, HostSpec, Lease, LoadProbe, Registration};
pub use node::{ClusterNode, Invalidated};

/// The result type of this crate.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// The most hosts a listing returns.
pub const MAX_LISTED_HOSTS: usize = 256;

/// The most warm functions a host publishes (and a listing returns per host).
pub const MAX_WARM_FUNCTIONS: usize = 1024;

/// The longest field of a host's record a listing returns (an address, a number).
pub const MAX_FIELD_BYTES: usize = 256;

/// The prefix of every key this crate uses.
const PREFIX: &str = "faasm:cluster:";
