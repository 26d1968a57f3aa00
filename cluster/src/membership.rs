//! Which hosts are in the cluster: leases renewed by a heartbeat, the functions each holds
//! warm, and the listing of the hosts whose lease is current (see the crate's documentation
//! for the keys).

use crate::Result;
use crate::{Cluster, ClusterError, MAX_FIELD_BYTES, MAX_LISTED_HOSTS, MAX_WARM_FUNCTIONS, PREFIX};
use faasm_scheduler::modules::Log;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The shortest lease a host may take: shorter ones would lapse between heartbeats on a busy
/// machine.
pub const MIN_LEASE: Duration = Duration::from_millis(300);

/// The longest lease: a dead host must not stay listed for long.
pub const MAX_LEASE: Duration = Duration::from_secs(3600);

/// The longest host id.
const MAX_ID_LEN: usize = 128;

/// The server's clock in milliseconds, as Lua `now`.
const NOW_MS: &str = "local t = redis.call('time') \
     local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";

/// Writes or renews a lease (`KEYS`: hosts, host, warm, epoch counter; `ARGV`: id, lease ms,
/// addr, workers, capacity, started ms). A lease that does not exist (first join, or lapsed)
/// gets a new epoch and an empty warm set; `ARGV[7]` is the calls in flight. Returns
/// `{epoch, 1 if the lease was new}`.
const RENEW_SCRIPT: &str = "local lease = tonumber(ARGV[2]) \
     local epoch = redis.call('hget', KEYS[2], 'epoch') \
     local fresh = 0 \
     if not epoch then \
       epoch = redis.call('incr', KEYS[4]) fresh = 1 redis.call('del', KEYS[3]) end \
     redis.call('hset', KEYS[2], 'addr', ARGV[3], 'workers', ARGV[4], 'capacity', ARGV[5], \
       'started_ms', ARGV[6], 'lease_ms', ARGV[2], 'epoch', epoch, 'in_flight', ARGV[7]) \
     redis.call('pexpire', KEYS[2], lease) \
     redis.call('pexpire', KEYS[3], lease) \
     redis.call('zremrangebyscore', KEYS[1], '-inf', now) \
     redis.call('zadd', KEYS[1], now + lease, ARGV[1]) \
     return {tonumber(epoch), fresh}";

/// Replaces a host's warm set (`KEYS`: host, warm; `ARGV`: the names), which lapses with the
/// host's lease. Returns 0 without writing if the lease has lapsed.
const WARM_SCRIPT: &str = "local left = redis.call('pttl', KEYS[1]) \
     if left <= 0 then return 0 end \
     redis.call('del', KEYS[2]) \
     if #ARGV > 0 then \
       redis.call('sadd', KEYS[2], unpack(ARGV)) redis.call('pexpire', KEYS[2], left) end \
     return 1";

/// Lists live hosts (`KEYS`: hosts; `ARGV`: host key prefix, warm key prefix, most hosts, most
/// warm names per host, longest field): `{{id, {field, value, ...}, {warm...}, ms left}, ...}`,
/// every part cut to its bound.
const LIST_SCRIPT: &str = "local cut = tonumber(ARGV[5]) \
     local ids = redis.call('zrangebyscore', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, \
       tonumber(ARGV[3])) \
     local out = {} \
     for _, id in ipairs(ids) do \
       local fields = redis.call('hgetall', ARGV[1] .. id) \
       if #fields > 0 then \
         for i = 1, #fields do fields[i] = string.sub(fields[i], 1, cut) end \
         local warm = redis.call('srandmember', ARGV[2] .. id, tonumber(ARGV[4])) \
         for i = 1, #warm do warm[i] = string.sub(warm[i], 1, cut) end \
         out[#out + 1] = {string.sub(id, 1, cut), fields, warm, redis.call('pttl', ARGV[1] .. id)} \
       end \
     end \
     return out";

/// A host's name in the cluster: 1 to 128 characters of `[A-Za-z0-9_.:-]`, unique per host
/// process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(String);

