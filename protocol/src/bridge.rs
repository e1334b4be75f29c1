//! What a Cairn node and a gateway tell each other about another network
//! (XMPP): who opted in, presence, chat states, and receipts from the far
//! side. Bridged *texts* are ordinary texts with a `remote` address (see
//! [`crate::payload::Payload::Text`]), so they ride the outbox and its
//! delivery receipts; these signals are best effort and are repeated by the
//! node when it matters (an opt-in is sent again on every new session).
//!
//! ```text
//! signal = kind:u8 body
//!   1 Join      alias:bytes8            (user → gateway: reach me; alias may be empty)
//!   2 Leave                             (user → gateway: no longer reachable)
//!   3 Welcome   address:bytes16         (gateway → user: your address over there)
//!   4 Presence  remote:bytes16 available:u8 status:bytes16
//!   5 ChatState remote:bytes16 state:u8 (1 active 2 composing 3 paused 4 inactive 5 gone)
//!   6 Received  remote:bytes16 count:u16 ids:[16]*count   (their client has them)
//!   7 Subscribe remote:bytes16 name:bytes8                 (user → gateway: ask for presence)
//!   8 Bounced   remote:bytes16 id:[16] reason:bytes16      (the far side refused a text)
//!   9 Refused   reason:bytes16                              (gateway → user: join refused)
//! ```

use crate::ids::MessageId;
use crate::limits::MAX_RECEIPT_IDS;
use crate::wire::{DecodeError, Reader, Writer};

/// Longest address on a bridged network (an XMPP JID is at most 3 × 1023
/// bytes; real ones are far shorter).
pub const MAX_REMOTE_LEN: usize = 1024;
/// Longest alias a user may ask a gateway for.
pub const MAX_ALIAS_LEN: usize = 64;
/// Longest status or reason text.
pub const MAX_STATUS_LEN: usize = 1024;

/// Checks an address on a bridged network: present, bounded, printable.
pub fn validate_remote(remote: &str) -> Result<(), DecodeError> {
    if remote.is_empty() || remote.len() > MAX_REMOTE_LEN {
        return Err(DecodeError::Invalid("remote address length"));
    }
    if remote.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(DecodeError::Invalid("remote address"));
    }
    Ok(())
}

/// XEP-0085's chat states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Active,
    Composing,
    Paused,
    Inactive,
    Gone,
}

impl ChatState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatState::Active => "active",
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Inactive => "inactive",
            ChatState::Gone => "gone",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "active" => ChatState::Active,
            "composing" => ChatState::Composing,
            "paused" => ChatState::Paused,
            "inactive" => ChatState::Inactive,
            "gone" => ChatState::Gone,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            ChatState::Active => 1,
            ChatState::Composing => 2,
            ChatState::Paused => 3,
            ChatState::Inactive => 4,
            ChatState::Gone => 5,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => ChatState::Active,
            2 => ChatState::Composing,
            3 => ChatState::Paused,
            4 => ChatState::Inactive,
            5 => ChatState::Gone,
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "chat state",
                    kind,
                });
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeSignal {
    Join {
        alias: String,
    },
    Leave,
    Welcome {
        address: String,
    },
    Presence {
        remote: String,
        available: bool,
        status: String,
    },
    ChatState {
        remote: String,
        state: ChatState,
    },
    Received {
        remote: String,
        ids: Vec<MessageId>,
    },
    /// The far side's client showed these (XEP-0333 `displayed`): read.
    Displayed {
        remote: String,
        ids: Vec<MessageId>,
    },
    Subscribe {
        remote: String,
        name: String,
    },
    Bounced {
        remote: String,
        id: MessageId,
        reason: String,
    },
    Refused {
        reason: String,
    },
}

