//! Groups: the user's group commands, and what the groups sub-machine asks for.

use std::collections::BTreeSet;

use rand_core::RngCore;
use tracing::warn;

use crate::file::FileMeta;
use crate::group::groups::{Group, GroupOp, GroupOutput};
use crate::group::{Entry, GroupId, NewDevice, NewMember, Role};
use crate::identity::IdentityKey;
use crate::payload::{MessageId, Payload};
use crate::store::{Store, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, EngineError, Event, check_text};

impl<S: Store> Engine<S> {
    /// Groups we are in (or were: left groups stay readable).
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    pub fn group(&self, id: &GroupId) -> Option<&Group> {
        self.groups.get(id)
    }

    /// A group's name and its whole document, as stock automerge loads it.
    pub fn group_export(&mut self, id: &GroupId) -> Option<(String, Vec<u8>)> {
        let g = self.groups.get_mut(id)?;
        Some((g.name(), g.doc.save()))
    }

    /// Finds a group by id (or a unique prefix of it) or by its exact name.
    pub fn resolve_group(&self, query: &str) -> Result<GroupId, EngineError> {
        let q = query.trim();
        let lower = q.to_ascii_lowercase();
        let hits: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| g.name() == q || (lower.len() >= 4 && g.id.to_string().starts_with(&lower)))
            .collect();
        match hits.as_slice() {
            [g] => Ok(g.id),
            [] => Err(EngineError::UnknownGroup(q.to_owned())),
            many => Err(EngineError::AmbiguousGroup {
                query: q.to_owned(),
                candidates: many
                    .iter()
                    .map(|g| format!("{} ({})", g.name(), &g.id.to_string()[..8]))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Us, as a group lists us: our account, with its other devices.
    pub(super) fn me_as_member(&self) -> NewMember {
        let account = self.account_key();
        let list = self.devices.own.as_ref();
        let static_key = list
            .and_then(|l| l.devices().iter().find(|d| d.key() == account))
            .map_or(self.identity.static_key(), |d| d.binding.static_key);
        NewMember {
            identity: account,
            name: self.config.name.clone(),
            static_key,
            devices: list
                .map(|l| l.devices().iter().filter(|d| d.key() != account))
                .into_iter()
                .flatten()
                .map(|d| NewDevice {
                    identity: d.key(),
                    name: d.name.clone(),
                    static_key: d.binding.static_key,
                })
                .collect(),
        }
    }

    /// Lists a device just linked to our account in every group we are in.
    pub(super) fn groups_add_device(&mut self, now: Time, device: &NewDevice) {
        for id in self.groups.active() {
            if let Err(e) = self.groups.add_device(&self.identity, &id, device, now) {
                warn!(group = %id, error = %e, "a new device not listed in a group");
            }
        }
    }

    /// Revokes one of our devices in every group that lists it.
    pub(super) fn groups_revoke_device(&mut self, now: Time, device: &IdentityKey) {
        for id in self.groups.active() {
            let listed = self
                .groups
                .get(&id)
                .is_some_and(|g| matches!(g.doc.entry(device), Some(Entry::Device(_))));
            if !listed {
                continue;
            }
            if let Err(e) = self.groups.revoke_device(&self.identity, &id, device, now) {
                warn!(group = %id, error = %e, "a revoked device is still listed in a group");
            }
        }
    }

    /// Creates a group with us as its admin.
    pub fn group_create(&mut self, now: Time, name: &str) -> Result<GroupId, EngineError> {
        let me = self.me_as_member();
        let id = self.groups.create(&self.identity, me, name.trim(), now)?;
        self.pump(now);
        Ok(id)
    }

    /// Adds a contact to a group (admins only).
    pub fn group_add(
        &mut self,
        now: Time,
        group: &GroupId,
        peer: &IdentityKey,
    ) -> Result<(), EngineError> {
        // A person, with every device of theirs we know.
        let account = self.conversation_of(peer);
        let contact = self
            .contacts
            .get(&account)
            .ok_or_else(|| EngineError::UnknownContact(peer.short()))?;
        let devices = self
            .devices
            .views
            .get(&account)
            .map(|view| {
                view.devices()
                    .filter(|d| d.key() != account)
                    .map(|d| NewDevice {
                        identity: d.key(),
                        name: d.name.clone(),
                        static_key: d.binding.static_key,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let who = NewMember {
            identity: account,
            name: contact.card.name().to_owned(),
            static_key: contact.static_key(),
            devices,
        };
        self.groups
            .add(&self.identity, group, who, Role::Member, now)?;
        self.pump(now);
        Ok(())
    }

    /// Makes a member an admin or a plain member (admins only).
    pub fn group_set_role(
        &mut self,
        now: Time,
        group: &GroupId,
        peer: &IdentityKey,
        role: Role,
    ) -> Result<(), EngineError> {
        self.groups
            .set_role(&self.identity, group, peer, role, now)?;
        self.pump(now);
        Ok(())
    }

    /// Removes a member (admins only); a new epoch starts.
    pub fn group_remove(
        &mut self,
        now: Time,
        group: &GroupId,
        peer: &IdentityKey,
    ) -> Result<(), EngineError> {
        self.groups.remove(&self.identity, group, peer, now)?;
        self.pump(now);
        Ok(())
    }

    pub fn group_leave(&mut self, now: Time, group: &GroupId) -> Result<(), EngineError> {
        self.groups.leave(&self.identity, group, now)?;
        self.pump(now);
        Ok(())
    }

    /// Posts a text to a group. Durable at the next flush, sent after it.
    pub fn group_send(
        &mut self,
        now: Time,
        group: &GroupId,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        check_text(text)?;
        let id = self.group_message_id(now);
        self.groups.post(&self.identity, group, id, text, now)?;
        self.pump(now);
        Ok(id)
    }

    /// Posts a file (a voice note, say) to a group: the post says what it
    /// is; members fetch the content from whoever holds it (docs/GROUPS.md,
    /// "Files"). Durable at the next flush, sent after it.
    pub fn group_send_file(
        &mut self,
        now: Time,
        group: &GroupId,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        let meta = FileMeta::of(name, mime, data)?;
        let id = self.group_message_id(now);
        let file = self
            .groups
            .post_file(&self.identity, group, id, meta, now)?;
        for (index, chunk) in data.chunks(crate::file::CHUNK_LEN).enumerate() {
            self.batch.push(StoreOp::PutGroupChunk {
                group: *group,
                file,
                index: index as u32,
                data: chunk.to_vec(),
            });
        }
        self.pump(now);
        Ok(id)
    }

    /// A group file's whole content, once held (sent, or fetched and checked).
    pub fn group_file_data(
        &self,
        group: &GroupId,
        msg: &MessageId,
    ) -> Result<Option<(FileMeta, Vec<u8>)>, EngineError> {
        let Some((file, meta, true)) = self.groups.get(group).and_then(|g| g.file_of(msg)) else {
            return Ok(None);
        };
        let mut data = Vec::with_capacity(meta.size as usize);
        for index in 0..meta.chunks() {
            match self.store.group_chunk(group, &file, index)? {
                Some(chunk) => data.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
        Ok((data.len() as u64 == meta.size).then_some((meta, data)))
    }

    /// Replies to, reacts to, edits or deletes a group message, or sets the
    /// group's disappearing-message timer. Returns the id of what was
    /// written (a reply's own id).
    pub fn group_operate(
        &mut self,
        now: Time,
        group: &GroupId,
        op: GroupOp,
    ) -> Result<MessageId, EngineError> {
        if let GroupOp::Reply { text, .. } | GroupOp::Edit { text, .. } = &op {
            check_text(text)?;
        }
        let fresh = self.group_message_id(now);
        let id = self.groups.operate(&self.identity, group, op, fresh, now)?;
        self.pump(now);
        Ok(id)
    }

    /// A fresh id for a group message: our clock, then 8 random bytes.
    pub(super) fn group_message_id(&mut self, now: Time) -> MessageId {
        let mut random = [0u8; 8];
        self.rng.fill_bytes(&mut random);
        crate::group::message_id(now, random)
    }

    /// Posts, as a bridge, a text `name` wrote on another network (members
    /// see it as `name`'s, via us).
    pub fn group_send_bridged(
        &mut self,
        now: Time,
        group: &GroupId,
        name: &str,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        check_text(text)?;
        let result = self.group_post_bridged(now, group, crate::group::BRIDGED_PREFIX, name, text);
        self.pump(now);
        result
    }

    /// Posts, as a bridge, the notice that the group is reachable at
    /// `address` from another network.
    pub fn group_bridge_notice(
        &mut self,
        now: Time,
        group: &GroupId,
        address: &str,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        check_text(text)?;
        let result = self.group_post_bridged(
            now,
            group,
            crate::group::BRIDGE_NOTICE_PREFIX,
            address,
            text,
        );
        self.pump(now);
        result
    }

    pub(super) fn group_post_bridged(
        &mut self,
        now: Time,
        group: &GroupId,
        prefix: &str,
        name: &str,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        let id = self.group_message_id(now);
        let value = crate::group::bridged_text(prefix, name, text);
        self.groups
            .post_bridged(&self.identity, group, id, &value, now)?;
        Ok(id)
    }

    /// Carries out one thing the groups asked for. Returns whether it
    /// stored or changed a group (sessions may then be worth starting).
    pub(super) fn on_group_output(&mut self, now: Time, out: GroupOutput) -> bool {
        match out {
            GroupOutput::Send { peer, fragment } => {
                if !self.send_payload(&peer, &Payload::Group(Box::new(fragment))) {
                    self.groups.peer_down(&peer);
                }
                false
            }
            GroupOutput::Mesh { peer, fragment } => {
                self.mesh_send(now, &peer, &Payload::Group(Box::new(fragment)), None);
                false
            }
            GroupOutput::Serve {
                peer,
                group,
                file,
                from,
                count,
            } => {
                self.after_commit.push(AfterCommit::ServeGroupFile {
                    peer,
                    group,
                    file,
                    from,
                    count,
                });
                false
            }
            GroupOutput::Store(op) => {
                self.batch.push(op);
                // Once per batch: if it fails, the groups must save again.
                if !std::mem::replace(&mut self.groups_in_batch, true) {
                    self.after_commit.push(AfterCommit::GroupsSaved);
                }
                true
            }
            GroupOutput::Changed(group) => {
                self.after_commit
                    .push(AfterCommit::Event(Event::GroupChanged { group }));
                // A member revoked a device of its own: if we are an admin
                // and no admin has yet, we start the new epoch.
                self.groups.rotate_if_owed(&self.identity, &group, now);
                true
            }
        }
    }

    /// Sends chunks [from, from + count) of a group file we hold to `peer`
    /// (a member asked; docs/GROUPS.md, "Files").
    pub(super) fn serve_group_file(
        &mut self,
        peer: IdentityKey,
        group: GroupId,
        file: [u8; 16],
        from: u32,
        count: u32,
    ) {
        for index in from..from.saturating_add(count) {
            let data = match self.store.group_chunk(&group, &file, index) {
                Ok(Some(data)) => data,
                Ok(None) => {
                    warn!(group = %group, index, "a group file's chunk is not stored");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "could not read a group file's chunk");
                    break;
                }
            };
            let fragment = self.groups.file_chunk(group, file, index, data);
            // A full session queue: the rest is asked for again.
            if !self.send_payload(&peer, &Payload::Group(Box::new(fragment))) {
                break;
            }
        }
    }

    /// Starts sessions with linked peers we now share a group with (a group
    /// made or joined while the link was already up).
    pub(super) fn group_sessions(&mut self, now: Time) {
        let peers: BTreeSet<IdentityKey> = self.links.values().map(|l| l.info.peer).collect();
        for peer in peers {
            if self.sessions.current(&peer).is_none() && self.groups.wants_session(&peer) {
                self.service_peer(now, &peer);
            }
        }
    }
}
