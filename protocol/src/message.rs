//! A message in a conversation's history, as stored, and the operations
//! on one (reply, react, edit, delete) with the rules for applying them.

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
    /// This record is an operation on another message (its `text` is the
    /// reply, the emoji or the new text; empty for a deletion).
    pub op: Option<MessageOp>,
    /// What operations did to this message.
    pub changes: Changes,
}

/// What an operation does to the message it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// A message of its own that quotes the target.
    Reply,
    /// Sets the author's one reaction to the target (an empty text takes it back).
    React,
    /// The target's author replaces its text.
    Edit,
    /// The target's author erases it for everyone.
    Delete,
    /// Sets the conversation's disappearing-messages timer: `text` is the
    /// seconds, "0" for off (see [`crate::disappear`]); no target (all zeros).
    Timer,
}

impl OpKind {
    pub fn code(self) -> u8 {
        match self {
            OpKind::Reply => 1,
            OpKind::React => 2,
            OpKind::Edit => 3,
            OpKind::Delete => 4,
            OpKind::Timer => 5,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => OpKind::Reply,
            2 => OpKind::React,
            3 => OpKind::Edit,
            4 => OpKind::Delete,
            5 => OpKind::Timer,
            kind => return Err(DecodeError::UnknownKind { field: "op", kind }),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Reply => "reply",
            OpKind::React => "react",
            OpKind::Edit => "edit",
            OpKind::Delete => "delete",
            OpKind::Timer => "timer",
        }
    }

    /// Whether the operation only changes its target (and is not shown as a
    /// message of its own).
    pub fn is_change(self) -> bool {
        matches!(self, OpKind::React | OpKind::Edit | OpKind::Delete)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageOp {
    pub kind: OpKind,
    pub target: MessageId,
}

/// Most earlier versions an edited message keeps; later edits are refused.
pub const MAX_EDITS: usize = 32;
/// Longest reaction, in UTF-8 bytes (one emoji, skin tones and joiners included).
pub const MAX_REACTION_LEN: usize = 64;
/// Most operations one message may collect (applied or waiting for it):
/// what a flood of reactions or edits can cost a store.
pub const MAX_OPS_PER_MESSAGE: usize = 64;

/// What operations did to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The texts it had before, oldest first, each with when it was written.
    pub earlier: Vec<(Time, String)>,
    /// When the shown text was written by an edit (`None`: never edited).
    pub edited_at: Option<Time>,
    /// One reaction per side of the conversation, with when it was set; an
    /// empty one was taken back.
    pub reactions: Vec<(Direction, Time, String)>,
    /// Erased for everyone: no text, no earlier texts, no reactions.
    pub deleted: bool,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self == &Changes::default()
    }

    /// The reactions shown: who reacted with what.
    pub fn shown_reactions(&self) -> impl Iterator<Item = (Direction, &str)> {
        self.reactions
            .iter()
            .filter(|(_, _, r)| !r.is_empty())
            .map(|(d, _, r)| (*d, r.as_str()))
    }
}

/// Why an operation was not applied to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpRefused {
    #[error("only its author may edit or delete a message")]
    NotAuthor,
    #[error("the message was deleted")]
    Deleted,
    #[error("an operation cannot target another operation")]
    TargetIsOp,
    #[error("a file message's name cannot be edited")]
    FileEdit,
    #[error("the message belongs to another conversation")]
    OtherConversation,
    #[error("edited {MAX_EDITS} times already")]
    TooManyEdits,
    #[error("not a reaction (one emoji of at most {MAX_REACTION_LEN} bytes)")]
    BadReaction,
    #[error("an edit cannot be empty")]
    EmptyEdit,
}

/// Whether `text` is a reaction: empty (taking one back) or a single
/// grapheme, no longer than [`MAX_REACTION_LEN`], that is not a letter,
/// digit, space or control character.
pub fn is_reaction(text: &str) -> bool {
    use unicode_segmentation::UnicodeSegmentation;
    if text.is_empty() {
        return true;
    }
    text.len() <= MAX_REACTION_LEN
        && text.graphemes(true).count() == 1
        && !text
            .chars()
            .any(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control())
}

/// The seconds a timer record sets (`None`: not a well-formed timer).
pub fn timer_secs(text: &str) -> Option<u64> {
    let secs: u64 = text.parse().ok()?;
    (crate::disappear::valid(secs) && secs.to_string() == text).then_some(secs)
}

