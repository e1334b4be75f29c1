//! What a received change must pass before it is applied (docs/GROUPS.md).
//!
//! A change is accepted when
//! - its actor is an identity key and its `seq` is the next one for that actor;
//! - its author vouched for it: a valid signature by the author on it or on a
//!   later change of the author's that has it in its history ([`Vouch`]);
//! - the author was a member — an admin, for changes marked [`ADMIN_MARK`] —
//!   **in the change's causal past**, and its operations are ones that role
//!   may make.
//!
//! Judging in the causal past (not against the receiver's current state)
//! makes validity a property of the change and its history alone, so every
//! member accepts the same set of changes whatever order they arrive in. The
//! causal past's membership is read cheaply: only admin changes touch the
//! membership maps, so the membership at a change equals the membership at
//! its "admin frontier" (the newest admin changes in its history), which is
//! computed per change from its deps and cached.
//!
//! Changes whose deps have not all arrived wait (bounded); a change that
//! fails is refused for good, with every change built on it, and the
//! refusal is remembered so a peer's heads can be rewritten around it
//! ([`Gate::sanitize`]) — otherwise the sync protocol would ask for it forever.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::sync::{Message, State, SyncDoc};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ScalarValue};
use thiserror::Error;

use super::chunk::{self, ChunkType};
use super::{ADMIN_MARK, CUT_SUFFIX, Entry, GroupDoc, GroupId, MAX_NAME_LEN, Role, hex};
use crate::identity::IdentityKey;

/// What one admin change did to `members`, in order: (identity, the entry
/// it wrote, or `None` for a deletion).
type MemberOps = Vec<([u8; 32], Option<Entry>)>;

/// The signature domain of a change hash.
pub const VOUCH_DOMAIN: &[u8] = b"cairn/group-change/v1";
/// Changes that may wait for their deps, per group (the node's total is
/// bounded too: [`super::groups::MAX_PENDING_TOTAL`]).
pub const MAX_PENDING: usize = 50_000;
/// Refused changes remembered per group; the oldest is forgotten first (a
/// forgotten one that comes again is judged, and refused, again).
pub const MAX_REFUSED: usize = 16_384;
/// Signatures on changes not yet held, per group.
pub const MAX_PENDING_VOUCHES: usize = 4096;

/// An author's signature on one of its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vouch {
    pub hash: ChangeHash,
    pub author: IdentityKey,
    pub sig: [u8; 64],
}

impl Vouch {
    pub fn verify(&self) -> bool {
        self.author
            .verify(VOUCH_DOMAIN, &self.hash.0, &self.sig)
            .is_ok()
    }
}

