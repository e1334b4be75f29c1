//! Every group of a node: syncing with members, storage, fragmentation.
//!
//! - With a member whose session is up, automerge's sync protocol runs
//!   pairwise (one [`State`] per peer and group, fresh for every session), so
//!   whoever was away catches up from the first member it meets.
//! - A change we make is also pushed through the mesh, sealed, to members with
//!   no session (a "push": one sync message judged with a throwaway state).
//! - Only members (at our heads) are synced with, and only their sync messages
//!   are read: a removed member gets nothing written after its removal.
//! - Sync messages are unbounded (a first catch-up of 100 000 messages is one
//!   9 MB message), so they travel as numbered fragments, reassembled per
//!   peer and group within fixed bounds.
//!
//! Blob inside the fragments:
//!
//! ```text
//! blob  = version:u8(=2) kind:u8 (1 sync, 2 push, 3 keys) count:u16 vouch*count
//!         keys:u16 key*keys want:u16 id:[16]*want [message]   (kind 3: none)
//! vouch = change hash:[32] author:[32] signature:[64]
//! key   = id:[16] 0 key:[32]                        a post key (docs/GROUPS.md)
//!       | id:[16] 1 epoch key id:[8] wrapped:[72]   wrapped under that epoch key
//! message = an automerge sync message (automerge's own encoding)
//! ```
//!
//! A blob carries the keys of the posts its changes write ([`posts`]): a
//! receiver takes a key only if a change of the same blob names it, and only
//! the key its id commits to. A member holding a post whose key it lacks
//! (it came from someone who lacked it, or wrapped under an epoch key that
//! had not reached us yet) asks the members it syncs with for it (`want`,
//! again every tick while it lacks it), who answer with a keys-only blob.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::ChangeHash;
use automerge::sync::{ChunkList, Message, State};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use zeroize::Zeroizing;

use super::files::{self, Fetch, FileBlob, Taken};
use super::gate::{Gate, Outcome, VOUCH_DOMAIN, Vouch, changes_in};
use super::keys;
use super::posts::{self, Body, Post, PostKey, TOMBSTONE};
use super::{
    GroupDoc, GroupError, GroupId, GroupMessage, Member, NewDevice, NewMember, Role, message_slot,
};
use crate::file::FileMeta;
use crate::identity::{Identity, IdentityKey, StaticKey};
use crate::ids::MessageId;
use crate::payload::GroupFragment;
use crate::store::{StoreOp, StoredGroup};
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

pub use crate::limits::{FRAGMENT_LEN, MAX_BLOB, MAX_PARTS};
/// How often syncs that may have stalled on a lost message are nudged.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes being reassembled at once, over all peers.
pub const MAX_REASSEMBLY: usize = 128 * 1024 * 1024;
/// Signatures in one blob.
pub const MAX_VOUCHES: usize = 10_000;
/// Changes waiting for their deps over all groups of a node.
pub const MAX_PENDING_TOTAL: usize = 100_000;
/// Groups one node may be in.
pub const MAX_GROUPS: usize = 1024;
/// Log entries before a snapshot is considered.
const COMPACT_MIN_ENTRIES: usize = 64;

const BLOB_VERSION: u8 = 2;
const KIND_SYNC: u8 = 1;
const KIND_PUSH: u8 = 2;
/// Post keys asked for, or given, with no sync message.
const KIND_KEYS: u8 = 3;
/// Post keys asked for in one blob.
const MAX_WANT: usize = 512;
const META_VERSION: u8 = 1;

/// What the groups want the engine to do.
#[derive(Debug)]
pub enum GroupOutput {
    /// Send in the session with `peer`.
    Send {
        peer: IdentityKey,
        fragment: GroupFragment,
    },
    /// Seal one way to `peer` and hand to the mesh.
    Mesh {
        peer: IdentityKey,
        fragment: GroupFragment,
    },
    /// Send chunks [from, from + count) of a group file we hold to `peer`,
    /// read from the store ([`files`]).
    Serve {
        peer: IdentityKey,
        group: GroupId,
        file: [u8; 16],
        from: u32,
        count: u32,
    },
    /// Stage a write.
    Store(StoreOp),
    /// Tell the user (after the commit).
    Changed(GroupId),
}

/// A group and what we keep about it.
pub struct Group {
    pub id: GroupId,
    pub doc: GroupDoc,
    gate: Gate,
    /// We left (or were removed); the history stays readable.
    pub left: bool,
    /// The document arrived and we were a member in it; until then a group
    /// we were invited to lives in memory only.
    joined: bool,
    log_next: u64,
    log_entries: usize,
    log_bytes: usize,
    snapshot_bytes: usize,
    saved: Vec<ChangeHash>,
    /// A whole document just adopted: its bytes serve as the first snapshot.
    fresh_snapshot: Option<Vec<u8>>,
    /// Epoch keys sealed to us, opened: key id → key.
    keyring: BTreeMap<String, Zeroizing<[u8; 32]>>,
    /// Members we removed, with our signature on the change that removed
    /// them: shown to them when they come by, so they learn it (and what
    /// led to it, nothing after).
    notices: BTreeMap<IdentityKey, Vouch>,
    /// Post keys we hold: id → key ([`posts`]), and slot → id.
    post_keys: BTreeMap<String, PostKey>,
    slot_keys: BTreeMap<String, String>,
    /// Post keys to write at the next save, and ids to erase.
    keys_to_put: BTreeSet<String>,
    keys_to_erase: BTreeSet<String>,
    /// Every key erased since start-up (erased again after a failed commit).
    erased: BTreeSet<String>,
    /// The clock at the last tick: what expiry is judged by.
    now: Time,
    /// Post keys we lack for posts we hold (id → slot): asked for.
    missing: BTreeMap<String, String>,
    /// Values read, by slot (with the value read): reading every post after
    /// each batch would decrypt the whole history again. Emptied whenever
    /// the keys we hold change.
    read_cache: std::cell::RefCell<BTreeMap<String, (String, Reading)>>,
    /// Files ([`files`]) by post key id: held whole (→ chunks), being
    /// fetched, given up on (until the next start).
    files_held: BTreeMap<String, u32>,
    fetches: BTreeMap<String, Fetch>,
    files_failed: BTreeSet<String>,
    /// Files to mark held at the next save, and to erase (with every file
    /// erased since start-up, erased again after a failed commit).
    files_to_put: BTreeSet<String>,
    files_to_erase: BTreeSet<String>,
    files_erased: BTreeSet<String>,
}

/// The stored name of a group's post key ([`crate::store::StoreOp::PutSetting`]).
pub const KEY_SETTING_PREFIX: &str = "group-key/";

/// A stored value, read.
#[derive(Clone)]
enum Reading {
    Tombstone,
    Post(Post),
    /// Not for any reader (a hostile writer's): ignored.
    Malformed,
    /// We lack its key (naming it if it is a post key we may yet get).
    Sealed(Option<String>),
}

/// A group's messages as members see them, and the slots whose text is gone
/// for good (deleted, or expired): their keys are erased.
struct Folded {
    messages: Vec<GroupMessage>,
    dead: BTreeSet<String>,
    /// Post keys named by posts we hold but not held (id → slot).
    missing: BTreeMap<String, String>,
    /// Files of live posts, by post key id.
    files: Vec<(String, FileMeta)>,
}

impl Group {
    fn new(id: GroupId, doc: GroupDoc, joined: bool) -> Self {
        Self {
            id,
            doc,
            gate: Gate::new(id),
            left: false,
            joined,
            log_next: 0,
            log_entries: 0,
            log_bytes: 0,
            snapshot_bytes: 0,
            saved: Vec::new(),
            fresh_snapshot: None,
            keyring: BTreeMap::new(),
            notices: BTreeMap::new(),
            post_keys: BTreeMap::new(),
            slot_keys: BTreeMap::new(),
            keys_to_put: BTreeSet::new(),
            keys_to_erase: BTreeSet::new(),
            erased: BTreeSet::new(),
            now: Time::ZERO,
            missing: BTreeMap::new(),
            read_cache: Default::default(),
            files_held: BTreeMap::new(),
            fetches: BTreeMap::new(),
            files_failed: BTreeSet::new(),
            files_to_put: BTreeSet::new(),
            files_to_erase: BTreeSet::new(),
            files_erased: BTreeSet::new(),
        }
    }

    pub fn name(&self) -> String {
        self.doc.name()
    }

    pub fn members(&self) -> Vec<Member> {
        self.doc.members()
    }

    /// Messages, oldest first, as members see them: decrypted, with their
    /// replies' quotes and their reactions; edited ones marked, deleted ones
    /// a line without text; expired ones gone. One whose key we lack (written
    /// in an epoch we were not part of) reads [`SEALED_TEXT`].
    pub fn messages(&self) -> Vec<GroupMessage> {
        self.fold().messages
    }

    /// Every text the document's history still opens to with the keys we
    /// hold — what this device would give up if seized, edits and deleted
    /// posts included. Deleted and expired posts are not in it.
    pub fn readable_history(&mut self) -> Vec<String> {
        let values = self.doc.values_ever();
        values
            .into_iter()
            .filter_map(|(slot, value)| {
                if keys::sealed_key_id(&value).is_none() {
                    return Some(value);
                }
                keys::open_text(self.key_for(&value)?, &slot, &value)
            })
            .collect()
    }

    /// The disappearing-message timer, in seconds (0: off).
    pub fn timer(&self) -> u64 {
        self.doc.timer()
    }

    /// The key that opens a value, if we hold it.
    fn key_for(&self, value: &str) -> Option<&[u8; 32]> {
        let id = keys::sealed_key_id(value)?;
        match self.post_keys.get(id) {
            Some(k) => Some(&k.key),
            None => self.keyring.get(id).map(|k| &**k),
        }
    }

    /// Reads one stored value (decrypting it): what [`Group::fold`] caches.
    fn read(&self, slot: &str, value: &str) -> Reading {
        if value == TOMBSTONE {
            return Reading::Tombstone;
        }
        let Some(id) = keys::sealed_key_id(value) else {
            return Post::decode(value).map_or(Reading::Malformed, Reading::Post);
        };
        match self
            .key_for(value)
            .and_then(|k| keys::open_text(k, slot, value))
        {
            Some(plain) => Post::decode(&plain).map_or(Reading::Malformed, Reading::Post),
            None => Reading::Sealed(
                (posts::is_post_key_id(id)
                    && !self.post_keys.contains_key(id)
                    && !self.erased.contains(id))
                .then(|| id.to_owned()),
            ),
        }
    }

