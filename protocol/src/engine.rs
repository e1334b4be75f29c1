//! The protocol core of one node: contacts, sessions, outbox and links, driven
//! by inputs and drained for outputs.
//!
//! The driver (the node's runtime, a test, the simulator) follows one loop:
//! feed one input (`link_up`, `link_down`, `handle_frame`, a user command,
//! `handle_timeout`), call [`Engine::flush`] to commit staged writes in one
//! batch, then drain [`Engine::poll_output`] and sleep until
//! [`Engine::poll_timeout`]. Feeding several inputs before one `flush` is
//! group commit. A driver that wants the disk and the CPU busy at once takes
//! the batch with [`Engine::begin_commit`], commits it elsewhere while it goes
//! on feeding inputs, and reports back with [`Engine::end_commit`].
//!
//! Invariants:
//! - A message is sent only after the write that queued it is committed, and a
//!   receipt only after the write that stored the received message is
//!   committed: nothing acknowledged is ever lost.
//! - A peer that sends something undecodable, wrongly keyed or replayed has the
//!   link it came on closed; nothing it sends can make the engine panic or grow
//!   without bound.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use thiserror::Error;
use tracing::{debug, warn};

use crate::bridge::{BridgeSignal, validate_remote};
use crate::contact::{Contact, ContactOrigin};
use crate::envelope::Envelope;
use crate::file::{
    FileError, FileMeta, FileOutput, FileRecord, MAX_INLINE, TransferState, Transfers,
};
use crate::frame::Frame;
use crate::group::groups::{Group, GroupOutput, Groups};
use crate::group::{GroupError, GroupId, NewMember, Role};
use crate::identity::{Identity, IdentityKey};
use crate::invite::{ContactCard, DEFAULT_VALIDITY, Hint, InviteError, validate_name};
use crate::mesh::carrier::{CarriedRecord, Held, Origin};
use crate::mesh::envelope::{Carried, EnvelopeId, ack_hash};
use crate::mesh::tag::{epoch_of, tag};
use crate::mesh::{Mesh, MeshConfig, MeshEvent, MeshFrame, MeshStats, Recognised};
use crate::message::{DeliveryState, Direction, MessageRecord};
use crate::outbox::{Backoff, Outbox};
use crate::payload::{MAX_RECEIPT_IDS, MAX_TEXT_LEN, MessageId, Payload, ReceiptKind};
use crate::session::SessionError;
use crate::session_table::{Outcome, SessionLimits, SessionTable, TableError};
use crate::store::{Store, StoreError, StoreOp, WriteBatch};
use crate::time::Time;

pub use crate::link::{CloseReason, LinkId, LinkInfo, MIN_LINK_MTU, Medium};

/// Something for the user interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message arrived and is stored. Carries message text: never log it.
    MessageReceived(MessageRecord),
    /// An outgoing message changed state.
    MessageState {
        peer: IdentityKey,
        id: MessageId,
        state: DeliveryState,
    },
    ContactAdded {
        peer: IdentityKey,
        origin: ContactOrigin,
    },
    /// A contact now presents a different static key. Show this loudly.
    ContactKeyChanged {
        peer: IdentityKey,
    },
    SessionUp {
        peer: IdentityKey,
    },
    LinkClosed {
        link: LinkId,
        reason: CloseReason,
    },
    /// A group's document changed (new messages, members, or we joined).
    GroupChanged {
        group: GroupId,
    },
    /// A contact said something about a bridged network (see
    /// [`crate::bridge`]). May carry a status text: do not log it.
    Bridge {
        peer: IdentityKey,
        signal: BridgeSignal,
    },
    /// A file transfer moved on (chunks arrived, or the receiver said how
    /// far it got); the record says where it stands.
    FileProgress(FileRecord),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Transmit { link: LinkId, frame: Vec<u8> },
    Close { link: LinkId, reason: CloseReason },
    Event(Event),
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invite(#[from] InviteError),
    #[error("no contact matches \"{0}\"; `cairn contacts` lists them")]
    UnknownContact(String),
    #[error("\"{query}\" matches several contacts ({candidates}); use the id or an alias")]
    AmbiguousContact { query: String, candidates: String },
    #[error("that is this node's own invite")]
    OwnInvite,
    #[error("a message cannot be empty")]
    EmptyText,
    #[error("message is {0} bytes; at most {MAX_TEXT_LEN} fit in one message")]
    TextTooLong(usize),
    #[error("the outbox is full ({0} messages waiting); wait until some are delivered")]
    OutboxFull(usize),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("no group matches {0:?}")]
    UnknownGroup(String),
    #[error("{query:?} matches several groups: {candidates}")]
    AmbiguousGroup { query: String, candidates: String },
    #[error("contact limit of {0} reached")]
    TooManyContacts(usize),
    #[error("{0:?} is not an address a gateway can reach")]
    BadRemote(String),
    #[error(transparent)]
    File(#[from] FileError),
}

