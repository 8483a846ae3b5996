//! Applying a shopping street's merge file (合算, F36–F39): every line takes its points from the
//! citizen's municipal (or event) account into the street's house account `G<street>`, through
//! the citizen's wallet and the ledger's group commit like a redemption (there is no second
//! path to a balance).
//!
//! 1. **The whole file first** ([`check`]): decryption, the v2 tag, the encoding (a Shift_JIS
//!    file is named as such), the layout and every line's MD5. Any of these wrong and nothing
//!    is applied: a file that is not what the street made is not partly believed. A transaction
//!    number repeated inside the file is not such a fault: the repeat is refused on its own line
//!    (`merge-line-duplicate`) and the first applies.
//! 2. **Each line once** ([`apply`]): its journal key is `G<street>:<取引済番号>`, so the same
//!    file twice, a file cut off and sent again whole, or a line in two files applies once; a
//!    line applied before is answered from its entry (`replayed`). Each line is one entry:
//!    applied whole or not at all. A line the wallet refuses (unknown holder, too few points,
//!    a revoked MyKey ID) is reported on its line; the others apply.
//!
//! Lines go out `in_flight` at a time, a chunk's holders resolved with one store call per
//! chunk and their wallets activated from one more (`router::Preload`), as the ID-link worker
//! does: a file names many citizens once each, and each cold wallet loading itself would cost a
//! store round per line.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actors::journal::{EntryKind, WalletId};
use actors::mailbox::ask;
use actors::partners::PartnerBook;
use actors::router::{MovePoints, Preload, Router};
use actors::store::Store;
use actors::wallet_points::{merge_key, PointOp};
use actors::SwitchError;
use futures::stream::{self, StreamExt};
use protocol::{MyKeyId, TxnNo};
use serde::Serialize;
use utoipa::ToSchema;

use super::file::{self, FileError, LineError, MergeLine, ReadFile, Version};
use super::street::{Holders, Street};
use crate::jobs::backoff::Backoff;

/// What applying needs from the running switch.
#[derive(Clone)]
pub struct MergeDeps {
    pub store: Arc<dyn Store>,
    pub partners: Arc<dyn PartnerBook>,
    pub router: Addr<Router>,
    pub limits: MergeLimits,
}

/// How applying is bounded.
#[derive(Debug, Clone, Copy)]
pub struct MergeLimits {
    /// Lines moving through the wallets at once.
    pub in_flight: usize,
    /// Lines whose holders are resolved (and wallets activated) together.
    pub chunk_lines: usize,
}

/// Why a file is refused whole (nothing in it applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    File(FileError),
    /// Lines that are not the street's merges (layout, encoding of a field, hash): every one.
    Lines(Vec<(usize, LineError)>),
}

/// A file checked whole: every line a merge or a repeat of an earlier line's number.
#[derive(Debug, Clone)]
pub struct CheckedFile {
    read: ReadFile,
}

impl CheckedFile {
    pub fn version(&self) -> Version {
        self.read.version
    }

    pub fn lines(&self) -> usize {
        self.read.lines.len()
    }
}

/// Reads and checks the whole file with the street's keys before anything is applied.
pub fn check(street: &Street, bytes: &[u8]) -> Result<CheckedFile, Rejected> {
    let read = file::read(&street.keys, bytes).map_err(Rejected::File)?;
    let bad: Vec<(usize, LineError)> = read
        .bad_lines()
        .filter(|(_, e)| !matches!(e, LineError::Duplicate { .. }))
        .map(|(line, e)| (line, e.clone()))
        .collect();
    if bad.is_empty() {
        Ok(CheckedFile { read })
    } else {
        Err(Rejected::Lines(bad))
    }
}

