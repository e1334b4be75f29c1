//! The narrow interface through which the core reaches durable storage.
//!
//! The core keeps its working state in memory and writes through a
//! [`WriteBatch`] that the driver commits in one transaction (group commit).
//! It reads at start-up, and while handling inputs in exactly two places,
//! both point lookups on the caller's thread:
//!
//! - [`Store::has_message`], once per incoming text that is neither staged
//!   nor in a commit in flight (deduplication: a resent message is
//!   acknowledged, not stored twice);
//! - [`Store::file_chunk`], at most [`crate::file::MAX_WINDOW`] per
//!   `FileWant` a peer sends (the chunks it asked for, read to be sent).
//!
//! Both are bounded by what a peer may ask in one frame. The node implements
//! [`Store`] on redb (`cairn-store`); [`MemoryStore`] serves unit tests of
//! the core.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::contact::Contact;
use crate::file::FileRecord;
use crate::group::GroupId;
use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::mesh::carried::EnvelopeId;
use crate::mesh::carrier::CarriedRecord;
use crate::message::{DeliveryState, Direction, MAX_OPS_PER_MESSAGE, MessageRecord, OpKind};
use crate::time::Time;

/// A storage failure, as the core sees it: it cannot tell disk-full from a
/// broken file, and does not need to.
#[derive(Debug, Error)]
#[error("storage failed: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    pub fn msg(message: impl Into<String>) -> Self {
        StoreError(message.into().into())
    }
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert or replace a contact.
    PutContact(Box<Contact>),
    /// Insert a message; a record with the same peer and id is replaced.
    PutMessage(Box<MessageRecord>),
    /// Move a stored message to a new state (never backwards).
    SetState {
        peer: IdentityKey,
        id: MessageId,
        state: DeliveryState,
    },
    /// Insert or replace an envelope the node carries.
    PutCarried(Box<CarriedRecord>),
    /// Forget a carried envelope.
    DeleteCarried(EnvelopeId),
    /// Erase every message of the conversation with `peer` stored before
    /// `before` (by this device's clock), with the operations on it and a
    /// file's content — except outgoing ones still to be sent (disappearing
    /// messages, [`crate::disappear`]).
    Expire {
        peer: IdentityKey,
        before: Time,
    },
    /// Insert or replace a group's metadata (flags, signatures, refusals).
    PutGroup {
        group: GroupId,
        meta: Vec<u8>,
    },
    /// Append to a group's document log (a snapshot or an increment).
    AppendGroupLog {
        group: GroupId,
        seq: u64,
        bytes: Vec<u8>,
    },
    /// Drop a group's log entries before `before` (a snapshot replaced them).
    CompactGroupLog {
        group: GroupId,
        before: u64,
    },
    /// Insert or replace a named value.
    PutSetting {
        key: String,
        value: Vec<u8>,
    },
    DeleteSetting {
        key: String,
    },
    /// Insert or replace where a file transfer stands.
    PutFile(Box<FileRecord>),
    /// Insert or replace a chunk of a file (sent or received), keyed by the
    /// conversation's peer, the file's message id and the chunk's index.
    PutFileChunk {
        peer: IdentityKey,
        id: MessageId,
        index: u32,
        data: Vec<u8>,
    },
    /// Insert or replace a chunk of a group's file, keyed by the group and
    /// the file's post key id (docs/GROUPS.md, "Files").
    PutGroupChunk {
        group: GroupId,
        file: [u8; 16],
        index: u32,
        data: Vec<u8>,
    },
    /// Erase every chunk of a group's file (its post was deleted or expired).
    EraseGroupFile {
        group: GroupId,
        file: [u8; 16],
    },
}

