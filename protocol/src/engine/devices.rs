//! One person, several devices (docs/DEVICES.md): this profile's device
//! list, linking a new device with a one-time code, the lists contacts
//! announce, and which devices a message fans out to.
//!
//! Every device is a contact of the others' (its own keys, sessions and
//! ratchets); a [`ContactOrigin::Device`] contact names its account, and the
//! conversation is always with the account.

use std::time::Duration;

use rand_core::RngCore;
use subtle::ConstantTimeEq;
use tracing::{debug, warn};

use crate::contact::{Contact, ContactOrigin};
use crate::devices::{DeviceList, DeviceView, LinkCode, check_name};
use crate::group::NewDevice;
use crate::identity::IdentityKey;
use crate::invite::ContactCard;
use crate::message::{MessageRecord, OpKind};
use crate::payload::Payload;
use crate::store::{Store, StoreOp};
use crate::time::Time;
use crate::wire::{Reader, Writer};

use super::Engine;
use super::types::{AfterCommit, EngineError, Event, Joining, Output};

/// This profile's device list.
const OWN_LIST: &str = "devices/list";
/// Joining an account, until the holder answers.
const JOINING: &str = "devices/joining";
/// The newest list accepted from each contact account, by account id.
const VIEW_PREFIX: &str = "devices/view/";

impl<S: Store> Engine<S> {
    /// Reads this profile's list, a join under way and the contacts' lists
    /// from the settings (at start-up).
    pub(super) fn load_devices(&mut self) {
        if let Some(bytes) = self.settings.get(OWN_LIST) {
            match DeviceList::decode(bytes) {
                Ok(list) => self.devices.own = Some(list),
                Err(e) => warn!(error = %e, "the stored device list could not be read"),
            }
        }
        self.devices_to_announce();
        if let Some(bytes) = self.settings.get(JOINING) {
            self.devices.joining = decode_joining(bytes);
        }
        let stored: Vec<Vec<u8>> = self
            .settings
            .range(VIEW_PREFIX.to_owned()..)
            .take_while(|(k, _)| k.starts_with(VIEW_PREFIX))
            .map(|(_, v)| v.clone())
            .collect();
        for bytes in stored {
            let Ok(list) = DeviceList::decode(&bytes) else {
                continue;
            };
            let account = list.account();
            let Some(contact) = self.contacts.get(&account) else {
                continue;
            };
            let mut view = DeviceView::new(contact.card.binding());
            if view.accept(&list).is_ok() {
                self.devices.views.insert(account, view);
            }
        }
    }

    /// The account this device speaks for: the key contacts know.
    pub fn account_key(&self) -> IdentityKey {
        self.devices
            .own
            .as_ref()
            .map_or(self.identity.key(), DeviceList::account)
            .to_owned()
    }

    /// This account's device list, once a device was linked (`None`: this
    /// device is the account's only one).
    pub fn device_list(&self) -> Option<&DeviceList> {
        self.devices.own.as_ref()
    }

    /// Whether this device holds the account key (may link and revoke).
    pub fn is_account_holder(&self) -> bool {
        self.account_key() == self.identity.key()
    }

    /// Whether this device is waiting to finish joining an account.
    pub fn is_joining(&self) -> bool {
        self.devices.joining.is_some()
    }

    /// A one-time code to link a new device, valid for `valid_for` and for
    /// one use. A new code voids the last.
    pub fn link_offer(&mut self, now: Time, valid_for: Duration) -> Result<LinkCode, EngineError> {
        if !self.is_account_holder() || self.devices.joining.is_some() {
            return Err(EngineError::NotAccountHolder);
        }
        let mut secret = [0u8; 16];
        self.rng.fill_bytes(&mut secret);
        self.devices.offer = Some((secret, now + valid_for));
        let card = self.invite(now)?;
        Ok(LinkCode {
            account: self.identity.key(),
            secret,
            card,
        })
    }