impl MessageRecord {
    /// A message we write now: queued, not yet changed by anything.
    pub fn outgoing(
        peer: IdentityKey,
        id: MessageId,
        now: Time,
        text: String,
        remote: Option<String>,
        op: Option<MessageOp>,
    ) -> Self {
        Self {
            peer,
            id,
            direction: Direction::Outgoing,
            text,
            sent_at: now,
            local_at: now,
            state: DeliveryState::Queued,
            remote,
            file: None,
            op,
            changes: Changes::default(),
        }
    }

    /// Applies the operation `op` (a record whose `op` is set) to this
    /// message, its target. Replies change nothing. An operation is applied
    /// at most once (the store keeps each by id); edits and reactions that
    /// arrive out of order still end with the latest one shown.
    pub fn apply(&mut self, op: &MessageRecord) -> Result<(), OpRefused> {
        let Some(MessageOp { kind, target }) = op.op else {
            return Ok(());
        };
        debug_assert_eq!(target, self.id);
        if op.peer != self.peer || op.remote != self.remote {
            return Err(OpRefused::OtherConversation);
        }
        if self.op.is_some_and(|o| o.kind.is_change()) {
            return Err(OpRefused::TargetIsOp);
        }
        if self.changes.deleted {
            // Deleting twice (a backup restored over itself) changes nothing.
            if kind == OpKind::Delete && op.direction == self.direction {
                return Ok(());
            }
            return Err(OpRefused::Deleted);
        }
        match kind {
            OpKind::Reply | OpKind::Timer => Ok(()),
            OpKind::React => {
                if !is_reaction(&op.text) {
                    return Err(OpRefused::BadReaction);
                }
                let reactions = &mut self.changes.reactions;
                // The later one wins; at the same millisecond, the greater
                // text (so both ends agree whatever the order of arrival).
                let newer = |r: &(Direction, Time, String)| (op.sent_at, &op.text) > (r.1, &r.2);
                match reactions.iter_mut().find(|(d, _, _)| *d == op.direction) {
                    Some(r) if !newer(r) => {}
                    Some(r) => *r = (op.direction, op.sent_at, op.text.clone()),
                    None => reactions.push((op.direction, op.sent_at, op.text.clone())),
                }
                Ok(())
            }
            OpKind::Edit => {
                if op.direction != self.direction {
                    return Err(OpRefused::NotAuthor);
                }
                if self.file.is_some() {
                    return Err(OpRefused::FileEdit);
                }
                if op.text.is_empty() {
                    return Err(OpRefused::EmptyEdit);
                }
                let version = (op.sent_at, op.text.clone());
                if self.changes.edited_at == Some(op.sent_at) && self.text == op.text
                    || self.changes.earlier.contains(&version)
                {
                    // Already applied (a backup restored over itself).
                    return Ok(());
                }
                if self.changes.earlier.len() >= MAX_EDITS {
                    return Err(OpRefused::TooManyEdits);
                }
                // The later text is shown; an edit made in the same
                // millisecond as the original replaces it, and of two edits
                // in the same millisecond the greater text wins (so both
                // ends agree whatever the order of arrival).
                let newer = match self.changes.edited_at {
                    None => op.sent_at >= self.sent_at,
                    Some(at) => (op.sent_at, &op.text) > (at, &self.text),
                };
                let shown_at = self.changes.edited_at.unwrap_or(self.sent_at);
                let (at, text) = if newer {
                    self.changes.edited_at = Some(op.sent_at);
                    (shown_at, std::mem::replace(&mut self.text, op.text.clone()))
                } else {
                    (op.sent_at, op.text.clone())
                };
                let earlier = &mut self.changes.earlier;
                let at_index = earlier.partition_point(|(t, _)| *t <= at);
                earlier.insert(at_index, (at, text));
                Ok(())
            }
            OpKind::Delete => {
                if op.direction != self.direction {
                    return Err(OpRefused::NotAuthor);
                }
                self.text.clear();
                self.changes = Changes {
                    deleted: true,
                    ..Changes::default()
                };
                Ok(())
            }
        }
    }
}

