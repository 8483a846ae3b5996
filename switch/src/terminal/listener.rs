//! Accepts terminal connections, at most `max_connections` at once.

use std::sync::Arc;

use bytes::BytesMut;
use protocol::PROTOCOL_VERSION_1;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::connection;
use super::dispatch::Dispatcher;
use super::refusal;
use super::TerminalLimits;

pub async fn accept_loop(listener: TcpListener, dispatcher: Arc<Dispatcher>, limits: TerminalLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let admission = Arc::new(Semaphore::new(limits.max_in_flight_total));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let (dispatcher, admission) = (dispatcher.clone(), admission.clone());
                tokio::task::spawn_local(async move {
                    metrics::gauge!("switch_terminal_connections").increment(1.0);
                    connection::serve(stream, dispatcher, admission, limits).await;
                    metrics::gauge!("switch_terminal_connections").decrement(1.0);
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, "connection refused: at max_connections");
                metrics::counter!("switch_terminal_connections_refused_total").increment(1);
                tokio::task::spawn_local(async move {
                    let mut buf = BytesMut::new();
                    refusal::busy("too many connections").encode_frame(PROTOCOL_VERSION_1, 0, &mut buf);
                    let _ = stream.write_all(&buf).await;
                    let _ = stream.shutdown().await;
                });
            }
        }
    }
}