/// Why a received change is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("actor id is not an identity key")]
    BadActor,
    #[error("no valid signature from its author")]
    Unsigned,
    #[error("sequence number out of order")]
    Sequence,
    #[error("author is not a member")]
    NotMember,
    #[error("only admins may change {0}")]
    AdminOnly(&'static str),
    #[error("a message written under someone else's name")]
    Impersonation,
    #[error("operation not allowed: {0}")]
    Forbidden(&'static str),
    #[error("a second genesis, or one of another group")]
    BadGenesis,
    #[error("built on a refused change")]
    RefusedDep,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GateError {
    #[error("malformed sync data: {0}")]
    Malformed(String),
    #[error("automerge: {0}")]
    Automerge(String),
}

impl From<chunk::ChunkError> for GateError {
    fn from(e: chunk::ChunkError) -> Self {
        GateError::Malformed(e.0)
    }
}

/// What one batch came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Changes new to us in the batch (duplicates not counted).
    pub new: usize,
    pub accepted: usize,
    pub refused: Vec<(ChangeHash, Refusal)>,
    /// Waiting for deps, or for their author's signature.
    pub waiting: usize,
    /// Of those, the ones no signature covers yet.
    pub unsigned: usize,
    /// Our empty document was replaced by the whole document that came
    /// (every change in it passed): its bytes, a ready snapshot.
    pub adopted: Option<Vec<u8>>,
}

/// The legacy-encoded ids of the group's maps, to judge ops by.
#[derive(Debug, Clone)]
struct Objects {
    members: ObjectId,
    messages: ObjectId,
    admin_maps: Vec<(&'static str, ObjectId)>,
}

fn legacy_id(id: &ObjId) -> ObjectId {
    match id {
        ObjId::Root => ObjectId::Root,
        ObjId::Id(counter, actor, _) => ObjectId::Id(OpId::new(*counter, actor)),
    }
}

/// Per group: refusals, waiting changes, signatures, and the causal index.
#[derive(Debug)]
pub struct Gate {
    id: GroupId,
    /// Refused hash → its deps (to rewrite a peer's heads around it).
    refused: BTreeMap<ChangeHash, Vec<ChangeHash>>,
    /// `refused`'s keys, oldest first.
    refused_order: VecDeque<ChangeHash>,
    /// Changes waiting for deps, and whether they were authenticated.
    pending: BTreeMap<ChangeHash, (Change, bool)>,
    /// How many may wait after the next batch (at most [`MAX_PENDING`]).
    pending_room: usize,
    /// Verified signatures on changes not (yet) held.
    vouches: BTreeMap<ChangeHash, Vouch>,
    /// Per author, the signature on its newest change we hold: what we
    /// forward so others can accept what we pass on.
    latest: BTreeMap<[u8; 32], (u64, Vouch)>,
    index: Option<Index>,
    /// Actor ids already parsed as identity keys (parsing checks the curve
    /// point, which is not free at 100 000 changes).
    authors: BTreeMap<ActorId, Option<IdentityKey>>,
}

const MAX_AUTHORS: usize = 100_000;

/// The causal index: per change its admin frontier, per actor its last seq.
#[derive(Debug, Default)]
struct Index {
    seqs: BTreeMap<ActorId, u64>,
    /// Change → interned frontier.
    frontier: BTreeMap<ChangeHash, u32>,
    frontiers: Vec<Vec<ChangeHash>>,
    interned: BTreeMap<Vec<ChangeHash>, u32>,
    /// Admin change → the frontier of its deps (its admin ancestry).
    admin_deps: BTreeMap<ChangeHash, u32>,
    entries: BTreeMap<(u32, [u8; 32]), Option<Entry>>,
    /// Admin change → what it did to `members` (identity, entry or removed),
    /// for admin changes judged here (not those loaded from the store).
    member_ops: BTreeMap<ChangeHash, MemberOps>,
    genesis: Option<ChangeHash>,
}

impl Index {
    fn intern(&mut self, mut f: Vec<ChangeHash>) -> u32 {
        f.sort();
        f.dedup();
        if let Some(id) = self.interned.get(&f) {
            return *id;
        }
        let id = self.frontiers.len() as u32;
        self.frontiers.push(f.clone());
        self.interned.insert(f, id);
        id
    }

    /// Whether admin change `a` is in the history of admin change `b`.
    fn admin_ancestor(&self, a: &ChangeHash, b: &ChangeHash) -> bool {
        let mut stack = vec![*b];
        let mut seen = BTreeSet::new();
        while let Some(h) = stack.pop() {
            let Some(f) = self.admin_deps.get(&h) else {
                continue;
            };
            for p in &self.frontiers[*f as usize] {
                if p == a {
                    return true;
                }
                if seen.insert(*p) {
                    stack.push(*p);
                }
            }
        }
        false
    }

    /// The admin frontier of a set of deps (all indexed).
    fn merge(&mut self, deps: &[ChangeHash]) -> u32 {
        let mut ids: Vec<u32> = deps
            .iter()
            .filter_map(|d| self.frontier.get(d).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() == 1 {
            return ids[0];
        }
        let mut union: Vec<ChangeHash> = ids
            .iter()
            .flat_map(|i| self.frontiers[*i as usize].iter().copied())
            .collect();
        union.sort();
        union.dedup();
        if union.len() > 1 {
            let all = union.clone();
            union.retain(|a| !all.iter().any(|b| b != a && self.admin_ancestor(a, b)));
        }
        self.intern(union)
    }

    /// Records an applied or accepted change.
    fn add(
        &mut self,
        hash: ChangeHash,
        actor: &ActorId,
        seq: u64,
        deps: &[ChangeHash],
        admin: bool,
    ) {
        let f = self.merge(deps);
        let mine = if admin {
            self.admin_deps.insert(hash, f);
            self.intern(vec![hash])
        } else {
            f
        };
        self.frontier.insert(hash, mine);
        let s = self.seqs.entry(actor.clone()).or_insert(0);
        *s = (*s).max(seq);
        if deps.is_empty() && self.genesis.is_none() {
            self.genesis = Some(hash);
        }
    }
}

impl Gate {
    pub fn new(id: GroupId) -> Self {
        Self {
            id,
            refused: BTreeMap::new(),
            refused_order: VecDeque::new(),
            pending: BTreeMap::new(),
            pending_room: MAX_PENDING,
            vouches: BTreeMap::new(),
            latest: BTreeMap::new(),
            index: None,
            authors: BTreeMap::new(),
        }
    }

    /// Refused hashes and their deps, to persist.
    pub fn refused(&self) -> impl Iterator<Item = (&ChangeHash, &Vec<ChangeHash>)> {
        self.refused.iter()
    }

    pub fn restore_refused(&mut self, hash: ChangeHash, deps: Vec<ChangeHash>) {
        self.remember_refused(hash, deps);
    }

    fn remember_refused(&mut self, hash: ChangeHash, deps: Vec<ChangeHash>) {
        if self.refused.insert(hash, deps).is_none() {
            self.refused_order.push_back(hash);
        }
        while self.refused.len() > MAX_REFUSED {
            let Some(old) = self.refused_order.pop_front() else {
                break;
            };
            self.refused.remove(&old);
        }
    }

    /// How many changes may wait after the next batch: what the node's
    /// total leaves for this group.
    pub fn limit_waiting(&mut self, room: usize) {
        self.pending_room = room.min(MAX_PENDING);
    }

    pub fn refused_len(&self) -> usize {
        self.refused.len()
    }

    /// The newest signature per author, to persist and to forward.
    pub fn latest(&self) -> impl Iterator<Item = &Vouch> {
        self.latest.values().map(|(_, v)| v)
    }

    /// Restores a stored signature (verified again).
    pub fn restore_vouch(&mut self, doc: &mut GroupDoc, v: Vouch) {
        if v.verify()
            && let Some(meta) = doc.doc.get_change_meta_by_hash(&v.hash)
        {
            let seq = meta.seq;
            self.note_latest(seq, v);
        }
    }

    fn note_latest(&mut self, seq: u64, v: Vouch) {
        let e = self.latest.entry(*v.author.as_bytes()).or_insert((seq, v));
        if seq >= e.0 {
            *e = (seq, v);
        }
    }

    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Builds the causal index from the document, once.
    fn index(&mut self, doc: &mut GroupDoc) -> &mut Index {
        self.index.get_or_insert_with(|| {
            let mut index = Index::default();
            for meta in doc.doc.get_changes_meta(&[]) {
                let admin = meta.message.as_deref() == Some(ADMIN_MARK);
                index.add(meta.hash, &meta.actor, meta.seq, &meta.deps, admin);
            }
            index
        })
    }

    /// Records a change we made ourselves, with our signature on it.
    pub fn note_local(&mut self, doc: &mut GroupDoc, hash: ChangeHash, vouch: Vouch) {
        let Some(meta) = doc
            .doc
            .get_change_meta_by_hash(&hash)
            .map(|m| m.into_owned())
        else {
            return;
        };
        let admin = meta.message.as_deref() == Some(ADMIN_MARK);
        if let Some(index) = self.index.as_mut() {
            index.add(hash, &meta.actor, meta.seq, &meta.deps, admin);
        }
        self.note_latest(meta.seq, vouch);
    }

    /// Judges `incoming` (and what was waiting) and applies what passes, in as
    /// few automerge batches as the rules allow. `vouches` are the signatures
    /// that came with them.
    pub fn receive(
        &mut self,
        doc: &mut GroupDoc,
        incoming: Vec<Change>,
        vouches: &[Vouch],
        whole: Option<WholeDocument>,
    ) -> Result<Outcome, GateError> {
        for v in vouches {
            if self.vouches.len() < MAX_PENDING_VOUCHES
                && !self.vouches.contains_key(&v.hash)
                && v.verify()
            {
                self.vouches.insert(v.hash, *v);
            }
        }
        let mut out = Outcome::default();
        // Candidates: what waited, then what is new.
        let mut cands: Vec<(Change, bool)> =
            std::mem::take(&mut self.pending).into_values().collect();
        let mut seen: BTreeSet<ChangeHash> = cands.iter().map(|(c, _)| c.hash()).collect();
        for c in incoming {
            let h = c.hash();
            if self.refused.contains_key(&h)
                || seen.contains(&h)
                || doc.doc.get_change_meta_by_hash(&h).is_some()
            {
                continue;
            }
            seen.insert(h);
            out.new += 1;
            cands.push((c, false));
        }
        if cands.is_empty() {
            return Ok(out);
        }
        let order = topo_order(&cands);
        authenticate(&mut cands, &order, &self.vouches);
        self.index(doc);
        // A newcomer handed the whole document judges its changes against
        // it and, if all pass, adopts it: no apply, no save.
        let adopt = whole.filter(|_| doc.doc.get_heads().is_empty() && cands.len() == out.new);
        let mut objects = match &adopt {
            Some(w) => super::Layout::read(&w.doc).as_ref().map(objects_of),
            None => doc.layout.as_ref().map(objects_of),
        };
        let total = cands.len();
        let mut batch: Vec<Change> = Vec::new();
        let mut batch_hashes: BTreeSet<ChangeHash> = BTreeSet::new();
        let mut accepted: BTreeSet<ChangeHash> = BTreeSet::new();
        let mut waiting: Vec<(Change, bool)> = Vec::new();
        let mut taken: Vec<Option<(Change, bool)>> = cands.into_iter().map(Some).collect();
        for i in order {
            let Some((c, authed)) = taken[i].take() else {
                continue;
            };
            let h = c.hash();
            let deps = c.deps().to_vec();
            if deps.iter().any(|d| self.refused.contains_key(d)) {
                self.refuse(&mut out, h, deps, Refusal::RefusedDep);
                continue;
            }
            let present = |d: &ChangeHash, doc: &mut GroupDoc| {
                accepted.contains(d) || doc.doc.get_change_meta_by_hash(d).is_some()
            };
            if !deps.iter().all(|d| present(d, doc)) {
                waiting.push((c, authed));
                continue;
            }
            if !authed {
                // Not refused for good: the signature may have been in a
                // message lost with its session, and comes again in the next.
                out.unsigned += 1;
                waiting.push((c, authed));
                continue;
            }
            let adopting = adopt.is_some();
            let verdict = self.judge(
                doc,
                &mut objects,
                &c,
                &mut batch,
                &mut batch_hashes,
                adopting,
            )?;
            match verdict {
                Ok(admin) => {
                    let actor = c.actor_id().clone();
                    let index = self.index(doc);
                    index.add(h, &actor, c.seq(), &deps, admin);
                    if let Some(v) = self.vouches.remove(&h) {
                        self.note_latest(c.seq(), v);
                    }
                    accepted.insert(h);
                    batch_hashes.insert(h);
                    batch.push(c);
                    out.accepted += 1;
                }
                Err(why) => self.refuse(&mut out, h, deps, why),
            }
        }
        match adopt {
            Some(w) if out.accepted == total && doc.doc.get_heads().is_empty() => {
                let actor = doc.doc.get_actor().clone();
                doc.doc = w.doc.with_actor(actor);
                doc.refresh_layout();
                out.adopted = Some(w.bytes);
            }
            _ => flush(doc, &mut batch, &mut batch_hashes)?,
        }
        out.waiting = waiting.len();
        for (c, authed) in waiting.into_iter().take(self.pending_room) {
            self.pending.insert(c.hash(), (c, authed));
        }
        Ok(out)
    }

    fn refuse(&mut self, out: &mut Outcome, hash: ChangeHash, deps: Vec<ChangeHash>, why: Refusal) {
        tracing::debug!(reason = %why, "group change refused");
        self.remember_refused(hash, deps);
        out.refused.push((hash, why));
    }

    /// The rules, for a change whose deps are all present and that its author
    /// vouched for. `Ok(admin)` says whether it is an admin change.
    fn judge(
        &mut self,
        doc: &mut GroupDoc,
        objects: &mut Option<Objects>,
        c: &Change,
        batch: &mut Vec<Change>,
        batch_hashes: &mut BTreeSet<ChangeHash>,
        adopting: bool,
    ) -> Result<Result<bool, Refusal>, GateError> {
        let author = match self.authors.get(c.actor_id()) {
            Some(a) => *a,
            None => {
                let a = <[u8; 32]>::try_from(c.actor_id().to_bytes())
                    .ok()
                    .and_then(|b| IdentityKey::from_bytes(b).ok());
                if self.authors.len() < MAX_AUTHORS {
                    self.authors.insert(c.actor_id().clone(), a);
                }
                a
            }
        };
        let Some(author) = author else {
            return Ok(Err(Refusal::BadActor));
        };
        let admin = c.message() == Some(ADMIN_MARK);
        let id = self.id;
        let index = self.index(doc);
        if c.seq() != index.seqs.get(c.actor_id()).copied().unwrap_or(0) + 1 {
            return Ok(Err(Refusal::Sequence));
        }
        if c.deps().is_empty() {
            // The genesis: it names the group, and there is one.
            let ok = index.genesis.is_none()
                && admin
                && c.seq() == 1
                && GroupId::of_genesis(&c.hash()) == id;
            if !ok {
                return Ok(Err(Refusal::BadGenesis));
            }
            // Later changes are judged against the layout it creates (the
            // adopted document's already holds it).
            batch_hashes.insert(c.hash());
            batch.push(c.clone());
            if !adopting {
                flush(doc, batch, batch_hashes)?;
                doc.refresh_layout();
                *objects = doc.layout.as_ref().map(objects_of);
            }
            batch_hashes.remove(&c.hash());
            if let Some(obj) = objects.as_ref() {
                let ops = member_ops(c, obj);
                self.index(doc).member_ops.insert(c.hash(), ops);
            }
            return Ok(Ok(true));
        }
        let Some(obj) = objects.clone() else {
            return Ok(Err(Refusal::Forbidden("no genesis before it")));
        };
        // The author's standing in the change's causal past: its role, or
        // as a member's device, the member's.
        let f = index.merge(c.deps());
        let who = *author.as_bytes();
        let entry = self.entry_in(doc, f, who, batch, batch_hashes)?;
        let role = match entry {
            Some(Entry::Member(r)) => Some(r),
            Some(Entry::Device(account)) => {
                match self.entry_in(doc, f, account, batch, batch_hashes)? {
                    Some(Entry::Member(r)) => Some(r),
                    _ => None,
                }
            }
            _ => None,
        };
        let ops = match check_ops(c, &author, entry, role, admin, &obj) {
            Ok(ops) => ops,
            Err(why) => return Ok(Err(why)),
        };
        // Device entries, judged against what they replace: a revoked
        // device never comes back, and a member lists or revokes only its
        // own devices, never someone else's entry.
        for (key, new) in &ops {
            let Some(new @ (Entry::Device(_) | Entry::Revoked(_))) = new else {
                continue;
            };
            let before = self.entry_in(doc, f, *key, batch, batch_hashes)?;
            let ok = match (before, new) {
                (Some(Entry::Revoked(_)), Entry::Device(_)) => false,
                _ if role == Some(Role::Admin) => true,
                (None, Entry::Device(_)) => true,
                (Some(Entry::Device(a)), _) | (Some(Entry::Revoked(a)), Entry::Revoked(_)) => {
                    a == who
                }
                _ => false,
            };
            if !ok {
                return Ok(Err(Refusal::Forbidden("that device entry")));
            }
        }
        if admin {
            self.index(doc).member_ops.insert(c.hash(), ops);
        }
        Ok(Ok(admin))
    }

    /// What `members` said of `who` at admin frontier `f`. Walks back along
    /// single admin changes whose member operations we recorded (no
    /// automerge call, no apply); where admin changes were concurrent, asks
    /// automerge (applying the batch so far if the frontier needs it). Every
    /// frontier visited is cached: a chain of admin changes costs one step
    /// each.
    fn entry_in(
        &mut self,
        doc: &mut GroupDoc,
        f: u32,
        who: [u8; 32],
        batch: &mut Vec<Change>,
        batch_hashes: &mut BTreeSet<ChangeHash>,
    ) -> Result<Option<Entry>, GateError> {
        let index = self.index(doc);
        let mut at = f;
        let mut visited = Vec::new();
        let result = loop {
            if let Some(r) = index.entries.get(&(at, who)) {
                break *r;
            }
            visited.push(at);
            let heads = &index.frontiers[at as usize];
            if heads.is_empty() {
                break None;
            }
            if let [c] = heads.as_slice()
                && let Some(ops) = index.member_ops.get(c)
            {
                if let Some((_, r)) = ops.iter().rev().find(|(k, _)| *k == who) {
                    break *r;
                }
                if let Some(p) = index.admin_deps.get(c) {
                    at = *p;
                    continue;
                }
            }
            let heads = heads.clone();
            if heads.iter().any(|h| batch_hashes.contains(h)) {
                flush(doc, batch, batch_hashes)?;
            }
            break doc.entry_at(&who, &heads);
        };
        for v in visited {
            index.entries.insert((v, who), result);
        }
        Ok(result)
    }

    /// Rewrites the peer's advertised heads, replacing refused hashes by their
    /// ancestors, so both sides see themselves in sync when the only difference
    /// is what we refused.
    pub fn sanitize(&self, doc: &mut GroupDoc, st: &mut State) {
        let Some(heads) = st.their_heads.clone() else {
            return;
        };
        if !heads.iter().any(|h| self.refused.contains_key(h)) {
            return;
        }
        let mut out = Vec::new();
        let mut stack = heads;
        let mut seen = BTreeSet::new();
        while let Some(h) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            match self.refused.get(&h) {
                Some(deps) => stack.extend(deps.iter().copied()),
                None => out.push(h),
            }
        }
        out.sort();
        out.dedup();
        let known: Vec<ChangeHash> = out
            .iter()
            .copied()
            .filter(|h| doc.doc.get_change_meta_by_hash(h).is_some())
            .collect();
        if known.len() > 1 {
            out.retain(|h| {
                if !known.contains(h) {
                    return true;
                }
                // An ancestor of another kept head adds nothing to it.
                let others: Vec<ChangeHash> = known.iter().copied().filter(|o| o != h).collect();
                let mut with = others.clone();
                with.push(*h);
                doc.doc.get_changes_meta(&others).len() != doc.doc.get_changes_meta(&with).len()
            });
        }
        st.their_heads = Some(out);
    }

    /// `generate_sync_message`, asking for what we really lack.
    ///
    /// automerge asks for the peer's heads it does not hold. A head that
    /// waits here is not lacking, its missing deps are, and the peer will
    /// not send a head again that it already sent in this session: so we ask
    /// for the deps instead, walking from the peer's heads through what
    /// waits, as automerge itself does through its queue. (A peer's bloom
    /// filter can mistake one of our absent changes for present; then this is
    /// the only way it is ever sent.) Orphans the peer's heads do not lead to
    /// are not asked for: this peer may well not have their deps.
    pub fn generate(&self, doc: &mut GroupDoc, st: &mut State) -> Option<Message> {
        let mut message = doc.doc.sync().generate_sync_message(st)?;
        if message.need.iter().any(|h| self.pending.contains_key(h)) {
            let need = self.lacking(doc, &message.need);
            let theirs = st.their_heads.as_deref().unwrap_or_default();
            if !need.iter().all(|h| theirs.contains(h)) {
                // As automerge does when it needs more than the peer's
                // heads: no bloom filter, so the peer sends just the need.
                message.have.clear();
            }
            message.need = need;
        }
        Some(message)
    }

    /// What we hold neither applied nor waiting, reached from `from` through
    /// changes that wait here.
    fn lacking(&self, doc: &mut GroupDoc, from: &[ChangeHash]) -> Vec<ChangeHash> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<ChangeHash> = from.to_vec();
        while let Some(h) = stack.pop() {
            if !seen.insert(h) || self.refused.contains_key(&h) {
                continue;
            }
            if let Some((c, _)) = self.pending.get(&h) {
                stack.extend(c.deps().iter().copied());
            } else if doc.doc.get_change_meta_by_hash(&h).is_none() {
                out.insert(h);
            }
        }
        out.into_iter().collect()
    }
}

fn objects_of(l: &super::Layout) -> Objects {
    Objects {
        members: legacy_id(&l.members),
        messages: legacy_id(&l.messages),
        admin_maps: l.maps.iter().map(|(k, id)| (*k, legacy_id(id))).collect(),
    }
}

fn flush(
    doc: &mut GroupDoc,
    batch: &mut Vec<Change>,
    hashes: &mut BTreeSet<ChangeHash>,
) -> Result<(), GateError> {
    if batch.is_empty() {
        return Ok(());
    }
    doc.doc
        .apply_changes(std::mem::take(batch))
        .map_err(|e| GateError::Automerge(e.to_string()))?;
    hashes.clear();
    Ok(())
}

/// The per-op rules for a non-genesis change by `author`, whose entry in
/// `members` in the change's causal past is `entry` and whose standing
/// there is `role` (a device's is its member's).
fn check_ops(
    c: &Change,
    author: &IdentityKey,
    entry: Option<Entry>,
    role: Option<Role>,
    admin: bool,
    obj: &Objects,
) -> Result<MemberOps, Refusal> {
    let Some(role) = role else {
        return Err(Refusal::NotMember);
    };
    let me = hex(author.as_bytes());
    let ops = c.decode().operations;
    if !admin {
        // A post: puts of strings on the author's own message keys.
        let prefix = format!("{me}/");
        for op in &ops {
            if op.obj != obj.messages {
                return Err(
                    if obj.admin_maps.iter().any(|(_, o)| *o == op.obj) || op.obj == ObjectId::Root
                    {
                        Refusal::AdminOnly("membership and settings")
                    } else {
                        Refusal::Forbidden("unknown object")
                    },
                );
            }
            match (&op.action, &op.key) {
                (OpType::Put(ScalarValue::Str(text)), Key::Map(k))
                    if !op.insert && text.len() <= super::MAX_VALUE_LEN =>
                {
                    if !k.starts_with(prefix.as_str()) {
                        return Err(Refusal::Impersonation);
                    }
                    // Overwriting only one's own messages.
                    if !op.pred.iter().all(|p| p.actor() == c.actor_id()) {
                        return Err(Refusal::Impersonation);
                    }
                }
                (OpType::Delete, Key::Map(k)) if k.starts_with(prefix.as_str()) => {
                    if !op.pred.iter().all(|p| p.actor() == c.actor_id()) {
                        return Err(Refusal::Impersonation);
                    }
                }
                (OpType::Delete, _) => return Err(Refusal::Impersonation),
                _ => return Err(Refusal::Forbidden("only text on one's own message keys")),
            }
        }
        return Ok(Vec::new());
    }
    if role != Role::Admin {
        member_change(&ops, author, entry, obj)?;
        return Ok(member_ops_of(&ops, obj));
    }
    for op in &ops {
        if op.insert {
            return Err(Refusal::Forbidden("list insertions"));
        }
        if op.obj == ObjectId::Root {
            let ok = match (&op.key, &op.action) {
                (Key::Map(k), OpType::Put(ScalarValue::Str(s))) => {
                    (k == "name" || k == "topic" || k == "key") && s.len() <= super::MAX_NAME_LEN
                }
                (Key::Map(k), OpType::Put(ScalarValue::Int(_))) => {
                    matches!(k.as_str(), "epoch" | "timer" | "timer_at")
                }
                _ => false,
            };
            if !ok {
                return Err(Refusal::Forbidden("that change to the group's settings"));
            }
            continue;
        }
        let Some((map, _)) = obj.admin_maps.iter().find(|(_, o)| *o == op.obj) else {
            return Err(if op.obj == obj.messages {
                Refusal::Forbidden("messages in an admin change")
            } else {
                Refusal::Forbidden("unknown object")
            });
        };
        let ok = match (&op.action, *map) {
            (OpType::Delete, _) => true,
            (OpType::Put(ScalarValue::Str(s)), "members") => Entry::parse(s).is_some(),
            (OpType::Put(ScalarValue::Str(s)), "names" | "keys" | "added_by") => {
                s.len() <= super::MAX_NAME_LEN
            }
            (OpType::Put(ScalarValue::Str(s)), "epoch_keys") => {
                s.len() == 2 * super::keys::SEALED_KEY_LEN
            }
            (OpType::Put(ScalarValue::Int(_)), "added_at" | "removed") => true,
            _ => false,
        };
        if !ok {
            return Err(Refusal::Forbidden("that value in the membership maps"));
        }
    }
    Ok(member_ops_of(&ops, obj))
}

/// What a member who is not an admin may do in a change marked as an admin
/// change: leave (delete its entry and record its removal; from one of its
/// devices, its account's), and, as the account itself, list and revoke
/// devices of its own (their entries, names, keys, epoch key copies and
/// removals). Whether a device entry replaces someone else's is judged
/// against the causal past by the caller.
fn member_change(
    ops: &[automerge::legacy::Op],
    author: &IdentityKey,
    entry: Option<Entry>,
    obj: &Objects,
) -> Result<(), Refusal> {
    let me = hex(author.as_bytes());
    let account = match entry {
        Some(Entry::Device(a)) => hex(&a),
        _ => me.clone(),
    };
    let own = |k: &str| k == me || k == account;
    let mine: BTreeSet<&str> = if matches!(entry, Some(Entry::Member(_))) {
        ops.iter()
            .filter(|op| op.obj == obj.members)
            .filter_map(|op| match (&op.key, &op.action) {
                (Key::Map(k), OpType::Put(ScalarValue::Str(s))) if *k != me => {
                    match Entry::parse(s) {
                        Some(Entry::Device(a) | Entry::Revoked(a)) if a == *author.as_bytes() => {
                            Some(k.as_str())
                        }
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect()
    } else {
        BTreeSet::new()
    };
    let is_mine = |k: &str| mine.contains(k);
    for op in ops {
        let map = obj
            .admin_maps
            .iter()
            .find(|(_, o)| *o == op.obj)
            .map(|(name, _)| *name);
        let Key::Map(k) = &op.key else {
            return Err(Refusal::AdminOnly("membership and settings"));
        };
        let k = k.as_str();
        let ok = !op.insert
            && match (&op.action, map) {
                (OpType::Delete, Some("members")) => own(k),
                (OpType::Put(ScalarValue::Int(_)), Some("removed")) => {
                    own(k) || is_mine(k) || k.strip_suffix(CUT_SUFFIX).is_some_and(is_mine)
                }
                (OpType::Delete, Some("removed")) => {
                    k.strip_suffix(CUT_SUFFIX).is_some_and(is_mine)
                }
                (OpType::Put(ScalarValue::Str(_)), Some("members")) => is_mine(k),
                (OpType::Put(ScalarValue::Str(s)), Some("names" | "keys" | "added_by")) => {
                    is_mine(k) && s.len() <= MAX_NAME_LEN
                }
                (OpType::Put(ScalarValue::Int(_)), Some("added_at")) => is_mine(k),
                (OpType::Put(ScalarValue::Str(s)), Some("epoch_keys")) => {
                    s.len() == 2 * super::keys::SEALED_KEY_LEN
                        && k.rsplit_once('/').is_some_and(|(_, who)| is_mine(who))
                }
                _ => false,
            };
        if !ok {
            return Err(Refusal::AdminOnly("membership and settings"));
        }
    }
    Ok(())
}

/// What a change's operations did to `members`, in order.
fn member_ops(c: &Change, obj: &Objects) -> MemberOps {
    member_ops_of(&c.decode().operations, obj)
}

fn member_ops_of(ops: &[automerge::legacy::Op], obj: &Objects) -> MemberOps {
    ops.iter()
        .filter(|op| op.obj == obj.members)
        .filter_map(|op| {
            let Key::Map(k) = &op.key else {
                return None;
            };
            let who: [u8; 32] = data_encoding::HEXLOWER
                .decode(k.as_bytes())
                .ok()?
                .try_into()
                .ok()?;
            let entry = match &op.action {
                OpType::Put(ScalarValue::Str(s)) => Entry::parse(s),
                _ => None,
            };
            Some((who, entry))
        })
        .collect()
}

/// Candidates in an order where deps come first (Kahn's algorithm over the
/// deps inside the set; changes whose deps lie outside come first).
fn topo_order(cands: &[(Change, bool)]) -> Vec<usize> {
    let pos: BTreeMap<ChangeHash, usize> = cands
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.hash(), i))
        .collect();
    let mut indegree = vec![0usize; cands.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); cands.len()];
    for (i, (c, _)) in cands.iter().enumerate() {
        for d in c.deps() {
            if let Some(&j) = pos.get(d) {
                indegree[i] += 1;
                children[j].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..cands.len()).filter(|i| indegree[*i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(cands.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in &children[i] {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.push(k);
            }
        }
    }
    order
}

/// Marks each candidate its author vouched for: a signature on it, or on a
/// later change of the same author (in the set) that has it in its history.
/// One pass in reverse causal order, carrying per change the set of authors
/// whose signed changes descend from it, as a bitset.
fn authenticate(
    cands: &mut [(Change, bool)],
    order: &[usize],
    vouches: &BTreeMap<ChangeHash, Vouch>,
) {
    let pos: BTreeMap<ChangeHash, usize> = cands
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.hash(), i))
        .collect();
    let mut authors: BTreeMap<ActorId, usize> = BTreeMap::new();
    for (c, _) in cands.iter() {
        let n = authors.len();
        authors.entry(c.actor_id().clone()).or_insert(n);
    }
    let words = authors.len().div_ceil(64);
    let mut bits = vec![0u64; words * cands.len()];
    for &i in order.iter().rev() {
        let (c, _) = &cands[i];
        let a = authors[c.actor_id()];
        if let Some(v) = vouches.get(&c.hash())
            && v.author.as_bytes().as_slice() == c.actor_id().to_bytes()
        {
            bits[i * words + a / 64] |= 1 << (a % 64);
        }
        let mine: Vec<u64> = bits[i * words..(i + 1) * words].to_vec();
        for d in c.deps() {
            if let Some(&j) = pos.get(d) {
                for (w, m) in mine.iter().enumerate() {
                    bits[j * words + w] |= m;
                }
            }
        }
    }
    for (i, (c, authed)) in cands.iter_mut().enumerate() {
        let a = authors[c.actor_id()];
        *authed |= bits[i * words + a / 64] & (1 << (a % 64)) != 0;
    }
}

/// A sync message that was one whole document: the document, loaded, and
/// its bytes.
pub struct WholeDocument {
    pub doc: AutoCommit,
    pub bytes: Vec<u8>,
}

/// Every change carried by a sync message's chunks. A whole-document chunk
/// (sent to a peer that is new or far behind) is opened in a scratch
/// document, returned when it was the only chunk: a member that has nothing
/// yet can adopt it instead of applying its changes one by one.
pub fn changes_in(msg: &Message) -> Result<(Vec<Change>, Option<WholeDocument>), GateError> {
    let mut out = Vec::new();
    let mut whole = None;
    let elements = msg.changes.len();
    for element in msg.changes.iter() {
        let chunks = chunk::split(element)?;
        let single = elements == 1 && chunks.len() == 1;
        for (ty, bytes) in chunks {
            match ty {
                ChunkType::Change => {
                    chunk::check_change(bytes)?;
                    out.push(
                        Change::try_from(bytes).map_err(|e| GateError::Malformed(e.to_string()))?,
                    );
                }
                ChunkType::Document => {
                    chunk::check_document(bytes)?;
                    let mut scratch =
                        AutoCommit::load(bytes).map_err(|e| GateError::Malformed(e.to_string()))?;
                    out.extend(scratch.get_changes(&[]));
                    if single {
                        whole = Some(WholeDocument {
                            doc: scratch,
                            bytes: bytes.to_vec(),
                        });
                    }
                }
            }
        }
    }
    Ok((out, whole))
}