    fn fold(&self) -> Folded {
        let timer = self.doc.timer();
        let since = self.doc.timer_since();
        let mut dead = BTreeSet::new();
        let mut missing = BTreeMap::new();
        // Every post, read.
        let mut posts: Vec<(String, GroupMessage, Option<Post>)> = Vec::new();
        for mut m in self.doc.messages() {
            let slot = message_slot(&m.device, &m.id);
            if timer > 0
                && m.sent_at >= since
                && m.sent_at + std::time::Duration::from_secs(timer) <= self.now
                && self.now > Time::ZERO
            {
                dead.insert(slot);
                continue;
            }
            let reading = {
                let mut cache = self.read_cache.borrow_mut();
                match cache.get(&slot) {
                    Some((raw, r)) if *raw == m.text => r.clone(),
                    _ => {
                        let r = self.read(&slot, &m.text);
                        cache.insert(slot.clone(), (m.text.clone(), r.clone()));
                        r
                    }
                }
            };
            let post = match reading {
                Reading::Tombstone => None,
                Reading::Malformed => continue, // a hostile writer's
                Reading::Post(p) => Some(p),
                Reading::Sealed(lacking) => {
                    if let Some(id) = lacking {
                        missing.insert(id, slot.clone());
                    }
                    Some(Post::text(SEALED_TEXT))
                }
            };
            m.text.clear();
            posts.push((slot, m, post));
        }
        // Deletions: by the author (a tombstone in its slot, or from another
        // of its devices) or by an admin (judged by the current roles).
        for (slot, m, post) in &posts {
            match post {
                None => {
                    dead.insert(slot.clone());
                }
                Some(Post {
                    body: Body::Delete { target },
                    ..
                }) if self.may_delete(&m.author, target) => {
                    dead.insert(target.clone());
                }
                _ => {}
            }
        }
        // Reactions: one per member and post, the newest write.
        let mut reactions: BTreeMap<&str, BTreeMap<IdentityKey, String>> = BTreeMap::new();
        for (_, m, post) in &posts {
            if let Some(Post {
                body: Body::React { target },
                text,
                ..
            }) = post
                && !dead.contains(target)
            {
                let of = reactions.entry(target.as_str()).or_default();
                if text.is_empty() {
                    of.remove(&m.author);
                } else {
                    of.insert(m.author, text.clone());
                }
            }
        }
        let texts: BTreeMap<&str, &Post> = posts
            .iter()
            .filter_map(|(slot, _, p)| Some((slot.as_str(), p.as_ref()?)))
            .collect();
        let mut messages = Vec::new();
        let mut files = Vec::new();
        for (slot, m, post) in &posts {
            let mut m = m.clone();
            if dead.contains(slot) {
                if matches!(
                    post,
                    None | Some(Post {
                        body: Body::Text { .. } | Body::File(_),
                        ..
                    })
                ) {
                    m.deleted = true;
                    messages.push(m);
                }
                continue;
            }
            let (reply_to, edited, text) = match post {
                Some(Post {
                    body: Body::Text { reply_to },
                    edited,
                    text,
                }) => (reply_to, *edited, text),
                Some(Post {
                    body: Body::File(meta),
                    text,
                    ..
                }) => {
                    if let Some(kid) = self.slot_keys.get(slot) {
                        m.file_held = self.files_held.contains_key(kid);
                        files.push((kid.clone(), meta.clone()));
                    }
                    m.file = Some(meta.clone());
                    (&None, false, text)
                }
                _ => continue,
            };
            m.text = text.clone();
            m.edited = edited;
            m.unwrap_bridged();
            if let Some(target) = reply_to {
                m.reply_to = target
                    .split_once('/')
                    .and_then(|(_, id)| id.parse::<MessageId>().ok());
                m.quote = texts
                    .get(target.as_str())
                    .filter(|_| !dead.contains(target))
                    .filter(|p| matches!(p.body, Body::Text { .. } | Body::File(_)))
                    .map(|p| p.text.clone());
            }
            m.reactions = reactions
                .get(slot.as_str())
                .map(|r| r.iter().map(|(k, v)| (*k, v.clone())).collect())
                .unwrap_or_default();
            messages.push(m);
        }
        missing.retain(|_, s| !dead.contains(s));
        Folded {
            messages,
            dead,
            missing,
            files,
        }
    }

    /// Erases the keys of posts deleted or expired, and notes the keys we
    /// lack. Returns whether any was erased.
    fn prune(&mut self) -> bool {
        let Folded {
            dead,
            missing,
            files,
            ..
        } = self.fold();
        self.missing = missing;
        for (kid, meta) in files {
            self.want_file(kid, meta);
        }
        self.erase(&dead)
    }

    /// Fetches the file of a post we read, unless held, being fetched or
    /// given up on.
    fn want_file(&mut self, kid: String, meta: FileMeta) {
        if self.files_held.contains_key(&kid)
            || self.fetches.contains_key(&kid)
            || self.files_failed.contains(&kid)
            || self.fetches.len() >= files::MAX_QUEUED
        {
            return;
        }
        if meta.size == 0 {
            self.files_held.insert(kid.clone(), 0);
            self.files_to_put.insert(kid);
        } else {
            let mut f = Fetch::new(meta);
            f.author = self.post_keys.get(&kid).and_then(|k| device_of(&k.slot));
            self.fetches.insert(kid, f);
        }
    }

    /// A file message's id, what it is, and whether we hold it whole.
    pub fn file_of(&self, msg: &MessageId) -> Option<([u8; 16], FileMeta, bool)> {
        let m = self
            .messages()
            .into_iter()
            .find(|m| m.id == *msg && !m.deleted)?;
        let kid = self.slot_keys.get(&message_slot(&m.device, &m.id))?;
        Some((unhex_arr(kid)?, m.file?, m.file_held))
    }

    /// Files of the group: held whole, and being fetched.
    pub fn file_counts(&self) -> (usize, usize) {
        (self.files_held.len(), self.fetches.len())
    }

    /// Erases the keys of the posts in `dead` (here and, staged, on disk).
    fn erase(&mut self, dead: &BTreeSet<String>) -> bool {
        let gone: Vec<String> = dead
            .iter()
            .filter_map(|slot| self.slot_keys.remove(slot))
            .collect();
        if !gone.is_empty() {
            self.read_cache.get_mut().clear();
        }
        for id in &gone {
            let held = self.files_held.remove(id).is_some();
            if held | self.fetches.remove(id).is_some() | self.files_failed.remove(id) {
                self.files_to_put.remove(id);
                self.files_to_erase.insert(id.clone());
                self.files_erased.insert(id.clone());
            }
            self.post_keys.remove(id);
            self.keys_to_put.remove(id);
            self.keys_to_erase.insert(id.clone());
            self.erased.insert(id.clone());
        }
        !gone.is_empty()
    }

