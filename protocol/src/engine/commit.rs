//! Staging and commit: the batch of writes, what waits for it, and the one path out for frames and events.

use std::collections::BTreeSet;

use rand_core::RngCore;
use tracing::warn;

use crate::envelope::Envelope;
use crate::frame::Frame;
use crate::identity::IdentityKey;
use crate::link::{CloseReason, LinkId};
use crate::message::{DeliveryState, MessageRecord};
use crate::payload::{MessageId, Payload};
use crate::store::{Store, StoreError, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, Commit, EngineError, Event, InFlight, Output};

impl<S: Store> Engine<S> {
    /// Commits everything staged since the last flush in one batch, then
    /// releases what waited for it (sends of new messages, receipts, events).
    /// On failure nothing staged is acknowledged or sent, and the error says
    /// why; the engine itself stays usable.
    ///
    /// This is [`Engine::begin_commit`], the store's commit and
    /// [`Engine::end_commit`] in one step, for drivers that commit inline.
    pub fn flush(&mut self, now: Time) -> Result<(), StoreError> {
        // What a commit releases may stage more (a message made durable is
        // sealed for the mesh, which advances a ratchet): commit until
        // nothing waits. Each round releases only what the last one staged,
        // so this ends.
        while let Some(commit) = self.begin_commit() {
            let result = if commit.batch.is_empty() {
                Ok(())
            } else {
                self.store.commit(&commit.batch)
            };
            self.end_commit(now, commit.ticket, result)?;
        }
        Ok(())
    }

