//! Proof that the citizen holds the card (R9): creating a MyKey ID, logging in with the card
//! and changing the MyKey ID all need the My Number card and its 4-digit PIN.
//!
//! On the real platform the card's IC chip holds the private key of the user certificate
//! (利用者証明用電子証明書); the PIN unlocks it, and the chip signs what the server sends. Here
//! each card is modelled the same way: an Ed25519 key pair whose public key is bound to the
//! certificate's serial (発行番号) and expiry by the card issuer's signature. The switch trusts
//! the issuer's public key ([`TrustedIssuer`]), hands out a fresh single-use challenge
//! ([`ChallengeBook`]) and accepts the card only if
//!
//! 1. the certificate was signed by the trusted issuer and has not expired, and
//! 2. the card's key signed this challenge, for this purpose (a signature made to log in cannot
//!    be replayed to change the MyKey ID).
//!
//! [`CardIssuer`] is the test card issuer that serves the demo and the tests: it makes cards
//! deterministically from a seed, so a demo card can be rebuilt from its serial alone.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// What a proof is for; part of the signed message, so a proof serves one purpose only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Creating a MyKey ID (マイキーID作成).
    CreateMyKey,
    /// Logging in to the my page with the card (カードでログイン).
    CardLogin,
    /// Changing the MyKey ID (マイキーID変更).
    ChangeMyKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::CreateMyKey => b"create-mykey",
            Purpose::CardLogin => b"card-login",
            Purpose::ChangeMyKey => b"change-mykey",
        }
    }
}

/// The user certificate as the card presents it: serial, expiry, the card's public key, and
/// the issuer's signature over the three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCertificate {
    /// 発行番号 of the user certificate (the value a card read sends).
    pub serial: String,
    /// Last valid day, Japan date `yyyymmdd`.
    pub expires_on: u32,
    pub public_key: [u8; 32],
    pub issuer_signature: [u8; 64],
}

impl CardCertificate {
    /// The bytes the issuer signs: a domain label, then each field length-prefixed, so no two
    /// different certificates share them.
    fn signed_bytes(serial: &str, expires_on: u32, public_key: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + serial.len());
        out.extend_from_slice(b"mykey-user-certificate\0");
        out.extend_from_slice(&(serial.len() as u32).to_be_bytes());
        out.extend_from_slice(serial.as_bytes());
        out.extend_from_slice(&expires_on.to_be_bytes());
        out.extend_from_slice(public_key);
        out
    }
}

/// The message a card signs for a challenge.
fn challenge_message(purpose: Purpose, serial: &str, nonce: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + serial.len());
    out.extend_from_slice(b"mykey-card-proof\0");
    out.extend_from_slice(purpose.label());
    out.push(0);
    out.extend_from_slice(&(serial.len() as u32).to_be_bytes());
    out.extend_from_slice(serial.as_bytes());
    out.extend_from_slice(nonce);
    out
}

/// Why a card was not accepted. The messages are for logs; callers answer one code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardProofError {
    #[error("the certificate was not issued by the trusted card issuer")]
    UntrustedCertificate,
    #[error("the certificate expired on {expired_on}")]
    Expired { expired_on: u32 },
    #[error("the challenge is unknown, used or expired")]
    UnknownChallenge,
    #[error("the card's signature does not match the challenge")]
    BadSignature,
    #[error("the certificate's public key is not a valid key")]
    BadPublicKey,
}

/// The card issuer's public key, which the switch trusts (from its configuration).
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    key: VerifyingKey,
}

impl TrustedIssuer {
    pub fn from_public_key(bytes: &[u8; 32]) -> Result<TrustedIssuer, CardProofError> {
        VerifyingKey::from_bytes(bytes).map(|key| TrustedIssuer { key }).map_err(|_| CardProofError::BadPublicKey)
    }

    /// Accepts the card when its certificate is the issuer's and valid on `today`, and its key
    /// signed `nonce` for `purpose`.
    pub fn verify(
        &self,
        certificate: &CardCertificate,
        purpose: Purpose,
        nonce: &[u8; 32],
        card_signature: &[u8; 64],
        today: u32,
    ) -> Result<(), CardProofError> {
        let signed =
            CardCertificate::signed_bytes(&certificate.serial, certificate.expires_on, &certificate.public_key);
        self.key
            .verify_strict(&signed, &Signature::from_bytes(&certificate.issuer_signature))
            .map_err(|_| CardProofError::UntrustedCertificate)?;
        if today > certificate.expires_on {
            return Err(CardProofError::Expired { expired_on: certificate.expires_on });
        }
        let card_key = VerifyingKey::from_bytes(&certificate.public_key).map_err(|_| CardProofError::BadPublicKey)?;
        card_key
            .verify_strict(
                &challenge_message(purpose, &certificate.serial, nonce),
                &Signature::from_bytes(card_signature),
            )
            .map_err(|_| CardProofError::BadSignature)
    }
}

