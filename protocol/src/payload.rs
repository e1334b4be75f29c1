//! What travels inside an end-to-end session: typed, versioned, bounded, and
//! padded to one of a few sizes so that lengths say little about contents.
//!
//! ```text
//! padded  = len:u32 payload zero-padding      (total = smallest bucket that fits)
//! payload = version:u8(=1) kind:u8 body
//!   kind 1 Text       id:[16] sent_at:u64 text:bytes32 (UTF-8, ≤ MAX_TEXT_LEN)
//!   kind 2 Receipt    state:u8 (1 delivered, 2 read, 3 held by a mailbox) count:u16 ids:[16]*count
//!   kind 3 Card       card:bytes16
//!   kind 4 Keepalive
//!   kind 5 Group      group:[16] serial:u32 part:u16 parts:u16 data:bytes32 (≤ FRAGMENT_LEN)
//!   kind 6 RemoteText id:[16] sent_at:u64 remote:bytes16 text:bytes32
//!                     (a Text to or from an address on a bridged network, via a gateway)
//!   kind 7 Bridge     signal (see [`crate::bridge`])
//!   kind 8 File       id:[16] sent_at:u64 meta flags:u8 [data:bytes32 (≤ MAX_INLINE)]
//!                     [remote:bytes16] (flags: 1 inline data follows, 2 a remote
//!                     address follows: a file bridged to or from another network)
//!                     meta = name:bytes8 mime:bytes8 size:u64 sha256:[32]
//!   kind 9 FileChunk  id:[16] index:u32 data:bytes32 (≤ CHUNK_LEN)
//!   kind 10 FileWant  id:[16] have:u32 from:u32 count:u16 (≤ MAX_WINDOW)
//!   kind 11 Prekeys   bundle (see [`crate::prekeys`]; only inside a live session)
//!   kind 12 Devices   list:bytes32 (≤ MAX_LIST_LEN; see [`crate::devices`])
//!   kind 13 Copy      peer:[32] id:[16] sent_at:u64 flags:u8 [op:u8 target:[16]] text:bytes32
//!                     (between one person's devices: a text one of them sent to `peer`,
//!                     or, from a mailbox, one `peer` sent; flags: 1 incoming,
//!                     2 history handed to a newly linked device, 4 an operation
//!                     follows, as in kind 16)
//!   kind 14 LinkRequest secret:[16] name:bytes8 mailbox:u8 (0|1)
//!                     (a new device asks to join the account)
//!   kind 15 LinkContact contact:bytes16 (a contact handed to a newly linked device)
//!   kind 16 Op        id:[16] sent_at:u64 op:u8 target:[16] remote:bytes16 text:bytes32
//!                     (an operation on the message `target`: op 1 reply, 2 react,
//!                     3 edit, 4 delete, 5 timer (text = seconds, target zero);
//!                     `remote` empty unless bridged; see
//!                     [`crate::message::MessageOp`])
//! ```
//!
//! Files: see [`crate::file`].
//!
//! A `Group` fragment carries part of a group sync message (see
//! [`crate::group::groups`]).

use crate::bridge::{BridgeSignal, MAX_REMOTE_LEN, validate_remote};
use crate::contact::Contact;
use crate::devices::{DeviceList, MAX_DEVICE_NAME, MAX_LIST_LEN};
use crate::file::{CHUNK_LEN, FileMeta, MAX_INLINE, MAX_WINDOW};
use crate::group::GroupId;
use crate::identity::IdentityKey;
use crate::invite::{ContactCard, MAX_CARD_LEN, MAX_NAME_LEN};
use crate::limits::FRAGMENT_LEN;
use crate::message::{MessageOp, OpKind, is_reaction, timer_secs};
use crate::prekeys::Bundle;
use crate::session::MAX_PLAINTEXT;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;
/// Padded plaintext sizes. The last one is the most a Noise message can hold.
pub const BUCKETS: [usize; 5] = [256, 1024, 4096, 16384, MAX_PLAINTEXT];
/// Longest contact record a `LinkContact` carries.
const MAX_CONTACT_LEN: usize = MAX_CARD_LEN + MAX_NAME_LEN + 64;
const _: () = assert!(4 + 2 + 4 + MAX_LIST_LEN <= MAX_PLAINTEXT);
pub use crate::ids::MessageId;
pub use crate::limits::{MAX_RECEIPT_IDS, MAX_TEXT_LEN};

