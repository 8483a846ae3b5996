//! PostgreSQL only: a batch costs one round trip whatever its size, three when it conflicts. Counted by a
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
fn a_batch_is_one_round_trip_whatever_its_size() {
    run(async {
        let e = fresh::<Postgres>(4096).await;
        let (pg, turns) = proxied_store(&e).await;
        let store: Arc<dyn Store> = pg.clone();
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
        // One by design: BEGIN, the checked writes, COMMIT. The first batch on a connection also
        // prepares its statements. A batch of megabytes is still being sent when the server
        // answers its first statements, which the proxy cannot tell from a second turn.
        assert!(first.is_some_and(|t| t <= 3), "first batch: {first:?}");
        for &(size, trips) in &measured {
            let allowed = if size >= 1024 { 2 } else { 1 };
            assert!(trips <= allowed, "{size} entries took {trips} round trips: {measured:?}");
        }
        // And every one of them really went the one-round-trip way.
        assert_eq!(ways(&pg), (9, 0, 0));
        assert_books_balance(&store).await;
    });
}

/// A batch the one-round-trip way refuses (here: a retried key already in the journal) is
/// decided entry by entry in two more: the retry answered as a duplicate, the rest committed.
#[test]
fn a_refused_batch_is_decided_entry_by_entry_in_two_more() {
    run(async {
        let e = fresh::<Postgres>(64).await;
        let (pg, turns) = proxied_store(&e).await;
        let store: Arc<dyn Store> = pg.clone();
        let mut n = Numbers::of(&store).await;
        let warm = n.batch((1..=64).map(|w| redeem(w, 1, &format!("W{w}"), 1)).collect());
        assert!(commit(&store, &warm).await.iter().all(|o| *o == Committed));
        let mut fewest = u64::MAX;
        for repeat in 0..3u64 {
            let retried = redeem(1, 2 + repeat, "W1", 1);
            let others = (2..=64).map(|w| redeem(w, 2 + repeat, &format!("R{repeat}:{w}"), 1));
            let batch = n.batch(std::iter::once(retried).chain(others).collect());
            let before = turns.0.load(Ordering::SeqCst);
            let outcomes = commit(&store, &batch).await;
            fewest = fewest.min(turns.0.load(Ordering::SeqCst) - before);
            assert_eq!(outcomes[0], DuplicateKey);
            assert!(outcomes[1..].iter().all(|o| *o == Committed), "{outcomes:?}");
            // The refused entry left wallet 1 where it was: the next plan is on the same version.
            assert_eq!(wallet(&store, 1).await.0, 2 + repeat);
            if repeat < 2 {
                let again = n.batch(vec![redeem(1, 2 + repeat, &format!("again{repeat}"), 1)]);
                assert_eq!(commit(&store, &again).await, vec![Committed]);
            }
        }
        eprintln!("fewest round trips of a refused batch: {fewest}");
        // The attempt, then the checked way's two (a first use also prepares its statements):
        // warm-up and the retries of "again" in one, the three refused batches decided after.
        assert_eq!(fewest, 3, "a refused batch took {fewest} round trips");
        assert_eq!(ways(&pg), (3, 3, 0));
        assert_books_balance(&store).await;
    });
}

/// Batches committed (in one round trip, checked after a refusal, checked by their shape).
fn ways(store: &PostgresStore) -> (u64, u64, u64) {
    let w = store.commit_ways();
    let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
    (get(&w.one_round_trip), get(&w.checked_after_refusal), get(&w.checked))
}

/// A store of its own on a loopback proxy that counts the client's turns.
async fn proxied_store(e: &Postgres) -> (Arc<PostgresStore>, Arc<Turns>) {
    let cluster =
        tokio::task::spawn_blocking(|| PrivateCluster::try_shared().map(|c| c.port())).await.unwrap().unwrap();
    let (port, turns) = proxy(cluster).await;
    let url = e.url().replace(&format!(":{cluster}/"), &format!(":{port}/"));
    let mut settings = PostgresSettings::for_test(&url);
    // The default: one batch at a time (the conformance cases run two at once).
    settings.pool_size = 1;
    settings.concurrent_commits = 1;
    (Arc::new(PostgresStore::connect(settings).await.unwrap()), turns)
}