    /// Starts joining the account of `code` as a new device called `name`:
    /// the holder is kept as a device of the account, and asked as soon as
    /// a session with it is up. Only a profile with no contacts joins.
    pub fn join_account(
        &mut self,
        now: Time,
        code: LinkCode,
        name: &str,
        mailbox: bool,
    ) -> Result<IdentityKey, EngineError> {
        check_name(name)?;
        if self.devices.own.is_some()
            || self
                .contacts
                .values()
                .any(|c| c.origin != ContactOrigin::Device)
        {
            return Err(EngineError::AlreadyLinked);
        }
        if code.card.identity() == self.identity.key() {
            return Err(EngineError::OwnInvite);
        }
        code.card.check_fresh(now)?;
        let holder = code.card.identity();
        let mut contact = Contact::new(code.card, None, ContactOrigin::Device, now);
        contact.account = Some(code.account);
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(holder, contact);
        self.contacts_changed();
        self.after_commit
            .push(AfterCommit::Event(Event::ContactAdded {
                peer: holder,
                origin: ContactOrigin::Device,
            }));
        let joining = Joining {
            holder,
            account: code.account,
            secret: code.secret,
            name: name.to_owned(),
            mailbox,
        };
        self.put_setting(JOINING, encode_joining(&joining));
        self.devices.joining = Some(joining);
        self.service_peer(now, &holder);
        self.pump(now);
        Ok(holder)
    }

    /// Revokes one of this account's devices for good: contacts stop
    /// sending to it once they hear the new list.
    pub fn revoke_device(&mut self, now: Time, device: &IdentityKey) -> Result<(), EngineError> {
        if !self.is_account_holder() {
            return Err(EngineError::NotAccountHolder);
        }
        let mut list = match self.devices.own.clone() {
            Some(list) => list,
            None => DeviceList::first(&self.identity, &self.config.name)?,
        };
        list.revoke(&self.identity, device)?;
        self.set_own_list(list);
        self.groups_revoke_device(now, device);
        self.announce_devices(now, None);
        self.pump(now);
        Ok(())
    }

    /// The conversation a peer's messages belong to: its account's.
    pub(super) fn conversation_of(&self, peer: &IdentityKey) -> IdentityKey {
        self.contacts.get(peer).map_or(*peer, Contact::conversation)
    }

    /// Whether `peer` speaks for the account it claims: not a device that
    /// was revoked (or never listed).
    pub(super) fn speaks_for(&self, peer: &IdentityKey) -> bool {
        let Some(account) = self.contacts.get(peer).and_then(|c| c.account) else {
            return true;
        };
        // Joining: the holder is all we know of our account yet.
        if self.joining_holder(peer) {
            return true;
        }
        if account == self.account_key() {
            return self
                .devices
                .own
                .as_ref()
                .is_some_and(|list| list.contains(peer));
        }
        self.devices
            .views
            .get(&account)
            .is_some_and(|v| v.is_device(peer))
    }

    /// Whether `peer` is another device of this profile's own account.
    pub(super) fn is_sibling(&self, peer: &IdentityKey) -> bool {
        peer != &self.identity.key()
            && self.conversation_of(peer) == self.account_key()
            && self.speaks_for(peer)
    }

    /// The devices a message in the conversation with `account` goes to.
    pub(super) fn destinations(&self, account: &IdentityKey) -> Vec<IdentityKey> {
        match self.devices.views.get(account) {
            None => vec![*account],
            Some(view) => view
                .devices()
                .map(|d| d.key())
                .filter(|k| self.contacts.contains_key(k))
                .collect(),
        }
    }

    /// Queues stored messages of the past (texts, oldest first) for
    /// `device`, a device of ours just linked; they go in sessions only.
    /// Returns how many were queued (the outbox bounds them).
    pub fn hand_history(
        &mut self,
        now: Time,
        device: &IdentityKey,
        records: Vec<MessageRecord>,
    ) -> usize {
        if !self.is_sibling(device) {
            return 0;
        }
        let mut queued = 0;
        for record in records {
            // Texts and the operations on them (applied again there, in
            // order); nothing of a deleted message, whose text is gone.
            let erased = record.changes.deleted
                || record.op.is_some_and(|o| {
                    o.kind == OpKind::Delete || (o.kind.is_change() && record.text.is_empty())
                });
            if record.file.is_some() || record.remote.is_some() || erased {
                continue;
            }
            if self.outbox.push_history(*device, record).is_err() {
                warn!(
                    queued,
                    "the outbox is full: the rest of the history stays behind"
                );
                break;
            }
            queued += 1;
        }
        self.service_peer(now, device);
        self.pump(now);
        queued
    }

