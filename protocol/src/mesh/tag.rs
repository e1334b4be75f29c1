//! Recipient tags: what a carried envelope says about its recipient.
//!
//! ```text
//! pair_key = HKDF-SHA-256(salt = min(S_a, S_b) ‖ max(S_a, S_b), ikm = X25519(s_a, S_b), "cairn/tag-key/v2")
//! tag      = HMAC-SHA-256(pair_key, "cairn/tag/v2" ‖ recipient identity ‖ epoch ‖ slot)[..16]
//! ```
//!
//! A sender uses the next of [`SLOTS`] slots for each envelope to the same
//! recipient within an epoch, so two envelopes of one pair in one hour carry
//! different tags (from the fifth on, slots are reused at random).
//!
//! with the epoch (hour number by default) written beside it in the clear.
//! Only the two contacts can compute their pair key, so only the recipient
//! (and the sender) recognise a tag: a relay that knows every public key sees
//! 16 random-looking bytes that change every epoch and differ for every
//! sender, and the recipient's interest filter (its tags with every contact)
//! changes wholly every epoch. Envelopes from someone the recipient may not
//! know yet (a first message from an invite) carry a random tag: nobody
//! recognises them, they spread by the policy alone, and every node tries to
//! open them (one X25519 each, `sealed::unwrap`).
//!
//! What the tag still tells: a seized device can recompute its tags with every
//! contact and so link envelopes it sees later (or recorded earlier) to itself
//! and the contact who sent them. It cannot read them (`prekeys.rs`).

use std::time::Duration;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::identity::{Identity, IdentityKey, StaticKey};
use crate::time::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub [u8; 16]);

/// The secret two contacts share for their tags. Never leaves the device.
#[derive(Clone)]
pub struct TagKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for TagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagKey(..)")
    }
}

pub fn epoch_of(t: Time, epoch_len: Duration) -> u32 {
    let len = epoch_len.as_millis().max(1) as u64;
    u32::try_from(t.as_millis() / len).unwrap_or(u32::MAX)
}

/// The tag key `me` shares with the holder of `them`; `None` for a low-order key.
pub fn pair_key(me: &Identity, them: &StaticKey) -> Option<TagKey> {
    let secret = me.static_secret_bytes();
    let shared = crate::ratchet::dh(&secret, &them.0).ok()?;
    let mine = me.static_key().0;
    let (lo, hi) = if mine <= them.0 {
        (mine, them.0)
    } else {
        (them.0, mine)
    };
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(&lo);
    salt[32..].copy_from_slice(&hi);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes always fit.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(Some(&salt), &*shared)
        .expand(b"cairn/tag-key/v2", key.as_mut())
        .expect("32 bytes fit HKDF");
    Some(TagKey(key))
}

/// The tag of envelopes for `recipient` under `key` in `epoch`.
/// Tags a sender may use for one recipient in one epoch.
pub const SLOTS: u8 = 4;

pub fn tag(key: &TagKey, recipient: &IdentityKey, epoch: u32, slot: u8) -> Tag {
    // HMAC takes keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0[..]).expect("any key length");
    mac.update(b"cairn/tag/v2");
    mac.update(recipient.as_bytes());
    mac.update(&epoch.to_be_bytes());
    mac.update(&[slot]);
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    Tag(out)
}

/// A tag nobody recognises, for envelopes to someone who may not know us.
pub fn random_tag<R: RngCore>(rng: &mut R) -> Tag {
    let mut out = [0u8; 16];
    rng.fill_bytes(&mut out);
    Tag(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn both_contacts_and_nobody_else_compute_the_same_tags() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (a, b, c) = (
            Identity::generate(&mut rng),
            Identity::generate(&mut rng),
            Identity::generate(&mut rng),
        );
        let ab = pair_key(&a, &b.static_key()).unwrap();
        let ba = pair_key(&b, &a.static_key()).unwrap();
        let cb = pair_key(&c, &b.static_key()).unwrap();
        assert_eq!(tag(&ab, &b.key(), 7, 0), tag(&ba, &b.key(), 7, 0));
        assert_ne!(tag(&ab, &b.key(), 7, 0), tag(&ab, &a.key(), 7, 0));
        assert_ne!(tag(&ab, &b.key(), 7, 0), tag(&ab, &b.key(), 8, 0));
        assert_ne!(tag(&ab, &b.key(), 7, 0), tag(&ab, &b.key(), 7, 1));
        assert_ne!(tag(&ab, &b.key(), 7, 0), tag(&cb, &b.key(), 7, 0));
        assert!(pair_key(&a, &StaticKey([0; 32])).is_none());
    }
}
