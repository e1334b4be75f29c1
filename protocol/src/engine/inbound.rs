//! Frames from links: envelopes into sessions, payloads to the room they are for.

use tracing::debug;

use crate::bridge::BridgeSignal;
use crate::envelope::Envelope;
use crate::frame::Frame;
use crate::identity::IdentityKey;
use crate::link::{CloseReason, LinkId};
use crate::message::DeliveryState;
use crate::payload::{Payload, ReceiptKind};
use crate::session::SessionError;
use crate::session_table::{Outcome, TableError};
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, Event, Output};

impl<S: Store> Engine<S> {
    /// Handles one frame that arrived on `link`.
    pub fn handle_frame(&mut self, now: Time, link: LinkId, bytes: &[u8]) {
        if !self.links.contains_key(&link) {
            return;
        }
        match Frame::decode(bytes) {
            Ok(Frame::Envelope(env)) => self.on_envelope(now, link, env),
            Ok(Frame::Summary(summary)) => {
                self.mesh.on_summary(now, link, summary);
            }
            Ok(Frame::Carry(env)) => self.on_carry(now, link, *env),
            Ok(Frame::Acks(acks)) => {
                self.mesh.on_acks(link, acks);
            }
            Err(e) => {
                debug!(link = link.0, error = %e, "undecodable frame");
                self.close(link, CloseReason::Malformed);
            }
        }

        self.pump(now);
    }

    pub(super) fn on_envelope(&mut self, now: Time, link: LinkId, env: Envelope) {
        let is_init = matches!(env, Envelope::Init { .. });
        if is_init && !self.rate_limit(now, link, true) {
            self.close(link, CloseReason::Flooding);
            return;
        }
        let is_data = matches!(env, Envelope::Data { .. });
        let outcome = self
            .sessions
            .handle(&self.identity, &self.card, env, &mut self.rng, now);
        match outcome {
            Ok(Outcome::Reply(reply)) => self.transmit(link, reply),
            Ok(Outcome::Established {
                peer,
                local_index: _,
                reply,
            }) => {
                let peer_key = peer.identity();
                self.reply_links.insert(peer_key, link);
                if let Some(reply) = reply {
                    self.transmit(link, reply);
                }
                self.on_card(now, *peer);
                self.outputs
                    .push_back(Output::Event(Event::SessionUp { peer: peer_key }));
                self.groups.peer_up(peer_key);
                self.files.session_up(now, &peer_key);
                let initiator = self
                    .sessions
                    .current(&peer_key)
                    .is_some_and(|s| s.is_initiator());
                if initiator {
                    self.offer_prekeys(now, &peer_key);
                    self.devices_session_up(&peer_key);
                }
                let sent = self.service_peer(now, &peer_key);
                if initiator && sent == 0 && !self.contacts.contains_key(&peer_key) {
                    // The responder uses a session only once it hears from us in it.
                    self.send_payload(&peer_key, &Payload::Keepalive);
                }
            }
            Ok(Outcome::Data {
                peer,
                plaintext,
                newly_confirmed,
            }) => {
                self.reply_links.insert(peer, link);
                match Payload::decode_padded(&plaintext) {
                    Ok(payload) => self.on_payload(now, peer, payload),
                    Err(e) => {
                        debug!(error = %e, "undecodable payload in a session");
                        self.close(link, CloseReason::Malformed);
                        return;
                    }
                }
                if newly_confirmed {
                    // The responder could not send in the session until now.
                    self.offer_prekeys(now, &peer);
                    self.devices_session_up(&peer);
                    self.groups.peer_up(peer);
                    self.service_peer(now, &peer);
                    self.files.session_up(now, &peer);
                }
            }
            Err(TableError::UnknownIndex(_)) => {
                if !self.rate_limit(now, link, false) {
                    self.close(link, CloseReason::Flooding);
                    return;
                }
                // Most likely we restarted and forgot the session: if this is a
                // contact, offer a fresh one so its outbox can drain.
                if is_data
                    && let Some(hop) = self.links.get(&link).map(|l| l.info.peer)
                    && let Some(contact) = self.contacts.get(&hop)
                    && self.sessions.needs_handshake(&hop, now)
                {
                    let peer_static = Some(contact.static_key());
                    if let Ok(init) = self.sessions.initiate(
                        &self.identity,
                        &self.card,
                        hop,
                        peer_static,
                        &mut self.rng,
                        now,
                    ) {
                        self.transmit(link, init);
                    }
                }
            }
            Err(TableError::Session(SessionError::Replay(_))) => {
                self.close(link, CloseReason::Replay)
            }
            Err(TableError::Session(e)) => {
                debug!(link = link.0, error = %e, "envelope refused");
                self.close(link, CloseReason::BadCrypto);
            }
        }
    }