impl BridgeSignal {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            BridgeSignal::Join { alias } => {
                w.u8(1).short_bytes(alias.as_bytes());
            }
            BridgeSignal::Leave => {
                w.u8(2);
            }
            BridgeSignal::Welcome { address } => {
                w.u8(3).bytes(address.as_bytes());
            }
            BridgeSignal::Presence {
                remote,
                available,
                status,
            } => {
                w.u8(4)
                    .bytes(remote.as_bytes())
                    .u8(u8::from(*available))
                    .bytes(status.as_bytes());
            }
            BridgeSignal::ChatState { remote, state } => {
                w.u8(5).bytes(remote.as_bytes()).u8(state.code());
            }
            BridgeSignal::Received { remote, ids } | BridgeSignal::Displayed { remote, ids } => {
                let tag = if matches!(self, BridgeSignal::Received { .. }) {
                    6
                } else {
                    10
                };
                w.u8(tag).bytes(remote.as_bytes()).u16(ids.len() as u16);
                for id in ids {
                    w.raw(&id.0);
                }
            }
            BridgeSignal::Subscribe { remote, name } => {
                w.u8(7)
                    .bytes(remote.as_bytes())
                    .short_bytes(name.as_bytes());
            }
            BridgeSignal::Bounced { remote, id, reason } => {
                w.u8(8)
                    .bytes(remote.as_bytes())
                    .raw(&id.0)
                    .bytes(reason.as_bytes());
            }
            BridgeSignal::Refused { reason } => {
                w.u8(9).bytes(reason.as_bytes());
            }
        }
    }

    /// An upper bound of the encoded length, for padding.
    pub fn encoded_len(&self) -> usize {
        let mut w = Writer::with_capacity(64);
        self.encode(&mut w);
        w.len()
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let remote = |r: &mut Reader<'_>| -> Result<String, DecodeError> {
            let s = r.str(MAX_REMOTE_LEN, "remote address")?;
            validate_remote(s)?;
            Ok(s.to_owned())
        };
        Ok(match r.u8("bridge signal")? {
            1 => BridgeSignal::Join {
                alias: r.short_str(MAX_ALIAS_LEN, "alias")?.to_owned(),
            },
            2 => BridgeSignal::Leave,
            3 => BridgeSignal::Welcome {
                address: remote(r)?,
            },
            4 => BridgeSignal::Presence {
                remote: remote(r)?,
                available: r.u8("available")? != 0,
                status: r.str(MAX_STATUS_LEN, "status")?.to_owned(),
            },
            5 => BridgeSignal::ChatState {
                remote: remote(r)?,
                state: ChatState::from_code(r.u8("chat state")?)?,
            },
            tag @ (6 | 10) => {
                let remote = remote(r)?;
                let count = usize::from(r.u16("receipt count")?);
                if count > MAX_RECEIPT_IDS {
                    return Err(DecodeError::TooLong {
                        field: "bridge receipt",
                        len: count,
                        max: MAX_RECEIPT_IDS,
                    });
                }
                let ids = (0..count)
                    .map(|_| r.array("message id").map(MessageId))
                    .collect::<Result<Vec<_>, _>>()?;
                if tag == 6 {
                    BridgeSignal::Received { remote, ids }
                } else {
                    BridgeSignal::Displayed { remote, ids }
                }
            }
            7 => BridgeSignal::Subscribe {
                remote: remote(r)?,
                name: r.short_str(MAX_ALIAS_LEN, "name")?.to_owned(),
            },
            8 => BridgeSignal::Bounced {
                remote: remote(r)?,
                id: MessageId(r.array("message id")?),
                reason: r.str(MAX_STATUS_LEN, "reason")?.to_owned(),
            },
            9 => BridgeSignal::Refused {
                reason: r.str(MAX_STATUS_LEN, "reason")?.to_owned(),
            },
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "bridge signal",
                    kind,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_addresses_are_checked() {
        assert!(validate_remote("juliet@example.org").is_ok());
        assert!(validate_remote("").is_err());
        assert!(validate_remote("a b@c").is_err());
        assert!(validate_remote("a\n@c").is_err());
        assert!(validate_remote(&"x".repeat(MAX_REMOTE_LEN + 1)).is_err());
    }

    #[test]
    fn every_signal_round_trips() {
        let all = [
            BridgeSignal::Join {
                alias: "alice".into(),
            },
            BridgeSignal::Leave,
            BridgeSignal::Welcome {
                address: "alice@bridge.localhost".into(),
            },
            BridgeSignal::Presence {
                remote: "j@x".into(),
                available: true,
                status: "away for lunch".into(),
            },
            BridgeSignal::ChatState {
                remote: "j@x".into(),
                state: ChatState::Composing,
            },
            BridgeSignal::Received {
                remote: "j@x".into(),
                ids: vec![MessageId([1; 16]), MessageId([2; 16])],
            },
            BridgeSignal::Displayed {
                remote: "j@x".into(),
                ids: vec![MessageId([4; 16])],
            },
            BridgeSignal::Subscribe {
                remote: "j@x".into(),
                name: "Juliet".into(),
            },
            BridgeSignal::Bounced {
                remote: "j@x".into(),
                id: MessageId([3; 16]),
                reason: "not allowed".into(),
            },
            BridgeSignal::Refused {
                reason: "closed".into(),
            },
        ];
        for s in all {
            let mut w = Writer::with_capacity(64);
            s.encode(&mut w);
            let bytes = w.into_vec();
            let mut r = Reader::new(&bytes);
            assert_eq!(BridgeSignal::decode(&mut r).unwrap(), s);
            r.finish().unwrap();
        }
    }
}
