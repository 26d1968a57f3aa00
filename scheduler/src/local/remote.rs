//! Chained calls that run elsewhere: the hooks through which a cluster takes a guest's chained
//! call to another host. The scheduler asks its [`ChainPlacement`] where each chained call
//! goes; a call sent elsewhere keeps an id in its tree like any other, and its result comes
//! back through the [`SendCall`]'s callback, so awaits behave as for a local call.

use super::{CallRequest, CallResult};

/// Decides, for each chained call, whether it runs on this scheduler's workers or elsewhere.
pub trait ChainPlacement: Send + Sync {
    /// `None` to run a chained call of `user/function` here; otherwise what sends it. May
    /// block (it runs on the chaining guest's thread, inside its host call).
    fn elsewhere(&self, user: &str, function: &str) -> Option<Box<dyn SendCall>>;
}

/// Sends one chained call elsewhere.
pub trait SendCall: Send {
    /// Sends the call; `done` is called once with its result (its id is the scheduler's to
    /// set), or with a failure if it could not be sent or never answered. `done` must not
    /// block.
    fn send(self: Box<Self>, request: CallRequest, done: Box<dyn FnOnce(CallResult) + Send>);
}
