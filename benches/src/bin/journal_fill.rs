//! `journal_fill`: fills a stopped switch's journal engine with redemptions, to measure a
//! restart with a long journal (README, "The journal engine": restart with 10,000,000 entries).
//!
//! Each entry is what a terminal's redemption commits: 1 point of 川崎市ポイント from a demo
//! citizen's earliest lot at the demo's museum (terminal 00052559), kind Redeem,
//! key `T00052559:fill<n>`, planned on the wallet's current version, the citizens taken in turn.
//! The batches go through the engine's own writer (`Store::commit`), so the journal, its
//! checkpoints and the settlement projection are exactly what serving would have made;
//! `switch check` passes afterwards.
//!
//! ```text
//! switch demo --fresh --citizens 1000000 --data-dir DIR   (stop it once it listens)
//! journal_fill --data-dir DIR --entries 9000000 [--citizens 1000000] [--batch 4096]
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use actors::clock::jst_stamp;
use actors::journal::{CommitOutcome, EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId};
use actors::ledger::TxnNumberer;
use actors::store::Store;
use actors::wallet_state::WalletState;
use protocol::{AccountRef, TerminalId};
use switch::store::journal::DEFAULT_CHECKPOINT_ENTRIES;
use switch::store::{JournalSettings, JournalStore};

struct Args {
    data_dir: PathBuf,
    entries: u64,
    citizens: u64,
    batch: usize,
}

const USAGE: &str = "usage: journal_fill --data-dir DIR --entries N [--citizens C (1000000)] [--batch B (4096)]";

fn args() -> Result<Args, String> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        values.insert(flag, value);
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        values.get(name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name}: not a number: {v}")))
    };
    Ok(Args {
        data_dir: PathBuf::from(values.get("--data-dir").ok_or_else(|| format!("--data-dir is required\n{USAGE}"))?),
        entries: number("--entries", 0)?,
        citizens: number("--citizens", 1_000_000)?.max(1),
        batch: number("--batch", 4096)?.clamp(1, 65_536) as usize,
    })
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
        eprintln!("journal_fill: {e}");
        std::process::exit(1);
    }
}

async fn fill(args: &Args) -> Result<(), String> {
    let settings = JournalSettings {
        segment_bytes: switch::store::journal::DEFAULT_SEGMENT_BYTES,
        checkpoint_entries: DEFAULT_CHECKPOINT_ENTRIES,
    };
    let store =
        JournalStore::open_with(&args.data_dir.join("switch.db"), 1, settings).await.map_err(|e| format!("{e}"))?;
    let head = store.journal_head().await.map_err(|e| format!("{e}"))?;
    let ids: Vec<WalletId> = (1..=args.citizens).map(WalletId).collect();
    let mut wallets: Vec<WalletState> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000) {
        wallets.extend(store.load_wallets(chunk.to_vec()).await.map_err(|e| format!("{e}"))?);
    }
    if wallets.len() as u64 != args.citizens {
        return Err(format!("{} of the {} citizens' wallets found", wallets.len(), args.citizens));
    }
    let municipal: AccountRef = "M141305".parse().map_err(|_| "account".to_owned())?;
    let terminal = TerminalId::new(52559).map_err(|_| "terminal".to_owned())?;
    let museum = store
        .terminal(terminal)
        .await
        .map_err(|e| format!("{e}"))?
        .ok_or_else(|| "terminal 00052559 is not in the data directory (load the demo first)".to_owned())?;
    let mut numberer = TxnNumberer::after(head.last_txn_no);
    let mut entry_id = head.last_entry_id;
    let started = Instant::now();
    let mut done = 0u64;
    while done < args.entries {
        let n = (args.entries - done).min(args.batch as u64);
        let now_ms = actors::clock::Clock::System.now_ms();
        let today = actors::clock::jst_date(now_ms);
        let mut batch = Vec::with_capacity(n as usize);
        for i in done..done + n {
            let wallet = &mut wallets[(i % args.citizens) as usize];
            let mut postings = wallet
                .plan_debit(&municipal, 1, today)
                .map_err(|_| format!("wallet {} has no points left to redeem", wallet.wallet_id.0))?;
            postings.push(Posting::House { account: HouseAccount::Location(museum.location_id), amount: 1 });
            entry_id += 1;
            batch.push(PreparedEntry {
                entry_id,
                txn_no: numberer.next(jst_stamp(now_ms)),
                created_at_ms: now_ms,
                entry: NewEntry {
                    kind: EntryKind::Redeem,
                    wallet: Some((wallet.wallet_id, wallet.version)),
                    idem_key: Some(format!("T{terminal}:fill{}", head.last_entry_id + i)),
                    venue: Some(Venue {
                        terminal_id: terminal,
                        municipality: museum.municipality.to_string(),
                        location_id: museum.location_id,
                    }),
                    account: municipal.clone(),
                    points: 1,
                    balance_after: wallet.usable(&municipal, today).saturating_sub(1),
                    voids: None,
                    postings: postings.clone(),
                },
            });
            wallet.apply(&postings);
        }
        let outcomes = store.commit(batch).await.map_err(|e| format!("{e}"))?;
        if let Some(o) = outcomes.iter().find(|o| **o != CommitOutcome::Committed) {
            return Err(format!("the store answered {o:?}"));
        }
        done += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} redemptions committed in {seconds:.1} s ({:.0} entries/s); journal entries {}..={entry_id}",
        args.entries,
        args.entries as f64 / seconds.max(1e-9),
        head.last_entry_id + 1
    );
    Ok(())
}
