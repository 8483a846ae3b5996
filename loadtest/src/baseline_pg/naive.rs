//! The design a municipality would otherwise build: every redemption is its own PostgreSQL
//! transaction — a guarded balance `UPDATE` and a journal `INSERT`, committed — one per
//! client connection at a time. It lives in its own schema so it never touches the switch's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio_postgres::{Client, NoTls};

use crate::redeem::new_latency_histogram;

const SCHEMA: &str = "naive_baseline";
/// Enough that no run empties a balance: the comparison is about commits, not refusals.
const OPENING_BALANCE: i64 = 1_000_000_000;

/// What the naive side did.
#[derive(Debug)]
pub struct NaiveOutcome {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    /// The server's `synchronous_commit`: "on" means every COMMIT waited for its WAL flush.
    pub synchronous_commit: String,
}

impl NaiveOutcome {
    pub fn per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("baseline-pg: connection ended: {e}");
        }
    });
    Ok(client)
}

/// Creates the naive tables afresh with one balance per citizen.
pub async fn prepare(url: &str, mykeys: &[String]) -> Result<String, tokio_postgres::Error> {
    let client = connect(url).await?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
             CREATE SCHEMA {SCHEMA};
             CREATE TABLE {SCHEMA}.balances (
                 mykey_id text PRIMARY KEY,
                 balance  bigint NOT NULL CHECK (balance >= 0)
             );
             CREATE TABLE {SCHEMA}.journal (
                 entry_id   bigserial PRIMARY KEY,
                 idem_key   text NOT NULL UNIQUE,
                 mykey_id   text NOT NULL,
                 points     bigint NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await?;
    client
        .execute(&format!("INSERT INTO {SCHEMA}.balances SELECT unnest($1::text[]), $2"), &[&mykeys, &OPENING_BALANCE])
        .await?;
    client.batch_execute(&format!("ANALYZE {SCHEMA}.balances")).await?;
    let sync: String = client.query_one("SHOW synchronous_commit", &[]).await?.get(0);
    Ok(sync)
}

pub async fn drop_schema(url: &str) -> Result<(), tokio_postgres::Error> {
    connect(url).await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await
}

/// `clients` connections, each redeeming `points` from random citizens one transaction at a
/// time until `duration` has passed.
pub async fn run(
    url: &str,
    mykeys: Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
    points: i64,
    synchronous_commit: String,
) -> Result<NaiveOutcome, tokio_postgres::Error> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(connect(url).await?);
    }
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let (mykeys, errors) = (mykeys.clone(), errors.clone());
            tokio::spawn(async move { client_loop(n, client, &mykeys, deadline, points, &errors).await })
        })
        .collect();
    let mut latency_us = new_latency_histogram();
    let mut ok = 0;
    for worker in workers {
        match worker.await {
            Ok(Ok((n, h))) => {
                ok += n;
                let _ = latency_us.add(&h);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(NaiveOutcome {
        ok,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latency_us,
        synchronous_commit,
    })
}

async fn client_loop(
    n: usize,
    mut client: Client,
    mykeys: &[String],
    deadline: Instant,
    points: i64,
    errors: &AtomicU64,
) -> Result<(u64, Histogram<u64>), tokio_postgres::Error> {
    let debit = client
        .prepare(&format!("UPDATE {SCHEMA}.balances SET balance = balance - $2 WHERE mykey_id = $1 AND balance >= $2"))
        .await?;
    let append = client
        .prepare(&format!("INSERT INTO {SCHEMA}.journal (idem_key, mykey_id, points) VALUES ($1, $2, $3)"))
        .await?;
    let mut latency_us = new_latency_histogram();
    let mut ok = 0u64;
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let mykey = &mykeys[rand::random_range(0..mykeys.len())];
        let key = format!("C{n}:{seq}");
        let began = Instant::now();
        let tx = client.transaction().await?;
        let debited = tx.execute(&debit, &[mykey, &points]).await?;
        if debited != 1 {
            errors.fetch_add(1, Ordering::Relaxed);
            tx.rollback().await?;
            continue;
        }
        tx.execute(&append, &[&key, mykey, &points]).await?;
        tx.commit().await?;
        ok += 1;
        let _ = latency_us.record(began.elapsed().as_micros() as u64);
    }
    Ok((ok, latency_us))
}
