//! `settlement_month`: fills a stopped switch's embedded store (the journal engine, or a data
//! directory in the SQLite layout) with a past month of partner
//! migrations, to measure settlement at scale (README, "Settlement at scale"): 参考82 and 参考84
//! over a month of a million entries, and what closing that month costs as the journal grows.
//!
//! The ledger only ever stamps today, so the entries go through the store's own commit, the way
//! the ledger hands it a batch: each is what a real-time migration commits (日本航空, partner 1,
//! credits a demo citizen's 川崎市ポイント; kind Credit, key `P1:fill<period>:<n>`), with its
//! journal row, postings, wallet version, settlement lines and windows in one transaction per
//! batch. Business days run through the month in order; `switch check` passes afterwards. On
//! the journal engine the settlement lines and windows are its projection into SQLite: the fill
//! waits for the projection to reach the last entry, so the measurement that follows reads a
//! projected store, as a switch serving for a while does.
//!
//! ```text
//! settlement_month --data-dir DIR --period YYYYMM --entries N [--citizens C] [--batch B]
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use actors::clock::jst_stamp;
use actors::journal::{CommitOutcome, EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, WalletId, NO_EXPIRY};
use actors::ledger::TxnNumberer;
use actors::settlement::Period;
use protocol::AccountRef;
use switch::store::journal::{is_journal_layout, DEFAULT_CHECKPOINT_ENTRIES, DEFAULT_SEGMENT_BYTES};
use switch::store::{open_for_admin, OpenedStore, StoreChoice};

struct Args {
    data_dir: PathBuf,
    period: Period,
    entries: u64,
    citizens: u64,
    batch: usize,
}

const USAGE: &str =
    "usage: settlement_month --data-dir DIR --period YYYYMM --entries N [--citizens C (10000)] [--batch B (5000)]";

fn args() -> Result<Args, String> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        values.insert(flag, value);
    }
    let take = |name: &str| values.get(name).cloned().ok_or_else(|| format!("{name} is required\n{USAGE}"));
    let number = |name: &str, default: u64| -> Result<u64, String> {
        values.get(name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name}: not a number: {v}")))
    };
    let period = Period::parse(&take("--period")?).map_err(|e| format!("--period: {e:?}"))?;
    Ok(Args {
        data_dir: PathBuf::from(take("--data-dir")?),
        period,
        entries: number("--entries", 0)?,
        citizens: number("--citizens", 10_000)?.max(1),
        batch: number("--batch", 5_000)?.clamp(1, 100_000) as usize,
    })
}

/// Unix ms of 00:00 Japan time on `date` (yyyymmdd): days from the civil date (H. Hinnant's
/// algorithm), less the nine hours Japan is ahead of UTC.
fn jst_midnight_ms(date: u32) -> u64 {
    let (y, m, d) = ((date / 10_000) as i64, (date / 100 % 100) as i64, (date % 100) as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400_000 - 9 * 3_600_000) as u64
}

/// The whole month's span in ms, from 00:00 on its first day to 24:00 on its last.
fn month_span_ms(period: Period) -> (u64, u64) {
    let start = jst_midnight_ms(period.first_date());
    let end = jst_midnight_ms(period.last_date()) + 86_400_000;
    (start, end)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = fill(&args).await {
        eprintln!("settlement_month: {e}");
        std::process::exit(1);
    }
}

