//! Domain and actors of the municipal point switch.
//!
//! Every change of a citizen's points goes through that citizen's [`wallet::Wallet`] actor,
//! one request at a time, and becomes durable through the [`ledger::Ledger`]'s group commit
//! before anyone is told "OK". Actors know no bytes and no configuration files: the `switch`
//! crate decodes the wire, reads the config and calls [`system::start`].
//!
//! # Layout
//! - Domain, no actors: [`journal`] (entries, postings, double entry), [`wallet_state`]
//!   (sub-accounts and lots), [`catalog`] (municipalities, events, locations), [`clock`]
//!   (Japan time), [`error`] (the domain error and its one mapping to wire codes),
//!   [`card_proof`] (proof that the citizen holds the card: certificate, challenge, signature),
//!   [`mykey_issuance`] (the rules of choosing a MyKey ID: three generations, three duplicates),
//!   [`registration`] (municipal points and special support events as their forms are validated,
//!   bank accounts in transfer form), [`identity`] (the card a MyKey ID is bound to, identity
//!   conflicts).
//! - Actors, one module each: [`router`], [`lookup`], [`wallet`], [`ledger`], [`settlement`];
//!   [`terminal_auth`] is the login check the router runs; [`system`] wires them.
//!   [`wallet_points`] plans the movements that do not come from terminals (partner credits,
//!   reserved moves and sweep, shop debits and cancellations) for the wallet;
//!   [`wallet_append`] is the one path every planned entry takes to the journal (amount rule,
//!   idempotent append, the first answer again for a retry).
//! - [`store`]: the storage interface the actors need; engines live in `switch`.
//! - [`grants`]: administrative grant programmes, rosters, occasions and their storage
//!   interface; a grant itself is a [`wallet_points::PointOp::Grant`] through the wallet.
//! - [`registry`]: the set-up side's storage interface (municipalities, terminals, MyKey
//!   profiles, service IDs, staff), off the redemption path.
//! - [`mailbox`]: bounded asks (BUSY instead of waiting).
//! - [`demo`]: the manual's Kawasaki sample as deterministic data.

pub mod card_proof;
pub mod catalog;
pub mod clock;
pub mod demo;
pub mod error;
pub mod grants;
pub mod identity;
pub mod journal;
pub mod ledger;
pub mod lookup;
pub mod mailbox;
pub mod mykey_issuance;
pub mod outbox;
pub mod partners;
pub mod registration;
pub mod registry;
pub mod router;
pub mod settlement;
pub mod store;
pub mod system;
pub mod terminal_auth;
pub mod tickets;
pub mod wallet;
pub mod wallet_append;
pub mod wallet_points;
pub mod wallet_state;

pub use error::SwitchError;
