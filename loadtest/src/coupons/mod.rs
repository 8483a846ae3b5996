//! `loadtest coupons`: the coupon burst against `switch demo` over its HTTP API. The demo
//! partner issues M coupons in several requests while N logged-in demo citizens redeem them,
//! C at a time; then the run proves what it did: every coupon redeemed once (the partner's own
//! download), a second attempt refused as used (and answered again to its redeemer), and the
//! citizens' balances grown by exactly the value issued.
//!
//! - [`api`]: the HTTP calls, typed.
//! - [`report`]: the figures as text and JSON.
//!
//! Batches are named `loadtest-<run id>-<n>` with a random run id, so a second run against the
//! same demo issues new coupons rather than being answered the first run's.

pub mod api;
pub mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Mutex};

use crate::http::HttpClient;
use crate::redeem::new_latency_histogram;
use api::{ApiError, IssueRequest, Issued};
pub use report::{CouponsReport, CouponsVerification};

/// What a run does.
#[derive(Debug, Clone)]
pub struct CouponsConfig {
    /// The switch's HTTP address.
    pub addr: String,
    /// HTTPS towards it (`--tls-ca`, `--tls-name`); None: plain HTTP.
    pub tls: Option<crate::tls::TlsClient>,
    /// Demo citizens who log in and redeem (the first N of the demo).
    pub citizens: u64,
    /// Coupons to issue and redeem.
    pub coupons: usize,
    /// Redemptions in flight at once, one connection each.
    pub concurrency: usize,
    /// Coupons per issuance request.
    pub per_request: usize,
    /// Issuance requests in flight at once.
    pub issuers: usize,
    /// Coupons tried a second time, by another citizen (refused) and by their redeemer (replayed).
    pub reuse_sample: usize,
    /// Sends of one call when the connection fails or the switch is busy.
    pub attempts: u32,
}

impl CouponsConfig {
    pub fn new(addr: impl Into<String>) -> CouponsConfig {
        CouponsConfig {
            addr: addr.into(),
            tls: None,
            citizens: 200,
            coupons: 20_000,
            concurrency: 64,
            per_request: 1_000,
            issuers: 2,
            reuse_sample: 100,
            attempts: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CouponsError {
    #[error("the run needs at least one citizen, one coupon, one coupon per request and concurrency 1")]
    Config,
    #[error("demo citizen {index} could not log in on the my page: {source}")]
    Login { index: u64, source: ApiError },
}

struct Citizen {
    token: String,
    before: u64,
}

/// What the redeeming workers did together.
struct RedeemTally {
    ok: u64,
    replayed: u64,
    credited: u64,
    /// Answers crediting another amount than the coupon's value.
    wrong_amount: u64,
    errors: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
    /// (code, citizen index) of each redeemed coupon.
    redeemed: Vec<(String, usize)>,
}

impl RedeemTally {
    fn new() -> RedeemTally {
        RedeemTally {
            ok: 0,
            replayed: 0,
            credited: 0,
            wrong_amount: 0,
            errors: BTreeMap::new(),
            latency_us: new_latency_histogram(),
            redeemed: Vec::new(),
        }
    }

    fn merge(&mut self, other: RedeemTally) {
        self.ok += other.ok;
        self.replayed += other.replayed;
        self.credited += other.credited;
        self.wrong_amount += other.wrong_amount;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        let _ = self.latency_us.add(&other.latency_us);
        self.redeemed.extend(other.redeemed);
    }
}

/// What the issuers did together.
#[derive(Default)]
struct IssueTally {
    requests: u64,
    coupons: u64,
    value: u64,
    errors: BTreeMap<String, u64>,
    batches: Vec<String>,
}

/// Evaluates `$call` (an awaited API call) until it succeeds, fails for good, or was sent
/// `$attempts` times. A macro, because the call borrows a connection mutably on every send.
macro_rules! with_resends {
    ($attempts:expr, $call:expr) => {{
        let mut sent = 0u32;
        loop {
            sent += 1;
            match $call {
                Err(e) if e.is_transient() && sent < $attempts => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(sent))).await;
                }
                other => break other,
            }
        }
    }};
}

fn today_in_japan() -> u32 {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    actors::clock::jst_date(now_ms)
}