impl MessageRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.text.len());
        let extended = self.op.is_some() || !self.changes.is_empty();
        let version = match (&self.remote, &self.file) {
            _ if extended => 4,
            (_, Some(_)) => 3,
            (Some(_), None) => 2,
            (None, None) => VERSION,
        };
        w.u8(version)
            .raw(self.peer.as_bytes())
            .raw(&self.id.0)
            .u8(direction_code(self.direction))
            .u8(self.state.code())
            .u64(self.sent_at.as_millis())
            .u64(self.local_at.as_millis())
            .long_bytes(self.text.as_bytes());
        if extended {
            self.encode_extended(&mut w);
            return w.into_vec();
        }
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

    /// Version 4: every optional part behind a flag, then the operation and
    /// the changes.
    fn encode_extended(&self, w: &mut Writer) {
        match &self.remote {
            Some(r) => w.u8(1).bytes(r.as_bytes()),
            None => w.u8(0),
        };
        match &self.file {
            Some(f) => {
                w.u8(1);
                f.encode(w);
            }
            None => {
                w.u8(0);
            }
        }
        match &self.op {
            Some(op) => w.u8(op.kind.code()).raw(&op.target.0),
            None => w.u8(0),
        };
        let c = &self.changes;
        w.u8(u8::from(c.deleted));
        match c.edited_at {
            Some(t) => w.u8(1).u64(t.as_millis()),
            None => w.u8(0),
        };
        w.u8(c.earlier.len() as u8);
        for (at, text) in &c.earlier {
            w.u64(at.as_millis()).long_bytes(text.as_bytes());
        }
        w.u8(c.reactions.len() as u8);
        for (by, at, emoji) in &c.reactions {
            w.u8(direction_code(*by))
                .u64(at.as_millis())
                .short_bytes(emoji.as_bytes());
        }
    }

    fn decode_extended(r: &mut Reader<'_>) -> Result<ExtendedParts, DecodeError> {
        let remote = match r.u8("remote flag")? {
            0 => None,
            _ => {
                let remote = r.str(MAX_REMOTE_LEN, "remote address")?;
                validate_remote(remote)?;
                Some(remote.to_owned())
            }
        };
        let file = match r.u8("file flag")? {
            0 => None,
            _ => Some(FileMeta::decode(r)?),
        };
        let op = match r.u8("op")? {
            0 => None,
            code => Some(MessageOp {
                kind: OpKind::from_code(code)?,
                target: MessageId(r.array("op target")?),
            }),
        };
        let deleted = r.u8("deleted flag")? != 0;
        let edited_at = match r.u8("edited flag")? {
            0 => None,
            _ => Some(Time::from_millis(r.u64("edited at")?)),
        };
        let edits = usize::from(r.u8("earlier count")?);
        if edits > MAX_EDITS {
            return Err(DecodeError::TooLong {
                field: "earlier texts",
                len: edits,
                max: MAX_EDITS,
            });
        }
        let mut earlier = Vec::with_capacity(edits);
        for _ in 0..edits {
            let at = Time::from_millis(r.u64("earlier at")?);
            earlier.push((at, r.long_str(MAX_TEXT_LEN, "earlier text")?.to_owned()));
        }
        let count = usize::from(r.u8("reaction count")?);
        if count > 2 {
            return Err(DecodeError::TooLong {
                field: "reactions",
                len: count,
                max: 2,
            });
        }
        let mut reactions = Vec::with_capacity(count);
        for _ in 0..count {
            let by = direction_from_code(r.u8("reaction by")?)?;
            let at = Time::from_millis(r.u64("reaction at")?);
            let emoji = r.short_str(MAX_REACTION_LEN, "reaction")?;
            if !is_reaction(emoji) {
                return Err(DecodeError::Invalid("reaction"));
            }
            reactions.push((by, at, emoji.to_owned()));
        }
        Ok(ExtendedParts {
            remote,
            file,
            op,
            changes: Changes {
                earlier,
                edited_at,
                reactions,
                deleted,
            },
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("message version")?;
        if !(VERSION..=4).contains(&version) {
            return Err(DecodeError::Version {
                field: "message",
                version,
            });
        }
        let peer = IdentityKey::decode(&mut r)?;
        let id = MessageId(r.array("message id")?);
        let direction = direction_from_code(r.u8("direction")?)?;
        let state = DeliveryState::from_code(r.u8("state")?)?;
        let sent_at = Time::from_millis(r.u64("sent at")?);
        let local_at = Time::from_millis(r.u64("local at")?);
        let text = r.long_str(MAX_TEXT_LEN, "text")?.to_owned();
        if version == 4 {
            let parts = Self::decode_extended(&mut r)?;
            r.finish()?;
            return Ok(Self {
                peer,
                id,
                direction,
                text,
                sent_at,
                local_at,
                state,
                remote: parts.remote,
                file: parts.file,
                op: parts.op,
                changes: parts.changes,
            });
        }
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
            op: None,
            changes: Changes::default(),
        })
    }
}

