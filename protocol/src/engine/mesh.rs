//! Store and forward: what the mesh sub-machine asks for, and envelopes carried for others.

use rand_core::RngCore;
use tracing::debug;

use crate::bridge::BridgeSignal;
use crate::contact::Contact;
use crate::frame::Frame;
use crate::identity::IdentityKey;
use crate::link::LinkId;
use crate::mesh::carried::{Carried, EnvelopeId, ack_hash};
use crate::mesh::carrier::CarriedRecord;
use crate::mesh::tag::{epoch_of, tag};
use crate::mesh::{MeshFrame, MeshOutput, MeshStats, Recognised};
use crate::message::DeliveryState;
use crate::payload::{MessageId, Payload};
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{Event, Output};

impl<S: Store> Engine<S> {
    pub fn mesh_stats(&self) -> MeshStats {
        self.mesh.stats()
    }

    /// The forwarding policy's name ("spray-and-wait", …).
    pub fn mesh_policy(&self) -> &'static str {
        if self.mesh.enabled() {
            self.mesh.config().policy.name()
        } else {
            "off"
        }
    }

    /// The envelopes this node carries, as a relay sees them.
    pub fn mesh_carried(&self) -> Vec<Carried> {
        self.mesh.carrier().iter().map(|h| h.env.clone()).collect()
    }

    /// Hands the durable messages for `peer` that have no link to the mesh,
    /// once each.
    pub(super) fn mesh_pending(&mut self, now: Time, peer: &IdentityKey) {
        if !self.mesh.enabled() {
            return;
        }
        for record in self.outbox.unmeshed(peer) {
            let id = record.id;
            self.outbox.mark_meshed(peer, &id);
            let payload = self.payload_of(record);
            self.mesh_send(now, peer, &payload, Some(id));
        }
    }

    /// Seals `payload` one way to `peer` and starts it through the mesh.
    /// `message` names the outbox entry it carries, if any.
    pub(super) fn mesh_send(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        payload: &Payload,
        message: Option<MessageId>,
    ) {
        if !self.mesh.enabled() {
            return;
        }
        let Some(recipient) = self.contacts.get(peer).map(Contact::static_key) else {
            return;
        };
        let mut secret = [0u8; 16];
        let mut id = [0u8; 16];
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        self.rng.fill_bytes(&mut id);
        self.rng.fill_bytes(&mut seed);
        let sealed = match crate::sealed::seal(
            &self.identity,
            &self.card,
            &recipient,
            secret,
            payload,
            seed,
        ) {
            Ok(sealed) => sealed,
            // Too large for one sealed message: it waits for a direct link.
            Err(e) => {
                debug!(error = %e, "not sent through the mesh");
                return;
            }
        };
        let mesh = self.mesh.config();
        let epoch = epoch_of(now, mesh.epoch);
        let env = Carried {
            id: EnvelopeId(id),
            epoch,
            tag: tag(peer, epoch),
            expiry: now + mesh.ttl,
            hop_limit: mesh.hop_limit,
            copies: 1,
            ack_hash: ack_hash(&secret),
            sealed,
        };
        let message = message.unwrap_or(MessageId(id));
        self.mesh
            .originate(now, env, *peer, message, secret, &self.contact_keys);
    }

    /// Carries out one thing the mesh asked for: a frame to send, or an
    /// envelope to store, forget, or count as sent.
    pub(super) fn on_mesh_output(&mut self, out: MeshOutput) {
        match out {
            MeshOutput::Send { link, frame } => {
                let frame = match frame {
                    MeshFrame::Summary(s) => Frame::Summary(s),
                    MeshFrame::Carry(c) => Frame::Carry(c),
                    MeshFrame::Acks(a) => Frame::Acks(a),
                };
                self.transmit_frame(link, &frame);
            }
            MeshOutput::Stored(id) => {
                if let Some(h) = self.mesh.carrier().get(&id) {
                    let record = CarriedRecord {
                        env: h.env.clone(),
                        origin: h.origin,
                        secret: self.mesh.own_secret(&id),
                    };
                    self.batch.push(StoreOp::PutCarried(Box::new(record)));
                }
            }
            MeshOutput::Removed(id) => self.batch.push(StoreOp::DeleteCarried(id)),
            MeshOutput::OwnSent { peer, message } => {
                if self.outbox.contains(&peer, &message) {
                    self.batch.push(StoreOp::SetState {
                        peer,
                        id: message,
                        state: DeliveryState::Sent,
                    });
                    self.outputs.push_back(Output::Event(Event::MessageState {
                        peer,
                        id: message,
                        state: DeliveryState::Sent,
                    }));
                }
            }
        }
    }

    /// An envelope a neighbour handed us: ours to open, or to carry on.
    pub(super) fn on_carry(&mut self, now: Time, link: LinkId, env: Carried) {
        if !self.mesh.enabled() {
            return;
        }
        let me = self.identity.key();
        if self.mesh.recognise(&me, &env, now) == Recognised::Mine
            && let Ok(opened) = crate::sealed::open(&self.identity, &env.sealed)
        {
            self.mesh
                .delivered_here(link, env.id, opened.ack_secret, env.expiry);
            let peer = opened.sender.identity();
            if peer == me {
                return;
            }
            let contact = self.may_bring_groups(&peer);
            if self.contacts.contains_key(&peer) {
                self.on_card(now, opened.sender);
            } else if match &opened.payload {
                Payload::Text { .. } | Payload::File { .. } => true,
                Payload::Bridge(signal) => matches!(**signal, BridgeSignal::Join { .. }),
                _ => false,
            } {
                self.add_request(now, opened.sender);
            }
            match opened.payload {
                // Through the mesh: pushes only, never the sync protocol.
                Payload::Group(fragment) => {
                    self.groups.on_fragment(peer, *fragment, false, contact);
                }
                payload => self.on_payload(now, peer, payload),
            }
            return;
        }
        // Not ours (or a tag collision): carry it on.
        self.mesh.on_carry(now, link, env, &self.contact_keys);
    }
}
