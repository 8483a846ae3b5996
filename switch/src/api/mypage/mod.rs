//! The citizen's side (manual §I.6, §IV): proving the card, creating and changing the MyKey ID
//! (three generations, three duplicate errors), my-page login, profile, revocation, service IDs.
//!
//! Card proof (R9): the client asks for a challenge, the card signs it after the PIN unlocks it,
//! and the switch checks the certificate against the trusted card issuer and the signature
//! against the certificate (`actors::card_proof`). Revocation and MyKey ID changes go through
//! the citizen's wallet actor (`ChangeIdentity`), so they are ordered with redemptions.

//! - [`card`]: challenges and the check of a card's proof.
//! - [`issuance_sessions`] and [`issuance`]: creating and changing the MyKey ID.
//! - [`login`]: by MyKey ID and password, or by card.
//! - [`profile`]: the my page, profile, revocation, service IDs.
//! - `fields`: the checks creation and the profile share.

pub mod card;
mod fields;
pub mod issuance;
mod issuance_sessions;
pub mod login;
pub mod profile;

use actix_web::web;

pub use card::{CardProof, CertificateJson, ChallengeAnswer, ChallengeRequest, ProofPurpose};
pub use issuance::{Candidate, CheckAnswer, ChosenId, Registered, Registration, SessionAnswer};
pub use issuance_sessions::IssuanceSessions;
pub use login::{card_login, open_citizen_session, password_login, CitizenLogin, CitizenSession};
pub use profile::{
    change_profile_for, my_page_view, revoke_for, service_ids_for, Balance, Commit, ExpiringPoints, MyPage,
    ProfileEdit, RevokeRequest, Revoked, ServiceIdView, REVOKED,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(card::routes).configure(issuance::routes).configure(login::routes).configure(profile::routes);
}
