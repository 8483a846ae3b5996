//! `loadtest tickets`: point tickets at full speed over protocol v3, then the proof.
//!
//! The demo's three (ウ) terminals (XX商工会) issue `count` tickets of the demo's first citizens;
//! then `terminals` (イ) terminals clear them all at once, every `duplicate_every`-th ticket also
//! from a second terminal, as if two shops handed in the same paper. The clearing phase is the
//! measured one. Afterwards: every ticket answered OK exactly once (the duplicates refused as
//! already cleared), every ticket reads 消込済, and each citizen's balance fell by exactly the
//! points of its tickets (issued, never given back).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use protocol::{AccountRef, ErrorCode, TerminalId, TicketClear, TicketIssue, TicketNo, TicketState};
use serde::Serialize;

use crate::client::{login_demo_with, ClientConfig, ClientError, SeqSource, TerminalClient};

/// The demo's (ウ) terminals.
const ISSUING_TERMINALS: [u32; 3] = [53059, 53060, 53061];
/// The demo's first (イ) terminal; clearing terminals are taken from here upwards.
const FIRST_CLEARING_TERMINAL: u32 = 52559;
/// The demo's (イ) terminals.
const CLEARING_TERMINALS_MAX: usize = 500;
/// Points per ticket: small, so a thousand tickets fit the demo citizens' balances.
const POINTS_PER_TICKET: u64 = 10;
/// Days a ticket is valid.
const VALID_DAYS: i64 = 7;
/// Retries of one request answered BUSY or TEMPORARY_FAILURE (same seq: safe).
const RETRIES_MAX: u32 = 50;
/// Requests in flight per terminal connection.
const IN_FLIGHT_PER_TERMINAL: usize = 16;
const LATENCY_US_MAX: u64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct TicketsConfig {
    pub addr: String,
    pub count: usize,
    /// Demo citizens the tickets are spread over (their first N).
    pub citizens: u64,
    /// (イ) terminals clearing at once.
    pub terminals: usize,
    /// Every N-th ticket is cleared a second time from another terminal (0: none).
    pub duplicate_every: usize,
    /// TLS towards the switch; None: plain TCP.
    pub tls: Option<crate::tls::TlsClient>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TicketsReport {
    pub command: Option<String>,
    pub tickets: usize,
    pub issued: usize,
    pub issue_seconds: f64,
    pub terminals: usize,
    /// Clearing requests sent (tickets plus duplicates).
    pub clear_requests: usize,
    /// Clearings answered OK.
    pub ok: usize,
    /// Duplicates refused as TICKET_ALREADY_CLEARED.
    pub duplicates_refused: usize,
    /// Anything else (after retries of BUSY and TEMPORARY_FAILURE).
    pub errors: usize,
    pub errors_by_code: BTreeMap<String, usize>,
    pub retries: usize,
    pub seconds: f64,
    /// Clearings answered OK per second.
    pub throughput_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The proof: each ticket OK once, 消込済, and the balances down by exactly the tickets.
    pub verified: bool,
    pub verification: String,
}

impl TicketsReport {
    pub fn success(&self) -> bool {
        self.verified && self.ok > 0 && self.errors == 0
    }

    pub fn to_text(&self) -> String {
        format!(
            "tickets issued {} of {} in {:.1} s\n\
             clearing: {} requests from {} terminals in {:.2} s: {} OK ({:.0}/s), {} duplicates refused, {} errors {:?}, {} retries\n\
             latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
             verification: {}\n",
            self.issued,
            self.tickets,
            self.issue_seconds,
            self.clear_requests,
            self.terminals,
            self.seconds,
            self.ok,
            self.throughput_per_s,
            self.duplicates_refused,
            self.errors,
            self.errors_by_code,
            self.retries,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.verification
        )
    }
}

fn municipal() -> AccountRef {
    "M141305".parse().expect("valid")
}

async fn login(config: &TicketsConfig, id: u32) -> anyhow::Result<(TerminalClient, u32)> {
    let addr = config.addr.as_str();
    let config =
        ClientConfig { max_in_flight: IN_FLIGHT_PER_TERMINAL * 4, tls: config.tls.clone(), ..ClientConfig::default() };
    let terminal = TerminalId::new(id).expect("demo ids");
    let (client, ok) = login_demo_with(addr, terminal, config).await.with_context(|| format!("login {terminal}"))?;
    Ok((client, ok.business_date))
}

/// Sends `call` again (same seq) while the switch answers BUSY or TEMPORARY_FAILURE.
async fn with_retries<T, F, Fut>(retries: &std::sync::atomic::AtomicUsize, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.code().is_some_and(ErrorCode::is_retryable) && attempt < RETRIES_MAX => {
                attempt += 1;
                retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

async fn balances(client: &TerminalClient, citizens: u64) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(citizens as usize);
    for i in 0..citizens {
        let card = client.card_read(&actors::demo::citizen(i).cert_serial).await.context("card read")?;
        out.push(card.accounts.iter().find(|a| a.account == municipal()).map_or(0, |a| a.balance));
    }
    Ok(out)
}

pub async fn run_tickets(config: &TicketsConfig) -> anyhow::Result<TicketsReport> {
    if config.terminals == 0 || config.terminals > CLEARING_TERMINALS_MAX || config.citizens == 0 {
        bail!("--terminals 1..={CLEARING_TERMINALS_MAX} and --citizens ≥ 1");
    }
    let retries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut issuers = Vec::new();
    let mut business_date = 0;
    for id in ISSUING_TERMINALS {
        let (client, date) = login(config, id).await?;
        business_date = date;
        issuers.push(Arc::new(client));
    }
    let before = balances(&issuers[0], config.citizens).await?;
    let expires_on = actors::clock::add_days(business_date, VALID_DAYS);

    // Issue.
    let seqs = Arc::new(SeqSource::new());
    let started = Instant::now();
    let issued: Vec<Option<(TicketNo, u64)>> = stream::iter(0..config.count)
        .map(|i| {
            let (client, seqs, retries) = (issuers[i % issuers.len()].clone(), seqs.clone(), retries.clone());
            let citizen = i as u64 % config.citizens;
            async move {
                let issue = TicketIssue {
                    seq: seqs.next(),
                    mykey_id: actors::demo::citizen(citizen).mykey_id,
                    account: municipal(),
                    points: POINTS_PER_TICKET,
                    expires_on,
                };
                with_retries(&retries, || client.ticket_issue(issue.clone()))
                    .await
                    .ok()
                    .map(|ok| (ok.ticket_no, citizen))
            }
        })
        .buffer_unordered(IN_FLIGHT_PER_TERMINAL * issuers.len())
        .collect()
        .await;
    let issue_seconds = started.elapsed().as_secs_f64();
    let tickets: Vec<(TicketNo, u64)> = issued.into_iter().flatten().collect();

    // Clear, from many terminals at once, with duplicates.
    let mut clearers = Vec::new();
    for t in 0..config.terminals {
        clearers.push(Arc::new(login(config, FIRST_CLEARING_TERMINAL + t as u32).await?.0));
    }
    // Every ticket from one terminal; every `duplicate_every`-th right behind from the next
    // terminal too, so the duplicate races its first clearing.
    let duplicates = config.duplicate_every > 0 && clearers.len() > 1;
    let mut requests: Vec<(usize, usize)> = Vec::with_capacity(tickets.len() * 2);
    for i in 0..tickets.len() {
        requests.push((i, i % clearers.len()));
        if duplicates && i % config.duplicate_every == 0 {
            requests.push((i, (i + 1) % clearers.len()));
        }
    }
    let clear_requests = requests.len();
    let started = Instant::now();
    let results: Vec<(usize, Result<bool, ClientError>, u64)> = stream::iter(requests)
        .map(|(i, t)| {
            let (client, seqs, retries) = (clearers[t].clone(), seqs.clone(), retries.clone());
            let ticket_no = tickets[i].0;
            async move {
                let seq = seqs.next();
                let sent = Instant::now();
                let answer = with_retries(&retries, || client.ticket_clear(TicketClear { seq, ticket_no }))
                    .await
                    .map(|ok| !ok.replayed);
                (i, answer, sent.elapsed().as_micros() as u64)
            }
        })
        .buffer_unordered(IN_FLIGHT_PER_TERMINAL * clearers.len())
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();

    let mut latency = Histogram::<u64>::new_with_bounds(1, LATENCY_US_MAX, 3).context("histogram")?;
    let mut report = TicketsReport {
        tickets: config.count,
        issued: tickets.len(),
        issue_seconds,
        terminals: clearers.len(),
        clear_requests,
        seconds,
        ..TicketsReport::default()
    };
    let mut cleared_once: HashMap<usize, usize> = HashMap::new();
    for (i, answer, micros) in results {
        let _ = latency.record(micros.clamp(1, LATENCY_US_MAX));
        match answer {
            Ok(_) => {
                report.ok += 1;
                *cleared_once.entry(i).or_default() += 1;
            }
            Err(e) if e.code() == Some(ErrorCode::TicketAlreadyCleared) => report.duplicates_refused += 1,
            Err(e) => {
                report.errors += 1;
                *report.errors_by_code.entry(e.kind_name()).or_default() += 1;
            }
        }
    }
    report.retries = retries.load(std::sync::atomic::Ordering::Relaxed);
    report.throughput_per_s = report.ok as f64 / seconds.max(1e-9);
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    (report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms) =
        (ms(0.5), ms(0.9), ms(0.99), latency.max() as f64 / 1000.0);

    // The proof.
    let mut problems = Vec::new();
    let twice = cleared_once.values().filter(|n| **n > 1).count();
    let never = tickets.len() - cleared_once.len();
    if twice > 0 || never > 0 {
        problems.push(format!("{twice} tickets answered OK twice, {never} never"));
    }
    let reader = &clearers[0];
    let states: Vec<Result<TicketState, ClientError>> = stream::iter(tickets.iter().map(|(n, _)| *n))
        .map(|n| async move { reader.ticket_lookup(n).await.map(|ok| ok.state) })
        .buffer_unordered(IN_FLIGHT_PER_TERMINAL)
        .collect()
        .await;
    let not_cleared = states.iter().filter(|s| !matches!(s, Ok(TicketState::Cleared))).count();
    if not_cleared > 0 {
        problems.push(format!("{not_cleared} tickets do not read 消込済"));
    }
    let after = balances(&issuers[0], config.citizens).await?;
    let mut expected_drop = vec![0u64; config.citizens as usize];
    for (_, citizen) in &tickets {
        expected_drop[*citizen as usize] += POINTS_PER_TICKET;
    }
    let wrong = (0..config.citizens as usize).filter(|c| before[*c] - after[*c] != expected_drop[*c]).count();
    if wrong > 0 {
        problems.push(format!("{wrong} citizens' balances did not fall by exactly their tickets"));
    }
    report.verified = problems.is_empty() && report.issued == config.count;
    report.verification = if report.verified {
        format!(
            "every ticket OK once ({} duplicates refused), all {} read 消込済, {} citizens' balances down by exactly {} points",
            report.duplicates_refused,
            tickets.len(),
            config.citizens,
            tickets.len() as u64 * POINTS_PER_TICKET
        )
    } else if report.issued != config.count {
        format!("only {} of {} tickets issued; {}", report.issued, config.count, problems.join("; "))
    } else {
        problems.join("; ")
    };
    Ok(report)
}
