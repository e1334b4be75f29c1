//! Groups: one automerge document per group (docs/GROUPS.md).
//!
//! - [`GroupDoc`]: the document's schema, local edits and reading it back.
//! - [`gate`]: what a received change must pass before it is applied —
//!   authorship (signatures), the rules judged in the change's causal past,
//!   and the sync-protocol bookkeeping for refused changes.
//! - [`groups`]: every group of a node, syncing with members over sessions and
//!   pushing through the mesh; fragmentation and storage.
//!
//! The schema keeps every value a scalar in flat maps whose object ids the
//! genesis change fixes, so a change can be judged from its own operations:
//!
//! ```text
//! ROOT      schema "cairn-group/1", name, topic, epoch (int)
//! members   identity (hex) → "admin" | "member"
//!           | "device:<account hex>"  a device of that member's (its standing)
//!           | "revoked:<account hex>" a device its account revoked, for good
//! names     identity (hex) → display name (a device's: its own name)
//! keys      identity (hex) → static X25519 key (hex)
//! added_by  identity (hex) → identity (hex) of the admin who added them
//! added_at  identity (hex) → milliseconds since the Unix epoch
//! removed   identity (hex) → the epoch their removal started
//! epoch_keys "<key id>/<member hex>" → the epoch key sealed to that member (hex)
//! messages  "<author hex>/<message id hex>" → the post encrypted under a
//!           key of its own ([`posts`]); older documents: text, or after a
//!           removal text encrypted under the current epoch key ([`keys`])
//! ```
//!
//! ROOT also holds `key`: the id of the current epoch key ("" before the
//! first removal), and `timer`: the disappearing-message timer in seconds
//! (absent or 0: off), with `timer_at` (ms) when it was set: it applies to
//! posts written from then on.
//!
//! A message id is 8 bytes of the author's clock (ms, big-endian) and 8
//! random bytes. A group's id is the first 16 bytes of the hash of its genesis
//! change, so a document proves which group it is.

pub mod chunk;
pub mod files;
pub mod gate;
pub mod groups;
pub mod keys;
pub mod posts;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_ops;

use std::collections::BTreeMap;
use std::fmt;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};
use thiserror::Error;

use crate::identity::{IdentityKey, StaticKey};
use crate::ids::MessageId;
use crate::time::Time;

pub const SCHEMA: &str = "cairn-group/1";
/// The commit message that marks a change touching membership or settings.
/// Only such changes may do so; they are judged as admin changes.
pub const ADMIN_MARK: &str = "cairn:admin";
/// Longest group name and topic, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// The `removed` key suffix under which a removal records the removed
/// member's cut-off ([`GroupDoc`]'s reads ignore its ops past it).
const CUT_SUFFIX: &str = "/cut";

/// The maps an admin change may write, besides ROOT.
const ADMIN_MAPS: [&str; 7] = [
    "members",
    "names",
    "keys",
    "added_by",
    "added_at",
    "removed",
    "epoch_keys",
];

/// A group's id: the first 16 bytes of its genesis change's hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub [u8; 16]);

impl GroupId {
    pub fn of_genesis(hash: &ChangeHash) -> Self {
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash.0[..16]);
        GroupId(id)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}

impl std::str::FromStr for GroupId {
    type Err = GroupError;
    fn from_str(s: &str) -> Result<Self, GroupError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| GroupError::Malformed("group id"))?;
        Ok(GroupId(
            bytes
                .try_into()
                .map_err(|_| GroupError::Malformed("group id"))?,
        ))
    }
}

/// What `members` says of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A member (a person's account), with its role.
    Member(Role),
    /// A device of the member whose account key this is: it speaks with
    /// the member's standing, and what it writes is the member's.
    Device([u8; 32]),
    /// A device its account revoked. Never a device again: a revocation
    /// wins over a concurrent re-add ([`GroupDoc`] reads conflicting
    /// values so), and the gate refuses a later one.
    Revoked([u8; 32]),
}

const DEVICE_PREFIX: &str = "device:";
const REVOKED_PREFIX: &str = "revoked:";

impl Entry {
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(role) = Role::parse(s) {
            return Some(Entry::Member(role));
        }
        if let Some(a) = s.strip_prefix(DEVICE_PREFIX) {
            return Some(Entry::Device(unhex(a)?));
        }
        Some(Entry::Revoked(unhex(s.strip_prefix(REVOKED_PREFIX)?)?))
    }

    pub fn encode(&self) -> String {
        match self {
            Entry::Member(role) => role.as_str().to_owned(),
            Entry::Device(a) => format!("{DEVICE_PREFIX}{}", hex(a)),
            Entry::Revoked(a) => format!("{REVOKED_PREFIX}{}", hex(a)),
        }
    }

    /// The account of a device entry, revoked or not.
    pub fn account(&self) -> Option<[u8; 32]> {
        match self {
            Entry::Member(_) => None,
            Entry::Device(a) | Entry::Revoked(a) => Some(*a),
        }
    }
}