impl HostId {
    /// A checked id.
    pub fn new(id: &str) -> Result<HostId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(allowed) {
            return Err(ClusterError::Invalid(format!(
                "host id `{id}`: 1 to {MAX_ID_LEN} characters of letters, digits, `_`, `.`, \
                 `:` and `-`"
            )));
        }
        Ok(HostId(id.to_owned()))
    }

    /// A new id for this process: its pid, the time and a counter, so two processes (or two
    /// registrations of one) never share one.
    pub fn generate() -> HostId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        HostId(format!(
            "host-{}-{nanos:x}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a host says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Where other hosts and clients reach it (`HOST:PORT` of its HTTP API), at most
    /// [`MAX_FIELD_BYTES`].
    pub addr: String,
    /// Its worker threads.
    pub workers: u32,
    /// How many calls it takes at once (running and queued).
    pub capacity: u32,
}

/// What a heartbeat reads to publish the host's load: its calls in flight now.
pub type LoadProbe = Arc<dyn Fn() -> u32 + Send + Sync>;

/// A host's lease as the last renewal left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The epoch of the lease: new each time the host's lease is created.
    pub epoch: u64,
    /// Whether this renewal created the lease (the first join, or a lapsed lease taken again).
    pub created: bool,
}

/// A live host, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Its id.
    pub id: HostId,
    /// Its address.
    pub addr: String,
    /// Its worker threads.
    pub workers: u32,
    /// How many calls it takes at once.
    pub capacity: u32,
    /// When it joined, in milliseconds since the Unix epoch (its own clock).
    pub started_ms: u64,
    /// The epoch of its lease.
    pub epoch: u64,
    /// Its calls in flight as of its last heartbeat (0 without a load probe).
    pub in_flight: u32,
    /// How long its lease has left, as of the listing.
    pub lease_left: Duration,
    /// The functions it holds warm (`user/function`), sorted.
    pub warm: Vec<String>,
}

fn hosts_key() -> String {
    format!("{PREFIX}hosts")
}

pub(crate) fn host_key(id: &HostId) -> String {
    format!("{PREFIX}host:{id}")
}

fn warm_key(id: &HostId) -> String {
    format!("{PREFIX}warm:{id}")
}

fn epoch_key() -> String {
    format!("{PREFIX}epoch")
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Checks a spec and a lease before they are written.
fn check(spec: &HostSpec, lease: Duration) -> Result<()> {
    if spec.addr.is_empty() || spec.addr.len() > MAX_FIELD_BYTES {
        return Err(ClusterError::Invalid(format!(
            "host address `{}`: 1 to {MAX_FIELD_BYTES} bytes",
            spec.addr
        )));
    }
    if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
        return Err(ClusterError::Invalid(format!(
            "a lease of {lease:?} is outside {MIN_LEASE:?}..={MAX_LEASE:?}"
        )));
    }
    Ok(())
}

impl Cluster {
    /// Writes or renews the lease of host `id` for `lease`, with its calls `in_flight` (what
    /// a heartbeat does). A host that does not renew its lease in time drops out of
    /// [`Cluster::live_hosts`].
    pub fn renew_lease(
        &self,
        id: &HostId,
        spec: &HostSpec,
        started_ms: u64,
        in_flight: u32,
        lease: Duration,
    ) -> Result<Lease> {
        check(spec, lease)?;
        let host = host_key(id);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{NOW_MS}{RENEW_SCRIPT}"))
            .arg(4)
            .arg(hosts_key())
            .arg(&host)
            .arg(warm_key(id))
            .arg(epoch_key())
            .arg(id.as_str())
            .arg(millis(lease))
            .arg(&spec.addr)
            .arg(spec.workers)
            .arg(spec.capacity)
            .arg(started_ms)
            .arg(in_flight);
        let (epoch, created): (u64, u8) = self.run("renew lease", &host, &cmd)?;
        Ok(Lease {
            epoch,
            created: created == 1,
        })
    }