/// Which receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Delivered,
    Read,
    /// A mailbox (an always-on device of the recipient's) holds it.
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Text {
        id: MessageId,
        sent_at: Time,
        text: String,
        /// To or from this address on a bridged network (an XMPP JID): the
        /// other end of the session is the gateway.
        remote: Option<String>,
    },
    Receipt {
        kind: ReceiptKind,
        ids: Vec<MessageId>,
    },
    Card(Box<ContactCard>),
    /// Says nothing; confirms a fresh session to its responder.
    Keepalive,
    /// Part of a group sync message.
    Group(Box<GroupFragment>),
    /// Between a node and a gateway to another network.
    Bridge(Box<BridgeSignal>),
    /// A file offered in the conversation; small ones carry their content.
    File {
        id: MessageId,
        sent_at: Time,
        meta: Box<FileMeta>,
        inline: Option<Vec<u8>>,
        /// A file to or from an address on another network (the session's
        /// other end is the gateway); `None` otherwise.
        remote: Option<String>,
    },
    /// Part of a file, asked for by its receiver.
    FileChunk {
        id: MessageId,
        index: u32,
        data: Vec<u8>,
    },
    /// A file's receiver holds `have` chunks and asks for `[from, from+count)`.
    FileWant {
        id: MessageId,
        have: u32,
        from: u32,
        count: u16,
    },
    /// What the sender hands a contact so it can write while the sender is
    /// away, forward-secret (`prekeys.rs`).
    Prekeys(Box<Bundle>),
    /// The sender's account's signed device list.
    Devices(Box<DeviceList>),
    /// From another device of the same person: a text it sent to `peer`,
    /// so every device shows both sides of the conversation — or, from a
    /// mailbox, a text `peer` sent (`incoming`) that it held.
    Copy {
        peer: IdentityKey,
        id: MessageId,
        sent_at: Time,
        incoming: bool,
        /// Past history handed to a newly linked device (not news).
        history: bool,
        /// An operation (reply, reaction, edit, deletion, timer) rather than a text.
        op: Option<MessageOp>,
        text: String,
    },
    /// A new device proves it holds the one-time link code.
    LinkRequest {
        secret: [u8; 16],
        name: String,
        mailbox: bool,
    },
    /// A contact handed to a newly linked device (with its verification mark).
    LinkContact(Box<Contact>),
    /// An operation on an earlier message: a message of its own, sent,
    /// acknowledged and carried like a text.
    Op {
        id: MessageId,
        sent_at: Time,
        op: MessageOp,
        text: String,
        remote: Option<String>,
    },
}

/// Whether an operation's text fits its kind (and it does not name itself).
fn op_well_formed(op: MessageOp, id: &MessageId, text: &str) -> bool {
    let fits = match op.kind {
        OpKind::Reply | OpKind::Edit => !text.is_empty(),
        OpKind::React => is_reaction(text),
        OpKind::Delete => text.is_empty(),
        OpKind::Timer => timer_secs(text).is_some() && op.target == MessageId([0; 16]),
    };
    fits && op.target != *id
}

/// One fragment of a group sync message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFragment {
    pub group: GroupId,
    /// Names the message the fragment belongs to (per sender).
    pub serial: u32,
    pub part: u16,
    pub parts: u16,
    pub data: Vec<u8>,
}

