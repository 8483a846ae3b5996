//! Asking an actor with a bounded mailbox without ever waiting for room in it.
//!
//! Request-path messages carry their own reply channel and go in with `try_send`: a full
//! mailbox becomes an immediate BUSY answer instead of an unbounded wait (actix's `send`
//! parks until there is room; `do_send` ignores the bound altogether).

use actix::dev::ToEnvelope;
use actix::prelude::*;
use tokio::sync::oneshot;

use crate::error::SwitchError;

/// The reply channel carried by request messages.
pub type Reply<T> = oneshot::Sender<Result<T, SwitchError>>;

/// Sends the message built around a fresh reply channel and waits for the answer.
/// A full mailbox answers [`SwitchError::Busy`]; a stopped actor or a dropped reply means the
/// request was never processed, so [`SwitchError::TemporaryFailure`].
pub async fn ask<A, M, T>(addr: &Addr<A>, make: impl FnOnce(Reply<T>) -> M) -> Result<T, SwitchError>
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message<Result = ()> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    match addr.try_send(make(tx)) {
        Ok(()) => {}
        Err(SendError::Full(_)) => return Err(SwitchError::Busy),
        Err(SendError::Closed(_)) => return Err(SwitchError::TemporaryFailure),
    }
    rx.await.unwrap_or(Err(SwitchError::TemporaryFailure))
}

/// Answers a reply channel, ignoring a caller that has gone away (its connection closed).
pub fn answer<T>(reply: Reply<T>, result: Result<T, SwitchError>) {
    let _ = reply.send(result);
}
