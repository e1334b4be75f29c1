//! Groups: one automerge document per group (docs/GROUPS.md).
//!
//! **Work in progress.** What is here: the document's schema, local edits
//! (create, add and remove members, post), reading it back, and the per-change
//! rule check a received change must pass before it is applied. Not yet here:
//! signatures on changes, evaluating the rules in each change's causal past,
//! sync over sessions and the mesh, storage, epochs, the CLI.
//!
//! The schema keeps every value a scalar in one of three flat maps whose
//! object ids the genesis change fixes, so a change can be judged from its own
//! operations:
//!
//! ```text
//! ROOT     schema "cairn-group/1", id (hex), name, topic, epoch (int)
//! members  identity (hex) → "admin" | "member"
//! removed  identity (hex) → epoch at which they were removed
//! messages "<author identity hex>/<message id hex>" → text
//! ```

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use thiserror::Error;

use crate::identity::IdentityKey;

pub const SCHEMA: &str = "cairn-group/1";

/// A member's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    fn parse(s: &str) -> Option<Self> {
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
}

impl From<automerge::AutomergeError> for GroupError {
    fn from(e: automerge::AutomergeError) -> Self {
        GroupError::Automerge(e.to_string())
    }
}

/// Why a received change is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("actor id is not an identity key")]
    BadActor,
    #[error("author is not a member")]
    NotMember,
    #[error("only admins may change {0}")]
    AdminOnly(&'static str),
    #[error("a message written under someone else's name")]
    Impersonation,
    #[error("operation not allowed: {0}")]
    Forbidden(&'static str),
}

/// The automerge actor of an identity: its 32 key bytes.
pub fn actor_of(key: &IdentityKey) -> ActorId {
    ActorId::from(key.as_bytes().as_slice())
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The objects the genesis change created.
#[derive(Debug, Clone)]
struct Layout {
    members: ObjId,
    removed: ObjId,
    messages: ObjId,
}

pub struct GroupDoc {
    doc: AutoCommit,
    layout: Layout,
}

impl GroupDoc {
    /// A new group with `creator` as its only member and admin.
    pub fn create(creator: &IdentityKey, id: [u8; 16], name: &str) -> Result<Self, GroupError> {
        let mut doc = AutoCommit::new().with_actor(actor_of(creator));
        doc.put(ROOT, "schema", SCHEMA)?;
        doc.put(ROOT, "id", hex(&id))?;
        doc.put(ROOT, "name", name)?;
        doc.put(ROOT, "topic", "")?;
        doc.put(ROOT, "epoch", 0i64)?;
        let members = doc.put_object(ROOT, "members", ObjType::Map)?;
        let removed = doc.put_object(ROOT, "removed", ObjType::Map)?;
        let messages = doc.put_object(ROOT, "messages", ObjType::Map)?;
        doc.put(&members, hex(creator.as_bytes()), Role::Admin.as_str())?;
        doc.commit();
        Ok(Self {
            doc,
            layout: Layout {
                members,
                removed,
                messages,
            },
        })
    }

    /// Loads a saved document, written by `me`.
    pub fn load(bytes: &[u8], me: &IdentityKey) -> Result<Self, GroupError> {
        let doc = AutoCommit::load(bytes)
            .map_err(|e| GroupError::Automerge(e.to_string()))?
            .with_actor(actor_of(me));
        let obj = |key: &'static str| match doc.get(ROOT, key) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Ok(id),
            _ => Err(GroupError::Malformed(key)),
        };
        let layout = Layout {
            members: obj("members")?,
            removed: obj("removed")?,
            messages: obj("messages")?,
        };
        match doc.get(ROOT, "schema") {
            Ok(Some((automerge::Value::Scalar(s), _))) if s.as_str() == Some(SCHEMA) => {}
            _ => return Err(GroupError::Malformed("schema")),
        }
        Ok(Self { doc, layout })
    }

    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn name(&self) -> String {
        self.string(&ROOT, "name").unwrap_or_default()
    }

    pub fn epoch(&self) -> i64 {
        match self.doc.get(ROOT, "epoch") {
            Ok(Some((automerge::Value::Scalar(s), _))) => s.as_i64().unwrap_or(0),
            _ => 0,
        }
    }

    fn string(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.doc.get(obj, key) {
            Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Current members and their roles, by identity.
    pub fn members(&self) -> Vec<(IdentityKey, Role)> {
        let mut out: Vec<(IdentityKey, Role)> = self
            .doc
            .keys(&self.layout.members)
            .filter_map(|k| {
                let role = Role::parse(&self.string(&self.layout.members, &k)?)?;
                let bytes: [u8; 32] = data_encoding::HEXLOWER
                    .decode(k.as_bytes())
                    .ok()?
                    .try_into()
                    .ok()?;
                Some((IdentityKey::from_bytes(bytes).ok()?, role))
            })
            .collect();
        out.sort_by_key(|(k, _)| *k.as_bytes());
        out
    }

    pub fn role_of(&self, who: &IdentityKey) -> Option<Role> {
        Role::parse(&self.string(&self.layout.members, &hex(who.as_bytes()))?)
    }

    fn require_admin(&self, me: &IdentityKey) -> Result<(), GroupError> {
        match self.role_of(me) {
            Some(Role::Admin) => Ok(()),
            Some(Role::Member) => Err(GroupError::NotAdmin),
            None => Err(GroupError::NotMember),
        }
    }

    /// Adds (or changes the role of) a member. Admins only.
    pub fn add_member(
        &mut self,
        me: &IdentityKey,
        who: &IdentityKey,
        role: Role,
    ) -> Result<(), GroupError> {
        self.require_admin(me)?;
        self.doc
            .put(&self.layout.members, hex(who.as_bytes()), role.as_str())?;
        self.doc.commit();
        Ok(())
    }

    /// Removes a member and starts a new epoch. Admins only.
    pub fn remove_member(&mut self, me: &IdentityKey, who: &IdentityKey) -> Result<(), GroupError> {
        self.require_admin(me)?;
        let epoch = self.epoch() + 1;
        self.doc.delete(&self.layout.members, hex(who.as_bytes()))?;
        self.doc
            .put(&self.layout.removed, hex(who.as_bytes()), epoch)?;
        self.doc.put(ROOT, "epoch", epoch)?;
        self.doc.commit();
        Ok(())
    }

    /// Posts a message as `me`. Members only.
    pub fn post(&mut self, me: &IdentityKey, id: [u8; 16], text: &str) -> Result<(), GroupError> {
        if self.role_of(me).is_none() {
            return Err(GroupError::NotMember);
        }
        let key = format!("{}/{}", hex(me.as_bytes()), hex(&id));
        self.doc.put(&self.layout.messages, key, text)?;
        self.doc.commit();
        Ok(())
    }

    /// Messages as (author, message id hex, text), ordered by author then id.
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.doc
            .keys(&self.layout.messages)
            .filter_map(|k| {
                let (author, id) = k.split_once('/')?;
                let text = self.string(&self.layout.messages, &k)?;
                Some((author.to_owned(), id.to_owned(), text))
            })
            .collect()
    }

    /// The changes after `heads` (all with `&[]`), for tests and sync.
    pub fn changes_since(&mut self, heads: &[automerge::ChangeHash]) -> Vec<Change> {
        self.doc.get_changes(heads)
    }

    pub fn heads(&mut self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// Whether `change` may be applied, judged by the rules against this
    /// document's current members. (The full rule judges each change against
    /// its causal past; docs/GROUPS.md.)
    pub fn check(&self, change: &Change) -> Result<(), Refusal> {
        let actor = change.actor_id().to_bytes();
        let author: [u8; 32] = actor.try_into().map_err(|_| Refusal::BadActor)?;
        let author = IdentityKey::from_bytes(author).map_err(|_| Refusal::BadActor)?;
        let role = self.role_of(&author).ok_or(Refusal::NotMember)?;
        let members = legacy_id(&self.layout.members);
        let removed = legacy_id(&self.layout.removed);
        let messages = legacy_id(&self.layout.messages);
        let prefix = format!("{}/", hex(author.as_bytes()));
        for op in change.decode().operations {
            match (&op.obj, &op.action) {
                (ObjectId::Root, OpType::Put(_)) if role == Role::Admin => {}
                (ObjectId::Root, _) => return Err(Refusal::AdminOnly("the group's settings")),
                (o, OpType::Put(ScalarValue::Str(_)) | OpType::Delete) if *o == members => {
                    if role != Role::Admin {
                        return Err(Refusal::AdminOnly("members"));
                    }
                }
                (o, OpType::Put(ScalarValue::Int(_))) if *o == removed => {
                    if role != Role::Admin {
                        return Err(Refusal::AdminOnly("removals"));
                    }
                }
                (o, OpType::Put(ScalarValue::Str(_))) if *o == messages => match &op.key {
                    Key::Map(k) if k.starts_with(prefix.as_str()) => {
                        // Overwriting only one's own messages.
                        if !op.pred.iter().all(|p| p.actor() == change.actor_id()) {
                            return Err(Refusal::Impersonation);
                        }
                    }
                    _ => return Err(Refusal::Impersonation),
                },
                _ => return Err(Refusal::Forbidden("only scalar puts on the group's maps")),
            }
        }
        Ok(())
    }

    /// Applies changes that passed [`GroupDoc::check`], in one batch.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<(), GroupError> {
        self.doc.apply_changes(changes)?;
        Ok(())
    }
}

fn legacy_id(id: &ObjId) -> ObjectId {
    match id {
        ObjId::Root => ObjectId::Root,
        ObjId::Id(counter, actor, _) => ObjectId::Id(OpId::new(*counter, actor)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::identity::Identity;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn keys(n: usize) -> Vec<IdentityKey> {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        (0..n).map(|_| Identity::generate(&mut rng).key()).collect()
    }

    /// A copy of `doc` acting as `who` (as another member's device would).
    fn replica(doc: &mut GroupDoc, who: &IdentityKey) -> GroupDoc {
        GroupDoc::load(&doc.save(), who).unwrap()
    }

    #[test]
    fn members_post_and_admins_manage() {
        let k = keys(3);
        let mut g = GroupDoc::create(&k[0], [1; 16], "walkers").unwrap();
        g.add_member(&k[0], &k[1], Role::Member).unwrap();
        g.post(&k[0], [2; 16], "hello").unwrap();
        let mut b = replica(&mut g, &k[1]);
        b.post(&k[1], [3; 16], "hi").unwrap();
        assert_eq!(
            b.add_member(&k[1], &k[2], Role::Member),
            Err(GroupError::NotAdmin)
        );
        let heads = g.heads();
        let new = b.changes_since(&heads);
        for c in &new {
            assert_eq!(g.check(c), Ok(()));
        }
        g.apply(new).unwrap();
        assert_eq!(g.messages().len(), 2);
        g.remove_member(&k[0], &k[1]).unwrap();
        assert_eq!(g.members(), vec![(k[0], Role::Admin)]);
        assert_eq!(g.epoch(), 1);
    }

    #[test]
    fn crafted_changes_from_non_members_non_admins_and_impostors_are_refused() {
        let k = keys(3);
        let mut g = GroupDoc::create(&k[0], [1; 16], "walkers").unwrap();
        g.add_member(&k[0], &k[1], Role::Member).unwrap();
        let base = g.save();
        let heads = g.heads();

        // A member adding someone: the change is made by hand on a copy
        // (the API would refuse), as an attacker would.
        let mut b = GroupDoc::load(&base, &k[1]).unwrap();
        let members = b.layout.members.clone();
        b.doc.put(&members, hex(k[2].as_bytes()), "admin").unwrap();
        b.doc.commit();
        let c = b.changes_since(&heads).pop().unwrap();
        assert_eq!(g.check(&c), Err(Refusal::AdminOnly("members")));

        // A member posting under the admin's name.
        let mut b = GroupDoc::load(&base, &k[1]).unwrap();
        let messages = b.layout.messages.clone();
        let forged = format!("{}/{}", hex(k[0].as_bytes()), hex(&[9; 16]));
        b.doc.put(&messages, forged, "I resign").unwrap();
        b.doc.commit();
        let c = b.changes_since(&heads).pop().unwrap();
        assert_eq!(g.check(&c), Err(Refusal::Impersonation));

        // A stranger posting.
        let mut s = GroupDoc::load(&base, &k[2]).unwrap();
        let messages = s.layout.messages.clone();
        let key = format!("{}/{}", hex(k[2].as_bytes()), hex(&[8; 16]));
        s.doc.put(&messages, key, "let me in").unwrap();
        s.doc.commit();
        let c = s.changes_since(&heads).pop().unwrap();
        assert_eq!(g.check(&c), Err(Refusal::NotMember));

        // A member renaming the group, or making nested objects.
        let mut b = GroupDoc::load(&base, &k[1]).unwrap();
        b.doc.put(ROOT, "name", "mine now").unwrap();
        b.doc.commit();
        let c = b.changes_since(&heads).pop().unwrap();
        assert_eq!(g.check(&c), Err(Refusal::AdminOnly("the group's settings")));

        // An actor id that is not a key.
        let mut x = AutoCommit::load(&base)
            .unwrap()
            .with_actor(ActorId::from(&[7u8; 5][..]));
        x.put(ROOT, "topic", "x").unwrap();
        x.commit();
        let c = x.get_changes(&heads).pop().unwrap();
        assert_eq!(g.check(&c), Err(Refusal::BadActor));
    }
}
