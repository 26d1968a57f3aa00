//! What can go wrong between a host and the cluster, one line each, naming the operation, the
//! key or the limit.

use faasm_scheduler::FunctionId;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster's URL could not be parsed.
    #[error("cluster URL `{url}`: {message}")]
    InvalidUrl {
        /// The URL, any password masked.
        url: String,
        /// Why.
        message: String,
    },
    /// Redis could not be reached or answered with an error.
    #[error("cluster {operation} on `{key}`: {message} (server {url})")]
    Redis {
        /// The operation (`register`, `list hosts`, `share`, ...).
        operation: &'static str,
        /// The key it was about.
        key: String,
        /// The server, any password masked.
        url: String,
        /// What happened.
        message: String,
    },
    /// Redis answered with something this crate did not write there.
    #[error("cluster {operation} on `{key}`: unexpected reply: {message}")]
    Reply {
        /// The operation.
        operation: &'static str,
        /// The key.
        key: String,
        /// What was wrong with it.
        message: String,
    },
    /// A value given to the cluster is out of its bounds (an address too long, a lease too
    /// short, too many warm functions).
    #[error("cluster: {0}")]
    Invalid(String),
    /// A host's stream of calls holds as many as it may: the host is not keeping up.
    #[error("host {host} has {queued} calls waiting already: no more are sent to it")]
    Full {
        /// The host.
        host: String,
        /// The bound it reached.
        queued: u64,
    },
    /// A function is larger than the cluster shares.
    #[error(
        "function {function}: module and Proto-Faaslet take {bytes} bytes, more than the \
         cluster's limit of {limit} bytes per function"
    )]
    TooLarge {
        /// The function.
        function: FunctionId,
        /// Its module and snapshot together (as much as is known).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// What the cluster holds for a function does not hang together (its module's hash).
    #[error("function {function} in the cluster: {reason}")]
    Corrupt {
        /// The function.
        function: FunctionId,
        /// What is wrong.
        reason: String,
    },
    /// The local side of sharing failed: reading, compiling, preparing or storing the
    /// function on this host.
    #[error("function {function}: {source}")]
    Host {
        /// The function.
        function: FunctionId,
        /// Why.
        #[source]
        source: Box<faasm_scheduler::Error>,
    },
}