/// A card as the test issuer makes it: its certificate and the key only its chip knows.
pub struct Card {
    pub certificate: CardCertificate,
    key: SigningKey,
}

impl Card {
    /// What the chip does once the PIN unlocked it: signs the server's challenge.
    pub fn sign(&self, purpose: Purpose, nonce: &[u8; 32]) -> [u8; 64] {
        self.key.sign(&challenge_message(purpose, &self.certificate.serial, nonce)).to_bytes()
    }
}

/// The test card issuer: issues cards deterministically from a seed, so the demo's cards can be
/// rebuilt from their serials by the demo's clients.
pub struct CardIssuer {
    seed: [u8; 32],
    key: SigningKey,
}

impl CardIssuer {
    pub fn from_seed(seed: &[u8]) -> CardIssuer {
        let seed: [u8; 32] = Sha256::digest(seed).into();
        let key = SigningKey::from_bytes(&Sha256::new().chain_update(b"issuer").chain_update(seed).finalize().into());
        CardIssuer { seed, key }
    }

    /// The public key the switch is configured to trust.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer { key: self.key.verifying_key() }
    }

    /// The card with this certificate serial and expiry (the same every time).
    pub fn card(&self, serial: &str, expires_on: u32) -> Card {
        let card_seed: [u8; 32] = Sha256::new()
            .chain_update(b"card")
            .chain_update(self.seed)
            .chain_update((serial.len() as u32).to_be_bytes())
            .chain_update(serial.as_bytes())
            .chain_update(expires_on.to_be_bytes())
            .finalize()
            .into();
        let key = SigningKey::from_bytes(&card_seed);
        let public_key = key.verifying_key().to_bytes();
        let issuer_signature =
            self.key.sign(&CardCertificate::signed_bytes(serial, expires_on, &public_key)).to_bytes();
        Card {
            certificate: CardCertificate { serial: serial.to_owned(), expires_on, public_key, issuer_signature },
            key,
        }
    }
}

/// Outstanding challenges: each is used at most once and only until it expires. Bounded in all
/// (`capacity`) and per requester (`per_requester_max`, the caller's address): when either is
/// reached a new challenge is refused, never made by pushing out someone's pending one. Ids
/// grow with time and every challenge lives as long, so the oldest is first and expired ones
/// leave from the front.
pub struct ChallengeBook {
    open: BTreeMap<u64, Outstanding>,
    /// Outstanding challenges per requester.
    per_requester: HashMap<String, usize>,
    next_id: u64,
    lifetime_ms: u64,
    capacity: usize,
    per_requester_max: usize,
}

struct Outstanding {
    nonce: [u8; 32],
    purpose: Purpose,
    issued_ms: u64,
    requester: String,
}

/// A challenge handed to a client: its id, and the nonce the card signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub id: u64,
    pub nonce: [u8; 32],
    pub expires_at_ms: u64,
}

/// Why no challenge was issued; both pass when challenges expire or are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeRefusal {
    /// This requester holds `per_requester_max` unused challenges.
    RequesterFull,
    /// The book holds `capacity` unused challenges; the oldest expires in `wait_ms`.
    BookFull { wait_ms: u64 },
}

impl ChallengeBook {
    pub fn new(lifetime_ms: u64, capacity: usize, per_requester_max: usize) -> ChallengeBook {
        ChallengeBook {
            open: BTreeMap::new(),
            per_requester: HashMap::new(),
            next_id: 1,
            lifetime_ms,
            capacity: capacity.max(1),
            per_requester_max: per_requester_max.max(1),
        }
    }