/// The batches of a run: `coupons` split into requests of `per_request`, their values and
/// destinations varied (reserved, 川崎市, the demo event in turn) so every kind of credit is in
/// the load.
pub fn plan_batches(run_id: &str, coupons: usize, per_request: usize, today: u32) -> Vec<IssueRequest> {
    let destinations =
        [None, Some(actors::demo::KAWASAKI_CODE.to_owned()), Some(actors::demo::DEMO_EVENT_CODE.to_owned())];
    let per_request = per_request.max(1);
    (0..coupons.div_ceil(per_request))
        .map(|n| IssueRequest {
            batch: format!("loadtest-{run_id}-{n}"),
            value: 100 + (n as u64 % 7) * 50,
            count: per_request.min(coupons - n * per_request),
            expires_on: actors::clock::add_days(today, 30),
            destination: destinations[n % destinations.len()].clone(),
        })
        .collect()
}

async fn log_in(config: &CouponsConfig) -> Result<Vec<Citizen>, CouponsError> {
    // Logins hash a password on the switch (argon2): a few at a time is all it can take anyway.
    let logins = stream::iter(0..config.citizens)
        .map(|index| async move {
            let mut http = HttpClient::new(config.addr.clone(), config.tls.clone());
            let token = with_resends!(config.attempts, api::login(&mut http, index).await);
            let token = token.map_err(|source| CouponsError::Login { index, source })?;
            let before = with_resends!(config.attempts, api::total_balance(&mut http, &token).await);
            let before = before.map_err(|source| CouponsError::Login { index, source })?;
            Ok::<_, CouponsError>(Citizen { token, before })
        })
        .buffered(4);
    logins.collect::<Vec<_>>().await.into_iter().collect()
}

