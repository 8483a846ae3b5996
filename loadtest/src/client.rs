//! A pipelined terminal client: one TCP connection, many requests in flight.
//!
//! Every method takes `&self`, so many tasks can share one [`TerminalClient`] (wrap it in an
//! `Arc`). A writer task owns the sending half of the framed socket and a reader task owns the
//! receiving half. Each request gets a fresh correlation id and parks a oneshot in the pending
//! map; the reader hands each response to the oneshot with the same id, in whatever order the
//! switch answers.
//!
//! When the connection ends, every parked request is failed at once with [`ClientError::Closed`]
//! (or [`ClientError::Io`]) and later requests fail immediately, so nothing waits for an answer
//! that cannot come. Every request is also bounded by [`ClientConfig::request_timeout`].

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use protocol::frame::{HEADER_AFTER_LENGTH_BYTES, LENGTH_PREFIX_BYTES};
use protocol::{
    is_supported_version, CardReadOk, ErrorBody, ErrorCode, Fingerprint, Frame, FrameCodec, FrameError, Login, LoginOk,
    Redeem, RedeemOk, Request, Response, TerminalId, TicketClear, TicketClearOk, TicketIssue, TicketIssueOk,
    TicketLookupOk, TicketNo, TicketReissue, TicketReissueOk, Void, VoidOk,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

pub use crate::seq::SeqSource;
pub use crate::tls::TlsClient;

/// Default bound on establishing the TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on waiting for one answer (queueing, sending and the switch's reply).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on requests in flight on one connection; further callers wait for a slot.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The correlation id of errors about the connection rather than one request; never used for
/// a request.
const CONNECTION_CORR_ID: u32 = 0;

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The switch answered with an error response.
    #[error("server error {}: {}", code_label(.0.code), .0.message)]
    Server(ErrorBody),
    /// The socket failed. For a request already sent, whether it was applied is unknown.
    #[error("i/o: {0}")]
    Io(io::Error),
    /// The connection closed before the answer arrived; whether it was applied is unknown.
    #[error("connection closed before the answer")]
    Closed,
    /// The switch sent something this client cannot interpret (wrong type, bad body).
    #[error("protocol: {0}")]
    Protocol(String),
    /// No answer within the configured time; whether it was applied is unknown.
    #[error("timed out waiting for the answer")]
    Timeout,
    /// `login_demo` was given a terminal id that is not in the demo fixture.
    #[error("terminal {0} is not a demo terminal")]
    NotDemoTerminal(TerminalId),
}

// Not `#[from]`: that would also make the io::Error the `source`, and reports that print the
// whole chain would then show its message twice.
impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

fn code_label(code: u16) -> String {
    match ErrorCode::from_u16(code) {
        Some(c) => c.to_string(),
        None => format!("UNKNOWN ({code})"),
    }
}

impl ClientError {
    /// The protocol error code of a [`ClientError::Server`] answer.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(body) => body.code(),
            _ => None,
        }
    }

    /// True when a mutating request may or may not have been applied: the caller must retry
    /// it with the same sequence number to learn its fate.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ClientError::Io(_) | ClientError::Closed | ClientError::Timeout | ClientError::Protocol(_))
    }

    /// A short stable name for counting: the error code name for server errors, otherwise
    /// `CLOSED`, `IO`, `TIMEOUT`, `PROTOCOL`, `NOT_DEMO_TERMINAL`.
    pub fn kind_name(&self) -> String {
        match self {
            ClientError::Server(body) => match body.code() {
                Some(code) => code.name().to_owned(),
                None => format!("CODE_{}", body.code),
            },
            ClientError::Io(_) => "IO".to_owned(),
            ClientError::Closed => "CLOSED".to_owned(),
            ClientError::Protocol(_) => "PROTOCOL".to_owned(),
            ClientError::Timeout => "TIMEOUT".to_owned(),
            ClientError::NotDemoTerminal(_) => "NOT_DEMO_TERMINAL".to_owned(),
        }
    }

    /// A copy for handing the same failure to many waiters (`io::Error` is not `Clone`).
    pub(crate) fn duplicate(&self) -> ClientError {
        match self {
            ClientError::Server(body) => ClientError::Server(body.clone()),
            ClientError::Io(e) => ClientError::Io(io::Error::new(e.kind(), e.to_string())),
            ClientError::Closed => ClientError::Closed,
            ClientError::Protocol(m) => ClientError::Protocol(m.clone()),
            ClientError::Timeout => ClientError::Timeout,
            ClientError::NotDemoTerminal(id) => ClientError::NotDemoTerminal(*id),
        }
    }
}

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    /// TLS towards the switch; None speaks plain TCP (a switch with `terminal.plain_tcp`).
    pub tls: Option<TlsClient>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            tls: None,
        }
    }
}

