//! One terminal connection, driven by one task: it reads frames, runs the requests of a
//! logged-in session side by side, and writes their answers.
//!
//! The hot path costs per connection, not per request: every frame a read returned is decoded
//! before the next read; a request's work is a future in the connection's own set (no task,
//! timer or channel of its own); the answers that are ready — a whole group commit's, for a
//! pipelining terminal — are encoded into one buffer and written with one `write`; one alarm
//! serves the connection's login deadline, idle timeout, request timeouts and a peer that stops
//! reading. Login and registration run inline, so nothing of a connection is processed before
//! its login is decided.
//!
//! A connection must log in within `login_timeout` of connecting: heartbeats (the v2 probe) and
//! registration are answered before login but do not extend it, so an outsider cannot hold a
//! connection slot with heartbeats alone.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actors::terminal_auth::TerminalSession;
use bytes::{Buf, BytesMut};
use futures::stream::{FuturesUnordered, Stream};
use metrics::{Counter, Histogram};
use protocol::{
    FrameCodec, FrameError, IdIssuerList, Login, MessageType, Request, Response, TerminalRegister, PROTOCOL_VERSION_1,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
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

/// The answers waiting to be written are kept below about this many bytes: past it the
/// connection reads no more requests until the terminal has read its answers.
const WRITE_BUFFER_MAX_BYTES: usize = 64 * 1024;
/// The write buffer at first; it grows to hold a batch.
const WRITE_BUFFER_INITIAL_BYTES: usize = 4096;
/// Frames decoded in one turn before the connection's answers are written and other
/// connections get the thread (a terminal that sends without pause cannot hold it).
const FRAMES_PER_TURN: usize = 256;

/// How long and how much input is read and thrown away before closing with an error.
const DRAIN_BEFORE_CLOSE: Duration = Duration::from_secs(1);
const DRAIN_BEFORE_CLOSE_BYTES: u64 = 1 << 20;

/// Serves one connection (its two halves: a TCP socket's, or a TLS stream's) until the peer
/// leaves, idles out, or breaks framing. `admission` holds the switch-wide in-flight slots
/// shared by all connections; a connection not logged in by `login_deadline` is closed.
pub async fn serve<R, W>(
    read_half: R,
    write_half: W,
    login_deadline: Instant,
    dispatcher: Arc<Dispatcher>,
    admission: Arc<Semaphore>,
    limits: TerminalLimits,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut connection = Connection::new(read_half, write_half, login_deadline, dispatcher.clone(), admission, limits);
    // Only requests before login come back here: they run inline, one at a time.
    while let Some(Inline { to, kind, started, request }) = poll_fn(|cx| connection.poll_turn(cx)).await {
        let answer = match request {
            InlineRequest::Login(login) => match dispatcher.login(login).await {
                Ok(s) => {
                    let ok = dispatcher.login_ok(&s);
                    tracing::info!(terminal = %s.terminal_id, session = s.session_id, "terminal logged in");
                    connection.session = Some(s);
                    ok
                }
                Err(refusal) => refusal,
            },
            // Registration comes before the first login (F10); decided before the next frame is
            // read, so a Login pipelined behind it finds the terminal registered.
            InlineRequest::Register(r) => dispatcher.setup.register_terminal(r).await,
            InlineRequest::IdIssuers(r) => dispatcher.setup.id_issuers(r).await,
        };
        connection.answer(to, kind, started, answer);
    }
    connection.close().await;
}

/// A request decided before login, handled by `serve` itself.
struct Inline {
    to: To,
    kind: &'static str,
    started: Instant,
    request: InlineRequest,
}

enum InlineRequest {
    Login(Login),
    Register(TerminalRegister),
    IdIssuers(IdIssuerList),
}

/// How reading frames in a turn stopped.
enum Read {
    /// The socket has no more for now (or reading has ended): it wakes the connection.
    Waiting,
    /// The turn's share of frames is used; more may wait.
    TurnUsed,
    /// The answers waiting to be written reached their bound.
    OutputFull,
    /// Reading ended in this turn.
    Ended,
    /// A request to handle inline before reading on.
    Inline(Box<Inline>),
}

/// A running request's work: its ticket and its answer, once the switch has decided it.
type Work = Pin<Box<dyn Future<Output = (u64, Response)>>>;

/// A request whose answer has not been queued yet.
struct Waiting {
    to: To,
    kind: &'static str,
    started: Instant,
}

/// Why the connection reads no more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Open,
    /// The peer closed, idled out or its socket failed.
    Ended,
    /// Framing broken or no login in time: an error frame is queued, and input is drained
    /// before closing so the kernel does not reset the connection under it.
    EndedWithError,
}

