//! Outbox → SMTP. Each due mail is sent with lettre over SMTP and marked delivered once the
//! server accepted it; a failure schedules the next attempt with exponential backoff
//! (`mail.retry_base_s` doubling up to `mail.retry_max_s`), and a permanent refusal (5xx, a
//! malformed address) or the last of `mail.max_attempts` gives the mail up (kept, marked
//! failed, counted). The feeder runs in the same loop, so a mail is queued and sent by one
//! thread in order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actors::outbox::OutgoingMail;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{SmtpTransport, Transport};

use super::feeder::feed_once;
use super::{MailDeps, MailSettings};

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// The server refused for good (5xx) or the mail cannot be built: do not retry.
    pub permanent: bool,
    pub message: String,
}

/// The SMTP relay (plain SMTP on a closed network; the relay does onward TLS).
pub struct Smtp {
    transport: SmtpTransport,
    from: String,
    message_id_domain: String,
}

impl Smtp {
    pub fn new(host: &str, port: u16, settings: &MailSettings) -> Smtp {
        let transport = SmtpTransport::builder_dangerous(host).port(port).timeout(Some(settings.smtp_timeout)).build();
        Smtp { transport, from: settings.from.clone(), message_id_domain: settings.message_id_domain.clone() }
    }

    /// One attempt. The Message-ID is the outbox row's, so a mail sent again after a crash
    /// carries the same one.
    pub fn send(&self, mail: &OutgoingMail) -> Result<(), SendFailure> {
        let permanent = |message: String| SendFailure { permanent: true, message };
        let from: Mailbox = self.from.parse().map_err(|e| permanent(format!("mail.from: {e}")))?;
        let to: Mailbox = mail.address.parse().map_err(|e| permanent(format!("address: {e}")))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(message_id(mail, &self.message_id_domain)))
            .date(UNIX_EPOCH + Duration::from_millis(mail.created_at_ms))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| permanent(format!("building the message: {e}")))?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| SendFailure { permanent: e.is_permanent(), message: e.to_string() })
    }
}

/// `<mail-<id>.<event key>@<domain>>`: stable for a row, unique per event.
pub fn message_id(mail: &OutgoingMail, domain: &str) -> String {
    let key: String = mail.event_key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("<mail-{}.{key}@{domain}>", mail.mail_id)
}

/// When to try again after the `attempt`-th failure (1-based), or None to give up.
pub fn retry_at(settings: &MailSettings, attempt: u32, permanent: bool, now_ms: u64) -> Option<u64> {
    if permanent || attempt >= settings.max_attempts {
        return None;
    }
    let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
    let wait = settings.retry_base.saturating_mul(factor).min(settings.retry_max);
    Some(now_ms + wait.as_millis() as u64)
}

/// Whether an event is too old for its mail to be worth sending (`mail.max_age_s`).
pub fn stale(settings: &MailSettings, created_at_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(created_at_ms) > settings.max_age.as_millis() as u64
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The mail thread's loop: feed until caught up, send what is due, wait a poll interval.
pub async fn run(settings: MailSettings, deps: MailDeps, smtp: Smtp) {
    loop {
        let now = deps.clock.now_ms();
        let settled_before = now.saturating_sub(settings.journal_settle.as_millis() as u64);
        let oldest = now.saturating_sub(settings.max_age.as_millis() as u64);
        loop {
            let window = settings.feed_window_entries;
            match feed_once(deps.outbox.as_ref(), deps.grants.as_ref(), &deps.catalog, window, settled_before, oldest)
                .await
            {
                Ok(step) if step.advanced => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mail feeder could not read the journal; trying again");
                    break;
                }
            }
        }
        let due = match deps.outbox.due_mails(deps.clock.now_ms(), settings.send_batch.max(1)).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "mail sender could not read the outbox; trying again");
                Vec::new()
            }
        };
        let full = due.len() as u32 >= settings.send_batch.max(1);
        for mail in due {
            deliver(&settings, &deps, &smtp, mail).await;
        }
        if !full {
            tokio::time::sleep(settings.poll).await;
        }
    }
}

async fn deliver(settings: &MailSettings, deps: &MailDeps, smtp: &Smtp, mail: OutgoingMail) {
    let now = now_ms().max(deps.clock.now_ms());
    let sent = if stale(settings, mail.created_at_ms, now) {
        Err(SendFailure { permanent: true, message: "stale: the event is older than mail.max_age_s".into() })
    } else {
        smtp.send(&mail)
    };
    let marked = match &sent {
        Ok(()) => {
            metrics::counter!("switch_mail_sent_total").increment(1);
            deps.outbox.mail_delivered(mail.mail_id, now).await
        }
        Err(failure) => {
            let retry = retry_at(settings, mail.attempts + 1, failure.permanent, now);
            let outcome = if retry.is_some() { "retry" } else { "given_up" };
            metrics::counter!("switch_mail_failures_total", "outcome" => outcome).increment(1);
            tracing::warn!(mail = mail.mail_id, error = %failure.message, outcome, "mail not delivered");
            deps.outbox.mail_attempt_failed(mail.mail_id, failure.message.clone(), retry).await
        }
    };
    if let Err(e) = marked {
        // Delivered but not marked: it is sent again after the next read (same Message-ID).
        tracing::warn!(mail = mail.mail_id, error = %e, "could not record the mail's delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::outbox::MailCategory;

    fn settings() -> MailSettings {
        MailSettings {
            smtp: None,
            from: "noreply@example.jp".into(),
            message_id_domain: "switch.example.jp".into(),
            poll: Duration::from_secs(1),
            journal_settle: Duration::ZERO,
            max_age: Duration::from_secs(86_400),
            feed_window_entries: 100,
            send_batch: 10,
            max_attempts: 4,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(90),
            smtp_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_then_gives_up() {
        let s = settings();
        assert_eq!(retry_at(&s, 1, false, 0), Some(30_000));
        assert_eq!(retry_at(&s, 2, false, 0), Some(60_000));
        assert_eq!(retry_at(&s, 3, false, 0), Some(90_000), "capped at retry_max");
        assert_eq!(retry_at(&s, 4, false, 0), None, "max_attempts reached");
        assert_eq!(retry_at(&s, 1, true, 0), None, "a permanent refusal is not retried");
    }

    #[test]
    fn mails_older_than_the_maximum_age_are_stale() {
        let s = settings();
        let day_ms = 86_400_000;
        assert!(!stale(&s, 10 * day_ms, 11 * day_ms), "exactly max_age old is still sent");
        assert!(stale(&s, 10 * day_ms, 11 * day_ms + 1));
        assert!(!stale(&s, 11 * day_ms, 10 * day_ms), "a clock behind the event is not stale");
    }

    #[test]
    fn message_ids_are_stable_per_row() {
        let mail = OutgoingMail {
            mail_id: 42,
            event_key: "R7:password:1764".into(),
            category: MailCategory::PasswordChanged,
            address: "a@example.jp".into(),
            subject: String::new(),
            body: String::new(),
            created_at_ms: 0,
            attempts: 0,
        };
        assert_eq!(message_id(&mail, "switch.example.jp"), "<mail-42.R7-password-1764@switch.example.jp>");
    }
}
