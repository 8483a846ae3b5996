//! The rules of choosing a MyKey ID when one is created or changed (§I.6④, §IV(8); R1–R7, R11).
//!
//! A creation session offers two ways, and counts both:
//! - **自動生成 (auto-generation)**: at most three presses. Each gives an 8-character
//!   candidate that no one holds (R3); the citizen may take the first or the second (R5); the
//!   third is registered without asking (R4).
//! - **自分で決める (own choice)**: any 8 characters of `A–Z0–9` (R1) that no one holds (R2, R6).
//!   After the third duplicate error, own choices are no longer accepted and only
//!   auto-generation is offered (R7).
//!
//! The session decides; it does not look anything up. The caller asks the store whether an ID
//! is taken and passes the answer in, and the store's unique constraint settles the race
//! between two sessions that pick the same ID at the same moment.

use protocol::MyKeyId;
use rand::Rng;

/// Auto-generation presses per session; the last one's candidate is registered (R4).
pub const GENERATIONS_MAX: u8 = 3;
/// Duplicate errors of own choices before only auto-generation remains (R7).
pub const DUPLICATE_ERRORS_MAX: u8 = 3;
/// Attempts to draw a candidate nobody holds, per press (collisions are astronomically rare at
/// 36^8 ≈ 2.8 × 10^12 ids; the bound only keeps a broken `is_taken` from looping forever).
const DRAWS_PER_PRESS: u32 = 64;

const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// What one press of 自動生成 gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// A candidate the citizen may take (first or second press).
    Offered(MyKeyId),
    /// The third press: this ID is the one to register.
    Final(MyKeyId),
}

/// Why a step of the session was refused. Each maps to a code the citizen's page explains.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceError {
    #[error("a MyKey ID is 8 characters of A-Z and 0-9")]
    Malformed,
    #[error("this MyKey ID is already in use")]
    Duplicate { errors_left: u8 },
    #[error("after three duplicate errors only auto-generation is offered")]
    OwnChoiceClosed,
    #[error("auto-generation was pressed three times; the third candidate is registered")]
    GenerationsUsed,
    #[error("only the first or second auto-generated candidate can be chosen")]
    NotOffered,
    #[error("no free MyKey ID was found; try again")]
    NoFreeId,
}

/// One creation (or change) session of one citizen.
#[derive(Debug, Clone, Default)]
pub struct IssuanceSession {
    offered: Vec<MyKeyId>,
    duplicate_errors: u8,
}

impl IssuanceSession {
    pub fn new() -> IssuanceSession {
        IssuanceSession::default()
    }

    pub fn generations_left(&self) -> u8 {
        GENERATIONS_MAX.saturating_sub(self.offered.len() as u8)
    }

    /// Whether an own choice is still accepted (R7).
    pub fn own_choice_open(&self) -> bool {
        self.duplicate_errors < DUPLICATE_ERRORS_MAX
    }

    /// One press of 自動生成: a random candidate that `is_taken` says nobody holds.
    pub fn generate(
        &mut self,
        rng: &mut impl Rng,
        mut is_taken: impl FnMut(&MyKeyId) -> bool,
    ) -> Result<Generated, IssuanceError> {
        if self.generations_left() == 0 {
            return Err(IssuanceError::GenerationsUsed);
        }
        let candidate = (0..DRAWS_PER_PRESS)
            .map(|_| random_id(rng))
            .find(|id| !is_taken(id) && !self.offered.contains(id))
            .ok_or(IssuanceError::NoFreeId)?;
        self.offered.push(candidate);
        Ok(if self.generations_left() == 0 { Generated::Final(candidate) } else { Generated::Offered(candidate) })
    }

    /// The citizen takes an auto-generated candidate (R5). `taken` is the store's answer now:
    /// someone else may have registered it since it was offered.
    pub fn take_generated(&self, id: &MyKeyId, taken: bool) -> Result<MyKeyId, IssuanceError> {
        if !self.offered.contains(id) {
            return Err(IssuanceError::NotOffered);
        }
        if taken {
            return Err(IssuanceError::Duplicate { errors_left: DUPLICATE_ERRORS_MAX - self.duplicate_errors });
        }
        Ok(*id)
    }

    /// An ID the citizen typed (R1, R2, R6, R7). `is_taken` is asked only for a well-formed
    /// ID while own choices are open.
    pub fn choose(&mut self, typed: &str, is_taken: impl FnOnce(&MyKeyId) -> bool) -> Result<MyKeyId, IssuanceError> {
        if !self.own_choice_open() {
            return Err(IssuanceError::OwnChoiceClosed);
        }
        let id = parse_strict(typed)?;
        if is_taken(&id) {
            self.duplicate_errors += 1;
            return Err(IssuanceError::Duplicate { errors_left: DUPLICATE_ERRORS_MAX - self.duplicate_errors });
        }
        Ok(id)
    }
}

