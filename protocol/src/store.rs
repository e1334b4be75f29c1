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
use crate::message::{DeliveryState, Direction, MessageRecord};

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
    index: BTreeMap<(IdentityKey, MessageId), usize>,
    /// When set, the next commit fails (to test what the core does then).
    pub fail_next_commit: bool,
}

impl MemoryStore {
    pub fn history(&self, peer: &IdentityKey) -> Vec<&MessageRecord> {
        self.messages.iter().filter(|m| &m.peer == peer).collect()
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

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        if std::mem::take(&mut self.fail_next_commit) {
            return Err(StoreError::msg("injected failure"));
        }
        for op in &batch.ops {
            match op {
                StoreOp::PutContact(c) => {
                    self.contacts.insert(c.identity, (**c).clone());
                }
                StoreOp::PutMessage(m) => match self.index.get(&(m.peer, m.id)) {
                    Some(&i) => self.messages[i] = (**m).clone(),
                    None => {
                        self.index.insert((m.peer, m.id), self.messages.len());
                        self.messages.push((**m).clone());
                    }
                },
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
            }
        }
        Ok(())
    }
}
