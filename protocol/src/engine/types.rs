//! The engine's public types (what it reports, its errors, its settings)
//! and the small private ones its rooms share. A leaf of `engine/`: the
//! rooms import from here, never from each other.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use thiserror::Error;

use crate::bridge::BridgeSignal;
use crate::contact::ContactOrigin;
use crate::devices::{DeviceError, DeviceList, DeviceView};
use crate::file::{FileError, FileRecord};
use crate::group::{GroupError, GroupId};
use crate::identity::IdentityKey;
use crate::invite::{DEFAULT_VALIDITY, Hint, InviteError};
use crate::link::{CloseReason, LinkId, LinkInfo};
use crate::mesh::MeshConfig;
use crate::mesh::carried::Carried;
use crate::message::{DeliveryState, MessageRecord};
use crate::outbox::Backoff;
use crate::payload::{MAX_TEXT_LEN, MessageId, Payload};
use crate::session_table::SessionLimits;
use crate::store::{StoreError, WriteBatch};
use crate::time::Time;

/// Something for the user interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message arrived and is stored. Carries message text: never log it.
    MessageReceived(Box<MessageRecord>),
    /// An outgoing message changed state.
    MessageState {
        peer: IdentityKey,
        id: MessageId,
        state: DeliveryState,
    },
    /// An operation (a reaction, an edit, a deletion) arrived for the
    /// message `id` of the conversation with `peer`; it shows once stored.
    MessageChanged {
        peer: IdentityKey,
        id: MessageId,
    },
    /// An operation for an address on a bridged network (its `remote`)
    /// arrived; a gateway passes it on. (Also followed by `MessageChanged`.)
    /// Carries message text: never log it.
    BridgedOp(Box<MessageRecord>),
    /// Messages of the conversation with `peer` reached its disappearing
    /// timer and were erased.
    MessagesExpired {
        peer: IdentityKey,
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
    /// This profile's own devices changed: one was linked or revoked, or
    /// this device finished joining its account.
    DevicesChanged,
    /// This device (holding the account key) linked `device`: the driver
    /// hands it the recent history ([`crate::Engine::hand_history`]).
    DeviceLinked {
        device: IdentityKey,
    },
    /// A contact's device list was refused (signed by a key other than
    /// their account's, or otherwise invalid). Show this loudly: someone may
    /// be trying to add a device to their account.
    DeviceListRefused {
        peer: IdentityKey,
        error: DeviceError,
    },
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
    #[error("a message with that id is already stored")]
    Duplicate,
    #[error("a reaction is one emoji (or nothing, to take it back)")]
    BadReaction,
    #[error(
        "a disappearing timer is off or between {min} seconds and {max} days (not {0} s)",
        min = crate::disappear::MIN_SECS,
        max = crate::disappear::MAX_SECS / 86_400
    )]
    BadTimer(u64),
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
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("only a device holding the account key can link or revoke devices")]
    NotAccountHolder,
    #[error("this device is already part of an account")]
    AlreadyLinked,
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
    /// Bytes of text in flight per peer before receipts must come back, on
    /// a stream link (LAN, Tor): half its send queue, so messages never
    /// overflow it. Bluetooth links take at most [`BLE_WINDOW_BYTES`].
    pub window_bytes: usize,
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
    /// This device is its account's mailbox (always on): it answers
    /// "held", never "delivered", and hands what it holds to the
    /// account's other devices (docs/DEVICES.md).
    pub mailbox: bool,
}

/// Bytes of text in flight per peer on a Bluetooth link: half its send
/// queue.
pub const BLE_WINDOW_BYTES: usize = 512 << 10;

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
            window_bytes: 2 << 20,
            max_outbox: 100_000,
            max_contacts: 10_000,
            max_requests: 256,
            max_links: 256,
            inits_per_minute: 30,
            unknown_per_minute: 64,
            mesh: MeshConfig::default(),
            gateway: false,
            mailbox: false,
        }
    }
}

pub(super) struct LinkState {
    pub(super) info: LinkInfo,
    pub(super) window_start: Time,
    pub(super) inits: u32,
    pub(super) unknown: u32,
    /// A session just for bundles was considered on this link (once per link).
    pub(super) bundles_tried: bool,
}

/// A batch of writes for the driver to commit, named by a ticket.
#[derive(Debug)]
pub struct Commit {
    pub ticket: u64,
    pub batch: WriteBatch,
}

pub(super) struct InFlight {
    pub(super) ticket: u64,
    pub(super) after: Vec<AfterCommit>,
    pub(super) ids: BTreeSet<(IdentityKey, MessageId)>,
}

/// Work that waits for the current batch to be committed.
pub(super) enum AfterCommit {
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
    /// Send chunks of a group file a member asked for: read from the store
    /// once what is before them is committed (the file's own chunks may be
    /// in a batch still being written when the post reached the member).
    ServeGroupFile {
        peer: IdentityKey,
        group: crate::group::GroupId,
        file: [u8; 16],
        from: u32,
        count: u32,
    },
    /// Start an envelope of ours through the mesh: the ratchet state that
    /// sealed it is in this batch, and must be durable before anyone holds
    /// a message only that state can answer.
    Originate(Box<Originate>),
}

pub(super) struct Originate {
    pub env: Carried,
    pub peer: IdentityKey,
    pub message: MessageId,
    pub secret: [u8; 16],
}

/// This node's place in its account, and what it knows of other people's
/// devices (docs/DEVICES.md).
#[derive(Default)]
pub(super) struct Devices {
    /// This account's newest list. `None` for a profile that never linked a
    /// device: its own key is the account and its only device.
    pub(super) own: Option<DeviceList>,
    /// Every contact account's lists, folded.
    pub(super) views: BTreeMap<IdentityKey, DeviceView>,
    /// A link code handed out (holder): its secret and when it expires.
    pub(super) offer: Option<([u8; 16], Time)>,
    /// Joining an account (new device): the holder we ask, the account, the
    /// secret we prove, the name we asked for.
    pub(super) joining: Option<Joining>,
    /// Contacts that have not heard this account's current list yet: a
    /// session is opened with each when in reach, to tell them.
    pub(super) unannounced: BTreeSet<IdentityKey>,
}

#[derive(Debug, Clone)]
pub(super) struct Joining {
    pub(super) holder: IdentityKey,
    pub(super) account: IdentityKey,
    pub(super) secret: [u8; 16],
    pub(super) name: String,
    pub(super) mailbox: bool,
}

pub(super) const RATE_WINDOW: Duration = Duration::from_secs(60);

/// A text the user may send: not blank, within [`MAX_TEXT_LEN`].
pub(super) fn check_text(text: &str) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(EngineError::EmptyText);
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(EngineError::TextTooLong(text.len()));
    }
    Ok(())
}