/// Why one line was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its transaction number is on an earlier line of the file (that line applies).
    Duplicate {
        first_line: usize,
    },
    /// Field 1 names nobody: no such MyKey ID, or no citizen linked to the street's point ID.
    UnknownHolder,
    MyKeyRevoked,
    InsufficientPoints {
        usable: u64,
    },
    /// The street's account takes no merges now (no such point, the event ended).
    AccountClosed,
    /// The transaction number was merged before with other figures (another holder or points).
    Conflict,
    /// The switch could not tell within the bounded retries (store away): the line may or may
    /// not be applied. Sending the file again settles it, once.
    Unsettled,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Duplicate { .. } => "merge-line-duplicate",
            Refusal::UnknownHolder => "merge-line-unknown-holder",
            Refusal::MyKeyRevoked => "merge-line-mykey-revoked",
            Refusal::InsufficientPoints { .. } => "merge-line-insufficient-points",
            Refusal::AccountClosed => "merge-line-account-closed",
            Refusal::Conflict => "merge-line-conflict",
            Refusal::Unsettled => "merge-line-unsettled",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Duplicate { first_line } => {
                format!("取引済番号が{first_line}行目と重複しています (その行のみ合算)")
            }
            Refusal::UnknownHolder => "このIDの利用者が見つかりません".into(),
            Refusal::MyKeyRevoked => "マイキーIDは失効しています".into(),
            Refusal::InsufficientPoints { usable } => format!("ポイント残高が不足しています (残高 {usable})"),
            Refusal::AccountClosed => "合算元のポイントが利用できません (未登録または実施期間外)".into(),
            Refusal::Conflict => "この取引済番号は別の内容で合算済みです".into(),
            Refusal::Unsettled => {
                "一時的な障害で確認できませんでした。同じファイルを再送してください (二重には合算されません)".into()
            }
        }
    }
}

/// One line's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied now, or before (`replayed`): the merge entry's own 取引済番号.
    Applied {
        entry_txn_no: TxnNo,
        replayed: bool,
    },
    Refused(Refusal),
}

/// A refused line, as the report lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefusedLine {
    pub line: usize,
    /// Field 3 of the line.
    pub txn_no: String,
    pub code: &'static str,
    pub message: String,
}

/// What applying a file did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergeReport {
    pub street: u32,
    /// 1 or 2.
    pub version: u8,
    pub lines: usize,
    /// Lines applied by this file.
    pub applied: usize,
    /// Lines already applied before (an earlier file, or this one sent again): not again.
    pub already_applied: usize,
    pub refused: usize,
    /// Points merged by the lines applied now.
    pub points_applied: u64,
    /// The refused lines in line order, the first [`REFUSED_LISTED_MAX`] of them.
    pub refused_lines: Vec<RefusedLine>,
}

/// Refused lines listed in one report at most (a file of a million lines for the wrong street
/// would otherwise answer a hundred megabytes); the count covers them all.
pub const REFUSED_LISTED_MAX: usize = 10_000;

/// A line on its way: its merge and, once resolved, its wallet.
struct Pending<'a> {
    line: usize,
    merge: Result<&'a MergeLine, Refusal>,
    wallet: Option<WalletId>,
}

/// Applies every line of a checked file, `in_flight` at a time; answers once each line has its
/// outcome.
pub async fn apply(deps: &MergeDeps, street: &Street, file: &CheckedFile) -> MergeReport {
    let chunk_lines = deps.limits.chunk_lines.max(1);
    let chunks = file.read.lines.chunks(chunk_lines).map(|chunk| {
        chunk
            .iter()
            .map(|l| Pending {
                line: l.line,
                merge: match &l.merge {
                    Ok(m) => Ok(m),
                    Err(LineError::Duplicate { first_line, .. }) => Err(Refusal::Duplicate { first_line: *first_line }),
                    // `check` let no other error through.
                    Err(_) => Err(Refusal::Conflict),
                },
                wallet: None,
            })
            .collect::<Vec<_>>()
    });
    let results: Vec<(usize, Option<&MergeLine>, Outcome)> = stream::iter(chunks)
        .then(|chunk| resolve(deps, street, chunk))
        .flat_map(stream::iter)
        .map(|p| async move {
            match p.merge {
                Err(r) => (p.line, None, Outcome::Refused(r)),
                Ok(m) => (p.line, Some(m), settle(deps, street, m, p.wallet).await),
            }
        })
        .buffered(deps.limits.in_flight.max(1))
        .collect()
        .await;

    let mut report = MergeReport {
        street: street.id,
        version: file.version().number(),
        lines: results.len(),
        applied: 0,
        already_applied: 0,
        refused: 0,
        points_applied: 0,
        refused_lines: Vec::new(),
    };
    for (line, merge, outcome) in results {
        match outcome {
            Outcome::Applied { replayed: false, .. } => {
                report.applied += 1;
                report.points_applied += merge.map_or(0, |m| m.points);
            }
            Outcome::Applied { replayed: true, .. } => report.already_applied += 1,
            Outcome::Refused(r) => {
                report.refused += 1;
                if report.refused_lines.len() >= REFUSED_LISTED_MAX {
                    continue;
                }
                let txn_no = match (merge, &file.read.lines[line - 1].merge) {
                    (Some(m), _) => m.txn_no.to_string(),
                    (None, Err(LineError::Duplicate { txn_no, .. })) => txn_no.clone(),
                    (None, _) => String::new(),
                };
                report.refused_lines.push(RefusedLine { line, txn_no, code: r.code(), message: r.message() });
            }
        }
    }
    metrics::counter!("switch_merge_lines_total", "result" => "applied").increment(report.applied as u64);
    metrics::counter!("switch_merge_lines_total", "result" => "replayed").increment(report.already_applied as u64);
    metrics::counter!("switch_merge_lines_total", "result" => "refused").increment(report.refused as u64);
    report
}

