//! Request bodies on the HTTP side: who may send one, how much, and how slowly.
//!
//! actix-web times a request's head and the keep-alive, not its body, and extractors read the
//! whole body before a handler can look at the caller. So every request passes this guard
//! first:
//!
//! - **Deadlines.** A body that sends nothing for `http.body_idle_timeout_s`, or is not complete
//!   `http.body_timeout_s` after the head, ends with 408 `body-timeout` (the stream the handler
//!   reads fails; the connection is not kept).
//! - **Authentication before the body.** The caller is known from the head alone: a live
//!   bearer session, a partner API key that verifies (the partner is kept in the request for
//!   the handler), or a web screen's session cookie. Anyone else is *anonymous*: their body may
//!   be at most `http.anonymous_body_max_bytes` (logins, card proofs, web forms need far less;
//!   a larger declared length is answered before a byte is read: 401 when credentials were
//!   offered and failed, else 413), and at most `http.anonymous_bodies_max` anonymous bodies
//!   are read at once (503 `busy` with Retry-After beyond that).
//!
//! Limits of authenticated bodies are the handlers' own (JSON 256 KiB, 様式I 32 MiB, ID-link
//! files `partners.id_link_file_max_bytes`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage, ResponseError};
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::api::auth::bearer;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::web::session::{session_token, Console};

/// Limits of request bodies (config `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub anonymous_bodies_max: usize,
    pub anonymous_body_max_bytes: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            idle_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(600),
            anonymous_bodies_max: 64,
            anonymous_body_max_bytes: 64 * 1024,
        }
    }
}

/// The guard's state, one per switch (shared by the HTTP workers).
pub struct BodyGuard {
    limits: BodyLimits,
    anonymous: Arc<Semaphore>,
}

impl BodyGuard {
    pub fn new(limits: BodyLimits) -> BodyGuard {
        BodyGuard { anonymous: Arc::new(Semaphore::new(limits.anonymous_bodies_max.max(1))), limits }
    }
}

/// Who sent the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Authenticated,
    /// Offered a bearer token or a session cookie that did not verify.
    BadCredentials,
    Anonymous,
}

async fn caller(req: &ServiceRequest, api: &ApiState) -> Caller {
    let http = req.request();
    let now = api.now();
    let cookies = [Console::MyPage, Console::Municipal, Console::Partner].map(|c| session_token(http, c));
    if cookies.iter().flatten().any(|token| api.sessions.principal(token, now).is_some()) {
        return Caller::Authenticated;
    }
    match bearer(http) {
        Some(token) if api.sessions.principal(token, now).is_some() => Caller::Authenticated,
        // Not a session: a partner's API key, or nothing that verifies.
        Some(_) => match api.partner(http).await {
            Ok(partner) => {
                http.extensions_mut().insert(partner);
                Caller::Authenticated
            }
            Err(_) => Caller::BadCredentials,
        },
        None if cookies.iter().any(Option::is_some) => Caller::BadCredentials,
        None => Caller::Anonymous,
    }
}

/// Whether the head announces a body.
fn declared_body(req: &ServiceRequest) -> Option<Option<u64>> {
    let headers = req.headers();
    if headers.contains_key(TRANSFER_ENCODING) {
        return Some(None);
    }
    let length = headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    (length > 0).then_some(Some(length))
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn guard_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let guard = req.app_data::<Data<BodyGuard>>().cloned();
    let api = req.app_data::<Data<ApiState>>().cloned();
    let (Some(guard), Some(api), Some(declared)) = (guard, api, declared_body(&req)) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let limits = guard.limits;
    let mut body = GuardedBody::new(req.take_payload(), limits);
    let caller = caller(&req, &api).await;
    if caller != Caller::Authenticated {
        let refuse = |req: ServiceRequest, problem: Problem| {
            let response = problem.error_response();
            Ok(req.into_response(response).map_into_boxed_body())
        };
        if declared.is_some_and(|n| n > limits.anonymous_body_max_bytes) {
            metrics::counter!("switch_http_bodies_refused_total", "reason" => "anonymous_too_large").increment(1);
            return match caller {
                Caller::BadCredentials => refuse(req, Problem::unauthorized()),
                _ => refuse(req, Problem::of(ProblemCode::BodyTooLarge)),
            };
        }
        let Ok(permit) = guard.anonymous.clone().try_acquire_owned() else {
            metrics::counter!("switch_http_bodies_refused_total", "reason" => "anonymous_busy").increment(1);
            return refuse(req, Problem::of(ProblemCode::Busy).detail("too many anonymous uploads").retry_after(1));
        };
        body.max_bytes = Some(limits.anonymous_body_max_bytes);
        body.permit = Some(permit);
    }
    req.set_payload(Payload::Stream { payload: Box::pin(body) });
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// A request body read under the guard's deadlines and, for anonymous callers, its size bound
/// and one of the anonymous slots (given back when the body ends or is dropped).
struct GuardedBody {
    inner: Payload,
    idle_timeout: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    max_bytes: Option<u64>,
    read: u64,
    permit: Option<OwnedSemaphorePermit>,
    done: bool,
}

impl GuardedBody {
    fn new(inner: Payload, limits: BodyLimits) -> GuardedBody {
        let now = Instant::now();
        let deadline = now + limits.total_timeout;
        GuardedBody {
            inner,
            idle_timeout: limits.idle_timeout,
            deadline,
            timer: Box::pin(tokio::time::sleep_until((now + limits.idle_timeout).min(deadline))),
            max_bytes: None,
            read: 0,
            permit: None,
            done: false,
        }
    }

    fn end(&mut self, last: Option<Result<Bytes, PayloadError>>) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.done = true;
        self.permit = None;
        Poll::Ready(last)
    }
}

impl Stream for GuardedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len() as u64;
                if this.max_bytes.is_some_and(|max| this.read > max) {
                    return this.end(Some(Err(PayloadError::Overflow)));
                }
                let next = (Instant::now() + this.idle_timeout).min(this.deadline);
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => this.end(Some(Err(e))),
            Poll::Ready(None) => this.end(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    metrics::counter!("switch_http_bodies_refused_total", "reason" => "timeout").increment(1);
                    let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out");
                    this.end(Some(Err(PayloadError::Io(late))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
