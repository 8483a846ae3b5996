//! Administrative point grants (いわゆる行政ポイント, F59–F70): a municipality's grant
//! programmes (ポイント付与事業), the roster of each (付与事業対象者名簿) with the subject master's
//! identification items (対象者マスタ), and the occasions a subject is granted on.
//!
//! A grant is a point movement like any other: [`crate::wallet_points::PointOp::Grant`] through
//! the citizen's wallet and the ledger's group commit, crediting the citizen's municipal point
//! and debiting the municipality's issuer account ([`crate::journal::HouseAccount::Issuer`]),
//! as journal kind [`crate::journal::EntryKind::AdminGrant`]. Its idempotency key says which
//! programme granted whom on which occasion ([`grant_key`]), so a re-upload, a retry or a
//! resumed run never grants twice, and the journal entry names its programme (for the
//! grant-completion mail, F70). The settlement book `G:<programme>` keeps each programme's
//! grants as they commit: the roster's grant state and the programme's aggregation read it.
//!
//! - [`programme`]: the programme form (画面63) and its rules (R63).
//! - [`subjects`]: the optional identification items (F61, R66) and a subject's details.
//! - [`book`]: the store interface (`GrantBook`).

pub mod book;
pub mod programme;
pub mod subjects;

pub use book::{
    EnrolResult, GrantBook, GrantRun, GrantSession, GrantState, NewRosterEntry, RosterEntry, RosterFilter,
    RosterSource, RunProgress, RunStatus, Subject,
};
pub use programme::{Programme, ProgrammeDraft, ProgrammeForm};
pub use subjects::{SubjectDetails, SubjectItems};

use crate::journal::WalletId;

/// The occasion a subject is granted on: at most one grant per programme, subject and
/// occasion (A28: each session credits once per MyKey ID; later sessions may credit again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Occasion {
    /// The programme's grant to its roster (a run over the whole roster): once per subject.
    Roster,
    /// A mobile grant session with the card present (F67, F68), by the session's number.
    Session(u64),
    /// A grant without a card at the desk (F69), once per subject and Japan business day.
    Desk(u32),
}

impl Occasion {
    /// Its part of the key, and the settlement line's counterparty: `r`, `s<n>`, `d<yyyymmdd>`.
    pub fn code(&self) -> String {
        match self {
            Occasion::Roster => "r".into(),
            Occasion::Session(n) => format!("s{n}"),
            Occasion::Desk(date) => format!("d{date}"),
        }
    }

    pub fn parse(code: &str) -> Option<Occasion> {
        match code.as_bytes().first()? {
            b'r' if code.len() == 1 => Some(Occasion::Roster),
            b's' => code[1..].parse().ok().map(Occasion::Session),
            b'd' => code[1..].parse().ok().filter(|d| (19000101..=99991231).contains(d)).map(Occasion::Desk),
            _ => None,
        }
    }
}

/// The journal idempotency key of a grant: `A<programme>:<wallet>:<occasion>`.
pub fn grant_key(programme_id: u64, wallet: WalletId, occasion: Occasion) -> String {
    format!("A{programme_id}:{}:{}", wallet.0, occasion.code())
}

/// The programme, wallet and occasion a grant key names (how a mail sender reading the
/// journal's grant entries finds the programme, F70).
pub fn parse_grant_key(key: &str) -> Option<(u64, WalletId, Occasion)> {
    let mut parts = key.strip_prefix('A')?.splitn(3, ':');
    let programme = parts.next()?.parse().ok()?;
    let wallet = WalletId(parts.next()?.parse().ok()?);
    let occasion = Occasion::parse(parts.next()?)?;
    Some((programme, wallet, occasion))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_keys_name_the_programme_subject_and_occasion() {
        for occasion in [Occasion::Roster, Occasion::Session(7), Occasion::Desk(20261203)] {
            let key = grant_key(12, WalletId(345), occasion);
            assert_eq!(parse_grant_key(&key), Some((12, WalletId(345), occasion)));
        }
        assert_eq!(grant_key(12, WalletId(345), Occasion::Session(7)), "A12:345:s7");
        for bad in ["A12:345", "A12:x:r", "Ax:1:r", "T1:1", "A1:1:q", "A1:1:rr", "A1:1:d123"] {
            assert_eq!(parse_grant_key(bad), None, "{bad}");
        }
        // The settlement book's counterparty is the occasion's code (see settlement::lines).
        let facts_key = grant_key(3, WalletId(1), Occasion::Desk(20261203));
        assert!(facts_key.ends_with(":d20261203"));
    }
}