    /// [`Group::prune`] for what a batch of changes wrote only (a full
    /// pass after every batch would read the whole history again; the
    /// periodic tick makes one).
    fn prune_written<'a>(&mut self, slots: impl Iterator<Item = &'a str>) {
        let values: Vec<(String, String)> = slots
            .filter_map(|slot| Some((slot.to_owned(), self.doc.raw_message(slot)?)))
            .collect();
        self.prune_values(values);
    }

    /// [`Group::prune_written`] for a batch that wrote the whole document
    /// (a newcomer adopting it): every value, read in one pass.
    fn prune_all_written(&mut self) {
        let values = self.doc.raw_messages();
        self.prune_values(values);
    }

    /// Looks at these slots' values for deletions, keys we lack and files
    /// to fetch.
    fn prune_values(&mut self, values: Vec<(String, String)>) {
        let mut dead = BTreeSet::new();
        for (slot, raw) in values {
            let reading = self.read(&slot, &raw);
            // What the next fold (showing the messages) reads again.
            self.read_cache
                .get_mut()
                .insert(slot.clone(), (raw, reading.clone()));
            let slot = slot.as_str();
            match reading {
                Reading::Tombstone => {
                    dead.insert(slot.to_owned());
                }
                Reading::Post(Post {
                    body: Body::Delete { target },
                    ..
                }) => {
                    if let Some(writer) = device_of(slot)
                        && self.may_delete(&self.doc.account_of(&writer), &target)
                    {
                        dead.insert(target);
                    }
                }
                Reading::Sealed(Some(id)) => {
                    self.missing.insert(id, slot.to_owned());
                }
                Reading::Post(Post {
                    body: Body::File(meta),
                    ..
                }) => {
                    if let Some(kid) = self.slot_keys.get(slot).cloned() {
                        self.want_file(kid, meta);
                    }
                }
                _ => {}
            }
        }
        if dead.is_empty() {
            return;
        }
        self.missing.retain(|_, s| !dead.contains(s));
        self.erase(&dead);
    }

    /// Whether `writer` (an account) may delete the post in `target`: its
    /// own, or anyone's as an admin (judged by the current roles).
    fn may_delete(&self, writer: &IdentityKey, target: &str) -> bool {
        device_of(target).map(|d| self.doc.account_of(&d)) == Some(*writer)
            || self.doc.role_of(writer) == Some(Role::Admin)
    }

    /// The key of the post in `slot`, if we hold one.
    fn key_of_slot(&self, slot: &str) -> Option<(&String, &PostKey)> {
        self.post_keys.get_key_value(self.slot_keys.get(slot)?)
    }

    /// The keys to send beside `changes`: those their values name.
    fn keys_for<'a>(&self, changes: impl Iterator<Item = &'a automerge::Change>) -> Vec<WireKey> {
        let mut seen = BTreeSet::new();
        changes
            .flat_map(posts::keys_named)
            .filter(|(id, _)| seen.insert(id.clone()))
            .filter_map(|(id, _)| self.wire_key(&id))
            .collect()
    }

    /// A post key we hold as it travels (wrapped under its epoch key).
    fn wire_key(&self, id: &str) -> Option<WireKey> {
        let k = self.post_keys.get(id)?;
        let raw_id = unhex_arr::<16>(id)?;
        Some(match &k.epoch {
            None => WireKey {
                id: raw_id,
                epoch: None,
                bytes: k.key.to_vec(),
            },
            Some(e) => WireKey {
                id: raw_id,
                epoch: Some(unhex_arr::<8>(e)?),
                bytes: posts::wrap(&k.key, id, self.keyring.get(e)?),
            },
        })
    }

    /// The keys to send with a sync message: those its changes name, or
    /// all we hold when it carries the whole document.
    fn keys_for_message(&self, message: &Message) -> Vec<WireKey> {
        let mut changes = Vec::new();
        for element in message.changes.iter() {
            let Ok(chunks) = super::chunk::split(element) else {
                continue;
            };
            for (ty, bytes) in chunks {
                match ty {
                    super::chunk::ChunkType::Change => {
                        if let Ok(c) = automerge::Change::try_from(bytes) {
                            changes.push(c);
                        }
                    }
                    super::chunk::ChunkType::Document => {
                        return self
                            .post_keys
                            .keys()
                            .filter_map(|id| self.wire_key(id))
                            .collect();
                    }
                }
            }
        }
        self.keys_for(changes.iter())
    }

    /// Takes the keys a blob brought that its changes name (`named`: id →
    /// slot) and that we can open. Returns the slots of the new ones.
    fn accept_keys(&mut self, wire: &[WireKey], named: &BTreeMap<String, String>) -> Vec<String> {
        let mut new = Vec::new();
        for w in wire {
            let id = data_encoding::HEXLOWER.encode(&w.id);
            let Some(slot) = named.get(&id) else {
                continue; // not for a change of this blob
            };
            if self.post_keys.contains_key(&id) || self.erased.contains(&id) {
                continue;
            }
            let (key, epoch) = match &w.epoch {
                None => {
                    let Ok(key) = <[u8; 32]>::try_from(w.bytes.as_slice()) else {
                        continue;
                    };
                    if posts::post_key_id(&key) != id {
                        continue; // not the key its id commits to
                    }
                    (Zeroizing::new(key), None)
                }
                Some(e) => {
                    let eid = data_encoding::HEXLOWER.encode(e);
                    let Some(key) = self
                        .keyring
                        .get(&eid)
                        .and_then(|ek| posts::unwrap(&w.bytes, &id, ek))
                    else {
                        continue; // an epoch we are not part of
                    };
                    (key, Some(eid))
                }
            };
            self.hold(
                id.clone(),
                PostKey {
                    slot: slot.clone(),
                    key,
                    epoch,
                },
            );
            self.missing.remove(&id);
            self.keys_to_put.insert(id);
            new.push(slot.clone());
        }
        if !new.is_empty() {
            self.read_cache.get_mut().clear();
        }
        new
    }

    /// Restores a stored post key.
    fn restore_key(&mut self, id: &str, value: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(value);
        let slot = r.short_str(256, "post key slot")?.to_owned();
        let key: [u8; 32] = r.array("post key")?;
        let epoch = r.short_str(64, "post key epoch")?;
        let epoch = (!epoch.is_empty()).then(|| epoch.to_owned());
        r.finish()?;
        if posts::post_key_id(&key) != id {
            return Err(DecodeError::Invalid("post key"));
        }
        self.hold(
            id.to_owned(),
            PostKey {
                slot,
                key: Zeroizing::new(key),
                epoch,
            },
        );
        self.read_cache.get_mut().clear();
        Ok(())
    }

    /// Keeps a post key (by id and by its post's slot).
    fn hold(&mut self, id: String, key: PostKey) {
        self.slot_keys.insert(key.slot.clone(), id.clone());
        self.post_keys.insert(id, key);
    }

    fn key_setting(&self, id: &str) -> String {
        format!("{KEY_SETTING_PREFIX}{}/{id}", self.id)
    }

    /// Where a bridge says this group can be reached from elsewhere (the
    /// newest notice by someone still a member).
    pub fn bridged_as(&self) -> Option<String> {
        self.messages()
            .into_iter()
            .rev()
            .filter(|m| self.doc.is_member(&m.author))
            .find_map(|m| m.bridged_as)
    }

    /// Opens the epoch keys sealed to us that we have not opened yet.
    fn refresh_keys(&mut self, me: &IdentityKey, secret: &[u8; 32], mine: &StaticKey) {
        for (id, sealed) in self.doc.sealed_keys_for(me) {
            if !self.keyring.contains_key(&id)
                && let Some(key) = keys::open_key(&sealed, secret, mine)
                && keys::key_id(&key) == id
            {
                self.keyring.insert(id, key);
                self.read_cache.get_mut().clear();
            }
        }
    }

    pub fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// Keeps an epoch key we made if our change made it the current one (a
    /// concurrent one may have won).
    fn keep_if_current(&mut self, kid: String, key: Zeroizing<[u8; 32]>) {
        if self.doc.current_key().as_deref() == Some(kid.as_str()) {
            self.keyring.insert(kid, key);
            self.read_cache.get_mut().clear();
        }
    }

    /// Remembers the change that removed `who`, to show it when it comes by.
    fn note_removal(&mut self, who: IdentityKey, vouch: Vouch) {
        self.notices.insert(who, vouch);
        while self.notices.len() > MAX_NOTICES {
            self.notices.pop_first();
        }
    }

    /// Writes what changed since the last save (or a snapshot, when the log
    /// has grown past it) and the group's metadata.
    fn stage_save(&mut self, out: &mut VecDeque<GroupOutput>) {
        if !self.joined {
            return;
        }
        let heads = self.doc.heads();
        if heads != self.saved {
            let incremental = if self.saved.is_empty() {
                Vec::new()
            } else {
                self.doc.doc.save_after(&self.saved)
            };
            let compact = self.saved.is_empty()
                || (self.log_entries >= COMPACT_MIN_ENTRIES
                    && self.log_bytes + incremental.len() > self.snapshot_bytes);
            let seq = self.log_next;
            self.log_next += 1;
            if compact {
                let snapshot = match self.fresh_snapshot.take() {
                    Some(bytes) if self.saved.is_empty() => bytes,
                    _ => self.doc.save(),
                };
                self.snapshot_bytes = snapshot.len();
                self.log_entries = 0;
                self.log_bytes = 0;
                out.push_back(GroupOutput::Store(StoreOp::AppendGroupLog {
                    group: self.id,
                    seq,
                    bytes: snapshot,
                }));
                out.push_back(GroupOutput::Store(StoreOp::CompactGroupLog {
                    group: self.id,
                    before: seq,
                }));
            } else {
                self.log_entries += 1;
                self.log_bytes += incremental.len();
                out.push_back(GroupOutput::Store(StoreOp::AppendGroupLog {
                    group: self.id,
                    seq,
                    bytes: incremental,
                }));
            }
            self.saved = heads;
        }
        out.push_back(GroupOutput::Store(StoreOp::PutGroup {
            group: self.id,
            meta: self.encode_meta(),
        }));
        for id in std::mem::take(&mut self.keys_to_put) {
            let Some(k) = self.post_keys.get(&id) else {
                continue;
            };
            let mut w = Writer::with_capacity(160);
            w.short_bytes(k.slot.as_bytes())
                .raw(k.key.as_slice())
                .short_bytes(k.epoch.as_deref().unwrap_or("").as_bytes());
            out.push_back(GroupOutput::Store(StoreOp::PutSetting {
                key: self.key_setting(&id),
                value: w.into_vec(),
            }));
        }
        for id in std::mem::take(&mut self.keys_to_erase) {
            out.push_back(GroupOutput::Store(StoreOp::DeleteSetting {
                key: self.key_setting(&id),
            }));
        }
        for id in std::mem::take(&mut self.files_to_put) {
            if let Some(chunks) = self.files_held.get(&id) {
                out.push_back(GroupOutput::Store(StoreOp::PutSetting {
                    key: files::file_setting(&self.id, &id),
                    value: chunks.to_be_bytes().to_vec(),
                }));
            }
        }
        for id in std::mem::take(&mut self.files_to_erase) {
            if let Some(file) = unhex_arr(&id) {
                out.push_back(GroupOutput::Store(StoreOp::EraseGroupFile {
                    group: self.id,
                    file,
                }));
            }
            out.push_back(GroupOutput::Store(StoreOp::DeleteSetting {
                key: files::file_setting(&self.id, &id),
            }));
        }
    }

    fn encode_meta(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.u8(META_VERSION)
            .u8(u8::from(self.left) | (u8::from(self.joined) << 1));
        let vouches: Vec<&Vouch> = self.gate.latest().collect();
        w.u32(vouches.len() as u32);
        for v in vouches {
            w.raw(&v.hash.0).raw(v.author.as_bytes()).raw(&v.sig);
        }
        let refused: Vec<_> = self.gate.refused().collect();
        w.u32(refused.len() as u32);
        for (h, deps) in refused {
            w.raw(&h.0).u16(deps.len().min(u16::MAX as usize) as u16);
            for d in deps.iter().take(u16::MAX as usize) {
                w.raw(&d.0);
            }
        }
        // Added later: metadata written before ends here.
        w.u32(self.notices.len() as u32);
        for (who, v) in &self.notices {
            w.raw(who.as_bytes())
                .raw(&v.hash.0)
                .raw(v.author.as_bytes())
                .raw(&v.sig);
        }
        w.into_vec()
    }

    fn restore_meta(&mut self, meta: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(meta);
        let version = r.u8("group meta version")?;
        if version != META_VERSION {
            return Err(DecodeError::Version {
                field: "group meta",
                version,
            });
        }
        let flags = r.u8("group flags")?;
        self.left = flags & 1 != 0;
        self.joined = flags & 2 != 0;
        let n = r.u32("vouch count")? as usize;
        for _ in 0..n {
            let v = read_vouch(&mut r)?;
            self.gate.restore_vouch(&mut self.doc, v);
        }
        let n = r.u32("refused count")? as usize;
        for _ in 0..n {
            let h = ChangeHash(r.array("refused hash")?);
            let k = usize::from(r.u16("refused deps")?);
            let deps = (0..k)
                .map(|_| r.array("refused dep").map(ChangeHash))
                .collect::<Result<Vec<_>, _>>()?;
            self.gate.restore_refused(h, deps);
        }
        if r.remaining() > 0 {
            let n = r.u32("notice count")? as usize;
            for _ in 0..n.min(MAX_NOTICES) {
                let who = IdentityKey::from_bytes(r.array("removed member")?)
                    .map_err(|_| DecodeError::Invalid("removed member"))?;
                let v = read_vouch(&mut r)?;
                if v.verify() {
                    self.notices.insert(who, v);
                }
            }
        }
        r.finish()
    }

    /// How we sync this group with `peer`.
    ///
    /// - A member at our heads: both ways. (Whether *we* are still a member
    ///   does not matter: an admin may have added us back concurrently with
    ///   our removal, and whoever holds that will sync with us.)
    /// - A former member: we read what it has and send it no changes. A
    ///   removal concurrent with other membership changes could otherwise cut
    ///   the group in two for good (each side refusing to hear the other);
    ///   this way valid changes still flow in, and nothing written after a
    ///   removal flows out to the removed.
    /// - Anyone else: not at all.
    fn mode_with(&self, me: &IdentityKey, peer: &IdentityKey) -> Mode {
        if self.left || peer == me {
            Mode::None
        } else if !self.doc.is_ready() || self.doc.is_member(peer) {
            Mode::Full
        } else if self.doc.removed_at(peer).is_some() {
            Mode::ReceiveOnly
        } else {
            Mode::None
        }
    }

    #[cfg(test)]
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    #[cfg(test)]
    pub(crate) fn gate_receive(
        &mut self,
        changes: Vec<automerge::Change>,
        vouches: &[Vouch],
    ) -> Result<Outcome, super::gate::GateError> {
        self.gate.receive(&mut self.doc, changes, vouches, None)
    }
}

