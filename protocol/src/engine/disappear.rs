//! Disappearing messages: setting a conversation's timer (a message of its
//! own, so both ends agree), taking the other side's, and erasing what
//! falls due.

use tracing::debug;

use crate::disappear::{Disappearing, Timer, valid};
use crate::identity::IdentityKey;
use crate::message::{MessageOp, MessageRecord, OpKind};
use crate::payload::MessageId;
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, EngineError, Event};

impl<S: Store> Engine<S> {
    /// Sets the timer of the conversation with `peer`: its messages are
    /// erased `secs` after each was stored, at both ends (0 turns it off).
    /// The setting is a message of its own, shown in the conversation and
    /// delivered like a text; the later setting wins at both ends.
    pub fn set_disappearing(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        secs: u64,
    ) -> Result<MessageId, EngineError> {
        if !valid(secs) {
            return Err(EngineError::BadTimer(secs));
        }
        let peer = self.conversation_of(peer);
        let id = self.new_outgoing(&peer)?;
        self.take_timer(now, peer, Timer { secs, set_at: now });
        let result = self.enqueue(MessageRecord::outgoing(
            peer,
            id,
            now,
            secs.to_string(),
            None,
            Some(MessageOp {
                kind: OpKind::Timer,
                target: MessageId([0; 16]),
            }),
        ));
        self.pump(now);
        result
    }

    /// The timer of the conversation with `peer`, in seconds, if one is on.
    pub fn disappearing(&self, peer: &IdentityKey) -> Option<u64> {
        self.disappearing.timer(&self.conversation_of(peer))
    }

    /// Takes a timer (ours, or theirs as it arrives) if it is the later one,
    /// and keeps it with the next commit.
    pub(super) fn take_timer(&mut self, now: Time, peer: IdentityKey, timer: Timer) {
        if self.disappearing.set(peer, timer, now) {
            self.put_setting(&Disappearing::setting_key(&peer), timer.encode());
        } else {
            debug!("an older disappearing-messages setting was ignored");
        }
    }

    /// Erases what fell due by `now` with the next commit.
    pub(super) fn expire_due(&mut self, now: Time) {
        for (peer, before) in self.disappearing.take_due(now) {
            self.batch.push(StoreOp::Expire { peer, before });
            self.after_commit
                .push(AfterCommit::Event(Event::MessagesExpired { peer }));
        }
    }
}
