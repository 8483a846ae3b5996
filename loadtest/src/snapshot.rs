//! Balance snapshots: card-read every citizen of a working set over a few pipelined
//! connections and keep the balance of one sub-account.
//!
//! The redeem run takes one snapshot before the load and one after the drain; the difference
//! is what the switch really took, to be compared with what it acknowledged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::demo::DemoCitizen;
use protocol::{AccountRef, CardReadOk, Fingerprint, TerminalId};

use crate::client::{ClientConfig, ClientError, TerminalClient};

/// Card reads kept in flight on each snapshot connection.
pub const SNAPSHOT_IN_FLIGHT_PER_CONNECTION: usize = 32;
/// Attempts of one card read answered BUSY or TEMPORARY_FAILURE before giving up.
pub const RETRYABLE_ATTEMPTS_MAX: u32 = 20;
/// Pause before retrying a BUSY or TEMPORARY_FAILURE answer, multiplied by the attempt number.
pub const RETRY_BACKOFF_STEP: Duration = Duration::from_millis(20);

/// A snapshot could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("login of terminal {terminal_id} for balance reads failed: {error}")]
    Login { terminal_id: TerminalId, error: ClientError },
    #[error("card read of citizen {index} (serial {serial}) failed: {error}")]
    CardRead { index: u64, serial: String, error: ClientError },
    #[error("no terminal to read balances with")]
    NoTerminal,
}

/// Reads the balance of `account` for every citizen, in the order given; a citizen whose card
/// lists no such account counts as 0. `terminals` are the credentials to log in with, one
/// connection each.
pub async fn read_balances(
    addr: &str,
    terminals: &[(TerminalId, String, Fingerprint)],
    citizens: Arc<Vec<DemoCitizen>>,
    account: &AccountRef,
    client_config: &ClientConfig,
) -> Result<Vec<u64>, SnapshotError> {
    if terminals.is_empty() {
        return Err(SnapshotError::NoTerminal);
    }
    let mut clients = Vec::with_capacity(terminals.len());
    for (terminal_id, password, fingerprint) in terminals {
        let client = login_retrying(addr, *terminal_id, password, *fingerprint, client_config)
            .await
            .map_err(|error| SnapshotError::Login { terminal_id: *terminal_id, error })?;
        clients.push(Arc::new(client));
    }

    let cursor = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for client in &clients {
        for _ in 0..SNAPSHOT_IN_FLIGHT_PER_CONNECTION {
            let (client, cursor, citizens) = (client.clone(), cursor.clone(), citizens.clone());
            let account = account.clone();
            workers.push(tokio::spawn(async move {
                let mut read = Vec::new();
                loop {
                    let i = cursor.fetch_add(1, Ordering::Relaxed);
                    let Some(citizen) = citizens.get(i) else {
                        break;
                    };
                    let card = card_read_retrying(&client, &citizen.cert_serial).await.map_err(|error| {
                        SnapshotError::CardRead { index: citizen.index, serial: citizen.cert_serial.clone(), error }
                    })?;
                    read.push((i, balance_of(&card, &account)));
                }
                Ok::<_, SnapshotError>(read)
            }));
        }
    }

    let mut balances = vec![0u64; citizens.len()];
    let mut first_error = None;
    for worker in workers {
        match worker.await {
            Ok(Ok(read)) => read.into_iter().for_each(|(i, b)| balances[i] = b),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            // A worker cannot panic on its own; a join error means the runtime is shutting down.
            Err(_) => first_error = first_error.or(Some(SnapshotError::NoTerminal)),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(balances),
    }
}

/// The balance of one sub-account on a card-read answer, 0 when the card does not list it.
pub fn balance_of(card: &CardReadOk, account: &AccountRef) -> u64 {
    card.accounts.iter().find(|a| &a.account == account).map_or(0, |a| a.balance)
}

/// Connects and logs in. Retries a login answered BUSY or TEMPORARY_FAILURE, or whose
/// connection ended before the answer (a switch at its connection limit hangs up, and the
/// hang-up can overtake its BUSY); a refused connect fails at once.
pub async fn login_retrying(
    addr: &str,
    terminal_id: TerminalId,
    password: &str,
    fingerprint: Fingerprint,
    config: &ClientConfig,
) -> Result<TerminalClient, ClientError> {
    let mut attempt = 1;
    loop {
        let client = TerminalClient::connect_with(addr, config.clone()).await?;
        match client.login(terminal_id, password, fingerprint).await {
            Ok(_) => return Ok(client),
            Err(e) if login_retryable(&e) && attempt < RETRYABLE_ATTEMPTS_MAX => {
                tokio::time::sleep(RETRY_BACKOFF_STEP * attempt).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn login_retryable(e: &ClientError) -> bool {
    retryable(e) || matches!(e, ClientError::Closed | ClientError::Io(_))
}

async fn card_read_retrying(client: &TerminalClient, serial: &str) -> Result<CardReadOk, ClientError> {
    let mut attempt = 1;
    loop {
        match client.card_read(serial).await {
            Err(e) if retryable(&e) && attempt < RETRYABLE_ATTEMPTS_MAX => {
                tokio::time::sleep(RETRY_BACKOFF_STEP * attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn retryable(e: &ClientError) -> bool {
    e.code().is_some_and(|c| c.is_retryable())
}
