//! Open MyKey ID creation and change sessions (between the card proof and the registration),
//! in memory and bounded.

use std::collections::HashMap;

use actors::journal::WalletId;
use actors::mykey_issuance::IssuanceSession;
use actors::registry::CardLink;
use protocol::MyKeyId;

use crate::api::auth::hex;
use crate::api::problem::Problem;
use crate::api::ApiState;

/// What an issuance session will do once an ID is chosen.
#[derive(Debug, Clone)]
pub(super) enum SessionKind {
    Create { card: CardLink },
    Change { wallet: WalletId, card: CardLink },
}

pub(super) struct OpenSession {
    pub(super) rules: IssuanceSession,
    pub(super) kind: SessionKind,
    /// An own choice that passed the duplicate check.
    pub(super) checked: Option<MyKeyId>,
    /// The third generation: the ID that will be registered.
    pub(super) final_id: Option<MyKeyId>,
    pub(super) expires_ms: u64,
}

/// Open creation and change sessions, bounded (oldest dropped first).
pub struct IssuanceSessions {
    pub(super) open: HashMap<String, OpenSession>,
    lifetime_ms: u64,
    capacity: usize,
}

impl IssuanceSessions {
    pub fn new(lifetime_ms: u64, capacity: usize) -> IssuanceSessions {
        IssuanceSessions { open: HashMap::new(), lifetime_ms, capacity: capacity.max(1) }
    }

    pub(super) fn start(&mut self, kind: SessionKind, now_ms: u64) -> String {
        self.open.retain(|_, s| s.expires_ms > now_ms);
        if self.open.len() >= self.capacity {
            if let Some(oldest) = self.open.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| k.clone()) {
                self.open.remove(&oldest);
            }
        }
        let id = hex(&rand::random::<[u8; 16]>());
        let session = OpenSession {
            rules: IssuanceSession::new(),
            kind,
            checked: None,
            final_id: None,
            expires_ms: now_ms + self.lifetime_ms,
        };
        self.open.insert(id.clone(), session);
        id
    }
}

pub(super) fn with_session<T>(
    state: &ApiState,
    id: &str,
    f: impl FnOnce(&mut OpenSession) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let now = state.now();
    let mut sessions = state.issuance.lock().unwrap_or_else(|e| e.into_inner());
    match sessions.open.get_mut(id) {
        Some(s) if s.expires_ms > now => f(s),
        _ => Err(Problem::not_found("MyKey ID session (expired or unknown); start again with the card")),
    }
}