    /// Takes what is staged as one batch for the driver to commit — on another
    /// thread if it likes, while this engine keeps taking inputs. Batches must
    /// be committed in the order they were taken. `None` when nothing waits.
    pub fn begin_commit(&mut self) -> Option<Commit> {
        debug_assert!(self.pumped(), "an input ended without the pump");
        if self.batch.is_empty() && self.after_commit.is_empty() {
            return None;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.staged_sent.clear();
        self.groups_in_batch = false;
        self.in_flight.push_back(InFlight {
            ticket,
            after: std::mem::take(&mut self.after_commit),
            ids: std::mem::take(&mut self.staged),
        });
        Some(Commit {
            ticket,
            batch: std::mem::take(&mut self.batch),
        })
    }

    /// Reports how the commit of `ticket` went, and releases (or drops) what
    /// waited for it. Returns the same result, for the caller's convenience.
    pub fn end_commit(
        &mut self,
        now: Time,
        ticket: u64,
        result: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some(pos) = self.in_flight.iter().position(|f| f.ticket == ticket) else {
            return result;
        };
        let Some(done) = self.in_flight.remove(pos) else {
            return result;
        };
        let mut dirty = BTreeSet::new();
        for item in done.after {
            match (item, result.is_ok()) {
                (AfterCommit::Durable(peer, id), true) => {
                    self.outbox.mark_durable(&peer, &id);
                    dirty.insert(peer);
                }
                (AfterCommit::Durable(peer, id), false) => {
                    self.outbox.remove(&peer, &id);
                }
                (AfterCommit::Receipt(peer, id), true) => {
                    self.receipts.entry(peer).or_default().push(id)
                }
                (AfterCommit::Event(event), true) => self.outputs.push_back(Output::Event(event)),
                (AfterCommit::Send(peer, payload), true) => {
                    self.send_payload(&peer, &payload);
                }
                (
                    AfterCommit::ServeGroupFile {
                        peer,
                        group,
                        file,
                        from,
                        count,
                    },
                    true,
                ) => self.serve_group_file(peer, group, file, from, count),
                (AfterCommit::Originate(o), true) => {
                    let o = *o;
                    self.mesh.originate(now, o.env, o.peer, o.message, o.secret);
                }
                (AfterCommit::GroupsSaved, false) => self.groups.commit_failed(),
                (_, false) | (AfterCommit::GroupsSaved, true) => {}
            }
        }
        for peer in dirty {
            self.service_peer(now, &peer);
        }
        self.send_receipts(now);
        self.pump(now);
        result
    }

    /// Whether writes are staged and waiting for a commit.
    pub fn has_staged(&self) -> bool {
        !self.batch.is_empty() || !self.after_commit.is_empty()
    }

    /// Whether a batch was taken and its commit not yet reported.
    pub fn commit_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// A fresh id for a new outgoing message to `peer`, if it may be
    /// queued: `peer` is a contact and the outbox has room.
    pub(super) fn new_outgoing(&mut self, peer: &IdentityKey) -> Result<MessageId, EngineError> {
        if !self.contacts.contains_key(peer) {
            return Err(EngineError::UnknownContact(peer.short()));
        }
        if !self.outbox.has_room() {
            return Err(EngineError::OutboxFull(self.outbox.len()));
        }
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        Ok(MessageId(id))
    }

    /// The one way out for a message we write (text or file offer): staged,
    /// queued, and sent only once the batch that holds it is durable.
    ///
    /// It goes to every device of the conversation's account, and a text
    /// (not a file, not a bridged one) is copied to this account's other
    /// devices, so each shows both sides (docs/DEVICES.md).
    pub(super) fn enqueue(&mut self, record: MessageRecord) -> Result<MessageId, EngineError> {
        let id = record.id;
        let mut to = self.destinations(&record.peer);
        // Texts and operations go to our other devices too (as copies).
        if record.file.is_none() && record.remote.is_none() {
            to.extend(self.siblings());
        }
        if self.outbox.len() + to.len() > self.config.max_outbox {
            return Err(EngineError::OutboxFull(self.outbox.len()));
        }
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.disappearing.stored(record.peer, record.local_at);
        for device in to {
            self.outbox
                .push(device, record.clone(), false)
                .map_err(|_| EngineError::OutboxFull(self.outbox.len()))?;
            self.after_commit.push(AfterCommit::Durable(device, id));
        }
        Ok(id)
    }

    /// Queues the durable messages waiting for `account` for its newly
    /// known device `device` as well.
    pub(super) fn fan_out_pending(&mut self, now: Time, account: IdentityKey, device: IdentityKey) {
        for record in self.outbox.durable_for(&account) {
            if self.outbox.push(device, record, true).is_err() {
                break;
            }
        }
        self.service_peer(now, &device);
    }

    pub(super) fn close(&mut self, link: LinkId, reason: CloseReason) {
        if self.links.remove(&link).is_some() {
            self.reply_links.retain(|_, l| *l != link);
            self.outputs.push_back(Output::Close { link, reason });
            self.outputs
                .push_back(Output::Event(Event::LinkClosed { link, reason }));
        }
    }

    pub(super) fn transmit(&mut self, link: LinkId, env: Envelope) {
        self.transmit_frame(link, &Frame::Envelope(env));
    }

    /// The one way out for frames: session envelopes and the mesh's alike.
    pub(super) fn transmit_frame(&mut self, link: LinkId, frame: &Frame) {
        let frame = frame.encode();
        // A link too small for a frame would be closed by its transport:
        // leave the frame out (transports fragment to [`MIN_LINK_MTU`]).
        if let Some(state) = self.links.get(&link)
            && frame.len() > state.info.mtu
        {
            warn!(
                link = link.0,
                len = frame.len(),
                mtu = state.info.mtu,
                "a frame too large for its link was not sent"
            );
            return;
        }
        self.outputs.push_back(Output::Transmit { link, frame });
    }

    /// Seals `payload` in the current session with `peer` and sends it.
    /// Returns false when there is no session or no link.
    pub(super) fn send_payload(&mut self, peer: &IdentityKey, payload: &Payload) -> bool {
        let Some(link) = self.best_link(peer) else {
            return false;
        };
        let Some(session) = self.sessions.current(peer) else {
            return false;
        };
        match session.seal(&payload.encode_padded()) {
            Ok(env) => {
                self.transmit(link, env);
                true
            }
            Err(e) => {
                warn!(error = %e, "could not seal a payload");
                false
            }
        }
    }

    /// Moves an incoming message to `Read` without telling its sender: a
    /// gateway's way of saying it handed the message on.
    pub fn settle(&mut self, peer: &IdentityKey, id: &MessageId) {
        self.batch.push(StoreOp::SetState {
            peer: *peer,
            id: *id,
            state: DeliveryState::Read,
        });
    }

    /// Stores a small named value with the next commit (node settings, a
    /// gateway's subscriptions).
    pub fn put_setting(&mut self, key: &str, value: Vec<u8>) {
        self.settings.insert(key.to_owned(), value.clone());
        self.batch.push(StoreOp::PutSetting {
            key: key.to_owned(),
            value,
        });
    }

    pub fn delete_setting(&mut self, key: &str) {
        self.settings.remove(key);
        self.batch.push(StoreOp::DeleteSetting {
            key: key.to_owned(),
        });
    }

    /// Settings whose key starts with `prefix`, including those staged and
    /// not yet committed.
    pub fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .settings
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