/// R1 exactly: 8 characters, each `A–Z` or `0–9`. Lower case, full-width forms, spaces and
/// symbols are refused, not converted.
pub fn parse_strict(typed: &str) -> Result<MyKeyId, IssuanceError> {
    let bytes = typed.as_bytes();
    if bytes.len() != 8 || !bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(IssuanceError::Malformed);
    }
    MyKeyId::from_ascii(bytes).map_err(|_| IssuanceError::Malformed)
}

/// One random candidate, as a press of 自動生成 draws it (callers preview a seeded generator's
/// draws to ask the store about them first).
pub fn random_id(rng: &mut impl Rng) -> MyKeyId {
    let mut bytes = [0u8; 8];
    for b in &mut bytes {
        *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    match MyKeyId::from_ascii(&bytes) {
        Ok(id) => id,
        // Every byte comes from the alphabet R1 allows.
        Err(_) => unreachable!("generated ids are 8 characters of A-Z0-9"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn r1_only_eight_uppercase_letters_and_digits() {
        assert!(parse_strict("MY123456").is_ok());
        assert!(parse_strict("TARO0101").is_ok());
        for bad in ["my123456", "MY12345", "MY1234567", "MY12-456", "ＭＹ１２３４５６", "MY 23456", ""] {
            assert_eq!(parse_strict(bad), Err(IssuanceError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn r3_r4_r5_three_presses_the_third_is_final_and_none_is_taken() {
        let mut session = IssuanceSession::new();
        let mut rng = rng();
        let held: HashSet<String> = HashSet::new();
        let first = session.generate(&mut rng, |id| held.contains(id.as_str())).unwrap();
        let second = session.generate(&mut rng, |id| held.contains(id.as_str())).unwrap();
        let Generated::Offered(a) = first else { panic!("{first:?}") };
        let Generated::Offered(b) = second else { panic!("{second:?}") };
        assert_ne!(a, b);
        assert_eq!(session.take_generated(&a, false), Ok(a), "the first may be taken (R5)");
        assert_eq!(session.take_generated(&b, false), Ok(b), "or the second");
        let third = session.generate(&mut rng, |_| false).unwrap();
        assert!(matches!(third, Generated::Final(_)), "the third is registered (R4): {third:?}");
        assert_eq!(session.generate(&mut rng, |_| false), Err(IssuanceError::GenerationsUsed));
        for g in [a, b] {
            assert!(parse_strict(g.as_str()).is_ok(), "generated ids satisfy R1");
        }
    }

    #[test]
    fn r3_a_generated_candidate_is_never_one_already_held() {
        let mut session = IssuanceSession::new();
        let mut rng = rng();
        // Everything the first draws would give is taken: the press goes on drawing.
        let mut probe = rng.clone();
        let held: HashSet<MyKeyId> = (0..10).map(|_| random_id(&mut probe)).collect();
        let got = session.generate(&mut rng, |id| held.contains(id)).unwrap();
        let Generated::Offered(id) = got else { panic!("{got:?}") };
        assert!(!held.contains(&id));
        assert_eq!(
            IssuanceSession::new().generate(&mut rng, |_| true),
            Err(IssuanceError::NoFreeId),
            "a store that says everything is taken ends the press instead of looping"
        );
    }

    #[test]
    fn r5_a_candidate_not_offered_in_this_session_cannot_be_taken() {
        let session = IssuanceSession::new();
        assert_eq!(session.take_generated(&"MY123456".parse().unwrap(), false), Err(IssuanceError::NotOffered));
    }

    #[test]
    fn r2_r6_r7_own_choices_close_after_the_third_duplicate() {
        let mut session = IssuanceSession::new();
        assert_eq!(session.choose("MY123456", |_| true), Err(IssuanceError::Duplicate { errors_left: 2 }));
        assert_eq!(session.choose("my123456", |_| false), Err(IssuanceError::Malformed), "not counted as duplicate");
        assert_eq!(session.choose("KEY34567", |_| true), Err(IssuanceError::Duplicate { errors_left: 1 }));
        assert_eq!(session.choose("TARO0101", |_| true), Err(IssuanceError::Duplicate { errors_left: 0 }));
        assert!(!session.own_choice_open());
        assert_eq!(session.choose("FREE0001", |_| false), Err(IssuanceError::OwnChoiceClosed), "R7");
        assert!(matches!(session.generate(&mut rng(), |_| false), Ok(Generated::Offered(_))), "generation stays");
    }

    #[test]
    fn r6_a_free_own_choice_is_accepted() {
        let mut session = IssuanceSession::new();
        assert_eq!(session.choose("MY123456", |_| true), Err(IssuanceError::Duplicate { errors_left: 2 }));
        assert_eq!(session.choose("HANA2026", |_| false), Ok("HANA2026".parse().unwrap()));
    }
}