impl Payload {
    fn encode_unpadded(&self, w: &mut Writer) {
        w.u8(VERSION);
        match self {
            Payload::Text {
                id,
                sent_at,
                text,
                remote: None,
            } => {
                w.u8(1)
                    .raw(&id.0)
                    .u64(sent_at.as_millis())
                    .long_bytes(text.as_bytes());
            }
            Payload::Text {
                id,
                sent_at,
                text,
                remote: Some(remote),
            } => {
                w.u8(6)
                    .raw(&id.0)
                    .u64(sent_at.as_millis())
                    .bytes(remote.as_bytes())
                    .long_bytes(text.as_bytes());
            }
            Payload::Receipt { kind, ids } => {
                let code = match kind {
                    ReceiptKind::Delivered => 1,
                    ReceiptKind::Read => 2,
                    ReceiptKind::Held => 3,
                };
                w.u8(2).u8(code).u16(ids.len() as u16);
                for id in ids {
                    w.raw(&id.0);
                }
            }
            Payload::Card(card) => {
                w.u8(3).bytes(&card.encode());
            }
            Payload::Keepalive => {
                w.u8(4);
            }
            Payload::Group(f) => {
                w.u8(5)
                    .raw(&f.group.0)
                    .u32(f.serial)
                    .u16(f.part)
                    .u16(f.parts)
                    .long_bytes(&f.data);
            }
            Payload::Bridge(signal) => {
                w.u8(7);
                signal.encode(w);
            }
            Payload::File {
                id,
                sent_at,
                meta,
                inline,
                remote,
            } => {
                w.u8(8).raw(&id.0).u64(sent_at.as_millis());
                meta.encode(w);
                let flags = u8::from(inline.is_some()) | (u8::from(remote.is_some()) << 1);
                w.u8(flags);
                if let Some(data) = inline {
                    w.long_bytes(data);
                }
                if let Some(remote) = remote {
                    w.bytes(remote.as_bytes());
                }
            }
            Payload::FileChunk { id, index, data } => {
                w.u8(9).raw(&id.0).u32(*index).long_bytes(data);
            }
            Payload::FileWant {
                id,
                have,
                from,
                count,
            } => {
                w.u8(10).raw(&id.0).u32(*have).u32(*from).u16(*count);
            }
            Payload::Prekeys(bundle) => {
                w.u8(11);
                bundle.encode(w);
            }
            Payload::Devices(list) => {
                w.u8(12).long_bytes(&list.encode());
            }
            Payload::Copy {
                peer,
                id,
                sent_at,
                incoming,
                history,
                op,
                text,
            } => {
                w.u8(13)
                    .raw(peer.as_bytes())
                    .raw(&id.0)
                    .u64(sent_at.as_millis())
                    .u8(u8::from(*incoming)
                        | (u8::from(*history) << 1)
                        | (u8::from(op.is_some()) << 2));
                if let Some(op) = op {
                    w.u8(op.kind.code()).raw(&op.target.0);
                }
                w.long_bytes(text.as_bytes());
            }
            Payload::LinkRequest {
                secret,
                name,
                mailbox,
            } => {
                w.u8(14)
                    .raw(secret)
                    .short_bytes(name.as_bytes())
                    .u8(u8::from(*mailbox));
            }
            Payload::LinkContact(contact) => {
                w.u8(15).bytes(&contact.encode());
            }
            Payload::Op {
                id,
                sent_at,
                op,
                text,
                remote,
            } => {
                w.u8(16)
                    .raw(&id.0)
                    .u64(sent_at.as_millis())
                    .u8(op.kind.code())
                    .raw(&op.target.0)
                    .bytes(remote.as_deref().unwrap_or("").as_bytes())
                    .long_bytes(text.as_bytes());
            }
        }
    }