/// A store's message table as operations need it. Both stores put messages
/// through [`put_message`], so the rules for applying operations live in
/// one place.
pub trait MessageTable {
    fn get(
        &mut self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError>;
    /// Inserts or replaces the record (same peer and id).
    fn write(&mut self, record: &MessageRecord) -> Result<(), StoreError>;
    /// Inserts a record known not to be stored (`get` just said so).
    fn write_new(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        self.write(record)
    }
    /// The operations stored on `target` (applied or waiting for it).
    fn ops_on(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
    ) -> Result<Vec<MessageRecord>, StoreError>;
    /// The operations stored on `id` before it came (waiting for it). A
    /// store may keep these apart, so that a new message finds none cheaply.
    fn waiting_on(
        &mut self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.ops_on(peer, id)
    }
    /// Notes that the operation `op` names `target` (which is not stored
    /// yet when `waiting`).
    fn index_op(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
        op: &MessageId,
        waiting: bool,
    ) -> Result<(), StoreError>;
    /// `id` came: the operations waiting for it are now applied to it.
    fn arrived(&mut self, _peer: &IdentityKey, _id: &MessageId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets the operation `op` on `target` (refused, or superseded).
    fn remove_op(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
        op: &MessageId,
    ) -> Result<(), StoreError>;
    /// Forgets a file's content (its message was deleted).
    fn erase_file(&mut self, peer: &IdentityKey, id: &MessageId) -> Result<(), StoreError>;
    /// Every message of the conversation with `peer` (operations included).
    fn all_of(&mut self, peer: &IdentityKey) -> Result<Vec<MessageRecord>, StoreError>;
    /// Forgets a record whole (and, for an operation, that it names its target).
    fn remove(&mut self, record: &MessageRecord) -> Result<(), StoreError>;
}

/// Erases what [`StoreOp::Expire`] names: each message with the operations
/// on it and its file's content.
pub fn expire(
    t: &mut impl MessageTable,
    peer: &IdentityKey,
    before: Time,
) -> Result<(), StoreError> {
    for m in t.all_of(peer)? {
        let unsent = m.direction == Direction::Outgoing && m.state.is_pending();
        if m.local_at >= before || unsent {
            continue;
        }
        for op in t.ops_on(peer, &m.id)? {
            t.remove(&op)?;
        }
        if m.file.is_some() {
            t.erase_file(peer, &m.id)?;
        }
        t.remove(&m)?;
    }
    Ok(())
}

/// Stores `m`, applying operations:
///
/// - an operation changes its stored target, or waits for it (at most
///   [`MAX_OPS_PER_MESSAGE`] per target); one its target refuses is not kept;
/// - a message that arrives after operations on it has them applied, in the
///   order they were written, and the ones it refuses are forgotten;
/// - of one side's reactions to a message only the latest is kept (a flood
///   of reactions costs one record);
/// - a deletion erases the text of every operation on the message too, and
///   its file's content.
///
/// A record already stored is replaced as it is, without applying anything
/// again — if it is the same message (same direction, same operation);
/// anything else under a stored message's id is dropped.
pub fn put_message(t: &mut impl MessageTable, m: &MessageRecord) -> Result<(), StoreError> {
    if let Some(old) = t.get(&m.peer, &m.id)? {
        // Only the same message again (a restored backup): never an
        // operation, or the other side, taking an existing message's id.
        if old.op == m.op && old.direction == m.direction {
            t.write(m)?;
        }
        return Ok(());
    }
    let target_id = match m.op {
        Some(op) if op.kind.is_change() => op.target,
        _ => {
            let mut record = m.clone();
            let mut waiting = t.waiting_on(&m.peer, &m.id)?;
            waiting.sort_by_key(|op| (op.sent_at, op.id.0));
            for op in &waiting {
                if record.apply(op).is_err() {
                    t.remove_op(&op.peer, &m.id, &op.id)?;
                }
            }
            t.write_new(&record)?;
            if waiting.is_empty() {
                return Ok(());
            }
            t.arrived(&m.peer, &m.id)?;
            return settle(t, &record);
        }
    };
    let ops = t.ops_on(&m.peer, &target_id)?;
    let Some(mut target) = t.get(&m.peer, &target_id)? else {
        if ops.len() < MAX_OPS_PER_MESSAGE {
            t.write_new(m)?;
            t.index_op(&m.peer, &target_id, &m.id, true)?;
        }
        return Ok(());
    };
    if ops.len() >= MAX_OPS_PER_MESSAGE || target.apply(m).is_err() {
        return Ok(());
    }
    t.write(&target)?;
    t.write_new(m)?;
    t.index_op(&m.peer, &target_id, &m.id, false)?;
    settle(t, &target)
}

/// After operations were applied to `target`: superseded reactions are
/// forgotten, and if it was deleted, no operation on it keeps a text or is
/// still to be sent (the deletion follows them), and its file's content goes.
fn settle(t: &mut impl MessageTable, target: &MessageRecord) -> Result<(), StoreError> {
    let ops = t.ops_on(&target.peer, &target.id)?;
    if ops.is_empty() && !target.changes.deleted {
        return Ok(());
    }
    let latest = |by: Direction| {
        ops.iter()
            .filter(|o| o.direction == by && o.op.is_some_and(|o| o.kind == OpKind::React))
            .map(|o| (o.sent_at, o.id.0))
            .max()
    };
    let keep = [latest(Direction::Incoming), latest(Direction::Outgoing)];
    for mut op in ops {
        let is_react = op.op.is_some_and(|o| o.kind == OpKind::React);
        if is_react && !keep.contains(&Some((op.sent_at, op.id.0))) {
            t.remove_op(&op.peer, &target.id, &op.id)?;
        } else if target.changes.deleted && (!op.text.is_empty() || op.state.is_pending()) {
            op.text.clear();
            if op.state.is_pending() {
                op.state = DeliveryState::Delivered;
            }
            t.write(&op)?;
        }
    }
    if target.changes.deleted && target.file.is_some() {
        t.erase_file(&target.peer, &target.id)?;
    }
    Ok(())
}

/// A group as stored: its metadata and its document log in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub id: GroupId,
    pub meta: Vec<u8>,
    pub log: Vec<(u64, Vec<u8>)>,
}

/// Writes that become durable together or not at all.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub ops: Vec<StoreOp>,
}