/// A new epoch key, its id, and its copies sealed to who gets it.
struct FreshEpoch {
    key: Zeroizing<[u8; 32]>,
    kid: String,
    sealed: Vec<(IdentityKey, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    ReceiveOnly,
    None,
}

fn read_vouch(r: &mut Reader<'_>) -> Result<Vouch, DecodeError> {
    let hash = ChangeHash(r.array("vouch hash")?);
    let author = IdentityKey::from_bytes(r.array("vouch author")?)
        .map_err(|_| DecodeError::Invalid("vouch author"))?;
    let sig = r.array("vouch signature")?;
    Ok(Vouch { hash, author, sig })
}

/// The sync protocol's state with one peer for one group, for one session.
#[derive(Default)]
struct PeerSync {
    state: State,
    /// Signatures already sent in this session.
    sent: BTreeSet<ChangeHash>,
    /// Messages in a row that carried no changes while neither side's heads
    /// moved. Two peers whose heads cannot meet (a change one of them waits
    /// on) would otherwise trade heads forever; past [`MAX_QUIET`] we stop
    /// until something changes or the periodic tick.
    quiet: u8,
    last: (Vec<ChangeHash>, Option<Vec<ChangeHash>>),
    /// A member we removed: whether it holds the removal yet.
    notified: bool,
    /// The post keys we last asked this peer for.
    asked: BTreeSet<String>,
}

const MAX_QUIET: u8 = 4;
/// Removals we keep to show the removed, per group (oldest forgotten first).
const MAX_NOTICES: usize = 1024;

struct Partial {
    serial: u32,
    parts: u16,
    next: u16,
    data: Vec<u8>,
}

/// A decoded blob.
struct Blob {
    kind: u8,
    vouches: Vec<Vouch>,
    keys: Vec<WireKey>,
    want: Vec<[u8; 16]>,
    message: Option<Message>,
}

/// A post key as it travels: as it is, or wrapped under an epoch key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WireKey {
    id: [u8; 16],
    epoch: Option<[u8; 8]>,
    /// The key (32 bytes), or wrapped ([`posts::WRAPPED_LEN`]).
    bytes: Vec<u8>,
}

/// Post keys in one blob (each names a change's value in it; its count is
/// a u16). Small in tests, so that tests reach past it.
const MAX_BLOB_KEYS: usize = if cfg!(test) { 64 } else { u16::MAX as usize };

fn encode_blob(
    kind: u8,
    vouches: &[Vouch],
    wire_keys: &[WireKey],
    want: &[[u8; 16]],
    message: Option<Message>,
) -> Vec<u8> {
    let body = message.map(Message::encode).unwrap_or_default();
    let mut w = Writer::with_capacity(6 + vouches.len() * 128 + wire_keys.len() * 97 + body.len());
    w.u8(BLOB_VERSION).u8(kind).u16(vouches.len() as u16);
    for v in vouches {
        w.raw(&v.hash.0).raw(v.author.as_bytes()).raw(&v.sig);
    }
    let wire_keys = &wire_keys[..wire_keys.len().min(MAX_BLOB_KEYS)];
    w.u16(wire_keys.len() as u16);
    for k in wire_keys {
        w.raw(&k.id);
        match &k.epoch {
            None => w.u8(0),
            Some(e) => w.u8(1).raw(e),
        };
        w.raw(&k.bytes);
    }
    let want = &want[..want.len().min(MAX_WANT)];
    w.u16(want.len() as u16);
    for id in want {
        w.raw(id);
    }
    w.raw(&body);
    w.into_vec()
}

fn read_wire_key(r: &mut Reader<'_>) -> Result<WireKey, DecodeError> {
    let id = r.array("post key id")?;
    let (epoch, len) = match r.u8("post key form")? {
        0 => (None, 32),
        1 => (Some(r.array("epoch key id")?), posts::WRAPPED_LEN),
        kind => {
            return Err(DecodeError::UnknownKind {
                field: "post key form",
                kind,
            });
        }
    };
    let bytes = r.take(len, "post key")?.to_vec();
    Ok(WireKey { id, epoch, bytes })
}

fn decode_blob(bytes: &[u8]) -> Result<Blob, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u8("group blob version")?;
    if version != BLOB_VERSION {
        return Err(DecodeError::Version {
            field: "group blob",
            version,
        });
    }
    let kind = r.u8("group blob kind")?;
    if ![KIND_SYNC, KIND_PUSH, KIND_KEYS].contains(&kind) {
        return Err(DecodeError::UnknownKind {
            field: "group blob",
            kind,
        });
    }
    let n = usize::from(r.u16("vouch count")?);
    if n > MAX_VOUCHES {
        return Err(DecodeError::TooLong {
            field: "vouches",
            len: n,
            max: MAX_VOUCHES,
        });
    }
    let vouches = (0..n)
        .map(|_| read_vouch(&mut r))
        .collect::<Result<Vec<_>, _>>()?;
    let n = usize::from(r.u16("post key count")?);
    let keys = (0..n)
        .map(|_| read_wire_key(&mut r))
        .collect::<Result<Vec<_>, _>>()?;
    let n = usize::from(r.u16("wanted key count")?);
    if n > MAX_WANT {
        return Err(DecodeError::TooLong {
            field: "wanted keys",
            len: n,
            max: MAX_WANT,
        });
    }
    let want = (0..n)
        .map(|_| r.array("wanted key"))
        .collect::<Result<Vec<_>, _>>()?;
    let message = if kind == KIND_KEYS {
        r.finish()?;
        None
    } else {
        Some(Message::decode(r.rest()).map_err(|_| DecodeError::Invalid("sync message"))?)
    };
    Ok(Blob {
        kind,
        vouches,
        keys,
        want,
        message,
    })
}

/// What a member does to a message of the group besides posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    Reply {
        to: MessageId,
        text: String,
    },
    /// An empty emoji takes one's reaction back.
    React {
        to: MessageId,
        emoji: String,
    },
    Edit {
        to: MessageId,
        text: String,
    },
    Delete {
        to: MessageId,
    },
    /// Seconds; 0 turns it off. Admins only.
    Timer(u64),
}

/// Why a group operation failed, for the user.
pub type GroupResult<T> = Result<T, GroupError>;

/// What a message reads as when it was written in an epoch we were not part
/// of (we were removed, or added later and not given that key).
pub const SEALED_TEXT: &str = "[sealed: written in an epoch you are not part of]";

pub struct Groups {
    me: IdentityKey,
    secret: Zeroizing<[u8; 32]>,
    static_key: StaticKey,
    rng: ChaCha20Rng,
    groups: BTreeMap<GroupId, Group>,
    sync: BTreeMap<(IdentityKey, GroupId), PeerSync>,
    up: BTreeSet<IdentityKey>,
    partial: BTreeMap<(IdentityKey, GroupId), Partial>,
    partial_bytes: usize,
    serial: u32,
    out: VecDeque<GroupOutput>,
    mesh: bool,
    /// When the periodic nudge ([`Groups::tick`]) is next due.
    next_tick: Option<Time>,
}

impl Groups {
    /// Groups of `identity`; `seed` drives the keys and nonces they make.
    pub fn new(identity: &Identity, mesh: bool, seed: [u8; 32]) -> Self {
        Self {
            me: identity.key(),
            secret: identity.static_secret_bytes(),
            static_key: identity.static_key(),
            rng: ChaCha20Rng::from_seed(seed),
            groups: BTreeMap::new(),
            sync: BTreeMap::new(),
            up: BTreeSet::new(),
            partial: BTreeMap::new(),
            partial_bytes: 0,
            serial: 0,
            out: VecDeque::new(),
            mesh,
            next_tick: None,
        }
    }

    /// Restores a stored group (at start-up).
    pub fn restore(&mut self, stored: StoredGroup) -> GroupResult<()> {
        let mut bytes = Vec::new();
        for (_, chunk) in &stored.log {
            bytes.extend_from_slice(chunk);
        }
        let doc = GroupDoc::load(&bytes, &self.me)?;
        let mut g = Group::new(stored.id, doc, true);
        g.restore_meta(&stored.meta)
            .map_err(|_| GroupError::Malformed("stored group metadata"))?;
        g.log_next = stored.log.last().map(|(s, _)| s + 1).unwrap_or(0);
        g.log_entries = stored.log.len().saturating_sub(1);
        g.snapshot_bytes = stored.log.first().map(|(_, b)| b.len()).unwrap_or(0);
        g.log_bytes = bytes.len() - g.snapshot_bytes;
        g.saved = g.doc.heads();
        g.refresh_keys(&self.me, &self.secret, &self.static_key);
        self.groups.insert(stored.id, g);
        Ok(())
    }

