//! Contact cards, which double as invites: a signed bundle of a device's name,
//! both public keys, reachability hints and an expiry, carried as a `cairn:` URI
//! (and as a QR code of that URI).
//!
//! Decoding verifies everything it can without a clock: structure, bounds, the
//! static-key binding and the card signature. Freshness needs `now` and is
//! checked separately by [`ContactCard::check_fresh`].

use std::time::Duration;

use std::collections::{BTreeSet, VecDeque};

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::identity::{Identity, IdentityKey, StaticBinding, StaticKey};
use crate::prekeys::Bundle;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

const CARD_VERSION: u8 = 1;
const CARD_DOMAIN: &[u8] = b"cairn/card/v1";
/// The URI scheme, with its colon.
pub const URI_SCHEME: &str = "cairn:";
/// Longest display name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most hints a card may carry.
pub const MAX_HINTS: usize = 8;
/// Longest single hint, in bytes.
pub const MAX_HINT_LEN: usize = 200;
/// Longest encoded card: the fixed fields plus the largest name and hints.
pub const MAX_CARD_LEN: usize =
    1 + 128 + 1 + MAX_NAME_LEN + 16 + 1 + MAX_HINTS * (2 + MAX_HINT_LEN) + 64;
/// Longest URI we will even try to decode.
pub const MAX_URI_LEN: usize = URI_SCHEME.len() + MAX_CARD_LEN * 8 / 5 + 8;
/// How long a freshly made invite stays valid unless told otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why an invite was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InviteError {
    #[error("an invite starts with \"cairn:\"")]
    Scheme,
    #[error("invite is {len} characters long; a valid one is at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("invite text is damaged (not base32); copy it again in full")]
    Encoding,
    #[error("invite is malformed: {0}")]
    Malformed(#[source] DecodeError),
    #[error("invite signature does not verify: it was altered or forged")]
    BadSignature,
    #[error("invite expired at {expired_at} (ms since epoch); ask for a new one")]
    Expired { expired_at: Time },
    #[error("invalid name: {0}")]
    Name(&'static str),
}

impl From<DecodeError> for InviteError {
    fn from(e: DecodeError) -> Self {
        InviteError::Malformed(e)
    }
}

/// A way to reach the card's owner beyond local discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// An onion service address (`xyz….onion`).
    Onion(String),
    /// A libp2p multiaddr in text form.
    Addr(String),
    /// The owner's signed prekey (no one-time prekey: an invite may reach
    /// many people), so a first message through the mesh is sealed in a
    /// ratchet session, forward-secret once that prekey is deleted.
    Prekey(Box<Bundle>),
    /// A hint kind from a newer version, carried along untouched.
    Unknown { kind: u8, bytes: Vec<u8> },
}

impl Hint {
    fn encode(&self, w: &mut Writer) {
        match self {
            Hint::Onion(s) => w.u8(1).short_bytes(s.as_bytes()),
            Hint::Addr(s) => w.u8(2).short_bytes(s.as_bytes()),
            Hint::Prekey(b) => {
                let mut inner = Writer::with_capacity(110);
                b.encode(&mut inner);
                w.u8(3).short_bytes(&inner.into_vec())
            }
            Hint::Unknown { kind, bytes } => w.u8(*kind).short_bytes(bytes),
        };
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kind = r.u8("hint kind")?;
        let bytes = r.short_bytes(MAX_HINT_LEN, "hint")?;
        let text = || {
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| DecodeError::Utf8 { field: "hint" })
        };
        Ok(match kind {
            1 => Hint::Onion(text()?),
            2 => Hint::Addr(text()?),
            3 => {
                let mut inner = Reader::new(bytes);
                let bundle = Bundle::decode(&mut inner)?;
                inner.finish()?;
                if bundle.opk.is_some() {
                    return Err(DecodeError::Invalid("one-time prekey in an invite"));
                }
                Hint::Prekey(Box::new(bundle))
            }
            kind => Hint::Unknown {
                kind,
                bytes: bytes.to_vec(),
            },
        })
    }

    fn len(&self) -> usize {
        match self {
            Hint::Onion(s) | Hint::Addr(s) => s.len(),
            Hint::Prekey(_) => 109,
            Hint::Unknown { bytes, .. } => bytes.len(),
        }
    }
}

