//! Accepts terminal connections: at most `max_connections` at once, and at most
//! `max_connections_per_address` from one address, so one outsider cannot take every slot.
//! Over TLS the handshake runs inside the connection's slot and must end within the login
//! deadline, which counts from the connect.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::PROTOCOL_VERSION_1;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::connection;
use super::dispatch::Dispatcher;
use super::refusal;
use super::TerminalLimits;
use crate::tls::Transport;

/// How long the accept loop pauses after a failed accept (out of file descriptors and the
/// like), rather than spinning on the error.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Open connections per peer address. The accept loop and its connections run on one thread
/// (`spawn_local`), so a `RefCell` suffices.
#[derive(Default, Clone)]
struct PerAddress(Rc<RefCell<HashMap<IpAddr, usize>>>);

/// One connection counted against its address until dropped.
struct AddressSlot {
    counts: PerAddress,
    address: IpAddr,
}

impl PerAddress {
    fn take(&self, address: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.borrow_mut();
        let open = counts.entry(address).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(AddressSlot { counts: self.clone(), address })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.borrow_mut();
        if let Some(open) = counts.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

pub async fn accept_loop(
    listener: TcpListener,
    transport: Transport,
    dispatcher: Arc<Dispatcher>,
    limits: TerminalLimits,
) {
    let tls = match transport {
        Transport::Plain => None,
        Transport::Tls(config) => Some(TlsAcceptor::from(config)),
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let admission = Arc::new(Semaphore::new(limits.max_in_flight_total));
    let per_address = PerAddress::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: at max_connections");
            refuse(stream, tls.is_some(), "max_connections", "too many connections");
            continue;
        };
        let Some(address_slot) = per_address.take(peer.ip(), limits.max_connections_per_address) else {
            tracing::warn!(%peer, "connection refused: at max_connections_per_address");
            refuse(stream, tls.is_some(), "per_address", "too many connections from this address");
            continue;
        };
        let (dispatcher, admission, tls) = (dispatcher.clone(), admission.clone(), tls.clone());
        tokio::task::spawn_local(async move {
            let login_deadline = tokio::time::Instant::now() + limits.login_timeout;
            metrics::gauge!("switch_terminal_connections").increment(1.0);
            // Pipelined small frames: Nagle must not hold an answer back waiting for an ACK.
            let _ = stream.set_nodelay(true);
            match tls {
                None => {
                    let (read, write) = stream.into_split();
                    connection::serve(read, write, login_deadline, dispatcher, admission, limits).await;
                }
                Some(acceptor) => match tokio::time::timeout_at(login_deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let (read, write) = tokio::io::split(tls);
                        connection::serve(read, write, login_deadline, dispatcher, admission, limits).await;
                    }
                    Ok(Err(e)) => {
                        // A plain client on a TLS port ends here too (its frame is no TLS record).
                        metrics::counter!("switch_terminal_tls_handshakes_failed_total", "reason" => "error")
                            .increment(1);
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        metrics::counter!("switch_terminal_tls_handshakes_failed_total", "reason" => "timeout")
                            .increment(1);
                    }
                },
            }
            metrics::gauge!("switch_terminal_connections").decrement(1.0);
            drop(address_slot);
            drop(permit);
        });
    }
}

/// Writes one Error BUSY with corr_id 0 on a connection past a limit and closes it, reading
/// nothing (SPEC §1.2). Over TLS it closes before the handshake, without a frame: a handshake
/// for every refused connection is the work the limit is there to refuse.
fn refuse(mut stream: TcpStream, tls: bool, reason: &'static str, message: &'static str) {
    metrics::counter!("switch_terminal_connections_refused_total", "reason" => reason).increment(1);
    if tls {
        drop(stream);
        return;
    }
    tokio::task::spawn_local(async move {
        let mut buf = BytesMut::new();
        refusal::busy(message).encode_frame(PROTOCOL_VERSION_1, 0, &mut buf);
        let _ = stream.write_all(&buf).await;
        let _ = stream.shutdown().await;
    });
}