    /// Restores the stored post keys (settings named [`KEY_SETTING_PREFIX`]
    /// `<group>/<key id>`) and the marks of files held whole
    /// ([`files::FILE_SETTING_PREFIX`]), after the groups.
    pub fn restore_keys<'a>(&mut self, stored: impl Iterator<Item = (&'a str, &'a [u8])>) {
        for (name, value) in stored {
            if let Some((group, file, chunks)) = files::parse_file_setting(name, value) {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.files_held
                        .insert(data_encoding::HEXLOWER.encode(&file), chunks);
                }
                continue;
            }
            let Some((group, id)) = name
                .strip_prefix(KEY_SETTING_PREFIX)
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            let Some(g) = group
                .parse::<GroupId>()
                .ok()
                .and_then(|gid| self.groups.get_mut(&gid))
            else {
                continue;
            };
            if g.restore_key(id, value).is_err() {
                tracing::warn!(group = %g.id, "a stored post key could not be read");
            }
        }
    }

    /// Whether outputs wait to be polled.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    pub fn poll_output(&mut self) -> Option<GroupOutput> {
        self.out.pop_front()
    }

    pub fn get(&self, id: &GroupId) -> Option<&Group> {
        self.groups.get(id).filter(|g| g.joined)
    }

    pub fn get_mut(&mut self, id: &GroupId) -> Option<&mut Group> {
        self.groups.get_mut(id).filter(|g| g.joined)
    }

    /// Joined groups.
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.values().filter(|g| g.joined)
    }

    /// A commit failed: what was staged is lost, so every group writes a
    /// full snapshot at its next save.
    pub fn commit_failed(&mut self) {
        for g in self.groups.values_mut() {
            g.saved.clear();
            g.keys_to_put = g.post_keys.keys().cloned().collect();
            g.keys_to_erase = g.erased.clone();
            g.files_to_put = g.files_held.keys().cloned().collect();
            g.files_to_erase = g.files_erased.clone();
        }
    }

    // ---- local edits ------------------------------------------------------

    pub fn create(
        &mut self,
        identity: &Identity,
        me: NewMember,
        name: &str,
        now: Time,
    ) -> GroupResult<GroupId> {
        if self.groups.len() >= MAX_GROUPS {
            return Err(GroupError::Malformed("too many groups"));
        }
        let (mut doc, id) = GroupDoc::create(&me, name, now)?;
        let hash = doc.heads()[0];
        let mut g = Group::new(id, doc, true);
        sign_local(identity, &mut g, hash);
        self.groups.insert(id, g);
        self.after_local(id);
        Ok(id)
    }

    fn group_mut(&mut self, id: &GroupId) -> GroupResult<&mut Group> {
        match self.groups.get_mut(id) {
            Some(g) if g.joined && !g.left => Ok(g),
            Some(g) if g.joined => Err(GroupError::NotMember),
            _ => Err(GroupError::Malformed("no such group")),
        }
    }

    pub fn add(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        who: NewMember,
        role: Role,
        now: Time,
    ) -> GroupResult<()> {
        let g = self.group_mut(id)?;
        // In a keyed epoch the newcomer (each of its devices) gets the
        // current key.
        let current = g
            .doc
            .current_key()
            .and_then(|kid| Some((g.keyring.get(&kid)?.clone(), kid)));
        let sealed = current.map(|(key, kid)| {
            let to: Vec<(IdentityKey, StaticKey)> = std::iter::once((who.identity, who.static_key))
                .chain(who.devices.iter().map(|d| (d.identity, d.static_key)))
                .collect();
            (kid, self.seal_to(&key, to))
        });
        let g = self.group_mut(id)?;
        let sealed = sealed.as_ref().map(|(kid, s)| (kid.as_str(), s.clone()));
        let hash = g.doc.add_member(&who, role, now, sealed)?;
        g.notices.remove(&who.identity);
        sign_local(identity, g, hash);
        self.after_local(*id);
        Ok(())
    }

    /// Seals `key` to each of `to`, each with a fresh ephemeral key.
    fn seal_to(
        &mut self,
        key: &[u8; 32],
        to: Vec<(IdentityKey, StaticKey)>,
    ) -> Vec<(IdentityKey, Vec<u8>)> {
        to.into_iter()
            .map(|(who, static_key)| {
                let mut eph = [0u8; 32];
                let mut nonce = [0u8; 24];
                self.rng.fill_bytes(&mut eph);
                self.rng.fill_bytes(&mut nonce);
                (who, keys::seal_key(key, &static_key, eph, nonce))
            })
            .collect()
    }

    /// A fresh epoch key sealed to everyone in group `id` but `gone` (a
    /// member and its devices, or one device), if any.
    fn fresh_epoch(&mut self, id: &GroupId, gone: Option<&IdentityKey>) -> FreshEpoch {
        let mut key = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(&mut *key);
        let kid = keys::key_id(&key);
        let stay: Vec<(IdentityKey, StaticKey)> = self
            .groups
            .get(id)
            .filter(|g| g.joined && !g.left)
            .map(|g| {
                g.doc
                    .recipients()
                    .into_iter()
                    .filter(|(who, _)| {
                        gone.is_none_or(|gone| who != gone && g.doc.account_of(who) != *gone)
                    })
                    .filter_map(|(who, s)| Some((who, s?)))
                    .collect()
            })
            .unwrap_or_default();
        let sealed = self.seal_to(&key, stay);
        FreshEpoch { key, kid, sealed }
    }

    /// The groups we are in (joined, not left).
    pub fn active(&self) -> Vec<GroupId> {
        self.groups
            .values()
            .filter(|g| g.joined && !g.left)
            .map(|g| g.id)
            .collect()
    }

    /// Lists a new device of ours in group `id` (we are the account), with
    /// the current epoch key sealed to it.
    pub fn add_device(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        device: &NewDevice,
        now: Time,
    ) -> GroupResult<()> {
        let g = self.group_mut(id)?;
        let current = g
            .doc
            .current_key()
            .and_then(|kid| Some((g.keyring.get(&kid)?.clone(), kid)));
        let sealed = current.map(|(key, kid)| {
            let mut s = self.seal_to(&key, vec![(device.identity, device.static_key)]);
            (kid, s.pop().map(|(_, b)| b).unwrap_or_default())
        });
        let g = self.group_mut(id)?;
        let hash = g.doc.add_device(
            device,
            now,
            sealed.as_ref().map(|(kid, b)| (kid.as_str(), b.clone())),
        )?;
        sign_local(identity, g, hash);
        self.after_local(*id);
        Ok(())
    }

    /// Revokes one of our devices (or, as an admin, anyone's) in group
    /// `id`: it is out for good, and a new epoch starts — now if we are an
    /// admin, else when an admin sees the revocation.
    pub fn revoke_device(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        device: &IdentityKey,
        now: Time,
    ) -> GroupResult<()> {
        let FreshEpoch { key, kid, sealed } = self.fresh_epoch(id, Some(device));
        let g = self.group_mut(id)?;
        let hash = g.doc.revoke_device(device, now, Some((&kid, sealed)))?;
        g.keep_if_current(kid, key);
        let vouch = sign_local(identity, g, hash);
        g.note_removal(*device, vouch);
        self.show_removal(device, id);
        self.after_local(*id);
        Ok(())
    }

    /// Starts the epoch a member's revocation of its device asked for, if
    /// we are an admin of group `id` and none has yet. Returns whether it
    /// did.
    pub fn rotate_if_owed(&mut self, identity: &Identity, id: &GroupId, now: Time) -> bool {
        let Some(g) = self.groups.get(id).filter(|g| g.joined && !g.left) else {
            return false;
        };
        let Some(epoch) = g.doc.rotation_owed() else {
            return false;
        };
        if g.doc.role_of(&self.me) != Some(Role::Admin) {
            return false;
        }
        // Everyone in the group now (the revoked device is not).
        let FreshEpoch { key, kid, sealed } = self.fresh_epoch(id, None);
        let Some(g) = self.groups.get_mut(id) else {
            return false;
        };
        let hash = match g.doc.rotate(epoch, (&kid, sealed), now) {
            Ok(hash) => hash,
            Err(e) => {
                tracing::debug!(error = %e, "an owed epoch not started");
                return false;
            }
        };
        g.keyring.insert(kid, key);
        g.read_cache.get_mut().clear();
        sign_local(identity, g, hash);
        self.after_local(*id);
        true
    }

    /// Makes a member an admin or a plain member (admins only).
    pub fn set_role(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        who: &IdentityKey,
        role: Role,
        now: Time,
    ) -> GroupResult<()> {
        let g = self.group_mut(id)?;
        let hash = g.doc.set_role(who, role, now)?;
        sign_local(identity, g, hash);
        self.after_local(*id);
        Ok(())
    }

    pub fn remove(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        who: &IdentityKey,
        now: Time,
    ) -> GroupResult<()> {
        // A fresh epoch key, sealed to everyone who stays.
        let FreshEpoch { key, kid, sealed } = self.fresh_epoch(id, Some(who));
        let g = self.group_mut(id)?;
        // Its devices go with it.
        let mut gone: Vec<IdentityKey> = g
            .doc
            .members()
            .into_iter()
            .filter(|m| m.identity == *who)
            .flat_map(|m| m.devices.into_iter().map(|d| d.identity))
            .collect();
        gone.push(*who);
        let leaving = g.doc.account_of(&identity.key()) == *who;
        let hash = g.doc.remove_member(who, now, Some((&kid, sealed)))?;
        g.keep_if_current(kid, key);
        let vouch = sign_local(identity, g, hash);
        if !leaving {
            g.note_removal(*who, vouch);
        }
        for gone in &gone {
            self.show_removal(gone, id);
        }
        self.after_local(*id);
        Ok(())
    }

    /// Whatever a removed member's (or device's) session was doing for
    /// this group stops; what we knew of its heads stays, so one whose
    /// session is up is shown its removal now rather than when it next
    /// speaks (which, in sync with us, it may never do).
    fn show_removal(&mut self, who: &IdentityKey, id: &GroupId) {
        if let Some(old) = self.sync.remove(&(*who, *id)) {
            let mut fresh = PeerSync::default();
            fresh.state.their_heads = old.state.their_heads;
            self.sync.insert((*who, *id), fresh);
        }
    }

    pub fn leave(&mut self, identity: &Identity, id: &GroupId, now: Time) -> GroupResult<()> {
        let g = self.group_mut(id)?;
        let hash = g.doc.leave(now)?;
        sign_local(identity, g, hash);
        // Tell the others first; then stop.
        self.after_local(*id);
        if let Some(g) = self.groups.get_mut(id) {
            g.left = true;
            g.stage_save(&mut self.out);
        }
        Ok(())
    }

    /// Posts a text the user wrote (it may not look like a sealed text or a
    /// bridge's).
    pub fn post(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        text: &str,
        now: Time,
    ) -> GroupResult<()> {
        if text.starts_with(['\u{1}', '\u{2}', posts::OP_MARK]) {
            return Err(GroupError::BadText);
        }
        self.post_value(identity, id, msg, text, now)
    }

    /// Posts a text made with [`super::bridged_text`]: a bridge's.
    pub fn post_bridged(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        text: &str,
        now: Time,
    ) -> GroupResult<()> {
        if !text.starts_with(super::BRIDGED_PREFIX)
            && !text.starts_with(super::BRIDGE_NOTICE_PREFIX)
        {
            return Err(GroupError::BadText);
        }
        self.post_value(identity, id, msg, text, now)
    }

    fn post_value(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        text: &str,
        now: Time,
    ) -> GroupResult<()> {
        self.write_post(identity, id, msg, &Post::text(text), now)
    }

    /// Writes `post` into our slot `msg`, encrypted under the slot's key (a
    /// fresh one for a new post; an edit keeps its post's).
    fn write_post(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        post: &Post,
        now: Time,
    ) -> GroupResult<()> {
        let mut nonce = [0u8; 24];
        self.rng.fill_bytes(&mut nonce);
        let mut fresh = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(fresh.as_mut_slice());
        let me = self.me;
        let g = self.group_mut(id)?;
        // Said first: a removed member also lacks the newest key.
        if !g.doc.is_member(&me) {
            return Err(GroupError::NotMember);
        }
        let slot = message_slot(&me, &msg);
        let (kid, key) = match g.key_of_slot(&slot) {
            Some((kid, k)) => (kid.clone(), k.clone()),
            None => {
                let epoch = match g.doc.current_key() {
                    None => None,
                    Some(e) if g.keyring.contains_key(&e) => Some(e),
                    Some(_) => return Err(GroupError::NoEpochKey),
                };
                let kid = posts::post_key_id(&fresh);
                let k = PostKey {
                    slot: slot.clone(),
                    key: fresh,
                    epoch,
                };
                (kid, k)
            }
        };
        let value = keys::seal_text(&key.key, &kid, &slot, &post.encode(), nonce);
        let hash = g.doc.post(msg, &value, now)?;
        g.hold(kid.clone(), key);
        g.keys_to_put.insert(kid);
        sign_local(identity, g, hash);
        self.after_local(*id);
        Ok(())
    }

    /// Posts a file (its content is the caller's to store, under the id
    /// returned: [`StoreOp::PutGroupChunk`]). Members fetch it from whoever
    /// holds it ([`files`]).
    pub fn post_file(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        meta: FileMeta,
        now: Time,
    ) -> GroupResult<[u8; 16]> {
        let chunks = meta.chunks();
        self.write_post(identity, id, msg, &Post::file(meta), now)?;
        let slot = message_slot(&self.me, &msg);
        let g = self
            .groups
            .get_mut(id)
            .ok_or(GroupError::Malformed("no such group"))?;
        let Some(kid) = g.slot_keys.get(&slot).cloned() else {
            return Err(GroupError::Malformed("a post without its key"));
        };
        let file = unhex_arr(&kid).ok_or(GroupError::Malformed("a post key id"))?;
        g.files_held.insert(kid.clone(), chunks);
        g.files_to_put.insert(kid);
        g.stage_save(&mut self.out);
        Ok(file)
    }

    /// Writes any post body (a hostile member's, in tests).
    #[cfg(test)]
    pub(crate) fn post_raw(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        msg: MessageId,
        post: &Post,
        now: Time,
    ) -> GroupResult<()> {
        self.write_post(identity, id, msg, post, now)
    }

    /// Replies to, reacts to, edits or deletes a message of the group, or
    /// sets its disappearing-message timer (docs/GROUPS.md). `fresh` is the
    /// id a reply gets. Returns the id of the post written.
    pub fn operate(
        &mut self,
        identity: &Identity,
        id: &GroupId,
        op: GroupOp,
        fresh: MessageId,
        now: Time,
    ) -> GroupResult<MessageId> {
        let me = self.me;
        let g = self.group_mut(id)?;
        g.now = g.now.max(now);
        if !g.doc.is_member(&me) {
            return Err(GroupError::NotMember);
        }
        if let GroupOp::Timer(secs) = op {
            let hash = g.doc.set_timer(secs, now)?;
            sign_local(identity, g, hash);
            self.after_local(*id);
            return Ok(fresh);
        }
        let target = match &op {
            GroupOp::Reply { to, .. }
            | GroupOp::React { to, .. }
            | GroupOp::Edit { to, .. }
            | GroupOp::Delete { to } => *to,
            GroupOp::Timer(_) => unreachable!("handled above"),
        };
        let m = g
            .messages()
            .into_iter()
            .find(|m| m.id == target)
            .ok_or(GroupError::NoSuchMessage)?;
        if m.deleted {
            return Err(GroupError::Deleted);
        }
        let slot = message_slot(&m.device, &m.id);
        let mine = m.author == g.doc.account_of(&me);
        if let GroupOp::Reply { text, .. } | GroupOp::Edit { text, .. } = &op
            && text.starts_with(['\u{1}', '\u{2}', posts::OP_MARK])
        {
            return Err(GroupError::BadText);
        }
        let (msg, post) = match op {
            GroupOp::Reply { text, .. } => (
                fresh,
                Post {
                    body: Body::Text {
                        reply_to: Some(slot),
                    },
                    edited: false,
                    text,
                },
            ),
            GroupOp::React { emoji, .. } => {
                if !crate::message::is_reaction(&emoji) {
                    return Err(GroupError::NotAReaction);
                }
                (
                    posts::reaction_id(&slot, &m.id),
                    Post {
                        body: Body::React { target: slot },
                        edited: false,
                        text: emoji,
                    },
                )
            }
            GroupOp::Edit { text, .. } => {
                if !mine {
                    return Err(GroupError::NotAuthor);
                }
                if m.file.is_some() {
                    return Err(GroupError::FileNotEditable);
                }
                if m.device != me {
                    return Err(GroupError::OtherDevice);
                }
                // What it replied to stays.
                let reply_to = g
                    .key_for(&g.doc.raw_message(&slot).unwrap_or_default())
                    .and_then(|k| {
                        keys::open_text(k, &slot, &g.doc.raw_message(&slot).unwrap_or_default())
                    })
                    .and_then(|plain| Post::decode(&plain))
                    .and_then(|p| match p.body {
                        Body::Text { reply_to } => reply_to,
                        _ => None,
                    });
                (
                    m.id,
                    Post {
                        body: Body::Text { reply_to },
                        edited: true,
                        text,
                    },
                )
            }
            GroupOp::Delete { .. } => {
                if m.device == me {
                    // Our own post: overwritten with a tombstone; its key
                    // is erased (`prune`), here and by every member.
                    let hash = g.doc.post(m.id, TOMBSTONE, now)?;
                    sign_local(identity, g, hash);
                    g.prune();
                    self.after_local(*id);
                    return Ok(m.id);
                }
                if !mine && g.doc.role_of(&me) != Some(Role::Admin) {
                    return Err(GroupError::NotAuthor);
                }
                (
                    fresh,
                    Post {
                        body: Body::Delete { target: slot },
                        edited: false,
                        text: String::new(),
                    },
                )
            }
            GroupOp::Timer(_) => unreachable!("handled above"),
        };
        self.write_post(identity, id, msg, &post, now)?;
        if let Some(g) = self.groups.get_mut(id)
            && g.prune()
        {
            g.stage_save(&mut self.out);
        }
        Ok(msg)
    }

    /// After a local change: save it, sync it to members who are up, and
    /// push it through the mesh to the others.
    fn after_local(&mut self, id: GroupId) {
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        g.stage_save(&mut self.out);
        self.out.push_back(GroupOutput::Changed(id));
        self.sync_group(id);
        if self.mesh {
            self.push_latest(id);
        }
    }

    /// Pushes our newest change to members with no session, through the mesh.
    fn push_latest(&mut self, id: GroupId) {
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        let Some(change) = g.doc.doc.get_last_local_change() else {
            return;
        };
        let Some(vouch) = g.gate.latest().find(|v| v.author == self.me).copied() else {
            return;
        };
        let message = Message {
            heads: g.doc.heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: ChunkList::from(vec![change.raw_bytes().to_vec()]),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        let wire_keys = g.keys_for(std::iter::once(&change));
        let blob = encode_blob(KIND_PUSH, &[vouch], &wire_keys, &[], Some(message));
        if blob.len() > FRAGMENT_LEN {
            return; // too big for one sealed message: the sync will carry it
        }
        let away: Vec<IdentityKey> = g
            .doc
            .recipients()
            .into_iter()
            .map(|(who, _)| who)
            .filter(|p| *p != self.me && !self.up.contains(p))
            .collect();
        for peer in away {
            let fragment = whole(&mut self.serial, id, blob.clone());
            self.out.push_back(GroupOutput::Mesh { peer, fragment });
        }
    }

    // ---- sessions -----------------------------------------------------------

    /// Whether we share a group with `peer` (so a session with it is worth
    /// starting even with nothing else to send).
    pub fn wants_session(&self, peer: &IdentityKey) -> bool {
        self.groups
            .values()
            .any(|g| g.joined && g.doc.is_ready() && g.mode_with(&self.me, peer) == Mode::Full)
    }

    /// A session with `peer` came up: sync every group we share, afresh.
    pub fn peer_up(&mut self, peer: IdentityKey) {
        self.up.insert(peer);
        self.sync.retain(|(p, _), _| *p != peer);
        self.partial.retain(|(p, _), _| *p != peer);
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        for id in ids {
            self.sync_one(peer, id);
        }
    }

    /// The session with `peer` is gone (a send failed).
    pub fn peer_down(&mut self, peer: &IdentityKey) {
        self.up.remove(peer);
        let mut asking = Vec::new();
        for g in self.groups.values_mut() {
            for f in g.fetches.values_mut() {
                if f.peer.as_ref() == Some(peer) {
                    f.peer = None;
                    asking.push(g.id);
                }
            }
        }
        for id in asking {
            self.ask_files_everywhere(id);
        }
        self.sync.retain(|(p, _), _| p != peer);
        let before = self.partial.len();
        self.partial.retain(|(p, _), _| p != peer);
        if before != self.partial.len() {
            self.partial_bytes = self.partial.values().map(|p| p.data.len()).sum();
        }
    }

    /// When [`Groups::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_tick
    }

    /// Runs [`Groups::tick`] every [`TICK`]; the first call only schedules it.
    pub fn handle_timeout(&mut self, now: Time) {
        // Disappearing messages: their keys are erased once they expire.
        for g in self.groups.values_mut() {
            g.now = g.now.max(now);
            if g.joined && g.doc.timer() > 0 && g.prune() {
                g.stage_save(&mut self.out);
                self.out.push_back(GroupOutput::Changed(g.id));
            }
        }
        match self.next_tick {
            Some(at) if now < at => {}
            Some(_) => {
                self.next_tick = Some(now + TICK);
                self.tick();
            }
            None => self.next_tick = Some(now + TICK),
        }
    }

    /// Periodically: nudge every sync that may have stalled on a lost message.
    pub fn tick(&mut self) {
        for ps in self.sync.values_mut() {
            ps.state.in_flight = false;
            ps.quiet = 0;
            ps.asked.clear();
        }
        // Fetches that brought nothing since the last tick ask again (maybe
        // someone else); members that said no are asked again.
        for g in self.groups.values_mut() {
            for f in g.fetches.values_mut() {
                if !std::mem::take(&mut f.moved) {
                    f.peer = None;
                }
                f.refused.clear();
            }
        }
        // A full pass: what batch-by-batch pruning cannot see (a deletion
        // by someone made admin since, keys we still lack).
        for g in self.groups.values_mut() {
            if g.joined && g.prune() {
                g.stage_save(&mut self.out);
                self.out.push_back(GroupOutput::Changed(g.id));
            }
        }
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        for id in ids {
            self.sync_group(id);
        }
    }

    /// Sync `id` with every member whose session is up.
    fn sync_group(&mut self, id: GroupId) {
        let peers: Vec<IdentityKey> = self.up.iter().copied().collect();
        for peer in peers {
            self.sync_one(peer, id);
        }
    }

    fn sync_one(&mut self, peer: IdentityKey, id: GroupId) {
        self.ask_files(peer, id);
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        let mode = g.mode_with(&self.me, &peer);
        if mode == Mode::None || (!g.doc.is_ready() && !self.sync.contains_key(&(peer, id))) {
            return;
        }
        let ps = self.sync.entry((peer, id)).or_default();
        // Keys we lack, asked of members (again after each tick).
        if mode == Mode::Full && !g.missing.is_empty() {
            let want: BTreeSet<String> = g.missing.keys().take(MAX_WANT).cloned().collect();
            if want != ps.asked {
                let ids: Vec<[u8; 16]> = want.iter().filter_map(|i| unhex_arr(i)).collect();
                ps.asked = want;
                let blob = encode_blob(KIND_KEYS, &[], &[], &ids, None);
                let fragment = whole(&mut self.serial, id, blob);
                self.out.push_back(GroupOutput::Send { peer, fragment });
            }
        }
        // With a former member only our own heads count as movement: we
        // echo its heads back (below), so two peers that each hold the
        // other's removal would otherwise echo each other's heads forever.
        let theirs = match mode {
            Mode::ReceiveOnly => None,
            _ => ps.state.their_heads.clone(),
        };
        let now = (g.doc.heads(), theirs);
        if now != ps.last {
            ps.quiet = 0;
        }
        if ps.quiet >= MAX_QUIET {
            return;
        }
        // To a former member we only answer, and never say we hold more than
        // it does: otherwise it would ask for what we will not send, forever.
        let their_heads = ps.state.their_heads.clone();
        if mode == Mode::ReceiveOnly && their_heads.is_none() {
            return;
        }
        let Some(mut message) = g.gate.generate(&mut g.doc, &mut ps.state) else {
            return;
        };
        if message.changes.is_empty() {
            ps.quiet += 1;
        } else {
            ps.quiet = 0;
        }
        ps.last = now;
        let mut notice_vouches = None;
        if mode == Mode::ReceiveOnly {
            let their_heads = their_heads.unwrap_or_default();
            let notice = g
                .notices
                .get(&peer)
                .or_else(|| g.notices.get(&g.doc.account_of(&peer)))
                .copied()
                .filter(|_| !ps.notified);
            match notice.and_then(|n| removal_notice(g, &n, &their_heads)) {
                Some((changes, vouches)) => {
                    // The removal and what led to it, and heads that say
                    // we hold no more than that.
                    message.changes = changes;
                    message.heads = vouches.first().map(|v| vec![v.hash]).unwrap_or_default();
                    notice_vouches = Some(vouches);
                }
                None => {
                    ps.notified |= notice.is_some();
                    message.changes = ChunkList::empty();
                    message.heads = their_heads
                        .into_iter()
                        .filter(|h| g.doc.doc.get_change_meta_by_hash(h).is_some())
                        .collect();
                }
            }
        }
        let vouches: Vec<Vouch> = if let Some(v) = notice_vouches {
            v
        } else if message.changes.is_empty() {
            Vec::new()
        } else {
            g.gate
                .latest()
                .filter(|v| !ps.sent.contains(&v.hash))
                .take(MAX_VOUCHES)
                .copied()
                .collect()
        };
        ps.sent.extend(vouches.iter().map(|v| v.hash));
        // Post keys go to members only, never in a notice to a former one.
        let wire_keys = if mode == Mode::Full {
            g.keys_for_message(&message)
        } else {
            Vec::new()
        };
        // A blob names at most `MAX_BLOB_KEYS` keys (its count is a u16): a
        // whole document of more posts sends the rest in keys blobs after
        // it, which the receiver takes as keys it lacks.
        let rest = wire_keys.get(MAX_BLOB_KEYS..).unwrap_or_default().to_vec();
        let blob = encode_blob(KIND_SYNC, &vouches, &wire_keys, &[], Some(message));
        if !self.send_blob(peer, id, &blob) {
            tracing::warn!(group = %id, "a sync message too large to send");
            return;
        }
        for keys in rest.chunks(MAX_BLOB_KEYS) {
            let blob = encode_blob(KIND_KEYS, &[], keys, &[], None);
            self.send_blob(peer, id, &blob);
        }
    }

    /// Sends a blob in the session with `peer`, in fragments. `false`: too
    /// large to send.
    fn send_blob(&mut self, peer: IdentityKey, id: GroupId, blob: &[u8]) -> bool {
        self.serial = self.serial.wrapping_add(1);
        let parts = blob.len().div_ceil(FRAGMENT_LEN).max(1);
        if parts > MAX_PARTS {
            return false;
        }
        for (i, chunk) in blob.chunks(FRAGMENT_LEN).enumerate() {
            self.out.push_back(GroupOutput::Send {
                peer,
                fragment: GroupFragment {
                    group: id,
                    serial: self.serial,
                    part: i as u16,
                    parts: parts as u16,
                    data: chunk.to_vec(),
                },
            });
        }
        true
    }

    /// Asks `peer` (a member) for files of group `id` no one is asked for,
    /// up to [`files::MAX_FETCHING`] at once — or a file's author instead,
    /// when it is up too (it surely holds it; another member may still be
    /// fetching it, or be gone without our knowing yet).
    fn ask_files(&mut self, peer: IdentityKey, id: GroupId) {
        let me = self.me;
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        if g.fetches.is_empty()
            || !g.joined
            || !g.doc.is_ready()
            || g.mode_with(&me, &peer) != Mode::Full
        {
            return;
        }
        let mut busy = g.fetches.values().filter(|f| f.peer.is_some()).count();
        let mut wants = Vec::new();
        let up = &self.up;
        let authors: BTreeMap<IdentityKey, bool> = g
            .fetches
            .values()
            .filter_map(|f| f.author)
            .filter(|a| *a != peer && up.contains(a))
            .map(|a| (a, g.mode_with(&me, &a) == Mode::Full))
            .collect();
        for (kid, f) in &mut g.fetches {
            if busy >= files::MAX_FETCHING {
                break;
            }
            if f.peer.is_some() {
                continue;
            }
            let target = match f.author {
                Some(a) if authors.get(&a) == Some(&true) && !f.refused.contains(&a) => a,
                _ if f.refused.contains(&peer) => continue,
                _ => peer,
            };
            let Some(file) = unhex_arr(kid) else {
                continue;
            };
            let (from, count) = f.ask(target);
            wants.push((target, FileBlob::Want { file, from, count }));
            busy += 1;
        }
        for (target, want) in wants {
            let fragment = whole(&mut self.serial, id, want.encode());
            self.out.push_back(GroupOutput::Send {
                peer: target,
                fragment,
            });
        }
    }

    fn ask_files_everywhere(&mut self, id: GroupId) {
        let peers: Vec<IdentityKey> = self.up.iter().copied().collect();
        for peer in peers {
            self.ask_files(peer, id);
        }
    }

    /// A chunk of a group file, as it travels (what the engine sends for a
    /// [`GroupOutput::Serve`]).
    pub fn file_chunk(
        &mut self,
        group: GroupId,
        file: [u8; 16],
        index: u32,
        data: Vec<u8>,
    ) -> GroupFragment {
        let blob = FileBlob::Chunk {
            file,
            index,
            data: Some(data),
        };
        whole(&mut self.serial, group, blob.encode())
    }

    /// A member asks for a file, or sends (a chunk of) one we asked for.
    fn on_file_blob(&mut self, peer: IdentityKey, id: GroupId, blob: FileBlob, in_session: bool) {
        let me = self.me;
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        if !in_session || !g.joined || g.mode_with(&me, &peer) != Mode::Full {
            return;
        }
        match blob {
            FileBlob::Want { file, from, count } => {
                let kid = data_encoding::HEXLOWER.encode(&file);
                match g.files_held.get(&kid) {
                    Some(&chunks) if from < chunks => {
                        let count = u32::from(count).min(files::WINDOW).min(chunks - from);
                        self.out.push_back(GroupOutput::Serve {
                            peer,
                            group: id,
                            file,
                            from,
                            count,
                        });
                    }
                    Some(_) => {}
                    None => {
                        // Still fetching it ourselves: they hear when we
                        // hold it.
                        if let Some(f) = g.fetches.get_mut(&kid)
                            && f.asked_by.len() < files::MAX_ASKED_BY
                        {
                            f.asked_by.insert(peer);
                        }
                        let no = FileBlob::Chunk {
                            file,
                            index: from,
                            data: None,
                        };
                        let fragment = whole(&mut self.serial, id, no.encode());
                        self.out.push_back(GroupOutput::Send { peer, fragment });
                    }
                }
            }
            FileBlob::Held { file } => {
                // A member that said no holds it now: ask it (again).
                let kid = data_encoding::HEXLOWER.encode(&file);
                if let Some(f) = g.fetches.get_mut(&kid) {
                    f.refused.remove(&peer);
                    self.ask_files(peer, id);
                }
            }
            FileBlob::Chunk { file, index, data } => {
                let kid = data_encoding::HEXLOWER.encode(&file);
                let Some(f) = g.fetches.get_mut(&kid) else {
                    return;
                };
                if f.peer != Some(peer) {
                    return;
                }
                let Some(data) = data else {
                    f.refused.insert(peer);
                    f.peer = None;
                    self.ask_files_everywhere(id);
                    return;
                };
                let taken = f.take(&peer, index, &data);
                if matches!(taken, Taken::Stored(_) | Taken::Complete) {
                    self.out
                        .push_back(GroupOutput::Store(StoreOp::PutGroupChunk {
                            group: id,
                            file,
                            index,
                            data,
                        }));
                }
                match taken {
                    Taken::Ignored => {}
                    Taken::Stored(next) => {
                        if let Some((from, count)) = next {
                            let want = FileBlob::Want { file, from, count };
                            let fragment = whole(&mut self.serial, id, want.encode());
                            self.out.push_back(GroupOutput::Send { peer, fragment });
                        }
                    }
                    Taken::Complete => {
                        let chunks = f.meta.chunks();
                        let asked_by = std::mem::take(&mut f.asked_by);
                        g.fetches.remove(&kid);
                        g.files_held.insert(kid.clone(), chunks);
                        g.files_to_put.insert(kid);
                        g.stage_save(&mut self.out);
                        self.out.push_back(GroupOutput::Changed(id));
                        for who in asked_by.into_iter().filter(|p| self.up.contains(p)) {
                            let held = FileBlob::Held { file };
                            let fragment = whole(&mut self.serial, id, held.encode());
                            self.out.push_back(GroupOutput::Send {
                                peer: who,
                                fragment,
                            });
                        }
                        self.ask_files_everywhere(id);
                    }
                    Taken::Corrupt(give_up) => {
                        tracing::debug!(group = %id, "a group file did not match its hash");
                        self.out
                            .push_back(GroupOutput::Store(StoreOp::EraseGroupFile {
                                group: id,
                                file,
                            }));
                        if give_up {
                            g.fetches.remove(&kid);
                            g.files_failed.insert(kid);
                        }
                        self.ask_files_everywhere(id);
                    }
                }
            }
        }
    }

    // ---- receiving ----------------------------------------------------------

    /// A fragment from `peer`. `in_session` says whether it came in a live
    /// session (sync) or through the mesh (pushes only); `contact` whether the
    /// peer is a contact (only contacts may bring us a group we do not know).
    pub fn on_fragment(
        &mut self,
        peer: IdentityKey,
        frag: GroupFragment,
        in_session: bool,
        contact: bool,
    ) {
        let key = (peer, frag.group);
        if usize::from(frag.parts) > MAX_PARTS
            || frag.part >= frag.parts
            || frag.data.len() > FRAGMENT_LEN
        {
            return;
        }
        let blob = if frag.parts == 1 {
            frag.data
        } else {
            let restart = self
                .partial
                .get(&key)
                .is_none_or(|p| p.serial != frag.serial || p.next != frag.part);
            if restart {
                if let Some(old) = self.partial.remove(&key) {
                    self.partial_bytes -= old.data.len();
                }
                if frag.part != 0 {
                    return; // joined in the middle of a message: wait for the next one
                }
                self.partial.insert(
                    key,
                    Partial {
                        serial: frag.serial,
                        parts: frag.parts,
                        next: 0,
                        data: Vec::new(),
                    },
                );
            }
            if self.partial_bytes + frag.data.len() > MAX_REASSEMBLY {
                if let Some(old) = self.partial.remove(&key) {
                    self.partial_bytes -= old.data.len();
                }
                return;
            }
            let Some(p) = self.partial.get_mut(&key) else {
                return;
            };
            p.data.extend_from_slice(&frag.data);
            p.next += 1;
            self.partial_bytes += frag.data.len();
            if p.next < p.parts {
                return;
            }
            let Some(done) = self.partial.remove(&key) else {
                return;
            };
            self.partial_bytes -= done.data.len();
            done.data
        };
        if files::is_file_blob(&blob) {
            match FileBlob::decode(&blob) {
                Ok(b) => self.on_file_blob(peer, frag.group, b, in_session),
                Err(e) => tracing::debug!(error = %e, "undecodable group file message"),
            }
            return;
        }
        match decode_blob(&blob) {
            Ok(b) => self.on_blob(peer, frag.group, b, in_session, contact),
            Err(e) => tracing::debug!(error = %e, "undecodable group message"),
        }
    }

    fn on_blob(
        &mut self,
        peer: IdentityKey,
        id: GroupId,
        blob: Blob,
        in_session: bool,
        contact: bool,
    ) {
        if blob.kind == KIND_SYNC && !in_session {
            return; // the sync protocol needs a session
        }
        if !self.groups.contains_key(&id) {
            // A group we were added to, arriving from a contact in a session.
            if blob.kind != KIND_SYNC || !contact || self.groups.len() >= MAX_GROUPS {
                return;
            }
            self.groups
                .insert(id, Group::new(id, GroupDoc::empty(&self.me), false));
            self.sync.insert((peer, id), PeerSync::default());
        }
        let me = self.me;
        let others: usize = self
            .groups
            .iter()
            .filter(|(k, _)| **k != id)
            .map(|(_, g)| g.gate.waiting())
            .sum();
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        g.gate
            .limit_waiting(MAX_PENDING_TOTAL.saturating_sub(others));
        if g.doc.is_ready() && g.mode_with(&me, &peer) == Mode::None {
            return; // never a member (or we left): nothing read, nothing answered
        }
        let Some(mut message) = blob.message else {
            self.on_keys(peer, id, &blob.keys, &blob.want, in_session);
            return;
        };
        let mut written = Vec::new();
        let outcome = match changes_in(&message).and_then(|(cs, whole)| {
            written.extend(cs.iter().flat_map(posts::writes));
            g.gate.receive(&mut g.doc, cs, &blob.vouches, whole)
        }) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(error = %e, "group sync message refused");
                return;
            }
        };
        if let Some(bytes) = &outcome.adopted
            && g.saved.is_empty()
        {
            g.fresh_snapshot = Some(bytes.clone());
        }
        if blob.kind == KIND_SYNC {
            let ps = self.sync.entry((peer, id)).or_default();
            // The gate applied what it accepted; automerge only updates the
            // state. Seeing its heads already equal to the message's, it would
            // take our acknowledgement as sent: keep what we last sent, so
            // the peer learns our new heads (else it would later resend all).
            let last_sent = ps.state.last_sent_heads.clone();
            message.changes = ChunkList::empty();
            if let Err(e) = automerge::sync::SyncDoc::receive_sync_message(
                &mut g.doc.doc.sync(),
                &mut ps.state,
                message,
            ) {
                tracing::debug!(error = %e, "group sync state");
            }
            if outcome.accepted > 0 {
                ps.state.last_sent_heads = last_sent;
            }
            g.gate.sanitize(&mut g.doc, &mut ps.state);
        }
        // Keys last: an epoch key they are wrapped under may have come in
        // the same changes.
        let new_keys = if blob.keys.is_empty() {
            0
        } else {
            let named: BTreeMap<String, String> = written
                .iter()
                .filter_map(|(slot, id)| Some((id.clone()?, slot.clone())))
                .collect();
            g.refresh_keys(&self.me, &self.secret, &self.static_key);
            g.accept_keys(&blob.keys, &named).len()
        };
        if outcome.accepted > outcome.new {
            // Changes that were waiting for these applied too (a deletion
            // that came before the edit it follows, say): look at them all.
            g.prune();
        } else if outcome.adopted.is_some() {
            g.prune_all_written();
        } else if new_keys > 0 || outcome.accepted > 0 {
            g.prune_written(written.iter().map(|(slot, _)| slot.as_str()));
        }
        if new_keys > 0 && outcome.accepted == 0 && g.joined {
            g.stage_save(&mut self.out);
            self.out.push_back(GroupOutput::Changed(id));
        }
        self.after_receive(peer, id, &outcome);
    }

    /// A keys-only blob: keys we asked for, or a member asking for keys.
    fn on_keys(
        &mut self,
        peer: IdentityKey,
        id: GroupId,
        wire: &[WireKey],
        want: &[[u8; 16]],
        in_session: bool,
    ) {
        let me = self.me;
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        if !in_session || !g.joined || g.mode_with(&me, &peer) != Mode::Full {
            return;
        }
        if !wire.is_empty() {
            let named = g.missing.clone();
            g.refresh_keys(&self.me, &self.secret, &self.static_key);
            let slots = g.accept_keys(wire, &named);
            if !slots.is_empty() {
                // Only the posts these keys open: a full pass per answer
                // would read the whole history again (a newcomer to a big
                // group takes its keys in several blobs).
                g.prune_written(slots.iter().map(String::as_str));
                g.stage_save(&mut self.out);
                self.out.push_back(GroupOutput::Changed(id));
            }
        }
        let given: Vec<WireKey> = want
            .iter()
            .filter_map(|raw| g.wire_key(&data_encoding::HEXLOWER.encode(raw)))
            .collect();
        if given.is_empty() {
            return;
        }
        let blob = encode_blob(KIND_KEYS, &[], &given, &[], None);
        if blob.len() > FRAGMENT_LEN {
            return; // cannot happen: `MAX_WANT` keys of 97 bytes fit
        }
        let fragment = whole(&mut self.serial, id, blob);
        self.out.push_back(GroupOutput::Send { peer, fragment });
    }

    fn after_receive(&mut self, peer: IdentityKey, id: GroupId, outcome: &Outcome) {
        let me = self.me;
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        if !g.joined && g.doc.is_ready() {
            if g.doc.is_member(&me) {
                g.joined = true;
            } else if outcome.waiting == 0 {
                // Not for us after all.
                self.groups.remove(&id);
                self.sync.retain(|(_, gid), _| *gid != id);
                return;
            }
        }
        if outcome.accepted > 0 {
            g.refresh_keys(&self.me, &self.secret, &self.static_key);
            g.stage_save(&mut self.out);
            if g.joined {
                self.out.push_back(GroupOutput::Changed(id));
            }
            // Others who are up may lack what just arrived.
            self.sync_group(id);
        } else {
            self.sync_one(peer, id);
        }
    }
}

