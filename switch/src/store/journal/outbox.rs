//! The mail outbox on the journal engine (`MailOutbox`, issue 15). The outbox, its cursor and
//! the registry events' mails live in SQLite beside the journal, exactly as on the SQLite
//! engine; only the feeder's read differs: the entries after the cursor are read from the
//! journal files (forward from the sparse index point at or before the cursor), and their
//! citizens' addresses and opt-ins from SQLite.

use std::collections::HashMap;

use actors::journal::{EntryKind, PreparedEntry, WalletId};
use actors::outbox::{JournalMailEvent, JournalMailEvents, MailCounts, MailOutbox, NewMail, OutgoingMail};
use actors::store::{StoreError, StoreFuture};

use super::lookup::{self, Walk};
use super::JournalStore;

impl MailOutbox for JournalStore {
    fn mail_cursor(&self) -> StoreFuture<u64> {
        self.sql.mail_cursor()
    }

    fn journal_mail_events(
        &self,
        after: u64,
        window: u32,
        settled_before_ms: u64,
        kinds: Vec<EntryKind>,
    ) -> StoreFuture<JournalMailEvents> {
        let read = self.blocking(move |s| {
            // Only what the book has installed: a frame past the head may not be durable yet.
            let (start, head) = {
                let book = s.book();
                (book.start_after(after), book.head().last_entry_id)
            };
            let mut window_entries: Vec<PreparedEntry> = Vec::new();
            if let Some(start) = start.filter(|_| head > after) {
                lookup::walk_from(&s.files, start, |_, p| {
                    if p.entry_id > head {
                        return Walk::Stop;
                    }
                    if p.entry_id > after {
                        window_entries.push(p);
                        if window_entries.len() >= window as usize {
                            return Walk::Stop;
                        }
                    }
                    Walk::Next
                })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
            Ok(window_entries)
        });
        let sql = self.sql.clone();
        Box::pin(async move {
            let window_entries = read.await?;
            // As on the SQL engines: the newest entry of the window created before the bound.
            let settled =
                window_entries.iter().filter(|p| p.created_at_ms < settled_before_ms).map(|p| p.entry_id).max();
            let Some(settled_through) = settled else {
                return Ok(JournalMailEvents { events: Vec::new(), settled_through: after });
            };
            let mailed: Vec<PreparedEntry> = window_entries
                .into_iter()
                .filter(|p| p.entry_id <= settled_through && kinds.contains(&p.entry.kind) && p.entry.wallet.is_some())
                .collect();
            let mut wallets: Vec<WalletId> = mailed.iter().filter_map(|p| p.entry.wallet.map(|(w, _)| w)).collect();
            wallets.sort_unstable_by_key(|w| w.0);
            wallets.dedup();
            let recipients: HashMap<u64, _> = if wallets.is_empty() {
                HashMap::new()
            } else {
                sql.mail_recipients(wallets)
                    .await?
                    .into_iter()
                    .map(|(w, mykey, address, notify)| (w.0, (mykey, address, notify)))
                    .collect()
            };
            let events = mailed
                .into_iter()
                .filter_map(|p| {
                    let (wallet, _) = p.entry.wallet?;
                    let (mykey_id, address, notify) = recipients.get(&wallet.0)?.clone();
                    Some(JournalMailEvent {
                        entry_id: p.entry_id,
                        kind: p.entry.kind,
                        created_at_ms: p.created_at_ms,
                        wallet,
                        mykey_id,
                        account: p.entry.account,
                        points: p.entry.points,
                        idem_key: p.entry.idem_key,
                        address,
                        notify,
                    })
                })
                .collect();
            Ok(JournalMailEvents { events, settled_through })
        })
    }

    fn append_journal_mails(&self, from: u64, to: u64, mails: Vec<NewMail>) -> StoreFuture<bool> {
        self.sql.append_journal_mails(from, to, mails)
    }

    fn due_mails(&self, now_ms: u64, limit: u32) -> StoreFuture<Vec<OutgoingMail>> {
        self.sql.due_mails(now_ms, limit)
    }

    fn mail_delivered(&self, mail_id: u64, now_ms: u64) -> StoreFuture<()> {
        self.sql.mail_delivered(mail_id, now_ms)
    }

    fn mail_attempt_failed(&self, mail_id: u64, error: String, retry_at_ms: Option<u64>) -> StoreFuture<()> {
        self.sql.mail_attempt_failed(mail_id, error, retry_at_ms)
    }

    fn mail_counts(&self) -> StoreFuture<MailCounts> {
        self.sql.mail_counts()
    }
}
