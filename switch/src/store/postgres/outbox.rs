//! The mail outbox on PostgreSQL (`MailOutbox`, schema version 8): the same decisions as the
//! embedded store's `outbox.rs`. A registry event's mail is written by the registry's own
//! transaction through [`write_identity_mail`].

use actors::journal::{EntryKind, WalletId};
use actors::outbox::{
    JournalMailEvent, JournalMailEvents, MailCategory, MailCounts, MailOutbox, NewMail, OutgoingMail,
};
use actors::registry::NotifyChoices;
use actors::store::StoreFuture;
use deadpool_postgres::ClientWrapper;
use protocol::MyKeyId;

use super::reads::{bad, col};
use super::{PgError, PostgresStore};
use crate::mail::templates::{identity_mail, IdentityEvent};

/// Within a registry transaction: the category (c) or (d) mail of `event`, when the citizen has
/// an address and chose that category. The MyKey ID is the one the wallet has now.
pub(super) async fn write_identity_mail(
    c: &ClientWrapper,
    wallet: i64,
    event: IdentityEvent<'_>,
    now_ms: u64,
) -> Result<(), PgError> {
    let row = c
        .query_opt(
            "SELECT c.email, c.notify, w.mykey_id FROM citizens c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.wallet_id = $1",
            &[&wallet],
        )
        .await?;
    let Some(row) = row else { return Ok(()) };
    let address: Option<String> = col(&row, 0)?;
    let notify: i16 = col(&row, 1)?;
    let Some(address) = address.filter(|a| !a.is_empty()) else { return Ok(()) };
    let category = event.category();
    if notify as u8 & category.notify_bit() == 0 {
        return Ok(());
    }
    let mykey: String = col(&row, 2)?;
    let mykey: MyKeyId = mykey.parse().map_err(|_| bad("MyKey ID", &mykey))?;
    let text = identity_mail(event, &mykey, now_ms);
    c.execute(
        "INSERT INTO mail_outbox (event_key, wallet_id, category, address, subject, body, created_at_ms, next_attempt_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (event_key) DO NOTHING",
        &[
            &format!("R{wallet}:{}:{now_ms}", event.tag()),
            &wallet,
            &(category as u8 as i16),
            &address,
            &text.subject,
            &text.body,
            &(now_ms as i64),
        ],
    )
    .await?;
    Ok(())
}

fn outgoing(row: &tokio_postgres::Row) -> Result<OutgoingMail, PgError> {
    let category: i16 = col(row, 2)?;
    Ok(OutgoingMail {
        mail_id: col::<i64>(row, 0)? as u64,
        event_key: col(row, 1)?,
        category: MailCategory::from_u8(category as u8).ok_or_else(|| bad("mail category", category))?,
        address: col(row, 3)?,
        subject: col(row, 4)?,
        body: col(row, 5)?,
        created_at_ms: col::<i64>(row, 6)? as u64,
        attempts: col::<i32>(row, 7)? as u32,
    })
}

fn event(row: &tokio_postgres::Row) -> Result<JournalMailEvent, PgError> {
    let kind: i16 = col(row, 1)?;
    let mykey: String = col(row, 4)?;
    let account: String = col(row, 5)?;
    let notify: i16 = col(row, 8)?;
    Ok(JournalMailEvent {
        entry_id: col::<i64>(row, 0)? as u64,
        kind: EntryKind::from_u8(kind as u8).ok_or_else(|| bad("entry kind", kind))?,
        created_at_ms: col::<i64>(row, 2)? as u64,
        wallet: WalletId(col::<i64>(row, 3)? as u64),
        mykey_id: mykey.parse().map_err(|_| bad("MyKey ID", &mykey))?,
        account: account.parse().map_err(|_| bad("account", &account))?,
        points: col::<i64>(row, 6)? as u64,
        idem_key: col(row, 9)?,
        address: col(row, 7)?,
        notify: NotifyChoices::from_bits(notify as u8),
    })
}

impl MailOutbox for PostgresStore {
    fn mail_cursor(&self) -> StoreFuture<u64> {
        self.run(|c| {
            Box::pin(async move {
                let row = c.query_one("SELECT entry_id FROM mail_cursor WHERE name = 'journal'", &[]).await?;
                Ok(col::<i64>(&row, 0)? as u64)
            })
        })
    }

