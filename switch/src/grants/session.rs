//! A mobile grant session's upload (F67, F68): the card reads a (エ) terminal stored during its
//! card-reading standby, sent to the cloud. Each distinct subject read is granted once for the
//! session (A28, F68 DEFAULT: reading one card twice grants once); readers not on the roster are
//! noted for 画面78 (付与事業対象者名簿未登録者一覧), where staff enrol them (R71) and they are
//! granted for the same session. The same session uploaded again — whole, in parts, or after a
//! lost answer — grants nothing twice: the session is the terminal's own name for it, and each
//! grant's key names the session.

use std::collections::HashSet;

use actors::grants::{GrantSession, Occasion, Programme};
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::router::Preload;
use actors::store::card_holder;
use futures::stream::{self, StreamExt};
use protocol::{MyKeyId, TerminalId, TxnNo};

use super::desk::{GrantDesk, GrantError};

/// Most card reads one upload may carry (a session of more is uploaded in parts).
pub const SESSION_READS_MAX: usize = 2_000;
/// Grants under way at once within one upload.
const GRANTS_IN_FLIGHT: usize = 64;
/// Longest name a terminal may give its session.
pub const CLIENT_SESSION_MAX_LEN: usize = 64;

/// One card read, as the terminal stored it: the card's certificate serial (利用者証明用電子証明書
/// 発行番号), or the MyKey ID the terminal read with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRead {
    pub cert_serial: Option<String>,
    pub mykey_id: Option<MyKeyId>,
}

/// A subject granted for the session (or granted before, by an earlier upload of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub mykey_id: MyKeyId,
    pub points: u64,
    pub txn_no: TxnNo,
    pub replayed: bool,
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAnswer {
    pub session: GrantSession,
    pub granted: Vec<Granted>,
    /// Read but not on the roster (画面78), by MyKey ID.
    pub not_on_roster: Vec<MyKeyId>,
    /// Reads that name no citizen: (the read's index in the upload, what it held).
    pub unknown: Vec<(usize, String)>,
    /// Subjects not granted, with the reason's code (a revoked MyKey ID, the programme's end).
    pub refused: Vec<(MyKeyId, &'static str)>,
}

/// Why an upload was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The terminal named this session for another programme before.
    AnotherProgramme,
    /// Busy or the store away: nothing half-done is lost, send the upload again.
    Unavailable(String),
}

impl GrantDesk {
    /// Processes one upload of a session; see the module documentation.
    pub async fn upload_session(
        &self,
        programme: &Programme,
        terminal: TerminalId,
        client_session: String,
        reads: Vec<CardRead>,
    ) -> Result<SessionAnswer, UploadError> {
        let unavailable = |e: actors::store::StoreError| UploadError::Unavailable(e.to_string());
        let now = self.clock.now_ms();
        let session = self
            .grants
            .open_session(programme.programme_id, terminal, client_session, now)
            .await
            .map_err(unavailable)?;
        if session.programme_id != programme.programme_id {
            return Err(UploadError::AnotherProgramme);
        }
        // Who was read, first read first; a card read twice counts once.
        let by_mykey: Vec<MyKeyId> =
            reads.iter().filter(|r| r.cert_serial.is_none()).filter_map(|r| r.mykey_id).collect();
        let mut found = self.grants.subjects_by_mykey(by_mykey).await.map_err(unavailable)?.into_iter();
        let mut subjects: Vec<(WalletId, MyKeyId)> = Vec::new();
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        for (i, read) in reads.iter().enumerate() {
            let hit = match (&read.cert_serial, read.mykey_id) {
                (Some(serial), _) => card_holder(self.store.as_ref(), serial.clone()).await.map_err(unavailable)?,
                (None, Some(mykey)) => found.next().flatten().map(|s| (s.wallet, mykey)),
                (None, None) => None,
            };
            match hit {
                Some((wallet, mykey)) => {
                    if seen.insert(wallet) {
                        subjects.push((wallet, mykey));
                    }
                }
                None => unknown
                    .push((i, read.cert_serial.clone().or(read.mykey_id.map(|m| m.to_string())).unwrap_or_default())),
            }
        }
        // Who of them is on the roster.
        let mut on_roster = Vec::new();
        let mut not_on_roster = Vec::new();
        for (wallet, mykey) in subjects {
            match self.grants.roster_entry(programme.clone(), wallet).await.map_err(unavailable)? {
                Some(entry) => on_roster.push((wallet, mykey, entry.points)),
                None => not_on_roster.push((wallet, mykey)),
            }
        }
        if !not_on_roster.is_empty() {
            let wallets = not_on_roster.iter().map(|(w, _)| *w).collect();
            self.grants.note_unregistered(session.session_no, wallets, now).await.map_err(unavailable)?;
        }
        // Their wallets in one store read rather than one each (a refusal only means each
        // wallet loads itself on its grant).
        let wallets: Vec<WalletId> = on_roster.iter().map(|(w, _, _)| *w).collect();
        if !wallets.is_empty() {
            let _ = ask(&self.router, |reply| Preload { wallets, reply }).await;
        }
        let occasion = Occasion::Session(session.session_no);
        let outcomes: Vec<(MyKeyId, u64, Result<_, GrantError>)> = stream::iter(on_roster)
            .map(|(wallet, mykey, points)| async move {
                (mykey, points, self.grant(programme, wallet, mykey, points, occasion).await)
            })
            .buffered(GRANTS_IN_FLIGHT)
            .collect()
            .await;
        let mut answer = SessionAnswer {
            session,
            granted: Vec::new(),
            not_on_roster: not_on_roster.into_iter().map(|(_, m)| m).collect(),
            unknown,
            refused: Vec::new(),
        };
        for (mykey_id, points, outcome) in outcomes {
            match outcome {
                Ok(posted) => {
                    answer.granted.push(Granted { mykey_id, points, txn_no: posted.txn_no, replayed: posted.replayed })
                }
                // Nothing of it was applied; the whole upload is sent again (the subjects
                // granted meanwhile answer as granted).
                Err(GrantError::Unavailable(e)) => return Err(UploadError::Unavailable(e.to_string())),
                Err(e) => answer.refused.push((mykey_id, e.code())),
            }
        }
        Ok(answer)
    }
}
