//! Granting one subject on one occasion, for every front door: a grant without a card at the
//! desk (F69), the reads of a mobile session (F67, F68), an enrolment from a session's
//! unregistered readers (R71), each row of a run over the roster.
//!
//! The rules here: the subject is on the programme's roster (its 付与ポイント数 is what is
//! granted), the programme is running today, and the grant goes through the citizen's wallet
//! with the key of its programme, subject and occasion ([`grant_key`]) — so whatever asks again
//! (a re-upload, a retry, a resumed run) gets the first grant's answer and nothing more. A
//! retry after the programme ended is still answered from the journal.

use std::sync::Arc;

use actix::Addr;
use actors::clock::Clock;
use actors::grants::{grant_key, GrantBook, Occasion, Programme};
use actors::journal::{EntryKind, WalletId};
use actors::mailbox::ask;
use actors::router::{MovePoints, Router};
use actors::store::{Store, StoreError};
use actors::wallet_append::Answer;
use actors::wallet_points::{PointOp, Posted};
use actors::SwitchError;
use protocol::{AccountRef, MyKeyId};

/// Why a subject was not granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("not on the programme's roster")]
    NotOnRoster,
    #[error("the programme runs from {starts_on} to {ends_on}")]
    NotRunning { starts_on: u32, ends_on: u32 },
    #[error("MyKey ID revoked")]
    Revoked,
    /// Busy, or the store away: nothing was granted, send again.
    #[error("try again: {0}")]
    Unavailable(SwitchError),
    #[error("refused: {0}")]
    Refused(SwitchError),
}

impl GrantError {
    /// The stable code a run's failure list and a session's answer carry.
    pub fn code(&self) -> &'static str {
        match self {
            GrantError::NotOnRoster => "not-on-roster",
            GrantError::NotRunning { .. } => "programme-not-running",
            GrantError::Revoked => "mykey-revoked",
            // The grant's key tells on a retry whether it was made.
            GrantError::Unavailable(SwitchError::OutcomeUnknown) => "outcome-unknown",
            GrantError::Unavailable(_) => "temporary-failure",
            GrantError::Refused(_) => "refused",
        }
    }
}

impl From<StoreError> for GrantError {
    fn from(e: StoreError) -> GrantError {
        GrantError::Unavailable(e.into())
    }
}

/// What granting needs from the running switch.
#[derive(Clone)]
pub struct GrantDesk {
    pub grants: Arc<dyn GrantBook>,
    pub store: Arc<dyn Store>,
    pub router: Addr<Router>,
    pub clock: Clock,
}

impl GrantDesk {
    /// Grants `points` of `programme` to the subject (`wallet`, `mykey_id`) on `occasion`,
    /// exactly once. The caller has checked the roster.
    pub async fn grant(
        &self,
        programme: &Programme,
        wallet: WalletId,
        mykey_id: MyKeyId,
        points: u64,
        occasion: Occasion,
    ) -> Result<Posted, GrantError> {
        let key = grant_key(programme.programme_id, wallet, occasion);
        if !programme.is_running(self.clock.business_date()) {
            return match self.store.entry_by_key(key).await? {
                Some(record) if record.kind == EntryKind::AdminGrant && record.wallet == Some(wallet) => {
                    Ok(Posted::replayed(record, &mykey_id))
                }
                _ => Err(GrantError::NotRunning { starts_on: programme.starts_on, ends_on: programme.ends_on }),
            };
        }
        let op = PointOp::Grant { key, to: AccountRef::municipal(programme.municipality), points };
        match ask(&self.router, |reply| MovePoints { wallet, op, reply }).await {
            Ok(Some(posted)) => {
                metrics::counter!("switch_grants_total", "occasion" => occasion_label(occasion), "result" => if posted.replayed { "replayed" } else { "granted" }).increment(1);
                Ok(posted)
            }
            // Only a sweep answers nothing.
            Ok(None) => Err(GrantError::Refused(SwitchError::Internal)),
            Err(SwitchError::MyKeyRevoked) => Err(GrantError::Revoked),
            Err(e @ (SwitchError::Busy | SwitchError::TemporaryFailure | SwitchError::OutcomeUnknown)) => {
                Err(GrantError::Unavailable(e))
            }
            Err(e) => Err(GrantError::Refused(e)),
        }
    }

    /// Grants a subject of the roster: looks the row up first (its points are granted).
    pub async fn grant_subject(
        &self,
        programme: &Programme,
        wallet: WalletId,
        occasion: Occasion,
    ) -> Result<Posted, GrantError> {
        let entry = self.grants.roster_entry(programme.clone(), wallet).await?.ok_or(GrantError::NotOnRoster)?;
        self.grant(programme, wallet, entry.mykey_id, entry.points, occasion).await
    }
}

fn occasion_label(occasion: Occasion) -> &'static str {
    match occasion {
        Occasion::Roster => "roster",
        Occasion::Session(_) => "session",
        Occasion::Desk(_) => "desk",
    }
}
