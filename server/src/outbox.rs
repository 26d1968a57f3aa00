//! The calls this host sends to other hosts of the cluster and awaits: its guests' chained
//! calls (through the scheduler's [`ChainPlacement`], placing each by the same rule as a call
//! over HTTP) and synchronous HTTP calls placed elsewhere. It owns the registry of calls sent
//! and not yet answered, and a watcher thread that reads this host's results stream (one
//! blocking read for all of them, no polling) and hands each result over: to the chained
//! call's slot, so the guest's await ends as for a local call, or to the waiting handler.
//! A call is sent and registered under the registry's lock (one Redis round trip), so sends
//! from one host go out one at a time.

use crate::host::{Host, Placement};
use faasm_cluster::calls::{Outgoing, RemoteResult};
use faasm_cluster::{ClusterNode, HostId};
use faasm_scheduler::{CallRequest, CallResult, ChainPlacement, Failure, SendCall};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one read of the results stream waits (and so how soon the watcher sees a stop).
const READ_WAIT: Duration = Duration::from_millis(500);

/// What runs when a sent call's result comes back (or why none will).
pub(crate) type Answered = Box<dyn FnOnce(Result<RemoteResult, String>) + Send>;

/// A call sent and not yet answered.
struct Sent {
    done: Answered,
    to: HostId,
    /// When it was sent; past the host's give-up time it fails.
    at: Instant,
}

/// Calls sent to other hosts and not yet answered, by cluster call id.
#[derive(Default)]
pub(crate) struct Outbox {
    sent: Mutex<HashMap<u64, Sent>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("sent", &lock(&self.sent).len())
            .finish()
    }
}

impl Outbox {
    /// Calls sent to each host and not yet answered (what a host's heartbeat does not show
    /// yet).
    pub(crate) fn outstanding(&self) -> HashMap<HostId, u32> {
        let mut counts = HashMap::new();
        for sent in lock(&self.sent).values() {
            *counts.entry(sent.to.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Sends `call` from host `me` to host `to`; `done` gets its result once the watcher
    /// reads it, or is given back with the error if the call did not go out. The call is
    /// sent and registered under one lock: the watcher, which takes it to hand a result over,
    /// cannot see the result before the call is registered. Blocking (a Redis round trip).
    pub(crate) fn send(
        &self,
        node: &ClusterNode,
        me: &HostId,
        to: &HostId,
        call: &Outgoing<'_>,
        done: Answered,
    ) -> Result<u64, (faasm_cluster::ClusterError, Answered)> {
        let mut sent = lock(&self.sent);
        match node.cluster().forward_call(to, me, call) {
            Ok(id) => {
                let (to, at) = (to.clone(), Instant::now());
                sent.insert(id, Sent { done, to, at });
                Ok(id)
            }
            Err(error) => Err((error, done)),
        }
    }

    /// Hands call `id`'s result to its sender, if it is still waiting.
    fn answer(&self, id: u64, result: Result<RemoteResult, String>) {
        if let Some(sent) = lock(&self.sent).remove(&id) {
            (sent.done)(result);
        }
    }

    /// Fails the calls sent longer than `give_up` ago.
    fn give_up_older_than(&self, give_up: Duration) {
        let expired: Vec<(u64, Sent)> = {
            let mut sent = lock(&self.sent);
            let ids: Vec<u64> = sent
                .iter()
                .filter(|(_, s)| s.at.elapsed() > give_up)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| sent.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (id, sent) in expired {
            let message = format!(
                "call {id} sent to host {} has no result after {give_up:?}",
                sent.to
            );
            (sent.done)(Err(message));
        }
    }
}

/// The scheduler's placement of chained calls, over a host in a cluster.
pub(crate) struct ClusterChains {
    pub(crate) host: Weak<Host>,
}

impl ChainPlacement for ClusterChains {
    fn elsewhere(&self, user: &str, function: &str) -> Option<Box<dyn SendCall>> {
        let host = self.host.upgrade()?;
        match host.place_chained(user, function) {
            Placement::Here => None,
            Placement::There(to) => Some(Box::new(SendElsewhere {
                host,
                to,
                user: user.to_owned(),
                function: function.to_owned(),
            })),
        }
    }
}

/// Sends one chained call to host `to`.
struct SendElsewhere {
    host: Arc<Host>,
    to: HostId,
    user: String,
    function: String,
}

impl SendCall for SendElsewhere {
    fn send(self: Box<Self>, request: CallRequest, done: Box<dyn FnOnce(CallResult) + Send>) {
        let answered: Answered = Box::new(move |result| {
            done(call_result(result));
        });
        let call = Outgoing {
            user: &self.user,
            function: &self.function,
            input: &request.input,
            func_ptr: request.func_ptr,
            retryable: true,
        };
        if let Err((error, answered)) = self.host.forward_answered(&self.to, &call, answered) {
            answered(Err(format!(
                "sending the call to host {}: {error}",
                self.to
            )));
        }
    }
}

/// The watcher thread.
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts reading the results stream of `id` (this host) for the calls in `outbox`;
    /// those without a result after `give_up` fail.
    pub(crate) fn start(
        node: Arc<ClusterNode>,
        id: HostId,
        outbox: Arc<Outbox>,
        give_up: Duration,
    ) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("faasm-cluster-results".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                move || watch(&node, &id, &outbox, give_up, &stop)
            })?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(node: &ClusterNode, id: &HostId, outbox: &Outbox, give_up: Duration, stop: &AtomicBool) {
    let cluster = node.cluster();
    // The host's id is new with the process: its stream holds only its own calls' results.
    let mut last = "0".to_owned();
    let mut connection = None;
    while !stop.load(Ordering::Acquire) {
        outbox.give_up_older_than(give_up);
        let con = match connection.as_mut() {
            Some(con) => con,
            None => match cluster.call_reader(id, READ_WAIT) {
                Ok(con) => connection.insert(con),
                Err(error) => {
                    tracing::warn!("watching for the results of calls sent elsewhere: {error}");
                    std::thread::sleep(READ_WAIT);
                    continue;
                }
            },
        };
        let ids = match cluster.watch_results(con, id, &last, READ_WAIT) {
            Ok((ids, read_to)) => {
                last = read_to;
                ids
            }
            Err(error) => {
                tracing::warn!("watching for the results of calls sent elsewhere: {error}");
                connection = None;
                std::thread::sleep(READ_WAIT);
                continue;
            }
        };
        for (call, inline) in ids {
            let result = match inline {
                Some(result) => Ok(result),
                None => match cluster.call_result(call) {
                    Ok(Some(result)) => Ok(result),
                    Ok(None) => Err(format!("the result of call {call} expired")),
                    Err(error) => Err(format!("reading the result of call {call}: {error}")),
                },
            };
            outbox.answer(call, result);
        }
    }
}

/// What another host answered (or why it will not) as the scheduler holds results.
pub(crate) fn call_result(answer: Result<RemoteResult, String>) -> CallResult {
    answer.map_or_else(failed, local_result)
}

/// A result from another host as the scheduler holds results.
fn local_result(result: RemoteResult) -> CallResult {
    let failure = match result.failure {
        Some(message) => Some(Failure::Remote {
            host: result.host,
            message,
            timed_out: result.timed_out,
        }),
        None if result.return_value != 0 => Some(Failure::NonZero(result.return_value)),
        None => None,
    };
    CallResult {
        return_value: result.return_value,
        output: result.output,
        failure,
        ..CallResult::default()
    }
}

fn failed(message: String) -> CallResult {
    CallResult {
        return_value: 1,
        failure: Some(Failure::Setup(message)),
        ..CallResult::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
