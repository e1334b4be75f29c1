//! Per-post keys, and what a post says besides its text: a reply, a
//! reaction, a deletion, an edit mark (docs/GROUPS.md, "Replies, reactions,
//! edits, deletion, disappearing").
//!
//! **Per-post keys.** An automerge document keeps every value ever written
//! in its history, so a text deleted from the document is still in it. Each
//! post is therefore encrypted under a key of its own (its edits under the
//! same key), and the key never enters the document: it travels beside the
//! changes that use it, in the sync and push messages between members, and
//! is stored by each member outside the document. Deleting a post (or its
//! expiry) erases the key everywhere it reaches; what stays in the history is
//! ciphertext nobody can open.
//!
//! A post key's id is the first 16 bytes of `SHA-256(domain ‖ key)` in hex:
//! it commits to the key, so whoever forwards a key cannot swap it for
//! another that opens the same ciphertext to a different text. The value in
//! the document is `SEALED_PREFIX id ":" base64(nonce ‖ ciphertext)` with the
//! message's slot as associated data (the epoch keys' format, a longer id).
//!
//! A post written while an epoch key was current travels *wrapped* under
//! that epoch key, so a member added later reads what it could read before
//! per-post keys (the current epoch, not earlier ones) and a removed member
//! nothing written after.
//!
//! **The body** (inside the encryption): a plain text, or
//! `OP_MARK kind ["*"] ":" target "\n" text` — kind `text`, `reply`, `react`,
//! `delete`, `file`; `*` marks an edited post; target a slot (`<author
//! hex>/<id hex>`). A file's text is `sha256-hex " " size "\n" mime "\n"
//! name`: the content travels outside the document ([`super::groups`],
//! "Files"), checked against that hash.
//! A post deleted by its author is overwritten with [`TOMBSTONE`], unsealed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::file::FileMeta;
use crate::ids::MessageId;

/// Marks a post body that is more than a text. Texts may not start with it.
pub const OP_MARK: char = '\u{3}';
/// What a post its author deleted is overwritten with.
pub const TOMBSTONE: &str = "\u{3}deleted";
const POST_KEY_DOMAIN: &[u8] = b"cairn/group-post-key/v1";
/// Hex digits of a post key's id (epoch keys have 16).
pub const POST_KEY_ID_LEN: usize = 32;
/// A wrapped post key: `nonce:[24] ciphertext:[32 + 16]`.
pub const WRAPPED_LEN: usize = 24 + 48;
/// Longest slot: 64 hex digits, `/`, 32 hex digits.
const SLOT_LEN: usize = 64 + 1 + 32;

/// A post's key, as a member holds it.
#[derive(Clone)]
pub struct PostKey {
    /// The slot of the post it opens (what deleting the post erases).
    pub slot: String,
    pub key: Zeroizing<[u8; 32]>,
    /// The epoch key it travels wrapped under, if one was current.
    pub epoch: Option<String>,
}

impl std::fmt::Debug for PostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostKey")
            .field("slot", &self.slot)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A post key's public name (and commitment).
pub fn post_key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(POST_KEY_DOMAIN);
    h.update(key);
    data_encoding::HEXLOWER.encode(&h.finalize()[..16])
}

pub fn is_post_key_id(id: &str) -> bool {
    id.len() == POST_KEY_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The message slots a change writes, each with the post key its value
/// names (if it names one).
pub fn writes(change: &automerge::Change) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for op in change.decode().operations {
        if let (
            automerge::legacy::OpType::Put(automerge::ScalarValue::Str(value)),
            automerge::legacy::Key::Map(slot),
        ) = (&op.action, &op.key)
            && is_slot(slot)
        {
            let id = super::keys::sealed_key_id(value)
                .filter(|id| is_post_key_id(id))
                .map(str::to_owned);
            out.push((slot.to_string(), id));
        }
    }
    out
}

/// The post keys a change's values name, with their slots: the keys that
/// travel beside it.
pub fn keys_named(change: &automerge::Change) -> Vec<(String, String)> {
    writes(change)
        .into_iter()
        .filter_map(|(slot, id)| Some((id?, slot)))
        .collect()
}