async fn issue_all(
    config: &CouponsConfig,
    batches: Vec<IssueRequest>,
    coupons: mpsc::UnboundedSender<Issued>,
) -> IssueTally {
    let results = stream::iter(batches)
        .map(|batch| {
            let coupons = coupons.clone();
            async move {
                let mut http = HttpClient::new(config.addr.clone(), config.tls.clone());
                let issued = with_resends!(config.attempts, api::issue(&mut http, &batch).await);
                if let Ok(list) = &issued {
                    for coupon in list {
                        let _ = coupons.send(coupon.clone());
                    }
                }
                (batch.batch, issued)
            }
        })
        .buffer_unordered(config.issuers.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut tally = IssueTally::default();
    for (batch, issued) in results {
        tally.requests += 1;
        match issued {
            Ok(list) => {
                tally.coupons += list.len() as u64;
                tally.value += list.iter().map(|c| c.value).sum::<u64>();
                tally.batches.push(batch);
            }
            Err(e) => *tally.errors.entry(format!("issue:{}", e.code())).or_default() += 1,
        }
    }
    tally
}

/// One redeeming connection: takes coupons as they are issued and redeems each for the next
/// citizen in turn.
async fn redeem_worker(
    config: Arc<CouponsConfig>,
    citizens: Arc<Vec<Citizen>>,
    next_citizen: Arc<AtomicUsize>,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Issued>>>,
) -> RedeemTally {
    let mut tally = RedeemTally::new();
    let mut http = HttpClient::new(config.addr.clone(), config.tls.clone());
    loop {
        let Some(coupon) = queue.lock().await.recv().await else { return tally };
        let who = next_citizen.fetch_add(1, Ordering::Relaxed) % citizens.len();
        let token = &citizens[who].token;
        let started = Instant::now();
        // A resend by the same citizen is safe: it is answered the first redemption again.
        let answer = with_resends!(config.attempts, api::redeem(&mut http, token, &coupon.code).await);
        let _ = tally.latency_us.record(started.elapsed().as_micros().max(1) as u64);
        match answer {
            Ok(r) => {
                tally.ok += 1;
                tally.replayed += u64::from(r.replayed);
                tally.credited += r.points;
                tally.wrong_amount += u64::from(r.points != coupon.value);
                tally.redeemed.push((coupon.code, who));
            }
            Err(e) => *tally.errors.entry(e.code()).or_default() += 1,
        }
    }
}

/// Tries a sample of redeemed coupons again: by another citizen (must be refused as used; only
/// with two citizens or more) and by the one who redeemed it (must get the first answer again).
async fn try_again(
    config: &CouponsConfig,
    citizens: &[Citizen],
    redeemed: &[(String, usize)],
    v: &mut CouponsVerification,
) {
    let sample = config.reuse_sample.min(redeemed.len());
    if sample == 0 {
        return;
    }
    let mut http = HttpClient::new(config.addr.clone(), config.tls.clone());
    for (code, owner) in redeemed.iter().step_by((redeemed.len() / sample).max(1)).take(sample) {
        if citizens.len() > 1 {
            let other = &citizens[(owner + 1) % citizens.len()].token;
            let answer = with_resends!(config.attempts, api::redeem(&mut http, other, code).await);
            v.reuse_by_other += 1;
            v.reuse_refused +=
                u64::from(matches!(&answer, Err(ApiError::Refused { status: 409, code }) if code == "coupon-used"));
        }
        let again = with_resends!(config.attempts, api::redeem(&mut http, &citizens[*owner].token, code).await);
        v.replay_checked += 1;
        v.replay_same += u64::from(again.is_ok_and(|r| r.replayed));
    }
}

pub async fn run_coupons(config: &CouponsConfig) -> Result<CouponsReport, CouponsError> {
    if config.citizens == 0 || config.coupons == 0 || config.per_request == 0 || config.concurrency == 0 {
        return Err(CouponsError::Config);
    }
    let citizens = Arc::new(log_in(config).await?);
    let run_id = format!("{:08x}", rand::random::<u32>());
    let batches = plan_batches(&run_id, config.coupons, config.per_request, today_in_japan());

    let started = Instant::now();
    let (sender, receiver) = mpsc::unbounded_channel();
    let queue = Arc::new(Mutex::new(receiver));
    let next_citizen = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(config.clone());
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| tokio::spawn(redeem_worker(shared.clone(), citizens.clone(), next_citizen.clone(), queue.clone())))
        .collect();
    // The issuers hold the only senders: when they are done, the workers drain the queue and end.
    let issued = issue_all(config, batches, sender).await;
    let issue_elapsed = started.elapsed();
    let mut redeemed = RedeemTally::new();
    for worker in workers {
        if let Ok(tally) = worker.await {
            redeemed.merge(tally);
        }
    }
    let elapsed = started.elapsed();

    let mut verification = CouponsVerification::default();
    let mut http = HttpClient::new(config.addr.clone(), config.tls.clone());
    for batch in &issued.batches {
        match with_resends!(config.attempts, api::download(&mut http, batch).await) {
            Ok(coupons) => {
                let used = coupons.iter().filter(|(_, _, state)| state == "使用済").count() as u64;
                verification.downloaded_used += used;
                verification.downloaded_unused += coupons.len() as u64 - used;
            }
            Err(e) => verification.failures.push(format!("download of {batch}: {e}")),
        }
    }
    try_again(config, &citizens, &redeemed.redeemed, &mut verification).await;
    let mut after = 0u64;
    for citizen in citizens.iter() {
        match with_resends!(config.attempts, api::total_balance(&mut http, &citizen.token).await) {
            Ok(total) => after += total,
            Err(e) => verification.failures.push(format!("balance after the run: {e}")),
        }
    }
    let before: u64 = citizens.iter().map(|c| c.before).sum();
    verification.balance_delta = i128::from(after) - i128::from(before);
    verification.credited_value = redeemed.credited;
    verification.issued_value = issued.value;
    verification.judge(issued.coupons, redeemed.wrong_amount);

    Ok(CouponsReport::new(
        config,
        &issued_summary(&issued),
        &redeemed_summary(&redeemed),
        elapsed,
        issue_elapsed,
        verification,
    ))
}

fn issued_summary(t: &IssueTally) -> report::IssuedFigures {
    report::IssuedFigures { requests: t.requests, coupons: t.coupons, value: t.value, errors: t.errors.clone() }
}

fn redeemed_summary(t: &RedeemTally) -> report::RedeemedFigures {
    report::RedeemedFigures {
        ok: t.ok,
        replayed: t.replayed,
        errors: t.errors.clone(),
        latency_us: crate::report::LatencyUs::of(&t.latency_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_coupon_and_vary_the_destination() {
        let batches = plan_batches("r", 2_500, 1_000, 20261126);
        assert_eq!(batches.iter().map(|b| b.count).collect::<Vec<_>>(), [1_000, 1_000, 500]);
        assert_eq!(batches[0].destination, None);
        assert_eq!(batches[1].destination.as_deref(), Some("141305"));
        assert_eq!(batches[2].destination.as_deref(), Some("141305-E001"));
        assert_eq!(batches[2].batch, "loadtest-r-2");
        assert!(batches.iter().all(|b| b.expires_on == 20261226 && b.value >= 100));
        assert!(plan_batches("r", 0, 10, 20261126).is_empty());
    }
}
