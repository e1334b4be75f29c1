//! Messages: queueing texts, the outbox sent over a session, receipts, texts that arrive.

use tracing::{debug, warn};

use crate::bridge::{BridgeSignal, validate_remote};
use crate::contact::Contact;
use crate::disappear::Timer;
use crate::file::{FileMeta, MAX_INLINE};
use crate::identity::IdentityKey;
use crate::link::Medium;
use crate::message::{
    Changes, DeliveryState, Direction, MessageOp, MessageRecord, OpKind, is_reaction, timer_secs,
};
use crate::payload::{MAX_RECEIPT_IDS, MessageId, Payload, ReceiptKind};
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, BLE_WINDOW_BYTES, EngineError, Event, Output, check_text};

impl<S: Store> Engine<S> {
    /// Queues a text for `peer`. It becomes durable at the next [`flush`]; only
    /// then is it sent.
    ///
    /// [`flush`]: Engine::flush
    pub fn send_text(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        let conversation = self.conversation_of(peer);
        let result = self.queue_text(now, &conversation, None, text);
        self.pump(now);
        result
    }

    /// Queues an operation on the message `target` of the conversation with
    /// `peer` (or with `remote` through the gateway `peer`): a reply (`text`
    /// is the reply), a reaction (`text` is one emoji, or empty to take it
    /// back), an edit (the new text) or a deletion (`text` ignored). It is
    /// applied to the stored target when it commits, here and, when it
    /// arrives, at the other end; the caller checks that the target exists
    /// and, for edits and deletions, that this side wrote it.
    pub fn send_op(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        remote: Option<&str>,
        kind: OpKind,
        target: MessageId,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        let text = match kind {
            OpKind::Reply | OpKind::Edit => {
                check_text(text)?;
                text
            }
            OpKind::React if is_reaction(text) => text,
            OpKind::React => return Err(EngineError::BadReaction),
            OpKind::Delete => "",
            OpKind::Timer => {
                let secs = timer_secs(text).ok_or(EngineError::BadTimer(0))?;
                return self.set_disappearing(now, peer, secs);
            }
        };
        if let Some(remote) = remote {
            validate_remote(remote)
                .map_err(|_| EngineError::BadRemote(remote.chars().take(80).collect()))?;
        }
        let peer = match remote {
            Some(_) => *peer,
            None => self.conversation_of(peer),
        };
        if kind == OpKind::Delete && self.files.get(&peer, &target).is_some_and(|f| f.outgoing) {
            // Our file: no more of it is served.
            self.files.forget(&peer, &target);
        }
        let result = self.new_outgoing(&peer).and_then(|id| {
            self.enqueue(MessageRecord::outgoing(
                peer,
                id,
                now,
                text.to_owned(),
                remote.map(str::to_owned),
                Some(MessageOp { kind, target }),
            ))
        });
        self.pump(now);
        result
    }

    /// Queues a text for `remote`, an address on another network, through
    /// `gateway` (a contact). Delivered means the gateway has it.
    pub fn send_remote_text(
        &mut self,
        now: Time,
        gateway: &IdentityKey,
        remote: &str,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        validate_remote(remote)
            .map_err(|_| EngineError::BadRemote(remote.chars().take(80).collect()))?;
        let result = self.queue_text(now, gateway, Some(remote.to_owned()), text);
        self.pump(now);
        result
    }

    /// Queues, for `user`, what `remote` wrote on a bridged network (a text,
    /// or an operation on a message of that conversation) under the id the
    /// gateway derived from the other network's own (so the same message
    /// passed on twice is stored once: [`EngineError::Duplicate`]).
    pub fn send_bridged(
        &mut self,
        now: Time,
        user: &IdentityKey,
        remote: &str,
        id: MessageId,
        op: Option<MessageOp>,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        validate_remote(remote)
            .map_err(|_| EngineError::BadRemote(remote.chars().take(80).collect()))?;
        match op.map(|o| o.kind) {
            None | Some(OpKind::Reply | OpKind::Edit) => check_text(text)?,
            Some(OpKind::React) if is_reaction(text) => {}
            Some(OpKind::React) => return Err(EngineError::BadReaction),
            Some(OpKind::Delete) => {}
            Some(OpKind::Timer) => return Err(EngineError::BadTimer(0)),
        }
        self.check_bridged(user, &id)?;
        let text = if op.is_some_and(|o| o.kind == OpKind::Delete) {
            ""
        } else {
            text
        };
        let result = self.enqueue(MessageRecord::outgoing(
            *user,
            id,
            now,
            text.to_owned(),
            Some(remote.to_owned()),
            op,
        ));
        self.pump(now);
        result
    }