/// Tunables, with defaults fit for a phone or laptop.
#[derive(Debug, Clone)]
pub struct Config {
    /// The name on this node's card.
    pub name: String,
    /// Hints on this node's card (onion address, …).
    pub hints: Vec<Hint>,
    pub invite_validity: Duration,
    pub sessions: SessionLimits,
    pub backoff: Backoff,
    /// Messages in flight per peer before receipts must come back.
    pub window: usize,
    pub max_outbox: usize,
    pub max_contacts: usize,
    /// Contacts that wrote first and that the user has not added.
    pub max_requests: usize,
    pub max_links: usize,
    /// Handshake starts accepted per link per minute.
    pub inits_per_minute: u32,
    /// Frames for unknown sessions tolerated per link per minute.
    pub unknown_per_minute: u32,
    /// Store and forward across other nodes.
    pub mesh: MeshConfig,
    /// This node is a gateway to another network: the texts it sends with a
    /// `remote` come *from* that address, and a receipt means delivered.
    pub gateway: bool,
}

impl Config {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            hints: Vec::new(),
            invite_validity: DEFAULT_VALIDITY,
            sessions: SessionLimits::default(),
            backoff: Backoff {
                initial: Duration::from_secs(3),
                max: Duration::from_secs(120),
            },
            window: 512,
            max_outbox: 100_000,
            max_contacts: 10_000,
            max_requests: 256,
            max_links: 256,
            inits_per_minute: 30,
            unknown_per_minute: 64,
            mesh: MeshConfig::default(),
            gateway: false,
        }
    }
}

struct LinkState {
    info: LinkInfo,
    window_start: Time,
    inits: u32,
    unknown: u32,
}

/// A batch of writes for the driver to commit, named by a ticket.
#[derive(Debug)]
pub struct Commit {
    pub ticket: u64,
    pub batch: WriteBatch,
}

struct InFlight {
    ticket: u64,
    after: Vec<AfterCommit>,
    ids: BTreeSet<(IdentityKey, MessageId)>,
}

/// Work that waits for the current batch to be committed.
enum AfterCommit {
    /// The outgoing message may now be sent.
    Durable(IdentityKey, MessageId),
    /// The incoming message is stored: acknowledge it.
    Receipt(IdentityKey, MessageId),
    Event(Event),
    /// Group writes were in the batch (on failure, they must be redone).
    GroupsSaved,
    /// Send in the session with the peer, if one is up (a file want: it
    /// acknowledges chunks in this batch).
    Send(IdentityKey, Payload),
}

pub struct Engine<S: Store> {
    config: Config,
    identity: Identity,
    card: ContactCard,
    store: S,
    rng: ChaCha20Rng,
    contacts: BTreeMap<IdentityKey, Contact>,
    links: BTreeMap<LinkId, LinkState>,
    /// The link a peer's session traffic last arrived on, for replies when the
    /// transport's hop identity is not the session's.
    reply_links: BTreeMap<IdentityKey, LinkId>,
    sessions: SessionTable,
    outbox: Outbox,
    batch: WriteBatch,
    after_commit: Vec<AfterCommit>,
    /// Incoming messages staged in the current batch.
    staged: BTreeSet<(IdentityKey, MessageId)>,
    /// Where in the current batch a message's `Sent` state was staged, so a
    /// receipt arriving before the commit replaces it instead of adding a write.
    staged_sent: BTreeMap<(IdentityKey, MessageId), usize>,
    /// Batches taken by the driver and not yet reported committed.
    in_flight: VecDeque<InFlight>,
    next_ticket: u64,
    receipts: BTreeMap<IdentityKey, Vec<MessageId>>,
    outputs: VecDeque<Output>,
    next_housekeeping: Time,
    mesh: Mesh,
    /// Contacts' identity keys, for the mesh to recognise their envelopes.
    contact_keys: Vec<IdentityKey>,
    groups: Groups,
    /// Every setting, as staged: what was put is seen at once, not only once
    /// its batch is committed (a reply can come back before that).
    settings: BTreeMap<String, Vec<u8>>,
    /// Files sent and received, and the transfers under way.
    files: Transfers,
}

const HOUSEKEEPING: Duration = Duration::from_secs(30);

fn contacts_keys(contacts: &BTreeMap<IdentityKey, Contact>) -> Vec<IdentityKey> {
    contacts.keys().copied().collect()
}
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// A text the user may send: not blank, within [`MAX_TEXT_LEN`].
fn check_text(text: &str) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(EngineError::EmptyText);
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(EngineError::TextTooLong(text.len()));
    }
    Ok(())
}