    /// Replaces the functions host `id` publishes as warm (at most [`MAX_WARM_FUNCTIONS`]);
    /// `false` if its lease has lapsed (nothing was written).
    pub fn publish_warm(&self, id: &HostId, functions: &[String]) -> Result<bool> {
        if functions.len() > MAX_WARM_FUNCTIONS {
            return Err(ClusterError::Invalid(format!(
                "host {id} publishes {} warm functions, more than the limit of \
                 {MAX_WARM_FUNCTIONS}",
                functions.len()
            )));
        }
        if let Some(long) = functions.iter().find(|f| f.len() > MAX_FIELD_BYTES) {
            return Err(ClusterError::Invalid(format!(
                "warm function name `{long}` is longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
        let warm = warm_key(id);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(WARM_SCRIPT)
            .arg(2)
            .arg(host_key(id))
            .arg(&warm)
            .arg(functions);
        let written: u8 = self.run("publish warm functions", &warm, &cmd)?;
        Ok(written == 1)
    }

    /// Removes host `id` from the cluster at once (a clean stop).
    pub fn deregister(&self, id: &HostId) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zrem(hosts_key(), id.as_str())
            .del(host_key(id))
            .del(warm_key(id));
        self.run_pipeline::<()>("deregister", &host_key(id), &pipe)
    }

    /// The hosts whose lease is current, by id (at most [`MAX_LISTED_HOSTS`]).
    pub fn live_hosts(&self) -> Result<Vec<HostInfo>> {
        let hosts = hosts_key();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{NOW_MS}{LIST_SCRIPT}"))
            .arg(1)
            .arg(&hosts)
            .arg(format!("{PREFIX}host:"))
            .arg(format!("{PREFIX}warm:"))
            .arg(MAX_LISTED_HOSTS)
            .arg(MAX_WARM_FUNCTIONS)
            .arg(MAX_FIELD_BYTES);
        let reply: redis::Value = self.run("list hosts", &hosts, &cmd)?;
        let mut listed = parse_hosts(reply).map_err(|message| ClusterError::Reply {
            operation: "list hosts",
            key: hosts.clone(),
            message,
        })?;
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }
}

/// The hosts of a [`LIST_SCRIPT`] reply.
fn parse_hosts(reply: redis::Value) -> Result<Vec<HostInfo>, String> {
    let redis::Value::Array(entries) = reply else {
        return Err(format!("expected an array, got {reply:?}"));
    };
    entries.into_iter().map(parse_host).collect()
}

fn parse_host(entry: redis::Value) -> Result<HostInfo, String> {
    let redis::Value::Array(parts) = entry else {
        return Err("a host entry is not an array".to_owned());
    };
    let [id, fields, warm, left] = <[redis::Value; 4]>::try_from(parts)
        .map_err(|parts| format!("a host entry has {} parts, not 4", parts.len()))?;
    let text = |value: redis::Value| -> Result<String, String> {
        redis::from_redis_value::<String>(value).map_err(|e| e.to_string())
    };
    let id = HostId::new(&text(id)?).map_err(|e| e.to_string())?;
    let fields: Vec<String> = redis::from_redis_value(fields).map_err(|e| e.to_string())?;
    let field = |name: &str| -> Result<&str, String> {
        fields
            .chunks_exact(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str())
            .ok_or_else(|| format!("host {id} has no field `{name}`"))
    };
    let number = |name: &str| -> Result<u64, String> {
        field(name)?
            .parse()
            .map_err(|_| format!("host {id}: field `{name}` is not a number"))
    };
    let small = |name: &str| -> Result<u32, String> {
        u32::try_from(number(name)?).map_err(|_| format!("host {id}: field `{name}` too large"))
    };
    let mut warm: Vec<String> = redis::from_redis_value(warm).map_err(|e| e.to_string())?;
    warm.sort();
    let left: i64 = redis::from_redis_value(left).map_err(|e| e.to_string())?;
    Ok(HostInfo {
        addr: field("addr")?.to_owned(),
        workers: small("workers")?,
        capacity: small("capacity")?,
        started_ms: number("started_ms")?,
        epoch: number("epoch")?,
        // Written by every renewal of this version; a record without it reads as idle.
        in_flight: match field("in_flight") {
            Ok(_) => small("in_flight")?,
            Err(_) => 0,
        },
        lease_left: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
        warm,
        id,
    })
}

/// What the heartbeat thread and the registration share.
#[derive(Debug, Default)]
struct Heartbeat {
    stopping: bool,
    epoch: u64,
    /// The warm functions last published: published again when a lapsed lease is taken anew.
    warm: Vec<String>,
    /// The last renewal's error, cleared by a renewal that succeeds.
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<Heartbeat>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Heartbeat> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A host's membership: joined by [`Registration::join`], kept by a heartbeat thread that
/// renews the lease every third of it, ended by [`Registration::leave`] or by dropping it.
#[derive(Debug)]
pub struct Registration {
    id: HostId,
    cluster: Cluster,
    shared: Arc<Shared>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Registration {
    /// Registers this host (a new [`HostId`]) with `spec` for `lease` and starts its
    /// heartbeat, which publishes what `load` reads (if given); heartbeat failures go to `log`
    /// (and [`Registration::last_error`]). Fails if the first lease cannot be written.
    pub fn join(
        cluster: &Cluster,
        spec: HostSpec,
        lease: Duration,
        load: Option<LoadProbe>,
        log: Log,
    ) -> Result<Registration> {
        let id = HostId::generate();
        let started_ms = millis(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let in_flight = load.as_ref().map_or(0, |probe| probe());
        let first = cluster.renew_lease(&id, &spec, started_ms, in_flight, lease)?;
        let shared = Arc::new(Shared::default());
        shared.lock().epoch = first.epoch;
        let beat = HeartbeatLoop {
            id: id.clone(),
            cluster: cluster.another(),
            shared: Arc::clone(&shared),
            spec,
            started_ms,
            lease,
            load,
            log,
        };
        let heartbeat = std::thread::Builder::new()
            .name("faasm-heartbeat".to_owned())
            .spawn(move || beat.run())
            .map_err(|e| {
                ClusterError::Invalid(format!("cannot start the heartbeat thread: {e}"))
            })?;
        Ok(Registration {
            id,
            cluster: cluster.another(),
            shared,
            heartbeat: Some(heartbeat),
        })
    }

    /// This host's id.
    pub fn id(&self) -> &HostId {
        &self.id
    }

    /// The epoch of this host's current lease.
    pub fn epoch(&self) -> u64 {
        self.shared.lock().epoch
    }

    /// Why the last renewal failed, if it did (cleared by the next that succeeds).
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Publishes `functions` (`user/function`) as the ones this host holds warm, replacing
    /// what it published before.
    pub fn set_warm(&self, mut functions: Vec<String>) -> Result<()> {
        functions.sort();
        functions.dedup();
        let mut state = self.shared.lock();
        self.cluster.publish_warm(&self.id, &functions)?;
        state.warm = functions;
        Ok(())
    }

    /// Stops the heartbeat and removes this host from the cluster.
    pub fn leave(mut self) -> Result<()> {
        self.stop_heartbeat();
        self.cluster.deregister(&self.id)
    }

    fn stop_heartbeat(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.heartbeat.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.heartbeat.is_some() {
            self.stop_heartbeat();
            let _ = self.cluster.deregister(&self.id);
        }
    }
}

/// The heartbeat thread's part.
struct HeartbeatLoop {
    id: HostId,
    cluster: Cluster,
    shared: Arc<Shared>,
    spec: HostSpec,
    started_ms: u64,
    lease: Duration,
    load: Option<LoadProbe>,
    log: Log,
}

impl HeartbeatLoop {
    fn run(self) {
        let interval = self.lease / 3;
        loop {
            {
                let state = self.shared.lock();
                let (state, _) = self
                    .shared
                    .wake
                    .wait_timeout_while(state, interval, |s| !s.stopping)
                    .unwrap_or_else(PoisonError::into_inner);
                if state.stopping {
                    return;
                }
            }
            self.beat();
        }
    }

    fn beat(&self) {
        let in_flight = self.load.as_ref().map_or(0, |probe| probe());
        let renewed =
            self.cluster
                .renew_lease(&self.id, &self.spec, self.started_ms, in_flight, self.lease);
        let mut state = self.shared.lock();
        match renewed {
            Ok(lease) => {
                state.last_error = None;
                if lease.created {
                    self.log.say(format!(
                        "cluster: host {}'s lease had lapsed; rejoined with epoch {} (was {})",
                        self.id, lease.epoch, state.epoch
                    ));
                    state.epoch = lease.epoch;
                    if let Err(e) = self.cluster.publish_warm(&self.id, &state.warm) {
                        self.log.say(format!("cluster: {e}"));
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                if state.last_error.as_deref() != Some(message.as_str()) {
                    self.log
                        .say(format!("cluster: heartbeat failed: {message}"));
                }
                state.last_error = Some(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids_are_checked_and_generated_ones_differ() {
        assert!(HostId::new("host-1:8080").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(129)] {
            assert!(HostId::new(bad).is_err(), "{bad:?} was accepted");
        }
        let (a, b) = (HostId::generate(), HostId::generate());
        assert_ne!(a, b);
        assert!(HostId::new(a.as_str()).is_ok());
    }

    #[test]
    fn specs_and_leases_are_bounded_before_anything_is_written() {
        let spec = |addr: &str| HostSpec {
            addr: addr.to_owned(),
            workers: 2,
            capacity: 8,
        };
        assert!(check(&spec("127.0.0.1:8080"), Duration::from_secs(3)).is_ok());
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let error = check(&spec(&long), Duration::from_secs(3)).expect_err("too long");
        assert!(error.to_string().contains("1 to 256 bytes"), "{error}");
        assert!(check(&spec(""), Duration::from_secs(3)).is_err());
        let error = check(&spec("a:1"), Duration::from_millis(10)).expect_err("too short");
        assert!(error.to_string().contains("10ms"), "{error}");
    }
}