    /// A fresh random challenge for `purpose`, asked by `requester`.
    pub fn issue(&mut self, purpose: Purpose, requester: &str, now_ms: u64) -> Result<Challenge, ChallengeRefusal> {
        self.forget_expired(now_ms);
        if self.per_requester.get(requester).is_some_and(|n| *n >= self.per_requester_max) {
            return Err(ChallengeRefusal::RequesterFull);
        }
        if self.open.len() >= self.capacity {
            let oldest_ms = self.open.first_key_value().map_or(now_ms, |(_, o)| o.issued_ms);
            let wait_ms = (oldest_ms + self.lifetime_ms + 1).saturating_sub(now_ms);
            return Err(ChallengeRefusal::BookFull { wait_ms });
        }
        let id = self.next_id;
        self.next_id += 1;
        let nonce: [u8; 32] = rand::random();
        *self.per_requester.entry(requester.to_owned()).or_default() += 1;
        self.open.insert(id, Outstanding { nonce, purpose, issued_ms: now_ms, requester: requester.to_owned() });
        Ok(Challenge { id, nonce, expires_at_ms: now_ms + self.lifetime_ms })
    }

    /// The nonce of challenge `id` if it is outstanding, unexpired and for `purpose`; the
    /// challenge is used up either way, so a guess costs the guesser the challenge.
    pub fn take(&mut self, id: u64, purpose: Purpose, now_ms: u64) -> Result<[u8; 32], CardProofError> {
        let outstanding = self.open.remove(&id).ok_or(CardProofError::UnknownChallenge)?;
        self.release(&outstanding.requester);
        if outstanding.purpose != purpose || now_ms > outstanding.issued_ms + self.lifetime_ms {
            return Err(CardProofError::UnknownChallenge);
        }
        Ok(outstanding.nonce)
    }

    /// How long a challenge lives: the longest a refused requester waits.
    pub fn lifetime_ms(&self) -> u64 {
        self.lifetime_ms
    }

    pub fn outstanding(&self) -> usize {
        self.open.len()
    }

    fn release(&mut self, requester: &str) {
        if let Some(n) = self.per_requester.get_mut(requester) {
            *n -= 1;
            if *n == 0 {
                self.per_requester.remove(requester);
            }
        }
    }