    /// The devices that speak for `account` now, as far as this device
    /// knows (its own key alone until a list says more).
    pub fn devices_of(&self, account: &IdentityKey) -> Vec<IdentityKey> {
        if account == &self.account_key() {
            return match &self.devices.own {
                Some(list) => list.devices().iter().map(|d| d.key()).collect(),
                None => vec![*account],
            };
        }
        match self.devices.views.get(account) {
            Some(view) => view.devices().map(|d| d.key()).collect(),
            None => vec![*account],
        }
    }

    /// This account's other devices that are known contacts.
    pub(super) fn siblings(&self) -> Vec<IdentityKey> {
        let me = self.identity.key();
        self.devices
            .own
            .iter()
            .flat_map(|l| l.devices())
            .map(|d| d.key())
            .filter(|k| *k != me && self.contacts.contains_key(k))
            .collect()
    }

    /// Whether this device is its account's mailbox: run as one, or linked
    /// as one.
    pub fn is_mailbox(&self) -> bool {
        let me = self.identity.key();
        self.config.mailbox
            || self
                .devices
                .own
                .iter()
                .flat_map(|l| l.devices())
                .any(|d| d.key() == me && d.mailbox)
    }

    /// Whether a session with `peer` is wanted for linking.
    pub(super) fn joining_holder(&self, peer: &IdentityKey) -> bool {
        self.devices
            .joining
            .as_ref()
            .is_some_and(|j| &j.holder == peer)
    }

    /// A session with `peer` can carry payloads: ask to join if it is the
    /// holder we are linking to, and tell a contact our devices.
    pub(super) fn devices_session_up(&mut self, peer: &IdentityKey) {
        if let Some(j) = &self.devices.joining
            && &j.holder == peer
        {
            let request = Payload::LinkRequest {
                secret: j.secret,
                name: j.name.clone(),
                mailbox: j.mailbox,
            };
            self.send_payload(peer, &request);
            return;
        }
        let known = self
            .contacts
            .get(peer)
            .is_some_and(|c| c.origin != ContactOrigin::Request);
        if known {
            self.send_devices(peer);
        }
    }

    /// Sends `peer` this account's list and every listed device's card,
    /// when there is more to say than "one device".
    fn send_devices(&mut self, peer: &IdentityKey) {
        let Some(list) = self.devices.own.clone() else {
            return;
        };
        if list.devices().len() < 2 && list.revoked().is_empty() {
            return;
        }
        if !self.send_payload(peer, &Payload::Devices(Box::new(list.clone()))) {
            return;
        }
        self.devices.unannounced.remove(peer);
        let me = self.identity.key();
        let cards: Vec<ContactCard> = list
            .devices()
            .iter()
            .filter(|d| d.key() != me && &d.key() != peer)
            .filter_map(|d| self.contacts.get(&d.key()).map(|c| c.card.clone()))
            .collect();
        for card in cards {
            self.send_payload(peer, &Payload::Card(Box::new(card)));
        }
    }

    /// Tells every contact with a session up (but `except`) the new list,
    /// and starts sessions with those in reach that have none.
    fn announce_devices(&mut self, now: Time, except: Option<&IdentityKey>) {
        let peers: Vec<IdentityKey> = self
            .unannounced()
            .into_iter()
            .filter(|k| Some(k) != except)
            .collect();
        for peer in peers {
            if self.has_session(&peer) {
                self.send_devices(&peer);
            } else {
                self.service_peer(now, &peer);
            }
        }
    }

    /// Every contact is to hear this account's list, when it says more
    /// than "one device" (after start-up, linking, revoking).
    fn devices_to_announce(&mut self) {
        let multi = self
            .devices
            .own
            .as_ref()
            .is_some_and(|l| l.devices().len() > 1 || !l.revoked().is_empty());
        self.devices.unannounced = if multi {
            self.contacts
                .values()
                .filter(|c| c.origin != ContactOrigin::Request)
                .map(|c| c.identity)
                .collect()
        } else {
            Default::default()
        };
    }

    /// Whether `peer` is still to hear this account's list.
    pub(super) fn to_announce(&self, peer: &IdentityKey) -> bool {
        self.devices.unannounced.contains(peer)
    }

    /// Contacts still to hear this account's list.
    pub(super) fn unannounced(&self) -> Vec<IdentityKey> {
        self.devices.unannounced.iter().copied().collect()
    }

