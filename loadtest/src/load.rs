//! What a redemption load is asked to do ([`RedeemConfig`], [`CitizenOrder`]), the records its
//! loops hand back ([`AckedRedeem`], [`UnansweredRedeem`]) and the latency histogram they all
//! fill: what [`crate::redeem`] and its loops (`lane`, [`crate::open_loop`], [`crate::retry`],
//! [`crate::timeline`]) share, so none of them needs the run itself.

use std::time::Duration;

use actors::demo;
use hdrhistogram::Histogram;
use protocol::{AccountRef, MunicipalityCode, Redeem, TerminalId, TxnNo};

use crate::client::ClientConfig;

/// Connections used for each balance snapshot.
pub const DEFAULT_SNAPSHOT_CONNECTIONS: usize = 4;
/// Pause of one lane after a BUSY or TEMPORARY_FAILURE answer, so an overloaded switch is not
/// hammered by a spinning closed loop.
pub const DEFAULT_BUSY_BACKOFF: Duration = Duration::from_millis(5);
/// Highest latency the histogram can hold (1 minute); longer ones are clamped.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Open loop: the default most redemptions one terminal may have unanswered; a send due while
/// a terminal is at this bound is skipped and counted. Well under the switch's own bound of
/// 256 per connection, so the switch does not answer BUSY for it.
pub const DEFAULT_OPEN_LOOP_OUTSTANDING_PER_TERMINAL: usize = 64;
/// Open loop: the highest total rate accepted (redemptions per second).
pub const OPEN_LOOP_RATE_PER_S_MAX: f64 = 1_000_000.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct RedeemConfig {
    pub addr: String,
    /// Simulated terminals, one connection each: the first (イ) terminals of the demo.
    pub terminals: usize,
    /// Closed loop: redemptions each terminal keeps in flight. Open loop: the most each
    /// terminal may have unanswered; a send due beyond it is skipped and counted.
    pub pipeline: usize,
    /// `Some(rate)`: open loop at this many redemptions per second in total over all terminals.
    /// `None`: closed loop.
    pub rate_per_s: Option<f64>,
    /// How long new redemptions are started; answers still outstanding are then awaited.
    pub duration: Duration,
    pub points: u64,
    /// Working set: demo citizens `0..citizens`; at most as many as the demo loaded
    /// (`switch demo --citizens N`, 10,000 by default).
    pub citizens: u64,
    /// How each redemption picks its citizen from the working set.
    pub order: CitizenOrder,
    pub account: AccountRef,
    /// Take balance snapshots and compare; off saves the card reads on very large sets.
    pub verify: bool,
    pub snapshot_connections: usize,
    pub busy_backoff: Duration,
    pub client: ClientConfig,
}

impl RedeemConfig {
    /// The defaults of `loadtest redeem`: 64 terminals × 8 in flight for 10 s, 1 point from
    /// the Kawasaki municipal account of 10,000 citizens.
    pub fn new(addr: impl Into<String>) -> RedeemConfig {
        RedeemConfig {
            addr: addr.into(),
            terminals: 64,
            pipeline: 8,
            rate_per_s: None,
            duration: Duration::from_secs(10),
            points: 1,
            citizens: demo::DEFAULT_CITIZENS,
            order: CitizenOrder::Random,
            account: kawasaki_account(),
            verify: true,
            snapshot_connections: DEFAULT_SNAPSHOT_CONNECTIONS,
            busy_backoff: DEFAULT_BUSY_BACKOFF,
            client: ClientConfig::default(),
        }
    }

    /// `closed` or `open`.
    pub fn mode_name(&self) -> &'static str {
        if self.rate_per_s.is_some() {
            "open"
        } else {
            "closed"
        }
    }

    /// The citizens actually used.
    pub fn working_set(&self) -> u64 {
        self.citizens.min(CITIZENS_MAX)
    }
}

/// Most citizens a run can address: ids are generated on the client, a few dozen bytes each.
pub const CITIZENS_MAX: u64 = 10_000_000;

/// How a redemption picks its citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CitizenOrder {
    /// Uniformly at random: hot wallets stay in memory, as on a busy day.
    Random,
    /// Each in turn from the first, wrapping: N redemptions over N citizens touch every
    /// citizen once (how wallet memory for a million citizens is measured).
    Sweep,
}

/// The Kawasaki municipal account `M141305`.
pub fn kawasaki_account() -> AccountRef {
    match demo::KAWASAKI_CODE.parse::<MunicipalityCode>() {
        Ok(code) => AccountRef::municipal(code),
        // The constant is a valid code (checked by the fixture's own tests).
        Err(_) => unreachable!("KAWASAKI_CODE is a valid municipality code"),
    }
}

/// A redemption the switch acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedRedeem {
    pub terminal_id: TerminalId,
    pub seq: u64,
    pub txn_no: TxnNo,
    pub citizen_index: u64,
    pub points: u64,
    pub replayed: bool,
}

/// A redemption sent but never answered: it may or may not have been applied. Retrying
/// `request` from `terminal_id` (same `seq`) settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnansweredRedeem {
    pub terminal_id: TerminalId,
    pub seq: u64,
    pub request: Redeem,
    /// `CLOSED`, `IO`, `TIMEOUT` or `PROTOCOL`.
    pub error: String,
}

/// A histogram from 1 µs to [`LATENCY_US_MAX`] at 3 significant digits.
pub fn new_latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, LATENCY_US_MAX, 3) {
        Ok(h) => h,
        // Fixed, valid bounds: low ≥ 1, high ≥ 2·low, 3 significant figures.
        Err(_) => unreachable!("latency histogram bounds are valid"),
    }
}
