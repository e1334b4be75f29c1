//! Messages sealed to a recipient for when there is no interactive session:
//! store and forward through the mesh.
//!
//! Two layers. The outer one hides everything from relays and makes every
//! envelope one of a few sizes, whoever sent it: a fresh X25519 key per
//! envelope, agreed with the recipient's static key, encrypts the inner
//! message padded to [`SEALED_SIZES`]. It protects *metadata* only (a seized
//! device opens it); the inner layer protects the content:
//!
//! - `Ratchet`: a message of the ratchet session with this contact
//!   (`prekeys.rs`): forward-secret, healing after a compromise. The sender is
//!   known to the recipient by the envelope's recipient tag (only the two of
//!   them can compute it) and proven by the session's keys.
//! - `Static`: Noise `X` (`-> e, es, s, ss`) to the recipient's static key
//!   with the sender's card inside — for a first contact, before any bundle
//!   has been exchanged. Not forward-secret: whoever later holds the
//!   recipient's static key reads it.
//!
//! ```text
//! sealed = e:[32] ‖ ChaCha20-Poly1305(k, nonce 0, len:u32 ‖ inner ‖ zeros)   (length ∈ SEALED_SIZES)
//!          k = HKDF-SHA-256(salt = e ‖ S_r, ikm = DH(e, S_r), "cairn/seal/v2")
//! inner  = kind:u8 (0 Static | 1 Ratchet) body
//! Static  body = noise_x(card:bytes16 ack_secret:[16] payload_padded)
//! Ratchet body = prekeys::RatchetMessage, whose plaintext is ack_secret:[16] payload (unpadded)
//! ```
//!
//! Anyone can replay a sealed message; receivers deduplicate on the envelope
//! and on the inner message id, as for every path.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::identity::{Identity, StaticKey};
use crate::invite::{ContactCard, InviteError, MAX_CARD_LEN};
use crate::noise;
use crate::payload::Payload;
use crate::prekeys::RatchetMessage;
use crate::ratchet::KeyPair;
use crate::session::MAX_PLAINTEXT;
use crate::wire::{DecodeError, Reader, Writer};

/// What the Noise `X` inner layer costs beyond its plaintext.
pub const SEAL_OVERHEAD: usize = 32 + 48 + 16;
/// What the outer layer costs: its key, its tag, the length.
pub const OUTER_OVERHEAD: usize = 32 + 16 + 4;
/// Every sealed message has one of these lengths.
pub const SEALED_SIZES: [usize; 6] = [512, 1024, 2048, 8192, 32768, 65535];
/// Largest sealed message.
pub const MAX_SEALED_LEN: usize = 65535;
/// Largest inner message.
pub const MAX_INNER_LEN: usize = MAX_SEALED_LEN - OUTER_OVERHEAD;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("cannot seal: {0}")]
    Noise(#[from] snow::Error),
    #[error("sealed message malformed: {0}")]
    Decode(#[from] DecodeError),
    #[error("sender card refused: {0}")]
    Card(#[from] InviteError),
    #[error("sender card does not match the key that sealed the message")]
    CardMismatch,
    #[error("{0} bytes do not fit one sealed message")]
    TooLarge(usize),
    #[error("not sealed to this device")]
    NotOurs,
}

/// An opened message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub sender: ContactCard,
    pub ack_secret: [u8; 16],
    pub payload: Payload,
}

/// The inner message of a sealed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inner {
    /// Noise `X` to the static key, sender's card inside.
    Static(Vec<u8>),
    /// A ratchet session's message.
    Ratchet(RatchetMessage),
}

impl Inner {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            Inner::Static(noise) => {
                w.u8(0).raw(noise);
            }
            Inner::Ratchet(msg) => {
                w.u8(1);
                msg.encode(&mut w);
            }
        }
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let inner = match r.u8("sealed kind")? {
            0 => Inner::Static(r.rest().to_vec()),
            1 => Inner::Ratchet(RatchetMessage::decode(&mut r)?),
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "sealed",
                    kind,
                });
            }
        };
        r.finish()?;
        Ok(inner)
    }
}