impl WriteBatch {
    pub fn push(&mut self, op: StoreOp) {
        self.ops.push(op);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

pub trait Store {
    /// Every contact.
    fn contacts(&self) -> Result<Vec<Contact>, StoreError>;
    /// Outgoing messages not yet delivered, oldest first.
    fn pending_outgoing(&self) -> Result<Vec<MessageRecord>, StoreError>;
    /// Whether a message from/to `peer` with this id is stored.
    fn has_message(&self, peer: &IdentityKey, id: &MessageId) -> Result<bool, StoreError>;
    /// Every envelope the node carries (its own and others').
    fn carried(&self) -> Result<Vec<CarriedRecord>, StoreError>;
    /// Every group with its log.
    fn groups(&self) -> Result<Vec<StoredGroup>, StoreError>;
    /// Every named value.
    fn settings(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Every file transfer, finished or not.
    fn files(&self) -> Result<Vec<FileRecord>, StoreError>;
    /// One chunk of a file, if stored.
    fn file_chunk(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// One chunk of a group's file, if stored.
    fn group_chunk(
        &self,
        group: &GroupId,
        file: &[u8; 16],
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Makes every op in `batch` durable, atomically.
    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;
}

/// A group in [`MemoryStore`]: metadata, and the log by sequence number.
pub type MemoryGroup = (Vec<u8>, BTreeMap<u64, Vec<u8>>);

/// A store in plain memory, for tests of the core.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    pub contacts: BTreeMap<IdentityKey, Contact>,
    pub messages: Vec<MessageRecord>,
    pub carried: BTreeMap<EnvelopeId, CarriedRecord>,
    /// Per group: its metadata and its log by sequence number.
    pub groups: BTreeMap<GroupId, MemoryGroup>,
    pub settings: BTreeMap<String, Vec<u8>>,
    pub files: BTreeMap<(IdentityKey, MessageId), FileRecord>,
    pub chunks: BTreeMap<(IdentityKey, MessageId, u32), Vec<u8>>,
    pub group_chunks: BTreeMap<(GroupId, [u8; 16], u32), Vec<u8>>,
    index: BTreeMap<(IdentityKey, MessageId), usize>,
    /// When set, the next commit fails (to test what the core does then).
    pub fail_next_commit: bool,
}

impl MemoryStore {
    pub fn history(&self, peer: &IdentityKey) -> Vec<&MessageRecord> {
        self.messages.iter().filter(|m| &m.peer == peer).collect()
    }
}

impl MessageTable for MemoryStore {
    fn get(
        &mut self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Ok(self
            .index
            .get(&(*peer, *id))
            .map(|&i| self.messages[i].clone()))
    }

    fn write(&mut self, m: &MessageRecord) -> Result<(), StoreError> {
        match self.index.get(&(m.peer, m.id)) {
            Some(&i) => {
                let state = self.messages[i].state.max(m.state);
                self.messages[i] = m.clone();
                self.messages[i].state = state;
            }
            None => {
                self.index.insert((m.peer, m.id), self.messages.len());
                self.messages.push(m.clone());
            }
        }
        Ok(())
    }

    fn remove_op(
        &mut self,
        peer: &IdentityKey,
        _: &MessageId,
        id: &MessageId,
    ) -> Result<(), StoreError> {
        if let Some(i) = self.index.remove(&(*peer, *id)) {
            self.messages.remove(i);
            for j in self.index.values_mut() {
                if *j > i {
                    *j -= 1;
                }
            }
        }
        Ok(())
    }

    fn ops_on(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| {
                &m.peer == peer
                    && m.op
                        .is_some_and(|op| op.kind.is_change() && &op.target == target)
            })
            .cloned()
            .collect())
    }

    fn index_op(
        &mut self,
        _: &IdentityKey,
        _: &MessageId,
        _: &MessageId,
        _: bool,
    ) -> Result<(), StoreError> {
        // `ops_on` scans: a store for tests needs no index.
        Ok(())
    }

    fn erase_file(&mut self, peer: &IdentityKey, id: &MessageId) -> Result<(), StoreError> {
        self.files.remove(&(*peer, *id));
        self.chunks.retain(|(p, i, _), _| !(p == peer && i == id));
        Ok(())
    }

    fn all_of(&mut self, peer: &IdentityKey) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self.history(peer).into_iter().cloned().collect())
    }

