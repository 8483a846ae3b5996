//! Administrative grants for the people who run them (F59–F70): the rules of granting one
//! subject on one occasion ([`desk`]), a mobile session's upload ([`session`]), runs over a
//! whole roster with their checkpoints ([`runs`]), and the roster file in and out
//! ([`roster_file`]). The domain (programmes, occasions, keys) is `actors::grants`; the points
//! move through the citizens' wallets like every other movement.

pub mod desk;
pub mod roster_file;
pub mod runs;
pub mod session;

pub use desk::{GrantDesk, GrantError};
