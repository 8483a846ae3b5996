//! Who a wallet belongs to: the card its MyKey ID is bound to, and why a change of identity can
//! be refused. Both storage interfaces speak of them: [`crate::registry::Registry`] creates
//! citizens, [`crate::store::Store`] changes a MyKey ID between two of the wallet's entries.

/// The card a MyKey ID is bound to (R8): user-certificate serial and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLink {
    pub cert_serial: String,
    pub expires_on: u32,
}

/// Why a MyKey ID could not be created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityConflict {
    /// Someone holds this MyKey ID now or held it before (retired IDs are never reissued).
    MyKeyTaken,
    /// The card is linked to an active MyKey ID already.
    CardLinked,
}
