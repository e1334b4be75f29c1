//! Contacts: invites, adding and verifying, requests from strangers, cards that arrive.

use crate::contact::{Contact, ContactOrigin};
use crate::identity::IdentityKey;
use crate::invite::{ContactCard, Hint, validate_name};
use crate::mesh::tag::pair_key;
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, EngineError, Event, Output};

impl<S: Store> Engine<S> {
    /// A freshly dated and signed card to hand out as an invite. It carries
    /// the current signed prekey, so a first message from someone who adds
    /// us is sealed in a ratchet session (the prekey is made now if there is
    /// none yet, staged with the next commit).
    pub fn invite(&mut self, now: Time) -> Result<ContactCard, EngineError> {
        self.prekeys
            .rotate_if_due(&self.identity, now, &mut self.rng);
        self.persist_prekeys();
        let mut hints = self.config.hints.clone();
        if let Some(bundle) = self.prekeys.invite_bundle() {
            hints.push(Hint::Prekey(Box::new(bundle)));
        }
        Ok(ContactCard::new(
            &self.identity,
            &self.config.name,
            hints,
            now,
            self.config.invite_validity,
        )?)
    }

    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.values()
    }

    /// Changes whenever a contact comes or a contact's key changes: the
    /// driver then hands [`Engine::contact_statics`] to its transports.
    pub fn contacts_generation(&self) -> u64 {
        self.contacts_generation
    }

    /// Every contact's X25519 static key: whom the transports look for at
    /// the hop (a contact's device reveals itself only to those who know
    /// its key).
    pub fn contact_statics(&self) -> Vec<[u8; 32]> {
        // Not a revoked device's: it is no one we look for any more.
        self.contacts
            .values()
            .filter(|c| self.speaks_for(&c.identity))
            .map(|c| c.static_key().0)
            .collect()
    }

    pub fn contact(&self, peer: &IdentityKey) -> Option<&Contact> {
        self.contacts.get(peer)
    }

    /// Finds a contact by alias, name, full id or an id prefix of at least 8
    /// characters.
    pub fn resolve(&self, query: &str) -> Result<IdentityKey, EngineError> {
        let q = query.trim();
        if let Some(key) = IdentityKey::find_in(q, &self.contacts) {
            return Ok(*key);
        }
        let by = |f: &dyn Fn(&Contact) -> bool| -> Vec<&Contact> {
            self.contacts.values().filter(|c| f(c)).collect()
        };
        let tiers: [Vec<&Contact>; 3] = [
            by(&|c| {
                c.alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(q))
            }),
            by(&|c| c.card.name().eq_ignore_ascii_case(q)),
            if q.len() >= 8 {
                by(&|c| c.identity.to_string().starts_with(&q.to_ascii_lowercase()))
            } else {
                Vec::new()
            },
        ];
        for found in tiers {
            match found.as_slice() {
                [] => continue,
                [one] => return Ok(one.identity),
                many => {
                    return Err(EngineError::AmbiguousContact {
                        query: q.to_owned(),
                        candidates: many
                            .iter()
                            .map(|c| format!("{} {}", c.display_name(), c.identity.short()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Err(EngineError::UnknownContact(q.to_owned()))
    }

    /// Adds (or refreshes) a contact from their invite.
    pub fn add_contact(
        &mut self,
        now: Time,
        card: ContactCard,
        alias: Option<String>,
    ) -> Result<IdentityKey, EngineError> {
        card.check_fresh(now)?;
        if card.identity() == self.identity.key() {
            return Err(EngineError::OwnInvite);
        }
        if let Some(alias) = &alias {
            validate_name(alias)?;
        }
        let peer = card.identity();
        let contact = match self.contacts.get(&peer) {
            Some(existing) => {
                let mut c = existing.clone();
                if c.static_key() != card.static_key() {
                    c.key_changed = true;
                    c.verified = false;
                    self.after_commit
                        .push(AfterCommit::Event(Event::ContactKeyChanged { peer }));
                }
                c.card = card;
                c.origin = ContactOrigin::Invite;
                if alias.is_some() {
                    c.alias = alias;
                }
                c
            }
            None => {
                if self.contacts.len() >= self.config.max_contacts {
                    return Err(EngineError::TooManyContacts(self.config.max_contacts));
                }
                self.after_commit
                    .push(AfterCommit::Event(Event::ContactAdded {
                        peer,
                        origin: ContactOrigin::Invite,
                    }));
                Contact::new(card, alias, ContactOrigin::Invite, now)
            }
        };
        for hint in contact.card.hints() {
            if let Hint::Prekey(bundle) = hint
                && self
                    .prekeys
                    .on_invite_bundle(&peer, (**bundle).clone(), now)
            {
                self.persist_prekeys();
            }
        }
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(peer, contact);
        self.contacts_changed();
        // Accepted: what they offered while a request is fetched now.
        let up = self.session_peers();
        self.files.release(now, &peer, |p| up.contains(p));
        self.pump(now);
        Ok(peer)
    }

    /// Marks a contact verified (safety numbers compared) or not; verifying
    /// also acknowledges a key change.
    pub fn set_verified(&mut self, peer: &IdentityKey, verified: bool) -> Result<(), EngineError> {
        let contact = self
            .contacts
            .get_mut(peer)
            .ok_or_else(|| EngineError::UnknownContact(peer.short()))?;
        contact.verified = verified;
        if verified {
            contact.key_changed = false;
        }
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        Ok(())
    }

    /// A peer presented `card` in a session: refresh what we know of them.
    pub(super) fn on_card(&mut self, _now: Time, card: ContactCard) {
        let peer = card.identity();
        let Some(existing) = self.contacts.get(&peer) else {
            return;
        };
        let mut c = existing.clone();
        if c.static_key() != card.static_key() {
            c.key_changed = true;
            c.verified = false;
            self.outputs
                .push_back(Output::Event(Event::ContactKeyChanged { peer }));
        } else if card.created() <= c.card.created() || card == c.card {
            return;
        }
        let rekeyed = c.key_changed && c.static_key() != card.static_key();
        c.card = card;
        self.batch.push(StoreOp::PutContact(Box::new(c.clone())));
        self.contacts.insert(peer, c);
        if rekeyed {
            // Sessions and bundles were made with the old key.
            self.prekeys.forget(&peer);
            self.persist_prekeys();
            self.contacts_changed();
        }
    }

    /// Someone not in our contacts wrote: keep them as a contact request if
    /// there is room for one.
    pub(super) fn accept_request(&mut self, now: Time, peer: &IdentityKey) -> bool {
        match self.sessions.peer_card(peer).cloned() {
            Some(card) => self.add_request(now, card),
            None => false,
        }
    }

    /// Keeps someone who wrote first as a contact request, if there is room.
    pub(super) fn add_request(&mut self, now: Time, card: ContactCard) -> bool {
        let peer = card.identity();
        if self.contacts.contains_key(&peer) {
            return true;
        }
        let requests = self
            .contacts
            .values()
            .filter(|c| c.origin == ContactOrigin::Request)
            .count();
        if requests >= self.config.max_requests || self.contacts.len() >= self.config.max_contacts {
            return false;
        }
        let contact = Contact::new(card, None, ContactOrigin::Request, now);
        // What a stranger offers is kept, not fetched, until the user accepts.
        self.files.hold(peer);
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(peer, contact);
        self.contacts_changed();
        self.after_commit
            .push(AfterCommit::Event(Event::ContactAdded {
                peer,
                origin: ContactOrigin::Request,
            }));
        true
    }

    /// Whether `peer` may bring us a group we do not know: only someone the
    /// user added — a stranger who wrote once is a request, not a contact
    /// (THREAT_MODEL.md, "Attacks tried" 1). On a gateway every user is a
    /// request (they opt in by writing first) and bridging their groups is
    /// its job; the chunk bounds still hold there.
    pub(super) fn may_bring_groups(&self, peer: &IdentityKey) -> bool {
        self.added(peer)
            || self.is_sibling(peer)
            || (self.config.gateway && self.contacts.contains_key(peer))
    }

    /// Whether the user added `peer` (a request is not: it only wrote first).
    pub(super) fn added(&self, peer: &IdentityKey) -> bool {
        self.contacts
            .get(peer)
            .is_some_and(|c| c.origin == ContactOrigin::Invite)
    }

    /// The contacts changed (one came, or one's key did): the mesh's
    /// recipient tags follow.
    pub(super) fn contacts_changed(&mut self) {
        self.contacts_generation += 1;
        let keys = self
            .contacts
            .values()
            .filter_map(|c| Some((pair_key(&self.identity, &c.static_key())?, c.identity)))
            .collect();
        self.mesh.set_tag_keys(keys);
    }
}