    fn forget_expired(&mut self, now_ms: u64) {
        while self.open.first_key_value().is_some_and(|(_, o)| now_ms > o.issued_ms + self.lifetime_ms) {
            if let Some((_, gone)) = self.open.pop_first() {
                self.release(&gone.requester);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u32 = 20261125;

    fn issuer() -> CardIssuer {
        CardIssuer::from_seed(b"test issuer")
    }

    #[test]
    fn the_card_that_signed_the_challenge_is_accepted() {
        let issuer = issuer();
        let card = issuer.card("030D45", 20301231);
        let mut book = ChallengeBook::new(120_000, 16, 4);
        let challenge = book.issue(Purpose::CreateMyKey, "10.0.0.1", 1_000).unwrap();
        let signature = card.sign(Purpose::CreateMyKey, &challenge.nonce);
        let nonce = book.take(challenge.id, Purpose::CreateMyKey, 2_000).unwrap();
        assert_eq!(issuer.trusted().verify(&card.certificate, Purpose::CreateMyKey, &nonce, &signature, TODAY), Ok(()));
    }

    #[test]
    fn cards_are_the_same_every_time_and_differ_by_serial() {
        let a = issuer().card("030D45", 20301231);
        let b = issuer().card("030D45", 20301231);
        let c = issuer().card("030D48", 20301231);
        assert_eq!(a.certificate, b.certificate);
        assert_ne!(a.certificate.public_key, c.certificate.public_key);
    }

    #[test]
    fn a_signature_for_another_purpose_nonce_or_card_is_refused() {
        let issuer = issuer();
        let trusted = issuer.trusted();
        let card = issuer.card("030D45", 20301231);
        let other = issuer.card("030D48", 20301231);
        let nonce = [7u8; 32];
        let login = card.sign(Purpose::CardLogin, &nonce);
        let bad = Err(CardProofError::BadSignature);
        assert_eq!(trusted.verify(&card.certificate, Purpose::ChangeMyKey, &nonce, &login, TODAY), bad);
        assert_eq!(trusted.verify(&card.certificate, Purpose::CardLogin, &[8u8; 32], &login, TODAY), bad);
        assert_eq!(trusted.verify(&other.certificate, Purpose::CardLogin, &nonce, &login, TODAY), bad);
        assert_eq!(trusted.verify(&card.certificate, Purpose::CardLogin, &nonce, &login, TODAY), Ok(()));
    }

    #[test]
    fn a_certificate_from_another_issuer_or_altered_is_refused() {
        let trusted = issuer().trusted();
        let forged = CardIssuer::from_seed(b"someone else").card("030D45", 20301231);
        let nonce = [1u8; 32];
        let signature = forged.sign(Purpose::CardLogin, &nonce);
        let untrusted = Err(CardProofError::UntrustedCertificate);
        assert_eq!(trusted.verify(&forged.certificate, Purpose::CardLogin, &nonce, &signature, TODAY), untrusted);

        let genuine = issuer().card("030D45", 20301231);
        let signature = genuine.sign(Purpose::CardLogin, &nonce);
        let mut renamed = genuine.certificate.clone();
        renamed.serial = "030D48".into();
        assert_eq!(trusted.verify(&renamed, Purpose::CardLogin, &nonce, &signature, TODAY), untrusted);
        let mut extended = genuine.certificate.clone();
        extended.expires_on = 20991231;
        assert_eq!(trusted.verify(&extended, Purpose::CardLogin, &nonce, &signature, TODAY), untrusted);
    }

    #[test]
    fn an_expired_certificate_is_refused_after_its_last_day() {
        let issuer = issuer();
        let card = issuer.card("030D45", TODAY);
        let nonce = [2u8; 32];
        let signature = card.sign(Purpose::CardLogin, &nonce);
        let trusted = issuer.trusted();
        assert_eq!(trusted.verify(&card.certificate, Purpose::CardLogin, &nonce, &signature, TODAY), Ok(()));
        assert_eq!(
            trusted.verify(&card.certificate, Purpose::CardLogin, &nonce, &signature, TODAY + 1),
            Err(CardProofError::Expired { expired_on: TODAY })
        );
    }

    #[test]
    fn challenges_are_single_use_expire_and_belong_to_one_purpose() {
        let mut book = ChallengeBook::new(1_000, 16, 4);
        let a = book.issue(Purpose::CardLogin, "10.0.0.1", 0).unwrap();
        assert!(book.take(a.id, Purpose::CardLogin, 500).is_ok());
        assert_eq!(book.take(a.id, Purpose::CardLogin, 500), Err(CardProofError::UnknownChallenge), "used up");

        let b = book.issue(Purpose::CardLogin, "10.0.0.1", 0).unwrap();
        assert_eq!(book.take(b.id, Purpose::CardLogin, 1_001), Err(CardProofError::UnknownChallenge), "expired");

        let c = book.issue(Purpose::CardLogin, "10.0.0.1", 0).unwrap();
        assert_eq!(book.take(c.id, Purpose::ChangeMyKey, 10), Err(CardProofError::UnknownChallenge));
        assert_eq!(
            book.take(c.id, Purpose::CardLogin, 10),
            Err(CardProofError::UnknownChallenge),
            "a wrong try uses it"
        );

        let d = book.issue(Purpose::CardLogin, "10.0.0.1", 0).unwrap();
        let e = book.issue(Purpose::CardLogin, "10.0.0.1", 0).unwrap();
        assert_ne!(d.nonce, e.nonce, "nonces are random");
    }

    #[test]
    fn the_book_is_bounded_per_requester_and_in_all_and_never_pushes_a_pending_challenge_out() {
        let mut book = ChallengeBook::new(60_000, 5, 2);
        let first = book.issue(Purpose::CardLogin, "citizen", 0).unwrap();
        // Someone else asks for many: they get their share, then are refused.
        assert!(book.issue(Purpose::CardLogin, "stranger", 0).is_ok());
        assert!(book.issue(Purpose::CardLogin, "stranger", 0).is_ok());
        assert_eq!(book.issue(Purpose::CardLogin, "stranger", 0), Err(ChallengeRefusal::RequesterFull));
        // Other strangers fill the book: the next is refused, nobody's pending challenge goes.
        assert!(book.issue(Purpose::CardLogin, "stranger-2", 0).is_ok());
        assert!(book.issue(Purpose::CardLogin, "stranger-3", 0).is_ok());
        assert_eq!(
            book.issue(Purpose::CardLogin, "stranger-4", 0),
            Err(ChallengeRefusal::BookFull { wait_ms: 60_001 })
        );
        assert_eq!(book.outstanding(), 5);
        assert!(book.take(first.id, Purpose::CardLogin, 1).is_ok(), "the citizen's challenge is still there");
        assert!(book.issue(Purpose::CardLogin, "stranger-4", 2).is_ok(), "a used challenge frees its place");
        assert!(book.issue(Purpose::CardLogin, "stranger", 120_000).is_ok(), "expired ones free theirs");
        assert_eq!(book.outstanding(), 1);
    }
}
