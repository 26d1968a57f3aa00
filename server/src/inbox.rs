//! The calls other hosts of the cluster send to this one: a reader thread takes them from the
//! host's stream while the host has room, queues them on the scheduler like any other call,
//! and the thread that ends a call stores its result in the cluster (fenced by the epoch of
//! the lease under which the call was taken), which acknowledges the call; a completer thread
//! retries the results that could not be stored at once.

use crate::host::{Admitted, Host};
use faasm_cluster::calls::{Completion, DEFAULT_RESULT_KEEP, ForwardedCall, RemoteResult};
use faasm_cluster::{ClusterNode, HostId};
use faasm_scheduler::{CallResult, Failure};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one read of the stream waits for calls (and so how soon the reader sees a stop).
const READ_WAIT: Duration = Duration::from_millis(500);

/// The most calls one read takes.
const MAX_TAKEN: usize = 32;

/// How long the reader waits before reading again when the host has no room, or after an
/// error.
const FULL_PAUSE: Duration = Duration::from_millis(2);
const ERROR_PAUSE: Duration = Duration::from_millis(500);

/// How often the reader looks for calls of hosts that are gone (see
/// [`faasm_cluster::Cluster::claim_orphans`]).
const CLAIM_EVERY: Duration = Duration::from_millis(500);

/// How long storing a result is tried (through a Redis restart, say) before it is given up:
/// the call then stays pending under this host until it leaves and another claims it.
const COMPLETE_RETRY_FOR: Duration = Duration::from_secs(30);

/// A taken call, with the epoch of the lease it was taken under.
type Taken = (ForwardedCall, u64);

/// The reader and completer threads of a host in a cluster.
#[derive(Debug)]
pub(crate) struct Inbox {
    stop: Arc<AtomicBool>,
    /// Calls taken and not yet answered in the cluster.
    open: Arc<AtomicUsize>,
    reader: Option<JoinHandle<()>>,
    completer: Option<JoinHandle<()>>,
}

impl Inbox {
    /// Starts taking the calls sent to `id`, this host's id in `node`'s cluster.
    pub(crate) fn start(
        host: &Arc<Host>,
        node: Arc<ClusterNode>,
        id: HostId,
    ) -> std::io::Result<Inbox> {
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let (results, answered) = std::sync::mpsc::channel();
        let (fenced, to_rerun) = std::sync::mpsc::channel();
        let inline = Arc::new(AtomicBool::new(true));
        let completer = std::thread::Builder::new()
            .name("faasm-cluster-out".to_owned())
            .spawn({
                let (node, id, open) = (Arc::clone(&node), id.clone(), Arc::clone(&open));
                let (fenced, inline) = (fenced.clone(), Arc::clone(&inline));
                move || complete_calls(&node, &id, &answered, &fenced, &open, &inline)
            })?;
        let reader = Reader {
            host: Arc::downgrade(host),
            node,
            id,
            stop: Arc::clone(&stop),
            open: Arc::clone(&open),
            results,
            fenced,
            inline,
            to_rerun,
            waiting: Vec::new(),
        };
        let reader = std::thread::Builder::new()
            .name("faasm-cluster-in".to_owned())
            .spawn(move || reader.run())?;
        Ok(Inbox {
            stop,
            open,
            reader: Some(reader),
            completer: Some(completer),
        })
    }