/// Resolves a chunk's holders to wallets (one store call for service IDs; MyKey IDs a few at a
/// time on the store's read pool) and activates those wallets from one read.
async fn resolve<'a>(deps: &MergeDeps, street: &Street, mut chunk: Vec<Pending<'a>>) -> Vec<Pending<'a>> {
    let asked: Vec<usize> = (0..chunk.len()).filter(|i| chunk[*i].merge.is_ok()).collect();
    let holders: Vec<String> =
        asked.iter().filter_map(|i| chunk[*i].merge.as_ref().ok().map(|m| m.holder.clone())).collect();
    let found: Vec<Option<WalletId>> = match &street.holders {
        Holders::MyKeyIds => {
            stream::iter(holders)
                .map(|holder| async move {
                    let mykey: MyKeyId = holder.parse().ok()?;
                    retry_store(|| deps.store.wallet_by_mykey(mykey)).await.flatten()
                })
                .buffered(RESOLVE_IN_FLIGHT)
                .collect()
                .await
        }
        Holders::ServiceIds { issuer } => {
            let asked_len = holders.len();
            match retry_store(|| deps.partners.wallets_by_service_ids(issuer.clone(), holders.clone())).await {
                Some(found) if found.len() == asked_len => {
                    // A revoked link still goes to its wallet, which refuses it after checking
                    // whether the line was applied before the revocation.
                    found.into_iter().map(|l| l.map(|l| l.wallet)).collect()
                }
                _ => vec![None; asked_len],
            }
        }
    };
    for (i, wallet) in asked.into_iter().zip(found) {
        chunk[i].wallet = wallet;
    }
    let wallets: Vec<WalletId> = chunk.iter().filter_map(|p| p.wallet).collect();
    if !wallets.is_empty() {
        if let Err(e) = ask(&deps.router, |reply| Preload { wallets, reply }).await {
            tracing::debug!(error = %e, "merge wallet preload refused; wallets load on first use");
        }
    }
    chunk
}

/// MyKey IDs resolved at once per chunk (the embedded store reads on a pool of a few threads).
const RESOLVE_IN_FLIGHT: usize = 16;

/// One line through the citizen's wallet. BUSY and failures whose outcome is unknown are retried
/// with the same key (so at most once applied), a bounded number of times.
async fn settle(deps: &MergeDeps, street: &Street, m: &MergeLine, wallet: Option<WalletId>) -> Outcome {
    let key = merge_key(street.id, &m.txn_no);
    let Some(wallet) = wallet else {
        // Nobody has this ID now; if the line was applied before (the MyKey ID changed since),
        // its entry says so.
        return from_journal(deps, &key, m, Refusal::UnknownHolder).await;
    };
    let op = PointOp::Merge {
        key: key.clone(),
        street: street.id,
        account: street.account.clone(),
        points: m.points,
        venue: None,
    };
    let mut busy = Backoff::busy();
    let mut failing = store_backoff();
    for _ in 0..ATTEMPTS_MAX {
        let attempt = op.clone();
        match ask(&deps.router, |reply| MovePoints { wallet, op: attempt, reply }).await {
            Ok(Some(posted)) => return Outcome::Applied { entry_txn_no: posted.txn_no, replayed: posted.replayed },
            // A merge always plans an entry.
            Ok(None) => return Outcome::Refused(Refusal::Unsettled),
            Err(SwitchError::Busy) => busy.wait().await,
            Err(SwitchError::TemporaryFailure | SwitchError::OutcomeUnknown | SwitchError::Internal) => {
                failing.wait().await
            }
            Err(SwitchError::MyKeyRevoked) => return Outcome::Refused(Refusal::MyKeyRevoked),
            Err(SwitchError::InsufficientPoints { usable }) => {
                return Outcome::Refused(Refusal::InsufficientPoints { usable })
            }
            Err(SwitchError::UnknownDestination | SwitchError::EventEnded) => {
                return Outcome::Refused(Refusal::AccountClosed)
            }
            // The key holds another wallet's or other points' entry.
            Err(SwitchError::IdempotencyConflict) => return from_journal(deps, &key, m, Refusal::Conflict).await,
            Err(other) => {
                tracing::warn!(error = %other, street = street.id, "merge line refused");
                return Outcome::Refused(Refusal::Unsettled);
            }
        }
    }
    Outcome::Refused(Refusal::Unsettled)
}

