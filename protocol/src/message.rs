//! A message in a conversation's history, as stored.

use crate::bridge::{MAX_REMOTE_LEN, validate_remote};
use crate::file::FileMeta;
use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::limits::MAX_TEXT_LEN;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Where a message stands. Outgoing messages move forward through
/// `Queued → Sent → Delivered → Read`; incoming ones are `Received` (then `Read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryState {
    /// Durably in the outbox, not yet handed to any link.
    Queued,
    /// Handed to a link at least once; no receipt yet.
    Sent,
    /// A bridged message (to an XMPP address) that the gateway stored; its
    /// recipient's client has not confirmed it yet.
    Relayed,
    /// The recipient's mailbox (an always-on device of theirs) holds it;
    /// none of the devices they use has it yet. Still resent to those
    /// until one says delivered.
    Held,
    /// The recipient stored it and said so.
    Delivered,
    /// An incoming message, stored, not yet read. (It sorts before `Read`:
    /// states only move forward, and an incoming message moves on to `Read`.)
    Received,
    /// Outgoing: the recipient opened it. Incoming: we did.
    Read,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Relayed => "relayed",
            DeliveryState::Held => "held",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Received => "received",
        }
    }

    fn code(self) -> u8 {
        match self {
            DeliveryState::Queued => 1,
            DeliveryState::Sent => 2,
            DeliveryState::Delivered => 3,
            DeliveryState::Read => 4,
            DeliveryState::Received => 5,
            DeliveryState::Relayed => 6,
            DeliveryState::Held => 7,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => DeliveryState::Queued,
            2 => DeliveryState::Sent,
            3 => DeliveryState::Delivered,
            4 => DeliveryState::Read,
            5 => DeliveryState::Received,
            6 => DeliveryState::Relayed,
            7 => DeliveryState::Held,
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "state",
                    kind,
                });
            }
        })
    }

    /// Whether an outgoing message in this state still needs sending.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            DeliveryState::Queued | DeliveryState::Sent | DeliveryState::Held
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The other side of the conversation.
    pub peer: IdentityKey,
    pub id: MessageId,
    pub direction: Direction,
    pub text: String,
    /// When the author wrote it, by the author's clock.
    pub sent_at: Time,
    /// When this node queued or received it, by this node's clock.
    pub local_at: Time,
    pub state: DeliveryState,
    /// The address on a bridged network (an XMPP JID) this conversation is
    /// with; `peer` is then the gateway.
    pub remote: Option<String>,
    /// A file message: what it offers (the text is then its name).
    pub file: Option<FileMeta>,
}

impl MessageRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.text.len());
        let version = match (&self.remote, &self.file) {
            (_, Some(_)) => 3,
            (Some(_), None) => 2,
            (None, None) => VERSION,
        };
        w.u8(version)
            .raw(self.peer.as_bytes())
            .raw(&self.id.0)
            .u8(match self.direction {
                Direction::Incoming => 1,
                Direction::Outgoing => 2,
            })
            .u8(self.state.code())
            .u64(self.sent_at.as_millis())
            .u64(self.local_at.as_millis())
            .long_bytes(self.text.as_bytes());
        match (&self.remote, &self.file) {
            (remote, Some(file)) => {
                match remote {
                    Some(r) => w.u8(1).bytes(r.as_bytes()),
                    None => w.u8(0),
                };
                file.encode(&mut w);
            }
            (Some(remote), None) => {
                w.bytes(remote.as_bytes());
            }
            (None, None) => {}
        }
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("message version")?;
        if !(VERSION..=3).contains(&version) {
            return Err(DecodeError::Version {
                field: "message",
                version,
            });
        }
        let peer = IdentityKey::decode(&mut r)?;
        let id = MessageId(r.array("message id")?);
        let direction = match r.u8("direction")? {
            1 => Direction::Incoming,
            2 => Direction::Outgoing,
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "direction",
                    kind,
                });
            }
        };
        let state = DeliveryState::from_code(r.u8("state")?)?;
        let sent_at = Time::from_millis(r.u64("sent at")?);
        let local_at = Time::from_millis(r.u64("local at")?);
        let text = r.long_str(MAX_TEXT_LEN, "text")?.to_owned();
        let has_remote = match version {
            2 => true,
            3 => r.u8("remote flag")? != 0,
            _ => false,
        };
        let remote = if has_remote {
            let remote = r.str(MAX_REMOTE_LEN, "remote address")?;
            validate_remote(remote)?;
            Some(remote.to_owned())
        } else {
            None
        };
        let file = if version == 3 {
            Some(FileMeta::decode(&mut r)?)
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            peer,
            id,
            direction,
            text,
            sent_at,
            local_at,
            state,
            remote,
            file,
        })
    }
}