    fn remove(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        self.remove_op(&record.peer, &record.id, &record.id)
    }
}

impl Store for MemoryStore {
    fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        Ok(self.contacts.values().cloned().collect())
    }

    fn pending_outgoing(&self) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| m.direction == Direction::Outgoing && m.state.is_pending())
            .cloned()
            .collect())
    }

    fn has_message(&self, peer: &IdentityKey, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.index.contains_key(&(*peer, *id)))
    }

    fn carried(&self) -> Result<Vec<CarriedRecord>, StoreError> {
        Ok(self.carried.values().cloned().collect())
    }

    fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        Ok(self
            .groups
            .iter()
            .map(|(id, (meta, log))| StoredGroup {
                id: *id,
                meta: meta.clone(),
                log: log.iter().map(|(s, b)| (*s, b.clone())).collect(),
            })
            .collect())
    }

    fn settings(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        Ok(self.files.values().cloned().collect())
    }

    fn file_chunk(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.chunks.get(&(*peer, *id, index)).cloned())
    }

    fn group_chunk(
        &self,
        group: &GroupId,
        file: &[u8; 16],
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.group_chunks.get(&(*group, *file, index)).cloned())
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        if std::mem::take(&mut self.fail_next_commit) {
            return Err(StoreError::msg("injected failure"));
        }
        for op in &batch.ops {
            match op {
                StoreOp::PutContact(c) => {
                    self.contacts.insert(c.identity, (**c).clone());
                }
                StoreOp::PutMessage(m) => put_message(self, m)?,
                StoreOp::SetState { peer, id, state } => {
                    if let Some(&i) = self.index.get(&(*peer, *id)) {
                        let m = &mut self.messages[i];
                        m.state = m.state.max(*state);
                    }
                }
                StoreOp::PutCarried(c) => {
                    self.carried.insert(c.env.id, (**c).clone());
                }
                StoreOp::DeleteCarried(id) => {
                    self.carried.remove(id);
                }
                StoreOp::Expire { peer, before } => expire(self, peer, *before)?,
                StoreOp::PutGroup { group, meta } => {
                    self.groups.entry(*group).or_default().0 = meta.clone();
                }
                StoreOp::AppendGroupLog { group, seq, bytes } => {
                    self.groups
                        .entry(*group)
                        .or_default()
                        .1
                        .insert(*seq, bytes.clone());
                }
                StoreOp::CompactGroupLog { group, before } => {
                    if let Some((_, log)) = self.groups.get_mut(group) {
                        log.retain(|s, _| s >= before);
                    }
                }
                StoreOp::PutSetting { key, value } => {
                    self.settings.insert(key.clone(), value.clone());
                }
                StoreOp::DeleteSetting { key } => {
                    self.settings.remove(key);
                }
                StoreOp::PutFile(f) => {
                    self.files.insert((f.peer, f.id), (**f).clone());
                }
                StoreOp::PutFileChunk {
                    peer,
                    id,
                    index,
                    data,
                } => {
                    self.chunks.insert((*peer, *id, *index), data.clone());
                }
                StoreOp::PutGroupChunk {
                    group,
                    file,
                    index,
                    data,
                } => {
                    self.group_chunks
                        .insert((*group, *file, *index), data.clone());
                }
                StoreOp::EraseGroupFile { group, file } => {
                    self.group_chunks
                        .retain(|(g, f, _), _| (g, f) != (group, file));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::{op, text};
    use crate::message::{Direction::Incoming, Direction::Outgoing, OpKind};

    fn put(store: &mut MemoryStore, records: &[MessageRecord]) {
        let mut batch = WriteBatch::default();
        for r in records {
            batch.push(StoreOp::PutMessage(Box::new(r.clone())));
        }
        store.commit(&batch).unwrap();
    }

    fn get(store: &mut MemoryStore, id: u8) -> Option<MessageRecord> {
        let peer = text(Incoming, 0, 0, "").peer;
        MessageTable::get(store, &peer, &MessageId([id; 16])).unwrap()
    }

    #[test]
    fn an_operation_before_its_message_waits_and_applies_when_it_comes() {
        let mut store = MemoryStore::default();
        put(
            &mut store,
            &[
                op(Incoming, 3, 30, OpKind::Edit, 1, "fixed"),
                op(Incoming, 2, 20, OpKind::React, 1, "🙂"),
                // Bob's edit of his own message, but the target turns out
                // to be ours: refused when it comes, and forgotten.
                op(Incoming, 4, 40, OpKind::Edit, 5, "forged"),
            ],
        );
        assert_eq!(get(&mut store, 1), None);
        put(&mut store, &[text(Incoming, 1, 10, "typo")]);
        let m = get(&mut store, 1).unwrap();
        assert_eq!(m.text, "fixed");
        assert_eq!(
            m.changes.shown_reactions().collect::<Vec<_>>(),
            vec![(Incoming, "🙂")]
        );
        put(&mut store, &[text(Outgoing, 5, 10, "mine")]);
        assert_eq!(get(&mut store, 5).unwrap().text, "mine");
        assert_eq!(get(&mut store, 4), None, "the refused edit is not kept");
    }

    #[test]
    fn a_flood_of_reactions_keeps_one_record_per_side() {
        let mut store = MemoryStore::default();
        put(&mut store, &[text(Outgoing, 1, 10, "hello")]);
        let emoji = ["👍", "😂", "🔥", "😮"];
        let flood: Vec<_> = (0..200u64)
            .map(|i| {
                let mut r = op(
                    Incoming,
                    0,
                    100 + i,
                    OpKind::React,
                    1,
                    emoji[i as usize % 4],
                );
                r.id = MessageId((1000 + i as u128).to_be_bytes());
                r
            })
            .collect();
        for chunk in flood.chunks(7) {
            put(&mut store, chunk);
        }
        let m = get(&mut store, 1).unwrap();
        assert_eq!(
            m.changes.shown_reactions().collect::<Vec<_>>(),
            vec![(Incoming, emoji[199 % 4])]
        );
        // The message and one reaction: nothing else of the flood is kept.
        assert_eq!(store.messages.len(), 2);
    }

    #[test]
    fn operations_waiting_for_a_message_are_bounded() {
        let mut store = MemoryStore::default();
        let waiting: Vec<_> = (0..(MAX_OPS_PER_MESSAGE as u64 + 50))
            .map(|i| {
                let mut r = op(Incoming, 0, 100 + i, OpKind::Edit, 1, "x");
                r.id = MessageId((1000 + i as u128).to_be_bytes());
                r
            })
            .collect();
        put(&mut store, &waiting);
        assert_eq!(store.messages.len(), MAX_OPS_PER_MESSAGE);
    }

    #[test]
    fn deleting_erases_every_trace_of_the_text() {
        let mut store = MemoryStore::default();
        let peer = text(Incoming, 0, 0, "").peer;
        let mut file = text(Outgoing, 7, 5, "plan.pdf");
        file.file = Some(crate::file::FileMeta::of("plan.pdf", "", b"the plan").unwrap());
        put(
            &mut store,
            &[text(Outgoing, 1, 10, "meet at the bridge"), file],
        );
        store
            .commit(&WriteBatch {
                ops: vec![StoreOp::PutFileChunk {
                    peer,
                    id: MessageId([7; 16]),
                    index: 0,
                    data: b"the plan".to_vec(),
                }],
            })
            .unwrap();
        let mut edit = op(Outgoing, 2, 20, OpKind::Edit, 1, "meet at the station");
        edit.state = DeliveryState::Queued;
        put(
            &mut store,
            &[
                edit,
                op(Incoming, 3, 21, OpKind::React, 1, "👍"),
                op(Incoming, 4, 22, OpKind::Reply, 1, "ok, the station"),
                op(Outgoing, 5, 30, OpKind::Delete, 1, ""),
                op(Outgoing, 6, 31, OpKind::Delete, 7, ""),
            ],
        );
        let m = get(&mut store, 1).unwrap();
        assert!(m.changes.deleted && m.text.is_empty());
        for r in &store.messages {
            let bytes = r.encode();
            let all = String::from_utf8_lossy(&bytes);
            assert!(!all.contains("bridge") && !all.contains("meet at"), "{r:?}");
        }
        // The edit that had not gone out yet is no longer to be sent.
        assert!(
            store
                .pending_outgoing()
                .unwrap()
                .iter()
                .all(|r| r.id != MessageId([2; 16]))
        );
        // The reply is a message of its own and stays.
        assert_eq!(get(&mut store, 4).unwrap().text, "ok, the station");
        // The deleted file's content is gone.
        assert!(store.chunks.is_empty() && store.files.is_empty());
        assert!(get(&mut store, 7).unwrap().text.is_empty());
    }

    #[test]
    fn expiry_erases_old_messages_their_operations_and_files_but_not_what_is_unsent() {
        let mut store = MemoryStore::default();
        let peer = text(Incoming, 0, 0, "").peer;
        let mut file = text(Incoming, 7, 5, "old.pdf");
        file.file = Some(crate::file::FileMeta::of("old.pdf", "", b"old").unwrap());
        let mut unsent = text(Outgoing, 3, 5, "still going");
        unsent.state = DeliveryState::Queued;
        let mut late_edit = op(Incoming, 4, 50, OpKind::Edit, 1, "old news, edited");
        late_edit.local_at = Time::from_millis(50);
        put(
            &mut store,
            &[
                text(Incoming, 1, 10, "old news"),
                file,
                unsent,
                late_edit,
                text(Incoming, 2, 100, "fresh"),
            ],
        );
        store
            .commit(&WriteBatch {
                ops: vec![
                    StoreOp::PutFileChunk {
                        peer,
                        id: MessageId([7; 16]),
                        index: 0,
                        data: b"old".to_vec(),
                    },
                    StoreOp::Expire {
                        peer,
                        before: Time::from_millis(60),
                    },
                ],
            })
            .unwrap();
        let left: Vec<&str> = store.messages.iter().map(|m| m.text.as_str()).collect();
        // The edit made later goes with its message.
        assert_eq!(left, vec!["still going", "fresh"]);
        assert!(store.chunks.is_empty() && store.files.is_empty());
    }

    /// Found by the `message_ops` fuzz target: an operation (or the other
    /// side's message) under the id of a stored message must not replace it
    /// — the replacing record dodged the rules (an edit of a deleted
    /// message kept its text).
    #[test]
    fn a_record_reusing_a_stored_message_s_id_is_dropped() {
        let mut store = MemoryStore::default();
        put(&mut store, &[text(Incoming, 1, 10, "mine to keep")]);
        put(
            &mut store,
            &[
                op(Incoming, 1, 20, OpKind::Edit, 2, "in disguise"),
                text(Outgoing, 1, 30, "the other side"),
            ],
        );
        let m = get(&mut store, 1).unwrap();
        assert_eq!(
            (m.text.as_str(), m.op, m.direction),
            ("mine to keep", None, Incoming)
        );
        // The same message again (a restore) still replaces it.
        put(&mut store, &[text(Incoming, 1, 10, "mine to keep")]);
        assert_eq!(store.messages.len(), 1);
    }
}