    /// Whether a message passed on from a bridged network can be queued
    /// for `user` under `id` (a contact, room in the outbox, an id not
    /// taken: [`EngineError::Duplicate`] when it came before).
    pub(super) fn check_bridged(
        &self,
        user: &IdentityKey,
        id: &MessageId,
    ) -> Result<(), EngineError> {
        if !self.contacts.contains_key(user) {
            return Err(EngineError::UnknownContact(user.short()));
        }
        if !self.outbox.has_room() {
            return Err(EngineError::OutboxFull(self.outbox.len()));
        }
        if self.outbox.contains(user, id) || self.store.has_message(user, id)? {
            return Err(EngineError::Duplicate);
        }
        Ok(())
    }

    pub(super) fn queue_text(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        remote: Option<String>,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        check_text(text)?;
        let id = self.new_outgoing(peer)?;
        self.enqueue(MessageRecord::outgoing(
            *peer,
            id,
            now,
            text.to_owned(),
            remote,
            None,
        ))
    }

    /// The payload that carries an outbox entry to the device `to`: the
    /// message itself, or a copy when `to` is another device of ours.
    pub(super) fn payload_of(&self, to: &IdentityKey, record: MessageRecord) -> Payload {
        if self.conversation_of(to) != record.peer {
            return Payload::Copy {
                peer: record.peer,
                id: record.id,
                sent_at: record.sent_at,
                incoming: record.direction == Direction::Incoming,
                history: self.outbox.is_history(to, &record.id),
                op: record.op,
                text: record.text,
            };
        }
        if let Some(op) = record.op {
            return Payload::Op {
                id: record.id,
                sent_at: record.sent_at,
                op,
                text: record.text,
                remote: record.remote,
            };
        }
        match record.file {
            Some(meta) => {
                let inline = (meta.size as usize <= MAX_INLINE)
                    .then(|| {
                        if meta.size == 0 {
                            return Some(Vec::new());
                        }
                        self.store
                            .file_chunk(&record.peer, &record.id, 0)
                            .ok()
                            .flatten()
                    })
                    .flatten();
                Payload::File {
                    id: record.id,
                    sent_at: record.sent_at,
                    meta: Box::new(meta),
                    inline,
                    remote: record.remote,
                }
            }
            None => Payload::Text {
                id: record.id,
                sent_at: record.sent_at,
                text: record.text,
                remote: record.remote,
            },
        }
    }

    /// Sends what is due to `peer`, starting a handshake if that is needed.
    /// Returns how many messages went out.
    pub(super) fn service_peer(&mut self, now: Time, peer: &IdentityKey) -> usize {
        if !self.outbox.has_pending(peer)
            && !self.groups.wants_session(peer)
            && !self.files.wants_session(peer)
            && !self.joining_holder(peer)
            && !self.to_announce(peer)
        {
            return 0;
        }
        let Some(link) = self.best_link(peer) else {
            self.mesh_pending(now, peer);
            return 0;
        };
        if self.sessions.needs_handshake(peer, now) {
            let peer_static = self.contacts.get(peer).map(Contact::static_key);
            match self.sessions.initiate(
                &self.identity,
                &self.card,
                *peer,
                peer_static,
                &mut self.rng,
                now,
            ) {
                Ok(init) => self.transmit(link, init),
                Err(e) => warn!(error = %e, "could not start a handshake"),
            }
        }
        let Some(index) = self.sessions.current_index(peer) else {
            return 0;
        };
        let window_bytes = match self.links.get(&link).map(|l| l.info.medium) {
            Some(Medium::Ble) => self.config.window_bytes.min(BLE_WINDOW_BYTES),
            _ => self.config.window_bytes,
        };
        let due = self
            .outbox
            .take_due(peer, index, now, self.config.window, window_bytes);
        let mut sent = 0;
        let conversation = self.conversation_of(peer);
        for (record, first) in due {
            let (id, of) = (record.id, record.peer);
            let payload = self.payload_of(peer, record);
            if !self.send_payload(peer, &payload) {
                break;
            }
            sent += 1;
            // A copy to another device of ours says nothing of delivery.
            if first && of == conversation {
                self.staged_sent.insert((of, id), self.batch.len());
                self.batch.push(StoreOp::SetState {
                    peer: of,
                    id,
                    state: DeliveryState::Sent,
                });
                self.outputs.push_back(Output::Event(Event::MessageState {
                    peer: of,
                    id,
                    state: DeliveryState::Sent,
                }));
            }
        }
        sent
    }

