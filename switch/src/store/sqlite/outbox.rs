//! The mail outbox on SQLite (`MailOutbox`, schema version 8). Reads on the pool, writes on the
//! writer thread; a registry event's mail is written by the registry's own transaction through
//! [`write_identity_mail`].

use actors::journal::{EntryKind, WalletId};
use actors::outbox::{
    JournalMailEvent, JournalMailEvents, MailCategory, MailCounts, MailOutbox, NewMail, OutgoingMail,
};
use actors::registry::NotifyChoices;
use actors::store::StoreFuture;
use protocol::MyKeyId;
use rusqlite::{params, Connection, OptionalExtension};

use super::reads::bad;
use super::SqliteStore;
use crate::mail::templates::{identity_mail, IdentityEvent};

/// Within a registry transaction: the category (c) or (d) mail of `event`, when the citizen has
/// an address and chose that category. The MyKey ID is the one the wallet has now (after a
/// change, the new one).
pub(super) fn write_identity_mail(
    tx: &Connection,
    wallet: i64,
    event: IdentityEvent<'_>,
    now_ms: u64,
) -> rusqlite::Result<()> {
    let row: Option<(Option<String>, u8, String)> = tx
        .query_row(
            "SELECT c.email, c.notify, w.mykey_id FROM citizens c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.wallet_id = ?1",
            [wallet],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((Some(address), notify, mykey)) = row else { return Ok(()) };
    let category = event.category();
    if address.is_empty() || notify & category.notify_bit() == 0 {
        return Ok(());
    }
    let mykey: MyKeyId = mykey.parse().map_err(|_| bad(2, "MyKey ID"))?;
    let text = identity_mail(event, &mykey, now_ms);
    tx.execute(
        "INSERT INTO mail_outbox (event_key, wallet_id, category, address, subject, body, created_at_ms, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (event_key) DO NOTHING",
        params![
            format!("R{wallet}:{}:{now_ms}", event.tag()),
            wallet,
            category as u8,
            address,
            text.subject,
            text.body,
            now_ms as i64
        ],
    )?;
    Ok(())
}

fn kinds_list(kinds: &[EntryKind]) -> String {
    let list: Vec<String> = kinds.iter().map(|k| (*k as u8).to_string()).collect();
    if list.is_empty() {
        "NULL".to_owned()
    } else {
        list.join(",")
    }
}

impl SqliteStore {
    /// For the journal engine's feeder read (its entries are not rows here): the MyKey ID,
    /// address and opt-ins of each of `wallets` whose citizen has an address and some opt-in,
    /// with the same filter as [`MailOutbox::journal_mail_events`] on this engine.
    pub(crate) fn mail_recipients(
        &self,
        wallets: Vec<WalletId>,
    ) -> StoreFuture<Vec<(WalletId, MyKeyId, String, NotifyChoices)>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT w.mykey_id, c.email, c.notify FROM citizens c JOIN wallets w ON w.wallet_id = c.wallet_id
                 WHERE c.wallet_id = ?1 AND c.email IS NOT NULL AND c.email <> '' AND c.notify <> 0",
            )?;
            let mut out = Vec::new();
            for wallet in wallets {
                let row = statement
                    .query_row([wallet.0 as i64], |r| {
                        let mykey: MyKeyId = r.get::<_, String>(0)?.parse().map_err(|_| bad(0, "MyKey ID"))?;
                        Ok((mykey, r.get::<_, String>(1)?, NotifyChoices::from_bits(r.get(2)?)))
                    })
                    .optional()?;
                if let Some((mykey, address, notify)) = row {
                    out.push((wallet, mykey, address, notify));
                }
            }
            Ok(out)
        })
    }
}

impl MailOutbox for SqliteStore {
    fn mail_cursor(&self) -> StoreFuture<u64> {
        self.read(|c| {
            c.query_row("SELECT entry_id FROM mail_cursor WHERE name = 'journal'", [], |r| r.get::<_, i64>(0))
                .map(|v| v as u64)
        })
    }

