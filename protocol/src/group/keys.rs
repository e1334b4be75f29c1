//! Epoch keys: after a removal, message text is encrypted under a key the
//! removed member never receives (docs/GROUPS.md, "Removal and epochs").
//!
//! - An admin who removes someone makes a fresh 32-byte key, names it by the
//!   first 8 bytes of its SHA-256, seals it to every remaining member's static
//!   X25519 key and writes the sealed copies into the document
//!   (`epoch_keys["<key id>/<member>"]`) with `key` on ROOT naming it.
//! - A member added later gets a copy sealed by the admin who adds them.
//! - Posts while a key is current carry `SEALED_PREFIX key id ":" base64(nonce
//!   ‖ ciphertext)` instead of the text; the message's map key is the
//!   associated data, so a ciphertext cannot be moved to another slot.
//!
//! Sealing a key to a member (X25519 with a fresh ephemeral key, then
//! XChaCha20-Poly1305): `ephemeral public:[32] nonce:[24] ciphertext:[48]`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::identity::StaticKey;

/// Marks an encrypted message value. Texts may not start with it.
pub const SEALED_PREFIX: &str = "\u{1}sealed:";
const KEY_DOMAIN: &[u8] = b"cairn/group-key/v1";
pub const SEALED_KEY_LEN: usize = 32 + 24 + 48;

/// An epoch key's public name.
pub fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    super::hex(&digest[..8])
}

fn wrap_key(shared: &[u8; 32], eph: &[u8; 32], to: &StaticKey) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(KEY_DOMAIN);
    h.update(shared);
    h.update(eph);
    h.update(to.0);
    Zeroizing::new(h.finalize().into())
}

/// Seals `key` to the holder of `to`.
pub fn seal_key(key: &[u8; 32], to: &StaticKey, eph_secret: [u8; 32], nonce: [u8; 24]) -> Vec<u8> {
    let eph = StaticSecret::from(eph_secret);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = Zeroizing::new(eph.diffie_hellman(&PublicKey::from(to.0)).to_bytes());
    let wrap = wrap_key(&shared, &eph_pub, to);
    let cipher = XChaCha20Poly1305::new((&*wrap).into());
    let mut out = Vec::with_capacity(SEALED_KEY_LEN);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&nonce);
    // Encrypting 32 bytes into a fresh buffer cannot fail.
    if let Ok(ct) = cipher.encrypt(XNonce::from_slice(&nonce), key.as_slice()) {
        out.extend_from_slice(&ct);
    }
    out
}

/// Opens a key sealed to us.
pub fn open_key(sealed: &[u8], secret: &[u8; 32], mine: &StaticKey) -> Option<Zeroizing<[u8; 32]>> {
    if sealed.len() != SEALED_KEY_LEN {
        return None;
    }
    let eph_pub: [u8; 32] = sealed[..32].try_into().ok()?;
    let nonce = &sealed[32..56];
    let me = StaticSecret::from(*secret);
    let shared = Zeroizing::new(me.diffie_hellman(&PublicKey::from(eph_pub)).to_bytes());
    let wrap = wrap_key(&shared, &eph_pub, mine);
    let cipher = XChaCha20Poly1305::new((&*wrap).into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(nonce), &sealed[56..])
            .ok()?,
    );
    Some(Zeroizing::new(plain.as_slice().try_into().ok()?))
}

/// A message value encrypted under an epoch key.
pub fn seal_text(key: &[u8; 32], id: &str, slot: &str, text: &str, nonce: [u8; 24]) -> String {
    let cipher = XChaCha20Poly1305::new(key.into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: text.as_bytes(),
                aad: slot.as_bytes(),
            },
        )
        .unwrap_or_default();
    let mut body = nonce.to_vec();
    body.extend_from_slice(&ct);
    format!(
        "{SEALED_PREFIX}{id}:{}",
        data_encoding::BASE64.encode(&body)
    )
}

/// The key id an encrypted value names, if it is one.
pub fn sealed_key_id(value: &str) -> Option<&str> {
    value
        .strip_prefix(SEALED_PREFIX)?
        .split_once(':')
        .map(|(id, _)| id)
}

/// Opens an encrypted value with `key`.
pub fn open_text(key: &[u8; 32], slot: &str, value: &str) -> Option<String> {
    let (_, body) = value.strip_prefix(SEALED_PREFIX)?.split_once(':')?;
    let body = data_encoding::BASE64.decode(body.as_bytes()).ok()?;
    if body.len() < 24 {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(&body[..24]),
            Payload {
                msg: &body[24..],
                aad: slot.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_and_texts_round_trip_and_only_for_their_holder() {
        let me = StaticSecret::from([5u8; 32]);
        let mine = StaticKey(PublicKey::from(&me).to_bytes());
        let other = StaticSecret::from([6u8; 32]);
        let key = [9u8; 32];
        let sealed = seal_key(&key, &mine, [1; 32], [2; 24]);
        assert_eq!(sealed.len(), SEALED_KEY_LEN);
        assert_eq!(*open_key(&sealed, &me.to_bytes(), &mine).unwrap(), key);
        assert!(open_key(&sealed, &other.to_bytes(), &mine).is_none());
        let v = seal_text(&key, &key_id(&key), "a/b", "hello", [3; 24]);
        assert_eq!(sealed_key_id(&v), Some(key_id(&key).as_str()));
        assert_eq!(open_text(&key, "a/b", &v).as_deref(), Some("hello"));
        assert!(open_text(&key, "a/c", &v).is_none(), "bound to its slot");
        assert!(open_text(&[8; 32], "a/b", &v).is_none());
    }
}