    pub(super) fn on_payload(&mut self, now: Time, peer: IdentityKey, payload: Payload) {
        match payload {
            Payload::Text {
                id,
                sent_at,
                text,
                remote,
            } => self.on_text(now, peer, id, sent_at, text, remote, None, None),
            Payload::Op {
                id,
                sent_at,
                op,
                text,
                remote,
            } => self.on_text(now, peer, id, sent_at, text, remote, None, Some(op)),
            Payload::File {
                id,
                sent_at,
                meta,
                inline,
                remote,
            } => {
                let name = meta.name.clone();
                self.on_text(
                    now,
                    peer,
                    id,
                    sent_at,
                    name,
                    remote,
                    Some((*meta, inline)),
                    None,
                );
            }
            Payload::FileChunk { id, index, data } => {
                self.files.on_chunk(now, peer, id, index, data);
            }
            Payload::FileWant {
                id,
                have,
                from,
                count,
            } => {
                self.files.on_want(now, peer, id, have, from, count);
            }
            Payload::Receipt { kind, ids } => {
                for id in ids {
                    match kind {
                        ReceiptKind::Delivered | ReceiptKind::Held => {
                            let meshed = self.outbox.is_meshed(&peer, &id);
                            if let Some(record) = self.outbox.remove(&peer, &id) {
                                if meshed {
                                    self.mesh.delivered_own(&peer, &id);
                                }
                                // Another device of ours has its copy: that
                                // says nothing of delivery.
                                if record.peer != self.conversation_of(&peer) {
                                    continue;
                                }
                                let peer = record.peer;
                                // A gateway's receipt says it has the message,
                                // not that the far side does; a mailbox's, that
                                // it holds it for devices that do not yet.
                                let state = if record.remote.is_some() && !self.config.gateway {
                                    DeliveryState::Relayed
                                } else if kind == ReceiptKind::Held {
                                    DeliveryState::Held
                                } else {
                                    DeliveryState::Delivered
                                };
                                let delivered = StoreOp::SetState { peer, id, state };
                                match self.staged_sent.remove(&(peer, id)) {
                                    Some(at) => self.batch.ops[at] = delivered,
                                    None => self.batch.push(delivered),
                                }
                                self.after_commit
                                    .push(AfterCommit::Event(Event::MessageState {
                                        peer,
                                        id,
                                        state,
                                    }));
                            }
                        }
                        ReceiptKind::Read => {
                            self.outbox.remove(&peer, &id);
                            let peer = self.conversation_of(&peer);
                            self.batch.push(StoreOp::SetState {
                                peer,
                                id,
                                state: DeliveryState::Read,
                            });
                            self.after_commit
                                .push(AfterCommit::Event(Event::MessageState {
                                    peer,
                                    id,
                                    state: DeliveryState::Read,
                                }));
                        }
                    }
                }
                self.service_peer(now, &peer);
            }
            Payload::Card(card) => {
                if card.identity() == peer {
                    self.on_card(now, *card);
                } else {
                    self.on_device_card(now, peer, *card);
                }
            }
            Payload::Devices(list) => self.on_devices(now, peer, *list),
            Payload::Copy {
                peer: conversation,
                id,
                sent_at,
                incoming,
                history,
                op,
                text,
            } => self.on_copy(
                now,
                peer,
                conversation,
                id,
                sent_at,
                incoming,
                history,
                op,
                text,
            ),
            Payload::LinkRequest {
                secret,
                name,
                mailbox,
            } => self.on_link_request(now, peer, secret, name, mailbox),
            Payload::LinkContact(contact) => self.on_link_contact(now, peer, *contact),
            Payload::Keepalive => {}
            Payload::Prekeys(bundle) => self.on_prekeys(now, &peer, *bundle),
            Payload::Bridge(signal) => {
                // Someone opting in to this node as their gateway need not
                // be a contact yet; every other signal comes from contacts.
                let known = self.contacts.contains_key(&peer)
                    || (matches!(*signal, BridgeSignal::Join { .. })
                        && self.accept_request(now, &peer));
                let reached = match &*signal {
                    // The far side's client has these: they are delivered.
                    BridgeSignal::Received { ids, .. } => Some((ids, DeliveryState::Delivered)),
                    // Or showed them: read.
                    BridgeSignal::Displayed { ids, .. } => Some((ids, DeliveryState::Read)),
                    _ => None,
                };
                if let (true, Some((ids, state))) = (known, reached) {
                    for id in ids {
                        self.batch.push(StoreOp::SetState {
                            peer,
                            id: *id,
                            state,
                        });
                        self.after_commit
                            .push(AfterCommit::Event(Event::MessageState {
                                peer,
                                id: *id,
                                state,
                            }));
                    }
                }
                if known {
                    self.outputs.push_back(Output::Event(Event::Bridge {
                        peer,
                        signal: *signal,
                    }));
                }
            }
            Payload::Group(fragment) => {
                let contact = self.may_bring_groups(&peer);
                self.groups.on_fragment(peer, *fragment, true, contact);
            }
        }
    }
}
