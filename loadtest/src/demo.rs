//! Demo credentials: the password and device fingerprint the Kawasaki fixture
//! (`actors::demo`) gives each terminal, so a client needs only an address and a terminal id.

use actors::demo;
use protocol::{Fingerprint, TerminalId};

/// Highest number of (イ) point-use terminals the demo has.
pub const POINT_USE_TERMINALS_MAX: usize = (demo::POINT_USE_LAST_ID - demo::POINT_USE_FIRST_ID + 1) as usize;

/// Password and fingerprint of a demo terminal, or `None` for an id outside the fixture.
pub fn credentials(terminal_id: TerminalId) -> Option<(String, Fingerprint)> {
    let row = demo::terminal(terminal_id)?;
    Some((row.password, demo::fingerprint(terminal_id)))
}

/// Credentials of the first `count` (イ) terminals, in id order. Builds the fixture once
/// instead of once per terminal.
pub fn point_use_terminals(count: usize) -> Vec<(TerminalId, String, Fingerprint)> {
    demo::terminals()
        .into_iter()
        .filter(|row| row.kind == protocol::TerminalKind::PointUse)
        .take(count)
        .map(|row| {
            let id = row.terminal_id;
            (id, row.password, demo::fingerprint(id))
        })
        .collect()
}