/// Wraps a post key under the epoch key current when it was written; the
/// post key's id is the associated data. The nonce is derived from the id:
/// an id names one key (it commits to it), so one epoch key never seals two
/// plaintexts under one nonce, and every member wraps a key the same way.
pub fn wrap(key: &[u8; 32], id: &str, epoch_key: &[u8; 32]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(
        &Sha256::digest([b"cairn/group-post-key-wrap/v1".as_slice(), id.as_bytes()].concat())[..24],
    );
    let cipher = XChaCha20Poly1305::new(epoch_key.into());
    let mut out = nonce.to_vec();
    // Encrypting 32 bytes into a fresh buffer cannot fail.
    if let Ok(ct) = cipher.encrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: key.as_slice(),
            aad: id.as_bytes(),
        },
    ) {
        out.extend_from_slice(&ct);
    }
    out
}

/// Unwraps a post key, and checks it is the one its id names.
pub fn unwrap(wrapped: &[u8], id: &str, epoch_key: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    if wrapped.len() != WRAPPED_LEN {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(epoch_key.into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&wrapped[..24]),
                Payload {
                    msg: &wrapped[24..],
                    aad: id.as_bytes(),
                },
            )
            .ok()?,
    );
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(plain.as_slice().try_into().ok()?);
    (post_key_id(&key) == id).then_some(key)
}

/// Whether `s` looks like a message slot (`<64 hex>/<32 hex>`).
pub fn is_slot(s: &str) -> bool {
    s.len() == SLOT_LEN
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 64 {
                b == b'/'
            } else {
                matches!(b, b'0'..=b'9' | b'a'..=b'f')
            }
        })
}

/// What a post is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A text, maybe a reply to the post in that slot.
    Text { reply_to: Option<String> },
    /// A reaction (the text: one emoji) to the post in that slot.
    React { target: String },
    /// Its writer deletes the post in that slot (its own, from another of
    /// its devices; or anyone's, as an admin).
    Delete { target: String },
    /// A file (a voice note, say): what it is; the post's text is its name.
    File(FileMeta),
}

/// A post's body, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub body: Body,
    pub edited: bool,
    pub text: String,
}

impl Post {
    pub fn text(text: &str) -> Self {
        Self {
            body: Body::Text { reply_to: None },
            edited: false,
            text: text.to_owned(),
        }
    }

    /// A file's post.
    pub fn file(meta: FileMeta) -> Self {
        Self {
            text: meta.name.clone(),
            body: Body::File(meta),
            edited: false,
        }
    }

    /// The body as written into the (encrypted) value. A plain text that is
    /// no reply and not edited stays as it is.
    pub fn encode(&self) -> String {
        if let Body::File(meta) = &self.body {
            return format!(
                "{OP_MARK}file:\n{} {}\n{}\n{}",
                data_encoding::HEXLOWER.encode(&meta.sha256),
                meta.size,
                meta.mime,
                meta.name
            );
        }
        let (kind, target) = match &self.body {
            Body::Text { reply_to: None } if !self.edited => return self.text.clone(),
            Body::Text { reply_to: None } => ("text", ""),
            Body::Text {
                reply_to: Some(slot),
            } => ("reply", slot.as_str()),
            Body::React { target } => ("react", target.as_str()),
            Body::Delete { target } => ("delete", target.as_str()),
            Body::File(_) => unreachable!("encoded above"),
        };
        let star = if self.edited { "*" } else { "" };
        format!("{OP_MARK}{kind}{star}:{target}\n{}", self.text)
    }

    /// Reads a decrypted body. `None`: malformed (a hostile writer's), to be
    /// ignored.
    pub fn decode(plain: &str) -> Option<Self> {
        let Some(rest) = plain.strip_prefix(OP_MARK) else {
            return Some(Self::text(plain));
        };
        let (head, text) = rest.split_once('\n')?;
        let (kind, target) = head.split_once(':')?;
        let (kind, edited) = match kind.strip_suffix('*') {
            Some(k) => (k, true),
            None => (kind, false),
        };
        if !target.is_empty() && !is_slot(target) {
            return None;
        }
        let target = target.to_owned();
        let body = match (kind, target.is_empty()) {
            ("text", true) => Body::Text { reply_to: None },
            ("reply", false) => Body::Text {
                reply_to: Some(target),
            },
            ("react", false) if crate::message::is_reaction(text) => Body::React { target },
            ("delete", false) if text.is_empty() => Body::Delete { target },
            ("file", true) if !edited => return decode_file(text).map(Self::file),
            _ => return None,
        };
        Some(Self {
            body,
            edited,
            text: text.to_owned(),
        })
    }
}

