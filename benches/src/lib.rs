//! Fixtures shared by the criterion benchmarks in `benches/` (and checked by this crate's
//! tests, so a benchmark never measures something that would not commit or would not balance).
//!
//! - [`wallet`]: wallets with a few or many lots, and one redemption's pure arithmetic.
//! - [`ledger`]: a seeded embedded store in a temporary directory that hands out batches of
//!   valid redemption entries (unique numbers and keys, the right wallet versions).

pub mod ledger;
pub mod wallet;