/// A member's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupError {
    #[error("the group document is malformed: {0}")]
    Malformed(&'static str),
    #[error("automerge: {0}")]
    Automerge(String),
    #[error("only admins may do that")]
    NotAdmin,
    #[error("not a member of this group")]
    NotMember,
    #[error("already a member of this group")]
    AlreadyMember,
    #[error("the group has not arrived yet")]
    NotYetJoined,
    #[error("name or topic too long ({0} bytes; at most {MAX_NAME_LEN})")]
    NameTooLong(usize),
    #[error("this group's current key has not reached us yet; try again once synced")]
    NoEpochKey,
    #[error("a text may not start with a control character")]
    BadText,
    #[error("already {0}")]
    SameRole(&'static str),
    #[error("a group needs an admin: make someone else admin first")]
    LastAdmin,
    #[error("that device was revoked; a revoked device never comes back")]
    Revoked,
    #[error("not a device of this account in this group")]
    NotADevice,
    #[error("no message with that id in this group")]
    NoSuchMessage,
    #[error("that message was deleted")]
    Deleted,
    #[error("only its author may do that (an admin may also delete it)")]
    NotAuthor,
    #[error("only the device that wrote a message can edit it")]
    OtherDevice,
    #[error("a reaction is one emoji")]
    NotAReaction,
    #[error("a file cannot be edited (delete it and send it again)")]
    FileNotEditable,
}

impl From<automerge::AutomergeError> for GroupError {
    fn from(e: automerge::AutomergeError) -> Self {
        GroupError::Automerge(e.to_string())
    }
}

/// The automerge actor of an identity: its 32 key bytes.
pub fn actor_of(key: &IdentityKey) -> ActorId {
    ActorId::from(key.as_bytes().as_slice())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .ok()?
        .try_into()
        .ok()
}

/// One member, as the document says: a person (their account), listed once
/// however many devices they have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub identity: IdentityKey,
    pub role: Role,
    pub name: String,
    pub static_key: Option<StaticKey>,
    pub added_by: Option<IdentityKey>,
    pub added_at: Time,
    /// The member's other devices in the group (not revoked).
    pub devices: Vec<MemberDevice>,
}

/// A device of a member, as the document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDevice {
    pub identity: IdentityKey,
    pub name: String,
    pub static_key: Option<StaticKey>,
}

/// One message of the group's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    /// The member who wrote it (the account, whichever device it was).
    pub author: IdentityKey,
    /// The key that signed it: the author's, or one of its devices'.
    pub device: IdentityKey,
    pub id: MessageId,
    pub sent_at: Time,
    pub text: String,
    /// Written on another network by someone of this name, and posted by
    /// the author, a bridge (an XMPP room's occupant, say).
    pub via: Option<String>,
    /// A bridge's notice that the group is reachable from elsewhere, at this
    /// address (an XMPP room).
    pub bridged_as: Option<String>,
    /// The message this one replies to, and its text (unless deleted).
    pub reply_to: Option<MessageId>,
    pub quote: Option<String>,
    /// Reactions: one per member (by account), oldest member key first.
    pub reactions: Vec<(IdentityKey, String)>,
    /// Its author changed it (the latest text is shown).
    pub edited: bool,
    /// Deleted for everyone, by its author or an admin: the text is gone.
    pub deleted: bool,
    /// A file (the text is its name), and whether we hold it whole.
    pub file: Option<crate::file::FileMeta>,
    pub file_held: bool,
}

/// Starts a text a bridge posts for someone elsewhere:
/// `BRIDGED_PREFIX name "\n" text`.
pub const BRIDGED_PREFIX: &str = "\u{2}via:";
/// Starts a bridge's notice: `BRIDGE_NOTICE_PREFIX address "\n" text`.
pub const BRIDGE_NOTICE_PREFIX: &str = "\u{2}bridge:";
/// Most bytes of a name or address in those prefixes.
pub const MAX_BRIDGED_NAME: usize = 256;
/// Most bytes of a stored message value: a text of `MAX_TEXT_LEN` with a
/// bridge prefix, sealed under an epoch key and in base64, is
/// 4/3 × (60 000 + 262 + 40) + 30 ≈ 80 400 bytes. (Judging stored values
/// by `MAX_TEXT_LEN` refused long texts once they were sealed.)
pub const MAX_VALUE_LEN: usize = 100_000;

/// A text as a bridge posts it for `name`.
pub fn bridged_text(prefix: &str, name: &str, text: &str) -> String {
    let name: String = name
        .chars()
        .filter(|c| !c.is_control())
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= MAX_BRIDGED_NAME).then_some(c)
        })
        .collect();
    format!("{prefix}{name}\n{text}")
}

impl GroupMessage {
    /// Reads the bridge prefixes off a (decrypted) text.
    pub(crate) fn unwrap_bridged(&mut self) {
        for (prefix, bridged) in [(BRIDGED_PREFIX, false), (BRIDGE_NOTICE_PREFIX, true)] {
            if let Some((name, text)) = self
                .text
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_once('\n'))
                && name.len() <= MAX_BRIDGED_NAME
            {
                let name = name.to_owned();
                self.text = text.to_owned();
                if bridged {
                    self.bridged_as = Some(name);
                } else {
                    self.via = Some(name);
                }
                return;
            }
        }
    }
}