async fn fill(args: &Args) -> Result<(), String> {
    let path = args.data_dir.join("switch.db");
    let choice = if is_journal_layout(&path) {
        StoreChoice::Journal {
            path,
            readers: 1,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            checkpoint_entries: DEFAULT_CHECKPOINT_ENTRIES,
        }
    } else {
        StoreChoice::Sqlite { path, readers: 1 }
    };
    let opened = open_for_admin(&choice).await.map_err(|e| format!("{e}"))?;
    let store = opened.shared();
    let head = store.journal_head().await.map_err(|e| format!("{e}"))?;
    let wallets: Vec<WalletId> = (1..=args.citizens).map(WalletId).collect();
    let mut versions: HashMap<WalletId, u64> = HashMap::new();
    for chunk in wallets.chunks(10_000) {
        for w in store.load_wallets(chunk.to_vec()).await.map_err(|e| format!("{e}"))? {
            versions.insert(w.wallet_id, w.version);
        }
    }
    if versions.len() as u64 != args.citizens {
        return Err(format!("{} of the {} citizens' wallets found", versions.len(), args.citizens));
    }
    let municipal: AccountRef = "M141305".parse().map_err(|_| "account".to_owned())?;
    let (start_ms, end_ms) = month_span_ms(args.period);
    let step_ms = ((end_ms - start_ms) / args.entries.max(1)).max(1);
    let mut numberer = TxnNumberer::after(None);
    let mut entry_id = head.last_entry_id;
    let started = Instant::now();
    let mut done = 0u64;
    while done < args.entries {
        let n = (args.entries - done).min(args.batch as u64);
        let mut batch = Vec::with_capacity(n as usize);
        for i in done..done + n {
            let wallet = wallets[(i % args.citizens) as usize];
            let version = versions.get_mut(&wallet).expect("loaded above");
            let points = 1 + (i % 9) as i64;
            let created_at_ms = start_ms + i * step_ms;
            entry_id += 1;
            batch.push(PreparedEntry {
                entry_id,
                txn_no: numberer.next(jst_stamp(created_at_ms)),
                created_at_ms,
                entry: NewEntry {
                    kind: EntryKind::Credit,
                    wallet: Some((wallet, *version)),
                    idem_key: Some(format!("P1:fill{}:{i}", args.period.yyyymm())),
                    venue: None,
                    account: municipal.clone(),
                    points: points as u64,
                    balance_after: 0,
                    voids: None,
                    postings: vec![
                        Posting::Citizen { wallet, account: municipal.clone(), lot: NO_EXPIRY, amount: points },
                        Posting::House { account: HouseAccount::Partner(1), amount: -points },
                    ],
                },
            });
            *version += 1;
        }
        let outcomes = store.commit(batch).await.map_err(|e| format!("{e}"))?;
        if let Some(o) = outcomes.iter().find(|o| **o != CommitOutcome::Committed) {
            return Err(format!("the store answered {o:?} (was this month filled before?)"));
        }
        done += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let OpenedStore::Journal(_) = opened {
        wait_for_projection(&opened, args.period).await?;
    }
    println!(
        "{} migrations in {} committed in {seconds:.1} s ({:.0} entries/s); journal entries {}..={entry_id}",
        args.entries,
        args.period.yyyymm(),
        args.entries as f64 / seconds.max(1e-9),
        head.last_entry_id + 1
    );
    Ok(())
}

/// Waits until the journal engine's projection has every entry of the fill in SQLite (each
/// settlement read waits up to a minute for it; a month of millions takes longer).
async fn wait_for_projection(opened: &OpenedStore, period: Period) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match opened.settlement().books_between(period.first_date(), period.last_date()).await {
            Ok(_) => break,
            Err(e) if started.elapsed().as_secs() < 3_600 => eprintln!("waiting for the projection: {e}"),
            Err(e) => return Err(format!("{e}")),
        }
    }
    println!("settlement lines and windows projected {:.1} s after the last commit", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_in_japan_is_fifteen_hundred_utc_the_day_before() {
        // 2026-11-01 00:00 JST = 2026-10-31 15:00 UTC = 1793458800000 ms.
        assert_eq!(jst_midnight_ms(20261101), 1_793_458_800_000);
        assert_eq!(actors::clock::jst_date(jst_midnight_ms(20240229)), 20240229);
        assert_eq!(actors::clock::jst_date(jst_midnight_ms(20240229) - 1), 20240228);
    }
}
