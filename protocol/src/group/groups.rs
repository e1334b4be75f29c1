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
//! blob  = version:u8(=1) kind:u8 (1 sync, 2 push) count:u16 vouch*count message
//! vouch = change hash:[32] author:[32] signature:[64]
//! message = an automerge sync message (automerge's own encoding)
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::ChangeHash;
use automerge::sync::{ChunkList, Message, State};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use zeroize::Zeroizing;

use super::gate::{Gate, Outcome, VOUCH_DOMAIN, Vouch, changes_in};
use super::keys;
use super::{
    GroupDoc, GroupError, GroupId, GroupMessage, Member, NewDevice, NewMember, Role, message_slot,
};
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

const BLOB_VERSION: u8 = 1;
const KIND_SYNC: u8 = 1;
const KIND_PUSH: u8 = 2;
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
        }
    }

    pub fn name(&self) -> String {
        self.doc.name()
    }

    pub fn members(&self) -> Vec<Member> {
        self.doc.members()
    }

    /// Messages, oldest first, decrypted where we hold the epoch key. One
    /// written in an epoch we were not part of reads [`SEALED_TEXT`].
    pub fn messages(&self) -> Vec<GroupMessage> {
        let mut all = self.doc.messages();
        for m in &mut all {
            if let Some(id) = keys::sealed_key_id(&m.text) {
                let slot = message_slot(&m.device, &m.id);
                m.text = self
                    .keyring
                    .get(id)
                    .and_then(|k| keys::open_text(k, &slot, &m.text))
                    .unwrap_or_else(|| SEALED_TEXT.to_owned());
            }
            m.unwrap_bridged();
        }
        all
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
    message: Message,
}

fn encode_blob(kind: u8, vouches: &[Vouch], message: Message) -> Vec<u8> {
    let body = message.encode();
    let mut w = Writer::with_capacity(4 + vouches.len() * 128 + body.len());
    w.u8(BLOB_VERSION).u8(kind).u16(vouches.len() as u16);
    for v in vouches {
        w.raw(&v.hash.0).raw(v.author.as_bytes()).raw(&v.sig);
    }
    w.raw(&body);
    w.into_vec()
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
    if kind != KIND_SYNC && kind != KIND_PUSH {
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
    let message = Message::decode(r.rest()).map_err(|_| DecodeError::Invalid("sync message"))?;
    Ok(Blob {
        kind,
        vouches,
        message,
    })
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
        if text.starts_with(['\u{1}', '\u{2}']) {
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
        let mut nonce = [0u8; 24];
        self.rng.fill_bytes(&mut nonce);
        let me = self.me;
        let g = self.group_mut(id)?;
        // Said first: a removed member also lacks the newest key.
        if !g.doc.is_member(&me) {
            return Err(GroupError::NotMember);
        }
        let value = match g.doc.current_key() {
            None => text.to_owned(),
            Some(kid) => {
                let key = g.keyring.get(&kid).ok_or(GroupError::NoEpochKey)?;
                keys::seal_text(key, &kid, &message_slot(&me, &msg), text, nonce)
            }
        };
        let hash = g.doc.post(msg, &value, now)?;
        sign_local(identity, g, hash);
        self.after_local(*id);
        Ok(())
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
        let blob = encode_blob(KIND_PUSH, &[vouch], message);
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
            self.serial = self.serial.wrapping_add(1);
            self.out.push_back(GroupOutput::Mesh {
                peer,
                fragment: GroupFragment {
                    group: id,
                    serial: self.serial,
                    part: 0,
                    parts: 1,
                    data: blob.clone(),
                },
            });
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
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        let mode = g.mode_with(&self.me, &peer);
        if mode == Mode::None || (!g.doc.is_ready() && !self.sync.contains_key(&(peer, id))) {
            return;
        }
        let ps = self.sync.entry((peer, id)).or_default();
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
        let blob = encode_blob(KIND_SYNC, &vouches, message);
        self.serial = self.serial.wrapping_add(1);
        let parts = blob.len().div_ceil(FRAGMENT_LEN).max(1);
        if parts > MAX_PARTS {
            tracing::warn!(group = %id, "a sync message too large to send");
            return;
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
        let mut message = blob.message;
        let outcome = match changes_in(&message)
            .and_then(|(cs, whole)| g.gate.receive(&mut g.doc, cs, &blob.vouches, whole))
        {
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
        self.after_receive(peer, id, &outcome);
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