    fn set_own_list(&mut self, list: DeviceList) {
        self.put_setting(OWN_LIST, list.encode());
        self.devices.own = Some(list);
        self.devices_to_announce();
        self.contacts_changed();
        self.after_commit
            .push(AfterCommit::Event(Event::DevicesChanged));
    }

    /// A new device proved it read our link code (or did not).
    pub(super) fn on_link_request(
        &mut self,
        now: Time,
        peer: IdentityKey,
        secret: [u8; 16],
        name: String,
        mailbox: bool,
    ) {
        let Some((want, expires)) = self.devices.offer.take() else {
            debug!("a link request with no code handed out");
            return;
        };
        if now > expires {
            warn!("a link request came after its code expired");
            return;
        }
        if !bool::from(want.ct_eq(&secret)) {
            // One guess per code: the code is void now.
            warn!("a link request with the wrong secret; the code is void");
            return;
        }
        let Some(card) = self.sessions.peer_card(&peer).cloned() else {
            return;
        };
        if check_name(&name).is_err() || !self.is_account_holder() {
            return;
        }
        // Someone already a contact (or a device) of ours does not become
        // a device of this account: a new device comes with fresh keys.
        if self
            .contacts
            .get(&peer)
            .is_some_and(|c| c.origin != ContactOrigin::Request)
        {
            warn!("a contact asked to be linked as a device; refused");
            return;
        }
        let mut list = match self.devices.own.clone() {
            Some(list) => list,
            None => match DeviceList::first(&self.identity, &self.config.name) {
                Ok(list) => list,
                Err(e) => {
                    warn!(error = %e, "no device list could be made");
                    return;
                }
            },
        };
        if let Err(e) = list.add(&self.identity, card.binding().clone(), &name, mailbox) {
            warn!(error = %e, "the new device could not be added");
            return;
        }
        let device = NewDevice {
            identity: peer,
            name: name.clone(),
            static_key: card.binding().static_key,
        };
        let mut contact = Contact::new(card, None, ContactOrigin::Device, now);
        contact.account = Some(self.identity.key());
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(peer, contact);
        self.after_commit
            .push(AfterCommit::Event(Event::ContactAdded {
                peer,
                origin: ContactOrigin::Device,
            }));
        self.set_own_list(list.clone());
        self.after_commit
            .push(AfterCommit::Event(Event::DeviceLinked { device: peer }));
        // Hand the new device the list, its siblings and every contact.
        self.send_payload(&peer, &Payload::Devices(Box::new(list)));
        let handed: Vec<Payload> = self
            .contacts
            .values()
            .filter(|c| c.identity != peer && c.origin != ContactOrigin::Request)
            .map(|c| match c.origin {
                ContactOrigin::Device => Payload::Card(Box::new(c.card.clone())),
                _ => Payload::LinkContact(Box::new(c.clone())),
            })
            .collect();
        for payload in handed {
            self.send_payload(&peer, &payload);
        }
        self.announce_devices(now, Some(&peer));
        // Every group we are in lists it under us; it syncs them from here.
        self.groups_add_device(now, &device);
    }

    /// A device list arrived in a session with `peer`.
    pub(super) fn on_devices(&mut self, _now: Time, peer: IdentityKey, list: DeviceList) {
        let me = self.identity.key();
        if let Some(j) = self.devices.joining.clone()
            && j.holder == peer
        {
            if list.verify(&j.account).is_ok() && list.contains(&me) {
                self.devices.joining = None;
                self.delete_setting(JOINING);
                self.set_own_list(list);
            }
            return;
        }
        let account = self.conversation_of(&peer);
        if account == self.account_key() {
            if !self.speaks_for(&peer) {
                return;
            }
            match list.verify(&account) {
                Ok(())
                    if self
                        .devices
                        .own
                        .as_ref()
                        .is_none_or(|o| o.serial() < list.serial()) =>
                {
                    if !list.contains(&me) {
                        warn!("this device was revoked from its account");
                    }
                    self.set_own_list(list);
                }
                Ok(()) => {}
                Err(error) => self.refuse_list(account, error),
            }
            return;
        }
        let Some(contact) = self.contacts.get(&account) else {
            return;
        };
        if contact.origin == ContactOrigin::Request || !self.speaks_for(&peer) {
            return;
        }
        let binding = contact.card.binding().clone();
        let view = self
            .devices
            .views
            .entry(account)
            .or_insert_with(|| DeviceView::new(&binding));
        let newest = view.newest();
        match view.accept(&list) {
            Ok(changes) => {
                if list.serial() >= newest {
                    self.put_setting(&format!("{VIEW_PREFIX}{account}"), list.encode());
                }
                if !changes.revoked.is_empty() {
                    self.contacts_changed();
                }
            }
            Err(error) => self.refuse_list(account, error),
        }
    }