impl<S: Store> Engine<S> {
    /// Starts the core from what `store` holds. `seed` drives every random
    /// choice the engine makes.
    pub fn new(
        config: Config,
        identity: Identity,
        store: S,
        seed: [u8; 32],
        now: Time,
    ) -> Result<Self, EngineError> {
        let card = ContactCard::new(
            &identity,
            &config.name,
            config.hints.clone(),
            now,
            config.invite_validity,
        )?;
        let contacts: BTreeMap<IdentityKey, Contact> = store
            .contacts()?
            .into_iter()
            .map(|c| (c.identity, c))
            .collect();
        let mut outbox = Outbox::new(config.max_outbox, config.backoff);
        for record in store.pending_outgoing()? {
            // Everything in the store is durable; a full outbox at start-up can
            // only mean the limit was lowered, and the rest waits on disk.
            if outbox.push(record, true).is_err() {
                break;
            }
        }
        let mut mesh = Mesh::new(config.mesh.clone());
        for record in store.carried()? {
            if let Origin::Own { peer, message } = record.origin {
                outbox.mark_meshed(&peer, &message);
            }
            let size = record.env.encoded_len();
            mesh.restore(
                Held {
                    env: record.env,
                    origin: record.origin,
                    size,
                },
                record.secret,
                now,
            );
        }
        let contact_keys = contacts_keys(&contacts);
        let settings = store.settings()?.into_iter().collect();
        let mut files = Transfers::new();
        for c in contacts.values() {
            if c.origin == ContactOrigin::Request {
                files.hold(c.identity);
            }
        }
        for record in store.files()? {
            let (peer, id) = (record.peer, record.id);
            let held =
                (0..record.have).map_while(|i| store.file_chunk(&peer, &id, i).ok().flatten());
            files.restore(record, held, now);
        }
        let mut group_seed = seed;
        group_seed[0] ^= 0x47; // distinct from the engine's own stream
        let mut groups = Groups::new(&identity, config.mesh.enabled, group_seed);
        for stored in store.groups()? {
            let id = stored.id;
            if let Err(e) = groups.restore(stored) {
                warn!(group = %id, error = %e, "a stored group could not be read");
            }
        }
        Ok(Self {
            groups,
            settings,
            files,
            mesh,
            contact_keys,
            sessions: SessionTable::new(config.sessions),
            config,
            identity,
            card,
            store,
            rng: ChaCha20Rng::from_seed(seed),
            contacts,
            links: BTreeMap::new(),
            reply_links: BTreeMap::new(),
            outbox,
            batch: WriteBatch::default(),
            after_commit: Vec::new(),
            staged: BTreeSet::new(),
            staged_sent: BTreeMap::new(),
            in_flight: VecDeque::new(),
            next_ticket: 0,
            receipts: BTreeMap::new(),
            outputs: VecDeque::new(),
            next_housekeeping: now + HOUSEKEEPING,
        })
    }

    // ---- queries -------------------------------------------------------

    pub fn identity_key(&self) -> IdentityKey {
        self.identity.key()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A freshly dated and signed card to hand out as an invite.
    pub fn invite(&self, now: Time) -> Result<ContactCard, EngineError> {
        Ok(ContactCard::new(
            &self.identity,
            &self.config.name,
            self.config.hints.clone(),
            now,
            self.config.invite_validity,
        )?)
    }

    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.values()
    }

    pub fn contact(&self, peer: &IdentityKey) -> Option<&Contact> {
        self.contacts.get(peer)
    }