/// A signed contact card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCard {
    binding: StaticBinding,
    name: String,
    created: Time,
    expires: Time,
    hints: Vec<Hint>,
    signature: [u8; 64],
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069): they reorder the text around them. Marks such as U+200F
/// and joiners such as U+200C, which Persian and Arabic need, are not these.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Checks a display name: present, short, printable.
pub fn validate_name(name: &str) -> Result<(), InviteError> {
    if name.trim().is_empty() {
        return Err(InviteError::Name("a name cannot be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(InviteError::Name("a name is at most 64 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(InviteError::Name(
            "a name cannot contain control characters",
        ));
    }
    // Embeddings, overrides and isolates reorder what follows them: a name
    // could read as another's (THREAT_MODEL.md, "Attacks tried" 13).
    if name.chars().any(is_bidi_control) {
        return Err(InviteError::Name(
            "a name cannot contain bidirectional overrides",
        ));
    }
    Ok(())
}

impl ContactCard {
    /// Makes and signs a card for `identity`.
    pub fn new(
        identity: &Identity,
        name: &str,
        hints: Vec<Hint>,
        created: Time,
        validity: Duration,
    ) -> Result<Self, InviteError> {
        validate_name(name)?;
        if hints.len() > MAX_HINTS || hints.iter().any(|h| h.len() > MAX_HINT_LEN) {
            return Err(InviteError::Malformed(DecodeError::Invalid(
                "too many or too long hints",
            )));
        }
        let mut card = Self {
            binding: identity.binding().clone(),
            name: name.to_owned(),
            created,
            expires: created + validity,
            hints,
            signature: [0; 64],
        };
        card.signature = identity.sign(CARD_DOMAIN, &card.signed_part());
        Ok(card)
    }

    pub fn identity(&self) -> IdentityKey {
        self.binding.identity
    }

    pub fn static_key(&self) -> StaticKey {
        self.binding.static_key
    }

    pub fn binding(&self) -> &StaticBinding {
        &self.binding
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }

    pub fn created(&self) -> Time {
        self.created
    }

    pub fn expires(&self) -> Time {
        self.expires
    }

    pub fn check_fresh(&self, now: Time) -> Result<(), InviteError> {
        if now >= self.expires {
            return Err(InviteError::Expired {
                expired_at: self.expires,
            });
        }
        Ok(())
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(MAX_CARD_LEN);
        w.u8(CARD_VERSION);
        self.binding.encode(&mut w);
        w.short_bytes(self.name.as_bytes())
            .u64(self.created.as_millis())
            .u64(self.expires.as_millis())
            .u8(self.hints.len() as u8);
        for hint in &self.hints {
            hint.encode(&mut w);
        }
        w.into_vec()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a card and verifies its signatures.
    pub fn decode(bytes: &[u8]) -> Result<Self, InviteError> {
        Self::decode_checked(bytes, true)
    }

    fn decode_checked(bytes: &[u8], verify: bool) -> Result<Self, InviteError> {
        let mut r = Reader::new(bytes);
        let card = Self::decode_from(&mut r, verify)?;
        r.finish()?;
        Ok(card)
    }

    fn decode_from(r: &mut Reader<'_>, verify: bool) -> Result<Self, InviteError> {
        let start = r.clone();
        let version = r.u8("card version")?;
        if version != CARD_VERSION {
            return Err(DecodeError::Version {
                field: "card",
                version,
            }
            .into());
        }
        let binding = StaticBinding::decode(r, verify)?;
        let name = r.short_str(MAX_NAME_LEN, "name")?.to_owned();
        validate_name(&name)?;
        let created = Time::from_millis(r.u64("created")?);
        let expires = Time::from_millis(r.u64("expires")?);
        let count = usize::from(r.u8("hint count")?);
        if count > MAX_HINTS {
            return Err(DecodeError::TooLong {
                field: "hints",
                len: count,
                max: MAX_HINTS,
            }
            .into());
        }
        let hints = (0..count)
            .map(|_| Hint::decode(r))
            .collect::<Result<Vec<_>, _>>()?;
        let signed_len = start.remaining() - r.remaining();
        let signed = start.clone().take(signed_len, "card")?;
        let signature = r.array("card signature")?;
        if verify {
            binding
                .identity
                .verify(CARD_DOMAIN, signed, &signature)
                .map_err(|_| InviteError::BadSignature)?;
        }
        Ok(Self {
            binding,
            name,
            created,
            expires,
            hints,
            signature,
        })
    }

    /// The `cairn:` URI: the scheme and the card in lower-case base32.
    pub fn to_uri(&self) -> String {
        format!(
            "{URI_SCHEME}{}",
            BASE32_NOPAD.encode(&self.encode()).to_ascii_lowercase()
        )
    }

    /// Parses a `cairn:` URI, case-insensitively and ignoring surrounding space.
    pub fn from_uri(uri: &str) -> Result<Self, InviteError> {
        let uri = uri.trim();
        if uri.len() > MAX_URI_LEN {
            return Err(InviteError::TooLong {
                len: uri.len(),
                max: MAX_URI_LEN,
            });
        }
        let scheme = uri.get(..URI_SCHEME.len()).ok_or(InviteError::Scheme)?;
        if !scheme.eq_ignore_ascii_case(URI_SCHEME) {
            return Err(InviteError::Scheme);
        }
        let body = uri[URI_SCHEME.len()..].to_ascii_uppercase();
        let bytes = BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| InviteError::Encoding)?;
        Self::decode(&bytes)
    }
}

/// Cards whose signatures were already checked, by digest, so that a card
/// seen again (at every rekey with a known contact) is not verified twice.
///
/// Bound: at most `capacity` digests; the oldest is forgotten first.
#[derive(Debug)]
pub struct VerifiedCards {
    seen: BTreeSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl VerifiedCards {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: BTreeSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Decodes a card, verifying its signatures unless these exact bytes
    /// were verified before.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<ContactCard, InviteError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if self.seen.contains(&digest) {
            return ContactCard::decode_checked(bytes, false);
        }
        let card = ContactCard::decode(bytes)?;
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(digest);
        self.order.push_back(digest);
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn card(seed: u64) -> (Identity, ContactCard) {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let card = ContactCard::new(
            &id,
            "Alice",
            vec![Hint::Onion("abc.onion".into())],
            Time::from_secs(1000),
            DEFAULT_VALIDITY,
        )
        .unwrap();
        (id, card)
    }

    /// THREAT_MODEL.md "Attacks tried" 21: an invite may reach many people,
    /// so one carrying a one-time prekey is refused, not used by all of them.
    #[test]
    fn an_invite_with_a_one_time_prekey_is_refused() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(5));
        let bundle = |opk| Bundle {
            spk_id: 1,
            spk: [9; 32],
            created: Time::from_secs(1000),
            signature: [0; 64],
            opk,
        };
        let with = |b: Bundle| {
            ContactCard::new(
                &id,
                "Alice",
                vec![Hint::Prekey(Box::new(b))],
                Time::from_secs(1000),
                DEFAULT_VALIDITY,
            )
            .unwrap()
        };
        let good = with(bundle(None));
        assert_eq!(ContactCard::decode(&good.encode()).unwrap(), good);
        let bad = with(bundle(Some((2, [7; 32]))));
        assert!(ContactCard::decode(&bad.encode()).is_err());
    }

    /// THREAT_MODEL.md "Attacks tried" 13.
    #[test]
    fn names_with_bidi_overrides_are_refused_and_persian_ones_are_not() {
        assert!(validate_name("alice\u{202e}ecila").is_err());
        assert!(validate_name("\u{2067}bob").is_err());
        assert!(validate_name("می\u{200c}بینمت").is_ok());
        assert!(validate_name("\u{200f}سارا").is_ok());
    }

    #[test]
    fn uri_round_trips() {
        let (_, c) = card(1);
        let uri = c.to_uri();
        assert!(uri.starts_with("cairn:"));
        assert!(uri.len() <= MAX_URI_LEN);
        assert_eq!(ContactCard::from_uri(&uri).unwrap(), c);
        assert_eq!(
            ContactCard::from_uri(&format!("  {}\n", uri.to_uppercase())).unwrap(),
            c
        );
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let (_, c) = card(2);
        let bytes = c.encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(
                ContactCard::decode(&b).is_err(),
                "flip at byte {i} accepted"
            );
        }
    }

    #[test]
    fn card_signed_by_someone_else_is_refused() {
        let (_, c) = card(3);
        let (mallory, _) = card(4);
        let mut bytes = c.encode();
        let n = bytes.len();
        let forged = mallory.sign(CARD_DOMAIN, &bytes[..n - 64]);
        bytes[n - 64..].copy_from_slice(&forged);
        assert_eq!(ContactCard::decode(&bytes), Err(InviteError::BadSignature));
    }

    #[test]
    fn expiry_is_checked_against_the_given_time() {
        let (_, c) = card(5);
        c.check_fresh(Time::from_secs(1001)).unwrap();
        assert!(matches!(
            c.check_fresh(c.expires()),
            Err(InviteError::Expired { .. })
        ));
    }

    #[test]
    fn wrong_scheme_and_garbage_are_typed_errors() {
        assert_eq!(ContactCard::from_uri("https://x"), Err(InviteError::Scheme));
        assert_eq!(
            ContactCard::from_uri("cairn:!!!"),
            Err(InviteError::Encoding)
        );
        assert!(matches!(
            ContactCard::from_uri("cairn:aaaa"),
            Err(InviteError::Malformed(_))
        ));
        let long = format!("cairn:{}", "a".repeat(MAX_URI_LEN));
        assert!(matches!(
            ContactCard::from_uri(&long),
            Err(InviteError::TooLong { .. })
        ));
    }

    #[test]
    fn a_remembered_card_skips_verification_but_a_new_one_does_not() {
        let (_, c) = card(7);
        let mut cache = VerifiedCards::new(2);
        assert_eq!(cache.decode(&c.encode()).unwrap(), c);
        assert_eq!(cache.decode(&c.encode()).unwrap(), c);
        let mut forged = c.encode();
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert_eq!(cache.decode(&forged), Err(InviteError::BadSignature));
    }

    #[test]
    fn names_are_validated() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(6));
        for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
            assert!(ContactCard::new(&id, bad, vec![], Time::ZERO, DEFAULT_VALIDITY).is_err());
        }
    }
}