/// A file post's text: `sha256-hex " " size "\n" mime "\n" name`, within
/// the bounds of a file offered in a chat.
fn decode_file(text: &str) -> Option<FileMeta> {
    let mut lines = text.split('\n');
    let (hash, size) = lines.next()?.split_once(' ')?;
    let (mime, name) = (lines.next()?, lines.next()?);
    if lines.next().is_some() || hash.len() != 64 || size.len() > 20 {
        return None;
    }
    let sha256: [u8; 32] = data_encoding::HEXLOWER
        .decode(hash.as_bytes())
        .ok()?
        .try_into()
        .ok()?;
    let size: u64 = size.parse().ok()?;
    let ok = size <= crate::file::MAX_FILE_LEN
        && mime.len() <= crate::file::MAX_MIME_LEN
        && !mime.chars().any(char::is_control)
        && crate::file::clean_name(name).as_deref() == Some(name);
    ok.then(|| FileMeta {
        name: name.to_owned(),
        mime: mime.to_owned(),
        size,
        sha256,
    })
}

/// The id under which `reactor` keeps its reaction to the post in `target`
/// (one per person and post: a new reaction overwrites it): the target's
/// clock, so it sorts beside it, then 8 bytes of a hash of the target.
pub fn reaction_id(target: &str, target_id: &MessageId) -> MessageId {
    let digest =
        Sha256::digest([b"cairn/group-reaction/v1".as_slice(), target.as_bytes()].concat());
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&target_id.0[..8]);
    id[8..].copy_from_slice(&digest[..8]);
    MessageId(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SLOT: &str = "00000000000000000000000000000000000000000000000000000000000000aa/0000000000000000000000000000000b";

    #[test]
    fn bodies_round_trip_and_hostile_ones_are_refused() {
        assert!(is_slot(SLOT));
        for post in [
            Post::text("hello"),
            Post {
                edited: true,
                ..Post::text("hello again")
            },
            Post {
                body: Body::Text {
                    reply_to: Some(SLOT.into()),
                },
                edited: false,
                text: "which mill?".into(),
            },
            Post {
                body: Body::React {
                    target: SLOT.into(),
                },
                edited: true,
                text: "👍".into(),
            },
            Post {
                body: Body::Delete {
                    target: SLOT.into(),
                },
                edited: false,
                text: String::new(),
            },
            Post::file(FileMeta::of("note.ogg", "audio/ogg", b"OggS...").unwrap()),
            Post::file(FileMeta::of("a b.txt", "", b"").unwrap()),
        ] {
            assert_eq!(Post::decode(&post.encode()), Some(post));
        }
        assert_eq!(Post::text("x").encode(), "x", "plain texts stay plain");
        for hostile in [
            "\u{3}react:".to_owned() + SLOT + "\nlol",
            "\u{3}react:\n👍".into(),
            "\u{3}delete:".to_owned() + SLOT + "\nnot empty",
            "\u{3}reply:../../etc\nx".into(),
            "\u{3}reply:\nx".into(),
            "\u{3}text:".to_owned() + SLOT + "\nx",
            "\u{3}shout:\nx".into(),
            "\u{3}text".into(),
            "\u{3}".into(),
            TOMBSTONE.into(),
            // Files: a short hash, a size past the bound, a path for a
            // name, an extra line, an edit mark, a target.
            "\u{3}file:\nabcd 3\naudio/ogg\nx.ogg".into(),
            format!("\u{3}file:\n{} 99999999999\n\nx", "0".repeat(64)),
            format!("\u{3}file:\n{} 3\n\n../x", "0".repeat(64)),
            format!("\u{3}file:\n{} 3\n\nx\ny", "0".repeat(64)),
            format!("\u{3}file*:\n{} 3\n\nx", "0".repeat(64)),
            format!("\u{3}file:{SLOT}\n{} 3\n\nx", "0".repeat(64)),
        ] {
            assert_eq!(Post::decode(&hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn keys_commit_and_wrap_only_for_their_epoch() {
        let key = [7u8; 32];
        let id = post_key_id(&key);
        assert!(is_post_key_id(&id));
        let wrapped = wrap(&key, &id, &[1; 32]);
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(*unwrap(&wrapped, &id, &[1; 32]).unwrap(), key);
        assert!(unwrap(&wrapped, &id, &[3; 32]).is_none(), "another epoch");
        let other = post_key_id(&[8; 32]);
        assert!(
            unwrap(&wrapped, &other, &[1; 32]).is_none(),
            "bound to its id"
        );
        // A key wrapped under a name it does not hash to is refused.
        let forged = wrap(&[8; 32], &id, &[1; 32]);
        assert!(unwrap(&forged, &id, &[1; 32]).is_none());
    }
}
