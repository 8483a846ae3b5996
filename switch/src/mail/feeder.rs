//! Journal → outbox, exactly once. One step reads the mailed kinds' entries after the durable
//! cursor (among those old enough that no smaller entry id can still be committing), renders
//! the mails of those whose citizen opted in, and stores them together with the cursor's move in
//! one transaction that refuses to run from a cursor someone else moved. A crash before that
//! transaction leaves the cursor where it was, so the next step reads the same entries; after
//! it, they are never read again.

use std::collections::HashMap;

use actors::catalog::SharedCatalog;
use actors::grants::{parse_grant_key, GrantBook};
use actors::journal::EntryKind;
use actors::outbox::{JournalMailEvent, MailOutbox, NewMail};
use actors::store::StoreError;

use super::templates::{journal_kinds, journal_mail, GrantedBy};

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
    grants: &dyn GrantBook,
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
    let programmes = programmes_of(grants, &read.events).await?;
    let mails: Vec<NewMail> = read
        .events
        .iter()
        .filter(|event| event.created_at_ms >= oldest_ms)
        .filter_map(|event| {
            let granted_by = granting_programme(event)
                .and_then(|id| programmes.get(&id))
                .map(|p| GrantedBy { name: &p.name, number: &p.number_text });
            let (category, text) = journal_mail(event, &catalog, granted_by)?;
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

/// The programme an administrative grant's key names.
fn granting_programme(event: &JournalMailEvent) -> Option<u64> {
    if event.kind != EntryKind::AdminGrant {
        return None;
    }
    parse_grant_key(event.idem_key.as_deref()?).map(|(programme, _, _)| programme)
}

/// A programme's name and 付与事業ID, as its grants' mails name it.
struct ProgrammeName {
    name: String,
    number_text: String,
}

/// The programmes of the window's administrative grants (a run's window names one programme,
/// so this is one read per step, not one per mail).
async fn programmes_of(
    grants: &dyn GrantBook,
    events: &[JournalMailEvent],
) -> Result<HashMap<u64, ProgrammeName>, StoreError> {
    let mut names = HashMap::new();
    for id in events.iter().filter_map(granting_programme) {
        if names.contains_key(&id) {
            continue;
        }
        if let Some(programme) = grants.programme_by_id(id).await? {
            names.insert(id, ProgrammeName { number_text: programme.number_text(), name: programme.name });
        }
    }
    Ok(names)
}
