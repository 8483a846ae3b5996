//! Notification mails (F17, F90): Japanese templates, the feeder that turns journal entries
//! into outbox rows exactly once, and the sender that delivers outbox rows over SMTP with
//! retries and backoff. The outbox itself is the stores' (`actors::outbox::MailOutbox`).
//!
//! - [`templates`]: subjects and bodies, one function per event; which journal kinds are mailed.
//! - [`feeder`]: journal → outbox, one step = one transaction that moves the durable cursor.
//! - [`sender`]: outbox → SMTP (lettre), marking each row delivered or scheduling its retry.
//!
//! What is guaranteed where (the outbox rows are the durable truth):
//! - An event and its mail row commit together (registry events in the registry's transaction,
//!   journal entries with the feeder's cursor move), and a row's `event_key` is unique: no event
//!   gets two rows, none loses its row to a crash.
//! - SMTP is at-least-once: a mail is marked delivered only after the server accepted it. A
//!   crash (kill -9) after the server's acceptance and before the mark sends it again after the
//!   restart — at most once more per crash, with the same `Message-ID` (`<mail-N.KEY@domain>`,
//!   stable per row), so the receiving side can recognise the repeat. A crash at any other point
//!   sends it once.

pub mod feeder;
pub mod sender;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use actors::catalog::SharedCatalog;
use actors::clock::Clock;
use actors::outbox::MailOutbox;

/// Mail settings (config section `[mail]`).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// SMTP relay; None: mails stay in the outbox, nothing is sent or fed.
    pub smtp: Option<(String, u16)>,
    pub from: String,
    /// The domain part of the stable Message-IDs.
    pub message_id_domain: String,
    pub poll: Duration,
    /// Journal entries younger than this are not fed yet: on a store that commits several
    /// batches at once a smaller entry id may still be committing (`store.statement_timeout_ms`
    /// bounds that; this is three times the default).
    pub journal_settle: Duration,
    /// A mail whose event is older than this is not sent (given up as stale): news of a
    /// password change days late helps nobody, and a switch that ran without a relay must not
    /// mail its history when one is configured.
    pub max_age: Duration,
    pub feed_window_entries: u32,
    pub send_batch: u32,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub smtp_timeout: Duration,
}

/// What the mail thread needs.
pub struct MailDeps {
    pub outbox: Arc<dyn MailOutbox>,
    /// Grant programmes, named in their grants' mails (F70).
    pub grants: Arc<dyn actors::grants::GrantBook>,
    pub catalog: SharedCatalog,
    pub clock: Clock,
}

/// Starts the mail thread (feeder and sender) when an SMTP relay is configured.
pub fn start(settings: MailSettings, deps: MailDeps) -> Option<std::thread::JoinHandle<()>> {
    let (host, port) = settings.smtp.clone()?;
    let spawned = std::thread::Builder::new().name("mail".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "mail thread could not start its runtime");
                return;
            }
        };
        let transport = sender::Smtp::new(&host, port, &settings);
        runtime.block_on(sender::run(settings, deps, transport));
    });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "mail thread could not start");
            None
        }
    }
}