/// Someone to add: what the document records of them.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Their account key (the key contacts know).
    pub identity: IdentityKey,
    pub name: String,
    pub static_key: StaticKey,
    /// Their other devices, each with its own keys.
    pub devices: Vec<NewDevice>,
}

/// A device of a member's, to list under it.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub identity: IdentityKey,
    pub name: String,
    pub static_key: StaticKey,
}

/// The objects the genesis change created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub members: ObjId,
    pub maps: Vec<(&'static str, ObjId)>,
    pub messages: ObjId,
}

impl Layout {
    pub(crate) fn read(doc: &AutoCommit) -> Option<Self> {
        match doc.get(ROOT, "schema") {
            Ok(Some((automerge::Value::Scalar(s), _))) if s.as_str() == Some(SCHEMA) => {}
            _ => return None,
        }
        let obj = |key: &str| match doc.get(ROOT, key) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        };
        let maps = ADMIN_MAPS
            .iter()
            .map(|k| Some((*k, obj(k)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Layout {
            members: obj("members")?,
            maps,
            messages: obj("messages")?,
        })
    }

    fn map(&self, name: &str) -> &ObjId {
        self.maps
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, id)| id)
            .unwrap_or(&self.members)
    }
}

/// An epoch key: its id and its copies sealed to each member (and device)
/// who gets it.
pub type Rotation<'a> = (&'a str, Vec<(IdentityKey, Vec<u8>)>);

/// A group's automerge document, edited as `me`.
pub struct GroupDoc {
    pub(crate) doc: AutoCommit,
    pub(crate) layout: Option<Layout>,
    me: IdentityKey,
}

impl GroupDoc {
    /// A new group with `creator` as its only member and admin. Returns the
    /// document and its id.
    pub fn create(
        creator: &NewMember,
        name: &str,
        now: Time,
    ) -> Result<(Self, GroupId), GroupError> {
        check_len(name)?;
        let me = creator.identity;
        let mut doc = AutoCommit::new().with_actor(actor_of(&me));
        doc.put(ROOT, "schema", SCHEMA)?;
        doc.put(ROOT, "name", name)?;
        doc.put(ROOT, "topic", "")?;
        doc.put(ROOT, "epoch", 0i64)?;
        doc.put(ROOT, "key", "")?;
        for map in ADMIN_MAPS {
            doc.put_object(ROOT, map, ObjType::Map)?;
        }
        doc.put_object(ROOT, "messages", ObjType::Map)?;
        let layout = Layout::read(&doc).ok_or(GroupError::Malformed("layout"))?;
        let mut g = Self {
            doc,
            layout: Some(layout),
            me,
        };
        g.write_member(creator, Role::Admin, now)?;
        let hash = g
            .commit(true, now)
            .ok_or(GroupError::Malformed("empty genesis"))?;
        Ok((g, GroupId::of_genesis(&hash)))
    }

    /// A group we were added to and whose document has not arrived yet.
    pub fn empty(me: &IdentityKey) -> Self {
        Self {
            doc: AutoCommit::new().with_actor(actor_of(me)),
            layout: None,
            me: *me,
        }
    }

    /// Loads saved bytes (a snapshot and increments, concatenated).
    pub fn load(bytes: &[u8], me: &IdentityKey) -> Result<Self, GroupError> {
        let mut doc = AutoCommit::new().with_actor(actor_of(me));
        doc.load_incremental(bytes)?;
        let layout = Layout::read(&doc);
        Ok(Self {
            doc,
            layout,
            me: *me,
        })
    }

    /// Whether the genesis has arrived.
    pub fn is_ready(&self) -> bool {
        self.layout.is_some()
    }

    /// Re-reads the layout after changes were applied to an empty document.
    pub(crate) fn refresh_layout(&mut self) {
        if self.layout.is_none() {
            self.layout = Layout::read(&self.doc);
        }
    }

    fn layout(&self) -> Result<&Layout, GroupError> {
        self.layout.as_ref().ok_or(GroupError::NotYetJoined)
    }