    fn journal_mail_events(
        &self,
        after: u64,
        window: u32,
        settled_before_ms: u64,
        kinds: Vec<EntryKind>,
    ) -> StoreFuture<JournalMailEvents> {
        self.read(move |c| {
            let settled: Option<i64> = c.query_row(
                "SELECT MAX(entry_id) FROM (SELECT entry_id, created_at_ms FROM journal WHERE entry_id > ?1
                 ORDER BY entry_id LIMIT ?2) WHERE created_at_ms < ?3",
                params![after as i64, window, settled_before_ms as i64],
                |r| r.get(0),
            )?;
            let Some(settled_through) = settled.map(|s| s as u64) else {
                return Ok(JournalMailEvents { events: Vec::new(), settled_through: after });
            };
            let sql = format!(
                "SELECT j.entry_id, j.kind, j.created_at_ms, j.wallet_id, w.mykey_id, j.account, j.points, c.email, c.notify,
                        j.idem_key
                 FROM journal j JOIN citizens c ON c.wallet_id = j.wallet_id JOIN wallets w ON w.wallet_id = j.wallet_id
                 WHERE j.entry_id > ?1 AND j.entry_id <= ?2 AND j.kind IN ({})
                   AND c.email IS NOT NULL AND c.email <> '' AND c.notify <> 0
                 ORDER BY j.entry_id",
                kinds_list(&kinds)
            );
            let mut statement = c.prepare(&sql)?;
            let events = statement
                .query_map(params![after as i64, settled_through as i64], |r| {
                    Ok(JournalMailEvent {
                        entry_id: r.get::<_, i64>(0)? as u64,
                        kind: EntryKind::from_u8(r.get(1)?).ok_or_else(|| bad(1, "entry kind"))?,
                        created_at_ms: r.get::<_, i64>(2)? as u64,
                        wallet: WalletId(r.get::<_, i64>(3)? as u64),
                        mykey_id: r.get::<_, String>(4)?.parse().map_err(|_| bad(4, "MyKey ID"))?,
                        account: r.get::<_, String>(5)?.parse().map_err(|_| bad(5, "account"))?,
                        points: r.get::<_, i64>(6)? as u64,
                        idem_key: r.get(9)?,
                        address: r.get(7)?,
                        notify: NotifyChoices::from_bits(r.get(8)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(JournalMailEvents { events, settled_through })
        })
    }

    fn append_journal_mails(&self, from: u64, to: u64, mails: Vec<NewMail>) -> StoreFuture<bool> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let moved = tx.execute(
                "UPDATE mail_cursor SET entry_id = ?2 WHERE name = 'journal' AND entry_id = ?1",
                params![from as i64, to as i64],
            )?;
            if moved != 1 {
                return Ok(false);
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO mail_outbox (event_key, wallet_id, category, address, subject, body, created_at_ms,
                         next_attempt_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (event_key) DO NOTHING",
                )?;
                for m in &mails {
                    insert.execute(params![
                        m.event_key,
                        m.wallet.0 as i64,
                        m.category as u8,
                        m.address,
                        m.subject,
                        m.body,
                        m.created_at_ms as i64
                    ])?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    fn due_mails(&self, now_ms: u64, limit: u32) -> StoreFuture<Vec<OutgoingMail>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT mail_id, event_key, category, address, subject, body, created_at_ms, attempts FROM mail_outbox
                 WHERE sent_at_ms IS NULL AND failed = 0 AND next_attempt_ms <= ?1
                 ORDER BY next_attempt_ms, mail_id LIMIT ?2",
            )?;
            let rows = statement
                .query_map(params![now_ms as i64, limit], |r| {
                    Ok(OutgoingMail {
                        mail_id: r.get::<_, i64>(0)? as u64,
                        event_key: r.get(1)?,
                        category: MailCategory::from_u8(r.get(2)?).ok_or_else(|| bad(2, "mail category"))?,
                        address: r.get(3)?,
                        subject: r.get(4)?,
                        body: r.get(5)?,
                        created_at_ms: r.get::<_, i64>(6)? as u64,
                        attempts: r.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn mail_delivered(&self, mail_id: u64, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE mail_outbox SET sent_at_ms = ?2, attempts = attempts + 1, last_error = NULL
                 WHERE mail_id = ?1 AND sent_at_ms IS NULL",
                params![mail_id as i64, now_ms as i64],
            )?;
            Ok(())
        })
    }

    fn mail_attempt_failed(&self, mail_id: u64, error: String, retry_at_ms: Option<u64>) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_ms = COALESCE(?3, next_attempt_ms), failed = CASE WHEN ?3 IS NULL THEN 1 ELSE 0 END
                 WHERE mail_id = ?1 AND sent_at_ms IS NULL",
                params![mail_id as i64, error, retry_at_ms.map(|t| t as i64)],
            )?;
            Ok(())
        })
    }

    fn mail_counts(&self) -> StoreFuture<MailCounts> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(sent_at_ms IS NULL AND failed = 0), 0), COALESCE(SUM(sent_at_ms IS NOT NULL), 0),
                        COALESCE(SUM(failed = 1), 0) FROM mail_outbox",
                [],
                |r| {
                    Ok(MailCounts {
                        pending: r.get::<_, i64>(0)? as u64,
                        sent: r.get::<_, i64>(1)? as u64,
                        failed: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
        })
    }
}
