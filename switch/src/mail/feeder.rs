//! Journal → outbox, exactly once. One step reads the mailed kinds' entries after the durable
//! cursor (among those old enough that no smaller entry id can still be committing), renders
//! the mails of those whose citizen opted in, and stores them together with the cursor's move in
//! one transaction that refuses to run from a cursor someone else moved. A crash before that
//! transaction leaves the cursor where it was, so the next step reads the same entries; after
//! it, they are never read again.

use actors::catalog::SharedCatalog;
use actors::outbox::{MailOutbox, NewMail};
use actors::store::StoreError;

use super::templates::{journal_kinds, journal_mail};

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStep {
    pub cursor: u64,
    pub mails: usize,
    /// The cursor moved (more may follow at once).
    pub advanced: bool,
}

/// One feeding step.
/// `oldest_ms`: entries created before it are passed over without a mail (a switch that ran
/// without a relay does not mail months of history when one is configured).
pub async fn feed_once(
    outbox: &dyn MailOutbox,
    catalog: &SharedCatalog,
    window: u32,
    settled_before_ms: u64,
    oldest_ms: u64,
) -> Result<FeedStep, StoreError> {
    let cursor = outbox.mail_cursor().await?;
    let read = outbox.journal_mail_events(cursor, window.max(1), settled_before_ms, journal_kinds()).await?;
    if read.settled_through <= cursor {
        return Ok(FeedStep { cursor, mails: 0, advanced: false });
    }
    let catalog = catalog.current();
    let mails: Vec<NewMail> = read
        .events
        .iter()
        .filter(|event| event.created_at_ms >= oldest_ms)
        .filter_map(|event| {
            let (category, text) = journal_mail(event, &catalog)?;
            Some(NewMail {
                event_key: format!("J{}", event.entry_id),
                wallet: event.wallet,
                category,
                address: event.address.clone(),
                subject: text.subject,
                body: text.body,
                created_at_ms: event.created_at_ms,
            })
        })
        .collect();
    let count = mails.len();
    let moved = outbox.append_journal_mails(cursor, read.settled_through, mails).await?;
    if moved {
        metrics::counter!("switch_mail_queued_total", "source" => "journal").increment(count as u64);
    }
    Ok(FeedStep { cursor: if moved { read.settled_through } else { cursor }, mails: count, advanced: moved })
}