    fn refuse_list(&mut self, peer: IdentityKey, error: crate::devices::DeviceError) {
        warn!(peer = %peer.short(), error = %error, "a device list was refused");
        self.outputs
            .push_back(Output::Event(Event::DeviceListRefused { peer, error }));
    }

    /// A card from `peer` for another device of its account.
    pub(super) fn on_device_card(&mut self, now: Time, peer: IdentityKey, card: ContactCard) {
        let account = self.conversation_of(&peer);
        let key = card.identity();
        if key == self.identity.key() || !self.speaks_for(&peer) {
            return;
        }
        let listed = if account == self.account_key() {
            self.devices
                .own
                .iter()
                .flat_map(|l| l.devices())
                .find(|d| d.key() == key)
                .map(|d| d.binding.static_key)
        } else {
            self.devices
                .views
                .get(&account)
                .and_then(|v| v.device(&key))
                .map(|d| d.binding.static_key)
        };
        if listed != Some(card.static_key()) {
            debug!("a card for a device its account does not list");
            return;
        }
        let new = !self.contacts.contains_key(&key);
        let contact = match self.contacts.get(&key) {
            Some(c) if c.origin != ContactOrigin::Device => return,
            Some(c) if c.card.created() >= card.created() => return,
            Some(c) => {
                let mut c = c.clone();
                c.card = card;
                c
            }
            None if self.contacts.len() >= self.config.max_contacts => {
                warn!("contact limit reached: a device of a contact's is not kept");
                return;
            }
            None => {
                let mut c = Contact::new(card, None, ContactOrigin::Device, now);
                c.account = Some(account);
                c
            }
        };
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(key, contact);
        self.contacts_changed();
        if new {
            // The driver reaches it like any contact (over Tor: at the
            // onion address its card names).
            self.after_commit
                .push(AfterCommit::Event(Event::ContactAdded {
                    peer: key,
                    origin: ContactOrigin::Device,
                }));
        }
        // Messages already queued for the account go to the new device too.
        self.fan_out_pending(now, account, key);
    }

    /// A contact handed over by another device of ours at linking.
    pub(super) fn on_link_contact(&mut self, now: Time, peer: IdentityKey, contact: Contact) {
        if !self.is_sibling(&peer)
            || contact.origin == ContactOrigin::Device
            || contact.identity == self.identity.key()
            || self.contacts.contains_key(&contact.identity)
            || self.contacts.len() >= self.config.max_contacts
        {
            return;
        }
        let key = contact.identity;
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(key, contact);
        self.contacts_changed();
        self.after_commit
            .push(AfterCommit::Event(Event::ContactAdded {
                peer: key,
                origin: ContactOrigin::Invite,
            }));
        for hint in self.contacts[&key].card.hints().to_vec() {
            if let crate::invite::Hint::Prekey(bundle) = hint
                && self.prekeys.on_invite_bundle(&key, *bundle, now)
            {
                self.persist_prekeys();
            }
        }
    }
}

fn encode_joining(j: &Joining) -> Vec<u8> {
    let mut w = Writer::with_capacity(128);
    w.raw(j.holder.as_bytes())
        .raw(j.account.as_bytes())
        .raw(&j.secret)
        .short_bytes(j.name.as_bytes())
        .u8(u8::from(j.mailbox));
    w.into_vec()
}

fn decode_joining(bytes: &[u8]) -> Option<Joining> {
    let mut r = Reader::new(bytes);
    let j = Joining {
        holder: IdentityKey::decode(&mut r).ok()?,
        account: IdentityKey::decode(&mut r).ok()?,
        secret: r.array("link secret").ok()?,
        name: r
            .short_str(crate::devices::MAX_DEVICE_NAME, "device name")
            .ok()?
            .to_owned(),
        mailbox: r.u8("mailbox flag").ok()? == 1,
    };
    r.finish().ok()?;
    Some(j)
}