struct Connection<R, W> {
    frames: FramedRead<R, FrameCodec>,
    reading: Reading,
    out: W,
    /// Encoded answers not yet written.
    pending: BytesMut,
    /// Bytes went into `out` since its last flush (a TLS stream holds records until flushed).
    unflushed: bool,
    /// The peer stopped reading past the idle timeout, or the socket failed: answers are
    /// dropped from now on.
    write_broken: bool,
    /// Since when `pending` could not be written.
    write_stalled_since: Option<Instant>,
    running: FuturesUnordered<Work>,
    /// Running requests not answered yet, by ticket (the order they came in): the first is the
    /// next to time out. A request answered by its timeout leaves here but runs on.
    waiting: BTreeMap<u64, Waiting>,
    next_ticket: u64,
    session: Option<Arc<TerminalSession>>,
    login_deadline: Instant,
    last_frame_at: Instant,
    /// One timer for every deadline of the connection, armed no later than the earliest: when
    /// it fires, the deadlines are looked at and it is armed again (see `on_alarm`).
    alarm: Pin<Box<Sleep>>,
    alarm_at: Instant,
    meters: Meters,
    dispatcher: Arc<Dispatcher>,
    admission: Arc<Semaphore>,
    limits: TerminalLimits,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    fn new(
        read_half: R,
        write_half: W,
        login_deadline: Instant,
        dispatcher: Arc<Dispatcher>,
        admission: Arc<Semaphore>,
        limits: TerminalLimits,
    ) -> Self {
        let now = Instant::now();
        let alarm_at = login_deadline.min(now + limits.idle_timeout);
        Connection {
            frames: FramedRead::new(read_half, FrameCodec::new(limits.max_frame_len_bytes)),
            reading: Reading::Open,
            out: write_half,
            pending: BytesMut::with_capacity(WRITE_BUFFER_INITIAL_BYTES),
            unflushed: false,
            write_broken: false,
            write_stalled_since: None,
            running: FuturesUnordered::new(),
            waiting: BTreeMap::new(),
            next_ticket: 0,
            session: None,
            login_deadline,
            last_frame_at: now,
            alarm: Box::pin(tokio::time::sleep_until(alarm_at)),
            alarm_at,
            meters: Meters::default(),
            dispatcher,
            admission,
            limits,
        }
    }