    /// Encodes and pads to the smallest bucket that fits.
    ///
    /// Callers keep texts within [`MAX_TEXT_LEN`] and receipts within
    /// [`MAX_RECEIPT_IDS`], which always fit the largest bucket.
    pub fn encode_padded(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.padded_len());
        w.u32(0);
        self.encode_unpadded(&mut w);
        let mut out = w.into_vec();
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        let bucket = BUCKETS
            .iter()
            .copied()
            .find(|b| *b >= out.len())
            .unwrap_or(out.len());
        out.resize(bucket, 0);
        out
    }

    /// The bucket this payload pads to.
    fn padded_len(&self) -> usize {
        let body = match self {
            Payload::Text { text, remote, .. } => {
                16 + 8 + 4 + text.len() + remote.as_ref().map_or(0, |r| 2 + r.len())
            }
            Payload::Bridge(signal) => signal.encoded_len(),
            Payload::Receipt { ids, .. } => 3 + 16 * ids.len(),
            Payload::Card(_) => 2 + crate::invite::MAX_CARD_LEN,
            Payload::Keepalive => 0,
            Payload::Group(f) => 16 + 4 + 2 + 2 + 4 + f.data.len(),
            Payload::File {
                meta,
                inline,
                remote,
                ..
            } => {
                16 + 8
                    + meta.encoded_len()
                    + 1
                    + inline.as_ref().map_or(0, |d| 4 + d.len())
                    + remote.as_ref().map_or(0, |r| 2 + r.len())
            }
            Payload::FileChunk { data, .. } => 16 + 4 + 4 + data.len(),
            Payload::FileWant { .. } => 16 + 4 + 4 + 2,
            Payload::Prekeys(_) => 4 + 32 + 8 + 64 + 1 + 4 + 32,
            Payload::Devices(list) => 4 + list.encoded_len(),
            Payload::Copy { text, .. } => 32 + 16 + 8 + 1 + 17 + 4 + text.len(),
            Payload::LinkRequest { name, .. } => 16 + 1 + name.len() + 1,
            Payload::LinkContact(_) => 2 + MAX_CONTACT_LEN,
            Payload::Op { text, remote, .. } => {
                16 + 8 + 1 + 16 + 2 + remote.as_ref().map_or(0, String::len) + 4 + text.len()
            }
        };
        let len = 4 + 2 + body;
        BUCKETS.iter().copied().find(|b| *b >= len).unwrap_or(len)
    }

    /// Encodes without padding, for a layer that pads by itself (a sealed
    /// envelope pads its whole inner message).
    pub fn encode_bare(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.padded_len());
        self.encode_unpadded(&mut w);
        w.into_vec()
    }

    /// Decodes what [`Payload::encode_bare`] wrote.
    pub fn decode_bare(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(bytes)
    }

    /// Decodes a padded payload.
    pub fn decode_padded(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let len = r.u32("payload length")? as usize;
        let body = r.take(len, "payload")?;
        if r.rest().iter().any(|b| *b != 0) {
            return Err(DecodeError::Invalid("padding"));
        }
        Self::decode(body)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("payload version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "payload",
                version,
            });
        }
        let payload = match r.u8("payload kind")? {
            1 => Payload::Text {
                id: MessageId(r.array("message id")?),
                sent_at: Time::from_millis(r.u64("sent at")?),
                text: r.long_str(MAX_TEXT_LEN, "text")?.to_owned(),
                remote: None,
            },
            6 => {
                let id = MessageId(r.array("message id")?);
                let sent_at = Time::from_millis(r.u64("sent at")?);
                let remote = r.str(MAX_REMOTE_LEN, "remote address")?;
                validate_remote(remote)?;
                Payload::Text {
                    id,
                    sent_at,
                    remote: Some(remote.to_owned()),
                    text: r.long_str(MAX_TEXT_LEN, "text")?.to_owned(),
                }
            }
            7 => Payload::Bridge(Box::new(BridgeSignal::decode(&mut r)?)),
            2 => {
                let kind = match r.u8("receipt kind")? {
                    1 => ReceiptKind::Delivered,
                    2 => ReceiptKind::Read,
                    3 => ReceiptKind::Held,
                    kind => {
                        return Err(DecodeError::UnknownKind {
                            field: "receipt",
                            kind,
                        });
                    }
                };
                let count = usize::from(r.u16("receipt count")?);
                if count > MAX_RECEIPT_IDS {
                    return Err(DecodeError::TooLong {
                        field: "receipt",
                        len: count,
                        max: MAX_RECEIPT_IDS,
                    });
                }
                // The count is bounded and each id is read from input, so the
                // allocation below is at most MAX_RECEIPT_IDS * 16 bytes.
                let ids = (0..count)
                    .map(|_| r.array("message id").map(MessageId))
                    .collect::<Result<Vec<_>, _>>()?;
                Payload::Receipt { kind, ids }
            }
            3 => Payload::Card(Box::new(
                ContactCard::decode(r.bytes(MAX_CARD_LEN, "card")?)
                    .map_err(|_| DecodeError::Invalid("card"))?,
            )),
            4 => Payload::Keepalive,
            5 => Payload::Group(Box::new(GroupFragment {
                group: GroupId(r.array("group id")?),
                serial: r.u32("fragment serial")?,
                part: r.u16("fragment part")?,
                parts: r.u16("fragment parts")?,
                data: r.long_bytes(FRAGMENT_LEN, "fragment")?.to_vec(),
            })),
            8 => {
                let id = MessageId(r.array("file id")?);
                let sent_at = Time::from_millis(r.u64("sent at")?);
                let meta = FileMeta::decode(&mut r)?;
                let flags = r.u8("file flags")?;
                if flags & !3 != 0 {
                    return Err(DecodeError::UnknownKind {
                        field: "file flags",
                        kind: flags,
                    });
                }
                let inline = if flags & 1 != 0 {
                    let data = r.long_bytes(MAX_INLINE, "inline file")?;
                    if data.len() as u64 != meta.size {
                        return Err(DecodeError::Invalid("inline file length"));
                    }
                    Some(data.to_vec())
                } else {
                    None
                };
                let remote = if flags & 2 != 0 {
                    let remote = r.str(MAX_REMOTE_LEN, "remote address")?;
                    validate_remote(remote)?;
                    Some(remote.to_owned())
                } else {
                    None
                };
                Payload::File {
                    id,
                    sent_at,
                    meta: Box::new(meta),
                    inline,
                    remote,
                }
            }
            11 => Payload::Prekeys(Box::new(Bundle::decode(&mut r)?)),
            12 => Payload::Devices(Box::new(
                DeviceList::decode(r.long_bytes(MAX_LIST_LEN, "device list")?)
                    .map_err(|_| DecodeError::Invalid("device list"))?,
            )),
            13 => {
                let peer = IdentityKey::decode(&mut r)?;
                let id = MessageId(r.array("message id")?);
                let sent_at = Time::from_millis(r.u64("sent at")?);
                let flags = r.u8("copy flags")?;
                if flags > 7 {
                    return Err(DecodeError::UnknownKind {
                        field: "copy flags",
                        kind: flags,
                    });
                }
                let op = if flags & 4 != 0 {
                    Some(MessageOp {
                        kind: OpKind::from_code(r.u8("op")?)?,
                        target: MessageId(r.array("op target")?),
                    })
                } else {
                    None
                };
                let text = r.long_str(MAX_TEXT_LEN, "text")?.to_owned();
                if op.is_some_and(|op| !op_well_formed(op, &id, &text)) {
                    return Err(DecodeError::Invalid("operation"));
                }
                Payload::Copy {
                    peer,
                    id,
                    sent_at,
                    incoming: flags & 1 != 0,
                    history: flags & 2 != 0,
                    op,
                    text,
                }
            }
            14 => Payload::LinkRequest {
                secret: r.array("link secret")?,
                name: r.short_str(MAX_DEVICE_NAME, "device name")?.to_owned(),
                mailbox: flag(&mut r, "mailbox flag")?,
            },
            15 => Payload::LinkContact(Box::new(
                Contact::decode(r.bytes(MAX_CONTACT_LEN, "contact")?)
                    .map_err(|_| DecodeError::Invalid("contact"))?,
            )),
            16 => {
                let id = MessageId(r.array("message id")?);
                let sent_at = Time::from_millis(r.u64("sent at")?);
                let kind = OpKind::from_code(r.u8("op")?)?;
                let target = MessageId(r.array("op target")?);
                let remote = match r.str(MAX_REMOTE_LEN, "remote address")? {
                    "" => None,
                    remote => {
                        validate_remote(remote)?;
                        Some(remote.to_owned())
                    }
                };
                let text = r.long_str(MAX_TEXT_LEN, "text")?.to_owned();
                if !op_well_formed(MessageOp { kind, target }, &id, &text) {
                    return Err(DecodeError::Invalid("operation"));
                }
                Payload::Op {
                    id,
                    sent_at,
                    op: MessageOp { kind, target },
                    text,
                    remote,
                }
            }
            9 => Payload::FileChunk {
                id: MessageId(r.array("file id")?),
                index: r.u32("chunk index")?,
                data: r.long_bytes(CHUNK_LEN, "chunk")?.to_vec(),
            },
            10 => {
                let id = MessageId(r.array("file id")?);
                let have = r.u32("chunks held")?;
                let from = r.u32("chunk wanted")?;
                let count = r.u16("chunks wanted")?;
                if count > MAX_WINDOW {
                    return Err(DecodeError::TooLong {
                        field: "want",
                        len: usize::from(count),
                        max: usize::from(MAX_WINDOW),
                    });
                }
                Payload::FileWant {
                    id,
                    have,
                    from,
                    count,
                }
            }
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "payload",
                    kind,
                });
            }
        };
        r.finish()?;
        Ok(payload)
    }
}