/// A blob that fits one fragment, under the next serial.
fn whole(serial: &mut u32, group: GroupId, data: Vec<u8>) -> GroupFragment {
    *serial = serial.wrapping_add(1);
    GroupFragment {
        group,
        serial: *serial,
        part: 0,
        parts: 1,
        data,
    }
}

/// The device (key) whose slot this is.
fn device_of(slot: &str) -> Option<IdentityKey> {
    let (device, _) = slot.split_once('/')?;
    IdentityKey::from_bytes(unhex_arr(device)?).ok()
}

/// Every text a stored group's history opens to with the post keys stored
/// beside it (`settings`: the store's named values) — what a seized store
/// gives up, unsealed values included. (Values under epoch keys, which need
/// the identity's secret, are left out.)
pub fn stored_texts(
    stored: &StoredGroup,
    settings: &[(String, Vec<u8>)],
) -> Result<Vec<String>, GroupError> {
    let mut doc = automerge::AutoCommit::new();
    for (_, chunk) in &stored.log {
        doc.load_incremental(chunk)?;
    }
    let prefix = format!("{KEY_SETTING_PREFIX}{}/", stored.id);
    let mut held = BTreeMap::new();
    for (name, value) in settings {
        let Some(id) = name.strip_prefix(&prefix) else {
            continue;
        };
        let mut r = Reader::new(value);
        let (Ok(_slot), Ok(key)) = (r.short_bytes(256, "slot"), r.array::<32>("key")) else {
            continue;
        };
        held.insert(id.to_owned(), key);
    }
    Ok(super::values_ever(&mut doc)
        .into_iter()
        .filter_map(|(slot, value)| match keys::sealed_key_id(&value) {
            None => Some(value),
            Some(id) => keys::open_text(held.get(id)?, &slot, &value),
        })
        .collect())
}

