//! The node's request/response API, shared by the control socket (JSON, one
//! object per line) and the in-process Rust handle the GUI uses.
//!
//! A request names a command (`{"cmd":"send","contact":"bob","text":"hi"}`);
//! the answer is `{"ok":{…}}` or `{"error":{"kind":…,"message":…}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Invite,
    Add {
        invite: String,
        alias: Option<String>,
    },
    Contacts,
    Send {
        contact: String,
        text: String,
    },
    Messages {
        contact: String,
        limit: Option<usize>,
    },
    /// An operation on the message `id` (its 32 hex digits, or a prefix of
    /// 6 or more that names one message) of the conversation with
    /// `contact`: `op` is "reply" (`text` is the reply), "react" (`text` is
    /// one emoji, empty to take it back), "edit" (the new text; your own
    /// messages only) or "delete" (erases your own message for everyone).
    MessageOp {
        contact: String,
        id: String,
        op: String,
        #[serde(default)]
        text: String,
    },
    /// Set the conversation's disappearing-messages timer: every message is
    /// erased `secs` seconds after it was stored, at both ends (0: off).
    Disappear {
        contact: String,
        secs: u64,
    },
    Verify {
        contact: String,
        confirm: bool,
    },
    /// Marks what `contact` wrote as read (and tells them).
    MarkRead {
        contact: String,
    },
    Dial {
        addr: String,
    },
    GroupCreate {
        name: String,
    },
    GroupAdd {
        group: String,
        contact: String,
    },
    GroupRemove {
        group: String,
        member: String,
    },
    /// Make a member an admin or a plain member: `role` is "admin" or
    /// "member".
    GroupRole {
        group: String,
        member: String,
        role: String,
    },
    GroupSend {
        group: String,
        text: String,
    },
    GroupMessages {
        group: String,
        limit: Option<usize>,
    },
    /// An operation on the group message `id` (all its hex digits, or a
    /// prefix of 6 or more that names one message): "reply", "react" (one
    /// emoji, empty to take yours back), "edit" (your own posts) or "delete"
    /// (your own posts; an admin's, anyone's) — erased for every member.
    GroupOp {
        group: String,
        id: String,
        op: String,
        #[serde(default)]
        text: String,
    },
    /// Set the group's disappearing-messages timer (admins only): every
    /// post is erased `secs` after it was written, by every member (0: off).
    GroupDisappear {
        group: String,
        secs: u64,
    },
    /// Post the file at `path` (read by the node) to a group; members fetch
    /// it from whoever holds it (docs/GROUPS.md, "Files").
    GroupSendFile {
        group: String,
        path: String,
    },
    /// Write a group file we hold whole to `path` (which must not exist).
    GroupSaveFile {
        group: String,
        id: String,
        path: String,
    },
    /// A group file's content (base64 in the reply); refused beyond `max`
    /// bytes.
    GroupFileData {
        group: String,
        id: String,
        max: u64,
    },
    GroupMembers {
        group: String,
    },
    GroupLeave {
        group: String,
    },
    GroupList,
    /// The group's automerge document, as saved (base64 in the reply).
    GroupExport {
        group: String,
    },
    /// Opt in to a gateway (a contact running `cairn gateway`): become
    /// reachable from XMPP as ALIAS@its-domain (or your id there).
    BridgeJoin {
        gateway: String,
        #[serde(default)]
        alias: String,
    },
    BridgeLeave {
        gateway: String,
    },
    /// Add a contact on XMPP by address, through a joined gateway.
    BridgeAdd {
        jid: String,
        via: Option<String>,
        name: Option<String>,
    },
    /// Offer the file at `path` (read by the node) to `contact`.
    SendFile {
        contact: String,
        path: String,
    },
    /// Where a file message stands.
    FileStatus {
        contact: String,
        id: String,
    },
    /// Write a complete file (sent or received) to `path`, which must not
    /// exist yet.
    SaveFile {
        contact: String,
        id: String,
        path: String,
    },
    /// A complete file's content (base64 in the reply), for showing images;
    /// refused beyond `max` bytes.
    FileData {
        contact: String,
        id: String,
        max: u64,
    },
    /// Write a backup of the whole profile to `path` (which must not exist),
    /// encrypted under `passphrase` (docs/WIRE.md, "Backup file").
    Backup {
        path: String,
        passphrase: Secret,
        /// Include the content of files.
        files: bool,
    },
    /// This account's devices (docs/DEVICES.md).
    Devices,
    /// A one-time code to link a new device to this account, valid for
    /// ten minutes and one use (a running node only: it waits there).
    DeviceLink,
    /// Revoke one of this account's devices for good (by name or id).
    DeviceRevoke {
        device: String,
    },
    /// Join the account of a link code as a new device called `name`
    /// (a fresh profile; finished when the node reaches the code's device).
    DeviceJoin {
        code: Secret,
        name: String,
        /// This device is to be the account's mailbox (always on).
        #[serde(default)]
        mailbox: bool,
    },
    /// Keep the connection open and hear what happens, one [`Notice`] per
    /// line after the first answer (control socket only).
    Watch,
    Shutdown,
}