type Reply = Result<Response, ClientError>;

/// The pending map and the reason the connection ended, under one lock so a request can never
/// be parked after the map was drained.
struct Pending {
    waiters: HashMap<u32, oneshot::Sender<Reply>>,
    closed: Option<ClientError>,
}

struct Shared {
    pending: Mutex<Pending>,
    next_corr_id: AtomicU32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removals), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the connection: fails every parked request and refuses new ones.
    fn shut_down(&self, reason: ClientError) {
        let mut pending = self.lock();
        if pending.closed.is_none() {
            pending.closed = Some(reason.duplicate());
        }
        for (_, waiter) in pending.waiters.drain() {
            let _ = waiter.send(Err(reason.duplicate()));
        }
    }
}

/// Removes the parked oneshot when the request future is dropped (timeout or cancellation), so
/// a late answer finds no waiter and the map does not grow.
struct ParkedGuard<'a> {
    shared: &'a Shared,
    corr_id: u32,
}

impl Drop for ParkedGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().waiters.remove(&self.corr_id);
    }
}

/// One pipelined connection to the switch.
pub struct TerminalClient {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Frame>,
    in_flight: Semaphore,
    config: ClientConfig,
    reader: JoinHandle<()>,
}

impl Drop for TerminalClient {
    fn drop(&mut self) {
        // The writer ends by itself once `outgoing` is dropped; the reader would wait for the
        // server, so it is stopped here.
        self.reader.abort();
    }
}

