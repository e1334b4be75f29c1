//! Messages sealed one way to a recipient's static key, for when there is no
//! interactive session: store-and-forward through the mesh.
//!
//! Noise `X` (`-> e, es, s, ss`): a fresh ephemeral key per message, the
//! sender's static key encrypted and authenticated. Inside: the sender's card
//! (so a recipient can tie the static key to an identity, and learn a
//! stranger's name), a 16-byte acknowledgement secret, and a padded payload.
//!
//! ```text
//! sealed    = noise_x_message                  (e:32 ‖ enc(s):48 ‖ enc(inner))
//! inner     = card:bytes16 ack_secret:[16] payload (padded, see payload.rs)
//! ```
//!
//! Anyone can replay a sealed message; receivers deduplicate on the inner
//! message id, as for every path.

use thiserror::Error;

use crate::identity::{Identity, StaticKey};
use crate::invite::{ContactCard, InviteError, MAX_CARD_LEN};
use crate::noise;
use crate::payload::Payload;
use crate::session::MAX_PLAINTEXT;
use crate::wire::{DecodeError, Reader, Writer};

/// What a sealed message costs beyond its inner bytes.
pub const SEAL_OVERHEAD: usize = 32 + 48 + 16;
/// Largest sealed message.
pub const MAX_SEALED_LEN: usize = 65535;

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
}

/// An opened message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub sender: ContactCard,
    pub ack_secret: [u8; 16],
    pub payload: Payload,
}

/// Seals `payload` from `sender` (presenting `card`) to `recipient`.
pub fn seal(
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
    if inner.len() + SEAL_OVERHEAD > MAX_SEALED_LEN || inner.len() > MAX_PLAINTEXT {
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

/// Opens a message sealed to `recipient`.
pub fn open(recipient: &Identity, sealed: &[u8]) -> Result<Opened, SealError> {
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
