//! One terminal connection: a reader loop and a writer task.
//!
//! The reader decodes frames and answers what it can at once (heartbeats, errors); login runs
//! inline, so nothing of a connection is processed before its login is decided; after login,
//! each request runs as its own task so a terminal can pipeline. The writer gathers whatever
//! answers are ready into one buffer and writes them with one syscall.

use std::sync::Arc;

use actors::terminal_auth::TerminalSession;
use bytes::BytesMut;
use futures::StreamExt;
use protocol::{ErrorCode, FrameCodec, FrameError, Request, Response, PROTOCOL_VERSION_1};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::FramedRead;

use super::dispatch::Dispatcher;
use super::TerminalLimits;

type Outgoing = (u32, Response);

/// Serves one connection until the peer leaves, idles out, or breaks framing.
pub async fn serve(stream: TcpStream, dispatcher: Arc<Dispatcher>, limits: TerminalLimits) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::new(limits.max_frame_len_bytes));
    let (tx, rx) = mpsc::channel::<Outgoing>(limits.max_in_flight_per_connection + 16);
    let writer = tokio::spawn(write_loop(write_half, rx));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight_per_connection));
    let mut session: Option<Arc<TerminalSession>> = None;

    loop {
        let next = match tokio::time::timeout(limits.idle_timeout, frames.next()).await {
            Ok(next) => next,
            Err(_) => break, // idle: the terminal stopped even its heartbeats
        };
        let frame = match next {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::TooLarge { len, max })) => {
                let _ = tx
                    .send((0, Response::error(ErrorCode::FrameTooLarge, format!("frame length {len} exceeds {max}"))))
                    .await;
                break;
            }
            Some(Err(FrameError::TooShort { len })) => {
                let _ = tx
                    .send((0, Response::error(ErrorCode::MalformedFrame, format!("frame length {len} is below 7"))))
                    .await;
                break;
            }
            Some(Err(FrameError::Io(_))) => break,
        };
        let corr = frame.corr_id;
        if frame.version != PROTOCOL_VERSION_1 {
            let msg = format!("protocol version {} is not supported; this server speaks 1", frame.version);
            if tx.send((corr, Response::error(ErrorCode::UnsupportedVersion, msg))).await.is_err() {
                break;
            }
            continue;
        }
        let request = match Request::decode(&frame) {
            Ok(r) => r,
            Err(e) => {
                if tx.send((corr, Response::error(e.error_code(), e.to_string()))).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let immediate = match (&session, request) {
            (_, Request::Heartbeat) => Some(Response::HeartbeatOk { server_time_ms: dispatcher.clock.now_ms() }),
            (Some(_), Request::Login(_)) => {
                Some(Response::error(ErrorCode::AlreadyLoggedIn, "this connection is already logged in"))
            }
            (None, Request::Login(login)) => match dispatcher.login(login).await {
                Ok(s) => {
                    let ok = dispatcher.login_ok(&s);
                    tracing::info!(terminal = %s.terminal_id, session = s.session_id, "terminal logged in");
                    session = Some(s);
                    Some(ok)
                }
                Err(refusal) => Some(refusal),
            },
            (None, _) => Some(Response::error(ErrorCode::NotLoggedIn, "log in first")),
            (Some(s), request) => match in_flight.clone().try_acquire_owned() {
                Err(_) => Some(Response::error(ErrorCode::Busy, "too many requests in flight on this connection")),
                Ok(permit) => {
                    let (dispatcher, session, tx) = (dispatcher.clone(), s.clone(), tx.clone());
                    tokio::task::spawn_local(async move {
                        let response = dispatcher.handle(session, request).await;
                        let _ = tx.send((corr, response)).await;
                        drop(permit);
                    });
                    None
                }
            },
        };
        if let Some(response) = immediate {
            if tx.send((corr, response)).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    // Answers of requests still running are written before the socket closes.
    let _ = writer.await;
}

async fn write_loop(mut out: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>) {
    let mut buf = BytesMut::with_capacity(4096);
    while let Some((corr, response)) = rx.recv().await {
        response.encode_frame(PROTOCOL_VERSION_1, corr, &mut buf);
        // Batch whatever else is ready: one write for many pipelined answers.
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok((corr, response)) => response.encode_frame(PROTOCOL_VERSION_1, corr, &mut buf),
                Err(_) => break,
            }
        }
        if out.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = out.shutdown().await;
}
