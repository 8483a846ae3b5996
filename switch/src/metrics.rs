//! Prometheus metrics: the recorder, the metric descriptions, and the text for `GET /metrics`
//! (read back every second by the ops dashboard, `crate::ops`).
//!
//! Metrics are recorded where things happen (connections, ledger, router) through the
//! `metrics` facade; this module installs the one recorder and renders it.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Request and commit latencies: 100 µs to 10 s.
const LATENCY_BUCKETS_S: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Entries per ledger batch.
const BATCH_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

/// Installs the process-wide recorder (once, at start).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = builder()?.install_recorder()?;
    describe();
    spawn_upkeep(handle.clone());
    Ok(handle)
}

/// The exporter as the switch configures it (buckets), not installed: `install` uses it, and
/// tests build a local recorder from it to read back exactly what the switch renders.
pub fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS_S)?
        .set_buckets_for_metric(Matcher::Full("switch_ledger_batch_entries".into()), BATCH_BUCKETS)
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Histogram samples wait in per-thread buffers until upkeep folds them into the buckets. With
/// nobody scraping `/metrics` they would pile up (measured: RSS from 150 to 390 MB in 40 s of
/// overload), so a small thread folds them every second whether or not anyone scrapes.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
        std::thread::sleep(UPKEEP_EVERY);
        handle.run_upkeep();
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the metrics upkeep thread; histograms grow until scraped");
    }
}