    pub fn links(&self) -> impl Iterator<Item = &LinkInfo> {
        self.links.values().map(|l| &l.info)
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

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

    pub fn session_count(&self) -> usize {
        self.sessions.session_count()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
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

    // ---- user commands ------------------------------------------------

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
        self.batch
            .push(StoreOp::PutContact(Box::new(contact.clone())));
        self.contacts.insert(peer, contact);
        self.contacts_changed();
        // Accepted: what they offered while a request is fetched now.
        let up = self.session_peers();
        let outputs = self.files.release(now, &peer, |p| up.contains(p));
        self.drain_files(outputs);
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
        self.queue_text(now, peer, None, text)
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
        self.queue_text(now, gateway, Some(remote.to_owned()), text)
    }

    fn queue_text(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        remote: Option<String>,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        check_text(text)?;
        if !self.contacts.contains_key(peer) {
            return Err(EngineError::UnknownContact(peer.short()));
        }
        if !self.outbox.has_room() {
            return Err(EngineError::OutboxFull(self.outbox.len()));
        }
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let record = MessageRecord {
            peer: *peer,
            id: MessageId(id),
            direction: Direction::Outgoing,
            text: text.to_owned(),
            sent_at: now,
            local_at: now,
            state: DeliveryState::Queued,
            remote,
            file: None,
        };
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.outbox
            .push(record, false)
            .map_err(|_| EngineError::OutboxFull(self.outbox.len()))?;
        self.after_commit
            .push(AfterCommit::Durable(*peer, MessageId(id)));
        Ok(MessageId(id))
    }

    // ---- files ----------------------------------------------------------

    /// Offers `data` as a file named `name` to `peer`. The offer is queued
    /// like a text; the content is stored with it and sent in chunks as the
    /// receiver asks for them (docs/WIRE.md, "Files").
    pub fn send_file(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        let meta = FileMeta::of(name, mime, data)?;
        if !self.contacts.contains_key(peer) {
            return Err(EngineError::UnknownContact(peer.short()));
        }
        if !self.outbox.has_room() {
            return Err(EngineError::OutboxFull(self.outbox.len()));
        }
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let id = MessageId(id);
        for (index, chunk) in data.chunks(crate::file::CHUNK_LEN).enumerate() {
            self.batch.push(StoreOp::PutFileChunk {
                peer: *peer,
                id,
                index: index as u32,
                data: chunk.to_vec(),
            });
        }
        let transfer = self.files.start_outgoing(now, *peer, id, meta.clone());
        self.batch.push(StoreOp::PutFile(Box::new(transfer)));
        let record = MessageRecord {
            peer: *peer,
            id,
            direction: Direction::Outgoing,
            text: meta.name.clone(),
            sent_at: now,
            local_at: now,
            state: DeliveryState::Queued,
            remote: None,
            file: Some(meta),
        };
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.outbox
            .push(record, false)
            .map_err(|_| EngineError::OutboxFull(self.outbox.len()))?;
        self.after_commit.push(AfterCommit::Durable(*peer, id));
        Ok(id)
    }

    /// Where the transfer of a file message stands.
    pub fn file(&self, peer: &IdentityKey, id: &MessageId) -> Option<&FileRecord> {
        self.files.get(peer, id)
    }

    /// A file's whole content, once complete (sent, or received and checked).
    pub fn file_data(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.files.get(peer, id) else {
            return Ok(None);
        };
        if !record.outgoing && record.state != TransferState::Complete {
            return Ok(None);
        }
        let mut data = Vec::with_capacity(record.meta.size as usize);
        for index in 0..record.meta.chunks() {
            match self.store.file_chunk(peer, id, index)? {
                Some(chunk) => data.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
        Ok((data.len() as u64 == record.meta.size).then_some(data))
    }

    /// The payload that carries an outbox entry.
    fn payload_of(&self, record: MessageRecord) -> Payload {
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

    /// Carries out what the transfers asked for.
    fn drain_files(&mut self, outputs: Vec<FileOutput>) {
        for out in outputs {
            match out {
                FileOutput::Chunk { peer, id, index } => {
                    match self.store.file_chunk(&peer, &id, index) {
                        Ok(Some(data)) => {
                            let payload = Payload::FileChunk { id, index, data };
                            if !self.send_payload(&peer, &payload) {
                                break;
                            }
                        }
                        Ok(None) => warn!(file = %id, index, "a chunk asked for is not stored"),
                        Err(e) => warn!(error = %e, "could not read a chunk"),
                    }
                }
                FileOutput::Want {
                    peer,
                    id,
                    have,
                    from,
                    count,
                } => self.after_commit.push(AfterCommit::Send(
                    peer,
                    Payload::FileWant {
                        id,
                        have,
                        from,
                        count,
                    },
                )),
                FileOutput::StoreChunk {
                    peer,
                    id,
                    index,
                    data,
                } => self.batch.push(StoreOp::PutFileChunk {
                    peer,
                    id,
                    index,
                    data,
                }),
                FileOutput::Record(record) => self.batch.push(StoreOp::PutFile(Box::new(record))),
                FileOutput::Progress(record) => self
                    .after_commit
                    .push(AfterCommit::Event(Event::FileProgress(record))),
            }
        }
    }

    // ---- groups ---------------------------------------------------------

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

    fn me_as_member(&self) -> NewMember {
        NewMember {
            identity: self.identity.key(),
            name: self.config.name.clone(),
            static_key: self.identity.static_key(),
        }
    }

    /// Creates a group with us as its admin.
    pub fn group_create(&mut self, now: Time, name: &str) -> Result<GroupId, EngineError> {
        let me = self.me_as_member();
        let id = self.groups.create(&self.identity, me, name.trim(), now)?;
        self.drain_groups(now);
        Ok(id)
    }

    /// Adds a contact to a group (admins only).
    pub fn group_add(
        &mut self,
        now: Time,
        group: &GroupId,
        peer: &IdentityKey,
    ) -> Result<(), EngineError> {
        let contact = self
            .contacts
            .get(peer)
            .ok_or_else(|| EngineError::UnknownContact(peer.short()))?;
        let who = NewMember {
            identity: *peer,
            name: contact.card.name().to_owned(),
            static_key: contact.static_key(),
        };
        self.groups
            .add(&self.identity, group, who, Role::Member, now)?;
        self.drain_groups(now);
        self.group_sessions(now);
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
        self.drain_groups(now);
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
        self.drain_groups(now);
        Ok(())
    }

    pub fn group_leave(&mut self, now: Time, group: &GroupId) -> Result<(), EngineError> {
        self.groups.leave(&self.identity, group, now)?;
        self.drain_groups(now);
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
        self.drain_groups(now);
        self.group_sessions(now);
        Ok(id)
    }

    /// A fresh id for a group message: our clock, then 8 random bytes.
    fn group_message_id(&mut self, now: Time) -> MessageId {
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
        self.group_post_bridged(now, group, crate::group::BRIDGED_PREFIX, name, text)
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
        self.group_post_bridged(
            now,
            group,
            crate::group::BRIDGE_NOTICE_PREFIX,
            address,
            text,
        )
    }

    fn group_post_bridged(
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
        self.drain_groups(now);
        self.group_sessions(now);
        Ok(id)
    }

    /// Carries out what the groups asked for.
    fn drain_groups(&mut self, now: Time) {
        let mut saved = false;
        while let Some(out) = self.groups.take_output() {
            match out {
                GroupOutput::Send { peer, fragment } => {
                    if !self.send_payload(&peer, &Payload::Group(Box::new(fragment))) {
                        self.groups.peer_down(&peer);
                    }
                }
                GroupOutput::Mesh { peer, fragment } => {
                    self.mesh_send(now, &peer, &Payload::Group(Box::new(fragment)), None);
                }
                GroupOutput::Store(op) => {
                    saved = true;
                    self.batch.push(op);
                }
                GroupOutput::Changed(group) => self
                    .after_commit
                    .push(AfterCommit::Event(Event::GroupChanged { group })),
            }
        }
        if saved {
            self.after_commit.push(AfterCommit::GroupsSaved);
        }
    }

    /// Starts sessions with linked peers we now share a group with (a group
    /// made or joined while the link was already up).
    fn group_sessions(&mut self, now: Time) {
        let peers: BTreeSet<IdentityKey> = self.links.values().map(|l| l.info.peer).collect();
        for peer in peers {
            if self.sessions.current(&peer).is_none() && self.groups.wants_session(&peer) {
                self.service_peer(now, &peer);
            }
        }
    }

    // ---- transport inputs ----------------------------------------------

    pub fn link_up(&mut self, now: Time, info: LinkInfo) {
        let link = info.id;
        let peer = info.peer;
        if self.links.len() >= self.config.max_links {
            // Full. A contact the user added still gets in: the oldest link
            // of someone who is not one makes room (strangers holding every
            // slot must not lock friends out). Anyone else waits.
            let victim = self
                .added(&peer)
                .then(|| {
                    self.links
                        .values()
                        .filter(|l| !self.added(&l.info.peer))
                        .min_by_key(|l| (l.info.since, l.info.id))
                        .map(|l| l.info.id)
                })
                .flatten();
            let Some(victim) = victim else {
                self.outputs.push_back(Output::Close {
                    link,
                    reason: CloseReason::TooManyLinks,
                });
                return;
            };
            self.outputs.push_back(Output::Close {
                link: victim,
                reason: CloseReason::TooManyLinks,
            });
            self.link_down(now, victim);
        }
        self.outbox.resend_now(&peer);
        // A request gets a stranger's mesh limits until the user accepts it.
        let contact = self.added(&peer);
        let frames = self
            .mesh
            .link_up(&self.identity.key(), now, link, peer, contact);
        self.mesh_out(frames);
        self.links.insert(
            link,
            LinkState {
                info,
                window_start: now,
                inits: 0,
                unknown: 0,
            },
        );
        self.service_peer(now, &peer);
        // A link back to a peer whose session survived: what was in flight on
        // the old link is lost, ask again; group syncs, which ended with the
        // last link, start over.
        if self.has_session(&peer) {
            let outputs = self.files.session_up(now, &peer);
            self.drain_files(outputs);
            self.groups.peer_up(peer);
            self.drain_groups(now);
        }
    }

    pub fn link_down(&mut self, _now: Time, link: LinkId) {
        let peer = self.links.remove(&link).map(|l| l.info.peer);
        self.mesh.link_down(link);
        self.reply_links.retain(|_, l| *l != link);
        if let Some(peer) = peer
            && self.best_link(&peer).is_none()
        {
            // Its group syncs end with the session's reach; what we write
            // next goes to it through the mesh.
            self.groups.peer_down(&peer);
        }
    }

    /// Handles one frame that arrived on `link`.
    pub fn handle_frame(&mut self, now: Time, link: LinkId, bytes: &[u8]) {
        if !self.links.contains_key(&link) {
            return;
        }
        match Frame::decode(bytes) {
            Ok(Frame::Envelope(env)) => self.on_envelope(now, link, env),
            Ok(Frame::Summary(summary)) => {
                let frames = self.mesh.on_summary(now, link, summary, &self.contact_keys);
                self.mesh_out(frames);
            }
            Ok(Frame::Carry(env)) => self.on_carry(now, link, *env),
            Ok(Frame::Acks(acks)) => {
                let frames = self.mesh.on_acks(link, acks);
                self.mesh_out(frames);
            }
            Err(e) => {
                debug!(link = link.0, error = %e, "undecodable frame");
                self.close(link, CloseReason::Malformed);
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.sessions.expire(now);
        let frames = self.mesh.tick(&self.identity.key(), now);
        self.mesh_out(frames);
        for state in self.links.values_mut() {
            if now.since(state.window_start) >= RATE_WINDOW {
                state.window_start = now;
                state.inits = 0;
                state.unknown = 0;
            }
        }
        let peers: Vec<IdentityKey> = self.outbox.peers().copied().collect();
        for peer in peers {
            self.service_peer(now, &peer);
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.groups.tick();
            self.drain_groups(now);
            let up = self.session_peers();
            let outputs = self.files.tick(now, |p| up.contains(p));
            self.drain_files(outputs);
        }
    }

    // ---- driving ----------------------------------------------------------

    /// Commits everything staged since the last flush in one batch, then
    /// releases what waited for it (sends of new messages, receipts, events).
    /// On failure nothing staged is acknowledged or sent, and the error says
    /// why; the engine itself stays usable.
    ///
    /// This is [`Engine::begin_commit`], the store's commit and
    /// [`Engine::end_commit`] in one step, for drivers that commit inline.
    pub fn flush(&mut self, now: Time) -> Result<(), StoreError> {
        let Some(commit) = self.begin_commit() else {
            return Ok(());
        };
        let result = if commit.batch.is_empty() {
            Ok(())
        } else {
            self.store.commit(&commit.batch)
        };
        self.end_commit(now, commit.ticket, result)
    }

    /// Takes what is staged as one batch for the driver to commit — on another
    /// thread if it likes, while this engine keeps taking inputs. Batches must
    /// be committed in the order they were taken. `None` when nothing waits.
    pub fn begin_commit(&mut self) -> Option<Commit> {
        if self.batch.is_empty() && self.after_commit.is_empty() {
            return None;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.staged_sent.clear();
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
                (AfterCommit::GroupsSaved, false) => self.groups.commit_failed(),
                (_, false) | (AfterCommit::GroupsSaved, true) => {}
            }
        }
        for peer in dirty {
            self.service_peer(now, &peer);
        }
        self.send_receipts(now);
        result
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Engine::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        // Only peers we can reach now: a timeout with no link to send on
        // would wake us again and again for nothing.
        let retransmit = self
            .outbox
            .peers()
            .filter(|p| self.best_link(p).is_some())
            .filter_map(|p| self.outbox.next_timeout(p, self.sessions.current_index(p)?))
            .min();
        [
            retransmit,
            self.sessions.next_deadline(),
            self.mesh.next_wakeup(),
            Some(self.next_housekeeping),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether writes are staged and waiting for a commit.
    pub fn has_staged(&self) -> bool {
        !self.batch.is_empty() || !self.after_commit.is_empty()
    }

    /// Whether a batch was taken and its commit not yet reported.
    pub fn commit_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    // ---- internals --------------------------------------------------------

    fn close(&mut self, link: LinkId, reason: CloseReason) {
        if self.links.remove(&link).is_some() {
            self.reply_links.retain(|_, l| *l != link);
            self.outputs.push_back(Output::Close { link, reason });
            self.outputs
                .push_back(Output::Event(Event::LinkClosed { link, reason }));
        }
    }

    /// The cheapest medium, and on it the newest link: after a peer restarts,
    /// the older link is the one likely to be dead and not yet noticed.
    fn best_link(&self, peer: &IdentityKey) -> Option<LinkId> {
        self.links
            .values()
            .filter(|l| &l.info.peer == peer)
            .min_by_key(|l| (l.info.medium, std::cmp::Reverse(l.info.id)))
            .map(|l| l.info.id)
            .or_else(|| self.reply_links.get(peer).copied())
    }

    fn transmit(&mut self, link: LinkId, env: Envelope) {
        let frame = Frame::Envelope(env).encode();
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
    fn send_payload(&mut self, peer: &IdentityKey, payload: &Payload) -> bool {
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

    /// Sends what is due to `peer`, starting a handshake if that is needed.
    /// Returns how many messages went out.
    fn service_peer(&mut self, now: Time, peer: &IdentityKey) -> usize {
        if !self.outbox.has_pending(peer)
            && !self.groups.wants_session(peer)
            && !self.files.wants_session(peer)
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
        let due = self.outbox.take_due(peer, index, now, self.config.window);
        let mut sent = 0;
        for (record, first) in due {
            let id = record.id;
            let payload = self.payload_of(record);
            if !self.send_payload(peer, &payload) {
                break;
            }
            sent += 1;
            if first {
                self.staged_sent.insert((*peer, id), self.batch.len());
                self.batch.push(StoreOp::SetState {
                    peer: *peer,
                    id,
                    state: DeliveryState::Sent,
                });
                self.outputs.push_back(Output::Event(Event::MessageState {
                    peer: *peer,
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
        false
    }

    /// Whether a link to `peer` is up (they are reachable now).
    pub fn has_link(&self, peer: &IdentityKey) -> bool {
        self.best_link(peer).is_some()
    }

    /// Whether a session with `peer` is up (signals sent now arrive now).
    pub fn has_session(&self, peer: &IdentityKey) -> bool {
        self.best_link(peer).is_some() && self.sessions.current_index(peer).is_some()
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
        for chunk in ids.chunks(MAX_RECEIPT_IDS) {
            let receipt = Payload::Receipt {
                kind: ReceiptKind::Read,
                ids: chunk.to_vec(),
            };
            if !self.send_payload(peer, &receipt) {
                self.mesh_send(now, peer, &receipt, None);
            }
        }
    }

    fn send_receipts(&mut self, now: Time) {
        for (peer, ids) in std::mem::take(&mut self.receipts) {
            for chunk in ids.chunks(MAX_RECEIPT_IDS) {
                let receipt = Payload::Receipt {
                    kind: ReceiptKind::Delivered,
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

    /// Hands the durable messages for `peer` that have no link to the mesh,
    /// once each.
    fn mesh_pending(&mut self, now: Time, peer: &IdentityKey) {
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
    fn mesh_send(
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
        let frames = self
            .mesh
            .originate(now, env, *peer, message, secret, &self.contact_keys);
        self.mesh_out(frames);
    }

    /// Sends what the mesh asked for and records what it changed.
    fn mesh_out(&mut self, frames: Vec<(LinkId, MeshFrame)>) {
        for (link, frame) in frames {
            let frame = match frame {
                MeshFrame::Summary(s) => Frame::Summary(s),
                MeshFrame::Carry(c) => Frame::Carry(c),
                MeshFrame::Acks(a) => Frame::Acks(a),
            };
            self.outputs.push_back(Output::Transmit {
                link,
                frame: frame.encode(),
            });
        }
        for event in self.mesh.take_events() {
            match event {
                MeshEvent::Stored(id) => {
                    if let Some(h) = self.mesh.carrier().get(&id) {
                        let record = CarriedRecord {
                            env: h.env.clone(),
                            origin: h.origin,
                            secret: self.mesh.own_secret(&id),
                        };
                        self.batch.push(StoreOp::PutCarried(Box::new(record)));
                    }
                }
                MeshEvent::Removed(id) => self.batch.push(StoreOp::DeleteCarried(id)),
                MeshEvent::OwnSent { peer, message } => {
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
    }

    /// An envelope a neighbour handed us: ours to open, or to carry on.
    fn on_carry(&mut self, now: Time, link: LinkId, env: Carried) {
        if !self.mesh.enabled() {
            return;
        }
        let me = self.identity.key();
        if self.mesh.recognise(&me, &env, now) == Recognised::Mine
            && let Ok(opened) = crate::sealed::open(&self.identity, &env.sealed)
        {
            let frames = self
                .mesh
                .delivered_here(link, env.id, opened.ack_secret, env.expiry);
            self.mesh_out(frames);
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
                    self.drain_groups(now);
                    self.group_sessions(now);
                }
                payload => self.on_payload(now, peer, payload),
            }
            return;
        }
        // Not ours (or a tag collision): carry it on.
        let frames = self.mesh.on_carry(now, link, env, &self.contact_keys);
        self.mesh_out(frames);
    }

    fn rate_limit(&mut self, now: Time, link: LinkId, init: bool) -> bool {
        let Some(state) = self.links.get_mut(&link) else {
            return false;
        };
        if now.since(state.window_start) >= RATE_WINDOW {
            state.window_start = now;
            state.inits = 0;
            state.unknown = 0;
        }
        let (count, max) = if init {
            state.inits += 1;
            (state.inits, self.config.inits_per_minute)
        } else {
            state.unknown += 1;
            (state.unknown, self.config.unknown_per_minute)
        };
        count <= max
    }

    fn on_envelope(&mut self, now: Time, link: LinkId, env: Envelope) {
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
                self.drain_groups(now);
                let outputs = self.files.session_up(now, &peer_key);
                self.drain_files(outputs);
                let initiator = self
                    .sessions
                    .current(&peer_key)
                    .is_some_and(|s| s.is_initiator());
                let sent = self.service_peer(now, &peer_key);
                if initiator && sent == 0 {
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
                    self.groups.peer_up(peer);
                    self.drain_groups(now);
                    self.service_peer(now, &peer);
                    let outputs = self.files.session_up(now, &peer);
                    self.drain_files(outputs);
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

    /// A peer presented `card` in a session: refresh what we know of them.
    fn on_card(&mut self, _now: Time, card: ContactCard) {
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
        c.card = card;
        self.batch.push(StoreOp::PutContact(Box::new(c.clone())));
        self.contacts.insert(peer, c);
    }

    fn on_payload(&mut self, now: Time, peer: IdentityKey, payload: Payload) {
        match payload {
            Payload::Text {
                id,
                sent_at,
                text,
                remote,
            } => self.on_text(now, peer, id, sent_at, text, remote, None),
            Payload::File {
                id,
                sent_at,
                meta,
                inline,
            } => {
                let name = meta.name.clone();
                self.on_text(now, peer, id, sent_at, name, None, Some((*meta, inline)));
            }
            Payload::FileChunk { id, index, data } => {
                let outputs = self.files.on_chunk(now, peer, id, index, data);
                self.drain_files(outputs);
            }
            Payload::FileWant {
                id,
                have,
                from,
                count,
            } => {
                let outputs = self.files.on_want(now, peer, id, have, from, count);
                self.drain_files(outputs);
            }
            Payload::Receipt { kind, ids } => {
                for id in ids {
                    match kind {
                        ReceiptKind::Delivered => {
                            let meshed = self.outbox.is_meshed(&peer, &id);
                            if let Some(record) = self.outbox.remove(&peer, &id) {
                                if meshed {
                                    let frames = self.mesh.delivered_own(&peer, &id);
                                    self.mesh_out(frames);
                                }
                                // A gateway's receipt says it has the message,
                                // not that the far side does.
                                let state = if record.remote.is_some() && !self.config.gateway {
                                    DeliveryState::Relayed
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
                }
            }
            Payload::Keepalive => {}
            Payload::Bridge(signal) => {
                // Someone opting in to this node as their gateway need not
                // be a contact yet; every other signal comes from contacts.
                let known = self.contacts.contains_key(&peer)
                    || (matches!(*signal, BridgeSignal::Join { .. })
                        && self.accept_request(now, &peer));
                if let (true, BridgeSignal::Received { ids, .. }) = (known, &*signal) {
                    // The far side's client has these: they are delivered.
                    for id in ids {
                        self.batch.push(StoreOp::SetState {
                            peer,
                            id: *id,
                            state: DeliveryState::Delivered,
                        });
                        self.after_commit
                            .push(AfterCommit::Event(Event::MessageState {
                                peer,
                                id: *id,
                                state: DeliveryState::Delivered,
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
                self.drain_groups(now);
                self.group_sessions(now);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_text(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        sent_at: Time,
        text: String,
        remote: Option<String>,
        file: Option<(FileMeta, Option<Vec<u8>>)>,
    ) {
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
            self.after_commit.push(AfterCommit::Receipt(peer, id));
            return;
        }
        if !self.contacts.contains_key(&peer) && !self.accept_request(now, &peer) {
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
        };
        if let Some((meta, inline)) = file {
            let session = self.has_session(&peer);
            let outputs = self.files.offered(now, peer, id, meta, inline, session);
            self.drain_files(outputs);
        }
        self.staged.insert((peer, id));
        self.batch
            .push(StoreOp::PutMessage(Box::new(record.clone())));
        self.after_commit.push(AfterCommit::Receipt(peer, id));
        self.after_commit
            .push(AfterCommit::Event(Event::MessageReceived(record)));
    }

    /// Someone not in our contacts wrote: keep them as a contact request if
    /// there is room for one.
    fn accept_request(&mut self, now: Time, peer: &IdentityKey) -> bool {
        match self.sessions.peer_card(peer).cloned() {
            Some(card) => self.add_request(now, card),
            None => false,
        }
    }

    /// Keeps someone who wrote first as a contact request, if there is room.
    fn add_request(&mut self, now: Time, card: ContactCard) -> bool {
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

    /// The contacts a session is up with.
    fn session_peers(&self) -> BTreeSet<IdentityKey> {
        self.contacts
            .keys()
            .filter(|p| self.has_session(p))
            .copied()
            .collect()
    }

    /// Whether `peer` may bring us a group we do not know: only someone the
    /// user added — a stranger who wrote once is a request, not a contact
    /// (THREAT_MODEL.md, "Attacks tried" 1). On a gateway every user is a
    /// request (they opt in by writing first) and bridging their groups is
    /// its job; the chunk bounds still hold there.
    fn may_bring_groups(&self, peer: &IdentityKey) -> bool {
        self.added(peer) || (self.config.gateway && self.contacts.contains_key(peer))
    }

    /// Whether the user added `peer` (a request is not: it only wrote first).
    fn added(&self, peer: &IdentityKey) -> bool {
        self.contacts
            .get(peer)
            .is_some_and(|c| c.origin == ContactOrigin::Invite)
    }

    fn contacts_changed(&mut self) {
        self.contact_keys = contacts_keys(&self.contacts);
        self.mesh.contacts_changed();
    }
}