struct ExtendedParts {
    remote: Option<String>,
    file: Option<FileMeta>,
    op: Option<MessageOp>,
    changes: Changes,
}

fn direction_code(d: Direction) -> u8 {
    match d {
        Direction::Incoming => 1,
        Direction::Outgoing => 2,
    }
}

fn direction_from_code(code: u8) -> Result<Direction, DecodeError> {
    match code {
        1 => Ok(Direction::Incoming),
        2 => Ok(Direction::Outgoing),
        kind => Err(DecodeError::UnknownKind {
            field: "direction",
            kind,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn peer() -> IdentityKey {
        Identity::generate(&mut ChaCha20Rng::seed_from_u64(7)).key()
    }

    pub(crate) fn text(direction: Direction, id: u8, at: u64, text: &str) -> MessageRecord {
        MessageRecord {
            peer: peer(),
            id: MessageId([id; 16]),
            direction,
            text: text.into(),
            sent_at: Time::from_millis(at),
            local_at: Time::from_millis(at),
            state: DeliveryState::Received,
            remote: None,
            file: None,
            op: None,
            changes: Changes::default(),
        }
    }

    pub(crate) fn op(
        direction: Direction,
        id: u8,
        at: u64,
        kind: OpKind,
        target: u8,
        body: &str,
    ) -> MessageRecord {
        MessageRecord {
            op: Some(MessageOp {
                kind,
                target: MessageId([target; 16]),
            }),
            ..text(direction, id, at, body)
        }
    }

    use Direction::{Incoming, Outgoing};

    #[test]
    fn one_reaction_per_side_and_the_latest_wins_whatever_the_order() {
        let mut m = text(Outgoing, 1, 10, "hello");
        m.apply(&op(Incoming, 2, 30, OpKind::React, 1, "👍"))
            .unwrap();
        // An older change arriving late does not replace it.
        m.apply(&op(Incoming, 3, 20, OpKind::React, 1, "😮"))
            .unwrap();
        m.apply(&op(Outgoing, 4, 25, OpKind::React, 1, "❤️"))
            .unwrap();
        let shown: Vec<_> = m.changes.shown_reactions().collect();
        assert_eq!(shown, vec![(Incoming, "👍"), (Outgoing, "❤️")]);
        // Taking one back.
        m.apply(&op(Outgoing, 5, 40, OpKind::React, 1, "")).unwrap();
        let shown: Vec<_> = m.changes.shown_reactions().collect();
        assert_eq!(shown, vec![(Incoming, "👍")]);
    }

    #[test]
    fn edits_keep_the_earlier_texts_and_show_the_latest_whatever_the_order() {
        let mut m = text(Outgoing, 1, 10, "v1");
        m.apply(&op(Outgoing, 3, 30, OpKind::Edit, 1, "v3"))
            .unwrap();
        m.apply(&op(Outgoing, 2, 20, OpKind::Edit, 1, "v2"))
            .unwrap();
        assert_eq!(m.text, "v3");
        assert_eq!(m.changes.edited_at, Some(Time::from_millis(30)));
        let earlier: Vec<_> = m.changes.earlier.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(earlier, vec!["v1", "v2"]);
        // The same edit again (a restore) changes nothing.
        let before = m.clone();
        m.apply(&op(Outgoing, 2, 20, OpKind::Edit, 1, "v2"))
            .unwrap();
        m.apply(&op(Outgoing, 3, 30, OpKind::Edit, 1, "v3"))
            .unwrap();
        assert_eq!(m, before);
    }

    #[test]
    fn only_the_author_edits_or_deletes() {
        let mut m = text(Outgoing, 1, 10, "mine");
        let before = m.clone();
        assert_eq!(
            m.apply(&op(Incoming, 2, 20, OpKind::Edit, 1, "theirs")),
            Err(OpRefused::NotAuthor)
        );
        assert_eq!(
            m.apply(&op(Incoming, 3, 20, OpKind::Delete, 1, "")),
            Err(OpRefused::NotAuthor)
        );
        assert_eq!(m, before);
    }

    #[test]
    fn deleting_erases_text_history_and_reactions_and_nothing_applies_after() {
        let mut m = text(Incoming, 1, 10, "secret plan");
        m.apply(&op(Incoming, 2, 20, OpKind::Edit, 1, "secret plan v2"))
            .unwrap();
        m.apply(&op(Outgoing, 3, 21, OpKind::React, 1, "👍"))
            .unwrap();
        m.apply(&op(Incoming, 4, 30, OpKind::Delete, 1, ""))
            .unwrap();
        assert!(m.changes.deleted);
        assert!(m.text.is_empty() && m.changes.earlier.is_empty());
        assert!(m.changes.reactions.is_empty());
        assert!(!String::from_utf8_lossy(&m.encode()).contains("secret"));
        for late in [
            op(Incoming, 5, 40, OpKind::Edit, 1, "back again"),
            op(Outgoing, 6, 40, OpKind::React, 1, "😂"),
        ] {
            assert_eq!(m.apply(&late), Err(OpRefused::Deleted));
        }
        // Deleting again (a restore) is no change.
        assert_eq!(m.apply(&op(Incoming, 4, 30, OpKind::Delete, 1, "")), Ok(()));
    }

    #[test]
    fn hostile_targets_are_refused() {
        // An operation cannot target another operation.
        let mut reaction = op(Incoming, 1, 10, OpKind::React, 9, "👍");
        assert_eq!(
            reaction.apply(&op(Incoming, 2, 20, OpKind::Edit, 1, "x")),
            Err(OpRefused::TargetIsOp)
        );
        // Nor reach into another conversation (a gateway's other address).
        let mut m = text(Incoming, 1, 10, "hi");
        m.remote = Some("juliet@x.example".into());
        let mut edit = op(Incoming, 2, 20, OpKind::Edit, 1, "x");
        edit.remote = Some("romeo@x.example".into());
        assert_eq!(m.apply(&edit), Err(OpRefused::OtherConversation));
        // A file's name is not edited.
        let mut f = text(Incoming, 1, 10, "photo.jpg");
        f.file = Some(crate::file::FileMeta::of("photo.jpg", "image/jpeg", b"x").unwrap());
        assert_eq!(
            f.apply(&op(Incoming, 2, 20, OpKind::Edit, 1, "other.jpg")),
            Err(OpRefused::FileEdit)
        );
        // Not a reaction.
        let mut m = text(Incoming, 1, 10, "hi");
        for bad in ["ok", "👍👍", " ", "\u{7}", &"😀".repeat(20)] {
            assert_eq!(
                m.apply(&op(Outgoing, 2, 20, OpKind::React, 1, bad)),
                Err(OpRefused::BadReaction),
                "{bad:?}"
            );
        }
        // Edits are bounded.
        let mut m = text(Outgoing, 1, 10, "v0");
        for i in 0..MAX_EDITS {
            m.apply(&op(
                Outgoing,
                2,
                20 + i as u64,
                OpKind::Edit,
                1,
                &format!("v{i}"),
            ))
            .unwrap();
        }
        assert_eq!(
            m.apply(&op(Outgoing, 3, 999, OpKind::Edit, 1, "one more")),
            Err(OpRefused::TooManyEdits)
        );
    }

    #[test]
    fn reactions_are_single_emoji() {
        for good in ["👍", "❤️", "👩🏽‍💻", "🇮🇷", "👨‍👩‍👧‍👦", "✅", ""]
        {
            assert!(is_reaction(good), "{good:?}");
        }
        for bad in ["a", "1", "👍 ", "👍👎", "\n", "ok"] {
            assert!(!is_reaction(bad), "{bad:?}");
        }
    }

    #[test]
    fn records_with_operations_and_changes_round_trip() {
        let mut m = text(Outgoing, 1, 10, "v1");
        m.apply(&op(Outgoing, 2, 20, OpKind::Edit, 1, "v2"))
            .unwrap();
        m.apply(&op(Incoming, 3, 21, OpKind::React, 1, "👍"))
            .unwrap();
        m.remote = Some("juliet@x.example".into());
        assert_eq!(MessageRecord::decode(&m.encode()).unwrap(), m);
        let r = op(Incoming, 4, 30, OpKind::Reply, 1, "yes");
        assert_eq!(MessageRecord::decode(&r.encode()).unwrap(), r);
        // A plain record keeps its old, shorter form.
        let plain = text(Incoming, 5, 1, "x");
        assert_eq!(plain.encode()[0], VERSION);
        // A stored record claiming more reactions or edits than can exist is refused.
        let mut bytes = m.encode();
        let reactions_at = bytes.len() - (1 + 8 + 1 + "👍".len()) - 1;
        bytes[reactions_at] = 3;
        assert!(MessageRecord::decode(&bytes).is_err());
    }
}