fn unhex_arr<const N: usize>(s: &str) -> Option<[u8; N]> {
    data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .ok()?
        .try_into()
        .ok()
}

fn sign_local(identity: &Identity, g: &mut Group, hash: ChangeHash) -> Vouch {
    let vouch = Vouch {
        hash,
        author: identity.key(),
        sig: identity.sign(VOUCH_DOMAIN, &hash.0),
    };
    g.gate.note_local(&mut g.doc, hash, vouch);
    vouch
}

/// What a member we removed lacks of the change that removed it and its
/// history (never anything after), with the signatures that cover it; `None`
/// once it holds the removal.
fn removal_notice(
    g: &mut Group,
    notice: &Vouch,
    their_heads: &[ChangeHash],
) -> Option<(ChunkList, Vec<Vouch>)> {
    let mut at = g.doc.doc.fork_at(&[notice.hash]).ok()?;
    let known: Vec<ChangeHash> = their_heads
        .iter()
        .filter(|h| at.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    let changes = at.get_changes(&known);
    if changes.is_empty() {
        return None;
    }
    let hashes: BTreeSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
    let mut vouches = vec![*notice];
    vouches.extend(
        g.gate
            .latest()
            .filter(|v| v.hash != notice.hash && hashes.contains(&v.hash))
            .take(MAX_VOUCHES - 1)
            .copied(),
    );
    let raw: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
    Some((ChunkList::from(raw), vouches))
}
