//! One terminal connection: a reader loop and a writer task.
//!
//! The reader decodes frames and answers what it can at once (heartbeats, errors); login runs
//! inline, so nothing of a connection is processed before its login is decided; after login,
//! each request runs as its own task so a terminal can pipeline. The writer gathers whatever
//! answers are ready into one buffer and writes them with one syscall.
//!
//! A connection must log in within `login_timeout` of connecting: heartbeats (the v2 probe) and
//! registration are answered before login but do not extend it, so an outsider cannot hold a
//! connection slot with heartbeats alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::terminal_auth::TerminalSession;
use bytes::BytesMut;
use futures::StreamExt;
use protocol::{FrameCodec, FrameError, MessageType, Request, Response, PROTOCOL_VERSION_1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::FramedRead;

use super::dispatch::Dispatcher;
use super::refusal;
use super::TerminalLimits;

/// Where an answer goes: the request's correlation id, in the request's protocol version.
#[derive(Debug, Clone, Copy)]
struct To {
    corr: u32,
    version: u8,
}

impl To {
    /// Framing errors: correlation id 0, always in v1 (the frame could not be read).
    const FRAMING: To = To { corr: 0, version: PROTOCOL_VERSION_1 };
}

type Outgoing = (To, Response);

/// Serves one connection (its two halves: a TCP socket's, or a TLS stream's) until the peer
/// leaves, idles out, or breaks framing. `admission` holds the switch-wide in-flight slots
/// shared by all connections; a connection not logged in by `login_deadline` is closed.
pub async fn serve<R, W>(
    read_half: R,
    write_half: W,
    login_deadline: tokio::time::Instant,
    dispatcher: Arc<Dispatcher>,
    admission: Arc<Semaphore>,
    limits: TerminalLimits,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut frames = FramedRead::new(read_half, FrameCodec::new(limits.max_frame_len_bytes));
    let (tx, rx) = mpsc::channel::<Outgoing>(limits.max_in_flight_per_connection + IMMEDIATE_ANSWERS_QUEUED);
    let writer = tokio::spawn(write_loop(write_half, rx, limits.idle_timeout));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight_per_connection));
    let mut session: Option<Arc<TerminalSession>> = None;
    // Closing with an error the terminal must read (framing broken, no login in time).
    let mut closing_with_error = false;

    loop {
        // Before login the wait ends at the login deadline too.
        let idle_until = tokio::time::Instant::now() + limits.idle_timeout;
        let until = if session.is_none() { idle_until.min(login_deadline) } else { idle_until };
        let next = match tokio::time::timeout_at(until, frames.next()).await {
            Ok(next) => next,
            Err(_) if session.is_none() && until == login_deadline => {
                metrics::counter!("switch_terminal_login_deadline_closed_total").increment(1);
                let why = refusal::login_deadline(limits.login_timeout);
                send_or_give_up(&tx, To::FRAMING, why, limits.idle_timeout).await;
                closing_with_error = true;
                break;
            }
            Err(_) => break, // idle: the terminal stopped even its heartbeats
        };
        let frame = match next {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::TooLarge { len, max })) => {
                let error = refusal::frame_too_large(len, max);
                send_or_give_up(&tx, To::FRAMING, error, limits.idle_timeout).await;
                closing_with_error = true;
                break;
            }
            Some(Err(FrameError::TooShort { len })) => {
                let error = refusal::frame_too_short(len);
                send_or_give_up(&tx, To::FRAMING, error, limits.idle_timeout).await;
                closing_with_error = true;
                break;
            }
            Some(Err(FrameError::Io(_))) => break,
        };
        let corr = To { corr: frame.corr_id, version: protocol::answer_version(frame.version) };
        let started = Instant::now();
        // Counted under the type the frame names, so refused frames show in the metrics too.
        let kind = MessageType::from_u16(frame.msg_type).map_or("unknown", MessageType::name);
        // Decoding refuses unsupported versions and types the frame's version does not define.
        let decoded = Request::decode(&frame).map_err(|e| refusal::of_decode(&e));
        let request = match decoded {
            Ok(r) => r,
            Err(refusal) => {
                record(kind, &refusal, started);
                if !send_or_give_up(&tx, corr, refusal, limits.idle_timeout).await {
                    break;
                }
                continue;
            }
        };
        let immediate = match (&session, request) {
            (_, Request::Heartbeat) => Some(Response::HeartbeatOk { server_time_ms: dispatcher.clock.now_ms() }),
            (Some(_), Request::Login(_)) => Some(refusal::already_logged_in("this connection is already logged in")),
            (None, Request::Login(login)) => match dispatcher.login(login).await {
                Ok(s) => {
                    let ok = dispatcher.login_ok(&s);
                    tracing::info!(terminal = %s.terminal_id, session = s.session_id, "terminal logged in");
                    session = Some(s);
                    Some(ok)
                }
                Err(refusal) => Some(refusal),
            },
            // Registration comes before the first login (F10); decided before the next frame is
            // read, so a Login pipelined behind it finds the terminal registered.
            (Some(_), Request::TerminalRegister(_) | Request::IdIssuerList(_)) => {
                Some(refusal::already_logged_in("registration happens before login"))
            }
            (None, Request::TerminalRegister(r)) => Some(dispatcher.setup.register_terminal(r).await),
            (None, Request::IdIssuerList(r)) => Some(dispatcher.setup.id_issuers(r).await),
            (None, _) => Some(refusal::not_logged_in()),
            (Some(s), request) => match admit(&in_flight, &admission) {
                Err(why) => Some(refusal::busy(why)),
                Ok((connection_slot, switch_slot)) => {
                    let (dispatcher, session, tx) = (dispatcher.clone(), s.clone(), tx.clone());
                    let (request_timeout, idle_timeout) = (limits.request_timeout, limits.idle_timeout);
                    tokio::task::spawn_local(async move {
                        let work = dispatcher.handle(session, request);
                        tokio::pin!(work);
                        // The switch-wide slot is held while the work runs inside the switch, not
                        // while its answer waits for a terminal that reads slowly: a few
                        // terminals that stop reading must not take every slot of the switch.
                        // The connection's slot is held until the answer is queued.
                        let response = tokio::select! {
                            response = &mut work => response,
                            _ = tokio::time::sleep(request_timeout) => {
                                let late = refusal::timeout();
                                record(kind, &late, started);
                                let answer = tokio::time::timeout(idle_timeout, tx.send((corr, late)));
                                let finish = async move {
                                    let _ = work.await;
                                    drop(switch_slot);
                                };
                                let (_, ()) = tokio::join!(answer, finish);
                                drop(connection_slot);
                                return;
                            }
                        };
                        drop(switch_slot);
                        record(kind, &response, started);
                        let _ = tokio::time::timeout(idle_timeout, tx.send((corr, response))).await;
                        drop(connection_slot);
                    });
                    None
                }
            },
        };
        if let Some(response) = immediate {
            record(kind, &response, started);
            if !send_or_give_up(&tx, corr, response, limits.idle_timeout).await {
                break;
            }
        }
    }
    drop(tx);
    // Answers of requests still running are written before the socket closes.
    let _ = writer.await;
    if closing_with_error {
        // Closing with unread input makes the kernel send a reset, which can destroy the error
        // frame before the terminal reads it. Read and discard a little first.
        let mut rest = frames.into_inner().take(DRAIN_BEFORE_CLOSE_BYTES);
        let _ = tokio::time::timeout(DRAIN_BEFORE_CLOSE, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
    }
}