    /// One turn: the answers of finished work, then the frames already received (requests
    /// started, immediate answers queued), then one write of everything queued, then the
    /// alarm. Ready with a request to handle inline (before login), or with None once the
    /// connection is done: nothing more to read, nothing running, everything written.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<Option<Inline>> {
        loop {
            self.poll_running(cx);
            let read = if self.reading == Reading::Open { self.poll_frames(cx) } else { Read::Waiting };
            if let Read::Inline(inline) = read {
                self.poll_write(cx);
                return Poll::Ready(Some(*inline));
            }
            // Requests just started are polled now: they reach their actors in this turn, and
            // answers decided meanwhile go out in the same write.
            self.poll_running(cx);
            self.poll_write(cx);
            if self.alarm.as_mut().poll(cx).is_ready() {
                self.on_alarm();
                continue;
            }
            let written = self.pending.is_empty() && !self.unflushed;
            if self.reading != Reading::Open && self.running.is_empty() && (written || self.write_broken) {
                return Poll::Ready(None);
            }
            match read {
                // More frames may wait: let other connections have the thread first.
                Read::TurnUsed => cx.waker().wake_by_ref(),
                // The write made room (or broke): read on. Otherwise the write wakes us.
                Read::OutputFull if self.pending.len() < WRITE_BUFFER_MAX_BYTES => continue,
                Read::Ended => continue,
                _ => {}
            }
            return Poll::Pending;
        }
    }

    /// Queues the answers of finished work.
    fn poll_running(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some((ticket, response))) = Pin::new(&mut self.running).poll_next(cx) {
            // Gone from `waiting`: answered by its timeout already.
            if let Some(w) = self.waiting.remove(&ticket) {
                self.answer(w.to, w.kind, w.started, response);
            }
        }
    }

    /// Decodes the frames already received, up to a turn's share.
    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Read {
        let mut now = None;
        for _ in 0..FRAMES_PER_TURN {
            if self.pending.len() >= WRITE_BUFFER_MAX_BYTES {
                // The terminal reads its answers slower than it sends: wait for the write.
                return Read::OutputFull;
            }
            let frame = match Pin::new(&mut self.frames).poll_next(cx) {
                Poll::Pending => return Read::Waiting,
                Poll::Ready(None) | Poll::Ready(Some(Err(FrameError::Io(_)))) => {
                    self.reading = Reading::Ended;
                    return Read::Ended;
                }
                Poll::Ready(Some(Err(FrameError::TooLarge { len, max }))) => {
                    return self.framing_broken(refusal::frame_too_large(len, max));
                }
                Poll::Ready(Some(Err(FrameError::TooShort { len }))) => {
                    return self.framing_broken(refusal::frame_too_short(len));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            // One clock read for the frames of one read: they arrived together.
            let started = *now.get_or_insert_with(Instant::now);
            self.last_frame_at = started;
            let to = To { corr: frame.corr_id, version: protocol::answer_version(frame.version) };
            // Counted under the type the frame names, so refused frames show in the metrics too.
            let kind = MessageType::from_u16(frame.msg_type).map_or("unknown", MessageType::name);
            // Decoding refuses unsupported versions and types the frame's version does not define.
            let request = match Request::decode(&frame) {
                Ok(r) => r,
                Err(e) => {
                    self.answer(to, kind, started, refusal::of_decode(&e));
                    continue;
                }
            };
            if let Some(request) = self.on_request(to, kind, started, request) {
                return Read::Inline(Box::new(Inline { to, kind, started, request }));
            }
        }
        Read::TurnUsed
    }

    /// Answers a request at once, starts its work, or hands it back to run inline.
    fn on_request(&mut self, to: To, kind: &'static str, started: Instant, request: Request) -> Option<InlineRequest> {
        let answer = match (&self.session, request) {
            (_, Request::Heartbeat) => Response::HeartbeatOk { server_time_ms: self.dispatcher.clock.now_ms() },
            (Some(_), Request::Login(_)) => refusal::already_logged_in("this connection is already logged in"),
            (None, Request::Login(login)) => return Some(InlineRequest::Login(login)),
            (Some(_), Request::TerminalRegister(_) | Request::IdIssuerList(_)) => {
                refusal::already_logged_in("registration happens before login")
            }
            (None, Request::TerminalRegister(r)) => return Some(InlineRequest::Register(r)),
            (None, Request::IdIssuerList(r)) => return Some(InlineRequest::IdIssuers(r)),
            (None, _) => refusal::not_logged_in(),
            (Some(session), request) => match self.admit() {
                Err(why) => refusal::busy(why),
                Ok(switch_slot) => {
                    let (dispatcher, session) = (self.dispatcher.clone(), session.clone());
                    let ticket = self.next_ticket;
                    self.next_ticket += 1;
                    // The switch-wide slot is held while the work runs inside the switch, also
                    // past its timeout, not while its answer waits for a terminal that reads
                    // slowly: a few terminals that stop reading must not take every slot.
                    self.running.push(Box::pin(async move {
                        let response = dispatcher.handle(session, request).await;
                        drop(switch_slot);
                        (ticket, response)
                    }));
                    self.waiting.insert(ticket, Waiting { to, kind, started });
                    self.arm_no_later_than(started + self.limits.request_timeout);
                    return None;
                }
            },
        };
        self.answer(to, kind, started, answer);
        None
    }

    /// A slot for one more request: its connection's (work running here, also past its
    /// timeout, until it ends) and the switch's; otherwise why the request is answered BUSY.
    fn admit(&self) -> Result<OwnedSemaphorePermit, &'static str> {
        if self.running.len() >= self.limits.max_in_flight_per_connection {
            return Err("too many requests in flight on this connection");
        }
        self.admission.clone().try_acquire_owned().map_err(|_| "the switch is at capacity; retry shortly")
    }

    /// Queues the error a broken frame gets and stops reading; the connection closes once the
    /// requests still running are answered.
    fn framing_broken(&mut self, error: Response) -> Read {
        self.queue(To::FRAMING, error);
        self.reading = Reading::EndedWithError;
        Read::Ended
    }

    /// Counts the answer and queues it for the next write, in its request's version: a code
    /// that version lacks becomes its stand-in.
    fn answer(&mut self, to: To, kind: &'static str, started: Instant, response: Response) {
        self.meters.record(kind, &response, started);
        self.queue(to, response);
    }

    /// Queues an answer without counting it (errors about the connection itself).
    fn queue(&mut self, to: To, response: Response) {
        if !self.write_broken {
            response.in_version(to.version).encode_frame(to.version, to.corr, &mut self.pending);
        }
    }

    /// Writes what is queued, as far as the socket takes it now.
    fn poll_write(&mut self, cx: &mut Context<'_>) {
        if self.write_broken {
            self.pending.clear();
            return;
        }
        while !self.pending.is_empty() {
            match Pin::new(&mut self.out).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    self.pending.advance(n);
                    self.unflushed = true;
                    self.write_stalled_since = None;
                }
                Poll::Ready(_) => return self.give_up_writing(),
                Poll::Pending => return self.note_write_stall(),
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.out).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(_)) => self.give_up_writing(),
                Poll::Pending => self.note_write_stall(),
            }
        }
    }

    fn note_write_stall(&mut self) {
        if self.write_stalled_since.is_none() {
            let now = Instant::now();
            self.write_stalled_since = Some(now);
            self.arm_no_later_than(now + self.limits.idle_timeout);
        }
    }

    /// The socket failed or the peer has not read its answers for the idle timeout: stop
    /// reading and drop the answers; work already running is still waited for.
    fn give_up_writing(&mut self) {
        self.write_broken = true;
        self.pending.clear();
        self.unflushed = false;
        if self.reading == Reading::Open {
            self.reading = Reading::Ended;
        }
    }

    /// Acts on every deadline passed, then arms the alarm for the next.
    fn on_alarm(&mut self) {
        let now = Instant::now();
        let limits = self.limits;
        if self.reading == Reading::Open {
            if self.session.is_none() && now >= self.login_deadline {
                metrics::counter!("switch_terminal_login_deadline_closed_total").increment(1);
                let why = refusal::login_deadline(limits.login_timeout);
                self.queue(To::FRAMING, why);
                self.reading = Reading::EndedWithError;
            } else if now >= self.last_frame_at + limits.idle_timeout {
                // Idle: the terminal stopped even its heartbeats.
                self.reading = Reading::Ended;
            }
        }
        while let Some(entry) = self.waiting.first_entry() {
            if entry.get().started + limits.request_timeout > now {
                break;
            }
            // The work runs on and keeps its slots: the terminal resends with the same seq.
            let Waiting { to, kind, started } = entry.remove();
            self.answer(to, kind, started, refusal::timeout());
        }
        if self.write_stalled_since.is_some_and(|since| now >= since + limits.idle_timeout) {
            self.give_up_writing();
        }

        let mut next = now + limits.idle_timeout;
        if self.reading == Reading::Open {
            next = next.min(self.last_frame_at + limits.idle_timeout);
            if self.session.is_none() {
                next = next.min(self.login_deadline);
            }
        }
        if let Some((_, w)) = self.waiting.first_key_value() {
            next = next.min(w.started + limits.request_timeout);
        }
        if let Some(since) = self.write_stalled_since {
            next = next.min(since + limits.idle_timeout);
        }
        self.alarm_at = next;
        self.alarm.as_mut().reset(next);
    }

    /// Makes sure the alarm goes off by `deadline` (it may go off earlier: `on_alarm` then
    /// finds nothing due and arms it again).
    fn arm_no_later_than(&mut self, deadline: Instant) {
        if deadline < self.alarm_at {
            self.alarm_at = deadline;
            self.alarm.as_mut().reset(deadline);
        }
    }

    /// After the last turn: the socket's write side closed; work still running (a connection
    /// whose peer went away) finishes on its own, keeping its switch-wide slots until it ends.
    async fn close(mut self) {
        if !self.running.is_empty() {
            let mut running = std::mem::take(&mut self.running);
            tokio::task::spawn_local(async move { while futures::StreamExt::next(&mut running).await.is_some() {} });
        }
        if !self.write_broken {
            let _ = tokio::time::timeout(self.limits.idle_timeout, self.out.shutdown()).await;
        }
        if self.reading == Reading::EndedWithError {
            // Closing with unread input makes the kernel send a reset, which can destroy the
            // error frame before the terminal reads it. Read and discard a little first.
            let mut rest = self.frames.into_inner().take(DRAIN_BEFORE_CLOSE_BYTES);
            let _ = tokio::time::timeout(DRAIN_BEFORE_CLOSE, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
        }
    }
}