impl TerminalClient {
    /// Connects with the default limits.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<TerminalClient, ClientError> {
        TerminalClient::connect_with(addr, ClientConfig::default()).await
    }

    /// Connects with the given limits (and TLS, when `config.tls` is set; the connect timeout
    /// covers the handshake too).
    pub async fn connect_with(addr: impl ToSocketAddrs, config: ClientConfig) -> Result<TerminalClient, ClientError> {
        let dial = async {
            let stream = TcpStream::connect(addr).await?;
            // Pipelined small frames: do not let Nagle hold a request back waiting for an ACK.
            stream.set_nodelay(true)?;
            match &config.tls {
                None => Ok::<_, io::Error>(TerminalClient::from_stream(stream, config.clone())),
                Some(tls) => Ok(TerminalClient::from_stream(tls.handshake(stream).await?, config.clone())),
            }
        };
        tokio::time::timeout(config.connect_timeout, dial).await.map_err(|_| ClientError::Timeout)?.map_err(Into::into)
    }

    /// Wraps an already connected stream, plain or TLS (tests, or a caller that dials itself).
    pub fn from_stream<S>(stream: S, config: ClientConfig) -> TerminalClient
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let max_in_flight = config.max_in_flight.max(1);
        let (sink, stream) = Framed::new(stream, FrameCodec::default()).split();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { waiters: HashMap::new(), closed: None }),
            next_corr_id: AtomicU32::new(1),
        });
        let (outgoing, rx) = mpsc::channel(max_in_flight);
        tokio::spawn(write_loop(sink, rx, shared.clone()));
        let reader = tokio::spawn(read_loop(stream, shared.clone()));
        TerminalClient { shared, outgoing, in_flight: Semaphore::new(max_in_flight), config, reader }
    }

    /// Whether the connection has ended; every request would now fail at once.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Sends one request and waits for its answer. An `Error` response becomes
    /// [`ClientError::Server`], so `Ok` never holds `Response::Error`.
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        let answer = tokio::time::timeout(self.config.request_timeout, self.exchange(request))
            .await
            .map_err(|_| ClientError::Timeout)??;
        match answer {
            Response::Error(body) => Err(ClientError::Server(body)),
            other => Ok(other),
        }
    }

    async fn exchange(&self, request: Request) -> Result<Response, ClientError> {
        let _slot = self.in_flight.acquire().await.map_err(|_| ClientError::Closed)?;
        let (tx, rx) = oneshot::channel();
        let corr_id = self.park(tx)?;
        let _guard = ParkedGuard { shared: &self.shared, corr_id };
        self.outgoing.send(encode(&request, corr_id)).await.map_err(|_| self.closed_reason())?;
        match rx.await {
            Ok(reply) => reply,
            // The waiter vanished without an answer: only a shut-down does that.
            Err(_) => Err(self.closed_reason()),
        }
    }

    fn park(&self, waiter: oneshot::Sender<Reply>) -> Result<u32, ClientError> {
        let mut pending = self.shared.lock();
        if let Some(reason) = &pending.closed {
            return Err(reason.duplicate());
        }
        // Ids wrap after 2^32 requests; skip one still waiting so answers cannot be crossed, and
        // skip 0, which the switch uses for errors about the connection itself.
        loop {
            let id = self.shared.next_corr_id.fetch_add(1, Ordering::Relaxed);
            if id == CONNECTION_CORR_ID {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = pending.waiters.entry(id) {
                slot.insert(waiter);
                return Ok(id);
            }
        }
    }

    fn closed_reason(&self) -> ClientError {
        match &self.shared.lock().closed {
            Some(reason) => reason.duplicate(),
            None => ClientError::Closed,
        }
    }

    /// Logs the terminal in; must be the first request on a connection.
    pub async fn login(
        &self,
        terminal_id: TerminalId,
        password: &str,
        fingerprint: Fingerprint,
    ) -> Result<LoginOk, ClientError> {
        let login = Login { terminal_id, password: password.to_owned(), fingerprint };
        match self.request(Request::Login(login)).await? {
            Response::LoginOk(ok) => Ok(ok),
            other => Err(unexpected("login_ok", &other)),
        }
    }

    /// Keeps the session alive; returns the switch's clock (Unix ms).
    pub async fn heartbeat(&self) -> Result<u64, ClientError> {
        match self.request(Request::Heartbeat).await? {
            Response::HeartbeatOk { server_time_ms } => Ok(server_time_ms),
            other => Err(unexpected("heartbeat_ok", &other)),
        }
    }

    /// Reads a card: the MyKey ID and the balances usable at this terminal.
    pub async fn card_read(&self, cert_serial: &str) -> Result<CardReadOk, ClientError> {
        let request = Request::CardRead { cert_serial: cert_serial.to_owned() };
        match self.request(request).await? {
            Response::CardReadOk(ok) => Ok(ok),
            other => Err(unexpected("card_read_ok", &other)),
        }
    }

    /// Uses points. Retrying with the same `seq` is safe and returns the first answer.
    pub async fn redeem(&self, redeem: Redeem) -> Result<RedeemOk, ClientError> {
        match self.request(Request::Redeem(redeem)).await? {
            Response::RedeemOk(ok) => Ok(ok),
            other => Err(unexpected("redeem_ok", &other)),
        }
    }

    /// Voids a same-day redemption. Retrying with the same `seq` is safe.
    pub async fn void(&self, void: Void) -> Result<VoidOk, ClientError> {
        match self.request(Request::Void(void)).await? {
            Response::VoidOk(ok) => Ok(ok),
            other => Err(unexpected("void_ok", &other)),
        }
    }

    /// Issues a point ticket (v3, a (ウ) terminal). Retrying with the same `seq` is safe.
    pub async fn ticket_issue(&self, issue: TicketIssue) -> Result<TicketIssueOk, ClientError> {
        match self.request(Request::TicketIssue(issue)).await? {
            Response::TicketIssueOk(ok) => Ok(ok),
            other => Err(unexpected("ticket_issue_ok", &other)),
        }
    }

    /// Reissues a point ticket under a new number (v3). Retrying with the same `seq` is safe.
    pub async fn ticket_reissue(&self, reissue: TicketReissue) -> Result<TicketReissueOk, ClientError> {
        match self.request(Request::TicketReissue(reissue)).await? {
            Response::TicketReissueOk(ok) => Ok(ok),
            other => Err(unexpected("ticket_reissue_ok", &other)),
        }
    }

    /// A point ticket's details (v3).
    pub async fn ticket_lookup(&self, ticket_no: TicketNo) -> Result<TicketLookupOk, ClientError> {
        match self.request(Request::TicketLookup { ticket_no }).await? {
            Response::TicketLookupOk(ok) => Ok(ok),
            other => Err(unexpected("ticket_lookup_ok", &other)),
        }
    }

    /// Clears a point ticket (v3). Retrying with the same `seq` is safe.
    pub async fn ticket_clear(&self, clear: TicketClear) -> Result<TicketClearOk, ClientError> {
        match self.request(Request::TicketClear(clear)).await? {
            Response::TicketClearOk(ok) => Ok(ok),
            other => Err(unexpected("ticket_clear_ok", &other)),
        }
    }
}