    /// Stops taking calls and waits (at most `grace`) until those taken are answered; how
    /// many were not.
    pub(crate) fn drain(mut self, grace: Duration) -> usize {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let deadline = Instant::now() + grace;
        while self.open.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The reader's end dropped its sender; the completer ends once the calls' callbacks
        // have dropped theirs.
        let left = self.open.load(Ordering::Acquire);
        if left == 0
            && let Some(completer) = self.completer.take()
        {
            let _ = completer.join();
        }
        left
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The reader thread's side.
struct Reader {
    host: Weak<Host>,
    node: Arc<ClusterNode>,
    id: HostId,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    results: Sender<(Taken, RemoteResult)>,
    /// Calls whose results were refused because the lease they were taken under lapsed, to
    /// the reader (see `to_rerun`).
    fenced: Sender<Taken>,
    /// Whether results are stored on the thread that ends their call (see `run_call`).
    inline: Arc<AtomicBool>,
    /// Calls whose results were refused because the lease they were taken under lapsed.
    to_rerun: Receiver<Taken>,
    /// Those of them waiting for the host's new lease.
    waiting: Vec<Taken>,
}

impl Reader {
    fn run(mut self) {
        let node = Arc::clone(&self.node);
        let cluster = node.cluster();
        let mut connection = None;
        let mut last_claim = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let Some(host) = self.host.upgrade() else {
                return;
            };
            self.rerun_fenced(&host);
            if last_claim.elapsed() >= CLAIM_EVERY && host.room() > 0 {
                last_claim = Instant::now();
                self.claim_orphans(&host);
            }
            let room = host.room();
            if room == 0 {
                drop(host);
                std::thread::sleep(FULL_PAUSE);
                continue;
            }
            let con = match connection.as_mut() {
                Some(con) => con,
                None => match cluster.call_reader(&self.id, READ_WAIT) {
                    Ok(con) => connection.insert(con),
                    Err(error) => {
                        tracing::warn!("taking calls from the cluster: {error}");
                        drop(host);
                        std::thread::sleep(ERROR_PAUSE);
                        continue;
                    }
                },
            };
            let Some(epoch) = self.node.epoch() else {
                return;
            };
            match cluster.take_calls(con, &self.id, room.min(MAX_TAKEN), READ_WAIT) {
                Ok(calls) => {
                    for call in calls {
                        self.open.fetch_add(1, Ordering::AcqRel);
                        self.run_call(&host, (call, epoch));
                    }
                }
                Err(error) if error.to_string().contains("NOGROUP") => {
                    // Taken for a host that was gone (its lease lapsed while it was cut off
                    // or stopped), the stream was emptied and deleted: made again.
                    tracing::warn!("this host's stream of calls was deleted: making it again");
                    if let Err(error) = cluster.create_call_stream(&self.id) {
                        tracing::warn!("making this host's stream of calls: {error}");
                        std::thread::sleep(ERROR_PAUSE);
                    }
                }
                Err(error) => {
                    tracing::warn!("taking calls from the cluster: {error}");
                    connection = None;
                    drop(host);
                    std::thread::sleep(ERROR_PAUSE);
                }
            }
        }
    }

    /// Runs again, under the host's new lease, the calls whose results were refused because
    /// the lease they were taken under lapsed (the host was cut off or stopped): they are
    /// still pending under this host, which no other host claims from while it is live. A
    /// call answered elsewhere meanwhile keeps that answer.
    fn rerun_fenced(&mut self, host: &Arc<Host>) {
        self.waiting.extend(self.to_rerun.try_iter());
        if self.waiting.is_empty() {
            return;
        }
        let Some(epoch) = self.node.epoch() else {
            return;
        };
        let (stale, renewed): (Vec<Taken>, Vec<Taken>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(_, taken_under)| *taken_under == epoch);
        self.waiting = stale;
        for (call, _) in renewed {
            tracing::info!(call = call.id, "running again under this host's new lease");
            self.run_call(host, (call, epoch));
        }
    }

    /// Takes over and runs the calls of hosts whose leases lapsed.
    fn claim_orphans(&self, host: &Arc<Host>) {
        let (Some(epoch), Ok(live)) = (self.node.epoch(), self.node.live_hosts()) else {
            return;
        };
        let live: Vec<HostId> = live.into_iter().map(|h| h.id).collect();
        let count = host.room().min(MAX_TAKEN);
        match self.node.cluster().claim_orphans(&self.id, &live, count) {
            Ok(calls) => {
                for call in calls {
                    self.open.fetch_add(1, Ordering::AcqRel);
                    if let (false, Some(lost)) = (call.retryable, &call.claimed_from) {
                        tracing::info!(call = call.id, host = lost, "a call of a lost host ends");
                        let failure = format!(
                            "host {lost} was lost while it ran the call (not run again: the \
                             call was marked not to be retried)"
                        );
                        let result = RemoteResult {
                            return_value: 1,
                            failure: Some(failure),
                            host: lost.clone(),
                            ..RemoteResult::default()
                        };
                        let _ = self.results.send(((call, epoch), result));
                        continue;
                    }
                    tracing::info!(
                        call = call.id,
                        host = call.queue,
                        "running again a call of a host that is gone"
                    );
                    self.run_call(host, (call, epoch));
                }
            }
            Err(error) => tracing::warn!("claiming the calls of hosts that are gone: {error}"),
        }
    }

    /// Queues a taken call; its result goes to the completer when it ends.
    fn run_call(&self, host: &Arc<Host>, taken: Taken) {
        let call = &taken.0;
        let input = call.input.clone();
        let submitted = host.submit_forwarded(&call.user, &call.function, input, call.func_ptr);
        let admitted: Admitted = match submitted {
            Ok(admitted) => admitted,
            Err(error) => {
                let result = RemoteResult {
                    return_value: 1,
                    output: Vec::new(),
                    failure: Some(error.to_string()),
                    timed_out: false,
                    host: self.id.to_string(),
                };
                let _ = self.results.send((taken, result));
                return;
            }
        };
        let results = self.results.clone();
        let (node, id) = (Arc::clone(&self.node), self.id.clone());
        let (fenced, open) = (self.fenced.clone(), Arc::clone(&self.open));
        let inline = Arc::clone(&self.inline);
        host.when_ended(admitted, move |result| {
            let result = remote_result(&result, id.to_string());
            // The first attempt right here, on the thread that ended the call (a worker, or
            // the reader if the call had already ended): one Redis round trip, short as
            // `when_ended` asks while Redis answers, and no hand-off to the completer thread (a
            // wake-up) on the way back to the caller. A failed attempt goes to the completer, which retries; until one of its
            // attempts succeeds, results go straight to it (a worker does not wait out a
            // connection's timeout per call while Redis is away).
            if !inline.load(Ordering::Acquire) {
                let _ = results.send((taken, result));
                return;
            }
            match complete_once(&node, &id, &taken, &result) {
                Ok(rerun) => settle(rerun.then_some(taken), &fenced, &open),
                Err(error) => {
                    inline.store(false, Ordering::Release);
                    tracing::warn!(call = taken.0.id, "storing a call's result: {error}");
                    let _ = results.send((taken, result));
                }
            }
        });
    }
}

/// What the cluster keeps of a call's result: its failure only if the call did not answer
/// (a trap, a timeout, a call that could not start), as an HTTP client would see it.
pub(crate) fn remote_result(result: &CallResult, host: String) -> RemoteResult {
    let (failure, timed_out) = match &result.failure {
        None | Some(Failure::NonZero(_) | Failure::Exit(_)) => (None, false),
        Some(Failure::Timeout(_) | Failure::AwaitTimeout(_)) => {
            (Some(crate::routes::failure_text(result)), true)
        }
        Some(Failure::Remote { timed_out, .. }) => {
            (Some(crate::routes::failure_text(result)), *timed_out)
        }
        Some(Failure::Trap { .. } | Failure::Setup(_)) => {
            (Some(crate::routes::failure_text(result)), false)
        }
    };
    RemoteResult {
        return_value: result.return_value,
        output: result.output.clone(),
        failure,
        timed_out,
        host,
    }
}

/// Stores a call's result once, fenced by the epoch its call was taken under: `Ok(true)` if
/// the host's lease lapsed since it took the call (to run again under the new one).
fn complete_once(
    node: &ClusterNode,
    id: &HostId,
    (call, epoch): &Taken,
    result: &RemoteResult,
) -> Result<bool, faasm_cluster::ClusterError> {
    match node
        .cluster()
        .complete(id, *epoch, call, result, DEFAULT_RESULT_KEEP)?
    {
        Completion::Stored => Ok(false),
        Completion::AlreadyAnswered => {
            tracing::info!(call = call.id, "call answered already elsewhere");
            Ok(false)
        }
        Completion::Fenced => {
            tracing::warn!(
                call = call.id,
                "result of a call not stored: this host's lease lapsed after it took the call \
                 (another host may have run it again)"
            );
            Ok(true)
        }
    }
}

/// After a call's result was stored (or given up on): a call to run again stays open (the
/// reader has it, or has ended, and with it the host's part in the cluster).
fn settle(rerun: Option<Taken>, fenced: &Sender<Taken>, open: &AtomicUsize) {
    let still_open = rerun.is_some_and(|taken| fenced.send(taken).is_ok());
    if !still_open {
        open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The completer thread: stores the results whose first attempt failed (or was not made),
/// retrying for [`COMPLETE_RETRY_FOR`]; once it succeeds, results are stored where their calls
/// end again (`inline`).
fn complete_calls(
    node: &ClusterNode,
    id: &HostId,
    answered: &Receiver<(Taken, RemoteResult)>,
    fenced: &Sender<Taken>,
    open: &AtomicUsize,
    inline: &AtomicBool,
) {
    for (taken, result) in answered {
        let mut attempt = 0;
        let first = Instant::now();
        let rerun = loop {
            attempt += 1;
            match complete_once(node, id, &taken, &result) {
                Ok(rerun) => {
                    inline.store(true, Ordering::Release);
                    break rerun;
                }
                Err(error) if first.elapsed() < COMPLETE_RETRY_FOR => {
                    tracing::warn!(call = taken.0.id, "storing a call's result: {error}");
                    let pause = Duration::from_millis(50).saturating_mul(attempt);
                    std::thread::sleep(pause.min(Duration::from_secs(1)));
                }
                Err(error) => {
                    tracing::error!(
                        call = taken.0.id,
                        "result of a call not stored after {attempt} attempts: {error}"
                    );
                    break false;
                }
            }
        };
        settle(rerun.then_some(taken), fenced, open);
    }
}