    /// Tells `peer` something about a bridged network, best effort: through
    /// the session, else the mesh. Returns false when neither took it.
    pub fn send_bridge(&mut self, now: Time, peer: &IdentityKey, signal: BridgeSignal) -> bool {
        if !self.contacts.contains_key(peer) {
            return false;
        }
        let payload = Payload::Bridge(Box::new(signal));
        if self.send_payload(peer, &payload) {
            return true;
        }
        self.mesh_send(now, peer, &payload, None);
        self.pump(now);
        false
    }

    /// Marks incoming messages from `peer` read: stored as read, and the
    /// sender told with a read receipt (best effort: one that finds neither
    /// a session nor a mesh path is not retried; read receipts are a
    /// courtesy, delivery receipts are what the outbox relies on).
    pub fn mark_read(&mut self, now: Time, peer: &IdentityKey, ids: &[MessageId]) {
        for id in ids {
            self.batch.push(StoreOp::SetState {
                peer: *peer,
                id: *id,
                state: DeliveryState::Read,
            });
        }
        // Every device of theirs learns it was read (the one that sent it
        // and the ones holding a copy).
        for device in self.destinations(peer) {
            for chunk in ids.chunks(MAX_RECEIPT_IDS) {
                let receipt = Payload::Receipt {
                    kind: ReceiptKind::Read,
                    ids: chunk.to_vec(),
                };
                if !self.send_payload(&device, &receipt) {
                    self.mesh_send(now, &device, &receipt, None);
                }
            }
        }

        self.pump(now);
    }