/// Slots of one request: one of its connection's and one of the switch's, held until its work
/// ends; otherwise why the request is answered BUSY.
fn admit(
    connection: &Arc<Semaphore>,
    switch: &Arc<Semaphore>,
) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), &'static str> {
    let mine = connection.clone().try_acquire_owned().map_err(|_| "too many requests in flight on this connection")?;
    let shared = switch.clone().try_acquire_owned().map_err(|_| "the switch is at capacity; retry shortly")?;
    Ok((mine, shared))
}

/// Counts the answer by message type and result, and its latency.
fn record(kind: &'static str, response: &Response, started: Instant) {
    let result = match response {
        Response::Error(e) => e.code().map_or("UNKNOWN", protocol::ErrorCode::name),
        _ => "ok",
    };
    metrics::counter!("switch_requests_total", "type" => kind, "result" => result).increment(1);
    metrics::histogram!("switch_request_duration_seconds", "type" => kind).record(started.elapsed().as_secs_f64());
}

/// Room in a connection's answer queue beyond its in-flight requests: answers decided at once
/// (heartbeats, refusals, login) while every in-flight slot is taken.
const IMMEDIATE_ANSWERS_QUEUED: usize = 16;
/// The writer's buffer at first; it grows to hold a batch.
const WRITE_BUFFER_INITIAL_BYTES: usize = 4096;
/// Answers ready at once are gathered into one write up to about this many bytes.
const WRITE_BATCH_MAX_BYTES: usize = 64 * 1024;

/// How long and how much input is read and thrown away before closing with an error.
const DRAIN_BEFORE_CLOSE: Duration = Duration::from_secs(1);
const DRAIN_BEFORE_CLOSE_BYTES: u64 = 1 << 20;

/// Queues an answer for the writer; false when the peer has not read its answers for the idle
/// timeout (or is gone), so the connection should close rather than wait forever.
async fn send_or_give_up(tx: &mpsc::Sender<Outgoing>, corr: To, response: Response, patience: Duration) -> bool {
    matches!(tokio::time::timeout(patience, tx.send((corr, response))).await, Ok(Ok(())))
}

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Outgoing>, patience: Duration) {
    let mut buf = BytesMut::with_capacity(WRITE_BUFFER_INITIAL_BYTES);
    while let Some((to, response)) = rx.recv().await {
        // Each answer in its request's version: a code that version lacks becomes its stand-in.
        response.in_version(to.version).encode_frame(to.version, to.corr, &mut buf);
        // Batch whatever else is ready: one write for many pipelined answers.
        while buf.len() < WRITE_BATCH_MAX_BYTES {
            match rx.try_recv() {
                Ok((to, response)) => response.in_version(to.version).encode_frame(to.version, to.corr, &mut buf),
                Err(_) => break,
            }
        }
        // A peer that stops reading must not hold the connection: give up after the idle timeout.
        if !matches!(tokio::time::timeout(patience, out.write_all(&buf)).await, Ok(Ok(()))) {
            return;
        }
        buf.clear();
    }
    let _ = out.shutdown().await;
}