impl Request {
    /// Whether the answer must wait for the store to commit.
    pub fn needs_commit(&self) -> bool {
        matches!(
            self,
            // An invite carries the signed prekey it may have just made:
            // handed out before that is durable, a crash would leave first
            // messages sealed to a key nobody holds.
            Request::Invite
                | Request::Add { .. }
                | Request::Send { .. }
                | Request::MessageOp { .. }
                | Request::Disappear { .. }
                | Request::Verify { confirm: true, .. }
                | Request::MarkRead { .. }
                | Request::GroupCreate { .. }
                | Request::GroupAdd { .. }
                | Request::GroupRemove { .. }
                | Request::GroupRole { .. }
                | Request::GroupSend { .. }
                | Request::GroupOp { .. }
                | Request::GroupDisappear { .. }
                | Request::GroupSendFile { .. }
                | Request::GroupLeave { .. }
                | Request::BridgeJoin { .. }
                | Request::BridgeLeave { .. }
                | Request::BridgeAdd { .. }
                | Request::SendFile { .. }
                | Request::DeviceLink
                | Request::DeviceRevoke { .. }
                | Request::DeviceJoin { .. }
        )
    }
}

/// A secret in a request (a backup's passphrase): never shown by `Debug`,
/// wiped when dropped.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupInfo {
    pub contacts: u64,
    pub messages: u64,
    pub groups: u64,
    pub files: u64,
    pub file_bytes: u64,
    /// The backup file's size.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContactInfo {
    pub id: String,
    pub name: String,
    pub alias: Option<String>,
    pub verified: bool,
    pub key_changed: bool,
    /// "invite" (added by the user) or "request" (they wrote first).
    pub origin: String,
    /// Links currently up to this contact, by medium.
    pub links: Vec<String>,
    /// "cairn", or "xmpp" for an address on XMPP reached through a gateway
    /// (only as private as XMPP: the gateway and the XMPP servers see it).
    #[serde(default = "cairn_kind")]
    pub kind: String,
    /// For `xmpp` contacts: the gateway's name.
    #[serde(default)]
    pub via: Option<String>,
    /// For `xmpp` contacts, while the node runs: "available", "away: …",
    /// "unavailable" or "typing".
    #[serde(default)]
    pub presence: Option<String>,
    /// How a message to them through the mesh is protected now:
    /// "forward-secret", "signed-prekey-only" (readable on their seized
    /// device until their signed prekey is deleted, 28 days) or "none"
    /// (Noise X to their static key: meet once to fix it).
    #[serde(default)]
    pub offline: String,
    /// How many devices speak for this contact (their device list; 1 until
    /// they link another).
    #[serde(default = "one")]
    pub devices: usize,
    /// The conversation's disappearing-messages timer, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disappear_after: Option<u64>,
}

fn one() -> usize {
    1
}