    pub(super) fn send_receipts(&mut self, now: Time) {
        // A mailbox holds; only the devices people use deliver.
        let kind = if self.is_mailbox() {
            ReceiptKind::Held
        } else {
            ReceiptKind::Delivered
        };
        for (peer, ids) in std::mem::take(&mut self.receipts) {
            for chunk in ids.chunks(MAX_RECEIPT_IDS) {
                let receipt = Payload::Receipt {
                    kind,
                    ids: chunk.to_vec(),
                };
                // Without a session, the receipt goes through the mesh; without
                // either it is dropped, the sender resends, and the duplicate is
                // acknowledged then.
                if !self.send_payload(&peer, &receipt) {
                    self.mesh_send(now, &peer, &receipt, None);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_text(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        sent_at: Time,
        text: String,
        remote: Option<String>,
        file: Option<(FileMeta, Option<Vec<u8>>)>,
        op: Option<MessageOp>,
    ) {
        if !self.speaks_for(&peer) {
            debug!("a message from a device its account revoked");
            return;
        }
        // Files stay with the device that offered them (its chunks come
        // from it); texts join the account's conversation.
        let device = peer;
        let peer = if file.is_none() {
            self.conversation_of(&peer)
        } else {
            peer
        };
        let duplicate = self.staged.contains(&(peer, id))
            || self.in_flight.iter().any(|f| f.ids.contains(&(peer, id)))
            || match self.store.has_message(&peer, &id) {
                Ok(known) => known,
                Err(e) => {
                    // Without knowing, neither store nor acknowledge: the sender retries.
                    warn!(error = %e, "store lookup failed; message left for a retry");
                    return;
                }
            };
        if duplicate {
            self.after_commit.push(AfterCommit::Receipt(device, id));
            return;
        }
        // An operation on a message needs a conversation to be in: it
        // never makes its sender a contact.
        if !self.contacts.contains_key(&peer) && (op.is_some() || !self.accept_request(now, &peer))
        {
            return;
        }
        let record = MessageRecord {
            peer,
            id,
            direction: Direction::Incoming,
            text,
            sent_at,
            local_at: now,
            state: DeliveryState::Received,
            remote,
            file: file.as_ref().map(|(meta, _)| meta.clone()),
            op,
            changes: Changes::default(),
        };
        if let Some((meta, inline)) = file {
            let session = self.has_session(&peer);
            self.files.offered(now, peer, id, meta, inline, session);
        }
        self.staged.insert((peer, id));
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.disappearing.stored(peer, now);
        self.after_commit.push(AfterCommit::Receipt(device, id));
        if let Some(secs) = op
            .filter(|op| op.kind == OpKind::Timer)
            .and_then(|_| timer_secs(&record.text))
        {
            self.take_timer(
                now,
                peer,
                Timer {
                    secs,
                    set_at: sent_at,
                },
            );
        }
        if let Some(op) = op.filter(|op| op.kind == OpKind::Delete)
            && self
                .files
                .get(&device, &op.target)
                .is_some_and(|f| !f.outgoing)
        {
            // Their file, deleted by them (the device that offered it): no
            // more of it is fetched or stored.
            self.files.forget(&device, &op.target);
        }
        if let Some(op) = op.filter(|op| op.kind.is_change()) {
            // The store applies it to its target (or keeps it until the
            // target arrives); there is no new message to show.
            if record.remote.is_some() {
                self.after_commit
                    .push(AfterCommit::Event(Event::BridgedOp(Box::new(record))));
            }
            self.after_commit
                .push(AfterCommit::Event(Event::MessageChanged {
                    peer,
                    id: op.target,
                }));
            return;
        }
        if self.is_mailbox() && record.file.is_none() && record.remote.is_none() && op.is_none() {
            // Held for the account's other devices: handed to each when in
            // reach, like anything queued.
            for sibling in self.siblings() {
                if self.outbox.push(sibling, record.clone(), false).is_ok() {
                    self.after_commit.push(AfterCommit::Durable(sibling, id));
                }
            }
        }
        self.after_commit
            .push(AfterCommit::Event(Event::MessageReceived(Box::new(record))));
    }

    /// Another device of ours says what it sent to `conversation` (or, a
    /// mailbox, what `conversation` sent): kept once, acknowledged to that
    /// device; a held message is then delivered, and its sender told.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_copy(
        &mut self,
        now: Time,
        from: IdentityKey,
        conversation: IdentityKey,
        id: MessageId,
        sent_at: Time,
        incoming: bool,
        history: bool,
        op: Option<MessageOp>,
        text: String,
    ) {
        if !self.is_sibling(&from) || !self.contacts.contains_key(&conversation) {
            debug!("a copy from a device that is not ours, or for no contact of ours");
            return;
        }
        let duplicate = self.staged.contains(&(conversation, id))
            || self
                .in_flight
                .iter()
                .any(|f| f.ids.contains(&(conversation, id)))
            || match self.store.has_message(&conversation, &id) {
                Ok(known) => known,
                Err(e) => {
                    warn!(error = %e, "store lookup failed; copy left for a retry");
                    return;
                }
            };
        self.after_commit.push(AfterCommit::Receipt(from, id));
        if duplicate {
            return;
        }
        let record = MessageRecord {
            peer: conversation,
            id,
            direction: if incoming {
                Direction::Incoming
            } else {
                Direction::Outgoing
            },
            text,
            sent_at,
            local_at: now,
            // History is what the other device had already seen through.
            state: match (incoming, history) {
                (true, false) => DeliveryState::Received,
                (true, true) => DeliveryState::Read,
                (false, false) => DeliveryState::Sent,
                (false, true) => DeliveryState::Delivered,
            },
            remote: None,
            file: None,
            op,
            changes: Changes::default(),
        };
        self.staged.insert((conversation, id));
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.disappearing.stored(conversation, now);
        if let Some(op) = op {
            // An operation one of our devices made (or, from a mailbox, one
            // the contact made): the store applies it here too.
            if op.kind == OpKind::Timer
                && let Some(secs) = timer_secs(&record.text)
            {
                self.take_timer(
                    now,
                    conversation,
                    Timer {
                        secs,
                        set_at: sent_at,
                    },
                );
            }
            if op.kind.is_change() {
                self.after_commit
                    .push(AfterCommit::Event(Event::MessageChanged {
                        peer: conversation,
                        id: op.target,
                    }));
                return;
            }
        }
        if history {
            self.after_commit
                .push(AfterCommit::Event(Event::MessageState {
                    peer: conversation,
                    id,
                    state: record.state,
                }));
        } else if incoming {
            // Its sender's device hears "delivered" from here (the
            // mailbox only said "held").
            self.after_commit
                .push(AfterCommit::Receipt(conversation, id));
            self.after_commit
                .push(AfterCommit::Event(Event::MessageReceived(Box::new(record))));
        } else {
            self.after_commit
                .push(AfterCommit::Event(Event::MessageState {
                    peer: conversation,
                    id,
                    state: DeliveryState::Sent,
                }));
        }
    }
}