/// Connects and logs in as a demo terminal with the fixture's password and fingerprint.
pub async fn login_demo(
    addr: impl ToSocketAddrs,
    terminal_id: TerminalId,
) -> Result<(TerminalClient, LoginOk), ClientError> {
    login_demo_with(addr, terminal_id, ClientConfig::default()).await
}

/// [`login_demo`] with explicit connection limits.
pub async fn login_demo_with(
    addr: impl ToSocketAddrs,
    terminal_id: TerminalId,
    config: ClientConfig,
) -> Result<(TerminalClient, LoginOk), ClientError> {
    let (password, fingerprint) =
        crate::demo::credentials(terminal_id).ok_or(ClientError::NotDemoTerminal(terminal_id))?;
    let client = TerminalClient::connect_with(addr, config).await?;
    let ok = client.login(terminal_id, &password, fingerprint).await?;
    Ok((client, ok))
}

fn unexpected(wanted: &str, got: &Response) -> ClientError {
    ClientError::Protocol(format!("expected {wanted}, got {}", got.msg_type().name()))
}

/// Builds the frame for the codec, in the oldest protocol version that defines the request (a
/// redemption in v1, a ticket in v3), so the client works with every server that has the
/// message. `Request` only knows how to write a whole frame, so the header it wrote is cut off
/// again; the codec writes its own.
fn encode(request: &Request, corr_id: u32) -> Frame {
    let version = request.msg_type().since();
    let mut buf = BytesMut::with_capacity(64);
    request.encode_frame(version, corr_id, &mut buf);
    let body = buf.split_off(LENGTH_PREFIX_BYTES + HEADER_AFTER_LENGTH_BYTES).freeze();
    Frame { version, msg_type: request.msg_type().as_u16(), corr_id, body }
}

type FrameSink<S> = futures::stream::SplitSink<Framed<S, FrameCodec>, Frame>;
type FrameStream<S> = futures::stream::SplitStream<Framed<S, FrameCodec>>;

/// Writes frames in batches: everything already queued is encoded before one flush, so a busy
/// pipeline costs one write system call per batch rather than per request.
async fn write_loop<S: AsyncRead + AsyncWrite>(
    mut sink: FrameSink<S>,
    mut rx: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
) {
    while let Some(frame) = rx.recv().await {
        let mut result = sink.feed(frame).await;
        while result.is_ok() {
            match rx.try_recv() {
                Ok(frame) => result = sink.feed(frame).await,
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = sink.flush().await;
        }
        if let Err(error) = result {
            shared.shut_down(frame_error(error));
            return;
        }
    }
    // Every handle is gone: close our side politely.
    let _ = sink.close().await;
}

async fn read_loop<S: AsyncRead + AsyncWrite>(mut stream: FrameStream<S>, shared: Arc<Shared>) {
    let mut connection_error: Option<ErrorBody> = None;
    let reason = loop {
        match stream.next().await {
            None => break ClientError::Closed,
            Some(Err(error)) => break frame_error(error),
            Some(Ok(frame)) if frame.corr_id == CONNECTION_CORR_ID => {
                if let Ok(Response::Error(body)) = Response::decode(&frame) {
                    connection_error = Some(body);
                }
            }
            Some(Ok(frame)) => deliver(&shared, frame),
        }
    };
    // The switch refuses a connection at capacity with BUSY on correlation id 0 before it reads
    // anything, so nothing sent on it was applied: a definite, retryable answer. Other
    // connection-level errors (bad framing) can follow applied requests: outcome unknown.
    let reason = match connection_error {
        Some(body) if body.code().is_some_and(ErrorCode::is_retryable) => ClientError::Server(body),
        _ => reason,
    };
    shared.shut_down(reason);
}

fn deliver(shared: &Shared, frame: Frame) {
    let Some(waiter) = shared.lock().waiters.remove(&frame.corr_id) else {
        // An answer nobody waits for: its request timed out.
        return;
    };
    let reply = if !is_supported_version(frame.version) {
        Err(ClientError::Protocol(format!("answer in protocol version {}", frame.version)))
    } else {
        Response::decode(&frame).map_err(|e| ClientError::Protocol(e.to_string()))
    };
    let _ = waiter.send(reply);
}

fn frame_error(error: FrameError) -> ClientError {
    match error {
        FrameError::Io(e) => ClientError::Io(e),
        other => ClientError::Protocol(other.to_string()),
    }
}