    fn journal_mail_events(
        &self,
        after: u64,
        window: u32,
        settled_before_ms: u64,
        kinds: Vec<EntryKind>,
    ) -> StoreFuture<JournalMailEvents> {
        self.run(move |c| {
            Box::pin(async move {
                let settled: Option<i64> = c
                    .query_one(
                        "SELECT MAX(entry_id) FROM (SELECT entry_id, created_at_ms FROM journal WHERE entry_id > $1
                         ORDER BY entry_id LIMIT $2) w WHERE created_at_ms < $3",
                        &[&(after as i64), &i64::from(window), &(settled_before_ms as i64)],
                    )
                    .await?
                    .try_get(0)
                    .map_err(|e| PgError::Corrupt(e.to_string()))?;
                let Some(settled_through) = settled.map(|s| s as u64) else {
                    return Ok(JournalMailEvents { events: Vec::new(), settled_through: after });
                };
                let kinds: Vec<i16> = kinds.iter().map(|k| *k as u8 as i16).collect();
                let rows = c
                    .query(
                        "SELECT j.entry_id, j.kind, j.created_at_ms, j.wallet_id, w.mykey_id, j.account, j.points,
                                c.email, c.notify, j.idem_key
                         FROM journal j JOIN citizens c ON c.wallet_id = j.wallet_id
                              JOIN wallets w ON w.wallet_id = j.wallet_id
                         WHERE j.entry_id > $1 AND j.entry_id <= $2 AND j.kind = ANY($3)
                           AND c.email IS NOT NULL AND c.email <> '' AND c.notify <> 0
                         ORDER BY j.entry_id",
                        &[&(after as i64), &(settled_through as i64), &kinds],
                    )
                    .await?;
                let events = rows.iter().map(event).collect::<Result<Vec<_>, _>>()?;
                Ok(JournalMailEvents { events, settled_through })
            })
        })
    }

    fn append_journal_mails(&self, from: u64, to: u64, mails: Vec<NewMail>) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                c.batch_execute("BEGIN").await?;
                let moved = c
                    .execute(
                        "UPDATE mail_cursor SET entry_id = $2 WHERE name = 'journal' AND entry_id = $1",
                        &[&(from as i64), &(to as i64)],
                    )
                    .await?;
                if moved != 1 {
                    c.batch_execute("ROLLBACK").await?;
                    return Ok(false);
                }
                let keys: Vec<&str> = mails.iter().map(|m| m.event_key.as_str()).collect();
                let wallets: Vec<i64> = mails.iter().map(|m| m.wallet.0 as i64).collect();
                let categories: Vec<i16> = mails.iter().map(|m| m.category as u8 as i16).collect();
                let addresses: Vec<&str> = mails.iter().map(|m| m.address.as_str()).collect();
                let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
                let bodies: Vec<&str> = mails.iter().map(|m| m.body.as_str()).collect();
                let created: Vec<i64> = mails.iter().map(|m| m.created_at_ms as i64).collect();
                c.execute(
                    "INSERT INTO mail_outbox (event_key, wallet_id, category, address, subject, body, created_at_ms,
                         next_attempt_ms)
                     SELECT k, w, g, a, s, b, t, t
                     FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::text[],
                                 $7::bigint[]) AS m(k, w, g, a, s, b, t)
                     ON CONFLICT (event_key) DO NOTHING",
                    &[&keys, &wallets, &categories, &addresses, &subjects, &bodies, &created],
                )
                .await?;
                c.batch_execute("COMMIT").await?;
                Ok(true)
            })
        })
    }

    fn due_mails(&self, now_ms: u64, limit: u32) -> StoreFuture<Vec<OutgoingMail>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT mail_id, event_key, category, address, subject, body, created_at_ms, attempts
                         FROM mail_outbox WHERE sent_at_ms IS NULL AND NOT failed AND next_attempt_ms <= $1
                         ORDER BY next_attempt_ms, mail_id LIMIT $2",
                        &[&(now_ms as i64), &i64::from(limit)],
                    )
                    .await?;
                rows.iter().map(outgoing).collect()
            })
        })
    }

    fn mail_delivered(&self, mail_id: u64, now_ms: u64) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE mail_outbox SET sent_at_ms = $2, attempts = attempts + 1, last_error = NULL
                     WHERE mail_id = $1 AND sent_at_ms IS NULL",
                    &[&(mail_id as i64), &(now_ms as i64)],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn mail_attempt_failed(&self, mail_id: u64, error: String, retry_at_ms: Option<u64>) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                let retry = retry_at_ms.map(|t| t as i64);
                c.execute(
                    "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2,
                         next_attempt_ms = COALESCE($3, next_attempt_ms), failed = ($3::bigint IS NULL)
                     WHERE mail_id = $1 AND sent_at_ms IS NULL",
                    &[&(mail_id as i64), &error, &retry],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn mail_counts(&self) -> StoreFuture<MailCounts> {
        self.run(|c| {
            Box::pin(async move {
                let row = c
                    .query_one(
                        "SELECT COUNT(*) FILTER (WHERE sent_at_ms IS NULL AND NOT failed),
                                COUNT(*) FILTER (WHERE sent_at_ms IS NOT NULL), COUNT(*) FILTER (WHERE failed)
                         FROM mail_outbox",
                        &[],
                    )
                    .await?;
                Ok(MailCounts {
                    pending: col::<i64>(&row, 0)? as u64,
                    sent: col::<i64>(&row, 1)? as u64,
                    failed: col::<i64>(&row, 2)? as u64,
                })
            })
        })
    }
}