/// A byte that must be 0 or 1.
fn flag(r: &mut Reader<'_>, field: &'static str) -> Result<bool, DecodeError> {
    match r.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        kind => Err(DecodeError::UnknownKind { field, kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, text: &str) -> Payload {
        op_on(kind, 2, text, None)
    }

    fn op_on(kind: OpKind, target: u8, text: &str, remote: Option<&str>) -> Payload {
        Payload::Op {
            id: MessageId([1; 16]),
            sent_at: Time::from_millis(5),
            op: MessageOp {
                kind,
                target: MessageId([target; 16]),
            },
            text: text.into(),
            remote: remote.map(Into::into),
        }
    }

    #[test]
    fn operations_round_trip_in_the_smallest_bucket() {
        for p in [
            op(OpKind::Reply, "yes"),
            op(OpKind::React, "👩🏽‍💻"),
            op(OpKind::React, ""),
            op(OpKind::Edit, "fixed"),
            op(OpKind::Delete, ""),
        ] {
            let bytes = p.encode_padded();
            assert_eq!(bytes.len(), 256, "a reaction looks like any short text");
            assert_eq!(Payload::decode_padded(&bytes).unwrap(), p);
        }
        let bridged = op_on(OpKind::Edit, 2, "x", Some("juliet@x.example"));
        assert_eq!(
            Payload::decode_padded(&bridged.encode_padded()).unwrap(),
            bridged
        );
    }

    /// A file offer's flags: only inline (1) and remote (2) are known; a
    /// remote address must be one.
    #[test]
    fn file_offers_with_unknown_flags_or_a_bad_remote_are_refused() {
        let offer = |remote: Option<&str>| Payload::File {
            id: MessageId([4; 16]),
            sent_at: Time::ZERO,
            meta: Box::new(FileMeta {
                name: "a.jpg".into(),
                mime: "image/jpeg".into(),
                size: 100_000,
                sha256: [1; 32],
            }),
            inline: None,
            remote: remote.map(Into::into),
        };
        let good = offer(Some("juliet@xmpp.example"));
        assert_eq!(Payload::decode_padded(&good.encode_padded()).unwrap(), good);
        // The flags byte follows kind, id, time and meta.
        let bare = offer(None).encode_bare();
        let at = bare.len() - 1;
        assert_eq!(bare[at], 0);
        for flags in [4u8, 8, 0x80, 0xff] {
            let mut bad = bare.clone();
            bad[at] = flags;
            assert!(Payload::decode_bare(&bad).is_err(), "flags {flags:#x}");
        }
        for remote in ["", "no-at-sign\u{0}", &"r".repeat(MAX_REMOTE_LEN + 1)] {
            let mut bad = bare.clone();
            bad[at] = 2;
            bad.extend_from_slice(&(remote.len() as u16).to_be_bytes());
            bad.extend_from_slice(remote.as_bytes());
            assert!(Payload::decode_bare(&bad).is_err(), "remote {remote:?}");
        }
    }

    #[test]
    fn malformed_operations_are_refused() {
        for bad in [
            op(OpKind::React, "not an emoji"),
            op(OpKind::React, "👍👍"),
            op(OpKind::Delete, "text riding along"),
            op(OpKind::Edit, ""),
            op(OpKind::Reply, ""),
        ] {
            assert!(
                Payload::decode_padded(&bad.encode_padded()).is_err(),
                "{bad:?}"
            );
        }
        // An operation on itself.
        let selfish = op_on(OpKind::Edit, 1, "x", None);
        assert!(Payload::decode_padded(&selfish.encode_padded()).is_err());
        // An unknown operation.
        let mut bytes = op(OpKind::Edit, "x").encode_bare();
        bytes[2 + 16 + 8] = 9;
        assert!(Payload::decode_bare(&bytes).is_err());
    }

    #[test]
    fn padding_hides_small_differences_in_length() {
        let a = Payload::Text {
            id: MessageId([1; 16]),
            sent_at: Time::ZERO,
            text: "hi".into(),
            remote: None,
        };
        let b = Payload::Text {
            id: MessageId([1; 16]),
            sent_at: Time::ZERO,
            text: "a somewhat longer message".into(),
            remote: None,
        };
        assert_eq!(a.encode_padded().len(), 256);
        assert_eq!(b.encode_padded().len(), 256);
        assert_eq!(Payload::decode_padded(&a.encode_padded()).unwrap(), a);
    }

    #[test]
    fn the_largest_text_and_receipt_fit_the_largest_bucket() {
        let text = Payload::Text {
            id: MessageId([0; 16]),
            sent_at: Time::ZERO,
            text: "x".repeat(MAX_TEXT_LEN),
            remote: Some("r".repeat(MAX_REMOTE_LEN)),
        };
        let receipt = Payload::Receipt {
            kind: ReceiptKind::Read,
            ids: vec![MessageId([7; 16]); MAX_RECEIPT_IDS],
        };
        let chunk = Payload::FileChunk {
            id: MessageId([3; 16]),
            index: u32::MAX,
            data: vec![9; CHUNK_LEN],
        };
        let offer = Payload::File {
            id: MessageId([4; 16]),
            sent_at: Time::ZERO,
            meta: Box::new(FileMeta {
                name: "n".repeat(crate::file::MAX_NAME_LEN),
                mime: "m".repeat(crate::file::MAX_MIME_LEN),
                size: MAX_INLINE as u64,
                sha256: [1; 32],
            }),
            inline: Some(vec![5; MAX_INLINE]),
            remote: Some("r".repeat(MAX_REMOTE_LEN)),
        };
        for p in [text, receipt, chunk, offer] {
            let enc = p.encode_padded();
            assert!(enc.len() <= MAX_PLAINTEXT);
            assert_eq!(Payload::decode_padded(&enc).unwrap(), p);
        }
    }

    /// The payloads between one person's devices round-trip, and their
    /// flags and bounds are checked. (The same payloads are seeds of the
    /// `payload` fuzz target: `protocol/fuzz/tests/device_seeds.rs`.)
    #[test]
    fn device_payloads_round_trip_and_bad_flags_are_refused() {
        use crate::contact::{Contact, ContactOrigin};
        use crate::identity::Identity;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let alice = Identity::generate(&mut rng);
        let phone = Identity::generate(&mut rng);
        let mut list = DeviceList::first(&alice, "laptop").unwrap();
        list.add(&alice, phone.binding().clone(), "phone", true)
            .unwrap();
        let card = ContactCard::new(
            &phone,
            "alice",
            vec![],
            Time::from_secs(1),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        let mut contact = Contact::new(card, Some("Al".into()), ContactOrigin::Invite, Time::ZERO);
        contact.verified = true;
        let all = [
            Payload::Devices(Box::new(list)),
            Payload::Copy {
                peer: alice.key(),
                id: MessageId([1; 16]),
                sent_at: Time::from_secs(9),
                incoming: true,
                history: true,
                op: None,
                text: "held for you".into(),
            },
            Payload::LinkRequest {
                secret: [7; 16],
                name: "phone".into(),
                mailbox: true,
            },
            Payload::LinkContact(Box::new(contact)),
        ];
        for p in &all {
            let enc = p.encode_padded();
            assert_eq!(Payload::decode_padded(&enc).as_ref(), Ok(p));
        }
        // A copy's flags beyond "incoming" and "history", a mailbox flag
        // that is not 0 or 1: refused.
        let copy = all[1].encode_padded();
        let flags_at = 4 + 2 + 32 + 16 + 8;
        let mut bad = copy.clone();
        bad[flags_at] = 8;
        assert!(Payload::decode_padded(&bad).is_err());
        // A copy of an operation round-trips; a malformed one is refused.
        let reaction = Payload::Copy {
            peer: alice.key(),
            id: MessageId([1; 16]),
            sent_at: Time::from_secs(9),
            incoming: false,
            history: false,
            op: Some(MessageOp {
                kind: OpKind::React,
                target: MessageId([2; 16]),
            }),
            text: "👍".into(),
        };
        let enc = reaction.encode_padded();
        assert_eq!(Payload::decode_padded(&enc).as_ref(), Ok(&reaction));
        let mut word = enc.clone();
        let at = enc.len() - enc.iter().rev().position(|b| *b != 0).unwrap() - "👍".len();
        word[at..at + 4].copy_from_slice(b"abcd");
        assert!(Payload::decode_padded(&word).is_err());
        let request = all[2].encode_padded();
        let mut bad = request.clone();
        bad[4 + 2 + 16 + 1 + 5] = 2;
        assert!(Payload::decode_padded(&bad).is_err());
        // A device list that does not decode is refused as a payload.
        let mut bad = all[0].encode_padded();
        bad[4 + 2 + 4] = 9;
        assert!(Payload::decode_padded(&bad).is_err());
    }

    #[test]
    fn nonzero_padding_is_refused() {
        let mut enc = Payload::Keepalive.encode_padded();
        *enc.last_mut().unwrap() = 1;
        assert_eq!(
            Payload::decode_padded(&enc),
            Err(DecodeError::Invalid("padding"))
        );
    }

    #[test]
    fn message_id_text_round_trips() {
        let id = MessageId([0xab; 16]);
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        assert!("zz".parse::<MessageId>().is_err());
    }
}
