//! PostgreSQL only: a batch costs the same few round trips whatever its size. Counted by a
//! loopback proxy between the store and the server: a round trip is the client speaking again
//! after the server answered.

use super::*;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use switch::store::postgres::cluster::PrivateCluster;
use switch::store::postgres::PostgresSettings;
use switch::store::PostgresStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Client turns over all proxied connections.
struct Turns(AtomicU64);

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    client: bool,
    last: Arc<AtomicU8>,
    turns: Arc<Turns>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client {
            if last.swap(1, Ordering::SeqCst) != 1 {
                turns.0.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            last.store(2, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

async fn proxy(server_port: u16) -> (u16, Arc<Turns>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let turns = Arc::new(Turns(AtomicU64::new(0)));
    let counted = turns.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(("127.0.0.1", server_port)).await.unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let last = Arc::new(AtomicU8::new(0));
            tokio::spawn(pump(cr, sw, true, last.clone(), counted.clone()));
            tokio::spawn(pump(sr, cw, false, last, counted.clone()));
        }
    });
    (port, turns)
}

#[test]
fn a_batch_is_a_few_round_trips_whatever_its_size() {
    run(async {
        let e = fresh::<Postgres>(4096).await;
        let cluster =
            tokio::task::spawn_blocking(|| PrivateCluster::try_shared().map(|c| c.port())).await.unwrap().unwrap();
        let (port, turns) = proxy(cluster).await;
        let url = e.url().replace(&format!(":{cluster}/"), &format!(":{port}/"));
        let mut settings = PostgresSettings::for_test(&url);
        settings.pool_size = 1;
        let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(settings).await.unwrap());
        let mut n = Numbers::of(&store).await;
        let mut versions = vec![1u64; 4097];
        // The proxy counts a turn whenever the client sends after the server answered, so a
        // pipeline that leaves in two writes (the connection task runs on another thread) or a
        // batch of megabytes still being sent when the first insert is answered counts one more.
        // Such noise only adds: each size runs three times and its fewest turns count.
        let mut measured = Vec::new();
        let mut first = None;
        for size in [1u64, 64, 4096] {
            let mut fewest = u64::MAX;
            for repeat in 0..3 {
                let entries = (1..=size).map(|w| {
                    let v = versions[w as usize];
                    versions[w as usize] += 1;
                    redeem(w, v, &format!("RT{size}.{repeat}:{w}"), 1)
                });
                let batch = n.batch(entries.collect());
                let before = turns.0.load(Ordering::SeqCst);
                assert!(commit(&store, &batch).await.iter().all(|o| *o == Committed));
                let trips = turns.0.load(Ordering::SeqCst) - before;
                first.get_or_insert(trips);
                fewest = fewest.min(trips);
            }
            measured.push((size, fewest));
        }
        eprintln!("first batch {first:?}; fewest round trips per batch (entries, round trips): {measured:?}");
        // Two by design: BEGIN + locks + reads; writes + COMMIT. The first batch on a connection
        // also prepares its statements.
        assert!(first.is_some_and(|t| t <= 5), "first batch: {first:?}");
        for (size, trips) in &measured {
            assert!(*trips <= 2, "{size} entries took {trips} round trips: {measured:?}");
        }
    });
}