fn outer_cipher(dh: &[u8; 32], e: &[u8; 32], recipient: &[u8; 32]) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(e);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), dh);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes always fit.
    #[allow(clippy::expect_used)]
    hk.expand(b"cairn/seal/v2", key.as_mut())
        .expect("32 bytes fit HKDF");
    ChaCha20Poly1305::new((&*key).into())
}

/// The sealed size an inner message of `len` bytes pads to.
pub fn sealed_size(len: usize) -> Option<usize> {
    SEALED_SIZES
        .iter()
        .copied()
        .find(|s| *s >= len + OUTER_OVERHEAD)
}

/// Wraps `inner` for `recipient` with the fresh key `e`, padded to a size of
/// [`SEALED_SIZES`].
pub fn wrap(recipient: &StaticKey, inner: &Inner, e: &KeyPair) -> Result<Vec<u8>, SealError> {
    let inner = inner.encode();
    let size = sealed_size(inner.len()).ok_or(SealError::TooLarge(inner.len()))?;
    let dh = e.dh(&recipient.0).map_err(|_| SealError::NotOurs)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(size - 48));
    plain.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    plain.extend_from_slice(&inner);
    plain.resize(size - 48, 0);
    let sealed = outer_cipher(&dh, &e.public(), &recipient.0)
        .encrypt(&Nonce::default(), plain.as_slice())
        .map_err(|_| SealError::TooLarge(size))?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&e.public());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Removes the outer layer of a message sealed to `recipient`.
pub fn unwrap(recipient: &Identity, sealed: &[u8]) -> Result<Inner, SealError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(SealError::TooLarge(sealed.len()));
    }
    if sealed.len() < OUTER_OVERHEAD {
        return Err(SealError::Decode(DecodeError::Truncated {
            field: "sealed message",
        }));
    }
    let (e, body) = sealed.split_at(32);
    let mut e_bytes = [0u8; 32];
    e_bytes.copy_from_slice(e);
    let secret = recipient.static_secret_bytes();
    let dh = crate::ratchet::dh(&secret, &e_bytes).map_err(|_| SealError::NotOurs)?;
    let plain = Zeroizing::new(
        outer_cipher(&dh, &e_bytes, &recipient.static_key().0)
            .decrypt(&Nonce::default(), body)
            .map_err(|_| SealError::NotOurs)?,
    );
    let mut r = Reader::new(&plain);
    let len = r.u32("sealed length")? as usize;
    let rest = r.rest();
    if len > rest.len() {
        return Err(SealError::Decode(DecodeError::Truncated {
            field: "sealed inner",
        }));
    }
    if rest[len..].iter().any(|b| *b != 0) {
        return Err(SealError::Decode(DecodeError::Invalid("sealed padding")));
    }
    Ok(Inner::decode(&rest[..len])?)
}

/// The plaintext a ratchet message carries: unpadded, as the envelope pads
/// its whole inner message.
pub fn ratchet_plaintext(ack_secret: [u8; 16], payload: &Payload) -> Vec<u8> {
    let padded = payload.encode_bare();
    let mut out = Vec::with_capacity(16 + padded.len());
    out.extend_from_slice(&ack_secret);
    out.extend_from_slice(&padded);
    out
}

/// Reads what [`ratchet_plaintext`] wrote.
pub fn read_ratchet_plaintext(bytes: &[u8]) -> Result<([u8; 16], Payload), SealError> {
    let mut r = Reader::new(bytes);
    let ack = r.array("ack secret")?;
    Ok((ack, Payload::decode_bare(r.rest())?))
}

/// Seals `payload` from `sender` (presenting `card`) to `recipient` with
/// Noise `X` and wraps it: a first contact, without forward secrecy.
pub fn seal(
    sender: &Identity,
    card: &ContactCard,
    recipient: &StaticKey,
    ack_secret: [u8; 16],
    payload: &Payload,
    seed: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    let noise = seal_static(sender, card, recipient, ack_secret, payload, seed)?;
    let e = KeyPair::from_secret(Zeroizing::new(derive_label(
        &seed,
        b"cairn/seal/outer-ephemeral",
    )));
    wrap(recipient, &Inner::Static(noise), &e)
}