fn describe() {
    describe_counter!(
        "switch_requests_total",
        "Terminal requests answered, by message type and result (ok or error code name)."
    );
    describe_histogram!(
        "switch_request_duration_seconds",
        Unit::Seconds,
        "Time from decoding a request to its answer being queued."
    );
    describe_counter!(
        "switch_id_link_lines_total",
        "ID-link file lines processed, by result (ok: credited, ng: refused), counted at checkpoints."
    );
    describe_counter!(
        "switch_merge_lines_total",
        "Shopping streets' merge-file lines, by result (applied; replayed: applied before, not again; refused: on its line)."
    );
    describe_counter!(
        "switch_grants_total",
        "Administrative grants answered, by occasion (roster run, session, desk) and result (granted, or replayed: made before)."
    );
    describe_gauge!("switch_terminal_connections", "Open terminal connections.");
    describe_counter!(
        "switch_terminal_connections_refused_total",
        "Connections refused with BUSY, by reason (max_connections, per_address: max_connections_per_address)."
    );
    describe_counter!(
        "switch_terminal_tls_handshakes_failed_total",
        "Terminal connections closed because their TLS handshake failed (error: e.g. a plain client or an untrusted certificate; timeout: not done within the login deadline)."
    );
    describe_counter!(
        "switch_terminal_login_deadline_closed_total",
        "Connections closed for not logging in within terminal.login_timeout_s."
    );
    describe_histogram!("switch_ledger_batch_entries", "Entries per store transaction (group commit).");
    describe_histogram!("switch_ledger_commit_seconds", Unit::Seconds, "Duration of one batch commit in the store.");
    describe_gauge!("switch_ledger_pending_entries", "Entries waiting for the next commit.");
    describe_counter!("switch_ledger_commit_failures_total", "Batches the store failed to commit.");
    describe_counter!(
        "switch_store_batches_total",
        "PostgreSQL only: batches by the way they were committed (one_round_trip; checked_after_refusal: the one-round-trip attempt was refused, e.g. a retried request, a stale wallet; checked: refused by its shape alone)."
    );
    describe_counter!("switch_ledger_busy_total", "Entries refused because too many were waiting (BUSY).");
    describe_gauge!("switch_wallets_active", "Wallets in memory: running (an actor) or parked (the state alone).");
    describe_gauge!(
        "switch_wallets_running",
        "Active wallets with an actor at the last sweep (the others are parked)."
    );
    describe_counter!(
        "switch_wallets_parked_total",
        "Idle wallets parked: the actor stopped, the router keeps the state."
    );
    describe_counter!("switch_wallets_passivated_total", "Wallet actors passivated (idle or over the active limit).");
    describe_counter!(
        "switch_point_movements_total",
        "Movements that are not a terminal's (partner credits, reserved moves, shop debits and cancels), by kind and result (ok, replayed, or the problem code)."
    );
    describe_counter!(
        "switch_store_write_queue_full_total",
        "Embedded store writes refused because WRITE_QUEUE_MAX jobs were waiting for the writer thread."
    );
    describe_counter!(
        "switch_http_bodies_refused_total",
        "HTTP request bodies refused before a handler, by reason (anonymous_too_large, anonymous_busy, timeout)."
    );
    describe_counter!(
        "switch_http_password_checks_refused_total",
        "Logins and password changes answered 503 busy: no password-hashing slot within 2 s."
    );
    describe_counter!("switch_ticket_notes_dropped_total", "Ticket state notes dropped because their queue was full.");
    describe_counter!(
        "switch_ticket_expiry_found_ended_total",
        "Tickets the expiry job found already ended (cleared, reissued), by where: memory or journal before the wallet was asked, wallet when a clearing raced the job."
    );
    describe_counter!("switch_mail_queued_total", "Notification mails written to the outbox, by source.");
    describe_counter!("switch_mail_sent_total", "Notification mails the SMTP relay accepted.");
    describe_counter!("switch_mail_failures_total", "Notification mails not sent, by outcome.");
    describe_counter!("switch_reserve_swept_wallets_total", "Wallets whose overdue reserved points the sweep moved.");
    describe_counter!(
        "switch_reserve_swept_points_total",
        "Reserved points the sweep moved to default municipalities."
    );
    describe_counter!(
        "switch_points_expired_entries_total",
        "Expiry entries of the point-expiry job (F58): one per wallet and municipal point or event whose lots expired."
    );
    describe_counter!("switch_points_expired_total", "Municipal and event points the point-expiry job expired (F58).");
    describe_counter!(
        "switch_id_link_uploads_total",
        "ID-link file uploads, by result (accepted, or the problem code of the refusal)."
    );
    describe_counter!("switch_coupons_issued_total", "Coupons partners issued (stored with their codes).");
    describe_counter!(
        "switch_coupon_redemptions_total",
        "Coupon redemptions on the my page, by result (ok, replayed: a retry answered again, or the problem code)."
    );
    describe_counter!(
        "switch_store_errors_total",
        "Store calls that failed, by kind (unavailable: unreachable, failed or late, answered TEMPORARY_FAILURE / 503; corrupt: damaged data, INTERNAL / 500)."
    );
    describe_gauge!(
        "switch_store_pool_connections",
        "PostgreSQL only: pooled connections by state (open: all, idle: ready for a call)."
    );
    describe_gauge!("switch_store_pool_waiting", "PostgreSQL only: calls waiting for a pooled connection.");
}

#[cfg(test)]
mod tests {
    /// Metric names recorded with `macro!("name"` in the switch's sources.
    fn names_after(macro_names: &[&str], text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for m in macro_names {
            let opening = format!("{m}!(");
            for (at, _) in text.match_indices(&opening) {
                let rest = text[at + opening.len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    names.extend(quoted.split('"').next().map(str::to_owned));
                }
            }
        }
        names
    }

    fn sources(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }

    #[test]
    fn every_metric_the_switch_records_has_help_text() {
        let mut text = String::new();
        for dir in ["src", "../actors/src"] {
            sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut text);
        }
        let described = names_after(&["describe_counter", "describe_gauge", "describe_histogram"], &text);
        let mut missing: Vec<String> =
            names_after(&["metrics::counter", "metrics::gauge", "metrics::histogram"], &text)
                .into_iter()
                .filter(|n| !described.contains(n))
                .collect();
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "recorded without # HELP (describe them in metrics.rs): {missing:?}");
    }
}