/// The connection's handles of `switch_requests_total` and `switch_request_duration_seconds`,
/// looked up in the registry once per type and result rather than at every answer.
#[derive(Default)]
struct Meters {
    requests: Vec<(&'static str, &'static str, Counter)>,
    durations: Vec<(&'static str, Histogram)>,
}

impl Meters {
    /// Counts the answer by message type and result, and its latency.
    fn record(&mut self, kind: &'static str, response: &Response, started: Instant) {
        let result = match response {
            Response::Error(e) => e.code().map_or("UNKNOWN", protocol::ErrorCode::name),
            _ => "ok",
        };
        let counter = match self.requests.iter().position(|(k, r, _)| *k == kind && *r == result) {
            Some(i) => &self.requests[i].2,
            None => {
                let c = metrics::counter!("switch_requests_total", "type" => kind, "result" => result);
                self.requests.push((kind, result, c));
                &self.requests[self.requests.len() - 1].2
            }
        };
        counter.increment(1);
        let histogram = match self.durations.iter().position(|(k, _)| *k == kind) {
            Some(i) => &self.durations[i].1,
            None => {
                let h = metrics::histogram!("switch_request_duration_seconds", "type" => kind);
                self.durations.push((kind, h));
                &self.durations[self.durations.len() - 1].1
            }
        };
        histogram.record(started.elapsed().as_secs_f64());
    }
}