    /// The whole document, as stock automerge reads it.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn name(&self) -> String {
        self.string(&ROOT, "name").unwrap_or_default()
    }

    pub fn topic(&self) -> String {
        self.string(&ROOT, "topic").unwrap_or_default()
    }

    /// The group's disappearing-message timer in seconds (0: off), set by
    /// admins; read within [0, [`MAX_TIMER_SECS`]].
    pub fn timer(&self) -> u64 {
        self.int(&ROOT, "timer")
            .unwrap_or(0)
            .clamp(0, MAX_TIMER_SECS as i64) as u64
    }

    /// When the timer was set (the setter's clock): it applies to posts
    /// written from then on, not to what was written before.
    pub fn timer_since(&self) -> Time {
        Time::from_millis(self.int(&ROOT, "timer_at").unwrap_or(0).max(0) as u64)
    }

    /// Sets the disappearing-message timer. Admins only.
    pub fn set_timer(&mut self, secs: u64, now: Time) -> Result<ChangeHash, GroupError> {
        self.require_admin()?;
        self.doc
            .put(ROOT, "timer", secs.min(MAX_TIMER_SECS) as i64)?;
        self.doc.put(
            ROOT,
            "timer_at",
            now.as_millis().min(i64::MAX as u64) as i64,
        )?;
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Every string value the document's history holds, current or not,
    /// with the map key it was written under (what anyone holding the file
    /// could read out of it).
    pub fn values_ever(&mut self) -> Vec<(String, String)> {
        values_ever(&mut self.doc)
    }

    pub fn epoch(&self) -> i64 {
        self.int(&ROOT, "epoch").unwrap_or(0)
    }

    fn string(&self, obj: &ObjId, key: &str) -> Option<String> {
        self.scalar(obj, key, None)?.as_str().map(str::to_owned)
    }

    fn int(&self, obj: &ObjId, key: &str) -> Option<i64> {
        self.scalar(obj, key, None)?.as_i64()
    }

    /// The value at `key` (as of `heads`, or now), ignoring what removed
    /// members wrote past their cut-off: when an admin removes someone it
    /// records the newest op counter of theirs it holds (`removed`,
    /// `ID/cut`); that member's later ops — written before they heard of the
    /// removal, concurrent with it, so the gate accepted them — count for
    /// nothing wherever the removal is known (THREAT_MODEL.md, "Attacks
    /// tried" 2). A member's own later ops all carry higher counters
    /// (Lamport), so nothing it writes after the cut-off escapes it.
    fn scalar(
        &self,
        obj: &ObjId,
        key: &str,
        heads: Option<&[ChangeHash]>,
    ) -> Option<automerge::ScalarValue> {
        if self.cuts(heads).is_empty() {
            let got = match heads {
                Some(h) => self.doc.get_at(obj, key, h),
                None => self.doc.get(obj, key),
            };
            return match got.ok().flatten()? {
                (automerge::Value::Scalar(s), _) => Some(s.into_owned()),
                (automerge::Value::Object(_), _) => None,
            };
        }
        self.values(obj, key, heads)?
            .into_iter()
            .max_by(|(_, a), (_, b)| a.cmp(b))
            .map(|(v, _)| v)
    }

    /// Every value standing at `key` (concurrent writes leave several), but
    /// those removed members wrote past their cut-off ([`Self::scalar`]).
    fn values(
        &self,
        obj: &ObjId,
        key: &str,
        heads: Option<&[ChangeHash]>,
    ) -> Option<Vec<(automerge::ScalarValue, ObjId)>> {
        let all = match heads {
            Some(h) => self.doc.get_all_at(obj, key, h),
            None => self.doc.get_all(obj, key),
        }
        .ok()?;
        let scalars = all.into_iter().filter_map(|(v, id)| match v {
            automerge::Value::Scalar(s) => Some((s.into_owned(), id)),
            automerge::Value::Object(_) => None,
        });
        let cuts = self.cuts(heads);
        if cuts.is_empty() {
            return Some(scalars.collect());
        }
        Some(
            scalars
                .filter(|(_, id)| match id {
                    ObjId::Id(counter, actor, _) => {
                        cuts.get(actor.to_bytes()).is_none_or(|cut| counter <= cut)
                    }
                    ObjId::Root => true,
                })
                .collect(),
        )
    }

    /// Removed members' cut-offs (actor bytes → the last op counter that
    /// counts), as of `heads` or now.
    fn cuts(&self, heads: Option<&[ChangeHash]>) -> BTreeMap<Vec<u8>, u64> {
        let Some(l) = &self.layout else {
            return BTreeMap::new();
        };
        let map = l.map("removed");
        let keys: Vec<String> = match heads {
            Some(h) => self.doc.keys_at(map, h).collect(),
            None => self.doc.keys(map).collect(),
        };
        keys.into_iter()
            .filter_map(|k| {
                let who = data_encoding::HEXLOWER
                    .decode(k.strip_suffix(CUT_SUFFIX)?.as_bytes())
                    .ok()?;
                let got = match heads {
                    Some(h) => self.doc.get_at(map, &k, h),
                    None => self.doc.get(map, &k),
                };
                let Ok(Some((automerge::Value::Scalar(v), _))) = got else {
                    return None;
                };
                Some((who, u64::try_from(v.as_i64()?).ok()?))
            })
            .collect()
    }

    /// What `members` says of `who` (as of `heads`, or now). Of values
    /// written concurrently, a revocation wins: a device cannot be put back
    /// by a re-add that did not know of its revocation.
    fn entry_raw(&self, who: &[u8; 32], heads: Option<&[ChangeHash]>) -> Option<Entry> {
        let l = self.layout.as_ref()?;
        let k = hex(who);
        let entry = Entry::parse(self.scalar(&l.members, &k, heads)?.as_str()?)?;
        if !matches!(entry, Entry::Device(_)) {
            return Some(entry);
        }
        // A device: was it revoked concurrently?
        let revoked = self
            .values(&l.members, &k, heads)?
            .iter()
            .filter_map(|(v, _)| v.as_str().and_then(Entry::parse))
            .find(|e| matches!(e, Entry::Revoked(_)));
        Some(revoked.unwrap_or(entry))
    }

    /// What `members` says of `who` now.
    pub fn entry(&self, who: &IdentityKey) -> Option<Entry> {
        self.entry_raw(who.as_bytes(), None)
    }

    /// What `members` said of `who` at `heads` (which the document holds).
    pub(crate) fn entry_at(&self, who: &[u8; 32], heads: &[ChangeHash]) -> Option<Entry> {
        self.entry_raw(who, Some(heads))
    }

    /// The standing `who` writes with: a member's role, or for a device its
    /// member's.
    fn standing(&self, who: &[u8; 32], heads: Option<&[ChangeHash]>) -> Option<Role> {
        match self.entry_raw(who, heads)? {
            Entry::Member(role) => Some(role),
            Entry::Device(account) => match self.entry_raw(&account, heads)? {
                Entry::Member(role) => Some(role),
                _ => None,
            },
            Entry::Revoked(_) => None,
        }
    }

    /// Current members (people: a member's devices are listed under it),
    /// ordered by identity.
    pub fn members(&self) -> Vec<Member> {
        let Some(l) = &self.layout else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut devices: BTreeMap<[u8; 32], Vec<MemberDevice>> = BTreeMap::new();
        for k in self.doc.keys(&l.members) {
            let Some(bytes) = unhex::<32>(&k) else {
                continue;
            };
            let Ok(identity) = IdentityKey::from_bytes(bytes) else {
                continue;
            };
            let name = self.string(l.map("names"), &k).unwrap_or_default();
            let static_key = self
                .string(l.map("keys"), &k)
                .and_then(|s| unhex(&s))
                .map(StaticKey);
            match self.entry_raw(&bytes, None) {
                Some(Entry::Member(role)) => out.push(Member {
                    identity,
                    role,
                    name,
                    static_key,
                    added_by: self
                        .string(l.map("added_by"), &k)
                        .and_then(|s| unhex(&s))
                        .and_then(|b| IdentityKey::from_bytes(b).ok()),
                    added_at: Time::from_millis(
                        self.int(l.map("added_at"), &k).unwrap_or(0).max(0) as u64,
                    ),
                    devices: Vec::new(),
                }),
                Some(Entry::Device(account)) => {
                    devices.entry(account).or_default().push(MemberDevice {
                        identity,
                        name,
                        static_key,
                    })
                }
                Some(Entry::Revoked(_)) | None => {}
            }
        }
        for m in &mut out {
            m.devices = devices.remove(m.identity.as_bytes()).unwrap_or_default();
        }
        out.sort_by_key(|m| *m.identity.as_bytes());
        out
    }

    /// Every key that is in the group now (each member and each of its
    /// devices), with its static key: who syncs, who epoch keys are
    /// sealed to.
    pub fn recipients(&self) -> Vec<(IdentityKey, Option<StaticKey>)> {
        self.members()
            .into_iter()
            .flat_map(|m| {
                std::iter::once((m.identity, m.static_key))
                    .chain(m.devices.into_iter().map(|d| (d.identity, d.static_key)))
            })
            .collect()
    }

    /// Whether `who` is in the group: a member, or a device of one.
    pub fn is_member(&self, who: &IdentityKey) -> bool {
        self.role_of(who).is_some()
    }

    /// The standing of `who`: a member's role, or a device's member's.
    pub fn role_of(&self, who: &IdentityKey) -> Option<Role> {
        self.standing(who.as_bytes(), None)
    }

    /// The member `who` writes for: its account if it is (or was) a
    /// member's device, else itself.
    pub fn account_of(&self, who: &IdentityKey) -> IdentityKey {
        self.entry(who)
            .and_then(|e| e.account())
            .and_then(|a| IdentityKey::from_bytes(a).ok())
            .unwrap_or(*who)
    }

    /// Every device key the document lists (revoked too) → its account.
    fn device_accounts(&self) -> BTreeMap<[u8; 32], IdentityKey> {
        let Some(l) = &self.layout else {
            return BTreeMap::new();
        };
        self.doc
            .keys(&l.members)
            .filter_map(|k| {
                let bytes = unhex::<32>(&k)?;
                let account = self.entry_raw(&bytes, None)?.account()?;
                Some((bytes, IdentityKey::from_bytes(account).ok()?))
            })
            .collect()
    }

    /// Whether `who` was ever removed (and at which epoch, the latest); a
    /// device, when it or its member was.
    pub fn removed_at(&self, who: &IdentityKey) -> Option<i64> {
        let map = self.layout.as_ref()?.map("removed");
        self.int(map, &hex(who.as_bytes())).or_else(|| {
            let account = self.account_of(who);
            (account != *who)
                .then(|| self.int(map, &hex(account.as_bytes())))
                .flatten()
        })
    }

    /// The epoch a revocation asked for and no admin has started yet: a
    /// member who revokes one of its devices records the removal, and the
    /// first admin who sees it starts the epoch (members do not hand out
    /// keys).
    pub fn rotation_owed(&self) -> Option<i64> {
        let map = self.layout.as_ref()?.map("removed");
        let epoch = self.epoch();
        self.doc
            .keys(map)
            .filter(|k| !k.ends_with(CUT_SUFFIX))
            .filter_map(|k| {
                let who = unhex::<32>(&k)?;
                matches!(self.entry_raw(&who, None), Some(Entry::Revoked(_))).then_some(())?;
                self.int(map, &k)
            })
            .filter(|e| *e > epoch)
            .max()
    }

    fn require_admin(&self) -> Result<(), GroupError> {
        match self.role_of(&self.me) {
            Some(Role::Admin) => Ok(()),
            Some(Role::Member) => Err(GroupError::NotAdmin),
            None => Err(GroupError::NotMember),
        }
    }

    fn write_member(&mut self, who: &NewMember, role: Role, now: Time) -> Result<(), GroupError> {
        self.write_entry(
            &who.identity,
            Entry::Member(role),
            &who.name,
            &who.static_key,
            now,
        )?;
        for d in &who.devices {
            if matches!(self.entry(&d.identity), Some(Entry::Revoked(_))) {
                continue; // never back
            }
            let device = Entry::Device(*who.identity.as_bytes());
            self.write_entry(&d.identity, device, &d.name, &d.static_key, now)?;
        }
        Ok(())
    }

    fn write_entry(
        &mut self,
        who: &IdentityKey,
        entry: Entry,
        name: &str,
        static_key: &StaticKey,
        now: Time,
    ) -> Result<(), GroupError> {
        let l = self.layout()?.clone();
        let k = hex(who.as_bytes());
        // Back in: a cut-off from an earlier removal no longer applies.
        let cut = format!("{k}{CUT_SUFFIX}");
        if self
            .doc
            .get(l.map("removed"), &cut)
            .ok()
            .flatten()
            .is_some()
        {
            self.doc.delete(l.map("removed"), &cut)?;
        }
        self.doc.put(&l.members, &k, entry.encode())?;
        self.doc.put(l.map("names"), &k, clip(name))?;
        self.doc.put(l.map("keys"), &k, hex(&static_key.0))?;
        self.doc
            .put(l.map("added_by"), &k, hex(self.me.as_bytes()))?;
        self.doc
            .put(l.map("added_at"), &k, now.as_millis() as i64)?;
        Ok(())
    }

    /// Writes epoch key copies: `slot "<key id>/<identity>"` → sealed.
    fn write_sealed(
        &mut self,
        id: &str,
        sealed: &[(IdentityKey, Vec<u8>)],
    ) -> Result<(), GroupError> {
        let map = self.layout()?.map("epoch_keys").clone();
        for (who, key) in sealed {
            let slot = format!("{id}/{}", hex(who.as_bytes()));
            self.doc.put(&map, slot, hex(key))?;
        }
        Ok(())
    }

    /// The newest op counter of `who`'s we hold: what counts of a removed
    /// member or device.
    fn cut_of(&mut self, who: &IdentityKey) -> i64 {
        let actor = actor_of(who);
        let newest = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .filter(|m| *m.actor == actor)
            .map(|m| m.max_op)
            .max()
            .unwrap_or(0);
        i64::try_from(newest).unwrap_or(i64::MAX)
    }

    fn commit(&mut self, admin: bool, now: Time) -> Option<ChangeHash> {
        let mut options = CommitOptions::default().with_time(now.as_millis() as i64);
        if admin {
            options.set_message(ADMIN_MARK);
        }
        self.doc.commit_with(options)
    }

    /// Adds a member (or changes a member's role), with its devices. Admins
    /// only. `key`: the current epoch key, sealed to the member and to each
    /// of its devices.
    pub fn add_member(
        &mut self,
        who: &NewMember,
        role: Role,
        now: Time,
        key: Option<Rotation<'_>>,
    ) -> Result<ChangeHash, GroupError> {
        self.require_admin()?;
        match self.entry(&who.identity) {
            Some(Entry::Member(r)) if r == role => return Err(GroupError::AlreadyMember),
            Some(Entry::Device(_)) => return Err(GroupError::AlreadyMember),
            Some(Entry::Revoked(_)) => return Err(GroupError::Revoked),
            _ => {}
        }
        self.write_member(who, role, now)?;
        if let Some((id, sealed)) = key {
            self.write_sealed(id, &sealed)?;
        }
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Lists a new device of ours under our membership, with the current
    /// epoch key sealed to it. Only the account itself (not one of its
    /// devices) may.
    pub fn add_device(
        &mut self,
        device: &NewDevice,
        now: Time,
        key: Option<(&str, Vec<u8>)>,
    ) -> Result<ChangeHash, GroupError> {
        if !matches!(self.entry(&self.me), Some(Entry::Member(_))) {
            return Err(GroupError::NotMember);
        }
        match self.entry(&device.identity) {
            None => {}
            Some(Entry::Revoked(_)) => return Err(GroupError::Revoked),
            Some(_) => return Err(GroupError::AlreadyMember),
        }
        let account = Entry::Device(*self.me.as_bytes());
        self.write_entry(
            &device.identity,
            account,
            &device.name,
            &device.static_key,
            now,
        )?;
        if let Some((id, sealed)) = key {
            self.write_sealed(id, &[(device.identity, sealed)])?;
        }
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Revokes a device for good: it leaves the group, what it wrote after
    /// what we hold of it counts for nothing, and — if we are an admin — a
    /// new epoch starts with `rotation` (otherwise the first admin who sees
    /// it starts one: [`GroupDoc::rotation_owed`]). Its account, or an
    /// admin.
    pub fn revoke_device(
        &mut self,
        device: &IdentityKey,
        now: Time,
        rotation: Option<Rotation<'_>>,
    ) -> Result<ChangeHash, GroupError> {
        let account = match self.entry(device) {
            Some(Entry::Device(a)) => a,
            Some(Entry::Revoked(_)) => return Err(GroupError::Revoked),
            _ => return Err(GroupError::NotADevice),
        };
        if account != *self.me.as_bytes() {
            self.require_admin()?;
        }
        let l = self.layout()?.clone();
        let epoch = self.epoch() + 1;
        let k = hex(device.as_bytes());
        let cut = self.cut_of(device);
        self.doc
            .put(&l.members, &k, Entry::Revoked(account).encode())?;
        self.doc.put(l.map("removed"), &k, epoch)?;
        self.doc
            .put(l.map("removed"), format!("{k}{CUT_SUFFIX}"), cut)?;
        if self.role_of(&self.me) == Some(Role::Admin) {
            self.start_epoch(epoch, rotation)?;
        }
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Starts the epoch a revocation asked for. Admins only.
    pub fn rotate(
        &mut self,
        epoch: i64,
        rotation: Rotation<'_>,
        now: Time,
    ) -> Result<ChangeHash, GroupError> {
        self.require_admin()?;
        self.start_epoch(epoch, Some(rotation))?;
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    fn start_epoch(
        &mut self,
        epoch: i64,
        rotation: Option<Rotation<'_>>,
    ) -> Result<(), GroupError> {
        self.doc.put(ROOT, "epoch", epoch)?;
        if let Some((id, sealed)) = rotation {
            self.write_sealed(id, &sealed)?;
            self.doc.put(ROOT, "key", id)?;
        }
        Ok(())
    }

    /// Makes a member an admin or a plain member. Admins only; the last
    /// admin cannot step down.
    pub fn set_role(
        &mut self,
        who: &IdentityKey,
        role: Role,
        now: Time,
    ) -> Result<ChangeHash, GroupError> {
        self.require_admin()?;
        match self.entry(who) {
            Some(Entry::Member(r)) if r == role => {
                return Err(GroupError::SameRole(role.as_str()));
            }
            Some(Entry::Member(_)) => {}
            _ => return Err(GroupError::NotMember),
        }
        let admins = self
            .members()
            .iter()
            .filter(|m| m.role == Role::Admin)
            .count();
        if role == Role::Member && admins <= 1 {
            return Err(GroupError::LastAdmin);
        }
        let l = self.layout()?.clone();
        self.doc
            .put(&l.members, hex(who.as_bytes()), role.as_str())?;
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Removes a member (and so its devices) and starts a new epoch. Admins
    /// only; anyone may remove themselves ([`GroupDoc::leave`]).
    pub fn remove_member(
        &mut self,
        who: &IdentityKey,
        now: Time,
        rotation: Option<Rotation<'_>>,
    ) -> Result<ChangeHash, GroupError> {
        // Leaving: ourselves, or from one of our devices, our account.
        let leaving = who == &self.me || self.account_of(&self.me) == *who;
        if !leaving {
            self.require_admin()?;
        }
        if !matches!(self.entry(who), Some(Entry::Member(_))) {
            return Err(GroupError::NotMember);
        }
        let l = self.layout()?.clone();
        let epoch = self.epoch() + 1;
        let k = hex(who.as_bytes());
        // What of theirs we hold is all that counts of them from now. (Read
        // before editing: reading the history closes an open transaction.)
        let cut = (!leaving).then(|| self.cut_of(who));
        self.doc.delete(&l.members, &k)?;
        self.doc.put(l.map("removed"), &k, epoch)?;
        if let Some(cut) = cut {
            self.doc
                .put(l.map("removed"), format!("{k}{CUT_SUFFIX}"), cut)?;
        }
        if self.role_of(&self.me) == Some(Role::Admin) {
            self.start_epoch(epoch, rotation)?;
        }
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Leaves the group (from any device: the whole account leaves).
    pub fn leave(&mut self, now: Time) -> Result<ChangeHash, GroupError> {
        let account = self.account_of(&self.me);
        self.remove_member(&account, now, None)
    }

    /// The id of the current epoch key, once a removal made one.
    pub fn current_key(&self) -> Option<String> {
        self.string(&ROOT, "key").filter(|k| !k.is_empty())
    }

    /// Epoch keys sealed to `who`: (key id, sealed bytes).
    pub fn sealed_keys_for(&self, who: &IdentityKey) -> Vec<(String, Vec<u8>)> {
        let Some(l) = &self.layout else {
            return Vec::new();
        };
        let suffix = format!("/{}", hex(who.as_bytes()));
        let map = l.map("epoch_keys");
        self.doc
            .keys(map)
            .filter_map(|k| {
                let id = k.strip_suffix(&suffix)?.to_owned();
                let sealed = data_encoding::HEXLOWER
                    .decode(self.string(map, &k)?.as_bytes())
                    .ok()?;
                Some((id, sealed))
            })
            .collect()
    }

    /// Renames the group or sets its topic. Admins only.
    pub fn set_setting(
        &mut self,
        key: &'static str,
        value: &str,
        now: Time,
    ) -> Result<ChangeHash, GroupError> {
        self.require_admin()?;
        check_len(value)?;
        self.doc.put(ROOT, key, value)?;
        self.commit(true, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Posts a message as `me`. Members only.
    pub fn post(
        &mut self,
        id: MessageId,
        value: &str,
        now: Time,
    ) -> Result<ChangeHash, GroupError> {
        if !self.is_member(&self.me) {
            return Err(GroupError::NotMember);
        }
        let messages = self.layout()?.messages.clone();
        self.doc
            .put(&messages, message_slot(&self.me, &id), value)?;
        self.commit(false, now)
            .ok_or(GroupError::Malformed("empty change"))
    }

    /// Messages, oldest first (by the authors' clocks, then author and id).
    pub fn messages(&self) -> Vec<GroupMessage> {
        let accounts = self.device_accounts();
        // A key is a curve point: decompressed once per device, not once per
        // message (it was most of the time of reading a big group).
        let mut keys: BTreeMap<[u8; 32], Option<IdentityKey>> = BTreeMap::new();
        let mut out: Vec<GroupMessage> = self
            .raw_messages()
            .into_iter()
            .filter_map(|(k, text)| {
                let (device, id) = k.split_once('/')?;
                let device = unhex::<32>(device)?;
                let key = *keys
                    .entry(device)
                    .or_insert_with(|| IdentityKey::from_bytes(device).ok());
                let device = key?;
                let author = accounts.get(device.as_bytes()).copied().unwrap_or(device);
                let id = MessageId(unhex(id)?);
                Some(GroupMessage {
                    author,
                    device,
                    id,
                    sent_at: sent_at(&id),
                    text,
                    via: None,
                    bridged_as: None,
                    reply_to: None,
                    quote: None,
                    reactions: Vec::new(),
                    edited: false,
                    deleted: false,
                    file: None,
                    file_held: false,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.sent_at, a.author.as_bytes(), a.id).cmp(&(b.sent_at, b.author.as_bytes(), b.id))
        });
        out
    }

    /// Every message slot the document holds now.
    pub fn slots(&self) -> Vec<String> {
        match &self.layout {
            Some(l) => self.doc.keys(&l.messages).collect(),
            None => Vec::new(),
        }
    }

    /// Every message slot with its value as stored, in one pass over the
    /// map (a lookup per slot cost most of reading a big group). With a
    /// removal's cut-off in force each value is looked up as
    /// [`GroupDoc::raw_message`] does, so what a removed member wrote past
    /// it still counts for nothing.
    pub fn raw_messages(&self) -> Vec<(String, String)> {
        let Some(l) = &self.layout else {
            return Vec::new();
        };
        if !self.cuts(None).is_empty() {
            return self
                .doc
                .keys(&l.messages)
                .filter_map(|k| {
                    let v = self.string(&l.messages, &k)?;
                    Some((k, v))
                })
                .collect();
        }
        self.doc
            .map_range(&l.messages, ..)
            .filter_map(|item| match item.value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(v)) => {
                    Some((item.key.into_owned(), v.into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    /// The value in a message slot as stored (encrypted, a tombstone).
    pub fn raw_message(&self, slot: &str) -> Option<String> {
        self.string(&self.layout.as_ref()?.messages, slot)
    }

    pub fn message_count(&self) -> usize {
        self.layout
            .as_ref()
            .map(|l| self.doc.length(&l.messages))
            .unwrap_or(0)
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The changes after `heads` (all with `&[]`).
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<automerge::Change> {
        self.doc.get_changes(heads)
    }
}

fn check_len(s: &str) -> Result<(), GroupError> {
    if s.len() > MAX_NAME_LEN {
        return Err(GroupError::NameTooLong(s.len()));
    }
    Ok(())
}

fn clip(s: &str) -> &str {
    if s.len() <= MAX_NAME_LEN {
        return s;
    }
    let mut end = MAX_NAME_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Every string value in a document's history, with its map key.
pub fn values_ever(doc: &mut AutoCommit) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in doc.get_changes(&[]) {
        for op in c.decode().operations {
            if let (
                automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s)),
                automerge::legacy::Key::Map(k),
            ) = (op.action, op.key)
            {
                out.push((k.to_string(), s.to_string()));
            }
        }
    }
    out
}

/// Longest disappearing-message timer (as for conversations).
pub const MAX_TIMER_SECS: u64 = crate::disappear::MAX_SECS;

/// The `messages` key of a message: what its ciphertext is bound to.
pub fn message_slot(author: &IdentityKey, id: &MessageId) -> String {
    format!("{}/{}", hex(author.as_bytes()), id)
}

/// A fresh message id: the author's clock, then randomness.
pub fn message_id(now: Time, random: [u8; 8]) -> MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&now.as_millis().to_be_bytes());
    id[8..].copy_from_slice(&random);
    MessageId(id)
}

/// When the author says it wrote a message (the first 8 bytes of its id).
/// The author chooses it: a clock past year 9999 is clamped to its end, so
/// every reader can print it (THREAT_MODEL.md, "Attacks tried").
pub fn sent_at(id: &MessageId) -> Time {
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&id.0[..8]);
    Time::from_millis(u64::from_be_bytes(ms)).clamp_to_dates()
}