fn cairn_kind() -> String {
    "cairn".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageInfo {
    pub id: String,
    /// "in" or "out".
    pub direction: String,
    pub text: String,
    /// Author's clock, ms since the epoch.
    pub sent_at: u64,
    /// This node's clock when queued or received.
    pub local_at: u64,
    /// queued, sent, delivered, read or received.
    pub state: String,
    /// For a file message: the file, and how far its content got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    /// A reply: the id of the message it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// A reply: the start of the text it answers (`None` when that message
    /// is not here, or was deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// Its author changed the text; `earlier` holds the texts before,
    /// oldest first.
    #[serde(default)]
    pub edited: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<String>,
    /// Its author deleted it for everyone: `text` is empty.
    #[serde(default)]
    pub deleted: bool,
    /// Reactions: who ("in": them, "out": us) and which emoji.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionInfo>,
    /// A line saying the disappearing-messages timer was set to this many
    /// seconds (0: off) by its author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReactionInfo {
    /// "in" (the contact) or "out" (us).
    pub by: String,
    pub emoji: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    /// Media type, e.g. `image/png`; may be empty.
    pub mime: String,
    pub size: u64,
    /// Bytes the receiver holds (ours when receiving; what they last told
    /// us when sending).
    pub have: u64,
    /// "going", "complete" or "failed".
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkInfo {
    pub id: u64,
    pub medium: String,
    pub peer: String,
    pub peer_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct LanInfo {
    pub enabled: bool,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected_peers: usize,
    pub discovered_peers: usize,
    pub mdns: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusInfo {
    /// This device's id.
    pub id: String,
    /// The account it speaks for (the id contacts know): `id` itself
    /// unless this device was linked to another.
    #[serde(default)]
    pub account: String,
    pub name: String,
    pub running: bool,
    pub links: Vec<LinkInfo>,
    pub lan: LanInfo,
    #[serde(default)]
    pub tor: TorInfo,
    pub contacts: usize,
    pub outbox: usize,
    /// Frames a link's full send queue refused since the start (the outbox
    /// sends them again on its timer).
    #[serde(default)]
    pub dropped_frames: u64,
    pub sessions: usize,
    pub mesh: MeshInfo,
    /// When this node is a gateway to XMPP.
    #[serde(default)]
    pub gateway: GatewayInfo,
    /// Gateways this node joined, and its address on each.
    #[serde(default)]
    pub bridges: Vec<BridgeInfo>,
    #[serde(default)]
    pub ble: BleInfo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BleInfo {
    pub enabled: bool,
    /// "starting", "ready", or "unavailable: WHY".
    pub state: String,
    pub adapter: Option<String>,
    pub address: Option<String>,
    /// Links over Bluetooth now up.
    pub links: usize,
    pub scanning: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayInfo {
    pub enabled: bool,
    pub domain: String,
    /// Attached to the XMPP server now.
    pub connected: bool,
    /// Cairn users who joined, as `address (id)`.
    pub users: Vec<String>,
    /// Texts for XMPP the server has not yet confirmed.
    pub unconfirmed: usize,
    /// Groups open as XMPP rooms, as `address (name)`.
    #[serde(default)]
    pub rooms: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgeInfo {
    pub gateway: String,
    pub gateway_name: String,
    /// Our address on XMPP, once the gateway confirmed the join.
    pub address: Option<String>,
}

/// Tor, when it is on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct TorInfo {
    pub enabled: bool,
    /// "bootstrapping", "publishing", "ready" or "failed".
    pub stage: String,
    /// Bootstrap progress, 0–100.
    pub progress: u8,
    /// What Tor is doing, or why it is stuck or failed.
    pub detail: String,
    /// This node's onion address.
    pub onion: Option<String>,
    /// Links over Tor now up.
    pub links: usize,
}

/// What this node carries for others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct MeshInfo {
    pub policy: String,
    /// Envelopes held: our own still on their way and others'.
    pub carried: usize,
    /// Bytes held for others, and the most we will hold.
    pub relayed_bytes: usize,
    pub capacity_bytes: usize,
    /// Envelopes refused (quotas, rate limits, hop limits) since start.
    pub refused: u64,
    /// Envelopes handed to neighbours since start.
    pub handed_on: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub topic: String,
    pub members: usize,
    pub messages: usize,
    /// Our role: "admin", "member", or none (left or removed).
    pub role: Option<String>,
    pub left: bool,
    pub epoch: i64,
    /// The address a bridge says the group has on another network (an XMPP
    /// room): what is written there is only as private as that network.
    #[serde(default)]
    pub bridged_as: Option<String>,
    /// The disappearing-messages timer, seconds (0: off).
    #[serde(default)]
    pub timer: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupMemberInfo {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Id of the admin who added them.
    pub added_by: Option<String>,
    /// ms since the epoch.
    pub added_at: u64,
    /// Their other devices in the group (a person is listed once).
    #[serde(default)]
    pub devices: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupMessageInfo {
    pub id: String,
    pub author: String,
    pub author_name: String,
    pub mine: bool,
    pub text: String,
    /// Author's clock, ms since the epoch.
    pub sent_at: u64,
    /// Written on another network by someone of this name; the author is
    /// the bridge that posted it.
    #[serde(default)]
    pub via: Option<String>,
    /// The message this one replies to, and the start of its text (absent
    /// if it is not here, or was deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    #[serde(default)]
    pub edited: bool,
    /// Deleted for everyone (by its author or an admin): `text` is empty.
    #[serde(default)]
    pub deleted: bool,
    /// Reactions: who (a member's id, "you" for us) and which emoji.
    #[serde(default)]
    pub reactions: Vec<ReactionInfo>,
    /// For a file post: the file, and whether we hold it whole yet
    /// (`state` "complete", else "going": fetched from members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SafetyInfo {
    pub contact: String,
    pub name: String,
    /// Sixty digits in twelve groups of five.
    pub safety_number: String,
    pub verified: bool,
    pub key_changed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Status(Box<StatusInfo>),
    BackedUp(BackupInfo),
    Invite {
        uri: String,
    },
    Contact(Box<ContactInfo>),
    Contacts {
        contacts: Vec<ContactInfo>,
    },
    Sent {
        id: String,
    },
    Messages {
        contact: String,
        messages: Vec<MessageInfo>,
    },
    Safety(SafetyInfo),
    Group(GroupInfo),
    Groups {
        groups: Vec<GroupInfo>,
    },
    GroupMembers {
        group: String,
        members: Vec<GroupMemberInfo>,
    },
    GroupMessages {
        group: String,
        messages: Vec<GroupMessageInfo>,
    },
    GroupExport {
        name: String,
        base64: String,
    },
    File(FileInfo),
    Devices(DevicesInfo),
    LinkCode {
        uri: String,
        valid_secs: u64,
    },
    FileData {
        name: String,
        mime: String,
        base64: String,
    },
    Done,
}

/// One person's devices, as this device knows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevicesInfo {
    /// The account: the id contacts know.
    pub account: String,
    /// This device's own key.
    pub this_device: String,
    /// This device holds the account key (it may link and revoke).
    pub holder: bool,
    /// This device waits to finish joining its account.
    pub joining: bool,
    pub devices: Vec<DeviceInfo>,
    /// How many devices were revoked.
    pub revoked: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub mailbox: bool,
    /// This is the device answering.
    pub this: bool,
}

/// Coarse error classes a caller can act on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (bad invite, unknown contact, …).
    Invalid,
    NotFound,
    /// The store failed; nothing was changed.
    Storage,
    /// The node cannot take more right now (outbox full).
    Busy,
    Internal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<cairn_protocol::EngineError> for ApiError {
    fn from(e: cairn_protocol::EngineError) -> Self {
        use cairn_protocol::EngineError as E;
        let kind = match &e {
            E::Store(_) => ErrorKind::Storage,
            E::UnknownContact(_) | E::UnknownGroup(_) => ErrorKind::NotFound,
            E::OutboxFull(_) => ErrorKind::Busy,
            _ => ErrorKind::Invalid,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<cairn_protocol::StoreError> for ApiError {
    fn from(e: cairn_protocol::StoreError) -> Self {
        ApiError::new(ErrorKind::Storage, e.to_string())
    }
}

/// The wire form of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(Reply),
    Error(ApiError),
}

impl From<Result<Reply, ApiError>> for Response {
    fn from(r: Result<Reply, ApiError>) -> Self {
        match r {
            Ok(reply) => Response::Ok(reply),
            Err(e) => Response::Error(e),
        }
    }
}

impl From<Response> for Result<Reply, ApiError> {
    fn from(r: Response) -> Self {
        match r {
            Response::Ok(reply) => Ok(reply),
            Response::Error(e) => Err(e),
        }
    }
}

/// What a watcher hears ([`Request::Watch`]): that something happened and
/// to whom, never what was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    /// A message arrived from `from` (a contact id, or `xmpp:JID`).
    Message {
        from: String,
        id: String,
    },
    /// A message in the conversation with `peer` was reacted to, edited or
    /// deleted (`id` empty: messages reached the disappearing timer and
    /// were erased): read it again.
    Changed {
        peer: String,
        id: String,
    },
    /// One of ours moved on (sent, delivered, read, relayed).
    State {
        peer: String,
        id: String,
        state: String,
    },
    ContactAdded {
        peer: String,
    },
    /// Show this loudly: compare safety numbers again.
    KeyChanged {
        peer: String,
    },
    Session {
        peer: String,
    },
    LinkClosed,
    Group {
        group: String,
    },
    /// A file transfer moved on.
    File {
        peer: String,
        id: String,
        state: String,
    },
    Bridge {
        peer: String,
    },
    /// This account's devices changed (one linked or revoked).
    Devices,
    /// Show this loudly: a device list for `peer` signed by another key
    /// was refused.
    DeviceListRefused {
        peer: String,
        reason: String,
    },
    /// The watcher fell behind and missed this many: read everything again.
    Missed {
        count: u64,
    },
}

impl Notice {
    pub fn of(event: &cairn_protocol::Event) -> Self {
        use cairn_protocol::Event;
        match event {
            Event::MessageReceived(m) => Notice::Message {
                from: match &m.remote {
                    Some(jid) => format!("xmpp:{jid}"),
                    None => m.peer.to_string(),
                },
                id: m.id.to_string(),
            },
            Event::MessageChanged { peer, id } => Notice::Changed {
                peer: peer.to_string(),
                id: id.to_string(),
            },
            Event::BridgedOp(m) => Notice::Changed {
                peer: m.peer.to_string(),
                id: m.op.map(|o| o.target.to_string()).unwrap_or_default(),
            },
            Event::MessagesExpired { peer } => Notice::Changed {
                peer: peer.to_string(),
                id: String::new(),
            },
            Event::MessageState { peer, id, state } => Notice::State {
                peer: peer.to_string(),
                id: id.to_string(),
                state: state.as_str().to_owned(),
            },
            Event::ContactAdded { peer, .. } => Notice::ContactAdded {
                peer: peer.to_string(),
            },
            Event::ContactKeyChanged { peer } => Notice::KeyChanged {
                peer: peer.to_string(),
            },
            Event::SessionUp { peer } => Notice::Session {
                peer: peer.to_string(),
            },
            Event::LinkClosed { .. } => Notice::LinkClosed,
            Event::GroupChanged { group } => Notice::Group {
                group: group.to_string(),
            },
            Event::Bridge { peer, .. } => Notice::Bridge {
                peer: peer.to_string(),
            },
            Event::FileProgress(r) => Notice::File {
                peer: r.peer.to_string(),
                id: r.id.to_string(),
                state: transfer_state(r.state).to_owned(),
            },
            Event::DevicesChanged | Event::DeviceLinked { .. } => Notice::Devices,
            Event::DeviceListRefused { peer, error } => Notice::DeviceListRefused {
                peer: peer.to_string(),
                reason: error.to_string(),
            },
        }
    }
}

/// A transfer's state as the API names it.
pub fn transfer_state(state: cairn_protocol::file::TransferState) -> &'static str {
    use cairn_protocol::file::TransferState;
    match state {
        TransferState::Going => "going",
        TransferState::Complete => "complete",
        TransferState::Failed => "failed",
    }
}