/// A line the wallet could not take: applied before if its key holds a merge of the same points
/// (the holder's ID changed since), else `otherwise`.
async fn from_journal(deps: &MergeDeps, key: &str, m: &MergeLine, otherwise: Refusal) -> Outcome {
    match retry_store(|| deps.store.entry_by_key(key.to_owned())).await {
        Some(Some(entry)) if entry.kind == EntryKind::Merge && entry.points == m.points => {
            Outcome::Applied { entry_txn_no: entry.txn_no, replayed: true }
        }
        Some(Some(_)) => Outcome::Refused(Refusal::Conflict),
        Some(None) => Outcome::Refused(otherwise),
        None => Outcome::Refused(Refusal::Unsettled),
    }
}

/// Tries a store read a few times while the store is away; None if it stays away.
async fn retry_store<T, F, Fut>(mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, actors::store::StoreError>>,
{
    let mut delay = store_backoff();
    for _ in 0..ATTEMPTS_MAX {
        match call().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "merge: store read failed; retrying");
                delay.wait().await;
            }
        }
    }
    None
}

/// Attempts per line (and per store read) before it is reported unsettled: with the backoffs
/// below, about 10 s of a store away or 1 s of a full ledger.
const ATTEMPTS_MAX: u32 = 12;

/// Pauses between retries of a failed store call.
fn store_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::file::{hex, line_hash, seal};
    use crate::merge::street::StreetEntry;
    use crate::merge::street::Streets;

    fn street() -> Street {
        let entry = StreetEntry {
            id: 1,
            name: "元住吉商店街".into(),
            municipality: "141305".into(),
            account: None,
            key: "000102030405060708090a0b0c0d0e0f".into(),
            secret: "S".into(),
            id_issuer: None,
            terminals: Vec::new(),
        };
        Streets::from_entries(vec![entry]).unwrap().get(1).unwrap().clone()
    }

    fn line(holder: &str, points: &str, txn: &str) -> String {
        format!("{holder},{points},{txn},{}\r\n", hex(&line_hash(holder, points, txn, "S")))
    }

    #[test]
    fn a_file_with_a_bad_line_is_refused_whole_but_a_repeated_number_is_only_its_line() {
        let s = street();
        let seal2 = |text: &str| seal(Version::V2, &s.keys.key, text.as_bytes(), &[7; 16]);
        let repeated = [line("MY1", "10", "20261203101500000001"), line("MY2", "20", "20261203101500000001")].concat();
        let checked = check(&s, &seal2(&repeated)).unwrap();
        assert_eq!(checked.lines(), 2);
        let tampered = [line("MY1", "10", "20261203101500000001"), line("MY2", "20", "20261203101500000002")]
            .concat()
            .replace("MY2,20", "MY2,90");
        assert_eq!(check(&s, &seal2(&tampered)).unwrap_err(), Rejected::Lines(vec![(2, LineError::Tampered)]));
        let wrong_key = seal(Version::V2, &[9; 16], repeated.as_bytes(), &[7; 16]);
        assert_eq!(check(&s, &wrong_key).unwrap_err(), Rejected::File(FileError::NotAuthentic));
    }

    #[test]
    fn every_refusal_has_a_distinct_code() {
        let all = [
            Refusal::Duplicate { first_line: 1 },
            Refusal::UnknownHolder,
            Refusal::MyKeyRevoked,
            Refusal::InsufficientPoints { usable: 0 },
            Refusal::AccountClosed,
            Refusal::Conflict,
            Refusal::Unsettled,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(Refusal::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
