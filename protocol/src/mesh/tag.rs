//! Recipient tags: what a carried envelope says about its recipient.
//!
//! `tag = SHA-256("cairn/tag/v1" ‖ recipient identity key ‖ epoch)[..16]`,
//! with the epoch (hour number by default) written beside it in the clear. A
//! relay can match a tag only if it knows the recipient's public key — that is,
//! only for its own contacts; to everyone else it is 16 random-looking bytes
//! that change every epoch.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::identity::IdentityKey;
use crate::time::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub [u8; 16]);

pub fn epoch_of(t: Time, epoch_len: Duration) -> u32 {
    let len = epoch_len.as_millis().max(1) as u64;
    u32::try_from(t.as_millis() / len).unwrap_or(u32::MAX)
}

pub fn tag(recipient: &IdentityKey, epoch: u32) -> Tag {
    let digest = Sha256::new()
        .chain_update(b"cairn/tag/v1")
        .chain_update(recipient.as_bytes())
        .chain_update(epoch.to_be_bytes())
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    Tag(out)
}