fn derive_label(seed: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(None, seed);
    let mut out = [0u8; 32];
    // 32 bytes always fit.
    #[allow(clippy::expect_used)]
    hk.expand(label, &mut out).expect("32 bytes fit HKDF");
    out
}

/// The Noise `X` inner layer.
pub fn seal_static(
    sender: &Identity,
    card: &ContactCard,
    recipient: &StaticKey,
    ack_secret: [u8; 16],
    payload: &Payload,
    seed: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    let card_bytes = card.encode();
    let padded = payload.encode_padded();
    let mut inner = Writer::with_capacity(2 + card_bytes.len() + 16 + padded.len());
    inner.bytes(&card_bytes).raw(&ack_secret).raw(&padded);
    let inner = inner.into_vec();
    if inner.len() + SEAL_OVERHEAD + 1 > MAX_INNER_LEN || inner.len() > MAX_PLAINTEXT {
        return Err(SealError::TooLarge(inner.len()));
    }
    let secret = sender.static_secret_bytes();
    let mut state = noise::one_way_builder(seed)
        .local_private_key(&secret[..])?
        .remote_public_key(&recipient.0)?
        .build_initiator()?;
    let mut out = vec![0u8; inner.len() + SEAL_OVERHEAD];
    let n = state.write_message(&inner, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Opens the Noise `X` inner layer.
pub fn open_static(recipient: &Identity, sealed: &[u8]) -> Result<Opened, SealError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(SealError::TooLarge(sealed.len()));
    }
    let secret = recipient.static_secret_bytes();
    let mut state = noise::one_way_builder([0; 32])
        .local_private_key(&secret[..])?
        .build_responder()?;
    let mut inner = vec![0u8; sealed.len()];
    let n = state.read_message(sealed, &mut inner)?;
    let mut r = Reader::new(&inner[..n]);
    let sender = ContactCard::decode(r.bytes(MAX_CARD_LEN, "card")?)?;
    if state.get_remote_static() != Some(&sender.static_key().0[..]) {
        return Err(SealError::CardMismatch);
    }
    let ack_secret = r.array("ack secret")?;
    let payload = Payload::decode_padded(r.rest())?;
    Ok(Opened {
        sender,
        ack_secret,
        payload,
    })
}

/// Opens a message sealed with [`seal`] (the static path).
pub fn open(recipient: &Identity, sealed: &[u8]) -> Result<Opened, SealError> {
    match unwrap(recipient, sealed)? {
        Inner::Static(noise) => open_static(recipient, &noise),
        Inner::Ratchet(_) => Err(SealError::NotOurs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MessageId;
    use crate::time::Time;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::time::Duration;

    fn party(seed: u64) -> (Identity, ContactCard) {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let card = ContactCard::new(&id, "p", vec![], Time::ZERO, Duration::from_secs(60)).unwrap();
        (id, card)
    }

    fn text() -> Payload {
        Payload::Text {
            id: MessageId([3; 16]),
            sent_at: Time::from_secs(9),
            text: "through the crowd".into(),
            remote: None,
        }
    }

    #[test]
    fn only_the_recipient_opens_and_learns_who_sent_it() {
        let ((a, ca), (b, _), (c, _)) = (party(1), party(2), party(3));
        let sealed = seal(&a, &ca, &b.static_key(), [5; 16], &text(), [7; 32]).unwrap();
        let opened = open(&b, &sealed).unwrap();
        assert_eq!(opened.sender.identity(), a.key());
        assert_eq!(opened.ack_secret, [5; 16]);
        assert_eq!(opened.payload, text());
        assert!(open(&c, &sealed).is_err());
    }

    #[test]
    fn a_card_of_someone_else_is_refused() {
        let ((a, _), (b, _), (_, cm)) = (party(1), party(2), party(3));
        let sealed = seal(&a, &cm, &b.static_key(), [0; 16], &text(), [1; 32]).unwrap();
        assert!(matches!(open(&b, &sealed), Err(SealError::CardMismatch)));
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let ((a, ca), (b, _)) = (party(1), party(2));
        let sealed = seal(&a, &ca, &b.static_key(), [0; 16], &text(), [1; 32]).unwrap();
        for i in (0..sealed.len()).step_by(37) {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&b, &bad).is_err(), "flip at {i} accepted");
        }
    }
}
