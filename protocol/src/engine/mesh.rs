//! Store and forward: what the mesh sub-machine asks for, and envelopes carried for others.

use rand_core::RngCore;
use tracing::debug;

use crate::bridge::BridgeSignal;
use crate::contact::Contact;
use crate::frame::Frame;
use crate::identity::IdentityKey;
use crate::invite::ContactCard;
use crate::link::LinkId;
use crate::mesh::carried::{Carried, EnvelopeId, ack_hash};
use crate::mesh::carrier::CarriedRecord;
use crate::mesh::tag::{SLOTS, epoch_of, pair_key, tag};
use crate::mesh::{MeshFrame, MeshOutput, MeshStats, Policy, Recognised};
use crate::message::DeliveryState;
use crate::payload::{MessageId, Payload};
use crate::prekeys::{Bundle, Secrecy};
use crate::ratchet::KeyPair;
use crate::sealed::Inner;
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;

/// How long a link to a contact is up before a session is opened just to
/// exchange bundles.
const BUNDLE_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
use super::types::{AfterCommit, Event, LinkState, Originate, Output};

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

    /// How the next message to `peer` through the mesh would be protected
    /// (`None`: no forward secrecy yet — nothing from them, not even an
    /// invite with a prekey).
    pub fn offline_secrecy(&self, peer: &IdentityKey, now: Time) -> Option<Secrecy> {
        self.prekeys.secrecy_for(peer, now)
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
            let payload = self.payload_of(peer, record);
            self.mesh_send(now, peer, &payload, Some(id));
        }
    }

    /// Seals `payload` to `peer` and starts it through the mesh: in the
    /// ratchet session with them when there is one or a bundle to start one,
    /// else (a first contact) with Noise `X` to their static key.
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
        let Some(tag_key) = pair_key(&self.identity, &recipient) else {
            return;
        };
        let mut secret = [0u8; 16];
        let mut id = [0u8; 16];
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        self.rng.fill_bytes(&mut id);
        self.rng.fill_bytes(&mut seed);
        let sealed = if self.prekeys.can_seal(peer, now) {
            let plain = crate::sealed::ratchet_plaintext(secret, payload);
            let card = self.card.encode();
            let inner = match self.prekeys.seal(
                &self.identity,
                &card,
                peer,
                &recipient,
                &plain,
                now,
                &mut self.rng,
            ) {
                Ok(Some((msg, secrecy))) => {
                    if secrecy == Secrecy::SignedPrekeyOnly {
                        debug!(
                            "no one-time prekey of this contact left: forward secret \
                             only once their signed prekey is deleted"
                        );
                    }
                    Inner::Ratchet(msg)
                }
                Ok(None) => return,
                Err(e) => {
                    debug!(error = %e, "could not seal in the ratchet session");
                    return;
                }
            };
            self.persist_prekeys();
            let e = KeyPair::generate(&mut self.rng);
            crate::sealed::wrap(&recipient, &inner, &e)
        } else {
            crate::sealed::seal(
                &self.identity,
                &self.card,
                &recipient,
                secret,
                payload,
                seed,
            )
        };
        let sealed = match sealed {
            Ok(sealed) => sealed,
            // Too large for one sealed message: it waits for a direct link.
            Err(e) => {
                debug!(error = %e, "not sent through the mesh");
                return;
            }
        };
        let mesh = self.mesh.config();
        let epoch = epoch_of(now, mesh.epoch);
        // Start somewhere below the limits, so the first hop cannot tell the
        // sender from a relay by a full budget or a round expiry. (The
        // flooding baseline keeps its fixed hop limit: that is what it is.)
        let (hop_limit, copies) = match mesh.policy {
            Policy::SprayAndWait { copies } => {
                let budget = copies.max(1);
                (
                    mesh.hop_limit
                        .saturating_sub((self.rng.next_u32() % 4) as u8)
                        .max(1),
                    budget - (self.rng.next_u32() % u32::from(budget.div_ceil(4))) as u16,
                )
            }
            _ => (mesh.hop_limit, 1),
        };
        let jitter = mesh.ttl.as_millis() as u64 / 8;
        let expiry =
            now + mesh.ttl - std::time::Duration::from_millis(self.rng.next_u64() % jitter.max(1));
        let env = Carried {
            id: EnvelopeId(id),
            epoch,
            tag: if mesh.policy == crate::mesh::Policy::Prophet {
                // The baseline names its recipient for all to see.
                crate::mesh::prophet::stable_tag(peer)
            } else {
                tag(&tag_key, peer, epoch, self.next_slot(peer, epoch))
            },
            expiry,
            hop_limit,
            copies,
            ack_hash: ack_hash(&secret),
            sealed,
        };
        let message = message.unwrap_or(MessageId(id));
        self.after_commit
            .push(AfterCommit::Originate(Box::new(Originate {
                env,
                peer: *peer,
                message,
                secret,
            })));
    }

    /// The tag slot for the next envelope to `peer` in `epoch`: each in turn,
    /// then at random once all are used.
    fn next_slot(&mut self, peer: &IdentityKey, epoch: u32) -> u8 {
        let entry = self.tag_slots.entry(*peer).or_insert((epoch, 0));
        if entry.0 != epoch {
            *entry = (epoch, 0);
        }
        let slot = if entry.1 < SLOTS {
            entry.1
        } else {
            (self.rng.next_u32() % u32::from(SLOTS)) as u8
        };
        entry.1 = entry.1.saturating_add(1);
        slot
    }

    /// Writes what changed in the prekeys and ratchet sessions into the batch.
    pub(super) fn persist_prekeys(&mut self) {
        for (key, value) in self.prekeys.take_changes() {
            match value {
                Some(value) => self.put_setting(&key, value),
                None => self.delete_setting(&key),
            }
        }
    }

    /// A live session with a contact is usable from our side: hand them a
    /// fresh bundle, so what they send while we are away is forward-secret.
    pub(super) fn offer_prekeys(&mut self, now: Time, peer: &IdentityKey) {
        if !self.contacts.contains_key(peer) {
            return;
        }
        let bundle = self
            .prekeys
            .bundle_for(&self.identity, peer, now, &mut self.rng);
        self.persist_prekeys();
        self.send_payload(peer, &Payload::Prekeys(Box::new(bundle)));
    }

    /// When a link to a contact who owes us a bundle has been up long
    /// enough that we open a session just for the bundles (links to a
    /// contact with something to say get a session at once, and the bundles
    /// with it). The side with the lower key goes first; the other waits
    /// longer, so the two rarely start at the same moment.
    fn bundle_session_due(&self, link: &LinkState) -> Option<Time> {
        let info = &link.info;
        let peer = &info.peer;
        if link.bundles_tried
            || !self.added(peer)
            || self.sessions.current_index(peer).is_some()
            || self.sessions.is_initiating(peer)
        {
            return None;
        }
        let wait = if self.identity.key() < *peer {
            BUNDLE_DELAY
        } else {
            BUNDLE_DELAY * 3
        };
        Some((info.since + wait).max(self.prekeys.bundle_wanted_from(peer)))
    }

    /// The next [`Engine::bundle_sessions`] due.
    pub(super) fn bundle_timeout(&self) -> Option<Time> {
        self.links
            .values()
            .filter_map(|l| self.bundle_session_due(l))
            .min()
    }

    /// Opens the sessions that are due only for bundles.
    pub(super) fn bundle_sessions(&mut self, now: Time) {
        let due: Vec<(IdentityKey, LinkId)> = self
            .links
            .values()
            .filter(|l| self.bundle_session_due(l).is_some_and(|t| t <= now))
            .map(|l| (l.info.peer, l.info.id))
            .collect();
        for (peer, link) in due {
            // Once per link, whatever happens: a timer that stays due with
            // nothing to do would wake the engine again and again.
            if let Some(state) = self.links.get_mut(&link) {
                state.bundles_tried = true;
            }
            if !self.sessions.needs_handshake(&peer, now) {
                continue;
            }
            let peer_static = self.contacts.get(&peer).map(Contact::static_key);
            match self.sessions.initiate(
                &self.identity,
                &self.card,
                peer,
                peer_static,
                &mut self.rng,
                now,
            ) {
                Ok(init) => self.transmit(link, init),
                Err(e) => debug!(error = %e, "could not start a handshake for bundles"),
            }
        }
    }

    /// A contact's bundle, from inside a live session with them.
    pub(super) fn on_prekeys(&mut self, now: Time, peer: &IdentityKey, bundle: Bundle) {
        if !self.contacts.contains_key(peer) {
            return;
        }
        match self.prekeys.on_bundle(peer, bundle, now) {
            Ok(()) => self.persist_prekeys(),
            Err(e) => debug!(error = %e, "prekey bundle refused"),
        }
    }

    /// Opens an envelope sealed to us: `from` is the contact its tag names,
    /// if it named one.
    fn open_carried(
        &mut self,
        now: Time,
        from: Option<IdentityKey>,
        sealed: &[u8],
    ) -> Option<(ContactCard, [u8; 16], Payload)> {
        match crate::sealed::unwrap(&self.identity, sealed).ok()? {
            Inner::Static(noise) => {
                let opened = crate::sealed::open_static(&self.identity, &noise).ok()?;
                Some((opened.sender, opened.ack_secret, opened.payload))
            }
            Inner::Ratchet(msg) => {
                // The tag names a contact; a first message also carries the
                // sender's card (someone who added us from our invite).
                let card = if msg.card.is_empty() {
                    None
                } else {
                    Some(ContactCard::decode(&msg.card).ok()?)
                };
                let (card, key) = match (from, card) {
                    (Some(from), card) => {
                        if card.as_ref().is_some_and(|c| c.identity() != from) {
                            return None;
                        }
                        let contact = self.contacts.get(&from)?;
                        (contact.card.clone(), contact.static_key())
                    }
                    (None, Some(card)) => {
                        let key = card.static_key();
                        (card, key)
                    }
                    (None, None) => return None,
                };
                let from = card.identity();
                let plain =
                    match self
                        .prekeys
                        .open(&self.identity, &from, &key, &msg, now, &mut self.rng)
                    {
                        Ok(plain) => plain,
                        Err(e) => {
                            debug!(error = %e, "a carried message for us did not open");
                            return None;
                        }
                    };
                self.persist_prekeys();
                let (ack, payload) = crate::sealed::read_ratchet_plaintext(&plain).ok()?;
                Some((card, ack, payload))
            }
        }
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
                let conversation = self.conversation_of(&peer);
                let direct = self
                    .outbox
                    .record(&peer, &message)
                    .is_some_and(|r| r.peer == conversation);
                if direct {
                    let peer = conversation;
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
    /// One whose tag we do not recognise may still be ours (a first message
    /// from someone we do not know yet): it is carried like any other, and
    /// if the mesh kept it (new to us, within the neighbour's quota), we try
    /// to open it once — one X25519, bounded by what the mesh accepts.
    pub(super) fn on_carry(&mut self, now: Time, link: LinkId, env: Carried) {
        if !self.mesh.enabled() {
            return;
        }
        let me = self.identity.key();
        if let Recognised::Mine { from } = self.mesh.recognise(&me, &env, now) {
            if let Some((sender, ack, payload)) = self.open_carried(now, Some(from), &env.sealed) {
                self.mesh.delivered_here(link, env.id, ack, env.expiry);
                self.deliver_carried(now, sender, payload);
                return;
            }
            // A copy of one already opened: the mesh answers it with the
            // delivery proof. Anything else under our tag that does not open
            // is junk: never ours to spread.
            if self.mesh.knows(&env.id) {
                self.mesh.on_carry(now, link, env);
            }
            return;
        }
        let (id, expiry) = (env.id, env.expiry);
        let known = self.mesh.knows(&id);
        self.mesh.on_carry(now, link, env);
        if known {
            return;
        }
        let Some(sealed) = self.mesh.carrier().get(&id).map(|h| h.env.sealed.clone()) else {
            return;
        };
        if let Some((sender, ack, payload)) = self.open_carried(now, None, &sealed) {
            self.mesh.delivered_here_after_all(link, id, ack, expiry);
            self.deliver_carried(now, sender, payload);
        }
    }

    /// What an envelope for us held: the sender becomes or stays a contact
    /// (a request if it writes first), the payload goes to its room.
    fn deliver_carried(&mut self, now: Time, sender: ContactCard, payload: Payload) {
        let me = self.identity.key();
        let peer = sender.identity();
        if peer == me {
            return;
        }
        let contact = self.may_bring_groups(&peer);
        if self.contacts.contains_key(&peer) {
            self.on_card(now, sender);
        } else if match &payload {
            Payload::Text { .. } | Payload::File { .. } => true,
            Payload::Bridge(signal) => matches!(**signal, BridgeSignal::Join { .. }),
            _ => false,
        } {
            self.add_request(now, sender);
        }
        match payload {
            // Through the mesh: pushes only, never the sync protocol.
            Payload::Group(fragment) => {
                self.groups.on_fragment(peer, *fragment, false, contact);
            }
            // Bundles, device lists and linking travel only inside live
            // sessions.
            Payload::Prekeys(_)
            | Payload::Devices(_)
            | Payload::LinkRequest { .. }
            | Payload::LinkContact(_) => {}
            payload => self.on_payload(now, peer, payload),
        }
        if !self.contacts.contains_key(&peer) {
            // Not kept as a request: keep no session for them either.
            self.prekeys.forget(&peer);
            self.persist_prekeys();
        }
    }
}
